//! Event decoding: every document shape that can announce a new raw object, reduced to the
//! objects it names (DESIGN.md §4, §5 `loglake event`).
//!
//! | shape | where objects are |
//! |---|---|
//! | S3 notification `{"Records":[{"eventSource":"aws:s3","s3":…}]}` (or a bare array of records) | `s3.bucket.name`, `s3.object.key` (form-URL-encoded: `+` is a space) |
//! | EventBridge `{"source":"aws.s3","detail-type":"Object Created","detail":…}` | `detail.bucket.name`, `detail.object.key` (taken literally; the trigger confirms it with HeadObject) |
//! | SQS `{"Records":[{"eventSource":"aws:sqs","body":"…"}]}` | the body: any shape here, or an SNS envelope |
//! | SNS `{"Records":[{"Sns":{"Message":"…"}}]}`, SNS envelope `{"Type":"Notification","Message":"…"}` | the message |
//! | `s3:TestEvent` | none (ignored) |
//!
//! Non-create events (deletes, restores, lifecycle, other EventBridge sources) and test events
//! name no object and are reported as ignored, with the reason. A document that is not an event
//! — including an SQS or SNS message whose body is not JSON or not one of the shapes above — or
//! an S3 event missing its bucket or key, is an error naming the JSON path of what is wrong. For
//! an SQS batch the trigger fails only that message: it was not processed, so it must not be
//! deleted unseen; SQS redelivers it and its redrive policy moves it to the DLQ, whose depth
//! alarms.
//!
//! ```
//! let doc = br#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put",
//!   "s3":{"bucket":{"name":"raw"},"object":{"key":"logs/a+b%2Bc.json","size":7,"eTag":"e1"}}}]}"#;
//! let decoded = loglake_trigger::event::decode(doc).unwrap();
//! let objects: Vec<_> = decoded.objects().collect();
//! assert_eq!(objects[0].key, "logs/a b+c.json");
//! assert_eq!(objects[0].size, Some(7));
//! ```

use serde::Serialize;
use serde_json::Value;

/// A document that cannot be read as an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct EventError {
    /// JSON path of the problem (`$` for the document).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn err(path: &str, message: impl Into<String>) -> EventError {
    EventError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// How the object was announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// An S3 event notification record (key was form-URL-decoded).
    S3Notification,
    /// An EventBridge "Object Created" event (key taken literally).
    EventBridge,
}

/// One created object named by an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreatedObject {
    /// Bucket.
    pub bucket: String,
    /// The key, decoded (S3 notifications) or literal (EventBridge).
    pub key: String,
    /// Version id, when the bucket is versioned (`""` is taken as none).
    pub version_id: Option<String>,
    /// Size in bytes, when the event says.
    pub size: Option<u64>,
    /// ETag without quotes.
    pub etag: Option<String>,
    /// S3 sequencer (orders events of one key).
    pub sequencer: Option<String>,
    /// The key exactly as the event carried it.
    #[serde(skip)]
    pub raw_key: String,
    /// The event shape.
    #[serde(skip)]
    pub origin: Origin,
}

/// What one message (an SQS record, or the whole document when it did not come through SQS)
/// contained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// SQS `messageId`, for `batchItemFailures`.
    pub message_id: Option<String>,
    /// Objects created.
    pub objects: Vec<CreatedObject>,
    /// Events that named no new object, with why (logged at debug).
    pub ignored: Vec<String>,
}

/// A decoded document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    /// One entry per SQS message, or one for the whole document.
    pub messages: Vec<Message>,
}

impl Decoded {
    /// Every created object, in document order.
    pub fn objects(&self) -> impl Iterator<Item = &CreatedObject> {
        self.messages.iter().flat_map(|m| m.objects.iter())
    }

    /// Every ignored event's reason.
    pub fn ignored(&self) -> impl Iterator<Item = &str> {
        self.messages
            .iter()
            .flat_map(|m| m.ignored.iter().map(String::as_str))
    }
}

/// Decodes a document (JSON bytes).
pub fn decode(doc: &[u8]) -> Result<Decoded, EventError> {
    let value: Value =
        serde_json::from_slice(doc).map_err(|e| err("$", format!("not JSON: {e}")))?;
    decode_value(&value)
}

/// Decodes a parsed document.
pub fn decode_value(value: &Value) -> Result<Decoded, EventError> {
    if let Some(records) = records_of(value) {
        let is_sqs = records.iter().any(|r| {
            r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs")
                || r.get("body").is_some()
        });
        if is_sqs {
            let mut messages = Vec::new();
            for (i, r) in records.iter().enumerate() {
                let path = format!("$.Records[{i}]");
                let mut m = Message {
                    message_id: r
                        .get("messageId")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    ..Message::default()
                };
                record(r, &path, &mut m)?;
                messages.push(m);
            }
            return Ok(Decoded { messages });
        }
        let mut m = Message::default();
        for (i, r) in records.iter().enumerate() {
            record(r, &format!("$.Records[{i}]"), &mut m)?;
        }
        return Ok(Decoded { messages: vec![m] });
    }
    let mut m = Message::default();
    match shape(value, "$", &mut m)? {
        true => Ok(Decoded { messages: vec![m] }),
        false => Err(err(
            "$",
            "not an S3 event document: expected S3 notification `Records`, an EventBridge event, \
             SQS/SNS records or an s3:TestEvent",
        )),
    }
}

/// `Records` of a document, or the document itself when it is a bare array of records.
fn records_of(value: &Value) -> Option<&Vec<Value>> {
    match value {
        Value::Array(a) => Some(a),
        Value::Object(o) => o.get("Records").and_then(Value::as_array),
        _ => None,
    }
}

/// Decodes a non-`Records` shape into `m`; `false` when the value is none of them.
fn shape(value: &Value, path: &str, m: &mut Message) -> Result<bool, EventError> {
    let Some(obj) = value.as_object() else {
        return Ok(false);
    };
    if obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        m.ignored.push(format!(
            "s3:TestEvent for bucket {}",
            obj.get("Bucket").and_then(Value::as_str).unwrap_or("?")
        ));
        return Ok(true);
    }
    if let (Some(source), Some(kind)) = (
        obj.get("source").and_then(Value::as_str),
        obj.get("detail-type").and_then(Value::as_str),
    ) {
        if source == "aws.s3" && kind == "Object Created" {
            let detail = obj
                .get("detail")
                .ok_or_else(|| err(path, "EventBridge Object Created event without `detail`"))?;
            m.objects
                .push(eventbridge_object(detail, &format!("{path}.detail"))?);
        } else {
            m.ignored.push(format!(
                "EventBridge `{kind}` from `{source}` is not Object Created"
            ));
        }
        return Ok(true);
    }
    if obj.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(message) = obj.get("Message").and_then(Value::as_str)
    {
        nested(message, &format!("{path}.Message"), m)?;
        return Ok(true);
    }
    Ok(false)
}

/// A JSON string carrying another document (SQS body, SNS message): an event of one of the
/// known shapes, or an error naming `path`.
fn nested(text: &str, path: &str, m: &mut Message) -> Result<(), EventError> {
    let inner = serde_json::from_str::<Value>(text).map_err(|e| {
        let start: String = text.chars().take(60).collect();
        err(path, format!("not JSON ({e}); it starts `{start}`"))
    })?;
    if let Some(records) = records_of(&inner)
        && records.iter().all(|r| r.get("s3").is_some())
        && !records.is_empty()
    {
        for (i, r) in records.iter().enumerate() {
            record(r, &format!("{path}.Records[{i}]"), m)?;
        }
        return Ok(());
    }
    if shape(&inner, path, m)? {
        Ok(())
    } else {
        Err(err(
            path,
            "not an S3 event: expected an S3 notification, an EventBridge event, an SNS \
             notification or an s3:TestEvent",
        ))
    }
}

fn record(r: &Value, path: &str, m: &mut Message) -> Result<(), EventError> {
    if let Some(s3) = r.get("s3") {
        return s3_record(r, s3, path, m);
    }
    if let Some(body) = r.get("body") {
        let body = body
            .as_str()
            .ok_or_else(|| err(&format!("{path}.body"), "SQS body is not a string"))?;
        return nested(body, &format!("{path}.body"), m);
    }
    if let Some(sns) = r.get("Sns") {
        let message = sns.get("Message").and_then(Value::as_str).ok_or_else(|| {
            err(
                &format!("{path}.Sns"),
                "SNS record without a `Message` string",
            )
        })?;
        return nested(message, &format!("{path}.Sns.Message"), m);
    }
    Err(err(
        path,
        "not an S3, SQS or SNS record (no `s3`, `body` or `Sns`)",
    ))
}

fn s3_record(r: &Value, s3: &Value, path: &str, m: &mut Message) -> Result<(), EventError> {
    let name = r
        .get("eventName")
        .and_then(Value::as_str)
        .ok_or_else(|| err(&format!("{path}.eventName"), "missing"))?;
    let short = name.strip_prefix("s3:").unwrap_or(name);
    if !short.starts_with("ObjectCreated:") {
        m.ignored.push(format!("{name} is not a create event"));
        return Ok(());
    }
    let bucket = string_at(s3, &["bucket", "name"], &format!("{path}.s3.bucket.name"))?;
    let raw_key = string_at(s3, &["object", "key"], &format!("{path}.s3.object.key"))?;
    let key = form_url_decode(&raw_key).map_err(|e| {
        err(
            &format!("{path}.s3.object.key"),
            format!("`{raw_key}`: {e}"),
        )
    })?;
    let object = &s3["object"];
    m.objects.push(CreatedObject {
        bucket,
        key,
        version_id: opt_string(object.get("versionId")),
        size: object.get("size").and_then(as_u64),
        etag: opt_string(object.get("eTag")).map(|e| e.trim_matches('"').to_owned()),
        sequencer: opt_string(object.get("sequencer")),
        raw_key,
        origin: Origin::S3Notification,
    });
    Ok(())
}

fn eventbridge_object(detail: &Value, path: &str) -> Result<CreatedObject, EventError> {
    let bucket = string_at(detail, &["bucket", "name"], &format!("{path}.bucket.name"))?;
    let key = string_at(detail, &["object", "key"], &format!("{path}.object.key"))?;
    let object = &detail["object"];
    Ok(CreatedObject {
        bucket,
        raw_key: key.clone(),
        key,
        version_id: opt_string(object.get("version-id")),
        size: object.get("size").and_then(as_u64),
        etag: opt_string(object.get("etag")).map(|e| e.trim_matches('"').to_owned()),
        sequencer: opt_string(object.get("sequencer")),
        origin: Origin::EventBridge,
    })
}

fn string_at(v: &Value, keys: &[&str], path: &str) -> Result<String, EventError> {
    let mut cur = v;
    for k in keys {
        cur = cur.get(k).ok_or_else(|| err(path, "missing"))?;
    }
    match cur.as_str() {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        Some(_) => Err(err(path, "empty")),
        None => Err(err(path, format!("expected a string, found {cur}"))),
    }
}

fn opt_string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Form-URL decoding as S3 applies it to notification keys: `+` is a space, `%XX` a byte, and
/// the bytes are UTF-8.
pub fn form_url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent escape at byte {i}"))?;
                out.push(hex);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "percent escapes are not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_form_url_keys() {
        assert_eq!(form_url_decode("a+b%2Bc").unwrap(), "a b+c");
        assert_eq!(form_url_decode("%E4%BD%A0").unwrap(), "你");
        assert!(form_url_decode("a%2").is_err());
        assert!(form_url_decode("%FF").is_err());
    }

    #[test]
    fn malformed_documents_name_the_path() {
        let e = decode(br#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{}}}]}"#)
            .unwrap_err();
        assert_eq!(e.path, "$.Records[0].s3.bucket.name");
        assert_eq!(decode(b"[1,").unwrap_err().path, "$");
        let e = decode(br#"{"hello":1}"#).unwrap_err();
        assert!(e.message.contains("not an S3 event document"), "{e}");
    }
}
