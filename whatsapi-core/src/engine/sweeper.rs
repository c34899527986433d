//! The sweeper: fails the messages whose validity period ended while nobody could claim them (every
//! [`EngineConfig::expiry_interval`]), and purges idempotency records past their retention, old outbox events and
//! old pending statuses (every [`EngineConfig::sweep_interval`]).
//!
//! [`EngineConfig::expiry_interval`]: super::EngineConfig::expiry_interval
//! [`EngineConfig::sweep_interval`]: super::EngineConfig::sweep_interval

use std::sync::Arc;

use super::{Core, StopRx, add, stopped};

pub(crate) async fn run(core: Arc<Core>, mut stop: StopRx) {
    let mut next_purge = core.clock.now();
    loop {
        if stop.borrow().is_some() {
            return;
        }
        expire(&core).await;
        let now = core.clock.now();
        if now >= next_purge {
            match core.store.purge_expired(now, core.config.purge).await {
                Ok(report) => tracing::debug!(?report, "purged expired rows"),
                Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
            }
            next_purge = add(now, core.config.sweep_interval);
        }
        let until = core.after(core.config.expiry_interval).min(next_purge);
        tokio::select! {
            _ = core.clock.sleep_until(until) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Fails every message whose validity period has ended and that nobody is sending, a batch per transaction.
async fn expire(core: &Core) {
    let batch = core.config.expiry_batch.max(1);
    loop {
        match core.store.expire_messages(core.clock.now(), batch).await {
            Ok(failed) => {
                if failed.is_empty() {
                    return;
                }
                tracing::info!(
                    count = failed.len(),
                    "messages expired before they could be sent"
                );
                core.deliver_wake.notify();
                if failed.len() < batch {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "failing expired messages failed; trying again at the next pass");
                return;
            }
        }
    }
}
