//! The store conformance suite: public async functions every `Store` implementation runs from its tests.
//!
//! Each check takes a fresh, empty store and panics with a message saying what broke. Times are explicit offsets
//! from [`base_time`]; nothing sleeps. A backend crate runs the whole suite with one line in a test file:
//!
//! ```ignore
//! async fn make() -> std::sync::Arc<dyn whatsapi_core::Store> { /* a fresh store */ }
//! whatsapi_core::store_conformance_tests!(make);
//! ```
//!
//! The macro expands to one `#[tokio::test(flavor = "multi_thread")]` per check, so the calling crate needs
//! `tokio` (with `macros` and `rt-multi-thread`) among its dev-dependencies.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::task::JoinSet;

use crate::account::{
    Account, AccountId, AccountUpdate, ApiKey, BreakerState, CredentialsStatus, MetaCredentials,
    NewAccount, Plan, WebhookConfig,
};
use crate::idempotency::{Decision, Fingerprint, IdempotencyKey, StoredResponse};
use crate::message::{BatchId, Message, MessageContent, MessageId, NewMessage, Status};
use crate::phone::PhoneNumber;
use crate::status::MetaStatus;
use crate::store::{
    ClaimLimits, Claimed, DEFAULT_MAX_PENDING_STATUSES, EventNext, FailureInfo,
    IdempotencyCompletion, MessageFilter, NewBatch, Outcome, PageRequest, PurgePolicy,
    StatusApplied, StatusCounts, StatusUpdate, Store, StoreError, StoreResult,
};
use crate::webhook::{DeliveryAttempt, StatusEventData};

// ---------------------------------------------------------------------------------------------------------------
// Builders shared with other crates' tests
// ---------------------------------------------------------------------------------------------------------------

/// The lease every check claims with.
pub const LEASE: Duration = Duration::from_secs(30);

/// 2026-01-01T00:00:00Z, the time every check counts from.
pub fn base_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .expect("valid constant")
        .with_timezone(&Utc)
}

/// [`base_time`] plus `secs` seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    base_time() + chrono::Duration::seconds(secs)
}

/// A new account with a unique email, a fresh key and the free plan, created at [`base_time`].
pub fn sample_account() -> NewAccount {
    let id = AccountId::new();
    NewAccount {
        id,
        name: "Acme Test".into(),
        email: format!("user-{}@example.com", id.0.simple()),
        plan: Plan::Free,
        key_hash: ApiKey::generate().hash(),
        created_at: base_time(),
    }
}

/// A queued text message of `account` to `to` (E.164 digits), created at [`base_time`], with metadata.
pub fn sample_message(account: AccountId, to: &str) -> NewMessage {
    let mut metadata = serde_json::Map::new();
    metadata.insert("orderId".into(), json!("1234"));
    NewMessage {
        id: MessageId::new(),
        account_id: account,
        batch_id: None,
        to: PhoneNumber::parse(to).expect("sample_message needs an E.164 number"),
        content: MessageContent::Text {
            body: "Hi Sarah! Your order #1234 has shipped.".into(),
        },
        send_at: None,
        metadata: Some(metadata),
        dry_run: false,
        created_at: base_time(),
    }
}

/// A message like [`sample_message`] created `secs` seconds after [`base_time`].
pub fn message_at(account: AccountId, to: &str, secs: i64) -> NewMessage {
    NewMessage {
        created_at: at(secs),
        ..sample_message(account, to)
    }
}

/// A customer webhook target.
pub fn sample_webhook() -> WebhookConfig {
    WebhookConfig {
        url: "https://hooks.example.com/whatsapi".into(),
        secret: "whsec_dGVzdHNlY3JldA==".into(),
    }
}

/// Meta credentials for `phone_number_id`.
pub fn sample_credentials(phone_number_id: &str) -> MetaCredentials {
    MetaCredentials {
        waba_id: None,
        verify_token_hash: None,
        access_token: "EAAG-test-token".into(),
        phone_number_id: phone_number_id.into(),
        app_secret: Some("app-secret".into()),
        verify_token: None,
    }
}

/// Creates a [`sample_account`].
pub async fn create_sample_account(store: &dyn Store) -> Account {
    ok(
        store.create_account(sample_account()).await,
        "create_account",
    )
}

/// Creates a [`sample_account`] with [`sample_webhook`] configured.
pub async fn create_account_with_webhook(store: &dyn Store) -> Account {
    let account = create_sample_account(store).await;
    ok(
        store
            .update_account(account.id, AccountUpdate::SetWebhook(sample_webhook()))
            .await,
        "update_account(SetWebhook)",
    )
}

/// Inserts `messages` of `account` in one batch without an idempotency record.
pub async fn insert(store: &dyn Store, account: AccountId, messages: Vec<NewMessage>) {
    ok(
        store
            .insert_messages(NewBatch {
                account_id: account,
                messages,
                idempotency: None,
            })
            .await,
        "insert_messages",
    );
}

/// Claims at `now` and asserts that exactly the message `id` was claimed.
pub async fn claim_only(store: &dyn Store, id: MessageId, now: DateTime<Utc>) -> Claimed {
    let mut claimed = ok(store.claim_due(now, LEASE, 100).await, "claim_due");
    assert_eq!(
        claimed.len(),
        1,
        "expected to claim exactly message {id} at {now}, got {:?}",
        claim_ids(&claimed)
    );
    let c = claimed.remove(0);
    assert_eq!(c.message.id, id, "claimed the wrong message");
    c
}

/// Inserts one message (created at `at(created)`), claims it at `now` and records `Sent { wamid }`.
/// Only for stores where nothing else is due.
pub async fn sent_message(
    store: &dyn Store,
    account: AccountId,
    wamid: &str,
    created: i64,
    now: DateTime<Utc>,
) -> Message {
    let m = message_at(account, "14155552671", created);
    let id = m.id;
    insert(store, account, vec![m]).await;
    let c = claim_only(store, id, now).await;
    ok(
        store
            .record_outcome(
                id,
                c.message.attempt,
                Outcome::Sent {
                    wamid: wamid.into(),
                },
                now,
            )
            .await,
        "record_outcome(Sent)",
    )
}

/// A Meta status update for `wamid` at `when`, not scoped to an account.
pub fn meta_update(wamid: &str, status: MetaStatus, when: DateTime<Utc>) -> StatusUpdate {
    StatusUpdate {
        pricing: None,
        account_id: None,
        wamid: wamid.into(),
        status,
        at: when,
        error: None,
    }
}

/// A delivery attempt of `event` recorded at `when`.
pub fn sample_attempt(event: &crate::store::OutboxEvent, when: DateTime<Utc>) -> DeliveryAttempt {
    DeliveryAttempt {
        event_id: event.id,
        message_id: event.data.message_id,
        status: event.status,
        url: sample_webhook().url,
        at: when,
        http_status: Some(200),
        error: None,
        duration_ms: 12,
    }
}

fn ok<T>(result: StoreResult<T>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what} failed: {e:?}"))
}

fn claim_ids(claimed: &[Claimed]) -> Vec<MessageId> {
    claimed.iter().map(|c| c.message.id).collect()
}

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::parse(s).expect("valid key")
}

fn fingerprint(n: i64) -> Fingerprint {
    Fingerprint::of("POST", "/send-message", &json!({ "n": n }))
}

fn response(n: i64) -> StoredResponse {
    StoredResponse {
        status: 202,
        body: json!({ "success": true, "n": n }),
    }
}

fn failure(message: &str, code: Option<i64>) -> FailureInfo {
    FailureInfo {
        meta: None,
        message: message.into(),
        code,
    }
}

/// Counts without zero entries, so backends that report zeros and those that omit them compare equal.
fn nonzero(counts: &StatusCounts) -> StatusCounts {
    counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| (*s, *n))
        .collect()
}

fn counts_of(pairs: &[(Status, u64)]) -> StatusCounts {
    pairs.iter().copied().filter(|(_, n)| *n > 0).collect()
}

async fn get(store: &dyn Store, account: AccountId, id: MessageId) -> Message {
    ok(store.get_message(account, id).await, "get_message")
        .unwrap_or_else(|| panic!("message {id} should exist for its account"))
}

async fn all_messages(store: &dyn Store, account: AccountId) -> Vec<Message> {
    ok(
        store
            .list_messages(
                account,
                &MessageFilter::default(),
                PageRequest {
                    page: 1,
                    limit: 100_000,
                },
            )
            .await,
        "list_messages",
    )
    .items
}

// ---------------------------------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------------------------------

/// Accounts are created with the documented defaults and found by id, key hash and email (any case).
pub async fn accounts_create_and_lookup(store: Arc<dyn Store>) {
    let new = NewAccount {
        email: "Ops.Team@Example.com".into(),
        plan: Plan::Basic,
        ..sample_account()
    };
    let created = ok(store.create_account(new.clone()).await, "create_account");
    assert_eq!(created.id, new.id);
    assert_eq!(created.name, new.name);
    assert_eq!(created.email, new.email, "the email is kept as given");
    assert_eq!(created.plan, Plan::Basic);
    assert_eq!(created.key_hash, new.key_hash);
    assert!(created.active, "a new account is active");
    assert_eq!(created.messages_sent, 0);
    assert_eq!(created.credentials, None);
    assert_eq!(created.credentials_status, CredentialsStatus::Unverified);
    assert_eq!(created.webhook, None);
    assert!(!created.strict_window);
    assert_eq!(created.breaker, BreakerState::default());
    assert_eq!(created.stripe_customer_id, None);
    assert_eq!(created.stripe_subscription_id, None);
    assert_eq!(created.billing_event_at, None);
    assert_eq!(created.created_at, new.created_at);

    let other = create_sample_account(&*store).await;

    assert_eq!(
        ok(store.account(new.id).await, "account"),
        Some(created.clone())
    );
    assert_eq!(
        ok(store.account_by_key_hash(&new.key_hash).await, "by key"),
        Some(created.clone())
    );
    for email in [
        "Ops.Team@Example.com",
        "ops.team@example.com",
        "OPS.TEAM@EXAMPLE.COM",
    ] {
        assert_eq!(
            ok(store.account_by_email(email).await, "by email"),
            Some(created.clone()),
            "account_by_email({email}) is case-insensitive"
        );
    }
    assert_eq!(
        ok(store.account_by_key_hash(&other.key_hash).await, "by key").map(|a| a.id),
        Some(other.id)
    );
    assert_eq!(ok(store.account(AccountId::new()).await, "account"), None);
    assert_eq!(
        ok(
            store.account_by_key_hash(&ApiKey::generate().hash()).await,
            "by key"
        ),
        None
    );
    assert_eq!(
        ok(
            store.account_by_email("nobody@example.com").await,
            "by email"
        ),
        None
    );
}

/// A second account with the same email in another case is refused with `Conflict`.
pub async fn account_email_unique_case_insensitive(store: Arc<dyn Store>) {
    let first = NewAccount {
        email: "Dup.User@Example.com".into(),
        ..sample_account()
    };
    ok(store.create_account(first).await, "create_account");
    let second = NewAccount {
        email: "dup.user@example.COM".into(),
        ..sample_account()
    };
    let err = store.create_account(second.clone()).await;
    assert!(
        matches!(err, Err(StoreError::Conflict(_))),
        "same email in another case must be a Conflict, got {err:?}"
    );
    assert_eq!(
        ok(store.account(second.id).await, "account"),
        None,
        "a refused account is not stored"
    );
    let third = NewAccount {
        email: "dup.user2@example.com".into(),
        ..sample_account()
    };
    ok(store.create_account(third).await, "another email is fine");
}

/// Every `AccountUpdate` variant is applied and returned; credentials route by phone number id.
pub async fn account_updates(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let id = account.id;
    let update = |u: AccountUpdate| {
        let store = store.clone();
        async move {
            let updated = ok(store.update_account(id, u.clone()).await, "update_account");
            let fetched = ok(store.account(id).await, "account").expect("exists");
            assert_eq!(
                updated, fetched,
                "update_account returns the stored account ({u:?})"
            );
            updated
        }
    };

    let a = update(AccountUpdate::SetCredentials(sample_credentials("pn-111"))).await;
    assert_eq!(a.credentials, Some(sample_credentials("pn-111")));
    assert_eq!(a.credentials_status, CredentialsStatus::Unverified);
    assert_eq!(
        ok(store.account_by_phone_number_id("pn-111").await, "by pn").map(|a| a.id),
        Some(id)
    );
    assert_eq!(
        ok(store.account_by_phone_number_id("pn-999").await, "by pn"),
        None
    );

    let verified = CredentialsStatus::Verified {
        verified_name: "Acme".into(),
        display_phone_number: "+1 555-000-1234".into(),
        quality_rating: Some("GREEN".into()),
        at: at(10),
    };
    let a = update(AccountUpdate::SetCredentialsStatus(verified.clone())).await;
    assert_eq!(a.credentials_status, verified);
    let a = update(AccountUpdate::SetCredentials(sample_credentials("pn-222"))).await;
    assert_eq!(
        a.credentials_status,
        CredentialsStatus::Unverified,
        "new credentials are unverified again"
    );
    assert_eq!(
        ok(store.account_by_phone_number_id("pn-111").await, "by pn"),
        None,
        "old phone number id no longer routes"
    );
    assert_eq!(
        ok(store.account_by_phone_number_id("pn-222").await, "by pn").map(|a| a.id),
        Some(id)
    );
    let invalid = CredentialsStatus::Invalid {
        reason: "token expired".into(),
        at: at(20),
    };
    let a = update(AccountUpdate::SetCredentialsStatus(invalid.clone())).await;
    assert_eq!(a.credentials_status, invalid);
    let a = update(AccountUpdate::ReplaceCredentials(sample_credentials(
        "pn-333",
    )))
    .await;
    assert_eq!(a.credentials, Some(sample_credentials("pn-333")));
    assert_eq!(
        a.credentials_status, invalid,
        "replacing credentials (re-encryption) keeps their status"
    );
    assert_eq!(
        ok(store.account_by_phone_number_id("pn-333").await, "by pn").map(|a| a.id),
        Some(id)
    );
    let a = update(AccountUpdate::ClearCredentials).await;
    assert_eq!(a.credentials, None);
    assert_eq!(
        ok(store.account_by_phone_number_id("pn-222").await, "by pn"),
        None
    );

    let a = update(AccountUpdate::SetWebhook(sample_webhook())).await;
    assert_eq!(a.webhook, Some(sample_webhook()));
    let a = update(AccountUpdate::ClearWebhook).await;
    assert_eq!(a.webhook, None);
    let a = update(AccountUpdate::SetPlan(Plan::Enterprise)).await;
    assert_eq!(a.plan, Plan::Enterprise);
    let a = update(AccountUpdate::SetActive(false)).await;
    assert!(!a.active);
    let a = update(AccountUpdate::SetActive(true)).await;
    assert!(a.active);
    let a = update(AccountUpdate::SetStrictWindow(true)).await;
    assert!(a.strict_window);
    let breaker = BreakerState {
        consecutive_failures: 5,
        open_until: Some(at(300)),
        trips: 2,
    };
    let a = update(AccountUpdate::SetBreaker(breaker)).await;
    assert_eq!(a.breaker, breaker);
    let a = update(AccountUpdate::SetStripe {
        customer_id: Some("cus_123".into()),
        subscription_id: Some("sub_456".into()),
    })
    .await;
    assert_eq!(a.stripe_customer_id.as_deref(), Some("cus_123"));
    assert_eq!(a.stripe_subscription_id.as_deref(), Some("sub_456"));
    let a = update(AccountUpdate::SetStripe {
        customer_id: Some("cus_123".into()),
        subscription_id: None,
    })
    .await;
    assert_eq!(a.stripe_subscription_id, None);
    assert_eq!(a.billing_event_at, None);
    let a = update(AccountUpdate::ApplyBilling {
        plan: Plan::Pro,
        customer_id: Some("cus_9".into()),
        subscription_id: Some("sub_9".into()),
        event_at: at(77),
    })
    .await;
    assert_eq!(a.plan, Plan::Pro);
    assert_eq!(a.stripe_customer_id.as_deref(), Some("cus_9"));
    assert_eq!(a.stripe_subscription_id.as_deref(), Some("sub_9"));
    assert_eq!(a.billing_event_at, Some(at(77)));

    // Fields not touched by any of these stay as they were.
    assert_eq!(a.email, account.email);
    assert_eq!(a.key_hash, account.key_hash);
    assert_eq!(a.created_at, account.created_at);

    let missing = store
        .update_account(AccountId::new(), AccountUpdate::SetActive(false))
        .await;
    assert_eq!(missing, Err(StoreError::NotFound));
}

/// `rotate_key` is a compare-and-swap: only a caller that knows the current hash wins, exactly once.
pub async fn rotate_key_compare_and_swap(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let old = account.key_hash;
    let new = ApiKey::generate().hash();
    ok(store.rotate_key(account.id, &old, &new).await, "rotate_key");
    assert_eq!(
        ok(store.account_by_key_hash(&old).await, "by key"),
        None,
        "the old key no longer authenticates"
    );
    assert_eq!(
        ok(store.account_by_key_hash(&new).await, "by key").map(|a| a.key_hash),
        Some(new)
    );
    let again = store
        .rotate_key(account.id, &old, &ApiKey::generate().hash())
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
                store.rotate_key(account.id, &new, &candidate).await,
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
    let current = ok(store.account(account.id).await, "account").expect("exists");
    assert_eq!(current.key_hash, winners[0]);
}

/// `list_accounts` walks every account once in ascending id order, page by page.
pub async fn list_accounts_pages_by_id(store: Arc<dyn Store>) {
    assert_eq!(
        ok(store.list_accounts(None, 10).await, "list_accounts"),
        Vec::<Account>::new(),
        "an empty store lists nothing"
    );
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(create_sample_account(&*store).await);
    }
    let with_creds = ok(
        store
            .update_account(
                created[3].id,
                AccountUpdate::SetCredentials(sample_credentials("pn-list")),
            )
            .await,
        "update_account",
    );
    created[3] = with_creds;
    created.sort_by_key(|a| a.id);

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = ok(store.list_accounts(after, 3).await, "list_accounts");
        assert!(page.len() <= 3, "at most `limit` accounts per page");
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page);
    }
    assert_eq!(
        seen, created,
        "every account once, ascending by id, as stored"
    );
    let tail = ok(
        store.list_accounts(Some(created[5].id), 100).await,
        "list_accounts",
    );
    assert_eq!(tail, vec![created[6].clone()], "`after` is exclusive");
    assert_eq!(
        ok(store.list_accounts(None, 0).await, "list_accounts"),
        Vec::<Account>::new(),
        "limit 0 lists nothing"
    );
}

/// `record_external_event` is true once per (source, id), also under concurrency, and sources are separate.
pub async fn external_events_recorded_once(store: Arc<dyn Store>) {
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
/// failed apply (an unknown account) leaves the event unrecorded.
pub async fn external_event_applied_with_its_change(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let apply = |id: &'static str, account: AccountId, plan: Plan| {
        let store = store.clone();
        async move {
            store
                .apply_external_event("stripe", id, at(1), account, AccountUpdate::SetPlan(plan))
                .await
        }
    };
    let plan = |store: Arc<dyn Store>| async move {
        ok(store.account(account.id).await, "account")
            .expect("exists")
            .plan
    };

    let applied = ok(
        apply("evt_a", account.id, Plan::Pro).await,
        "apply_external_event",
    )
    .expect("the first time it is applied");
    assert_eq!((applied.id, applied.plan), (account.id, Plan::Pro));
    assert_eq!(plan(store.clone()).await, Plan::Pro, "and stored");
    assert_eq!(
        ok(
            apply("evt_a", account.id, Plan::Basic).await,
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
            apply("evt_b", account.id, Plan::Basic).await,
            "apply_external_event"
        ),
        None,
        "an event recorded as changing nothing is not applied later"
    );
    assert_eq!(plan(store.clone()).await, Plan::Pro);

    match apply("evt_c", AccountId::new(), Plan::Basic).await {
        Err(StoreError::NotFound) => {}
        other => panic!("an unknown account is NotFound, got {other:?}"),
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
        tasks.spawn(apply("evt_race", account.id, Plan::Basic));
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

// ---------------------------------------------------------------------------------------------------------------
// Messages: insert, read, list
// ---------------------------------------------------------------------------------------------------------------

/// Inserted messages start `queued` (or `scheduled`) with one timeline entry and counters; a batch is all or
/// nothing.
pub async fn insert_and_get_messages(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let batch = BatchId::new();
    let queued = NewMessage {
        batch_id: Some(batch),
        ..message_at(account.id, "14155552671", 5)
    };
    let scheduled = NewMessage {
        send_at: Some(at(3600)),
        dry_run: true,
        metadata: None,
        content: MessageContent::Template(crate::message::Template {
            name: "order_shipped".into(),
            language: "en_US".into(),
            components: Vec::new(),
        }),
        ..message_at(account.id, "447700900123", 6)
    };
    insert(&*store, account.id, vec![queued.clone(), scheduled.clone()]).await;

    let m = get(&*store, account.id, queued.id).await;
    assert_eq!(m.id, queued.id);
    assert_eq!(m.account_id, account.id);
    assert_eq!(m.batch_id, Some(batch));
    assert_eq!(m.to, queued.to);
    assert_eq!(m.content, queued.content);
    assert_eq!(m.status, Status::Queued);
    assert_eq!(m.scheduled_for, None);
    assert_eq!(m.metadata, queued.metadata);
    assert!(!m.dry_run);
    assert_eq!(m.wamid, None);
    assert_eq!((m.attempt, m.tries), (0, 0));
    assert_eq!(m.next_attempt_at, None);
    assert_eq!(m.lease_until, None);
    assert_eq!(
        (m.sent_at, m.delivered_at, m.read_at, m.failed_at),
        (None, None, None, None)
    );
    assert_eq!((m.error_message.clone(), m.error_code), (None, None));
    assert_eq!(m.created_at, at(5));
    assert_eq!(m.timeline.len(), 1, "one timeline entry: {:?}", m.timeline);
    assert_eq!(m.timeline[0].status, Status::Queued);
    assert_eq!(m.timeline[0].at, at(5));
    assert_eq!(m.timeline[0].detail, None);

    let s = get(&*store, account.id, scheduled.id).await;
    assert_eq!(s.status, Status::Scheduled);
    assert_eq!(s.scheduled_for, Some(at(3600)));
    assert!(s.dry_run);
    assert_eq!(s.metadata, None);
    assert_eq!(s.content, scheduled.content);
    assert_eq!(s.batch_id, None);
    assert_eq!(
        s.timeline
            .iter()
            .map(|e| (e.status, e.at))
            .collect::<Vec<_>>(),
        vec![(Status::Scheduled, at(6))]
    );

    let counts = counts_of(&[(Status::Queued, 1), (Status::Scheduled, 1)]);
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "status_counts")),
        counts
    );
    assert_eq!(
        ok(store.get_message(account.id, MessageId::new()).await, "get"),
        None
    );

    // All or nothing: one duplicate id refuses the whole batch.
    let fresh = message_at(account.id, "14155552671", 7);
    let result = store
        .insert_messages(NewBatch {
            account_id: account.id,
            messages: vec![fresh.clone(), queued.clone()],
            idempotency: None,
        })
        .await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "a duplicate message id must be a Conflict, got {result:?}"
    );
    assert_eq!(
        ok(store.get_message(account.id, fresh.id).await, "get"),
        None,
        "nothing of a refused batch is stored"
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "status_counts")),
        counts,
        "counters unchanged by a refused batch"
    );

    // An empty batch is fine; an unknown account is not.
    insert(&*store, account.id, Vec::new()).await;
    let ghost = AccountId::new();
    let result = store
        .insert_messages(NewBatch {
            account_id: ghost,
            messages: vec![sample_message(ghost, "14155552671")],
            idempotency: None,
        })
        .await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "inserting for an unknown account"
    );
}

/// Listings are newest first, paginated with the total, filterable by status and batch, without timelines.
pub async fn list_messages_pages_and_filters(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let batch = BatchId::new();
    let mut ids = Vec::new();
    let mut messages = Vec::new();
    for i in 0..25 {
        let m = NewMessage {
            batch_id: (i % 3 == 0).then_some(batch),
            send_at: (i % 5 == 4).then(|| at(10_000)),
            ..message_at(account.id, "14155552671", i)
        };
        ids.push(m.id);
        messages.push(m);
    }
    insert(&*store, account.id, messages).await;
    insert(
        &*store,
        other.id,
        vec![message_at(other.id, "14155552671", 100)],
    )
    .await;

    let list = |filter: MessageFilter, page: u32, limit: u32| {
        let store = store.clone();
        async move {
            ok(
                store
                    .list_messages(account.id, &filter, PageRequest { page, limit })
                    .await,
                "list_messages",
            )
        }
    };
    let pick = |idx: &[usize]| idx.iter().map(|i| ids[*i]).collect::<Vec<_>>();
    let page_ids =
        |p: &crate::store::Page<Message>| p.items.iter().map(|m| m.id).collect::<Vec<_>>();

    let p1 = list(MessageFilter::default(), 1, 10).await;
    assert_eq!(p1.total, 25);
    assert_eq!(
        page_ids(&p1),
        pick(&[24, 23, 22, 21, 20, 19, 18, 17, 16, 15]),
        "newest first"
    );
    assert!(
        p1.items.iter().all(|m| m.timeline.is_empty()),
        "listings leave timelines empty"
    );
    let p3 = list(MessageFilter::default(), 3, 10).await;
    assert_eq!(p3.total, 25);
    assert_eq!(page_ids(&p3), pick(&[4, 3, 2, 1, 0]));
    let p4 = list(MessageFilter::default(), 4, 10).await;
    assert_eq!(p4.total, 25, "total is reported past the last page");
    assert!(p4.items.is_empty());

    let scheduled = MessageFilter {
        status: Some(Status::Scheduled),
        batch_id: None,
    };
    let p = list(scheduled.clone(), 1, 20).await;
    assert_eq!(p.total, 5);
    assert_eq!(page_ids(&p), pick(&[24, 19, 14, 9, 4]));
    assert!(p.items.iter().all(|m| m.status == Status::Scheduled));
    let p = list(scheduled.clone(), 2, 2).await;
    assert_eq!((p.total, page_ids(&p)), (5, pick(&[14, 9])));

    let in_batch = MessageFilter {
        status: None,
        batch_id: Some(batch),
    };
    let p = list(in_batch, 1, 20).await;
    assert_eq!(p.total, 9);
    assert_eq!(page_ids(&p), pick(&[24, 21, 18, 15, 12, 9, 6, 3, 0]));

    let both = MessageFilter {
        status: Some(Status::Scheduled),
        batch_id: Some(batch),
    };
    let p = list(both, 1, 20).await;
    assert_eq!((p.total, page_ids(&p)), (2, pick(&[24, 9])));

    let none = MessageFilter {
        status: Some(Status::Failed),
        batch_id: None,
    };
    let p = list(none, 1, 20).await;
    assert_eq!((p.total, p.items.len()), (0, 0));
    let p = list(
        MessageFilter {
            status: None,
            batch_id: Some(BatchId::new()),
        },
        1,
        20,
    )
    .await;
    assert_eq!(p.total, 0, "unknown batch");
}

/// One account never sees or changes another's messages.
pub async fn tenant_isolation(store: Arc<dyn Store>) {
    let owner = create_sample_account(&*store).await;
    let stranger = create_sample_account(&*store).await;
    let m = sent_message(&*store, owner.id, "wamid.ISO1", 0, at(1)).await;
    let result = store
        .apply_status_updates(
            &[StatusUpdate {
                error: Some(failure("undeliverable", Some(131026))),
                ..meta_update("wamid.ISO1", MetaStatus::Failed, at(2))
            }],
            at(2),
            DEFAULT_MAX_PENDING_STATUSES,
        )
        .await;
    assert_eq!(
        ok(result, "apply_status_updates"),
        vec![StatusApplied::Applied(m.id, Status::Failed)]
    );

    assert_eq!(
        ok(store.get_message(stranger.id, m.id).await, "get"),
        None,
        "another account's message is invisible"
    );
    let listed = ok(
        store
            .list_messages(
                stranger.id,
                &MessageFilter::default(),
                PageRequest { page: 1, limit: 50 },
            )
            .await,
        "list",
    );
    assert_eq!((listed.total, listed.items.len()), (0, 0));
    assert_eq!(
        store.retry_message(stranger.id, m.id, at(3)).await,
        Err(StoreError::NotFound),
        "retrying another account's message"
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(stranger.id).await, "counts")),
        StatusCounts::new()
    );
    assert_eq!(
        get(&*store, owner.id, m.id).await.status,
        Status::Failed,
        "the stranger's retry changed nothing"
    );

    // A status routed to the wrong account does not touch the owner's message.
    let other = sent_message(&*store, owner.id, "wamid.ISO2", 10, at(11)).await;
    let routed = ok(
        store
            .apply_status_updates(
                &[StatusUpdate {
                    account_id: Some(stranger.id),
                    ..meta_update("wamid.ISO2", MetaStatus::Delivered, at(12))
                }],
                at(12),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply_status_updates",
    );
    assert_eq!(routed, vec![StatusApplied::Pending]);
    assert_eq!(get(&*store, owner.id, other.id).await.status, Status::Sent);
    let routed = ok(
        store
            .apply_status_updates(
                &[StatusUpdate {
                    account_id: Some(owner.id),
                    ..meta_update("wamid.ISO2", MetaStatus::Delivered, at(13))
                }],
                at(13),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply_status_updates",
    );
    assert_eq!(
        routed,
        vec![StatusApplied::Applied(other.id, Status::Delivered)]
    );
    assert_eq!(
        ok(store.retry_message(owner.id, m.id, at(20)).await, "retry").status,
        Status::Queued,
        "the owner can retry"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------------------------------------

/// `idempotency_begin` answers Fresh, InFlight, Conflict and Replay as `idempotency::decide` says, per account.
pub async fn idempotency_decisions(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let k = key("order-1234");
    let begin = |acct: AccountId, k: IdempotencyKey, fp: Fingerprint, now: DateTime<Utc>| {
        let store = store.clone();
        async move {
            ok(
                store.idempotency_begin(acct, &k, &fp, now).await,
                "idempotency_begin",
            )
        }
    };

    assert_eq!(
        begin(account.id, k.clone(), fingerprint(1), at(0)).await,
        Decision::Fresh
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(1), at(1)).await,
        Decision::InFlight
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(2), at(1)).await,
        Decision::Conflict
    );
    assert_eq!(
        begin(other.id, k.clone(), fingerprint(2), at(1)).await,
        Decision::Fresh,
        "keys are scoped per account"
    );

    ok(
        store.idempotency_release(account.id, &k).await,
        "idempotency_release",
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(1), at(2)).await,
        Decision::Fresh,
        "a released key is free"
    );

    let m = sample_message(account.id, "14155552671");
    ok(
        store
            .insert_messages(NewBatch {
                account_id: account.id,
                messages: vec![m.clone()],
                idempotency: Some(IdempotencyCompletion {
                    key: k.clone(),
                    fingerprint: fingerprint(1),
                    response: response(1),
                    expires_at: at(2) + chrono::Duration::hours(24),
                }),
            })
            .await,
        "insert_messages with completion",
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(1), at(3600)).await,
        Decision::Replay(response(1))
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(2), at(3600)).await,
        Decision::Conflict
    );
    ok(
        store.idempotency_release(account.id, &k).await,
        "idempotency_release",
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(1), at(3601)).await,
        Decision::Replay(response(1)),
        "release never drops a finished record"
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(1), at(2 + 24 * 3600)).await,
        Decision::Fresh,
        "an expired record frees the key"
    );

    // A reservation whose request died frees the key after the in-flight lock.
    let k2 = key("abandoned");
    assert_eq!(
        begin(account.id, k2.clone(), fingerprint(7), at(0)).await,
        Decision::Fresh
    );
    assert_eq!(
        begin(account.id, k2.clone(), fingerprint(7), at(59)).await,
        Decision::InFlight
    );
    assert_eq!(
        begin(account.id, k2.clone(), fingerprint(7), at(61)).await,
        Decision::Fresh
    );

    ok(
        store
            .idempotency_release(account.id, &key("never-used"))
            .await,
        "releasing an unknown key is a no-op",
    );
}

/// Completing a key that already holds a response is a `Conflict` and stores nothing.
pub async fn insert_conflicts_on_finished_key(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let k = key("bulk-7");
    assert_eq!(
        ok(
            store
                .idempotency_begin(account.id, &k, &fingerprint(1), at(0))
                .await,
            "begin"
        ),
        Decision::Fresh
    );
    let completion = IdempotencyCompletion {
        key: k.clone(),
        fingerprint: fingerprint(1),
        response: response(1),
        expires_at: at(24 * 3600),
    };
    let first = sample_message(account.id, "14155552671");
    ok(
        store
            .insert_messages(NewBatch {
                account_id: account.id,
                messages: vec![first.clone()],
                idempotency: Some(completion.clone()),
            })
            .await,
        "first insert",
    );
    let second = sample_message(account.id, "14155552671");
    let result = store
        .insert_messages(NewBatch {
            account_id: account.id,
            messages: vec![second.clone()],
            idempotency: Some(IdempotencyCompletion {
                response: response(2),
                ..completion
            }),
        })
        .await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "a finished key must refuse a second completion, got {result:?}"
    );
    assert_eq!(
        ok(store.get_message(account.id, second.id).await, "get"),
        None
    );
    assert_eq!(
        ok(
            store
                .idempotency_begin(account.id, &k, &fingerprint(1), at(10))
                .await,
            "begin"
        ),
        Decision::Replay(response(1)),
        "the first response stays"
    );
}

/// Eight concurrent `idempotency_begin` calls with one key: exactly one `Fresh`, the rest `InFlight`.
pub async fn concurrent_idempotency_begin_gives_one_fresh(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .idempotency_begin(account.id, &key("race"), &fingerprint(1), at(0))
                .await
        });
    }
    let mut fresh = 0;
    while let Some(joined) = tasks.join_next().await {
        match ok(joined.expect("task panicked"), "idempotency_begin") {
            Decision::Fresh => fresh += 1,
            Decision::InFlight => {}
            other => panic!("concurrent begin with one body answered {other:?}"),
        }
    }
    assert_eq!(fresh, 1, "exactly one concurrent begin is Fresh");
}

/// Eight concurrent inserts completing one key: exactly one set of messages is stored.
pub async fn concurrent_inserts_with_one_key_create_one_set(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let mut tasks = JoinSet::new();
    for n in 0..8 {
        let store = store.clone();
        let messages: Vec<NewMessage> = (0..3)
            .map(|i| message_at(account.id, "14155552671", n * 10 + i))
            .collect();
        tasks.spawn(async move {
            let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
            let result = store
                .insert_messages(NewBatch {
                    account_id: account.id,
                    messages,
                    idempotency: Some(IdempotencyCompletion {
                        key: key("same-key"),
                        fingerprint: fingerprint(1),
                        response: response(n),
                        expires_at: at(24 * 3600),
                    }),
                })
                .await;
            (ids, n, result)
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (ids, n, result) = joined.expect("task panicked");
        match result {
            Ok(()) => winners.push((ids, n)),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("concurrent insert: unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one concurrent insert wins");
    let (ids, n) = winners.remove(0);
    let mut stored: Vec<MessageId> = all_messages(&*store, account.id)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    stored.sort();
    let mut expected = ids;
    expected.sort();
    assert_eq!(stored, expected, "only the winner's messages are stored");
    assert_eq!(
        ok(
            store
                .idempotency_begin(account.id, &key("same-key"), &fingerprint(1), at(5))
                .await,
            "begin"
        ),
        Decision::Replay(response(n))
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Queued, 3)])
    );
}

/// Messages are counted per creation-time bucket and current status, only in `[from, to)` and only the account's.
pub async fn message_timeseries_buckets(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let stranger = ok(
        store
            .create_account(NewAccount {
                email: "stranger@example.com".into(),
                key_hash: ApiKey::generate().hash(),
                id: AccountId::new(),
                ..sample_account()
            })
            .await,
        "create_account",
    );
    // Hour buckets from base_time: two messages in hour 0, one in hour 2 (sent), one before `from`, one at `to`.
    sent_message(&*store, account.id, "wamid.TS", 7300, at(7301)).await;
    insert(
        &*store,
        account.id,
        vec![message_at(account.id, "14155550001", 10)],
    )
    .await;
    insert(
        &*store,
        account.id,
        vec![message_at(account.id, "14155550002", 3599)],
    )
    .await;
    insert(
        &*store,
        account.id,
        vec![message_at(account.id, "14155550003", -1)],
    )
    .await;
    insert(
        &*store,
        account.id,
        vec![message_at(account.id, "14155550004", 3 * 3600)],
    )
    .await;
    insert(
        &*store,
        stranger.id,
        vec![message_at(stranger.id, "14155550005", 20)],
    )
    .await;
    let series = ok(
        store
            .message_timeseries(account.id, at(0), at(3 * 3600), Duration::from_secs(3600))
            .await,
        "message_timeseries",
    );
    assert_eq!(
        series,
        vec![
            (at(0), counts_of(&[(Status::Queued, 2)])),
            (at(2 * 3600), counts_of(&[(Status::Sent, 1)])),
        ],
        "per bucket and status, half-open range, one account"
    );
    let none = ok(
        store
            .message_timeseries(
                account.id,
                at(10 * 3600),
                at(11 * 3600),
                Duration::from_secs(3600),
            )
            .await,
        "message_timeseries",
    );
    assert!(none.is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// Claims and outcomes
// ---------------------------------------------------------------------------------------------------------------

/// A claim sets `processing`, bumps attempt and tries, leases, moves counters, and adds no timeline entry.
pub async fn claim_sets_lease_attempt_and_tries(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = sample_message(account.id, "14155552671");
    insert(&*store, account.id, vec![m.clone()]).await;
    let c = claim_only(&*store, m.id, at(1)).await;
    assert_eq!(c.message.status, Status::Processing);
    assert_eq!((c.message.attempt, c.message.tries), (1, 1));
    assert_eq!(c.lease_until, at(31));
    assert_eq!(c.message.lease_until, Some(at(31)));
    assert_eq!(c.message.account_id, account.id);
    assert_eq!(c.message.to, m.to);
    assert_eq!(c.message.content, m.content);
    assert!(
        ok(store.claim_due(at(2), LEASE, 10).await, "claim_due").is_empty(),
        "a leased message is not claimed again"
    );
    let stored = get(&*store, account.id, m.id).await;
    assert_eq!(stored.status, Status::Processing);
    assert_eq!(stored.attempt, 1);
    assert_eq!(
        stored.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![Status::Queued],
        "processing is not a timeline entry"
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Processing, 1)])
    );
    assert!(
        ok(store.claim_due(at(3), LEASE, 0).await, "claim_due").is_empty(),
        "limit 0 claims nothing"
    );
}

/// Claims take the oldest due first (by due time across statuses, then id) and respect `limit`.
pub async fn claim_order_and_limit(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    // A retrying message due at t=2.
    let r = message_at(account.id, "14155552671", 0);
    insert(&*store, account.id, vec![r.clone()]).await;
    let c = claim_only(&*store, r.id, at(0)).await;
    ok(
        store
            .record_outcome(
                r.id,
                c.message.attempt,
                Outcome::Retry {
                    next_attempt_at: at(2),
                    error: failure("timeout", None),
                },
                at(0),
            )
            .await,
        "record_outcome(Retry)",
    );
    let q5 = message_at(account.id, "14155552671", 5);
    let q1 = message_at(account.id, "14155552671", 1);
    let q3 = message_at(account.id, "14155552671", 3);
    let s4 = NewMessage {
        send_at: Some(at(4)),
        ..message_at(account.id, "14155552671", 0)
    };
    insert(
        &*store,
        account.id,
        vec![q5.clone(), q1.clone(), q3.clone(), s4.clone()],
    )
    .await;

    let first = ok(store.claim_due(at(10), LEASE, 3).await, "claim_due");
    assert_eq!(
        claim_ids(&first),
        vec![q1.id, r.id, q3.id],
        "oldest due first: queued at 1, retrying due at 2, queued at 3"
    );
    let rest = ok(store.claim_due(at(10), LEASE, 10).await, "claim_due");
    assert_eq!(claim_ids(&rest), vec![s4.id, q5.id]);
    let r_claim = &first[1];
    assert_eq!(
        (r_claim.message.attempt, r_claim.message.tries),
        (2, 2),
        "a retried message counts its second attempt"
    );
}

/// One account's backlog never keeps another account's due message out of a claim: with 1,000 older due
/// messages of A and one newer of B, a claim of 50 takes B's and A's 49 oldest, in order.
pub async fn claim_is_fair_across_accounts(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    let backlog: Vec<NewMessage> = (0..1000)
        .map(|i| NewMessage {
            created_at: at(0) + chrono::Duration::milliseconds(i),
            ..sample_message(a.id, "14155552671")
        })
        .collect();
    let a_ids: Vec<MessageId> = backlog.iter().map(|m| m.id).collect();
    insert(&*store, a.id, backlog).await;
    let newer = message_at(b.id, "14155550002", 10);
    insert(&*store, b.id, vec![newer.clone()]).await;

    let claimed = ok(store.claim_due(at(20), LEASE, 50).await, "claim_due");
    let ids = claim_ids(&claimed);
    assert_eq!(ids.len(), 50);
    assert!(
        ids.contains(&newer.id),
        "B's due message is in the claim despite A's backlog"
    );
    let of_a: Vec<MessageId> = ids.iter().copied().filter(|id| *id != newer.id).collect();
    assert_eq!(of_a, a_ids[..49], "A's oldest first");
    let next = ok(store.claim_due(at(20), LEASE, 50).await, "claim_due");
    assert_eq!(claim_ids(&next), a_ids[49..99], "then A's next ones");
}

/// `claim_due_with`: at most `per_account` of one account, none of the skipped accounts, round-robin (each
/// account's oldest, accounts whose oldest is oldest first, then each one's second); when `limit` is smaller
/// than the number of accounts with due work, those whose oldest is oldest.
pub async fn claim_limits_per_account_skip_and_round_robin(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    let c = create_sample_account(&*store).await;
    let of = |account: AccountId, secs: [i64; 3]| -> Vec<NewMessage> {
        secs.iter()
            .map(|s| message_at(account, "14155552671", *s))
            .collect()
    };
    let am = of(a.id, [1, 2, 3]);
    let bm = of(b.id, [4, 5, 6]);
    let cm = vec![message_at(c.id, "14155552671", 0)];
    insert(&*store, a.id, am.clone()).await;
    insert(&*store, b.id, bm.clone()).await;
    insert(&*store, c.id, cm.clone()).await;

    let limits = ClaimLimits {
        limit: 10,
        per_account: 2,
        skip: vec![c.id],
    };
    let first = ok(
        store.claim_due_with(at(10), LEASE, &limits).await,
        "claim_due_with",
    );
    assert_eq!(
        claim_ids(&first),
        vec![am[0].id, bm[0].id, am[1].id, bm[1].id],
        "two of each, round-robin, C left out"
    );
    assert!(first.iter().all(|c| c.message.status == Status::Processing));
    let one = ok(
        store
            .claim_due_with(at(10), LEASE, &ClaimLimits::total(1))
            .await,
        "claim_due_with",
    );
    assert_eq!(
        claim_ids(&one),
        vec![cm[0].id],
        "the account whose oldest is oldest"
    );
    let rest = ok(
        store
            .claim_due_with(at(10), LEASE, &ClaimLimits::total(10))
            .await,
        "claim_due_with",
    );
    assert_eq!(claim_ids(&rest), vec![am[2].id, bm[2].id]);
    let none = ClaimLimits {
        per_account: 0,
        ..ClaimLimits::total(10)
    };
    assert!(
        ok(
            store.claim_due_with(at(10), LEASE, &none).await,
            "claim_due_with"
        )
        .is_empty(),
        "per_account 0 claims nothing"
    );
}

/// A scheduled message is not claimed before its `send_at`.
pub async fn scheduled_not_claimed_before_due(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = NewMessage {
        send_at: Some(at(100)),
        ..sample_message(account.id, "14155552671")
    };
    insert(&*store, account.id, vec![m.clone()]).await;
    assert!(
        ok(store.claim_due(at(99), LEASE, 10).await, "claim_due").is_empty(),
        "claimed a scheduled message before its time"
    );
    let c = claim_only(&*store, m.id, at(100)).await;
    assert_eq!(c.message.scheduled_for, Some(at(100)));
    assert_eq!(c.message.status, Status::Processing);
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Processing, 1)])
    );
}

/// Inactive accounts and accounts with an open breaker are skipped by claims.
pub async fn claim_skips_inactive_accounts_and_open_breakers(store: Arc<dyn Store>) {
    let inactive = create_sample_account(&*store).await;
    let tripped = create_sample_account(&*store).await;
    let healthy = create_sample_account(&*store).await;
    ok(
        store
            .update_account(inactive.id, AccountUpdate::SetActive(false))
            .await,
        "deactivate",
    );
    ok(
        store
            .update_account(
                tripped.id,
                AccountUpdate::SetBreaker(BreakerState {
                    consecutive_failures: 5,
                    open_until: Some(at(60)),
                    trips: 1,
                }),
            )
            .await,
        "open breaker",
    );
    let mi = message_at(inactive.id, "14155552671", 0);
    let mt = message_at(tripped.id, "14155552671", 1);
    let mh = message_at(healthy.id, "14155552671", 2);
    insert(&*store, inactive.id, vec![mi.clone()]).await;
    insert(&*store, tripped.id, vec![mt.clone()]).await;
    insert(&*store, healthy.id, vec![mh.clone()]).await;

    let c = claim_only(&*store, mh.id, at(10)).await;
    ok(
        store
            .record_outcome(
                mh.id,
                c.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.HEALTHY".into(),
                },
                at(11),
            )
            .await,
        "Sent",
    );
    assert!(
        ok(store.claim_due(at(59), LEASE, 10).await, "claim_due").is_empty(),
        "inactive account or open breaker was claimed"
    );
    claim_only(&*store, mt.id, at(60)).await;
    ok(
        store
            .update_account(inactive.id, AccountUpdate::SetActive(true))
            .await,
        "reactivate",
    );
    claim_only(&*store, mi.id, at(61)).await;
}

/// An expired lease is claimed again with a new attempt; the old attempt can no longer record an outcome.
pub async fn expired_lease_is_reclaimed_and_stale_attempt_fenced(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = sample_message(account.id, "14155552671");
    insert(&*store, account.id, vec![m.clone()]).await;
    let first = claim_only(&*store, m.id, at(0)).await;
    assert!(
        ok(store.claim_due(at(29), LEASE, 10).await, "claim_due").is_empty(),
        "re-claimed before the lease ended"
    );
    let second = claim_only(&*store, m.id, at(30)).await;
    assert_eq!(second.message.attempt, first.message.attempt + 1);
    assert_eq!(second.message.tries, 2, "the lost attempt counts as a try");
    assert_eq!(second.lease_until, at(60));

    let stale = store
        .record_outcome(
            m.id,
            first.message.attempt,
            Outcome::Sent {
                wamid: "wamid.OLD".into(),
            },
            at(31),
        )
        .await;
    assert_eq!(
        stale,
        Err(StoreError::Stale),
        "the old attempt must be fenced"
    );
    let stale = store
        .record_outcome(
            m.id,
            first.message.attempt,
            Outcome::Failed {
                error: failure("late", None),
            },
            at(31),
        )
        .await;
    assert_eq!(stale, Err(StoreError::Stale));
    assert_eq!(
        ok(store.message_by_wamid("wamid.OLD").await, "by wamid"),
        None
    );

    let sent = ok(
        store
            .record_outcome(
                m.id,
                second.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.NEW".into(),
                },
                at(32),
            )
            .await,
        "record_outcome by the current attempt",
    );
    assert_eq!(sent.status, Status::Sent);
    assert_eq!(
        store
            .record_outcome(
                m.id,
                second.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.NEW".into()
                },
                at(33)
            )
            .await,
        Err(StoreError::Stale),
        "an outcome is recorded once"
    );
    assert!(
        ok(store.claim_due(at(1000), LEASE, 10).await, "claim_due").is_empty(),
        "a sent message is never claimed"
    );
    let unknown = store
        .record_outcome(MessageId::new(), 1, Outcome::Release, at(34))
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound | StoreError::Stale)),
        "unknown message: {unknown:?}"
    );
}

/// Eight concurrent claimers over 200 messages: every message is claimed exactly once.
pub async fn concurrent_claimers_never_share(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let messages: Vec<NewMessage> = (0..200)
        .map(|i| message_at(account.id, "14155552671", i % 50))
        .collect();
    let all: HashSet<MessageId> = messages.iter().map(|m| m.id).collect();
    insert(&*store, account.id, messages).await;

    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = ok(store.claim_due(at(100), LEASE, 7).await, "claim_due");
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|c| {
                    assert_eq!(c.message.attempt, 1, "claimed twice: {}", c.message.id);
                    c.message.id
                }));
                tokio::task::yield_now().await;
            }
        });
    }
    let mut seen = HashSet::new();
    while let Some(joined) = tasks.join_next().await {
        for id in joined.expect("claimer panicked") {
            assert!(seen.insert(id), "message {id} was claimed by two claimers");
        }
    }
    assert_eq!(seen, all, "every due message is claimed");
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Processing, 200)])
    );
}

/// `Sent` stores the wamid and `sent_at`, adds a timeline entry and counts the send (dry runs excluded).
pub async fn sent_outcome(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let real = message_at(account.id, "14155552671", 0);
    let dry = NewMessage {
        dry_run: true,
        ..message_at(account.id, "14155552672", 1)
    };
    insert(&*store, account.id, vec![real.clone(), dry.clone()]).await;
    let claimed = ok(store.claim_due(at(2), LEASE, 10).await, "claim_due");
    assert_eq!(claim_ids(&claimed), vec![real.id, dry.id]);
    for (c, wamid) in claimed.iter().zip(["wamid.REAL", "wamid.DRY"]) {
        let m = ok(
            store
                .record_outcome(
                    c.message.id,
                    c.message.attempt,
                    Outcome::Sent {
                        wamid: wamid.into(),
                    },
                    at(3),
                )
                .await,
            "record_outcome(Sent)",
        );
        assert_eq!(m.status, Status::Sent);
        assert_eq!(m.wamid.as_deref(), Some(wamid));
        assert_eq!(m.sent_at, Some(at(3)));
        assert_eq!(m.lease_until, None);
        assert_eq!(
            m.timeline
                .iter()
                .map(|e| (e.status, e.at))
                .collect::<Vec<_>>(),
            vec![(Status::Queued, m.created_at), (Status::Sent, at(3))],
            "record_outcome returns the message with its timeline"
        );
        assert_eq!(get(&*store, account.id, m.id).await, m);
        let by_wamid = ok(store.message_by_wamid(wamid).await, "message_by_wamid");
        assert_eq!(by_wamid.map(|x| x.id), Some(m.id));
    }
    assert_eq!(
        ok(store.message_by_wamid("wamid.NONE").await, "by wamid"),
        None
    );
    let account = ok(store.account(account.id).await, "account").expect("exists");
    assert_eq!(account.messages_sent, 1, "dry runs are not counted as sent");
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Sent, 2)])
    );
}

/// `Retry` makes the message `retrying` until `next_attempt_at`; `Failed` is final with the error stored.
pub async fn retry_and_failed_outcomes(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = sample_message(account.id, "14155552671");
    insert(&*store, account.id, vec![m.clone()]).await;
    let c = claim_only(&*store, m.id, at(1)).await;
    let r = ok(
        store
            .record_outcome(
                m.id,
                c.message.attempt,
                Outcome::Retry {
                    next_attempt_at: at(100),
                    error: failure("Meta timed out", Some(131000)),
                },
                at(2),
            )
            .await,
        "record_outcome(Retry)",
    );
    assert_eq!(r.status, Status::Retrying);
    assert_eq!(r.next_attempt_at, Some(at(100)));
    assert_eq!(r.lease_until, None);
    assert_eq!(r.error_message.as_deref(), Some("Meta timed out"));
    assert_eq!(r.error_code, Some(131000));
    let last = r.timeline.last().expect("timeline");
    assert_eq!(
        (last.status, last.at, last.detail.as_deref()),
        (Status::Retrying, at(2), Some("Meta timed out"))
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Retrying, 1)])
    );
    assert!(
        ok(store.claim_due(at(99), LEASE, 10).await, "claim_due").is_empty(),
        "a retrying message is not due before next_attempt_at"
    );
    let c2 = claim_only(&*store, m.id, at(100)).await;
    assert_eq!((c2.message.attempt, c2.message.tries), (2, 2));

    let f = ok(
        store
            .record_outcome(
                m.id,
                c2.message.attempt,
                Outcome::Failed {
                    error: failure("Recipient is not a WhatsApp user", Some(131026)),
                },
                at(101),
            )
            .await,
        "record_outcome(Failed)",
    );
    assert_eq!(f.status, Status::Failed);
    assert_eq!(f.failed_at, Some(at(101)));
    assert_eq!(
        f.error_message.as_deref(),
        Some("Recipient is not a WhatsApp user")
    );
    assert_eq!(f.error_code, Some(131026));
    let last = f.timeline.last().expect("timeline");
    assert_eq!(
        (last.status, last.at, last.detail.as_deref()),
        (
            Status::Failed,
            at(101),
            Some("Recipient is not a WhatsApp user")
        )
    );
    assert_eq!(
        f.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![Status::Queued, Status::Retrying, Status::Failed]
    );
    assert!(
        ok(store.claim_due(at(10_000), LEASE, 10).await, "claim_due").is_empty(),
        "a failed message is never claimed"
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Failed, 1)])
    );
}

/// `Release` puts the message back in the queue without counting the try or touching the timeline.
pub async fn release_returns_to_queue(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = sample_message(account.id, "14155552671");
    insert(&*store, account.id, vec![m.clone()]).await;
    let c = claim_only(&*store, m.id, at(1)).await;
    let r = ok(
        store
            .record_outcome(m.id, c.message.attempt, Outcome::Release, at(2))
            .await,
        "record_outcome(Release)",
    );
    assert_eq!(r.status, Status::Queued);
    assert_eq!(r.tries, 0, "a released try does not count");
    assert_eq!(r.lease_until, None);
    assert_eq!(
        r.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![Status::Queued]
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Queued, 1)])
    );
    let again = claim_only(&*store, m.id, at(3)).await;
    assert_eq!((again.message.attempt, again.message.tries), (2, 1));
}

/// A wamid belongs to one message: recording it for a second one is a `Conflict` that changes nothing.
pub async fn wamid_is_unique(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let a = message_at(account.id, "14155552671", 0);
    let b = message_at(account.id, "14155552672", 1);
    insert(&*store, account.id, vec![a.clone(), b.clone()]).await;
    let claimed = ok(store.claim_due(at(2), LEASE, 10).await, "claim_due");
    assert_eq!(claim_ids(&claimed), vec![a.id, b.id]);
    ok(
        store
            .record_outcome(
                a.id,
                claimed[0].message.attempt,
                Outcome::Sent {
                    wamid: "wamid.SAME".into(),
                },
                at(3),
            )
            .await,
        "first Sent",
    );
    let dup = store
        .record_outcome(
            b.id,
            claimed[1].message.attempt,
            Outcome::Sent {
                wamid: "wamid.SAME".into(),
            },
            at(3),
        )
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "a reused wamid must be a Conflict, got {dup:?}"
    );
    assert_eq!(
        get(&*store, account.id, b.id).await.status,
        Status::Processing
    );
    assert_eq!(
        ok(store.message_by_wamid("wamid.SAME").await, "by wamid").map(|m| m.id),
        Some(a.id)
    );
    ok(
        store
            .record_outcome(
                b.id,
                claimed[1].message.attempt,
                Outcome::Sent {
                    wamid: "wamid.OTHER".into(),
                },
                at(4),
            )
            .await,
        "Sent with its own wamid",
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Meta statuses
// ---------------------------------------------------------------------------------------------------------------

/// Meta statuses only move forward; duplicates and late ones are ignored; `read` fills `deliveredAt`.
pub async fn meta_statuses_are_monotonic(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = sent_message(&*store, account.id, "wamid.M1", 0, at(1)).await;
    let apply = |updates: Vec<StatusUpdate>| {
        let store = store.clone();
        async move {
            ok(
                store
                    .apply_status_updates(&updates, at(100), DEFAULT_MAX_PENDING_STATUSES)
                    .await,
                "apply_status_updates",
            )
        }
    };

    assert_eq!(
        apply(vec![meta_update("wamid.M1", MetaStatus::Delivered, at(5))]).await,
        vec![StatusApplied::Applied(m.id, Status::Delivered)]
    );
    assert_eq!(
        apply(vec![
            meta_update("wamid.M1", MetaStatus::Delivered, at(6)),
            meta_update("wamid.M1", MetaStatus::Sent, at(6)),
        ])
        .await,
        vec![StatusApplied::Ignored(m.id), StatusApplied::Ignored(m.id)],
        "duplicate and late statuses are ignored"
    );
    let d = get(&*store, account.id, m.id).await;
    assert_eq!(
        d.delivered_at,
        Some(at(5)),
        "a duplicate keeps the first time"
    );
    assert_eq!(
        apply(vec![meta_update("wamid.M1", MetaStatus::Read, at(9))]).await,
        vec![StatusApplied::Applied(m.id, Status::Read)]
    );
    assert_eq!(
        apply(vec![
            meta_update("wamid.M1", MetaStatus::Delivered, at(4)),
            StatusUpdate {
                error: Some(failure("late failure", Some(131000))),
                ..meta_update("wamid.M1", MetaStatus::Failed, at(10))
            },
            meta_update("wamid.M1", MetaStatus::Read, at(11)),
        ])
        .await,
        vec![
            StatusApplied::Ignored(m.id),
            StatusApplied::Ignored(m.id),
            StatusApplied::Ignored(m.id)
        ],
        "nothing moves a read message"
    );
    let r = get(&*store, account.id, m.id).await;
    assert_eq!(r.status, Status::Read);
    assert_eq!(
        (r.sent_at, r.delivered_at, r.read_at, r.failed_at),
        (Some(at(1)), Some(at(5)), Some(at(9)), None)
    );
    assert_eq!(r.error_message, None);
    assert_eq!(
        r.timeline
            .iter()
            .map(|e| (e.status, e.at))
            .collect::<Vec<_>>(),
        vec![
            (Status::Queued, at(0)),
            (Status::Sent, at(1)),
            (Status::Delivered, at(5)),
            (Status::Read, at(9)),
        ]
    );

    // Read without delivered sets both.
    let m2 = sent_message(&*store, account.id, "wamid.M2", 20, at(21)).await;
    assert_eq!(
        apply(vec![meta_update("wamid.M2", MetaStatus::Read, at(27))]).await,
        vec![StatusApplied::Applied(m2.id, Status::Read)]
    );
    let r2 = get(&*store, account.id, m2.id).await;
    assert_eq!(
        (r2.delivered_at, r2.read_at),
        (Some(at(27)), Some(at(27))),
        "read without a prior delivered sets deliveredAt"
    );
    assert_eq!(
        apply(vec![meta_update("wamid.M2", MetaStatus::Delivered, at(25))]).await,
        vec![StatusApplied::Ignored(m2.id)],
        "delivered arriving after read"
    );

    // Failed after sent is applied with Meta's error; nothing revives it.
    let m3 = sent_message(&*store, account.id, "wamid.M3", 30, at(31)).await;
    assert_eq!(
        apply(vec![
            StatusUpdate {
                error: Some(failure("Message undeliverable", Some(131026))),
                ..meta_update("wamid.M3", MetaStatus::Failed, at(33))
            },
            meta_update("wamid.M3", MetaStatus::Delivered, at(34)),
        ])
        .await,
        vec![
            StatusApplied::Applied(m3.id, Status::Failed),
            StatusApplied::Ignored(m3.id)
        ]
    );
    let f = get(&*store, account.id, m3.id).await;
    assert_eq!(f.status, Status::Failed);
    assert_eq!(f.failed_at, Some(at(33)));
    assert_eq!(f.error_message.as_deref(), Some("Message undeliverable"));
    assert_eq!(f.error_code, Some(131026));
    assert_eq!(f.delivered_at, None);
    let last = f.timeline.last().expect("timeline");
    assert_eq!((last.status, last.at), (Status::Failed, at(33)));

    // Several updates for one message in one call apply in order.
    let m4 = sent_message(&*store, account.id, "wamid.M4", 40, at(41)).await;
    assert_eq!(
        apply(vec![
            meta_update("wamid.M4", MetaStatus::Delivered, at(42)),
            meta_update("wamid.M4", MetaStatus::Read, at(43)),
        ])
        .await,
        vec![
            StatusApplied::Applied(m4.id, Status::Delivered),
            StatusApplied::Applied(m4.id, Status::Read)
        ]
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Read, 3), (Status::Failed, 1)])
    );
}

/// A status for a wamid not stored yet is kept and applied when the send's `Sent` outcome is recorded.
pub async fn early_status_applied_when_sent(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let m = sample_message(account.id, "14155552671");
    insert(&*store, account.id, vec![m.clone()]).await;
    let c = claim_only(&*store, m.id, at(1)).await;

    let early = ok(
        store
            .apply_status_updates(
                &[
                    meta_update("wamid.EARLY", MetaStatus::Delivered, at(3)),
                    meta_update("wamid.EARLY", MetaStatus::Read, at(4)),
                ],
                at(4),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply_status_updates",
    );
    assert_eq!(early, vec![StatusApplied::Pending, StatusApplied::Pending]);
    assert_eq!(
        get(&*store, account.id, m.id).await.status,
        Status::Processing,
        "a pending status does not touch the message before its wamid is known"
    );

    let sent = ok(
        store
            .record_outcome(
                m.id,
                c.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.EARLY".into(),
                },
                at(2),
            )
            .await,
        "record_outcome(Sent)",
    );
    assert_eq!(
        sent.status,
        Status::Read,
        "pending statuses applied with Sent"
    );
    assert_eq!(
        (sent.sent_at, sent.delivered_at, sent.read_at),
        (Some(at(2)), Some(at(3)), Some(at(4)))
    );
    assert_eq!(
        sent.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![
            Status::Queued,
            Status::Sent,
            Status::Delivered,
            Status::Read
        ]
    );
    assert_eq!(
        ok(
            store
                .apply_status_updates(
                    &[meta_update("wamid.EARLY", MetaStatus::Read, at(5))],
                    at(5),
                    DEFAULT_MAX_PENDING_STATUSES
                )
                .await,
            "apply"
        ),
        vec![StatusApplied::Ignored(m.id)],
        "pending statuses are applied once"
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Read, 1)])
    );

    // A pending status routed to another account is not applied to this account's message.
    let m2 = message_at(account.id, "14155552671", 10);
    insert(&*store, account.id, vec![m2.clone()]).await;
    let c2 = claim_only(&*store, m2.id, at(11)).await;
    let routed = ok(
        store
            .apply_status_updates(
                &[StatusUpdate {
                    account_id: Some(other.id),
                    ..meta_update("wamid.ROUTED", MetaStatus::Delivered, at(12))
                }],
                at(12),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );
    assert_eq!(routed, vec![StatusApplied::Pending]);
    let s2 = ok(
        store
            .record_outcome(
                m2.id,
                c2.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.ROUTED".into(),
                },
                at(13),
            )
            .await,
        "record_outcome(Sent)",
    );
    assert_eq!(s2.status, Status::Sent);
    assert_eq!(s2.delivered_at, None);
}

// ---------------------------------------------------------------------------------------------------------------
// Outbox
// ---------------------------------------------------------------------------------------------------------------

/// Pending statuses age from when they were received, not from Meta's `at` (which whoever posts the webhook
/// chooses): one received long ago is purged even though its `at` lies in the future, one received recently is
/// kept (and applied once its send is recorded) even though its `at` is older than the cutoff.
pub async fn pending_statuses_expire_by_receipt(store: Arc<dyn Store>) {
    let policy = PurgePolicy::default();
    let keep = chrono::Duration::from_std(policy.pending_statuses_older_than).expect("fits");
    let now = base_time() + keep + chrono::Duration::hours(1);
    let account = create_sample_account(&*store).await;
    let routed = |wamid: &str, when| StatusUpdate {
        account_id: Some(account.id),
        ..meta_update(wamid, MetaStatus::Delivered, when)
    };
    let far_future = now + chrono::Duration::days(3650);
    let applied = ok(
        store
            .apply_status_updates(
                &[routed("wamid.RECEIVED_LONG_AGO", far_future)],
                at(0),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply_status_updates",
    );
    assert_eq!(applied, vec![StatusApplied::Pending]);
    let applied = ok(
        store
            .apply_status_updates(
                &[routed("wamid.RECEIVED_LATELY", at(0))],
                now - chrono::Duration::minutes(5),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply_status_updates",
    );
    assert_eq!(applied, vec![StatusApplied::Pending]);

    let report = ok(store.purge_expired(now, policy).await, "purge_expired");
    assert_eq!(
        report.pending_statuses, 1,
        "only the status received before the cutoff goes: {report:?}"
    );

    let late = sent_message(&*store, account.id, "wamid.RECEIVED_LATELY", 1, now).await;
    assert_eq!(
        late.status,
        Status::Delivered,
        "the recently received status was kept although Meta's time is old"
    );
    let early = sent_message(&*store, account.id, "wamid.RECEIVED_LONG_AGO", 2, now).await;
    assert_eq!(
        early.status,
        Status::Sent,
        "the status received long ago was purged although Meta's time is in the future"
    );
}

/// An account keeps at most `max_pending_per_account` pending statuses; beyond it the earliest received are
/// dropped (the latest are the likeliest to match a send being committed). Other accounts are not affected.
pub async fn pending_statuses_capped_per_account(store: Arc<dyn Store>) {
    const CAP: usize = 3;
    let flooded = create_sample_account(&*store).await;
    let quiet = create_sample_account(&*store).await;
    let routed = |account: AccountId, wamid: String| StatusUpdate {
        account_id: Some(account),
        ..meta_update(&wamid, MetaStatus::Delivered, at(1))
    };
    let apply = |updates: Vec<StatusUpdate>, now| {
        let store = store.clone();
        async move {
            ok(
                store.apply_status_updates(&updates, now, CAP).await,
                "apply_status_updates",
            )
        }
    };
    let wamid = |i: usize| format!("wamid.FLOOD{i}");
    // Two for the quiet account, then five for the flooded one over two webhooks (more than the cap in one).
    let quiet_pending = apply(
        vec![
            routed(quiet.id, "wamid.QUIET0".into()),
            routed(quiet.id, "wamid.QUIET1".into()),
        ],
        at(1),
    )
    .await;
    assert_eq!(quiet_pending, vec![StatusApplied::Pending; 2]);
    apply(
        (0..2).map(|i| routed(flooded.id, wamid(i))).collect(),
        at(2),
    )
    .await;
    let flood = apply(
        (2..6).map(|i| routed(flooded.id, wamid(i))).collect(),
        at(3),
    )
    .await;
    assert_eq!(
        flood,
        vec![StatusApplied::Pending; 4],
        "beyond the cap statuses are still accepted"
    );

    let mut kept = Vec::new();
    for i in 0..6 {
        let m = sent_message(&*store, flooded.id, &wamid(i), i as i64, at(100)).await;
        if m.status == Status::Delivered {
            kept.push(i);
        }
    }
    assert_eq!(
        kept,
        vec![3, 4, 5],
        "the {CAP} latest received are kept, the earliest dropped"
    );
    for (i, w) in ["wamid.QUIET0", "wamid.QUIET1"].into_iter().enumerate() {
        let m = sent_message(&*store, quiet.id, w, 10 + i as i64, at(100)).await;
        assert_eq!(
            m.status,
            Status::Delivered,
            "another account's flood drops nothing of this one's"
        );
    }
}

/// A status change on an account with a webhook writes its outbox event with the message's data; without a
/// webhook, and for statuses the customer is not told about, no event is written.
pub async fn status_change_writes_outbox_event(store: Arc<dyn Store>) {
    let hooked = create_account_with_webhook(&*store).await;
    let plain = create_sample_account(&*store).await;

    let silent = sent_message(&*store, plain.id, "wamid.PLAIN", 0, at(1)).await;
    assert!(
        ok(store.claim_events(at(2), LEASE, 100).await, "claim_events").is_empty(),
        "no webhook, no event"
    );
    ok(
        store
            .apply_status_updates(
                &[meta_update("wamid.PLAIN", MetaStatus::Delivered, at(3))],
                at(3),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );
    assert!(
        ok(store.claim_events(at(4), LEASE, 100).await, "claim_events").is_empty(),
        "no webhook, no event"
    );
    assert_eq!(
        get(&*store, plain.id, silent.id).await.status,
        Status::Delivered
    );

    let sent = sent_message(&*store, hooked.id, "wamid.HOOK", 10, at(11)).await;
    let events = ok(store.claim_events(at(12), LEASE, 100).await, "claim_events");
    assert_eq!(events.len(), 1, "one event for the sent status: {events:?}");
    let e = &events[0];
    assert_eq!(e.event.account_id, hooked.id);
    assert_eq!(e.event.status, Status::Sent);
    assert_eq!(e.event.created_at, at(11));
    assert_eq!(e.event.attempts, 1, "attempts count this claim");
    assert_eq!(
        e.event.data,
        StatusEventData::of(&sent),
        "event data is the message as changed"
    );
    assert_eq!(e.target, Some(sample_webhook()));
    ok(
        store.finish_event(e.event.id, None, EventNext::Done).await,
        "finish",
    );

    // Retrying and processing are not announced.
    let r = message_at(hooked.id, "14155552671", 20);
    insert(&*store, hooked.id, vec![r.clone()]).await;
    let c = claim_only(&*store, r.id, at(21)).await;
    ok(
        store
            .record_outcome(
                r.id,
                c.message.attempt,
                Outcome::Retry {
                    next_attempt_at: at(50),
                    error: failure("timeout", None),
                },
                at(22),
            )
            .await,
        "Retry",
    );
    assert!(
        ok(store.claim_events(at(23), LEASE, 100).await, "claim_events").is_empty(),
        "queued, processing and retrying are not announced"
    );

    // Read without delivered: the event carries deliveredAt and readAt.
    ok(
        store
            .apply_status_updates(
                &[meta_update("wamid.HOOK", MetaStatus::Read, at(30))],
                at(30),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );
    let events = ok(store.claim_events(at(31), LEASE, 100).await, "claim_events");
    assert_eq!(events.len(), 1);
    let read = get(&*store, hooked.id, sent.id).await;
    assert_eq!(events[0].event.status, Status::Read);
    assert_eq!(events[0].event.created_at, at(30));
    assert_eq!(events[0].event.data, StatusEventData::of(&read));
    assert_eq!(events[0].event.data.delivered_at, Some(at(30)));
    assert_eq!(events[0].event.data.read_at, Some(at(30)));
    assert_eq!(events[0].event.data.metadata, sent.metadata);
    ok(
        store
            .finish_event(events[0].event.id, None, EventNext::Done)
            .await,
        "finish",
    );

    // A failure is announced with its error.
    let c = claim_only(&*store, r.id, at(50)).await;
    let failed = ok(
        store
            .record_outcome(
                r.id,
                c.message.attempt,
                Outcome::Failed {
                    error: failure("Template not found", Some(132001)),
                },
                at(51),
            )
            .await,
        "Failed",
    );
    let events = ok(store.claim_events(at(52), LEASE, 100).await, "claim_events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.status, Status::Failed);
    assert_eq!(events[0].event.data, StatusEventData::of(&failed));
    assert_eq!(
        events[0].event.data.error_message.as_deref(),
        Some("Template not found")
    );
    assert_eq!(events[0].event.data.failed_at, Some(at(51)));
}

/// Events of one message go out one at a time, in order; events of different messages are independent; leases
/// and `RetryAt` delay an event; `GiveUp` unblocks the next one; the target is the account's current webhook.
pub async fn outbox_orders_events_per_message(store: Arc<dyn Store>) {
    let account = create_account_with_webhook(&*store).await;
    let x = sent_message(&*store, account.id, "wamid.X", 0, at(1)).await;
    ok(
        store
            .apply_status_updates(
                &[
                    meta_update("wamid.X", MetaStatus::Delivered, at(2)),
                    meta_update("wamid.X", MetaStatus::Read, at(3)),
                ],
                at(3),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );
    let y = sent_message(&*store, account.id, "wamid.Y", 4, at(5)).await;

    let claim = |now: DateTime<Utc>| {
        let store = store.clone();
        async move { ok(store.claim_events(now, LEASE, 100).await, "claim_events") }
    };
    let summary = |events: &[crate::store::ClaimedEvent]| {
        let mut s: Vec<(MessageId, Status)> = events
            .iter()
            .map(|e| (e.event.data.message_id, e.event.status))
            .collect();
        s.sort();
        s
    };
    let mut expected = vec![(x.id, Status::Sent), (y.id, Status::Sent)];
    expected.sort();

    let first = claim(at(10)).await;
    assert_eq!(
        summary(&first),
        expected,
        "one event per message, the oldest first"
    );
    assert!(
        claim(at(11)).await.is_empty(),
        "a message's next event waits while its first is leased"
    );
    let x_sent = first
        .iter()
        .find(|e| e.event.data.message_id == x.id)
        .expect("x sent");
    let y_sent = first
        .iter()
        .find(|e| e.event.data.message_id == y.id)
        .expect("y sent");
    ok(
        store
            .finish_event(
                x_sent.event.id,
                Some(sample_attempt(&x_sent.event, at(12))),
                EventNext::Done,
            )
            .await,
        "finish",
    );
    let second = claim(at(12)).await;
    assert_eq!(
        summary(&second),
        vec![(x.id, Status::Delivered)],
        "x's delivered event goes once its sent event is done; y's lease is still held"
    );
    let x_delivered = second[0].clone();
    assert_eq!(x_delivered.event.attempts, 1);

    ok(
        store
            .finish_event(y_sent.event.id, None, EventNext::Done)
            .await,
        "finish",
    );
    assert!(
        claim(at(13)).await.is_empty(),
        "y has nothing more; x's delivered is leased"
    );

    ok(
        store
            .finish_event(
                x_delivered.event.id,
                Some(DeliveryAttempt {
                    http_status: Some(500),
                    ..sample_attempt(&x_delivered.event, at(14))
                }),
                EventNext::RetryAt(at(60)),
            )
            .await,
        "finish RetryAt",
    );
    assert!(
        claim(at(59)).await.is_empty(),
        "a retried event waits for its time and blocks the later ones"
    );

    // The target is the account's webhook at claim time.
    let moved = WebhookConfig {
        url: "https://new.example.com/hook".into(),
        ..sample_webhook()
    };
    ok(
        store
            .update_account(account.id, AccountUpdate::SetWebhook(moved.clone()))
            .await,
        "move webhook",
    );
    let retried = claim(at(60)).await;
    assert_eq!(summary(&retried), vec![(x.id, Status::Delivered)]);
    assert_eq!(retried[0].event.id, x_delivered.event.id, "same event id");
    assert_eq!(retried[0].event.attempts, 2);
    assert_eq!(retried[0].target, Some(moved));

    // An expired lease makes the event claimable again.
    assert!(claim(at(89)).await.is_empty());
    let reclaimed = claim(at(90)).await;
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].event.id, x_delivered.event.id);
    assert_eq!(reclaimed[0].event.attempts, 3);

    ok(
        store
            .finish_event(x_delivered.event.id, None, EventNext::GiveUp)
            .await,
        "give up",
    );
    ok(
        store
            .update_account(account.id, AccountUpdate::ClearWebhook)
            .await,
        "clear webhook",
    );
    let last = claim(at(91)).await;
    assert_eq!(
        summary(&last),
        vec![(x.id, Status::Read)],
        "giving up unblocks the next event"
    );
    assert_eq!(last[0].target, None, "the webhook was removed since");
    ok(
        store
            .finish_event(last[0].event.id, None, EventNext::Done)
            .await,
        "finish",
    );
    assert!(claim(at(1000)).await.is_empty(), "everything finished");

    let limited = create_account_with_webhook(&*store).await;
    for (i, w) in ["wamid.L1", "wamid.L2", "wamid.L3"].iter().enumerate() {
        let i = i as i64;
        sent_message(&*store, limited.id, w, 100 + i * 10, at(101 + i * 10)).await;
    }
    assert_eq!(
        ok(store.claim_events(at(200), LEASE, 2).await, "claim_events").len(),
        2,
        "limit is respected"
    );
    assert_eq!(
        ok(store.claim_events(at(200), LEASE, 2).await, "claim_events").len(),
        1
    );
}

/// The outbox backlog counts the events not finished yet (due, leased or retrying, over every account) and gives
/// the `created_at` of the first written; delivered (`Done`) and abandoned (`GiveUp`) events leave it.
pub async fn outbox_backlog_counts_unfinished_events(store: Arc<dyn Store>) {
    let backlog = |store: Arc<dyn Store>| async move {
        let b = ok(store.outbox_backlog().await, "outbox_backlog");
        (b.pending, b.oldest)
    };
    assert_eq!(backlog(store.clone()).await, (0, None), "no events");

    let plain = create_sample_account(&*store).await;
    sent_message(&*store, plain.id, "wamid.PLAIN", 0, at(0)).await;
    assert_eq!(
        backlog(store.clone()).await,
        (0, None),
        "no webhook, no event"
    );

    let account = create_account_with_webhook(&*store).await;
    let x = sent_message(&*store, account.id, "wamid.X", 0, at(1)).await;
    assert_eq!(backlog(store.clone()).await, (1, Some(at(1))));
    for (n, (status, when)) in [(MetaStatus::Delivered, 2), (MetaStatus::Read, 3)]
        .into_iter()
        .enumerate()
    {
        ok(
            store
                .apply_status_updates(
                    &[meta_update("wamid.X", status, at(when))],
                    at(when),
                    DEFAULT_MAX_PENDING_STATUSES,
                )
                .await,
            "apply",
        );
        assert_eq!(
            backlog(store.clone()).await,
            (n as u64 + 2, Some(at(1))),
            "one more event per status written"
        );
    }
    let other = create_account_with_webhook(&*store).await;
    let y = sent_message(&*store, other.id, "wamid.Y", 4, at(5)).await;
    assert_eq!(
        backlog(store.clone()).await,
        (4, Some(at(1))),
        "counted over every account"
    );

    let claim = |now: DateTime<Utc>| {
        let store = store.clone();
        async move { ok(store.claim_events(now, LEASE, 100).await, "claim_events") }
    };
    let first = claim(at(10)).await;
    assert_eq!(first.len(), 2, "x's sent and y's sent: {first:?}");
    assert_eq!(
        backlog(store.clone()).await,
        (4, Some(at(1))),
        "leased events are still pending"
    );
    let of = |events: &[crate::store::ClaimedEvent], id: MessageId| {
        events
            .iter()
            .find(|e| e.event.data.message_id == id)
            .map(|e| e.event.id)
            .expect("claimed")
    };
    let (x_sent, y_sent) = (of(&first, x.id), of(&first, y.id));
    ok(
        store.finish_event(x_sent, None, EventNext::Done).await,
        "finish",
    );
    assert_eq!(
        backlog(store.clone()).await,
        (3, Some(at(2))),
        "a delivered event leaves the backlog; the oldest is now x's delivered"
    );
    ok(
        store
            .finish_event(y_sent, None, EventNext::RetryAt(at(60)))
            .await,
        "finish RetryAt",
    );
    assert_eq!(
        backlog(store.clone()).await,
        (3, Some(at(2))),
        "a retrying event is still pending"
    );

    let delivered = claim(at(11)).await;
    assert_eq!(delivered.len(), 1, "x's delivered: {delivered:?}");
    ok(
        store
            .finish_event(delivered[0].event.id, None, EventNext::GiveUp)
            .await,
        "give up",
    );
    assert_eq!(
        backlog(store.clone()).await,
        (2, Some(at(3))),
        "an abandoned event leaves the backlog"
    );
    ok(
        store
            .finish_event(delivered[0].event.id, None, EventNext::RetryAt(at(70)))
            .await,
        "finish a finished event",
    );
    assert_eq!(
        backlog(store.clone()).await,
        (2, Some(at(3))),
        "a finished event stays finished"
    );

    let read = claim(at(12)).await;
    assert_eq!(read.len(), 1, "x's read: {read:?}");
    ok(
        store
            .finish_event(read[0].event.id, None, EventNext::Done)
            .await,
        "finish",
    );
    assert_eq!(backlog(store.clone()).await, (1, Some(at(5))));

    let retried = claim(at(60)).await;
    assert_eq!(retried.len(), 1, "y's sent, retried: {retried:?}");
    ok(
        store
            .finish_event(retried[0].event.id, None, EventNext::Done)
            .await,
        "finish",
    );
    assert_eq!(
        backlog(store.clone()).await,
        (0, None),
        "everything finished"
    );
}

/// Delivery attempts are recorded per account, newest first, limited; finishing an unknown event is `NotFound`.
pub async fn delivery_attempts_are_recorded(store: Arc<dyn Store>) {
    let account = create_account_with_webhook(&*store).await;
    let other = create_account_with_webhook(&*store).await;
    sent_message(&*store, account.id, "wamid.A1", 0, at(1)).await;
    let events = ok(store.claim_events(at(2), LEASE, 10).await, "claim_events");
    assert_eq!(events.len(), 1);
    let e = events[0].event.clone();
    ok(
        store
            .finish_event(
                e.id,
                Some(DeliveryAttempt {
                    http_status: None,
                    error: Some("connection refused".into()),
                    ..sample_attempt(&e, at(3))
                }),
                EventNext::RetryAt(at(10)),
            )
            .await,
        "finish",
    );
    let again = ok(store.claim_events(at(10), LEASE, 10).await, "claim_events");
    assert_eq!(again.len(), 1);
    ok(
        store
            .finish_event(
                e.id,
                Some(DeliveryAttempt {
                    http_status: Some(503),
                    ..sample_attempt(&e, at(11))
                }),
                EventNext::RetryAt(at(20)),
            )
            .await,
        "finish",
    );
    ok(store.claim_events(at(20), LEASE, 10).await, "claim_events");
    ok(
        store
            .finish_event(e.id, Some(sample_attempt(&e, at(21))), EventNext::Done)
            .await,
        "finish",
    );

    let attempts = ok(store.delivery_attempts(account.id, 10).await, "attempts");
    assert_eq!(
        attempts.iter().map(|a| a.at).collect::<Vec<_>>(),
        vec![at(21), at(11), at(3)],
        "newest first"
    );
    assert_eq!(attempts[0], sample_attempt(&e, at(21)));
    assert_eq!(attempts[1].http_status, Some(503));
    assert_eq!(attempts[2].error.as_deref(), Some("connection refused"));
    assert_eq!(
        ok(store.delivery_attempts(account.id, 2).await, "attempts")
            .iter()
            .map(|a| a.at)
            .collect::<Vec<_>>(),
        vec![at(21), at(11)]
    );
    assert!(
        ok(store.delivery_attempts(other.id, 10).await, "attempts").is_empty(),
        "attempts are per account"
    );
    assert_eq!(
        store
            .finish_event(crate::webhook::EventId::new(), None, EventNext::Done)
            .await,
        Err(StoreError::NotFound)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Manual retry, inbound window, rate windows, due times, purge
// ---------------------------------------------------------------------------------------------------------------

/// Only failed messages can be retried; a retry re-queues with `tries` reset and clears the failed send.
pub async fn retry_only_from_failed(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = sample_message(account.id, "14155552671");
    insert(&*store, account.id, vec![m.clone()]).await;
    let refuse = |status: &'static str, now: DateTime<Utc>| {
        let store = store.clone();
        async move {
            match store.retry_message(account.id, m.id, now).await {
                Err(StoreError::Conflict(text)) => assert!(
                    text.contains(status),
                    "the Conflict must name the status {status}: {text}"
                ),
                other => panic!("retrying a {status} message must be a Conflict, got {other:?}"),
            }
        }
    };
    refuse("queued", at(1)).await;
    let c = claim_only(&*store, m.id, at(2)).await;
    refuse("processing", at(3)).await;
    ok(
        store
            .record_outcome(
                m.id,
                c.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.RETRY".into(),
                },
                at(4),
            )
            .await,
        "Sent",
    );
    refuse("sent", at(5)).await;
    ok(
        store
            .apply_status_updates(
                &[StatusUpdate {
                    error: Some(failure("undeliverable", Some(131026))),
                    ..meta_update("wamid.RETRY", MetaStatus::Failed, at(6))
                }],
                at(6),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );

    let q = ok(
        store.retry_message(account.id, m.id, at(7)).await,
        "retry_message",
    );
    assert_eq!(q.status, Status::Queued);
    assert_eq!(q.tries, 0);
    assert_eq!(
        (q.failed_at, q.error_message.clone(), q.error_code),
        (None, None, None)
    );
    assert_eq!(q.wamid, None, "the failed send's wamid is cleared");
    assert_eq!(q.sent_at, None);
    let last = q.timeline.last().expect("timeline");
    assert_eq!((last.status, last.at), (Status::Queued, at(7)));
    assert_eq!(
        q.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![Status::Queued, Status::Sent, Status::Failed, Status::Queued]
    );
    assert_eq!(get(&*store, account.id, m.id).await, q);
    assert_eq!(
        ok(store.message_by_wamid("wamid.RETRY").await, "by wamid"),
        None
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Queued, 1)])
    );
    let again = claim_only(&*store, m.id, at(8)).await;
    assert_eq!((again.message.attempt, again.message.tries), (2, 1));
    assert_eq!(
        store
            .retry_message(account.id, MessageId::new(), at(9))
            .await,
        Err(StoreError::NotFound)
    );
}

/// The 24-hour window keeps the latest inbound time per account and `wa_id`.
pub async fn inbound_window(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let last = |acct: AccountId, wa: &'static str| {
        let store = store.clone();
        async move { ok(store.last_inbound(acct, wa).await, "last_inbound") }
    };
    assert_eq!(last(account.id, "14155552671").await, None);
    ok(
        store
            .record_inbound(account.id, "14155552671", at(10))
            .await,
        "record_inbound",
    );
    assert_eq!(last(account.id, "14155552671").await, Some(at(10)));
    ok(
        store.record_inbound(account.id, "14155552671", at(5)).await,
        "record_inbound",
    );
    assert_eq!(
        last(account.id, "14155552671").await,
        Some(at(10)),
        "an older message does not move the window back"
    );
    ok(
        store
            .record_inbound(account.id, "14155552671", at(20))
            .await,
        "record_inbound",
    );
    assert_eq!(last(account.id, "14155552671").await, Some(at(20)));
    assert_eq!(last(account.id, "14155552672").await, None);
    assert_eq!(
        last(other.id, "14155552671").await,
        None,
        "windows are per account"
    );
}

/// Rate windows count hits per bucket and window start, also under concurrency.
pub async fn rate_windows_count_hits(store: Arc<dyn Store>) {
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

/// `next_due_at` reports the earliest due time, ignoring inactive accounts and open breakers until they close.
pub async fn next_due_at_tracks_the_earliest_due(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let next = || {
        let store = store.clone();
        async move { ok(store.next_due_at().await, "next_due_at") }
    };
    assert_eq!(next().await, None, "nothing stored");
    let late = NewMessage {
        send_at: Some(at(100)),
        ..message_at(account.id, "14155552671", 0)
    };
    insert(&*store, account.id, vec![late.clone()]).await;
    assert_eq!(next().await, Some(at(100)));
    let early = NewMessage {
        send_at: Some(at(50)),
        ..message_at(account.id, "14155552671", 1)
    };
    insert(&*store, account.id, vec![early.clone()]).await;
    assert_eq!(next().await, Some(at(50)));

    let c = claim_only(&*store, early.id, at(50)).await;
    assert_eq!(
        next().await,
        Some(at(80)),
        "the lease end of a processing message"
    );
    ok(
        store
            .record_outcome(
                early.id,
                c.message.attempt,
                Outcome::Retry {
                    next_attempt_at: at(90),
                    error: failure("timeout", None),
                },
                at(51),
            )
            .await,
        "Retry",
    );
    assert_eq!(
        next().await,
        Some(at(90)),
        "a retrying message's next attempt"
    );

    let queued = message_at(account.id, "14155552671", 10);
    insert(&*store, account.id, vec![queued.clone()]).await;
    assert_eq!(
        next().await,
        Some(at(10)),
        "a queued message is due since it was queued"
    );

    ok(
        store
            .update_account(
                account.id,
                AccountUpdate::SetBreaker(BreakerState {
                    consecutive_failures: 3,
                    open_until: Some(at(95)),
                    trips: 1,
                }),
            )
            .await,
        "open breaker",
    );
    assert_eq!(
        next().await,
        Some(at(95)),
        "nothing before the breaker closes"
    );
    ok(
        store
            .update_account(account.id, AccountUpdate::SetActive(false))
            .await,
        "deactivate",
    );
    assert_eq!(next().await, None, "an inactive account has nothing due");
    ok(
        store
            .update_account(account.id, AccountUpdate::SetActive(true))
            .await,
        "activate",
    );
    ok(
        store
            .update_account(
                account.id,
                AccountUpdate::SetBreaker(BreakerState::default()),
            )
            .await,
        "close breaker",
    );
    claim_only(&*store, queued.id, at(11)).await;
    assert_eq!(next().await, Some(at(41)));
    let all = ok(store.claim_due(at(1000), LEASE, 10).await, "claim_due");
    assert_eq!(all.len(), 3);
    for c in all {
        ok(
            store
                .record_outcome(
                    c.message.id,
                    c.message.attempt,
                    Outcome::Failed {
                        error: failure("done", None),
                    },
                    at(1000),
                )
                .await,
            "Failed",
        );
    }
    assert_eq!(next().await, None, "settled messages are never due");
}

/// `purge_expired` removes exactly what the policy says and reports the counts.
pub async fn purge_removes_only_expired(store: Arc<dyn Store>) {
    let policy = PurgePolicy::default();
    let week = chrono::Duration::from_std(policy.events_older_than).expect("fits");
    // Old things are at least 10 s past the cutoff, recent ones an hour inside it: no boundary cases.
    let now = base_time() + week + chrono::Duration::seconds(20);
    let hour = chrono::Duration::hours(1);
    let account = create_account_with_webhook(&*store).await;

    // Idempotency: one record expired, one alive.
    let expired_key = key("expired");
    ok(
        store
            .insert_messages(NewBatch {
                account_id: account.id,
                messages: Vec::new(),
                idempotency: Some(IdempotencyCompletion {
                    key: expired_key.clone(),
                    fingerprint: fingerprint(1),
                    response: response(1),
                    expires_at: at(100),
                }),
            })
            .await,
        "completion only",
    );
    let live_key = key("live");
    assert_eq!(
        ok(
            store
                .idempotency_begin(account.id, &live_key, &fingerprint(2), now - hour)
                .await,
            "begin"
        ),
        Decision::Fresh
    );

    // Outbox: an old finished event (with an attempt), an old unfinished one, a recent finished one.
    sent_message(&*store, account.id, "wamid.P1", 0, at(0)).await;
    let e1 = ok(store.claim_events(at(1), LEASE, 10).await, "claim_events");
    assert_eq!(e1.len(), 1);
    ok(
        store
            .finish_event(
                e1[0].event.id,
                Some(sample_attempt(&e1[0].event, at(2))),
                EventNext::Done,
            )
            .await,
        "finish",
    );
    let unfinished = sent_message(&*store, account.id, "wamid.P2", 3, at(3)).await;
    let recent = sent_message(&*store, account.id, "wamid.P3", 4, now - hour).await;
    let claimed = ok(
        store.claim_events(now - hour, LEASE, 10).await,
        "claim_events",
    );
    let recent_event = claimed
        .iter()
        .find(|e| e.event.data.message_id == recent.id)
        .expect("recent event");
    ok(
        store
            .finish_event(
                recent_event.event.id,
                Some(sample_attempt(&recent_event.event, now - hour)),
                EventNext::Done,
            )
            .await,
        "finish",
    );
    let unfinished_event = claimed
        .iter()
        .find(|e| e.event.data.message_id == unfinished.id)
        .expect("unfinished event")
        .event
        .id;
    ok(
        store
            .finish_event(unfinished_event, None, EventNext::RetryAt(now))
            .await,
        "retry later",
    );

    // Pending statuses: one received long ago, one recently.
    ok(
        store
            .apply_status_updates(
                &[meta_update(
                    "wamid.OLDPENDING",
                    MetaStatus::Delivered,
                    at(0),
                )],
                at(0),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );
    ok(
        store
            .apply_status_updates(
                &[meta_update(
                    "wamid.NEWPENDING",
                    MetaStatus::Delivered,
                    now - hour,
                )],
                now - hour,
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );

    // Rate windows: one past, one current.
    ok(store.hit_rate_window("key:p", now - hour * 2).await, "hit");
    ok(
        store
            .hit_rate_window("key:p", now - chrono::Duration::minutes(10))
            .await,
        "hit",
    );

    let report = ok(store.purge_expired(now, policy).await, "purge_expired");
    assert_eq!(report.idempotency_records, 1, "{report:?}");
    assert_eq!(report.events, 1, "{report:?}");
    assert_eq!(report.pending_statuses, 1, "{report:?}");
    assert_eq!(report.rate_windows, 1, "{report:?}");
    let again = ok(store.purge_expired(now, policy).await, "purge_expired");
    assert_eq!(again, Default::default(), "a second purge finds nothing");

    assert_eq!(
        ok(
            store
                .idempotency_begin(account.id, &expired_key, &fingerprint(1), now)
                .await,
            "begin"
        ),
        Decision::Fresh,
        "the expired key is free"
    );
    assert_eq!(
        ok(
            store
                .idempotency_begin(account.id, &live_key, &fingerprint(3), now)
                .await,
            "begin"
        ),
        Decision::Conflict,
        "the live record is kept"
    );
    let attempts = ok(store.delivery_attempts(account.id, 10).await, "attempts");
    assert_eq!(
        attempts.iter().map(|a| a.at).collect::<Vec<_>>(),
        vec![now - hour],
        "attempts of purged events go with them"
    );
    let remaining = ok(store.claim_events(now, LEASE, 10).await, "claim_events");
    assert_eq!(
        remaining.iter().map(|e| e.event.id).collect::<Vec<_>>(),
        vec![unfinished_event],
        "unfinished events are never purged"
    );
    assert_eq!(
        ok(store.hit_rate_window("key:p", now - hour * 2).await, "hit"),
        1
    );
    assert_eq!(
        ok(
            store
                .hit_rate_window("key:p", now - chrono::Duration::minutes(10))
                .await,
            "hit"
        ),
        2
    );

    // The recent pending status is still applied; the purged one is gone.
    let old = sent_message(&*store, account.id, "wamid.OLDPENDING", 10, now).await;
    assert_eq!(old.status, Status::Sent, "the purged status is not applied");
    let new = sent_message(&*store, account.id, "wamid.NEWPENDING", 11, now).await;
    assert_eq!(new.status, Status::Delivered, "the kept status is applied");
}

// ---------------------------------------------------------------------------------------------------------------
// Counters under a random workload
// ---------------------------------------------------------------------------------------------------------------

/// A small deterministic generator (Knuth's MMIX LCG), so the workload is the same on every run and backend.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn assert_counts_match_recount(store: &dyn Store, account: AccountId, step: usize) {
    let counted = nonzero(&ok(store.status_counts(account).await, "status_counts"));
    let mut recount = StatusCounts::new();
    for m in all_messages(store, account).await {
        *recount.entry(m.status).or_insert(0) += 1;
    }
    assert_eq!(
        counted, recount,
        "status_counts differs from a recount after step {step}"
    );
    for status in Status::ALL {
        let filtered = ok(
            store
                .list_messages(
                    account,
                    &MessageFilter {
                        status: Some(status),
                        batch_id: None,
                    },
                    PageRequest { page: 1, limit: 1 },
                )
                .await,
            "list_messages",
        );
        assert_eq!(
            filtered.total,
            recount.get(&status).copied().unwrap_or(0),
            "list total for {status} after step {step}"
        );
    }
}

/// After a seeded pseudo-random sequence of claims, outcomes, Meta statuses, retries and inserts over many
/// messages, `status_counts` equals a recount of `list_messages` for every account.
pub async fn counters_match_recount(store: Arc<dyn Store>) {
    let mut rng = Lcg(0x5eed_2026);
    let accounts = [
        create_account_with_webhook(&*store).await.id,
        create_sample_account(&*store).await.id,
    ];
    let mut ids: Vec<(AccountId, MessageId)> = Vec::new();
    let mut created = 0i64;
    let new_message = |rng: &mut Lcg, created: &mut i64| {
        let account = accounts[rng.below(2) as usize];
        *created += 1;
        let send_at = (rng.below(4) == 0).then(|| at(*created + rng.below(600) as i64));
        NewMessage {
            send_at,
            ..message_at(account, "14155552671", *created)
        }
    };
    for _ in 0..60 {
        let m = new_message(&mut rng, &mut created);
        ids.push((m.account_id, m.id));
        insert(&*store, m.account_id, vec![m]).await;
    }

    let mut now = at(100);
    let mut held: Vec<(MessageId, u32)> = Vec::new();
    let mut wamids: Vec<String> = Vec::new();
    let statuses = [
        MetaStatus::Sent,
        MetaStatus::Delivered,
        MetaStatus::Read,
        MetaStatus::Failed,
    ];
    for step in 0..800 {
        match rng.below(10) {
            0 | 1 => {
                let limit = 1 + rng.below(8) as usize;
                let claimed = ok(store.claim_due(now, LEASE, limit).await, "claim_due");
                held.extend(claimed.iter().map(|c| (c.message.id, c.message.attempt)));
            }
            2..=4 if !held.is_empty() => {
                let (id, attempt) = held.swap_remove(rng.below(held.len() as u64) as usize);
                let outcome = match rng.below(4) {
                    0 => Outcome::Sent {
                        wamid: format!("wamid.R{step}"),
                    },
                    1 => Outcome::Retry {
                        next_attempt_at: now + chrono::Duration::seconds(rng.below(120) as i64),
                        error: failure("transient", Some(131000)),
                    },
                    2 => Outcome::Failed {
                        error: failure("permanent", Some(131026)),
                    },
                    _ => Outcome::Release,
                };
                let sent = matches!(outcome, Outcome::Sent { .. });
                match store.record_outcome(id, attempt, outcome, now).await {
                    Ok(m) => {
                        if sent {
                            wamids.push(m.wamid.expect("a sent message has its wamid"));
                        }
                    }
                    Err(StoreError::Stale) => {}
                    Err(e) => panic!("record_outcome at step {step}: {e:?}"),
                }
            }
            5 | 6 => {
                let n = 1 + rng.below(4);
                let updates: Vec<StatusUpdate> = (0..n)
                    .map(|i| {
                        let wamid = if wamids.is_empty() || rng.below(5) == 0 {
                            // Statuses for sends not recorded yet (some never will be).
                            format!("wamid.R{}", step as u64 + 1 + i + rng.below(40))
                        } else {
                            wamids[rng.below(wamids.len() as u64) as usize].clone()
                        };
                        let status = statuses[rng.below(4) as usize];
                        StatusUpdate {
                            error: (status == MetaStatus::Failed)
                                .then(|| failure("undeliverable", Some(131026))),
                            ..meta_update(
                                &wamid,
                                status,
                                now - chrono::Duration::seconds(rng.below(30) as i64),
                            )
                        }
                    })
                    .collect();
                let applied = ok(
                    store
                        .apply_status_updates(&updates, now, DEFAULT_MAX_PENDING_STATUSES)
                        .await,
                    "apply_status_updates",
                );
                assert_eq!(applied.len(), updates.len());
            }
            7 => {
                let (account, id) = ids[rng.below(ids.len() as u64) as usize];
                match store.retry_message(account, id, now).await {
                    Ok(m) => assert_eq!(m.status, Status::Queued),
                    Err(StoreError::Conflict(_)) => {}
                    Err(e) => panic!("retry_message at step {step}: {e:?}"),
                }
            }
            8 => now += chrono::Duration::seconds(1 + rng.below(45) as i64),
            _ => {
                let m = new_message(&mut rng, &mut created);
                ids.push((m.account_id, m.id));
                insert(&*store, m.account_id, vec![m]).await;
            }
        }
        if step % 100 == 99 {
            for account in accounts {
                assert_counts_match_recount(&*store, account, step).await;
            }
        }
    }
    for account in accounts {
        assert_counts_match_recount(&*store, account, 800).await;
    }
    let mut total = 0;
    let mut summed = StatusCounts::new();
    for account in accounts {
        for (status, n) in ok(store.status_counts(account).await, "status_counts") {
            total += n;
            *summed.entry(status).or_default() += n;
        }
    }
    assert_eq!(
        total,
        ids.len() as u64,
        "every inserted message is counted once"
    );
    assert_eq!(
        nonzero(&ok(store.status_totals().await, "status_totals")),
        nonzero(&summed),
        "status_totals is the sum of every account's counters"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Running the suite
// ---------------------------------------------------------------------------------------------------------------

/// A phone number id and a WABA id belong to one account (a `Conflict` that names the id, never the other
/// account); both and the verify token's hash find the account; clearing credentials frees them.
pub async fn meta_routing_keys_are_unique(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    let creds = |pnid: &str, waba: Option<&str>, token: Option<&str>| MetaCredentials {
        waba_id: waba.map(str::to_owned),
        verify_token: token.map(str::to_owned),
        ..sample_credentials(pnid)
    };
    ok(
        store
            .update_account(
                a.id,
                AccountUpdate::SetCredentials(creds("5550001", Some("7770001"), Some("tok-a"))),
            )
            .await,
        "SetCredentials(a)",
    );
    // Saving the same credentials again on the same account is no conflict.
    ok(
        store
            .update_account(
                a.id,
                AccountUpdate::SetCredentials(creds("5550001", Some("7770001"), Some("tok-a"))),
            )
            .await,
        "SetCredentials(a) again",
    );
    let found = |r: StoreResult<Option<Account>>, what: &str| ok(r, what).map(|x| x.id);
    assert_eq!(
        found(store.account_by_phone_number_id("5550001").await, "by pnid"),
        Some(a.id)
    );
    assert_eq!(
        found(store.account_by_waba_id("7770001").await, "by waba"),
        Some(a.id)
    );
    let hash = crate::store::verify_token_digest("tok-a");
    assert_eq!(
        found(store.account_by_verify_token_hash(&hash).await, "by token"),
        Some(a.id)
    );
    let other = crate::store::verify_token_digest("tok-b");
    assert_eq!(
        found(store.account_by_verify_token_hash(&other).await, "by token"),
        None
    );
    assert_eq!(
        found(store.account_by_waba_id("7770002").await, "by waba"),
        None
    );

    let taken = store
        .update_account(
            b.id,
            AccountUpdate::SetCredentials(creds("5550001", None, None)),
        )
        .await;
    match &taken {
        Err(StoreError::Conflict(m)) => {
            assert!(m.contains("5550001"), "the conflict names the number: {m}");
            assert!(
                !m.contains(&a.email) && !m.contains(&a.id.to_string()),
                "the conflict does not reveal the other account: {m}"
            );
        }
        other => panic!("a second account took phone number id 5550001: {other:?}"),
    }
    let taken = store
        .update_account(
            b.id,
            AccountUpdate::SetCredentials(creds("5550002", Some("7770001"), None)),
        )
        .await;
    assert!(
        matches!(&taken, Err(StoreError::Conflict(m)) if m.contains("7770001")),
        "a second account took WABA id 7770001: {taken:?}"
    );
    let b_now = ok(store.account(b.id).await, "account(b)").expect("b exists");
    assert_eq!(b_now.credentials, None, "a refused change leaves nothing");
    // The routing still finds the first owner.
    assert_eq!(
        found(store.account_by_phone_number_id("5550001").await, "by pnid"),
        Some(a.id)
    );

    ok(
        store
            .update_account(
                b.id,
                AccountUpdate::SetCredentials(creds("5550002", Some("7770002"), Some("tok-a"))),
            )
            .await,
        "SetCredentials(b) with its own ids",
    );
    ok(
        store
            .update_account(a.id, AccountUpdate::ClearCredentials)
            .await,
        "ClearCredentials(a)",
    );
    assert_eq!(
        found(store.account_by_phone_number_id("5550001").await, "by pnid"),
        None
    );
    assert_eq!(
        found(store.account_by_waba_id("7770001").await, "by waba"),
        None
    );
    assert_eq!(
        found(store.account_by_verify_token_hash(&hash).await, "by token"),
        Some(b.id),
        "the token now belongs to b only"
    );
    ok(
        store
            .update_account(
                b.id,
                AccountUpdate::SetCredentials(creds("5550001", Some("7770001"), None)),
            )
            .await,
        "SetCredentials(b) with the freed ids",
    );
    assert_eq!(
        found(store.account_by_phone_number_id("5550001").await, "by pnid"),
        Some(b.id)
    );
    assert_eq!(
        found(store.account_by_verify_token_hash(&hash).await, "by token"),
        None,
        "a removed verify token no longer matches"
    );
}

/// Meta's pricing is kept from any matched status (even one that changes nothing), Meta's error field by field
/// from a failure; both survive a status that arrives before its send, and a manual retry clears them.
pub async fn meta_pricing_and_error_details_are_kept(store: Arc<dyn Store>) {
    use crate::message::{MetaError, Pricing};
    let account = create_sample_account(&*store).await;
    let pricing = |kind: &str| Pricing {
        pricing_model: Some("PMP".into()),
        category: Some("marketing".into()),
        kind: Some(kind.into()),
        billable: Some(true),
    };
    let meta_error = MetaError {
        code: 131026,
        title: Some("Message undeliverable".into()),
        message: Some("Message undeliverable".into()),
        details: Some("Message Undeliverable.".into()),
    };
    let failure = FailureInfo {
        message: "(#131026) Message undeliverable: Message Undeliverable.".into(),
        code: Some(131026),
        meta: Some(meta_error.clone()),
    };

    let m = sent_message(&*store, account.id, "wamid.PRICE", 0, at(1)).await;
    assert_eq!((m.pricing.clone(), m.meta_error.clone()), (None, None));
    let sent = StatusUpdate {
        account_id: Some(account.id),
        pricing: Some(pricing("regular")),
        ..meta_update("wamid.PRICE", MetaStatus::Sent, at(2))
    };
    let r = ok(
        store
            .apply_status_updates(&[sent], at(2), DEFAULT_MAX_PENDING_STATUSES)
            .await,
        "apply(sent)",
    );
    assert_eq!(
        r,
        [StatusApplied::Ignored(m.id)],
        "the send already said sent"
    );
    let got = get(&*store, account.id, m.id).await;
    assert_eq!(
        got.pricing,
        Some(pricing("regular")),
        "pricing kept from a duplicate"
    );
    let delivered = StatusUpdate {
        pricing: Some(pricing("free_entry_point")),
        ..meta_update("wamid.PRICE", MetaStatus::Delivered, at(3))
    };
    ok(
        store
            .apply_status_updates(&[delivered], at(3), DEFAULT_MAX_PENDING_STATUSES)
            .await,
        "apply(delivered)",
    );
    let got = get(&*store, account.id, m.id).await;
    assert_eq!(got.status, Status::Delivered);
    assert_eq!(got.pricing, Some(pricing("free_entry_point")));

    // A failure before the send's outcome is stored: kept with its details, applied when the wamid arrives.
    let early = StatusUpdate {
        account_id: Some(account.id),
        error: Some(failure.clone()),
        pricing: Some(pricing("regular")),
        ..meta_update("wamid.EARLYFAIL", MetaStatus::Failed, at(5))
    };
    let r = ok(
        store
            .apply_status_updates(&[early], at(5), DEFAULT_MAX_PENDING_STATUSES)
            .await,
        "apply(early)",
    );
    assert_eq!(r, [StatusApplied::Pending]);
    let f = sent_message(&*store, account.id, "wamid.EARLYFAIL", 4, at(6)).await;
    let got = get(&*store, account.id, f.id).await;
    assert_eq!(got.status, Status::Failed);
    assert_eq!(got.error_code, Some(131026));
    assert_eq!(got.meta_error, Some(meta_error.clone()));
    assert_eq!(got.pricing, Some(pricing("regular")));

    let retried = ok(
        store.retry_message(account.id, f.id, at(7)).await,
        "retry_message",
    );
    assert_eq!((retried.meta_error, retried.pricing), (None, None));
    let got = get(&*store, account.id, f.id).await;
    assert_eq!((got.meta_error, got.pricing), (None, None));
}

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    accounts_create_and_lookup(make().await).await;
    account_email_unique_case_insensitive(make().await).await;
    account_updates(make().await).await;
    rotate_key_compare_and_swap(make().await).await;
    list_accounts_pages_by_id(make().await).await;
    external_events_recorded_once(make().await).await;
    insert_and_get_messages(make().await).await;
    list_messages_pages_and_filters(make().await).await;
    tenant_isolation(make().await).await;
    idempotency_decisions(make().await).await;
    insert_conflicts_on_finished_key(make().await).await;
    concurrent_idempotency_begin_gives_one_fresh(make().await).await;
    concurrent_inserts_with_one_key_create_one_set(make().await).await;
    claim_sets_lease_attempt_and_tries(make().await).await;
    claim_order_and_limit(make().await).await;
    claim_is_fair_across_accounts(make().await).await;
    claim_limits_per_account_skip_and_round_robin(make().await).await;
    scheduled_not_claimed_before_due(make().await).await;
    claim_skips_inactive_accounts_and_open_breakers(make().await).await;
    expired_lease_is_reclaimed_and_stale_attempt_fenced(make().await).await;
    concurrent_claimers_never_share(make().await).await;
    sent_outcome(make().await).await;
    retry_and_failed_outcomes(make().await).await;
    release_returns_to_queue(make().await).await;
    wamid_is_unique(make().await).await;
    meta_statuses_are_monotonic(make().await).await;
    early_status_applied_when_sent(make().await).await;
    status_change_writes_outbox_event(make().await).await;
    outbox_orders_events_per_message(make().await).await;
    outbox_backlog_counts_unfinished_events(make().await).await;
    delivery_attempts_are_recorded(make().await).await;
    retry_only_from_failed(make().await).await;
    inbound_window(make().await).await;
    rate_windows_count_hits(make().await).await;
    next_due_at_tracks_the_earliest_due(make().await).await;
    purge_removes_only_expired(make().await).await;
    counters_match_recount(make().await).await;
    message_timeseries_buckets(make().await).await;
    meta_routing_keys_are_unique(make().await).await;
    meta_pricing_and_error_details_are_kept(make().await).await;
}

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per conformance check, each
/// calling `$make().await` for a fresh `Arc<dyn Store>`. The calling crate needs `tokio` with `macros` and
/// `rt-multi-thread` among its dev-dependencies.
///
/// Backends on an external server use the fixture form, `store_conformance_tests!(fixture make, finish)`:
/// `make().await` returns `Option<(Arc<dyn Store>, F)>` — `None` skips the check (after `make` said why) — and
/// `finish(f).await` cleans up after a check that passed (a failed check leaves its data for inspection).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:path) => {
        $crate::store_conformance_tests!(@each checks $make;);
    };
    (fixture $make:path, $finish:path) => {
        $crate::store_conformance_tests!(@each fixture_checks $make; $finish);
    };
    (@each $arm:ident $make:path; $($finish:path)?) => {
        $crate::store_conformance_tests!(@$arm $make; $($finish)?;
            accounts_create_and_lookup,
            account_email_unique_case_insensitive,
            account_updates,
            rotate_key_compare_and_swap,
            list_accounts_pages_by_id,
            external_events_recorded_once,
            external_event_applied_with_its_change,
            insert_and_get_messages,
            list_messages_pages_and_filters,
            tenant_isolation,
            idempotency_decisions,
            insert_conflicts_on_finished_key,
            concurrent_idempotency_begin_gives_one_fresh,
            concurrent_inserts_with_one_key_create_one_set,
            claim_sets_lease_attempt_and_tries,
            claim_order_and_limit,
            claim_is_fair_across_accounts,
            claim_limits_per_account_skip_and_round_robin,
            scheduled_not_claimed_before_due,
            claim_skips_inactive_accounts_and_open_breakers,
            expired_lease_is_reclaimed_and_stale_attempt_fenced,
            concurrent_claimers_never_share,
            sent_outcome,
            retry_and_failed_outcomes,
            release_returns_to_queue,
            wamid_is_unique,
            meta_statuses_are_monotonic,
            early_status_applied_when_sent,
            pending_statuses_expire_by_receipt,
            pending_statuses_capped_per_account,
            status_change_writes_outbox_event,
            outbox_orders_events_per_message,
            outbox_backlog_counts_unfinished_events,
            delivery_attempts_are_recorded,
            retry_only_from_failed,
            inbound_window,
            rate_windows_count_hits,
            next_due_at_tracks_the_earliest_due,
            purge_removes_only_expired,
            counters_match_recount,
            message_timeseries_buckets,
            meta_routing_keys_are_unique,
            meta_pricing_and_error_details_are_kept,
        );
    };
    (@checks $make:path; ; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                $crate::testing::conformance::$check($make().await).await;
            }
        )*
    };
    (@fixture_checks $make:path; $finish:path; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let Some((store, fixture)) = $make().await else {
                    return;
                };
                $crate::testing::conformance::$check(store).await;
                $finish(fixture).await;
            }
        )*
    };
}
