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
