//! The IAM's login (§1.2, §9.9) and the token check Admin Router makes (§1.3): logins
//! with a service login token (RS256 under the account's public key, at most 10 min of
//! life) or a password; authentication tokens are RS256 JWTs `{uid, exp}` the fake
//! remembers, so that it can make them expire early (`expire_tokens`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use super::http::{Shared, json as reply};
use super::world::{Issued, lock, now_s};

/// The login path.
pub const LOGIN_PATH: &str = "/acs/api/v1/auth/login";

/// The IAM's keys and its one user and one service account.
pub struct Keys {
    /// Signs the authentication tokens.
    pub signing: EncodingKey,
    /// The service account's public key.
    pub account: DecodingKey,
    pub account_uid: String,
    pub user: String,
    pub password: String,
}

/// Whether the request carries a token the IAM issued, not expired, not revoked:
/// `Authorization: token=<jwt>` (or `Bearer <jwt>`, §9.9).
pub fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(token) = value.strip_prefix("token=").or_else(|| value.strip_prefix("Bearer ")) else {
        return false;
    };
    let w = lock(&shared.world);
    w.tokens.get(token).is_some_and(|t| t.serial >= w.tokens_valid_from && Instant::now() < t.expires)
}

fn refused(why: &str) -> Response {
    let body = json!({
        "title": "Invalid credentials",
        "description": format!("The credentials were not accepted: {why}."),
        "code": "ERR_INVALID_CREDENTIALS",
    });
    reply(401, "application/json", &body)
}

/// Checks a service login token: RS256 under the account's key, `uid` as sent, `exp`
/// ahead but at most 10 min.
fn check_login_token(keys: &Keys, uid: &str, token: &str) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        uid: String,
        exp: i64,
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["exp"]);
    validation.leeway = 0;
    let data =
        jsonwebtoken::decode::<Claims>(token, &keys.account, &validation).map_err(|e| e.to_string())?;
    if data.claims.uid != uid || uid != keys.account_uid {
        return Err(format!("uid {:?} signed, {uid:?} sent", data.claims.uid));
    }
    if data.claims.exp as f64 > now_s() + 600.0 {
        return Err("the login token lives longer than 10 minutes".into());
    }
    Ok(())
}

/// `POST /acs/api/v1/auth/login`.
pub async fn login(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.starts_with("application/json") {
        let body = json!({"title": "Bad request", "description": "Content-Type must be application/json", "code": "ERR_INVALID_DATA"});
        return reply(400, "application/json", &body);
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        let body = json!({"title": "Bad request", "description": "the body is not JSON", "code": "ERR_INVALID_DATA"});
        return reply(400, "application/json", &body);
    };
    let keys = &shared.iam;
    let uid = request["uid"].as_str().unwrap_or_default().to_owned();
    let checked = match (request["token"].as_str(), request["password"].as_str()) {
        (Some(token), None) => check_login_token(keys, &uid, token),
        (None, Some(password)) if uid == keys.user && password == keys.password => Ok(()),
        (None, Some(_)) => Err(format!("wrong password for {uid}")),
        _ => Err("neither token nor password".into()),
    };
    if let Err(why) = checked {
        return refused(&why);
    }
    let mut w = lock(&shared.world);
    let serial = w.next_serial;
    w.next_serial += 1;
    let life = w.token_life;
    let exp = (now_s() + life.as_secs_f64()).ceil() as i64;
    let claims = json!({"uid": uid, "exp": exp, "serial": serial});
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &keys.signing).expect("sign a token");
    w.tokens.insert(token.clone(), Issued { serial, expires: Instant::now() + life });
    reply(200, "application/json", &json!({"token": token}))
}

/// The default token life: five days, as DC/OS's default (§1.3).
pub const DEFAULT_TOKEN_LIFE: Duration = Duration::from_secs(5 * 24 * 3600);
