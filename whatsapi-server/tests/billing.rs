//! Billing against a fake Stripe on loopback: what we send to Stripe, and Stripe's signed events applied to plans.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use common::stripe::{FakeStripe, STRIPE_KEY, WEBHOOK_SECRET, stripe_client};
use common::{Options, TestServer};
use serde_json::{Value, json};
use whatsapi_saas::stripe::sign;
use whatsapi_saas::testing::FaultyProductStore;
use whatsapi_saas::{PlanLimits, PlanTable};

const SALES: &str = "sales@whatsapi.example";

async fn billing_server() -> (TestServer, FakeStripe) {
    billing_server_with(Options::default()).await
}

async fn billing_server_with(options: Options) -> (TestServer, FakeStripe) {
    let fake = FakeStripe::default();
    let base = fake.start().await;
    let limits = |rpm, bulk| PlanLimits {
        requests_per_minute: rpm,
        bulk_cap: bulk,
        ..whatsapi_saas::Plan::Free.default_limits()
    };
    let options = Options {
        plans: PlanTable {
            free: limits(1000, 2),
            basic: limits(2000, 5),
            pro: limits(5000, 50),
            ..PlanTable::default()
        },
        billing: Some(stripe_client(&base)),
        ..options
    };
    (TestServer::start_with(options).await, fake)
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"id": id, "object": "event", "type": kind, "created": created,
        "livemode": false, "data": {"object": object}}),
    )
    .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn post_event(s: &TestServer, body: &[u8], signature: Option<String>) -> (u16, Value) {
    let mut req = s
        .client
        .post(s.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(sig) = signature {
        req = req.header("stripe-signature", sig);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn signed(s: &TestServer, body: &[u8]) -> (u16, Value) {
    post_event(s, body, Some(sign(WEBHOOK_SECRET, now(), body))).await
}

fn completed(account: &str, plan: &str, customer: &str, subscription: &str) -> Value {
    json!({"id": "cs_test_1", "object": "checkout.session", "mode": "subscription", "payment_status": "paid",
           "client_reference_id": account, "customer": customer, "subscription": subscription,
           "metadata": {"whatsapi_account_id": account, "plan": plan}})
}

fn subscription(account: &str, id: &str, customer: &str, status: &str, price: &str) -> Value {
    json!({"id": id, "object": "subscription", "customer": customer, "status": status,
           "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": price}, "quantity": 1}]},
           "metadata": {"whatsapi_account_id": account, "plan": "pro"}})
}

async fn me(s: &TestServer, key: &str) -> (Value, HeaderMap) {
    let r = s
        .client
        .get(s.url("/auth/me"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    (r.json::<Value>().await.unwrap()["data"].clone(), headers)
}

#[tokio::test]
async fn without_stripe_configuration_billing_answers_503() {
    let s = TestServer::start().await;
    let key = s.register("nobill@example.com").await;
    let (code, v) = s
        .post(&key, "/billing/checkout", json!({"plan": "pro"}))
        .await;
    assert_eq!(code, 503, "{v}");
    assert_eq!(v["success"], false);
    assert!(
        v["error"].as_str().unwrap().contains("not configured"),
        "{v}"
    );
    let (code, v) = s.get(&key, "/billing/portal").await;
    assert_eq!(code, 503, "{v}");
    let body = event("evt_x", "customer.subscription.deleted", now(), json!({}));
    let (code, v) = signed(&s, &body).await;
    assert_eq!(code, 503, "{v}");
    s.stop().await;
}

#[tokio::test]
async fn checkout_creates_a_subscription_session_with_stripes_fields() {
    let (s, fake) = billing_server().await;
    let key = s.register("Buyer@Example.com").await;
    let (account, _) = me(&s, &key).await;
    let account_id = account["id"].as_str().unwrap().to_owned();

    let (code, v) = s
        .post(&key, "/billing/checkout", json!({"plan": "pro"}))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["success"], true);
    let url = v["data"]["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://checkout.stripe.test/c/pay/cs_test_"),
        "{v}"
    );
    assert!(v["data"]["id"].as_str().unwrap().starts_with("cs_test_"));

    let sent = fake.last();
    assert_eq!(sent.path, "/v1/checkout/sessions");
    assert_eq!(sent.authorization, format!("Bearer {STRIPE_KEY}"));
    assert_eq!(sent.field("mode"), Some("subscription"));
    assert_eq!(sent.field("line_items[0][price]"), Some("price_pro_1"));
    assert_eq!(sent.field("line_items[0][quantity]"), Some("1"));
    assert_eq!(
        sent.field("success_url"),
        Some("https://app.example.com/billing/success")
    );
    assert_eq!(
        sent.field("cancel_url"),
        Some("https://app.example.com/billing/cancel")
    );
    assert_eq!(sent.field("client_reference_id"), Some(account_id.as_str()));
    assert_eq!(sent.field("customer_email"), Some("Buyer@Example.com"));
    assert_eq!(sent.field("customer"), None, "no Stripe customer yet");
    assert_eq!(
        sent.field("subscription_data[metadata][whatsapi_account_id]"),
        Some(account_id.as_str())
    );

    let (code, v) = s
        .post(&key, "/billing/checkout", json!({"plan": "basic"}))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        fake.last().field("line_items[0][price]"),
        Some("price_basic_1")
    );

    // Enterprise and unknown plans: 400 saying how to reach sales; nothing is sent to Stripe.
    let calls = fake.calls();
    for plan in ["enterprise", "gold"] {
        let (code, v) = s
            .post(&key, "/billing/checkout", json!({"plan": plan}))
            .await;
        assert_eq!(code, 400, "{plan}: {v}");
        assert_eq!(v["success"], false);
        assert!(v.to_string().contains(SALES), "{plan}: {v}");
    }
    let (code, v) = s.post(&key, "/billing/checkout", json!({})).await;
    assert_eq!(code, 400);
    assert_eq!(v["details"][0]["field"], "plan");
    assert_eq!(fake.calls(), calls);

    // No subscription yet: the portal has nothing to show.
    let (code, v) = s.get(&key, "/billing/portal").await;
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("/billing/checkout"));

    // Stripe refusing is a 502 with Stripe's reason, never a 200.
    *fake.fail_with.lock().unwrap() = Some(400);
    let (code, v) = s
        .post(&key, "/billing/checkout", json!({"plan": "pro"}))
        .await;
    assert_eq!(code, 502, "{v}");
    assert!(v["error"].as_str().unwrap().contains("No such price"));
    s.stop().await;
}

#[tokio::test]
async fn signed_events_change_the_plan_and_the_new_limits_apply_at_once() {
    let (s, fake) = billing_server().await;
    let key = s.register("upgrade@example.com").await;
    let (account, headers) = me(&s, &key).await;
    let id = account["id"].as_str().unwrap().to_owned();
    assert_eq!(account["plan"], "free");
    assert_eq!(headers["x-ratelimit-limit"], "1000");
    let bulk = json!({"messages": [
        {"to": "14155550001", "message": "a", "dry_run": true},
        {"to": "14155550002", "message": "b", "dry_run": true},
        {"to": "14155550003", "message": "c", "dry_run": true}]});
    let (code, v) = s.post(&key, "/messages/bulk", bulk.clone()).await;
    assert_eq!(code, 400, "the free bulk cap is 2: {v}");

    let t = now();
    let body = event(
        "evt_1",
        "checkout.session.completed",
        t,
        completed(&id, "pro", "cus_A", "sub_A"),
    );
    let (code, v) = signed(&s, &body).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["result"], "applied");
    assert_eq!(v["data"]["plan"], "pro");

    let (account, headers) = me(&s, &key).await;
    assert_eq!(account["plan"], "pro");
    assert_eq!(
        headers["x-ratelimit-limit"], "5000",
        "the new plan's rate limit applies to the next request"
    );
    assert_eq!(account["bulkLimit"], 50);
    let (code, v) = s.post(&key, "/messages/bulk", bulk).await;
    assert_eq!(code, 202, "the pro bulk cap applies: {v}");

    // Paying already: a second checkout is refused; the portal opens for the linked customer.
    let (code, v) = s
        .post(&key, "/billing/checkout", json!({"plan": "basic"}))
        .await;
    assert_eq!(code, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("/billing/portal"));
    let (code, v) = s.get(&key, "/billing/portal").await;
    assert_eq!(code, 200, "{v}");
    assert!(
        v["data"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://billing.stripe.test/")
    );
    let sent = fake.last();
    assert_eq!(sent.path, "/v1/billing_portal/sessions");
    assert_eq!(sent.authorization, format!("Bearer {STRIPE_KEY}"));
    assert_eq!(sent.field("customer"), Some("cus_A"));
    assert_eq!(
        sent.field("return_url"),
        Some("https://app.example.com/settings")
    );

    // Downgrade through the portal: customer.subscription.updated with the basic price.
    let body = event(
        "evt_2",
        "customer.subscription.updated",
        t + 1,
        subscription(&id, "sub_A", "cus_A", "active", "price_basic_1"),
    );
    let (code, v) = signed(&s, &body).await;
    assert_eq!(
        (code, v["data"]["plan"].clone()),
        (200, json!("basic")),
        "{v}"
    );
    let (_, headers) = me(&s, &key).await;
    assert_eq!(headers["x-ratelimit-limit"], "2000");

    // Unpaid: back to free.
    let body = event(
        "evt_3",
        "customer.subscription.updated",
        t + 2,
        subscription(&id, "sub_A", "cus_A", "unpaid", "price_basic_1"),
    );
    assert_eq!(signed(&s, &body).await.1["data"]["plan"], "free");

    // Another customer's event for this account is not applied.
    let body = event(
        "evt_4",
        "customer.subscription.updated",
        t + 3,
        subscription(&id, "sub_B", "cus_OTHER", "active", "price_pro_1"),
    );
    let (code, v) = signed(&s, &body).await;
    assert_eq!(
        (code, v["data"]["result"].clone()),
        (200, json!("ignored")),
        "{v}"
    );
    assert_eq!(me(&s, &key).await.0["plan"], "free");

    // Subscribing again reuses the Stripe customer.
    let (code, v) = s
        .post(&key, "/billing/checkout", json!({"plan": "pro"}))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(fake.last().field("customer"), Some("cus_A"));
    assert_eq!(fake.last().field("customer_email"), None);
    s.stop().await;
}

#[tokio::test]
async fn unsigned_wrongly_signed_and_stale_events_change_nothing() {
    let (s, _fake) = billing_server().await;
    let key = s.register("forged@example.com").await;
    let id = me(&s, &key).await.0["id"].as_str().unwrap().to_owned();
    let body = event(
        "evt_forged",
        "checkout.session.completed",
        now(),
        completed(&id, "pro", "cus_F", "sub_F"),
    );

    let attempts = [
        ("unsigned", None),
        ("wrong secret", Some(sign("whsec_wrong", now(), &body))),
        ("stale", Some(sign(WEBHOOK_SECRET, now() - 301, &body))),
        ("garbage", Some("t=abc,v1=zz".to_owned())),
        (
            "signature of another body",
            Some(sign(WEBHOOK_SECRET, now(), b"{}")),
        ),
    ];
    for (what, sig) in attempts {
        let (code, v) = post_event(&s, &body, sig).await;
        assert_eq!(code, 400, "{what}: {v}");
        assert_eq!(v["success"], false);
        assert_eq!(
            me(&s, &key).await.0["plan"],
            "free",
            "{what} changed the plan"
        );
    }
    // The refused attempts did not use up the event id: the genuine delivery applies.
    let (code, v) = signed(&s, &body).await;
    assert_eq!(
        (code, v["data"]["result"].clone()),
        (200, json!("applied")),
        "{v}"
    );
    assert_eq!(me(&s, &key).await.0["plan"], "pro");
    s.stop().await;
}

#[tokio::test]
async fn a_replayed_event_is_applied_once_and_older_events_are_ignored() {
    let (s, _fake) = billing_server().await;
    let key = s.register("replay@example.com").await;
    let id = me(&s, &key).await.0["id"].as_str().unwrap().to_owned();
    let t = now();
    let upgrade = event(
        "evt_up",
        "checkout.session.completed",
        t,
        completed(&id, "pro", "cus_R", "sub_R"),
    );
    assert_eq!(signed(&s, &upgrade).await.1["data"]["result"], "applied");
    let cancel = event(
        "evt_cancel",
        "customer.subscription.deleted",
        t + 10,
        subscription(&id, "sub_R", "cus_R", "canceled", "price_pro_1"),
    );
    assert_eq!(signed(&s, &cancel).await.1["data"]["plan"], "free");

    // Stripe delivers evt_up again (freshly signed): it is a duplicate and the plan stays free.
    let (code, v) = signed(&s, &upgrade).await;
    assert_eq!(
        (code, v["data"]["result"].clone()),
        (200, json!("duplicate")),
        "{v}"
    );
    assert_eq!(me(&s, &key).await.0["plan"], "free");

    // A different event that happened before the cancellation arrives late: ignored.
    let late = event(
        "evt_late",
        "customer.subscription.updated",
        t + 5,
        subscription(&id, "sub_R", "cus_R", "active", "price_pro_1"),
    );
    let (code, v) = signed(&s, &late).await;
    assert_eq!(
        (code, v["data"]["result"].clone()),
        (200, json!("ignored")),
        "{v}"
    );
    assert!(v["data"]["reason"].as_str().unwrap().contains("older"));
    assert_eq!(me(&s, &key).await.0["plan"], "free");

    // Unused event types are acknowledged and change nothing.
    let other = event("evt_inv", "invoice.paid", t + 20, json!({"id": "in_1"}));
    assert_eq!(signed(&s, &other).await.1["data"]["result"], "ignored");
    s.stop().await;
}

/// The store fails while applying an event's change: the event is not marked processed, so Stripe's retry of it is
/// applied (and a third delivery is the duplicate).
#[tokio::test]
async fn an_event_whose_apply_failed_is_applied_on_stripes_retry() {
    // Whichever store call makes the account change fails once.
    const APPLY_STEPS: [&str; 2] = ["update_customer", "apply_external_event"];
    let faulty: Arc<Mutex<Option<Arc<FaultyProductStore>>>> = Arc::default();
    let slot = faulty.clone();
    let (s, _fake) = billing_server_with(Options {
        wrap_product_store: Some(Box::new(move |inner| {
            let store = Arc::new(FaultyProductStore::new(inner));
            *slot.lock().unwrap() = Some(store.clone());
            store
        })),
        ..Options::default()
    })
    .await;
    let faulty = faulty
        .lock()
        .unwrap()
        .clone()
        .expect("the store was wrapped");
    let key = s.register("flaky@example.com").await;
    let id = me(&s, &key).await.0["id"].as_str().unwrap().to_owned();
    let upgrade = event(
        "evt_flaky",
        "checkout.session.completed",
        now(),
        completed(&id, "pro", "cus_F", "sub_F"),
    );

    for step in APPLY_STEPS {
        faulty.fail(step, 1);
    }
    let (code, v) = signed(&s, &upgrade).await;
    assert!(
        code >= 500,
        "a failed apply is not acknowledged: {code} {v}"
    );
    assert_eq!(me(&s, &key).await.0["plan"], "free", "nothing was applied");
    for step in APPLY_STEPS {
        faulty.fail(step, 0);
    }

    // Stripe retries the event (freshly signed): it is applied now.
    let (code, v) = signed(&s, &upgrade).await;
    assert_eq!(
        (code, v["data"]["result"].clone(), v["data"]["plan"].clone()),
        (200, json!("applied"), json!("pro")),
        "{v}"
    );
    assert_eq!(me(&s, &key).await.0["plan"], "pro");
    let (code, v) = signed(&s, &upgrade).await;
    assert_eq!(
        (code, v["data"]["result"].clone()),
        (200, json!("duplicate")),
        "{v}"
    );
    s.stop().await;
}
