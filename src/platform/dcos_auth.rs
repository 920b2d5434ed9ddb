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

/// A secret string (a password, a private key, a token). `Debug` and `Display` print
/// `<redacted>`, so that the secret never reaches a log or an error message.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Which file an error is about, as the error message names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The service account secret (JSON).
    ServiceAccountSecret,
    /// The password of a user login.
    Password,
    /// A ready authentication token.
    Token,
    /// The DC/OS CA bundle.
    Ca,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ServiceAccountSecret => "DC/OS service account secret file",
            Self::Password => "DC/OS password file",
            Self::Token => "DC/OS token file",
            Self::Ca => "DC/OS CA file",
        })
    }
}

/// Why authentication failed. No variant holds a secret; [`AuthError::is_permanent`]
/// tells whether retrying without a change can help.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A credentials or CA file could not be read.
    #[error("cannot read the {kind} {path}: {source}")]
    ReadFile {
        /// Which file.
        kind: FileKind,
        /// Its path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A credentials or CA file holds something unusable.
    #[error("the {kind} {path} is not usable: {reason}")]
    BadFile {
        /// Which file.
        kind: FileKind,
        /// Its path.
        path: PathBuf,
        /// What is wrong, in words of ours (never the file's content).
        reason: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot set up the HTTP client for DC/OS: {}", root_cause(.0))]
    HttpClient(#[source] reqwest::Error),
    /// The service login token could not be signed.
    #[error("cannot sign the service login token of {uid:?}: {source}")]
    Sign {
        /// The service account.
        uid: String,
        /// The underlying error.
        source: jsonwebtoken::errors::Error,
    },
    /// The IAM could not be reached, or its reply not read.
    #[error("cannot reach the DC/OS IAM at {url}: {}", root_cause(.source))]
    Unreachable {
        /// The login URL.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The IAM refused the credentials (401 or 403).
    #[error("the DC/OS IAM at {url} refused the login of {uid:?} ({status}, {code}): check the credentials")]
    Refused {
        /// The login URL.
        url: String,
        /// Who tried to log in.
        uid: String,
        /// The HTTP status.
        status: StatusCode,
        /// The IAM's error code (`ERR_INVALID_CREDENTIALS`), or a phrase when it sent none.
        code: String,
    },
    /// The IAM answered with another unexpected status.
    #[error("the DC/OS IAM at {url} answered {status} to the login")]
    Unexpected {
        /// The login URL.
        url: String,
        /// The HTTP status.
        status: StatusCode,
    },
    /// The IAM's reply is not `{"token": "<JWT with exp>"}`.
    #[error("the DC/OS IAM at {url} sent a malformed login reply: {reason}")]
    MalformedReply {
        /// The login URL.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The token in the token file has expired.
    #[error("the token in the DC/OS token file {path} expired at {expired_at}: write a fresh token")]
    ExpiredTokenFile {
        /// The token file.
        path: PathBuf,
        /// The token's `exp`.
        expired_at: Timestamp,
    },
    /// DC/OS refused the token of the token file, and the file still holds it.
    #[error("DC/OS refused the token in the DC/OS token file {path} (401): write a fresh token")]
    RefusedTokenFile {
        /// The token file.
        path: PathBuf,
    },
}

impl AuthError {
    /// Whether the error stays until something changes (a file, the credentials, the
    /// IAM's configuration): such errors are not worth a quick retry. Network errors,
    /// 5xx, 429 and malformed replies are transient.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::MalformedReply { .. } => false,
            Self::Unexpected { status, .. } => {
                !(status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS)
            }
            Self::ReadFile { .. }
            | Self::BadFile { .. }
            | Self::HttpClient(_)
            | Self::Sign { .. }
            | Self::Refused { .. }
            | Self::ExpiredTokenFile { .. }
            | Self::RefusedTokenFile { .. } => true,
        }
    }
}

/// A service account's RSA private key, ready to sign. `Debug` prints `<redacted>`.
#[derive(Clone)]
struct SigningKey(EncodingKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A service account, read from its secret file
/// (`{"scheme": "RS256", "uid", "private_key": "<PKCS#8 PEM>", "login_endpoint"}`).
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    uid: String,
    key: SigningKey,
    login_endpoint: Option<String>,
}

/// The claims of a service login token.
#[derive(serde::Serialize)]
struct LoginClaims<'a> {
    uid: &'a str,
    exp: i64,
}

impl ServiceAccount {
    /// Parses a secret file's text. The error is a reason in words of ours: it never
    /// quotes the text.
    fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("not JSON (line {}, column {})", e.line(), e.column()))?;
        let Value::Object(fields) = value else {
            return Err("not a JSON object".to_owned());
        };
        if let Some(scheme) = optional_string(&fields, "scheme")?
            && scheme != "RS256"
        {
            return Err(
                "field \"scheme\" is not \"RS256\" (the only scheme DC/OS service accounts use)".into()
            );
        }
        let uid = required_string(&fields, "uid")?;
        let pem = required_string(&fields, "private_key")?;
        let login_endpoint = optional_string(&fields, "login_endpoint")?.map(str::to_owned);
        const NOT_A_KEY: &str =
            "field \"private_key\" is not an RSA private key in PEM (PKCS#8, at least 2048 bits)";
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| NOT_A_KEY.to_owned())?;
        let account = Self { uid: uid.to_owned(), key: SigningKey(key), login_endpoint };
        // A public key or a short key parses; only signing tells.
        account.login_token(Timestamp::UNIX_EPOCH).map_err(|_| NOT_A_KEY.to_owned())?;
        Ok(account)
    }

    /// The service account's ID.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The login URL written in the secret. Informative only: it usually names
    /// `master.mesos`, reachable from inside the cluster, so the login goes to the
    /// manifest's URL instead.
    pub fn login_endpoint(&self) -> Option<&str> {
        self.login_endpoint.as_deref()
    }

    /// The service login token: an RS256 JWT `{"uid", "exp"}` that lives 120 s from `now`.
    ///
    /// # Errors
    /// When signing fails (the key was checked when the secret was read).
    pub fn login_token(&self, now: Timestamp) -> Result<Secret, AuthError> {
        let claims = LoginClaims { uid: &self.uid, exp: now.as_second() + LOGIN_TOKEN_LIFE_S };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key.0)
            .map(Secret::new)
            .map_err(|source| AuthError::Sign { uid: self.uid.clone(), source })
    }
}

/// A string field of a secret file, which must be there and not empty.
fn required_string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match optional_string(fields, name)? {
        Some(value) if !value.trim().is_empty() => Ok(value),
        Some(_) => Err(format!("field {name:?} is empty")),
        None => Err(format!("field {name:?} is missing")),
    }
}

/// A string field of a secret file that may be absent.
fn optional_string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(format!("field {name:?} is not a string")),
    }
}

/// The credentials, read from the files the manifest names.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A service account: logs in with a signed service login token.
    ServiceAccount(ServiceAccount),
    /// A user: logs in with a password.
    Password {
        /// The user ID.
        uid: String,
        /// The password (the file's text without its trailing line break).
        password: Secret,
    },
    /// A ready token; no login.
    Token {
        /// The token file, read again when the token is due.
        path: PathBuf,
        /// The token it holds.
        token: AuthToken,
    },
}

impl Credentials {
    /// Reads the files `spec` names and checks what they hold.
    ///
    /// # Errors
    /// [`AuthError::ReadFile`] or [`AuthError::BadFile`], naming the file and what is
    /// wrong with it (never its content).
    pub async fn load(spec: &DcosCredentials) -> Result<Self, AuthError> {
        match spec {
            DcosCredentials::ServiceAccount { secret_file } => {
                let kind = FileKind::ServiceAccountSecret;
                let text = read_secret_file(kind, secret_file).await?;
                ServiceAccount::parse(text.expose())
                    .map(Self::ServiceAccount)
                    .map_err(|reason| AuthError::BadFile { kind, path: secret_file.clone(), reason })
            }
            DcosCredentials::Password { uid, password_file } => {
                let password = read_secret_file(FileKind::Password, password_file).await?;
                Ok(Self::Password { uid: uid.clone(), password })
            }
            DcosCredentials::Token { token_file } => {
                let text = read_secret_file(FileKind::Token, token_file).await?;
                let token = AuthToken::parse(text.expose()).map_err(|reason| AuthError::BadFile {
                    kind: FileKind::Token,
                    path: token_file.clone(),
                    reason: reason.to_owned(),
                })?;
                Ok(Self::Token { path: token_file.clone(), token })
            }
        }
    }
}

/// Reads a file that holds a secret, without its trailing line break; refuses an
/// empty one.
async fn read_secret_file(kind: FileKind, path: &Path) -> Result<Secret, AuthError> {
    let bytes = tokio::fs::read(path).await.map_err(|source| AuthError::ReadFile {
        kind,
        path: path.to_owned(),
        source,
    })?;
    let bad = |reason: &str| AuthError::BadFile { kind, path: path.to_owned(), reason: reason.to_owned() };
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text"))?;
    let trimmed = text.trim_end_matches(['\r', '\n']);
    if trimmed.trim().is_empty() {
        return Err(bad("it is empty"));
    }
    Ok(Secret::new(trimmed.to_owned()))
}

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
#[path = "dcos_auth_tests.rs"]
mod tests;
