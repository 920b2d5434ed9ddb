//! The soak's command line.

use std::time::Duration;

use crate::faults::Kind;

pub const USAGE: &str = "usage: cargo bench --bench soak -- [--members 3|5] [--duration 20m] [--seed N] \
[--faults N] [--pause 1s..5s] [--heal-deadline 180s] [--write-rate 20] \
[--only kill,stop,wipe,wal,controller,midreplace,backup,quorum]";

/// The run's parameters; the seed and these give the same fault sequence again.
pub struct Args {
    pub members: usize,
    pub duration: Duration,
    pub seed: u64,
    /// Stop after this many faults (a replay up to a failing one).
    pub faults: Option<usize>,
    /// The pause after a heal, drawn in this range.
    pub pause: (Duration, Duration),
    pub heal_deadline: Duration,
    /// Writes a second at most.
    pub write_rate: u32,
    /// Only these kinds of fault (all when empty).
    pub only: Vec<Kind>,
    only_text: Option<String>,
}

const KIND_NAMES: [(&str, Kind); 8] = [
    ("kill", Kind::KillMember),
    ("stop", Kind::StopMember),
    ("wipe", Kind::KillWipeData),
    ("wal", Kind::KillDeleteWal),
    ("controller", Kind::KillController),
    ("midreplace", Kind::KillControllerMidReplacement),
    ("backup", Kind::BackupWhileMemberDown),
    ("quorum", Kind::LoseQuorum),
];

fn duration(flag: &str, text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{flag} {text:?}: {e} (a duration such as 90s or 20m)"))
}

impl Args {
    pub fn parse(mut words: impl Iterator<Item = String>) -> Result<Self, String> {
        let seed = jiff::Timestamp::now().as_nanosecond() as u64;
        let mut args = Self {
            members: 3,
            duration: Duration::from_secs(180),
            seed,
            faults: None,
            pause: (Duration::from_secs(1), Duration::from_secs(5)),
            heal_deadline: Duration::from_secs(180),
            write_rate: 20,
            only: Vec::new(),
            only_text: None,
        };
        while let Some(flag) = words.next() {
            // `cargo bench` passes `--bench` to every benchmark binary.
            if flag == "--bench" {
                continue;
            }
            let value = words.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number =
                |what: &str| value.parse::<u64>().map_err(|_| format!("{flag} {value:?}: not {what}"));
            match flag.as_str() {
                "--members" => {
                    args.members = number("a number")? as usize;
                    if !(3..=7).contains(&args.members) || args.members.is_multiple_of(2) {
                        return Err(format!("--members {value}: 3, 5 or 7 are allowed"));
                    }
                }
                "--duration" => args.duration = duration(&flag, &value)?,
                "--seed" => args.seed = number("a number")?,
                "--faults" => args.faults = Some(number("a number")? as usize),
                "--heal-deadline" => args.heal_deadline = duration(&flag, &value)?,
                "--write-rate" => args.write_rate = number("a number")?.clamp(1, 10_000) as u32,
                "--pause" => {
                    let (low, high) =
                        value.split_once("..").ok_or(format!("--pause {value:?}: LOW..HIGH, e.g. 1s..5s"))?;
                    args.pause = (duration(&flag, low)?, duration(&flag, high)?);
                    if args.pause.0 > args.pause.1 {
                        return Err(format!("--pause {value:?}: LOW above HIGH"));
                    }
                }
                "--only" => {
                    for name in value.split(',') {
                        let kind = KIND_NAMES.iter().find(|(n, _)| *n == name).map(|(_, k)| *k);
                        args.only.push(kind.ok_or_else(|| format!("--only {name:?}: one of {USAGE}"))?);
                    }
                    args.only_text = Some(value);
                }
                _ => return Err(format!("unknown flag {flag:?}")),
            }
        }
        Ok(args)
    }

    /// The arguments that draw the same sequence; `faults` > 0 stops after that fault.
    pub fn replay(&self, faults: usize) -> String {
        let mut out = format!(
            "--members {} --duration {} --seed {} --pause {}..{} --heal-deadline {} --write-rate {}",
            self.members,
            humantime::format_duration(self.duration),
            self.seed,
            humantime::format_duration(self.pause.0),
            humantime::format_duration(self.pause.1),
            humantime::format_duration(self.heal_deadline),
            self.write_rate
        );
        if let Some(only) = &self.only_text {
            out += &format!(" --only {only}");
        }
        match (faults, self.faults) {
            (0, Some(max)) => out += &format!(" --faults {max}"),
            (0, None) => {}
            (n, _) => out += &format!(" --faults {n}"),
        }
        out
    }
}
