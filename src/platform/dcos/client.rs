//! The DC/OS client: requests through Admin Router (dcos-api.md §1.1) with the
//! authentication header, one new login after a 401, and reads into the shapes. It
//! decides nothing.
//!
//! Reads (`GET`, and Cosmos's `describe`, a `POST` that changes nothing) are retried
//! with backoff while DC/OS cannot answer: Admin Router's 502 and 503 while the
//! scheduler moves, an HTML error page, a refused connection, a timeout. Commands
//! (`POST .../restart`, `.../replace`, Cosmos's `update`) are sent once: the caller
//! knows from [`DcosError::certainly_not_made`] whether sending again is safe. A 401
//! (Admin Router's HTML page) is sent again once with a new token, commands too:
//! Admin Router refused it, so nothing was made.
//!
//! Plans are in `client/plans.rs`, Cosmos in `client/cosmos.rs`.

mod cosmos;
mod plans;

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, StatusCode, header};

use super::auth::{AuthError, TokenSource, http_client};
use super::shapes::files::FileChunk;
use super::shapes::marathon::Deployment;
use super::shapes::mesos::MasterState;
use super::shapes::pods::{PodCommandReply, PodInfo, PodList, PodStatus};
use super::shapes::{SdkReply, ShapeError};
use crate::domain::PodName;
use crate::manifest::desired::DcosSpec;
use crate::retry::ErrorKind;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a DC/OS request failed.
#[derive(Debug, thiserror::Error)]
pub enum DcosError {
    /// DC/OS was not reached, or Admin Router answered for a scheduler it could not
    /// reach (502, 503, an HTML page): the request was certainly not made.
    #[error("{what}: DC/OS could not be reached: {why}")]
    Unreachable {
        /// The request.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// No answer in time, or Admin Router's 504: the request may have been made.
    #[error("{what}: no answer in time: {why}")]
    Timeout {
        /// The request.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// A 403: the account lacks a permission the call needs (§1.3). Not made, and not
    /// retried: it answers the same until the permission is granted.
    #[error("{what}: permission denied (403); the account needs {needs} (docs/dcos.md, Deploying)")]
    Forbidden {
        /// The request.
        what: &'static str,
        /// The permissions the call needs, as `dcos security org users grant` takes them.
        needs: String,
    },
    /// Logging in failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The reply does not have the shape the reference gives, or an unexpected status.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// Cosmos answered with its error body (`{type, message, data}`, §9.10). A 4xx is
    /// a refusal that changed nothing (sending it again gets the same answer); after
    /// a 5xx Cosmos may have acted.
    #[error("{what}: Cosmos refused it ({status} {kind}): {message}")]
    Cosmos {
        /// The request.
        what: &'static str,
        /// The HTTP status.
        status: u16,
        /// Cosmos's error `type` (`MarathonAppNotFound`, `OptionsNotStored`...).
        kind: String,
        /// Cosmos's message.
        message: String,
    },
}

impl DcosError {
    /// Whether the request certainly did not reach the scheduler, so that sending a
    /// command again cannot make it twice.
    pub fn certainly_not_made(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::Forbidden { .. } | Self::Cosmos { status: 400..=499, .. }
        )
    }

    /// Whether a retry can help. DC/OS away, slow or busy: yes. A permission missing
    /// (403) or a Cosmos refusal: yes as well, for an administrator grants the
    /// permission or Marathon ends what Cosmos waits for with no change etcd-warden
    /// could see, and the worker's backoff reaches 30 s at most. A reply of another
    /// shape: yes, for a proxy can answer for DC/OS for a while
    /// (`e2e::dcos_faults`, the garbage). A login: as the [`AuthError`] says.
    pub fn retry(&self) -> ErrorKind {
        match self {
            Self::Unreachable { .. }
            | Self::Timeout { .. }
            | Self::Forbidden { .. }
            | Self::Shape(_)
            | Self::Cosmos { .. } => ErrorKind::Transient,
            Self::Auth(error) => error.retry(),
        }
    }

    fn retryable(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Timeout { .. })
    }
}

/// Talks to one DC/OS cluster on behalf of one SDK service.
#[derive(Debug)]
pub struct DcosClient {
    http: reqwest::Client,
    /// The cluster URL, without a trailing slash.
    url: String,
    /// The service name without its leading slash (`prod/kubernetes`).
    service: String,
    tokens: TokenSource,
}

impl DcosClient {
    /// A client for the manifest's DC/OS settings. Sends nothing yet.
    ///
    /// # Errors
    /// When the CA file cannot be read or TLS cannot be set up.
    pub fn new(spec: &DcosSpec) -> Result<Self, AuthError> {
        let http = http_client(spec.ca_file.as_deref())?;
        let tokens = TokenSource::new(spec, http.clone());
        let url = spec.url.trim_end_matches('/').to_owned();
        let service = spec.service.trim_matches('/').to_owned();
        Ok(Self { http, url, service, tokens })
    }

    /// `GET /service/<svc>/v1/pod`: the pod instance names.
    ///
    /// # Errors
    /// When DC/OS cannot answer after retries, or answers something unexpected.
    pub async fn pod_list(&self) -> Result<PodList, DcosError> {
        let what = "pod list";
        let (status, body) = self.read(what, &self.scheduler("/v1/pod")).await?;
        match status {
            200 => Ok(super::shapes::parse(what, &body)?),
            _ => Err(unexpected(what, status, &body)),
        }
    }

    /// `GET /service/<svc>/v1/pod/<pod>/status`.
    ///
    /// # Errors
    /// When DC/OS cannot answer after retries, or answers something unexpected.
    pub async fn pod_status(&self, pod: PodName) -> Result<SdkReply<PodStatus>, DcosError> {
        let what = "pod status";
        let (status, body) = self.read(what, &self.scheduler(&format!("/v1/pod/{pod}/status"))).await?;
        Ok(SdkReply::from_http(what, status, &body)?)
    }

    /// `GET /service/<svc>/v1/pod/<pod>/info`.
    ///
    /// # Errors
    /// When DC/OS cannot answer after retries, or answers something unexpected.
    pub async fn pod_info(&self, pod: PodName) -> Result<SdkReply<PodInfo>, DcosError> {
        let what = "pod info";
        let (status, body) = self.read(what, &self.scheduler(&format!("/v1/pod/{pod}/info"))).await?;
        Ok(SdkReply::from_http(what, status, &body)?)
    }

    /// `GET /mesos/master/state`.
    ///
    /// # Errors
    /// When DC/OS cannot answer after retries, or answers something unexpected.
    pub async fn master_state(&self) -> Result<MasterState, DcosError> {
        let what = "Mesos master state";
        let (status, body) = self.read(what, &format!("{}/mesos/master/state", self.url)).await?;
        match status {
            200 => Ok(super::shapes::parse(what, &body)?),
            _ => Err(unexpected(what, status, &body)),
        }
    }

    /// `GET /service/marathon/v2/deployments`: Marathon's running deployments (its
    /// authorizer lists those of the apps the account may read).
    ///
    /// # Errors
    /// When DC/OS cannot answer after retries, or answers something unexpected.
    pub async fn marathon_deployments(&self) -> Result<Vec<Deployment>, DcosError> {
        let what = "Marathon deployments";
        let (status, body) =
            self.read(what, &format!("{}/service/marathon/v2/deployments", self.url)).await?;
        match status {
            200 => Ok(super::shapes::parse(what, &body)?),
            _ => Err(unexpected(what, status, &body)),
        }
    }

    /// `GET /agent/<agent>/files/read?path=<path>&offset=<offset>&length=<length>`: a
    /// piece of a file in a task's sandbox; `offset` -1 asks for the file's length.
    ///
    /// # Errors
    /// When DC/OS cannot answer after retries, or answers something unexpected (a 404:
    /// no such file, or the agent no longer has the sandbox).
    pub async fn read_file(
        &self,
        agent: &str,
        path: &str,
        offset: i64,
        length: u64,
    ) -> Result<FileChunk, DcosError> {
        let what = "Mesos agent file read";
        let mut url = reqwest::Url::parse(&format!("{}/agent/{agent}/files/read", self.url))
            .map_err(|e| unexpected(what, 0, &e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("path", path)
            .append_pair("offset", &offset.to_string())
            .append_pair("length", &length.to_string());
        let (status, body) = self.read(what, url.as_str()).await?;
        match status {
            200 => Ok(super::shapes::parse(what, &body)?),
            _ => Err(unexpected(what, status, &body)),
        }
    }

    /// `POST /service/<svc>/v1/pod/<pod>/restart`, sent once.
    ///
    /// # Errors
    /// See [`DcosError::certainly_not_made`] before sending it again.
    pub async fn restart(&self, pod: PodName) -> Result<SdkReply<PodCommandReply>, DcosError> {
        self.command("pod restart", pod, "restart").await
    }

    /// `POST /service/<svc>/v1/pod/<pod>/replace`, sent once: the package's `recover`
    /// task then removes the old etcd member and adds the new one.
    ///
    /// # Errors
    /// See [`DcosError::certainly_not_made`] before sending it again.
    pub async fn replace(&self, pod: PodName) -> Result<SdkReply<PodCommandReply>, DcosError> {
        self.command("pod replace", pod, "replace").await
    }

    async fn command(
        &self,
        what: &'static str,
        pod: PodName,
        verb: &str,
    ) -> Result<SdkReply<PodCommandReply>, DcosError> {
        let url = self.scheduler(&format!("/v1/pod/{pod}/{verb}"));
        let (status, body) = self.send(&Call::new(what, Method::POST, &url).command()).await?;
        Ok(SdkReply::from_http(what, status, &body)?)
    }

    fn scheduler(&self, path: &str) -> String {
        format!("{}/service/{}{path}", self.url, self.service)
    }

    /// A `GET`, retried while DC/OS cannot answer.
    async fn read(&self, what: &'static str, url: &str) -> Result<(u16, String), DcosError> {
        self.retried(&Call::new(what, Method::GET, url)).await
    }

    /// A request that changes nothing, retried while DC/OS cannot answer: 0.5 s
    /// doubling to 4 s, five times.
    async fn retried(&self, call: &Call<'_>) -> Result<(u16, String), DcosError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(4))
            .with_max_times(5);
        let attempt = || self.send(call);
        attempt
            .retry(backoff)
            .when(DcosError::retryable)
            .notify(|error, wait| tracing::info!(%error, ?wait, "DC/OS cannot answer for now; retrying"))
            .await
    }

    /// One request with the current token; after a 401, once more with a new one
    /// (Admin Router refused the first, so nothing was made).
    async fn send(&self, call: &Call<'_>) -> Result<(u16, String), DcosError> {
        let token = self.tokens.token().await?;
        let reply = self.once(call, token.authorization_header()).await?;
        if reply.0 != StatusCode::UNAUTHORIZED.as_u16() {
            return Ok(reply);
        }
        let token = self.tokens.token_after_unauthorized(&token).await?;
        self.once(call, token.authorization_header()).await
    }

    async fn once(
        &self,
        call: &Call<'_>,
        authorization: header::HeaderValue,
    ) -> Result<(u16, String), DcosError> {
        let what = call.what;
        let mut request =
            self.http.request(call.method.clone(), call.url).header(header::AUTHORIZATION, authorization);
        if let Some(accept) = call.accept {
            request = request.header(header::ACCEPT, accept);
        }
        if let Some(body) = &call.body {
            request = request.header(header::CONTENT_TYPE, body.content_type).body(body.json.clone());
        }
        let response = request.timeout(REQUEST_TIMEOUT).send().await.map_err(|e| transport(what, &e))?;
        let status = response.status().as_u16();
        let html = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        let body = response.text().await.map_err(|e| transport(what, &e))?;
        match status {
            // nginx also answers 502 when the connection to the scheduler broke after
            // the request reached it: a command may have been carried out.
            502 if call.command => Err(DcosError::Timeout {
                what,
                why: "Admin Router answered 502 to a command: the scheduler may have acted before the connection broke".to_owned(),
            }),
            502 | 503 => Err(DcosError::Unreachable { what, why: format!("Admin Router answered {status}") }),
            504 => Err(DcosError::Timeout { what, why: "Admin Router answered 504".to_owned() }),
            // A 401 is Admin Router's `text/html` page too (§9.9): it goes back to `send`
            // for a new token, whatever its content type.
            401 => Ok((status, body)),
            403 => Err(DcosError::Forbidden { what, needs: permissions_for(call.url, &self.service) }),
            // An error page instead of an answer: Admin Router's, not the scheduler's.
            _ if html && status >= 400 => {
                Err(DcosError::Unreachable { what, why: format!("an HTML error page ({status})") })
            }
            _ => Ok((status, body)),
        }
    }
}

/// The permissions a call to `url` needs, for the service `service` (docs/dcos.md,
/// "Deploying"): Admin Router's for its path, and for Cosmos also Marathon's, since
/// Cosmos forwards the caller's token to Marathon (and on the 2.x line to the MKE
/// service).
pub(super) fn permissions_for(url: &str, service: &str) -> String {
    let path = reqwest::Url::parse(url).map(|u| u.path().to_owned()).unwrap_or_default();
    let marathon = format!("dcos:service:marathon:marathon:services:/{service}");
    if path.starts_with("/cosmos/service/update") {
        format!(
            "dcos:adminrouter:package full and {marathon} update (Cosmos updates the service's Marathon app with our token; on kubernetes-cluster 2.x also dcos:adminrouter:service:<MKE service> full)"
        )
    } else if path.starts_with("/cosmos/") {
        format!(
            "dcos:adminrouter:package full and {marathon} read (Cosmos reads the service's Marathon app with our token; on kubernetes-cluster 2.x also dcos:adminrouter:service:<MKE service> full)"
        )
    } else if path.starts_with("/service/marathon/") {
        format!("dcos:adminrouter:service:marathon full and {marathon} read")
    } else if path.starts_with("/agent/") {
        "dcos:adminrouter:ops:slave full".to_owned()
    } else if path.starts_with("/mesos/") {
        "dcos:adminrouter:ops:mesos full".to_owned()
    } else {
        format!("dcos:adminrouter:service:{service} full")
    }
}

/// One request: what it is for, where it goes, and what it carries besides the token.
#[derive(Debug, Clone)]
struct Call<'a> {
    /// Names the request in errors.
    what: &'static str,
    method: Method,
    url: &'a str,
    /// The media type of the reply asked for, if any.
    accept: Option<&'static str>,
    body: Option<JsonBody>,
    /// A command (it changes the service), sent once: an answer lost on the way leaves
    /// its outcome uncertain.
    command: bool,
}

/// A JSON request body, already serialized, with its media type.
#[derive(Debug, Clone)]
struct JsonBody {
    json: String,
    content_type: &'static str,
}

impl<'a> Call<'a> {
    fn new(what: &'static str, method: Method, url: &'a str) -> Self {
        Self { what, method, url, accept: None, body: None, command: false }
    }

    /// The same call, as a command.
    fn command(self) -> Self {
        Self { command: true, ..self }
    }

    /// With a JSON body of the media type `content_type`, asking for `accept`.
    fn json(
        self,
        body: &impl serde::Serialize,
        content_type: &'static str,
        accept: &'static str,
    ) -> Result<Self, DcosError> {
        let json = serde_json::to_string(body).map_err(|e| ShapeError::Value {
            what: self.what,
            reason: format!("the request cannot be written as JSON: {e}"),
        })?;
        Ok(Self { accept: Some(accept), body: Some(JsonBody { json, content_type }), ..self })
    }
}

fn transport(what: &'static str, error: &reqwest::Error) -> DcosError {
    let why = std::error::Error::source(error).map_or_else(|| error.to_string(), ToString::to_string);
    if error.is_timeout() {
        DcosError::Timeout { what, why }
    } else if error.is_connect() {
        DcosError::Unreachable { what, why }
    } else {
        // The connection broke after the request left: it may have been made.
        DcosError::Timeout { what, why }
    }
}

fn unexpected(what: &'static str, status: u16, body: &str) -> DcosError {
    DcosError::Shape(ShapeError::Status { what, status, body: super::shapes::excerpt(body) })
}
