//! Cosmos, the package manager (`<url>/cosmos/service/{describe,update}`, dcos-api.md
//! §3, §9.10): reads the service's package options and, for a scale-up to three
//! members, sets `kubernetes.high_availability`. Both requests carry Cosmos's
//! versioned media types as `Content-Type` and `Accept`.

use reqwest::Method;

use super::{Call, DcosClient, DcosError, unexpected};
use crate::platform::dcos::shapes::cosmos::{
    CosmosError, DESCRIBE_REQUEST, DESCRIBE_RESPONSE, DescribeReply, DescribeRequest, UPDATE_REQUEST,
    UPDATE_RESPONSE, UpdateReply, UpdateRequest,
};
use crate::platform::dcos::shapes::parse;

impl DcosClient {
    /// `POST <url>/cosmos/service/describe` with `{"appId": "/<service>"}`: the
    /// installed package and its options ([`DescribeReply::high_availability`]).
    /// A `POST` that changes nothing, so it is retried like a read.
    ///
    /// # Errors
    /// When DC/OS cannot answer after retries, Cosmos refuses ([`DcosError::Cosmos`],
    /// for example `MarathonAppNotFound`), or the reply is unexpected.
    pub async fn describe(&self) -> Result<DescribeReply, DcosError> {
        let what = "Cosmos service describe";
        let url = format!("{}/cosmos/service/describe", self.url);
        let request = DescribeRequest {
            app_id: self.app_id(),
            manager_id: None,
            package_name: None,
            package_version: None,
        };
        let call = Call::new(what, Method::POST, &url).json(&request, DESCRIBE_REQUEST, DESCRIBE_RESPONSE)?;
        let (status, body) = self.retried(&call).await?;
        cosmos_reply(what, status, &body)
    }

    /// `POST <url>/cosmos/service/update` with
    /// `{"appId":"/<service>","options":{"kubernetes":{"high_availability":true}},"replace":false}`:
    /// Cosmos merges the option into the stored ones and Marathon redeploys the
    /// scheduler, which then adds the etcd members (seed scenario 2).
    ///
    /// # Guarantees
    /// Sent once: never retried here, except once with a new token after Admin
    /// Router's 401 (which made nothing).
    ///
    /// # Errors
    /// See [`DcosError::certainly_not_made`] before sending it again; a
    /// [`DcosError::Cosmos`] is a refusal that changed nothing.
    pub async fn update_high_availability(&self) -> Result<UpdateReply, DcosError> {
        self.update_options(serde_json::json!({ "kubernetes": { "high_availability": true } })).await
    }

    /// `POST <url>/cosmos/service/update` with high availability on and
    /// `etcd.5_etcd_nodes` (kubernetes-cluster 2.4 and later): five etcd members.
    ///
    /// # Errors
    /// As [`Self::update_high_availability`].
    pub async fn update_five_members(&self) -> Result<UpdateReply, DcosError> {
        let options = serde_json::json!({
            "kubernetes": { "high_availability": true },
            "etcd": { "5_etcd_nodes": true },
        });
        self.update_options(options).await
    }

    /// One update merging `options`, sent once.
    async fn update_options(&self, options: serde_json::Value) -> Result<UpdateReply, DcosError> {
        let what = "Cosmos service update";
        let url = format!("{}/cosmos/service/update", self.url);
        let request = UpdateRequest {
            app_id: self.app_id(),
            package_version: None,
            options: Some(options),
            replace: false,
        };
        let call =
            Call::new(what, Method::POST, &url).command().json(&request, UPDATE_REQUEST, UPDATE_RESPONSE)?;
        let (status, body) = self.send(&call).await?;
        cosmos_reply(what, status, &body)
    }

    /// The Marathon app ID of the scheduler: the service name with a leading slash
    /// (§9.10's form; §3's `kubernetes` without it is unsettled, see docs/dcos.md).
    pub fn app_id(&self) -> String {
        format!("/{}", self.service)
    }
}

/// A 200 body, or Cosmos's error body as [`DcosError::Cosmos`].
fn cosmos_reply<T: serde::de::DeserializeOwned>(
    what: &'static str,
    status: u16,
    body: &str,
) -> Result<T, DcosError> {
    match status {
        200 => Ok(parse(what, body)?),
        400..=599 => match serde_json::from_str::<CosmosError>(body) {
            Ok(error) => Err(DcosError::Cosmos { what, status, kind: error.kind, message: error.message }),
            Err(_) => Err(unexpected(what, status, body)),
        },
        _ => Err(unexpected(what, status, body)),
    }
}
