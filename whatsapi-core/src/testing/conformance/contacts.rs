//! Conversations: contacts created by sends and inbound messages, their window and opt-out state, their thread,
//! and the opt-out keywords, all per account.

use super::inbound::sample_inbound;
use super::prelude::*;
use crate::contacts::{
    ContactActivity, ContactFilter, ContactRef, OptOut, OptOutKeywords, OptOutSource,
};
use crate::inbound::InboundContent;
use crate::recipient::{Recipient, UserId};

fn phone(p: &str) -> ContactRef {
    ContactRef {
        phone: Some(PhoneNumber::parse(p).expect("valid phone")),
        user_id: None,
    }
}

fn user(u: &str) -> ContactRef {
    ContactRef {
        phone: None,
        user_id: Some(UserId::parse(u).expect("valid BSUID")),
    }
}

fn wrote(who: ContactRef, name: Option<&str>, secs: i64) -> ContactActivity {
    ContactActivity {
        who,
        profile_name: name.map(str::to_owned),
        at: at(secs),
        inbound: true,
    }
}

async fn ids(store: &dyn Store, account: AccountId, filter: ContactFilter) -> Vec<String> {
    ok(
        store
            .list_contacts(account, &filter, PageRequest { page: 1, limit: 50 })
            .await,
        "list_contacts",
    )
    .items
    .into_iter()
    .map(|c| c.id)
    .collect()
}

/// A send creates its recipients' contacts in its own transaction; inbound activity sets the window and profile
/// name; listing is latest activity first and per account; another account sees none of it.
pub async fn contacts_follow_sends_and_inbound(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    assert!(
        ids(&*store, a.id, ContactFilter::default())
            .await
            .is_empty()
    );

    insert(
        &*store,
        a.id,
        vec![
            message_at(a.id, "14155552671", 10),
            message_at(a.id, "14155552671", 20),
            message_at(a.id, "14155550002", 15),
        ],
    )
    .await;
    let c = ok(store.contact(a.id, "14155552671").await, "contact").expect("created by the send");
    assert_eq!(c.account_id, a.id);
    assert_eq!(c.phone.as_ref().map(|p| p.as_str()), Some("14155552671"));
    assert_eq!((c.last_message_at, c.last_inbound_at), (Some(at(20)), None));
    assert_eq!(c.activity_at, at(20));
    assert!(!c.window_open(at(21)));
    assert_eq!(
        ids(&*store, a.id, ContactFilter::default()).await,
        ["14155552671", "14155550002"]
    );

    // The customer writes: window and profile name; an older message moves nothing back.
    ok(
        store
            .record_contact_activity(a.id, &[wrote(phone("14155550002"), Some("Sarah"), 30)])
            .await,
        "record_contact_activity",
    );
    ok(
        store
            .record_contact_activity(a.id, &[wrote(phone("14155550002"), None, 25)])
            .await,
        "record_contact_activity",
    );
    let c = ok(store.contact(a.id, "14155550002").await, "contact").expect("known");
    assert_eq!(
        c.profile_name.as_deref(),
        Some("Sarah"),
        "kept when none is given"
    );
    assert_eq!(
        (c.last_inbound_at, c.last_message_at),
        (Some(at(30)), Some(at(30)))
    );
    assert_eq!(c.window_expires_at(), Some(at(30 + 24 * 3600)));
    assert!(c.window_open(at(31)) && !c.window_open(at(30 + 24 * 3600)));
    assert_eq!(
        ids(&*store, a.id, ContactFilter::default()).await,
        ["14155550002", "14155552671"],
        "latest activity first"
    );

    // Inbound before any send creates the contact too.
    ok(
        store
            .record_contact_activity(a.id, &[wrote(phone("14155550003"), Some("Ana"), 5)])
            .await,
        "record_contact_activity",
    );
    let page = ok(
        store
            .list_contacts(
                a.id,
                &ContactFilter::default(),
                PageRequest { page: 2, limit: 2 },
            )
            .await,
        "list_contacts",
    );
    assert_eq!(page.total, 3);
    assert_eq!(
        page.items.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["14155550003"]
    );

    assert!(
        ids(&*store, b.id, ContactFilter::default())
            .await
            .is_empty()
    );
    assert_eq!(
        ok(store.contact(b.id, "14155552671").await, "contact"),
        None
    );
}

/// A customer known only by BSUID has a contact keyed by it, found by it; once their phone number is known, a
/// later BSUID-only write goes to the same contact.
pub async fn contacts_by_bsuid(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    ok(
        store
            .record_contact_activity(a.id, &[wrote(user("US.13491208655302741918"), None, 10)])
            .await,
        "record_contact_activity",
    );
    let c = ok(
        store.contact(a.id, "US.13491208655302741918").await,
        "contact",
    )
    .expect("keyed by BSUID");
    assert_eq!(c.id, "US.13491208655302741918");
    assert_eq!(c.phone, None);

    let both = ContactRef {
        phone: Some(PhoneNumber::parse("14155552671").expect("valid")),
        user_id: Some(UserId::parse("US.777").expect("valid")),
    };
    ok(
        store
            .record_contact_activity(a.id, &[wrote(both, Some("Sarah"), 20)])
            .await,
        "record_contact_activity",
    );
    ok(
        store
            .record_contact_activity(a.id, &[wrote(user("US.777"), None, 30)])
            .await,
        "record_contact_activity",
    );
    let c = ok(store.contact(a.id, "US.777").await, "contact").expect("found by its BSUID");
    assert_eq!(c.id, "14155552671");
    assert_eq!(
        c.last_inbound_at,
        Some(at(30)),
        "the BSUID-only write went to it"
    );
    assert_eq!(
        ids(&*store, a.id, ContactFilter::default()).await,
        ["14155552671", "US.13491208655302741918"]
    );
    // An opt-out by BSUID reaches the same contact.
    let c = ok(
        store
            .set_contact_opt_out(
                a.id,
                &user("US.777"),
                Some(OptOut {
                    at: at(40),
                    source: OptOutSource::Meta,
                }),
                at(40),
            )
            .await,
        "set_contact_opt_out",
    );
    assert_eq!(c.id, "14155552671");
}

/// `contacts_of` and `last_inbounds` answer for many ids at once what `contact` and `last_inbound` answer one by
/// one (by key, else by BSUID; per account; ids without one missing), for any number of ids.
pub async fn contacts_and_windows_in_sets(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    let both = ContactRef {
        phone: Some(PhoneNumber::parse("14155550002").expect("valid")),
        user_id: Some(UserId::parse("US.777").expect("valid")),
    };
    ok(
        store
            .record_contact_activity(
                a.id,
                &[
                    wrote(phone("14155552671"), Some("Sarah"), 10),
                    wrote(both, None, 20),
                    wrote(user("US.888"), None, 30),
                ],
            )
            .await,
        "record_contact_activity",
    );
    ok(
        store
            .record_contact_activity(b.id, &[wrote(phone("14155550003"), None, 5)])
            .await,
        "record_contact_activity",
    );
    let opt_out = OptOut {
        at: at(40),
        source: OptOutSource::Api,
    };
    ok(
        store
            .set_contact_opt_out(a.id, &phone("14155552671"), Some(opt_out), at(40))
            .await,
        "set_contact_opt_out",
    );
    for (account, who, secs) in [
        (a.id, "14155552671", 10),
        (a.id, "US.777", 20),
        (a.id, "14155552671", 50),
        (b.id, "14155550003", 5),
    ] {
        ok(
            store.record_inbound(account, who, at(secs)).await,
            "record_inbound",
        );
    }

    // The known ids among many unknown ones (more than one statement's parameters on some databases).
    let mut asked: Vec<String> = [
        "14155552671",
        "14155550002",
        "US.777",
        "US.888",
        "14155550003",
        "19995550000",
    ]
    .map(str::to_owned)
    .to_vec();
    asked.extend((0..2000).map(|i| format!("1666555{i:04}")));
    let contacts = ok(store.contacts_of(a.id, &asked).await, "contacts_of");
    let windows = ok(store.last_inbounds(a.id, &asked).await, "last_inbounds");
    for id in &asked {
        let one = ok(store.contact(a.id, id).await, "contact");
        assert_eq!(contacts.get(id), one.as_ref(), "contacts_of {id}");
        let last = ok(store.last_inbound(a.id, id).await, "last_inbound");
        assert_eq!(windows.get(id).copied(), last, "last_inbounds {id}");
    }
    let found = |id: &str| contacts.get(id).map(|c| c.id.as_str());
    assert_eq!(found("US.777"), Some("14155550002"), "by its BSUID");
    assert_eq!(found("US.888"), Some("US.888"));
    assert_eq!(found("14155550003"), None, "another account's contact");
    assert_eq!(contacts.len(), 4, "{contacts:?}");
    assert!(
        contacts["14155552671"].opt_out.is_some(),
        "the opt-out comes with it"
    );
    assert_eq!(windows.len(), 2, "{windows:?}");
    assert_eq!(windows["14155552671"], at(50), "the latest");
    assert_eq!(windows["US.777"], at(20));

    assert!(ok(store.contacts_of(a.id, &[]).await, "contacts_of").is_empty());
    assert!(ok(store.last_inbounds(a.id, &[]).await, "last_inbounds").is_empty());
    let theirs = vec!["14155550003".to_owned()];
    assert_eq!(
        ok(store.last_inbounds(b.id, &theirs).await, "last_inbounds").get("14155550003"),
        Some(&at(5))
    );
    assert_eq!(
        ok(store.contacts_of(b.id, &theirs).await, "contacts_of").len(),
        1
    );
}

/// Opt-outs are set and cleared, create a contact when needed, filter listings, and stay per account; marketing
/// pauses only move forward.
pub async fn contact_opt_outs_and_pauses(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    insert(&*store, a.id, vec![message_at(a.id, "14155552671", 10)]).await;

    let out = OptOut {
        at: at(20),
        source: OptOutSource::Keyword,
    };
    let c = ok(
        store
            .set_contact_opt_out(a.id, &phone("14155552671"), Some(out), at(20))
            .await,
        "set_contact_opt_out",
    );
    assert_eq!(c.opt_out, Some(out));
    assert_eq!(c.activity_at, at(10), "an opt-out is no message");
    // A contact the account never talked to is created by an opt-out.
    let created = ok(
        store
            .set_contact_opt_out(
                a.id,
                &phone("14155550009"),
                Some(OptOut {
                    at: at(30),
                    source: OptOutSource::Api,
                }),
                at(30),
            )
            .await,
        "set_contact_opt_out",
    );
    assert_eq!(
        (created.last_message_at, created.activity_at),
        (None, at(30))
    );
    insert(&*store, a.id, vec![message_at(a.id, "14155550001", 5)]).await;

    assert_eq!(
        ids(
            &*store,
            a.id,
            ContactFilter {
                opted_out: Some(true)
            }
        )
        .await,
        ["14155550009", "14155552671"]
    );
    assert_eq!(
        ids(
            &*store,
            a.id,
            ContactFilter {
                opted_out: Some(false)
            }
        )
        .await,
        ["14155550001"]
    );
    assert_eq!(
        ok(store.contact(b.id, "14155552671").await, "contact"),
        None,
        "another account's contact"
    );
    assert!(
        ids(
            &*store,
            b.id,
            ContactFilter {
                opted_out: Some(true)
            }
        )
        .await
        .is_empty()
    );

    let c = ok(
        store
            .set_contact_opt_out(a.id, &phone("14155552671"), None, at(40))
            .await,
        "set_contact_opt_out",
    );
    assert_eq!(c.opt_out, None);
    let stored = ok(store.contact(a.id, "14155552671").await, "contact").expect("known");
    assert_eq!(stored.opt_out, None);

    let c = ok(
        store
            .pause_contact_marketing(a.id, &phone("14155552671"), at(1000), at(50))
            .await,
        "pause_contact_marketing",
    );
    assert_eq!(c.marketing_paused_until, Some(at(1000)));
    let c = ok(
        store
            .pause_contact_marketing(a.id, &phone("14155552671"), at(500), at(60))
            .await,
        "pause_contact_marketing",
    );
    assert_eq!(c.marketing_paused_until, Some(at(1000)), "never earlier");
    assert_eq!(c.marketing_paused(at(999)), Some(at(1000)));
    assert_eq!(c.marketing_paused(at(1000)), None);
}

/// A contact's thread: its outbound messages (to its phone number or BSUID) and inbound ones, each newest first
/// and bounded, never another contact's or another account's.
pub async fn contact_thread_orders_both_ways(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    let to_bsuid = NewMessage {
        to: Recipient::both(
            PhoneNumber::parse("14155559999").expect("valid"),
            UserId::parse("US.42").expect("valid"),
        ),
        ..message_at(a.id, "14155552671", 40)
    };
    insert(
        &*store,
        a.id,
        vec![
            message_at(a.id, "14155552671", 10),
            message_at(a.id, "14155552671", 30),
            message_at(a.id, "14155550002", 35),
        ],
    )
    .await;
    insert(&*store, a.id, vec![to_bsuid]).await;
    insert(&*store, b.id, vec![message_at(b.id, "14155552671", 50)]).await;
    let text = |s: &str| InboundContent::Text { body: s.into() };
    for (account, wamid, from, secs) in [
        (a.id, "wamid.A1", "14155552671", 20),
        (a.id, "wamid.A2", "14155552671", 45),
        (a.id, "wamid.A3", "14155550002", 25),
        (b.id, "wamid.B1", "14155552671", 60),
    ] {
        ok(
            store
                .insert_inbound(sample_inbound(
                    account,
                    wamid,
                    from,
                    "text",
                    text("hi"),
                    at(secs),
                ))
                .await,
            "insert_inbound",
        );
    }

    let c = ok(store.contact(a.id, "14155552671").await, "contact").expect("known");
    let m = ok(
        store.contact_messages(a.id, &c, 10).await,
        "contact_messages",
    );
    assert_eq!(
        m.outbound.iter().map(|m| m.created_at).collect::<Vec<_>>(),
        [at(30), at(10)]
    );
    assert!(m.outbound.iter().all(|m| m.account_id == a.id));
    assert_eq!(
        m.inbound
            .iter()
            .map(|m| m.message.wamid.as_str())
            .collect::<Vec<_>>(),
        ["wamid.A2", "wamid.A1"]
    );
    let thread = crate::contacts::ThreadItem::merge(&m, 3);
    assert_eq!(
        thread.iter().map(|t| t.at).collect::<Vec<_>>(),
        [at(45), at(30), at(20)],
        "newest first, both ways, cut at the limit"
    );
    let short = ok(
        store.contact_messages(a.id, &c, 1).await,
        "contact_messages",
    );
    assert_eq!((short.outbound.len(), short.inbound.len()), (1, 1));
    assert_eq!(short.outbound[0].created_at, at(30));

    // A recipient with a BSUID: its messages are found from the BSUID too.
    let bsuid_contact = crate::contacts::Contact {
        phone: None,
        id: "US.42".into(),
        ..c.clone()
    };
    let c2 = crate::contacts::Contact {
        user_id: Some(UserId::parse("US.42").expect("valid")),
        ..bsuid_contact
    };
    let m = ok(
        store.contact_messages(a.id, &c2, 10).await,
        "contact_messages",
    );
    assert_eq!(
        m.outbound.iter().map(|m| m.created_at).collect::<Vec<_>>(),
        [at(40)]
    );
    // Another account's messages to the same number stay out.
    let m = ok(
        store.contact_messages(b.id, &c, 10).await,
        "contact_messages",
    );
    assert_eq!(m.outbound.len(), 1);
    assert_eq!(m.outbound[0].account_id, b.id);
    assert_eq!(m.inbound.len(), 1);
}

/// Opt-out keywords are kept per account; none until set.
pub async fn opt_out_keywords_per_account(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    assert_eq!(
        ok(store.opt_out_keywords(a.id).await, "opt_out_keywords"),
        None
    );
    let k =
        OptOutKeywords::new(vec!["ARRÊT".into(), "STOP".into()], vec!["GO".into()]).expect("valid");
    ok(
        store.set_opt_out_keywords(a.id, &k).await,
        "set_opt_out_keywords",
    );
    assert_eq!(
        ok(store.opt_out_keywords(a.id).await, "opt_out_keywords"),
        Some(k)
    );
    let k2 = OptOutKeywords::new(vec![], vec![]).expect("valid");
    ok(
        store.set_opt_out_keywords(a.id, &k2).await,
        "set_opt_out_keywords",
    );
    assert_eq!(
        ok(store.opt_out_keywords(a.id).await, "opt_out_keywords"),
        Some(k2)
    );
    assert_eq!(
        ok(store.opt_out_keywords(b.id).await, "opt_out_keywords"),
        None
    );
    assert_eq!(
        store
            .set_opt_out_keywords(AccountId::new(), &OptOutKeywords::default())
            .await,
        Err(StoreError::NotFound)
    );
}
