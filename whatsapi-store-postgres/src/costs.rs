//! What messages cost: counts by the pricing Meta reported, billable messages by recipient prefix and category.
//! Both read the `pricing` JSON text through the expression indexes of migration 0016.

use whatsapi_core::AccountId;
use whatsapi_core::costs::{
    BILLABLE_TYPE, BillableQuery, BillableTally, PREFIX_DIGITS, PricingCounts,
};

use crate::codec::{count, ts};
use crate::db::Db;
use crate::error::Result;

/// The account's priced messages per category and per type (an index scan of `messages_by_pricing`).
pub(crate) async fn pricing_counts(db: &dyn Db, account: AccountId) -> Result<PricingCounts> {
    let rows = db
        .rows(
            "SELECT (pricing::jsonb) ->> 'category', (pricing::jsonb) ->> 'type', COUNT(*) FROM messages \
             WHERE account = (SELECT seq FROM accounts WHERE id = $1) AND pricing IS NOT NULL \
             GROUP BY 1, 2",
            &[&account.0],
        )
        .await?;
    let mut counts = PricingCounts::default();
    for r in &rows {
        let n = count(r.try_get(2)?);
        if let Some(c) = r.try_get::<_, Option<String>>(0)? {
            *counts.by_category.entry(c).or_default() += n;
        }
        if let Some(t) = r.try_get::<_, Option<String>>(1)? {
            *counts.by_type.entry(t).or_default() += n;
        }
    }
    Ok(counts)
}

/// The account's billable messages accepted in `[from, to)` per recipient prefix and category (a range scan of
/// `messages_billable`). A recipient equal to its user id is a username without a number: no prefix.
pub(crate) async fn billable_tallies(
    db: &dyn Db,
    account: AccountId,
    query: &BillableQuery,
) -> Result<Vec<BillableTally>> {
    // `regular` is costs::BILLABLE_TYPE, written out: a generic plan uses the partial index only for the literal.
    debug_assert_eq!(BILLABLE_TYPE, "regular");
    let prefix_len = PREFIX_DIGITS as i32;
    let rows = db
        .rows(
            "SELECT CASE WHEN recipient_user_id IS NOT NULL AND recipient = recipient_user_id THEN NULL \
             ELSE left(recipient, $5) END AS prefix, (pricing::jsonb) ->> 'category' AS category, COUNT(*) \
             FROM messages \
             WHERE account = (SELECT seq FROM accounts WHERE id = $1) AND ((pricing::jsonb) ->> 'type') = 'regular' \
             AND sent_at >= $2 AND sent_at < $3 AND ($4::uuid IS NULL OR batch_id = $4) \
             AND (pricing::jsonb) ->> 'category' IS NOT NULL \
             GROUP BY 1, 2",
            &[
                &account.0,
                &ts(query.from),
                &ts(query.to),
                &query.batch.map(|b| b.0),
                &prefix_len,
            ],
        )
        .await?;
    let mut tallies = rows
        .iter()
        .map(|r| {
            Ok(BillableTally {
                prefix: r.try_get(0)?,
                category: r.try_get(1)?,
                messages: count(r.try_get(2)?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    tallies.sort();
    Ok(tallies)
}
