//! Who a message goes to: a phone number, a business-scoped user id (BSUID, for users behind a WhatsApp username),
//! or both.
//!
//! Since 2026 a WhatsApp user may adopt a username and hide their phone number. Meta then names them by a BSUID
//! such as `US.13491208655302741918` (ISO 3166 country code, a period, up to 128 letters and digits), unique to
//! the business portfolio. A send addresses such a user with Meta's `recipient` field; when the phone number is
//! known too, both are sent and Meta delivers by phone number.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::phone::PhoneNumber;

/// Longest identifier part of a BSUID after the country code and the period.
pub const MAX_USER_ID_CHARS: usize = 128;

/// A business-scoped user id (BSUID), kept exactly as Meta wrote it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

/// Why a BSUID was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UserIdError(String);

impl UserIdError {
    /// The human-readable reason.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl UserId {
    /// Parses a BSUID: two uppercase letters, a period, then 1 to 128 ASCII letters and digits.
    pub fn parse(input: &str) -> Result<Self, UserIdError> {
        let shape = || {
            UserIdError(
                "must be a business-scoped user id as Meta gives it: a two-letter country code, a period and up \
                 to 128 letters and digits, e.g. US.13491208655302741918"
                    .into(),
            )
        };
        let Some((country, rest)) = input.split_once('.') else {
            return Err(shape());
        };
        let country_ok = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
        let rest_ok = !rest.is_empty()
            && rest.len() <= MAX_USER_ID_CHARS
            && rest.bytes().all(|b| b.is_ascii_alphanumeric());
        if country_ok && rest_ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(shape())
        }
    }

    /// The id as Meta wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

impl FromStr for UserId {
    type Err = UserIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for UserId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The recipient of a message: a phone number, a BSUID, or both (never neither).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Recipient {
    phone: Option<PhoneNumber>,
    user_id: Option<UserId>,
}

impl Recipient {
    /// A recipient known by phone number.
    pub fn phone(phone: PhoneNumber) -> Self {
        Self {
            phone: Some(phone),
            user_id: None,
        }
    }

    /// A recipient known only by BSUID (a user behind a username).
    pub fn user(user_id: UserId) -> Self {
        Self {
            phone: None,
            user_id: Some(user_id),
        }
    }

    /// A recipient known by both; Meta delivers by the phone number.
    pub fn both(phone: PhoneNumber, user_id: UserId) -> Self {
        Self {
            phone: Some(phone),
            user_id: Some(user_id),
        }
    }

    /// From optional parts; `None` when both are missing.
    pub fn from_parts(phone: Option<PhoneNumber>, user_id: Option<UserId>) -> Option<Self> {
        (phone.is_some() || user_id.is_some()).then_some(Self { phone, user_id })
    }

    /// The phone number, when known.
    pub fn phone_number(&self) -> Option<&PhoneNumber> {
        self.phone.as_ref()
    }

    /// The BSUID, when known.
    pub fn user_id(&self) -> Option<&UserId> {
        self.user_id.as_ref()
    }

    /// The identity Meta delivers to: the phone number when known, else the BSUID. Also the key of the
    /// 24-hour window (inbound messages are recorded under both) and of per-recipient pacing.
    pub fn address(&self) -> &str {
        match (&self.phone, &self.user_id) {
            (Some(p), _) => p.as_str(),
            (None, Some(u)) => u.as_str(),
            (None, None) => unreachable!("a recipient has a phone number or a user id"),
        }
    }

    /// The phone number as text, when known (the `to` of views and webhooks, `null` otherwise).
    pub fn to(&self) -> Option<&str> {
        self.phone.as_ref().map(PhoneNumber::as_str)
    }

    /// Rebuilds a recipient from what a store keeps: `address` (the phone number, or the BSUID when there is
    /// none) and the BSUID column. `None` when the stored values are not a recipient.
    pub fn from_stored(address: &str, user_id: Option<&str>) -> Option<Self> {
        let phone = PhoneNumber::parse(address).ok();
        let user_id = match user_id {
            Some(u) => Some(UserId::parse(u).ok()?),
            None if phone.is_none() => Some(UserId::parse(address).ok()?),
            None => None,
        };
        Self::from_parts(phone, user_id)
    }
}

impl From<PhoneNumber> for Recipient {
    fn from(p: PhoneNumber) -> Self {
        Self::phone(p)
    }
}

impl From<UserId> for Recipient {
    fn from(u: UserId) -> Self {
        Self::user(u)
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.address())
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.phone, &self.user_id) {
            (Some(p), Some(u)) => write!(f, "Recipient({p}, {u})"),
            _ => write!(f, "Recipient({})", self.address()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_as_meta_writes_them() {
        for ok in ["US.13491208655302741918", "BR.abcDEF123", "IN.1"] {
            assert_eq!(UserId::parse(ok).unwrap().as_str(), ok);
        }
        let long = format!("US.{}", "9".repeat(MAX_USER_ID_CHARS));
        assert!(UserId::parse(&long).is_ok());
        let too_long = format!("US.{}", "9".repeat(MAX_USER_ID_CHARS + 1));
        for bad in [
            "",
            "US",
            "US.",
            "us.123",
            "USA.123",
            ".123",
            "US.12 3",
            "US.12-3",
            "14155552671",
            too_long.as_str(),
        ] {
            let err = UserId::parse(bad).unwrap_err();
            assert!(
                err.message().contains("US.13491208655302741918"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_address_is_the_phone_when_known() {
        let p = PhoneNumber::parse("14155552671").unwrap();
        let u = UserId::parse("US.13491208655302741918").unwrap();
        assert_eq!(Recipient::phone(p.clone()).address(), "14155552671");
        assert_eq!(
            Recipient::user(u.clone()).address(),
            "US.13491208655302741918"
        );
        assert_eq!(Recipient::user(u.clone()).to(), None);
        let both = Recipient::both(p.clone(), u.clone());
        assert_eq!(both.address(), "14155552671");
        assert_eq!(both.user_id(), Some(&u));
        assert!(Recipient::from_parts(None, None).is_none());
    }

    #[test]
    fn stored_form_round_trips() {
        let p = PhoneNumber::parse("14155552671").unwrap();
        let u = UserId::parse("US.13491208655302741918").unwrap();
        for r in [
            Recipient::phone(p.clone()),
            Recipient::user(u.clone()),
            Recipient::both(p, u),
        ] {
            let back = Recipient::from_stored(r.address(), r.user_id().map(UserId::as_str));
            assert_eq!(back.as_ref(), Some(&r));
        }
        assert_eq!(Recipient::from_stored("not a recipient", None), None);
        assert_eq!(Recipient::from_stored("14155552671", Some("bad")), None);
    }
}
