//! The HTTP `WebhookSink`: signed the Standard Webhooks way, with a timeout and a guard against requests to
//! internal addresses (checked at connect time, so DNS rebinding cannot slip past).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::webhook::{DeliveryOutcome, StatusEvent, WebhookSink, WebhookTarget};

/// Policy of the HTTP sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSinkConfig {
    /// Timeout of one delivery (the reference: 10 s).
    pub timeout: Duration,
    /// Refuse plain `http://` URLs.
    pub require_https: bool,
    /// Allow loopback, private, link-local and other non-public targets (development and tests only).
    pub allow_private_targets: bool,
}

impl Default for HttpSinkConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            require_https: true,
            allow_private_targets: false,
        }
    }
}

/// Delivers events with `webhook-id`, `webhook-timestamp` and `webhook-signature` headers.
#[derive(Debug, Clone)]
pub struct HttpWebhookSink {
    client: reqwest::Client,
    config: HttpSinkConfig,
}

/// Whether an address is a public unicast address a webhook may go to.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || (seg[0] == 0x0064 && seg[1] == 0xff9b) // NAT64 well-known prefix maps to v4
                || v6 == Ipv6Addr::UNSPECIFIED)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240)
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

/// A new `whsec_` secret from 32 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    format!("whsec_{}", B64.encode(bytes))
}

impl HttpWebhookSink {
    /// A sink with its own connection pool.
    pub fn new(config: HttpSinkConfig) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("whatsapi-webhooks/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private_targets {
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
        check_url(url, &self.config)
    }
}

/// Validates a customer webhook URL against the policy (scheme, literal addresses).
pub fn check_url(url: &str, config: &HttpSinkConfig) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a valid URL: {e}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if !config.require_https => {}
        "http" => return Err("must use https".to_owned()),
        other => return Err(format!("scheme {other} is not supported; use https")),
    }
    let host = parsed.host().ok_or("URL has no host")?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("credentials in the URL are not allowed".to_owned());
    }
    if !config.allow_private_targets {
        let literal = match host {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(d)
                if d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost") =>
            {
                return Err("loopback targets are not allowed".to_owned());
            }
            url::Host::Domain(_) => None,
        };
        if let Some(ip) = literal.filter(|ip| !is_public_ip(*ip)) {
            return Err(format!("{ip} is not a public address"));
        }
    }
    Ok(())
}

#[async_trait]
impl WebhookSink for HttpWebhookSink {
    async fn deliver(&self, target: &WebhookTarget, event: &StatusEvent) -> DeliveryOutcome {
        let started = Instant::now();
        let fail = |error: String, started: Instant| DeliveryOutcome {
            http_status: None,
            error: Some(error),
            duration_ms: started.elapsed().as_millis() as u64,
        };
        if let Err(why) = check_url(&target.url, &self.config) {
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
    fn address_classes() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
            "192.0.2.1",
            "198.18.0.1",
        ] {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "100.128.0.1"] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn url_policy() {
        let strict = HttpSinkConfig::default();
        assert!(check_url("https://example.com/hook", &strict).is_ok());
        assert!(check_url("http://example.com/hook", &strict).is_err());
        assert!(check_url("https://127.0.0.1/hook", &strict).is_err());
        assert!(check_url("https://[::1]/hook", &strict).is_err());
        assert!(check_url("https://localhost/hook", &strict).is_err());
        assert!(check_url("https://user:pw@example.com/", &strict).is_err());
        assert!(check_url("ftp://example.com/", &strict).is_err());
        let dev = HttpSinkConfig {
            require_https: false,
            allow_private_targets: true,
            ..strict
        };
        assert!(check_url("http://127.0.0.1:9000/hook", &dev).is_ok());
    }

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
        assert!(new_secret().starts_with("whsec_"));
        assert_ne!(new_secret(), new_secret());
    }
}
