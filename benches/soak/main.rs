//! Chaos soak (not a test): a local 3- or 5-member cluster under the daemon, a writer of
//! acknowledged unique keys, a prober of quorum each second, clients of a few registers
//! whose every operation is recorded, and one fault at a time drawn from a seeded
//! generator, each healed (with a deadline) before the next.
//!
//! At the end every acknowledged write must be on every member, HashKV equal on every
//! member, etcd's member list exactly the desired voters, and the registers' history
//! linearizable (`linearizability.rs`). Prints faults per kind,
//! heal times, time without quorum, writes acknowledged and lost, backups taken. A
//! failure prints the seed and the fault sequence, keeps the logs, and exits 1; the
//! same seed replays the same sequence.
//!
//! Run: `cargo bench --bench soak -- --members 3 --duration 20m --seed 42` (see
//! docs/benchmarks.md, "Chaos soak").

#[path = "../../tests/e2e/support/mod.rs"]
mod support;

mod args;
mod checks;
mod faults;
mod linearizability;
mod load;
mod report;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use args::Args;
use faults::{Fault, Rng};
use load::Load;
use report::Outcome;
use support::Harness;

const NAME: &str = "soak";

fn manifest(members: usize, backups: &std::path::Path) -> String {
    let recovery = "    agentLostAfter: 1s\n    unresponsiveAfter: 5s\n";
    format!(
        "{}  backup:\n    schedule: {{ every: 1m }}\n    destination: file://{}\n    retention: {{ keepLast: 1000 }}\n  policy:\n    quorumLoss: Restore\n    maxDataLoss: 1h\n",
        support::local_manifest(NAME, members, recovery),
        backups.display()
    )
}

struct Soak {
    args: Args,
    h: Harness,
    rt: tokio::runtime::Runtime,
    load: Arc<Load>,
    outcomes: Vec<Outcome>,
    current: Option<Fault>,
    backups_ok: usize,
    backups_failed: Vec<String>,
    backup_events: report::BackupEvents,
    started: Instant,
    /// When each fault was injected (the history's clock), and what it was.
    fault_times: Vec<(u64, String)>,
    /// The linearizability check's figures, once it ran.
    linearizability: Option<String>,
}

impl Soak {
    fn backups_dir(&self) -> PathBuf {
        self.h.dir.path().join("backups")
    }

    /// Polls until the cluster is healed (see `checks::not_healed`) or `deadline`.
    fn wait_healed(&self, after: jiff::Timestamp, deadline: Duration) -> Result<Instant, String> {
        let until = Instant::now() + deadline;
        let mut why = String::from("no status");
        loop {
            if let Some(status) = checks::status(&self.h, NAME) {
                if let Ok(mut voters) = self.load.voters.lock() {
                    *voters = checks::voter_endpoints(&status);
                }
                let endpoints = checks::endpoints_by_slot(&status);
                if endpoints.len() == self.args.members
                    && let Ok(mut shared) = self.load.endpoints.lock()
                {
                    *shared = endpoints;
                }
                match checks::not_healed(&self.rt, &status, self.args.members, after) {
                    None => return Ok(Instant::now()),
                    Some(reason) => why = reason,
                }
            }
            if Instant::now() >= until {
                return Err(format!("not healed within {deadline:?}: {why}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Injects faults until the duration (or `--faults`) is reached.
    fn faults(&mut self) -> Result<(), String> {
        let mut rng = Rng::new(self.args.seed);
        let mut number = 0;
        while self.started.elapsed() < self.args.duration && self.args.faults.is_none_or(|max| number < max) {
            number += 1;
            let fault = faults::draw(&mut rng, number, self.args.members, &self.args.only, self.args.pause);
            self.current = Some(fault.clone());
            let status = checks::status(&self.h, NAME).ok_or("no status before the fault")?;
            let dark_before = self.load.ms_without_quorum.load(Ordering::Relaxed);
            self.fault_times.push((self.load.epoch.now(), fault.to_string()));
            let injected = faults::inject(&mut self.h, NAME, &status, &fault)?;
            match injected.backup {
                Some(Ok(())) => self.backups_ok += 1,
                Some(Err(e)) => self.backups_failed.push(format!("{fault}: {e}")),
                None => {}
            }
            let healed = self.wait_healed(jiff::Timestamp::now(), self.args.heal_deadline);
            let healed_in = healed.as_ref().ok().map(|at| at.duration_since(injected.from));
            let dark = self.load.ms_without_quorum.load(Ordering::Relaxed) - dark_before;
            let without_quorum = Duration::from_millis(dark);
            let at = self.started.elapsed().as_secs();
            let shown =
                healed_in.map_or("NOT HEALED".to_owned(), |d| format!("healed in {:.2} s", d.as_secs_f64()));
            println!("[{:02}:{:02}] {fault}: {shown}, {dark} ms without quorum", at / 60, at % 60);
            if let Some(note) = &injected.note {
                println!("        note: {note}");
            }
            self.current = None;
            self.outcomes.push(Outcome {
                fault: fault.clone(),
                healed_in,
                without_quorum,
                note: injected.note,
            });
            self.gather_backup_events();
            healed.map_err(|e| format!("{fault}: {e}"))?;
            std::thread::sleep(fault.pause);
        }
        Ok(())
    }

    fn gather_backup_events(&mut self) {
        let events = support::http_get(&format!("{}/v1/clusters/{NAME}/events", self.h.server()));
        if let Some(events) = events.ok().and_then(|e| serde_json::from_str(&e).ok()) {
            self.backup_events.gather(&events);
        }
    }

    /// The final checks; returns what is wrong, if anything.
    fn verify(&mut self) -> Result<usize, String> {
        self.wait_healed(jiff::Timestamp::now(), self.args.heal_deadline)
            .map_err(|e| format!("at the end: {e}"))?;
        self.load.stop.store(true, Ordering::Relaxed);
        let status = checks::status(&self.h, NAME).ok_or("no status at the end")?;
        let endpoints = checks::endpoints_by_slot(&status);
        if let Some(wrong) = checks::wrong_member_list(&endpoints, self.args.members) {
            return Err(format!("at the end: {wrong}"));
        }
        self.gather_backup_events();
        let hashes = checks::hashes_equal(&endpoints, Duration::from_secs(60))?;
        println!("hashkv: {hashes:?}");
        // The writer has stopped once its in-flight put is answered (3 s at most).
        std::thread::sleep(Duration::from_secs(4));
        let acked = self.load.acked.lock().map(|a| a.clone()).unwrap_or_default();
        let mut lost = std::collections::BTreeSet::new();
        for endpoint in &endpoints {
            let missing = checks::missing_on(&self.rt, endpoint, &acked, Duration::from_secs(60))?;
            if !missing.is_empty() {
                println!(
                    "{endpoint}: {} acknowledged writes missing, first {:?}",
                    missing.len(),
                    &missing[..missing.len().min(10)]
                );
            }
            lost.extend(missing);
        }
        self.check_linearizable()?;
        Ok(lost.len())
    }

    /// Checks the registers' history; an anomaly prints its smallest failing
    /// sub-history and the fault injected last before it.
    fn check_linearizable(&mut self) -> Result<(), String> {
        let history = self.load.history.lock().map(|h| h.clone()).unwrap_or_default();
        let started = Instant::now();
        let anomalies = linearizability::check(&history);
        let writes = history.iter().filter(|o| matches!(o.op, linearizability::Op::Write(_))).count();
        let unknown = history.iter().filter(|o| o.returned.is_none()).count();
        let figures = format!(
            "{} register operations on {} keys ({} puts, {unknown} of them with an unknown outcome; {} linearizable gets) checked in {:.2} s: {} anomalies",
            history.len(),
            load::REGISTERS,
            writes,
            history.len() - writes,
            started.elapsed().as_secs_f64(),
            anomalies.len()
        );
        println!("linearizability: {figures}");
        self.linearizability = Some(figures);
        for anomaly in &anomalies {
            let fault = self.fault_times.iter().rev().find(|(at, _)| *at <= anomaly.at);
            let ms = |ns: u64| ns as f64 / 1e6;
            println!(
                "\nanomaly on {} at {:.1} ms; the fault before it: {}",
                anomaly.key,
                ms(anomaly.at),
                fault.map_or("none".to_owned(), |(at, f)| format!("{f} at {:.1} ms", ms(*at)))
            );
            for op in &anomaly.history {
                let returned = op.returned.map_or("unknown".to_owned(), |r| format!("{:.1} ms", ms(r)));
                println!(
                    "  client {} {:?} invoked {:.1} ms, returned {returned}, through {}",
                    op.client,
                    op.op,
                    ms(op.invoked),
                    op.endpoint
                );
            }
        }
        if anomalies.is_empty() {
            Ok(())
        } else {
            Err(format!("{} keys with a history that is not linearizable", anomalies.len()))
        }
    }

    /// The figures; `lost` is `None` when the run failed before the writes were read back.
    fn print_figures(&self, lost: Option<usize>) {
        let load = &self.load;
        let acked = load.acked.lock().map(|a| a.len()).unwrap_or_default();
        let lost = lost.map_or("not checked".to_owned(), |n| n.to_string());
        let scheduled = std::fs::read_dir(self.backups_dir().join(NAME))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "db"))
            .count();
        println!("\n{}", report::faults_table(&self.outcomes));
        println!(
            "run: {:.1} min with the final checks, {} faults",
            self.started.elapsed().as_secs_f64() / 60.0,
            self.outcomes.len()
        );
        println!(
            "without quorum: {:.1} s ({} of {} probe rounds had no member serving a linearizable read)",
            load.ms_without_quorum.load(Ordering::Relaxed) as f64 / 1000.0,
            load.rounds_without_quorum.load(Ordering::Relaxed),
            load.rounds.load(Ordering::Relaxed)
        );
        println!(
            "writes: {acked} acknowledged, {} not acknowledged, {lost} lost; longest gap between acknowledged writes {:.2} s",
            load.failed.load(Ordering::Relaxed),
            load.longest_write_gap_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        println!(
            "backups: {scheduled} snapshots at the destination; `etcd-warden backup` while a member was down: {} taken, {} failed",
            self.backups_ok,
            self.backups_failed.len()
        );
        println!(
            "linearizability: {}",
            self.linearizability.as_deref().unwrap_or("not checked (the run failed before the end)")
        );
        println!("backup events: {}", self.backup_events.summary());
        for failed in self.backup_events.failures() {
            println!("  {failed}");
        }
        for failed in &self.backups_failed {
            println!("  backup failed: {failed}");
        }
    }

    /// Prints the seed, the sequence and `reason`, keeps the logs, kills everything, exits 1.
    fn fail(mut self, reason: &str) -> ! {
        println!("\nSOAK FAILED: {reason}");
        println!(
            "seed {}; fault sequence so far:\n{}",
            self.args.seed,
            report::sequence(&self.outcomes, self.current.as_ref())
        );
        println!(
            "replay: cargo bench --bench soak -- {}",
            self.args.replay(self.outcomes.len() + usize::from(self.current.is_some()))
        );
        self.load.stop.store(true, Ordering::Relaxed);
        self.h.kill_daemon();
        support::kill_processes_under(self.h.dir.path());
        let unix = jiff::Timestamp::now().as_second();
        let kept = PathBuf::from(format!("/tmp/soak-fail-{}-{unix}", self.args.seed));
        let copied = std::process::Command::new("cp").arg("-a").arg(self.h.dir.path()).arg(&kept).status();
        match copied {
            Ok(s) if s.success() => println!("logs, state and data kept in {}", kept.display()),
            _ => println!("could not keep the logs in {}", kept.display()),
        }
        drop(self);
        std::process::exit(1)
    }
}

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("soak: {e}\n{}", args::USAGE);
            std::process::exit(2);
        }
    };
    println!("soak: {}", args.replay(0));
    let h = Harness::start();
    let backups = h.dir.path().join("backups");
    h.apply("soak.yaml", &manifest(args.members, &backups));
    let healthy = h.wait_healthy(NAME, args.members, Duration::from_secs(120));
    let load = Arc::new(Load::default());
    if let (Ok(mut endpoints), Ok(mut voters)) = (load.endpoints.lock(), load.voters.lock()) {
        *endpoints = checks::endpoints_by_slot(&healthy);
        *voters = checks::voter_endpoints(&healthy);
    }
    let background =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    background.spawn(load::writer(load.clone(), args.write_rate));
    background.spawn(load::prober(load.clone()));
    for client in 0..4 {
        background.spawn(load::register_client(load.clone(), client, args.seed, Duration::from_millis(100)));
    }
    let mut soak = Soak {
        args,
        h,
        rt: checks::runtime(),
        load,
        outcomes: Vec::new(),
        current: None,
        backups_ok: 0,
        backups_failed: Vec::new(),
        backup_events: report::BackupEvents::default(),
        started: Instant::now(),
        fault_times: Vec::new(),
        linearizability: None,
    };
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| soak.faults().and_then(|()| soak.verify())));
    background.shutdown_timeout(Duration::from_secs(5));
    match run {
        Ok(Ok(0)) => {
            soak.print_figures(Some(0));
            println!("\nsoak passed: seed {}", soak.args.seed);
        }
        Ok(Ok(lost)) => {
            soak.print_figures(Some(lost));
            soak.fail(&format!("{lost} acknowledged writes lost"));
        }
        Ok(Err(reason)) => {
            soak.print_figures(None);
            soak.fail(&reason);
        }
        Err(_) => soak.fail("a panic (above)"),
    }
}
