//! Idempotency keys: key syntax, fingerprints of typed requests and the replay / conflict / in-flight decision.

use std::fmt::{self, Write as _};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::account::AccountId;

/// How long a key's outcome is kept and replayed.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a reservation protects a request that is still running; a crashed request's key frees after it.
pub const IN_FLIGHT_LOCK: Duration = Duration::from_secs(60);

/// A client-chosen key: 1–255 visible ASCII characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdempotencyKey(String);

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "an idempotency key must be 1 to 255 visible ASCII characters (no spaces or control characters)"
)]
pub struct InvalidKey;

impl IdempotencyKey {
    /// Parses a header value.
    pub fn parse(s: &str) -> Result<Self, InvalidKey> {
        let ok = (1..=255).contains(&s.len()) && s.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidKey)
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({:?})", self.0)
    }
}

/// SHA-256 over a request's kind and its canonical encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint(pub [u8; 32]);

/// What kind of request a fingerprint identifies: one key used for a send and then for a bulk request conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// [`SendRequest`](crate::send::SendRequest).
    Send,
    /// [`BulkRequest`](crate::send::BulkRequest).
    Bulk,
}

impl RequestKind {
    /// The tag written into the fingerprint.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Send => "send",
            RequestKind::Bulk => "bulk",
        }
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", hex::encode(&self.0[..8]))
    }
}

impl Fingerprint {
    /// Fingerprints a request of `kind` from its encoding as JSON; object key order does not matter.
    pub fn of(kind: RequestKind, encoded: &Value) -> Self {
        let mut canonical = String::with_capacity(256);
        canonical.push_str(kind.as_str());
        canonical.push('\n');
        write_canonical(encoded, &mut canonical);
        Self(Sha256::digest(canonical.as_bytes()).into())
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses hex.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }
}

/// JSON with object keys sorted, no insignificant whitespace.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// The outcome of a finished request, kept for replay: the caller's encoding of its domain result (the service
/// keeps what it queued), opaque to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoredOutcome(pub Value);

/// What the store keeps per (account, key).
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// Owner: keys are scoped per account.
    pub account_id: AccountId,
    /// The key.
    pub key: IdempotencyKey,
    /// Fingerprint of the first request.
    pub fingerprint: Fingerprint,
    /// Its outcome, once finished; `None` while the first request is running.
    pub response: Option<StoredOutcome>,
    /// First seen.
    pub created_at: DateTime<Utc>,
    /// Reservation end for an unfinished request.
    pub locked_until: DateTime<Utc>,
    /// Forgotten after this.
    pub expires_at: DateTime<Utc>,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// First time: the key is now reserved for this request.
    Fresh,
    /// Seen and finished with the same body: answer with the stored response, do nothing.
    Replay(StoredOutcome),
    /// Seen with a different body.
    Conflict,
    /// Seen with the same body and still running.
    InFlight,
}

/// Decides from the existing record (if any). `None` means the store must reserve the key and answer `Fresh`.
pub fn decide(
    existing: Option<&IdempotencyRecord>,
    fingerprint: &Fingerprint,
    now: DateTime<Utc>,
) -> Option<Decision> {
    let record = existing.filter(|r| r.expires_at > now)?;
    if &record.fingerprint != fingerprint {
        return Some(Decision::Conflict);
    }
    match &record.response {
        Some(resp) => Some(Decision::Replay(resp.clone())),
        None if record.locked_until > now => Some(Decision::InFlight),
        // The first request died without finishing: the key is free again.
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_syntax() {
        assert!(IdempotencyKey::parse("order-1234-shipped").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("!~").is_ok());
        for bad in ["", "has space", "tab\t", "é", "\u{7f}"] {
            assert_eq!(IdempotencyKey::parse(bad), Err(InvalidKey), "{bad:?}");
        }
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn fingerprint_ignores_key_order_but_not_content() {
        let a = json!({"to": "14155552671", "message": "hi", "metadata": {"a": 1, "b": [1, {"y": 2, "x": 1}]}});
        let b: Value = serde_json::from_str(
            r#"{"metadata": {"b": [1, {"x": 1, "y": 2}], "a": 1}, "message": "hi", "to": "14155552671"}"#,
        )
        .unwrap();
        let send = RequestKind::Send;
        assert_eq!(Fingerprint::of(send, &a), Fingerprint::of(send, &b));
        let c = json!({"to": "14155552671", "message": "hi!"});
        assert_ne!(Fingerprint::of(send, &a), Fingerprint::of(send, &c));
        assert_ne!(
            Fingerprint::of(send, &a),
            Fingerprint::of(RequestKind::Bulk, &a)
        );
        let arr1 = json!([1, 2]);
        let arr2 = json!([2, 1]);
        assert_ne!(Fingerprint::of(send, &arr1), Fingerprint::of(send, &arr2));
        let fp = Fingerprint::of(send, &arr1);
        assert_eq!(Fingerprint::from_hex(&fp.to_hex()), Some(fp));
    }

    #[test]
    fn decisions() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let fp = Fingerprint::of(RequestKind::Send, &json!({"a": 1}));
        let other = Fingerprint::of(RequestKind::Send, &json!({"a": 2}));
        let mut rec = IdempotencyRecord {
            account_id: AccountId::new(),
            key: IdempotencyKey::parse("k").unwrap(),
            fingerprint: fp,
            response: None,
            created_at: t0,
            locked_until: t0 + chrono::Duration::seconds(60),
            expires_at: t0 + chrono::Duration::hours(24),
        };
        let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
        assert_eq!(decide(None, &fp, t0), None);
        assert_eq!(decide(Some(&rec), &fp, at(1)), Some(Decision::InFlight));
        assert_eq!(decide(Some(&rec), &other, at(1)), Some(Decision::Conflict));
        assert_eq!(
            decide(Some(&rec), &fp, at(61)),
            None,
            "an abandoned reservation frees the key"
        );
        let resp = StoredOutcome(json!({"id": "m1"}));
        rec.response = Some(resp.clone());
        assert_eq!(
            decide(Some(&rec), &fp, at(3600)),
            Some(Decision::Replay(resp))
        );
        assert_eq!(
            decide(Some(&rec), &other, at(3600)),
            Some(Decision::Conflict)
        );
        assert_eq!(
            decide(Some(&rec), &other, at(24 * 3600)),
            None,
            "expired after 24 h"
        );
        assert_eq!(decide(Some(&rec), &fp, at(24 * 3600 + 1)), None);
    }
}
