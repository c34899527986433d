//! Plans and what each allows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use whatsapi_core::campaign::MAX_RECIPIENTS;

/// A subscription plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// Default for new accounts.
    Free,
    /// Self-service paid plan.
    Basic,
    /// Self-service paid plan.
    Pro,
    /// Sales-assisted plan.
    Enterprise,
}

impl Plan {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Basic => "basic",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// Every plan, from the smallest to the largest.
    pub const ALL: [Plan; 4] = [Plan::Free, Plan::Basic, Plan::Pro, Plan::Enterprise];

    /// The default limits of this plan.
    pub fn default_limits(self) -> PlanLimits {
        let (requests_per_minute, bulk_cap, campaign_recipients) = match self {
            Plan::Free => (20, 100, 1_000),
            Plan::Basic => (100, 100, 10_000),
            Plan::Pro => (500, 1000, 50_000),
            Plan::Enterprise => (2000, 5000, MAX_RECIPIENTS),
        };
        PlanLimits {
            requests_per_minute,
            bulk_cap,
            campaign_recipients,
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "free" => Ok(Plan::Free),
            "basic" => Ok(Plan::Basic),
            "pro" => Ok(Plan::Pro),
            "enterprise" => Ok(Plan::Enterprise),
            other => Err(format!(
                "unknown plan '{other}'; expected free, basic, pro or enterprise"
            )),
        }
    }
}

/// What a plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimits {
    /// API requests per key per minute.
    pub requests_per_minute: u32,
    /// Most messages in one bulk request.
    pub bulk_cap: usize,
    /// Most recipients of one campaign (`POST /campaigns`); never more than the hard ceiling
    /// [`MAX_RECIPIENTS`](whatsapi_core::campaign::MAX_RECIPIENTS), whatever is set here.
    pub campaign_recipients: usize,
}

/// Limits per plan, with the defaults of the reference and room for overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanTable {
    /// Free.
    pub free: PlanLimits,
    /// Basic.
    pub basic: PlanLimits,
    /// Pro.
    pub pro: PlanLimits,
    /// Enterprise.
    pub enterprise: PlanLimits,
    /// Server-wide bulk ceiling (`MAX_BULK_MESSAGES`, default 1000).
    pub max_bulk_messages: usize,
}

impl Default for PlanTable {
    fn default() -> Self {
        Self {
            free: Plan::Free.default_limits(),
            basic: Plan::Basic.default_limits(),
            pro: Plan::Pro.default_limits(),
            enterprise: Plan::Enterprise.default_limits(),
            max_bulk_messages: 1000,
        }
    }
}

impl PlanTable {
    /// The limits of `plan`.
    pub fn limits(&self, plan: Plan) -> PlanLimits {
        match plan {
            Plan::Free => self.free,
            Plan::Basic => self.basic,
            Plan::Pro => self.pro,
            Plan::Enterprise => self.enterprise,
        }
    }

    /// min(plan cap, `MAX_BULK_MESSAGES`).
    pub fn effective_bulk_cap(&self, plan: Plan) -> usize {
        self.limits(plan).bulk_cap.min(self.max_bulk_messages)
    }

    /// Most recipients of one campaign on `plan`: min(plan cap, [`MAX_RECIPIENTS`]).
    pub fn effective_campaign_cap(&self, plan: Plan) -> usize {
        self.limits(plan).campaign_recipients.min(MAX_RECIPIENTS)
    }

    /// The first plan above `plan` whose campaigns may hold more recipients, with its cap (`None` when no plan
    /// allows more).
    pub fn larger_campaigns(&self, plan: Plan) -> Option<(Plan, usize)> {
        let cap = self.effective_campaign_cap(plan);
        Plan::ALL
            .into_iter()
            .skip_while(|p| *p != plan)
            .map(|p| (p, self.effective_campaign_cap(p)))
            .find(|(_, c)| *c > cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let t = PlanTable::default();
        let rpm: Vec<u32> = [Plan::Free, Plan::Basic, Plan::Pro, Plan::Enterprise]
            .iter()
            .map(|p| t.limits(*p).requests_per_minute)
            .collect();
        assert_eq!(rpm, [20, 100, 500, 2000]);
        assert_eq!(t.effective_bulk_cap(Plan::Free), 100);
        assert_eq!(t.effective_bulk_cap(Plan::Pro), 1000);
        assert_eq!(
            t.effective_bulk_cap(Plan::Enterprise),
            1000,
            "MAX_BULK_MESSAGES caps it"
        );
        let t = PlanTable {
            max_bulk_messages: 50,
            ..PlanTable::default()
        };
        assert_eq!(t.effective_bulk_cap(Plan::Basic), 50);
        let campaigns: Vec<usize> = Plan::ALL
            .iter()
            .map(|p| t.effective_campaign_cap(*p))
            .collect();
        assert_eq!(campaigns, [1_000, 10_000, 50_000, 100_000]);
        assert_eq!(t.larger_campaigns(Plan::Free), Some((Plan::Basic, 10_000)));
        assert_eq!(t.larger_campaigns(Plan::Enterprise), None);
        let mut t = PlanTable::default();
        t.free.campaign_recipients = 20_000;
        t.enterprise.campaign_recipients = 1_000_000;
        assert_eq!(
            t.larger_campaigns(Plan::Free),
            Some((Plan::Pro, 50_000)),
            "basic allows fewer than this free plan"
        );
        assert_eq!(
            t.effective_campaign_cap(Plan::Enterprise),
            MAX_RECIPIENTS,
            "the hard ceiling caps it"
        );
        assert_eq!("pro".parse::<Plan>(), Ok(Plan::Pro));
        assert!("gold".parse::<Plan>().is_err());
    }
}
