//! `manifests/dcos/`: the Marathon app, the manifest it applies and the service
//! account script agree with each other and with the binary's command line. The
//! app definition is JSON but not an etcd-warden manifest: it is read as Marathon's.

use std::path::{Path, PathBuf};

use clap::Parser;
use etcd_warden::cli::{Cli, Command};
use etcd_warden::manifest::{DcosCredentials, PlatformSpec, load_file};
use serde_json::Value;

fn file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/dcos").join(name)
}

fn app() -> Value {
    let text = std::fs::read_to_string(file("etcd-warden.marathon.json")).expect("the app definition");
    serde_json::from_str(&text).expect("the app definition is JSON")
}

/// The container paths of the app's file-based secrets, each checked to name a
/// declared secret.
fn secret_files(app: &Value) -> Vec<PathBuf> {
    let volumes = app["container"]["volumes"].as_array().expect("volumes");
    volumes
        .iter()
        .filter_map(|v| {
            let secret = v["secret"].as_str()?;
            assert!(app["secrets"][secret].is_object(), "volume secret {secret} is declared");
            Some(PathBuf::from(v["containerPath"].as_str().expect("a container path")))
        })
        .collect()
}

/// The `run` options of the app's command, with `$PORT0` set.
fn run_args(app: &Value) -> etcd_warden::cli::RunArgs {
    let cmd = app["cmd"].as_str().expect("cmd");
    let words = cmd.strip_prefix("exec ").expect("exec, so that Mesos signals the controller itself");
    let argv = words.replace("$PORT0", "10000");
    let cli = Cli::try_parse_from(argv.split_whitespace()).unwrap_or_else(|e| panic!("{cmd}: {e}"));
    match cli.command {
        Command::Run(args) => args,
        other => panic!("the app runs the daemon, not {other:?}"),
    }
}

#[test]
fn the_app_runs_the_daemon_on_its_volume_with_its_manifest_and_health_check() {
    let app = app();
    assert_eq!(app["instances"], 1, "one controller");
    let args = run_args(&app);
    let volume = app["container"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["persistent"].is_object())
        .expect("a persistent volume");
    assert_eq!(args.state_dir, PathBuf::from(volume["containerPath"].as_str().expect("path")));
    assert_eq!(args.listen, "0.0.0.0:10000");
    let fetched: Vec<&str> = app["fetch"]
        .as_array()
        .expect("fetch")
        .iter()
        .filter_map(|f| f["uri"].as_str()?.rsplit('/').next())
        .collect();
    assert!(fetched.contains(&"etcd-warden"), "the binary is fetched: {fetched:?}");
    assert_eq!(args.files, [PathBuf::from("etcd-warden.yaml")]);
    assert!(fetched.contains(&"etcd-warden.yaml"), "the manifest is fetched: {fetched:?}");
    let check = &app["healthChecks"][0];
    assert_eq!((check["path"].as_str(), check["portIndex"].as_u64()), (Some("/healthz"), Some(0)));
    for (name, value) in app["env"].as_object().expect("env") {
        if let Some(secret) = value["secret"].as_str() {
            assert!(app["secrets"][secret].is_object(), "{name}: secret {secret} is declared");
        }
    }
    assert!(app["env"]["ETCD_WARDEN_TOKEN"]["secret"].is_string(), "the API listens beyond loopback");
}

#[test]
fn the_apps_manifest_reads_the_files_the_app_mounts() {
    let mounted = secret_files(&app());
    let loaded = load_file(&file("etcd-warden.yaml")).expect("a valid manifest");
    assert_eq!(loaded.len(), 1);
    let desired = &loaded[0].desired;
    let PlatformSpec::Dcos(dcos) = &desired.platform else {
        panic!("a DC/OS manifest, got {:?}", desired.platform);
    };
    let DcosCredentials::ServiceAccount { secret_file } = &dcos.credentials else {
        panic!("a service account, got {:?}", dcos.credentials);
    };
    let tls = desired.etcd.tls.as_ref().expect("etcd TLS");
    let used = [
        secret_file,
        dcos.ca_file.as_ref().expect("the DC/OS CA"),
        &tls.ca_file,
        &tls.cert_file,
        &tls.key_file,
    ];
    for path in used {
        assert!(mounted.contains(path), "{} is mounted from a secret: {mounted:?}", path.display());
    }
}

/// Runs the script with `dcos` standing for the DC/OS CLI: it records every call and
/// answers `task exec ... cat FILE` with the file's name. Returns the calls, one per line.
fn run_script(env: &[(&str, &str)]) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let calls = dir.path().join("calls");
    let dcos = dir.path().join("dcos");
    let fake = format!(
        "#!/bin/sh\necho \"$*\" >> {calls}\nif [ \"$1 $2\" = \"task exec\" ]; then echo \"$5\"; fi\n",
        calls = calls.display()
    );
    std::fs::write(&dcos, fake).expect("write dcos");
    std::fs::set_permissions(&dcos, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "ca").expect("ca");
    let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").expect("PATH"));
    let out = std::process::Command::new("sh")
        .arg(file("service-account.sh"))
        .env("PATH", path)
        .env("DCOS_CA_FILE", &ca)
        .env("AWS_ACCESS_KEY_ID", "id")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .envs(env.iter().copied())
        .output()
        .expect("run the script");
    assert!(out.status.success(), "the script failed: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(calls).expect("calls").lines().map(str::to_owned).collect()
}

fn grants(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .filter_map(|c| c.strip_prefix("security org users grant etcd-warden "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_script_creates_every_secret_the_app_reads_and_grants_every_permission_of_the_table() {
    let calls = run_script(&[("SERVICE", "kubernetes")]);
    let app = app();
    for (name, secret) in app["secrets"].as_object().expect("secrets") {
        let source = secret["source"].as_str().expect("a source");
        assert!(
            calls.iter().any(|c| c.starts_with("security secrets") && c.ends_with(&format!(" {source}"))),
            "{name}: {source} is created by the script: {calls:#?}"
        );
    }
    // Admin Router's paths, then Marathon's: Cosmos forwards the caller's token.
    assert_eq!(
        grants(&calls),
        [
            "dcos:adminrouter:service:kubernetes full",
            "dcos:adminrouter:ops:mesos full",
            "dcos:adminrouter:ops:slave full",
            "dcos:adminrouter:package full",
            "dcos:service:marathon:marathon:services:/kubernetes read",
            "dcos:service:marathon:marathon:services:/kubernetes update",
            "dcos:adminrouter:service:marathon full",
        ]
    );
    assert!(calls.contains(&"task exec kubernetes__etcd-0-peer cat ca-crt.pem".to_owned()), "{calls:#?}");
}

#[test]
fn for_a_foldered_2x_service_the_script_names_its_task_as_the_sdk_does_and_grants_the_mke_service() {
    let calls = run_script(&[("SERVICE", "/prod/k8s"), ("MKE", "kubernetes")]);
    assert_eq!(
        grants(&calls),
        [
            "dcos:adminrouter:service:prod/k8s full",
            "dcos:adminrouter:ops:mesos full",
            "dcos:adminrouter:ops:slave full",
            "dcos:adminrouter:package full",
            "dcos:service:marathon:marathon:services:/prod/k8s read",
            "dcos:service:marathon:marathon:services:/prod/k8s update",
            "dcos:adminrouter:service:marathon full",
            "dcos:adminrouter:service:kubernetes full",
        ]
    );
    // The SDK's task ID writes a folder's `/` as `.`.
    for file in ["ca-crt.pem", "etcd-crt.pem", "etcd-key.pem"] {
        assert!(calls.contains(&format!("task exec prod.k8s__etcd-0-peer cat {file}")), "{calls:#?}");
    }
}
