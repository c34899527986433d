//! Sending to Meta: the `MetaTransport` trait and its request, receipt and error types.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::account::MetaCredentials;
use crate::message::{MessageContent, MessageId};
use crate::recipient::Recipient;
use crate::retry::{ErrorClass, classify};

/// One message to hand to Meta.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    /// Our id, sent as `biz_opaque_callback_data` so status webhooks can be matched even before the wamid is stored.
    pub message_id: MessageId,
    /// Recipient: phone number (Meta's `to`), BSUID (Meta's `recipient`) or both.
    pub to: Recipient,
    /// What is sent.
    pub content: MessageContent,
    /// The wamid of the message replied to (Meta's `context.message_id`).
    pub reply_to: Option<String>,
}

/// Meta accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// `messages[0].id`.
    pub wamid: String,
    /// `contacts[0].wa_id`, the recipient's WhatsApp id.
    pub wa_id: Option<String>,
}

/// What Meta says about a business phone number (credentials check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumberInfo {
    /// Phone number id.
    pub id: String,
    /// Business name.
    pub verified_name: String,
    /// The number as displayed.
    pub display_phone_number: String,
    /// GREEN / YELLOW / RED, when given.
    pub quality_rating: Option<String>,
    /// `throughput.level` (STANDARD, HIGH, NOT_APPLICABLE), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_level: Option<String>,
    /// `is_on_biz_app`: the number is also used in the WhatsApp Business app (coexistence, 20 messages/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_business_app: Option<bool>,
}

/// A file on its way to Meta's `POST /{phone_number_id}/media`, already checked against Meta's limits.
pub struct MediaFile {
    /// The sniffed MIME type, sent as `type` and as the file part's content type.
    pub mime: String,
    /// The file name given to Meta.
    pub filename: String,
    /// The bytes, in chunks; a transport must not collect them whole.
    pub body: crate::upload::MediaStream,
}

impl fmt::Debug for MediaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaFile")
            .field("mime", &self.mime)
            .field("filename", &self.filename)
            .finish_non_exhaustive()
    }
}

/// What Meta knows about an uploaded media file (`GET /{media_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// The media id.
    pub id: String,
    /// Where the bytes can be downloaded (with the access token), for a few minutes.
    pub url: Option<String>,
    /// The MIME type.
    pub mime_type: Option<String>,
    /// SHA-256 of the file, hex.
    pub sha256: Option<String>,
    /// Size in bytes.
    pub file_size: Option<u64>,
}

/// A media file on its way from Meta (`GET` of a media URL): its bytes in chunks, never collected whole.
pub struct MediaDownload {
    /// The `Content-Type` Meta answered.
    pub content_type: Option<String>,
    /// The `Content-Length` Meta answered.
    pub content_length: Option<u64>,
    /// The bytes.
    pub body: crate::upload::MediaStream,
}

impl fmt::Debug for MediaDownload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaDownload")
            .field("content_type", &self.content_type)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// A failed call to Meta. Never carries the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// HTTP status, `None` for timeouts and connection failures.
    pub http_status: Option<u16>,
    /// Meta's `error.code`.
    pub code: Option<i64>,
    /// Meta's `error.error_subcode` (kept, not relied on).
    pub subcode: Option<i64>,
    /// Meta's `error.message`, or a description of the local failure.
    pub message: String,
    /// Meta's `error.error_data.details`.
    pub details: Option<String>,
    /// Meta's trace id, for support requests.
    pub fbtrace_id: Option<String>,
    /// A `Retry-After` hint from the response.
    pub retry_after: Option<Duration>,
}

impl SendError {
    /// A Meta error with a code.
    pub fn meta(http_status: u16, code: i64, message: impl Into<String>) -> Self {
        Self {
            http_status: Some(http_status),
            code: Some(code),
            subcode: None,
            message: message.into(),
            details: None,
            fbtrace_id: None,
            retry_after: None,
        }
    }

    /// A timeout or connection failure.
    pub fn network(message: impl Into<String>) -> Self {
        Self {
            http_status: None,
            code: None,
            subcode: None,
            message: message.into(),
            details: None,
            fbtrace_id: None,
            retry_after: None,
        }
    }

    /// The text stored in `errorMessage`: Meta's message, its details, and an explanation where one helps.
    pub fn user_message(&self) -> String {
        let mut out = match self.code {
            Some(code) if !self.message.contains(&format!("#{code}")) => {
                format!("(#{code}) {}", self.message)
            }
            _ => self.message.clone(),
        };
        if let Some(details) = self
            .details
            .as_deref()
            .filter(|d| !d.is_empty() && !self.message.contains(*d))
        {
            out.push_str(": ");
            out.push_str(details);
        }
        if let Some(hint) = self.code.and_then(explain_code) {
            append_sentence(&mut out, hint);
        }
        out
    }

    /// How the engine handles it. A wrong or inaccessible phone number id (100 with subcode 33) is a credentials
    /// problem, not a bad message.
    pub fn class(&self) -> ErrorClass {
        if self.code == Some(100) && self.subcode == Some(33) {
            return ErrorClass::Credentials;
        }
        classify(self.http_status, self.code)
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.user_message())
    }
}

impl std::error::Error for SendError {}

/// What a user should know about a Meta error code beyond Meta's own words, if anything.
pub fn explain_code(code: i64) -> Option<&'static str> {
    match code {
        131047 => Some(
            "More than 24 hours have passed since the recipient last wrote to you, so free-form text is refused; \
             send an approved template (the `template` field) instead",
        ),
        131056 => Some("Too many messages to this recipient in a short time; it is retried later"),
        131062 => Some(
            "This message cannot be sent to a username (business-scoped user id): Meta refuses this content, such as \
             an authentication template, for users addressed only by `recipient`; send it to the user's phone \
             number (`to`) instead",
        ),
        _ => None,
    }
}

/// The way out to Meta's Cloud API. Implemented by the Graph API client and by test fakes.
#[async_trait]
pub trait MetaTransport: Send + Sync + 'static {
    /// Sends one message.
    async fn send(
        &self,
        creds: &MetaCredentials,
        msg: &OutgoingMessage,
    ) -> Result<SendReceipt, SendError>;

    /// Checks credentials by reading the phone number's details.
    async fn verify(&self, creds: &MetaCredentials) -> Result<PhoneNumberInfo, SendError>;

    /// Uploads a media file; answers Meta's media id.
    async fn upload_media(
        &self,
        creds: &MetaCredentials,
        file: MediaFile,
    ) -> Result<String, SendError> {
        let _ = (creds, file);
        Err(unsupported("media upload"))
    }

    /// Reads an uploaded media file's metadata.
    async fn media_info(
        &self,
        creds: &MetaCredentials,
        media_id: &str,
    ) -> Result<MediaInfo, SendError> {
        let _ = (creds, media_id);
        Err(unsupported("media metadata"))
    }

    /// Downloads a media file from the `url` of its [`MediaInfo`] with the access token, as a stream.
    async fn download_media(
        &self,
        creds: &MetaCredentials,
        url: &str,
    ) -> Result<MediaDownload, SendError> {
        let _ = (creds, url);
        Err(unsupported("media download"))
    }

    /// Reads one page of the WhatsApp Business Account's message templates (`GET /{waba_id}/message_templates`),
    /// from the cursor `after` of the previous page.
    async fn list_templates(
        &self,
        creds: &MetaCredentials,
        waba_id: &str,
        after: Option<&str>,
    ) -> Result<crate::templates::TemplatePage, SendError> {
        let _ = (creds, waba_id, after);
        Err(unsupported("listing templates"))
    }

    /// Marks the inbound message `wamid` read (blue ticks), optionally showing a typing indicator.
    async fn mark_read(
        &self,
        creds: &MetaCredentials,
        wamid: &str,
        typing_indicator: bool,
    ) -> Result<(), SendError> {
        let _ = (creds, wamid, typing_indicator);
        Err(unsupported("marking messages read"))
    }
}

/// The error of a call a transport does not implement.
fn unsupported(what: &str) -> SendError {
    let mut e = SendError::network(format!("{what} is not supported by this transport"));
    e.http_status = Some(501);
    e
}

/// Appends `sentence` to `text` as a new sentence: one full stop between them, never two (Meta's details often
/// end with one already).
pub(crate) fn append_sentence(text: &mut String, sentence: &str) {
    let trimmed = text.trim_end().len();
    text.truncate(trimmed);
    if !text.is_empty() {
        if !text.ends_with(['.', '!', '?']) {
            text.push('.');
        }
        text.push(' ');
    }
    text.push_str(sentence);
}

#[cfg(test)]
mod tests {

    #[test]
    fn hints_follow_with_one_full_stop() {
        let mut t = "Message failed to send.".to_owned();
        append_sentence(&mut t, "Send a template.");
        assert_eq!(t, "Message failed to send. Send a template.");
        let mut t = "(#131026) Message undeliverable".to_owned();
        append_sentence(&mut t, "Check the number.");
        assert_eq!(t, "(#131026) Message undeliverable. Check the number.");
    }
    use super::*;

    #[test]
    fn user_message_includes_code_details_and_window_hint() {
        let mut e = SendError::meta(400, 131026, "Message undeliverable");
        e.details = Some("Recipient is not a WhatsApp user".into());
        assert_eq!(
            e.user_message(),
            "(#131026) Message undeliverable: Recipient is not a WhatsApp user"
        );
        let e = SendError::meta(400, 131047, "(#131047) Re-engagement message");
        assert!(
            e.user_message()
                .starts_with("(#131047) Re-engagement message. More than 24 hours")
        );
        assert!(e.user_message().contains("template"));
        assert_eq!(e.class(), ErrorClass::Permanent);
        assert_eq!(
            SendError::network("timed out").class(),
            ErrorClass::Transient
        );
    }
}
