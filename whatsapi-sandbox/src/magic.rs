//! Magic recipient numbers: like test card numbers, each makes the sandbox behave one documented way.
//!
//! | recipient | behaviour |
//! | --- | --- |
//! | [`UNDELIVERABLE`] `15550000001` | accepted (200), then one `failed` status with error 131026 |
//! | [`THROUGHPUT_LIMIT`] `15550000002` | the first two sends answer HTTP 400, 130429 (no `Retry-After`); the third succeeds |
//! | [`OUTSIDE_WINDOW`] `15550000003` | free-form messages (anything but a template) refused with HTTP 400, 131047 until it writes in ([`crate::SandboxHandle::inbound`]); templates succeed |
//! | [`NEVER_READS`] `15550000004` | `sent` → `delivered`, never `read` |
//! | [`META_DOWN`] `15550000005` | HTTP 500, 131000 for the first `meta_down_failures` sends (default 3), then success |
//! | [`OUT_OF_ORDER`] `15550000006` | statuses posted in reverse: `read`, then `delivered`, then `sent` |
//! | [`PAIR_RATE_LIMIT`] `15550000007` | HTTP 400, 131056 once, then success |
//! | [`TEMPLATE_MISSING`] `15550000008` | every template except `hello_world`/`en_US` answers HTTP 404, 132001; text succeeds |
//! | [`SLOW`] `15550000009` | accepted at once (its webhooks flow) but answered only after `slow_delay` (default 2 s); during an outage its error is answered after `slow_delay` too |
//! | any other | `sent` → `delivered` → `read`; with [`crate::SandboxConfig::service_window`] (on in `whatsapi --sandbox`), free-form messages (anything but a template) are refused with HTTP 400, 131047 until the number writes in; templates succeed |
//!
//! A user behind a username, addressed by BSUID in `recipient` (no `to`), behaves like the magic number its id part
//! spells: `US.15550000001` is undeliverable like `15550000001`, `US.13491208655302741918` is any other. Such a
//! send of an authentication template ([`is_authentication_template`]) is refused with HTTP 400, 131062.
//!
//! Counters (130429, 131000, 131056) count valid sends per sandbox instance and recipient. The template
//! [`HELLO_WORLD`] exists for every recipient, in [`HELLO_WORLD_LANGUAGE`] only, and takes no parameters. The
//! other templates of the store ([`crate::templates`]) are checked after these refusals (132001, 132000, 132015,
//! 132016); names the store does not know are accepted (except for [`TEMPLATE_MISSING`]).

use std::time::Duration;

use crate::config::StatusDelays;
use crate::error::MetaError;
use crate::validate::Content;

/// Accepted, then `failed` with 131026 (message undeliverable) in the status webhook.
pub const UNDELIVERABLE: &str = "15550000001";
/// The first [`THROUGHPUT_LIMIT_FAILURES`] sends answer 130429; then success.
pub const THROUGHPUT_LIMIT: &str = "15550000002";
/// Free-form messages (anything but a template) refused with 131047 (outside the 24-hour window) until the number writes in; templates work.
pub const OUTSIDE_WINDOW: &str = "15550000003";
/// `sent` → `delivered`, never `read`.
pub const NEVER_READS: &str = "15550000004";
/// HTTP 500, 131000 for the first `meta_down_failures` sends; then success.
pub const META_DOWN: &str = "15550000005";
/// Statuses arrive as `read`, `delivered`, `sent`.
pub const OUT_OF_ORDER: &str = "15550000006";
/// 131056 (pair rate limit) [`PAIR_RATE_LIMIT_FAILURES`] time(s); then success.
pub const PAIR_RATE_LIMIT: &str = "15550000007";
/// Templates other than `hello_world` in `en_US` fail with 132001 (does not exist in that language).
pub const TEMPLATE_MISSING: &str = "15550000008";
/// The answer comes after `slow_delay`; the send itself is accepted at once.
pub const SLOW: &str = "15550000009";

/// How many sends to [`THROUGHPUT_LIMIT`] are refused before one succeeds.
pub const THROUGHPUT_LIMIT_FAILURES: u32 = 2;
/// How many sends to [`PAIR_RATE_LIMIT`] are refused before one succeeds.
pub const PAIR_RATE_LIMIT_FAILURES: u32 = 1;
/// Whether the sandbox treats a template as an authentication template (which Meta will not send to a user
/// addressed only by BSUID, error 131062): it has no template store, so the name decides: `auth…`, or containing
/// `otp` or `verification`.
pub fn is_authentication_template(name: &str) -> bool {
    name.starts_with("auth") || name.contains("otp") || name.contains("verification")
}

/// The template that always exists.
pub const HELLO_WORLD: &str = "hello_world";
/// The only language of [`HELLO_WORLD`].
pub const HELLO_WORLD_LANGUAGE: &str = "en_US";

/// What a recipient number makes the sandbox do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Behaviour {
    /// `sent` → `delivered` → `read`.
    Normal,
    /// See [`UNDELIVERABLE`].
    Undeliverable,
    /// See [`THROUGHPUT_LIMIT`].
    ThroughputLimit,
    /// See [`OUTSIDE_WINDOW`].
    OutsideWindow,
    /// See [`NEVER_READS`].
    NeverReads,
    /// See [`META_DOWN`].
    MetaDown,
    /// See [`OUT_OF_ORDER`].
    OutOfOrder,
    /// See [`PAIR_RATE_LIMIT`].
    PairRateLimit,
    /// See [`TEMPLATE_MISSING`].
    TemplateMissing,
    /// See [`SLOW`].
    Slow,
}

impl Behaviour {
    /// Every magic behaviour, in the order of their numbers.
    pub const MAGIC: [Behaviour; 9] = [
        Behaviour::Undeliverable,
        Behaviour::ThroughputLimit,
        Behaviour::OutsideWindow,
        Behaviour::NeverReads,
        Behaviour::MetaDown,
        Behaviour::OutOfOrder,
        Behaviour::PairRateLimit,
        Behaviour::TemplateMissing,
        Behaviour::Slow,
    ];

    /// The behaviour of a recipient, given as WhatsApp id (digits only).
    pub fn of(wa_id: &str) -> Self {
        Self::MAGIC
            .into_iter()
            .find(|b| b.number() == Some(wa_id))
            .unwrap_or(Behaviour::Normal)
    }

    /// The magic number, `None` for [`Behaviour::Normal`].
    pub fn number(self) -> Option<&'static str> {
        Some(match self {
            Behaviour::Normal => return None,
            Behaviour::Undeliverable => UNDELIVERABLE,
            Behaviour::ThroughputLimit => THROUGHPUT_LIMIT,
            Behaviour::OutsideWindow => OUTSIDE_WINDOW,
            Behaviour::NeverReads => NEVER_READS,
            Behaviour::MetaDown => META_DOWN,
            Behaviour::OutOfOrder => OUT_OF_ORDER,
            Behaviour::PairRateLimit => PAIR_RATE_LIMIT,
            Behaviour::TemplateMissing => TEMPLATE_MISSING,
            Behaviour::Slow => SLOW,
        })
    }

    /// One line for humans (the binary prints the table).
    pub fn description(self) -> &'static str {
        match self {
            Behaviour::Normal => "sent -> delivered -> read",
            Behaviour::Undeliverable => "accepted, then a `failed` status with error 131026",
            Behaviour::ThroughputLimit => "first 2 sends: HTTP 400 code 130429; then success",
            Behaviour::OutsideWindow => {
                "text: HTTP 400 code 131047 until it writes in; templates succeed"
            }
            Behaviour::NeverReads => "sent -> delivered, never read",
            Behaviour::MetaDown => "first N sends (default 3): HTTP 500 code 131000; then success",
            Behaviour::OutOfOrder => "statuses arrive read, delivered, sent",
            Behaviour::PairRateLimit => "first send: HTTP 400 code 131056; then success",
            Behaviour::TemplateMissing => {
                "templates (except hello_world/en_US): HTTP 404 code 132001"
            }
            Behaviour::Slow => "accepted at once, answered after the slow delay (default 2 s)",
        }
    }

    /// The synchronous refusal of the `attempt`-th valid send (1-based) to this recipient, if any.
    #[cfg(test)]
    pub(crate) fn refusal(
        self,
        attempt: u32,
        content: &Content,
        window_open: bool,
        meta_down_failures: u32,
    ) -> Option<MetaError> {
        self.refusal_with(attempt, content, window_open, meta_down_failures, false)
    }

    /// [`Behaviour::refusal`], where `service_window` makes every [`Behaviour::Normal`] recipient check the 24-hour
    /// window as [`Behaviour::OutsideWindow`] does.
    pub(crate) fn refusal_with(
        self,
        attempt: u32,
        content: &Content,
        window_open: bool,
        meta_down_failures: u32,
        service_window: bool,
    ) -> Option<MetaError> {
        let checks_window =
            self == Behaviour::OutsideWindow || (service_window && self == Behaviour::Normal);
        if checks_window && !matches!(content, Content::Template { .. }) && !window_open {
            return Some(MetaError::re_engagement());
        }
        if let Content::Template {
            name,
            language,
            parameters,
        } = content
        {
            if name == HELLO_WORLD {
                if language != HELLO_WORLD_LANGUAGE {
                    return Some(MetaError::template_missing(name, language));
                }
                if *parameters > 0 {
                    return Some(MetaError::parameter_count_mismatch(format!(
                        "body: number of localizable_params ({parameters}) does not match the expected number \
                         of params (0)"
                    )));
                }
            }
        }
        match self {
            Behaviour::ThroughputLimit if attempt <= THROUGHPUT_LIMIT_FAILURES => {
                Some(MetaError::throughput_limit())
            }
            Behaviour::MetaDown if attempt <= meta_down_failures => {
                Some(MetaError::something_went_wrong())
            }
            Behaviour::PairRateLimit if attempt <= PAIR_RATE_LIMIT_FAILURES => {
                Some(MetaError::pair_rate_limit())
            }
            Behaviour::TemplateMissing => match content {
                Content::Template { name, language, .. } if name != HELLO_WORLD => {
                    Some(MetaError::template_missing(name, language))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The statuses an accepted send produces, in the order they are posted.
    pub(crate) fn plan(self, delays: StatusDelays) -> Vec<PlannedStatus> {
        let sent = delays.sent;
        let delivered = sent + delays.delivered;
        let read = delivered + delays.read;
        let step = |status, at| PlannedStatus {
            status,
            due: at,
            happened: at,
            error: None,
        };
        match self {
            Behaviour::Undeliverable => vec![PlannedStatus {
                error: Some(StatusError::UNDELIVERABLE),
                ..step("failed", sent)
            }],
            Behaviour::NeverReads => vec![step("sent", sent), step("delivered", delivered)],
            // Posted in reverse, each carrying the time its event really happened.
            Behaviour::OutOfOrder => vec![
                PlannedStatus {
                    due: sent,
                    ..step("read", read)
                },
                step("delivered", delivered),
                PlannedStatus {
                    due: read,
                    ..step("sent", sent)
                },
            ],
            _ => vec![
                step("sent", sent),
                step("delivered", delivered),
                step("read", read),
            ],
        }
    }
}

/// One status to post for an accepted send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedStatus {
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: &'static str,
    /// When to post it, from the acceptance of the send.
    pub due: Duration,
    /// When it happened (its `timestamp`), from the acceptance of the send.
    pub happened: Duration,
    /// With `failed`.
    pub error: Option<StatusError>,
}

/// The `errors[0]` of a failed status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusError {
    pub code: i64,
    pub title: &'static str,
    pub details: &'static str,
}

impl StatusError {
    const UNDELIVERABLE: Self = Self {
        code: 131026,
        title: "Message undeliverable",
        details: "Unable to deliver message. Reasons can include: the recipient phone number is not a \
                  WhatsApp phone number; the recipient has not accepted the new Terms of Service and Privacy \
                  Policy; the recipient is using an old WhatsApp version.",
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_map_both_ways() {
        for b in Behaviour::MAGIC {
            assert_eq!(Behaviour::of(b.number().unwrap()), b);
        }
        assert_eq!(Behaviour::of("14155552671"), Behaviour::Normal);
        assert_eq!(Behaviour::Normal.number(), None);
    }

    #[test]
    fn refusals_follow_the_table() {
        let tpl = |name: &str, language: &str, parameters| Content::Template {
            name: name.into(),
            language: language.into(),
            parameters,
        };
        let code = |b: Behaviour, attempt, c: &Content, window| {
            b.refusal(attempt, c, window, 3).map(|e| e.code)
        };
        let text = Content::Text;
        assert_eq!(
            code(Behaviour::ThroughputLimit, 2, &text, false),
            Some(130429)
        );
        assert_eq!(code(Behaviour::ThroughputLimit, 3, &text, false), None);
        assert_eq!(code(Behaviour::MetaDown, 3, &text, false), Some(131000));
        assert_eq!(code(Behaviour::MetaDown, 4, &text, false), None);
        assert_eq!(
            code(Behaviour::PairRateLimit, 1, &text, false),
            Some(131056)
        );
        assert_eq!(code(Behaviour::PairRateLimit, 2, &text, false), None);
        assert_eq!(
            code(Behaviour::OutsideWindow, 9, &text, false),
            Some(131047)
        );
        assert_eq!(code(Behaviour::OutsideWindow, 9, &text, true), None);
        let order = tpl("order_ready", "en_US", 2);
        assert_eq!(code(Behaviour::OutsideWindow, 1, &order, false), None);
        assert_eq!(
            code(Behaviour::TemplateMissing, 1, &order, false),
            Some(132001)
        );
        assert_eq!(code(Behaviour::TemplateMissing, 1, &text, false), None);
        let hello = tpl(HELLO_WORLD, HELLO_WORLD_LANGUAGE, 0);
        assert_eq!(code(Behaviour::TemplateMissing, 1, &hello, false), None);
        assert_eq!(
            code(Behaviour::Normal, 1, &tpl(HELLO_WORLD, "de", 0), false),
            Some(132001)
        );
        assert_eq!(
            code(Behaviour::Normal, 1, &tpl(HELLO_WORLD, "en_US", 1), false),
            Some(132000)
        );
        assert_eq!(code(Behaviour::Normal, 1, &order, false), None);
        assert_eq!(code(Behaviour::Normal, 1, &text, false), None);
    }

    #[test]
    fn the_service_window_applies_to_text_for_ordinary_numbers() {
        let code = |b: Behaviour, c: &Content, window| {
            b.refusal_with(1, c, window, 3, true).map(|e| e.code)
        };
        let text = Content::Text;
        let order = Content::Template {
            name: "order_ready".into(),
            language: "en_US".into(),
            parameters: 1,
        };
        assert_eq!(code(Behaviour::Normal, &text, false), Some(131047));
        assert_eq!(code(Behaviour::Normal, &text, true), None);
        assert_eq!(code(Behaviour::Normal, &order, false), None);
        assert_eq!(code(Behaviour::OutsideWindow, &text, false), Some(131047));
        // The other magic numbers keep their own behaviour with text.
        assert_eq!(code(Behaviour::MetaDown, &text, false), Some(131000));
        assert_eq!(code(Behaviour::NeverReads, &text, false), None);
        assert_eq!(code(Behaviour::Undeliverable, &text, false), None);
        // Media, interactive, location and reactions are free-form too: the window applies to them.
        let image = Content::Media {
            kind: "image".into(),
        };
        assert_eq!(code(Behaviour::Normal, &image, false), Some(131047));
        assert_eq!(code(Behaviour::Normal, &image, true), None);
        assert_eq!(
            code(Behaviour::OutsideWindow, &Content::Reaction, false),
            Some(131047)
        );
        assert_eq!(
            code(Behaviour::MetaDown, &Content::Location, true),
            Some(131000)
        );
    }

    #[test]
    fn plans() {
        let d = StatusDelays::default();
        let names = |b: Behaviour| b.plan(d).iter().map(|p| p.status).collect::<Vec<_>>();
        assert_eq!(names(Behaviour::Normal), ["sent", "delivered", "read"]);
        assert_eq!(names(Behaviour::NeverReads), ["sent", "delivered"]);
        assert_eq!(names(Behaviour::OutOfOrder), ["read", "delivered", "sent"]);
        assert_eq!(names(Behaviour::Undeliverable), ["failed"]);
        let ooo = Behaviour::OutOfOrder.plan(d);
        assert!(ooo.windows(2).all(|w| w[0].due <= w[1].due));
        assert!(ooo[0].happened > ooo[2].happened);
        assert_eq!(
            Behaviour::Undeliverable.plan(d)[0].error.unwrap().code,
            131026
        );
    }
}
