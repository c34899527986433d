//! Messages: insert, read, list, filters, tenant isolation, manual retry, Meta pricing and error details.

use super::prelude::*;

/// Inserted messages start `queued` (or `scheduled`) with one timeline entry and counters; a batch is all or
/// nothing.
pub async fn insert_and_get_messages(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let batch = BatchId::new();
    let queued = NewMessage {
        batch_id: Some(batch),
        ..message_at(account.id, "14155552671", 5)
    };
    let scheduled = NewMessage {
        send_at: Some(at(3600)),
        expires_at: None,
        dry_run: true,
        metadata: None,
        content: MessageContent::Template(crate::message::Template {
            name: "order_shipped".into(),
            language: "en_US".into(),
            components: Vec::new(),
        }),
        ..message_at(account.id, "447700900123", 6)
    };
    insert(&*store, account.id, vec![queued.clone(), scheduled.clone()]).await;

    let m = get(&*store, account.id, queued.id).await;
    assert_eq!(m.id, queued.id);
    assert_eq!(m.account_id, account.id);
    assert_eq!(m.batch_id, Some(batch));
    assert_eq!(m.to, queued.to);
    assert_eq!(m.content, queued.content);
    assert_eq!(m.status, Status::Queued);
    assert_eq!(m.scheduled_for, None);
    assert_eq!(m.metadata, queued.metadata);
    assert!(!m.dry_run);
    assert_eq!(m.wamid, None);
    assert_eq!((m.attempt, m.tries), (0, 0));
    assert_eq!(m.next_attempt_at, None);
    assert_eq!(m.lease_until, None);
    assert_eq!(
        (m.sent_at, m.delivered_at, m.read_at, m.failed_at),
        (None, None, None, None)
    );
    assert_eq!((m.error_message.clone(), m.error_code), (None, None));
    assert_eq!(m.created_at, at(5));
    assert_eq!(m.timeline.len(), 1, "one timeline entry: {:?}", m.timeline);
    assert_eq!(m.timeline[0].status, Status::Queued);
    assert_eq!(m.timeline[0].at, at(5));
    assert_eq!(m.timeline[0].detail, None);

    let s = get(&*store, account.id, scheduled.id).await;
    assert_eq!(s.status, Status::Scheduled);
    assert_eq!(s.scheduled_for, Some(at(3600)));
    assert!(s.dry_run);
    assert_eq!(s.metadata, None);
    assert_eq!(s.content, scheduled.content);
    assert_eq!(s.batch_id, None);
    assert_eq!(
        s.timeline
            .iter()
            .map(|e| (e.status, e.at))
            .collect::<Vec<_>>(),
        vec![(Status::Scheduled, at(6))]
    );

    let counts = counts_of(&[(Status::Queued, 1), (Status::Scheduled, 1)]);
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "status_counts")),
        counts
    );
    assert_eq!(
        ok(store.get_message(account.id, MessageId::new()).await, "get"),
        None
    );

    // All or nothing: one duplicate id refuses the whole batch.
    let fresh = message_at(account.id, "14155552671", 7);
    let result = store
        .insert_messages(NewBatch {
            account_id: account.id,
            messages: vec![fresh.clone(), queued.clone()],
            idempotency: None,
        })
        .await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "a duplicate message id must be a Conflict, got {result:?}"
    );
    assert_eq!(
        ok(store.get_message(account.id, fresh.id).await, "get"),
        None,
        "nothing of a refused batch is stored"
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "status_counts")),
        counts,
        "counters unchanged by a refused batch"
    );

    // An empty batch is fine; an unknown account is not.
    insert(&*store, account.id, Vec::new()).await;
    let ghost = AccountId::new();
    let result = store
        .insert_messages(NewBatch {
            account_id: ghost,
            messages: vec![sample_message(ghost, "14155552671")],
            idempotency: None,
        })
        .await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "inserting for an unknown account"
    );
}

/// Every content type (media by link and by id with caption and file name, interactive buttons, list and
/// URL button with headers, location, contacts, reaction, a template with every parameter type) reads back exactly
/// as inserted, from `get_message` and from the list.
pub async fn every_content_type_round_trips(store: Arc<dyn Store>) {
    use crate::message::{ButtonSubType, FlowAction, TemplateComponent, TemplateParameter};
    use crate::message::{
        Contact, ContactAddress, ContactEmail, ContactName, ContactOrg, ContactPhone, ContactUrl,
        Interactive, InteractiveAction, InteractiveHeader, ListRow, ListSection, Location,
        MediaParameter, Reaction, ReplyButton,
    };
    let account = create_sample_account(&*store).await;
    let media =
        |link: Option<&str>, id: Option<&str>, caption: Option<&str>, filename: Option<&str>| {
            MediaParameter {
                link: link.map(str::to_owned),
                id: id.map(str::to_owned),
                caption: caption.map(str::to_owned),
                filename: filename.map(str::to_owned),
            }
        };
    let contents = vec![
        MessageContent::Image(media(
            Some("https://example.com/a.png"),
            None,
            Some("Receipt \u{1F9FE}"),
            None,
        )),
        MessageContent::Video(media(None, Some("1013859600285441"), Some("Demo"), None)),
        MessageContent::Audio(media(None, Some("42"), None, None)),
        MessageContent::Document(media(
            Some("https://example.com/invoice.pdf?v=2"),
            None,
            Some("Invoice"),
            Some("invoice 1042.pdf"),
        )),
        MessageContent::Sticker(media(Some("https://example.com/s.webp"), None, None, None)),
        MessageContent::Interactive(Interactive {
            header: Some(InteractiveHeader::Text {
                text: "Booking".into(),
            }),
            body: "Confirm?".into(),
            footer: Some("Reply by 6 pm".into()),
            action: InteractiveAction::Button {
                buttons: vec![
                    ReplyButton {
                        id: "yes".into(),
                        title: "Yes".into(),
                    },
                    ReplyButton {
                        id: "no".into(),
                        title: "No".into(),
                    },
                ],
            },
        }),
        MessageContent::Interactive(Interactive {
            header: None,
            body: "Pick".into(),
            footer: None,
            action: InteractiveAction::List {
                button: "Slots".into(),
                sections: vec![
                    ListSection {
                        title: Some("Mon".into()),
                        rows: vec![ListRow {
                            id: "m9".into(),
                            title: "9:00".into(),
                            description: Some("Morning".into()),
                        }],
                    },
                    ListSection {
                        title: None,
                        rows: vec![ListRow {
                            id: "t2".into(),
                            title: "14:00".into(),
                            description: None,
                        }],
                    },
                ],
            },
        }),
        MessageContent::Interactive(Interactive {
            header: Some(InteractiveHeader::Document {
                document: media(None, Some("9"), None, Some("menu.pdf")),
            }),
            body: "Menu".into(),
            footer: None,
            action: InteractiveAction::CtaUrl {
                display_text: "Open".into(),
                url: "https://example.com/menu".into(),
            },
        }),
        MessageContent::Location(Location {
            latitude: -33.868_820_123_456,
            longitude: 151.209_295,
            name: Some("Office".into()),
            address: None,
        }),
        MessageContent::Contacts(vec![
            Contact {
                name: ContactName {
                    formatted_name: "Ada Lovelace".into(),
                    first_name: Some("Ada".into()),
                    last_name: Some("Lovelace".into()),
                    middle_name: None,
                    suffix: None,
                    prefix: Some("Dr".into()),
                },
                phones: vec![ContactPhone {
                    phone: Some("+1 415 555 2671".into()),
                    kind: Some("CELL".into()),
                    wa_id: Some("14155552671".into()),
                }],
                emails: vec![ContactEmail {
                    email: Some("ada@example.com".into()),
                    kind: Some("WORK".into()),
                }],
                urls: vec![ContactUrl {
                    url: Some("https://example.com".into()),
                    kind: None,
                }],
                addresses: vec![ContactAddress {
                    street: Some("1 Hacker Way".into()),
                    city: Some("Menlo Park".into()),
                    state: None,
                    zip: Some("94025".into()),
                    country: Some("United States".into()),
                    country_code: Some("US".into()),
                    kind: Some("WORK".into()),
                }],
                org: Some(ContactOrg {
                    company: Some("Engines \u{1F4A1}".into()),
                    department: None,
                    title: Some("Engineer".into()),
                }),
                birthday: Some("1815-12-10".into()),
            },
            Contact::named("Bob"),
        ]),
        MessageContent::Template(crate::message::Template {
            name: "order_shipped".into(),
            language: "en_US".into(),
            components: vec![
                TemplateComponent::Header {
                    parameters: vec![TemplateParameter::location(Location {
                        latitude: 37.483_307,
                        longitude: -122.148_981,
                        name: Some("Depot".into()),
                        address: Some("1 Hacker Way".into()),
                    })],
                },
                TemplateComponent::Body {
                    parameters: vec![
                        TemplateParameter::named_text("first_name", "Ana \u{1F600}"),
                        TemplateParameter::currency("$12.50", "USD", 12_500),
                        TemplateParameter::date_time("May 1, 2026"),
                    ],
                },
                TemplateComponent::Button {
                    sub_type: ButtonSubType::CopyCode,
                    index: 0,
                    parameters: vec![TemplateParameter::coupon_code("SAVE10")],
                },
                TemplateComponent::Button {
                    sub_type: ButtonSubType::Flow,
                    index: 1,
                    parameters: vec![TemplateParameter::flow_action(FlowAction {
                        flow_token: Some("tok".into()),
                        flow_action_data: serde_json::from_str(
                            r#"{"date": "2026-05-01", "n": [1, 2]}"#,
                        )
                        .ok(),
                    })],
                },
            ],
        }),
        MessageContent::Reaction(Reaction {
            message_id: "wamid.HBgL".into(),
            emoji: "\u{1F44D}".into(),
        }),
        MessageContent::Reaction(Reaction {
            message_id: "wamid.HBgL".into(),
            emoji: String::new(),
        }),
    ];
    let messages: Vec<NewMessage> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| NewMessage {
            content: c.clone(),
            ..message_at(account.id, "14155552671", 10 + i as i64)
        })
        .collect();
    insert(&*store, account.id, messages.clone()).await;
    for m in &messages {
        assert_eq!(get(&*store, account.id, m.id).await.content, m.content);
    }
    let page = ok(
        store
            .list_messages(
                account.id,
                &MessageFilter::default(),
                PageRequest {
                    page: 1,
                    limit: 100,
                },
            )
            .await,
        "list_messages",
    );
    for m in &messages {
        let listed = page.items.iter().find(|l| l.id == m.id).expect("listed");
        assert_eq!(listed.content, m.content, "{:?}", m.content.kind());
    }
}

/// A recipient known by phone, by business-scoped user id (a user behind a username) or by both, and the wamid a
/// reply quotes, come back as stored from `get_message`, listings and claims; the window is kept per BSUID too.
pub async fn recipients_and_replies_round_trip(store: Arc<dyn Store>) {
    use crate::recipient::{Recipient, UserId};
    let account = create_sample_account(&*store).await;
    let phone = crate::phone::PhoneNumber::parse("14155552671").unwrap();
    let user = UserId::parse("US.13491208655302741918").unwrap();
    let long_user = UserId::parse(&format!("BR.{}", "a1".repeat(64))).unwrap();
    let recipients = [
        Recipient::phone(phone.clone()),
        Recipient::user(user.clone()),
        Recipient::both(phone, user.clone()),
        Recipient::user(long_user),
    ];
    let messages: Vec<NewMessage> = recipients
        .iter()
        .enumerate()
        .map(|(i, r)| NewMessage {
            to: r.clone(),
            reply_to: (i % 2 == 1).then(|| format!("wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI{i}")),
            ..message_at(account.id, "14155552671", 20 + i as i64)
        })
        .collect();
    insert(&*store, account.id, messages.clone()).await;
    for m in &messages {
        let got = get(&*store, account.id, m.id).await;
        assert_eq!(
            (&got.to, &got.reply_to),
            (&m.to, &m.reply_to),
            "get_message"
        );
    }
    let page = ok(
        store
            .list_messages(
                account.id,
                &MessageFilter::default(),
                PageRequest {
                    page: 1,
                    limit: 100,
                },
            )
            .await,
        "list_messages",
    );
    for m in &messages {
        let listed = page.items.iter().find(|l| l.id == m.id).expect("listed");
        assert_eq!(
            (&listed.to, &listed.reply_to),
            (&m.to, &m.reply_to),
            "listed"
        );
    }
    let claimed = ok(store.claim_due(at(100), LEASE, 10).await, "claim_due");
    assert_eq!(claimed.len(), messages.len());
    for c in &claimed {
        let m = messages
            .iter()
            .find(|m| m.id == c.message.id)
            .expect("claimed one of ours");
        assert_eq!(
            (&c.message.to, &c.message.reply_to),
            (&m.to, &m.reply_to),
            "claimed"
        );
    }
    ok(
        store
            .record_inbound(account.id, user.as_str(), at(50))
            .await,
        "record_inbound",
    );
    assert_eq!(
        ok(
            store.last_inbound(account.id, user.as_str()).await,
            "last_inbound"
        ),
        Some(at(50))
    );
}

/// Listings are newest first, paginated with the total, filterable by status and batch, without timelines.
pub async fn list_messages_pages_and_filters(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let batch = BatchId::new();
    let mut ids = Vec::new();
    let mut messages = Vec::new();
    for i in 0..25 {
        let m = NewMessage {
            batch_id: (i % 3 == 0).then_some(batch),
            send_at: (i % 5 == 4).then(|| at(10_000)),
            expires_at: None,
            ..message_at(account.id, "14155552671", i)
        };
        ids.push(m.id);
        messages.push(m);
    }
    insert(&*store, account.id, messages).await;
    insert(
        &*store,
        other.id,
        vec![message_at(other.id, "14155552671", 100)],
    )
    .await;

    let list = |filter: MessageFilter, page: u32, limit: u32| {
        let store = store.clone();
        async move {
            ok(
                store
                    .list_messages(account.id, &filter, PageRequest { page, limit })
                    .await,
                "list_messages",
            )
        }
    };
    let pick = |idx: &[usize]| idx.iter().map(|i| ids[*i]).collect::<Vec<_>>();
    let page_ids =
        |p: &crate::store::Page<Message>| p.items.iter().map(|m| m.id).collect::<Vec<_>>();

    let p1 = list(MessageFilter::default(), 1, 10).await;
    assert_eq!(p1.total, 25);
    assert_eq!(
        page_ids(&p1),
        pick(&[24, 23, 22, 21, 20, 19, 18, 17, 16, 15]),
        "newest first"
    );
    assert!(
        p1.items.iter().all(|m| m.timeline.is_empty()),
        "listings leave timelines empty"
    );
    let p3 = list(MessageFilter::default(), 3, 10).await;
    assert_eq!(p3.total, 25);
    assert_eq!(page_ids(&p3), pick(&[4, 3, 2, 1, 0]));
    let p4 = list(MessageFilter::default(), 4, 10).await;
    assert_eq!(p4.total, 25, "total is reported past the last page");
    assert!(p4.items.is_empty());

    let scheduled = MessageFilter {
        status: Some(Status::Scheduled),
        batch_id: None,
    };
    let p = list(scheduled.clone(), 1, 20).await;
    assert_eq!(p.total, 5);
    assert_eq!(page_ids(&p), pick(&[24, 19, 14, 9, 4]));
    assert!(p.items.iter().all(|m| m.status == Status::Scheduled));
    let p = list(scheduled.clone(), 2, 2).await;
    assert_eq!((p.total, page_ids(&p)), (5, pick(&[14, 9])));

    let in_batch = MessageFilter {
        status: None,
        batch_id: Some(batch),
    };
    let p = list(in_batch, 1, 20).await;
    assert_eq!(p.total, 9);
    assert_eq!(page_ids(&p), pick(&[24, 21, 18, 15, 12, 9, 6, 3, 0]));

    let both = MessageFilter {
        status: Some(Status::Scheduled),
        batch_id: Some(batch),
    };
    let p = list(both, 1, 20).await;
    assert_eq!((p.total, page_ids(&p)), (2, pick(&[24, 9])));

    let none = MessageFilter {
        status: Some(Status::Failed),
        batch_id: None,
    };
    let p = list(none, 1, 20).await;
    assert_eq!((p.total, p.items.len()), (0, 0));
    let p = list(
        MessageFilter {
            status: None,
            batch_id: Some(BatchId::new()),
        },
        1,
        20,
    )
    .await;
    assert_eq!(p.total, 0, "unknown batch");
}

/// One account never sees or changes another's messages.
pub async fn tenant_isolation(store: Arc<dyn Store>) {
    let owner = create_sample_account(&*store).await;
    let stranger = create_sample_account(&*store).await;
    let m = sent_message(&*store, owner.id, "wamid.ISO1", 0, at(1)).await;
    let result = store
        .apply_status_updates(
            &[StatusUpdate {
                error: Some(failure("undeliverable", Some(131026))),
                ..meta_update("wamid.ISO1", MetaStatus::Failed, at(2))
            }],
            at(2),
            DEFAULT_MAX_PENDING_STATUSES,
        )
        .await;
    assert_eq!(
        ok(result, "apply_status_updates"),
        vec![StatusApplied::Applied(m.id, Status::Failed)]
    );

    assert_eq!(
        ok(store.get_message(stranger.id, m.id).await, "get"),
        None,
        "another account's message is invisible"
    );
    let listed = ok(
        store
            .list_messages(
                stranger.id,
                &MessageFilter::default(),
                PageRequest { page: 1, limit: 50 },
            )
            .await,
        "list",
    );
    assert_eq!((listed.total, listed.items.len()), (0, 0));
    assert_eq!(
        store.retry_message(stranger.id, m.id, at(3)).await,
        Err(StoreError::NotFound),
        "retrying another account's message"
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(stranger.id).await, "counts")),
        StatusCounts::new()
    );
    assert_eq!(
        get(&*store, owner.id, m.id).await.status,
        Status::Failed,
        "the stranger's retry changed nothing"
    );

    // A status routed to the wrong account does not touch the owner's message.
    let other = sent_message(&*store, owner.id, "wamid.ISO2", 10, at(11)).await;
    let routed = ok(
        store
            .apply_status_updates(
                &[StatusUpdate {
                    account_id: Some(stranger.id),
                    ..meta_update("wamid.ISO2", MetaStatus::Delivered, at(12))
                }],
                at(12),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply_status_updates",
    );
    assert_eq!(routed, vec![StatusApplied::Pending]);
    assert_eq!(get(&*store, owner.id, other.id).await.status, Status::Sent);
    let routed = ok(
        store
            .apply_status_updates(
                &[StatusUpdate {
                    account_id: Some(owner.id),
                    ..meta_update("wamid.ISO2", MetaStatus::Delivered, at(13))
                }],
                at(13),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply_status_updates",
    );
    assert_eq!(
        routed,
        vec![StatusApplied::Applied(other.id, Status::Delivered)]
    );
    assert_eq!(
        ok(store.retry_message(owner.id, m.id, at(20)).await, "retry").status,
        Status::Queued,
        "the owner can retry"
    );
}

/// Only failed messages can be retried; a retry re-queues with `tries` reset and clears the failed send.
pub async fn retry_only_from_failed(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = sample_message(account.id, "14155552671");
    insert(&*store, account.id, vec![m.clone()]).await;
    let refuse = |status: &'static str, now: DateTime<Utc>| {
        let store = store.clone();
        async move {
            match store.retry_message(account.id, m.id, now).await {
                Err(StoreError::Conflict(text)) => assert!(
                    text.contains(status),
                    "the Conflict must name the status {status}: {text}"
                ),
                other => panic!("retrying a {status} message must be a Conflict, got {other:?}"),
            }
        }
    };
    refuse("queued", at(1)).await;
    let c = claim_only(&*store, m.id, at(2)).await;
    refuse("processing", at(3)).await;
    ok(
        store
            .record_outcome(
                m.id,
                c.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.RETRY".into(),
                },
                at(4),
            )
            .await,
        "Sent",
    );
    refuse("sent", at(5)).await;
    ok(
        store
            .apply_status_updates(
                &[StatusUpdate {
                    error: Some(failure("undeliverable", Some(131026))),
                    ..meta_update("wamid.RETRY", MetaStatus::Failed, at(6))
                }],
                at(6),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );

    let q = ok(
        store.retry_message(account.id, m.id, at(7)).await,
        "retry_message",
    );
    assert_eq!(q.status, Status::Queued);
    assert_eq!(q.tries, 0);
    assert_eq!(
        (q.failed_at, q.error_message.clone(), q.error_code),
        (None, None, None)
    );
    assert_eq!(q.wamid, None, "the failed send's wamid is cleared");
    assert_eq!(q.sent_at, None);
    let last = q.timeline.last().expect("timeline");
    assert_eq!((last.status, last.at), (Status::Queued, at(7)));
    assert_eq!(
        q.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![Status::Queued, Status::Sent, Status::Failed, Status::Queued]
    );
    assert_eq!(get(&*store, account.id, m.id).await, q);
    assert_eq!(
        ok(store.message_by_wamid("wamid.RETRY").await, "by wamid"),
        None
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Queued, 1)])
    );
    let again = claim_only(&*store, m.id, at(8)).await;
    assert_eq!((again.message.attempt, again.message.tries), (2, 1));
    assert_eq!(
        store
            .retry_message(account.id, MessageId::new(), at(9))
            .await,
        Err(StoreError::NotFound)
    );
}

/// Meta's pricing is kept from any matched status (even one that changes nothing), Meta's error field by field
/// from a failure; both survive a status that arrives before its send, and a manual retry clears them.
pub async fn meta_pricing_and_error_details_are_kept(store: Arc<dyn Store>) {
    use crate::message::{MetaError, Pricing};
    let account = create_sample_account(&*store).await;
    let pricing = |kind: &str| Pricing {
        pricing_model: Some("PMP".into()),
        category: Some("marketing".into()),
        kind: Some(kind.into()),
        billable: Some(true),
    };
    let meta_error = MetaError {
        code: 131026,
        title: Some("Message undeliverable".into()),
        message: Some("Message undeliverable".into()),
        details: Some("Message Undeliverable.".into()),
    };
    let failure = FailureInfo {
        message: "(#131026) Message undeliverable: Message Undeliverable.".into(),
        code: Some(131026),
        meta: Some(meta_error.clone()),
    };

    let m = sent_message(&*store, account.id, "wamid.PRICE", 0, at(1)).await;
    assert_eq!((m.pricing.clone(), m.meta_error.clone()), (None, None));
    let sent = StatusUpdate {
        account_id: Some(account.id),
        pricing: Some(pricing("regular")),
        ..meta_update("wamid.PRICE", MetaStatus::Sent, at(2))
    };
    let r = ok(
        store
            .apply_status_updates(&[sent], at(2), DEFAULT_MAX_PENDING_STATUSES)
            .await,
        "apply(sent)",
    );
    assert_eq!(
        r,
        [StatusApplied::Ignored(m.id)],
        "the send already said sent"
    );
    let got = get(&*store, account.id, m.id).await;
    assert_eq!(
        got.pricing,
        Some(pricing("regular")),
        "pricing kept from a duplicate"
    );
    let delivered = StatusUpdate {
        pricing: Some(pricing("free_entry_point")),
        ..meta_update("wamid.PRICE", MetaStatus::Delivered, at(3))
    };
    ok(
        store
            .apply_status_updates(&[delivered], at(3), DEFAULT_MAX_PENDING_STATUSES)
            .await,
        "apply(delivered)",
    );
    let got = get(&*store, account.id, m.id).await;
    assert_eq!(got.status, Status::Delivered);
    assert_eq!(got.pricing, Some(pricing("free_entry_point")));

    // A failure before the send's outcome is stored: kept with its details, applied when the wamid arrives.
    let early = StatusUpdate {
        account_id: Some(account.id),
        error: Some(failure.clone()),
        pricing: Some(pricing("regular")),
        ..meta_update("wamid.EARLYFAIL", MetaStatus::Failed, at(5))
    };
    let r = ok(
        store
            .apply_status_updates(&[early], at(5), DEFAULT_MAX_PENDING_STATUSES)
            .await,
        "apply(early)",
    );
    assert_eq!(r, [StatusApplied::Pending]);
    let f = sent_message(&*store, account.id, "wamid.EARLYFAIL", 4, at(6)).await;
    let got = get(&*store, account.id, f.id).await;
    assert_eq!(got.status, Status::Failed);
    assert_eq!(got.error_code, Some(131026));
    assert_eq!(got.meta_error, Some(meta_error.clone()));
    assert_eq!(got.pricing, Some(pricing("regular")));

    let retried = ok(
        store.retry_message(account.id, f.id, at(7)).await,
        "retry_message",
    );
    assert_eq!((retried.meta_error, retried.pricing), (None, None));
    let got = get(&*store, account.id, f.id).await;
    assert_eq!((got.meta_error, got.pricing), (None, None));
}
