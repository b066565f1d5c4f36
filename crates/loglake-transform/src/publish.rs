//! The one crash-safe publish protocol, for local folders and object stores alike.
//!
//! A source's files are written whole under hidden names first (sealed); then [`publish`]
//! makes them visible in this order, against any [`Target`]:
//!
//! 1. the source's manifest names the previous version's files and the new ones (so a crash
//!    can never leave a visible file that no manifest names: the next run finds and replaces
//!    it);
//! 2. the data files;
//! 3. the quarantine file (or the previous one removed);
//! 4. the previous version's files that this one did not rewrite, removed;
//! 5. the manifest names exactly the new files (or is removed when there are none).
//!
//! A crash between any two steps leaves every row visible at most once per source id (file
//! names are deterministic, so a rerun rewrites the same names) and the next run of the source
//! finishes the job. [`LocalTarget`] renames within a folder; `loglake-store` implements the
//! same trait for S3 (uploads and deletes).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::output::{LocalOutput, Manifest, io_err, remove_if_exists};

/// A file written whole under a hidden name, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The sealed file (hidden, local).
    pub path: PathBuf,
    /// Its name relative to the table folder (`dt=…/hr=…/part-<source_id>-<n>.parquet`).
    pub rel: String,
}

/// Where one source's files become visible.
pub trait Target {
    /// The previous version's manifest of this source (empty when there is none).
    fn manifest(&self) -> Result<Manifest>;
    /// Replaces the manifest; `None` removes it.
    fn set_manifest(&self, manifest: Option<&Manifest>) -> Result<()>;
    /// Makes the sealed data files visible under their names.
    fn put_files(&self, files: &[Sealed]) -> Result<()>;
    /// Makes the sealed quarantine file visible, or removes the previous one (`None`).
    fn put_quarantine(&self, sealed: Option<&Path>) -> Result<()>;
    /// Removes one of the previous version's data files.
    fn remove_file(&self, rel: &str) -> Result<()>;
    /// A data file's location as users see it (a path or an `s3://` URI).
    fn file_location(&self, rel: &str) -> String;
    /// The quarantine file's location.
    fn quarantine_location(&self) -> String;
    /// Where a file named `dt=…/hr=…/part-….parquet` by the writer goes, relative to the table
    /// folder: the partition's current generation folder (see [`crate::compact`]); the name
    /// itself until the partition is compacted.
    fn locate(&self, rel: &str) -> String {
        rel.to_owned()
    }
}

/// What a publish made visible, as locations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    /// The data files.
    pub files: Vec<String>,
    /// The previous version's files that were removed.
    pub removed: Vec<String>,
    /// The quarantine file, when records were quarantined.
    pub quarantine: Option<String>,
}

/// Publishes one source's sealed files in the protocol's order (see the module docs).
pub fn publish(
    target: &dyn Target,
    source_name: &str,
    files: &[Sealed],
    quarantine: Option<&Path>,
) -> Result<Published> {
    let files: Vec<Sealed> = files
        .iter()
        .map(|f| Sealed {
            path: f.path.clone(),
            rel: target.locate(&f.rel),
        })
        .collect();
    let files = files.as_slice();
    let old = target.manifest()?;
    let new: BTreeSet<String> = files.iter().map(|f| f.rel.clone()).collect();
    let union = Manifest {
        source: source_name.to_owned(),
        files: old.files.union(&new).cloned().collect(),
    };
    target.set_manifest(Some(&union))?;
    target.put_files(files)?;
    target.put_quarantine(quarantine)?;
    let removed: Vec<String> = old.files.difference(&new).cloned().collect();
    for rel in &removed {
        target.remove_file(rel)?;
    }
    let last = Manifest {
        source: source_name.to_owned(),
        files: new.clone(),
    };
    target.set_manifest((!new.is_empty()).then_some(&last))?;
    Ok(Published {
        files: new.iter().map(|r| target.file_location(r)).collect(),
        removed: removed.iter().map(|r| target.file_location(r)).collect(),
        quarantine: quarantine.map(|_| target.quarantine_location()),
    })
}

/// A local output root as a [`Target`]: sealed files are renamed into place (they are sealed
/// inside the root, so a rename is all it takes).
#[derive(Debug, Clone, Copy)]
pub struct LocalTarget<'a> {
    out: &'a LocalOutput,
    table: &'a str,
    source_id: &'a str,
    /// Compacted partitions (`dt=…/hr=…`) and their current generation.
    generations: Option<&'a BTreeMap<String, u64>>,
}

impl<'a> LocalTarget<'a> {
    /// The target for one source of `table` under `out`.
    pub fn new(out: &'a LocalOutput, table: &'a str, source_id: &'a str) -> Self {
        Self {
            out,
            table,
            source_id,
            generations: None,
        }
    }

    /// Files of compacted partitions go to their current generation's folder.
    pub fn with_generations(mut self, generations: &'a BTreeMap<String, u64>) -> Self {
        self.generations = Some(generations);
        self
    }

    fn manifest_path(&self) -> PathBuf {
        self.out.manifest_path(self.table, self.source_id)
    }

    fn quarantine_path(&self) -> PathBuf {
        self.out.quarantine_path(self.table, self.source_id)
    }
}

impl Target for LocalTarget<'_> {
    fn manifest(&self) -> Result<Manifest> {
        Ok(Manifest::read(&self.manifest_path())?.unwrap_or_default())
    }

    fn set_manifest(&self, manifest: Option<&Manifest>) -> Result<()> {
        match manifest {
            Some(m) => m.write(&self.manifest_path()),
            None => remove_if_exists(&self.manifest_path()).map(drop),
        }
    }

    fn put_files(&self, files: &[Sealed]) -> Result<()> {
        let dir = self.out.table_dir(self.table);
        for f in files {
            let to = dir.join(&f.rel);
            std::fs::rename(&f.path, &to).map_err(io_err(&to))?;
        }
        Ok(())
    }

    fn put_quarantine(&self, sealed: Option<&Path>) -> Result<()> {
        let to = self.quarantine_path();
        match sealed {
            Some(from) => std::fs::rename(from, &to).map_err(io_err(&to)),
            None => remove_if_exists(&to).map(drop),
        }
    }

    fn remove_file(&self, rel: &str) -> Result<()> {
        remove_if_exists(&self.out.table_dir(self.table).join(rel)).map(drop)
    }

    fn file_location(&self, rel: &str) -> String {
        self.out
            .table_dir(self.table)
            .join(rel)
            .display()
            .to_string()
    }

    fn quarantine_location(&self) -> String {
        self.quarantine_path().display().to_string()
    }

    fn locate(&self, rel: &str) -> String {
        let Some((dir, name)) = rel.rsplit_once('/') else {
            return rel.to_owned();
        };
        match self.generations.and_then(|g| g.get(dir)) {
            Some(&generation) => {
                format!("{}/{name}", crate::compact::generation_dir(dir, generation))
            }
            None => rel.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::error::Error;

    /// An in-memory target: visible files and manifest; fails at operation `fail_at`.
    #[derive(Default)]
    struct Memory {
        visible: RefCell<BTreeSet<String>>,
        manifest: RefCell<Option<Manifest>>,
        ops: RefCell<Vec<String>>,
        fail_at: Option<usize>,
    }

    impl Memory {
        fn op(&self, name: String) -> Result<()> {
            let mut ops = self.ops.borrow_mut();
            if Some(ops.len()) == self.fail_at {
                return Err(Error::Publish {
                    location: name,
                    source: "injected".into(),
                });
            }
            ops.push(name);
            Ok(())
        }
    }

    impl Target for Memory {
        fn manifest(&self) -> Result<Manifest> {
            Ok(self.manifest.borrow().clone().unwrap_or_default())
        }
        fn set_manifest(&self, m: Option<&Manifest>) -> Result<()> {
            let files = m.map(|m| m.files.iter().cloned().collect::<Vec<_>>().join(","));
            self.op(format!("manifest {}", files.as_deref().unwrap_or("-")))?;
            *self.manifest.borrow_mut() = m.cloned();
            Ok(())
        }
        fn put_files(&self, files: &[Sealed]) -> Result<()> {
            for f in files {
                self.op(format!("put {}", f.rel))?;
                self.visible.borrow_mut().insert(f.rel.clone());
            }
            Ok(())
        }
        fn put_quarantine(&self, q: Option<&Path>) -> Result<()> {
            self.op(format!("quarantine {}", q.is_some()))
        }
        fn remove_file(&self, rel: &str) -> Result<()> {
            self.op(format!("remove {rel}"))?;
            self.visible.borrow_mut().remove(rel);
            Ok(())
        }
        fn file_location(&self, rel: &str) -> String {
            format!("mem://{rel}")
        }
        fn quarantine_location(&self) -> String {
            "mem://q".into()
        }
    }

    fn sealed(rels: &[&str]) -> Vec<Sealed> {
        rels.iter()
            .map(|r| Sealed {
                path: PathBuf::from(format!("/staging/.{r}.inprogress")),
                rel: (*r).to_owned(),
            })
            .collect()
    }

    /// The previous version wrote `a` and `b`; this one writes `b` and `c`.
    fn previous(fail_at: Option<usize>) -> Memory {
        let m = Memory {
            fail_at,
            ..Memory::default()
        };
        *m.visible.borrow_mut() = ["a".to_owned(), "b".to_owned()].into();
        *m.manifest.borrow_mut() = Some(Manifest {
            source: "s".into(),
            files: ["a".to_owned(), "b".to_owned()].into(),
        });
        m
    }

    #[test]
    fn the_order_is_union_files_quarantine_removals_manifest() {
        let t = previous(None);
        let p = publish(&t, "s", &sealed(&["b", "c"]), Some(Path::new("/q"))).unwrap();
        assert_eq!(
            *t.ops.borrow(),
            [
                "manifest a,b,c",
                "put b",
                "put c",
                "quarantine true",
                "remove a",
                "manifest b,c"
            ]
        );
        assert_eq!(p.files, ["mem://b", "mem://c"]);
        assert_eq!(p.removed, ["mem://a"]);
        assert_eq!(p.quarantine.as_deref(), Some("mem://q"));
    }

    /// A crash (a failed operation) at every step: every visible file is named by the manifest,
    /// so the next run of the source can find and replace it; and that next run converges.
    #[test]
    fn after_a_failure_at_any_step_the_manifest_names_every_visible_file() {
        for fail_at in 0..6 {
            let t = previous(Some(fail_at));
            assert!(
                publish(&t, "s", &sealed(&["b", "c"]), None).is_err(),
                "{fail_at}"
            );
            let named = t.manifest.borrow().clone().unwrap_or_default().files;
            assert!(
                t.visible.borrow().is_subset(&named),
                "failed at {fail_at}: {t:?}",
                t = t.ops
            );
            let rerun = Memory {
                visible: t.visible,
                manifest: t.manifest,
                ..Memory::default()
            };
            publish(&rerun, "s", &sealed(&["b", "c"]), None).unwrap();
            let want: BTreeSet<String> = ["b".to_owned(), "c".to_owned()].into();
            assert_eq!(
                *rerun.visible.borrow(),
                want,
                "rerun after a failure at {fail_at}"
            );
            assert_eq!(
                rerun.manifest.borrow().as_ref().map(|m| &m.files),
                Some(&want)
            );
        }
    }

    #[test]
    fn a_version_with_no_rows_removes_the_manifest() {
        let t = previous(None);
        publish(&t, "s", &[], None).unwrap();
        assert!(t.visible.borrow().is_empty());
        assert!(t.manifest.borrow().is_none());
    }
}
