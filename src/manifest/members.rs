//! The member count: `spec.members` and `spec.highAvailability`, as validated into a
//! [`MemberCount`] (1, 3 or 5: an even count tolerates no more failures than the odd
//! count below it), and its quorum.

use crate::domain::PodName;
use crate::manifest::check::Checker;

/// The allowed member counts: an even count tolerates no more failures than the odd
/// count below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberCount {
    /// A single member (`highAvailability: false`).
    One,
    /// Three members (`highAvailability: true`).
    Three,
    /// Five members.
    Five,
}

impl MemberCount {
    /// The count as a number.
    pub fn get(self) -> usize {
        match self {
            Self::One => 1,
            Self::Three => 3,
            Self::Five => 5,
        }
    }

    /// The pods of a cluster of this size, in order.
    pub fn pods(self) -> impl Iterator<Item = PodName> {
        PodName::first(self.get())
    }

    /// How many healthy voting members a quorum needs.
    pub fn quorum(self) -> usize {
        self.get() / 2 + 1
    }
}

impl Checker {
    /// `spec.members` and `spec.highAvailability`, which must agree.
    pub(super) fn members(
        &mut self,
        high_availability: Option<bool>,
        members: Option<u32>,
    ) -> Option<MemberCount> {
        let count = match members {
            None => None,
            Some(1) => Some(MemberCount::One),
            Some(3) => Some(MemberCount::Three),
            Some(5) => Some(MemberCount::Five),
            Some(other) => {
                let why = match other {
                    0 => "a cluster needs at least one member",
                    n if n % 2 == 0 && n < 6 => {
                        "an even member count tolerates no more failures than the odd count below it"
                    }
                    _ => "etcd-warden manages at most 5 members",
                };
                self.fail("spec.members", format!("{other} is not allowed (1, 3 or 5: {why})"));
                return None;
            }
        };
        match (high_availability, count) {
            (None | Some(false), None) => Some(MemberCount::One),
            (Some(true), None) => Some(MemberCount::Three),
            (None, Some(count)) => Some(count),
            (Some(false), Some(MemberCount::One)) => Some(MemberCount::One),
            (Some(true), Some(count @ (MemberCount::Three | MemberCount::Five))) => Some(count),
            (Some(false), Some(count)) => {
                self.fail(
                    "spec.members",
                    format!(
                        "{} contradicts highAvailability: false (allowed with highAvailability false: 1; set highAvailability: true for 3 or 5 members)",
                        count.get()
                    ),
                );
                None
            }
            (Some(true), Some(count)) => {
                self.fail(
                    "spec.members",
                    format!(
                        "{} contradicts highAvailability: true (allowed with highAvailability true: 3 or 5; set highAvailability: false for a single member)",
                        count.get()
                    ),
                );
                None
            }
        }
    }
}
