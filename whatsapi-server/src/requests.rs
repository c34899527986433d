//! Request bodies and query strings of the account, billing and message endpoints: their documented shape and
//! the checks that turn them into what the handlers work with (see [`crate::extract`]). The send bodies are parsed
//! elsewhere; the dashboard's, Meta's and the sandbox's inputs live with their routes.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use whatsapi_core::send::FieldError;
use whatsapi_core::{BatchId, MetaCredentials, Status};

use crate::extract::{Field, FromQuery, QueryParams, RequestBody, field_error};

/// `POST /auth/register` body.
#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Your name or company name.
    #[schema(value_type = String, min_length = 1, max_length = 200, example = "Your Name")]
    pub name: Field<String>,
    /// Email address for the account.
    #[schema(value_type = String, format = Email, max_length = 254, example = "you@example.com")]
    pub email: Field<String>,
}

/// A registration's checked fields.
pub struct NewAccount {
    /// Name.
    pub name: String,
    /// Email (checked by the core).
    pub email: String,
}

impl RequestBody for RegisterRequest {
    type Valid = NewAccount;

    fn validate(self) -> Result<NewAccount, Vec<FieldError>> {
        let mut details = Vec::new();
        let name = self.name.required("name", &mut details);
        let email = self.email.required("email", &mut details);
        match (name, email) {
            (Some(name), Some(email)) => Ok(NewAccount { name, email }),
            _ => Err(details),
        }
    }
}

/// `PUT /auth/me/credentials` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsRequest {
    /// Meta access token (system user token recommended).
    #[schema(value_type = String, pattern = r"^\s*\S+\s*$", max_length = 4096, example = "EAAc...")]
    pub whatsapp_access_token: Field<String>,
    /// Phone number id from Meta Business Manager (not the phone number).
    #[schema(value_type = String, pattern = "^[0-9]{1,32}$", example = "1234567890")]
    pub whatsapp_phone_number_id: Field<String>,
    /// App secret, to check the signature of Meta's webhooks for this number.
    #[schema(value_type = Option<String>)]
    pub whatsapp_app_secret: Field<String>,
    /// Verify token you typed in Meta's webhook settings: `GET /webhooks/whatsapp` answers Meta's handshake with
    /// it as well as with the server's.
    #[schema(value_type = Option<String>)]
    pub whatsapp_verify_token: Field<String>,
    /// WhatsApp Business Account id (numeric, from Meta Business Manager). Optional; routes Meta's webhooks that
    /// name only the WABA (template status and quality updates, account updates) to this account, checked with
    /// its app secret. Unique across accounts.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{0,32}$", example = "102290129340398")]
    pub whatsapp_business_account_id: Field<String>,
    /// Refuse free-form text at once when the recipient has not written in the last 24 hours (default false).
    #[schema(value_type = Option<bool>, example = false)]
    pub strict_window: Field<bool>,
    /// The validity period of your sends that set no `validitySeconds`, in whole seconds from acceptance (1 to
    /// 2592000, i.e. 30 days); `0` removes it (such sends never expire). Left out: unchanged.
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 2592000, example = 3600)]
    pub default_validity_seconds: Field<u64>,
}

/// Checked credentials, and the account settings when given.
pub struct CredentialsUpdate {
    /// What to save.
    pub credentials: MetaCredentials,
    /// `strictWindow`, when given.
    pub strict_window: Option<bool>,
    /// `defaultValiditySeconds`, when given: `Some(None)` removes the default.
    pub default_validity: Option<Option<std::time::Duration>>,
}

/// The JSON name of the account's default validity period.
pub const DEFAULT_VALIDITY_SECONDS: &str = "defaultValiditySeconds";

/// `defaultValiditySeconds` as the account keeps it: `0` clears it; other values within a send's bounds.
fn default_validity(secs: u64, details: &mut Vec<FieldError>) -> Option<std::time::Duration> {
    if secs == 0 {
        return None;
    }
    let d = std::time::Duration::from_secs(secs);
    if let Err(m) = whatsapi_core::send::check_validity(d) {
        details.push(field_error(
            DEFAULT_VALIDITY_SECONDS,
            format!("{m}, or 0 to remove the default"),
        ));
    }
    Some(d)
}

fn is_meta_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit())
}

impl RequestBody for CredentialsRequest {
    type Valid = CredentialsUpdate;

    fn validate(self) -> Result<CredentialsUpdate, Vec<FieldError>> {
        let mut details = Vec::new();
        let token = self
            .whatsapp_access_token
            .required("whatsappAccessToken", &mut details);
        let phone_id = self
            .whatsapp_phone_number_id
            .required("whatsappPhoneNumberId", &mut details);
        let app_secret = self
            .whatsapp_app_secret
            .optional("whatsappAppSecret", &mut details);
        let verify_token = self
            .whatsapp_verify_token
            .optional("whatsappVerifyToken", &mut details);
        let waba_id = self
            .whatsapp_business_account_id
            .optional("whatsappBusinessAccountId", &mut details);
        let strict_window = self.strict_window.optional("strictWindow", &mut details);
        let default_validity = self
            .default_validity_seconds
            .optional(DEFAULT_VALIDITY_SECONDS, &mut details)
            .map(|secs| default_validity(secs, &mut details));
        check_formats(
            token.as_deref(),
            phone_id.as_deref(),
            waba_id.as_deref(),
            &mut details,
        );
        let (Some(access_token), Some(phone_number_id), true) =
            (token, phone_id, details.is_empty())
        else {
            return Err(details);
        };
        let credentials = MetaCredentials {
            access_token: access_token.trim().to_owned(),
            phone_number_id,
            app_secret: app_secret.filter(|s| !s.is_empty()),
            verify_token: verify_token.filter(|s| !s.is_empty()),
            waba_id: waba_id.filter(|s| !s.is_empty()),
            verify_token_hash: None,
            throughput_per_second: None,
        };
        Ok(CredentialsUpdate {
            credentials,
            strict_window,
            default_validity,
        })
    }
}

/// The core's rules for the credentials' formats, checked here too so that a request with several bad fields hears
/// about all of them at once.
fn check_formats(
    token: Option<&str>,
    phone_id: Option<&str>,
    waba_id: Option<&str>,
    details: &mut Vec<FieldError>,
) {
    if token.is_some_and(|t| {
        let t = t.trim();
        t.is_empty() || t.len() > 4096 || !t.bytes().all(|b| b.is_ascii_graphic())
    }) {
        details.push(field_error(
            "whatsappAccessToken",
            "must be a single token of at most 4096 visible ASCII characters, without spaces",
        ));
    }
    if phone_id.is_some_and(|p| !is_meta_id(p)) {
        details.push(field_error(
            "whatsappPhoneNumberId",
            "must be the numeric phone number id from Meta Business Manager (not the phone number)",
        ));
    }
    if waba_id.is_some_and(|w| !w.is_empty() && !is_meta_id(w)) {
        details.push(field_error(
            "whatsappBusinessAccountId",
            "must be the numeric WhatsApp Business Account ID from Meta Business Manager",
        ));
    }
}

/// `PUT /auth/me/webhook` body.
#[derive(Deserialize, ToSchema)]
pub struct WebhookRequest {
    /// Your endpoint; status events are POSTed here (HTTPS in production).
    #[schema(value_type = String, example = "https://yourapp.com/webhooks/whatsapi")]
    pub url: Field<String>,
}

impl RequestBody for WebhookRequest {
    /// The URL (checked by the core).
    type Valid = String;

    fn validate(self) -> Result<String, Vec<FieldError>> {
        let mut details = Vec::new();
        self.url.required("url", &mut details).ok_or(details)
    }
}

/// `POST /billing/checkout` body.
#[derive(Deserialize, ToSchema)]
pub struct CheckoutRequest {
    /// The plan to buy (`enterprise` is sales-assisted).
    #[schema(value_type = SelfServicePlan, example = "pro")]
    pub plan: Field<String>,
}

/// The plans an account can buy itself.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SelfServicePlan {
    /// Basic.
    Basic,
    /// Pro.
    Pro,
}

impl RequestBody for CheckoutRequest {
    /// The plan's name (checked by the core).
    type Valid = String;
    // Anything but an object is a body without a plan.
    const NOT_AN_OBJECT: Option<&'static str> = None;

    fn validate(self) -> Result<String, Vec<FieldError>> {
        match self.plan {
            Field::Given(plan) => Ok(plan),
            Field::Absent => Err(vec![field_error("plan", "required: basic or pro")]),
            Field::WrongType => Err(vec![field_error("plan", "must be a string: basic or pro")]),
        }
    }
}

/// `GET /messages` query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only messages in this status.
    #[param(value_type = Option<crate::views::MessageStatus>)]
    pub status: Option<Status>,
    /// Only messages of this bulk request (its `batchId`).
    #[param(rename = "batchId", value_type = Option<String>, format = Uuid)]
    pub batch_id: Option<BatchId>,
    /// Messages per page.
    #[param(required = false, minimum = 1, maximum = 200, default = 20)]
    pub limit: u32,
    /// Page, from 1.
    #[param(required = false, minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: u32,
}

impl FromQuery for ListQuery {
    fn from_query(q: &QueryParams, details: &mut Vec<FieldError>) -> Self {
        let status = q
            .non_blank("status")
            .and_then(|s| match s.parse::<Status>() {
                Ok(status) => Some(status),
                Err(e) => {
                    details.push(field_error("status", e.to_string()));
                    None
                }
            });
        let batch_id = q.non_blank("batchId").and_then(|s| match s.parse() {
            Ok(batch) => Some(batch),
            Err(_) => {
                details.push(field_error(
                    "batchId",
                    "must be the batchId returned by POST /messages/bulk",
                ));
                None
            }
        });
        Self {
            status,
            batch_id,
            limit: q.number("limit", 20, 1..=200, details),
            page: q.number("page", 1, 1..=1_000_000, details),
        }
    }
}
