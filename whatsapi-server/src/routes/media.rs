//! Media files hosted by Meta: `POST /media` uploads one (multipart, streamed through to Meta), `GET /media/{id}`
//! reads its metadata.
//!
//! The upload is read with `multer` over the raw body rather than through axum's `Multipart`, whose fields
//! borrow the extractor and so cannot be handed to the transport as an owned stream. The raw body is not subject to
//! the server-wide body limit ([`axum::extract::DefaultBodyLimit`] binds only the buffering extractors, which every
//! other route uses); this route bounds it itself at [`MAX_UPLOAD_BODY`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::service::MediaUpload;
use whatsapi_core::upload::MAX_MEDIA_BYTES;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::field_error;
use crate::state::AppState;
use crate::views::ok;

/// The largest `POST /media` body: the largest file Meta takes plus room for the form's other parts and headers.
pub const MAX_UPLOAD_BODY: u64 = MAX_MEDIA_BYTES + 64 * 1024;

/// The most form parts read before the file, and the size of a text part: an upload names at most `type`.
const MAX_TEXT_PARTS: usize = 4;
const MAX_TEXT_PART_BYTES: u64 = 256;

/// Uploading and reading media; every route needs an API key.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(get_media));
    crate::auth::require_api_key(routes, state)
}

/// An uploaded file.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadedMediaView {
    /// Meta's media id: send it as `image.id`, `document.id`, … (Meta keeps uploads for 30 days).
    #[schema(example = "1037543291543636")]
    pub id: String,
    /// The MIME type sniffed from the file's bytes.
    #[schema(example = "image/png")]
    pub mime_type: String,
    /// Size in bytes.
    #[schema(example = 20394)]
    pub size: u64,
}

/// What Meta knows about an uploaded file.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaView {
    /// The media id.
    #[schema(example = "1037543291543636")]
    pub id: String,
    /// Download URL; valid for a few minutes and only with the account's Meta access token.
    #[schema(
        example = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1037543291543636"
    )]
    pub url: Option<String>,
    /// The MIME type.
    #[schema(example = "image/png")]
    pub mime_type: Option<String>,
    /// SHA-256 of the file, hex.
    #[schema(example = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    pub sha256: Option<String>,
    /// Size in bytes.
    #[schema(example = 20394)]
    pub file_size: Option<u64>,
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

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Body too large: a media upload takes at most {limit} bytes."),
    )
}

fn multipart_error(e: &multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            too_large(MAX_UPLOAD_BODY)
        }
        other => ApiError::validation(vec![field_error(
            "body",
            format!("malformed multipart/form-data: {other}"),
        )]),
    }
}

/// Upload a media file to Meta (image, video, audio, document or sticker) to send it by `id`.
///
/// The form takes the file in the part `file` and optionally `type` before it: a MIME type (as Meta takes it) or
/// a kind (`image`, `video`, `audio`, `document`, `sticker`). The real type is sniffed from the file's bytes and
/// must agree with `type` and with the part's `Content-Type` (`application/octet-stream` says nothing); the size
/// limit is Meta's for the kind (image 5 MB, video and audio 16 MB, document 100 MB, sticker 100 KB or 500 KB
/// animated). The file is streamed through to Meta as it arrives. Answers 201.
#[utoipa::path(post, path = "/media", tag = "media", operation_id = "uploadMedia", security(("bearer" = [])),
    request_body(content = inline(UploadForm), content_type = "multipart/form-data",
        description = "`file` (the bytes) and optionally `type` before it",
        example = json!({"type": "image", "file": "(the bytes of photo.png)"})),
    responses(
        (status = 201, description = "Uploaded", body = crate::views::Envelope<UploadedMediaView>,
            example = json!({"success": true, "data": {"id": "1037543291543636", "mimeType": "image/png", "size": 20394}})),
        (status = 400, description = "Not multipart, no `file`, an unknown or mismatched type, or no credentials", body = crate::views::ErrorView,
            example = json!({"success": false,
                "error": "Validation failed: file: the declared type image/jpeg does not match the file's contents, which are image/png",
                "details": [{"field": "file", "message": "the declared type image/jpeg does not match the file's contents, which are image/png"}]})),
        (status = 413, description = "Larger than Meta takes for the kind", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "the file is larger than the 5242880 bytes WhatsApp takes for image"})),
        (status = 502, description = "Meta refused or failed the upload", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "WhatsApp refused the call: (#131053) Media upload error"})),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    req: Request,
) -> Result<Response, ApiError> {
    let declared_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > MAX_UPLOAD_BODY) {
        return Err(too_large(MAX_UPLOAD_BODY));
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
    let mut declared_type = None;
    let mut parts = 0;
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
        parts += 1;
        match field.name() {
            Some("file") => break field,
            Some("type") if parts <= MAX_TEXT_PARTS => {
                declared_type = Some(field.text().await.map_err(|e| multipart_error(&e))?);
            }
            Some("messaging_product") if parts <= MAX_TEXT_PARTS => {
                // Meta's own form names it; accepted so a form written for Meta works here.
                field.text().await.map_err(|e| multipart_error(&e))?;
            }
            other => {
                return Err(ApiError::validation(vec![field_error(
                    other.unwrap_or("body"),
                    "unknown form part; expected `type` (optional) and then `file`",
                )]));
            }
        }
    };
    let content_type = file.content_type().map(|m| m.essence_str().to_owned());
    let filename = file.file_name().map(str::to_owned);
    // Set when the form's own bound (not the kind's) cuts the stream, so that failure is a 413 too.
    let cut = Arc::new(AtomicBool::new(false));
    let flag = cut.clone();
    let stream = file.map(move |chunk| {
        chunk.map_err(|e| {
            if matches!(
                e,
                multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. }
            ) {
                flag.store(true, Ordering::SeqCst);
            }
            std::io::Error::other(e.to_string())
        })
    });
    let result = state
        .api
        .upload_media(
            account.id,
            MediaUpload {
                declared_type,
                content_type,
                filename,
                body: Box::pin(stream),
            },
        )
        .await;
    // The form is dropped with the rest of the body unread: parts after `file` are ignored.
    drop(form);
    match result {
        Ok(m) => Ok((
            StatusCode::CREATED,
            ok(UploadedMediaView {
                id: m.id,
                mime_type: m.mime_type,
                size: m.size,
            }),
        )
            .into_response()),
        Err(_) if cut.load(Ordering::SeqCst) => Err(too_large(MAX_UPLOAD_BODY)),
        Err(e) => Err(e.into()),
    }
}

/// The multipart form of `POST /media` (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// Optional, before `file`: a MIME type (`image/png`) or a kind (`image`, `video`, `audio`, `document`,
    /// `sticker`); must agree with the file's contents.
    #[schema(example = "image/png")]
    r#type: Option<String>,
    /// The file.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Metadata of an uploaded media file, with a short-lived download URL.
#[utoipa::path(get, path = "/media/{id}", tag = "media", operation_id = "getMedia", security(("bearer" = [])),
    params(("id" = String, Path, description = "Media id from the upload", example = "1037543291543636")),
    responses(
        (status = 200, body = crate::views::Envelope<MediaView>, example = json!({"success": true, "data": {
            "id": "1037543291543636", "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1037543291543636",
            "mimeType": "image/png", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "fileSize": 20394}})),
        (status = 400, description = "The account has no Meta credentials", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "this account has no Meta credentials; save your Meta credentials first with PUT /auth/me/credentials (or send with \"dry_run\": true to test without them)"})),
        (status = 404, description = "No such media for this account's number", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "No media \"1037543291543636\" for this account's phone number."})),
        (status = 502, description = "Meta failed the call", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "WhatsApp refused the call: (#190) Invalid OAuth access token"})),
    ))]
pub async fn get_media(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let m = state.api.media_info(account.id, &id).await?;
    Ok(ok(MediaView {
        id: m.id,
        url: m.url,
        mime_type: m.mime_type,
        sha256: m.sha256,
        file_size: m.file_size,
    })
    .into_response())
}
