//! Recipient phone numbers in the E.164 digits-only form WhatsApp expects.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An E.164 phone number stored as digits only: country code + number, 8–15 digits, no `+`, no leading 0.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// Why a phone number was refused; the message shows the accepted form where one can be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PhoneError(String);

impl PhoneError {
    /// The human-readable reason.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl PhoneNumber {
    /// Parses a number that must already be in digits-only E.164 form.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        if input.is_empty() {
            return Err(PhoneError(
                "phone number is empty; send E.164 digits only, e.g. 14155552671".into(),
            ));
        }
        if !input.bytes().all(|b| b.is_ascii_digit()) {
            // Derive the accepted form when the input is a formatted number (`+1 (415) 555-2671`).
            let digits: String = input.chars().filter(|c| c.is_ascii_digit()).collect();
            let only_formatting = input
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
            if only_formatting && Self::check_digits(&digits).is_ok() {
                return Err(PhoneError(format!(
                    "phone number must be E.164 digits only, without '+', spaces or punctuation: send {digits}"
                )));
            }
            return Err(PhoneError(
                "phone number must contain digits only (E.164 without '+'), e.g. 14155552671"
                    .into(),
            ));
        }
        Self::check_digits(input)?;
        Ok(Self(input.to_owned()))
    }

    fn check_digits(digits: &str) -> Result<(), PhoneError> {
        if digits.starts_with('0') {
            return Err(PhoneError(
                "phone number must start with the country code, not 0 (E.164 digits only, e.g. 14155552671)"
                    .into(),
            ));
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(PhoneError(format!(
                "phone number must have 8 to 15 digits including the country code (got {}), e.g. 14155552671",
                digits.len()
            )));
        }
        Ok(())
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.0)
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_reference_examples() {
        for n in ["14155552671", "447911123456", "919876543210", "61412345678"] {
            assert_eq!(PhoneNumber::parse(n).unwrap().as_str(), n);
        }
    }

    #[test]
    fn plus_form_is_refused_with_the_accepted_form() {
        let err = PhoneNumber::parse("+14155552671").unwrap_err();
        assert!(err.message().contains("14155552671"), "{err}");
        assert!(!err.message().contains("+14155552671"), "{err}");
        let err = PhoneNumber::parse("+1 (415) 555-2671").unwrap_err();
        assert!(err.message().contains("send 14155552671"), "{err}");
    }

    #[test]
    fn length_and_leading_zero() {
        assert!(PhoneNumber::parse("1234567").is_err());
        assert!(PhoneNumber::parse("12345678").is_ok());
        assert!(PhoneNumber::parse("123456789012345").is_ok());
        assert!(PhoneNumber::parse("1234567890123456").is_err());
        assert!(PhoneNumber::parse("04155552671").is_err());
        assert!(PhoneNumber::parse("").is_err());
        assert!(PhoneNumber::parse("1415555267a").is_err());
        assert!(
            PhoneNumber::parse("١٤١٥٥٥٥٢٦٧١").is_err(),
            "non-ASCII digits are refused"
        );
    }
}
