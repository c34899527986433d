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
//! With the `testing` feature, [`testing`] provides in-memory implementations of all four and the store
//! conformance suite that every store crate runs.

#![warn(missing_docs)]

pub mod account;
pub mod clock;
pub mod encryption;
pub mod engine;
#[cfg(feature = "http")]
pub mod graph;
pub mod idempotency;
pub mod message;
pub mod meta;
pub mod phone;
pub mod retry;
pub mod send;
pub mod service;
pub mod status;
pub mod store;
pub mod transport;
pub mod webhook;
#[cfg(feature = "http")]
pub mod webhook_http;

#[cfg(feature = "testing")]
pub mod testing;

pub use account::{Account, AccountId, MetaCredentials};
pub use clock::{Clock, SystemClock};
pub use engine::{EngineConfig, EngineHandle, ShutdownReport, WebhookPolicy};
pub use message::{
    BatchId, Message, MessageContent, MessageId, NewMessage, Status, Template, TimelineEntry,
};
pub use phone::PhoneNumber;
pub use retry::{ErrorClass, RetryPolicy};
pub use send::{BulkRequest, SendRequest, SendRules, ValidationErrors};
pub use service::{
    BuildError, BulkQueued, CredentialsCheck, Error, Queued, Summary, WhatsApi, WhatsApiBuilder,
};
pub use store::{Store, StoreError};
pub use transport::{MetaTransport, OutgoingMessage, PhoneNumberInfo, SendError, SendReceipt};
pub use webhook::{DeliveryOutcome, StatusEvent, WebhookSink, WebhookTarget};
