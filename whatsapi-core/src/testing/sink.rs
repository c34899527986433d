use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::webhook::{DeliveryOutcome, StatusEvent, WebhookSink, WebhookTarget};

/// A `WebhookSink` that records every delivery and answers with scripted HTTP statuses (200 when none is queued).
#[derive(Clone, Default)]
pub struct RecordingSink {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    deliveries: Mutex<Vec<(WebhookTarget, StatusEvent)>>,
    answers: Mutex<VecDeque<Result<u16, String>>>,
    notify: Notify,
}

impl std::fmt::Debug for RecordingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordingSink({} deliveries)", self.deliveries().len())
    }
}

impl RecordingSink {
    /// A sink that answers 200.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next deliveries get these answers, in order (`Err` is a connection failure with that text).
    pub fn answer_with(&self, answers: impl IntoIterator<Item = Result<u16, String>>) {
        self.inner.answers.lock().unwrap().extend(answers);
    }

    /// Every delivery so far, in order.
    pub fn deliveries(&self) -> Vec<(WebhookTarget, StatusEvent)> {
        self.inner.deliveries.lock().unwrap().clone()
    }

    /// Only the events.
    pub fn events(&self) -> Vec<StatusEvent> {
        self.deliveries().into_iter().map(|(_, e)| e).collect()
    }

    /// Waits until at least `n` deliveries were recorded.
    pub async fn wait_for(&self, n: usize) {
        loop {
            let notified = self.inner.notify.notified();
            if self.inner.deliveries.lock().unwrap().len() >= n {
                return;
            }
            notified.await;
        }
    }
}

#[async_trait]
impl WebhookSink for RecordingSink {
    async fn deliver(&self, target: &WebhookTarget, event: &StatusEvent) -> DeliveryOutcome {
        let answer = self
            .inner
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(200));
        self.inner
            .deliveries
            .lock()
            .unwrap()
            .push((target.clone(), event.clone()));
        self.inner.notify.notify_waiters();
        match answer {
            Ok(status) => DeliveryOutcome {
                http_status: Some(status),
                error: None,
                duration_ms: 0,
            },
            Err(error) => DeliveryOutcome {
                http_status: None,
                error: Some(error),
                duration_ms: 0,
            },
        }
    }
}
