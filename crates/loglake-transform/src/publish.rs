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

use std::collections::BTreeSet;
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
    /// The catalog's side of compaction, when the output has one (see [`Placement`]).
    fn placement(&self) -> Option<&dyn Placement> {
        None
    }
}

/// What publishing into a table that compaction rewrites takes, from the catalog (a SQLite
/// catalog locally, the Glue Data Catalog on AWS):
/// - a file the writer names `dt=…/hr=…/part-….parquet` goes to the partition's current
///   generation folder ([`crate::compact::generation_dir`]), so late data is visible at once;
/// - a previous version's file in an older generation than its partition's current one was
///   consumed by compaction: its rows are in the compacted files, and removing it means
///   rewriting that partition without this source's compacted rows ([`Placement::purge`]).
///   This happens among the removals, before the final manifest, so a crash leaves the
///   manifest naming the old file and the rerun purges again.
pub trait Placement: Sync + std::fmt::Debug {
    /// The partition's current generation (0: never compacted, or not registered yet).
    fn generation(&self, partition: &str) -> Result<u64>;
    /// Rewrites `partition` without the rows of `source` in its compacted files.
    fn purge(&self, partition: &str, source: &str) -> Result<()>;
}

/// How many times an object is published when compaction keeps switching its partitions
/// meanwhile (each attempt after the first follows a switch) before it fails and is retried
/// like any failed object.
pub const PUBLISH_ATTEMPTS: usize = 3;

/// The generations a [`Placement`] answered while one object was published, per partition: an
/// adapter compares them with its catalog after registering the partitions, to publish again
/// when compaction switched one meanwhile.
#[derive(Debug, Default)]
pub struct Answered(std::sync::Mutex<std::collections::BTreeMap<String, u64>>);

impl Answered {
    /// Records an answer and returns it.
    pub fn record(&self, partition: &str, generation: u64) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(partition.to_owned(), generation);
        generation
    }

    /// The answer recorded for a partition, if any.
    pub fn get(&self, partition: &str) -> Option<u64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(partition)
            .copied()
    }

    /// Every answer so far.
    pub fn all(&self) -> std::collections::BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The sealed files with their names in their partitions' current generation folders.
fn place(placement: Option<&dyn Placement>, files: &[Sealed]) -> Result<Vec<Sealed>> {
    let Some(placement) = placement else {
        return Ok(files.to_vec());
    };
    files
        .iter()
        .map(|f| {
            let (dir, name) = f.rel.rsplit_once('/').unwrap_or(("", &f.rel));
            let generation = placement.generation(dir)?;
            Ok(Sealed {
                path: f.path.clone(),
                rel: format!("{}/{name}", crate::compact::generation_dir(dir, generation)),
            })
        })
        .collect()
}

/// Purges the source from every partition where one of its removed files had been compacted.
fn purge_compacted(
    placement: Option<&dyn Placement>,
    source: &str,
    removed: &[String],
) -> Result<()> {
    let Some(placement) = placement else {
        return Ok(());
    };
    let mut done = BTreeSet::new();
    for rel in removed {
        let (generation, partition) = crate::compact::generation_of(rel);
        if done.contains(&partition) || generation >= placement.generation(&partition)? {
            continue;
        }
        placement.purge(&partition, source)?;
        done.insert(partition);
    }
    Ok(())
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
    let files = place(target.placement(), files)?;
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
    purge_compacted(target.placement(), source_name, &removed)?;
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
    /// The catalog's side of compaction, for a root with a catalog.
    placement: Option<&'a dyn Placement>,
}

impl<'a> LocalTarget<'a> {
    /// The target for one source of `table` under `out`.
    pub fn new(out: &'a LocalOutput, table: &'a str, source_id: &'a str) -> Self {
        Self {
            out,
            table,
            source_id,
            placement: None,
        }
    }

    /// Publishes into a table that compaction rewrites (see [`Placement`]).
    pub fn with_placement(mut self, placement: &'a dyn Placement) -> Self {
        self.placement = Some(placement);
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

    fn placement(&self) -> Option<&dyn Placement> {
        self.placement
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

    /// A catalog where `dt=1/hr=01` is at generation 2 and everything else at 0; records purges.
    #[derive(Debug, Default)]
    struct Catalog {
        purged: std::sync::Mutex<Vec<(String, String)>>,
    }

    impl Placement for Catalog {
        fn generation(&self, partition: &str) -> Result<u64> {
            Ok(if partition == "dt=1/hr=01" { 2 } else { 0 })
        }

        fn purge(&self, partition: &str, source: &str) -> Result<()> {
            self.purged
                .lock()
                .unwrap()
                .push((partition.to_owned(), source.to_owned()));
            Ok(())
        }
    }

    #[test]
    fn placement_sends_files_to_the_current_generation_and_purges_compacted_partitions() {
        let catalog = Catalog::default();
        let files = [
            Sealed {
                path: PathBuf::from("/s/a"),
                rel: "dt=1/hr=01/part-s-0.parquet".into(),
            },
            Sealed {
                path: PathBuf::from("/s/b"),
                rel: "dt=1/hr=02/part-s-0.parquet".into(),
            },
        ];
        let placed = place(Some(&catalog), &files).unwrap();
        assert_eq!(placed[0].rel, "gen-2/dt=1/hr=01/part-s-0.parquet");
        assert_eq!(placed[1].rel, "dt=1/hr=02/part-s-0.parquet");
        // The previous version's files: two in a compacted partition (one purge), one in the
        // current generation of that partition (a plain removal), one in an uncompacted one.
        let removed = [
            "dt=1/hr=01/part-s-0.parquet".to_owned(),
            "gen-1/dt=1/hr=01/part-s-1.parquet".to_owned(),
            "gen-2/dt=1/hr=01/part-s-2.parquet".to_owned(),
            "dt=1/hr=03/part-s-0.parquet".to_owned(),
        ];
        purge_compacted(Some(&catalog), "bucket/key", &removed).unwrap();
        assert_eq!(
            *catalog.purged.lock().unwrap(),
            [("dt=1/hr=01".to_owned(), "bucket/key".to_owned())]
        );
    }
}
