//! Inbound messages: the 24-hour customer service window.

use super::prelude::*;

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
