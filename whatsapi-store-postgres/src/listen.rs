//! Wake-ups across replicas: a dedicated connection `LISTEN`s on the schema's channel and turns every
//! notification into a broadcast; the transactions that make messages due `NOTIFY` it on commit.

use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio_postgres::{AsyncMessage, NoTls};

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
