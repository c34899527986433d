//! [`MediaForm`]: the `multipart/form-data` body of `POST /media`, read into core's
//! [`whatsapi_core::service::MediaUpload`] without holding the file in memory.
//!
//! The form is read with `multer` over the raw body rather than through axum's `Multipart`, whose fields borrow the
//! extractor and so cannot be handed to the transport as an owned stream. The raw body is not subject to the
//! server-wide body limit ([`axum::extract::DefaultBodyLimit`] binds only the buffering extractors, which every
//! other route uses); the form bounds it itself at [`MAX_UPLOAD_BODY`].
//!
//! # The order of the parts
//!
//! The form holds the file in the part `file` and optionally `type`, in either order (plus Meta's own
//! `messaging_product`, accepted and ignored). The declared type must be known before the file goes to Meta
//! (it is checked against the sniffed type, and `audio` makes an MP4 container audio), so:
//!
//! - **`type` before `file`**: the file part is streamed straight through to Meta as it arrives; parts after it
//!   are not read.
//! - **`file` first**: the form cannot tell whether a `type` follows until the file ends, so the file part is
//!   spooled to an anonymous temporary file (in `$TMPDIR`, unlinked from the start, so it is gone when the upload is
//!   dropped, even if the process dies), the rest of the form is read, and the file is then streamed from disk.
//!   The spool is bounded like the body, at [`MAX_UPLOAD_BODY`]; memory holds one chunk at a time.
//!
//! A form with only `file` is therefore spooled: put `type` first to stream without touching the disk.
//!
//! # Failures of the client's stream
//!
//! Once the file is streaming, a failure of the client's body (it disconnected, or the form broke off or overran
//! the bound) surfaces to core as a failed upload. [`UploadOutcome::answer`] tells those apart from Meta's
//! failures: a body over the bound is a 413, a cut-off or malformed body a 400, never a 502.

use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use whatsapi_core::service::{MediaUpload, UploadedMedia};
use whatsapi_core::upload::{MAX_MEDIA_BYTES, MediaStream};

use super::field_error;
use crate::error::ApiError;

/// The largest `POST /media` body: the largest file Meta takes plus room for the form's other parts and headers.
pub const MAX_UPLOAD_BODY: u64 = MAX_MEDIA_BYTES + 64 * 1024;

/// The most form parts read besides the file, and the size of a text part: an upload names at most `type`.
const MAX_TEXT_PARTS: usize = 4;
const MAX_TEXT_PART_BYTES: u64 = 256;

/// The size of the chunks read back from a spooled file.
const SPOOL_CHUNK: usize = 64 * 1024;

/// What `POST /media` says when the client's body ends before the form does.
pub const CUT_OFF: &str = "the upload was cut off before the file ended";

/// The body of `POST /media`: the file (a stream) and what the client said about it, ready for core's upload.
/// Rejections: 413 for a declared or actual body over [`MAX_UPLOAD_BODY`], 400 for anything else the client got
/// wrong (not multipart, no `file`, an unknown part, a body cut off).
pub struct MediaForm {
    /// What core uploads.
    pub upload: MediaUpload,
    /// Reads core's result in the light of what happened to the client's stream.
    pub outcome: UploadOutcome,
}

/// Why the client's side of a streamed upload failed, recorded by the stream as it happens.
#[derive(Debug, Clone)]
enum StreamFailure {
    /// The body passed [`MAX_UPLOAD_BODY`].
    TooLarge,
    /// The client disconnected, or its body ended before the form did.
    CutOff,
    /// The form is not valid multipart.
    Malformed(String),
    /// Reading the spooled file back failed (the server's disk, not the client).
    Spool(String),
}

impl StreamFailure {
    fn of(e: &multer::Error) -> Self {
        match e {
            multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
                StreamFailure::TooLarge
            }
            multer::Error::StreamReadFailed(_)
            | multer::Error::IncompleteFieldData { .. }
            | multer::Error::IncompleteHeaders
            | multer::Error::IncompleteStream => StreamFailure::CutOff,
            other => StreamFailure::Malformed(other.to_string()),
        }
    }

    fn into_error(self) -> ApiError {
        match self {
            StreamFailure::TooLarge => too_large(),
            StreamFailure::CutOff => ApiError::validation(vec![field_error("file", CUT_OFF)]),
            StreamFailure::Malformed(m) => ApiError::validation(vec![field_error(
                "body",
                format!("malformed multipart/form-data: {m}"),
            )]),
            StreamFailure::Spool(m) => spool_error(&m),
        }
    }
}

/// The half of a [`MediaForm`] that outlives the upload call: the failure its stream recorded, if any, and the
/// form itself (dropped with the rest of the body unread once the answer is known).
pub struct UploadOutcome {
    failure: Arc<OnceLock<StreamFailure>>,
    _form: Option<multer::Multipart<'static>>,
}

impl UploadOutcome {
    /// Core's result, unless the client's stream failed under it: then the client's error (413 or 400), whatever
    /// core made of the broken stream.
    pub fn answer(
        self,
        result: Result<UploadedMedia, whatsapi_core::Error>,
    ) -> Result<UploadedMedia, ApiError> {
        match (result, self.failure.get()) {
            (Ok(m), _) => Ok(m),
            (Err(_), Some(failure)) => {
                if matches!(failure, StreamFailure::CutOff) {
                    tracing::info!("a media upload was cut off by the client");
                }
                Err(failure.clone().into_error())
            }
            (Err(e), None) => Err(e.into()),
        }
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Body too large: a media upload takes at most {MAX_UPLOAD_BODY} bytes."),
    )
}

fn spool_error(detail: &str) -> ApiError {
    tracing::error!(error = %detail, "spooling a media upload to a temporary file failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error: the upload could not be stored temporarily.",
    )
}

fn multipart_error(e: &multer::Error) -> ApiError {
    StreamFailure::of(e).into_error()
}

/// The boundary of a `multipart/form-data` request, or the 400 that says what to send.
fn boundary(req: &Request) -> Result<String, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    multer::parse_boundary(ct).map_err(|_| {
        ApiError::validation(vec![field_error(
            "body",
            "must be multipart/form-data with the file in a part named `file` (e.g. curl -F file=@photo.png)",
        )])
    })
}

/// The text parts of the form, counted and kept as they are read.
#[derive(Default)]
struct TextParts {
    declared_type: Option<String>,
    read: usize,
}

impl TextParts {
    /// Reads `field` if it is a text part the form takes; an error for any other part.
    async fn read(&mut self, field: multer::Field<'static>) -> Result<(), ApiError> {
        self.read += 1;
        match field.name() {
            Some("type") if self.read <= MAX_TEXT_PARTS => {
                self.declared_type = Some(field.text().await.map_err(|e| multipart_error(&e))?);
            }
            Some("messaging_product") if self.read <= MAX_TEXT_PARTS => {
                // Meta's own form names it; accepted so a form written for Meta works here.
                field.text().await.map_err(|e| multipart_error(&e))?;
            }
            Some("file") => {
                return Err(ApiError::validation(vec![field_error(
                    "file",
                    "an upload takes one file; send one part named `file`",
                )]));
            }
            other => {
                return Err(ApiError::validation(vec![field_error(
                    other.unwrap_or("body"),
                    "unknown form part; expected `file` and optionally `type`",
                )]));
            }
        }
        Ok(())
    }
}

impl<S: Send + Sync> FromRequest<S> for MediaForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_length.is_some_and(|n| n > MAX_UPLOAD_BODY) {
            return Err(too_large());
        }
        let boundary = boundary(&req)?;
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .whole_stream(MAX_UPLOAD_BODY)
                .for_field("type", MAX_TEXT_PART_BYTES)
                .for_field("messaging_product", MAX_TEXT_PART_BYTES),
        );
        let body = req.into_body().into_data_stream();
        let mut form = multer::Multipart::with_constraints(body, boundary, constraints);
        let mut text = TextParts::default();
        let file = loop {
            let field = form
                .next_field()
                .await
                .map_err(|e| multipart_error(&e))?
                .ok_or_else(|| {
                    ApiError::validation(vec![field_error(
                        "file",
                        "required: send the file in a multipart part named `file`",
                    )])
                })?;
            if field.name() == Some("file") {
                break field;
            }
            text.read(field).await?;
        };
        let content_type = file.content_type().map(|m| m.essence_str().to_owned());
        let filename = file.file_name().map(str::to_owned);
        let failure = Arc::new(OnceLock::new());
        let (body, form) = if text.declared_type.is_some() {
            (streamed(file, failure.clone()), Some(form))
        } else {
            let spooled = spool(file).await?;
            while let Some(field) = form.next_field().await.map_err(|e| multipart_error(&e))? {
                text.read(field).await?;
            }
            (read_back(spooled, failure.clone()), None)
        };
        Ok(MediaForm {
            upload: MediaUpload {
                declared_type: text.declared_type,
                content_type,
                filename,
                body,
            },
            outcome: UploadOutcome {
                failure,
                _form: form,
            },
        })
    }
}

/// The file part as a stream, recording why the client's body failed if it does.
fn streamed(file: multer::Field<'static>, failure: Arc<OnceLock<StreamFailure>>) -> MediaStream {
    Box::pin(file.map(move |chunk| {
        chunk.map_err(|e| {
            let _ = failure.set(StreamFailure::of(&e));
            std::io::Error::other(e.to_string())
        })
    }))
}

/// Writes the file part to an anonymous temporary file (removed when closed) and rewinds it.
async fn spool(mut file: multer::Field<'static>) -> Result<tokio::fs::File, ApiError> {
    let spool = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(|e| spool_error(&e.to_string()))?
        .map_err(|e| spool_error(&e.to_string()))?;
    let mut spool = tokio::fs::File::from_std(spool);
    while let Some(chunk) = file.chunk().await.map_err(|e| multipart_error(&e))? {
        spool
            .write_all(&chunk)
            .await
            .map_err(|e| spool_error(&e.to_string()))?;
    }
    spool
        .seek(std::io::SeekFrom::Start(0))
        .await
        .map_err(|e| spool_error(&e.to_string()))?;
    Ok(spool)
}

/// A spooled file as a stream of chunks, recording a read failure (the server's, not the client's).
fn read_back(file: tokio::fs::File, failure: Arc<OnceLock<StreamFailure>>) -> MediaStream {
    Box::pin(futures_util::stream::try_unfold(
        (file, failure),
        |(mut file, failure)| async move {
            let mut buf = BytesMut::with_capacity(SPOOL_CHUNK);
            match file.read_buf(&mut buf).await {
                Ok(0) => Ok(None),
                Ok(_) => Ok(Some((Bytes::from(buf), (file, failure)))),
                Err(e) => {
                    let _ = failure.set(StreamFailure::Spool(e.to_string()));
                    Err(e)
                }
            }
        },
    ))
}
