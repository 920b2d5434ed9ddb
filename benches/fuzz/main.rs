//! Fuzzing on stable Rust (not a test): seeded, structure-aware cases against one
//! target for a time budget. See docs/fuzzing.md.
//!
//! ```text
//! cargo bench --bench fuzz -- --target manifest --duration 10m [--seed N]
//! cargo bench --bench fuzz -- --target api --replay 0x1234abcd   # one case again
//! ```
//!
//! Targets: `manifest`, `api`, `backup`, `dcos`. The run happens in a child process
//! that notes each case's seed before running it, so that a crash no Rust code can
//! catch (a stack overflow, an abort) or a hang is still reported with the case.

#[path = "mod.rs"]
mod fuzz;

use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use fuzz::engine::{self, Report, Run, Verdict};

/// A case that has not finished after this long is a hang.
const HANG: Duration = Duration::from_secs(60);
/// The stack of the thread that runs the cases: a tokio worker's (2 MiB).
const STACK: usize = 2 << 20;

struct Args {
    target: String,
    duration: Duration,
    seed: u64,
    max_cases: u64,
    replay: Option<u64>,
    child: Option<PathBuf>,
}

fn parse_number(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("{text:?} is not a number: {e}"))
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        target: String::new(),
        duration: Duration::from_secs(60),
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        max_cases: u64::MAX,
        replay: None,
        child: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--target" => args.target = value()?,
            "--duration" => {
                args.duration =
                    humantime::parse_duration(&value()?).map_err(|e| format!("--duration: {e}"))?
            }
            "--seed" => args.seed = parse_number(&value()?)?,
            "--cases" => args.max_cases = parse_number(&value()?)?,
            "--replay" => args.replay = Some(parse_number(&value()?)?),
            "--child" => args.child = Some(PathBuf::from(value()?)),
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if fuzz::target(&args.target).is_none() {
        return Err(format!(
            "--target {:?} is not known (allowed: {})",
            args.target,
            fuzz::TARGETS.join(", ")
        ));
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!(
                "fuzz: {e}\nusage: cargo bench --bench fuzz -- --target manifest|api|backup|dcos [--duration 10m] [--seed N] [--cases N] [--replay CASE_SEED]"
            );
            return ExitCode::from(2);
        }
    };
    if let Some(case_seed) = args.replay {
        return replay(&args.target, case_seed);
    }
    match args.child.clone() {
        Some(progress) => in_thread(move || child(&args, progress)),
        None => supervise(&args),
    }
}

fn in_thread(work: impl FnOnce() -> ExitCode + Send + 'static) -> ExitCode {
    let handle = std::thread::Builder::new().stack_size(STACK).spawn(work);
    handle.ok().and_then(|h| h.join().ok()).unwrap_or(ExitCode::FAILURE)
}

fn replay(name: &str, case_seed: u64) -> ExitCode {
    let name = name.to_owned();
    in_thread(move || {
        engine::quiet_panics();
        let Some(mut target) = fuzz::target(&name) else { return ExitCode::from(2) };
        let case = engine::regenerate(target.as_mut(), case_seed);
        println!("case {case_seed:#x} ({}): {}", case.label, engine::show(&case.data, 4000));
        let verdict = engine::judge(target.as_mut(), &case);
        println!("verdict: {verdict:?}");
        if matches!(verdict, Verdict::Finding(_)) { ExitCode::FAILURE } else { ExitCode::SUCCESS }
    })
}

fn child(args: &Args, progress: PathBuf) -> ExitCode {
    let Some(mut target) = fuzz::target(&args.target) else { return ExitCode::from(2) };
    let file = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(&progress);
    let Ok(file) = file else { return ExitCode::from(3) };
    let settings = Run {
        seed: args.seed,
        duration: args.duration,
        max_cases: args.max_cases,
        before_case: Some(Box::new(move |seed| {
            let _ = file.write_all_at(&seed.to_le_bytes(), 0);
        })),
        progress: Some(Box::new(|report: &Report, elapsed| {
            println!(
                "  {:>4}s: {} cases ({} accepted, {} rejected, {} not sent), {} distinct errors",
                elapsed.as_secs(),
                report.cases,
                report.accepted,
                report.rejected,
                report.skipped,
                report.errors.len()
            );
            let _ = std::io::stdout().flush();
        })),
    };
    let start = Instant::now();
    let report = engine::run(target.as_mut(), settings);
    print_report(&args.target, args.seed, &report, start.elapsed());
    if report.found.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn print_report(target: &str, seed: u64, report: &Report, elapsed: Duration) {
    println!(
        "target {target}, seed {seed}: {} cases in {:.1}s ({:.0}/s): {} accepted, {} rejected, {} not sent; {} distinct errors",
        report.cases,
        elapsed.as_secs_f64(),
        report.cases as f64 / elapsed.as_secs_f64().max(1e-9),
        report.accepted,
        report.rejected,
        report.skipped,
        report.errors.len()
    );
    let mut common: Vec<_> = report.errors.iter().collect();
    common.sort_by(|a, b| b.1.cmp(a.1));
    for (class, count) in common.iter().take(12) {
        println!("  {count:>8} x {class}");
    }
    match &report.found {
        None => println!("no finding"),
        Some(found) => {
            let file = save_input(target, found.case_seed, &found.minimal.data);
            println!("FINDING: {}", found.message);
            println!(
                "  case seed {:#x} ({}); minimal input ({} bytes, saved to {file}):",
                found.case_seed,
                found.minimal.label,
                found.minimal.data.len()
            );
            println!("  {}", engine::show(&found.minimal.data, 2000));
            println!(
                "  replay: cargo bench --bench fuzz -- --target {target} --replay {:#x}",
                found.case_seed
            );
        }
    }
}

fn save_input(target: &str, case_seed: u64, data: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("fuzz-finding-{target}-{case_seed:x}.bin"));
    match std::fs::write(&path, data) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(not saved: {e})"),
    }
}

/// Runs the cases in a child process and watches it: a crash or a hang is reported
/// with the seed of the case it happened in.
fn supervise(args: &Args) -> ExitCode {
    let progress = std::env::temp_dir().join(format!("fuzz-progress-{}-{}", args.target, std::process::id()));
    let _ = std::fs::write(&progress, 0u64.to_le_bytes());
    let Ok(exe) = std::env::current_exe() else { return ExitCode::FAILURE };
    let mut command = Command::new(exe);
    command.args(["--target", &args.target, "--seed", &args.seed.to_string()]);
    command.args(["--duration", &format!("{}ms", args.duration.as_millis())]);
    command.args(["--cases", &args.max_cases.to_string()]).arg("--child").arg(&progress);
    println!("fuzz target {} for {:?}, seed {}", args.target, args.duration, args.seed);
    let _ = std::io::stdout().flush();
    let Ok(mut child) = command.spawn() else { return ExitCode::FAILURE };
    let read_seed = || std::fs::read(&progress).ok().and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let (mut last, mut since) = (read_seed(), Instant::now());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(_) => break None,
        }
        std::thread::sleep(Duration::from_millis(200));
        let now = read_seed();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            report_crash(&args.target, last, &format!("a case did not finish in {HANG:?} (hang)"));
            let _ = std::fs::remove_file(&progress);
            return ExitCode::FAILURE;
        }
    };
    let _ = std::fs::remove_file(&progress);
    match status {
        Some(status) if status.success() => ExitCode::SUCCESS,
        Some(status) if status.signal().is_some() => {
            report_crash(
                &args.target,
                last,
                &format!("the process died of signal {:?} (a stack overflow or an abort)", status.signal()),
            );
            ExitCode::FAILURE
        }
        _ => ExitCode::FAILURE,
    }
}

fn report_crash(target: &str, case_seed: Option<u64>, what: &str) {
    println!("FINDING: {what}");
    let Some(case_seed) = case_seed else { return };
    if let Some(mut t) = fuzz::target(target) {
        let case = engine::regenerate(t.as_mut(), case_seed);
        let file = save_input(target, case_seed, &case.data);
        println!(
            "  case seed {case_seed:#x} ({}); input ({} bytes, saved to {file}):",
            case.label,
            case.data.len()
        );
        println!("  {}", engine::show(&case.data, 2000));
    }
    println!("  replay: cargo bench --bench fuzz -- --target {target} --replay {case_seed:#x}");
}
