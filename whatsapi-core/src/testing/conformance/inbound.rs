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

use crate::inbound::{
    Inbound, InboundContent, InboundContext, InboundError, InboundFilter, InboundId, InboundInsert,
    InboundMedia, NewInbound, OrderItem, ReceivingNumber, Referral, SharedContact, SharedPhone,
};

/// One content of every kind an inbound message can have, with Meta's `type` for each.
pub fn every_inbound_content() -> Vec<(&'static str, InboundContent)> {
    vec![
        (
            "text",
            InboundContent::Text {
                body: "Hi! Ünïcödé ✓".into(),
            },
        ),
        (
            "image",
            InboundContent::Media(InboundMedia {
                id: Some("1037543291543636".into()),
                mime_type: Some("image/jpeg".into()),
                sha256: Some("HgZcq3C1TeL8Cn9N6W8lOtYBlg+Vmtm2Z0QRE2LUnY8=".into()),
                caption: Some("the receipt".into()),
                ..InboundMedia::default()
            }),
        ),
        (
            "audio",
            InboundContent::Media(InboundMedia {
                id: Some("2".into()),
                mime_type: Some("audio/ogg; codecs=opus".into()),
                voice: Some(true),
                ..InboundMedia::default()
            }),
        ),
        (
            "location",
            InboundContent::Location {
                latitude: Some(37.483_307_2),
                longitude: Some(-122.148_386_8),
                name: Some("Philz Coffee".into()),
                address: Some("101 Forest Ave, Palo Alto".into()),
                url: None,
            },
        ),
        (
            "contacts",
            InboundContent::Contacts {
                contacts: vec![SharedContact {
                    name: Some("Barbara Johnson".into()),
                    phones: vec![SharedPhone {
                        phone: Some("+1 (940) 555-1234".into()),
                        wa_id: Some("19405551234".into()),
                        kind: Some("HOME".into()),
                    }],
                    emails: vec!["bjohnson@example.com".into()],
                    company: Some("Lucky Shrub".into()),
                }],
            },
        ),
        (
            "interactive",
            InboundContent::ButtonReply {
                id: "yes-confirm".into(),
                title: Some("Yes".into()),
            },
        ),
        (
            "interactive",
            InboundContent::ListReply {
                id: "slot-2".into(),
                title: Some("10:00".into()),
                description: None,
            },
        ),
        (
            "interactive",
            InboundContent::FlowReply {
                name: Some("flow".into()),
                body: Some("Sent".into()),
                response_json: Some(r#"{"flow_token": "t", "rating": 5}"#.into()),
            },
        ),
        (
            "button",
            InboundContent::Button {
                payload: Some("STOP".into()),
                text: Some("Stop promotions".into()),
            },
        ),
        (
            "reaction",
            InboundContent::Reaction {
                message_id: Some("wamid.OURS".into()),
                emoji: None,
            },
        ),
        (
            "order",
            InboundContent::Order {
                catalog_id: Some("194836987003835".into()),
                text: Some("asap please".into()),
                items: vec![OrderItem {
                    product_retailer_id: Some("di9ozbzfi4".into()),
                    quantity: Some(2.0),
                    item_price: Some(30.5),
                    currency: Some("USD".into()),
                }],
            },
        ),
        (
            "edit",
            InboundContent::Edit {
                original_message_id: Some("wamid.ORIGINAL".into()),
                message: Box::new(InboundContent::Text {
                    body: "Hi (edited)".into(),
                }),
            },
        ),
        (
            "revoke",
            InboundContent::Revoke {
                original_message_id: Some("wamid.ORIGINAL".into()),
            },
        ),
        (
            "system",
            InboundContent::System {
                system_type: Some("user_changed_user_id".into()),
                body: Some("User changed their id".into()),
                wa_id: None,
                user_id: Some("US.2".into()),
                previous_user_id: Some("US.1".into()),
            },
        ),
        (
            "unsupported",
            InboundContent::Unsupported {
                errors: vec![InboundError {
                    code: Some(131051),
                    title: Some("Message type unknown".into()),
                    message: None,
                    details: Some("Message type is not currently supported".into()),
                }],
                raw: None,
            },
        ),
        (
            "hologram",
            InboundContent::Unsupported {
                errors: Vec::new(),
                raw: Some(json!({"type": "hologram", "hologram": {"depth": 3}})),
            },
        ),
    ]
}

/// An inbound message of the account from `from` (a phone number, or a BSUID when it starts with `US.`).
pub fn sample_inbound(
    account: AccountId,
    wamid: &str,
    from: &str,
    kind: &str,
    content: InboundContent,
    received: DateTime<Utc>,
) -> NewInbound {
    let bsuid = from.starts_with("US.");
    NewInbound {
        id: InboundId::new(),
        account_id: account,
        received_at: received,
        reply_to_message: None,
        to: None,
        message: Inbound {
            wamid: wamid.into(),
            kind: kind.into(),
            from: (!bsuid).then(|| from.to_owned()),
            from_user_id: bsuid.then(|| from.to_owned()),
            from_parent_user_id: None,
            profile_name: Some("Sarah".into()),
            username: bsuid.then(|| "sarah".to_owned()),
            timestamp: received - chrono::Duration::seconds(2),
            context: None,
            referral: None,
            content,
        },
    }
}

/// Inbound messages are stored once per account and wamid, even under concurrent inserts; every content kind,
/// the context, referral and our replied-to message round-trip; another account may hold the same wamid.
pub async fn inbound_messages_once_per_wamid(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let ours = sample_message(account.id, "14155552671");
    let ours_id = ours.id;
    insert(&*store, account.id, vec![ours]).await;
    let mut set = JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        set.spawn(async move {
            let new = sample_inbound(
                account.id,
                "wamid.DUP",
                "14155552671",
                "text",
                InboundContent::Text {
                    body: format!("attempt {i}"),
                },
                at(i),
            );
            ok(store.insert_inbound(new).await, "insert_inbound")
        });
    }
    let mut inserted = Vec::new();
    let mut ids = HashSet::new();
    while let Some(result) = set.join_next().await {
        let result = result.expect("insert task");
        ids.insert(result.message().id);
        if let InboundInsert::Inserted(m) = result {
            inserted.push(m);
        }
    }
    assert_eq!(
        inserted.len(),
        1,
        "exactly one concurrent insert of a wamid is new"
    );
    assert_eq!(
        ids.len(),
        1,
        "every duplicate answers the message stored first"
    );
    let first = &inserted[0];
    let again = ok(
        store
            .insert_inbound(sample_inbound(
                account.id,
                "wamid.DUP",
                "14155552671",
                "text",
                InboundContent::Text {
                    body: "late".into(),
                },
                at(100),
            ))
            .await,
        "insert_inbound",
    );
    assert_eq!(
        again,
        InboundInsert::Duplicate(first.clone()),
        "a duplicate changes nothing"
    );
    let elsewhere = ok(
        store
            .insert_inbound(sample_inbound(
                other.id,
                "wamid.DUP",
                "14155552671",
                "text",
                InboundContent::Text {
                    body: "other".into(),
                },
                at(1),
            ))
            .await,
        "insert_inbound",
    );
    assert!(
        matches!(elsewhere, InboundInsert::Inserted(_)),
        "another account's wamid is its own"
    );

    for (i, (kind, content)) in every_inbound_content().into_iter().enumerate() {
        let mut new = sample_inbound(
            account.id,
            &format!("wamid.K{i}"),
            if i % 2 == 0 {
                "14155552672"
            } else {
                "US.13491208655302741918"
            },
            kind,
            content,
            at(200 + i as i64),
        );
        if i == 0 {
            new.reply_to_message = Some(ours_id);
            new.message.from_parent_user_id = Some("US.ENT.1".into());
            new.message.context = Some(InboundContext {
                message_id: Some("wamid.OURS".into()),
                from: Some("15550001234".into()),
                forwarded: true,
                frequently_forwarded: false,
                catalog_id: Some("1".into()),
                product_retailer_id: Some("sku".into()),
            });
            new.message.referral = Some(Referral {
                source_url: Some("https://fb.me/ad".into()),
                source_type: Some("ad".into()),
                ctwa_clid: Some("clid".into()),
                ..Referral::default()
            });
        }
        let expected = new.clone().into_stored();
        let stored = ok(store.insert_inbound(new).await, "insert_inbound");
        assert_eq!(
            stored,
            InboundInsert::Inserted(expected.clone()),
            "{kind} insert"
        );
        let read = ok(
            store.inbound_message(account.id, expected.id).await,
            "inbound_message",
        );
        assert_eq!(read.as_ref(), Some(&expected), "{kind} round trip");
    }
}

/// Inbound messages are read only by their account; listings page newest first and filter by contact (phone
/// number or BSUID) and type, with the total.
pub async fn inbound_messages_page_filter_and_isolate(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let mut ids = Vec::new();
    for i in 0..7i64 {
        let (from, kind, content) = match i % 3 {
            0 => (
                "14155552671",
                "text",
                InboundContent::Text {
                    body: format!("t{i}"),
                },
            ),
            1 => (
                "US.13491208655302741918",
                "reaction",
                InboundContent::Reaction {
                    message_id: Some("wamid.X".into()),
                    emoji: Some("👍".into()),
                },
            ),
            _ => (
                "14155552671",
                "image",
                InboundContent::Media(InboundMedia::default()),
            ),
        };
        let new = sample_inbound(
            account.id,
            &format!("wamid.P{i}"),
            from,
            kind,
            content,
            at(i),
        );
        ids.push(new.id);
        ok(store.insert_inbound(new).await, "insert_inbound");
    }
    let theirs = sample_inbound(
        other.id,
        "wamid.THEIRS",
        "14155552671",
        "text",
        InboundContent::Text { body: "x".into() },
        at(50),
    );
    let theirs_id = theirs.id;
    ok(store.insert_inbound(theirs).await, "insert_inbound");

    assert_eq!(
        ok(
            store.inbound_message(account.id, theirs_id).await,
            "inbound_message"
        ),
        None,
        "another account's inbound message is not found"
    );
    assert!(
        ok(
            store.inbound_message(other.id, ids[0]).await,
            "inbound_message"
        )
        .is_none()
    );
    assert_eq!(
        ok(
            store.inbound_message(account.id, InboundId::new()).await,
            "inbound_message"
        ),
        None
    );

    let list = |filter: InboundFilter, page: u32, limit: u32| {
        let store = store.clone();
        async move {
            ok(
                store
                    .list_inbound(account.id, &filter, PageRequest { page, limit })
                    .await,
                "list_inbound",
            )
        }
    };
    let all = list(InboundFilter::default(), 1, 3).await;
    assert_eq!(all.total, 7);
    let first: Vec<_> = all.items.iter().map(|m| m.id).collect();
    assert_eq!(first, [ids[6], ids[5], ids[4]], "newest received first");
    let third = list(InboundFilter::default(), 3, 3).await;
    assert_eq!(
        third.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[0]]
    );
    assert!(list(InboundFilter::default(), 4, 3).await.items.is_empty());

    let by_phone = list(
        InboundFilter {
            contact: Some("14155552671".into()),
            kind: None,
            to: None,
        },
        1,
        50,
    )
    .await;
    assert_eq!(by_phone.total, 5);
    assert!(
        by_phone
            .items
            .iter()
            .all(|m| m.message.from.as_deref() == Some("14155552671"))
    );
    let by_user = list(
        InboundFilter {
            contact: Some("US.13491208655302741918".into()),
            kind: None,
            to: None,
        },
        1,
        50,
    )
    .await;
    assert_eq!(
        by_user.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[4], ids[1]]
    );
    let images = list(
        InboundFilter {
            contact: Some("14155552671".into()),
            kind: Some("image".into()),
            to: None,
        },
        1,
        50,
    )
    .await;
    assert_eq!(
        images.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[5], ids[2]]
    );
    assert_eq!(images.total, 2);
    let none = list(
        InboundFilter {
            contact: Some("19999999999".into()),
            kind: None,
            to: None,
        },
        1,
        50,
    )
    .await;
    assert_eq!((none.total, none.items.len()), (0, 0));
    let theirs_list = ok(
        store
            .list_inbound(
                other.id,
                &InboundFilter::default(),
                PageRequest { page: 1, limit: 50 },
            )
            .await,
        "list_inbound",
    );
    assert_eq!(
        theirs_list.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        [theirs_id]
    );
}

/// Each inbound message keeps the business number it was sent to (with or without the display number Meta gave,
/// or none when unknown) through insert, read by id, read by wamid, duplicates and listings; a listing by number
/// gives only that number's messages (never those whose number is unknown), combined with the other filters and
/// within the account.
pub async fn inbound_messages_keep_their_number(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let first = ReceivingNumber {
        phone_number_id: "106540352242922".into(),
        display_phone_number: Some("15550783881".into()),
    };
    let second = ReceivingNumber {
        phone_number_id: "5551231000".into(),
        display_phone_number: None,
    };
    let text = |body: &str| InboundContent::Text { body: body.into() };
    // (wamid, sender, kind, number)
    let rows = [
        ("wamid.N0", "14155552671", "text", Some(&first)),
        ("wamid.N1", "14155552671", "text", Some(&second)),
        ("wamid.N2", "14155552672", "text", Some(&first)),
        ("wamid.N3", "14155552671", "reaction", Some(&second)),
        ("wamid.N4", "14155552671", "text", None),
    ];
    let mut stored = Vec::new();
    for (i, (wamid, from, kind, to)) in rows.iter().enumerate() {
        let content = if *kind == "reaction" {
            InboundContent::Reaction {
                message_id: Some("wamid.OURS".into()),
                emoji: Some("👍".into()),
            }
        } else {
            text(wamid)
        };
        let mut new = sample_inbound(account.id, wamid, from, kind, content, at(i as i64));
        new.to = to.cloned();
        let expected = new.clone().into_stored();
        assert_eq!(
            ok(store.insert_inbound(new).await, "insert_inbound"),
            InboundInsert::Inserted(expected.clone()),
            "{wamid} insert"
        );
        assert_eq!(
            ok(
                store.inbound_message(account.id, expected.id).await,
                "inbound_message"
            )
            .as_ref(),
            Some(&expected),
            "{wamid} read by id keeps its number"
        );
        assert_eq!(
            ok(
                store.inbound_by_wamid(account.id, wamid).await,
                "inbound_by_wamid"
            )
            .as_ref(),
            Some(&expected),
            "{wamid} read by wamid keeps its number"
        );
        stored.push(expected);
    }
    // Meta delivers again, this time naming another number: what was stored first stays.
    let mut again = sample_inbound(
        account.id,
        "wamid.N0",
        "14155552671",
        "text",
        text("again"),
        at(50),
    );
    again.to = Some(second.clone());
    assert_eq!(
        ok(store.insert_inbound(again).await, "insert_inbound"),
        InboundInsert::Duplicate(stored[0].clone())
    );
    // Another account's message on its own number of the same id (not possible with Meta's routing, but the
    // listing is per account anyway) and with the same wamid.
    let mut theirs = sample_inbound(
        other.id,
        "wamid.N0",
        "14155552671",
        "text",
        text("theirs"),
        at(60),
    );
    theirs.to = Some(first.clone());
    let theirs_id = theirs.id;
    ok(store.insert_inbound(theirs).await, "insert_inbound");
    assert_eq!(
        ok(
            store.inbound_by_wamid(account.id, "wamid.N0").await,
            "inbound_by_wamid"
        )
        .map(|m| m.id),
        Some(stored[0].id),
        "by wamid within the account"
    );
    assert_eq!(
        ok(
            store.inbound_by_wamid(other.id, "wamid.N0").await,
            "inbound_by_wamid"
        )
        .map(|m| m.id),
        Some(theirs_id)
    );
    assert_eq!(
        ok(
            store.inbound_by_wamid(other.id, "wamid.N1").await,
            "inbound_by_wamid"
        ),
        None,
        "another account's wamid is not found"
    );
    assert_eq!(
        ok(
            store.inbound_by_wamid(account.id, "wamid.NONE").await,
            "inbound_by_wamid"
        ),
        None
    );

    let list = |filter: InboundFilter| {
        let store = store.clone();
        async move {
            let page = ok(
                store
                    .list_inbound(account.id, &filter, PageRequest { page: 1, limit: 50 })
                    .await,
                "list_inbound",
            );
            assert_eq!(page.total, page.items.len() as u64, "{filter:?}");
            page.items
        }
    };
    let ids =
        |items: Vec<crate::inbound::InboundMessage>| items.iter().map(|m| m.id).collect::<Vec<_>>();
    let all = list(InboundFilter::default()).await;
    assert_eq!(
        all.iter().rev().cloned().collect::<Vec<_>>(),
        stored,
        "listings show each message's number"
    );
    let on_first = list(InboundFilter {
        to: Some(first.phone_number_id.clone()),
        ..InboundFilter::default()
    })
    .await;
    assert_eq!(ids(on_first), [stored[2].id, stored[0].id]);
    let on_second = list(InboundFilter {
        to: Some(second.phone_number_id.clone()),
        ..InboundFilter::default()
    })
    .await;
    assert_eq!(
        on_second.iter().map(|m| m.to.clone()).collect::<Vec<_>>(),
        [Some(second.clone()), Some(second.clone())]
    );
    assert_eq!(ids(on_second), [stored[3].id, stored[1].id]);
    let combined = list(InboundFilter {
        contact: Some("14155552671".into()),
        kind: Some("text".into()),
        to: Some(second.phone_number_id.clone()),
    })
    .await;
    assert_eq!(ids(combined), [stored[1].id]);
    let first_from_other_contact = list(InboundFilter {
        contact: Some("14155552672".into()),
        to: Some(first.phone_number_id.clone()),
        ..InboundFilter::default()
    })
    .await;
    assert_eq!(ids(first_from_other_contact), [stored[2].id]);
    assert!(
        list(InboundFilter {
            to: Some("999".into()),
            ..InboundFilter::default()
        })
        .await
        .is_empty(),
        "a number no message was sent to lists nothing"
    );
}
