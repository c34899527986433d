//! The product store conformance suite: public async functions every store crate runs for the product traits
//! ([`CustomerStore`], [`BillingEventStore`], [`RateWindowStore`]), beside core's suite for the engine traits.
//! Each check takes [`ProductStores`], two handles onto one fresh, empty backend, and panics with a message saying
//! what broke. A backend crate runs them all with one line in a test file:
//!
//! ```ignore
//! async fn make() -> whatsapi_saas::testing::conformance::ProductStores { /* a fresh store, twice */ }
//! whatsapi_saas::product_conformance_tests!(make);
//! ```
//!
//! [`run_all`] runs the same checks in one call; both read the one list in `product_conformance_checks!`.
//!
//! **Not semver-stable.** The checks and their names change whenever the store contract does.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use whatsapi_core::store::{Store, StoreError, StoreResult};
use whatsapi_core::testing::conformance::{at, base_time, sample_account};
use whatsapi_core::{Account, AccountId};

use crate::customer::{Customer, CustomerUpdate, NewCustomer};
use crate::key::ApiKey;
use crate::plan::Plan;
use crate::store::ProductStore;

/// Two handles onto one backend: its engine half and its product half.
#[derive(Clone)]
pub struct ProductStores {
    /// The engine's traits.
    pub tenants: Arc<dyn Store>,
    /// The product's traits.
    pub product: Arc<dyn ProductStore>,
}

impl std::fmt::Debug for ProductStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductStores").finish_non_exhaustive()
    }
}

fn ok<T>(result: StoreResult<T>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what} failed: {e:?}"))
}

/// A new customer with a unique email, a fresh key and the free plan, created at [`base_time`].
pub fn sample_customer() -> NewCustomer {
    let account = sample_account();
    NewCustomer {
        email: format!("user-{}@example.com", account.id.0.simple()),
        plan: Plan::Free,
        key_hash: ApiKey::generate().hash(),
        account,
    }
}

/// Creates a [`sample_customer`].
pub async fn create_sample_customer(stores: &ProductStores) -> Customer {
    ok(
        stores.product.create_customer(sample_customer()).await,
        "create_customer",
    )
}

/// Customers are created with both halves (the engine's account and the product's fields) and found by id, key
/// hash and email (any case).
pub async fn customers_create_and_lookup(stores: ProductStores) {
    let new = NewCustomer {
        email: "Ops.Team@Example.com".into(),
        plan: Plan::Basic,
        ..sample_customer()
    };
    let created = ok(
        stores.product.create_customer(new.clone()).await,
        "create_customer",
    );
    assert_eq!(created, Customer::new(&new), "as Customer::new describes");
    assert_eq!(created.email, new.email, "the email is kept as given");
    assert_eq!(created.stripe_customer_id, None);
    assert_eq!(created.billing_event_at, None);
    assert_eq!(
        ok(stores.tenants.account(new.account.id).await, "account"),
        Some(Account::new(new.account.clone())),
        "the engine's half is created with it"
    );

    let other = create_sample_customer(&stores).await;
    let p = &stores.product;
    assert_eq!(
        ok(p.customer(new.account.id).await, "customer"),
        Some(created.clone())
    );
    assert_eq!(
        ok(p.customer_by_key_hash(&new.key_hash).await, "by key"),
        Some(created.clone())
    );
    for email in [
        "Ops.Team@Example.com",
        "ops.team@example.com",
        "OPS.TEAM@EXAMPLE.COM",
    ] {
        assert_eq!(
            ok(p.customer_by_email(email).await, "by email"),
            Some(created.clone()),
            "customer_by_email({email}) is case-insensitive"
        );
    }
    assert_eq!(
        ok(p.customer_by_key_hash(&other.key_hash).await, "by key").map(|c| c.id),
        Some(other.id)
    );
    assert_eq!(ok(p.customer(AccountId::new()).await, "customer"), None);
    assert_eq!(
        ok(
            p.customer_by_key_hash(&ApiKey::generate().hash()).await,
            "by key"
        ),
        None
    );
    assert_eq!(
        ok(p.customer_by_email("nobody@example.com").await, "by email"),
        None
    );
}

/// An account created through the engine alone has no product half: no customer, no key, and it takes no email.
pub async fn engine_accounts_are_not_customers(stores: ProductStores) {
    let account = ok(
        stores.tenants.create_account(sample_account()).await,
        "create_account",
    );
    assert_eq!(
        ok(stores.product.customer(account.id).await, "customer"),
        None
    );
    let customer = create_sample_customer(&stores).await;
    assert_eq!(
        ok(stores.product.customer(customer.id).await, "customer").map(|c| c.id),
        Some(customer.id),
        "customers beside engine-only accounts are found as before"
    );
    assert_eq!(
        stores
            .product
            .update_customer(account.id, CustomerUpdate::SetPlan(Plan::Pro))
            .await,
        Err(StoreError::NotFound),
        "an engine-only account is no customer to update"
    );
}

/// A second customer with the same email in another case is refused with `Conflict`, and neither half of it is
/// stored.
pub async fn customer_email_unique_case_insensitive(stores: ProductStores) {
    let p = &stores.product;
    let first = NewCustomer {
        email: "Dup.User@Example.com".into(),
        ..sample_customer()
    };
    ok(p.create_customer(first).await, "create_customer");
    let second = NewCustomer {
        email: "dup.user@example.COM".into(),
        ..sample_customer()
    };
    let err = p.create_customer(second.clone()).await;
    assert!(
        matches!(err, Err(StoreError::Conflict(_))),
        "same email in another case must be a Conflict, got {err:?}"
    );
    assert_eq!(
        ok(p.customer(second.account.id).await, "customer"),
        None,
        "a refused customer is not stored"
    );
    assert_eq!(
        ok(stores.tenants.account(second.account.id).await, "account"),
        None,
        "nor is its account"
    );
    let third = NewCustomer {
        email: "dup.user2@example.com".into(),
        ..sample_customer()
    };
    ok(p.create_customer(third).await, "another email is fine");
}

/// Every `CustomerUpdate` variant is applied and returned; the engine's half is untouched.
pub async fn customer_updates(stores: ProductStores) {
    let customer = create_sample_customer(&stores).await;
    let id = customer.id;
    let before = ok(stores.tenants.account(id).await, "account");
    let update = |u: CustomerUpdate| {
        let product = stores.product.clone();
        async move {
            let updated = ok(
                product.update_customer(id, u.clone()).await,
                "update_customer",
            );
            let fetched = ok(product.customer(id).await, "customer").expect("exists");
            assert_eq!(
                updated, fetched,
                "update_customer returns the stored customer ({u:?})"
            );
            updated
        }
    };
    let c = update(CustomerUpdate::SetPlan(Plan::Enterprise)).await;
    assert_eq!(c.plan, Plan::Enterprise);
    let c = update(CustomerUpdate::SetStripe {
        customer_id: Some("cus_123".into()),
        subscription_id: Some("sub_456".into()),
    })
    .await;
    assert_eq!(c.stripe_customer_id.as_deref(), Some("cus_123"));
    assert_eq!(c.stripe_subscription_id.as_deref(), Some("sub_456"));
    let c = update(CustomerUpdate::SetStripe {
        customer_id: Some("cus_123".into()),
        subscription_id: None,
    })
    .await;
    assert_eq!(c.stripe_subscription_id, None);
    assert_eq!(c.billing_event_at, None);
    let c = update(CustomerUpdate::ApplyBilling {
        plan: Plan::Pro,
        customer_id: Some("cus_9".into()),
        subscription_id: Some("sub_9".into()),
        event_at: at(77),
    })
    .await;
    assert_eq!(c.plan, Plan::Pro);
    assert_eq!(c.stripe_customer_id.as_deref(), Some("cus_9"));
    assert_eq!(c.stripe_subscription_id.as_deref(), Some("sub_9"));
    assert_eq!(c.billing_event_at, Some(at(77)));
    assert_eq!(c.email, customer.email);
    assert_eq!(c.key_hash, customer.key_hash);
    assert_eq!(
        ok(stores.tenants.account(id).await, "account"),
        before,
        "the engine's half is untouched"
    );
    let missing = stores
        .product
        .update_customer(AccountId::new(), CustomerUpdate::SetPlan(Plan::Pro))
        .await;
    assert_eq!(missing, Err(StoreError::NotFound));
}

/// `rotate_key` is a compare-and-swap: only a caller that knows the current hash wins, exactly once.
pub async fn rotate_key_compare_and_swap(stores: ProductStores) {
    let store = stores.product.clone();
    let customer = create_sample_customer(&stores).await;
    let old = customer.key_hash;
    let new = ApiKey::generate().hash();
    ok(
        store.rotate_key(customer.id, &old, &new).await,
        "rotate_key",
    );
    assert_eq!(
        ok(store.customer_by_key_hash(&old).await, "by key"),
        None,
        "the old key no longer authenticates"
    );
    assert_eq!(
        ok(store.customer_by_key_hash(&new).await, "by key").map(|c| c.key_hash),
        Some(new)
    );
    let again = store
        .rotate_key(customer.id, &old, &ApiKey::generate().hash())
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "rotating from a stale hash must be a Conflict, got {again:?}"
    );
    assert_eq!(
        store
            .rotate_key(AccountId::new(), &old, &ApiKey::generate().hash())
            .await,
        Err(StoreError::NotFound)
    );

    // Eight concurrent rotations from the same current hash: exactly one wins.
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        let candidate = ApiKey::generate().hash();
        tasks.spawn(async move {
            (
                candidate,
                store.rotate_key(customer.id, &new, &candidate).await,
            )
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (candidate, result) = joined.expect("task panicked");
        match result {
            Ok(()) => winners.push(candidate),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("concurrent rotate_key: unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one concurrent rotation must win");
    let current = ok(store.customer(customer.id).await, "customer").expect("exists");
    assert_eq!(current.key_hash, winners[0]);
}

/// `record_external_event` is true once per (source, id), also under concurrency, and sources are separate.
pub async fn external_events_recorded_once(stores: ProductStores) {
    let store = stores.product;
    assert!(ok(
        store.record_external_event("stripe", "evt_1", at(0)).await,
        "record_external_event"
    ));
    assert!(
        !ok(
            store.record_external_event("stripe", "evt_1", at(5)).await,
            "record_external_event"
        ),
        "a repeat is reported as such"
    );
    assert!(
        ok(
            store.record_external_event("other", "evt_1", at(5)).await,
            "record_external_event"
        ),
        "the same id from another source is another event"
    );
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .record_external_event("stripe", "evt_race", at(9))
                .await
        });
    }
    let mut firsts = 0;
    while let Some(joined) = tasks.join_next().await {
        if ok(joined.expect("task panicked"), "record_external_event") {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1, "exactly one concurrent caller records the event");
}

/// `apply_external_event` records the event and applies its change in one transaction: once per (source, id),
/// sharing the record with `record_external_event`; a repeat changes nothing, also under concurrency; and a
/// failed apply (an unknown customer) leaves the event unrecorded.
pub async fn external_event_applied_with_its_change(stores: ProductStores) {
    let customer = create_sample_customer(&stores).await;
    let store = stores.product.clone();
    let apply = |id: &'static str, account: AccountId, plan: Plan| {
        let store = store.clone();
        async move {
            store
                .apply_external_event("stripe", id, at(1), account, CustomerUpdate::SetPlan(plan))
                .await
        }
    };
    let plan = |store: Arc<dyn ProductStore>| async move {
        ok(store.customer(customer.id).await, "customer")
            .expect("exists")
            .plan
    };

    let applied = ok(
        apply("evt_a", customer.id, Plan::Pro).await,
        "apply_external_event",
    )
    .expect("the first time it is applied");
    assert_eq!((applied.id, applied.plan), (customer.id, Plan::Pro));
    assert_eq!(plan(store.clone()).await, Plan::Pro, "and stored");
    assert_eq!(
        ok(
            apply("evt_a", customer.id, Plan::Basic).await,
            "apply_external_event"
        ),
        None,
        "a repeat answers None"
    );
    assert_eq!(plan(store.clone()).await, Plan::Pro, "and changes nothing");
    assert!(
        !ok(
            store.record_external_event("stripe", "evt_a", at(2)).await,
            "record_external_event"
        ),
        "the applied event is recorded"
    );
    assert!(ok(
        store.record_external_event("stripe", "evt_b", at(2)).await,
        "record_external_event"
    ));
    assert_eq!(
        ok(
            apply("evt_b", customer.id, Plan::Basic).await,
            "apply_external_event"
        ),
        None,
        "an event recorded as changing nothing is not applied later"
    );
    assert_eq!(plan(store.clone()).await, Plan::Pro);

    match apply("evt_c", AccountId::new(), Plan::Basic).await {
        Err(StoreError::NotFound) => {}
        other => panic!("an unknown customer is NotFound, got {other:?}"),
    }
    assert!(
        ok(
            store.record_external_event("stripe", "evt_c", at(3)).await,
            "record_external_event"
        ),
        "a failed apply records nothing, so the event's retry is handled"
    );

    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        tasks.spawn(apply("evt_race", customer.id, Plan::Basic));
    }
    let mut firsts = 0;
    while let Some(joined) = tasks.join_next().await {
        if ok(joined.expect("task panicked"), "apply_external_event").is_some() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1, "exactly one concurrent caller applies the event");
    assert_eq!(plan(store.clone()).await, Plan::Basic);
}

/// Rate windows count hits per bucket and window start, also under concurrency.
pub async fn rate_windows_count_hits(stores: ProductStores) {
    let store = stores.product;
    let hit = |bucket: &'static str, start: DateTime<Utc>| {
        let store = store.clone();
        async move {
            ok(
                store.hit_rate_window(bucket, start).await,
                "hit_rate_window",
            )
        }
    };
    assert_eq!(hit("key:a", at(0)).await, 1);
    assert_eq!(hit("key:a", at(0)).await, 2);
    assert_eq!(hit("key:a", at(0)).await, 3);
    assert_eq!(hit("key:a", at(60)).await, 1, "a new window starts at 1");
    assert_eq!(hit("key:b", at(0)).await, 1, "buckets are independent");

    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..25 {
                seen.push(ok(
                    store.hit_rate_window("key:c", at(0)).await,
                    "hit_rate_window",
                ));
            }
            seen
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.expect("task panicked"));
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=200).collect::<Vec<u64>>(),
        "concurrent hits each get a distinct count"
    );
}

/// `purge_rate_windows` removes the windows that started at or before the cutoff, and only those.
pub async fn rate_windows_purged_by_start(stores: ProductStores) {
    let store = stores.product;
    let now = base_time() + chrono::Duration::days(1);
    let hour = chrono::Duration::hours(1);
    ok(store.hit_rate_window("key:p", now - hour * 2).await, "hit");
    ok(store.hit_rate_window("key:p", now - hour).await, "hit");
    ok(
        store
            .hit_rate_window("key:p", now - chrono::Duration::minutes(10))
            .await,
        "hit",
    );
    assert_eq!(
        ok(store.purge_rate_windows(now - hour).await, "purge"),
        2,
        "the windows at and before the cutoff"
    );
    assert_eq!(ok(store.purge_rate_windows(now - hour).await, "purge"), 0);
    assert_eq!(
        ok(store.hit_rate_window("key:p", now - hour * 2).await, "hit"),
        1,
        "a purged window starts over"
    );
    assert_eq!(
        ok(
            store
                .hit_rate_window("key:p", now - chrono::Duration::minutes(10))
                .await,
            "hit"
        ),
        2,
        "a later window is kept"
    );
}

/// The names of every check, in the order [`run_all`] runs them.
pub fn check_names() -> &'static [&'static str] {
    crate::__product_conformance_list!(names)
}

/// Runs every check, each on fresh stores from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ProductStores>,
{
    crate::__product_conformance_list!(run make)
}

/// The one list of checks, expanded (by core's `__conformance_expand!`) for [`run_all`], [`check_names`] and
/// [`product_conformance_tests!`](crate::product_conformance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __product_conformance_list {
    ($($mode:tt)*) => {
        $crate::__core::__conformance_expand! {[$($mode)*] {$crate::testing::conformance}
            customers_create_and_lookup,
            engine_accounts_are_not_customers,
            customer_email_unique_case_insensitive,
            customer_updates,
            rotate_key_compare_and_swap,
            external_events_recorded_once,
            external_event_applied_with_its_change,
            rate_windows_count_hits,
            rate_windows_purged_by_start,
        }
    };
}

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per product conformance check,
/// each calling `$make().await` for fresh [`ProductStores`](crate::testing::conformance::ProductStores). The
/// fixture form, `product_conformance_tests!(fixture make, finish)`, is core's `store_conformance_tests!` one:
/// `make().await` returns `Option<(ProductStores, F)>` and `finish(f).await` cleans up after a check that passed.
#[macro_export]
macro_rules! product_conformance_tests {
    ($make:path) => {
        $crate::__product_conformance_list!(tests $make);
    };
    (fixture $make:path, $finish:path) => {
        $crate::__product_conformance_list!(fixture_tests $make, $finish);
    };
}
