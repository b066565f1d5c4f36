//! The quarantine file: one gzip NDJSON line per rejected record, lossless.
//!
//! Each line is `{"source","line","reason","kind","raw"}`. `raw` is the record's text; when the
//! record is not valid UTF-8, `raw` shows it with U+FFFD replacements and `raw_base64` holds the
//! exact bytes, so the original can always be restored.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use base64::Engine as _;
use flate2::write::GzEncoder;
use serde::Serialize;

use crate::error::Result;
use crate::output::{create_parent, in_progress_path, io_err};

#[derive(Serialize)]
struct Line<'a> {
    source: &'a str,
    line: u64,
    reason: &'a str,
    kind: &'a str,
    raw: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_base64: Option<String>,
}

/// Lazily created quarantine writer for one source.
pub(crate) struct QuarantineWriter {
    /// The in-progress (hidden) file; published under its final name by the target.
    tmp: PathBuf,
    source: String,
    enc: Option<GzEncoder<BufWriter<File>>>,
    /// The in-progress file is complete (see [`Self::seal`]).
    sealed: bool,
    pub(crate) count: u64,
}

impl QuarantineWriter {
    pub(crate) fn new(path: &std::path::Path, source: &str) -> Self {
        Self {
            tmp: in_progress_path(path),
            source: source.to_owned(),
            enc: None,
            sealed: false,
            count: 0,
        }
    }

    /// Appends one rejected record.
    pub(crate) fn push(&mut self, line: u64, kind: &str, reason: &str, raw: &[u8]) -> Result<()> {
        if self.enc.is_none() {
            create_parent(&self.tmp)?;
            let f = File::create(&self.tmp).map_err(io_err(&self.tmp))?;
            // GzEncoder writes mtime 0: identical input gives an identical file.
            self.enc = Some(GzEncoder::new(
                BufWriter::with_capacity(64 * 1024, f),
                flate2::Compression::default(),
            ));
        }
        let (text, b64) = match std::str::from_utf8(raw) {
            Ok(s) => (std::borrow::Cow::Borrowed(s), None),
            Err(_) => (
                String::from_utf8_lossy(raw),
                Some(base64::engine::general_purpose::STANDARD.encode(raw)),
            ),
        };
        let rec = Line {
            source: &self.source,
            line,
            reason,
            kind,
            raw: &text,
            raw_base64: b64,
        };
        let tmp = &self.tmp;
        if let Some(enc) = self.enc.as_mut() {
            serde_json::to_writer(&mut *enc, &rec)
                .map_err(|e| io_err(tmp)(std::io::Error::other(e)))?;
            enc.write_all(b"\n").map_err(io_err(tmp))?;
        }
        self.count += 1;
        Ok(())
    }

    /// Finishes the file under its in-progress name, so [`Self::commit`] needs no space.
    pub(crate) fn seal(&mut self) -> Result<()> {
        if let Some(enc) = self.enc.take() {
            let mut w = enc.finish().map_err(io_err(&self.tmp))?;
            w.flush().map_err(io_err(&self.tmp))?;
            self.sealed = true;
        }
        Ok(())
    }

    /// The sealed file for [`crate::publish::publish`], or `None` when nothing was
    /// quarantined (the previous run's file is then removed).
    pub(crate) fn into_sealed(mut self) -> Result<Option<PathBuf>> {
        self.seal()?;
        Ok(self.sealed.then(|| std::mem::take(&mut self.tmp)))
    }

    /// Drops the in-progress file after a failure.
    pub(crate) fn abort(mut self) {
        self.enc = None;
        let _ = std::fs::remove_file(&self.tmp);
    }
}
