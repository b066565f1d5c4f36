//! # loglake-gen
//!
//! A deterministic generator of realistic, deliberately messy JSON application logs, for demos,
//! tests and benchmarks (`loglake gen`). The same [`GenOptions`] always produce the same bytes.
//!
//! Lines mix what real fleets emit: timestamps as RFC 3339 with `Z`, `+hh:mm` and `+hhmm` offsets,
//! a space separator without zone, epoch milliseconds as numbers and epoch seconds as strings,
//! under different keys; levels in mixed case, aliases and Bunyan numbers; numbers as strings;
//! nested objects; unicode. About `bad_ratio` of the lines are bad in one of six ways (truncated
//! JSON, not an object, missing time, invalid time, invalid UTF-8, plain text), and every bad
//! line is counted in the [`GenReport`], so a test can check that the transform quarantines
//! exactly those.
//!
//! ```
//! let dir = tempfile_dir();
//! let opts = loglake_gen::GenOptions { files: 2, lines: 100, seed: 7, ..Default::default() };
//! let a = loglake_gen::generate(&dir, &opts).unwrap();
//! let b = loglake_gen::generate(&dir, &opts).unwrap();
//! assert_eq!(a, b);
//! assert_eq!(a.lines, 200);
//! # fn tempfile_dir() -> std::path::PathBuf {
//! #     let d = std::env::temp_dir().join(format!("loglake-gen-doc-{}", std::process::id()));
//! #     std::fs::create_dir_all(&d).unwrap();
//! #     d
//! # }
//! ```

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Generator settings.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Number of files.
    pub files: usize,
    /// Lines per file.
    pub lines: usize,
    /// Seed: the same seed gives the same files.
    pub seed: u64,
    /// Share of bad lines, 0.0..=1.0.
    pub bad_ratio: f64,
    /// Compression of the files (and their suffix).
    pub compression: Compression,
    /// First event time, epoch seconds (UTC).
    pub start: i64,
    /// Hours covered by all files together; file `i` covers the `i`-th slice.
    pub hours: u32,
}

impl Default for GenOptions {
    fn default() -> Self {
        Self {
            files: 4,
            lines: 1000,
            seed: 1,
            bad_ratio: 0.01,
            compression: Compression::None,
            // 2024-05-01T00:00:00Z
            start: 1_714_521_600,
            hours: 72,
        }
    }
}

/// How generated files are compressed: the decoder's own [`Compression`], so what `gen` can
/// write is what the transform detects.
pub use loglake_core::decode::Compression;

/// A file being written, compressed or not. `finish` writes the compressor's trailer and
/// reports its errors (dropping an encoder would swallow them).
enum Sink {
    Plain(std::io::BufWriter<std::fs::File>),
    Gzip(flate2::write::GzEncoder<std::io::BufWriter<std::fs::File>>),
    Zstd(zstd::Encoder<'static, std::io::BufWriter<std::fs::File>>),
}

impl Sink {
    fn new(file: std::fs::File, compression: Compression) -> std::io::Result<Self> {
        let buffered = std::io::BufWriter::with_capacity(1 << 20, file);
        Ok(match compression {
            Compression::None => Sink::Plain(buffered),
            Compression::Gzip => Sink::Gzip(flate2::write::GzEncoder::new(
                buffered,
                flate2::Compression::default(),
            )),
            Compression::Zstd => Sink::Zstd(zstd::Encoder::new(buffered, 3)?),
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(bytes),
            Sink::Gzip(w) => w.write_all(bytes),
            Sink::Zstd(w) => w.write_all(bytes),
        }
    }

    fn finish(self) -> std::io::Result<()> {
        let mut buffered = match self {
            Sink::Plain(w) => w,
            Sink::Gzip(w) => w.finish()?,
            Sink::Zstd(w) => w.finish()?,
        };
        buffered.flush()?;
        buffered
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
    }
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GenReport {
    /// Files written, in order.
    pub files: Vec<PathBuf>,
    /// Lines written in total.
    pub lines: u64,
    /// Bad lines among them (each must end up quarantined).
    pub bad_lines: u64,
    /// Uncompressed bytes written.
    pub bytes: u64,
}

/// Errors from writing the files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be written.
    #[error("cannot write `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An option is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// SplitMix64: tiny, fast, and stable across versions (unlike a crate's default RNG).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SERVICES: &[&str] = &[
    "checkout",
    "payments",
    "search",
    "auth",
    "inventory",
    "gateway",
];
const HOSTS: &[&str] = &[
    "ip-10-0-1-23",
    "ip-10-0-2-51",
    "ip-10-0-3-7",
    "web-7f9c",
    "worker-03",
];
const PATHS: &[&str] = &[
    "/api/cart",
    "/api/pay",
    "/api/search",
    "/login",
    "/api/items",
    "/health",
];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const LEVELS: &[&str] = &[
    "info", "info", "INFO", "Info", "info", "debug", "DEBUG", "warning", "WARN", "error", "ERROR",
    "trace",
];
const MESSAGES: &[&str] = &[
    "request completed",
    "cache miss, fetching from origin",
    "payment authorised",
    "user logged in",
    "retrying upstream call",
    "slow query detected",
    "Zahlung fehlgeschlagen ✗",
    "用户登录成功",
    "🚀 deployed new version",
    "connection reset by peer \"upstream\"",
    "line one\nline two\ttabbed",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64)",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)",
];

/// Writes `micros` as local time at `offset_min` minutes east of UTC.
fn iso(out: &mut String, micros: i64, offset_min: i64, sep: char, frac_digits: u32, zone: &str) {
    let local = micros + offset_min * 60_000_000;
    let secs = local.div_euclid(1_000_000);
    let frac = local.rem_euclid(1_000_000);
    let (y, m, d) = loglake_core::time::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}{sep}{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    match frac_digits {
        3 => {
            let _ = write!(out, ".{:03}", frac / 1000);
        }
        6 => {
            let _ = write!(out, ".{frac:06}");
        }
        _ => {}
    }
    out.push_str(zone);
}

/// One good record with a timestamp at `micros`.
fn good_line(rng: &mut Rng, micros: i64, out: &mut String) {
    out.push('{');
    match rng.below(10) {
        0..=3 => {
            out.push_str("\"timestamp\":\"");
            iso(out, micros, 0, 'T', 3, "Z");
            out.push('"');
        }
        4 => {
            out.push_str("\"@timestamp\":\"");
            iso(out, micros, 120, 'T', 3, "+02:00");
            out.push('"');
        }
        5 => {
            out.push_str("\"time\":\"");
            iso(out, micros, 330, 'T', 6, "+0530");
            out.push('"');
        }
        6 => {
            out.push_str("\"time\":\"");
            iso(out, micros, -420, 'T', 0, "-07:00");
            out.push('"');
        }
        7 => {
            out.push_str("\"timestamp\":\"");
            iso(out, micros, 0, ' ', 6, "");
            out.push('"');
        }
        8 => {
            let _ = write!(out, "\"time\":{}", micros / 1000);
        }
        _ => {
            let _ = write!(out, "\"ts\":\"{}\"", micros / 1_000_000);
        }
    }
    let level = rng.below(20);
    if level == 0 {
        let _ = write!(out, ",\"level\":{}", [30, 40, 50][(rng.below(3)) as usize]);
    } else {
        let _ = write!(out, ",\"level\":\"{}\"", rng.pick(LEVELS));
    }
    let service = rng.pick(SERVICES);
    let _ = write!(
        out,
        ",\"service\":\"{service}\",\"host\":\"{}\"",
        rng.pick(HOSTS)
    );
    let msg = rng.pick(MESSAGES);
    out.push_str(",\"message\":");
    json_string(out, msg);
    let _ = write!(
        out,
        ",\"trace_id\":\"{:016x}{:016x}\",\"user_id\":\"u-{}\"",
        rng.next_u64(),
        rng.next_u64(),
        rng.below(50_000)
    );
    let method = rng.pick(METHODS);
    let path = rng.pick(PATHS);
    let _ = write!(
        out,
        ",\"method\":\"{method}\",\"path\":\"{path}/{}\"",
        rng.below(1000)
    );
    let status = [200, 200, 200, 201, 204, 301, 400, 404, 500, 503][rng.below(10) as usize];
    match rng.below(10) {
        0..=6 => {
            let _ = write!(out, ",\"status\":{status}");
        }
        7 | 8 => {
            let _ = write!(out, ",\"status\":\"{status}\"");
        }
        _ => out.push_str(",\"status\":\"n/a\""),
    }
    let latency = rng.below(200_000);
    if rng.below(4) == 0 {
        let _ = write!(
            out,
            ",\"latency_ms\":\"{}.{}\"",
            latency / 100,
            latency % 100
        );
    } else {
        let _ = write!(out, ",\"latency_ms\":{}.{}", latency / 100, latency % 100);
    }
    let _ = write!(out, ",\"bytes\":{}", rng.below(2_000_000));
    if rng.below(3) == 0 {
        let _ = write!(out, ",\"success\":{}", status < 400);
    }
    let _ = write!(
        out,
        ",\"region\":\"{}\",\"http\":{{\"user_agent\":\"{}\",\"client_ip\":\"203.0.113.{}\",\"headers\":{{\"accept\":\"application/json\"}}}}",
        ["eu-west-1", "us-east-1", "ap-south-1"][rng.below(3) as usize],
        rng.pick(AGENTS),
        rng.below(255)
    );
    if rng.below(5) == 0 {
        let _ = write!(out, ",\"tags\":[\"canary\",\"v{}\"]", rng.below(9));
    }
    out.push('}');
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One bad line, of a kind chosen by the generator, as bytes (one kind is not UTF-8).
fn bad_line(rng: &mut Rng, micros: i64, out: &mut Vec<u8>) {
    let mut s = String::new();
    match rng.below(6) {
        0 => {
            good_line(rng, micros, &mut s);
            let cut = s.len() / 2;
            let cut = (0..=cut)
                .rev()
                .find(|&i| s.is_char_boundary(i))
                .unwrap_or(0);
            out.extend_from_slice(&s.as_bytes()[..cut]);
        }
        1 => out.extend_from_slice(b"[\"not\",\"an\",\"object\"]"),
        2 => out.extend_from_slice(b"{\"level\":\"error\",\"message\":\"no timestamp here\"}"),
        3 => {
            out.extend_from_slice(b"{\"timestamp\":\"yesterday at noon\",\"message\":\"bad time\"}")
        }
        4 => {
            out.extend_from_slice(
                b"{\"timestamp\":\"2024-05-01T00:00:00Z\",\"message\":\"latin1 caf",
            );
            out.push(0xE9);
            out.extend_from_slice(b"\"}");
        }
        _ => out.extend_from_slice(b"ERROR 2024-05-01 something went wrong (plain text)"),
    }
}

/// Name of file `i`.
pub fn file_name(opts: &GenOptions, i: usize) -> String {
    format!("app-{:04}.ndjson{}", i, opts.compression.suffix())
}

fn write_file(dir: &Path, opts: &GenOptions, i: usize) -> Result<(PathBuf, u64, u64, u64), Error> {
    let path = dir.join(file_name(opts, i));
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let mut rng = Rng::new(opts.seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    let span_us = i64::from(opts.hours) * 3_600_000_000;
    let files = i64::try_from(opts.files.max(1)).unwrap_or(1);
    let idx = i64::try_from(i).unwrap_or(0);
    let slice_start = opts.start * 1_000_000 + span_us * idx / files;
    let slice = span_us / files;
    let lines = i64::try_from(opts.lines.max(1)).unwrap_or(1);
    let file = std::fs::File::create(&path).map_err(io)?;
    let mut w = Sink::new(file, opts.compression).map_err(io)?;
    let mut text = String::with_capacity(1024);
    let mut bytes_line: Vec<u8> = Vec::with_capacity(1024);
    let (mut n, mut bad, mut bytes) = (0u64, 0u64, 0u64);
    for l in 0..opts.lines {
        // Time moves forward through the slice, with a little jitter as real logs have.
        let l = i64::try_from(l).unwrap_or(0);
        let jitter = i64::try_from(rng.below(2_000_000)).unwrap_or(0) - 1_000_000;
        let micros = (slice_start + slice * l / lines + jitter).max(slice_start);
        bytes_line.clear();
        if rng.unit() < opts.bad_ratio {
            bad_line(&mut rng, micros, &mut bytes_line);
            bad += 1;
        } else {
            text.clear();
            good_line(&mut rng, micros, &mut text);
            bytes_line.extend_from_slice(text.as_bytes());
        }
        bytes_line.push(b'\n');
        w.write_all(&bytes_line).map_err(io)?;
        n += 1;
        bytes += bytes_line.len() as u64;
    }
    w.finish().map_err(io)?;
    Ok((path, n, bad, bytes))
}

/// Writes the files into `dir` (created if needed), using up to two threads.
pub fn generate(dir: &Path, opts: &GenOptions) -> Result<GenReport, Error> {
    if !(0.0..=1.0).contains(&opts.bad_ratio) {
        return Err(Error::Invalid(format!(
            "--bad-ratio must be between 0 and 1, got {}",
            opts.bad_ratio
        )));
    }
    if opts.hours == 0 {
        return Err(Error::Invalid("--hours must be at least 1".into()));
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    let results: Vec<_> = std::thread::scope(|s| {
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(4);
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                s.spawn(move || {
                    (w..opts.files)
                        .step_by(workers)
                        .map(|i| (i, write_file(dir, opts, i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all
    });
    let mut report = GenReport::default();
    for (_, r) in results {
        let (path, n, bad, bytes) = r?;
        report.files.push(path);
        report.lines += n;
        report.bad_lines += bad;
        report.bytes += bytes;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_counts_bad_lines() {
        let dir = std::env::temp_dir().join(format!("loglake-gen-test-{}", std::process::id()));
        let opts = GenOptions {
            files: 3,
            lines: 500,
            seed: 42,
            bad_ratio: 0.1,
            compression: Compression::Gzip,
            ..Default::default()
        };
        let a = generate(&dir, &opts).unwrap();
        let bytes_a: Vec<Vec<u8>> = a.files.iter().map(|p| std::fs::read(p).unwrap()).collect();
        let b = generate(&dir, &opts).unwrap();
        let bytes_b: Vec<Vec<u8>> = b.files.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert_eq!(a, b);
        assert_eq!(bytes_a, bytes_b);
        assert_eq!(a.lines, 1500);
        assert!((100..200).contains(&a.bad_lines), "{}", a.bad_lines);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every compression reads back (through the transform's own decoder) to the same lines.
    #[test]
    fn compressions_decode_to_the_same_lines() {
        let base = std::env::temp_dir().join(format!("loglake-gen-comp-{}", std::process::id()));
        let mut plain = None;
        for (c, suffix, magic) in [
            (Compression::None, ".ndjson", &b"{"[..]),
            (Compression::Gzip, ".ndjson.gz", &[0x1f, 0x8b][..]),
            (
                Compression::Zstd,
                ".ndjson.zst",
                &[0x28, 0xb5, 0x2f, 0xfd][..],
            ),
        ] {
            let dir = base.join(suffix.trim_start_matches('.'));
            let opts = GenOptions {
                files: 1,
                lines: 300,
                seed: 9,
                compression: c,
                ..Default::default()
            };
            let report = generate(&dir, &opts).unwrap();
            let path = &report.files[0];
            assert!(
                path.to_string_lossy().ends_with(suffix),
                "{}",
                path.display()
            );
            let bytes = std::fs::read(path).unwrap();
            assert!(bytes.starts_with(magic), "{c:?}: {:02x?}", &bytes[..4]);
            let mut text = Vec::new();
            let (detected, mut r) =
                loglake_core::decode::decompress(std::io::Cursor::new(bytes)).unwrap();
            assert_eq!(detected, c);
            std::io::Read::read_to_end(&mut r, &mut text).unwrap();
            assert_eq!(text.iter().filter(|&&b| b == b'\n').count(), 300);
            match &plain {
                None => plain = Some(text),
                Some(p) => assert_eq!(&text, p, "{c:?} decodes to other lines"),
            }
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn iso_offsets() {
        let mut s = String::new();
        iso(&mut s, 1_714_521_600_123_456, 120, 'T', 3, "+02:00");
        assert_eq!(s, "2024-05-01T02:00:00.123+02:00");
    }
}
