//! Identifiers shaped like Meta's: wamids and `fbtrace_id`s, unique within a process.

use std::sync::atomic::{AtomicU64, Ordering};

static SEQ: AtomicU64 = AtomicU64::new(1);

/// A fresh `wamid.…` for a message to or from `wa_id`: unique within the process (a counter) and across
/// processes (random bits).
pub(crate) fn wamid(wa_id: &str) -> String {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let random: u64 = rand::random();
    format!("wamid.HBgL{wa_id}FQIAERgS{seq:08X}{random:016X}")
}

/// A trace id like Meta's (`Az8or2yhqkZfEZ-_4Qn_Bam`): 23 characters of the URL-safe alphabet.
pub(crate) fn fbtrace_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..23)
        .map(|_| ALPHABET[usize::from(rand::random::<u8>() % 64)] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wamids_are_unique_and_shaped() {
        let a = wamid("14155552671");
        let b = wamid("14155552671");
        assert_ne!(a, b);
        assert!(a.starts_with("wamid.HBgL14155552671"));
        assert_eq!(fbtrace_id().len(), 23);
    }
}
