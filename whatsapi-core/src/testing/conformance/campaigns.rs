//! Campaigns: storage and isolation, pause and resume (nothing claimed twice, nothing claimed while held), cancel,
//! and the expiry of messages a pause holds.

use super::prelude::*;
use crate::campaign::{
    CANCELLED_REASON, Campaign, CampaignControl, CampaignId, NewCampaign, SendWindow,
};

/// A campaign of `account` with `n` scheduled messages, the i-th due at `at(first_due + i)`, created at
/// [`base_time`]; the last recipient gave the zone `Asia/Tokyo`.
pub fn sample_campaign(account: AccountId, n: usize, first_due: i64) -> NewCampaign {
    let id = CampaignId::new();
    let messages: Vec<NewMessage> = (0..n)
        .map(|i| NewMessage {
            batch_id: Some(id.batch()),
            send_at: Some(at(first_due + i as i64)),
            metadata: None,
            ..sample_message(account, &format!("1415555{:04}", i))
        })
        .collect();
    let time_zones = messages
        .last()
        .map(|m| (m.id, "Asia/Tokyo".to_owned()))
        .into_iter()
        .collect();
    NewCampaign {
        campaign: Campaign {
            id,
            account_id: account,
            name: "Spring sale".into(),
            content: MessageContent::Text {
                body: "Our spring sale starts today.".into(),
            },
            start_at: at(first_due),
            send_window: Some("09:00-20:00".parse::<SendWindow>().expect("valid window")),
            rate_per_second: Some(1),
            from: Some("106540352242922".into()),
            validity: Some(std::time::Duration::from_secs(3600)),
            recipients: n as u64,
            control: CampaignControl::Active,
            created_at: base_time(),
            updated_at: base_time(),
        },
        messages,
        time_zones,
    }
}

async fn create(store: &dyn Store, new: NewCampaign) -> (CampaignId, Vec<MessageId>) {
    let id = new.campaign.id;
    let ids = new.messages.iter().map(|m| m.id).collect();
    ok(store.create_campaign(new).await, "create_campaign");
    (id, ids)
}

/// A campaign is stored with its messages (scheduled, linked by batch id), listed newest first, counted by
/// status, and invisible to other accounts.
pub async fn campaigns_are_stored_and_isolated(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let new = sample_campaign(account.id, 3, 10);
    let expected = new.campaign.clone();
    let (id, ids) = create(&*store, new).await;

    let got = ok(store.campaign(account.id, id).await, "campaign");
    assert_eq!(got.as_ref(), Some(&expected), "the campaign round-trips");
    assert_eq!(
        ok(store.campaign(other.id, id).await, "campaign"),
        None,
        "another account's campaign is not found"
    );
    let counts = ok(
        store.campaign_counts(account.id, id).await,
        "campaign_counts",
    );
    assert_eq!(counts.get(&Status::Scheduled), Some(&3), "{counts:?}");
    assert!(
        ok(store.campaign_counts(other.id, id).await, "campaign_counts").is_empty(),
        "another account counts nothing"
    );
    let m = ok(store.get_message(account.id, ids[1]).await, "get_message").expect("stored");
    assert_eq!(m.status, Status::Scheduled);
    assert_eq!(m.batch_id, Some(id.batch()));
    assert_eq!(m.scheduled_for, Some(at(11)));
    let listed = ok(
        store
            .list_messages(
                account.id,
                &MessageFilter {
                    batch_id: Some(id.batch()),
                    ..MessageFilter::default()
                },
                PageRequest { page: 1, limit: 10 },
            )
            .await,
        "list_messages",
    );
    assert_eq!(listed.total, 3, "its messages are listed by its batch id");

    let mut newer = sample_campaign(account.id, 1, 20);
    newer.campaign.created_at = at(5);
    newer.campaign.updated_at = at(5);
    let (newer_id, _) = create(&*store, newer).await;
    let page = ok(
        store
            .list_campaigns(account.id, PageRequest { page: 1, limit: 1 })
            .await,
        "list_campaigns",
    );
    assert_eq!(page.total, 2);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, newer_id, "newest first");
    let page2 = ok(
        store
            .list_campaigns(account.id, PageRequest { page: 2, limit: 1 })
            .await,
        "list_campaigns",
    );
    assert_eq!(page2.items[0].id, id);
    assert_eq!(
        ok(
            store
                .list_campaigns(other.id, PageRequest { page: 1, limit: 10 })
                .await,
            "list_campaigns"
        )
        .total,
        0
    );

    let mut again = sample_campaign(account.id, 1, 10);
    again.campaign.id = id;
    for m in &mut again.messages {
        m.batch_id = Some(id.batch());
    }
    assert!(
        matches!(
            store.create_campaign(again).await,
            Err(StoreError::Conflict(_))
        ),
        "a campaign id is unique"
    );
    let nobody = sample_campaign(AccountId::new(), 1, 10);
    assert_eq!(
        store.create_campaign(nobody).await,
        Err(StoreError::NotFound),
        "an unknown account"
    );
}

/// A pause holds every waiting message (claims and `next_due_at` skip them) while a claimed one finishes; a
/// resume makes them due at the planned times (or now); nothing is claimed twice.
pub async fn campaign_pause_holds_and_resume_releases(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let (id, ids) = create(&*store, sample_campaign(account.id, 3, 10)).await;

    let first = claim_only(&*store, ids[0], at(10)).await;
    assert_eq!(
        store.pause_campaign(other.id, id, at(10)).await,
        Err(StoreError::NotFound),
        "another account cannot pause it"
    );
    assert_eq!(
        ok(
            store.pause_campaign(account.id, id, at(10)).await,
            "pause_campaign"
        ),
        2,
        "the two waiting messages are held; the claimed one is not"
    );
    assert!(
        matches!(
            store.pause_campaign(account.id, id, at(10)).await,
            Err(StoreError::Conflict(_))
        ),
        "a paused campaign cannot pause again"
    );
    assert_eq!(
        ok(store.campaign(account.id, id).await, "campaign")
            .expect("stored")
            .control,
        CampaignControl::Paused
    );
    // The message being sent finishes.
    record_sent(&*store, &first, "wamid.campaign-0", at(11)).await;
    assert!(
        ok(store.claim_due(at(25), LEASE, 100).await, "claim_due").is_empty(),
        "held messages are not claimed"
    );
    assert_eq!(
        ok(store.next_due_at().await, "next_due_at"),
        None,
        "held messages are never due"
    );

    let held = ok(store.held_messages(account.id, id).await, "held_messages");
    assert_eq!(
        held.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![ids[1], ids[2]],
        "held in creation order"
    );
    assert_eq!(
        held.iter()
            .map(|h| h.time_zone.as_deref())
            .collect::<Vec<_>>(),
        vec![None, Some("Asia/Tokyo")],
        "the zones the rows gave are kept"
    );
    assert!(
        ok(store.held_messages(other.id, id).await, "held_messages").is_empty(),
        "another account sees none"
    );
    assert!(
        matches!(
            store.resume_campaign(other.id, id, &[], at(30)).await,
            Err(StoreError::NotFound)
        ),
        "another account cannot resume it"
    );
    // ids[1] is planned later than the resume; ids[2] is left out of the plan, so it is due at once.
    assert_eq!(
        ok(
            store
                .resume_campaign(account.id, id, &[(ids[1], at(60))], at(30))
                .await,
            "resume_campaign"
        ),
        2
    );
    assert!(
        matches!(
            store.resume_campaign(account.id, id, &[], at(30)).await,
            Err(StoreError::Conflict(_))
        ),
        "an active campaign cannot resume"
    );
    let m1 = ok(store.get_message(account.id, ids[1]).await, "get_message").expect("stored");
    assert_eq!(m1.scheduled_for, Some(at(60)), "the new send time is kept");
    assert_eq!(m1.status, Status::Scheduled);
    assert_eq!(ok(store.next_due_at().await, "next_due_at"), Some(at(30)));
    let c = claim_only(&*store, ids[2], at(30)).await;
    assert_eq!(c.message.attempt, 1, "claimed for the first time");
    ok(
        store
            .record_outcome(
                ids[2],
                c.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.campaign-2".into(),
                },
                at(31),
            )
            .await,
        "record_outcome",
    );
    assert!(
        ok(store.claim_due(at(59), LEASE, 100).await, "claim_due").is_empty(),
        "not before its planned time"
    );
    let c = claim_only(&*store, ids[1], at(60)).await;
    assert_eq!(c.message.attempt, 1, "claimed for the first time");
    let sent = ok(store.get_message(account.id, ids[0]).await, "get_message").expect("stored");
    assert_eq!(
        (sent.status, sent.attempt),
        (Status::Sent, 1),
        "the message sent before the pause was sent once"
    );
}

/// A cancel fails every waiting message (held or not) with the reason, a timeline entry, counters and an outbox
/// event; a message being sent finishes; a cancelled campaign cannot pause, resume or cancel again.
pub async fn campaign_cancel_fails_the_rest_with_events(store: Arc<dyn Store>) {
    let account = create_account_with_webhook(&*store).await;
    let other = create_sample_account(&*store).await;
    let (id, ids) = create(&*store, sample_campaign(account.id, 4, 10)).await;
    let first = claim_only(&*store, ids[0], at(10)).await;
    ok(
        store.pause_campaign(account.id, id, at(10)).await,
        "pause_campaign",
    );
    // Once resumed one message is due again, and the others are planned later.
    ok(
        store
            .resume_campaign(
                account.id,
                id,
                &[(ids[1], at(11)), (ids[2], at(500)), (ids[3], at(501))],
                at(11),
            )
            .await,
        "resume_campaign",
    );
    let second = claim_only(&*store, ids[1], at(11)).await;
    ok(
        store
            .record_outcome(
                ids[1],
                second.message.attempt,
                Outcome::Retry {
                    next_attempt_at: at(100),
                    error: FailureInfo {
                        message: "timeout".into(),
                        code: None,
                        meta: None,
                    },
                },
                at(12),
            )
            .await,
        "record_outcome(Retry)",
    );
    ok(
        store.pause_campaign(account.id, id, at(13)).await,
        "pause_campaign",
    );
    assert_eq!(
        store.cancel_campaign(other.id, id, at(20)).await,
        Err(StoreError::NotFound),
        "another account cannot cancel it"
    );
    assert_eq!(
        ok(
            store.cancel_campaign(account.id, id, at(20)).await,
            "cancel_campaign"
        ),
        3,
        "the retrying and the two scheduled messages are failed"
    );
    for m in &ids[1..] {
        let m = ok(store.get_message(account.id, *m).await, "get_message").expect("stored");
        assert_eq!(m.status, Status::Failed);
        assert_eq!(m.error_message.as_deref(), Some(CANCELLED_REASON));
        assert_eq!(m.failed_at, Some(at(20)));
        let last = m.timeline.last().expect("a timeline");
        assert_eq!(
            (last.status, last.at, last.detail.as_deref()),
            (Status::Failed, at(20), Some(CANCELLED_REASON))
        );
    }
    let counts = ok(store.status_counts(account.id).await, "status_counts");
    assert_eq!(counts.get(&Status::Failed), Some(&3), "{counts:?}");
    assert_eq!(counts.get(&Status::Processing), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&Status::Scheduled).copied().unwrap_or(0), 0);
    assert_eq!(counts.get(&Status::Retrying).copied().unwrap_or(0), 0);
    let campaign_counts = ok(
        store.campaign_counts(account.id, id).await,
        "campaign_counts",
    );
    assert_eq!(
        campaign_counts, counts,
        "the campaign is all the account sent"
    );

    let events = ok(store.claim_events(at(21), LEASE, 100).await, "claim_events");
    let mut failed: Vec<MessageId> = events
        .iter()
        .filter(|e| e.event.status() == Some(Status::Failed))
        .filter_map(|e| e.event.message_id())
        .collect();
    failed.sort();
    let mut expected = ids[1..].to_vec();
    expected.sort();
    assert_eq!(failed, expected, "one failed event per cancelled message");

    // The message being sent finishes.
    record_sent(&*store, &first, "wamid.cancel-0", at(21)).await;
    assert!(
        ok(store.claim_due(at(1000), LEASE, 100).await, "claim_due").is_empty(),
        "cancelled messages are never claimed"
    );
    assert_eq!(
        ok(store.campaign(account.id, id).await, "campaign")
            .expect("stored")
            .control,
        CampaignControl::Cancelled
    );
    for result in [
        store.cancel_campaign(account.id, id, at(30)).await,
        store.pause_campaign(account.id, id, at(30)).await,
        store.resume_campaign(account.id, id, &[], at(30)).await,
    ] {
        assert!(
            matches!(result, Err(StoreError::Conflict(_))),
            "a cancelled campaign only stays cancelled: {result:?}"
        );
    }
}

/// A paused campaign's held messages (waiting, due at no time) still expire: the sweep fails the one whose validity
/// ended, once, with the expiry as its error; the other stays held and a resume releases only it.
pub async fn campaign_held_messages_expire(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let mut new = sample_campaign(account.id, 2, 10);
    new.messages[0].expires_at = Some(at(40));
    new.messages[1].expires_at = Some(at(4000));
    let (id, ids) = create(&*store, new).await;
    assert_eq!(
        ok(
            store.pause_campaign(account.id, id, at(5)).await,
            "pause_campaign"
        ),
        2
    );
    assert!(
        ok(store.expire_messages(at(39), 100).await, "expire_messages").is_empty(),
        "nothing expired before its time"
    );
    assert_eq!(
        ok(store.expire_messages(at(40), 100).await, "expire_messages"),
        vec![ids[0]],
        "the held message whose validity ended is failed"
    );
    assert!(
        ok(store.expire_messages(at(41), 100).await, "expire_messages").is_empty(),
        "and only once"
    );
    let failed = ok(store.get_message(account.id, ids[0]).await, "get_message").expect("stored");
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(
        failed.error_message.as_deref(),
        Some(crate::message::expired_reason(at(40)).as_str())
    );
    let held = ok(store.held_messages(account.id, id).await, "held_messages");
    assert_eq!(
        held.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![ids[1]],
        "only the unexpired message is still held"
    );
    assert_eq!(
        ok(
            store
                .resume_campaign(account.id, id, &[(ids[1], at(50))], at(45))
                .await,
            "resume_campaign"
        ),
        1,
        "a resume releases only the message still held"
    );
    let claimed = ok(store.claim_due(at(50), LEASE, 100).await, "claim_due");
    assert_eq!(
        claimed.iter().map(|c| c.message.id).collect::<Vec<_>>(),
        vec![ids[1]],
        "the expired message is never claimed"
    );
}
