//! Counters and time series: exact under a random workload, bucketed by time.

use super::prelude::*;

/// Messages are counted per creation-time bucket and current status, only in `[from, to)` and only the account's.
pub async fn message_timeseries_buckets(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let stranger = ok(
        store
            .create_account(NewAccount {
                name: "Stranger".into(),
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
            expires_at: None,
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
