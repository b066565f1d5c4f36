//! Timestamp parsing: every common way logs write time, to UTC microseconds.
//!
//! Rounding: sub-microsecond digits are rounded half-up, not truncated, which matches the
//! fluent-bit expectation `2019-04-05T14:54:23.584269761` → `1554476063.584270`.

/// One accepted timestamp format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// ISO 8601 / RFC 3339 variants: `T` or space, 0–9 fraction digits after `.` or `,`,
    /// `Z`, `±hh:mm`, `±hhmm`, `±hh`, or no zone (UTC).
    Rfc3339,
    /// A number or numeric string; the unit is decided by magnitude.
    EpochAuto,
    /// A number or numeric string in a fixed unit.
    Epoch(EpochUnit),
    /// log4j2 `JsonLayout` instant: `{"epochSecond": s, "nanoOfSecond": ns}`.
    Log4jInstant,
    /// A chrono `strftime` pattern (with `%z` for an offset; without one, UTC).
    Strftime(String),
}

/// Unit of an epoch number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochUnit {
    /// Seconds.
    Seconds,
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds.
    Nanos,
}

impl EpochUnit {
    /// Decides the unit of an epoch value by its magnitude: below 1e11 seconds (up to year
    /// 5138), below 1e14 milliseconds, below 1e17 microseconds, otherwise nanoseconds.
    pub fn by_magnitude(abs: f64) -> Self {
        if abs < 1e11 {
            Self::Seconds
        } else if abs < 1e14 {
            Self::Millis
        } else if abs < 1e17 {
            Self::Micros
        } else {
            Self::Nanos
        }
    }

    fn nanos_per_unit(self) -> i128 {
        match self {
            Self::Seconds => 1_000_000_000,
            Self::Millis => 1_000_000,
            Self::Micros => 1_000,
            Self::Nanos => 1,
        }
    }
}

impl TimeFormat {
    /// Parses a format name from the schema.
    pub fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "rfc3339" | "iso8601" => Self::Rfc3339,
            "epoch" => Self::EpochAuto,
            "epoch_s" => Self::Epoch(EpochUnit::Seconds),
            "epoch_ms" => Self::Epoch(EpochUnit::Millis),
            "epoch_us" => Self::Epoch(EpochUnit::Micros),
            "epoch_ns" => Self::Epoch(EpochUnit::Nanos),
            "log4j_instant" => Self::Log4jInstant,
            p if p.contains('%') => Self::Strftime(p.to_owned()),
            other => {
                return Err(format!(
                    "unknown format `{other}`; use rfc3339, epoch, epoch_s, epoch_ms, epoch_us, epoch_ns, log4j_instant or a strftime pattern containing `%`"
                ));
            }
        })
    }
}

/// Smallest and largest accepted instants: years 0001 to 9999, which every Parquet reader and
/// Athena can represent.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
const MAX_MICROS: i64 = 253_402_300_799_999_999;

fn in_range(us: i128) -> Option<i64> {
    let us = i64::try_from(us).ok()?;
    (MIN_MICROS..=MAX_MICROS).contains(&us).then_some(us)
}

/// Converts an integer epoch value to microseconds, rounding halves away from zero.
pub fn epoch_int_to_micros(v: i128, unit: EpochUnit) -> Option<i64> {
    let ns = v.checked_mul(unit.nanos_per_unit())?;
    in_range(div_round(ns, 1000))
}

/// Converts a float epoch value to microseconds.
pub fn epoch_float_to_micros(v: f64, unit: EpochUnit) -> Option<i64> {
    if !v.is_finite() {
        return None;
    }
    let us = match unit {
        EpochUnit::Seconds => v * 1e6,
        EpochUnit::Millis => v * 1e3,
        EpochUnit::Micros => v,
        EpochUnit::Nanos => v / 1e3,
    }
    .round();
    if us.abs() > 9.3e18 {
        return None;
    }
    in_range(us as i128)
}

/// Division rounding half away from zero.
fn div_round(n: i128, d: i128) -> i128 {
    if n >= 0 {
        (n + d / 2) / d
    } else {
        (n - d / 2) / d
    }
}

/// Parses a decimal number written as text (`"1534860261221373"`, `"1636381332.5"`) as an
/// epoch value. Returns `None` for anything that is not a plain number.
pub fn parse_epoch_text(s: &str, unit: Option<EpochUnit>) -> Option<i64> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    if !digits.contains('.') {
        let v: i128 = s.parse().ok()?;
        let unit = unit.unwrap_or_else(|| EpochUnit::by_magnitude(v.unsigned_abs() as f64));
        return epoch_int_to_micros(v, unit);
    }
    let v: f64 = s.parse().ok()?;
    let unit = unit.unwrap_or_else(|| EpochUnit::by_magnitude(v.abs()));
    epoch_float_to_micros(v, unit)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date `(year, month, day)` of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let s = self.b.get(self.i..self.i + n)?;
        let mut v = 0u32;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        self.i += n;
        Some(v)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
}

/// Parses ISO 8601 / RFC 3339 text to UTC microseconds.
///
/// Kept whole (about 85 lines): a straight-line grammar (date, separator, time, fraction,
/// zone) read by one cursor, each step a few lines; the fuzz and property tests pin it.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let mut c = Cursor {
        b: s.trim().as_bytes(),
        i: 0,
    };
    let year = c.digits(4)?;
    if !c.eat(b'-') {
        return None;
    }
    let month = c.digits(2)?;
    if !c.eat(b'-') {
        return None;
    }
    let day = c.digits(2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(i64::from(year), month) {
        return None;
    }
    let (mut hour, mut minute, mut second, mut frac_us) = (0, 0, 0, 0u64);
    if matches!(c.peek(), Some(b'T' | b't' | b' ')) {
        c.i += 1;
        hour = c.digits(2)?;
        if !c.eat(b':') {
            return None;
        }
        minute = c.digits(2)?;
        if c.eat(b':') {
            second = c.digits(2)?;
            if c.eat(b'.') || c.eat(b',') {
                let start = c.i;
                let mut frac: u64 = 0;
                let mut n = 0;
                while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
                    if n < 10 {
                        frac = frac * 10 + u64::from(d - b'0');
                        n += 1;
                    }
                    c.i += 1;
                }
                if c.i == start {
                    return None;
                }
                // Keep 10 digits (one guard digit below nanoseconds), then round to
                // microseconds half-up; a carry to the next second is fine (1_000_000).
                while n < 10 {
                    frac *= 10;
                    n += 1;
                }
                frac_us = (frac + 5_000) / 10_000;
            }
        }
        // Leap second 60 is folded into the next second, as chrono and most engines do.
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
    }
    let offset_secs: i64 = match c.peek() {
        None => 0,
        Some(b'Z' | b'z') => {
            c.i += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            c.i += 1;
            let oh = c.digits(2)?;
            let om = if c.eat(b':') {
                c.digits(2)?
            } else {
                c.digits(2).unwrap_or(0)
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let o = i64::from(oh * 3600 + om * 60);
            if sign == b'-' { -o } else { o }
        }
        Some(_) => return None,
    };
    if c.i != c.b.len() {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
    let us = i128::from(secs) * 1_000_000 + i128::from(frac_us);
    in_range(us)
}

/// Parses text with a chrono `strftime` pattern. Patterns without an offset are read as UTC.
pub fn parse_strftime(s: &str, pattern: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_str(s, pattern) {
        return in_range(i128::from(dt.timestamp_micros()));
    }
    let naive = chrono::NaiveDateTime::parse_from_str(s, pattern).ok()?;
    in_range(i128::from(naive.and_utc().timestamp_micros()))
}

/// The UTC hour a microsecond timestamp falls in, counted from the epoch: the partition key.
pub fn hour_of(micros: i64) -> i64 {
    micros.div_euclid(3_600_000_000)
}

/// The `dt=YYYY-MM-DD/hr=HH` partition path of an hour from [`hour_of`].
pub fn dt_hr_path(hour: i64) -> String {
    format!(
        "dt={}/hr={:02}",
        format_date(hour.div_euclid(24)),
        hour.rem_euclid(24)
    )
}

/// Formats a day number as `YYYY-MM-DD`.
pub fn format_date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Formats UTC microseconds as RFC 3339 with a `Z` and 6 fraction digits.
pub fn format_rfc3339_micros(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let (day, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(day);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> String {
        format_rfc3339_micros(parse_rfc3339(s).unwrap_or_else(|| panic!("no parse: {s}")))
    }

    #[test]
    fn rfc3339_variants() {
        assert_eq!(
            iso("2013-09-06T20:00:48.124817Z"),
            "2013-09-06T20:00:48.124817Z"
        );
        assert_eq!(iso("2013-09-06 22:01:00Z"), "2013-09-06T22:01:00.000000Z");
        assert_eq!(
            iso("2026-03-10T20:58:09.401+00:00"),
            "2026-03-10T20:58:09.401000Z"
        );
        assert_eq!(
            iso("2021-11-08T14:22:12.637611+0000"),
            "2021-11-08T14:22:12.637611Z"
        );
        assert_eq!(
            iso("2024-01-01T02:30:00+02:30"),
            "2024-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            iso("2024-01-01T00:00:00-0800"),
            "2024-01-01T08:00:00.000000Z"
        );
        assert_eq!(iso("2024-01-01T00:00:00+05"), "2023-12-31T19:00:00.000000Z");
        assert_eq!(iso("2024-02-29"), "2024-02-29T00:00:00.000000Z");
        assert_eq!(iso("2024-02-29T10:11"), "2024-02-29T10:11:00.000000Z");
        assert_eq!(iso("2024-02-29t10:11:12.1z"), "2024-02-29T10:11:12.100000Z");
    }

    #[test]
    fn elasticsearch_comma_fraction_and_offset() {
        // elastic/beats elasticsearch server test-json.log: 2019-01-18T08:55:08,159+0100
        assert_eq!(
            iso("2019-01-18T08:55:08,159+0100"),
            "2019-01-18T07:55:08.159000Z"
        );
    }

    #[test]
    fn nanoseconds_round_half_up_to_micros() {
        // fluent-bit annotations-parser_json-with-time_json.out: rounded, not truncated.
        assert_eq!(
            parse_rfc3339("2019-04-05T14:54:23.584269761"),
            Some(1_554_476_063_584_270)
        );
        assert_eq!(
            parse_rfc3339("2019-04-01T17:58:33.598656444Z"),
            Some(1_554_141_513_598_656)
        );
        assert_eq!(
            iso("2024-01-01T23:59:59.9999995Z"),
            "2024-01-02T00:00:00.000000Z"
        );
        assert_eq!(
            iso("2024-01-01T00:00:00.123456789012Z"),
            "2024-01-01T00:00:00.123457Z"
        );
    }

    #[test]
    fn rfc3339_rejects_garbage() {
        for s in [
            "xxx",
            "",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00Zjunk",
            "2024-01-01T00:00:00.Z",
            "2024-1-01",
            "2024-01-01T00:00:00+25:00",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }

    #[test]
    fn epoch_units_by_magnitude() {
        // AWS WAF epoch millis (elastic/integrations test-waf.log-expected.json).
        assert_eq!(
            format_rfc3339_micros(parse_epoch_text("1576280412771", None).unwrap()),
            "2019-12-13T23:40:12.771000Z"
        );
        assert_eq!(
            parse_epoch_text("1636381332", None),
            Some(1_636_381_332_000_000)
        );
        assert_eq!(
            parse_epoch_text("1534860261221373", None),
            Some(1_534_860_261_221_373)
        );
        assert_eq!(
            parse_epoch_text("1712790000100000000", None),
            Some(1_712_790_000_100_000)
        );
        assert_eq!(
            parse_epoch_text("1490386367764.0", None),
            Some(1_490_386_367_764_000)
        );
        assert_eq!(
            parse_epoch_text("1554141513.598656", None),
            Some(1_554_141_513_598_656)
        );
        assert_eq!(parse_epoch_text("12ab", None), None);
        assert_eq!(parse_epoch_text("", None), None);
        assert_eq!(
            parse_epoch_text("1737735732", Some(EpochUnit::Millis)),
            Some(1_737_735_732_000)
        );
    }

    #[test]
    fn the_edges_of_the_calendar_and_negative_epochs() {
        // The calendar is years 1 to 9999 (what the table accepts is the schema's window's
        // business); year 0 is refused, not wrapped.
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00Z"), None);
        let y1 = parse_rfc3339("0001-01-01T00:00:00Z").unwrap();
        assert_eq!(format_rfc3339_micros(y1), "0001-01-01T00:00:00.000000Z");
        let y9999 = parse_rfc3339("9999-12-31T23:59:59.999999Z").unwrap();
        assert_eq!(format_rfc3339_micros(y9999), "9999-12-31T23:59:59.999999Z");
        assert_eq!(parse_rfc3339("10000-01-01T00:00:00Z"), None);
        // Negative epochs are before 1970, in every unit, rounded half-up to micros.
        assert_eq!(
            epoch_int_to_micros(-1, EpochUnit::Seconds),
            Some(-1_000_000)
        );
        // Halves round away from zero, as for positive values: -1.5 µs is -2 µs.
        assert_eq!(epoch_int_to_micros(-1500, EpochUnit::Nanos), Some(-2));
        assert_eq!(epoch_int_to_micros(1500, EpochUnit::Nanos), Some(2));
        assert_eq!(parse_epoch_text("-1", Some(EpochUnit::Millis)), Some(-1000));
        assert_eq!(epoch_float_to_micros(f64::NAN, EpochUnit::Seconds), None);
        assert_eq!(
            epoch_float_to_micros(f64::INFINITY, EpochUnit::Seconds),
            None
        );
        // Far outside the calendar: refused, not wrapped.
        assert_eq!(
            epoch_int_to_micros(i128::from(i64::MAX), EpochUnit::Seconds),
            None
        );
    }

    #[test]
    fn civil_roundtrip() {
        for day in [-719_468, -1, 0, 1, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(dt_hr_path(hour_of(-1)), "dt=1969-12-31/hr=23");
        assert_eq!(
            dt_hr_path(hour_of(1_714_547_289_000_000)),
            "dt=2024-05-01/hr=07"
        );
    }

    #[test]
    fn strftime_patterns() {
        assert_eq!(
            parse_strftime("10/Oct/2000:13:55:36 -0700", "%d/%b/%Y:%H:%M:%S %z"),
            Some(971_211_336_000_000)
        );
        assert_eq!(
            parse_strftime("2000-10-10 20:55:36", "%Y-%m-%d %H:%M:%S"),
            Some(971_211_336_000_000)
        );
    }
}
