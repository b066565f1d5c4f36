use super::*;
use crate::{Normalizer, Row};

fn infer(lines: &[&str], hint: Option<&str>) -> Result<Inference, InferError> {
    let mut inf = Inferrer::new(hint.map(str::to_owned));
    for l in lines {
        inf.observe(l.as_bytes());
    }
    inf.finish("t", Vec::new())
}

fn col<'a>(s: &'a Schema, name: &str) -> &'a Column {
    s.columns.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn bunyan_time_and_numeric_level() {
    let lines = [
        r#"{"name":"api","hostname":"h1","pid":42,"level":30,"msg":"up","time":"2024-05-01T07:00:00.123Z","v":0}"#,
        r#"{"name":"api","hostname":"h1","pid":42,"level":50,"msg":"down","time":"2024-05-01T07:00:01.000Z","v":0,"err":{"message":"x"}}"#,
    ];
    let i = infer(&lines, None).unwrap();
    let s = &i.schema;
    assert_eq!(col(s, "ts").aliases, ["time"]);
    assert_eq!(s.timestamp.formats, ["rfc3339"]);
    let level = col(s, "level");
    assert!(
        level.aliases.is_empty(),
        "the field is already named `level`"
    );
    assert_eq!(level.normalize, Some(Normalize::Level));
    assert_eq!(col(s, "pid").ty, ColumnType::Int);
    assert_eq!(col(s, "msg").ty, ColumnType::String);
    let err = i.choices.iter().find(|c| c.field == "err").unwrap();
    assert_eq!(err.outcome, "attributes");
    assert!(err.why.contains("in 1 of 2 records"), "{err:?}");
    // What it writes, the transform accepts, and reads the records with.
    let compiled = s.compile("inferred").unwrap();
    let n = Normalizer::new(&compiled);
    let mut row = Row::new(&compiled);
    n.normalize(lines[1].as_bytes(), &mut row).unwrap();
    assert_eq!(row.ts, 1_714_546_801_000_000);
    let bunyan_55 = infer(
        &[&lines[0].replace("\"level\":30", "\"level\":55"), lines[1]],
        None,
    )
    .unwrap();
    assert_eq!(
        bunyan_55.fields["level"].unknown_levels["55"], 1,
        "not in the level table"
    );
}

#[test]
fn epoch_millis_and_dotted_level_key() {
    let lines = [
        r#"{"@timestamp":"not a time","log.level":"warning","time":1714546800000,"service":{"name":"pay"}}"#,
        r#"{"@timestamp":"later","log.level":"info","time":1714546801000,"service":{"name":"pay"}}"#,
    ];
    let i = infer(&lines, None).unwrap();
    assert_eq!(col(&i.schema, "ts").aliases, ["time"]);
    assert_eq!(i.schema.timestamp.formats, ["epoch"]);
    assert_eq!(col(&i.schema, "level").aliases, ["log.level"]);
    let svc = col(&i.schema, "service_name");
    assert_eq!(svc.aliases, ["service.name"]);
    let range = i.fields["time"].time_range.unwrap();
    assert_eq!(range, (1_714_546_800_000_000, 1_714_546_801_000_000));
}

#[test]
fn types_coverage_and_dictionary() {
    let mut lines = Vec::new();
    for i in 0..40 {
        let code = if i % 2 == 0 {
            "\"200\"".to_owned()
        } else {
            "404".to_owned()
        };
        let rare = if i == 0 { r#","rare":1"# } else { "" };
        lines.push(format!(
            r#"{{"ts":"2024-05-01T07:00:{:02}Z","svc":"s{}","code":{code},"ms":{}{rare}}}"#,
            i % 60,
            i % 3,
            if i % 2 == 0 {
                "1.5".to_owned()
            } else {
                "2".to_owned()
            },
        ));
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let i = infer(&refs, None).unwrap();
    let s = &i.schema;
    assert_eq!(col(s, "ts").aliases, Vec::<String>::new());
    assert!(col(s, "svc").dictionary, "3 values over 40 records");
    assert_eq!(
        col(s, "code").ty,
        ColumnType::String,
        "mixed number and text"
    );
    assert!(
        i.choices
            .iter()
            .any(|c| c.field == "code" && c.why.contains("mixed types"))
    );
    assert_eq!(col(s, "ms").ty, ColumnType::Double);
    assert!(
        s.columns.iter().all(|c| c.name != "rare"),
        "in 1 of 40 records: attributes"
    );
    // Deterministic: the same sample gives the same file.
    let again = infer(&refs, None).unwrap();
    assert_eq!(
        serde_json::to_string(&i.schema).unwrap(),
        serde_json::to_string(&again.schema).unwrap()
    );
}

#[test]
fn no_timestamp_is_an_error_naming_the_candidates_and_a_hint_decides() {
    let lines = [
        r#"{"a":"2024-05-01T07:00:00Z","b":1}"#,
        r#"{"a":"soon","b":2}"#,
    ];
    let err = infer(&lines, None).unwrap_err().to_string();
    assert!(
        err.contains("candidates: a 1/2") && err.contains("--timestamp FIELD"),
        "{err}"
    );
    let i = infer(&lines, Some("a")).unwrap();
    assert_eq!(col(&i.schema, "ts").aliases, ["a"]);
    let bad = infer(&lines, Some("b")).unwrap_err().to_string();
    assert!(bad.contains("none of its values parses as a time"), "{bad}");
    let none = infer(&["[1]", "nope"], None).unwrap_err();
    assert_eq!(none, InferError::NoRecords { not_objects: 2 });
}

#[test]
fn envelopes() {
    assert_eq!(
        detect_envelope(br#"{"Records":[{"eventTime":"x"}]}"#),
        Some(vec!["Records".to_owned()])
    );
    assert_eq!(
        detect_envelope(br#"{"messageType":"DATA_MESSAGE","logEvents":[]}"#),
        Some(vec!["logEvents".to_owned()])
    );
    assert_eq!(
        detect_envelope(br#"{"resourceLogs":[{"scopeLogs":[]}]}"#).unwrap(),
        ["resourceLogs", "scopeLogs", "logRecords"]
    );
    assert_eq!(detect_envelope(br#"{"Records":"text","msg":"x"}"#), None);
    // Pretty-printed over lines, the key after others; nested or escaped names do not count.
    let pretty = b"{\n  \"owner\": \"1\",\n  \"logEvents\" : [\n    {\"id\": \"a\"";
    assert_eq!(detect_envelope(pretty), Some(vec!["logEvents".to_owned()]));
    assert_eq!(
        detect_envelope(br#"{"a":{"Records":[]},"m":"\"Records\":[1]"}"#),
        None
    );
    assert_eq!(
        detect_envelope(br#"{"a":1}{"Records":[]}"#),
        None,
        "only the first value"
    );
}

#[test]
fn field_paths_are_bounded() {
    let mut inf = Inferrer::new(None);
    for i in 0..(MAX_FIELDS + 50) {
        inf.observe(format!(r#"{{"ts":"2024-05-01T07:00:00Z","id{i}":1}}"#).as_bytes());
    }
    let i = inf.finish("t", Vec::new()).unwrap();
    assert_eq!(i.fields.len(), MAX_FIELDS);
    assert_eq!(i.untracked, 51, "the paths past the limit, counted");
}
