//! Mutation fuzzing of the decoder and normaliser, runnable on the stable toolchain.
//!
//! Seeds (NDJSON, arrays, wrapped records; plain, gzip, zstd) are mutated at random (byte flips,
//! structural characters inserted, truncation, splicing) and pushed through decompress → split →
//! normalise. The properties: no panic; record ranges lie inside their chunk; line numbers never
//! go backwards; every record is either a row or a rejection with a reason; and the JSON
//! scanner accepts exactly the objects serde_json accepts (differential check).
//!
//! `cargo test` runs a short pass; `scripts/test.sh` runs the longer ignored one
//! (`LOGLAKE_FUZZ_CASES`, 50000 cases there). Failing inputs are printed as hex.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::Write;

use loglake_core::decode::{self, Chunk, SplitOptions};
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
        1 => zstd::encode_all(data, 1).unwrap(),
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

/// The scanner must accept exactly the objects serde_json accepts.
fn differential(record: &[u8]) {
    let Ok(text) = std::str::from_utf8(record) else {
        return;
    };
    if !text.trim_start().starts_with('{') {
        return;
    }
    let ours = loglake_core::json::scan_object(text, &mut |_, _| {}).is_ok();
    let serde = serde_json::from_str::<&serde_json::value::RawValue>(text).is_ok();
    assert_eq!(ours, serde, "scanner and serde_json disagree on {text:?}");
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
    let seed = std::env::var("LOGLAKE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED);
    fuzz(cases, seed);
    println!("fuzzed {cases} cases from seed {seed}");
}
