//! # whatsapi-sandbox
//!
//! An emulator of Meta's WhatsApp Cloud API for tests and local development. It serves, on a listener of your
//! choice, the two Graph API calls whatsapi makes:
//!
//! - `POST /{version}/{phone_number_id}/messages`, with Meta's validation and error bodies (190, 100/33, 100,
//!   131008, 131009, 131051, 132000, 132001, 132018) and the behaviours of the [`magic`] recipient numbers;
//! - `GET /{version}/{phone_number_id}?fields=…`, the credentials check;
//! - `POST /{version}/{phone_number_id}/media` (Meta's multipart upload, with its type and size checks, 131053),
//!   `GET /{version}/{media_id}` (the metadata with a download URL) and the bytes at that URL, with the token;
//! - `POST /{version}/{phone_number_id}/messages` with `status: read` (and a typing indicator) for a wamid the
//!   sandbox delivered inbound to that number;
//!
//! and, for every accepted send, posts Meta's status webhooks (`sent` → `delivered` → `read`, or `failed`) to the
//! callback URL, signed with `X-Hub-Signature-256`, retried with backoff when the receiver fails. Inbound customer
//! messages can be simulated with [`SandboxHandle::inbound`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use whatsapi_sandbox::{Sandbox, SandboxConfig};
//!
//! let sandbox = Sandbox::start(SandboxConfig::default()).await?;
//! // The default number: phone number id "1234567890", token "sandbox-token". Any Graph client works.
//! let answer: serde_json::Value = reqwest::Client::new()
//!     .post(format!("{}/v25.0/1234567890/messages", sandbox.base_url()))
//!     .bearer_auth("sandbox-token")
//!     .json(&serde_json::json!({
//!         "messaging_product": "whatsapp", "to": "14155552671",
//!         "type": "text", "text": {"body": "Hello from the sandbox"}
//!     }))
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert!(answer["messages"][0]["id"].as_str().unwrap().starts_with("wamid."));
//! assert_eq!(sandbox.sent().len(), 1);
//! // With a callback URL set, the status webhooks (sent, delivered, read) go there, signed like Meta's.
//! sandbox.set_callback_url(Some("http://127.0.0.1:8080/meta/webhook".to_owned()));
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod config;
mod error;
mod ids;
pub mod magic;
mod media;
pub mod record;
mod routes;
mod server;
pub mod templates;
mod validate;
mod validate_template;
mod validate_types;
mod webhooks;

pub use config::{SandboxConfig, SandboxNumber, StatusDelays, WebhookRetry};
pub use record::{RecordedRequest, WebhookDelivery};
pub use server::{Customers, Sandbox, SandboxHandle};
pub use webhooks::WebhookError;
