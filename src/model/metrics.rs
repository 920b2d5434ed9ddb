//! What a member's metrics port says: etcd's own `/metrics` listener
//! (`--listen-metrics-urls`, plain HTTP; the DC/OS 2.x package serves it on port 2381,
//! shared/reference/dcos-sources.md §2 item 9). A second way to hear from a member: when
//! its client port fails while its metrics port answers, naming the member the slot
//! holds and a leader, etcd runs in its cluster, and what fails is the controller's
//! client connection (its TLS files, its client URL), not the member.

use crate::domain::MemberId;

/// What one metrics port answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsAnswer {
    /// The member it speaks for (`etcd_server_id{server_id="…"}`, etcd 3.3.25 and
    /// later); `None` where the version does not say.
    pub member: Option<MemberId>,
    /// Whether the member follows a leader (`etcd_server_has_leader 1`).
    pub has_leader: bool,
    /// Its etcd version (`etcd_server_version{server_version="…"}`), where it says.
    pub version: Option<String>,
}

impl MetricsAnswer {
    /// Reads etcd's Prometheus text. Only the three series above are read; every other
    /// line is skipped.
    ///
    /// # Errors
    /// When the text has no `etcd_server_has_leader` series: it is not an etcd member's
    /// metrics.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut has_leader = None;
        let mut member = None;
        let mut version = None;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let label = |name: &str| {
                series
                    .split_once(&format!("{name}=\""))
                    .and_then(|(_, rest)| rest.split_once('"'))
                    .map(|(value, _)| value.to_owned())
            };
            if series == "etcd_server_has_leader" {
                has_leader = Some(value.trim() == "1");
            } else if series.starts_with("etcd_server_id{") && value.trim() == "1" {
                member = label("server_id").and_then(|id| id.parse().ok());
            } else if series.starts_with("etcd_server_version{") {
                version = label("server_version");
            }
        }
        let has_leader =
            has_leader.ok_or("no etcd_server_has_leader series: not the metrics of an etcd member")?;
        Ok(Self { member, has_leader, version })
    }

    /// Whether it vouches that `member` runs in a cluster with a leader: it names that
    /// member, and a leader. A port that names no member, or another, vouches for none.
    pub fn vouches_for(&self, member: MemberId) -> bool {
        self.has_leader && self.member == Some(member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// etcd 3.4.23's own text, cut to the lines around the three series.
    const ETCD_3_4: &str = "# HELP etcd_server_has_leader Whether or not a leader exists. 1 is existence, 0 is not.\n# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\n# HELP etcd_server_id Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.\n# TYPE etcd_server_id gauge\netcd_server_id{server_id=\"8ddab73534be950c\"} 1\netcd_server_is_leader 0\netcd_server_version{server_version=\"3.4.23\"} 1\n";

    #[test]
    fn the_member_its_leader_and_its_version_are_read() {
        let answer = MetricsAnswer::parse(ETCD_3_4).expect("etcd's metrics");
        let id = MemberId(0x8dda_b735_34be_950c);
        assert_eq!(
            answer,
            MetricsAnswer { member: Some(id), has_leader: true, version: Some("3.4.23".to_owned()) }
        );
        assert!(answer.vouches_for(id));
        assert!(!answer.vouches_for(MemberId(1)), "another member");
    }

    #[test]
    fn without_a_leader_or_a_member_id_it_vouches_for_no_one() {
        let leaderless =
            MetricsAnswer::parse(&ETCD_3_4.replace("etcd_server_has_leader 1", "etcd_server_has_leader 0"))
                .expect("etcd's metrics");
        assert!(!leaderless.has_leader);
        assert!(!leaderless.vouches_for(MemberId(0x8dda_b735_34be_950c)));
        let nameless = MetricsAnswer::parse("etcd_server_has_leader 1\n").expect("an older etcd");
        assert_eq!(nameless.member, None);
        assert!(!nameless.vouches_for(MemberId(0x8dda_b735_34be_950c)));
    }

    #[test]
    fn text_that_is_not_an_etcd_members_metrics_is_refused() {
        for text in ["", "<html>502 Bad Gateway</html>", "go_goroutines 12\n"] {
            let error = MetricsAnswer::parse(text).expect_err(text);
            assert!(error.contains("etcd_server_has_leader"), "{error}");
        }
    }
}
