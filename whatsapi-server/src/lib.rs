//! # whatsapi-server
//!
//! The reference HTTP server of whatsapi: the API of the developer docs on top of [`whatsapi_core::WhatsApi`].
//! Handlers parse, call the library, and map the result; cross-cutting work (authentication, rate limits, body
//! limits, metrics, security headers) lives in layers; [`edge`] holds the connection loop.
//!
//! | module | holds |
//! | --- | --- |
//! | [`state`] | [`AppState`] (what every handler reaches) and [`HttpSettings`] |
//! | [`auth`] | the API-key middleware with the per-account rate limit, and the [`auth::CurrentAccount`] extractor |
//! | [`extract`] | typed extractors answering in the API's error shape |
//! | [`requests`], [`views`] | the JSON the API takes and answers, as documented in the OpenAPI document |
//! | [`routes`] | one module per area, each exporting its `router()`; they import `state`, `auth`, `extract`, never `app` |
//! | [`openapi`] | the document's frame, `/openapi.json` and `/docs` |
//! | [`app`] | composes the routers, fallbacks and layers |
//!
//! The server is a product on top of two libraries: the engine (`whatsapi-core`, one [`whatsapi_core::WhatsApi`])
//! and the hosted product (`whatsapi-saas`, one [`whatsapi_saas::Product`]: keys, plans, billing). [`app`] turns
//! them into the reference API's router, which an app can also mount or call in-process:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use axum::body::{Body, to_bytes};
//! use axum::http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use whatsapi_core::WhatsApi;
//! use whatsapi_core::testing::{FakeTransport, RecordingSink};
//! use whatsapi_saas::{PlanTable, Product};
//! use whatsapi_server::{AppState, HttpSettings, app};
//! use whatsapi_store_sqlite::SqliteStore;
//!
//! let dir = tempfile::tempdir()?;
//! let store = Arc::new(SqliteStore::open(dir.path().join("whatsapi.db"))?);
//! let api = WhatsApi::builder()
//!     .store(store.clone())
//!     .transport(Arc::new(FakeTransport::new()))
//!     .webhook_sink(Arc::new(RecordingSink::new()))
//!     .build()?;
//! let product = Product::new(api, store, PlanTable::default());
//! let router = app(AppState::new(product, HttpSettings::default()));
//!
//! // The connection loop (`edge`) tells handlers the peer's address; registrations are limited per client IP.
//! let peer = axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40000)));
//! let register = Request::post("/auth/register")
//!     .extension(peer)
//!     .header("content-type", "application/json")
//!     .body(Body::from(r#"{"name": "Acme", "email": "ops@acme.example"}"#))?;
//! let answer = router.oneshot(register).await?;
//! assert_eq!(answer.status(), StatusCode::CREATED);
//! let body: serde_json::Value = serde_json::from_slice(&to_bytes(answer.into_body(), 1 << 20).await?)?;
//! assert!(body["data"]["apiKey"].as_str().unwrap().starts_with("sk_live_"));
//! # Ok(()) }
//! ```

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod edge;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod ratelimit;
pub mod request_id;
pub mod requests;
pub mod routes;
pub mod run;
pub mod state;
pub mod views;

pub use app::app;
pub use state::{AppState, HttpSettings, SandboxCredentials};
