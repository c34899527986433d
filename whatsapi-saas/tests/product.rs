//! The product facade over an in-memory engine: registration, keys, deactivation, plans.

use std::sync::Arc;

use whatsapi_core::WhatsApi;
use whatsapi_core::account::AccountUpdate;
use whatsapi_core::send::ValidationErrors;
use whatsapi_core::store::{Store, TenantStore};
use whatsapi_core::testing::{FakeTransport, MemoryStore, RecordingSink};
use whatsapi_saas::testing::MemoryProductStore;
use whatsapi_saas::{Error, Plan, PlanTable, Product};

fn product() -> (Product, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let api = WhatsApi::builder()
        .store(store.clone())
        .transport(Arc::new(FakeTransport::new()))
        .webhook_sink(Arc::new(RecordingSink::new()))
        .build()
        .unwrap();
    let tenants: Arc<dyn Store> = store.clone();
    let product = Product::new(
        api,
        Arc::new(MemoryProductStore::new(tenants)),
        PlanTable::default(),
    );
    (product, store)
}

fn fields(e: &Error) -> Vec<String> {
    match e {
        Error::Validation(ValidationErrors(v)) => v.iter().map(|f| f.field.clone()).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn register_validates_and_refuses_a_taken_email() {
    let (p, _) = product();
    let err = p.register("   ", "not-an-email").await.unwrap_err();
    assert_eq!(fields(&err), ["name", "email"]);
    let err = p.register(&"n".repeat(201), "a@b.co").await.unwrap_err();
    assert_eq!(fields(&err), ["name"]);
    let long_email = format!("{}@example.com", "a".repeat(250));
    assert_eq!(
        fields(&p.register("x", &long_email).await.unwrap_err()),
        ["email"]
    );

    let reg = p
        .register("  Acme Ltd  ", "Ops@Acme.example")
        .await
        .unwrap();
    assert_eq!(reg.account.account.name, "Acme Ltd");
    assert_eq!(reg.account.customer.plan, Plan::Free);
    assert!(reg.api_key.expose().starts_with("sk_live_"));
    assert_eq!(reg.account.customer.key_hash, reg.api_key.hash());
    let dup = p.register("Other", "ops@acme.EXAMPLE").await.unwrap_err();
    assert!(matches!(dup, Error::Conflict(_)), "{dup:?}");
}

#[tokio::test]
async fn keys_authenticate_rotate_and_deactivation_forbids() {
    let (p, store) = product();
    let reg = p.register("Acme", "ops@acme.example").await.unwrap();
    let acc = p.authenticate(reg.api_key.expose()).await.unwrap();
    assert_eq!(acc.account.id, reg.account.account.id);

    let expected = Error::Unauthorized(
        "Invalid API key. Expected Authorization: Bearer sk_live_ followed by 48 hex characters"
            .into(),
    );
    assert_eq!(p.authenticate("sk_live_nope").await.unwrap_err(), expected);
    let unknown = format!("sk_live_{}", "0".repeat(48));
    assert_eq!(p.authenticate(&unknown).await.unwrap_err(), expected);

    let new_key = p.rotate_key(&acc.customer).await.unwrap();
    assert_ne!(new_key, reg.api_key);
    assert_eq!(
        p.authenticate(reg.api_key.expose()).await.unwrap_err(),
        expected,
        "the old key stops working at once"
    );
    assert_eq!(
        p.authenticate(new_key.expose()).await.unwrap().account.id,
        acc.account.id
    );
    // A second rotation from the same (now stale) view lost the race.
    assert!(matches!(
        p.rotate_key(&acc.customer).await.unwrap_err(),
        Error::Conflict(_)
    ));

    store
        .update_account(acc.account.id, AccountUpdate::SetActive(false))
        .await
        .unwrap();
    assert_eq!(
        p.authenticate(new_key.expose()).await.unwrap_err(),
        Error::Forbidden("account deactivated".into())
    );
}

#[tokio::test]
async fn plans_set_the_bulk_cap() {
    let (p, _) = product();
    assert_eq!(p.bulk_cap(Plan::Free), 100);
    assert_eq!(p.bulk_cap(Plan::Pro), 1000);
    assert_eq!(p.limits(Plan::Basic).requests_per_minute, 100);
}
