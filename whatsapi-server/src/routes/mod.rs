//! Handlers: each parses, calls `WhatsApi`, and maps the result. Each module exports its own `router()` (with the
//! API-key layer on the routes that need it); [`crate::app`] merges them.

pub mod account;
pub mod billing;
pub mod campaigns;
pub mod contacts;
pub mod costs;
pub mod dashboard;
pub mod endpoints;
pub mod inbound;
pub mod media;
pub mod messages;
pub mod meta;
pub mod numbers;
pub mod sandbox;
pub mod system;
pub mod templates;
