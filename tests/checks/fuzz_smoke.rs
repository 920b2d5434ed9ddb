//! A few seconds of each fuzz target with a fixed seed, so that the targets keep
//! compiling and working; the long runs are `cargo bench --bench fuzz` (docs/fuzzing.md).

#[path = "../../benches/fuzz/mod.rs"]
mod fuzz;

use std::time::Duration;

use fuzz::engine::{Run, run};

const SEED: u64 = 11;

fn smoke(name: &str, cases: u64) {
    let mut target = fuzz::target(name).expect("a known target");
    let settings = Run {
        seed: SEED,
        duration: Duration::from_secs(4),
        max_cases: cases,
        before_case: None,
        progress: None,
    };
    let report = run(target.as_mut(), settings);
    if let Some(found) = &report.found {
        panic!(
            "{name}: {} (case seed {:#x}, input {:?})",
            found.message,
            found.case_seed,
            fuzz::engine::show(&found.minimal.data, 2000)
        );
    }
    assert!(report.cases >= 20, "{name}: only {} cases ran", report.cases);
    assert!(report.rejected > 0, "{name}: nothing was refused, so the cases do not reach the checks");
    assert!(report.accepted > 0, "{name}: nothing was accepted, so the mutations are too coarse");
}

#[test]
fn the_manifest_target_finds_nothing() {
    smoke("manifest", 3000);
}

#[test]
fn the_api_target_finds_nothing() {
    smoke("api", 1500);
}

#[test]
fn the_backup_target_finds_nothing() {
    smoke("backup", 3000);
}

#[test]
fn the_dcos_target_finds_nothing() {
    smoke("dcos", 3000);
}

#[test]
fn the_same_seed_gives_the_same_cases() {
    for name in fuzz::TARGETS {
        let mut target = fuzz::target(name).expect("a known target");
        let seed = fuzz::engine::case_seed(SEED, 7);
        let first = fuzz::engine::regenerate(target.as_mut(), seed);
        assert_eq!(first, fuzz::engine::regenerate(target.as_mut(), seed), "{name}");
    }
}
