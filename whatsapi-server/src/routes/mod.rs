//! Handlers: each parses, calls `WhatsApi`, and maps the result.

pub mod account;
pub mod billing;
pub mod dashboard;
pub mod messages;
pub mod meta;
pub mod sandbox;
pub mod system;
