//! The fuzz loop shared by every target: a seeded RNG, cases, the checks a target's
//! verdict must pass, panics caught, findings shrunk to a minimal input.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A small, fast, seeded RNG (SplitMix64): the same seed gives the same cases.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of case `index` of a run seeded with `seed`: a case replays alone.
pub fn case_seed(seed: u64, index: u64) -> u64 {
    mix(seed ^ mix(index.wrapping_add(1)))
}

/// One input: `label` holds what is not shrunk (which parser, the request line),
/// `data` the bytes that are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub label: String,
    pub data: Vec<u8>,
}

/// What a target says about one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The input was taken.
    Accepted,
    /// The input was refused with this one error (already checked by the target).
    Rejected(String),
    /// The input was not sent (it would act on the world); counted apart.
    Skipped,
    /// An invariant broke.
    Finding(String),
}

/// A fuzz target: makes cases from a seed, and judges what the product does with them.
pub trait Target {
    fn name(&self) -> &'static str;
    fn generate(&mut self, rng: &mut Rng) -> Case;
    fn check(&mut self, case: &Case) -> Verdict;
}

/// How long a single case may take before it counts as a finding (a hang).
pub const SLOW_CASE: Duration = Duration::from_secs(5);

/// A broken invariant, with the input shrunk as far as it still breaks.
#[derive(Debug, Clone)]
pub struct Found {
    pub case_seed: u64,
    pub message: String,
    pub minimal: Case,
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct Report {
    pub cases: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub skipped: u64,
    /// Each distinct rejection (digits and quoted text blurred), with how often.
    pub errors: BTreeMap<String, u64>,
    pub found: Option<Found>,
}

static PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Panics are caught per case; the hook keeps their message and place quiet.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        *PANIC.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(format!("{payload}{place}"));
    }));
}

/// Runs one case, turning a panic or a hang into a finding.
pub fn judge(target: &mut dyn Target, case: &Case) -> Verdict {
    let start = Instant::now();
    let verdict = catch_unwind(AssertUnwindSafe(|| target.check(case))).unwrap_or_else(|_| {
        let message = PANIC.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        Verdict::Finding(format!("panic: {}", message.unwrap_or_default()))
    });
    match verdict {
        Verdict::Rejected(m) if m.trim().is_empty() => {
            Verdict::Finding("a rejection with an empty message".into())
        }
        v if start.elapsed() > SLOW_CASE => Verdict::Finding(format!(
            "one case took {:?} (over {SLOW_CASE:?}); verdict {v:?}",
            start.elapsed()
        )),
        v => v,
    }
}

/// Blurs what varies between instances of one error: digits and quoted text.
pub fn error_class(message: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in message.chars().take(160) {
        match c {
            '"' | '`' => {
                quoted = !quoted;
                out.push('"');
            }
            _ if quoted => {}
            c if c.is_ascii_digit() => {
                if !out.ends_with('#') {
                    out.push('#');
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Called about every 10 s with the report so far and the time spent.
pub type Progress = Box<dyn FnMut(&Report, Duration)>;

/// Settings of one run.
pub struct Run {
    pub seed: u64,
    pub duration: Duration,
    /// Stop after this many cases (whichever comes first).
    pub max_cases: u64,
    /// Called before each case with its seed (the crash supervisor writes it down).
    pub before_case: Option<Box<dyn FnMut(u64)>>,
    /// Called about every 10 s with the report so far.
    pub progress: Option<Progress>,
}

/// Runs cases until the time or the case count is used up, or a finding (shrunk).
pub fn run(target: &mut dyn Target, mut settings: Run) -> Report {
    quiet_panics();
    let start = Instant::now();
    let mut last_progress = start;
    let mut report = Report::default();
    while report.cases < settings.max_cases && start.elapsed() < settings.duration {
        let seed = case_seed(settings.seed, report.cases);
        if let Some(before) = settings.before_case.as_mut() {
            before(seed);
        }
        let case = target.generate(&mut Rng::new(seed));
        report.cases += 1;
        match judge(target, &case) {
            Verdict::Accepted => report.accepted += 1,
            Verdict::Skipped => report.skipped += 1,
            Verdict::Rejected(message) => {
                report.rejected += 1;
                *report.errors.entry(error_class(&message)).or_default() += 1;
            }
            Verdict::Finding(message) => {
                let minimal = shrink(target, &case);
                report.found = Some(Found { case_seed: seed, message, minimal });
                break;
            }
        }
        if last_progress.elapsed() > Duration::from_secs(10) {
            last_progress = Instant::now();
            if let Some(progress) = settings.progress.as_mut() {
                progress(&report, start.elapsed());
            }
        }
    }
    report
}

/// The case `case_seed` of `target`, generated again.
pub fn regenerate(target: &mut dyn Target, case_seed: u64) -> Case {
    target.generate(&mut Rng::new(case_seed))
}

/// Removes chunks of the data (halves, then smaller) while the case still fails.
pub fn shrink(target: &mut dyn Target, case: &Case) -> Case {
    // The same finding, not another one that a cut input happens to cause.
    let class = match judge(target, case) {
        Verdict::Finding(m) => error_class(&m),
        _ => return case.clone(),
    };
    let fails = |target: &mut dyn Target, c: &Case| matches!(judge(target, c), Verdict::Finding(m) if error_class(&m) == class);
    let mut best = case.clone();
    let mut chunk = best.data.len() / 2;
    let deadline = Instant::now() + Duration::from_secs(60);
    while chunk > 0 && Instant::now() < deadline {
        let mut at = 0;
        let mut progressed = false;
        while at < best.data.len() && Instant::now() < deadline {
            let end = (at + chunk).min(best.data.len());
            let mut candidate = best.clone();
            candidate.data.drain(at..end);
            if fails(target, &candidate) {
                best = candidate;
                progressed = true;
            } else {
                at += chunk;
            }
        }
        if !progressed {
            chunk /= 2;
        }
    }
    best
}

/// An input for a person: text when it is mostly text, escaped, cut at `max` chars.
pub fn show(data: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(data);
    let escaped: String = text.chars().flat_map(char::escape_debug).take(max).collect();
    if escaped.len() < text.len() { format!("{escaped}... ({} bytes)", data.len()) } else { escaped }
}
