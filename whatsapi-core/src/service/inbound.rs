//! Inbound messages: stored once per wamid from Meta's webhooks, listed, read, streamed to subscribers, and their
//! media downloaded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt as _;
use tokio::sync::broadcast;

use super::{Error, WhatsApi};
use crate::account::AccountId;
use crate::inbound::{
    Inbound, InboundFilter, InboundId, InboundInsert, InboundMessage, NewInbound, ReceivingNumber,
};
use crate::store::{Page, PageRequest};
use crate::transport::{MediaDownload, MediaInfo};

/// How many inbound messages a slow subscriber may fall behind before it misses some (it then receives
/// [`broadcast::error::RecvError::Lagged`] and can catch up with [`WhatsApi::list_inbound`]).
pub const INBOUND_CHANNEL_CAPACITY: usize = 1024;

/// The largest media download passed through (Meta's largest media, documents, are 100 MB).
pub const MAX_MEDIA_DOWNLOAD_BYTES: u64 = 100 * 1024 * 1024;

/// A media file being downloaded from Meta: what Meta says about it and its bytes.
pub struct MediaContent {
    /// Meta's metadata of the file.
    pub info: MediaInfo,
    /// The MIME type to answer with: Meta's metadata, else the download's `Content-Type`.
    pub mime_type: Option<String>,
    /// The size, when the download announced it (`Content-Length`).
    pub size: Option<u64>,
    /// The bytes, cut off with an error past [`MAX_MEDIA_DOWNLOAD_BYTES`].
    pub body: crate::upload::MediaStream,
}

impl std::fmt::Debug for MediaContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaContent")
            .field("info", &self.info)
            .field("mime_type", &self.mime_type)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

pub(super) fn channel() -> broadcast::Sender<InboundMessage> {
    broadcast::channel(INBOUND_CHANNEL_CAPACITY).0
}

impl WhatsApi {
    /// Every inbound message the account's numbers receive from now on, once each (a duplicate delivery by Meta
    /// is not sent again), after it was stored. Messages of every account arrive on one receiver: filter on
    /// [`InboundMessage::account_id`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use whatsapi_core::service::MetaWebhookAuth;
    /// use whatsapi_core::testing::{FakeTransport, MemoryStore, RecordingSink};
    /// use whatsapi_core::{InboundContent, MetaCredentials, WhatsApi};
    ///
    /// let api = WhatsApi::builder()
    ///     .store(Arc::new(MemoryStore::new()))
    ///     .transport(Arc::new(FakeTransport::new()))
    ///     .webhook_sink(Arc::new(RecordingSink::new()))
    ///     .build()?;
    /// let account = api.create_account("Acme").await?;
    /// api.set_credentials(account.id, MetaCredentials::new("EAAG-your-token", "1234567890")).await?;
    /// let mut inbound = api.subscribe_inbound();
    ///
    /// // Meta's webhook, as the server's POST /webhooks/whatsapp hands it over (unsigned in development only).
    /// let webhook = br#"{"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
    ///   "field": "messages", "value": {"metadata": {"phone_number_id": "1234567890"},
    ///   "contacts": [{"profile": {"name": "Sarah"}, "wa_id": "14155552671"}],
    ///   "messages": [{"from": "14155552671", "id": "wamid.IN1", "timestamp": "1711620100",
    ///                 "type": "text", "text": {"body": "Hi!"}}]}}]}]}"#;
    /// let dev = MetaWebhookAuth { allow_unsigned: true, ..Default::default() };
    /// api.ingest_meta_webhook(webhook, dev).await?;
    /// api.ingest_meta_webhook(webhook, dev).await?; // Meta delivers at least once: stored and sent once
    ///
    /// let m = inbound.recv().await?;
    /// assert_eq!(m.account_id, account.id);
    /// assert_eq!(m.message.profile_name.as_deref(), Some("Sarah"));
    /// assert_eq!(m.message.content, InboundContent::Text { body: "Hi!".into() });
    /// assert!(inbound.try_recv().is_err(), "the duplicate is not sent again");
    /// # Ok(()) }
    /// ```
    pub fn subscribe_inbound(&self) -> broadcast::Receiver<InboundMessage> {
        self.inner.inbound.subscribe()
    }

    /// Stores an inbound message for the account once per wamid, with the business number it was sent `to`
    /// (when known), resolving the message it replies to among the account's own; a new one is sent to
    /// [`subscribe_inbound`](Self::subscribe_inbound)'s receivers. A duplicate keeps what was stored first.
    pub async fn store_inbound(
        &self,
        account: AccountId,
        to: Option<ReceivingNumber>,
        message: Inbound,
    ) -> Result<InboundInsert, Error> {
        let reply_to_message = match message
            .context
            .as_ref()
            .and_then(|c| c.message_id.as_deref())
        {
            Some(wamid) => self
                .store()
                .message_by_wamid(wamid)
                .await?
                .filter(|m| m.account_id == account)
                .map(|m| m.id),
            None => None,
        };
        let new = NewInbound {
            id: InboundId::new(),
            account_id: account,
            received_at: self.clock().now(),
            reply_to_message,
            to,
            message,
        };
        let inserted = self.store().insert_inbound(new).await?;
        if let InboundInsert::Inserted(m) = &inserted {
            // Its `message.received` events were written with it.
            self.core().deliver_wake.notify();
            // Once per wamid, so a STOP Meta delivers again after a START does not opt out again.
            self.note_inbound_contact(account, &m.message).await?;
            // No receiver is not an error: nobody subscribed.
            let _ = self.inner.inbound.send(m.clone());
        }
        Ok(inserted)
    }

    /// The account's inbound messages, newest first.
    pub async fn list_inbound(
        &self,
        account: AccountId,
        filter: &InboundFilter,
        page: PageRequest,
    ) -> Result<Page<InboundMessage>, Error> {
        Ok(self.store().list_inbound(account, filter, page).await?)
    }

    /// One of the account's inbound messages; another account's is not found.
    pub async fn get_inbound(
        &self,
        account: AccountId,
        id: InboundId,
    ) -> Result<InboundMessage, Error> {
        self.store()
            .inbound_message(account, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("No inbound message {id} for this account.")))
    }

    /// The wamid an inbound reference names, and the stored message when the account has it: a wamid as given
    /// (a wamid whatsapi did not store is still one Meta may know), or whatsapi's inbound id resolved within the
    /// account.
    pub(super) async fn inbound_reference(
        &self,
        account: AccountId,
        reference: &str,
    ) -> Result<(String, Option<InboundMessage>), Error> {
        if super::is_wamid(reference) {
            let stored = self.store().inbound_by_wamid(account, reference).await?;
            return Ok((reference.to_owned(), stored));
        }
        match reference.parse::<InboundId>() {
            Ok(id) => {
                let m = self.get_inbound(account, id).await?;
                Ok((m.message.wamid.clone(), Some(m)))
            }
            Err(_) => Err(Error::field(
                "id",
                "expected the wamid of an inbound message (wamid.…) or whatsapi's inbound id",
            )),
        }
    }

    /// Downloads a media file (a customer's, or one uploaded) from Meta with the account's credentials, as a
    /// stream: Meta's metadata gives a short-lived URL, which is fetched with the access token. Refused before
    /// any byte flows when Meta says the file is larger than [`MAX_MEDIA_DOWNLOAD_BYTES`]; cut off past it.
    pub async fn media_content(
        &self,
        account: AccountId,
        media_id: &str,
    ) -> Result<MediaContent, Error> {
        let info = self.media_info(account, media_id).await?;
        let Some(url) = info.url.clone() else {
            return Err(Error::NotFound(format!(
                "Meta gives no download URL for media {media_id:?}."
            )));
        };
        let too_large = || {
            Error::Refused(format!(
                "media {media_id:?} is larger than {MAX_MEDIA_DOWNLOAD_BYTES} bytes, the most passed through"
            ))
        };
        if info.file_size.is_some_and(|n| n > MAX_MEDIA_DOWNLOAD_BYTES) {
            return Err(too_large());
        }
        let creds = self
            .me(account)
            .await?
            .credentials
            .ok_or(Error::NoCredentials)?;
        let MediaDownload {
            content_type,
            content_length,
            body,
        } = self
            .core()
            .transport
            .download_media(&creds, &url)
            .await
            .map_err(|e| Error::Meta(Box::new(e)))?;
        if content_length.is_some_and(|n| n > MAX_MEDIA_DOWNLOAD_BYTES) {
            return Err(too_large());
        }
        let seen = Arc::new(AtomicU64::new(0));
        let body = body.map(move |chunk| {
            let chunk = chunk?;
            let total = seen.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            if total > MAX_MEDIA_DOWNLOAD_BYTES {
                return Err(std::io::Error::other(format!(
                    "the media is larger than {MAX_MEDIA_DOWNLOAD_BYTES} bytes"
                )));
            }
            Ok(chunk)
        });
        Ok(MediaContent {
            mime_type: info.mime_type.clone().or(content_type),
            size: content_length,
            info,
            body: Box::pin(body),
        })
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::engine::harness::Harness;
    use crate::inbound::{InboundContent, InboundContext};
    use crate::service::MetaWebhookAuth;
    use crate::testing::conformance::sent_message;

    fn webhook(pnid: &str, messages: &str) -> Vec<u8> {
        format!(
            r#"{{"object": "whatsapp_business_account", "entry": [{{"id": "WABA", "changes": [{{"field": "messages",
              "value": {{"metadata": {{"phone_number_id": "{pnid}"}},
              "contacts": [{{"profile": {{"name": "Sarah"}}, "wa_id": "14155552671"}}], "messages": [{messages}]}}}}]}}]}}"#
        )
        .into_bytes()
    }

    const DEV: MetaWebhookAuth<'static> = MetaWebhookAuth {
        signature: None,
        server_app_secret: None,
        allow_unsigned: true,
    };

    #[tokio::test]
    async fn subscribers_get_each_new_message_once_with_its_reply_resolved_in_the_account() {
        let h = Harness::new();
        let a = h.account().await;
        let b = h.account().await;
        let pnid_a = a.credentials.as_ref().unwrap().phone_number_id.clone();
        let pnid_b = b.credentials.as_ref().unwrap().phone_number_id.clone();
        let now = h.api.clock().now();
        let ours = sent_message(&**h.api.store(), a.id, "wamid.OURS", 0, now).await;
        let mut rx = h.api.subscribe_inbound();

        let reply = r#"{"context": {"from": "15550001234", "id": "wamid.OURS"}, "from": "14155552671",
            "id": "wamid.R1", "timestamp": "1711620100", "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}}"#;
        let report = h
            .api
            .ingest_meta_webhook(&webhook(&pnid_a, &format!("{reply}, {reply}")), DEV)
            .await
            .unwrap();
        assert_eq!((report.inbound, report.duplicates), (2, 1));
        // The same context on another account's number names none of its messages.
        h.api
            .ingest_meta_webhook(&webhook(&pnid_b, reply), DEV)
            .await
            .unwrap();

        let got = rx.recv().await.unwrap();
        assert_eq!(got.account_id, a.id);
        assert_eq!(got.reply_to_message, Some(ours.id));
        assert_eq!(
            got.message.context,
            Some(InboundContext {
                message_id: Some("wamid.OURS".into()),
                from: Some("15550001234".into()),
                ..InboundContext::default()
            })
        );
        assert_eq!(
            got.message.content,
            InboundContent::ButtonReply {
                id: "yes".into(),
                title: Some("Yes".into())
            }
        );
        let theirs = rx.recv().await.unwrap();
        assert_eq!((theirs.account_id, theirs.reply_to_message), (b.id, None));
        assert!(rx.try_recv().is_err(), "the duplicate was not sent again");
        // The window opened too.
        assert!(
            h.api
                .store()
                .last_inbound(a.id, "14155552671")
                .await
                .unwrap()
                .is_some()
        );

        // Mark read by whatsapi's id sends Meta the wamid; another account's id is not found.
        let wamid = h
            .api
            .mark_read(a.id, &got.id.to_string(), false)
            .await
            .unwrap();
        assert_eq!(wamid, "wamid.R1");
        assert_eq!(h.fake.reads().last().unwrap().wamid, "wamid.R1");
        assert!(matches!(
            h.api.mark_read(b.id, &got.id.to_string(), false).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            h.api.get_inbound(b.id, got.id).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            h.api.mark_read(a.id, "not an id", false).await,
            Err(Error::Validation(_))
        ));
        let listed = h
            .api
            .list_inbound(
                a.id,
                &InboundFilter::default(),
                PageRequest { page: 1, limit: 10 },
            )
            .await
            .unwrap();
        assert_eq!(listed.items, [got]);
    }

    fn webhook_to(pnid: &str, display: &str, messages: &str) -> Vec<u8> {
        format!(
            r#"{{"object": "whatsapp_business_account", "entry": [{{"id": "WABA", "changes": [{{"field": "messages",
              "value": {{"metadata": {{"display_phone_number": "{display}", "phone_number_id": "{pnid}"}},
              "contacts": [{{"profile": {{"name": "Sarah"}}, "wa_id": "14155552671"}}], "messages": [{messages}]}}}}]}}]}}"#
        )
        .into_bytes()
    }

    fn text_from(wamid: &str, from: &str) -> String {
        format!(
            r#"{{"from": "{from}", "id": "{wamid}", "timestamp": "1711620100", "type": "text", "text": {{"body": "hi"}}}}"#
        )
    }

    #[tokio::test]
    async fn each_message_keeps_its_number_and_is_answered_on_it() {
        use crate::engine::harness::phone;
        use crate::send::{BulkRequest, SendRequest};
        use crate::testing::conformance::sample_number;

        let h = Harness::new();
        let a = h.account().await;
        let default = a.credentials.as_ref().unwrap().phone_number_id.clone();
        let extra = "5551231000";
        h.api
            .store()
            .add_number(sample_number(a.id, extra, Some("EXTRA-TOKEN"), 0), 10)
            .await
            .unwrap();
        for (pnid, display, wamid) in [
            (default.as_str(), "15550001234", "wamid.ON_DEFAULT"),
            (extra, "15550131000", "wamid.ON_EXTRA"),
        ] {
            h.api
                .ingest_meta_webhook(
                    &webhook_to(pnid, display, &text_from(wamid, "14155552671")),
                    DEV,
                )
                .await
                .unwrap();
        }
        let page = PageRequest { page: 1, limit: 10 };
        let on = |to: &str| InboundFilter {
            to: Some(to.to_owned()),
            ..InboundFilter::default()
        };
        let on_extra = h.api.list_inbound(a.id, &on(extra), page).await.unwrap();
        assert_eq!(on_extra.total, 1);
        let m = &on_extra.items[0];
        assert_eq!(m.message.wamid, "wamid.ON_EXTRA");
        assert_eq!(
            m.to,
            Some(ReceivingNumber {
                phone_number_id: extra.into(),
                display_phone_number: Some("15550131000".into()),
            })
        );
        let on_default = h.api.list_inbound(a.id, &on(&default), page).await.unwrap();
        assert_eq!(
            on_default
                .items
                .iter()
                .map(|m| m.message.wamid.as_str())
                .collect::<Vec<_>>(),
            ["wamid.ON_DEFAULT"]
        );

        // Read receipts go out on the number that received the message, by whatsapi's id or by wamid.
        h.api
            .mark_read(a.id, &m.id.to_string(), false)
            .await
            .unwrap();
        assert_eq!(h.fake.reads().last().unwrap().phone_number_id, extra);
        h.api
            .mark_read(a.id, "wamid.ON_DEFAULT", false)
            .await
            .unwrap();
        assert_eq!(h.fake.reads().last().unwrap().phone_number_id, default);
        h.api.mark_read(a.id, "wamid.ON_EXTRA", true).await.unwrap();
        assert_eq!(h.fake.reads().last().unwrap().phone_number_id, extra);
        // A wamid whatsapi never stored goes out on the default number, as before.
        h.api.mark_read(a.id, "wamid.UNKNOWN", false).await.unwrap();
        assert_eq!(h.fake.reads().last().unwrap().phone_number_id, default);

        // A reply or a reaction without `from` goes out on the number the customer wrote to; `from` given wins.
        let customer = || phone("14155552671");
        let from_of = |q: super::super::Queued| {
            let api = h.api.clone();
            async move { api.get_message(a.id, q.id).await.unwrap().from }
        };
        let reply = SendRequest::text(customer(), "yes").reply_to("wamid.ON_EXTRA");
        let q = h.api.send(&a, reply).await.unwrap();
        assert_eq!(from_of(q).await.as_deref(), Some(extra));
        let reaction = SendRequest::reaction(customer(), "wamid.ON_EXTRA", "👍");
        let q = h.api.send(&a, reaction).await.unwrap();
        assert_eq!(from_of(q).await.as_deref(), Some(extra));
        let on_default = SendRequest::text(customer(), "yes").reply_to("wamid.ON_DEFAULT");
        let q = h.api.send(&a, on_default).await.unwrap();
        assert_eq!(from_of(q).await, None, "the default number stays implicit");
        let named = SendRequest::text(customer(), "yes")
            .reply_to("wamid.ON_EXTRA")
            .from_number(default.clone());
        let q = h.api.send(&a, named).await.unwrap();
        assert_eq!(from_of(q).await.as_deref(), Some(default.as_str()));
        let bulk = h
            .api
            .send_bulk(
                &a,
                BulkRequest::new([SendRequest::text(customer(), "yes").reply_to("wamid.ON_EXTRA")]),
                10,
            )
            .await
            .unwrap();
        let filter = crate::store::MessageFilter {
            batch_id: Some(bulk.batch_id),
            ..Default::default()
        };
        let listed = h.api.list_messages(a.id, filter, page).await.unwrap();
        assert_eq!(
            listed
                .items
                .iter()
                .map(|m| m.from.as_deref())
                .collect::<Vec<_>>(),
            [Some(extra)]
        );

        // Disconnected, the number can no longer mark its messages read, and replies fall back to the default.
        h.api.store().delete_number(a.id, extra).await.unwrap();
        assert!(matches!(
            h.api.mark_read(a.id, "wamid.ON_EXTRA", false).await,
            Err(Error::Refused(_))
        ));
        let reply = SendRequest::text(customer(), "yes").reply_to("wamid.ON_EXTRA");
        let q = h.api.send(&a, reply).await.unwrap();
        assert_eq!(from_of(q).await, None);
    }

    #[tokio::test]
    async fn media_content_streams_what_meta_serves() {
        let h = Harness::new();
        let a = h.account().await;
        let png =
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89"
                .repeat(500);
        let body: crate::upload::MediaStream = Box::pin(futures_util::stream::iter(
            png.chunks(1000)
                .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        ));
        let up = h
            .api
            .upload_media(
                a.id,
                crate::service::MediaUpload {
                    declared_type: None,
                    content_type: None,
                    filename: None,
                    body,
                },
            )
            .await
            .unwrap();
        let mut media = h.api.media_content(a.id, &up.id).await.unwrap();
        assert_eq!(media.mime_type.as_deref(), Some("image/png"));
        assert_eq!(media.size, Some(png.len() as u64));
        let mut got = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = media.body.next().await {
            got.extend_from_slice(&chunk.unwrap());
            chunks += 1;
        }
        assert_eq!(got, png);
        assert!(chunks > 1, "streamed in chunks");
        assert!(matches!(
            h.api.media_content(a.id, "12345").await,
            Err(Error::NotFound(_))
        ));
    }
}
