//! Database maintenance steps: defragmenting one member, disarming the NOSPACE alarm.

use super::{ActContext, ActError};
use crate::domain::PodName;
use crate::model::History;
use crate::model::etcd::human_bytes;
use crate::platform::Platform;

/// Defragments one member, and records when (the pause before the next member, and
/// NOSPACE recovery, count from it).
pub(super) async fn defragment<P: Platform>(
    ctx: &ActContext<'_, P>,
    history: &mut History,
    pod: PodName,
    endpoint: &str,
) -> Result<(), ActError> {
    // Recorded before the call: a failure, a timeout or a crash may leave the member
    // defragmented (etcd goes on after a client gives up), and the pause before the
    // next one applies either way.
    history.seen.defragmented.insert(pod, ctx.now);
    ctx.store.put_history(ctx.name, history)?;
    let started = std::time::Instant::now();
    ctx.admin.defragment(endpoint).await?;
    tracing::info!(%pod, seconds = started.elapsed().as_secs_f64(), "member defragmented");
    Ok(())
}

/// What a defragmentation's event quotes: the database size before and after.
pub(super) async fn sizes<P: Platform>(ctx: &ActContext<'_, P>, endpoint: &str, before: i64) -> String {
    match ctx.admin.status(endpoint).await {
        Ok(after) => {
            let (before, after) = (human_bytes(before), human_bytes(after.db_size_bytes));
            tracing::info!(%before, %after, "database size");
            format!("; db {before} -> {after}")
        }
        Err(error) => format!("; db {} before, size after unknown ({error})", human_bytes(before)),
    }
}

/// Disarms the NOSPACE alarm.
pub(super) async fn disarm<P: Platform>(ctx: &ActContext<'_, P>, via: &str) -> Result<(), ActError> {
    let members = ctx.admin.disarm_no_space(via).await?;
    tracing::info!(members = members.len(), "NOSPACE alarm disarmed");
    Ok(())
}
