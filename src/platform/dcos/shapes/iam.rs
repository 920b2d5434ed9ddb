//! The IAM login (`POST /acs/api/v1/auth/login`, dcos-api.md §1.2, §1.3, §9.9) and the
//! service account secret the controller logs in with. Secrets never show in `Debug`.

use serde::{Deserialize, Serialize};

/// A secret string (password, private key, token): serialised as is (it is sent), and
/// printed as `<redacted>` by `Debug` and `Display`, so that it never reaches a log or
/// an error message.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the one place that sends or uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A login request, `Content-Type: application/json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LoginRequest {
    /// A local user (Enterprise).
    Password {
        /// The user ID.
        uid: String,
        /// The password.
        password: Secret,
    },
    /// A service account: `token` is a service login JWT (RS256, claims `uid` and `exp`,
    /// at most 10 minutes of life) signed with the account's private key.
    ServiceAccount {
        /// The service account ID.
        uid: String,
        /// The service login JWT.
        token: Secret,
    },
    /// An older open-source cluster: an OpenID Connect ID token.
    IdToken {
        /// The ID token.
        token: Secret,
    },
}

/// A login reply: a DC/OS authentication token, sent as `Authorization: token=<token>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginReply {
    /// An RS256 JWT with claims `uid` and `exp` (5 days of life by default).
    pub token: Secret,
}

/// The claims of a DC/OS token or a service login token (the JWT's payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// Who the token is for.
    pub uid: String,
    /// When it expires, in seconds since the epoch: refresh 30 s before.
    pub exp: i64,
}

/// A login failure (401), `{title, description, code}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IamError {
    /// A short title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `ERR_INVALID_CREDENTIALS`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A service account secret as the DC/OS secret store holds it (the file of
/// `serviceAccountSecretFile`, or `DCOS_SERVICE_ACCOUNT_CREDENTIAL` in a task).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountSecret {
    /// `RS256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// The service account ID.
    pub uid: String,
    /// The RSA private key, PKCS#8 PEM.
    pub private_key: Secret,
    /// Where to log in (`http://` in security mode `disabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_endpoint: Option<String>,
}
