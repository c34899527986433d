//! Media uploads: the kinds Meta hosts, their MIME types and size limits, sniffing the real type from the first
//! bytes, and the streams that carry an upload to the transport without holding it whole in memory.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

/// A body of bytes that arrives in chunks (an upload on its way from the client to Meta).
pub type MediaStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// How many leading bytes are read to sniff the type (Office files name their parts a little way in).
pub const SNIFF_BYTES: usize = 8 * 1024;

/// The largest upload of any kind (a document): 100 MB.
pub const MAX_MEDIA_BYTES: u64 = 100 * MB;

const KB: u64 = 1024;
const MB: u64 = 1024 * 1024;

/// The kinds of media Meta hosts for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// JPEG or PNG, up to 5 MB.
    Image,
    /// MP4 or 3GPP, up to 16 MB.
    Video,
    /// AAC, AMR, MPEG, MP4 or Ogg (Opus), up to 16 MB.
    Audio,
    /// PDF, plain text and Office files, up to 100 MB.
    Document,
    /// WebP, up to 100 KB (static) or 500 KB (animated).
    Sticker,
}

impl MediaKind {
    /// Every kind, in a stable order.
    pub const ALL: [MediaKind; 5] = [
        MediaKind::Image,
        MediaKind::Video,
        MediaKind::Audio,
        MediaKind::Document,
        MediaKind::Sticker,
    ];

    /// The name Meta gives the kind (`image`, `document`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }

    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The MIME types Meta accepts for the kind.
    pub fn mime_types(self) -> &'static [&'static str] {
        match self {
            MediaKind::Image => &["image/jpeg", "image/png"],
            MediaKind::Video => &["video/mp4", "video/3gpp"],
            MediaKind::Audio => &[
                "audio/aac",
                "audio/amr",
                "audio/mpeg",
                "audio/mp4",
                "audio/ogg",
            ],
            MediaKind::Document => &[
                "application/pdf",
                "text/plain",
                "application/msword",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.ms-excel",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/vnd.ms-powerpoint",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            ],
            MediaKind::Sticker => &["image/webp"],
        }
    }

    /// The largest file of the kind; `animated` matters only for stickers.
    pub fn max_bytes(self, animated: bool) -> u64 {
        match self {
            MediaKind::Image => 5 * MB,
            MediaKind::Video | MediaKind::Audio => 16 * MB,
            MediaKind::Document => MAX_MEDIA_BYTES,
            MediaKind::Sticker if animated => 500 * KB,
            MediaKind::Sticker => 100 * KB,
        }
    }

    /// The kind a MIME type belongs to (WebP is a sticker: Meta takes no WebP images).
    pub fn of_mime(mime: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.mime_types().contains(&mime))
    }
}

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    /// The MIME type, normalised to the names Meta uses (`audio/m4a` is `audio/mp4`).
    pub mime: String,
    /// An animated WebP.
    pub animated: bool,
}

/// Sniffs the type of a file from its first bytes (at least [`SNIFF_BYTES`] of them, or the whole file if
/// shorter). Text without a signature is `text/plain` when it is valid UTF-8 without control characters.
pub fn sniff(prefix: &[u8]) -> Option<Sniffed> {
    if let Some(t) = infer::get(prefix) {
        let mime = match t.mime_type() {
            "audio/m4a" | "audio/x-m4a" => "audio/mp4",
            "audio/x-aac" => "audio/aac",
            "audio/opus" => "audio/ogg",
            "video/quicktime" => "video/quicktime",
            other => other,
        };
        let animated = mime == "image/webp" && webp_is_animated(prefix);
        return Some(Sniffed {
            mime: mime.to_owned(),
            animated,
        });
    }
    if looks_like_text(prefix) {
        return Some(Sniffed {
            mime: "text/plain".to_owned(),
            animated: false,
        });
    }
    None
}

/// A WebP with the extended header's animation flag.
fn webp_is_animated(b: &[u8]) -> bool {
    b.len() > 20 && &b[12..16] == b"VP8X" && b[20] & 0x02 != 0
}

fn looks_like_text(prefix: &[u8]) -> bool {
    if prefix.is_empty() {
        return false;
    }
    // A multi-byte character may be cut at the end of the prefix.
    let text = match std::str::from_utf8(prefix) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&prefix[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
}

/// Wraps `inner` so it fails once more than `limit` bytes have passed, and says so through `exceeded`.
pub(crate) fn limited(inner: MediaStream, limit: u64, exceeded: Arc<AtomicBool>) -> MediaStream {
    Box::pin(Limited {
        inner,
        seen: 0,
        limit,
        exceeded,
    })
}

struct Limited {
    inner: MediaStream,
    seen: u64,
    limit: u64,
    exceeded: Arc<AtomicBool>,
}

impl Stream for Limited {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.seen += chunk.len() as u64;
                if self.seen > self.limit {
                    self.exceeded.store(true, Ordering::SeqCst);
                    return Poll::Ready(Some(Err(std::io::Error::other(format!(
                        "upload is larger than {} bytes",
                        self.limit
                    )))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

    #[test]
    fn sniffs_png_pdf_text_and_webp_animation() {
        assert_eq!(sniff(PNG).unwrap().mime, "image/png");
        assert_eq!(sniff(b"%PDF-1.7\n%...").unwrap().mime, "application/pdf");
        assert_eq!(sniff("héllo\nworld".as_bytes()).unwrap().mime, "text/plain");
        assert_eq!(sniff(b"\0\x01\x02binary"), None);
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x02\0\0\0".to_vec();
        webp.extend_from_slice(&[0; 16]);
        let s = sniff(&webp).unwrap();
        assert_eq!((s.mime.as_str(), s.animated), ("image/webp", true));
        webp[20] = 0;
        assert!(!sniff(&webp).unwrap().animated);
    }

    #[test]
    fn kinds_and_limits_follow_meta() {
        assert_eq!(MediaKind::of_mime("image/png"), Some(MediaKind::Image));
        assert_eq!(MediaKind::of_mime("image/webp"), Some(MediaKind::Sticker));
        assert_eq!(MediaKind::of_mime("image/gif"), None);
        assert_eq!(MediaKind::Image.max_bytes(false), 5 * 1024 * 1024);
        assert_eq!(MediaKind::Sticker.max_bytes(true), 500 * 1024);
        assert_eq!(MediaKind::Sticker.max_bytes(false), 100 * 1024);
        assert_eq!(MediaKind::parse("document"), Some(MediaKind::Document));
    }

    #[tokio::test]
    async fn the_limit_stops_the_stream_and_says_so() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(&[0; 6])),
            Ok(Bytes::from_static(&[0; 6])),
        ];
        let flag = Arc::new(AtomicBool::new(false));
        let mut s = limited(
            Box::pin(futures_util::stream::iter(chunks)),
            10,
            flag.clone(),
        );
        assert!(s.next().await.unwrap().is_ok());
        assert!(!flag.load(Ordering::SeqCst));
        assert!(s.next().await.unwrap().is_err());
        assert!(flag.load(Ordering::SeqCst));
    }
}
