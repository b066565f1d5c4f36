//! Source identity: the stable name of a raw object, from which output file names derive.

use sha2::{Digest, Sha256};

/// `source_id` = first 16 hex characters of SHA-256 of `bucket/key` (DESIGN.md invariant 2).
///
/// For local files the "bucket/key" is the path the caller names the source by (see
/// `loglake transform --source`); by default the absolute path of the file.
///
/// ```
/// assert_eq!(loglake_core::source_id("raw-bucket/logs/a.json").len(), 16);
/// ```
pub fn source_id(bucket_key: &str) -> String {
    let digest = Sha256::digest(bucket_key.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_value() {
        // printf 'bucket/key.json' | sha256sum | cut -c1-16
        assert_eq!(super::source_id("bucket/key.json"), "2ea57974b932fbf7");
    }
}
