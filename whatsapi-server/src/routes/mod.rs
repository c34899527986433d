//! Handlers: each parses, calls `WhatsApi`, and maps the result.

pub mod account;
pub mod dashboard;
pub mod messages;
pub mod meta;
pub mod system;
