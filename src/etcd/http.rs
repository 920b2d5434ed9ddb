//! What etcd says over plain HTTP on its client URL, where gRPC does not say it:
//! - `/metrics`: the bytes of the database in use
//!   (`etcd_mvcc_db_total_size_in_use_in_bytes`), missing from etcd 3.3's Status (in it
//!   from 3.4 on). Without it, a 3.3 member's fragmentation would be unknown and it
//!   would never be defragmented.
//! - `/version`: the cluster's version (`etcdcluster`), which the leader raises only
//!   once every member runs the newer version. Learners need it at 3.4 or later.

use std::time::Duration;

use super::tls::ClientTls;

/// The gauge of the bytes in use.
const IN_USE: &str = "etcd_mvcc_db_total_size_in_use_in_bytes";

/// The value of the gauge `name` (without labels) in a Prometheus text page.
pub(super) fn gauge(page: &str, name: &str) -> Option<f64> {
    page.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse::<f64>().ok().filter(|v| v.is_finite())
    })
}

const QUOTA: &str = "etcd_server_quota_backend_bytes";

/// What a member's `/metrics` page says of its database: the bytes in use (etcd 3.3's
/// Status lacks them) and the quota it runs with (`--quota-backend-bytes`; Status has
/// it only from 3.6). Each is none when the page cannot be read or lacks the gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct DatabaseGauges {
    pub in_use: Option<i64>,
    pub quota: Option<i64>,
}

/// The database gauges of the member at `endpoint`.
pub(super) async fn database_gauges(
    endpoint: &str,
    tls: Option<&ClientTls>,
    timeout: Duration,
) -> DatabaseGauges {
    let Ok(page) =
        page(endpoint, tls, timeout).await.map_err(|e| tracing::debug!(endpoint, error = %e, "no /metrics"))
    else {
        return DatabaseGauges::default();
    };
    // Byte counts: far below 2^53, so the floats are exact.
    #[allow(clippy::cast_possible_truncation)]
    let bytes = |name| gauge(&page, name).map(|v| v as i64);
    DatabaseGauges { in_use: bytes(IN_USE), quota: bytes(QUOTA) }
}

/// The cluster's version as the member at `endpoint` knows it (`3.4.0`; `not_decided`
/// right after a start).
pub(super) async fn cluster_version(
    endpoint: &str,
    tls: Option<&ClientTls>,
    timeout: Duration,
) -> Result<String, reqwest::Error> {
    #[derive(serde::Deserialize)]
    struct Versions {
        etcdcluster: String,
    }
    let versions: Versions = get(endpoint, "version", tls, timeout).await?.json().await?;
    Ok(versions.etcdcluster)
}

async fn page(endpoint: &str, tls: Option<&ClientTls>, timeout: Duration) -> Result<String, reqwest::Error> {
    get(endpoint, "metrics", tls, timeout).await?.text().await
}

async fn get(
    endpoint: &str,
    path: &str,
    tls: Option<&ClientTls>,
    timeout: Duration,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut builder = reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none());
    if let Some(tls) = tls.filter(|_| endpoint.starts_with("https://")) {
        builder = tls.apply(builder)?;
    }
    let url = format!("{}/{path}", endpoint.trim_end_matches('/'));
    builder.build()?.get(url).send().await?.error_for_status()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gauge_is_read_by_its_exact_name_in_any_number_format() {
        let page = "# HELP etcd_mvcc_db_total_size_in_use_in_bytes Total size\n\
                    # TYPE etcd_mvcc_db_total_size_in_use_in_bytes gauge\n\
                    etcd_mvcc_db_total_size_in_use_in_bytes_other 7\n\
                    etcd_mvcc_db_total_size_in_use_in_bytes 16384\n\
                    etcd_server_quota_backend_bytes 2.147483648e+09\n";
        assert_eq!(gauge(page, IN_USE), Some(16384.0));
        assert_eq!(gauge(page, "etcd_server_quota_backend_bytes"), Some(2_147_483_648.0));
        assert_eq!(gauge(page, "etcd_missing"), None);
        assert_eq!(gauge("etcd_mvcc_db_total_size_in_use_in_bytes NaN\n", IN_USE), None);
        assert_eq!(gauge("etcd_mvcc_db_total_size_in_use_in_bytes x\n", IN_USE), None);
    }
}
