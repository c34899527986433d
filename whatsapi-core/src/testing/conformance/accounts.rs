//! Accounts: creation, lookups by email, key, phone number id, WABA id and verify token, updates, key rotation, listing, external (billing) events.

use super::prelude::*;

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
