//! What a sandbox serves: its business numbers, secrets, callback URL and the timings of its behaviours.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// One business phone number the sandbox knows, with the access token that may use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxNumber {
    /// Phone number id: the `{phone_number_id}` of the Graph paths.
    pub id: String,
    /// The number as `GET /{id}` shows it, e.g. `+1 555-000-1234`; webhooks carry its digits only.
    pub display_phone_number: String,
    /// The business name.
    pub verified_name: String,
    /// The bearer token that may send from this number.
    pub access_token: String,
    /// Meta's `throughput.level` of the number: `STANDARD` (80 messages/s) or `HIGH` (1,000/s).
    pub throughput_level: String,
    /// `is_on_biz_app`: the number is shared with the WhatsApp Business app (coexistence, 20 messages/s).
    pub on_business_app: bool,
}

impl SandboxNumber {
    /// The display number reduced to digits, as webhook `metadata.display_phone_number` carries it.
    pub fn display_digits(&self) -> String {
        self.display_phone_number
            .chars()
            .filter(char::is_ascii_digit)
            .collect()
    }
}

impl Default for SandboxNumber {
    fn default() -> Self {
        Self {
            id: "1234567890".to_owned(),
            display_phone_number: "+1 555-000-1234".to_owned(),
            verified_name: "Whatsapi Sandbox".to_owned(),
            access_token: "sandbox-token".to_owned(),
            throughput_level: "STANDARD".to_owned(),
            on_business_app: false,
        }
    }
}

/// When the status webhooks of an accepted send are posted, each step counted from the previous one.
///
/// `sent` is counted from the acceptance of the send, `delivered` from `sent`, `read` from `delivered`. Statuses
/// that fall due together (for example with every delay at zero) are posted in one webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusDelays {
    /// From acceptance to `sent` (or to `failed` for an undeliverable recipient).
    pub sent: Duration,
    /// From `sent` to `delivered`.
    pub delivered: Duration,
    /// From `delivered` to `read`.
    pub read: Duration,
}

impl StatusDelays {
    /// Every status at once, in one webhook.
    pub const IMMEDIATE: Self = Self {
        sent: Duration::ZERO,
        delivered: Duration::ZERO,
        read: Duration::ZERO,
    };
}

impl Default for StatusDelays {
    fn default() -> Self {
        Self {
            sent: Duration::from_millis(50),
            delivered: Duration::from_millis(100),
            read: Duration::from_millis(300),
        }
    }
}

/// How a webhook POST that fails (connection error or non-2xx answer) is retried, like Meta does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookRetry {
    /// Attempts in all, the first one included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub initial_backoff: Duration,
    /// Timeout of one POST.
    pub timeout: Duration,
}

impl Default for WebhookRetry {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Everything [`crate::Sandbox::start`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Where to listen; the default `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// The business numbers served; the first one is the default of [`crate::SandboxHandle::inbound`].
    pub phone_numbers: Vec<SandboxNumber>,
    /// Secret of the `X-Hub-Signature-256` HMAC on every webhook.
    pub app_secret: String,
    /// The WhatsApp Business Account id, `entry[].id` of the webhooks.
    pub waba_id: String,
    /// Where webhooks are posted; without one, none are (it can be set later on the handle).
    pub callback_url: Option<String>,
    /// Timing of `sent`, `delivered` and `read`.
    pub delays: StatusDelays,
    /// How many sends to [`crate::magic::META_DOWN`] answer HTTP 500 (131000) before one succeeds.
    pub meta_down_failures: u32,
    /// How late [`crate::magic::SLOW`] answers.
    pub slow_delay: Duration,
    /// Retries of failed webhook POSTs.
    pub webhook_retry: WebhookRetry,
    /// Serve any numeric phone number id with the first number's token (one sandbox number per account of a
    /// whatsapi server in `--sandbox` mode, so webhooks route to the right account). Such a number reports the
    /// `STANDARD` throughput tier, `HIGH` when its id ends in `1000`, and `is_on_biz_app` when it ends in `0020`.
    pub open_numbers: bool,
    /// Refuse free-form text with 131047 ("Re-engagement message"), as Meta does, to every recipient that has not
    /// written to the business number in the last 24 hours ([`crate::SandboxHandle::inbound`] opens the window);
    /// templates are always allowed. The magic numbers other than [`crate::magic::OUTSIDE_WINDOW`] are exempt,
    /// so their behaviour can be triggered with text. Off, only `OUTSIDE_WINDOW` checks the window (for load
    /// tests and library tests that send text to arbitrary numbers). `whatsapi --sandbox` and the
    /// `whatsapi-sandbox` binary turn it on.
    pub service_window: bool,
    /// Most templates in one page of `GET /{waba_id}/message_templates`, whatever `limit` asks (default 100, like
    /// Meta's largest page; set it low to exercise paging).
    pub max_template_page: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            phone_numbers: vec![SandboxNumber::default()],
            app_secret: "sandbox-app-secret".to_owned(),
            waba_id: "102290129340398".to_owned(),
            callback_url: None,
            delays: StatusDelays::default(),
            meta_down_failures: 3,
            slow_delay: Duration::from_secs(2),
            webhook_retry: WebhookRetry::default(),
            open_numbers: false,
            service_window: false,
            max_template_page: crate::templates::MAX_LIMIT,
        }
    }
}

impl SandboxConfig {
    /// The number with this id.
    pub fn number(&self, id: &str) -> Option<&SandboxNumber> {
        self.phone_numbers.iter().find(|n| n.id == id)
    }

    /// The number with this id that `token` may use; with `open_numbers`, any numeric id for the first number's
    /// token is served as a number of its own.
    pub fn resolve(&self, id: &str, token: &str) -> Option<SandboxNumber> {
        if let Some(n) = self.number(id) {
            return (n.access_token == token).then(|| n.clone());
        }
        let first = self.phone_numbers.first()?;
        let numeric = !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit());
        (self.open_numbers && numeric && first.access_token == token).then(|| {
            // A stable display number derived from the id: +1 555-01x-xxxx.
            let tail: String = id
                .chars()
                .rev()
                .take(5)
                .collect::<String>()
                .chars()
                .rev()
                .collect();
            let tail = format!("{tail:0>5}");
            SandboxNumber {
                id: id.to_owned(),
                display_phone_number: format!("+1 555-01{}-{}", &tail[..1], &tail[1..]),
                verified_name: first.verified_name.clone(),
                access_token: first.access_token.clone(),
                // Served numbers are STANDARD, but ids ending in 1000 show the HIGH tier and ids ending in 0020
                // a number shared with the WhatsApp Business app, so clients can exercise each tier.
                throughput_level: if id.ends_with("1000") {
                    "HIGH"
                } else {
                    "STANDARD"
                }
                .to_owned(),
                on_business_app: id.ends_with("0020"),
            }
        })
    }

    /// The number with this id, or with `open_numbers`, any numeric id served as a number of its own (see
    /// [`SandboxConfig::resolve`]).
    pub fn number_or_open(&self, id: &str) -> Option<SandboxNumber> {
        let token = self.phone_numbers.first()?.access_token.clone();
        self.number(id)
            .cloned()
            .or_else(|| self.resolve(id, &token))
    }

    /// Whether some number accepts this token.
    pub fn knows_token(&self, token: &str) -> bool {
        self.phone_numbers.iter().any(|n| n.access_token == token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_has_the_documented_number() {
        let c = SandboxConfig::default();
        let n = c.number("1234567890").unwrap();
        assert_eq!(n.access_token, "sandbox-token");
        assert_eq!(n.display_digits(), "15550001234");
        assert_eq!(c.app_secret, "sandbox-app-secret");
        assert!(c.knows_token("sandbox-token"));
        assert!(!c.knows_token("other"));
        assert!(c.number("1").is_none());
        assert_eq!(
            c.resolve("1234567890", "sandbox-token").unwrap().id,
            "1234567890"
        );
        assert!(c.resolve("1234567890", "other").is_none());
        assert!(
            c.resolve("987654321", "sandbox-token").is_none(),
            "closed by default"
        );
        let open = SandboxConfig {
            open_numbers: true,
            ..SandboxConfig::default()
        };
        let n = open.resolve("987654321", "sandbox-token").unwrap();
        assert_eq!(
            (n.id.as_str(), n.display_phone_number.as_str()),
            ("987654321", "+1 555-015-4321")
        );
        assert!(open.resolve("98765x", "sandbox-token").is_none());
        assert!(open.resolve("987654321", "wrong").is_none());
    }
}
