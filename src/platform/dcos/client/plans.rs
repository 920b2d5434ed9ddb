//! The SDK scheduler's plans (`/service/<svc>/v1/plans...`, dcos-api.md §2, §2.4,
//! §9.6): read to follow a recovery (`pod replace` shows up in the plan `recovery`).

use super::{DcosClient, DcosError, unexpected};
use crate::platform::dcos::shapes::parse;
use crate::platform::dcos::shapes::plans::{PlanList, PlanReply};

impl DcosClient {
    /// `GET /service/<svc>/v1/plans`: the plan names, in the scheduler's order.
    ///
    /// # Errors
    /// When DC/OS cannot answer after retries, or answers something unexpected.
    pub async fn plans(&self) -> Result<PlanList, DcosError> {
        let what = "plan list";
        let (status, body) = self.read(what, &self.scheduler("/v1/plans")).await?;
        match status {
            200 => Ok(parse(what, &body)?),
            _ => Err(unexpected(what, status, &body)),
        }
    }

    /// `GET /service/<svc>/v1/plans/<name>`: 200 (complete), 202 (not complete) and
    /// 417 (errors) all carry the plan; the SDK's `text/plain` 404 is
    /// [`PlanReply::NotFound`]. `name` is a name from [`Self::plans`] (`recovery`).
    ///
    /// # Errors
    /// When DC/OS cannot answer after retries, or answers something unexpected
    /// (including a 404 that is not the SDK's).
    pub async fn plan(&self, name: &str) -> Result<PlanReply, DcosError> {
        let (status, body) = self.read("plan", &self.scheduler(&format!("/v1/plans/{name}"))).await?;
        Ok(PlanReply::from_http(status, &body)?)
    }
}
