//! The sweeper: purges idempotency records past their retention, old outbox events, old pending statuses and
//! past rate-limit windows, on an interval.

use std::sync::Arc;

use super::{Core, StopRx, stopped};

pub(crate) async fn run(core: Arc<Core>, mut stop: StopRx) {
    loop {
        if stop.borrow().is_some() {
            return;
        }
        match core
            .store
            .purge_expired(core.clock.now(), core.config.purge)
            .await
        {
            Ok(report) => tracing::debug!(?report, "purged expired rows"),
            Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
        }
        let until = core.after(core.config.sweep_interval);
        tokio::select! {
            _ = core.clock.sleep_until(until) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}
