//! The status page in a real browser: headless Chromium, driven through chromedriver
//! (Debian's `chromium` and `chromium-driver`, installed by `scripts/setup --test`) with
//! fantoccini. A daemon with a token, three real etcd members, keys written first and
//! every one read back.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use rustix::process::Signal;
use serde_json::{Value, json};

use crate::support::{
    Harness, assert_keys, endpoints, free_port, local_manifest, pid_of, put_keys, signal, wait_for,
};

const TOKEN: &str = "page-token-7Hq2Lw9Xc4";
const BOOT: Duration = Duration::from_secs(60);
/// How long the page may take to show what status says (it polls every 2 s).
const SHOWN: Duration = Duration::from_secs(60);

/// chromedriver on a free port, killed on drop, with a browser profile of its own.
struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

fn chromedriver() -> PathBuf {
    if let Some(path) = std::env::var_os("ETCD_WARDEN_CHROMEDRIVER") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromedriver is missing: run scripts/setup --test (Debian's chromium and chromium-driver)"
            )
        })
}

impl Driver {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Self { child, port, profile: tempfile::tempdir().expect("profile dir") };
        wait_for("chromedriver to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        driver
    }

    async fn browser(&self, width: u32, height: u32) -> Client {
        let mut capabilities = serde_json::Map::new();
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", self.profile.path().display()),
        ];
        capabilities.insert("goog:chromeOptions".to_owned(), json!({ "args": args }));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a headless Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver stops the browsers it started when it exits on SIGTERM.
        signal(u64::from(self.child.id()), Signal::TERM);
        if wait_until(Duration::from_secs(10), || self.child.try_wait().ok().flatten().is_some()).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> Option<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return Some(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Runs `script` in the page until it returns something other than `null` or `false`;
/// fails with `what`, and the page's text, after `timeout`.
async fn until(page: &Client, what: &str, timeout: Duration, script: &str) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let answer = page.execute(script, Vec::new()).await.expect("run a script in the page");
        if !answer.is_null() && answer != Value::Bool(false) {
            return answer;
        }
        if Instant::now() >= deadline {
            let text = page.execute("return document.body.innerText", Vec::new()).await.unwrap_or_default();
            panic!("timed out after {timeout:?} waiting for the page to show {what}; it shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The text of the page's block `key` of cluster `page` (`members`, `events`, ...).
fn block(key: &str) -> String {
    format!("document.querySelector('[data-key=\"page/{key}\"]')")
}

/// Where the screenshot goes: the docs with `UPDATE_SCREENSHOT=1`, else the target dir.
fn screenshot_path() -> PathBuf {
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/images/status-page.png")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page.png")
    }
}

#[test]
fn the_page_needs_the_token_then_shows_a_member_down_and_healed_with_its_events_without_a_reload() {
    let h = Harness::start_with_token(TOKEN);
    // A grace long enough that the page, polling every 2 s, sees the member down.
    h.apply("c.yaml", &local_manifest("page", 3, "").replace("restartGrace: 1s", "restartGrace: 8s"));
    let before = h.wait_healthy("page", 3, BOOT);
    put_keys(&endpoints(&before), "k", 200);
    // A member chosen at random, whatever its role.
    let victim = format!("etcd-{}", std::process::id() % 3);
    let driver = Driver::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let page = driver.browser(1100, 500).await;
        page.goto(&h.server()).await.expect("open the page");

        // With a token set, the page shows no cluster before it is given one.
        until(&page, "the sign-in form", SHOWN, "return !document.getElementById('login').hidden").await;
        let shown = page.execute("return document.getElementById('clusters').innerText", Vec::new()).await;
        assert_eq!(shown.expect("the clusters' text"), json!(""), "nothing before the token");
        page.find(Locator::Id("token")).await.expect("the token field").send_keys("not-the-token").await.expect("type");
        page.find(Locator::Css("#login button")).await.expect("sign in").click().await.expect("click");
        until(&page, "the refusal", SHOWN, "return document.getElementById('login-error').innerText.includes('refused')")
            .await;
        let shown = page.execute("return document.getElementById('clusters').innerText", Vec::new()).await;
        assert_eq!(shown.expect("the clusters' text"), json!(""), "nothing with a wrong token");
        page.find(Locator::Id("token")).await.expect("the token field").send_keys(TOKEN).await.expect("type");
        page.find(Locator::Css("#login button")).await.expect("sign in").click().await.expect("click");
        let healthy = "return document.querySelector('#cluster-page [data-phase]')?.dataset.phase === 'Healthy' \
                       && document.querySelectorAll('#cluster-page tr[data-health=\"up\"]').length === 3";
        until(&page, "the cluster Healthy with 3 members up", SHOWN, healthy).await;

        // A mark that a reload would wipe, and a reader's place: the backups block (which
        // does not change here) scrolled to the top of the window.
        let place = page
            .execute(
                &format!(
                    "window.etcdWardenMark = 'kept'; const b = {}; b.scrollIntoView(); \
                     window.etcdWardenPlace = b; return [window.scrollY, b.getBoundingClientRect().top]",
                    block("backups")
                ),
                Vec::new(),
            )
            .await
            .expect("mark the page");
        assert!(place[0].as_f64().is_some_and(|y| y > 0.0), "the page scrolls: {place}");
        let top = place[1].as_f64().expect("a top");
        let kept_place = format!(
            "const b = window.etcdWardenPlace; \
             return [window.etcdWardenMark, document.contains(b), Math.abs(b.getBoundingClientRect().top - {top}) < 2]"
        );
        signal(pid_of(&before, &victim), Signal::KILL);
        let down = format!(
            "const row = document.querySelector('#cluster-page tr[data-pod=\"{victim}\"]'); \
             return row && row.dataset.health === 'down' && row.innerText.includes('DOWN')"
        );
        until(&page, &format!("{victim} DOWN, in words"), SHOWN, &down).await;
        let kept = page.execute(&kept_place, Vec::new()).await.expect("read the mark");
        assert_eq!(kept, json!(["kept", true, true]), "never reloaded, the same block where it was");

        // The docs' picture: the member down, with its error and the MemberDown event.
        page.set_window_size(1100, 1500).await.expect("the screenshot's size");
        page.execute("window.scrollTo(0, 0)", Vec::new()).await.expect("scroll up");
        let png = page.screenshot().await.expect("a screenshot");
        let path = screenshot_path();
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("the screenshot's folder");
        std::fs::write(&path, png).expect("write the screenshot");

        until(&page, "the cluster healed", SHOWN, healthy).await;
        let events = format!(
            "const t = {}?.innerText || ''; \
             return t.includes('MemberDown {victim}') && t.includes('RestartInPlace {victim}') \
             && t.includes('MemberHealthy {victim}')",
            block("events")
        );
        until(&page, "MemberDown, RestartInPlace and MemberHealthy in the timeline", SHOWN, &events).await;
        let kept = page.execute("return window.etcdWardenMark", Vec::new()).await.expect("read the mark");
        assert_eq!(kept, json!("kept"), "never reloaded, down and healed");

        // On a phone's width the page reads without sideways scrolling (tables scroll in
        // their own box).
        page.set_window_size(390, 844).await.expect("a phone's size");
        let fits = "return document.documentElement.scrollWidth <= window.innerWidth";
        until(&page, "the page within a phone's width", SHOWN, fits).await;
        page.close().await.expect("close the browser");
    });
    assert_keys(&endpoints(&h.wait_healthy("page", 3, BOOT)), "k", 200);
}
