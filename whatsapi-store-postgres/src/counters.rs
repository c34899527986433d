//! Counter shards: which shard of `status_counts` and `sent_counts` a transaction adds its deltas to.
//!
//! Every change of a message moves its account's counters. With one row per (account, status) every transaction
//! of an account, on every replica, would update the same rows and wait for the previous one's commit. Each
//! transaction instead adds to one of [`SHARDS`] rows per counter, and readers sum them (at most `SHARDS` rows per
//! counter, read by primary key: still exact, still O(1) in the number of messages). One transaction writes one
//! shard, its rows in key order, so two transactions that do meet on a shard lock its rows in the same order.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// How many shards each counter has.
pub(crate) const SHARDS: u32 = 16;

/// The shard of the next transaction: round-robin within the process (concurrent transactions of one replica use
/// different shards), from a random start per process (replicas do not start in step).
pub(crate) fn next_shard() -> i16 {
    static START: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // `RandomState` is seeded randomly per process; hashing nothing with it gives a random number without a
    // dependency on a random number generator.
    let start = *START.get_or_init(|| (RandomState::new().hash_one(()) % u64::from(SHARDS)) as u32);
    let n = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % SHARDS;
    n as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_transactions_spread_over_the_shards() {
        let picked: Vec<i16> = (0..SHARDS * 2).map(|_| next_shard()).collect();
        assert!(
            picked.iter().all(|s| (0..SHARDS as i16).contains(s)),
            "{picked:?}"
        );
        // Round-robin covers every shard in 32 picks; other tests of this binary may take some in between, so
        // only spreading at all is certain.
        let distinct: std::collections::BTreeSet<i16> = picked.iter().copied().collect();
        assert!(distinct.len() > 1, "{picked:?}");
    }
}
