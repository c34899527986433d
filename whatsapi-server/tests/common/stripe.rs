//! A fake Stripe on loopback: records what whatsapi sends and answers like Stripe's API.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use whatsapi_saas::stripe::{StripeClient, StripeConfig};

pub const STRIPE_KEY: &str = "sk_test_fake_51abcdef";
pub const WEBHOOK_SECRET: &str = "whsec_test_endpoint_secret";

/// One request the fake Stripe received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: String,
    pub form: Vec<(String, String)>,
}

impl Received {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
pub struct FakeStripe {
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Answer every call with this error status.
    pub fail_with: Arc<Mutex<Option<u16>>>,
}

impl FakeStripe {
    /// Starts on loopback and answers with its base URL.
    pub async fn start(&self) -> String {
        async fn answer(
            State(fake): State<FakeStripe>,
            uri: axum::http::Uri,
            headers: HeaderMap,
            axum::Form(form): axum::Form<Vec<(String, String)>>,
        ) -> (StatusCode, axum::Json<Value>) {
            let path = uri.path().to_owned();
            fake.received.lock().unwrap().push(Received {
                path: path.clone(),
                authorization: headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
                form,
            });
            if let Some(status) = *fake.fail_with.lock().unwrap() {
                return (
                    StatusCode::from_u16(status).unwrap(),
                    axum::Json(
                        json!({"error": {"type": "invalid_request_error", "message": "No such price: 'price_pro_1'"}}),
                    ),
                );
            }
            let n = fake.received.lock().unwrap().len();
            let body = if path == "/v1/checkout/sessions" {
                json!({"id": format!("cs_test_{n}"), "object": "checkout.session",
                       "url": format!("https://checkout.stripe.test/c/pay/cs_test_{n}")})
            } else {
                json!({"id": format!("bps_{n}"), "object": "billing_portal.session",
                       "url": format!("https://billing.stripe.test/p/session/bps_{n}")})
            };
            (StatusCode::OK, axum::Json(body))
        }
        let app = axum::Router::new()
            .route("/v1/checkout/sessions", axum::routing::post(answer))
            .route("/v1/billing_portal/sessions", axum::routing::post(answer))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    pub fn last(&self) -> Received {
        self.received
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a call to Stripe")
    }

    pub fn calls(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

pub fn stripe_client(base: &str) -> StripeClient {
    StripeClient::new(StripeConfig {
        secret_key: STRIPE_KEY.into(),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        api_base: base.into(),
        price_basic: "price_basic_1".into(),
        price_pro: "price_pro_1".into(),
        success_url: "https://app.example.com/billing/success".into(),
        cancel_url: "https://app.example.com/billing/cancel".into(),
        portal_return_url: "https://app.example.com/settings".into(),
        sales_contact: Some("sales@whatsapi.example".into()),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}
