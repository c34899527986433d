//! # whatsapi-saas
//!
//! The hosted whatsapi product, on top of the engine in `whatsapi-core`: customers who register with an email and
//! authenticate with an API key ([`key`]), plans and their limits ([`plan`]), and Stripe billing ([`stripe`],
//! [`Product::checkout`], [`Product::apply_stripe_webhook`]). The engine knows none of it: a customer is an engine
//! [`Account`](whatsapi_core::Account) plus the product's half ([`Customer`]), kept by the [`store`] traits that
//! the store crates implement beside core's.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use whatsapi_core::WhatsApi;
//! use whatsapi_core::testing::{FakeTransport, MemoryStore, RecordingSink};
//! use whatsapi_saas::testing::MemoryProductStore;
//! use whatsapi_saas::{PlanTable, Product};
//!
//! let engine_store = Arc::new(MemoryStore::new());
//! let api = WhatsApi::builder()
//!     .store(engine_store.clone())
//!     .transport(Arc::new(FakeTransport::new()))
//!     .webhook_sink(Arc::new(RecordingSink::new()))
//!     .build()?;
//! let product = Product::new(
//!     api.clone(),
//!     Arc::new(MemoryProductStore::new(engine_store)),
//!     PlanTable::default(),
//! );
//!
//! let registered = product.register("Acme", "ops@acme.example").await?;
//! let me = product.authenticate(registered.api_key.expose()).await?;
//! assert_eq!(me.customer.email, "ops@acme.example");
//! assert_eq!(product.bulk_cap(me.customer.plan), 100);
//!
//! // The engine sends for the account; it never sees the key or the plan.
//! let to = whatsapi_core::PhoneNumber::parse("14155552671")?;
//! let queued = api.send(&me.account, whatsapi_core::SendRequest::text(to, "hi").dry_run(true)).await?;
//! assert_eq!(queued.status.as_str(), "queued");
//! # Ok(()) }
//! ```
//!
//! With the `testing` feature, `testing` provides `MemoryProductStore`, `FaultyProductStore` and the product store
//! conformance suite that every store crate runs.

#![warn(missing_docs)]

mod billing;
pub mod customer;
mod error;
pub mod key;
pub mod plan;
mod product;
pub mod store;
pub mod stripe;

#[cfg(feature = "testing")]
pub mod testing;

/// The engine, for this crate's exported macros.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use whatsapi_core as __core;

pub use billing::StripeWebhookOutcome;
pub use customer::{Customer, CustomerAccount, CustomerUpdate, NewCustomer};
pub use error::Error;
pub use key::{ApiKey, KeyHash, MalformedKey};
pub use plan::{Plan, PlanLimits, PlanTable};
pub use product::{Product, Registered};
pub use store::{BillingEventStore, CustomerStore, ProductStore, RateWindowStore};
