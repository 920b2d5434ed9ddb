//! DC/OS authentication: reads the credentials the manifest names, logs in to the IAM
//! (`POST <url>/acs/api/v1/auth/login`) and hands out the current authentication token.
//!
//! [`TokenSource`] keeps one token, refreshes it 30 s before its `exp` (read from the
//! token without verifying it, as the SDK does) and once more when the DC/OS client
//! reports a 401. Credential files are read at each login, so a rotated secret is
//! picked up without a restart. This module sends no request but the login: the DC/OS
//! client sends the token itself, as [`AuthToken::authorization_header`].
//!
//! Secrets (a private key, a password, a token) live in [`Secret`] or in types whose
//! `Debug` prints `<redacted>`; no error message and no log line carries one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::{Map, Value};

use crate::manifest::desired::{DcosCredentials, DcosSpec};

/// The IAM's login path under the cluster URL.
const LOGIN_PATH: &str = "/acs/api/v1/auth/login";
/// The life of a service login token: the SDK's 120 s (the IAM refuses more than 10 min).
const LOGIN_TOKEN_LIFE_S: i64 = 120;
const _: () = assert!(LOGIN_TOKEN_LIFE_S <= 600, "the IAM refuses login tokens living over 10 min");
/// How long before its `exp` a token is replaced (the SDK's `AUTH_TOKEN_REFRESH_THRESHOLD_S`).
const REFRESH_BEFORE_EXP_S: i64 = 30;
/// How long connecting to DC/OS may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole login may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);
/// What `Debug` and `Display` print for a secret.
const REDACTED: &str = "<redacted>";

mod credentials;
mod error;

/// Secrets are the shapes' [`Secret`](super::shapes::iam::Secret): `Debug` and
/// `Display` hide them.
pub use super::shapes::iam::Secret;
pub use credentials::{Credentials, ServiceAccount};
pub use error::{AuthError, FileKind};

/// A DC/OS authentication token, with the `Authorization` header that carries it.
/// `Debug` shows its expiry only.
#[derive(Clone)]
pub struct AuthToken {
    secret: Secret,
    header: HeaderValue,
    /// The `exp` claim (Unix seconds), when the token is a JWT that has one.
    exp: Option<i64>,
}

/// The one claim read from a token, without verifying it.
#[derive(serde::Deserialize)]
struct ExpClaim {
    exp: i64,
}

impl AuthToken {
    /// Takes a token as DC/OS issued it. Its `exp` is decoded without verifying the
    /// signature: the token is DC/OS's to check, and `exp` only schedules the refresh.
    fn parse(token: &str) -> Result<Self, &'static str> {
        let token = token.trim();
        if token.is_empty() {
            return Err("the token is empty");
        }
        let mut header = HeaderValue::from_str(&format!("token={token}"))
            .map_err(|_| "the token holds characters an HTTP header cannot carry")?;
        header.set_sensitive(true);
        let exp = jsonwebtoken::dangerous::insecure_decode_claims::<ExpClaim>(token).ok().map(|c| c.exp);
        Ok(Self { secret: Secret::new(token.to_owned()), header, exp })
    }

    /// The value of the `Authorization` header: `token=<token>` (DC/OS's form, not
    /// `Bearer`), marked sensitive so that HTTP libraries do not print it.
    pub fn authorization_header(&self) -> HeaderValue {
        self.header.clone()
    }

    /// When the token expires, if it says.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.exp.and_then(|exp| Timestamp::from_second(exp).ok())
    }

    /// Whether the token is still good to hand out at `now`: more than 30 s before its
    /// `exp`. A token without `exp` stays good until DC/OS refuses it.
    fn fresh_at(&self, now: Timestamp) -> bool {
        self.exp.is_none_or(|exp| now.as_second() < exp - REFRESH_BEFORE_EXP_S)
    }
}

impl PartialEq for AuthToken {
    fn eq(&self, other: &Self) -> bool {
        self.secret.expose() == other.secret.expose()
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthToken")
            .field("token", &self.secret)
            .field("expires_at", &self.expires_at())
            .finish()
    }
}

/// The HTTP client for DC/OS: trusts only the DC/OS CA bundle when `ca_file` is given
/// (the system roots otherwise), connects within 5 s and follows no redirect, so that
/// credentials never go to another address.
///
/// # Errors
/// When the CA file cannot be read or holds no certificate, or TLS cannot be set up.
pub fn http_client(ca_file: Option<&Path>) -> Result<reqwest::Client, AuthError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        let kind = FileKind::Ca;
        let bad =
            |reason: &str| AuthError::BadFile { kind, path: path.to_owned(), reason: reason.to_owned() };
        let pem = std::fs::read(path).map_err(|source| AuthError::ReadFile {
            kind,
            path: path.to_owned(),
            source,
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|_| bad("it is not a PEM certificate bundle"))?;
        if certs.is_empty() {
            return Err(bad("it holds no PEM certificate"));
        }
        builder = builder.tls_certs_only(certs);
    }
    builder.build().map_err(AuthError::HttpClient)
}

/// The clock that stamps login tokens and decides freshness; tests set their own.
type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Hands out the current DC/OS authentication token: logs in when it has none or when
/// the one it has is 30 s from its `exp`, and once more after a 401. Share one per
/// cluster: concurrent callers wait for one login rather than each logging in.
pub struct TokenSource {
    login_url: String,
    credentials: DcosCredentials,
    http: reqwest::Client,
    clock: Clock,
    current: tokio::sync::Mutex<Option<AuthToken>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("login_url", &self.login_url)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A source for the cluster `spec` names, logging in through `http` (see
    /// [`http_client`]). Nothing is read or sent until the first [`TokenSource::token`].
    pub fn new(spec: &DcosSpec, http: reqwest::Client) -> Self {
        Self::with_clock(spec, http, Arc::new(Timestamp::now))
    }

    fn with_clock(spec: &DcosSpec, http: reqwest::Client, clock: Clock) -> Self {
        Self {
            login_url: login_url(&spec.url),
            credentials: spec.credentials.clone(),
            http,
            clock,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// The current token; logs in (or reads the token file) when there is none yet or
    /// when it is within 30 s of its `exp`.
    ///
    /// # Errors
    /// When the credentials cannot be read or the login fails.
    pub async fn token(&self) -> Result<AuthToken, AuthError> {
        let mut current = self.current.lock().await;
        let now = (self.clock)();
        if let Some(token) = current.as_ref().filter(|t| t.fresh_at(now)) {
            return Ok(token.clone());
        }
        let token = self.fetch(now, None).await?;
        *current = Some(token.clone());
        Ok(token)
    }

    /// A new token after DC/OS answered 401 to `rejected`. Call it once per refused
    /// request and retry that request once. When another caller has already replaced
    /// `rejected`, its replacement is returned without a new login.
    ///
    /// # Errors
    /// As [`TokenSource::token`]; [`AuthError::RefusedTokenFile`] when the token file
    /// still holds the refused token.
    pub async fn token_after_unauthorized(&self, rejected: &AuthToken) -> Result<AuthToken, AuthError> {
        let mut current = self.current.lock().await;
        let now = (self.clock)();
        if let Some(token) = current.as_ref().filter(|t| *t != rejected && t.fresh_at(now)) {
            return Ok(token.clone());
        }
        *current = None;
        let token = self.fetch(now, Some(rejected)).await?;
        *current = Some(token.clone());
        Ok(token)
    }

    /// Reads the credentials and gets a token: a login, or the token file's token.
    async fn fetch(&self, now: Timestamp, rejected: Option<&AuthToken>) -> Result<AuthToken, AuthError> {
        match Credentials::load(&self.credentials).await? {
            Credentials::ServiceAccount(account) => {
                let token = account.login_token(now)?;
                let body = serde_json::json!({ "uid": account.uid(), "token": token.expose() });
                self.login(account.uid(), &body, now).await
            }
            Credentials::Password { uid, password } => {
                let body = serde_json::json!({ "uid": uid, "password": password.expose() });
                self.login(&uid, &body, now).await
            }
            Credentials::Token { path, token } => {
                if let Some(exp) = token.exp.filter(|exp| *exp <= now.as_second()) {
                    let expired_at = Timestamp::from_second(exp).unwrap_or(Timestamp::UNIX_EPOCH);
                    return Err(AuthError::ExpiredTokenFile { path, expired_at });
                }
                if rejected == Some(&token) {
                    return Err(AuthError::RefusedTokenFile { path });
                }
                Ok(token)
            }
        }
    }

    /// Posts one login and reads the token out of the reply.
    async fn login(&self, uid: &str, body: &Value, now: Timestamp) -> Result<AuthToken, AuthError> {
        let url = &self.login_url;
        let unreachable = |source| AuthError::Unreachable { url: url.clone(), source };
        let response =
            self.http.post(url).timeout(LOGIN_TIMEOUT).json(body).send().await.map_err(unreachable)?;
        let status = response.status();
        let reply = response.bytes().await.map_err(unreachable)?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let code = error_code(&reply);
            return Err(AuthError::Refused { url: url.clone(), uid: uid.to_owned(), status, code });
        }
        if !status.is_success() {
            return Err(AuthError::Unexpected { url: url.clone(), status });
        }
        let malformed = |reason| AuthError::MalformedReply { url: url.clone(), reason };
        let value: Value = serde_json::from_slice(&reply).map_err(|_| malformed("not JSON"))?;
        let text =
            value.get("token").and_then(Value::as_str).ok_or_else(|| malformed("no \"token\" string"))?;
        let token = AuthToken::parse(text).map_err(malformed)?;
        match token.exp {
            None => Err(malformed("the token is not a JWT with an \"exp\" claim")),
            Some(exp) if exp <= now.as_second() => {
                Err(malformed("the token has expired already (is this machine's clock right?)"))
            }
            Some(_) => {
                tracing::debug!(uid, expires_at = ?token.expires_at(), "logged in to the DC/OS IAM");
                Ok(token)
            }
        }
    }
}

/// The innermost cause of a transport error: reqwest's own message only says that
/// sending failed, its sources say why (refused, timed out, certificate unknown).
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The login URL under the cluster URL.
fn login_url(cluster_url: &str) -> String {
    format!("{}{LOGIN_PATH}", cluster_url.trim_end_matches('/'))
}

/// The `code` of an IAM error reply (`{"title", "description", "code"}`), when it is
/// one: only upper-case words are taken, so that nothing else of the reply is repeated.
fn error_code(reply: &[u8]) -> String {
    serde_json::from_slice::<Value>(reply)
        .ok()
        .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_owned))
        .filter(|code| {
            code.len() <= 64 && code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .unwrap_or_else(|| "no error code".to_owned())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_files;
