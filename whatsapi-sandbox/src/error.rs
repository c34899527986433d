//! Meta's Graph API error answers: `{error: {message, type, code, error_subcode?, error_data?, fbtrace_id}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::ids;

/// One error answer, with the HTTP status Meta uses for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaError {
    pub status: StatusCode,
    pub code: i64,
    pub subcode: Option<i64>,
    pub message: String,
    /// `error_data.details`; WhatsApp errors carry it, Graph-level errors (190, 100/33, 2500) do not.
    pub details: Option<String>,
}

impl MetaError {
    fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            subcode: None,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// 401, 190: missing, unknown or malformed access token.
    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            190,
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    /// 400, 100/33: the phone number id does not exist or this token may not use it.
    pub fn unknown_object(method: &str, id: &str) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            100,
            format!(
                "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to \
                 missing permissions, or does not support this operation. Please read the Graph API \
                 documentation at https://developers.facebook.com/docs/graph-api"
            ),
        );
        e.subcode = Some(33);
        e
    }

    /// 400, 2500: a path the Graph API does not have.
    pub fn unknown_path(path: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            2500,
            format!("Unknown path components: {path}"),
        )
    }

    /// 400, 100: a field the phone-number node does not have.
    pub fn nonexisting_field(field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            100,
            format!(
                "(#100) Tried accessing nonexisting field ({field}) on node type (WhatsAppBusinessPhoneNumber)"
            ),
        )
    }

    /// 400, 100: an invalid parameter of the send.
    pub fn invalid_parameter(details: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 100, "(#100) Invalid parameter").with_details(details)
    }

    /// 400, 131008: a required parameter of the send is missing.
    pub fn missing_parameter(details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            131008,
            "(#131008) Required parameter is missing",
        )
        .with_details(details)
    }

    /// 400, 131009: a parameter of the send has an invalid value.
    pub fn invalid_value(details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            131009,
            "(#131009) Parameter value is not valid",
        )
        .with_details(details)
    }

    /// 400, 131051: a message type the sandbox does not emulate.
    pub fn unsupported_type(kind: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            131051,
            "(#131051) Unsupported message type",
        )
        .with_details(format!(
            "Message type {kind} is not supported by the sandbox; it emulates text, template, image, video, audio, \
             document, sticker, interactive (button, list, cta_url), location, contacts and reaction"
        ))
    }

    /// 400, 130429: throughput of the business number exceeded. No `Retry-After`: Meta sends none.
    pub fn throughput_limit() -> Self {
        Self::new(StatusCode::BAD_REQUEST, 130429, "(#130429) Rate limit hit")
            .with_details("Cloud API message throughput has been reached.")
    }

    /// 400, 131062: this content cannot be sent to a user addressed only by business-scoped user id (such as an
    /// authentication template).
    pub fn user_id_not_supported() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            131062,
            "(#131062) Business-scoped user ID recipients not supported",
        )
        .with_details(
            "This message type or template category cannot be sent to a business-scoped user ID; send it to the \
             user's phone number instead.",
        )
    }

    /// 400, 131047: free-form message outside the 24-hour customer service window.
    pub fn re_engagement() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            131047,
            "(#131047) Re-engagement message",
        )
        .with_details(
            "Message failed to send because more than 24 hours have passed since the customer last replied \
             to this number.",
        )
    }

    /// 400, 131053: Meta cannot take an uploaded file (type, contents or size).
    pub fn media_upload(details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            131053,
            "(#131053) Media upload error",
        )
        .with_details(details)
    }

    /// 500, 131000: Meta failed internally.
    pub fn something_went_wrong() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            131000,
            "(#131000) Something went wrong",
        )
        .with_details("Message failed to send due to an unknown error. Try again later.")
    }

    /// A simulated outage: `status` with 131000 when it is 500, else code 2 (service temporarily unavailable).
    pub fn outage(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return Self::something_went_wrong();
        }
        Self::new(status, 2, "Service temporarily unavailable")
            .with_details("The service is temporarily unavailable. Try again later.")
    }

    /// 400, 131056: too many messages to the same recipient.
    pub fn pair_rate_limit() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            131056,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        )
        .with_details(
            "Message failed to send because there were too many messages sent from this phone number to the \
             same phone number in a short period of time.",
        )
    }

    /// 404, 132001: the template does not exist in that language.
    pub fn template_missing(name: &str, language: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            132001,
            "(#132001) Template name does not exist in the translation",
        )
        .with_details(format!(
            "template name ({name}) does not exist in {language}"
        ))
    }

    /// 400, 132015: the template is paused.
    pub fn template_paused(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            132015,
            "(#132015) Template is Paused",
        )
        .with_details(format!(
            "Template {name} is paused due to low quality, so it cannot be sent."
        ))
    }

    /// 400, 132016: the template is disabled.
    pub fn template_disabled(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            132016,
            "(#132016) Template is Disabled",
        )
        .with_details(format!(
            "Template {name} has been permanently disabled due to low quality."
        ))
    }

    /// 400, 132000: the template takes another number of parameters.
    pub fn parameter_count_mismatch(details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            132000,
            "(#132000) Number of parameters does not match the expected number of params",
        )
        .with_details(details)
    }

    /// The JSON body, with a fresh `fbtrace_id`.
    pub fn body(&self) -> Value {
        let mut error = json!({
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
        });
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        if let Some(details) = &self.details {
            error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
        }
        error["fbtrace_id"] = json!(ids::fbtrace_id());
        json!({ "error": error })
    }
}

impl IntoResponse for MetaError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if self.code == 190 {
            let challenge = format!(
                "OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"",
                self.message
            );
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_matches_meta() {
        let b = MetaError::missing_parameter("The parameter text['body'] is required.").body();
        let e = &b["error"];
        assert_eq!(e["code"], 131008);
        assert_eq!(e["type"], "OAuthException");
        assert_eq!(e["error_data"]["messaging_product"], "whatsapp");
        assert_eq!(
            e["error_data"]["details"],
            "The parameter text['body'] is required."
        );
        assert!(e["fbtrace_id"].as_str().unwrap().len() > 10);
        assert!(e.get("error_subcode").is_none());

        let b = MetaError::unknown_object("post", "42").body();
        assert_eq!(b["error"]["error_subcode"], 33);
        assert!(b["error"].get("error_data").is_none());
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Unsupported post request. Object with ID '42' does not exist")
        );
    }
}
