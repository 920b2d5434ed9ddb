//! Cosmos, the package manager (`/cosmos/service/{describe,update}`, dcos-api.md §3,
//! §9.10): where the package option `kubernetes.high_availability` is read and set.

use serde::{Deserialize, Serialize};

use super::ShapeError;

/// `Content-Type` of a describe request.
pub const DESCRIBE_REQUEST: &str =
    "application/vnd.dcos.service.describe-request+json;charset=utf-8;version=v1";
/// `Accept` of a describe request.
pub const DESCRIBE_RESPONSE: &str =
    "application/vnd.dcos.service.describe-response+json;charset=utf-8;version=v1";
/// `Content-Type` of an update request.
pub const UPDATE_REQUEST: &str = "application/vnd.dcos.service.update-request+json;charset=utf-8;version=v1";
/// `Accept` of an update request.
pub const UPDATE_RESPONSE: &str =
    "application/vnd.dcos.service.update-response+json;charset=utf-8;version=v1";

/// `POST /cosmos/service/describe` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRequest {
    /// The Marathon app ID of the service's scheduler (`/kubernetes`).
    pub app_id: String,
    /// The package manager to ask, where there are several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager_id: Option<String>,
    /// The package name, to check it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_name: Option<String>,
    /// The package version, to check it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_version: Option<String>,
}

/// `POST /cosmos/service/describe` reply.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeReply {
    /// The installed package.
    pub package: Package,
    /// Versions it can be upgraded to.
    #[serde(default)]
    pub upgrades_to: Vec<String>,
    /// Versions it can be downgraded to.
    #[serde(default)]
    pub downgrades_to: Vec<String>,
    /// The package defaults merged with the user's options (Enterprise 1.10 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_options: Option<serde_json::Value>,
    /// The options the user gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_provided_options: Option<serde_json::Value>,
}

impl DescribeReply {
    /// `kubernetes.high_availability`: from the resolved options, else from the user's;
    /// `None` when neither has it (the package default is `false`, but an older
    /// Cosmos that leaves out resolved options cannot confirm it).
    ///
    /// # Errors
    ///
    /// The option is there but not a boolean.
    pub fn high_availability(&self) -> Result<Option<bool>, ShapeError> {
        let from = |options: &Option<serde_json::Value>| {
            options
                .as_ref()
                .and_then(|o| o.get("kubernetes"))
                .and_then(|k| k.get("high_availability"))
                .cloned()
        };
        match from(&self.resolved_options).or_else(|| from(&self.user_provided_options)) {
            None => Ok(None),
            Some(serde_json::Value::Bool(on)) => Ok(Some(on)),
            Some(other) => Err(ShapeError::Value {
                what: "kubernetes.high_availability",
                reason: format!("{other} is not a boolean"),
            }),
        }
    }
}

/// A package definition: the parts the controller reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Package {
    /// `kubernetes`.
    pub name: String,
    /// `1.3.1-1.10.8`.
    pub version: String,
}

/// The two lines of the DC/OS Kubernetes package (docs/dcos.md, "Package lines").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageLine {
    /// `kubernetes` 1.x: etcd on the host network; the Marathon template's
    /// `ETCD_COUNT` follows high availability (1 or 3), and turning it on redeploys
    /// the whole control plane too.
    One,
    /// `kubernetes-cluster` 2.x (and its `beta-kubernetes` 2.0.0): etcd on the `dcos`
    /// overlay; the scheduler computes the member count, and Cosmos forwards describe
    /// and update to the MKE service (`manager`). `minor` is the package's.
    Two {
        /// `4` for 2.4.x.
        minor: u32,
    },
}

impl PackageLine {
    /// The most etcd members the line runs: 5 from 2.4 on (`etcd.5_etcd_nodes`, with
    /// high availability on), else 3.
    pub fn max_members(self) -> usize {
        match self {
            Self::Two { minor } if minor >= 4 => 5,
            _ => 3,
        }
    }
}

impl Package {
    /// The package line, from the name and the version's leading `major.minor`;
    /// `None` for another package or an unreadable version.
    pub fn line(&self) -> Option<PackageLine> {
        let mut parts = self.version.split(['.', '-']);
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next()?.parse().ok()?;
        match (self.name.as_str(), major) {
            ("kubernetes", 1) => Some(PackageLine::One),
            ("kubernetes-cluster" | "beta-kubernetes", 2) => Some(PackageLine::Two { minor }),
            _ => None,
        }
    }
}

/// `POST /cosmos/service/update` request. With `replace: false` the stored options are
/// deep-merged with `options`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    /// The Marathon app ID of the scheduler.
    pub app_id: String,
    /// A package version to move to; `None` keeps the installed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_version: Option<String>,
    /// Options to merge or to replace with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Value>,
    /// Whether `options` replace the stored ones (required by Cosmos).
    pub replace: bool,
}

/// `POST /cosmos/service/update` reply.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateReply {
    /// The package now installed.
    pub package: Package,
    /// The options now in force.
    pub resolved_options: serde_json::Value,
    /// The Marathon deployment that applies them.
    pub marathon_deployment_id: String,
}

/// A Cosmos error body (400 and others).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct CosmosError {
    /// `MarathonAppNotFound`, `OptionsNotStored`...
    #[serde(rename = "type")]
    pub kind: String,
    /// A sentence.
    pub message: String,
    /// Details, shape depending on `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}
