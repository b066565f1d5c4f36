//! Mutation fuzzing of the decoder and normaliser, runnable on the stable toolchain.
//!
//! Seeds (NDJSON, arrays, wrapped records; plain, gzip, zstd) are mutated at random (byte flips,
//! structural characters inserted, truncation, splicing) and pushed through decompress → split →
//! normalise. The properties: no panic; record ranges lie inside their chunk; line numbers never
//! go backwards; every record is either a row or a rejection with a reason; and the JSON
//! scanner accepts exactly the objects serde_json accepts and extracts the same members (keys
//! in order, each value's exact text and kind): a differential check. Corrupt gzip and zstd
//! streams (cut, bit-flipped) are part of the inputs.
//!
//! `cargo test` runs a short pass; `scripts/test.sh` runs the longer ignored one
//! (`LOGLAKE_FUZZ_CASES`, 50000 cases there) from a new seed each run, printed first
//! (`LOGLAKE_FUZZ_SEED` replays one). Failing inputs are printed as hex.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::Write;

use loglake_core::decode::{self, Chunk, SplitOptions};
use loglake_core::json::Kind;
use loglake_core::{Normalizer, Row, Schema};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SEEDS: &[&[u8]] = &[
    b"{\"ts\":\"2024-05-01T07:08:09.123Z\",\"level\":\"info\",\"msg\":\"a\",\"status\":\"200\"}\n{\"time\":1714547289000,\"x\":{\"y\":[1,2,{\"z\":null}]}}\n",
    b"[{\"ts\":1},{\"ts\":\"2024-05-01 00:00:00+0200\",\"lvl\":30},\"str\",[1],null]",
    b"{\"Records\":[{\"ts\":1,\"a\":\"\\u00e9\\\"\"},{\"eventTime\":\"x\"}],\"other\":{\"Records\":1}}\n",
    b"\xEF\xBB\xBF{\"t\":{\"$date\":\"2026-03-10T20:58:09.401+00:00\"},\"s\":\"I\"}\r\n\r\n{\"ts\":-1e3}",
    b"{\"a\":{\"b\":{\"c\":[[[[{}]]]]}},\"ts\":\"1534860261221373\",\"k\":\"v\",\"k\":\"w\"}\n",
];

const STRUCTURAL: &[u8] = b"{}[]\",:\\\n\r 0-.eE\xff\x00";

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(6) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, STRUCTURAL[rng.below(STRUCTURAL.len())]);
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.truncate(i);
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.remove(i);
            }
            4 => {
                let other = SEEDS[rng.below(SEEDS.len())];
                let i = rng.below(v.len() + 1);
                v.splice(i..i, other.iter().copied());
            }
            _ => {
                let i = rng.below(v.len() + 1);
                v.splice(i..i, std::iter::repeat_n(b'[', rng.below(50)));
            }
        }
    }
    v
}

fn compress(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    match rng.below(4) {
        0 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            let mut out = e.finish().unwrap();
            // Sometimes cut the compressed stream too.
            if rng.below(3) == 0 && !out.is_empty() {
                let cut = rng.below(out.len());
                out.truncate(cut);
            }
            out
        }
        1 => {
            let mut out = zstd::encode_all(data, 1).unwrap();
            // Corrupt zstd as well: cut the frame, or flip a bit past the magic number.
            match rng.below(4) {
                0 if !out.is_empty() => out.truncate(rng.below(out.len())),
                1 if out.len() > 4 => {
                    let i = 4 + rng.below(out.len() - 4);
                    out[i] ^= 1 << rng.below(8);
                }
                _ => {}
            }
            out
        }
        _ => data.to_vec(),
    }
}

fn check_one(schema: &loglake_core::CompiledSchema, input: &[u8], path: &[&str], small: bool) {
    let opts = SplitOptions {
        chunk_bytes: if small { 7 } else { 1 << 16 },
        max_record_bytes: if small { 40 } else { 1 << 20 },
        record_path: path.iter().map(|s| (*s).to_owned()).collect(),
    };
    let normalizer = Normalizer::new(schema);
    let (_, mut stream) = match decode::decompress(std::io::Cursor::new(input.to_vec())) {
        Ok(v) => v,
        Err(_) => return, // a broken zstd header is an input error, reported by the caller
    };
    let mut last_line = 0u64;
    decode::split(&mut stream, &opts, &mut |chunk: Chunk| {
        let mut row = Row::new(schema);
        for r in &chunk.records {
            assert!(
                r.start <= r.end && r.end <= chunk.data.len(),
                "range out of chunk"
            );
            assert!(
                r.line >= last_line,
                "line went backwards: {} < {last_line}",
                r.line
            );
            last_line = r.line;
            if r.defect.is_none()
                && let Err(rej) = normalizer.normalize(chunk.bytes(r), &mut row)
            {
                assert!(!rej.reason.is_empty());
            }
            if r.defect.is_none() {
                differential(chunk.bytes(r));
            }
        }
        true
    })
    .unwrap();
}

/// Objects whose members were compared with serde_json's (printed by the long run).
static COMPARED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One member as serde_json reads it: key (unescaped) and the value's exact text.
struct Members(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = m.next_entry()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// serde_json's reading of a value's kind, from its exact text.
fn serde_kind(raw: &str) -> Kind {
    let value = match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(v) => v,
        // serde_json checks syntax first, then refuses a number beyond f64 (`1e999`).
        Err(e) if e.to_string().contains("number out of range") => return Kind::Num,
        Err(e) => panic!("serde_json cannot read back the value {raw:?}: {e}"),
    };
    match value {
        serde_json::Value::String(_) => Kind::Str {
            escaped: raw.contains('\\'),
        },
        serde_json::Value::Number(_) => Kind::Num,
        serde_json::Value::Bool(true) => Kind::True,
        serde_json::Value::Bool(false) => Kind::False,
        serde_json::Value::Null => Kind::Null,
        serde_json::Value::Object(_) => Kind::Object,
        serde_json::Value::Array(_) => Kind::Array,
    }
}

/// The scanner must accept exactly the objects serde_json accepts, and extract the same
/// members: the same keys in the same order (duplicates included), each value's exact text
/// and its kind.
fn differential(record: &[u8]) {
    let Ok(text) = std::str::from_utf8(record) else {
        return;
    };
    if !text.trim_start().starts_with('{') {
        return;
    }
    let mut ours = Vec::new();
    let accepted = loglake_core::json::scan_object(text, &mut |k, v| {
        ours.push((k.text().into_owned(), v.raw.to_owned(), v.kind));
    })
    .is_ok();
    // Acceptance is syntax: RawValue checks it without decoding strings.
    let syntax = serde_json::from_str::<&serde_json::value::RawValue>(text);
    assert_eq!(
        accepted,
        syntax.is_ok(),
        "scanner and serde_json disagree on accepting {text:?}: {err:?}",
        err = syntax.err()
    );
    if !accepted {
        return;
    }
    // Decoding keys can still fail on a lone surrogate escape, which the scanner keeps as text.
    let Members(theirs) = match serde_json::from_str::<Members>(text) {
        Ok(m) => m,
        Err(e) if e.to_string().contains("surrogate") => return,
        Err(e) => panic!("serde_json accepted {text:?} but could not read its members: {e}"),
    };
    let theirs: Vec<_> = theirs
        .into_iter()
        .map(|(k, v)| {
            let kind = serde_kind(v.get());
            (k, v.get().to_owned(), kind)
        })
        .collect();
    assert_eq!(
        ours, theirs,
        "scanner and serde_json extract different members of {text:?}"
    );
    COMPARED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

fn fuzz(cases: usize, seed: u64) {
    let schema = Schema::default_app_logs().compile("built-in").unwrap();
    let paths: [&[&str]; 3] = [&[], &["Records"], &["a", "b"]];
    let mut rng = Rng(seed);
    for case in 0..cases {
        let base = SEEDS[rng.below(SEEDS.len())];
        let mutated = mutate(&mut rng, base);
        let input = compress(&mut rng, &mutated);
        let path = paths[rng.below(paths.len())];
        let small = rng.below(2) == 0;
        let result = std::panic::catch_unwind(|| check_one(&schema, &input, path, small));
        if result.is_err() {
            let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
            panic!(
                "case {case} (seed {seed}) failed; input hex: {hex}; path {path:?}; small {small}"
            );
        }
    }
}

#[test]
fn fuzz_short() {
    fuzz(300, 1);
}

#[test]
#[ignore = "longer run: scripts/test.sh runs it with LOGLAKE_FUZZ_CASES"]
fn fuzz_long() {
    let cases = std::env::var("LOGLAKE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    // A new seed each run unless one is given, so runs explore new inputs; it is printed first
    // so a failure can be replayed with `LOGLAKE_FUZZ_SEED`.
    let seed = std::env::var("LOGLAKE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x5EED, |d| d.as_nanos() as u64)
        });
    println!("fuzzing {cases} cases from seed {seed} (replay: LOGLAKE_FUZZ_SEED={seed})");
    fuzz(cases, seed);
    println!(
        "fuzzed {cases} cases from seed {seed}; {} objects compared member by member with serde_json",
        COMPARED.load(std::sync::atomic::Ordering::Relaxed)
    );
}
