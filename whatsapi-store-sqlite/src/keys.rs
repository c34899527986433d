//! Answers the lookups of every API request (`CustomerStore::customer_by_key_hash`, then
//! `TenantStore::recent_account`) from memory while nothing they read has changed.
//!
//! Looking a customer up by key hash on a reader connection costs a hand-off to a blocking thread and back, and a
//! reader whose page cache every commit of the writer has invalidated. It was the largest cost of an accepted
//! send after the insert itself (see BENCHMARKS.md). The file keeps a counter (`auth_version`, migration 0004)
//! that triggers move whenever an account is created, removed, or changed in anything but `messages_sent`, by
//! this process or any other (the operator commands run beside the server). A cached answer is used only while
//! the counter still has the value read before that answer was: reading the counter is one row on a connection
//! of its own, in the calling task, with no thread hand-off. So a rotated key or a deactivated account is
//! refused on the very next request, as without the cache; only `messages_sent` of a cached account may lag.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;
use whatsapi_core::{Account, AccountId};
use whatsapi_saas::{Customer, KeyHash};

/// Cached entries beyond this many are dropped all at once (they are found again on their next request).
const MAX_ENTRIES: usize = 10_000;

/// Answers read under a value of the counter, valid while it keeps that value.
struct Entries<K, V>(Mutex<HashMap<K, (i64, V)>>);

impl<K: std::hash::Hash + Eq, V: Clone> Entries<K, V> {
    fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }

    fn get(&self, key: &K, version: i64) -> Option<V> {
        let entries = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some((v, value)) if *v == version => Some(value.clone()),
            _ => None,
        }
    }

    fn put(&self, key: K, version: i64, value: V) {
        let mut entries = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (version, value));
    }
}

pub(crate) struct KeyCache {
    /// Reads `auth_version`; `None` when the file's schema has no counter (an old version opened for a test).
    probe: Option<Mutex<Connection>>,
    customers: Entries<KeyHash, Customer>,
    /// The accounts of authenticated requests (`TenantStore::recent_account`), by id.
    accounts: Entries<AccountId, Account>,
}

impl KeyCache {
    /// A cache reading the counter through `conn`, a read-only connection of its own to the store's file. It never
    /// answers when the counter cannot be read (a file opened at an older schema version, for a test).
    pub(crate) fn new(conn: Connection) -> Self {
        // Never make a request wait on a lock for the counter: a busy file is read the usual way instead.
        let usable = conn.busy_timeout(Duration::ZERO).is_ok() && read_version(&conn).is_ok();
        Self {
            probe: usable.then(|| Mutex::new(conn)),
            customers: Entries::new(),
            accounts: Entries::new(),
        }
    }

    /// A cache that never answers (its connection could not be opened).
    pub(crate) fn disabled() -> Self {
        Self {
            probe: None,
            customers: Entries::new(),
            accounts: Entries::new(),
        }
    }

    /// The counter now, or `None` when it cannot be read at once (the caller then reads the store directly).
    pub(crate) fn version(&self) -> Option<i64> {
        let probe = self.probe.as_ref()?;
        let conn = probe.lock().unwrap_or_else(|p| p.into_inner());
        read_version(&conn).ok()
    }

    /// The customer cached for `hash` if it was read under `version`.
    pub(crate) fn get(&self, hash: &KeyHash, version: i64) -> Option<Customer> {
        self.customers.get(hash, version)
    }

    /// Remembers `customer`, read after the counter showed `version`.
    pub(crate) fn put(&self, hash: KeyHash, version: i64, customer: Customer) {
        self.customers.put(hash, version, customer);
    }

    /// The account cached for `id` if it was read under `version` (its `messages_sent` may lag).
    pub(crate) fn account(&self, id: AccountId, version: i64) -> Option<Account> {
        self.accounts.get(&id, version)
    }

    /// Remembers `account`, read after the counter showed `version`.
    pub(crate) fn put_account(&self, version: i64, account: Account) {
        self.accounts.put(account.id, version, account);
    }
}

fn read_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT n FROM auth_version WHERE id = 1")?
        .query_row([], |r| r.get(0))
}

/// Opens the counter's connection for the file at `path` with `open` (the store's reader settings).
pub(crate) fn open(
    path: &Path,
    open: impl Fn(&Path) -> crate::error::Result<Connection>,
) -> KeyCache {
    open(path).map_or_else(|_| KeyCache::disabled(), KeyCache::new)
}
