use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::account::MetaCredentials;
use crate::transport::{
    MediaFile, MediaInfo, MetaTransport, OutgoingMessage, PhoneNumberInfo, SendError, SendReceipt,
};

/// The largest upload whose bytes the fake keeps (larger ones keep only their size).
const KEEP_UPLOAD_BYTES: usize = 1024 * 1024;

/// One media file uploaded to the fake.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRecord {
    /// The media id given.
    pub id: String,
    /// Phone number id used.
    pub phone_number_id: String,
    /// MIME type sent.
    pub mime: String,
    /// File name sent.
    pub filename: String,
    /// Bytes received.
    pub size: u64,
    /// The bytes, when at most 1 MB.
    pub bytes: Option<Vec<u8>>,
    /// The largest chunk the stream yielded.
    pub largest_chunk: usize,
}

/// One call to `mark_read`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    /// Phone number id used.
    pub phone_number_id: String,
    /// The inbound message.
    pub wamid: String,
    /// Whether a typing indicator was asked for.
    pub typing_indicator: bool,
}

/// What the fake does with one send.
#[derive(Debug, Clone, PartialEq)]
pub enum Script {
    /// Accept with a generated wamid.
    Accept,
    /// Accept with this wamid.
    AcceptAs(String),
    /// Fail with this error.
    Fail(SendError),
    /// Wait (real time), then apply the inner script.
    Delay(Duration, Box<Script>),
}

/// A scriptable `MetaTransport`: per recipient, a queue of scripts consumed one per send; when the queue is empty
/// the recipient's default (or the global default, `Accept`) applies. Records every call.
#[derive(Clone, Default)]
pub struct FakeTransport {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    queued: Mutex<HashMap<String, VecDeque<Script>>>,
    defaults: Mutex<HashMap<String, Script>>,
    global: Mutex<Option<Script>>,
    verify: Mutex<Option<Result<PhoneNumberInfo, SendError>>>,
    sent: Mutex<Vec<SentRecord>>,
    uploads: Mutex<Vec<UploadRecord>>,
    upload_progress: AtomicU64,
    reads: Mutex<Vec<ReadRecord>>,
    templates: Mutex<Option<Result<Vec<Vec<crate::templates::MessageTemplate>>, SendError>>>,
    template_calls: Mutex<Vec<(String, Option<String>)>>,
    template_delay: Mutex<Option<std::time::Duration>>,
    counter: AtomicU64,
    notify: Notify,
}

/// One call to `send`.
#[derive(Debug, Clone, PartialEq)]
pub struct SentRecord {
    /// The message.
    pub message: OutgoingMessage,
    /// Phone number id used.
    pub phone_number_id: String,
    /// The wamid given, when accepted.
    pub wamid: Option<String>,
    /// When the call was made (wall clock).
    pub at: DateTime<Utc>,
}

impl std::fmt::Debug for FakeTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FakeTransport({} calls)",
            self.inner.sent.lock().unwrap().len()
        )
    }
}

impl FakeTransport {
    /// A transport that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// What `list_templates` answers: these pages (cursors `p1`, `p2`, … between them), or this error. Without
    /// it, listing is unsupported (the trait's default answer).
    pub fn templates_with(
        &self,
        answer: Result<Vec<Vec<crate::templates::MessageTemplate>>, SendError>,
    ) {
        *self.inner.templates.lock().unwrap() = Some(answer);
    }

    /// Makes every `list_templates` call wait this long before it answers (a slow Meta).
    pub fn templates_delay(&self, delay: std::time::Duration) {
        *self.inner.template_delay.lock().unwrap() = Some(delay);
    }

    /// Every `list_templates` call: the WABA id and the cursor.
    pub fn template_calls(&self) -> Vec<(String, Option<String>)> {
        self.inner.template_calls.lock().unwrap().clone()
    }

    /// Queues scripts for the next sends to `to`.
    pub fn script(&self, to: &str, scripts: impl IntoIterator<Item = Script>) {
        self.inner
            .queued
            .lock()
            .unwrap()
            .entry(to.to_owned())
            .or_default()
            .extend(scripts);
    }

    /// What every send to `to` does once its queue is empty.
    pub fn default_for(&self, to: &str, script: Script) {
        self.inner
            .defaults
            .lock()
            .unwrap()
            .insert(to.to_owned(), script);
    }

    /// What every send does when nothing more specific applies.
    pub fn default_all(&self, script: Script) {
        *self.inner.global.lock().unwrap() = Some(script);
    }

    /// The answer of `verify` (default: a verified number named "Test Business").
    pub fn verify_with(&self, answer: Result<PhoneNumberInfo, SendError>) {
        *self.inner.verify.lock().unwrap() = Some(answer);
    }

    /// Every call to `send`, in order.
    pub fn sent(&self) -> Vec<SentRecord> {
        self.inner.sent.lock().unwrap().clone()
    }

    /// Every media upload, in order.
    pub fn uploads(&self) -> Vec<UploadRecord> {
        self.inner.uploads.lock().unwrap().clone()
    }

    /// Bytes received so far by uploads, counted per chunk as they arrive (before an upload completes): lets a test
    /// see that bytes reach the transport while the client is still sending.
    pub fn upload_progress(&self) -> u64 {
        self.inner.upload_progress.load(Ordering::SeqCst)
    }

    /// Every call to `mark_read`, in order.
    pub fn reads(&self) -> Vec<ReadRecord> {
        self.inner.reads.lock().unwrap().clone()
    }

    /// Calls that were accepted.
    pub fn accepted(&self) -> Vec<SentRecord> {
        self.sent()
            .into_iter()
            .filter(|r| r.wamid.is_some())
            .collect()
    }

    /// Waits until at least `n` sends were made.
    pub async fn wait_for_calls(&self, n: usize) {
        loop {
            let notified = self.inner.notify.notified();
            if self.inner.sent.lock().unwrap().len() >= n {
                return;
            }
            notified.await;
        }
    }

    fn next_script(&self, to: &str) -> Script {
        if let Some(s) = self
            .inner
            .queued
            .lock()
            .unwrap()
            .get_mut(to)
            .and_then(VecDeque::pop_front)
        {
            return s;
        }
        if let Some(s) = self.inner.defaults.lock().unwrap().get(to) {
            return s.clone();
        }
        self.inner
            .global
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(Script::Accept)
    }
}

#[async_trait]
impl MetaTransport for FakeTransport {
    async fn send(
        &self,
        creds: &MetaCredentials,
        msg: &OutgoingMessage,
    ) -> Result<SendReceipt, SendError> {
        let mut script = self.next_script(msg.to.address());
        while let Script::Delay(d, inner) = script {
            tokio::time::sleep(d).await;
            script = *inner;
        }
        let result = match script {
            Script::Accept => {
                let n = self.inner.counter.fetch_add(1, Ordering::Relaxed);
                Ok(format!("wamid.FAKE{n:012}"))
            }
            Script::AcceptAs(w) => Ok(w),
            Script::Fail(e) => Err(e),
            Script::Delay(..) => unreachable!("delays are unwrapped above"),
        };
        self.inner.sent.lock().unwrap().push(SentRecord {
            message: msg.clone(),
            phone_number_id: creds.phone_number_id.clone(),
            wamid: result.as_ref().ok().cloned(),
            at: Utc::now(),
        });
        self.inner.notify.notify_waiters();
        result.map(|wamid| SendReceipt {
            wamid,
            wa_id: msg.to.to().map(str::to_owned),
        })
    }

    // The error type is the trait's; boxing it is not this double's call.
    #[allow(clippy::result_large_err)]
    async fn verify(&self, creds: &MetaCredentials) -> Result<PhoneNumberInfo, SendError> {
        self.inner
            .verify
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| {
                Ok(PhoneNumberInfo {
                    id: creds.phone_number_id.clone(),
                    verified_name: "Test Business".into(),
                    display_phone_number: "+1 555-000-1234".into(),
                    quality_rating: Some("GREEN".into()),
                    throughput_level: Some("STANDARD".into()),
                    on_business_app: None,
                })
            })
    }

    async fn upload_media(
        &self,
        creds: &MetaCredentials,
        mut file: MediaFile,
    ) -> Result<String, SendError> {
        use futures_util::StreamExt;
        let mut size = 0u64;
        let mut largest_chunk = 0;
        let mut kept = Some(Vec::new());
        while let Some(chunk) = file.body.next().await {
            let chunk = chunk.map_err(|e| SendError::network(format!("upload failed: {e}")))?;
            size += chunk.len() as u64;
            self.inner
                .upload_progress
                .fetch_add(chunk.len() as u64, Ordering::SeqCst);
            largest_chunk = largest_chunk.max(chunk.len());
            kept = kept
                .filter(|k| k.len() + chunk.len() <= KEEP_UPLOAD_BYTES)
                .map(|mut k| {
                    k.extend_from_slice(&chunk);
                    k
                });
        }
        let n = self.inner.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}", 900_000_000_000u64 + n);
        self.inner.uploads.lock().unwrap().push(UploadRecord {
            id: id.clone(),
            phone_number_id: creds.phone_number_id.clone(),
            mime: file.mime,
            filename: file.filename,
            size,
            bytes: kept,
            largest_chunk,
        });
        Ok(id)
    }

    async fn media_info(
        &self,
        _creds: &MetaCredentials,
        media_id: &str,
    ) -> Result<MediaInfo, SendError> {
        let uploads = self.inner.uploads.lock().unwrap();
        let Some(u) = uploads.iter().find(|u| u.id == media_id) else {
            let mut e = SendError::meta(400, 100, "Unsupported get request.");
            e.subcode = Some(33);
            return Err(e);
        };
        Ok(MediaInfo {
            id: u.id.clone(),
            url: Some(format!("https://fake.invalid/media/{}", u.id)),
            mime_type: Some(u.mime.clone()),
            sha256: None,
            file_size: Some(u.size),
        })
    }

    /// Serves the kept bytes of an upload at the URL [`media_info`](MetaTransport::media_info) gave, in 4 KiB
    /// chunks; 404 for anything else.
    async fn download_media(
        &self,
        _creds: &MetaCredentials,
        url: &str,
    ) -> Result<crate::transport::MediaDownload, SendError> {
        let uploads = self.inner.uploads.lock().unwrap();
        let found = url
            .strip_prefix("https://fake.invalid/media/")
            .and_then(|id| uploads.iter().find(|u| u.id == id))
            .and_then(|u| Some((u.mime.clone(), u.bytes.clone()?)));
        let Some((mime, bytes)) = found else {
            return Err(SendError::meta(404, 100, "no such media"));
        };
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = bytes
            .chunks(4096)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        Ok(crate::transport::MediaDownload {
            content_type: Some(mime),
            content_length: Some(bytes.len() as u64),
            body: Box::pin(futures_util::stream::iter(chunks)),
        })
    }

    async fn list_templates(
        &self,
        _creds: &MetaCredentials,
        waba_id: &str,
        after: Option<&str>,
    ) -> Result<crate::templates::TemplatePage, SendError> {
        self.inner
            .template_calls
            .lock()
            .unwrap()
            .push((waba_id.to_owned(), after.map(str::to_owned)));
        let delay = *self.inner.template_delay.lock().unwrap();
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let answer = self.inner.templates.lock().unwrap().clone();
        let pages = match answer {
            None => {
                let mut e =
                    SendError::network("listing templates is not supported by this transport");
                e.http_status = Some(501);
                return Err(e);
            }
            Some(Err(e)) => return Err(e),
            Some(Ok(pages)) => pages,
        };
        let index = match after {
            None => 0,
            Some(c) => c
                .strip_prefix('p')
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| SendError::meta(400, 100, "Invalid cursor"))?,
        };
        Ok(crate::templates::TemplatePage {
            templates: pages.get(index).cloned().unwrap_or_default(),
            after: (index + 1 < pages.len()).then(|| format!("p{}", index + 1)),
        })
    }

    async fn mark_read(
        &self,
        creds: &MetaCredentials,
        wamid: &str,
        typing_indicator: bool,
    ) -> Result<(), SendError> {
        self.inner.reads.lock().unwrap().push(ReadRecord {
            phone_number_id: creds.phone_number_id.clone(),
            wamid: wamid.to_owned(),
            typing_indicator,
        });
        Ok(())
    }
}
