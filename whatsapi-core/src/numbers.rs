//! Business phone numbers of an account beyond its default one.
//!
//! An account's **default number** is the one of its [`MetaCredentials`] (saved with `PUT /auth/me/credentials`
//! in the reference API): sends that name no `from` go out on it. An account may connect more numbers (brands,
//! countries, departments), each a [`BusinessNumber`]: its Meta phone number id, optionally its own access token
//! (otherwise the default credentials' token is used, which is what a WhatsApp Business Account with one system
//! user token looks like), what Meta said about it when it was verified, and its pacing rate.
//!
//! A phone number id belongs to at most one account, across the default credentials and the extra numbers, so
//! Meta's webhooks for it (routed by `metadata.phone_number_id`) reach exactly one account.
//!
//! Pacing: each number is paced at its own rate ([`BusinessNumber::throughput_per_second`]), set from Meta's
//! `throughput.level` at verification ([`rate_of_throughput`]) or by the account; `None` means the engine's
//! default rate. On Meta's 130429 (throughput exceeded) the engine steps the number's rate down and lets it
//! recover step by step (see [`Throttle`]).

use std::fmt;

use chrono::{DateTime, Utc};

use crate::account::{AccountId, MetaCredentials};
use crate::transport::PhoneNumberInfo;

/// Most extra numbers one account may connect (besides its default one).
pub const MAX_NUMBERS_PER_ACCOUNT: usize = 50;

/// Highest pacing rate an account may set: Meta's highest throughput tier.
pub const MAX_THROUGHPUT_PER_SECOND: u32 = 1_000;

/// Meta's default throughput (`throughput.level = STANDARD`).
pub const STANDARD_THROUGHPUT: u32 = 80;
/// Meta's upgraded throughput (`throughput.level = HIGH`).
pub const HIGH_THROUGHPUT: u32 = 1_000;
/// The fixed throughput of numbers shared with the WhatsApp Business app (coexistence).
pub const BUSINESS_APP_THROUGHPUT: u32 = 20;

/// The sending rate Meta's answer about a number implies: 20/s for a number also used in the WhatsApp Business
/// app (whatever its level), 1,000/s for `HIGH`, 80/s for `STANDARD`; `None` when Meta gave no level the engine
/// knows (`NOT_APPLICABLE`, absent): the engine's default rate then applies.
pub fn rate_of_throughput(info: &PhoneNumberInfo) -> Option<u32> {
    if info.on_business_app == Some(true) {
        return Some(BUSINESS_APP_THROUGHPUT);
    }
    match info.throughput_level.as_deref()? {
        l if l.eq_ignore_ascii_case("HIGH") => Some(HIGH_THROUGHPUT),
        l if l.eq_ignore_ascii_case("STANDARD") => Some(STANDARD_THROUGHPUT),
        _ => None,
    }
}

/// An extra business number of an account, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct BusinessNumber {
    /// The owner.
    pub account_id: AccountId,
    /// Meta's phone number id (digits): what sends name as `from` and Meta's webhooks carry as
    /// `metadata.phone_number_id`. Unique across accounts and their default credentials.
    pub phone_number_id: String,
    /// The number's own Graph API access token; `None`: the default credentials' token is used. Sealed at rest by
    /// the encrypting store like the credentials' token.
    pub access_token: Option<String>,
    /// The number as Meta displays it (`display_phone_number`), from verification.
    pub display_phone_number: String,
    /// The business name Meta shows (`verified_name`), from verification.
    pub verified_name: String,
    /// Meta's quality rating (GREEN / YELLOW / RED), from verification, when given.
    pub quality_rating: Option<String>,
    /// Meta's `throughput.level` (STANDARD, HIGH, NOT_APPLICABLE), from verification, when given.
    pub throughput_level: Option<String>,
    /// The pacing rate in messages per second: set from the level at verification, or by the account; `None`:
    /// the engine's default rate.
    pub throughput_per_second: Option<u32>,
    /// When it was connected.
    pub created_at: DateTime<Utc>,
    /// When Meta's answer about it was last recorded: when it was connected, or verified again.
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for BusinessNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusinessNumber")
            .field("account_id", &self.account_id)
            .field("phone_number_id", &self.phone_number_id)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("display_phone_number", &self.display_phone_number)
            .field("verified_name", &self.verified_name)
            .field("quality_rating", &self.quality_rating)
            .field("throughput_level", &self.throughput_level)
            .field("throughput_per_second", &self.throughput_per_second)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl BusinessNumber {
    /// A number as Meta's verification `info` describes it, connected at `at`, paced as its throughput says.
    pub fn verified(
        account_id: AccountId,
        info: &PhoneNumberInfo,
        access_token: Option<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            account_id,
            phone_number_id: info.id.clone(),
            access_token,
            display_phone_number: info.display_phone_number.clone(),
            verified_name: info.verified_name.clone(),
            quality_rating: info.quality_rating.clone(),
            throughput_level: info.throughput_level.clone(),
            throughput_per_second: rate_of_throughput(info),
            created_at: at,
            updated_at: at,
        }
    }

    /// The credentials a send from this number uses: its own token (else the default credentials' token), its
    /// phone number id, and the default credentials' app secret and WABA. `None` when it has no token of its own
    /// and the account has no default credentials.
    pub fn credentials(&self, default: Option<&MetaCredentials>) -> Option<MetaCredentials> {
        let token = match (&self.access_token, default) {
            (Some(t), _) => t.clone(),
            (None, Some(d)) => d.access_token.clone(),
            (None, None) => return None,
        };
        let mut c = MetaCredentials::new(token, self.phone_number_id.clone());
        if let Some(d) = default {
            c.app_secret = d.app_secret.clone();
            c.waba_id = d.waba_id.clone();
        }
        Some(c)
    }

    /// Applies one change in memory, the way every store applies it.
    pub fn apply(&mut self, update: NumberUpdate) {
        match update {
            NumberUpdate::SetThroughput(rate) => self.throughput_per_second = rate,
            NumberUpdate::SetAccessToken(token) => self.access_token = token,
            NumberUpdate::Verified { info, at } => {
                self.display_phone_number = info.display_phone_number.clone();
                self.verified_name = info.verified_name.clone();
                self.quality_rating = info.quality_rating.clone();
                self.throughput_level = info.throughput_level.clone();
                self.throughput_per_second = rate_of_throughput(&info);
                self.updated_at = at;
            }
        }
    }
}

/// One change to a business number.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NumberUpdate {
    /// Sets the pacing rate (`None`: the engine's default).
    SetThroughput(Option<u32>),
    /// Replaces the number's own token (`None`: use the default credentials' token); also re-encryption.
    SetAccessToken(Option<String>),
    /// Records a fresh verification: display number, name, quality, level, and the rate the level implies.
    Verified {
        /// Meta's answer.
        info: PhoneNumberInfo,
        /// When.
        at: DateTime<Utc>,
    },
}

/// The step-down of one number's pacing after Meta's 130429, kept where every replica sees it
/// ([`LimitStore::step_down_number`](crate::store::LimitStore::step_down_number)).
///
/// Each 130429 halves the rate once more (`steps` halvings, the rate never below 1/s); every `quiet` period
/// without a new one since `since` gives one halving back, so the rate recovers step by step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Halvings in force at `since`.
    pub steps: u32,
    /// When the last step down happened.
    pub since: DateTime<Utc>,
}

/// Most halvings a number is stepped down by (1,000/s halved 10 times is below 1/s already).
pub const MAX_THROTTLE_STEPS: u32 = 10;

impl Throttle {
    /// Halvings in force at `now`: one comes back per whole `quiet` period since the last step down.
    pub fn steps_at(&self, now: DateTime<Utc>, quiet: std::time::Duration) -> u32 {
        let quiet = quiet.as_nanos().max(1);
        let elapsed = (now - self.since)
            .num_nanoseconds()
            .unwrap_or(i64::MAX)
            .max(0)
            .unsigned_abs();
        let recovered = u128::from(elapsed) / quiet;
        self.steps
            .saturating_sub(u32::try_from(recovered).unwrap_or(u32::MAX))
    }

    /// The throttle after one more 130429 at `now`: one more halving than in force at `now` (at most
    /// [`MAX_THROTTLE_STEPS`]). Within `min_gap` of the last step down nothing changes: the 130429s of one burst
    /// (sent before the rate was lowered, by any replica) count once.
    pub fn stepped_down(
        current: Option<Throttle>,
        now: DateTime<Utc>,
        quiet: std::time::Duration,
        min_gap: std::time::Duration,
    ) -> Throttle {
        match current {
            Some(t) if now < crate::store::support::saturating_add(t.since, min_gap) => t,
            Some(t) => Throttle {
                steps: (t.steps_at(now, quiet) + 1).min(MAX_THROTTLE_STEPS),
                since: now,
            },
            None => Throttle {
                steps: 1,
                since: now,
            },
        }
    }

    /// `rate` after the halvings in force at `now`, never below 1.
    pub fn rate_at(&self, rate: u32, now: DateTime<Utc>, quiet: std::time::Duration) -> u32 {
        (rate >> self.steps_at(now, quiet).min(31)).max(1)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn info(level: Option<&str>, app: Option<bool>) -> PhoneNumberInfo {
        PhoneNumberInfo {
            id: "1".into(),
            verified_name: "B".into(),
            display_phone_number: "+1".into(),
            quality_rating: None,
            throughput_level: level.map(str::to_owned),
            on_business_app: app,
        }
    }

    #[test]
    fn tiers_follow_metas_levels() {
        assert_eq!(rate_of_throughput(&info(Some("STANDARD"), None)), Some(80));
        assert_eq!(
            rate_of_throughput(&info(Some("HIGH"), Some(false))),
            Some(1000)
        );
        assert_eq!(
            rate_of_throughput(&info(Some("HIGH"), Some(true))),
            Some(20)
        );
        assert_eq!(
            rate_of_throughput(&info(Some("NOT_APPLICABLE"), None)),
            None
        );
        assert_eq!(rate_of_throughput(&info(None, None)), None);
    }

    #[test]
    fn step_down_halves_and_recovers_one_step_per_quiet_period() {
        let quiet = Duration::from_secs(60);
        let gap = Duration::from_secs(1);
        let first = Throttle::stepped_down(None, t(0), quiet, gap);
        assert_eq!(first.rate_at(80, t(0), quiet), 40);
        // A second 130429 of the same burst changes nothing.
        assert_eq!(Throttle::stepped_down(Some(first), t(0), quiet, gap), first);
        let second = Throttle::stepped_down(Some(first), t(2), quiet, gap);
        assert_eq!(second.rate_at(80, t(2), quiet), 20);
        assert_eq!(second.rate_at(80, t(61), quiet), 20);
        assert_eq!(second.rate_at(80, t(62), quiet), 40);
        assert_eq!(second.rate_at(80, t(122), quiet), 80);
        assert_eq!(second.rate_at(80, t(10_000), quiet), 80);
        // Never below 1/s, and a 130429 after a partial recovery steps down from what is in force.
        let mut th = second;
        for i in 0..20 {
            th = Throttle::stepped_down(Some(th), t(200 + 2 * i), quiet, gap);
        }
        assert_eq!(th.steps, MAX_THROTTLE_STEPS);
        assert_eq!(th.rate_at(80, t(240), quiet), 1);
        let partial = Throttle::stepped_down(Some(second), t(62), quiet, gap);
        assert_eq!(partial.steps, 2);
    }

    #[test]
    fn a_number_without_a_token_borrows_the_default_credentials() {
        let n = BusinessNumber::verified(AccountId::new(), &info(Some("HIGH"), None), None, t(0));
        assert_eq!(n.throughput_per_second, Some(1000));
        assert_eq!(n.credentials(None), None);
        let mut d = MetaCredentials::new("TOKEN", "999");
        d.app_secret = Some("s".into());
        let c = n.credentials(Some(&d)).unwrap();
        assert_eq!(
            (c.access_token.as_str(), c.phone_number_id.as_str()),
            ("TOKEN", "1")
        );
        assert_eq!(c.app_secret.as_deref(), Some("s"));
        let own = BusinessNumber {
            access_token: Some("OWN".into()),
            ..n
        };
        assert_eq!(own.credentials(Some(&d)).unwrap().access_token, "OWN");
        assert!(!format!("{own:?}").contains("OWN"));
    }
}
