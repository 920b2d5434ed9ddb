//! The local platform against real etcd processes: launch, observe, adopt, restart in
//! place, lost agents, wipes.

use crate::support;
use std::time::Duration;

use crate::support::Sandbox;
use etcd_warden::domain::PodName;
use etcd_warden::etcd::EtcdAdmin;
use etcd_warden::manifest::{LocalSpec, PortsSpec};
use etcd_warden::model::platform::{AgentState, DataState, TaskState};
use etcd_warden::platform::local::LocalPlatform;
use etcd_warden::platform::local::ports::AUTO_PORTS;
use etcd_warden::platform::{InitialClusterState, LaunchSpec, Platform, PlatformError};

const DEADLINE: Duration = Duration::from_secs(30);

fn spec() -> LocalSpec {
    LocalSpec {
        etcd_binary: support::etcd_binary().into(),
        host: "127.0.0.1".into(),
        ports: PortsSpec::Auto,
        tls: None,
    }
}

async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn launch(platform: &LocalPlatform, pods: &[PodName], token: &str) {
    let mut initial = Vec::new();
    for pod in pods {
        initial.push((*pod, platform.member_urls(*pod).await.expect("urls").peer));
    }
    let spec =
        LaunchSpec { initial_cluster: initial, state: InitialClusterState::New { token: token.into() } };
    for pod in pods {
        platform.ensure_running(*pod, &spec).await.expect("launch");
    }
}

async fn healthy_id(platform: &LocalPlatform, admin: &EtcdAdmin, pod: PodName) -> u64 {
    let url = platform.member_urls(pod).await.expect("urls").client;
    eventually("a healthy member", || async {
        admin.status(&url).await.ok().filter(|s| s.is_healthy()).map(|s| s.id.0)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_is_launched_adopted_restarted_in_place_and_wiped() {
    let sandbox = Sandbox::new();
    let root = sandbox.dir.path().join("platform");
    let platform = LocalPlatform::new(root.clone(), spec());
    let admin = EtcdAdmin::new();
    let pod = PodName::new(0).expect("pod");
    let ports = platform.ports(pod).await.expect("ports");
    launch(&platform, &[pod], "t1").await;
    let id = healthy_id(&platform, &admin, pod).await;
    let seen = platform.observe().await.expect("observe");
    let task = seen.task(pod).expect("task");
    assert_eq!((task.task, task.agent), (TaskState::Running, AgentState::Healthy));
    let pid = task.pid.expect("pid");

    // A new platform over the same directory (a restarted controller) adopts it.
    let adopted = LocalPlatform::new(root.clone(), spec());
    assert_eq!(adopted.ports(pod).await.expect("ports"), ports, "ports are kept");
    let again = adopted.observe().await.expect("observe");
    assert_eq!(again.task(pod).and_then(|t| t.pid), Some(pid), "same process adopted");
    launch(&adopted, &[pod], "t1").await;
    assert_eq!(
        adopted.observe().await.expect("observe").task(pod).and_then(|t| t.pid),
        Some(pid),
        "no second process"
    );

    // kill -9: a crashed task on a healthy agent; a restart keeps the member ID.
    support::signal(u64::from(pid), rustix::process::Signal::KILL);
    let crashed = eventually("the task to be seen exited", || async {
        adopted
            .observe()
            .await
            .ok()
            .and_then(|o| o.task(pod).cloned())
            .filter(|t| t.task == TaskState::Exited)
    })
    .await;
    assert_eq!(crashed.agent, AgentState::Healthy);
    launch(&adopted, &[pod], "ignored-with-data").await;
    assert_eq!(healthy_id(&adopted, &admin, pod).await, id, "restarted in place with the same member ID");
    assert!(!adopted.log_tail(pod, 5).await.expect("log").is_empty(), "the member logs to its file");

    // SIGSTOP: suspended; ensure_running resumes it.
    let pid = adopted.observe().await.expect("observe").task(pod).and_then(|t| t.pid).expect("pid");
    support::signal(u64::from(pid), rustix::process::Signal::STOP);
    eventually("the task to be seen suspended", || async {
        adopted
            .observe()
            .await
            .ok()
            .and_then(|o| o.task(pod).map(|t| t.task))
            .filter(|t| *t == TaskState::Suspended)
    })
    .await;
    launch(&adopted, &[pod], "t1").await;
    assert_eq!(healthy_id(&adopted, &admin, pod).await, id);

    // Data gone: a lost agent.
    adopted.ensure_stopped(pod).await.expect("stop");
    std::fs::remove_dir_all(adopted.data_dir(pod)).expect("remove data");
    let lost = adopted.observe().await.expect("observe");
    assert_eq!(lost.task(pod).map(|t| (t.task, t.agent)), Some((TaskState::Exited, AgentState::Lost)));

    // Wiped: never launched, ports kept.
    adopted.ensure_wiped(pod).await.expect("wipe");
    let wiped = adopted.observe().await.expect("observe");
    assert_eq!(
        wiped.task(pod).map(|t| (t.task, t.agent)),
        Some((TaskState::NotLaunched, AgentState::Healthy))
    );
    assert_eq!(adopted.ports(pod).await.expect("ports"), ports);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_and_five_member_clusters_bootstrap_on_their_own_ports() {
    let sandbox = Sandbox::new();
    let admin = EtcdAdmin::new();
    for count in [3u8, 5] {
        let platform = LocalPlatform::new(sandbox.dir.path().join(format!("c{count}")), spec());
        let pods: Vec<PodName> = (0..count).map(|i| PodName::new(i).expect("pod")).collect();
        launch(&platform, &pods, &format!("t{count}")).await;
        let mut ids = Vec::new();
        for pod in &pods {
            ids.push(healthy_id(&platform, &admin, *pod).await);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), usize::from(count), "distinct member IDs");
        let url = platform.member_urls(pods[0]).await.expect("urls").client;
        let list = admin.member_list(&url).await.expect("member list");
        assert_eq!(list.len(), usize::from(count));
        assert!(list.iter().all(|m| !m.is_learner && !m.name.is_empty()));
        for pod in &pods {
            platform.ensure_stopped(*pod).await.expect("stop");
        }
        let stopped = platform.observe().await.expect("observe");
        assert!(stopped.tasks.iter().all(|t| t.task == TaskState::Exited && t.agent == AgentState::Healthy));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrecorded_member_is_adopted_by_its_data_dir_and_a_restart_in_place_needs_a_wal() {
    let sandbox = Sandbox::new();
    let root = sandbox.dir.path().join("platform");
    let platform = LocalPlatform::new(root.clone(), spec());
    let admin = EtcdAdmin::new();
    let pod = PodName::new(0).expect("pod");
    launch(&platform, &[pod], "t1").await;
    healthy_id(&platform, &admin, pod).await;
    let seen = platform.observe().await.expect("observe");
    let pid = seen.task(pod).and_then(|t| t.pid).expect("pid");
    assert_eq!(seen.task(pod).map(|t| t.data.clone()), Some(DataState::Intact));

    // A controller that died between spawning the member and recording it.
    std::fs::remove_file(root.join("processes/etcd-0.json")).expect("forget the record");
    let found = platform.observe().await.expect("observe");
    assert_eq!(found.task(pod).map(|t| (t.task, t.pid)), Some((TaskState::Running, Some(pid))));
    launch(&platform, &[pod], "t1").await;
    let adopted = platform.observe().await.expect("observe");
    assert_eq!(adopted.task(pod).and_then(|t| t.pid), Some(pid), "adopted, no second etcd");
    platform.ensure_stopped(pod).await.expect("the adopted member stops");

    // The directory is kept, its `member/` is gone: lost data, never restarted in place.
    std::fs::remove_dir_all(platform.data_dir(pod).join("member")).expect("delete member/");
    let empty = platform.observe().await.expect("observe");
    let task = empty.task(pod).expect("task");
    assert_eq!(
        (task.task, task.agent, task.data.clone()),
        (TaskState::Exited, AgentState::Lost, DataState::Missing)
    );
    let restart = LaunchSpec { initial_cluster: Vec::new(), state: InitialClusterState::Restart };
    let refused = platform.ensure_running(pod, &restart).await;
    assert!(matches!(refused, Err(PlatformError::NoData { .. })), "{refused:?}");
    assert_eq!(platform.observe().await.expect("observe").task(pod).map(|t| t.task), Some(TaskState::Exited));

    // A data directory that cannot be read is reported as such, not as a lost agent.
    std::fs::write(platform.data_dir(pod).join("member"), b"not a directory").expect("a file in the way");
    let unreadable = platform.observe().await.expect("observe");
    let task = unreadable.task(pod).expect("task");
    assert!(matches!(task.data, DataState::Unreadable(_)), "{:?}", task.data);
    assert_eq!(task.agent, AgentState::Healthy);
}

/// etcd's refusals reach the controller classified once, by kind, in the adapter: the
/// retries of membership steps depend on it (never on an error's text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_refusals_are_classified_by_kind() {
    use etcd_warden::domain::MemberId;
    use etcd_warden::etcd::EtcdErrorKind;
    let sandbox = Sandbox::new();
    let platform = LocalPlatform::new(sandbox.dir.path().join("platform"), spec());
    let admin = EtcdAdmin::new();
    let pod = PodName::new(0).expect("pod");
    launch(&platform, &[pod], "errors").await;
    let id = MemberId(healthy_id(&platform, &admin, pod).await);
    let url = platform.member_urls(pod).await.expect("urls").client;
    let kind = |r: Result<(), etcd_warden::etcd::EtcdError>| r.expect_err("refused").kind();
    assert_eq!(kind(admin.remove(&url, MemberId(0xdead)).await), EtcdErrorKind::MemberNotFound);
    if support::etcd_is_3_3() {
        // etcd 3.3 knows no MemberPromote (gRPC Unimplemented), and adds a voter when
        // asked for a learner: both are Unsupported, and the voter is listed.
        assert_eq!(kind(admin.promote(&url, id).await), EtcdErrorKind::Unsupported);
        let peer = format!("http://127.0.0.1:{}", support::free_port());
        assert_eq!(kind(admin.add_learner(&url, &peer).await.map(|_| ())), EtcdErrorKind::Unsupported);
        let list = admin.member_list(&url).await.expect("member list");
        let listed = list.iter().find(|m| m.peer_urls == [peer.clone()]).expect("the voter etcd 3.3 added");
        assert!(!listed.is_learner, "{listed:?}");
        platform.ensure_stopped(pod).await.expect("stop");
        return;
    }
    assert_eq!(kind(admin.promote(&url, id).await), EtcdErrorKind::NotALearner);
    let peer = format!("http://127.0.0.1:{}", support::free_port());
    let learner = admin.add_learner(&url, &peer).await.expect("a learner");
    assert_eq!(kind(admin.promote(&url, learner).await), EtcdErrorKind::LearnerNotInSync);
    // The same URL again: refused, whichever check etcd makes first.
    let again = kind(admin.add_learner(&url, &peer).await.map(|_| ()));
    assert!(matches!(again, EtcdErrorKind::PeerUrlExists | EtcdErrorKind::MemberIdExists), "{again:?}");
    let other = format!("http://127.0.0.1:{}", support::free_port());
    let second = admin.add_learner(&url, &other).await.map(|_| ()).expect_err("a second learner");
    assert_eq!(second.kind(), EtcdErrorKind::TooManyLearners, "{second}");
    // etcd 3.3's way, a voting member, listed without a name until it starts. etcd
    // takes it even beside a single started member, whose quorum is then gone until
    // it starts: the planner adds one only while a quorum holds with it counted down.
    let voter = format!("http://127.0.0.1:{}", support::free_port());
    let added = admin.add_voter(&url, &voter).await.expect("a voting member");
    let list = admin.member_list(&url).await.expect("member list");
    let listed = list.iter().find(|m| m.id == added).expect("listed");
    assert!(!listed.is_learner && listed.name.is_empty() && listed.peer_urls == [voter], "{listed:?}");
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let unreachable = admin.status(&closed).await.expect_err("nobody listens").kind();
    assert!(matches!(unreachable, EtcdErrorKind::Unreachable | EtcdErrorKind::Timeout), "{unreachable:?}");
    platform.ensure_stopped(pod).await.expect("stop");
}

#[tokio::test]
async fn auto_ports_are_drawn_below_the_ephemeral_range_and_never_given_twice() {
    let sandbox = Sandbox::new();
    let clusters = sandbox.dir.path().join("state").join("clusters");
    // Two clusters of one state directory: each sees the ports the other recorded.
    let platforms = ["a", "b"].map(|name| LocalPlatform::new(clusters.join(name).join("platform"), spec()));
    let mut given = std::collections::BTreeMap::new();
    for (cluster, platform) in platforms.iter().enumerate() {
        for i in 0..5 {
            let pod = PodName::new(i).expect("pod");
            let ports = platform.ports(pod).await.expect("ports");
            for port in [ports.client, ports.peer] {
                assert!(AUTO_PORTS.contains(&port), "{port} outside {AUTO_PORTS:?}");
                let before = given.insert(port, (cluster, pod));
                assert_eq!(before, None, "{port} given to {pod} of cluster {cluster} too");
            }
            assert_eq!(platform.ports(pod).await.expect("ports"), ports, "chosen once and kept");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_process_exit_resolves_changed_at_once() {
    let sandbox = Sandbox::new();
    let platform = LocalPlatform::new(sandbox.dir.path().join("platform"), spec());
    let pod = PodName::new(0).expect("pod");
    launch(&platform, &[pod], "t1").await;
    healthy_id(&platform, &EtcdAdmin::new(), pod).await;
    let seen = platform.observe().await.expect("observe");
    let pid = seen.task(pod).and_then(|t| t.pid).expect("pid");
    let quiet = Duration::from_millis(300);
    let mut changed = Box::pin(platform.changed(&seen));
    assert!(tokio::time::timeout(quiet, &mut changed).await.is_err(), "nothing changed yet");

    support::signal(u64::from(pid), rustix::process::Signal::KILL);
    let killed = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), changed).await.expect("the exit is reported");
    println!("member exit reported {} ms after SIGKILL", killed.elapsed().as_millis());

    // An observation older than the exit resolves at once; a fresh one has no process
    // left to wait for.
    tokio::time::timeout(Duration::from_secs(5), platform.changed(&seen)).await.expect("stale");
    let after = eventually("the task to be seen exited", || async {
        platform.observe().await.ok().filter(|o| o.task(pod).is_some_and(|t| t.task == TaskState::Exited))
    })
    .await;
    assert!(tokio::time::timeout(quiet, platform.changed(&after)).await.is_err(), "nothing to wait for");
}

/// One admin keeps one connection per member: many calls make no new one, and a member
/// that stopped answering is connected to afresh once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_connects_to_each_member_once_and_again_only_after_it_failed() {
    use etcd_warden::etcd::EtcdApi;
    let sandbox = Sandbox::new();
    let platform = LocalPlatform::new(sandbox.dir.path().join("platform"), spec());
    let pods: Vec<PodName> = (0..3).map(|i| PodName::new(i).expect("pod")).collect();
    launch(&platform, &pods, "reuse").await;
    let admin = EtcdAdmin::new();
    for pod in &pods {
        healthy_id(&platform, &admin, *pod).await;
    }
    assert_eq!(admin.connections_made(), 3, "one client per member while they start");
    let api: &dyn EtcdApi = &admin;
    let mut urls = Vec::new();
    for pod in &pods {
        urls.push(platform.member_urls(*pod).await.expect("urls").client);
    }
    for _ in 0..20 {
        for url in &urls {
            api.status(url).await.expect("status");
            api.member_list(url).await.expect("list");
        }
    }
    assert_eq!(admin.connections_made(), 3, "120 calls over the kept connections");

    platform.ensure_stopped(pods[2]).await.expect("stop");
    let refused = api.status(&urls[2]).await.expect_err("a stopped member does not answer");
    println!("a stopped member: {refused} ({})", refused.kind());
    let spec = LaunchSpec { initial_cluster: Vec::new(), state: InitialClusterState::Restart };
    platform.ensure_running(pods[2], &spec).await.expect("restart");
    eventually("the member back", || async { api.status(&urls[2]).await.ok() }).await;
    let after = admin.connections_made();
    assert!(after > 3, "the failed member is connected to again: {after}");
    for _ in 0..10 {
        for url in &urls {
            api.status(url).await.expect("status");
        }
    }
    assert_eq!(admin.connections_made(), after, "and kept again");
}
