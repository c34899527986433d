//! The HTTP `WebhookSink`: signed the Standard Webhooks way, with a timeout and a guard against requests to
//! internal addresses (checked at connect time, so DNS rebinding cannot slip past).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::webhook::{
    DeliveryOutcome, WebhookEvent, WebhookSink, WebhookTarget, WebhookUrlPolicy, check_url,
    is_public_ip,
};

/// Policy of the HTTP sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSinkConfig {
    /// Timeout of one delivery (the reference: 10 s).
    pub timeout: Duration,
    /// Which targets are allowed.
    pub urls: WebhookUrlPolicy,
}

impl Default for HttpSinkConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            urls: WebhookUrlPolicy::default(),
        }
    }
}

/// Delivers events with `webhook-id`, `webhook-timestamp` and `webhook-signature` headers.
#[derive(Debug, Clone)]
pub struct HttpWebhookSink {
    client: reqwest::Client,
    config: HttpSinkConfig,
}

/// Resolves names and drops every non-public address; a name with none left fails to resolve.
#[derive(Debug)]
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public_ip(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(
                    format!("{host} resolves only to non-public addresses; refused").into(),
                );
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`; the key is the base64 part of `whsec_…`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|b| B64.decode(b).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// Checks a `webhook-signature` header (any of its space-separated `v1,` entries) in constant time.
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let expected = sign(secret, id, timestamp, body);
    header.split(' ').any(|candidate| {
        subtle::ConstantTimeEq::ct_eq(candidate.as_bytes(), expected.as_bytes()).into()
    })
}

impl HttpWebhookSink {
    /// A sink with its own connection pool.
    pub fn new(config: HttpSinkConfig) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("whatsapi-webhooks/", env!("CARGO_PKG_VERSION")));
        if !config.urls.allow_private_targets {
            builder = builder
                .dns_resolver(Arc::new(PublicOnlyResolver))
                .no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(Self { client, config })
    }

    /// Why this URL may not be used, if it may not.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        check_url(url, &self.config.urls)
    }
}

#[async_trait]
impl WebhookSink for HttpWebhookSink {
    async fn deliver(&self, target: &WebhookTarget, event: &WebhookEvent) -> DeliveryOutcome {
        let started = Instant::now();
        let fail = |error: String, started: Instant| DeliveryOutcome {
            http_status: None,
            error: Some(error),
            duration_ms: started.elapsed().as_millis() as u64,
        };
        if let Err(why) = check_url(&target.url, &self.config.urls) {
            return fail(format!("webhook URL refused: {why}"), started);
        }
        let body = match serde_json::to_vec(event) {
            Ok(b) => b,
            Err(e) => return fail(format!("cannot encode event: {e}"), started),
        };
        let id = event
            .id
            .map(|i| format!("evt_{}", i.0.simple()))
            .unwrap_or_default();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(&target.secret, &id, timestamp, &body);
        let result = self
            .client
            .post(&target.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match result {
            Ok(resp) => DeliveryOutcome {
                http_status: Some(resp.status().as_u16()),
                error: None,
                duration_ms: started.elapsed().as_millis() as u64,
            },
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                fail(format!("{kind}: {}", e.without_url()), started)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_signature() {
        // Test vector from the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let ts = 1614265330;
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, ts, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(verify(
            secret,
            id,
            ts,
            body,
            "v1,bm9ldmVu v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        ));
        assert!(!verify(
            secret,
            id,
            ts + 1,
            body,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        ));
    }
}
