//! Input decoding: decompression chosen by magic bytes, then splitting the byte stream into raw
//! records with their line numbers, in bounded chunks.
//!
//! Two modes, chosen by the first non-blank byte of the decompressed stream:
//! - **NDJSON** (the fast path): one record per line. Blank lines are skipped and not counted;
//!   `\r\n` endings and a UTF-8 BOM are stripped; the last line may lack its newline.
//! - **Document**: the stream starts with `[`, or the schema sets `input.record_path`. A small
//!   streaming JSON walker emits each element of the top-level array (or of the array found at
//!   `record_path`) as one record, with the line where it starts. A top-level value in which the
//!   path is absent is itself a record, so NDJSON still works with a `record_path` schema.
//!
//! Memory is bounded by the chunk size and the longest record ([`SplitOptions::max_record_bytes`]);
//! a longer record is cut and reported as a [`Defect::TooLong`] so the transform quarantines it.

use std::io::{self, BufRead, BufReader, Read};

/// Compression of an input, decided by its first bytes, never by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain bytes.
    None,
    /// gzip, including multi-member streams (`cat a.gz b.gz`).
    Gzip,
    /// zstd (frames may be concatenated).
    Zstd,
}

impl Compression {
    /// Detects the compression from the first bytes of a stream.
    pub fn detect(prefix: &[u8]) -> Self {
        if prefix.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// Name for summaries and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// The conventional file-name suffix (`""`, `".gz"`, `".zst"`), for files written so.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Gzip => ".gz",
            Self::Zstd => ".zst",
        }
    }
}

const READ_BUFFER: usize = 256 * 1024;

/// Wraps a raw byte stream in the right decompressor.
pub fn decompress<'r, R: Read + Send + 'r>(
    mut reader: R,
) -> io::Result<(Compression, Box<dyn BufRead + Send + 'r>)> {
    // A short first read must not hide the magic: read until 4 bytes or EOF.
    let mut prefix = [0u8; 4];
    let mut n = 0;
    while n < prefix.len() {
        match reader.read(&mut prefix[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let compression = Compression::detect(&prefix[..n]);
    let stream = BufReader::with_capacity(
        READ_BUFFER,
        io::Cursor::new(prefix[..n].to_vec()).chain(reader),
    );
    Ok(match compression {
        Compression::None => (compression, Box::new(stream)),
        Compression::Gzip => (
            compression,
            Box::new(BufReader::with_capacity(
                READ_BUFFER,
                flate2::bufread::MultiGzDecoder::new(stream),
            )),
        ),
        Compression::Zstd => (
            compression,
            Box::new(BufReader::with_capacity(
                READ_BUFFER,
                zstd::stream::read::Decoder::with_buffer(stream)?,
            )),
        ),
    })
}

/// Why a raw record is known to be bad before it is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defect {
    /// The record was longer than the limit; only its first bytes are kept.
    TooLong {
        /// The record's full length in bytes.
        len: u64,
    },
    /// The input ended inside this record (a truncated stream or unbalanced JSON).
    Truncated {
        /// What ended the stream.
        reason: String,
    },
    /// The document's structure was broken here (e.g. a missing comma between array elements).
    Malformed {
        /// What was expected.
        reason: String,
    },
}

/// One raw record: a byte range of [`Chunk::data`] and the 1-based line where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Start offset in the chunk.
    pub start: usize,
    /// End offset (exclusive).
    pub end: usize,
    /// 1-based line number in the decompressed input.
    pub line: u64,
    /// Known problem, if any.
    pub defect: Option<Defect>,
}

/// A batch of raw records sharing one buffer.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The bytes the records point into.
    pub data: Vec<u8>,
    /// The records, in input order.
    pub records: Vec<RawRecord>,
    /// Decompressed bytes consumed so far (for progress and the summary).
    pub bytes_decoded: u64,
}

impl Defect {
    /// A stable category for counting.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "too_long",
            Self::Truncated { .. } => "truncated",
            Self::Malformed { .. } => "malformed",
        }
    }

    /// A sentence for the quarantine file.
    pub fn reason(&self, max_record_bytes: usize) -> String {
        match self {
            Self::TooLong { len } => format!(
                "record of {len} bytes exceeds the limit of {max_record_bytes} bytes; `raw` holds its first {max_record_bytes} bytes"
            ),
            Self::Truncated { reason } => format!("input ended inside this record: {reason}"),
            Self::Malformed { reason } => format!("malformed JSON document: {reason}"),
        }
    }
}

impl Chunk {
    /// The bytes of one record.
    pub fn bytes(&self, r: &RawRecord) -> &[u8] {
        &self.data[r.start..r.end]
    }
}

/// Splitting options.
#[derive(Debug, Clone)]
pub struct SplitOptions {
    /// Target size of one chunk's buffer.
    pub chunk_bytes: usize,
    /// Longest record kept whole; longer ones are cut to this and marked [`Defect::TooLong`].
    pub max_record_bytes: usize,
    /// Keys leading to the records array (see [`crate::schema::InputSpec`]).
    pub record_path: Vec<String>,
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            chunk_bytes: 1 << 20,
            max_record_bytes: 64 << 20,
            record_path: Vec::new(),
        }
    }
}

/// Splits a decompressed stream into chunks of records, calling `emit` for each chunk. `emit`
/// returns `false` to stop early. A read error (e.g. a truncated gzip member) ends the stream:
/// the bytes read so far in the current record become a record with [`Defect::Truncated`], so
/// nothing read is lost and the problem is reported as data.
pub fn split(
    reader: &mut dyn BufRead,
    opts: &SplitOptions,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> io::Result<()> {
    split_recycling(reader, opts, &mut || None, emit)
}

/// [`split`], taking chunk buffers from `recycle` when it has one (the consumer hands back the
/// buffers of chunks it is done with), so steady-state splitting allocates nothing.
pub fn split_recycling(
    reader: &mut dyn BufRead,
    opts: &SplitOptions,
    recycle: &mut dyn FnMut() -> Option<Vec<u8>>,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> io::Result<()> {
    // Peek past BOM and blanks to choose the mode.
    let mode_doc = loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let mut chunk = Chunk::default();
                chunk.records.push(RawRecord {
                    start: 0,
                    end: 0,
                    line: 1,
                    defect: Some(Defect::Truncated {
                        reason: e.to_string(),
                    }),
                });
                emit(chunk);
                return Ok(());
            }
        };
        if buf.is_empty() {
            return Ok(());
        }
        let skip = buf
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0xEF | 0xBB | 0xBF))
            .unwrap_or(buf.len());
        if skip < buf.len() {
            let rest = &buf[skip..];
            break match rest[0] {
                b'[' => !first_line_is_ndjson(rest),
                b'{' => !opts.record_path.is_empty(),
                _ => false,
            };
        }
        // Only blanks in the first buffer: NDJSON, which skips blank lines itself.
        break false;
    };
    if mode_doc {
        DocSplitter::new(reader, opts, emit).run()
    } else {
        split_lines(reader, opts, recycle, emit)
    }
}

/// Tracks JSON nesting byte by byte: string state, escapes, and bracket depth. Shared by the
/// NDJSON/array mode decision and the document walker's value copier.
#[derive(Debug, Default, Clone, Copy)]
struct Nesting {
    depth: i64,
    in_str: bool,
    esc: bool,
}

impl Nesting {
    /// Feeds one byte; returns the depth after it.
    #[inline]
    fn feed(&mut self, b: u8) -> i64 {
        if self.in_str {
            match (self.esc, b) {
                (true, _) => self.esc = false,
                (false, b'\\') => self.esc = true,
                (false, b'"') => self.in_str = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => self.in_str = true,
                b'[' | b'{' => self.depth += 1,
                b']' | b'}' => self.depth -= 1,
                _ => {}
            }
        }
        self.depth
    }
}

/// Whether a stream starting with `[` is NDJSON whose first record happens to be an array: its
/// first line is a complete JSON value and another non-blank line follows. A pretty-printed array
/// (`[` alone on its line) or a one-line array document is not.
fn first_line_is_ndjson(buf: &[u8]) -> bool {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        return false;
    };
    let mut n = Nesting::default();
    for &b in &buf[..nl] {
        n.feed(b);
    }
    n.depth == 0 && !n.in_str && !is_blank(&buf[nl + 1..])
}

fn is_blank(line: &[u8]) -> bool {
    line.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// NDJSON: one record per line.
fn split_lines(
    reader: &mut dyn BufRead,
    opts: &SplitOptions,
    recycle: &mut dyn FnMut() -> Option<Vec<u8>>,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> io::Result<()> {
    let mut lines = LineSplitter::new(opts);
    loop {
        if let Filled::Eof { error } = lines.fill(reader, opts.chunk_bytes) {
            if let Some(chunk) = lines.finish(error) {
                emit(chunk);
            }
            return Ok(());
        }
        if !emit(lines.take_chunk(recycle, opts.chunk_bytes)) {
            return Ok(());
        }
    }
}

/// NDJSON records cut out of a growing buffer (ripgrep's `line_buffer.rs` shape): complete lines
/// become [`RawRecord`]s over `data`, the partial last line is carried into the next chunk, and
/// a line longer than `max_record` keeps its first `max_record` bytes and is marked too long.
struct LineSplitter {
    data: Vec<u8>,
    records: Vec<RawRecord>,
    /// The 1-based number of the current (incomplete) line.
    line: u64,
    /// Decompressed bytes consumed so far.
    decoded: u64,
    /// A UTF-8 byte order mark is dropped from the first line only.
    first_line: bool,
    /// Start of the current (incomplete) line in `data`.
    line_start: usize,
    /// Length of an over-long line whose rest (after `max_record` bytes) is being dropped.
    overflow: Option<u64>,
    max_record: usize,
}

/// Where [`LineSplitter::fill`] stopped.
enum Filled {
    /// A chunk's worth of bytes, with at least one complete line.
    Chunk,
    /// The end of the input, or a read error (which ends it: the last line is truncated).
    Eof {
        /// The read error.
        error: Option<String>,
    },
}

impl LineSplitter {
    fn new(opts: &SplitOptions) -> Self {
        Self {
            data: Vec::with_capacity(opts.chunk_bytes + 4096),
            records: Vec::new(),
            line: 1,
            decoded: 0,
            first_line: true,
            line_start: 0,
            overflow: None,
            max_record: opts.max_record_bytes,
        }
    }

    /// Reads up to the chunk target, and past it while no line is complete yet (so a long line
    /// is read once, not copied again at every chunk).
    fn fill(&mut self, reader: &mut dyn BufRead, chunk_bytes: usize) -> Filled {
        while self.data.len() < chunk_bytes || self.records.is_empty() {
            let buf = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Filled::Eof {
                        error: Some(e.to_string()),
                    };
                }
            };
            if buf.is_empty() {
                return Filled::Eof { error: None };
            }
            let n = if self.overflow.is_some() {
                self.skip_overflow(buf)
            } else {
                self.data.extend_from_slice(buf);
                self.scan_new(buf.len());
                buf.len()
            };
            reader.consume(n);
            self.decoded += n as u64;
        }
        Filled::Chunk
    }

    /// Discards the rest of an over-long line, up to its newline; returns the bytes consumed.
    fn skip_overflow(&mut self, buf: &[u8]) -> usize {
        let Some(dropped) = self.overflow.as_mut() else {
            return 0;
        };
        match memchr::memchr(b'\n', buf) {
            Some(p) => {
                let len = *dropped + p as u64;
                self.overflow = None;
                let end = self.data.len();
                self.end_line(end, end, Some(Defect::TooLong { len }));
                p + 1
            }
            None => {
                *dropped += buf.len() as u64;
                buf.len()
            }
        }
    }

    /// Cuts the complete lines out of the last `n` bytes of `data`; starts dropping an
    /// over-long current line.
    fn scan_new(&mut self, n: usize) {
        let mut pos = self.data.len() - n;
        while let Some(p) = memchr::memchr(b'\n', &self.data[pos..]) {
            let end = pos + p;
            self.end_line(end, end + 1, None);
            pos = end + 1;
        }
        if self.data.len() - self.line_start > self.max_record {
            // Keep the first max_record bytes of this line, drop the rest until its newline.
            self.overflow = Some((self.data.len() - self.line_start) as u64);
            self.data.truncate(self.line_start + self.max_record);
        }
    }

    /// Ends the current line at `end` (exclusive, before its newline); the next starts at
    /// `next_start`.
    fn end_line(&mut self, end: usize, next_start: usize, defect: Option<Defect>) {
        self.push(end, defect);
        self.line += 1;
        self.line_start = next_start;
    }

    /// Records the current line up to `end`: BOM (first line) and `\r` stripped, blank lines
    /// skipped unless defective, an over-long one cut to `max_record` and marked.
    fn push(&mut self, end: usize, mut defect: Option<Defect>) {
        let mut s = self.line_start;
        if self.first_line {
            if self.data[s..end].starts_with(&[0xEF, 0xBB, 0xBF]) {
                s += 3;
            }
            self.first_line = false;
        }
        let mut e = end;
        if e > s && self.data[e - 1] == b'\r' {
            e -= 1;
        }
        if defect.is_none() && is_blank(&self.data[s..e]) {
            return;
        }
        if defect.is_none() && e - s > self.max_record {
            defect = Some(Defect::TooLong {
                len: (e - s) as u64,
            });
            e = s + self.max_record;
        }
        self.records.push(RawRecord {
            start: s,
            end: e,
            line: self.line,
            defect,
        });
    }

    /// The complete lines as a chunk; the partial last line moves to a recycled buffer.
    fn take_chunk(
        &mut self,
        recycle: &mut dyn FnMut() -> Option<Vec<u8>>,
        chunk_bytes: usize,
    ) -> Chunk {
        let mut next = recycle().unwrap_or_default();
        next.clear();
        next.reserve(chunk_bytes + 4096);
        next.extend_from_slice(&self.data[self.line_start..]);
        self.data.truncate(self.line_start);
        self.line_start = 0;
        Chunk {
            data: std::mem::replace(&mut self.data, next),
            records: std::mem::take(&mut self.records),
            bytes_decoded: self.decoded,
        }
    }

    /// The last chunk at the end of the input: the unterminated last line (truncated when
    /// reading failed, too long when it was being dropped), if anything is left.
    fn finish(mut self, eof_error: Option<String>) -> Option<Chunk> {
        if self.line_start < self.data.len() || self.overflow.is_some() || eof_error.is_some() {
            let defect = match (eof_error, self.overflow) {
                (Some(reason), _) => Some(Defect::Truncated { reason }),
                (None, Some(len)) => Some(Defect::TooLong { len }),
                (None, None) => None,
            };
            self.push(self.data.len(), defect);
        }
        if self.records.is_empty() && self.data.is_empty() {
            return None;
        }
        Some(Chunk {
            data: self.data,
            records: self.records,
            bytes_decoded: self.decoded,
        })
    }
}

/// Streaming JSON walker for arrays and `record_path` wrappers.
struct DocSplitter<'a> {
    reader: &'a mut dyn BufRead,
    opts: &'a SplitOptions,
    emit: &'a mut dyn FnMut(Chunk) -> bool,
    chunk: Chunk,
    line: u64,
    decoded: u64,
    /// Copy of the current top-level value, used when the record path is absent in it.
    tap: Option<Vec<u8>>,
    tap_overflow: u64,
    /// Set when the stream ended with a read error.
    read_error: Option<String>,
    stopped: bool,
    matched: bool,
}

enum Scan {
    Ok,
    /// The stream ended (cleanly or not) inside a value.
    Eof,
    /// An unexpected byte at a structural position.
    Malformed(String),
}

impl<'a> DocSplitter<'a> {
    fn new(
        reader: &'a mut dyn BufRead,
        opts: &'a SplitOptions,
        emit: &'a mut dyn FnMut(Chunk) -> bool,
    ) -> Self {
        Self {
            reader,
            opts,
            emit,
            chunk: Chunk::default(),
            line: 1,
            decoded: 0,
            tap: None,
            tap_overflow: 0,
            read_error: None,
            stopped: false,
            matched: false,
        }
    }

    fn peek(&mut self) -> Option<u8> {
        if self.read_error.is_some() {
            return None;
        }
        loop {
            match self.reader.fill_buf() {
                Ok([]) => return None,
                Ok(b) => return Some(b[0]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.read_error = Some(e.to_string());
                    return None;
                }
            }
        }
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.reader.consume(1);
        self.decoded += 1;
        if b == b'\n' {
            self.line += 1;
        }
        if let Some(t) = self.tap.as_mut() {
            if t.len() < self.opts.max_record_bytes {
                t.push(b);
            } else {
                self.tap_overflow += 1;
            }
        }
        Some(b)
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                self.bump();
            } else {
                break;
            }
        }
    }

    /// Copies one JSON value into `out` (or drops it when `out` is `None`).
    fn value(&mut self, mut out: Option<&mut Vec<u8>>) -> Scan {
        let mut len = 0usize;
        let max = self.opts.max_record_bytes;
        let mut put = |out: &mut Option<&mut Vec<u8>>, b: u8| {
            if let Some(o) = out.as_deref_mut()
                && len < max
            {
                o.push(b);
            }
            len += 1;
        };
        let Some(first) = self.bump() else {
            return Scan::Eof;
        };
        put(&mut out, first);
        match first {
            b'"' => loop {
                let Some(b) = self.bump() else {
                    return Scan::Eof;
                };
                put(&mut out, b);
                match b {
                    b'\\' => {
                        let Some(e) = self.bump() else {
                            return Scan::Eof;
                        };
                        put(&mut out, e);
                    }
                    b'"' => return Scan::Ok,
                    _ => {}
                }
            },
            b'{' | b'[' => {
                let mut n = Nesting::default();
                n.feed(first);
                while n.depth > 0 {
                    let Some(b) = self.bump() else {
                        return Scan::Eof;
                    };
                    put(&mut out, b);
                    n.feed(b);
                }
                Scan::Ok
            }
            _ => {
                // A scalar: up to the next delimiter, which is left in the stream.
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.bump();
                    put(&mut out, b);
                }
                Scan::Ok
            }
        }
    }

    /// The defect of a value the input ended inside: a read error, or plain end of input.
    fn truncated(&self) -> Defect {
        Defect::Truncated {
            reason: self
                .read_error
                .clone()
                .unwrap_or_else(|| "input ended inside a JSON value".into()),
        }
    }

    fn emit_record(&mut self, start: usize, line: u64, defect: Option<Defect>) {
        self.chunk.records.push(RawRecord {
            start,
            end: self.chunk.data.len(),
            line,
            defect,
        });
        self.matched = true;
        if self.chunk.data.len() >= self.opts.chunk_bytes {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.chunk.records.is_empty() {
            return;
        }
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.bytes_decoded = self.decoded;
        if !(self.emit)(chunk) {
            self.stopped = true;
        }
    }

    /// Captures one record value into the chunk.
    fn record(&mut self) -> Scan {
        self.skip_ws();
        let line = self.line;
        let start = self.chunk.data.len();
        let mut data = std::mem::take(&mut self.chunk.data);
        let res = self.value(Some(&mut data));
        self.chunk.data = data;
        let len = self.chunk.data.len() - start;
        let defect = match &res {
            Scan::Eof => Some(self.truncated()),
            _ if len >= self.opts.max_record_bytes => Some(Defect::TooLong { len: len as u64 }),
            _ => None,
        };
        self.emit_record(start, line, defect);
        res
    }

    /// Reads an object key (raw, escapes not resolved) and the following `:`.
    fn key(&mut self) -> Result<Vec<u8>, Scan> {
        self.skip_ws();
        let mut k = Vec::new();
        match self.value(Some(&mut k)) {
            Scan::Ok => {}
            other => return Err(other),
        }
        if k.first() != Some(&b'"') || k.len() < 2 {
            return Err(Scan::Malformed("expected an object key string".into()));
        }
        self.skip_ws();
        match self.bump() {
            Some(b':') => Ok(k[1..k.len() - 1].to_vec()),
            Some(_) => Err(Scan::Malformed("expected `:` after an object key".into())),
            None => Err(Scan::Eof),
        }
    }

    /// After an element or member: `,` continues, `close` ends.
    fn separator(&mut self, close: u8) -> Result<bool, Scan> {
        self.skip_ws();
        // Peek first: an unexpected byte stays in the stream, so it is kept in the bad record.
        match self.peek() {
            Some(b',') => {
                self.bump();
                Ok(true)
            }
            Some(b) if b == close => {
                self.bump();
                Ok(false)
            }
            Some(b) => Err(Scan::Malformed(format!(
                "expected `,` or `{}` but found `{}`",
                close as char,
                (b as char).escape_default()
            ))),
            None => Err(Scan::Eof),
        }
    }

    /// Walks a value at depth `idx` of the record path.
    ///
    /// Kept whole (about 85 lines): one pass over an envelope's bytes whose branches (array,
    /// object key match, skip, descend) share the scanner's position; split, each part would
    /// re-derive where the others left off.
    fn walk(&mut self, idx: usize) -> Scan {
        self.skip_ws();
        let path_len = self.opts.record_path.len();
        if idx == path_len {
            if self.peek() == Some(b'[') {
                self.bump();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.bump();
                    self.matched = true;
                    return Scan::Ok;
                }
                loop {
                    match self.record() {
                        Scan::Ok => {}
                        other => return other,
                    }
                    if self.stopped {
                        return Scan::Ok;
                    }
                    match self.separator(b']') {
                        Ok(true) => {}
                        Ok(false) => {
                            self.matched = true;
                            return Scan::Ok;
                        }
                        Err(e) => return e,
                    }
                }
            }
            return self.record();
        }
        match self.peek() {
            Some(b'{') => {
                self.bump();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.bump();
                    return Scan::Ok;
                }
                loop {
                    let key = match self.key() {
                        Ok(k) => k,
                        Err(e) => return e,
                    };
                    let res = if key == self.opts.record_path[idx].as_bytes() {
                        self.walk(idx + 1)
                    } else {
                        self.skip_ws();
                        self.value(None)
                    };
                    match res {
                        Scan::Ok => {}
                        other => return other,
                    }
                    match self.separator(b'}') {
                        Ok(true) => {}
                        Ok(false) => return Scan::Ok,
                        Err(e) => return e,
                    }
                }
            }
            Some(b'[') => {
                self.bump();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.bump();
                    return Scan::Ok;
                }
                loop {
                    match self.walk(idx) {
                        Scan::Ok => {}
                        other => return other,
                    }
                    match self.separator(b']') {
                        Ok(true) => {}
                        Ok(false) => return Scan::Ok,
                        Err(e) => return e,
                    }
                }
            }
            Some(_) => self.value(None),
            None => Scan::Eof,
        }
    }

    /// One top-level value: walk it for the record path; if the path is not in it, the value
    /// itself is a record (its bytes were tapped while walking).
    fn top_level_value(&mut self) -> Scan {
        let line = self.line;
        self.tap = Some(Vec::new());
        self.tap_overflow = 0;
        self.matched = false;
        let res = self.walk(0);
        let tap = self.tap.take().unwrap_or_default();
        if !self.matched && matches!(res, Scan::Ok | Scan::Eof) && !tap.is_empty() {
            let start = self.chunk.data.len();
            self.chunk.data.extend_from_slice(&tap);
            let defect = if matches!(res, Scan::Eof) {
                Some(self.truncated())
            } else if self.tap_overflow > 0 {
                Some(Defect::TooLong {
                    len: tap.len() as u64 + self.tap_overflow,
                })
            } else {
                None
            };
            self.emit_record(start, line, defect);
            return Scan::Ok;
        }
        res
    }

    fn run(mut self) -> io::Result<()> {
        let nested_path = !self.opts.record_path.is_empty();
        while !self.stopped {
            self.skip_ws();
            let Some(b) = self.peek() else { break };
            let res = if nested_path && b == b'[' {
                // A bare array of envelopes (or of records): each element on its own.
                self.bump();
                let mut res = Scan::Ok;
                loop {
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.bump();
                        break;
                    }
                    res = self.top_level_value();
                    if !matches!(res, Scan::Ok) || self.stopped {
                        break;
                    }
                    match self.separator(b']') {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            res = e;
                            break;
                        }
                    }
                }
                res
            } else {
                self.top_level_value()
            };
            match res {
                Scan::Ok => {}
                Scan::Eof => {
                    if self.read_error.is_some() || self.chunk.records.is_empty() {
                        // Truncated structure after the last record: report it as a record so
                        // the problem is visible, not silently dropped.
                        let start = self.chunk.data.len();
                        let reason = self
                            .read_error
                            .clone()
                            .unwrap_or_else(|| "input ended inside the JSON document".into());
                        self.emit_record(start, self.line, Some(Defect::Truncated { reason }));
                    }
                    break;
                }
                Scan::Malformed(reason) => {
                    // Keep the rest of the line as a bad record, then resume at top level.
                    let line = self.line;
                    let start = self.chunk.data.len();
                    while let Some(b) = self.peek() {
                        if b == b'\n' {
                            break;
                        }
                        self.bump();
                        if self.chunk.data.len() - start < self.opts.max_record_bytes {
                            self.chunk.data.push(b);
                        }
                    }
                    self.emit_record(start, line, Some(Defect::Malformed { reason }));
                }
            }
        }
        if !self.stopped {
            self.chunk.bytes_decoded = self.decoded;
            let chunk = std::mem::take(&mut self.chunk);
            if !chunk.records.is_empty() {
                (self.emit)(chunk);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(
        input: &[u8],
        path: &[&str],
        chunk_bytes: usize,
    ) -> Vec<(u64, String, Option<Defect>)> {
        let opts = SplitOptions {
            chunk_bytes,
            max_record_bytes: 64,
            record_path: path.iter().map(|s| (*s).to_owned()).collect(),
        };
        let mut out = Vec::new();
        let mut r: &[u8] = input;
        split(&mut r, &opts, &mut |c: Chunk| {
            for rec in &c.records {
                out.push((
                    rec.line,
                    String::from_utf8_lossy(c.bytes(rec)).into_owned(),
                    rec.defect.clone(),
                ));
            }
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn ndjson_lines_blank_crlf_bom_and_missing_final_newline() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\":3}";
        for chunk in [1, 7, 1 << 20] {
            let got = records(input, &[], chunk);
            assert_eq!(
                got,
                vec![
                    (1, "{\"a\":1}".into(), None),
                    (4, "{\"b\":2}".into(), None),
                    (5, "{\"c\":3}".into(), None)
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn ndjson_over_long_line_is_cut_and_flagged() {
        let long = format!("{{\"m\":\"{}\"}}\n{{\"ok\":1}}\n", "x".repeat(200));
        let got = records(long.as_bytes(), &[], 16);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1.len(), 64);
        assert_eq!(got[0].2, Some(Defect::TooLong { len: 208 }));
        assert_eq!(got[1], (2, "{\"ok\":1}".into(), None));
        // The same through 8-byte reads: the line is cut while streaming, same result.
        let opts = SplitOptions {
            chunk_bytes: 16,
            max_record_bytes: 64,
            record_path: Vec::new(),
        };
        let mut small = io::BufReader::with_capacity(8, long.as_bytes());
        let mut streamed = Vec::new();
        split(&mut small, &opts, &mut |c: Chunk| {
            streamed.extend(
                c.records
                    .iter()
                    .map(|r| (r.line, c.bytes(r).len(), r.defect.clone())),
            );
            true
        })
        .unwrap();
        assert_eq!(
            streamed,
            vec![(1, 64, Some(Defect::TooLong { len: 208 })), (2, 8, None)]
        );
    }

    #[test]
    fn top_level_array_elements_with_lines() {
        let input = b"[\n {\"a\": [1,2]},\n {\"b\": \"x]\\\"\"}, 3\n]\n";
        let got = records(input, &[], 1 << 20);
        assert_eq!(
            got,
            vec![
                (2, "{\"a\": [1,2]}".into(), None),
                (3, "{\"b\": \"x]\\\"\"}".into(), None),
                (3, "3".into(), None)
            ]
        );
    }

    #[test]
    fn record_path_wrapper_and_nested_arrays() {
        let input = br#"{"owner":"1","logEvents":[{"id":"a"},{"id":"b"}],"x":{"logEvents":0}}"#;
        let got = records(input, &["logEvents"], 1 << 20);
        assert_eq!(
            got.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
            [r#"{"id":"a"}"#, r#"{"id":"b"}"#]
        );
        // Pretty-printed, as CloudWatch Logs payloads are once decoded.
        let pretty = b"{\n\t\"owner\": \"1\",\n\t\"logEvents\": [\n\t\t{\"id\": \"a\"},\n\t\t{\"id\": \"b\"}\n\t]\n}\n";
        let got = records(pretty, &["logEvents"], 1 << 20);
        assert_eq!(
            got.iter().map(|r| (r.0, r.1.as_str())).collect::<Vec<_>>(),
            [(4, r#"{"id": "a"}"#), (5, r#"{"id": "b"}"#)]
        );
        let otel = br#"{"rl":[{"sl":[{"lr":[{"n":1},{"n":2}]}]},{"sl":[{"lr":[{"n":3}]}]}]}"#;
        let got = records(otel, &["rl", "sl", "lr"], 1 << 20);
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].1, r#"{"n":3}"#);
    }

    #[test]
    fn record_path_absent_means_the_value_is_the_record() {
        let input = b"{\"ts\":1}\n{\"Records\":[{\"ts\":2}]}\n";
        let got = records(input, &["Records"], 1 << 20);
        assert_eq!(
            got.iter().map(|r| (r.0, r.1.as_str())).collect::<Vec<_>>(),
            [(1, "{\"ts\":1}"), (2, "{\"ts\":2}")]
        );
    }

    #[test]
    fn ndjson_whose_first_record_is_an_array_stays_ndjson() {
        // Regression: a bad first line `[...]` switched a whole NDJSON file to array mode.
        let got = records(
            b"[\"not\",\"an\",\"object\"]\n{\"a\":1}\n{\"b\":2}\n",
            &[],
            1 << 20,
        );
        assert_eq!(
            got.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
            ["[\"not\",\"an\",\"object\"]", "{\"a\":1}", "{\"b\":2}"]
        );
        // A one-line array document is still an array of records.
        let got = records(b"[{\"a\":1},{\"b\":2}]\n", &[], 1 << 20);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn truncated_array_is_reported() {
        let got = records(b"[{\"a\":1},{\"b\":", &[], 1 << 20);
        assert_eq!(got[0].1, "{\"a\":1}");
        assert!(
            matches!(got[1].2, Some(Defect::Truncated { .. })),
            "{got:?}"
        );
    }

    #[test]
    fn malformed_array_keeps_the_rest_of_the_line() {
        let got = records(b"[{\"a\":1} {\"b\":2}]\n", &[], 1 << 20);
        assert_eq!(got[0].1, "{\"a\":1}");
        assert_eq!(got[1].1, "{\"b\":2}]");
        assert!(matches!(got[1].2, Some(Defect::Malformed { .. })));
    }

    #[test]
    fn compression_by_magic() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"a\":1}\n").unwrap();
        let mut two = gz.finish().unwrap();
        let again = two.clone();
        two.extend_from_slice(&again); // multi-member
        let (c, mut r) = decompress(io::Cursor::new(two)).unwrap();
        assert_eq!(c, Compression::Gzip);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "{\"a\":1}\n{\"a\":1}\n");

        let z = zstd::encode_all(&b"{\"z\":1}\n"[..], 1).unwrap();
        let (c, mut r) = decompress(io::Cursor::new(z)).unwrap();
        assert_eq!(c, Compression::Zstd);
        s.clear();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "{\"z\":1}\n");

        let (c, mut r) = decompress(io::Cursor::new(b"{}".to_vec())).unwrap();
        assert_eq!(c, Compression::None);
        s.clear();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "{}");
    }

    #[test]
    fn truncated_gzip_keeps_what_was_read() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in 0..2000 {
            writeln!(gz, "{{\"i\":{i}}}").unwrap();
        }
        let full = gz.finish().unwrap();
        let cut = full[..full.len() / 2].to_vec();
        let (_, mut r) = decompress(io::Cursor::new(cut)).unwrap();
        let opts = SplitOptions::default();
        let mut recs = Vec::new();
        split(&mut r, &opts, &mut |c: Chunk| {
            recs.extend(c.records.iter().cloned());
            true
        })
        .unwrap();
        let last = recs.last().unwrap();
        assert!(
            matches!(last.defect, Some(Defect::Truncated { .. })),
            "{last:?}"
        );
        assert!(recs.len() > 10);
    }
}
