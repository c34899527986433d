//! Facade tests: accounts, keys, credentials, webhooks, send acceptance, idempotency, listing and analytics.

use std::sync::Arc;

use serde_json::json;

use super::{BuildError, Error, WhatsApi};
use crate::Store;
use crate::account::{AccountUpdate, CredentialsStatus, MetaCredentials};
use crate::engine::harness::{Harness, phone, settle};
use crate::idempotency::IdempotencyKey;
use crate::message::Status;
use crate::send::{BulkRequest, FieldError, SendRequest, ValidationErrors};
use crate::status::MetaStatus;
use crate::store::{MessageFilter, PageRequest, StatusUpdate, TenantStore};
use crate::testing::{FakeTransport, MemoryStore, RecordingSink, Script};
use crate::transport::SendError;

fn fields(e: &Error) -> Vec<String> {
    match e {
        Error::Validation(ValidationErrors(v)) => v.iter().map(|f| f.field.clone()).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn creds(token: &str, id: &str) -> MetaCredentials {
    MetaCredentials {
        waba_id: None,
        verify_token_hash: None,
        access_token: token.into(),
        phone_number_id: id.into(),
        app_secret: None,
        verify_token: None,
        throughput_per_second: None,
    }
}

#[test]
fn the_builder_needs_its_parts_and_a_sane_config() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let err = WhatsApi::builder()
        .store(store.clone())
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::Missing("transport"));
    let err = WhatsApi::builder()
        .store(store.clone())
        .transport(Arc::new(FakeTransport::new()))
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::Missing("webhook_sink"));
    let err = WhatsApi::builder()
        .store(store)
        .transport(Arc::new(FakeTransport::new()))
        .webhook_sink(Arc::new(RecordingSink::new()))
        .config(crate::EngineConfig {
            concurrency: 0,
            ..Default::default()
        })
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::InvalidConfig(m) if m.contains("concurrency")));
}

#[tokio::test]
async fn an_account_needs_only_a_name_to_save_credentials_and_send() {
    let h = Harness::new();
    let err = h.api.create_account("   ").await.unwrap_err();
    assert_eq!(fields(&err), ["name"]);
    let err = h.api.create_account(&"n".repeat(201)).await.unwrap_err();
    assert_eq!(fields(&err), ["name"]);

    let acc = h.api.create_account("  Acme Ltd  ").await.unwrap();
    assert_eq!(acc.name, "Acme Ltd");
    assert!(acc.active);
    assert_eq!(acc.credentials, None);
    let acc = h
        .api
        .set_credentials(acc.id, creds("EAAc", "1234567890"))
        .await
        .unwrap();
    let sent = h.api.send(&acc, text("14155552671", "hi")).await.unwrap();
    assert_eq!(sent.status, Status::Queued);
    assert_eq!(h.api.me(acc.id).await.unwrap().name, "Acme Ltd");
}

#[tokio::test]
async fn credentials_are_validated_saved_verified_and_removed() {
    let h = Harness::new();
    let reg = h.api.create_account("Acme").await.unwrap();
    let id = reg.id;

    let err = h.api.verify_credentials(id).await.unwrap_err();
    assert_eq!(err, Error::NoCredentials);

    let err = h
        .api
        .set_credentials(id, creds(" ", "+1 555"))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&err),
        ["whatsappAccessToken", "whatsappPhoneNumberId"]
    );

    let acc = h
        .api
        .set_credentials(id, creds(" EAAc ", "1234567890"))
        .await
        .unwrap();
    assert_eq!(acc.credentials.as_ref().unwrap().access_token, "EAAc");
    assert_eq!(acc.credentials_status, CredentialsStatus::Unverified);

    let check = h.api.verify_credentials(id).await.unwrap();
    assert!(check.valid);
    assert_eq!(check.info.unwrap().verified_name, "Test Business");
    assert!(matches!(
        h.api.me(id).await.unwrap().credentials_status,
        CredentialsStatus::Verified { .. }
    ));

    // A network failure says nothing about the credentials.
    h.fake.verify_with(Err(SendError::network("timed out")));
    let check = h.api.verify_credentials(id).await.unwrap();
    assert!(!check.valid);
    assert!(matches!(
        h.api.me(id).await.unwrap().credentials_status,
        CredentialsStatus::Verified { .. }
    ));

    h.fake.verify_with(Err(SendError::meta(
        401,
        190,
        "Error validating access token",
    )));
    let check = h.api.verify_credentials(id).await.unwrap();
    assert_eq!(
        (check.valid, check.code, check.error.as_deref()),
        (
            false,
            Some(190),
            Some("(#190) Error validating access token")
        )
    );
    assert!(matches!(
        h.api.me(id).await.unwrap().credentials_status,
        CredentialsStatus::Invalid { .. }
    ));

    let acc = h.api.remove_credentials(id).await.unwrap();
    assert!(acc.credentials.is_none());
    assert!(matches!(
        h.api.me(crate::AccountId::new()).await.unwrap_err(),
        Error::NotFound(_)
    ));
}

#[tokio::test]
async fn webhooks_get_a_new_secret_each_time_and_can_be_removed() {
    let h = Harness::new();
    let acc = h.account().await;
    let err = h.api.set_webhook(acc.id, "ftp://x").await.unwrap_err();
    assert_eq!(fields(&err), ["url"]);
    let first = h
        .api
        .set_webhook(acc.id, "https://yourapp.com/webhooks/whatsapi")
        .await
        .unwrap();
    assert!(first.secret.starts_with("whsec_"));
    let second = h
        .api
        .set_webhook(acc.id, "https://yourapp.com/webhooks/whatsapi")
        .await
        .unwrap();
    assert_ne!(first.secret, second.secret);
    assert_eq!(h.api.me(acc.id).await.unwrap().webhook, Some(second));
    h.api.remove_webhook(acc.id).await.unwrap();
    assert_eq!(h.api.me(acc.id).await.unwrap().webhook, None);
}

fn text(to: &str, body: &str) -> SendRequest {
    SendRequest::text(phone(to), body)
}

fn hello_world(to: &str) -> SendRequest {
    SendRequest::template(phone(to), "hello_world", "en_US")
}

#[tokio::test]
async fn send_queues_and_validates() {
    let h = Harness::new();
    let acc = h.account().await;
    let ok = h.api.send(&acc, hello_world("14155552671")).await.unwrap();
    assert_eq!(
        (ok.status, ok.scheduled_for, ok.replayed),
        (Status::Queued, None, false)
    );
    let m = h.api.get_message(acc.id, ok.id).await.unwrap();
    assert_eq!(m.status, Status::Queued);
    assert_eq!(m.content.template().unwrap().name, "hello_world");

    let err = h
        .api
        .send(&acc, text("14155552671", " "))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["text"]);
    let bad = SendRequest::template(phone("14155552671"), "Hello World", "english")
        .body_params([""])
        .send_at(h.now())
        .metadata(
            json!({"a": "x".repeat(17_000)})
                .as_object()
                .unwrap()
                .clone(),
        );
    let err = h.api.send(&acc, bad).await.unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "template.name",
            "template.language",
            "template.components[0].parameters[0].text",
            "send_at",
            "metadata"
        ]
    );
    let stray = text("14155552671", "hi").body_params(["x"]);
    assert_eq!(
        fields(&h.api.send(&acc, stray).await.unwrap_err()),
        ["text"]
    );

    let at = h.now() + chrono::Duration::hours(1);
    let later = h
        .api
        .send(&acc, text("14155552671", "later").send_at(at))
        .await
        .unwrap();
    assert_eq!(
        (later.status, later.scheduled_for),
        (Status::Scheduled, Some(at))
    );

    // Another account cannot see the message.
    let other = h.account().await;
    assert_eq!(
        h.api.get_message(other.id, ok.id).await.unwrap_err(),
        Error::NotFound("message not found".into())
    );
}

#[tokio::test]
async fn idempotency_keys_replay_conflict_and_are_not_spent_by_invalid_requests() {
    let h = Harness::new();
    let acc = h.account().await;
    let key = IdempotencyKey::parse("order-1234-shipped").unwrap();
    let request = || text("14155552671", "Your order shipped").idempotency_key(key.clone());

    // A validation failure does not keep the key.
    let err = h
        .api
        .send(&acc, text("14155552671", "").idempotency_key(key.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)));

    let first = h.api.send(&acc, request()).await.unwrap();
    assert!(!first.replayed);
    let again = h.api.send(&acc, request()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.id, again.status, again.scheduled_for),
        (first.id, first.status, first.scheduled_for)
    );
    let page = h
        .api
        .list_messages(
            acc.id,
            MessageFilter::default(),
            PageRequest { page: 1, limit: 20 },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1, "a replay sends nothing");

    let err = h
        .api
        .send(
            &acc,
            text("14155552671", "other").idempotency_key(key.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(err, Error::IdempotencyConflict);
    // The same key on a bulk request is another request.
    let err = h
        .api
        .send_bulk(
            &acc,
            BulkRequest::new([text("14155552671", "Your order shipped")])
                .idempotency_key(key.clone()),
            100,
        )
        .await
        .unwrap_err();
    assert_eq!(err, Error::IdempotencyConflict);
    // Keys are per account.
    let other = h.account().await;
    assert!(!h.api.send(&other, request()).await.unwrap().replayed);

    // Bulk outcomes replay too.
    let bulk_key = IdempotencyKey::parse("bulk-1").unwrap();
    let bulk = || {
        let mut b = BulkRequest::new([text("14155552671", "a"), text("14155552672", "")]);
        b.push_rejected(vec![FieldError {
            field: "to".into(),
            message: "required".into(),
        }]);
        b.idempotency_key(bulk_key.clone())
    };
    let b1 = h.api.send_bulk(&acc, bulk(), 100).await.unwrap();
    let b2 = h.api.send_bulk(&acc, bulk(), 100).await.unwrap();
    assert!(!b1.replayed && b2.replayed);
    assert_eq!(
        (b1.batch_id, b1.total, b1.queued, &b1.errors),
        (b2.batch_id, b2.total, b2.queued, &b2.errors)
    );
    assert_eq!((b2.total, b2.queued, b2.failed()), (3, 1, 2));

    // A cap lowered since (a plan change) does not turn the replay into a refusal: the key is looked up first.
    let b3 = h.api.send_bulk(&acc, bulk(), 2).await.unwrap();
    assert!(b3.replayed);
    assert_eq!(b3.batch_id, b1.batch_id);
    let fresh = || {
        BulkRequest::new([
            text("14155552671", "a"),
            text("14155552672", "b"),
            text("14155552673", "c"),
        ])
    };
    let err = h
        .api
        .send_bulk(
            &acc,
            fresh().idempotency_key(IdempotencyKey::parse("bulk-2").unwrap()),
            2,
        )
        .await
        .unwrap_err();
    assert_eq!(err, Error::TooManyItems { max: 2, got: 3 });
    // The refused request left its key free.
    let ok = h
        .api
        .send_bulk(
            &acc,
            fresh().idempotency_key(IdempotencyKey::parse("bulk-2").unwrap()),
            3,
        )
        .await
        .unwrap();
    assert!(!ok.replayed && ok.queued == 3);
}

/// The schedule is judged after the key's lookup: a repeat of an accepted scheduled send replays its outcome even
/// once the scheduled time has passed, instead of failing on `send_at`.
#[tokio::test(start_paused = true)]
async fn a_repeat_of_a_scheduled_send_replays_after_its_time() {
    let h = Harness::new();
    let acc = h.account().await;
    let key = IdempotencyKey::parse("reminder-1").unwrap();
    let at = h.now() + chrono::Duration::seconds(30);
    let request = || {
        text("14155552671", "Reminder")
            .send_at(at)
            .idempotency_key(key.clone())
    };
    let first = h.api.send(&acc, request()).await.unwrap();
    assert_eq!(first.status, Status::Scheduled);
    h.advance(std::time::Duration::from_secs(60)).await;
    let again = h.api.send(&acc, request()).await.unwrap();
    assert!(again.replayed);
    assert_eq!((again.id, again.scheduled_for), (first.id, Some(at)));
    // Without the key, the same request is judged now: its time has passed.
    let err = h
        .api
        .send(&acc, text("14155552671", "Reminder").send_at(at))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["send_at"]);
}

#[tokio::test]
async fn bulk_queues_valid_items_and_reports_the_rest() {
    let h = Harness::new();
    let acc = h.account().await;
    let mut body = BulkRequest::new([text("14155552671", "Hi Alice")]);
    body.push_rejected(vec![FieldError {
        field: "to".into(),
        message: "not a phone number".into(),
    }]);
    body.push(hello_world("14155552673"));
    body.push(text("14155552674", "keyed").idempotency_key(IdempotencyKey::parse("k").unwrap()));
    let data = h.api.send_bulk(&acc, body, 100).await.unwrap();
    assert_eq!((data.total, data.queued, data.failed()), (4, 2, 2));
    assert_eq!(
        data.errors
            .iter()
            .map(|e| (e.index, e.details[0].field.as_str()))
            .collect::<Vec<_>>(),
        [(1, "to"), (3, "idempotency_key")]
    );
    let page = h
        .api
        .list_messages(
            acc.id,
            MessageFilter {
                status: None,
                batch_id: Some(data.batch_id),
            },
            PageRequest { page: 1, limit: 20 },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 2);

    let all_bad = BulkRequest::new([
        text("14155552671", ""),
        text("14155552672", "x").send_at(h.now()),
    ]);
    let err = h.api.send_bulk(&acc, all_bad, 100).await.unwrap_err();
    assert_eq!(fields(&err), ["items[0].text", "items[1].send_at"]);

    // The caller's cap applies, and an empty request is refused.
    let too_many = BulkRequest::new((0..4).map(|_| text("14155552671", "x")));
    let err = h.api.send_bulk(&acc, too_many, 3).await.unwrap_err();
    assert_eq!(err, Error::TooManyItems { max: 3, got: 4 });
    let err = h
        .api
        .send_bulk(&acc, BulkRequest::default(), 3)
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["items"]);

    // Real sends need credentials; dry runs do not.
    let bare = h.api.create_account("Bare").await.unwrap();
    let real = BulkRequest::new([text("14155552671", "x")]);
    assert_eq!(
        h.api.send_bulk(&bare, real, 100).await.unwrap_err(),
        Error::NoCredentials
    );
    assert_eq!(
        h.api
            .send(&bare, text("14155552671", "x"))
            .await
            .unwrap_err(),
        Error::NoCredentials
    );
    let dry = BulkRequest::new([text("14155552671", "x").dry_run(true)]);
    assert_eq!(h.api.send_bulk(&bare, dry, 100).await.unwrap().queued, 1);
}

#[tokio::test]
async fn strict_window_accounts_send_text_only_to_recent_writers() {
    let h = Harness::new();
    let acc = h.account().await;
    let acc = h
        .store
        .update_account(acc.id, AccountUpdate::SetStrictWindow(true))
        .await
        .unwrap();
    let err = h
        .api
        .send(&acc, text("14155552671", "hi"))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["text"]);
    h.api.send(&acc, hello_world("14155552671")).await.unwrap();
    h.api
        .record_inbound(acc.id, "14155552671", h.now() - chrono::Duration::hours(1))
        .await
        .unwrap();
    h.api.send(&acc, text("14155552671", "hi")).await.unwrap();
}

#[tokio::test]
async fn the_window_of_a_username_user_is_kept_by_bsuid() {
    use crate::recipient::{Recipient, UserId};
    let h = Harness::new();
    let acc = h.account().await;
    let acc = h
        .store
        .update_account(acc.id, AccountUpdate::SetStrictWindow(true))
        .await
        .unwrap();
    let user = UserId::parse("US.13491208655302741918").unwrap();
    let err = h
        .api
        .send(&acc, SendRequest::text(user.clone(), "hi"))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["text"]);
    assert!(err.to_string().contains("US.13491208655302741918"), "{err}");
    // Meta names the user only by BSUID when they write behind a username.
    h.api
        .record_inbound(acc.id, user.as_str(), h.now() - chrono::Duration::hours(2))
        .await
        .unwrap();
    let queued = h
        .api
        .send(&acc, SendRequest::text(user.clone(), "hi"))
        .await
        .unwrap();
    let m = h.api.get_message(acc.id, queued.id).await.unwrap();
    assert_eq!(m.to, Recipient::user(user.clone()));
    // Known by both: the window opened under the BSUID counts for the phone number's sends too.
    let both = Recipient::both(phone("14155552699"), user);
    h.api
        .send(&acc, SendRequest::text(both, "hi"))
        .await
        .unwrap();
    let err = h
        .api
        .send(&acc, text("14155552699", "hi"))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["text"]);
}

#[tokio::test]
async fn a_reply_names_its_message_by_wamid_or_whatsapi_id() {
    let h = Harness::new();
    let acc = h.account().await;
    let other = h.account().await;
    let given = h
        .api
        .send(
            &acc,
            text("14155552671", "Thanks!").reply_to("wamid.FROM.CUSTOMER"),
        )
        .await
        .unwrap();
    let m = h.api.get_message(acc.id, given.id).await.unwrap();
    assert_eq!(m.reply_to.as_deref(), Some("wamid.FROM.CUSTOMER"));

    // A whatsapi id of a message not sent yet has no wamid to quote.
    let first = h
        .api
        .send(&acc, text("14155552671", "Your order"))
        .await
        .unwrap();
    let err = h
        .api
        .send(
            &acc,
            text("14155552671", "More").reply_to(first.id.to_string()),
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["context.message_id"]);
    assert!(err.to_string().contains("no WhatsApp id yet"), "{err}");
    // Another account's id is unknown here.
    let err = h
        .api
        .send(
            &other,
            text("14155552671", "More").reply_to(first.id.to_string()),
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["context.message_id"]);
    // Blank, and on a reaction: refused by validation.
    for req in [
        text("14155552671", "x").reply_to("  "),
        SendRequest::reaction(phone("14155552671"), "wamid.X", "\u{1F44D}").reply_to("wamid.Y"),
    ] {
        let err = h.api.send(&acc, req).await.unwrap_err();
        assert_eq!(fields(&err), ["context.message_id"]);
    }
}

#[tokio::test]
async fn listing_validates_its_page_and_filters() {
    let h = Harness::new();
    let acc = h.account().await;
    for i in 0..3 {
        h.send_text(&acc, &format!("141555500{i:02}")).await;
    }
    for (page, limit, bad) in [(0, 20, "page"), (1, 0, "limit"), (1, 201, "limit")] {
        let err = h
            .api
            .list_messages(
                acc.id,
                MessageFilter::default(),
                PageRequest { page, limit },
            )
            .await
            .unwrap_err();
        assert_eq!(fields(&err), [bad]);
    }
    let page = h
        .api
        .list_messages(
            acc.id,
            MessageFilter::default(),
            PageRequest { page: 2, limit: 2 },
        )
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.total), (1, 3));
    let queued = h
        .api
        .list_messages(
            acc.id,
            MessageFilter {
                status: Some(Status::Failed),
                batch_id: None,
            },
            PageRequest {
                page: 1,
                limit: 200,
            },
        )
        .await
        .unwrap();
    assert_eq!(queued.total, 0);
}

#[tokio::test(start_paused = true)]
async fn analytics_count_statuses_and_rates() {
    let h = Harness::new();
    let acc = h.account().await;
    let empty = h.api.analytics(acc.id).await.unwrap();
    assert_eq!(
        (empty.total, empty.delivery_rate, empty.failure_rate),
        (0, 0.0, 0.0)
    );
    assert_eq!(
        serde_json::to_value(&empty).unwrap(),
        json!({"total": 0, "byStatus": {}, "deliveryRate": 0.0, "failureRate": 0.0,
               "byPricingCategory": {}, "byPricingType": {}})
    );

    let _engine = h.start();
    h.fake.script(
        "14155550003",
        [Script::Fail(SendError::meta(
            400,
            131026,
            "Message undeliverable",
        ))],
    );
    let ids = [
        h.send_text(&acc, "14155550001").await,
        h.send_text(&acc, "14155550002").await,
        h.send_text(&acc, "14155550003").await,
        h.send_text(&acc, "14155550004").await,
    ];
    settle().await;
    let wamid = |m: crate::Message| m.wamid.unwrap();
    let w0 = wamid(h.message(&acc, ids[0]).await);
    let w1 = wamid(h.message(&acc, ids[1]).await);
    let update = |wamid: String, status| StatusUpdate {
        pricing: None,
        account_id: Some(acc.id),
        wamid,
        status,
        at: h.now(),
        error: None,
    };
    h.api
        .apply_status_updates(&[
            update(w0, MetaStatus::Delivered),
            update(w1, MetaStatus::Read),
        ])
        .await
        .unwrap();
    let s = h.api.analytics(acc.id).await.unwrap();
    assert_eq!(s.total, 4);
    assert_eq!(
        serde_json::to_value(&s.by_status).unwrap(),
        json!({"sent": 1, "delivered": 1, "read": 1, "failed": 1})
    );
    assert_eq!(s.delivery_rate, 0.5);
    assert_eq!(s.failure_rate, 0.25);
}

#[tokio::test(start_paused = true)]
async fn a_status_timestamp_far_in_the_future_is_recorded_as_now() {
    let h = Harness::new();
    let acc = h.account().await;
    let _engine = h.start();
    let id = h.send_text(&acc, "14155550001").await;
    settle().await;
    let wamid = h.message(&acc, id).await.wamid.unwrap();
    let skew = chrono::Duration::from_std(super::MAX_STATUS_FUTURE_SKEW).unwrap();
    let update = |status, at| StatusUpdate {
        account_id: Some(acc.id),
        wamid: wamid.clone(),
        status,
        at,
        error: None,
        pricing: None,
    };
    // Within the allowed skew Meta's time is kept; beyond it, the time it was received.
    let delivered = h.now() + skew;
    h.api
        .apply_status_updates(&[
            update(MetaStatus::Delivered, delivered),
            update(MetaStatus::Read, h.now() + chrono::Duration::days(365)),
        ])
        .await
        .unwrap();
    let m = h.message(&acc, id).await;
    assert_eq!(m.status, Status::Read);
    assert_eq!(m.delivered_at, Some(delivered));
    assert_eq!(m.read_at, Some(h.now()), "readAt is never in the future");
    let last = m.timeline.last().expect("a timeline entry");
    assert_eq!((last.status, last.at), (Status::Read, h.now()));
}

fn templates_of(v: serde_json::Value) -> Vec<crate::templates::MessageTemplate> {
    crate::templates::parse_page(&json!({ "data": v })).templates
}

/// An account whose credentials name a WABA, with two pages of templates at Meta.
async fn waba_account(h: &Harness) -> crate::Account {
    let acc = h.account().await;
    let mut c = acc.credentials.clone().unwrap();
    c.waba_id = Some("102290129340398".into());
    h.fake.templates_with(Ok(vec![
        templates_of(json!([
            {"name": "hello_world", "language": "en_US", "status": "APPROVED", "category": "UTILITY"},
            {"name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
             "components": [{"type": "BODY", "text": "Order {{1}} shipped"}]}])),
        templates_of(json!([
            {"name": "spring_sale", "language": "en_US", "status": "PENDING", "category": "MARKETING"}])),
    ]));
    h.api.set_credentials(acc.id, c).await.unwrap()
}

#[tokio::test]
async fn templates_are_listed_through_pages_cached_and_refreshed() {
    let h = Harness::new();
    // Without a WABA id there is nothing to list, and sends are not checked.
    let plain = h.account().await;
    assert_eq!(
        h.api.templates(&plain, false).await.unwrap_err(),
        Error::NoWabaId
    );
    h.api
        .send(
            &plain,
            SendRequest::template(phone("14155552671"), "made_up", "en_US"),
        )
        .await
        .unwrap();
    assert!(h.fake.template_calls().is_empty());

    let acc = waba_account(&h).await;
    let list = h.api.templates(&acc, false).await.unwrap();
    let names: Vec<&str> = list.templates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["hello_world", "order_update", "spring_sale"]);
    assert!(!list.truncated);
    assert_eq!(
        h.fake.template_calls(),
        [
            ("102290129340398".to_owned(), None),
            ("102290129340398".to_owned(), Some("p1".to_owned()))
        ]
    );
    // Cached: neither a second list nor sends read Meta again, until the TTL or a refresh.
    h.api.templates(&acc, false).await.unwrap();
    h.api.send(&acc, hello_world("14155552671")).await.unwrap();
    assert_eq!(h.fake.template_calls().len(), 2);
    h.api.templates(&acc, true).await.unwrap();
    assert_eq!(h.fake.template_calls().len(), 4);
    h.clock.advance(std::time::Duration::from_secs(11 * 60));
    h.api.templates(&acc, false).await.unwrap();
    assert_eq!(h.fake.template_calls().len(), 6);

    // Another account's cache is its own.
    let other = h.account().await;
    assert_eq!(
        h.api.templates(&other, false).await.unwrap_err(),
        Error::NoWabaId
    );
}

#[tokio::test]
async fn template_sends_are_checked_at_accept_time() {
    let h = Harness::new();
    let acc = waba_account(&h).await;
    let to = "14155552671";
    let unknown = h
        .api
        .send(&acc, SendRequest::template(phone(to), "made_up", "en_US"))
        .await
        .unwrap_err();
    assert_eq!(fields(&unknown), ["template.name"]);
    let pending = h
        .api
        .send(
            &acc,
            SendRequest::template(phone(to), "spring_sale", "en_US"),
        )
        .await
        .unwrap_err();
    assert!(pending.to_string().contains("PENDING"), "{pending}");
    let language = h
        .api
        .send(&acc, SendRequest::template(phone(to), "hello_world", "de"))
        .await
        .unwrap_err();
    assert_eq!(fields(&language), ["template.language"]);
    let missing = h
        .api
        .send(
            &acc,
            SendRequest::template(phone(to), "order_update", "en_US"),
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&missing), ["template.components"]);
    h.api
        .send(
            &acc,
            SendRequest::template(phone(to), "order_update", "en_US").body_params(["A-1"]),
        )
        .await
        .unwrap();

    // In bulk, each item is checked; the good ones go.
    let bulk = BulkRequest::new(vec![
        hello_world(to),
        SendRequest::template(phone(to), "made_up", "en_US"),
    ]);
    let out = h.api.send_bulk(&acc, bulk, 100).await.unwrap();
    assert_eq!((out.queued, out.errors.len()), (1, 1));
    assert_eq!(out.errors[0].index, 1);
    assert_eq!(out.errors[0].details[0].field, "template.name");

    // A status webhook applies at once: paused, the template is refused without waiting for the TTL, and the
    // list is read again at its next use.
    let calls = h.fake.template_calls().len();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [
        {"field": "message_template_status_update", "value": {"event": "PAUSED",
         "message_template_name": "hello_world", "message_template_language": "en_US"}}]}]});
    h.fake
        .templates_with(Err(SendError::network("Meta is down")));
    let report = h
        .api
        .ingest_meta_webhook(
            &serde_json::to_vec(&body).unwrap(),
            crate::service::MetaWebhookAuth {
                allow_unsigned: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(report.other, 1);
    let paused = h.api.send(&acc, hello_world(to)).await.unwrap_err();
    assert!(paused.to_string().contains("PAUSED"), "{paused}");
    assert_eq!(h.fake.template_calls().len(), calls + 1, "read again once");
}

#[tokio::test]
async fn when_meta_cannot_list_and_nothing_is_cached_sends_go_unchecked() {
    let h = Harness::new();
    let acc = waba_account(&h).await;
    h.fake
        .templates_with(Err(SendError::meta(400, 190, "Invalid OAuth access token")));
    let e = h.api.templates(&acc, false).await.unwrap_err();
    assert!(
        matches!(&e, Error::TemplatesUnavailable(m) if m.code == Some(190)),
        "{e:?}"
    );
    // Accepted and left to Meta; Meta is not asked again for every send.
    h.api
        .send(
            &acc,
            SendRequest::template(phone("14155552671"), "made_up", "en_US"),
        )
        .await
        .unwrap();
    h.api
        .send(
            &acc,
            SendRequest::template(phone("14155552671"), "other", "en_US"),
        )
        .await
        .unwrap();
    assert_eq!(h.fake.template_calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_meta_delays_a_send_seconds_not_a_listing_timeout() {
    let h = Harness::new();
    let acc = waba_account(&h).await;
    h.fake.templates_delay(std::time::Duration::from_secs(120));
    let started = tokio::time::Instant::now();
    // Nothing cached: the send waits for Meta only SEND_FETCH_TIMEOUT, then goes unchecked.
    h.api
        .send(
            &acc,
            SendRequest::template(phone("14155552671"), "made_up", "en_US"),
        )
        .await
        .unwrap();
    assert_eq!(started.elapsed(), crate::service::SEND_FETCH_TIMEOUT);
    // A listing waits the longer FETCH_TIMEOUT and says Meta took too long.
    h.clock.advance(std::time::Duration::from_secs(60));
    let started = tokio::time::Instant::now();
    let e = h.api.templates(&acc, false).await.unwrap_err();
    assert_eq!(started.elapsed(), crate::service::FETCH_TIMEOUT);
    assert!(e.to_string().contains("30 s"), "{e}");
}
