//! Starting a sandbox and the handle tests use to inspect and steer it.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::SandboxConfig;
use crate::ids;
use crate::record::{RecordedRequest, WebhookDelivery};
use crate::routes;
use crate::webhooks::{Dispatcher, WebhookError};

/// How long an inbound message keeps the customer service window open.
const SERVICE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// State shared by the routes, the dispatcher and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: SandboxConfig,
    pub dispatcher: Dispatcher,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Valid sends per recipient, for the magic counters.
    attempts: Mutex<HashMap<String, u32>>,
    /// Last inbound message per (phone number id, customer).
    windows: Mutex<HashMap<(String, String), DateTime<Utc>>>,
    /// While set, every send answers this HTTP status (see [`SandboxHandle::set_outage`]).
    outage: Mutex<Option<u16>>,
    /// Uploaded media and the inbound wamids delivered per number.
    pub media: crate::media::MediaState,
    /// The `status: read` calls answered, accepted or not.
    reads: Mutex<Vec<RecordedRequest>>,
}

impl Shared {
    /// Records a `status: read` call.
    pub fn record_read(&self, request: RecordedRequest) {
        let mut reads = self.reads.lock().expect("reads lock");
        // Bounded like the inbound wamids: a long-running sandbox keeps the latest.
        if reads.len() >= crate::media::MAX_INBOUND_PER_NUMBER {
            reads.remove(0);
        }
        reads.push(request);
    }

    pub fn record(&self, request: RecordedRequest) {
        self.requests.lock().expect("requests lock").push(request);
    }

    /// Counts one more valid send to `wa_id`; answers its 1-based number.
    pub fn count_attempt(&self, wa_id: &str) -> u32 {
        let mut attempts = self.attempts.lock().expect("attempts lock");
        let n = attempts.entry(wa_id.to_owned()).or_default();
        *n += 1;
        *n
    }

    /// Whether `wa_id` wrote to this number in the last 24 hours.
    pub fn window_open(&self, phone_number_id: &str, wa_id: &str) -> bool {
        self.windows
            .lock()
            .expect("windows lock")
            .get(&(phone_number_id.to_owned(), wa_id.to_owned()))
            .is_some_and(|at| Utc::now() - *at < SERVICE_WINDOW)
    }

    /// The HTTP status every send answers while an outage is on.
    pub fn outage(&self) -> Option<u16> {
        *self.outage.lock().expect("outage lock")
    }
}

/// Entry point: starts sandboxes.
#[derive(Debug, Clone, Copy)]
pub struct Sandbox;

impl Sandbox {
    /// Binds `config.listen` and serves in the background.
    pub async fn start(config: SandboxConfig) -> io::Result<SandboxHandle> {
        let listener = TcpListener::bind(config.listen).await?;
        Self::start_on(listener, config)
    }

    /// Serves on a listener bound by the caller, in the background.
    pub fn start_on(listener: TcpListener, config: SandboxConfig) -> io::Result<SandboxHandle> {
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let dispatcher = Dispatcher::new(
            config.app_secret.clone(),
            config.waba_id.clone(),
            config.webhook_retry,
            config.callback_url.clone(),
            shutdown_rx.clone(),
        );
        let shared = Arc::new(Shared {
            config,
            dispatcher,
            requests: Mutex::default(),
            attempts: Mutex::default(),
            windows: Mutex::default(),
            outage: Mutex::default(),
            media: crate::media::MediaState::default(),
            reads: Mutex::default(),
        });
        let app = routes::router(Arc::clone(&shared));
        let mut stop = shutdown_rx;
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // An error means the handle is gone: stop too.
                    let _ = stop.wait_for(|stopped| *stopped).await;
                })
                .await
        });
        Ok(SandboxHandle {
            addr,
            shared,
            shutdown,
            server,
        })
    }
}

/// A running sandbox: its address, what it received and posted, and the controls tests need.
#[derive(Debug)]
pub struct SandboxHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<io::Result<()>>,
}

impl SandboxHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ip:port`, the `base_url` to give a Graph client in place of `https://graph.facebook.com`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Simulates a Meta outage: while `Some(status)`, every send (valid or not, after authentication) answers
    /// that HTTP status with Meta's error body — 131000 "Something went wrong" for 500, code 2 "Service
    /// temporarily unavailable" for any other status — and is recorded but not accepted. `None` ends it.
    pub fn set_outage(&self, status: Option<u16>) {
        *self.shared.outage.lock().expect("outage lock") = status;
    }

    /// The configuration it runs with (the callback URL as it was at start).
    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// Every `POST …/messages` answered, accepted or not, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    /// Every `status: read` call (mark as read, typing indicator) answered, accepted or not, in arrival order.
    pub fn reads(&self) -> Vec<RecordedRequest> {
        self.shared.reads.lock().expect("reads lock").clone()
    }

    /// The accepted sends (HTTP 200), in arrival order.
    pub fn sent(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::accepted)
            .collect()
    }

    /// Every send to `to` (compared on digits, so `+1 415…` matches `1415…`), accepted or not.
    pub fn requests_for(&self, to: &str) -> Vec<RecordedRequest> {
        let digits: String = to.chars().filter(char::is_ascii_digit).collect();
        self.requests()
            .into_iter()
            .filter(|r| r.to.as_deref() == Some(digits.as_str()))
            .collect()
    }

    /// Every webhook POST attempt so far, failed ones and retries included, in order.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.shared.dispatcher.deliveries()
    }

    /// Polls every 10 ms until `done` holds for the deliveries so far; `None` if `timeout` passes first.
    pub async fn wait_for_webhooks(
        &self,
        timeout: Duration,
        done: impl Fn(&[WebhookDelivery]) -> bool,
    ) -> Option<Vec<WebhookDelivery>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let deliveries = self.webhook_deliveries();
            if done(&deliveries) {
                return Some(deliveries);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The callback URL webhooks go to now.
    pub fn callback_url(&self) -> Option<String> {
        self.shared.dispatcher.callback_url()
    }

    /// Sets (or with `None`, removes) the callback URL; statuses not yet posted go to the new one.
    pub fn set_callback_url(&self, url: Option<String>) {
        self.shared.dispatcher.set_callback_url(url);
    }

    /// A customer `from` writes `text` to the first configured number; see [`SandboxHandle::inbound_to`].
    pub async fn inbound(&self, from: &str, text: &str) -> Result<String, WebhookError> {
        let id = self
            .shared
            .config
            .phone_numbers
            .first()
            .map(|n| n.id.clone())
            .unwrap_or_default();
        self.inbound_to(&id, from, text).await
    }

    /// A customer `from` writes `text` to the business number `phone_number_id`: opens its 24-hour window and
    /// posts the signed `messages[]` webhook (with retries). Answers the inbound message's wamid once the
    /// callback accepted it.
    pub async fn inbound_to(
        &self,
        phone_number_id: &str,
        from: &str,
        text: &str,
    ) -> Result<String, WebhookError> {
        self.customers().write(phone_number_id, from, text).await
    }

    /// A cloneable handle that simulates customers writing in (for `POST /sandbox/inbound` of a whatsapi server in
    /// `--sandbox` mode).
    pub fn customers(&self) -> Customers {
        Customers {
            shared: self.shared.clone(),
        }
    }

    /// Stops serving and posting webhooks; waits for requests in flight to be answered.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("sandbox server stopped with an error: {e}"),
            Err(e) => tracing::warn!("sandbox server task failed: {e}"),
        }
    }
}

/// Simulates customers writing to the sandbox's business numbers: see [`SandboxHandle::customers`].
#[derive(Debug, Clone)]
pub struct Customers {
    shared: Arc<Shared>,
}

impl Customers {
    /// A customer `from` writes `text` to the business number `phone_number_id` (with `open_numbers`, any numeric
    /// id): opens its 24-hour window and posts the signed `messages[]` webhook, exactly as Meta would (with
    /// retries). Answers the inbound message's wamid once the callback accepted it.
    pub async fn write(
        &self,
        phone_number_id: &str,
        from: &str,
        text: &str,
    ) -> Result<String, WebhookError> {
        let message = serde_json::json!({"type": "text", "text": {"body": text}});
        self.send(phone_number_id, from, &message).await
    }

    /// A customer `from` (a phone number, or a BSUID such as `US.13491208655302741918`) sends any message to the
    /// business number `phone_number_id`: `message` is Meta's message object without the sender
    /// (`{"type": "location", "location": {…}}`, `{"type": "interactive", "interactive": {"type":
    /// "button_reply", …}}`, `{"type": "reaction", …}`, `{"type": "system", …}`, …; add `context` to reply to a
    /// message). Its `id` is the wamid when given (to deliver the same message again, as Meta may), else a new
    /// one. Opens the 24-hour window, posts the signed webhook with retries, and answers the wamid.
    pub async fn send(
        &self,
        phone_number_id: &str,
        from: &str,
        message: &serde_json::Value,
    ) -> Result<String, WebhookError> {
        let number = self
            .shared
            .config
            .number_or_open(phone_number_id)
            .ok_or_else(|| WebhookError::UnknownPhoneNumber(phone_number_id.to_owned()))?;
        // A phone number in any format names its digits; a business-scoped user id is kept as it is.
        let wa_id: String = if crate::validate::is_user_id(from) {
            from.to_owned()
        } else {
            from.chars().filter(char::is_ascii_digit).collect()
        };
        self.shared
            .windows
            .lock()
            .expect("windows lock")
            .insert((number.id.clone(), wa_id.clone()), Utc::now());
        let wamid = message
            .get("id")
            .and_then(serde_json::Value::as_str)
            .map_or_else(|| ids::wamid(&wa_id), str::to_owned);
        self.shared.media.delivered_inbound(&number.id, &wamid);
        self.shared
            .dispatcher
            .inbound_message(&number, &wa_id, message, &wamid)
            .await?;
        Ok(wamid)
    }

    /// A customer sends a media file (`kind` is `image`, `video`, `audio`, `document` or `sticker`): the bytes
    /// are kept like an upload of the business number, so `GET /{media_id}` and its download URL serve them with
    /// the number's token, and the message carries the media id, MIME type and SHA-256 as Meta's does, with the
    /// caption when given. Answers the wamid and the media id.
    pub async fn send_media(
        &self,
        phone_number_id: &str,
        from: &str,
        kind: &str,
        mime: &str,
        bytes: impl Into<axum::body::Bytes>,
        caption: Option<&str>,
    ) -> Result<(String, String), WebhookError> {
        let bytes = bytes.into();
        let sha256 = crate::media::sha256_hex(&bytes);
        let number = self
            .shared
            .config
            .number_or_open(phone_number_id)
            .ok_or_else(|| WebhookError::UnknownPhoneNumber(phone_number_id.to_owned()))?;
        let media_id = self.shared.media.store(crate::media::StoredMedia {
            phone_number_id: number.id.clone(),
            mime: mime.to_owned(),
            sha256: sha256.clone(),
            bytes,
        });
        let mut part = serde_json::json!({"id": media_id, "mime_type": mime, "sha256": sha256});
        if let Some(caption) = caption {
            part["caption"] = serde_json::json!(caption);
        }
        if kind == "audio" {
            part["voice"] = serde_json::json!(mime.starts_with("audio/ogg"));
        }
        let message = serde_json::json!({"type": kind, kind: part});
        let wamid = self.send(&number.id, from, &message).await?;
        Ok((wamid, media_id))
    }

    /// How long a customer's message keeps the window open.
    pub fn service_window(&self) -> std::time::Duration {
        SERVICE_WINDOW.to_std().unwrap_or_default()
    }
}
