//! The local raw folder's objects: each file's version is `<mtime ns>-<sha256 prefix>`, its hash
//! cached in `state.db`, so a rewritten file is a new version and an unchanged one is never
//! hashed twice.

use std::io::Read;
use std::path::Path;
use std::time::UNIX_EPOCH;

use loglake_core::ledger::ObjectVersion;
use loglake_store::{RawObject, RawStore, local_files};
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::state::StateDb;

/// Lists a raw store, sorted by key: a folder's files with their local versions, or an S3
/// prefix's objects. Zero-byte objects, folder markers and ignored names are left out.
pub fn list(raw: &RawStore, state: &StateDb, rt: &Handle) -> Result<Vec<RawObject>> {
    match raw {
        RawStore::Local { dir } => list_local(dir, state),
        RawStore::S3 { .. } => Ok(raw.list_remote(rt)?),
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// SHA-256 of a file, hex.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// A local file's identity as the ledger sees it, from one look at its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalVersion {
    /// `<mtime ns, 16 hex>-<first 16 hex of SHA-256>`.
    pub version: String,
    /// The modification time as a fixed-width upper-case hex sequencer.
    pub sequencer: String,
    /// Length in bytes.
    pub size: u64,
    /// Modification time, epoch ms.
    pub modified_ms: i64,
}

/// A local file's version (see [`LocalVersion`]). The hash is cached in `state.db` by (path,
/// mtime, size), so unchanged files are not re-read on every scan.
pub fn local_version(state: &StateDb, path: &Path) -> Result<LocalVersion> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let mtime = mtime_ns(&meta);
    let key = path.display().to_string();
    let hash = match state.cached_hash(&key, mtime, meta.len())? {
        Some(h) => h,
        None => {
            let h = sha256_file(path).map_err(io)?;
            state.cache_hash(&key, mtime, meta.len(), &h)?;
            h
        }
    };
    Ok(LocalVersion {
        version: format!("{mtime:016x}-{}", &hash[..16]),
        sequencer: format!("{mtime:016X}"),
        size: meta.len(),
        modified_ms: mtime.div_euclid(1_000_000),
    })
}

fn list_local(dir: &Path, state: &StateDb) -> Result<Vec<RawObject>> {
    let files = local_files(dir)?;
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let Ok(rel) = path.strip_prefix(dir) else {
            continue;
        };
        let key = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let local = match local_version(state, &path) {
            Ok(v) => v,
            // Deleted between the listing and now: not an object any more.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(e) => return Err(e),
        };
        if local.size == 0 {
            continue;
        }
        out.push(RawObject {
            display: path.display().to_string(),
            version: ObjectVersion {
                store: "raw".into(),
                key,
                version: local.version,
                size: local.size,
                sequencer: Some(local.sequencer),
            },
            last_modified_ms: Some(local.modified_ms),
            path: Some(path),
            version_id: None,
        });
    }
    Ok(out)
}
