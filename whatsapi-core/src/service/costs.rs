//! What the account's messages cost: the billable messages of a period priced by the operator's rate card.

use crate::account::AccountId;
use crate::costs::{BillableQuery, CostSheet, MAX_COST_RANGE, RateCard};
use crate::send::ValidationErrors;

use super::{Error, WhatsApi};

impl WhatsApi {
    /// The account's billable messages that Meta accepted in `[query.from, query.to)` (see [`crate::costs`]), by
    /// country and category, priced by `card` (all unpriced without one). `to` must be after `from`, and the
    /// range at most [`MAX_COST_RANGE`] long: otherwise [`Error::Validation`] naming `to`.
    pub async fn cost_report(
        &self,
        account: AccountId,
        query: BillableQuery,
        card: Option<&RateCard>,
    ) -> Result<CostSheet, Error> {
        let mut errs = ValidationErrors::default();
        let span = (query.to - query.from).to_std();
        match span {
            Err(_) | Ok(std::time::Duration::ZERO) => errs.push("to", "must be after from"),
            Ok(d) if d > MAX_COST_RANGE => errs.push(
                "to",
                format!(
                    "the range may span at most {} days",
                    MAX_COST_RANGE.as_secs() / 86_400
                ),
            ),
            Ok(_) => {}
        }
        if !errs.is_empty() {
            return Err(Error::Validation(errs));
        }
        let tallies = self.store().billable_tallies(account, &query).await?;
        Ok(CostSheet::of_tallies(&tallies, card))
    }
}
