//! Command line and environment configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// whatsapi: a WhatsApp Business messaging gateway.
#[derive(Debug, Parser)]
#[command(
    name = "whatsapi",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server options when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(ServeArgs),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Options of `whatsapi serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "WHATSAPI_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// SQLite database file (created with its folders if missing). Ignored when `--database-url` is given.
    #[arg(long, env = "WHATSAPI_DATABASE", default_value = "./whatsapi.db")]
    pub database: PathBuf,

    /// PostgreSQL connection string (`postgres://user:password@host:5432/db`): use PostgreSQL instead of the
    /// SQLite file, so several replicas can share one database (claims, wake-ups, rate limits, breaker).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Most PostgreSQL connections of this process.
    #[arg(long, env = "WHATSAPI_DATABASE_POOL", default_value_t = 16)]
    pub database_pool: usize,

    /// Seconds a claimed message is reserved for this process; when a replica dies, its claimed messages are
    /// sent by another one after this.
    #[arg(long, env = "WHATSAPI_LEASE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub lease_secs: u64,

    /// Server-wide ceiling on messages per bulk request (plans cap it further: free/basic 100, pro 1000, enterprise 5000).
    #[arg(long, env = "MAX_BULK_MESSAGES", default_value_t = 1000)]
    pub max_bulk_messages: usize,

    /// Log format.
    #[arg(long, env = "WHATSAPI_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `whatsapi_core=debug`.
    #[arg(long, env = "WHATSAPI_LOG", default_value = "info")]
    pub log: String,

    /// Base URL of Meta's Graph API.
    #[arg(
        long,
        env = "WHATSAPI_META_BASE_URL",
        default_value = "https://graph.facebook.com"
    )]
    pub meta_base_url: String,

    /// Graph API version.
    #[arg(long, env = "WHATSAPI_META_API_VERSION", default_value = "v23.0")]
    pub meta_api_version: String,

    /// Verify token for Meta's webhook handshake (GET /webhooks/whatsapp), unless accounts set their own.
    #[arg(long, env = "WHATSAPI_META_VERIFY_TOKEN")]
    pub meta_verify_token: Option<String>,

    /// App secret that signs Meta's webhooks (X-Hub-Signature-256), unless accounts set their own.
    #[arg(long, env = "WHATSAPI_META_APP_SECRET")]
    pub meta_app_secret: Option<String>,

    /// Accept Meta webhooks without a signature when no app secret is known. Development only.
    #[arg(long, env = "WHATSAPI_ALLOW_UNSIGNED_META_WEBHOOKS")]
    pub allow_unsigned_meta_webhooks: bool,

    /// Registrations allowed per client IP per minute.
    #[arg(long, env = "WHATSAPI_REGISTER_PER_MINUTE", default_value_t = 5)]
    pub register_per_minute: u32,

    /// Largest request body, in bytes.
    #[arg(long, env = "WHATSAPI_BODY_LIMIT", default_value_t = 8 * 1024 * 1024)]
    pub body_limit: usize,

    /// Take the client IP from X-Forwarded-For (only behind a proxy you control).
    #[arg(long, env = "WHATSAPI_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// Seconds to let in-flight requests and sends finish on SIGINT/SIGTERM.
    #[arg(long, env = "WHATSAPI_SHUTDOWN_GRACE", default_value_t = 20)]
    pub shutdown_grace: u64,

    /// Allow customer webhook URLs on loopback/private addresses and plain http (development and tests).
    #[arg(long, env = "WHATSAPI_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,

    /// Run an emulator of Meta's Cloud API in-process and send to it: try everything without Meta credentials.
    /// New accounts get sandbox credentials; magic recipient numbers trigger failures (see whatsapi-sandbox).
    #[arg(long, env = "WHATSAPI_SANDBOX")]
    pub sandbox: bool,

    /// Messages sent per second per business phone number.
    #[arg(long, env = "WHATSAPI_SEND_RATE", default_value_t = 80)]
    pub send_rate: u32,
}

impl ServeArgs {
    /// The grace period.
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace)
    }

    /// The lease of a claimed message.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }
}
