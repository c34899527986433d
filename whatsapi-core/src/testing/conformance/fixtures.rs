//! Builders and assertions shared by the checks (the public ones also serve other crates' tests).

use super::prelude::*;

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

/// A new account with a fresh id, created at [`base_time`].
pub fn sample_account() -> NewAccount {
    NewAccount {
        id: AccountId::new(),
        name: "Acme Test".into(),
        created_at: base_time(),
    }
}

/// A queued text message of `account` to `to` (E.164 digits), created at [`base_time`], with metadata.
pub fn sample_message(account: AccountId, to: &str) -> NewMessage {
    let mut metadata = serde_json::Map::new();
    metadata.insert("orderId".into(), json!("1234"));
    NewMessage {
        from: None,
        id: MessageId::new(),
        account_id: account,
        batch_id: None,
        to: PhoneNumber::parse(to)
            .expect("sample_message needs an E.164 number")
            .into(),
        content: MessageContent::Text {
            body: "Hi Sarah! Your order #1234 has shipped.".into(),
        },
        reply_to: None,
        send_at: None,
        expires_at: None,
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
        throughput_per_second: None,
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
    record_sent(store, &c, wamid, now).await
}

/// Makes the account inactive (its messages are never claimed).
pub async fn deactivate(store: &dyn Store, account: AccountId) {
    ok(
        store
            .update_account(account, AccountUpdate::SetActive(false))
            .await,
        "deactivate",
    );
}

/// Opens the account's circuit breaker until `until` (tripped once, after `failures` failures).
pub async fn open_breaker(
    store: &dyn Store,
    account: AccountId,
    failures: u32,
    until: DateTime<Utc>,
) {
    ok(
        store
            .update_account(
                account,
                AccountUpdate::SetBreaker(BreakerState {
                    consecutive_failures: failures,
                    open_until: Some(until),
                    trips: 1,
                    probing: false,
                }),
            )
            .await,
        "open breaker",
    );
}

/// Records that the claimed message was sent (`Sent { wamid }` for its attempt) at `now`.
pub async fn record_sent(
    store: &dyn Store,
    claimed: &Claimed,
    wamid: &str,
    now: DateTime<Utc>,
) -> Message {
    ok(
        store
            .record_outcome(
                claimed.message.id,
                claimed.message.attempt,
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
        event_type: event.event_type,
        message_id: event.message_id(),
        status: event.status(),
        url: sample_webhook().url,
        at: when,
        http_status: Some(200),
        error: None,
        duration_ms: 12,
    }
}

pub(super) fn ok<T>(result: StoreResult<T>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what} failed: {e:?}"))
}

pub(super) fn claim_ids(claimed: &[Claimed]) -> Vec<MessageId> {
    claimed.iter().map(|c| c.message.id).collect()
}

pub(super) fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::parse(s).expect("valid key")
}

pub(super) fn fingerprint(n: i64) -> Fingerprint {
    Fingerprint::of(RequestKind::Send, &json!({ "n": n }))
}

pub(super) fn response(n: i64) -> StoredOutcome {
    StoredOutcome(json!({ "id": "m", "n": n }))
}

pub(super) fn failure(message: &str, code: Option<i64>) -> FailureInfo {
    FailureInfo {
        meta: None,
        message: message.into(),
        code,
    }
}

/// Counts without zero entries, so backends that report zeros and those that omit them compare equal.
pub(super) fn nonzero(counts: &StatusCounts) -> StatusCounts {
    counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| (*s, *n))
        .collect()
}

pub(super) fn counts_of(pairs: &[(Status, u64)]) -> StatusCounts {
    pairs.iter().copied().filter(|(_, n)| *n > 0).collect()
}

pub(super) async fn get(store: &dyn Store, account: AccountId, id: MessageId) -> Message {
    ok(store.get_message(account, id).await, "get_message")
        .unwrap_or_else(|| panic!("message {id} should exist for its account"))
}

pub(super) async fn all_messages(store: &dyn Store, account: AccountId) -> Vec<Message> {
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
