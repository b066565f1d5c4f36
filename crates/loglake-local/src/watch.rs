//! Continuous mode: a file watcher (inotify through `notify`) triggers passes as soon as a
//! writer is done with a file, and a periodic rescan catches anything the watcher missed
//! (events dropped under load, network file systems, an S3 raw store, which is only polled).
//!
//! A file is ready when its writer closed it (`IN_CLOSE_WRITE`) or renamed it into place, or
//! when it has not been modified for `settle`. Hidden and temporary names (`.x`, `x.tmp`,
//! `x.part`, …) are never picked up, so "write to a temp name, then rename" is always safe.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};

use crate::error::{Error, Result};
use crate::pipeline::{Pipeline, Progress, RunReport};
use loglake_store::Location;

/// Knobs of `loglake watch`.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// A file not modified for this long is taken as complete even without a close event.
    pub settle: Duration,
    /// Full rescan interval (the only trigger for an S3 raw store).
    pub rescan: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            settle: Duration::from_millis(1000),
            rescan: Duration::from_secs(30),
        }
    }
}

/// Watches until the pipeline's stop flag is set, then releases this process's claims.
/// `on_pass` sees every pass that did something; returns the totals.
pub fn watch(
    pipeline: &Pipeline,
    opts: &WatchOptions,
    progress: &(dyn Fn(Progress<'_>) + Sync),
    on_pass: &dyn Fn(&RunReport),
) -> Result<RunReport> {
    let stop = pipeline.stop_flag();
    let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
    let raw_dir = match pipeline.raw_location() {
        Location::Local(dir) => Some(dir),
        Location::S3 { .. } => None,
    };
    let _watcher = match &raw_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
            let watch_err = |e: notify::Error| Error::Watch {
                path: dir.display().to_string(),
                message: e.to_string(),
            };
            let mut w = notify::recommended_watcher(tx).map_err(watch_err)?;
            w.watch(dir, RecursiveMode::Recursive).map_err(watch_err)?;
            Some(w)
        }
        None => None,
    };
    let mut totals = RunReport::default();
    let mut closed: HashSet<PathBuf> = HashSet::new();
    let mut dirty = true; // first pass at once
    let mut last_pass = Instant::now();
    let mut pending_until: Option<Instant> = None;
    let tick = (opts.settle / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
    while !stop.load(Ordering::Relaxed) {
        match rx.recv_timeout(tick) {
            Ok(Ok(event)) => {
                dirty |= note_event(&event, &mut closed);
                // Drain what else is queued, so a burst of events makes one pass.
                while let Ok(Ok(event)) = rx.try_recv() {
                    dirty |= note_event(&event, &mut closed);
                }
            }
            Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        let due = dirty
            || now.duration_since(last_pass) >= opts.rescan
            || pending_until.is_some_and(|t| now >= t);
        if !due {
            continue;
        }
        dirty = false;
        last_pass = now;
        pending_until = None;
        let objects = pipeline.list()?;
        let wall = SystemTime::now();
        let (ready, waiting): (Vec<_>, Vec<_>) = objects.into_iter().partition(|o| {
            let Some(path) = &o.path else { return true };
            if closed.contains(path) {
                return true;
            }
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| wall.duration_since(m).ok())
                .is_some_and(|age| age >= opts.settle)
        });
        if !waiting.is_empty() {
            pending_until = Some(now + opts.settle / 2);
        }
        for o in &ready {
            if let Some(p) = &o.path {
                closed.remove(p);
            }
        }
        let report = pipeline.run_objects(&ready, progress)?;
        if report.processed + report.failed > 0 || !report.reaped.is_empty() {
            on_pass(&report);
        }
        merge(&mut totals, &report);
    }
    pipeline.release_claims()?;
    Ok(totals)
}

/// Notes what an event says about a file's writer; returns whether it can make work (a file
/// written, closed or renamed into place). Opens, reads and metadata changes cannot: the
/// pass's own listing opens the folder, and counting that as work would make the watcher
/// list in a loop while a file settles.
fn note_event(event: &notify::Event, closed: &mut HashSet<PathBuf>) -> bool {
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write))
        | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => {
            closed.extend(event.paths.iter().cloned());
            true
        }
        EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any)
        | EventKind::Create(CreateKind::File | CreateKind::Any) => {
            for p in &event.paths {
                closed.remove(p);
            }
            true
        }
        _ => false,
    }
}

fn merge(t: &mut RunReport, r: &RunReport) {
    t.objects = r.objects;
    t.processed += r.processed;
    t.duplicates = r.duplicates;
    t.skipped += r.skipped;
    t.failed += r.failed;
    t.records_in += r.records_in;
    t.records_written += r.records_written;
    t.records_quarantined += r.records_quarantined;
    t.partitions_added += r.partitions_added;
    t.reaped.extend(r.reaped.iter().cloned());
}
