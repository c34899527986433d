use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};

use crate::webhook::{DeliveryOutcome, WebhookEvent, WebhookSink, WebhookTarget};

/// A `WebhookSink` that records every delivery and answers with scripted HTTP statuses (200 when none is queued).
#[derive(Clone, Default)]
pub struct RecordingSink {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    deliveries: Mutex<Vec<(WebhookTarget, WebhookEvent)>>,
    answers: Mutex<VecDeque<Result<u16, String>>>,
    /// Answers for one URL, until cleared (before the scripted answers).
    url_answers: Mutex<HashMap<String, Result<u16, String>>>,
    /// URLs whose deliveries wait until resumed.
    paused: Mutex<HashMap<String, Arc<Semaphore>>>,
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

    /// Every delivery to `url` gets this answer until [`clear_url`](Self::clear_url) (`Err`: a connection
    /// failure with that text). Such deliveries are recorded too.
    pub fn answer_url(&self, url: &str, answer: Result<u16, String>) {
        self.inner
            .url_answers
            .lock()
            .unwrap()
            .insert(url.to_owned(), answer);
    }

    /// Deliveries to `url` are answered as any other again.
    pub fn clear_url(&self, url: &str) {
        self.inner.url_answers.lock().unwrap().remove(url);
    }

    /// Deliveries to `url` hang (a slow endpoint) until [`resume_url`](Self::resume_url); they are recorded
    /// once they go through.
    pub fn pause_url(&self, url: &str) {
        self.inner
            .paused
            .lock()
            .unwrap()
            .insert(url.to_owned(), Arc::new(Semaphore::new(0)));
    }

    /// Lets the deliveries to `url` that wait, and every later one, go through.
    pub fn resume_url(&self, url: &str) {
        if let Some(gate) = self.inner.paused.lock().unwrap().remove(url) {
            gate.close();
        }
    }

    /// The deliveries to `url` so far, in order.
    pub fn events_to(&self, url: &str) -> Vec<WebhookEvent> {
        self.deliveries()
            .into_iter()
            .filter(|(t, _)| t.url == url)
            .map(|(_, e)| e)
            .collect()
    }

    /// Every delivery so far, in order.
    pub fn deliveries(&self) -> Vec<(WebhookTarget, WebhookEvent)> {
        self.inner.deliveries.lock().unwrap().clone()
    }

    /// Only the events.
    pub fn events(&self) -> Vec<WebhookEvent> {
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
    async fn deliver(&self, target: &WebhookTarget, event: &WebhookEvent) -> DeliveryOutcome {
        let gate = self.inner.paused.lock().unwrap().get(&target.url).cloned();
        if let Some(gate) = gate {
            // Closed when resumed: waiting ends then.
            let _ = gate.acquire().await;
        }
        let fixed = self
            .inner
            .url_answers
            .lock()
            .unwrap()
            .get(&target.url)
            .cloned();
        let answer = match fixed {
            Some(a) => a,
            None => self
                .inner
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Ok(200)),
        };
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
