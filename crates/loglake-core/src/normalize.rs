//! Record normalisation: one raw JSON record in, one typed [`Row`] (or a [`Rejection`]) out.
//!
//! The record is scanned once by [`crate::json`]: keys and values are slices of the input, and a
//! value's JSON text is kept as-is until its column's type decides how to read it. Unknown
//! fields are copied verbatim into the attributes JSON, so nothing in a record is dropped.

use std::borrow::Cow;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;
use serde::de;

use crate::json::{self, Key, Kind, Value};
use crate::schema::{ColumnType, CompiledSchema, Nested, Normalize};
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
    /// `missing_field`, `invalid_timestamp`, `timestamp_out_of_window`, `invalid_value`.
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

type Slot<'a> = Option<(u16, Value<'a>)>;

/// A normalised record, reused from one record to the next to avoid allocations.
#[derive(Debug)]
pub struct Row<'a> {
    /// One cell per schema column, in schema order.
    pub cells: Vec<Cell<'a>>,
    /// The event time, UTC microseconds (the timestamp column's value).
    pub ts: i64,
    /// Columns whose value was present but could not be coerced (now null).
    pub coercion_failures: Vec<usize>,
    slots: Vec<Slot<'a>>,
    unknown: Vec<(Key<'a>, &'a str)>,
    attr_buf: String,
    has_attributes: bool,
}

impl<'a> Row<'a> {
    /// The keys of the fields no column took (they go to the attributes column), in order.
    pub fn unknown_keys(&self) -> impl Iterator<Item = std::borrow::Cow<'a, str>> + '_ {
        self.unknown.iter().map(|(k, _)| k.text())
    }

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
    /// The first event time past the accepted window (exclusive), UTC microseconds.
    until_us: i64,
}

fn offer<'a>(slot: &mut Slot<'a>, priority: u16, v: Value<'a>) {
    // JSON null never displaces a value; among equals, the last occurrence wins (duplicate keys).
    if v.kind == Kind::Null {
        return;
    }
    match slot {
        Some((p, _)) if *p < priority => {}
        _ => *slot = Some((priority, v)),
    }
}

fn under_path(t: &Nested, path: &[&str]) -> bool {
    t.rest.len() > path.len() && t.rest.iter().zip(path).all(|(a, b)| a == b)
}

/// Resolves dotted aliases below a top-level key: scans the object once per level, offering
/// each value whose path matches a target's remaining segments. `path` holds the keys already
/// walked below the top-level key, so only targets under that path are considered.
fn resolve_nested<'a>(v: Value<'a>, targets: &[Nested], path: &[&str], slots: &mut [Slot<'a>]) {
    if v.kind != Kind::Object {
        return;
    }
    let depth = path.len();
    // The outer scan already validated this value, so this scan cannot fail.
    let _ = json::scan_object(v.raw, &mut |key, value| {
        let key = key.text();
        let mut deeper = false;
        for t in targets {
            if !under_path(t, path) || t.rest[depth] != key.as_ref() {
                continue;
            }
            if depth + 1 == t.rest.len() {
                offer(&mut slots[t.column], t.priority, value);
            } else {
                deeper = true;
            }
        }
        if deeper {
            let mut p = path.to_vec();
            p.push(key.as_ref());
            resolve_nested(value, targets, &p, slots);
        }
    });
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Object => "an object",
        Kind::Array => "an array",
        Kind::Str { .. } => "a string",
        Kind::True | Kind::False => "a boolean",
        Kind::Null => "null",
        Kind::Num => "a number",
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
    /// A normaliser whose window has no upper bound (see [`Normalizer::written_at`]).
    pub fn new(schema: &'s CompiledSchema) -> Self {
        Self {
            schema,
            until_us: i64::MAX,
        }
    }

    /// Bounds the accepted window above by the time the object was written plus the schema's
    /// `timestamp.window.max_future_days` (UTC microseconds).
    #[must_use]
    pub fn written_at(mut self, written_us: i64) -> Self {
        self.until_us = written_us.saturating_add(self.schema.window_future_us);
        self
    }

    /// A timestamp outside `[window.from, until)`.
    fn out_of_window(&self, ts: i64) -> Rejection {
        let window = &self.schema.schema.timestamp.window;
        let (edge, bound) = if ts < self.schema.window_from_us {
            ("before", format!("window.from {}", window.from))
        } else {
            (
                "after",
                format!(
                    "{} day(s) after the object was written, {}",
                    window.max_future_days,
                    time::format_rfc3339_micros(self.until_us)
                ),
            )
        };
        Rejection::new(
            "timestamp_out_of_window",
            format!(
                "timestamp {} for `{}` is {edge} the accepted window ({bound}; schema `timestamp.window`): Athena's partition projection would not show it",
                time::format_rfc3339_micros(ts),
                self.schema.schema.timestamp.column,
            ),
        )
    }

    /// Parses a timestamp value with the schema's formats.
    fn timestamp(&self, v: Value<'_>) -> Option<i64> {
        parse_time(v, &self.schema.time_formats)
    }

    /// Coerces one value to a column's type. `Err(())` means "present but not coercible": the
    /// cell becomes null and the failure is counted.
    fn coerce<'a>(&self, col: usize, v: Value<'a>) -> Result<Cell<'a>, ()>
    where
        's: 'a,
    {
        let levels: &'s crate::level::LevelMap = &self.schema.levels;
        let spec = &self.schema.columns()[col];
        if v.kind == Kind::Null {
            return Ok(Cell::Null);
        }
        let string = || v.str_content().ok_or(());
        let is_str = matches!(v.kind, Kind::Str { .. });
        Ok(match spec.ty {
            ColumnType::String => {
                let s = if is_str {
                    string()?
                } else {
                    Cow::Borrowed(v.raw)
                };
                match spec.normalize {
                    Some(Normalize::Level) => match s {
                        Cow::Borrowed(b) => Cell::Str(levels.normalize(b)),
                        Cow::Owned(o) => Cell::Str(Cow::Owned(levels.normalize(&o).into_owned())),
                    },
                    None => Cell::Str(s),
                }
            }
            ColumnType::Int | ColumnType::Bigint => {
                let n = match v.kind {
                    Kind::Str { .. } => parse_int(&string()?),
                    Kind::Num => parse_int(v.raw),
                    _ => None,
                }
                .ok_or(())?;
                if spec.ty == ColumnType::Int && i32::try_from(n).is_err() {
                    return Err(());
                }
                Cell::Int(n)
            }
            ColumnType::Double => Cell::Double(
                match v.kind {
                    Kind::Str { .. } => parse_double(&string()?),
                    Kind::Num => parse_double(v.raw),
                    _ => None,
                }
                .ok_or(())?,
            ),
            ColumnType::Boolean => Cell::Bool(
                match v.kind {
                    Kind::True => Some(true),
                    Kind::False => Some(false),
                    Kind::Str { .. } => parse_bool(&string()?),
                    Kind::Num => parse_bool(v.raw),
                    _ => None,
                }
                .ok_or(())?,
            ),
            ColumnType::Timestamp => Cell::Ts(self.timestamp(v).ok_or(())?),
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

    fn invalid(&self, col: usize, v: Value<'_>) -> Rejection {
        let spec = &self.schema.columns()[col];
        let mut shown: String = v.raw.chars().take(80).collect();
        if shown.len() < v.raw.len() {
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
                    kind_name(v.kind),
                    spec.ty.glue_name()
                ),
            )
        }
    }

    /// Normalises one record. On success `row` holds the typed cells, attributes and time.
    ///
    /// Kept whole (about 85 lines): the per-record hot path, one pass over the record's keys
    /// that routes, coerces and collects attributes with borrowed values; the steps with any
    /// logic of their own are the helpers it calls (`coerce`, `timestamp`, `missing`, `invalid`).
    pub fn normalize<'a>(&self, raw: &'a [u8], row: &mut Row<'a>) -> Result<(), Rejection>
    where
        's: 'a,
    {
        // SIMD validation (several times std's speed on log text); std only to locate an error.
        let text = simdutf8::basic::from_utf8(raw).map_err(|_| {
            let at = std::str::from_utf8(raw)
                .err()
                .map_or(0, |e| e.valid_up_to());
            Rejection::new(
                "invalid_utf8",
                format!("invalid UTF-8 at byte {at} of the record"),
            )
        })?;
        let trimmed = text.trim_start_matches([' ', '\t', '\r', '\n']);
        match trimmed.as_bytes().first() {
            Some(b'{') => {}
            None => return Err(Rejection::new("invalid_json", "empty record")),
            Some(_) => {
                return Err(match json::kind_of(trimmed.trim_end()) {
                    Some(kind) => Rejection::new(
                        "not_object",
                        format!("not a JSON object (found {})", kind_name(kind)),
                    ),
                    None => {
                        let e = serde_json::from_str::<de::IgnoredAny>(text)
                            .err()
                            .map_or_else(|| "not JSON".to_owned(), |e| e.to_string());
                        Rejection::new("invalid_json", format!("invalid JSON: {e}"))
                    }
                });
            }
        }
        row.slots.iter_mut().for_each(|s| *s = None);
        row.unknown.clear();
        row.coercion_failures.clear();
        let routes = &self.schema.routes;
        let slots = &mut row.slots;
        let unknown = &mut row.unknown;
        json::scan_object(text, &mut |key, value| {
            let name = key.text();
            let Some(route) = routes.get(name.as_ref()) else {
                unknown.push((key, value.raw));
                return;
            };
            if let Some(d) = route.direct {
                offer(&mut slots[d.column], d.priority, value);
            }
            if !route.nested.is_empty() {
                resolve_nested(value, &route.nested, &[], slots);
            }
            // A key that is only the root of dotted aliases stays in the attributes: the rest
            // of its object is data too.
            if route.direct.is_none() {
                unknown.push((key, value.raw));
            }
        })
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
                Some((_, v)) => match self.coerce(col, v) {
                    Ok(c) => c,
                    Err(()) => {
                        if col == ts_col || self.schema.columns()[col].required {
                            return Err(self.invalid(col, v));
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
        if row.ts < self.schema.window_from_us || row.ts >= self.until_us {
            return Err(self.out_of_window(row.ts));
        }
        row.has_attributes = build_attributes(&row.unknown, &mut row.attr_buf);
        Ok(())
    }
}

/// Writes the unknown fields as one JSON object, keys and values verbatim (a key's text between
/// its quotes is valid JSON string content, escapes included). Duplicate keys: the last
/// occurrence wins (fluent-bit `dup_keys_out.json`).
fn build_attributes(unknown: &[(Key<'_>, &str)], buf: &mut String) -> bool {
    if unknown.is_empty() {
        return false;
    }
    let superseded = |i: usize| -> bool {
        let k = unknown[i].0.raw;
        unknown[i + 1..].iter().any(|(later, _)| later.raw == k)
    };
    let mut dup_set: Option<FxHashSet<usize>> = None;
    if unknown.len() > 16 {
        // Wide records: find superseded entries in linear time.
        let mut last: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, (k, _)) in unknown.iter().enumerate() {
            last.insert(k.raw, i);
        }
        dup_set = Some(
            (0..unknown.len())
                .filter(|i| last.get(unknown[*i].0.raw) != Some(i))
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
        buf.push('"');
        buf.push_str(k.raw);
        buf.push_str("\":");
        buf.push_str(v);
    }
    buf.push('}');
    true
}

/// A JSON value as a UTC microsecond timestamp, by the first of `formats` that reads it: the
/// one reading of times, for the transform and for schema inference alike.
pub fn parse_time(v: Value<'_>, formats: &[TimeFormat]) -> Option<i64> {
    match v.kind {
        Kind::Str { .. } => {
            let s = v.str_content()?;
            formats.iter().find_map(|f| match f {
                TimeFormat::Rfc3339 => time::parse_rfc3339(&s),
                TimeFormat::EpochAuto => time::parse_epoch_text(&s, None),
                TimeFormat::Epoch(u) => time::parse_epoch_text(&s, Some(*u)),
                TimeFormat::Strftime(p) => time::parse_strftime(&s, p),
                TimeFormat::Log4jInstant => None,
            })
        }
        Kind::Num => formats.iter().find_map(|f| match f {
            TimeFormat::EpochAuto => epoch_number(v.raw, None),
            TimeFormat::Epoch(u) => epoch_number(v.raw, Some(*u)),
            _ => None,
        }),
        Kind::Object if formats.contains(&TimeFormat::Log4jInstant) => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Instant {
                epoch_second: i64,
                #[serde(default)]
                nano_of_second: i64,
            }
            let i: Instant = serde_json::from_str(v.raw).ok()?;
            let ns = i128::from(i.epoch_second) * 1_000_000_000 + i128::from(i.nano_of_second);
            time::epoch_int_to_micros(ns, EpochUnit::Nanos)
        }
        _ => None,
    }
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
        let got = norm(
            &s,
            r#"{"ts":1714521601,"k":1,"level":"info","k":2,"level":"error"}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "ts=2024-05-01T00:00:01.000000Z",
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
    fn timestamps_outside_the_window_are_quarantined_with_their_own_reason() {
        // The built-in schema accepts [2000-01-01, written + 1 day).
        let s = schema();
        let written = time::parse_rfc3339("2024-05-01T12:00:00Z").unwrap();
        let n = Normalizer::new(&s).written_at(written);
        let check = |line: &str| n.normalize(line.as_bytes(), &mut Row::new(&s));
        let early = check(r#"{"ts":"1999-12-31T23:59:59.999Z"}"#).unwrap_err();
        assert_eq!(early.kind, "timestamp_out_of_window");
        assert_eq!(
            early.reason,
            "timestamp 1999-12-31T23:59:59.999000Z for `ts` is before the accepted window \
             (window.from 2000-01-01; schema `timestamp.window`): Athena's partition projection \
             would not show it"
        );
        assert_eq!(
            check(r#"{"ts":-1}"#).unwrap_err().kind,
            "timestamp_out_of_window"
        );
        check(r#"{"ts":"2000-01-01T00:00:00Z"}"#).unwrap();
        check(r#"{"ts":"2024-05-02T11:59:59.999999Z"}"#).unwrap();
        let late = check(r#"{"ts":"2024-05-02T12:00:00Z"}"#).unwrap_err();
        assert_eq!(late.kind, "timestamp_out_of_window");
        assert!(
            late.reason
                .contains("after the accepted window (1 day(s) after the object was written, 2024-05-02T12:00:00.000000Z"),
            "{}",
            late.reason
        );
        // Without a written time there is no upper bound.
        Normalizer::new(&s)
            .normalize(br#"{"ts":"9999-12-31T23:59:59Z"}"#, &mut Row::new(&s))
            .unwrap();
    }

    /// NaN and Infinity are not JSON: as literals the record is not JSON; as strings they are
    /// not a number a `double` column can hold, so the cell is null and counted.
    #[test]
    fn nan_and_infinity() {
        let s = schema();
        for lit in ["NaN", "Infinity", "-Infinity"] {
            let line = format!(r#"{{"ts":1714521601,"latency_ms":{lit}}}"#);
            let e = Normalizer::new(&s)
                .normalize(line.as_bytes(), &mut Row::new(&s))
                .unwrap_err();
            assert_eq!(e.kind, "invalid_json", "{lit}: {}", e.reason);
        }
        for text in ["NaN", "Infinity", "-inf"] {
            let line = format!(r#"{{"ts":1714521601,"latency_ms":"{text}"}}"#);
            let mut row = Row::new(&s);
            Normalizer::new(&s)
                .normalize(line.as_bytes(), &mut row)
                .unwrap();
            let col = s
                .columns()
                .iter()
                .position(|c| c.name == "latency_ms")
                .unwrap();
            assert_eq!(row.cells[col], Cell::Null, "{text}");
            assert_eq!(row.coercion_failures, [col], "{text}");
        }
    }

    #[test]
    fn a_window_that_is_not_a_date_is_refused() {
        let mut bad = Schema::default_app_logs();
        bad.timestamp.window.from = "2000-1-1".into();
        let e = bad.compile("test").unwrap_err().to_string();
        assert!(
            e.contains("timestamp.window.from `2000-1-1` is not a date"),
            "{e}"
        );
    }

    #[test]
    fn escaped_keys_and_values_survive() {
        let s = schema();
        let got = norm(
            &s,
            r#"{"ts":1714521601,"m\u0073g":"a\"b","k\"ey":"\u00b5"}"#,
        )
        .unwrap();
        assert_eq!(got[1], "message=a\"b");
        assert_eq!(got[2], r#"attributes={"k\"ey":"\u00b5"}"#);
    }
}
