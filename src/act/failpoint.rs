//! The crash-test hook: a process that kills itself right after a named step, as if
//! the machine died right then, so that tests prove a restarted controller converges
//! from any point. Built only with the cargo feature `failpoints`, which the tests
//! enable (Cargo.toml's dev-dependency on this crate); the release binary has none,
//! which `.ci/run` checks.

/// The environment variable of the hook: the name of a step (or a point inside one,
/// such as `RestoreSourceChosen`) after which the process kills itself with SIGKILL.
pub const FAILPOINT_ENV: &str = "ETCD_WARDEN_FAILPOINT_AFTER";

/// Kills this process if the hook names `step`.
#[cfg(feature = "failpoints")]
pub(crate) fn failpoint(step: &str) {
    if std::env::var(FAILPOINT_ENV).is_ok_and(|v| v == step) {
        tracing::warn!(step, "failpoint reached: killing this process");
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

/// Without the feature: nothing.
#[cfg(not(feature = "failpoints"))]
#[inline]
pub(crate) fn failpoint(_step: &str) {}
