//! `loglake schema check`: the drift between a schema file and the logs it reads, measured by
//! running the same decoder and normaliser as the transform over the inputs, writing nothing:
//! fields that land in `attributes` (candidates to promote), per-column coercion failures,
//! quarantine reasons (including timestamps outside the window), each as a rate of records,
//! and the thresholds a producer's CI sets on them.

use loglake_core::decode::{self, SplitOptions};
use loglake_core::{CompiledSchema, Normalizer, Row};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::error::Result;
use crate::infer::{Input, each_chunk};
use crate::transform::normalizer_for;

/// The limits a check fails on (rates of records, 0.0 to 1.0).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    /// Quarantined records, all reasons together.
    pub quarantine: f64,
    /// Values present but not coercible to their column's type, per column.
    pub coercion: f64,
    /// Records holding a field the schema does not map (it lands in `attributes`), per field.
    pub unmapped: f64,
}

/// The drift report (JSON on stdout).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Drift {
    /// Files read.
    pub files: usize,
    /// Records read.
    pub records: u64,
    /// Records the transform would write.
    pub written: u64,
    /// Quarantined records by reason kind (`timestamp_out_of_window`, `invalid_json`, …).
    pub quarantined: BTreeMap<String, u64>,
    /// Per column: values present that could not be coerced (the transform writes null).
    pub coercion_failures: BTreeMap<String, u64>,
    /// Fields landing in `attributes`, with the records holding them: candidates to promote.
    pub unmapped: BTreeMap<String, u64>,
    /// Thresholds crossed, one sentence each; empty when the check passes.
    pub crossed: Vec<String>,
}

/// Reads `files` or objects with `schema` as the transform would, and measures the drift.
pub fn check_files(
    files: &[Input<'_>],
    schema: &CompiledSchema,
    limits: Thresholds,
) -> Result<Drift> {
    let split = SplitOptions {
        record_path: schema.schema.input.record_path.clone(),
        ..SplitOptions::default()
    };
    let mut drift = Drift {
        files: files.len(),
        ..Drift::default()
    };
    for input in files {
        let normalizer = normalizer_for(schema, input.written_us);
        each_chunk(input, &split, &mut |chunk| {
            let mut row = Row::new(schema);
            for r in &chunk.records {
                let record = (chunk.bytes(r), r.defect.as_ref());
                drift.observe(schema, &normalizer, &mut row, record);
            }
        })?;
    }
    drift.crossed = drift.crossings(limits);
    Ok(drift)
}

impl Drift {
    fn observe<'s: 'a, 'a>(
        &mut self,
        schema: &CompiledSchema,
        normalizer: &Normalizer<'s>,
        row: &mut Row<'a>,
        (raw, defect): (&'a [u8], Option<&decode::Defect>),
    ) {
        self.records += 1;
        if let Some(d) = defect {
            *self.quarantined.entry(d.kind().to_owned()).or_default() += 1;
            return;
        }
        match normalizer.normalize(raw, row) {
            Ok(()) => {
                self.written += 1;
                for &c in &row.coercion_failures {
                    let name = &schema.columns()[c].name;
                    *self.coercion_failures.entry(name.clone()).or_default() += 1;
                }
                // A key whose nested fields feed columns is mapped, not drift.
                for k in row.unknown_keys() {
                    if !schema.is_alias_root(&k) {
                        *self.unmapped.entry(k.into_owned()).or_default() += 1;
                    }
                }
            }
            Err(r) => *self.quarantined.entry(r.kind.to_owned()).or_default() += 1,
        }
    }

    fn crossings(&self, limits: Thresholds) -> Vec<String> {
        let share = |count: u64, of: u64, limit: f64| -> Option<String> {
            let rate = count as f64 / of.max(1) as f64;
            (rate > limit).then(|| {
                format!(
                    "{count} of {of} ({:.2}% > {:.2}%)",
                    100.0 * rate,
                    100.0 * limit
                )
            })
        };
        let mut out = Vec::new();
        let quarantined: u64 = self.quarantined.values().sum();
        if let Some(s) = share(quarantined, self.records, limits.quarantine) {
            out.push(format!("records quarantined: {s}: {:?}", self.quarantined));
        }
        for (column, &count) in &self.coercion_failures {
            if let Some(s) = share(count, self.written, limits.coercion) {
                out.push(format!(
                    "column `{column}`: values not coercible in {s} rows"
                ));
            }
        }
        for (field, &count) in &self.unmapped {
            if let Some(s) = share(count, self.written, limits.unmapped) {
                out.push(format!(
                    "field `{field}` is in {s} rows but no column maps it: add it to the \
                     schema (a new column is allowed) or raise --max-unmapped"
                ));
            }
        }
        out
    }
}
