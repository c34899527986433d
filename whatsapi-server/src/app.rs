//! The router: routes, layers and shared state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::WhatsApi;
use whatsapi_saas::{CustomerAccount, Product};

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::routes::{account, billing, dashboard, messages, meta, system};

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

/// The OpenAPI document's frame; paths are collected from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "whatsapi",
        description = "WhatsApp Business messaging gateway: send text and template messages through Meta's \
                       WhatsApp Cloud API, track their delivery, and receive status webhooks.\n\n\
                       **Sandbox mode** (`whatsapi --sandbox`): messages go to an emulator of Meta's Cloud API. As on \
                       Meta, free-form text to a customer who has not written in during the last 24 hours fails with \
                       131047; templates always work; `POST /sandbox/inbound` simulates the customer writing in. \
                       Magic recipients:\n\n\
                       | recipient | behaviour |\n|---|---|\n\
                       | 15550000001 | accepted, then `failed` with 131026 |\n\
                       | 15550000002 | first 2 sends: HTTP 400, 130429; then success |\n\
                       | 15550000003 | text: 131047 until it writes in; templates succeed |\n\
                       | 15550000004 | sent, delivered, never read |\n\
                       | 15550000005 | first 3 sends: HTTP 500, 131000; then success |\n\
                       | 15550000006 | statuses arrive read, delivered, sent |\n\
                       | 15550000007 | first send: HTTP 400, 131056; then success |\n\
                       | 15550000008 | templates other than hello_world/en_US: 132001 |\n\
                       | 15550000009 | answered after 2 s |\n\
                       | any other | sent, delivered, read; text needs the 24-hour window |",
        version = env!("CARGO_PKG_VERSION")
    ),
    modifiers(&SecurityAddon),
    components(schemas(crate::views::ErrorView, crate::views::FieldErrorView))
)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sk_live_ + 48 hex characters")
                    .build(),
            ),
        );
    }
}

/// The routes with their OpenAPI description.
pub fn api_router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let authenticated = OpenApiRouter::new()
        .routes(routes!(account::me))
        .routes(routes!(
            account::put_credentials,
            account::delete_credentials
        ))
        .routes(routes!(account::verify_credentials))
        .routes(routes!(account::put_webhook, account::delete_webhook))
        .routes(routes!(account::rotate_key))
        .routes(routes!(messages::send))
        .routes(routes!(messages::bulk))
        .routes(routes!(messages::list))
        .routes(routes!(messages::get))
        .routes(routes!(messages::retry))
        .routes(routes!(messages::analytics))
        .routes(routes!(dashboard::timeseries))
        .routes(routes!(dashboard::deliveries))
        .routes(routes!(dashboard::setup))
        .routes(routes!(billing::checkout))
        .routes(routes!(billing::portal))
        .routes(routes!(crate::routes::sandbox::inbound))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let public = OpenApiRouter::new()
        .routes(routes!(account::register))
        .merge(
            // Meta's payloads are up to a few MB: this route has its own cap, over the server-wide one.
            OpenApiRouter::new()
                .routes(routes!(meta::verify, meta::receive))
                .layer(DefaultBodyLimit::max(meta::META_BODY_LIMIT)),
        )
        .routes(routes!(billing::stripe_webhook))
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::metrics))
        .routes(routes!(system::llms_txt));
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(authenticated)
        .merge(public)
        .split_for_parts();
    (router.with_state(state), doc)
}

/// The whole application: API routes, `/openapi.json`, `/docs`, fallbacks and layers.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let metrics_state = state.clone();
    let (router, doc) = api_router(state);
    let doc = Arc::new(doc);
    let doc_json = doc.clone();
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = doc_json.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/docs")
                .url("/docs/openapi.json", doc.as_ref().clone()),
        )
        .route(
            "/",
            axum::routing::get(|| async { axum::response::Redirect::temporary("/app") }),
        )
        .route("/app", axum::routing::get(dashboard::index))
        .route("/app/", axum::routing::get(dashboard::index))
        .route("/app/{*path}", axum::routing::get(dashboard::asset))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(metrics_state, track))
        .layer(middleware::from_fn(crate::edge::security_headers))
        .layer(middleware::from_fn(crate::request_id::layer))
}

async fn not_found() -> ApiError {
    ApiError::not_found("No such endpoint. See /docs or /openapi.json for the API.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed on this endpoint. See /docs for the methods it takes.",
    )
}

/// Counts requests by route template, method and status, and times them. Every label has a bounded set of values
/// (no raw path, no client-chosen method).
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = crate::metrics::method_label(req.method());
    let started = Instant::now();
    let resp = next.run(req).await;
    state
        .metrics
        .observe_request(&route, method, resp.status().as_u16(), started.elapsed());
    resp
}

const BEARER_HELP: &str = "Send your API key as 'Authorization: Bearer sk_live_...' (sk_live_ followed by 48 hex characters).";

/// Authenticates `Authorization: Bearer sk_live_…`, applies the rate limit, and puts the account (the engine's
/// `Account`, the product's `Customer`) in the request's extensions. Every authenticated response carries the
/// rate-limit headers.
///
/// The limit counts per account (an account has one key at a time), so rotating the key does not start a fresh
/// window.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let presented = match bearer(req.headers()) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let CustomerAccount { account, customer } = match state.product.authenticate(&presented).await {
        Ok(a) => a,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let limit = state.product.limits(customer.plan).requests_per_minute;
    let decision = state
        .limiter
        .hit(&rate_bucket(&account), limit, state.api.clock().now())
        .await;
    if !decision.allowed {
        let mut resp = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Rate limit of {limit} requests per minute exceeded. Retry after {} seconds.",
                decision.reset_in
            ),
        )
        .into_response();
        decision.apply(resp.headers_mut());
        return resp;
    }
    req.extensions_mut().insert(account);
    req.extensions_mut().insert(customer);
    let mut resp = next.run(req).await;
    decision.apply(resp.headers_mut());
    resp
}

/// The rate-limit bucket of an account's requests: its id, so a rotated key shares the old key's window.
pub fn rate_bucket(account: &whatsapi_core::Account) -> String {
    format!("account:{}", account.id.0)
}

fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(format!(
            "Missing Authorization header. {BEARER_HELP}"
        )));
    };
    let value = value.to_str().map_err(|_| {
        ApiError::unauthorized(format!("Malformed Authorization header. {BEARER_HELP}"))
    })?;
    let mut parts = value.trim().splitn(2, ' ');
    match (parts.next(), parts.next()) {
        (Some(scheme), Some(token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_owned())
        }
        _ => Err(ApiError::unauthorized(format!(
            "Malformed Authorization header. {BEARER_HELP}"
        ))),
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
