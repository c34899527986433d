//! What messages cost: Meta's per-message pricing as stores count it, the operator's [`RateCard`], and the cost
//! of the billable messages of a period ([`CostSheet`]) or of a planned send ([`estimate`]).
//!
//! Meta reports on each status the `pricing` of the message (`pricing_model` `PMP`, a `category` and a `type`);
//! only messages of type `regular` are charged, at the rate of the recipient's country (from the number's calling
//! code, [`Country`]) and the category. A message counts in the period in which Meta accepted it (its `sent_at`):
//! that is the time the send happened, known for every message Meta priced, and it never moves afterwards.

mod country;
mod rate_card;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use country::{Country, PREFIX_DIGITS, UnknownCountry};
pub use rate_card::{
    Amount, Currency, PRICE_DECIMALS, PricingCategory, Rate, RateCard, RateCardError, RateCountry,
};

use crate::message::BatchId;
use crate::phone::PhoneNumber;

/// The pricing `type` of a charged message.
pub const BILLABLE_TYPE: &str = "regular";

/// Longest period a cost report covers.
pub const MAX_COST_RANGE: std::time::Duration = std::time::Duration::from_secs(366 * 24 * 3600);

/// An account's messages counted by the pricing Meta last reported for them (messages without pricing left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PricingCounts {
    /// Per `category` (`marketing`, `utility`, `service`, …).
    pub by_category: BTreeMap<String, u64>,
    /// Per `type` (`regular`, `free_customer_service`, `free_entry_point`).
    pub by_type: BTreeMap<String, u64>,
}

/// Which billable messages a store counts: those of one account that Meta accepted in `[from, to)`, optionally of
/// one bulk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillableQuery {
    /// First instant (inclusive).
    pub from: DateTime<Utc>,
    /// End (exclusive).
    pub to: DateTime<Utc>,
    /// Only the messages of this bulk request.
    pub batch: Option<BatchId>,
}

/// Billable messages (pricing type `regular`) with the same recipient prefix and category, as a store counts
/// them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BillableTally {
    /// The first [`PREFIX_DIGITS`] digits of the recipient's number (fewer for a shorter number); `None` for a
    /// recipient known only by a username.
    pub prefix: Option<String>,
    /// Meta's pricing category (as reported; unknown ones are kept).
    pub category: String,
    /// How many.
    pub messages: u64,
}

/// Messages of one country and category priced by the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostLine {
    /// The recipients' country.
    pub country: Country,
    /// Meta's pricing category.
    pub category: String,
    /// How many.
    pub messages: u64,
    /// The card's rate.
    pub rate: Rate,
    /// `messages × rate.price`, exact.
    pub cost: Amount,
}

/// Billable messages the card has no rate for: an unknown country (a username without a number, a calling code
/// without a country), a category the card does not price, or no card at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpricedLine {
    /// The recipients' country, when known.
    pub country: Option<Country>,
    /// Meta's pricing category.
    pub category: String,
    /// How many.
    pub messages: u64,
}

/// Billable messages by country and category, priced where the card can.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostSheet {
    /// Priced lines, by country then category.
    pub lines: Vec<CostLine>,
    /// The sum of the lines' costs per currency.
    pub totals: BTreeMap<Currency, Amount>,
    /// Lines without a rate, by country (unknown first) then category.
    pub unpriced: Vec<UnpricedLine>,
}

impl CostSheet {
    /// Counts per country and category (several prefixes of one country add up) priced by `card`.
    pub fn price<I>(counts: I, card: Option<&RateCard>) -> CostSheet
    where
        I: IntoIterator<Item = (Option<Country>, String, u64)>,
    {
        let mut merged: BTreeMap<(Option<Country>, String), u64> = BTreeMap::new();
        for (country, category, n) in counts {
            let slot = merged.entry((country, category)).or_default();
            *slot = slot.saturating_add(n);
        }
        let mut sheet = CostSheet::default();
        for ((country, category), messages) in merged {
            if messages == 0 {
                continue;
            }
            let rate = card.and_then(|c| c.rate(country, &category)).copied();
            match (country, rate) {
                (Some(country), Some(rate)) => {
                    let cost = rate.price.times(messages);
                    let total = sheet.totals.entry(rate.currency).or_default();
                    *total = total.plus(cost);
                    sheet.lines.push(CostLine {
                        country,
                        category,
                        messages,
                        rate,
                        cost,
                    });
                }
                _ => sheet.unpriced.push(UnpricedLine {
                    country,
                    category,
                    messages,
                }),
            }
        }
        sheet
    }

    /// What a store counted, priced by `card`.
    pub fn of_tallies(tallies: &[BillableTally], card: Option<&RateCard>) -> CostSheet {
        Self::price(
            tallies.iter().map(|t| {
                let country = t.prefix.as_deref().and_then(Country::of_digits);
                (country, t.category.clone(), t.messages)
            }),
            card,
        )
    }

    /// Billable messages in all lines, priced or not.
    pub fn messages(&self) -> u64 {
        let priced = self.lines.iter().map(|l| l.messages);
        let unpriced = self.unpriced.iter().map(|l| l.messages);
        priced.chain(unpriced).fold(0, u64::saturating_add)
    }
}

/// What sending one message of `category` to each recipient would cost, by country and currency, at the card's
/// rates (the campaign estimate). A recipient without a phone number (`None`, a username only) is counted as
/// unpriced, as is every recipient when there is no card.
///
/// The estimate takes the category as given: Meta charges `authentication_international` instead of
/// `authentication` in some countries, and nothing for a utility template inside an open customer service window,
/// which only the send itself reveals.
///
/// ```
/// use whatsapi_core::PhoneNumber;
/// use whatsapi_core::costs::{PricingCategory, RateCard, estimate};
///
/// let card = RateCard::from_csv("country,category,price,currency\nUS,marketing,0.025,USD\n".as_bytes()).unwrap();
/// let to: Vec<PhoneNumber> = ["14155552671", "12125550100", "447911123456"]
///     .iter()
///     .map(|n| n.parse().unwrap())
///     .collect();
/// let sheet = estimate(Some(&card), to.iter().map(Some), PricingCategory::Marketing);
/// assert_eq!(sheet.lines[0].messages, 2);
/// assert_eq!(sheet.totals.values().next().unwrap().to_string(), "0.05");
/// assert_eq!(sheet.unpriced[0].country.unwrap().as_str(), "GB");
/// ```
pub fn estimate<'a, I>(
    card: Option<&RateCard>,
    recipients: I,
    category: PricingCategory,
) -> CostSheet
where
    I: IntoIterator<Item = Option<&'a PhoneNumber>>,
{
    CostSheet::price(
        recipients
            .into_iter()
            .map(|p| (p.and_then(Country::of), category.as_str().to_owned(), 1)),
        card,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(prefix: Option<&str>, category: &str, messages: u64) -> BillableTally {
        BillableTally {
            prefix: prefix.map(str::to_owned),
            category: category.into(),
            messages,
        }
    }

    #[test]
    fn tallies_are_merged_by_country_and_priced_exactly() {
        let card = RateCard::from_csv(
            "country,category,price,currency\nUS,marketing,0.025,USD\nCA,marketing,0.025,USD\n\
             GB,marketing,0.0529,GBP\nUS,utility,0.004,USD\n"
                .as_bytes(),
        )
        .unwrap();
        let sheet = CostSheet::of_tallies(
            &[
                tally(Some("1415"), "marketing", 3),
                tally(Some("1212"), "marketing", 4),
                tally(Some("1416"), "marketing", 1),
                tally(Some("1415"), "utility", 10),
                tally(Some("4479"), "marketing", 2),
                tally(Some("4915"), "marketing", 5),
                tally(None, "marketing", 1),
                tally(Some("1415"), "referral_conversion", 1),
            ],
            Some(&card),
        );
        let lines: Vec<(&str, &str, u64, String)> = sheet
            .lines
            .iter()
            .map(|l| {
                (
                    l.country.as_str(),
                    l.category.as_str(),
                    l.messages,
                    l.cost.to_string(),
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                ("CA", "marketing", 1, "0.025".into()),
                ("GB", "marketing", 2, "0.1058".into()),
                ("US", "marketing", 7, "0.175".into()),
                ("US", "utility", 10, "0.04".into()),
            ]
        );
        let totals: Vec<(String, String)> = sheet
            .totals
            .iter()
            .map(|(c, a)| (c.to_string(), a.to_string()))
            .collect();
        assert_eq!(
            totals,
            [
                ("GBP".into(), "0.1058".into()),
                ("USD".into(), "0.24".into())
            ]
        );
        let unpriced: Vec<(Option<String>, &str, u64)> = sheet
            .unpriced
            .iter()
            .map(|l| {
                (
                    l.country.map(|c| c.to_string()),
                    l.category.as_str(),
                    l.messages,
                )
            })
            .collect();
        assert_eq!(
            unpriced,
            [
                (None, "marketing", 1),
                (Some("DE".into()), "marketing", 5),
                (Some("US".into()), "referral_conversion", 1),
            ]
        );
        assert_eq!(sheet.messages(), 27);
    }

    #[test]
    fn without_a_card_everything_is_counted_unpriced() {
        let sheet = CostSheet::of_tallies(&[tally(Some("1415"), "marketing", 3)], None);
        assert!(sheet.lines.is_empty() && sheet.totals.is_empty());
        assert_eq!(sheet.unpriced[0].messages, 3);
    }

    #[test]
    fn an_estimate_counts_each_recipient_once_per_country() {
        let card =
            RateCard::from_csv("country,category,price,currency\n*,utility,0.01,EUR\n".as_bytes())
                .unwrap();
        let phones: Vec<PhoneNumber> = ["4915112345678", "4915112345679", "33612345678"]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        let recipients = phones.iter().map(Some).chain([None]);
        let sheet = estimate(Some(&card), recipients, PricingCategory::Utility);
        let lines: Vec<(&str, u64)> = sheet
            .lines
            .iter()
            .map(|l| (l.country.as_str(), l.messages))
            .collect();
        assert_eq!(lines, [("DE", 2), ("FR", 1)]);
        assert_eq!(sheet.totals.values().next().unwrap().to_string(), "0.03");
        assert_eq!(
            (sheet.unpriced[0].country, sheet.unpriced[0].messages),
            (None, 1)
        );
    }
}
