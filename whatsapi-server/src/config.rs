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
    about = "whatsapi: send WhatsApp Business messages and follow each one to delivered, read or failed.\n\
             The client commands talk to a running whatsapi server; `serve` is that server.",
    after_help = "With no command, or with server options first (`whatsapi --sandbox`), whatsapi runs `serve`.\n\
                  The client commands read WHATSAPI_URL and WHATSAPI_KEY. Server options: whatsapi serve --help"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process's arguments; see [`Cli::parse_args`].
    pub fn try_parse_env() -> Result<Self, clap::Error> {
        Self::parse_args(std::env::args_os())
    }

    /// Parses `args`, reading `whatsapi` alone and `whatsapi --server-option …` as `whatsapi serve …`, as before
    /// `serve` was a subcommand.
    pub fn parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString>,
    {
        let mut args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let serve_implied = match args.get(1).and_then(|a| a.to_str()) {
            None => args.len() == 1,
            Some(a) => a.starts_with('-') && !matches!(a, "-h" | "--help" | "-V" | "--version"),
        };
        if serve_implied {
            args.insert(1, "serve".into());
        }
        Self::try_parse_from(args)
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send one message through a running server.
    Send(Box<crate::cli::SendArgs>),
    /// Send a message to every row of a CSV file, in chunks, with progress; safe to run again after an
    /// interruption (no row is sent twice).
    Bulk(Box<crate::cli::bulk::BulkArgs>),
    /// Show a message and its timeline.
    Status(crate::cli::StatusArgs),
    /// Run the HTTP server (the default; see `whatsapi serve --help` for its options).
    Serve(Box<ServeArgs>),
    /// Operator commands on accounts (work on the same database as `serve`).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Encryption of secrets at rest.
    #[command(subcommand)]
    Encryption(EncryptionCommand),
}

/// `whatsapi account …`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Deactivate an account: its requests get 403 and its queued messages are not sent.
    Deactivate(AccountArgs),
    /// Reactivate a deactivated account.
    Reactivate(AccountArgs),
}

/// The account an operator command acts on.
#[derive(Debug, Clone, clap::Args)]
pub struct AccountArgs {
    /// The account's email (case-insensitive).
    #[arg(long)]
    pub email: String,
    /// The database.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `whatsapi encryption …`.
#[derive(Debug, Subcommand)]
pub enum EncryptionCommand {
    /// Re-encrypt every account's secrets under a new key. The new key file is created (mode 0600) when it does not
    /// exist. Values under the current key (and any --previous-encryption-key-file) are read; afterwards start the
    /// server with the new key (see README, "Rotating the encryption key").
    RotateKey(RotateKeyArgs),
}

/// Options of `whatsapi encryption rotate-key`.
#[derive(Debug, Clone, clap::Args)]
pub struct RotateKeyArgs {
    /// File holding the new key (base64 of 32 bytes); created with a fresh key when missing.
    #[arg(long)]
    pub new_key_file: PathBuf,
    /// The database and its current key.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where the data is and the key that encrypts its secrets.
#[derive(Clone, clap::Args)]
pub struct StoreArgs {
    /// SQLite database file (created with its folders if missing). Ignored when `--database-url` is given.
    #[arg(long, env = "WHATSAPI_DATABASE", default_value = "./whatsapi.db")]
    pub database: PathBuf,

    /// PostgreSQL connection string (`postgres://user:password@host:5432/db`): use PostgreSQL instead of the
    /// SQLite file, so several replicas can share one database (claims, wake-ups, rate limits, breaker).
    /// Replicas must share the encryption key: set WHATSAPI_ENCRYPTION_KEY. `sqlite:PATH` (or `sqlite://PATH`)
    /// names the SQLite file instead, as --database does.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Most PostgreSQL connections of this process.
    #[arg(long, env = "WHATSAPI_DATABASE_POOL", default_value_t = 16)]
    pub database_pool: usize,

    /// Key that encrypts secrets at rest (Meta tokens, app secrets, webhook secrets): base64 of 32 random bytes,
    /// e.g. `openssl rand -base64 32`. When unset, the key file is used (created on first start).
    #[arg(long, env = "WHATSAPI_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,

    /// Key file used when no key is given [default: the database path + `.key`, e.g. ./whatsapi.db.key]. Created
    /// with mode 0600 on first start; refused when group or others may read it.
    #[arg(long, env = "WHATSAPI_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,

    /// Older key files whose values can still be read (during a key rotation); new values use the current key.
    #[arg(
        long = "previous-encryption-key-file",
        env = "WHATSAPI_PREVIOUS_ENCRYPTION_KEY_FILES",
        value_delimiter = ','
    )]
    pub previous_encryption_key_files: Vec<PathBuf>,
}

impl std::fmt::Debug for StoreArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreArgs")
            .field("database", &self.database)
            .field("database_url", &self.database_url.as_ref().map(|_| "<set>"))
            .field("database_pool", &self.database_pool)
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "<redacted>"),
            )
            .field("encryption_key_file", &self.encryption_key_file)
            .field(
                "previous_encryption_key_files",
                &self.previous_encryption_key_files,
            )
            .finish()
    }
}

/// The database a [`StoreArgs`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string.
    Postgres(String),
}

impl StoreArgs {
    /// The database: `--database-url` when given (`postgres://`, `postgresql://`, or `sqlite:PATH` /
    /// `sqlite://PATH`), else the `--database` file. Anything else is an error that says what is accepted.
    pub fn backend(&self) -> Result<Database, String> {
        let Some(url) = self.database_url.as_deref().map(str::trim) else {
            return Ok(Database::Sqlite(self.database.clone()));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() || path == ":memory:" || path.contains('?') {
                return Err(format!(
                    "--database-url {url}: expected sqlite:PATH or sqlite://PATH naming a file (no in-memory \
                     database, no ?options)"
                ));
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        let scheme = url.split_once(':').map_or(url, |(s, _)| s);
        let shown = if scheme.len() <= 20 { scheme } else { "that" };
        Err(format!(
            "--database-url: the {shown} scheme is not supported; use postgres://user:password@host:5432/db for \
             PostgreSQL, or sqlite:PATH (or --database PATH) for SQLite"
        ))
    }

    /// The key file: the given one, or the SQLite file's path with `.key` appended (`--database`'s with
    /// PostgreSQL).
    pub fn key_file(&self) -> PathBuf {
        self.encryption_key_file.clone().unwrap_or_else(|| {
            let database = match self.backend() {
                Ok(Database::Sqlite(path)) => path,
                _ => self.database.clone(),
            };
            let mut name = database.into_os_string();
            name.push(".key");
            PathBuf::from(name)
        })
    }
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

    /// The database and the encryption key.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Seconds a claimed message is reserved for this process; when a replica dies, its claimed messages are
    /// sent by another one after this.
    #[arg(long, env = "WHATSAPI_LEASE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub lease_secs: u64,

    /// Server-wide ceiling on messages per bulk request (plans cap it further: free/basic 100, pro 1000, enterprise 5000).
    #[arg(long, env = "MAX_BULK_MESSAGES", default_value_t = 1000)]
    pub max_bulk_messages: usize,

    /// Requests per minute per plan, overriding the defaults (free 20, basic 100, pro 500, enterprise 2000),
    /// e.g. `free=60,pro=1000`.
    #[arg(long, env = "WHATSAPI_PLAN_RPM", value_parser = parse_plan_rpm, default_value = "")]
    pub plan_rpm: PlanRpm,

    /// Most recipients per campaign per plan, overriding the defaults (free 1000, basic 10000, pro 50000,
    /// enterprise 100000), e.g. `free=5000,basic=20000`; never above the hard ceiling of 100000.
    #[arg(long, env = "WHATSAPI_PLAN_CAMPAIGN_RECIPIENTS", value_parser = parse_plan_campaign_recipients, default_value = "")]
    pub plan_campaign_recipients: PlanCampaignRecipients,

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

    /// Graph API version (`vMAJOR.MINOR`) of every call to Meta.
    #[arg(
        long,
        env = "WHATSAPI_META_API_VERSION",
        default_value = whatsapi_core::graph::DEFAULT_API_VERSION
    )]
    pub meta_api_version: String,

    /// Verify token for Meta's webhook handshake (GET /webhooks/whatsapp). An account's own whatsappVerifyToken
    /// (PUT /auth/me/credentials) is accepted as well.
    #[arg(long, env = "WHATSAPI_META_VERIFY_TOKEN", hide_env_values = true)]
    pub meta_verify_token: Option<String>,

    /// App secret that signs Meta's webhooks (X-Hub-Signature-256), unless accounts set their own.
    #[arg(long, env = "WHATSAPI_META_APP_SECRET", hide_env_values = true)]
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

    /// Take the client IP from X-Forwarded-For (only behind a proxy you control): the right-most entry that is not
    /// a trusted proxy, when the connection comes from a trusted proxy (loopback, and any --trusted-proxy).
    #[arg(long, env = "WHATSAPI_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// A proxy whose X-Forwarded-For entries are believed, as an address or range (`10.0.0.0/8`); repeat for
    /// several. Loopback is always trusted.
    #[arg(
        long = "trusted-proxy",
        env = "WHATSAPI_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pub trusted_proxies: Vec<crate::edge::Cidr>,

    /// Time a client has to send a request's headers (from connecting, or from the previous answer on a
    /// keep-alive connection) before the connection is closed: `10s`, `500ms`, `2m`.
    #[arg(long, env = "WHATSAPI_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = crate::edge::parse_duration)]
    pub header_read_timeout: Duration,

    /// A connection on which no byte moved for this long is closed.
    #[arg(long, env = "WHATSAPI_IDLE_TIMEOUT", default_value = "60s", value_parser = crate::edge::parse_duration)]
    pub idle_timeout: Duration,

    /// Most client connections open at once; more wait until one closes.
    #[arg(long, env = "WHATSAPI_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Seconds to let in-flight requests and sends finish on SIGINT/SIGTERM.
    #[arg(long, env = "WHATSAPI_SHUTDOWN_GRACE", default_value_t = 20)]
    pub shutdown_grace: u64,

    /// Allow customer webhook URLs on loopback/private addresses and plain http (development and tests).
    #[arg(long, env = "WHATSAPI_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,

    /// Run an emulator of Meta's Cloud API in-process and send to it: try everything without Meta credentials;
    /// nothing reaches WhatsApp. Magic recipient numbers trigger failures (see whatsapi-sandbox). Sandbox mode
    /// relaxes security for that: new accounts get the emulator's credentials; Meta webhooks are checked with the
    /// emulator's app secret, which is public (anyone who reaches the server can forge delivery receipts); the
    /// Meta verify token defaults to `sandbox-verify-token`; customer webhook URLs may be plain http on loopback and
    /// private addresses (as with --webhook-allow-private). Refused on a non-loopback --listen address unless
    /// --sandbox-public is given.
    #[arg(long, env = "WHATSAPI_SANDBOX")]
    pub sandbox: bool,

    /// Allow --sandbox on a non-loopback --listen address (a shared demo), knowing that its webhook secret is
    /// public.
    #[arg(long, env = "WHATSAPI_SANDBOX_PUBLIC", requires = "sandbox")]
    pub sandbox_public: bool,

    /// Messages sent per second per business phone number (by all replicas together on PostgreSQL).
    #[arg(long, env = "WHATSAPI_SEND_RATE", default_value_t = 80)]
    pub send_rate: u32,

    /// After Meta's 130429 (throughput exceeded) a number's send rate is halved; each this many seconds without
    /// another give one halving back.
    #[arg(long, env = "WHATSAPI_PACE_RECOVERY_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub pace_recovery_secs: u64,

    /// Consecutive transient Meta failures of an account that open its circuit breaker.
    #[arg(long, env = "WHATSAPI_BREAKER_THRESHOLD", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub breaker_threshold: u32,

    /// Seconds the circuit breaker stays open after its first trip; doubled on each trip without a success in
    /// between, up to 5 minutes (or this, when longer).
    #[arg(long, env = "WHATSAPI_BREAKER_COOLDOWN_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub breaker_cooldown_secs: u64,

    /// Most sends to Meta in flight at once per replica (pacing per number still applies).
    #[arg(long, env = "WHATSAPI_SEND_CONCURRENCY", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=4_096))]
    pub send_concurrency: u64,

    /// Most send outcomes the engine records in one store transaction (1 records each on its own).
    #[arg(long, env = "WHATSAPI_OUTCOME_BATCH", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub outcome_batch: u64,

    /// Milliseconds a send outcome may wait for others to join its batch (0: record what is there at once).
    #[arg(long, env = "WHATSAPI_OUTCOME_DELAY_MS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=1_000))]
    pub outcome_delay_ms: u64,

    /// A CSV rate card pricing messages per country and category, for GET /analytics/costs: the header
    /// `country,category,price,currency`, then rows such as `US,marketing,0.025,USD` (`*` for every other
    /// country). Meta publishes its rates on the pricing page of the WhatsApp Business Platform docs. A bad file
    /// stops the server at start, naming the line.
    #[arg(long, env = "WHATSAPI_RATE_CARD")]
    pub rate_card: Option<std::path::PathBuf>,

    /// Stripe billing (POST /billing/checkout, GET /billing/portal, POST /webhooks/stripe).
    #[command(flatten)]
    pub billing: BillingArgs,
}

/// Stripe billing. Billing is on when `--stripe-secret-key` is given; it then needs the prices and the URLs.
#[derive(Clone, clap::Args)]
pub struct BillingArgs {
    /// Stripe secret key (`sk_live_…` or `sk_test_…`). Without it the billing endpoints answer 503.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,

    /// Signing secret of the Stripe webhook endpoint (`whsec_…`) that checks POST /webhooks/stripe.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,

    /// Base URL of Stripe's API.
    #[arg(
        long,
        env = "STRIPE_API_BASE",
        default_value = "https://api.stripe.com"
    )]
    pub stripe_api_base: String,

    /// Stripe price id of the Basic plan (`price_…`).
    #[arg(long, env = "STRIPE_PRICE_BASIC")]
    pub stripe_price_basic: Option<String>,

    /// Stripe price id of the Pro plan (`price_…`).
    #[arg(long, env = "STRIPE_PRICE_PRO")]
    pub stripe_price_pro: Option<String>,

    /// Where Stripe Checkout sends the customer after paying.
    #[arg(long, env = "WHATSAPI_BILLING_SUCCESS_URL")]
    pub billing_success_url: Option<String>,

    /// Where Stripe Checkout sends the customer who cancels.
    #[arg(long, env = "WHATSAPI_BILLING_CANCEL_URL")]
    pub billing_cancel_url: Option<String>,

    /// Where the billing portal's "return" link goes [default: the success URL].
    #[arg(long, env = "WHATSAPI_BILLING_PORTAL_RETURN_URL")]
    pub billing_portal_return_url: Option<String>,

    /// How customers reach sales for the Enterprise plan (an email address or URL), named in the 400 answer.
    #[arg(long, env = "WHATSAPI_SALES_CONTACT")]
    pub sales_contact: Option<String>,
}

impl std::fmt::Debug for BillingArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingArgs")
            .field(
                "stripe_secret_key",
                &self.stripe_secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "stripe_webhook_secret",
                &self.stripe_webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("stripe_api_base", &self.stripe_api_base)
            .field("stripe_price_basic", &self.stripe_price_basic)
            .field("stripe_price_pro", &self.stripe_price_pro)
            .field("sales_contact", &self.sales_contact)
            .finish_non_exhaustive()
    }
}

/// Per-plan request limits given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanRpm(pub Vec<(whatsapi_saas::Plan, u32)>);

fn parse_plan_rpm(s: &str) -> Result<PlanRpm, String> {
    per_plan(s, "requests", "free=60").map(PlanRpm)
}

/// Per-plan campaign sizes given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanCampaignRecipients(pub Vec<(whatsapi_saas::Plan, usize)>);

fn parse_plan_campaign_recipients(s: &str) -> Result<PlanCampaignRecipients, String> {
    let ceiling = whatsapi_core::campaign::MAX_RECIPIENTS;
    let parsed = per_plan(s, "recipients", "free=5000")?;
    if let Some((plan, n)) = parsed.iter().find(|(_, n)| *n > ceiling) {
        return Err(format!(
            "'{plan}={n}': a campaign holds at most {ceiling} recipients on any plan"
        ));
    }
    Ok(PlanCampaignRecipients(parsed))
}

/// `plan=n,plan=n`: whole numbers of at least 1 for named plans (`what` and `example` word the errors).
fn per_plan<N: std::str::FromStr + Default + PartialEq>(
    s: &str,
    what: &str,
    example: &str,
) -> Result<Vec<(whatsapi_saas::Plan, N)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (plan, n) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}': expected plan={what}, e.g. {example}"))?;
        let plan: whatsapi_saas::Plan = plan.trim().parse()?;
        let n: N = n
            .trim()
            .parse()
            .map_err(|_| format!("'{part}': the limit must be a whole number"))?;
        if n == N::default() {
            return Err(format!("'{part}': the limit must be at least 1"));
        }
        out.push((plan, n));
    }
    Ok(out)
}

impl ServeArgs {
    /// The plan table: defaults, the per-plan overrides, and `MAX_BULK_MESSAGES`.
    pub fn plans(&self) -> whatsapi_saas::PlanTable {
        let mut table = whatsapi_saas::PlanTable {
            max_bulk_messages: self.max_bulk_messages,
            ..whatsapi_saas::PlanTable::default()
        };
        fn of(
            table: &mut whatsapi_saas::PlanTable,
            plan: whatsapi_saas::Plan,
        ) -> &mut whatsapi_saas::PlanLimits {
            match plan {
                whatsapi_saas::Plan::Free => &mut table.free,
                whatsapi_saas::Plan::Basic => &mut table.basic,
                whatsapi_saas::Plan::Pro => &mut table.pro,
                whatsapi_saas::Plan::Enterprise => &mut table.enterprise,
            }
        }
        for (plan, rpm) in &self.plan_rpm.0 {
            of(&mut table, *plan).requests_per_minute = *rpm;
        }
        for (plan, n) in &self.plan_campaign_recipients.0 {
            of(&mut table, *plan).campaign_recipients = *n;
        }
        table
    }

    /// Checks what clap cannot before anything is started or created: the database, the sandbox's address.
    pub fn validate(&self) -> Result<(), String> {
        self.store.backend()?;
        if self.sandbox && !self.listen.ip().is_loopback() && !self.sandbox_public {
            return Err(format!(
                "--sandbox refuses to listen on {}: sandbox mode's webhook secret is public, so anyone who can \
                 reach the server could forge Meta webhooks; listen on 127.0.0.1, or add --sandbox-public for a \
                 shared demo",
                self.listen
            ));
        }
        Ok(())
    }

    /// The grace period.
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace)
    }

    /// The lease of a claimed message.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatsapi_saas::Plan;

    /// The server options of `whatsapi ARGS…` (no subcommand: serve).
    fn serve(args: &[&str]) -> ServeArgs {
        let cli = Cli::parse_args(std::iter::once("whatsapi").chain(args.iter().copied())).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve: {:?}", cli.command)
        };
        *args
    }

    #[test]
    fn no_subcommand_or_server_options_first_mean_serve() {
        assert_eq!(serve(&[]).listen.to_string(), "127.0.0.1:8080");
        assert!(serve(&["--sandbox", "--listen", "127.0.0.1:0"]).sandbox);
        assert!(matches!(
            Cli::parse_args(["whatsapi", "status", "m1", "--api-key", "k"])
                .unwrap()
                .command,
            Command::Status(_)
        ));
    }

    #[test]
    fn plan_rpm_overrides() {
        assert_eq!(parse_plan_rpm(""), Ok(PlanRpm::default()));
        assert_eq!(
            parse_plan_rpm("free=60, pro=1000"),
            Ok(PlanRpm(vec![(Plan::Free, 60), (Plan::Pro, 1000)]))
        );
        for bad in ["gold=5", "free", "free=x", "free=0"] {
            assert!(parse_plan_rpm(bad).is_err(), "{bad}");
        }
        let args = serve(&["--plan-rpm", "free=60", "--max-bulk-messages", "50"]);
        let plans = args.plans();
        assert_eq!(plans.free.requests_per_minute, 60);
        assert_eq!(plans.pro.requests_per_minute, 500);
        assert_eq!(plans.effective_bulk_cap(Plan::Pro), 50);
        assert_eq!(plans.effective_campaign_cap(Plan::Free), 1_000);
    }

    #[test]
    fn plan_campaign_recipients_overrides() {
        assert_eq!(
            parse_plan_campaign_recipients(" free=5000,enterprise=100000 "),
            Ok(PlanCampaignRecipients(vec![
                (Plan::Free, 5000),
                (Plan::Enterprise, 100_000)
            ]))
        );
        for bad in ["gold=5", "free", "free=x", "free=0", "pro=100001"] {
            assert!(parse_plan_campaign_recipients(bad).is_err(), "{bad}");
        }
        let plans = serve(&["--plan-campaign-recipients", "free=5000"]).plans();
        assert_eq!(plans.effective_campaign_cap(Plan::Free), 5000);
        assert_eq!(plans.effective_campaign_cap(Plan::Basic), 10_000);
    }

    #[test]
    fn the_default_graph_version_is_v24_or_later_and_configurable() {
        let version = serve(&[]).meta_api_version;
        assert_eq!(
            version,
            whatsapi_core::graph::GraphConfig::default().api_version
        );
        let major: u32 = version
            .strip_prefix('v')
            .and_then(|v| v.split_once('.'))
            .and_then(|(major, _)| major.parse().ok())
            .unwrap();
        assert!(major >= 24, "{version}");
        let set = serve(&["--meta-api-version", "v27.0"]);
        assert_eq!(set.meta_api_version, "v27.0");
    }

    #[test]
    fn database_urls() {
        let store = |url: Option<&str>| {
            let mut args = serve(&["--database", "d/w.db"]).store;
            args.database_url = url.map(str::to_owned);
            args
        };
        assert_eq!(store(None).backend(), Ok(Database::Sqlite("d/w.db".into())));
        assert_eq!(store(None).key_file(), PathBuf::from("d/w.db.key"));
        for (url, path) in [
            ("sqlite:data/x.db", "data/x.db"),
            ("sqlite://data/x.db", "data/x.db"),
            ("sqlite:///abs/x.db", "/abs/x.db"),
        ] {
            assert_eq!(
                store(Some(url)).backend(),
                Ok(Database::Sqlite(path.into()))
            );
            assert_eq!(
                store(Some(url)).key_file(),
                PathBuf::from(format!("{path}.key"))
            );
        }
        for url in ["postgres://u@h/db", "postgresql://u@h:5432/db"] {
            assert_eq!(
                store(Some(url)).backend(),
                Ok(Database::Postgres(url.into()))
            );
        }
        for bad in [
            "mysql://u@h/db",
            "sqlite:",
            "sqlite::memory:",
            "sqlite:x.db?mode=rwc",
            "x.db",
        ] {
            assert!(store(Some(bad)).backend().is_err(), "{bad}");
        }
    }
}
