//! The local pipeline end to end on temp roots: reruns, new versions, races, watch, ledger
//! recovery, quarantine and catalog contents. Crashes (kill -9) and two racing processes are
//! tested through the binary in `crates/loglake/tests/local.rs`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use loglake_core::ledger::{
    Claim, ClaimRequest, Finished, Ledger, ObjectVersion, RunResult, Status,
};
use loglake_local::{Outcome, Pipeline, PipelineConfig, StateDb, WatchOptions, now_ms};
use parquet::file::reader::{FileReader, SerializedFileReader};

fn schema() -> loglake_core::CompiledSchema {
    loglake_core::Schema::default_app_logs()
        .compile("built-in")
        .unwrap()
}

fn make(dir: &Path, files: usize, lines: usize, seed: u64) -> loglake_gen::GenReport {
    loglake_gen::generate(
        dir,
        &loglake_gen::GenOptions {
            files,
            lines,
            seed,
            bad_ratio: 0.02,
            compression: loglake_gen::Compression::Gzip,
            start: 1_714_521_600,
            hours: 12,
        },
    )
    .unwrap()
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "parquet")
                && !p.file_name().unwrap().to_string_lossy().starts_with('.')
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// Rows in every visible Parquet file under `<root>/clean`.
fn clean_rows(root: &Path) -> u64 {
    parquet_files(&root.join("clean"))
        .iter()
        .map(|f| {
            let r = SerializedFileReader::new(std::fs::File::open(f).unwrap()).unwrap();
            r.metadata().file_metadata().num_rows() as u64
        })
        .sum()
}

fn open(root: &Path) -> Pipeline {
    Pipeline::open(PipelineConfig::new(root), schema()).unwrap()
}

#[test]
fn rerun_does_nothing_and_counts_are_conserved() {
    let root = tempfile::tempdir().unwrap();
    let g = make(&root.path().join("raw"), 4, 3000, 1);
    let p = open(root.path());
    let first = p.run_once(&|_| {}).unwrap();
    assert_eq!(first.processed, 4);
    assert_eq!(first.records_in, g.lines as u64);
    assert_eq!(first.records_quarantined, g.bad_lines as u64);
    assert_eq!(
        first.records_in,
        first.records_written + first.records_quarantined
    );
    assert_eq!(clean_rows(root.path()), first.records_written);
    assert!(first.partitions_added >= 12, "{first:?}");

    let second = p.run_once(&|_| {}).unwrap();
    assert_eq!((second.processed, second.duplicates), (0, 4));
    assert_eq!(clean_rows(root.path()), first.records_written);

    // Every item SUCCEEDED after exactly one attempt, with a run id.
    let items = p.state().items().unwrap();
    assert_eq!(items.len(), 4);
    for i in &items {
        assert_eq!(i.status, Status::Succeeded, "{i:?}");
        assert_eq!(i.attempts, 1);
        assert!(i.job_run_id.as_deref().unwrap().starts_with("local:"));
        assert!(i.id.starts_with("raw/app-000"), "{}", i.id);
    }

    // A new process (new pipeline on the same root) agrees.
    drop(p);
    let third = open(root.path()).run_once(&|_| {}).unwrap();
    assert_eq!((third.processed, third.duplicates), (0, 4));
}

#[test]
fn catalog_and_quarantine_match_the_summaries() {
    let root = tempfile::tempdir().unwrap();
    make(&root.path().join("raw"), 2, 2000, 7);
    let p = open(root.path());
    let reports = std::sync::Mutex::new(Vec::new());
    p.run_once(&|e| {
        if let loglake_local::Progress::Done(r) = e {
            reports.lock().unwrap().push(r.clone());
        }
    })
    .unwrap();
    let reports = reports.into_inner().unwrap();
    let mut expected: Vec<Vec<String>> = reports
        .iter()
        .flat_map(|r| r.summary.as_ref().unwrap().partitions.clone())
        .map(|p| {
            p.split('/')
                .map(|kv| kv.split_once('=').unwrap().1.to_owned())
                .collect()
        })
        .collect();
    expected.sort();
    expected.dedup();
    let tables = p.state().tables().unwrap();
    assert_eq!(tables.len(), 1);
    let t = &tables[0];
    assert_eq!(
        (t.database.as_str(), t.name.as_str()),
        ("loglake", "app_logs")
    );
    assert!(t.location.ends_with("clean/app_logs"));
    let parts = p.state().partitions("loglake", "app_logs").unwrap();
    let got: Vec<Vec<String>> = parts.iter().map(|p| p.values.clone()).collect();
    assert_eq!(got, expected);
    for part in &parts {
        assert!(Path::new(&part.location).is_dir(), "{}", part.location);
    }
    // Quarantine: one gzip NDJSON per source with a bad line, one line per quarantined record.
    for r in &reports {
        let s = r.summary.as_ref().unwrap();
        let q = s.quarantine_file.as_ref().unwrap();
        let text = std::io::read_to_string(flate2::read::MultiGzDecoder::new(
            std::fs::File::open(q).unwrap(),
        ))
        .unwrap();
        assert_eq!(text.lines().count() as u64, s.records_quarantined);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert!(first["reason"].as_str().is_some() && first["line"].as_u64().is_some());
    }
    // Registering again is idempotent.
    let again = p
        .state()
        .add_partitions(t, &p.state().partitions("loglake", "app_logs").unwrap())
        .unwrap();
    assert_eq!(again, 0);
}

#[test]
fn a_new_version_replaces_the_old_rows() {
    let root = tempfile::tempdir().unwrap();
    let raw = root.path().join("raw");
    let g1 = make(&raw, 2, 2000, 1);
    let p = open(root.path());
    let first = p.run_once(&|_| {}).unwrap();
    assert_eq!(clean_rows(root.path()), first.records_written);

    // Overwrite app-0001 with different content (another seed, fewer lines): a new version.
    let other = tempfile::tempdir().unwrap();
    let g2 = make(other.path(), 2, 500, 99);
    std::fs::copy(&g2.files[1], raw.join("app-0001.ndjson.gz")).unwrap();
    let second = p.run_once(&|_| {}).unwrap();
    assert_eq!((second.processed, second.duplicates), (1, 1), "{second:?}");

    // The table holds app-0000 (v1) + app-0001 (v2) and nothing of app-0001 v1: compare with
    // a fresh root that only ever saw those two files.
    let fresh = tempfile::tempdir().unwrap();
    let fresh_raw = fresh.path().join("raw");
    std::fs::create_dir_all(&fresh_raw).unwrap();
    std::fs::copy(&g1.files[0], fresh_raw.join("app-0000.ndjson.gz")).unwrap();
    std::fs::copy(&g2.files[1], fresh_raw.join("app-0001.ndjson.gz")).unwrap();
    let expected = open(fresh.path()).run_once(&|_| {}).unwrap();
    assert_eq!(clean_rows(root.path()), expected.records_written);
    let names = |r: &Path| -> Vec<String> {
        parquet_files(&r.join("clean"))
            .iter()
            .map(|f| f.strip_prefix(r).unwrap().display().to_string())
            .collect()
    };
    assert_eq!(names(root.path()), names(fresh.path()));
    // Two versions of app-0001 in the ledger, both SUCCEEDED.
    let items = p.state().items().unwrap();
    let v: Vec<_> = items.iter().filter(|i| i.id.contains("app-0001")).collect();
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|i| i.status == Status::Succeeded));
}

#[test]
fn racing_pipelines_process_each_object_once() {
    let root = tempfile::tempdir().unwrap();
    let g = make(&root.path().join("raw"), 6, 1500, 3);
    let a = open(root.path());
    let b = open(root.path());
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| a.run_once(&|_| {}).unwrap());
        let hb = s.spawn(|| b.run_once(&|_| {}).unwrap());
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert_eq!(ra.processed + rb.processed, 6, "{ra:?} {rb:?}");
    assert_eq!(ra.records_in + rb.records_in, g.lines as u64);
    assert_eq!(
        clean_rows(root.path()),
        ra.records_written + rb.records_written
    );
    for i in a.state().items().unwrap() {
        assert_eq!((i.status, i.attempts), (Status::Succeeded, 1), "{i:?}");
    }
}

fn object(key: &str, version: &str, seq: &str) -> ObjectVersion {
    ObjectVersion {
        store: "s3://b".into(),
        key: key.into(),
        version: version.into(),
        size: 10,
        sequencer: Some(seq.into()),
    }
}

fn request(owner: &str, lease_ms: i64) -> ClaimRequest {
    let now = now_ms();
    ClaimRequest {
        owner: owner.into(),
        now_ms: now,
        lease_until_ms: now + lease_ms,
        max_attempts: 2,
        expires_at: now / 1000 + 3600,
        token: loglake_core::ledger::claim_token(owner),
    }
}

#[test]
fn ledger_transitions_follow_the_design() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(&dir.path().join("state.db")).unwrap();
    use futures::executor::block_on as block;
    let o = object("k", "v1", "0A");
    let id = o.id();
    assert_eq!(
        block(db.claim(&o, &request("a", 60_000))).unwrap(),
        Claim::Claimed { attempt: Some(1) }
    );
    // Duplicate while IN_PROGRESS; the wrong owner cannot start it.
    assert!(matches!(
        block(db.claim(&o, &request("b", 60_000))).unwrap(),
        Claim::Duplicate {
            status: Status::InProgress,
            ..
        }
    ));
    assert!(block(db.start(&id, "b", "run-b", now_ms() + 1000)).is_err());
    // Release (start failed) → claimable at once.
    block(db.release(&id, "a")).unwrap();
    assert!(block(db.get(&id)).unwrap().is_none());
    assert_eq!(
        block(db.claim(&o, &request("b", 60_000))).unwrap(),
        Claim::Claimed { attempt: Some(1) }
    );
    block(db.start(&id, "b", "run-b", now_ms() + 60_000)).unwrap();
    assert!(matches!(
        block(db.claim(&o, &request("c", 60_000))).unwrap(),
        Claim::Duplicate { status: Status::Started, job_run_id: Some(ref r) } if r == "run-b"
    ));
    // Only the run that holds it can finish it.
    assert_eq!(
        block(db.finish(&id, "run-x", &RunResult::Succeeded)).unwrap(),
        Finished::NotOwned
    );
    assert_eq!(
        block(db.finish(&id, "run-b", &RunResult::Failed("boom".into()))).unwrap(),
        Finished::Recorded { attempts: 1 }
    );
    // The same result again (the job, then its end event) is fine; another result is not.
    block(db.finish(&id, "run-b", &RunResult::Failed("boom".into()))).unwrap();
    assert_eq!(
        block(db.finish(&id, "run-b", &RunResult::Succeeded)).unwrap(),
        Finished::NotOwned
    );
    // FAILED with attempts left → claimable (attempt 2); then exhausted.
    assert_eq!(
        block(db.claim(&o, &request("c", 60_000))).unwrap(),
        Claim::Claimed { attempt: Some(2) }
    );
    block(db.start(&id, "c", "run-c", now_ms() + 60_000)).unwrap();
    block(db.finish(&id, "run-c", &RunResult::Failed("boom".into()))).unwrap();
    assert_eq!(
        block(db.claim(&o, &request("d", 60_000))).unwrap(),
        Claim::Exhausted { attempts: 2 }
    );
    let item = db.item(&id).unwrap().unwrap();
    assert_eq!(
        (item.status, item.error.as_deref()),
        (Status::Failed, Some("boom"))
    );

    // Out of order: v3 (newer sequencer) first, then v2 is superseded.
    let v3 = object("k2", "v3", "0C");
    let v2 = object("k2", "v2", "0B");
    assert!(matches!(
        block(db.claim(&v3, &request("a", 60_000))).unwrap(),
        Claim::Claimed { .. }
    ));
    assert!(matches!(
        block(db.claim(&v2, &request("a", 60_000))).unwrap(),
        Claim::Superseded { ref newer } if newer == "0C"
    ));
    // A newer version while another version of the key is live: deferred.
    let v4 = object("k2", "v4", "0D");
    assert!(matches!(
        block(db.claim(&v4, &request("a", 60_000))).unwrap(),
        Claim::KeyBusy { ref other } if *other == v3.id()
    ));

    // An expired lease is taken over; reap turns a lost STARTED run into FAILED.
    let e = object("k3", "v1", "01");
    block(db.claim(&e, &request("gone", -1))).unwrap();
    assert_eq!(
        block(db.claim(&e, &request("new", 60_000))).unwrap(),
        Claim::Claimed { attempt: Some(2) }
    );
    block(db.start(&e.id(), "new", "run-new", now_ms() - 1)).unwrap();
    let reaped = db.reap(now_ms(), &|_| false).unwrap();
    assert_eq!(reaped, [e.id()]);
    assert_eq!(db.item(&e.id()).unwrap().unwrap().status, Status::Failed);
}

#[test]
fn claims_of_dead_processes_are_reaped() {
    let root = tempfile::tempdir().unwrap();
    make(&root.path().join("raw"), 1, 500, 5);
    let p = open(root.path());
    let objects = p.list().unwrap();
    let o = &objects[0].version;
    // A claim by a process that no longer exists, with a long lease (a kill -9).
    let dead = format!("{}:999999999:1", p.owner().split(':').next().unwrap());
    assert!(loglake_local::owner_is_dead(&dead));
    assert!(!loglake_local::owner_is_dead(p.owner()));
    use futures::executor::block_on as block;
    block(p.state().claim(o, &request(&dead, 3_600_000))).unwrap();
    block(
        p.state()
            .start(&o.id(), &dead, "run-dead", now_ms() + 3_600_000),
    )
    .unwrap();
    let r = p.run_once(&|_| {}).unwrap();
    assert_eq!(r.reaped, [o.id()]);
    assert_eq!(r.processed, 1);
    let item = p.state().item(&o.id()).unwrap().unwrap();
    assert_eq!((item.status, item.attempts), (Status::Succeeded, 2));
}

#[test]
fn a_schema_that_disagrees_with_the_catalog_is_refused() {
    let root = tempfile::tempdir().unwrap();
    drop(open(root.path()));
    let mut s = loglake_core::Schema::default_app_logs();
    s.columns[11].ty = loglake_core::ColumnType::String; // latency_ms: double → string
    let err = Pipeline::open(PipelineConfig::new(root.path()), s.compile("x").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("column `latency_ms` is `double` in the table but `string` in the schema"),
        "{err}"
    );
}

/// The watcher takes a file when its writer closes it or renames it into place, never while
/// it is being written, and a file already there and settled on the first pass. No step
/// depends on a sleep being long enough: the settle time is an hour, so only the close and
/// rename events (or an old mtime) can make a file ready, and the test starts writing only
/// once the watcher's first pass has listed the folder (its watch is in place by then).
#[test]
fn watch_picks_up_files_once_their_writer_is_done() {
    let root = tempfile::tempdir().unwrap();
    let raw = root.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let p = open(root.path());
    let stop = p.stop_flag();
    let src = tempfile::tempdir().unwrap();
    let g = make(src.path(), 4, 3000, 11);
    // 0. Already there and settled (written two hours ago): taken by the first pass.
    std::fs::copy(&g.files[3], raw.join("0.ndjson.gz")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(raw.join("0.ndjson.gz"))
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    let listed = std::sync::atomic::AtomicUsize::new(0);
    let succeeded = || {
        p.state()
            .items()
            .unwrap()
            .iter()
            .filter(|i| i.status == Status::Succeeded)
            .count()
    };
    let wait_until = |what: &str, ok: &dyn Fn() -> bool| {
        let t = Instant::now();
        while !ok() {
            if t.elapsed() > Duration::from_secs(120) {
                panic!("timed out waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            loglake_local::watch(
                &p,
                &WatchOptions {
                    settle: Duration::from_secs(3600),
                    rescan: Duration::from_secs(3600),
                },
                &|e| {
                    if matches!(e, loglake_local::Progress::Listed { .. }) {
                        listed.fetch_add(1, Ordering::SeqCst);
                    }
                },
                &|_| {},
            )
            .unwrap()
        });
        // A failed check below must stop the watcher, or the scope would wait for it forever.
        struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop_on_panic = StopOnDrop(&stop);
        wait_until("the first pass", &|| listed.load(Ordering::SeqCst) > 0);
        wait_until("the settled file", &|| succeeded() >= 1);
        // 1. Written and closed: picked up on the close event.
        std::fs::copy(&g.files[0], raw.join("a.ndjson.gz")).unwrap();
        wait_until("a (closed)", &|| succeeded() >= 2);
        // 2. Written under a temp name, renamed into place.
        std::fs::copy(&g.files[1], raw.join("b.ndjson.gz.tmp")).unwrap();
        std::fs::rename(raw.join("b.ndjson.gz.tmp"), raw.join("b.ndjson.gz")).unwrap();
        wait_until("b (renamed)", &|| succeeded() >= 3);
        // 3. A slow writer: half, a pause (any length: nothing but its close makes it ready),
        // the rest.
        let bytes = std::fs::read(&g.files[2]).unwrap();
        {
            use std::io::Write;
            let mut f = std::fs::File::create(raw.join("c.ndjson.gz")).unwrap();
            f.write_all(&bytes[..bytes.len() / 2]).unwrap();
            f.flush().unwrap();
            let passes = listed.load(Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(succeeded(), 3, "c was taken while open");
            assert!(
                listed.load(Ordering::SeqCst) <= passes + 3,
                "the watcher lists in a loop while a file is open"
            );
            f.write_all(&bytes[bytes.len() / 2..]).unwrap();
        }
        wait_until("c (slow writer)", &|| succeeded() >= 4);
        stop.store(true, Ordering::Relaxed);
        let totals = watcher.join().unwrap();
        assert_eq!(totals.failed, 0, "{totals:?}");
    });
    // Each file processed exactly once, whole: no partial read of c.
    let items = p.state().items().unwrap();
    assert_eq!(items.len(), 4, "{items:?}");
    for i in &items {
        assert_eq!((i.status, i.attempts), (Status::Succeeded, 1), "{i:?}");
    }
    assert_eq!(
        clean_rows(root.path()),
        (g.lines - g.bad_lines) as u64,
        "all rows of the four files"
    );
}

#[test]
fn objects_report_their_outcome() {
    let root = tempfile::tempdir().unwrap();
    let raw = root.path().join("raw");
    std::fs::create_dir_all(raw.join("sub")).unwrap();
    std::fs::write(
        raw.join("sub/ok.json"),
        "{\"ts\":1714521600,\"msg\":\"x\"}\n",
    )
    .unwrap();
    std::fs::write(raw.join("empty.json"), "").unwrap();
    std::fs::write(raw.join(".hidden.json"), "{}").unwrap();
    let p = open(root.path());
    let objects = p.list().unwrap();
    let keys: Vec<_> = objects.iter().map(|o| o.version.key.as_str()).collect();
    assert_eq!(
        keys,
        ["sub/ok.json"],
        "zero-byte and hidden files are not objects"
    );
    let r = p.process(&objects[0], &|_| {});
    assert_eq!(r.outcome, Outcome::Processed);
    assert_eq!(r.status, Some(Status::Succeeded));
    let again = p.process(&objects[0], &|_| {});
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert_eq!(again.job_run_id, r.job_run_id);
}

/// An extra partition key whose values hold `/`, `=` and `%`: the folder is Hive-escaped once,
/// the catalog keeps the raw value (as Glue and Hive do), and the location points at the
/// folder the rows are in.
#[test]
fn partition_values_are_raw_in_the_catalog_and_escaped_in_paths() {
    let path = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../testdata/extra_partition_key.schema.json");
    let schema = loglake_core::Schema::from_path(&path)
        .unwrap()
        .compile("test")
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let raw = root.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let envs = ["prod/eu", "a=b", "100%", "%2F"];
    let lines: String = envs
        .iter()
        .map(|e| format!("{}\n", serde_json::json!({"ts": 0, "env": e, "msg": "m"})))
        .collect();
    std::fs::write(raw.join("x.json"), lines).unwrap();
    let p = Pipeline::open(PipelineConfig::new(root.path()), schema).unwrap();
    let report = p.run_once(&|_| {}).unwrap();
    assert_eq!(report.processed, 1, "{report:?}");
    let table = p.table().clone();
    let parts = p.state().partitions(&table.database, &table.name).unwrap();
    let mut values: Vec<String> = parts.iter().map(|p| p.values[2].clone()).collect();
    values.sort();
    let mut want: Vec<String> = envs.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(values, want, "raw values in the catalog");
    for part in &parts {
        let folder = std::path::PathBuf::from(&part.location);
        let escaped = loglake_core::partition::escape(&part.values[2]);
        assert!(
            part.location.ends_with(&format!("/env={escaped}")),
            "{}",
            part.location
        );
        assert!(
            std::fs::read_dir(&folder)
                .unwrap()
                .flatten()
                .any(|f| f.path().extension().is_some_and(|x| x == "parquet")),
            "no Parquet file in {}",
            folder.display()
        );
    }
}
