//! Calls to Meta that are not messages: media uploads and their metadata, and marking inbound messages read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::{Error, WhatsApi};
use crate::account::{AccountId, MetaCredentials};
use crate::transport::{MediaFile, MediaInfo, SendError};
use crate::upload::{self, MediaKind, MediaStream, SNIFF_BYTES, Sniffed};

/// The longest wamid taken (Meta's are about 60 characters; BSUID-era ones are longer).
pub const MAX_WAMID_LEN: usize = 512;

/// The longest file name passed on to Meta, in characters.
const MAX_FILENAME_CHARS: usize = 240;

/// A media file to upload, as the client sent it.
pub struct MediaUpload {
    /// The optional `type` the client gave: a MIME type (as Meta takes it) or a kind (`image`, `document`, …).
    pub declared_type: Option<String>,
    /// The content type of the file part, if the client gave one.
    pub content_type: Option<String>,
    /// The client's file name, if any.
    pub filename: Option<String>,
    /// The bytes, in chunks as they arrive.
    pub body: MediaStream,
}

impl std::fmt::Debug for MediaUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaUpload")
            .field("declared_type", &self.declared_type)
            .field("content_type", &self.content_type)
            .field("filename", &self.filename)
            .finish_non_exhaustive()
    }
}

/// An accepted upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedMedia {
    /// Meta's media id, for sends by `id`.
    pub id: String,
    /// The MIME type sniffed from the bytes (and sent to Meta).
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
    /// The kind the type belongs to.
    pub kind: MediaKind,
}

/// Whether `s` looks like a wamid: `wamid.` and base64-ish characters, bounded.
pub fn is_wamid(s: &str) -> bool {
    s.len() <= MAX_WAMID_LEN
        && s.strip_prefix("wamid.").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b))
        })
}

/// The MIME type of a header value without parameters, lower-cased.
fn essence(mime: &str) -> String {
    mime.split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Checks the sniffed type against Meta's table and what the client declared; answers the kind and its limit.
fn check_type(
    sniffed: Option<&Sniffed>,
    declared: Option<&str>,
    content_type: Option<&str>,
) -> Result<(MediaKind, u64), Error> {
    let Some(sniffed) = sniffed else {
        return Err(Error::field(
            "file",
            "the file's type could not be recognised from its contents; Meta takes JPEG and PNG images, MP4 and \
             3GPP videos, AAC, AMR, MP3, MP4 and Ogg audio, PDF, text and Office documents, and WebP stickers",
        ));
    };
    let mut mime = sniffed.mime.clone();
    let declared = declared.map(str::trim).filter(|d| !d.is_empty());
    let declared_kind = match declared {
        Some(d) if !d.contains('/') => Some(MediaKind::parse(&d.to_ascii_lowercase()).ok_or_else(|| {
            Error::field(
                "type",
                format!("unknown media type {d:?}; use a MIME type or one of image, video, audio, document, sticker"),
            )
        })?),
        _ => None,
    };
    // An MP4 container holding only audio is sniffed as video; a client that says audio is believed.
    let wants_audio = declared_kind == Some(MediaKind::Audio)
        || declared.map(essence).as_deref() == Some("audio/mp4")
        || content_type.map(essence).as_deref() == Some("audio/mp4");
    if mime == "video/mp4" && wants_audio {
        mime = "audio/mp4".to_owned();
    }
    let Some(kind) = MediaKind::of_mime(&mime) else {
        return Err(Error::field(
            "file",
            format!("the file is {mime}, which WhatsApp does not take as media"),
        ));
    };
    for (field, given) in [("type", declared), ("file", content_type)] {
        let Some(given) = given else { continue };
        if field == "type" && declared_kind.is_some() {
            continue;
        }
        let given = essence(given);
        // Generic types say nothing; plain text may be labelled by the client's locale.
        if given == "application/octet-stream" || given.is_empty() {
            continue;
        }
        if given != mime {
            return Err(Error::field(
                field,
                format!(
                    "the declared type {given} does not match the file's contents, which are {mime}"
                ),
            ));
        }
    }
    if let Some(want) = declared_kind.filter(|k| *k != kind) {
        return Err(Error::field(
            "type",
            format!(
                "the file is {mime} ({}), not {}",
                kind.as_str(),
                want.as_str()
            ),
        ));
    }
    Ok((kind, kind.max_bytes(sniffed.animated)))
}

/// A file name Meta can take: the client's, stripped of any path and control characters, or one made from the kind.
fn clean_filename(name: Option<&str>, kind: MediaKind, mime: &str) -> String {
    let base = name
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or_default())
        .map(|n| {
            n.chars()
                .filter(|c| !c.is_control() && *c != '"')
                .take(MAX_FILENAME_CHARS)
                .collect::<String>()
        })
        .filter(|n| !n.trim().is_empty() && n != "." && n != "..");
    base.unwrap_or_else(|| {
        let ext = mime.rsplit('/').next().unwrap_or("bin");
        let ext = match ext {
            "jpeg" => "jpg",
            "mpeg" => "mp3",
            "plain" => "txt",
            e if e.len() > 8 => "bin",
            e => e,
        };
        format!("{}.{ext}", kind.as_str())
    })
}

impl WhatsApi {
    fn credentials_of(acc: crate::Account) -> Result<MetaCredentials, Error> {
        acc.credentials.ok_or(Error::NoCredentials)
    }

    /// Uploads a media file to Meta with the account's credentials. The type is sniffed from the first bytes and
    /// must be one Meta takes and agree with what the client declared; the size is counted as the bytes flow to
    /// Meta and the upload is cut off (answered [`Error::TooLarge`]) once it passes the kind's limit. At most
    /// [`SNIFF_BYTES`] plus one chunk are held in memory.
    pub async fn upload_media(
        &self,
        account: AccountId,
        mut upload: MediaUpload,
    ) -> Result<UploadedMedia, Error> {
        let creds = Self::credentials_of(self.me(account).await?)?;
        let mut prefix = BytesMut::new();
        let mut ended = false;
        while prefix.len() < SNIFF_BYTES {
            match upload.body.next().await {
                Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(Error::Refused(format!("the upload failed: {e}"))),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if prefix.is_empty() {
            return Err(Error::field("file", "the file is empty"));
        }
        let sniffed = upload::sniff(&prefix);
        let (kind, limit) = check_type(
            sniffed.as_ref(),
            upload.declared_type.as_deref(),
            upload.content_type.as_deref(),
        )?;
        if prefix.len() as u64 > limit {
            return Err(Error::TooLarge { kind, limit });
        }
        let mime = sniffed.map(|s| s.mime).unwrap_or_default();
        let mime = if kind == MediaKind::Audio && mime == "video/mp4" {
            "audio/mp4".to_owned()
        } else {
            mime
        };
        let size = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = size.clone();
        let head: Bytes = prefix.freeze();
        let rest: MediaStream = if ended {
            Box::pin(futures_util::stream::empty())
        } else {
            upload.body
        };
        let whole = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) })
            .chain(rest)
            .inspect(move |c| {
                if let Ok(c) = c {
                    counted.fetch_add(c.len() as u64, Ordering::Relaxed);
                }
            });
        let exceeded = Arc::new(AtomicBool::new(false));
        let body = upload::limited(Box::pin(whole), limit, exceeded.clone());
        let file = MediaFile {
            filename: clean_filename(upload.filename.as_deref(), kind, &mime),
            mime: mime.clone(),
            body,
        };
        match self.core().transport.upload_media(&creds, file).await {
            Ok(id) => Ok(UploadedMedia {
                id,
                mime_type: mime,
                size: size.load(Ordering::Relaxed),
                kind,
            }),
            Err(_) if exceeded.load(Ordering::SeqCst) => Err(Error::TooLarge { kind, limit }),
            Err(e) => Err(Error::Meta(Box::new(e))),
        }
    }

    /// Meta's metadata of an uploaded media file (with a short-lived download URL), read with the account's
    /// credentials.
    pub async fn media_info(&self, account: AccountId, media_id: &str) -> Result<MediaInfo, Error> {
        let creds = Self::credentials_of(self.me(account).await?)?;
        if media_id.is_empty()
            || media_id.len() > 128
            || !media_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::NotFound(format!(
                "No media {media_id:?}: media ids are digits."
            )));
        }
        self.core()
            .transport
            .media_info(&creds, media_id)
            .await
            .map_err(|e| not_found_or_meta(e, media_id))
    }

    /// Marks an inbound message read through Meta (the sender sees blue ticks), with a typing indicator when
    /// asked (Meta shows it until the next reply, 25 seconds at most). `reference` is its wamid, or whatsapi's
    /// inbound id (resolved within the account: another account's is not found). The call goes out on the
    /// business number that received the message (its phone number id and token), the default number when the
    /// message is not stored or its number is unknown; a number the account has disconnected since is refused.
    pub async fn mark_read(
        &self,
        account: AccountId,
        reference: &str,
        typing_indicator: bool,
    ) -> Result<String, Error> {
        let (wamid, stored) = self.inbound_reference(account, reference).await?;
        let acc = self.me(account).await?;
        let to = stored.as_ref().and_then(|m| m.to.as_ref());
        let creds = match to {
            Some(to) => self
                .number_credentials(&acc, &to.phone_number_id)
                .await?
                .ok_or_else(|| {
                    Error::Refused(format!(
                        "the message was sent to the business number {}, which is no longer connected to this \
                         account; connect it again (POST /numbers) to mark the message read",
                        to.phone_number_id
                    ))
                })?,
            None => Self::credentials_of(acc)?,
        };
        self.core()
            .transport
            .mark_read(&creds, &wamid, typing_indicator)
            .await
            .map_err(|e| Error::Meta(Box::new(e)))?;
        Ok(wamid)
    }
}

/// Meta answers an unknown or foreign object with code 100 (subcode 33): that is a 404 to our caller.
fn not_found_or_meta(e: SendError, id: &str) -> Error {
    if e.code == Some(100) && e.subcode == Some(33) {
        Error::NotFound(format!("No media {id:?} for this account's phone number."))
    } else {
        Error::Meta(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::harness::Harness;

    fn body(bytes: Vec<u8>, chunk: usize) -> MediaStream {
        let chunks: Vec<Result<Bytes, std::io::Error>> = bytes
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Box::pin(futures_util::stream::iter(chunks))
    }

    fn webp(animated: bool, len: usize) -> Vec<u8> {
        let mut b = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
        b.push(if animated { 0x02 } else { 0 });
        b.resize(len, 0);
        b
    }

    fn upload(bytes: Vec<u8>) -> MediaUpload {
        MediaUpload {
            declared_type: None,
            content_type: None,
            filename: None,
            body: body(bytes, 4096),
        }
    }

    #[tokio::test]
    async fn stickers_have_two_limits_and_nothing_goes_out_without_credentials() {
        let h = Harness::new();
        let acc = h.api.create_account("Acme").await.unwrap();
        let err = h.api.upload_media(acc.id, upload(webp(false, 10))).await;
        assert_eq!(err.unwrap_err(), Error::NoCredentials);
        let acc = h
            .api
            .set_credentials(
                acc.id,
                MetaCredentials {
                    waba_id: None,
                    verify_token_hash: None,
                    access_token: "EAAc".into(),
                    phone_number_id: "1234567890".into(),
                    app_secret: None,
                    verify_token: None,
                    throughput_per_second: None,
                },
            )
            .await
            .unwrap();
        let static_big = h
            .api
            .upload_media(acc.id, upload(webp(false, 150 * 1024)))
            .await;
        assert_eq!(
            static_big.unwrap_err(),
            Error::TooLarge {
                kind: MediaKind::Sticker,
                limit: 100 * 1024
            }
        );
        let animated = h
            .api
            .upload_media(acc.id, upload(webp(true, 150 * 1024)))
            .await
            .unwrap();
        assert_eq!(
            (animated.kind, animated.mime_type.as_str(), animated.size),
            (MediaKind::Sticker, "image/webp", 150 * 1024)
        );
        // Only the accepted one reached the transport, under a name made from its kind.
        let ups = h.fake.uploads();
        assert_eq!(ups.len(), 1);
        assert_eq!(ups[0].filename, "sticker.webp");
        assert_eq!(ups[0].bytes.as_ref().map(Vec::len), Some(150 * 1024));
        let info = h.api.media_info(acc.id, &animated.id).await.unwrap();
        assert_eq!(info.file_size, Some(150 * 1024));
        assert!(matches!(
            h.api.media_info(acc.id, "404").await,
            Err(Error::NotFound(_))
        ));
        h.api.mark_read(acc.id, "wamid.ABC", true).await.unwrap();
        assert!(h.fake.reads()[0].typing_indicator);
    }

    fn sniffed(mime: &str) -> Sniffed {
        Sniffed {
            mime: mime.into(),
            animated: false,
        }
    }

    #[test]
    fn declared_types_must_agree_with_the_bytes() {
        let png = sniffed("image/png");
        assert_eq!(
            check_type(Some(&png), None, Some("image/png")).unwrap(),
            (MediaKind::Image, 5 * 1024 * 1024)
        );
        assert!(check_type(Some(&png), Some("image"), Some("application/octet-stream")).is_ok());
        for (declared, ct) in [
            (Some("image/jpeg"), None),
            (None, Some("application/pdf")),
            (Some("document"), None),
            (Some("picture"), None),
        ] {
            let Err(Error::Validation(v)) = check_type(Some(&png), declared, ct) else {
                panic!("{declared:?} {ct:?} accepted");
            };
            assert_eq!(v.0.len(), 1);
        }
        assert!(check_type(Some(&sniffed("image/gif")), None, None).is_err());
        assert!(check_type(None, None, None).is_err());
        let (kind, _) = check_type(Some(&sniffed("video/mp4")), Some("audio"), None).unwrap();
        assert_eq!(kind, MediaKind::Audio);
    }

    #[test]
    fn wamids_and_file_names() {
        assert!(is_wamid("wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdC="));
        assert!(!is_wamid("wamid."));
        assert!(!is_wamid("9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20"));
        assert!(!is_wamid(&format!("wamid.{}", "A".repeat(600))));
        assert_eq!(
            clean_filename(
                Some("../../etc/a.pdf"),
                MediaKind::Document,
                "application/pdf"
            ),
            "a.pdf"
        );
        assert_eq!(
            clean_filename(None, MediaKind::Image, "image/jpeg"),
            "image.jpg"
        );
    }
}
