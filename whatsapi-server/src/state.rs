//! What every handler can reach: [`AppState`] (the library, rate limiter, metrics) and the HTTP settings.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use whatsapi_core::WhatsApi;
use whatsapi_saas::Product;

use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Longest time a request may take.
    pub request_timeout: Duration,
    /// Registrations per client IP per minute.
    pub register_per_minute: u32,
    /// Take the client IP from `X-Forwarded-For` when the peer is a trusted proxy: the right-most entry that is not
    /// a trusted proxy.
    pub trust_forwarded_for: bool,
    /// Proxies (besides loopback, always trusted) whose `X-Forwarded-For` entries are believed.
    pub trusted_proxies: Vec<crate::edge::Cidr>,
    /// Header-read timeout, idle timeout and connection cap of the connection loop.
    pub connections: crate::edge::ConnectionLimits,
    /// Server-wide verify token for Meta's webhook handshake.
    pub meta_verify_token: Option<String>,
    /// Server-wide app secret for `X-Hub-Signature-256`, used when the account has none.
    pub meta_app_secret: Option<String>,
    /// Accept unsigned Meta webhooks when no app secret is known (development only).
    pub allow_unsigned_meta_webhooks: bool,
    /// Count rate limits (per account, registrations per IP) in the store, shared by every replica on the same
    /// database, instead of in this process.
    pub shared_rate_limits: bool,
    /// In `--sandbox` mode: the credentials every new account gets.
    pub sandbox: Option<SandboxCredentials>,
    /// The operator's prices per country and category (`--rate-card`), for `GET /analytics/costs` and cost
    /// estimates; without one, costs are counted but not priced.
    pub rate_card: Option<Arc<whatsapi_core::costs::RateCard>>,
}

/// Credentials of the in-process Meta emulator, given to each new account in `--sandbox` mode.
#[derive(Debug, Clone)]
pub struct SandboxCredentials {
    /// The emulator's access token.
    pub access_token: String,
    /// The emulator's app secret (signs its webhooks).
    pub app_secret: String,
    /// Simulates customers writing in (`POST /sandbox/inbound`).
    pub customers: Option<whatsapi_sandbox::Customers>,
}

impl SandboxCredentials {
    /// A phone number id of the account's own, so the emulator's webhooks route back to it.
    pub fn phone_number_id(account: whatsapi_core::AccountId) -> String {
        let bytes = account.0.as_bytes();
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&bytes[8..16]);
        format!("9{:014}", u64::from_be_bytes(tail) % 100_000_000_000_000)
    }

    /// A WhatsApp Business Account id of the account's own (WABA ids are unique across accounts), which the
    /// emulator answers `/{waba_id}/message_templates` for, so `GET /templates` works without saving one.
    pub fn waba_id(account: whatsapi_core::AccountId) -> String {
        let bytes = account.0.as_bytes();
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&bytes[8..16]);
        format!("8{:014}", u64::from_be_bytes(tail) % 100_000_000_000_000)
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            register_per_minute: 5,
            trust_forwarded_for: false,
            trusted_proxies: Vec::new(),
            connections: crate::edge::ConnectionLimits::default(),
            meta_verify_token: None,
            meta_app_secret: None,
            allow_unsigned_meta_webhooks: false,
            shared_rate_limits: false,
            sandbox: None,
            rate_card: None,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub api: WhatsApi,
    /// The hosted product over it: registration, keys, plans, billing.
    pub product: Product,
    /// Per-account and per-IP request counters.
    pub limiter: Arc<RateLimiter>,
    /// Prometheus counters.
    pub metrics: Arc<Metrics>,
    /// HTTP settings.
    pub settings: Arc<HttpSettings>,
}

impl AppState {
    /// State around the product (and the engine it was built over).
    pub fn new(product: Product, settings: HttpSettings) -> Self {
        let limiter = if settings.shared_rate_limits {
            RateLimiter::shared(product.store().clone())
        } else {
            RateLimiter::new()
        };
        Self {
            api: product.api().clone(),
            product,
            limiter: Arc::new(limiter),
            metrics: Arc::new(Metrics::new()),
            settings: Arc::new(settings),
        }
    }
}

/// The client's IP: the socket peer; with `--trust-forwarded-for` and a trusted proxy as the peer, the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy (see [`crate::edge::ProxyTrust::client_ip`]).
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<&ConnectInfo<SocketAddr>>,
    settings: &HttpSettings,
) -> String {
    let trust = crate::edge::ProxyTrust {
        enabled: settings.trust_forwarded_for,
        proxies: settings.trusted_proxies.clone(),
    };
    trust.client_ip(headers, peer.map(|c| c.0.ip()))
}
