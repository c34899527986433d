//! Facade tests: accounts, keys, credentials, webhooks, send acceptance, idempotency, listing and analytics.

use std::sync::Arc;

use serde_json::json;

use super::{BuildError, Error, WhatsApi};
use crate::account::{AccountUpdate, CredentialsStatus, MetaCredentials};
use crate::engine::harness::{Harness, settle};
use crate::idempotency::IdempotencyKey;
use crate::message::Status;
use crate::status::MetaStatus;
use crate::store::{MessageFilter, PageRequest, StatusUpdate, StoreError, TenantStore};
use crate::testing::{FakeTransport, MemoryStore, RecordingSink, Script};
use crate::transport::SendError;
use crate::{Store, send::ValidationErrors};

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

#[test]
fn errors_map_to_the_reference_status_codes() {
    let cases = [
        (Error::Validation(ValidationErrors::default()), 400),
        (Error::BadRequest(String::new()), 400),
        (Error::Unauthorized(String::new()), 401),
        (Error::Forbidden(String::new()), 403),
        (Error::NotFound(String::new()), 404),
        (Error::Conflict(String::new()), 409),
        (
            Error::Unavailable {
                message: String::new(),
                retry_after_secs: 3,
            },
            503,
        ),
        (Error::Store(StoreError::Unavailable("disk".into())), 503),
        (Error::Store(StoreError::Backend("x".into())), 500),
    ];
    for (e, status) in cases {
        assert_eq!(e.http_status(), status, "{e:?}");
    }
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
    let sent = h
        .api
        .send(&acc, &json!({"to": "14155552671", "message": "hi"}), None)
        .await
        .unwrap();
    assert_eq!(sent.data.status, Status::Queued);
    assert_eq!(h.api.me(acc.id).await.unwrap().name, "Acme Ltd");
}

#[tokio::test]
async fn credentials_are_validated_saved_verified_and_removed() {
    let h = Harness::new();
    let reg = h.api.create_account("Acme").await.unwrap();
    let id = reg.id;

    let err = h.api.verify_credentials(id).await.unwrap_err();
    assert!(matches!(&err, Error::BadRequest(m) if m.contains("PUT /auth/me/credentials")));

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

#[tokio::test]
async fn send_answers_in_the_reference_shape_and_validates() {
    let h = Harness::new();
    let acc = h.account().await;
    let ok = h
        .api
        .send(
            &acc,
            &json!({"to": "14155552671", "template": {"name": "hello_world", "language": "en_US"}}),
            None,
        )
        .await
        .unwrap();
    assert_eq!((ok.status, ok.replayed), (202, false));
    assert_eq!(
        serde_json::to_value(&ok.data).unwrap(),
        json!({"id": ok.data.id.to_string(), "status": "queued", "scheduledFor": null})
    );
    let m = h.api.get_message(acc.id, ok.data.id).await.unwrap();
    assert_eq!(m.status, Status::Queued);
    assert_eq!(m.content.template().unwrap().name, "hello_world");

    let err = h
        .api
        .send(
            &acc,
            &json!({"to": "+1 (415) 555-2671", "message": ""}),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["to", "message"]);

    // Another account cannot see the message.
    let other = h.account().await;
    assert_eq!(
        h.api.get_message(other.id, ok.data.id).await.unwrap_err(),
        Error::NotFound("message not found".into())
    );
}

#[tokio::test]
async fn idempotency_keys_replay_conflict_and_are_not_spent_by_invalid_requests() {
    let h = Harness::new();
    let acc = h.account().await;
    let key = IdempotencyKey::parse("order-1234-shipped").unwrap();
    let body = json!({"to": "14155552671", "message": "Your order shipped"});

    // A validation failure does not store the key.
    let err = h
        .api
        .send(&acc, &json!({"to": "1"}), Some(&key))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)));

    let first = h.api.send(&acc, &body, Some(&key)).await.unwrap();
    assert!(!first.replayed);
    let again = h.api.send(&acc, &body, Some(&key)).await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.status, again.data.clone()),
        (202, first.data.clone())
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
            &json!({"to": "14155552671", "message": "other"}),
            Some(&key),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Conflict("Idempotency-Key was already used with a different request body".into())
    );
    // Keys are per account.
    let other = h.account().await;
    assert!(
        !h.api
            .send(&other, &body, Some(&key))
            .await
            .unwrap()
            .replayed
    );

    // Bulk answers replay too.
    let bulk_key = IdempotencyKey::parse("bulk-1").unwrap();
    let bulk = json!({"messages": [{"to": "14155552671", "message": "a"}, {"to": "x"}]});
    let b1 = h
        .api
        .send_bulk(&acc, &bulk, Some(&bulk_key), 100)
        .await
        .unwrap();
    let b2 = h
        .api
        .send_bulk(&acc, &bulk, Some(&bulk_key), 100)
        .await
        .unwrap();
    assert!(b2.replayed);
    assert_eq!(b1.data, b2.data);
}

#[tokio::test]
async fn bulk_queues_valid_items_and_reports_the_rest() {
    let h = Harness::new();
    let acc = h.account().await;
    let body = json!({"messages": [
        {"to": "14155552671", "message": "Hi Alice"},
        {"to": "+14155552672", "message": "Hi Bob"},
        {"to": "14155552673", "template": {"name": "hello_world", "language": "en_US"}},
    ]});
    let ok = h.api.send_bulk(&acc, &body, None, 100).await.unwrap();
    let data = &ok.data;
    assert_eq!(
        (data.total_messages, data.queued, data.failed_count),
        (3, 2, 1)
    );
    assert_eq!(data.errors.len(), 1);
    assert_eq!(data.errors[0].index, 1);
    assert_eq!(data.errors[0].details[0].field, "to");
    let v = serde_json::to_value(data).unwrap();
    for k in [
        "batchId",
        "totalMessages",
        "queued",
        "failedCount",
        "errors",
    ] {
        assert!(v.get(k).is_some(), "{k} in {v}");
    }
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

    let all_bad = json!({"messages": [{"to": "1", "message": "x"}, {"message": "y"}]});
    let err = h
        .api
        .send_bulk(&acc, &all_bad, None, 100)
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["messages[0].to", "messages[1].to"]);

    // The caller's cap (100 here) refuses a longer bulk request.
    let too_many: Vec<_> = (0..101)
        .map(|_| json!({"to": "14155552671", "message": "x"}))
        .collect();
    let err = h
        .api
        .send_bulk(&acc, &json!({ "messages": too_many }), None, 100)
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["messages"]);

    // Real sends need credentials; dry runs do not.
    let bare = h.api.create_account("Bare").await.unwrap();
    let real = json!({"messages": [{"to": "14155552671", "message": "x"}]});
    assert!(matches!(
        h.api.send_bulk(&bare, &real, None, 100).await.unwrap_err(),
        Error::BadRequest(_)
    ));
    let dry = json!({"messages": [{"to": "14155552671", "message": "x", "dry_run": true}]});
    assert_eq!(
        h.api
            .send_bulk(&bare, &dry, None, 100)
            .await
            .unwrap()
            .data
            .queued,
        1
    );
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
    let text = json!({"to": "14155552671", "message": "hi"});
    let err = h.api.send(&acc, &text, None).await.unwrap_err();
    assert_eq!(fields(&err), ["message"]);
    let template =
        json!({"to": "14155552671", "template": {"name": "hello_world", "language": "en_US"}});
    h.api.send(&acc, &template, None).await.unwrap();
    h.api
        .record_inbound(acc.id, "14155552671", h.now() - chrono::Duration::hours(1))
        .await
        .unwrap();
    h.api.send(&acc, &text, None).await.unwrap();
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
        json!({"total": 0, "byStatus": {}, "deliveryRate": 0.0, "failureRate": 0.0})
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
