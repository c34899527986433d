//! Accounts: creation from a name alone, lookups by id, phone number id, WABA id and verify token, updates, listing.

use super::prelude::*;

/// Accounts are created from a name alone, with the documented defaults, and found by id.
pub async fn accounts_create_and_lookup(store: Arc<dyn Store>) {
    let new = sample_account();
    let created = ok(store.create_account(new.clone()).await, "create_account");
    assert_eq!(created.id, new.id);
    assert_eq!(created.name, new.name);
    assert!(created.active, "a new account is active");
    assert_eq!(created.messages_sent, 0);
    assert_eq!(created.credentials, None);
    assert_eq!(created.credentials_status, CredentialsStatus::Unverified);
    assert_eq!(created.webhook, None);
    assert!(!created.strict_window);
    assert_eq!(created.breaker, BreakerState::default());
    assert_eq!(created.created_at, new.created_at);
    assert_eq!(
        created,
        Account::new(new.clone()),
        "as Account::new describes"
    );

    let other = create_sample_account(&*store).await;
    assert_ne!(other.id, created.id);
    assert_eq!(
        ok(store.account(new.id).await, "account"),
        Some(created.clone())
    );
    assert_eq!(ok(store.account(AccountId::new()).await, "account"), None);
    let again = store.create_account(new).await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "an existing id is a Conflict, got {again:?}"
    );
}

/// `recent_account` (the lookup of every request, which a store may cache) answers like `account` and shows every
/// change of the account on the very next call.
pub async fn recent_account_sees_every_change(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let recent = |store: Arc<dyn Store>| async move {
        ok(store.recent_account(account.id).await, "recent_account").expect("exists")
    };
    for _ in 0..2 {
        assert_eq!(recent(store.clone()).await, account, "as created");
    }
    ok(
        store
            .update_account(account.id, AccountUpdate::SetActive(false))
            .await,
        "SetActive",
    );
    assert!(
        !recent(store.clone()).await.active,
        "deactivation shows at once"
    );
    let breaker = BreakerState {
        consecutive_failures: 3,
        open_until: Some(at(90)),
        trips: 1,
        probing: false,
    };
    ok(
        store
            .update_account(account.id, AccountUpdate::SetBreaker(breaker))
            .await,
        "SetBreaker",
    );
    assert_eq!(
        recent(store.clone()).await.breaker,
        breaker,
        "the breaker too"
    );
    ok(
        store
            .update_account(
                account.id,
                AccountUpdate::SetCredentials(sample_credentials("pn-recent")),
            )
            .await,
        "SetCredentials",
    );
    assert_eq!(
        recent(store.clone()).await.credentials,
        Some(sample_credentials("pn-recent"))
    );
    assert_eq!(
        ok(
            store.recent_account(AccountId::new()).await,
            "recent_account"
        ),
        None
    );
}

/// An account created from a name alone (no key, no plan, no email) takes messages and has them claimed.
pub async fn account_without_product_sends(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let message = sample_message(account.id, "14155550100");
    insert(&*store, account.id, vec![message.clone()]).await;
    let claimed = claim_only(&*store, message.id, at(1)).await;
    assert_eq!(claimed.message.account_id, account.id);
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
        probing: true,
    };
    let a = update(AccountUpdate::SetBreaker(breaker)).await;
    assert_eq!(a.breaker, breaker);
    // Fields not touched by any of these stay as they were.
    assert_eq!(a.name, account.name);
    assert_eq!(a.created_at, account.created_at);

    let missing = store
        .update_account(AccountId::new(), AccountUpdate::SetActive(false))
        .await;
    assert_eq!(missing, Err(StoreError::NotFound));
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
    let hash = crate::store::support::verify_token_digest("tok-a");
    assert_eq!(
        found(store.account_by_verify_token_hash(&hash).await, "by token"),
        Some(a.id)
    );
    let other = crate::store::support::verify_token_digest("tok-b");
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
                !m.contains(&a.id.to_string()),
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
