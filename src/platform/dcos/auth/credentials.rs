//! The credentials the manifest names: a service account's secret (and the login token
//! signed with its key), a uid and a password file, or a token file.

use super::*;

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
