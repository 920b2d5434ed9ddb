//! The DC/OS client: requests through Admin Router (dcos-api.md §1.1) with the
//! authentication header, one new login after a 401, and reads into the shapes. It
//! decides nothing.
//!
//! Reads (`GET`) are retried with backoff while DC/OS cannot answer: Admin Router's
//! 502 and 503 while the scheduler moves, an HTML error page, a refused connection, a
//! timeout. Commands (`POST .../restart`, `.../replace`) are sent once: the caller
//! knows from [`DcosError::certainly_not_made`] whether sending again is safe.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, StatusCode, header};

use super::auth::{AuthError, TokenSource, http_client};
use super::shapes::mesos::MasterState;
use super::shapes::pods::{PodCommandReply, PodInfo, PodStatus};
use super::shapes::{SdkReply, ShapeError};
use crate::domain::PodName;
use crate::manifest::desired::DcosSpec;

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
    /// Logging in failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The reply does not have the shape the reference gives, or an unexpected status.
    #[error(transparent)]
    Shape(#[from] ShapeError),
}

impl DcosError {
    /// Whether the request certainly did not reach the scheduler, so that sending a
    /// command again cannot make it twice.
    pub fn certainly_not_made(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
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
        let (status, body) = self.send(what, Method::POST, &url).await?;
        Ok(SdkReply::from_http(what, status, &body)?)
    }

    fn scheduler(&self, path: &str) -> String {
        format!("{}/service/{}{path}", self.url, self.service)
    }

    /// A `GET`, retried while DC/OS cannot answer: 0.5 s doubling to 4 s, five times.
    async fn read(&self, what: &'static str, url: &str) -> Result<(u16, String), DcosError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(4))
            .with_max_times(5);
        let attempt = || self.send(what, Method::GET, url);
        attempt
            .retry(backoff)
            .when(DcosError::retryable)
            .notify(|error, wait| tracing::info!(%error, ?wait, "DC/OS cannot answer for now; retrying"))
            .await
    }

    /// One request with the current token; after a 401, once more with a new one.
    async fn send(&self, what: &'static str, method: Method, url: &str) -> Result<(u16, String), DcosError> {
        let token = self.tokens.token().await?;
        let reply = self.once(what, method.clone(), url, token.authorization_header()).await?;
        if reply.0 != StatusCode::UNAUTHORIZED.as_u16() {
            return Ok(reply);
        }
        let token = self.tokens.token_after_unauthorized(&token).await?;
        self.once(what, method, url, token.authorization_header()).await
    }

    async fn once(
        &self,
        what: &'static str,
        method: Method,
        url: &str,
        authorization: header::HeaderValue,
    ) -> Result<(u16, String), DcosError> {
        let request = self.http.request(method, url).header(header::AUTHORIZATION, authorization);
        let response = request.timeout(REQUEST_TIMEOUT).send().await.map_err(|e| transport(what, &e))?;
        let status = response.status().as_u16();
        let html = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        let body = response.text().await.map_err(|e| transport(what, &e))?;
        match status {
            502 | 503 => Err(DcosError::Unreachable { what, why: format!("Admin Router answered {status}") }),
            504 => Err(DcosError::Timeout { what, why: "Admin Router answered 504".to_owned() }),
            // An error page instead of an answer: Admin Router's, not the scheduler's.
            // Not its 401 (`text/html` too, §9.9): that refuses the token, and `send`
            // logs in again.
            _ if html && status >= 400 && status != StatusCode::UNAUTHORIZED.as_u16() => {
                Err(DcosError::Unreachable { what, why: format!("an HTML error page ({status})") })
            }
            _ => Ok((status, body)),
        }
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
