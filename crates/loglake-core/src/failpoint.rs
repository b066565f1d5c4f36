//! Crash points for the tests that kill a process at every step of a protocol.
//!
//! `LOGLAKE_FAILPOINT=<name>` makes the process abort (SIGABRT: no destructors, no flushing,
//! like `kill -9`) when it reaches the point of that name. Unset, a point costs one
//! environment lookup per call, made only at protocol steps (per partition, not per row).

/// Aborts the process if `LOGLAKE_FAILPOINT` names this point.
pub fn hit(name: &str) {
    if std::env::var_os("LOGLAKE_FAILPOINT").is_some_and(|v| v == name) {
        eprintln!("failpoint `{name}`: aborting");
        std::process::abort();
    }
}
