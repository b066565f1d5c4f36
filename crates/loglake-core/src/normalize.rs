//! Record normalisation: one raw JSON record in, one typed [`Row`] (or a [`Rejection`]) out.
//!
//! The parser borrows from the input: keys and values are slices of the record unless they
//! contain escapes, and a value's JSON text is kept as-is (`RawValue`) until its column's type
//! decides how to read it. Unknown fields are copied verbatim into the attributes JSON, so
//! nothing in a record is dropped.

use std::borrow::Cow;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;
use serde::de::{self, Deserializer as _, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::schema::{ColumnType, CompiledSchema, Normalize};
use crate::time::{self, EpochUnit, TimeFormat};

/// One typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// Absent, JSON `null`, or not coercible to the column type.
    Null,
    /// Text.
    Str(Cow<'a, str>),
    /// `int` or `bigint`.
    Int(i64),
    /// `double`.
    Double(f64),
    /// `boolean`.
    Bool(bool),
    /// `timestamp`, UTC microseconds.
    Ts(i64),
}

/// Why a record was quarantined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// A stable category for counting: `invalid_utf8`, `invalid_json`, `not_object`,
    /// `missing_field`, `invalid_timestamp`, `invalid_value`.
    pub kind: &'static str,
    /// A sentence naming the field and the value where there is one.
    pub reason: String,
}

impl Rejection {
    fn new(kind: &'static str, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }
}

/// A normalised record, reused from one record to the next to avoid allocations.
#[derive(Debug)]
pub struct Row<'a> {
    /// One cell per schema column, in schema order.
    pub cells: Vec<Cell<'a>>,
    /// The event time, UTC microseconds (the timestamp column's value).
    pub ts: i64,
    /// Columns whose value was present but could not be coerced (now null).
    pub coercion_failures: Vec<usize>,
    slots: Vec<Option<(u16, &'a RawValue)>>,
    unknown: Vec<(Cow<'a, str>, &'a RawValue)>,
    attr_buf: String,
    has_attributes: bool,
}

impl<'a> Row<'a> {
    /// The unknown fields as one JSON object, or `None` when there were none.
    pub fn attributes(&self) -> Option<&str> {
        self.has_attributes.then_some(self.attr_buf.as_str())
    }

    /// An empty row for a schema.
    pub fn new(schema: &CompiledSchema) -> Self {
        let n = schema.columns().len();
        Self {
            cells: vec![Cell::Null; n],
            ts: 0,
            coercion_failures: Vec::new(),
            slots: vec![None; n],
            unknown: Vec::new(),
            attr_buf: String::new(),
            has_attributes: false,
        }
    }
}

/// Turns raw records into rows according to a compiled schema.
#[derive(Debug, Clone)]
pub struct Normalizer<'s> {
    schema: &'s CompiledSchema,
}

/// An object key, borrowed from the input unless it contains escapes.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Collects a record's fields into the row's slots and unknown list.
struct RecordVisitor<'r, 'a, 's> {
    schema: &'s CompiledSchema,
    slots: &'r mut Vec<Option<(u16, &'a RawValue)>>,
    unknown: &'r mut Vec<(Cow<'a, str>, &'a RawValue)>,
}

fn offer<'a>(slot: &mut Option<(u16, &'a RawValue)>, priority: u16, v: &'a RawValue) {
    // JSON null never displaces a value; among equals, the last occurrence wins (duplicate keys).
    if v.get() == "null" {
        return;
    }
    match slot {
        Some((p, _)) if *p < priority => {}
        _ => *slot = Some((priority, v)),
    }
}

/// Finds `rest` (a key path) inside a JSON object value.
fn lookup<'a>(v: &'a RawValue, rest: &[String]) -> Option<&'a RawValue> {
    let Some((first, tail)) = rest.split_first() else {
        return Some(v);
    };
    if !v.get().starts_with('{') {
        return None;
    }
    let map: FxHashMap<Key<'a>, &'a RawValue> = serde_json::from_str(v.get()).ok()?;
    // A literal dotted key at this level wins over deeper nesting, as at the top level.
    if !tail.is_empty() {
        let joined = rest.join(".");
        if let Some(v) = map.get(&Key(Cow::Borrowed(joined.as_str()))) {
            return Some(v);
        }
    }
    lookup(map.get(&Key(Cow::Borrowed(first.as_str())))?, tail)
}

impl<'de, 's> Visitor<'de> for RecordVisitor<'_, 'de, 's> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            let mut consumed = false;
            if let Some(t) = self.schema.direct.get(key.as_ref()) {
                offer(&mut self.slots[t.column], t.priority, value);
                consumed = true;
            }
            if let Some(targets) = self.schema.nested.get(key.as_ref()) {
                for t in targets {
                    if let Some(v) = lookup(value, &t.rest) {
                        offer(&mut self.slots[t.column], t.priority, v);
                    }
                }
                // The parent object stays in the attributes: its other fields are data too.
            }
            if !consumed {
                self.unknown.push((key, value));
            }
        }
        Ok(())
    }
}

/// The content of a JSON string literal, borrowed when it has no escapes.
fn string_content(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
}

fn kind_name(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    let f: f64 = s.parse().ok()?;
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
}

fn parse_double(s: &str) -> Option<f64> {
    let s = s.trim();
    // Rust also accepts `inf`, `NaN`: not numbers in JSON, and poison for aggregates.
    if !s.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" | "on" => Some(true),
        "false" | "f" | "no" | "n" | "0" | "off" => Some(false),
        _ => None,
    }
}

impl<'s> Normalizer<'s> {
    /// A normaliser for a compiled schema.
    pub fn new(schema: &'s CompiledSchema) -> Self {
        Self { schema }
    }

    /// Parses a timestamp value with the schema's formats.
    fn timestamp(&self, raw: &str) -> Option<i64> {
        let formats = &self.schema.time_formats;
        match raw.as_bytes().first()? {
            b'"' => {
                let s = string_content(raw)?;
                formats.iter().find_map(|f| match f {
                    TimeFormat::Rfc3339 => time::parse_rfc3339(&s),
                    TimeFormat::EpochAuto => time::parse_epoch_text(&s, None),
                    TimeFormat::Epoch(u) => time::parse_epoch_text(&s, Some(*u)),
                    TimeFormat::Strftime(p) => time::parse_strftime(&s, p),
                    TimeFormat::Log4jInstant => None,
                })
            }
            b'-' | b'0'..=b'9' => formats.iter().find_map(|f| match f {
                TimeFormat::EpochAuto => epoch_number(raw, None),
                TimeFormat::Epoch(u) => epoch_number(raw, Some(*u)),
                _ => None,
            }),
            b'{' if formats.contains(&TimeFormat::Log4jInstant) => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Instant {
                    epoch_second: i64,
                    #[serde(default)]
                    nano_of_second: i64,
                }
                let i: Instant = serde_json::from_str(raw).ok()?;
                let ns = i128::from(i.epoch_second) * 1_000_000_000 + i128::from(i.nano_of_second);
                time::epoch_int_to_micros(ns, EpochUnit::Nanos)
            }
            _ => None,
        }
    }

    /// Coerces one raw JSON value to a column's type. `Err(())` means "present but not
    /// coercible": the cell becomes null and the failure is counted.
    fn coerce<'a>(&self, col: usize, raw: &'a RawValue) -> Result<Cell<'a>, ()> {
        let spec = &self.schema.columns()[col];
        let text = raw.get();
        let first = *text.as_bytes().first().ok_or(())?;
        if first == b'n' {
            return Ok(Cell::Null);
        }
        let string = || string_content(text).ok_or(());
        Ok(match spec.ty {
            ColumnType::String => {
                let s = if first == b'"' {
                    string()?
                } else {
                    Cow::Borrowed(text)
                };
                match spec.normalize {
                    Some(Normalize::Level) => match s {
                        Cow::Borrowed(b) => Cell::Str(self.schema.levels.normalize(b)),
                        Cow::Owned(o) => {
                            Cell::Str(Cow::Owned(self.schema.levels.normalize(&o).into_owned()))
                        }
                    },
                    None => Cell::Str(s),
                }
            }
            ColumnType::Int | ColumnType::Bigint => {
                let v = match first {
                    b'"' => parse_int(&string()?),
                    b'-' | b'0'..=b'9' => parse_int(text),
                    _ => None,
                }
                .ok_or(())?;
                if spec.ty == ColumnType::Int && i32::try_from(v).is_err() {
                    return Err(());
                }
                Cell::Int(v)
            }
            ColumnType::Double => Cell::Double(
                match first {
                    b'"' => parse_double(&string()?),
                    b'-' | b'0'..=b'9' => parse_double(text),
                    _ => None,
                }
                .ok_or(())?,
            ),
            ColumnType::Boolean => Cell::Bool(
                match first {
                    b't' => Some(true),
                    b'f' => Some(false),
                    b'"' => parse_bool(&string()?),
                    b'0' | b'1' => parse_bool(text),
                    _ => None,
                }
                .ok_or(())?,
            ),
            ColumnType::Timestamp => Cell::Ts(self.timestamp(text).ok_or(())?),
        })
    }

    fn missing(&self, col: usize) -> Rejection {
        let name = &self.schema.columns()[col].name;
        let sources = self.schema.column_sources[col]
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ");
        Rejection::new(
            "missing_field",
            format!("missing required field `{name}` (looked for {sources})"),
        )
    }

    fn invalid(&self, col: usize, raw: &RawValue) -> Rejection {
        let spec = &self.schema.columns()[col];
        let mut shown: String = raw.get().chars().take(80).collect();
        if shown.len() < raw.get().len() {
            shown.push('…');
        }
        if col == self.schema.timestamp_column {
            Rejection::new(
                "invalid_timestamp",
                format!(
                    "invalid timestamp {shown} for `{}`: expected one of {}",
                    spec.name,
                    self.schema.schema.timestamp.formats.join(", ")
                ),
            )
        } else {
            Rejection::new(
                "invalid_value",
                format!(
                    "invalid value {shown} for required `{}` ({}): expected {}",
                    spec.name,
                    kind_name(raw.get()),
                    spec.ty.glue_name()
                ),
            )
        }
    }

    /// Normalises one record. On success `row` holds the typed cells, attributes and time.
    pub fn normalize<'a>(&self, raw: &'a [u8], row: &mut Row<'a>) -> Result<(), Rejection> {
        let text = std::str::from_utf8(raw).map_err(|e| {
            Rejection::new(
                "invalid_utf8",
                format!("invalid UTF-8 at byte {} of the record", e.valid_up_to()),
            )
        })?;
        let trimmed = text.trim_start_matches([' ', '\t', '\r', '\n']);
        match trimmed.as_bytes().first() {
            Some(b'{') => {}
            None => return Err(Rejection::new("invalid_json", "empty record")),
            Some(_) => {
                return Err(match serde_json::from_str::<de::IgnoredAny>(text) {
                    Ok(_) => Rejection::new(
                        "not_object",
                        format!("not a JSON object (found {})", kind_name(trimmed)),
                    ),
                    Err(e) => Rejection::new("invalid_json", format!("invalid JSON: {e}")),
                });
            }
        }
        row.slots.iter_mut().for_each(|s| *s = None);
        row.unknown.clear();
        row.coercion_failures.clear();
        let mut de = serde_json::Deserializer::from_str(text);
        de.deserialize_map(RecordVisitor {
            schema: self.schema,
            slots: &mut row.slots,
            unknown: &mut row.unknown,
        })
        .and_then(|()| de.end())
        .map_err(|e| Rejection::new("invalid_json", format!("invalid JSON: {e}")))?;

        let ts_col = self.schema.timestamp_column;
        for col in 0..row.cells.len() {
            let cell = match row.slots[col] {
                None => {
                    if col == ts_col || self.schema.columns()[col].required {
                        return Err(self.missing(col));
                    }
                    Cell::Null
                }
                Some((_, raw)) => match self.coerce(col, raw) {
                    Ok(c) => c,
                    Err(()) => {
                        if col == ts_col || self.schema.columns()[col].required {
                            return Err(self.invalid(col, raw));
                        }
                        row.coercion_failures.push(col);
                        Cell::Null
                    }
                },
            };
            row.cells[col] = cell;
        }
        row.ts = match row.cells[ts_col] {
            Cell::Ts(t) => t,
            _ => return Err(self.missing(ts_col)),
        };
        row.has_attributes = build_attributes(&row.unknown, &mut row.attr_buf);
        Ok(())
    }
}

/// Writes the unknown fields as one JSON object, values verbatim. Duplicate keys: the last
/// occurrence wins (fluent-bit `dup_keys_out.json`).
fn build_attributes(unknown: &[(Cow<'_, str>, &RawValue)], buf: &mut String) -> bool {
    if unknown.is_empty() {
        return false;
    }
    let superseded = |i: usize| -> bool {
        let k = &unknown[i].0;
        unknown[i + 1..].iter().any(|(later, _)| later == k)
    };
    let mut dup_set: Option<FxHashSet<usize>> = None;
    if unknown.len() > 16 {
        // Wide records: find superseded entries in linear time.
        let mut last: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, (k, _)) in unknown.iter().enumerate() {
            last.insert(k, i);
        }
        dup_set = Some(
            (0..unknown.len())
                .filter(|i| last.get(unknown[*i].0.as_ref()) != Some(i))
                .collect(),
        );
    }
    buf.clear();
    buf.push('{');
    let mut first = true;
    for (i, (k, v)) in unknown.iter().enumerate() {
        let dup = match &dup_set {
            Some(s) => s.contains(&i),
            None => superseded(i),
        };
        if dup {
            continue;
        }
        if !first {
            buf.push(',');
        }
        first = false;
        push_json_string(buf, k);
        buf.push(':');
        buf.push_str(v.get());
    }
    buf.push('}');
    true
}

/// Appends `s` as a JSON string literal.
fn push_json_string(buf: &mut String, s: &str) {
    buf.push('"');
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                use std::fmt::Write;
                let _ = write!(buf, "\\u{:04x}", c as u32);
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

fn epoch_number(raw: &str, unit: Option<EpochUnit>) -> Option<i64> {
    if raw.contains(['e', 'E']) {
        let v: f64 = raw.parse().ok()?;
        return time::epoch_float_to_micros(
            v,
            unit.unwrap_or_else(|| EpochUnit::by_magnitude(v.abs())),
        );
    }
    time::parse_epoch_text(raw, unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    fn schema() -> CompiledSchema {
        Schema::default_app_logs().compile("built-in").unwrap()
    }

    fn norm(s: &CompiledSchema, line: &str) -> Result<Vec<String>, String> {
        let n = Normalizer::new(s);
        let mut row = Row::new(s);
        n.normalize(line.as_bytes(), &mut row)
            .map_err(|r| r.reason)?;
        let mut out: Vec<String> = s
            .columns()
            .iter()
            .zip(&row.cells)
            .filter(|(_, c)| **c != Cell::Null)
            .map(|(col, c)| match c {
                Cell::Ts(t) => format!("{}={}", col.name, time::format_rfc3339_micros(*t)),
                Cell::Str(v) => format!("{}={v}", col.name),
                other => format!("{}={other:?}", col.name),
            })
            .collect();
        if let Some(a) = row.attributes() {
            out.push(format!("attributes={a}"));
        }
        for f in &row.coercion_failures {
            out.push(format!("failed={}", s.columns()[*f].name));
        }
        Ok(out)
    }

    #[test]
    fn typical_record() {
        let s = schema();
        let got = norm(
            &s,
            r#"{"time":"2024-05-01T07:08:09.5+02:00","level":"warning","msg":"hi","status":"200","x":{"y":[1]}}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "ts=2024-05-01T05:08:09.500000Z",
                "level=WARN",
                "message=hi",
                "status=Int(200)",
                r#"attributes={"x":{"y":[1]}}"#
            ]
        );
    }

    #[test]
    fn coercion_failure_is_null_and_counted() {
        let s = schema();
        let got = norm(&s, r#"{"ts":1700000000,"status":"abc","latency_ms":"1.5"}"#).unwrap();
        assert_eq!(
            got,
            [
                "ts=2023-11-14T22:13:20.000000Z",
                "latency_ms=Double(1.5)",
                "failed=status"
            ]
        );
    }

    #[test]
    fn rejections_name_the_field() {
        let s = schema();
        assert_eq!(
            norm(&s, r#"{"msg":"no time"}"#).unwrap_err(),
            "missing required field `ts` (looked for `ts`, `timestamp`, `time`, `@timestamp`, `t.$date`, `date`)"
        );
        assert_eq!(
            norm(&s, r#"{"ts":"xxx"}"#).unwrap_err(),
            r#"invalid timestamp "xxx" for `ts`: expected one of rfc3339, epoch"#
        );
        assert_eq!(
            norm(&s, "[1,2]").unwrap_err(),
            "not a JSON object (found an array)"
        );
        assert!(
            norm(&s, r#"{"ts":1,"#)
                .unwrap_err()
                .starts_with("invalid JSON: ")
        );
        assert!(
            norm(&s, "# comment")
                .unwrap_err()
                .starts_with("invalid JSON: ")
        );
        let bad_utf8 = Normalizer::new(&s)
            .normalize(b"{\"ts\":1,\"m\":\"\xff\"}", &mut Row::new(&s))
            .unwrap_err();
        assert_eq!(bad_utf8.reason, "invalid UTF-8 at byte 13 of the record");
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let s = schema();
        let got = norm(&s, r#"{"ts":1,"k":1,"level":"info","k":2,"level":"error"}"#).unwrap();
        assert_eq!(
            got,
            [
                "ts=1970-01-01T00:00:01.000000Z",
                "level=ERROR",
                r#"attributes={"k":2}"#
            ]
        );
    }

    #[test]
    fn nested_and_dotted_aliases() {
        let s = schema();
        let got = norm(
            &s,
            r#"{"t":{"$date":"2026-03-10T20:58:09.401+00:00"},"log.level":"debug"}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "ts=2026-03-10T20:58:09.401000Z",
                "level=DEBUG",
                r#"attributes={"t":{"$date":"2026-03-10T20:58:09.401+00:00"}}"#
            ]
        );
    }

    #[test]
    fn escaped_keys_and_values_survive() {
        let s = schema();
        let got = norm(&s, r#"{"ts":1,"m\u0073g":"a\"b","k\"ey":"\u00b5"}"#).unwrap();
        assert_eq!(got[1], "message=a\"b");
        assert_eq!(got[2], r#"attributes={"k\"ey":"\u00b5"}"#);
    }
}
