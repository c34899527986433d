//! # whatsapi-core
//!
//! The domain of whatsapi, a WhatsApp Business messaging gateway: typed requests checked once ([`phone`], [`send`]:
//! `SendRequest` in, `Queued` out),
//! the message state machine ([`status`]), Meta error classification and retries ([`retry`]), idempotency
//! ([`idempotency`]), accounts with their Meta credentials and webhook ([`account`]), and the four seams
//! everything else plugs into: [`store::Store`] (a sum of capability traits), [`transport::MetaTransport`],
//! [`clock::Clock`] and [`webhook::WebhookSink`].
//!
//! The engine knows no API keys, plans or billing: those are the hosted product's (`whatsapi-saas`). An app
//! creates an account, saves its Meta credentials and sends.
//!
//! On top of them: [`engine`], the delivery engine (dispatcher, webhook deliverer, sweeper), and [`service`], the
//! in-process [`WhatsApi`] facade that applications and the reference server call.
//!
//! What messages cost ([`costs`]): the country of a number, the operator's rate card, the cost of the billable
//! messages of a period (`WhatsApi::cost_report`) and the estimate of a planned send ([`costs::estimate`]).
//!
//! With the `testing` feature, [`testing`] provides in-memory implementations of all four and the store
//! conformance suite that every store crate runs.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use whatsapi_core::testing::{FakeTransport, MemoryStore, RecordingSink};
//! use whatsapi_core::{MetaCredentials, PhoneNumber, SendRequest, Status, WhatsApi};
//!
//! // A real app passes `SqliteStore`, `GraphTransport` and `HttpWebhookSink` (see the examples package).
//! let api = WhatsApi::builder()
//!     .store(Arc::new(MemoryStore::new()))
//!     .transport(Arc::new(FakeTransport::new()))
//!     .webhook_sink(Arc::new(RecordingSink::new()))
//!     .build()?;
//! let engine = api.start();
//!
//! let account = api.create_account("Acme").await?;
//! let account = api
//!     .set_credentials(account.id, MetaCredentials::new("EAAG-your-token", "1234567890"))
//!     .await?;
//! let to = PhoneNumber::parse("14155552671")?;
//! let queued = api
//!     .send(&account, SendRequest::template(to, "order_ready", "en_US").body_params(["Sarah", "#1042"]))
//!     .await?;
//! assert_eq!(queued.status, Status::Queued);
//!
//! // The engine sends in the background; Meta's answer moves the message on.
//! let mut status = Status::Queued;
//! for _ in 0..200 {
//!     status = api.get_message(account.id, queued.id).await?.status;
//!     if status == Status::Sent {
//!         break;
//!     }
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//! }
//! assert_eq!(status, Status::Sent);
//! engine.shutdown(Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod account;
pub mod campaign;
pub mod clock;
pub mod contacts;
pub mod costs;
pub mod encryption;
pub mod endpoints;
pub mod engine;
#[cfg(feature = "http")]
pub mod graph;
pub mod idempotency;
pub mod inbound;
pub mod message;
pub mod meta;
pub mod numbers;
pub mod phone;
pub mod recipient;
pub mod retry;
pub mod send;
pub mod service;
pub mod status;
pub mod store;
pub mod templates;
pub mod transport;
pub mod upload;
pub mod webhook;
#[cfg(feature = "http")]
pub mod webhook_http;

#[cfg(feature = "testing")]
pub mod testing;

pub use account::{Account, AccountId, MetaCredentials};
pub use clock::{Clock, SystemClock};
pub use engine::{EngineConfig, EngineHandle, ShutdownReport, WebhookPolicy};
pub use inbound::{Inbound, InboundContent, InboundFilter, InboundId, InboundMessage};
pub use message::{
    BatchId, ButtonSubType, FlowAction, Location, MediaSource, Message, MessageContent, MessageId,
    MessageKind, NewMessage, Status, Template, TemplateComponent, TemplateParameter, TimelineEntry,
};
pub use phone::PhoneNumber;
pub use recipient::{Recipient, UserId};
pub use retry::{ErrorClass, RetryPolicy};
pub use send::{BulkRequest, SendRequest, SendRules, ValidationErrors};
pub use service::{
    BuildError, BulkQueued, CredentialsCheck, Error, Queued, Summary, WhatsApi, WhatsApiBuilder,
};
pub use store::{Store, StoreError};
pub use transport::{
    MediaDownload, MediaFile, MediaInfo, MetaTransport, OutgoingMessage, PhoneNumberInfo,
    SendError, SendReceipt,
};
pub use webhook::{DeliveryOutcome, EventType, WebhookEvent, WebhookSink, WebhookTarget};
