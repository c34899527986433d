//! A real server on an ephemeral port with a temporary SQLite file and a fake Meta transport.
#![allow(dead_code)]

pub mod stripe;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use whatsapi_core::EngineConfig;
use whatsapi_core::encryption::{EncryptingStore, EncryptionKey, KeyRing};
use whatsapi_core::testing::FakeTransport;
use whatsapi_core::webhook::WebhookUrlPolicy;
use whatsapi_core::webhook_http::{HttpSinkConfig, HttpWebhookSink};
use whatsapi_core::{Store, WhatsApi};
use whatsapi_saas::stripe::StripeClient;
use whatsapi_saas::{PlanLimits, PlanTable, Product, ProductStore};
use whatsapi_server::HttpSettings;
use whatsapi_store_sqlite::SqliteStore;

pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const PHONE_NUMBER_ID: &str = "1234567890";

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub transport: FakeTransport,
    pub store: Arc<dyn Store>,
    /// The SQLite store under `store` (for its test knobs).
    pub sqlite: Arc<SqliteStore>,
    pub sandbox: Option<whatsapi_sandbox::SandboxHandle>,
    pub dir: tempfile::TempDir,
    /// The SQLite file.
    pub db_path: std::path::PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Wraps the store a test server uses.
pub type WrapStore = Box<dyn FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + Send>;

/// Wraps the product store a test server uses.
pub type WrapProductStore = Box<dyn FnOnce(Arc<dyn ProductStore>) -> Arc<dyn ProductStore> + Send>;

/// Server settings of `--sandbox` mode: new accounts get the sandbox's credentials and `POST /sandbox/inbound`
/// plays the customer.
pub fn sandbox_mode() -> HttpSettings {
    HttpSettings {
        sandbox: Some(whatsapi_server::app::SandboxCredentials {
            access_token: "sandbox-token".into(),
            app_secret: "sandbox-app-secret".into(),
            customers: None,
        }),
        ..HttpSettings::default()
    }
}

pub struct Options {
    pub plans: PlanTable,
    pub settings: HttpSettings,
    /// Send through the Graph transport to a `whatsapi-sandbox` instead of the fake transport.
    pub sandbox: Option<whatsapi_sandbox::SandboxConfig>,
    pub engine: EngineConfig,
    /// Use this database file (another server's, to act as a second replica) instead of a fresh one.
    pub database: Option<std::path::PathBuf>,
    /// The key that encrypts secrets at rest (default: a fresh one).
    pub encryption_key: Option<EncryptionKey>,
    /// Stripe billing.
    pub billing: Option<StripeClient>,
    /// Timeout of one customer webhook delivery (default 5 s).
    pub webhook_timeout: Duration,
    /// Wraps the store the server uses (e.g. in a `FaultyStore`).
    pub wrap_store: Option<WrapStore>,
    /// Wraps the product store the server uses (e.g. in a `FaultyProductStore`).
    pub wrap_product_store: Option<WrapProductStore>,
}

impl Default for Options {
    fn default() -> Self {
        // Generous limits so tests are not throttled unless they test throttling.
        let roomy = PlanLimits {
            requests_per_minute: 100_000,
            bulk_cap: 100,
            ..whatsapi_saas::Plan::Free.default_limits()
        };
        Options {
            plans: PlanTable {
                free: roomy,
                ..PlanTable::default()
            },
            settings: HttpSettings {
                register_per_minute: 100_000,
                meta_verify_token: Some(VERIFY_TOKEN.into()),
                meta_app_secret: Some(APP_SECRET.into()),
                body_limit: 256 * 1024,
                ..HttpSettings::default()
            },
            sandbox: None,
            engine: EngineConfig {
                webhook_urls: WebhookUrlPolicy::development(),
                ..EngineConfig::default()
            },
            database: None,
            encryption_key: None,
            billing: None,
            webhook_timeout: Duration::from_secs(5),
            wrap_store: None,
            wrap_product_store: None,
        }
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(mut options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_path = options
            .database
            .take()
            .unwrap_or_else(|| dir.path().join("whatsapi.db"));
        let key = options
            .encryption_key
            .take()
            .unwrap_or_else(EncryptionKey::generate);
        let sqlite = Arc::new(SqliteStore::open(&db_path).unwrap());
        let mut store: Arc<dyn Store> =
            Arc::new(EncryptingStore::new(sqlite.clone(), KeyRing::new(key)));
        if let Some(wrap) = options.wrap_store.take() {
            store = wrap(store);
        }
        let mut product_store: Arc<dyn ProductStore> = sqlite.clone();
        if let Some(wrap) = options.wrap_product_store.take() {
            product_store = wrap(product_store);
        }
        let transport = FakeTransport::new();
        let sink_config = HttpSinkConfig {
            urls: WebhookUrlPolicy::development(),
            timeout: options.webhook_timeout,
        };
        let sandbox = match options.sandbox.take() {
            Some(config) => Some(whatsapi_sandbox::Sandbox::start(config).await.unwrap()),
            None => None,
        };
        let meta: Arc<dyn whatsapi_core::MetaTransport> = match &sandbox {
            Some(sb) => {
                options.settings.meta_app_secret = Some(sb.config().app_secret.clone());
                // In `--sandbox` mode (sandbox credentials for new accounts), customers can write in.
                if let Some(creds) = options.settings.sandbox.as_mut() {
                    creds.customers.get_or_insert_with(|| sb.customers());
                }
                Arc::new(
                    whatsapi_core::graph::GraphTransport::new(whatsapi_core::graph::GraphConfig {
                        base_url: sb.base_url(),
                        timeout: Duration::from_secs(5),
                        ..Default::default()
                    })
                    .unwrap(),
                )
            }
            None => Arc::new(transport.clone()),
        };
        let api = WhatsApi::builder()
            .store(store.clone())
            .transport(meta)
            .webhook_sink(Arc::new(HttpWebhookSink::new(sink_config).unwrap()))
            .config(options.engine)
            .build()
            .unwrap();
        let mut product = Product::new(api, product_store, options.plans);
        if let Some(stripe) = options.billing.take() {
            product = product.with_billing(stripe);
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        if let Some(sb) = &sandbox {
            sb.set_callback_url(Some(format!("http://{addr}/webhooks/whatsapp")));
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            whatsapi_server::run::serve_on(
                listener,
                product,
                options.settings,
                async move {
                    let _ = stopped.await;
                },
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        });
        TestServer {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            transport,
            store,
            sqlite,
            sandbox,
            dir,
            db_path,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Registers an account and returns its key.
    pub async fn register(&self, email: &str) -> String {
        let r = self
            .client
            .post(self.url("/auth/register"))
            .json(&json!({"name": "Test User", "email": email}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "register {email}");
        let v: Value = r.json().await.unwrap();
        v["data"]["apiKey"].as_str().unwrap().to_owned()
    }

    /// Registers and saves Meta credentials (with the test app secret). The first such account of a server gets
    /// [`PHONE_NUMBER_ID`] (the number [`Self::meta_status`] reports for); a phone number id belongs to one
    /// account, so later ones get a number of their own.
    pub async fn account_with_credentials(&self, email: &str) -> String {
        let key = self.register(email).await;
        let save = |pnid: String| {
            self.client
                .put(self.url("/auth/me/credentials"))
                .bearer_auth(&key)
                .json(&json!({"whatsappAccessToken": "EAAtest", "whatsappPhoneNumberId": pnid}))
                .send()
        };
        let mut r = save(PHONE_NUMBER_ID.to_owned()).await.unwrap();
        if r.status() == 409 {
            let own: u64 = email
                .bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            r = save(format!("9{}", own % 1_000_000_000_000)).await.unwrap();
        }
        assert_eq!(r.status(), 200);
        key
    }

    /// The server's OpenAPI document (`GET /openapi.json`, no key needed).
    pub async fn openapi(&self) -> Value {
        let resp = self
            .client
            .get(self.url("/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    pub async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Polls a message until its status is one of `want` (bounded).
    pub async fn wait_status(&self, key: &str, id: &str, want: &[&str]) -> Value {
        for _ in 0..200 {
            let (code, v) = self.get(key, &format!("/messages/{id}")).await;
            assert_eq!(code, 200, "{v}");
            if want.contains(&v["data"]["status"].as_str().unwrap_or_default()) {
                return v["data"].clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("message {id} never reached {want:?}");
    }

    /// POSTs a Meta status webhook for `wamid`, signed with the test app secret.
    pub async fn meta_status(&self, wamid: &str, status: &str, ts: i64) -> u16 {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
            "value": {"messaging_product": "whatsapp",
                      "metadata": {"display_phone_number": "15550001234", "phone_number_id": PHONE_NUMBER_ID},
                      "statuses": [{"id": wamid, "status": status, "timestamp": ts.to_string(), "recipient_id": "14155552671"}]}}]}]});
        let raw = serde_json::to_vec(&body).unwrap();
        let sig = whatsapi_core::meta::sign(APP_SECRET.as_bytes(), &raw);
        self.client
            .post(self.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(raw)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Registers an account whose credentials point at the sandbox, with a phone number id of its own.
    pub async fn sandbox_account(&self, email: &str, phone_number_id: &str) -> String {
        let key = self.register(email).await;
        let r = self
            .client
            .put(self.url("/auth/me/credentials"))
            .bearer_auth(&key)
            .json(&json!({"whatsappAccessToken": "sandbox-token", "whatsappPhoneNumberId": phone_number_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        key
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}
