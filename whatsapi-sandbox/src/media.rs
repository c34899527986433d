//! Media in the sandbox: `POST /{version}/{phone_number_id}/media` (Meta's multipart upload), the metadata at
//! `GET /{version}/{media_id}`, the bytes at the metadata's URL, and the read receipts of inbound messages.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::Multipart;
use axum::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use whatsapi_core::upload::{MAX_MEDIA_BYTES, MediaKind, sniff};

use crate::error::MetaError;

/// Uploads kept at once; the oldest goes first.
pub(crate) const MAX_FILES: usize = 200;
/// Bytes of uploads kept at once; the oldest go first.
pub(crate) const MAX_STORED_BYTES: usize = 256 * 1024 * 1024;
/// Inbound wamids remembered per business number (for read receipts).
pub(crate) const MAX_INBOUND_PER_NUMBER: usize = 10_000;
/// The path the bytes are served at (`?mid=`), like Meta's attachment host.
pub(crate) const DOWNLOAD_PATH: &str = "/whatsapp_business/attachments";

/// One uploaded file.
#[derive(Debug, Clone)]
pub(crate) struct StoredMedia {
    pub phone_number_id: String,
    pub mime: String,
    pub sha256: String,
    pub bytes: Bytes,
}

/// Uploaded files and delivered inbound wamids, bounded.
#[derive(Debug, Default)]
pub(crate) struct MediaState {
    files: Mutex<Files>,
    inbound: Mutex<HashMap<String, Delivered>>,
}

/// The inbound wamids of one number: in arrival order (to evict the oldest) and as a set (to look up).
type Delivered = (VecDeque<String>, HashSet<String>);

#[derive(Debug, Default)]
struct Files {
    order: VecDeque<String>,
    by_id: HashMap<String, StoredMedia>,
    bytes: usize,
    next: u64,
}

impl MediaState {
    /// Keeps a file (evicting the oldest past the bounds); answers its id.
    pub fn store(&self, media: StoredMedia) -> String {
        let mut f = self.files.lock().expect("media lock");
        f.next += 1;
        let random: u32 = rand::random();
        let id = format!("7{:07}{random:08}", f.next % 10_000_000);
        f.bytes += media.bytes.len();
        f.order.push_back(id.clone());
        f.by_id.insert(id.clone(), media);
        while f.order.len() > MAX_FILES || f.bytes > MAX_STORED_BYTES {
            let Some(old) = f.order.pop_front() else {
                break;
            };
            if let Some(m) = f.by_id.remove(&old) {
                f.bytes -= m.bytes.len();
            }
        }
        id
    }

    /// A kept file.
    pub fn get(&self, id: &str) -> Option<StoredMedia> {
        self.files
            .lock()
            .expect("media lock")
            .by_id
            .get(id)
            .cloned()
    }

    /// Remembers that `wamid` was delivered inbound to `phone_number_id`.
    pub fn delivered_inbound(&self, phone_number_id: &str, wamid: &str) {
        let mut all = self.inbound.lock().expect("inbound lock");
        let (order, set) = all.entry(phone_number_id.to_owned()).or_default();
        if set.insert(wamid.to_owned()) {
            order.push_back(wamid.to_owned());
        }
        while order.len() > MAX_INBOUND_PER_NUMBER {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
    }

    /// Whether `wamid` was delivered inbound to `phone_number_id`.
    pub fn was_delivered(&self, phone_number_id: &str, wamid: &str) -> bool {
        self.inbound
            .lock()
            .expect("inbound lock")
            .get(phone_number_id)
            .is_some_and(|(_, set)| set.contains(wamid))
    }
}

/// Meta's answer to a media upload it cannot take: 400, 131053.
fn upload_error(details: impl Into<String>) -> MetaError {
    MetaError::media_upload(details)
}

/// Reads Meta's upload form: `messaging_product=whatsapp`, `type` (a MIME type), `file`. The file is read up to
/// one byte past the largest limit, so an oversized one is refused without being held whole.
pub(crate) async fn read_upload(
    mut form: Multipart,
) -> Result<(String, Bytes, Option<String>), MetaError> {
    let mut product = None;
    let mut declared = None;
    let mut file: Option<(Bytes, Option<String>)> = None;
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| MetaError::invalid_parameter(format!("malformed multipart body: {e}")))?
    {
        match field.name() {
            Some("messaging_product") => product = Some(text(field).await?),
            Some("type") => declared = Some(text(field).await?),
            Some("file") => {
                let ct = field.content_type().map(str::to_owned);
                let mut buf = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|e| {
                    MetaError::invalid_parameter(format!("malformed multipart body: {e}"))
                })? {
                    buf.extend_from_slice(&chunk);
                    if buf.len() as u64 > MAX_MEDIA_BYTES {
                        return Err(upload_error(format!(
                            "The file is larger than the maximum of {MAX_MEDIA_BYTES} bytes."
                        )));
                    }
                }
                file = Some((Bytes::from(buf), ct));
            }
            _ => {}
        }
    }
    match product.as_deref() {
        Some("whatsapp") => {}
        Some(other) => {
            return Err(MetaError::invalid_parameter(format!(
                "messaging_product must be whatsapp, not {other}"
            )));
        }
        None => {
            return Err(MetaError::invalid_parameter(
                "The parameter messaging_product is required.",
            ));
        }
    }
    let Some((bytes, part_type)) = file else {
        return Err(MetaError::invalid_parameter(
            "The parameter file is required.",
        ));
    };
    let Some(declared) = declared.or(part_type.clone()) else {
        return Err(MetaError::invalid_parameter(
            "The parameter type is required.",
        ));
    };
    Ok((declared, bytes, part_type))
}

async fn text(field: axum::extract::multipart::Field<'_>) -> Result<String, MetaError> {
    let bytes = field
        .bytes()
        .await
        .map_err(|e| MetaError::invalid_parameter(format!("malformed multipart body: {e}")))?;
    if bytes.len() > 256 {
        return Err(MetaError::invalid_parameter("a form parameter is too long"));
    }
    Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
}

/// Meta's checks of an upload: a type it takes, the bytes of that type, within the type's limit.
pub(crate) fn check_upload(declared: &str, bytes: &[u8]) -> Result<String, MetaError> {
    let declared = declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some(kind) = MediaKind::of_mime(&declared) else {
        return Err(upload_error(format!(
            "Param file must be a file with one of the following types: {}. Received file of type '{declared}'.",
            MediaKind::ALL
                .iter()
                .flat_map(|k| k.mime_types())
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let sniffed = sniff(&bytes[..bytes.len().min(whatsapi_core::upload::SNIFF_BYTES)]);
    let actual = sniffed.as_ref().map(|s| s.mime.as_str());
    let agrees = actual == Some(declared.as_str())
        || (declared == "audio/mp4" && actual == Some("video/mp4"));
    if !agrees {
        return Err(upload_error(format!(
            "The file's contents ({}) do not match its type {declared}.",
            actual.unwrap_or("unknown")
        )));
    }
    let limit = kind.max_bytes(sniffed.is_some_and(|s| s.animated));
    if bytes.len() as u64 > limit {
        return Err(upload_error(format!(
            "The {} is {} bytes; the maximum for {declared} is {limit} bytes.",
            kind.as_str(),
            bytes.len()
        )));
    }
    Ok(declared)
}

/// The SHA-256 of `bytes`, hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Meta's metadata answer for a file.
pub(crate) fn metadata(id: &str, media: &StoredMedia, base: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "url": format!("{base}{DOWNLOAD_PATH}/?mid={id}"),
        "mime_type": media.mime,
        "sha256": media.sha256,
        "file_size": media.bytes.len(),
        "id": id,
    })
}

/// Checks a `status: read` call: Meta's fields, and a wamid the sandbox delivered inbound to that number.
pub(crate) fn check_read(
    state: &MediaState,
    phone_number_id: &str,
    body: &Value,
) -> Result<(), MetaError> {
    if body["messaging_product"] != "whatsapp" {
        return Err(MetaError::invalid_parameter(
            "The parameter messaging_product is required and must be whatsapp.",
        ));
    }
    let Some(wamid) = body["message_id"].as_str().filter(|w| !w.is_empty()) else {
        return Err(MetaError::missing_parameter(
            "The parameter message_id is required.",
        ));
    };
    match &body["typing_indicator"] {
        Value::Null => {}
        t if t["type"] == "text" => {}
        _ => {
            return Err(MetaError::invalid_parameter(
                "typing_indicator must be {\"type\": \"text\"}.",
            ));
        }
    }
    if !state.was_delivered(phone_number_id, wamid) {
        return Err(MetaError::invalid_parameter(format!(
            "Message {wamid} was not found for this phone number."
        )));
    }
    Ok(())
}

/// The HTTP status of a successful upload (Meta answers 200).
pub(crate) const UPLOADED: StatusCode = StatusCode::OK;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_checked_like_meta() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
        assert_eq!(check_upload("image/png", png).unwrap(), "image/png");
        assert_eq!(check_upload("image/jpeg", png).unwrap_err().code, 131053);
        assert_eq!(check_upload("image/gif", png).unwrap_err().code, 131053);
    }

    #[test]
    fn the_store_is_bounded() {
        let s = MediaState::default();
        let first = s.store(StoredMedia {
            phone_number_id: "1".into(),
            mime: "text/plain".into(),
            sha256: String::new(),
            bytes: Bytes::from_static(b"x"),
        });
        for _ in 0..MAX_FILES {
            s.store(StoredMedia {
                phone_number_id: "1".into(),
                mime: "text/plain".into(),
                sha256: String::new(),
                bytes: Bytes::from_static(b"y"),
            });
        }
        assert!(s.get(&first).is_none());
        s.delivered_inbound("1", "wamid.A");
        assert!(s.was_delivered("1", "wamid.A") && !s.was_delivered("2", "wamid.A"));
    }
}
