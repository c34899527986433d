//! Wake-ups across replicas: a dedicated connection `LISTEN`s on the schema's channel and turns every
//! notification into a broadcast; once a transaction that made messages due has committed, the store's
//! [`Waker`] `NOTIFY`s the channel from a connection of its own.
//!
//! The `NOTIFY` is not part of the writing transaction on purpose: PostgreSQL serialises the commits of all
//! transactions that notify (they take one lock on the notification queue), which capped concurrent inserts of
//! one database. A replica's [`Waker`] instead sends at most one notification at a time and folds every wake-up
//! asked for meanwhile into the next one. A replica that dies between its commit and the notification costs the
//! others at most their idle poll (`EngineConfig::idle_poll`), never a message.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

/// Wakes this replica's dispatcher at once and every replica's through one `NOTIFY` at a time (see the module).
pub(crate) struct Waker {
    local: Option<broadcast::Sender<()>>,
    remote: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Waker {
    pub(crate) fn new(pool: Pool, channel: String, local: Option<broadcast::Sender<()>>) -> Self {
        let remote = Arc::new(Notify::new());
        let asked = remote.clone();
        let task = tokio::spawn(async move {
            loop {
                // A permit stored while the previous notification ran folds every wake-up since into this one.
                asked.notified().await;
                let sent = async {
                    let client = pool.get().await.map_err(|e| e.to_string())?;
                    client
                        .execute("SELECT pg_notify($1::text, '')", &[&channel])
                        .await
                        .map_err(|e| e.to_string())
                }
                .await;
                if let Err(e) = sent {
                    tracing::debug!(error = %e, "the wake-up notification failed; replicas notice by polling");
                }
            }
        });
        Self {
            local,
            remote,
            task,
        }
    }

    /// Called after a commit: `due` says whether it made messages due.
    pub(crate) fn wake(&self, due: bool) {
        if !due {
            return;
        }
        if let Some(local) = &self.local {
            let _ = local.send(());
        }
        self.remote.notify_one();
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How long to wait before connecting again after the listening connection failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The channel of a schema: at most 63 bytes, PostgreSQL's identifier limit.
pub(crate) fn channel(schema: &str) -> String {
    let mut name = format!("whatsapi_due_{schema}");
    while name.len() > 63 {
        name.pop();
    }
    name
}

/// Listens until the task is aborted, reconnecting when the connection drops. Every (re)connection raises one
/// wake-up too, since notifications sent while disconnected are lost.
pub(crate) async fn run(
    config: tokio_postgres::Config,
    channel: String,
    tx: broadcast::Sender<()>,
) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (notified, mut notifications) = mpsc::unbounded_channel::<()>();
                let driver = tokio::spawn(async move {
                    loop {
                        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                            Some(Ok(AsyncMessage::Notification(_))) => {
                                if notified.send(()).is_err() {
                                    break;
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "the LISTEN connection failed");
                                break;
                            }
                            None => break,
                        }
                    }
                });
                let quoted = channel.replace('"', "\"\"");
                match client.batch_execute(&format!("LISTEN \"{quoted}\"")).await {
                    Ok(()) => {
                        let _ = tx.send(());
                        while notifications.recv().await.is_some() {
                            let _ = tx.send(());
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                }
                driver.abort();
            }
            Err(e) => tracing::warn!(error = %e, "connecting the LISTEN connection failed"),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_fit_an_identifier() {
        assert_eq!(channel("public"), "whatsapi_due_public");
        assert_eq!(channel(&"x".repeat(100)).len(), 63);
    }
}
