//! Database maintenance steps: defragmenting one member, disarming the NOSPACE alarm.

use super::ActError;
use crate::context::Context;
use crate::domain::PodName;
use crate::model::History;
use crate::model::etcd::human_bytes;
use crate::platform::Platform;

/// Defragments one member, and records when it ended (the pause before the next
/// member, and NOSPACE recovery, count from the end), with its run, duration and the
/// bytes it gave back in the metrics.
pub(super) async fn defragment<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    pod: PodName,
    endpoint: &str,
) -> Result<(), ActError> {
    // Recorded before the call: a failure, a timeout or a crash may leave the member
    // defragmented (etcd goes on after a client gives up), and the pause before the
    // next one applies either way.
    history.seen.defragmented.insert(pod, ctx.now);
    ctx.store.put_history(ctx.name(), history)?;
    let started = tokio::time::Instant::now();
    let timeout = ctx.desired.maintenance.defragmentation.timeout;
    let result = ctx.admin.defragment(endpoint, timeout).await;
    let took = started.elapsed();
    // Then again when it ended (the pass's time plus the time since the pass began):
    // the pause counts from there. A client that gave up leaves etcd defragmenting;
    // the next member waits for this one to answer healthy again (every voter
    // healthy, `plan::defrag`).
    let since_pass = jiff::SignedDuration::try_from(ctx.started.elapsed()).ok();
    let ended = since_pass.and_then(|d| ctx.now.checked_add(d).ok());
    history.seen.defragmented.insert(pod, ended.unwrap_or(ctx.now));
    ctx.store.put_history(ctx.name(), history)?;
    let member = crate::metrics::MemberLabel { cluster: ctx.name().to_string(), pod: pod.to_string() };
    ctx.metrics.defrag_duration.get_or_create(&member).observe(took.as_secs_f64());
    let outcome = if result.is_ok() { "succeeded" } else { "failed" };
    let label = crate::metrics::MemberResultLabel {
        cluster: ctx.name().to_string(),
        pod: pod.to_string(),
        result: outcome.to_owned(),
    };
    ctx.metrics.defrags.get_or_create(&label).inc();
    result?;
    tracing::info!(%pod, seconds = took.as_secs_f64(), "member defragmented");
    Ok(())
}

/// Counts the bytes a defragmentation gave back, in the metrics.
fn reclaimed<P: Platform>(ctx: &Context<'_, P>, pod: PodName, before: i64, after: i64) {
    let bytes = u64::try_from(before.saturating_sub(after)).unwrap_or(0);
    let member = crate::metrics::MemberLabel { cluster: ctx.name().to_string(), pod: pod.to_string() };
    ctx.metrics.defrag_reclaimed.get_or_create(&member).inc_by(bytes);
}

/// What a defragmentation's event quotes: the database size before and after (the
/// bytes given back are counted in the metrics).
pub(super) async fn sizes<P: Platform>(
    ctx: &Context<'_, P>,
    pod: PodName,
    endpoint: &str,
    before: i64,
) -> String {
    match ctx.admin.status(endpoint).await {
        Ok(after) => {
            reclaimed(ctx, pod, before, after.db_size_bytes);
            let (before, after) = (human_bytes(before), human_bytes(after.db_size_bytes));
            tracing::info!(%before, %after, "database size");
            format!("; db {before} -> {after}")
        }
        Err(error) => format!("; db {} before, size after unknown ({error})", human_bytes(before)),
    }
}

/// Disarms the NOSPACE alarm, counted before the call (a disarm that does not hold is
/// not repeated at once: `plan::nospace`).
pub(super) async fn disarm<P: Platform>(
    ctx: &Context<'_, P>,
    history: &mut History,
    via: &str,
) -> Result<(), ActError> {
    let count = history.seen.disarms.map_or(0, |d| d.count);
    history.seen.disarms = Some(crate::model::Restarts { count: count + 1, last: ctx.now });
    ctx.store.put_history(ctx.name(), history)?;
    let members = ctx.admin.disarm_no_space(via).await?;
    tracing::info!(members = members.len(), "NOSPACE alarm disarmed");
    Ok(())
}
