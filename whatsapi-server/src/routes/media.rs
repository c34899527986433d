//! Media files hosted by Meta: `POST /media` uploads one (multipart, read by [`MediaForm`] and streamed through to
//! Meta), `GET /media/{id}` reads its metadata, `GET /media/{id}/content` streams its bytes (a customer's media
//! from an inbound message, or an upload) from Meta with the account's token.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
pub use crate::extract::media::MAX_UPLOAD_BODY;
use crate::extract::media::MediaForm;
use crate::state::AppState;
use crate::views::ok;

/// Uploading and reading media; every route needs an API key.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(get_media))
        .routes(routes!(media_content));
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

/// Upload a media file to Meta (image, video, audio, document or sticker) to send it by `id`.
///
/// The form takes the file in the part `file` and optionally `type`, before or after it: a MIME type (as Meta takes it) or
/// a kind (`image`, `video`, `audio`, `document`, `sticker`). The real type is sniffed from the file's bytes and
/// must agree with `type` and with the part's `Content-Type` (`application/octet-stream` says nothing); the size
/// limit is Meta's for the kind (image 5 MB, video and audio 16 MB, document 100 MB, sticker 100 KB or 500 KB
/// animated). With `type` first the file is streamed through to Meta as it arrives; with `file` first it is
/// spooled to a temporary file until the form ends (see [`MediaForm`]). A client that disconnects mid-upload is
/// answered 400. Answers 201.
#[utoipa::path(post, path = "/media", tag = "media", operation_id = "uploadMedia", security(("bearer" = [])),
    request_body(content = inline(UploadForm), content_type = "multipart/form-data",
        description = "`file` (the bytes) and optionally `type`, in either order (`type` first streams the file straight through)",
        example = json!({"type": "image", "file": "(the bytes of photo.png)"})),
    responses(
        (status = 201, description = "Uploaded", body = crate::views::Envelope<UploadedMediaView>,
            example = json!({"success": true, "data": {"id": "1037543291543636", "mimeType": "image/png", "size": 20394}})),
        (status = 400, description = "Not multipart, no `file`, an unknown or mismatched type, a body cut off before the form ended, or no credentials", body = crate::views::ErrorView,
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
    MediaForm { upload, outcome }: MediaForm,
) -> Result<Response, ApiError> {
    let result = state.api.upload_media(account.id, upload).await;
    let m = outcome.answer(result)?;
    Ok((
        StatusCode::CREATED,
        ok(UploadedMediaView {
            id: m.id,
            mime_type: m.mime_type,
            size: m.size,
        }),
    )
        .into_response())
}

/// The multipart form of `POST /media` (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// Optional, before or after `file`: a MIME type (`image/png`) or a kind (`image`, `video`, `audio`, `document`,
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

/// Download a media file's bytes: a customer's (the `content.id` of an inbound image, video, audio, document or
/// sticker) or one you uploaded.
///
/// whatsapi asks Meta for the file's short-lived URL and streams the bytes from it with your account's access
/// token, so the token never leaves the server. The answer is the file itself (not JSON), with its MIME type, as
/// an attachment; files over 100 MB are refused.
#[utoipa::path(get, path = "/media/{id}/content", tag = "media", operation_id = "downloadMedia", security(("bearer" = [])),
    params(("id" = String, Path, description = "Media id (from an inbound message's content, or an upload)", example = "1037543291543636")),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream",
            headers(("Content-Type" = String, description = "The file's MIME type, e.g. image/jpeg"),
                    ("Content-Length" = u64, description = "Its size, when Meta gives it")),
            body = Vec<u8>, example = "(the bytes of the file)"),
        (status = 400, description = "No Meta credentials, or the file is larger than 100 MB", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "media \"1037543291543636\" is larger than 104857600 bytes, the most passed through"})),
        (status = 404, description = "No such media for this account's number", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "No media \"1037543291543636\" for this account's phone number."})),
        (status = 502, description = "Meta failed the call", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "WhatsApp refused the call: (#190) Invalid OAuth access token"})),
    ))]
pub async fn media_content(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    use axum::http::{HeaderValue, header};
    let media = state.api.media_content(account.id, &id).await?;
    let mime = media
        .mime_type
        .as_deref()
        .and_then(|m| HeaderValue::from_str(m).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut response = axum::body::Body::from_stream(media.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, mime);
    if let Some(size) = media.size {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    // A customer's file is served as a download, never rendered on this origin.
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
