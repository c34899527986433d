//! # whatsapi-server
//!
//! The reference HTTP server of whatsapi: the API of the developer docs on top of [`whatsapi_core::WhatsApi`].
//! Handlers parse, call the library, and map the result; cross-cutting work (authentication, rate limits, body
//! limits, metrics, security headers) lives in layers; [`edge`] holds the connection loop.

pub mod app;
pub mod cli;
pub mod config;
pub mod edge;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod ops;
pub mod ratelimit;
pub mod request_id;
pub mod routes;
pub mod run;
pub mod views;

pub use app::{AppState, HttpSettings, app};
