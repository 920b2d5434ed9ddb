//! Tests of DC/OS authentication against a loopback fake of the IAM's login.
//!
//! The fixtures are test-only keys, generated once with
//! `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` (PKCS#8, as DC/OS
//! writes service account secrets), `openssl pkey -pubout` and `openssl req -x509`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as HttpStatus, header::CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::json;
use tempfile::TempDir;

use super::*;
use crate::retry::ErrorKind;

pub(super) const PRIVATE_KEY: &str = include_str!("fixtures/test-only-key.pem");
pub(super) const PUBLIC_KEY: &str = include_str!("fixtures/test-only-key.pub.pem");
pub(super) const OTHER_KEY: &str = include_str!("fixtures/test-only-other-key.pem");
pub(super) const CA: &str = include_str!("fixtures/test-only-ca.crt");
pub(super) const SERVICE_UID: &str = "etcd-warden";
pub(super) const USER: &str = "alice";
pub(super) const PASSWORD: &str = "correct horse battery staple";

/// What the fake IAM answers to a good login.
#[derive(Debug, Clone, Copy)]
pub(super) enum Reply {
    /// `{"token": <RS256 JWT>}` living this many seconds.
    TokenFor(i64),
    /// An HTML page.
    NotJson,
    /// JSON without `token`.
    NoToken,
    /// A token that is not a JWT.
    Opaque,
}

/// A fake IAM: checks logins as DC/OS does and counts them.
pub(super) struct Iam {
    clock: Arc<Mutex<Timestamp>>,
    reply: Reply,
    logins: AtomicUsize,
    /// Why logins were refused, for the assertions.
    refusals: Mutex<Vec<String>>,
}

impl Iam {
    pub(super) fn now(&self) -> Timestamp {
        *self.clock.lock().unwrap()
    }

    fn refuse(&self, why: String) -> Response {
        self.refusals.lock().unwrap().push(why);
        let body = json!({
            "title": "Invalid credentials",
            "description": "The credentials were not accepted.",
            "code": "ERR_INVALID_CREDENTIALS",
        });
        (HttpStatus::UNAUTHORIZED, axum::Json(body)).into_response()
    }

    /// Checks a service login token: RS256 under the account's public key, `uid` as
    /// sent, `exp` in the future and at most 10 min ahead.
    fn check_login_token(&self, uid: &str, token: &str) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        struct Claims {
            uid: String,
            exp: i64,
        }
        let key = DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false; // checked below against the test's clock
        validation.set_required_spec_claims(&["exp"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| e.to_string())?;
        let now = self.now().as_second();
        if data.header.typ.as_deref() != Some("JWT") {
            return Err("typ is not JWT".into());
        }
        if data.claims.uid != uid {
            return Err(format!("uid {:?} signed, {uid:?} sent", data.claims.uid));
        }
        if data.claims.exp <= now || data.claims.exp > now + 600 {
            return Err(format!("exp is {} s from now", data.claims.exp - now));
        }
        Ok(())
    }

    /// An authentication token as DC/OS issues it: RS256 `{uid, exp}`, plus a serial
    /// number so that two logins in one second give two tokens.
    fn issue(&self, uid: &str, life_s: i64, serial: usize) -> String {
        let key = EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap();
        let claims = json!({ "uid": uid, "exp": self.now().as_second() + life_s, "serial": serial });
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
    }
}

pub(super) async fn login(State(iam): State<Arc<Iam>>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some("application/json") {
        return (HttpStatus::BAD_REQUEST, "Content-Type must be application/json").into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (HttpStatus::BAD_REQUEST, "not JSON").into_response();
    };
    let uid = request["uid"].as_str().unwrap_or_default().to_owned();
    let checked = match (request["token"].as_str(), request["password"].as_str()) {
        (Some(token), None) => iam.check_login_token(&uid, token),
        (None, Some(password)) if uid == USER && password == PASSWORD => Ok(()),
        (None, Some(_)) => Err(format!("wrong password for {uid}")),
        _ => Err("neither token nor password".into()),
    };
    if let Err(why) = checked {
        return iam.refuse(why);
    }
    let serial = iam.logins.fetch_add(1, Ordering::SeqCst) + 1;
    match iam.reply {
        Reply::TokenFor(life_s) => {
            axum::Json(json!({ "token": iam.issue(&uid, life_s, serial) })).into_response()
        }
        Reply::NotJson => "<html>hello</html>".into_response(),
        Reply::NoToken => axum::Json(json!({ "tok": "x" })).into_response(),
        Reply::Opaque => axum::Json(json!({ "token": "opaque" })).into_response(),
    }
}

/// A fake IAM on a free loopback port, a directory for credential files and a clock
/// that the test moves.
pub(super) struct World {
    pub(super) iam: Arc<Iam>,
    url: String,
    pub(super) dir: TempDir,
    clock: Arc<Mutex<Timestamp>>,
}

impl World {
    pub(super) async fn start(reply: Reply) -> Self {
        let clock = Arc::new(Mutex::new(Timestamp::now()));
        let iam = Arc::new(Iam {
            clock: clock.clone(),
            reply,
            logins: AtomicUsize::new(0),
            refusals: Mutex::new(Vec::new()),
        });
        let app = Router::new().route(LOGIN_PATH, post(login)).with_state(iam.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // A trailing slash, as an operator may write it.
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { iam, url, dir: tempfile::tempdir().unwrap(), clock }
    }

    pub(super) fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    pub(super) fn secret_file(&self) -> PathBuf {
        let secret = json!({
            "scheme": "RS256",
            "uid": SERVICE_UID,
            "private_key": PRIVATE_KEY,
            "login_endpoint": "https://master.mesos/acs/api/v1/auth/login",
        });
        self.file("secret.json", &secret.to_string())
    }

    pub(super) fn service_account(&self) -> DcosCredentials {
        DcosCredentials::ServiceAccount { secret_file: self.secret_file() }
    }

    pub(super) fn user(&self, password: &str) -> DcosCredentials {
        let password_file = self.file("password", &format!("{password}\n"));
        DcosCredentials::Password { uid: USER.to_owned(), password_file }
    }

    pub(super) fn source(&self, credentials: DcosCredentials) -> TokenSource {
        let spec =
            DcosSpec { url: self.url.clone(), service: "kubernetes".to_owned(), ca_file: None, credentials };
        let clock = self.clock.clone();
        TokenSource::with_clock(&spec, http_client(None).unwrap(), Arc::new(move || *clock.lock().unwrap()))
    }

    pub(super) fn advance(&self, seconds: i64) {
        let mut now = self.clock.lock().unwrap();
        *now = now.checked_add(jiff::SignedDuration::from_secs(seconds)).unwrap();
    }

    pub(super) fn logins(&self) -> usize {
        self.iam.logins.load(Ordering::SeqCst)
    }

    pub(super) fn refusals(&self) -> Vec<String> {
        self.iam.refusals.lock().unwrap().clone()
    }
}

/// A JWT that DC/OS could have issued, expiring `life_s` from `now`.
pub(super) fn dcos_token(now: Timestamp, life_s: i64, serial: usize) -> String {
    let key = EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap();
    let claims = json!({ "uid": USER, "exp": now.as_second() + life_s, "serial": serial });
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
}

pub(super) fn header_of(token: &AuthToken) -> String {
    token.authorization_header().to_str().unwrap().to_owned()
}

/// The lines of the test key's PEM body: none may ever be printed.
pub(super) fn key_lines() -> Vec<&'static str> {
    PRIVATE_KEY.lines().filter(|l| !l.starts_with("-----")).collect()
}

pub(super) fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets.iter().chain(key_lines().iter()) {
        assert!(!text.contains(secret), "{secret:?} leaked into {text:?}");
    }
}

#[tokio::test]
pub(super) async fn a_service_account_logs_in_with_a_short_lived_signed_token() {
    let world = World::start(Reply::TokenFor(5 * 24 * 3600)).await;
    let source = world.source(world.service_account());

    let token = source.token().await.unwrap();

    assert_eq!(world.refusals(), Vec::<String>::new());
    assert_eq!(world.logins(), 1);
    assert!(header_of(&token).starts_with("token=eyJ"), "{}", header_of(&token));
    assert!(token.authorization_header().is_sensitive());
    let expected = world.iam.now().as_second() + 5 * 24 * 3600;
    assert_eq!(token.expires_at().map(|t| t.as_second()), Some(expected));
    assert_eq!(source.token().await.unwrap(), token, "a fresh token is reused");
    assert_eq!(world.logins(), 1);
}

#[tokio::test]
pub(super) async fn the_service_login_token_is_rs256_with_uid_and_a_120_s_life() {
    let world = World::start(Reply::TokenFor(60)).await;
    let Credentials::ServiceAccount(account) = Credentials::load(&world.service_account()).await.unwrap()
    else {
        panic!("not a service account");
    };
    assert_eq!(account.uid(), SERVICE_UID);
    assert_eq!(account.login_endpoint(), Some("https://master.mesos/acs/api/v1/auth/login"));

    let now = Timestamp::from_second(1_700_000_000).unwrap();
    let token = account.login_token(now).unwrap();

    let header = jsonwebtoken::decode_header(token.expose()).unwrap();
    assert_eq!((header.alg, header.typ.as_deref()), (Algorithm::RS256, Some("JWT")));
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(token.expose()).unwrap();
    assert_eq!(claims, json!({ "uid": SERVICE_UID, "exp": 1_700_000_120 }));
}

#[tokio::test]
pub(super) async fn a_service_account_key_that_dcos_does_not_know_is_refused() {
    let world = World::start(Reply::TokenFor(3600)).await;
    let secret = json!({ "uid": SERVICE_UID, "private_key": OTHER_KEY });
    let secret_file = world.file("other.json", &secret.to_string());
    let source = world.source(DcosCredentials::ServiceAccount { secret_file });

    let error = source.token().await.unwrap_err();

    assert!(matches!(error, AuthError::Refused { .. }), "{error:?}");
    assert_eq!(world.refusals(), vec!["InvalidSignature".to_owned()]);
    assert_eq!(world.logins(), 0);
}

#[tokio::test]
pub(super) async fn a_user_logs_in_with_the_password_from_its_file() {
    let world = World::start(Reply::TokenFor(3600)).await;
    let source = world.source(world.user(PASSWORD));

    let token = source.token().await.unwrap();

    assert_eq!(world.refusals(), Vec::<String>::new());
    assert_eq!(world.logins(), 1);
    assert!(header_of(&token).starts_with("token=eyJ"));
}

#[tokio::test]
pub(super) async fn a_token_file_is_used_as_it_is_and_read_again_after_a_401() {
    let world = World::start(Reply::TokenFor(3600)).await;
    let now = world.iam.now();
    let first = dcos_token(now, 3600, 1);
    let token_file = world.file("token", &format!("{first}\n"));
    let source = world.source(DcosCredentials::Token { token_file: token_file.clone() });

    let token = source.token().await.unwrap();
    assert_eq!(header_of(&token), format!("token={first}"));

    let second = dcos_token(now, 3600, 2);
    std::fs::write(&token_file, &second).unwrap();
    assert_eq!(source.token().await.unwrap(), token, "a fresh token is kept until DC/OS refuses it");

    let renewed = source.token_after_unauthorized(&token).await.unwrap();
    assert_eq!(header_of(&renewed), format!("token={second}"));
    assert_eq!(world.logins(), 0, "a token file needs no login");
}

#[tokio::test]
pub(super) async fn a_refused_token_still_in_its_file_is_a_clear_error() {
    let world = World::start(Reply::TokenFor(3600)).await;
    let token_file = world.file("token", &dcos_token(world.iam.now(), 3600, 1));
    let source = world.source(DcosCredentials::Token { token_file: token_file.clone() });
    let token = source.token().await.unwrap();

    let error = source.token_after_unauthorized(&token).await.unwrap_err();

    assert!(matches!(error, AuthError::RefusedTokenFile { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&token_file.display().to_string()), "{message}");
    assert!(message.contains("write a fresh token"), "{message}");
}

#[tokio::test]
pub(super) async fn an_expired_token_file_is_a_clear_error() {
    let world = World::start(Reply::TokenFor(3600)).await;
    let token_file = world.file("token", &dcos_token(world.iam.now(), -5, 1));
    let source = world.source(DcosCredentials::Token { token_file: token_file.clone() });

    let error = source.token().await.unwrap_err();

    assert!(matches!(error, AuthError::ExpiredTokenFile { .. }), "{error:?}");
    assert!(error.to_string().contains(&token_file.display().to_string()), "{error}");
    assert_eq!(error.retry(), ErrorKind::Permanent);
}

#[tokio::test]
pub(super) async fn a_token_within_30_s_of_its_exp_is_replaced_by_a_new_login() {
    let world = World::start(Reply::TokenFor(20)).await;
    let source = world.source(world.service_account());

    let first = source.token().await.unwrap();
    let second = source.token().await.unwrap();

    assert_eq!(world.logins(), 2);
    assert_ne!(first, second);
}

#[tokio::test]
pub(super) async fn a_token_is_reused_until_30_s_before_its_exp() {
    let world = World::start(Reply::TokenFor(300)).await;
    let source = world.source(world.user(PASSWORD));
    let first = source.token().await.unwrap();

    world.advance(269);
    assert_eq!(source.token().await.unwrap(), first);
    assert_eq!(world.logins(), 1);

    world.advance(1);
    assert_ne!(source.token().await.unwrap(), first);
    assert_eq!(world.logins(), 2);
    assert_eq!(world.refusals(), Vec::<String>::new(), "each login token was stamped with the clock");
}

#[tokio::test]
pub(super) async fn a_401_gets_one_new_login_that_other_refused_requests_share() {
    let world = World::start(Reply::TokenFor(3600)).await;
    let source = world.source(world.service_account());
    let refused = source.token().await.unwrap();

    let renewed = source.token_after_unauthorized(&refused).await.unwrap();
    assert_ne!(renewed, refused);
    assert_eq!(world.logins(), 2);

    // A second request that was refused with the same old token.
    assert_eq!(source.token_after_unauthorized(&refused).await.unwrap(), renewed);
    assert_eq!(source.token().await.unwrap(), renewed);
    assert_eq!(world.logins(), 2);
}

#[tokio::test]
pub(super) async fn a_refused_login_is_a_clear_permanent_error() {
    let world = World::start(Reply::TokenFor(3600)).await;
    let source = world.source(world.user("wrong password"));

    let error = source.token().await.unwrap_err();

    assert!(matches!(error, AuthError::Refused { .. }), "{error:?}");
    let message = error.to_string();
    for part in
        ["refused the login of \"alice\"", "401 Unauthorized", "ERR_INVALID_CREDENTIALS", world.url.as_str()]
    {
        assert!(message.contains(part.trim_end_matches('/')), "{part:?} not in {message:?}");
    }
    assert_eq!(error.retry(), ErrorKind::Permanent);
    assert_no_secret(&format!("{error} {error:?}"), &["wrong password"]);
}

#[tokio::test]
pub(super) async fn a_malformed_login_reply_is_a_clear_transient_error() {
    for (reply, reason) in [
        (Reply::NotJson, "not JSON"),
        (Reply::NoToken, "no \"token\" string"),
        (Reply::Opaque, "not a JWT with an \"exp\" claim"),
        (Reply::TokenFor(-10), "expired already"),
    ] {
        let world = World::start(reply).await;
        let source = world.source(world.user(PASSWORD));

        let error = source.token().await.unwrap_err();

        assert!(matches!(error, AuthError::MalformedReply { .. }), "{reply:?}: {error:?}");
        let message = error.to_string();
        assert!(
            message.contains("malformed login reply") && message.contains(reason),
            "{reply:?}: {message}"
        );
        assert_eq!(error.retry(), ErrorKind::Transient);
    }
}

#[tokio::test]
pub(super) async fn an_unreachable_iam_is_a_transient_error() {
    let world = World::start(Reply::TokenFor(3600)).await;
    // Port 1 (tcpmux), where nothing listens: a port freed by the test itself could be
    // bound again by a server of a test running beside it, or by the world (CI run at
    // 445b8c9: the "unreachable" IAM answered).
    let url = "http://127.0.0.1:1".to_owned();
    let spec =
        DcosSpec { url, service: "kubernetes".into(), ca_file: None, credentials: world.user(PASSWORD) };
    let source = TokenSource::new(&spec, http_client(None).unwrap());

    let error = source.token().await.unwrap_err();

    assert!(matches!(error, AuthError::Unreachable { .. }), "{error:?}");
    assert!(error.to_string().to_lowercase().contains("connection refused"), "{error}");
    assert_eq!(error.retry(), ErrorKind::Transient);
}
