//! What messages cost: counts by the pricing Meta reported, billable messages by recipient prefix and category.
//! Both read the `pricing` JSON column through the expression indexes of migration 0017.

use rusqlite::Connection;
use whatsapi_core::AccountId;
use whatsapi_core::costs::{
    BILLABLE_TYPE, BillableQuery, BillableTally, PREFIX_DIGITS, PricingCounts,
};

use crate::codec::{count, ts};
use crate::error::Result;

/// The account's priced messages per category and per type (an index scan of `messages_by_pricing`).
pub(crate) fn pricing_counts(conn: &Connection, account: AccountId) -> Result<PricingCounts> {
    let mut stmt = conn.prepare_cached(
        "SELECT json_extract(pricing, '$.category'), json_extract(pricing, '$.type'), COUNT(*) FROM messages \
         WHERE account = (SELECT seq FROM accounts WHERE id = ?1) AND pricing IS NOT NULL \
         GROUP BY json_extract(pricing, '$.category'), json_extract(pricing, '$.type')",
    )?;
    let rows = stmt.query_map([account.0.as_bytes()], |r| {
        Ok((
            r.get::<_, Option<String>>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut counts = PricingCounts::default();
    for row in rows {
        let (category, kind, n) = row?;
        if let Some(c) = category {
            *counts.by_category.entry(c).or_default() += count(n);
        }
        if let Some(t) = kind {
            *counts.by_type.entry(t).or_default() += count(n);
        }
    }
    Ok(counts)
}

/// The account's billable messages accepted in `[from, to)` per recipient prefix and category (a range scan of
/// `messages_billable`). A recipient equal to its user id is a username without a number: no prefix.
pub(crate) fn billable_tallies(
    conn: &Connection,
    account: AccountId,
    query: &BillableQuery,
) -> Result<Vec<BillableTally>> {
    // `regular` is costs::BILLABLE_TYPE, written out: SQLite uses the partial index only for the literal.
    debug_assert_eq!(BILLABLE_TYPE, "regular");
    let mut stmt = conn.prepare_cached(
        "SELECT CASE WHEN recipient_user_id IS NOT NULL AND recipient = recipient_user_id THEN NULL \
         ELSE substr(recipient, 1, ?5) END AS prefix, json_extract(pricing, '$.category') AS category, COUNT(*) \
         FROM messages \
         WHERE account = (SELECT seq FROM accounts WHERE id = ?1) AND json_extract(pricing, '$.type') = 'regular' \
         AND sent_at >= ?2 AND sent_at < ?3 AND (?4 IS NULL OR batch_id = ?4) \
         AND json_extract(pricing, '$.category') IS NOT NULL \
         GROUP BY prefix, category",
    )?;
    let batch = query.batch.map(|b| b.0.as_bytes().to_vec());
    let rows = stmt.query_map(
        rusqlite::params![
            account.0.as_bytes(),
            ts(query.from),
            ts(query.to),
            batch,
            PREFIX_DIGITS as i64
        ],
        |r| {
            Ok(BillableTally {
                prefix: r.get(0)?,
                category: r.get(1)?,
                messages: count(r.get(2)?),
            })
        },
    )?;
    let mut tallies = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    tallies.sort();
    Ok(tallies)
}
