//! Partition paths and values: escaped once for paths, unescaped for the catalog.
//!
//! A partition is a list of `(key, value)` pairs. In a path (S3 key, folder) each value is
//! Hive-escaped ([`escape`]: `/`, `=`, `%` and the other characters Hive escapes become `%XX`;
//! the empty value becomes `__HIVE_DEFAULT_PARTITION__`); in the catalog (Glue
//! `PartitionInput.Values`, the local SQLite catalog) values are the raw strings. Glue and Hive
//! keep the raw value in the metastore and the escaped form only in the location.
//!
//! ```
//! use loglake_core::partition::PartitionPath;
//! let p = PartitionPath::parse("dt=2024-05-01/hr=07/env=prod%2Feu").unwrap();
//! assert_eq!(p.values(), ["2024-05-01", "07", "prod/eu"]);
//! assert_eq!(p.to_string(), "dt=2024-05-01/hr=07/env=prod%2Feu");
//! ```

use std::fmt;

/// Hive's name for a partition whose value is empty or null.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Escapes a partition value for a path, as Hive does (`FileUtils.escapePathName`).
pub fn escape(v: &str) -> String {
    if v.is_empty() {
        return DEFAULT_PARTITION.into();
    }
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if (c as u32) < 0x20
            || matches!(
                c,
                '"' | '#'
                    | '%'
                    | '\''
                    | '*'
                    | '/'
                    | ':'
                    | '='
                    | '?'
                    | '\\'
                    | '\x7f'
                    | '{'
                    | '['
                    | ']'
                    | '^'
            )
        {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Undoes [`escape`]: `%XX` sequences become their bytes (a `%` not followed by two hex digits
/// stays as it is, as Hive's `unescapePathName` does).
pub fn unescape(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A partition: its keys and raw (unescaped) values, in key order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionPath {
    pairs: Vec<(String, String)>,
}

impl PartitionPath {
    /// A partition from raw values.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// Reads a path `k=v/k=v…` whose values are escaped.
    ///
    /// # Errors
    /// A segment without `=`, named in the message.
    pub fn parse(path: &str) -> Result<Self, String> {
        path.split('/')
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), unescape(v)))
                    .ok_or_else(|| format!("partition path `{path}`: segment `{kv}` has no `=`"))
            })
            .collect::<Result<_, _>>()
            .map(Self::new)
    }

    /// The raw values, in key order: what the catalog stores.
    pub fn values(&self) -> Vec<String> {
        self.pairs.iter().map(|(_, v)| v.clone()).collect()
    }
}

/// The escaped path, `k=v/k=v…`.
impl fmt::Display for PartitionPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{k}={}", escape(v))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_escaping() {
        assert_eq!(escape("prod"), "prod");
        assert_eq!(escape("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(escape(""), DEFAULT_PARTITION);
        assert_eq!(escape("µ"), "µ");
    }

    #[test]
    fn values_with_slash_equals_and_percent_round_trip() {
        for raw in [
            "prod/eu",
            "a=b",
            "100%",
            "%2F literally",
            "prod/eu=1%",
            "tab\there",
            "ünïcode/ok",
            "{x}[y]^z",
        ] {
            let p = PartitionPath::new(vec![
                ("dt".into(), "2024-05-01".into()),
                ("env".into(), raw.into()),
            ]);
            let path = p.to_string();
            assert_eq!(path.matches('/').count(), 1, "{path}");
            assert_eq!(path.matches('=').count(), 2, "{path}");
            let back = PartitionPath::parse(&path).unwrap();
            assert_eq!(back.values(), ["2024-05-01", raw], "{path}");
            assert_eq!(back, p);
        }
        assert_eq!(unescape("50%"), "50%");
        assert_eq!(unescape("%zz"), "%zz");
        assert!(PartitionPath::parse("dt=1/oops").is_err());
    }
}
