//! Credential files and redaction: every bad file is named with what is wrong, and no
//! secret reaches `Debug` or `Display`.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::tests::*;
use super::*;
use crate::retry::ErrorKind;

#[tokio::test]
async fn bad_credential_files_name_the_file_and_what_is_wrong() {
    let world = World::start(Reply::TokenFor(3600)).await;
    let leaked = "LEAKED-SECRET-CONTENT";
    let fake_key = format!("-----BEGIN PRIVATE KEY-----\n{leaked}\n-----END PRIVATE KEY-----\n");
    let written = AtomicUsize::new(0);
    let file =
        |content: &str| world.file(&format!("file-{}", written.fetch_add(1, Ordering::SeqCst)), content);
    let account = |content: &str| DcosCredentials::ServiceAccount { secret_file: file(content) };
    let secret = |fields: Value| account(&fields.to_string());
    let cases: Vec<(DcosCredentials, &str)> = vec![
        (
            DcosCredentials::ServiceAccount { secret_file: world.dir.path().join("absent.json") },
            "cannot read the DC/OS service account secret file",
        ),
        (account(&format!("{{\"private_key\": \"{leaked}")), "not JSON (line 1"),
        (secret(json!([leaked])), "not a JSON object"),
        (secret(json!({ "uid": SERVICE_UID })), "field \"private_key\" is missing"),
        (secret(json!({ "uid": 7, "private_key": PRIVATE_KEY })), "field \"uid\" is not a string"),
        (secret(json!({ "uid": " ", "private_key": PRIVATE_KEY })), "field \"uid\" is empty"),
        (secret(json!({ "uid": "u", "private_key": fake_key })), "not an RSA private key"),
        (secret(json!({ "uid": "u", "private_key": PUBLIC_KEY })), "not an RSA private key"),
        (
            secret(json!({ "scheme": "HS256", "uid": "u", "private_key": PRIVATE_KEY })),
            "field \"scheme\" is not \"RS256\"",
        ),
        (
            DcosCredentials::Password { uid: USER.into(), password_file: file("\n") },
            "the DC/OS password file",
        ),
        (DcosCredentials::Token { token_file: file("") }, "it is empty"),
        (
            DcosCredentials::Token { token_file: file(&format!("{leaked}\u{7}x")) },
            "characters an HTTP header cannot carry",
        ),
    ];
    for (credentials, expected) in cases {
        let error = Credentials::load(&credentials).await.unwrap_err();
        let message = error.to_string();
        let path = match &credentials {
            DcosCredentials::ServiceAccount { secret_file: path }
            | DcosCredentials::Password { password_file: path, .. }
            | DcosCredentials::Token { token_file: path } => path.display().to_string(),
        };
        assert!(message.contains(expected) && message.contains(&path), "{expected:?} or {path}: {message}");
        assert_eq!(error.retry(), ErrorKind::Permanent);
        assert_no_secret(&format!("{message} {error:?}"), &[leaked]);
    }
}

#[test]
fn the_ca_file_is_checked_when_the_client_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("dcos-ca.crt");
    std::fs::write(&ca, CA).unwrap();
    assert!(http_client(Some(&ca)).is_ok());

    let absent = dir.path().join("absent.crt");
    let error = http_client(Some(&absent)).unwrap_err();
    assert!(error.to_string().starts_with("cannot read the DC/OS CA file"), "{error}");

    std::fs::write(&ca, "not a certificate").unwrap();
    let error = http_client(Some(&ca)).unwrap_err();
    assert!(error.to_string().contains("holds no PEM certificate"), "{error}");
}

#[tokio::test]
async fn no_secret_appears_in_debug_or_display() {
    let world = World::start(Reply::TokenFor(3600)).await;
    let file_token = dcos_token(world.iam.now(), 3600, 9);
    let token_file = world.file("token", &file_token);

    let account = Credentials::load(&world.service_account()).await.unwrap();
    let user = Credentials::load(&world.user(PASSWORD)).await.unwrap();
    let from_file = Credentials::load(&DcosCredentials::Token { token_file }).await.unwrap();
    let Credentials::ServiceAccount(service) = &account else { panic!("not a service account") };
    let login_token = service.login_token(world.iam.now()).unwrap();
    let source = world.source(world.service_account());
    let issued = source.token().await.unwrap();
    let refused = world.source(world.user("wrong password")).token().await.unwrap_err();

    let printed = format!(
        "{account:?} {user:?} {from_file:?} {service:?} {login_token} {login_token:?} {issued:?} \
         {source:?} {refused} {refused:?} {:?}",
        issued.authorization_header(),
    );
    let issued_text = header_of(&issued);
    let issued_jwt = issued_text.trim_start_matches("token=");
    assert_no_secret(&printed, &[PASSWORD, "wrong password", &file_token, login_token.expose(), issued_jwt]);
    assert!(printed.contains("<redacted>"), "{printed}");
}
