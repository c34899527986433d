//! API keys: `sk_live_` + 48 hex characters, shown once, stored as a SHA-256.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const KEY_PREFIX: &str = "sk_live_";
const KEY_HEX_LEN: usize = 48;

/// A secret API key, `sk_live_` + 48 lowercase hex characters. Shown once; only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// The SHA-256 of an API key: what the store keeps and looks keys up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

/// Why a string is not an API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed API key: expected 'sk_live_' followed by 48 lowercase hexadecimal characters")]
pub struct MalformedKey;

impl ApiKey {
    /// A new key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_HEX_LEN / 2];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        Self(format!("{KEY_PREFIX}{}", hex::encode(bytes)))
    }

    /// Strictly parses a presented key.
    pub fn parse(s: &str) -> Result<Self, MalformedKey> {
        let hex_part = s.strip_prefix(KEY_PREFIX).ok_or(MalformedKey)?;
        let ok = hex_part.len() == KEY_HEX_LEN
            && hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(MalformedKey)
        }
    }

    /// The key itself, to show the user once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its SHA-256.
    pub fn hash(&self) -> KeyHash {
        KeyHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(sk_live_…)")
    }
}

impl KeyHash {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses lowercase or uppercase hex.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", &self.to_hex()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("sk_live_"));
        assert_eq!(a.expose().len(), 8 + 48);
        assert_eq!(ApiKey::parse(a.expose()).unwrap(), a);
        assert_eq!(a.hash(), ApiKey::parse(a.expose()).unwrap().hash());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn strict_parse() {
        let good = format!("sk_live_{}", "a1".repeat(24));
        assert!(ApiKey::parse(&good).is_ok());
        for bad in [
            "".to_string(),
            "sk_live_".to_string(),
            format!("sk_test_{}", "a1".repeat(24)),
            format!("sk_live_{}", "A1".repeat(24)),
            format!("sk_live_{}", "a1".repeat(23)),
            format!("sk_live_{}0", "a1".repeat(24)),
            format!("sk_live_{}", "g1".repeat(24)),
            format!(" {good}"),
        ] {
            assert!(ApiKey::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_is_sha256_of_the_key() {
        let k = ApiKey::parse(&format!("sk_live_{}", "0".repeat(48))).unwrap();
        assert_eq!(
            k.hash().to_hex(),
            hex::encode(Sha256::digest(k.expose().as_bytes()))
        );
        assert_eq!(KeyHash::from_hex(&k.hash().to_hex()), Some(k.hash()));
        assert!(k.hash().ct_eq(&k.hash()));
        assert!(!format!("{k:?}").contains("000000"));
    }
}
