//! The operator's rate card: a price per country and pricing category, read from a CSV file with the header
//! `country,category,price,currency`, as Meta publishes its rates (per market and category, in the currency the
//! WhatsApp Business Account is billed in).
//!
//! ```
//! use whatsapi_core::costs::{Country, PricingCategory, RateCard};
//!
//! let card = RateCard::from_csv(
//!     "country,category,price,currency\nUS,marketing,0.025,USD\n*,marketing,0.0600,USD\n".as_bytes(),
//! )
//! .unwrap();
//! let us = "US".parse::<Country>().unwrap();
//! assert_eq!(card.rate(Some(us), "marketing").unwrap().price.to_string(), "0.025");
//! // `*` prices every country the card does not list.
//! let br = "BR".parse::<Country>().unwrap();
//! assert_eq!(card.rate(Some(br), PricingCategory::Marketing.as_str()).unwrap().price.to_string(), "0.06");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::str::FromStr;

use super::country::Country;

/// Most decimals of a price: amounts are counted in millionths.
pub const PRICE_DECIMALS: u32 = 6;
const SCALE: u64 = 10u64.pow(PRICE_DECIMALS);

/// Meta's pricing categories (the `category` of a status's `pricing`) that a rate card may price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum PricingCategory {
    /// Marketing templates.
    Marketing,
    /// Utility templates.
    Utility,
    /// Authentication templates.
    Authentication,
    /// Authentication templates sent to a country with authentication-international rates.
    AuthenticationInternational,
    /// Non-template messages.
    Service,
    /// Marketing messages sent with the Marketing Messages Lite API.
    MarketingLite,
    /// Messages of a free entry point conversation.
    ReferralConversion,
}

impl PricingCategory {
    /// Every category, in the order of Meta's documentation.
    pub const ALL: [PricingCategory; 7] = [
        Self::Marketing,
        Self::Utility,
        Self::Authentication,
        Self::AuthenticationInternational,
        Self::Service,
        Self::MarketingLite,
        Self::ReferralConversion,
    ];

    /// Meta's name for it, as in webhooks.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Marketing => "marketing",
            Self::Utility => "utility",
            Self::Authentication => "authentication",
            Self::AuthenticationInternational => "authentication_international",
            Self::Service => "service",
            Self::MarketingLite => "marketing_lite",
            Self::ReferralConversion => "referral_conversion",
        }
    }
}

impl fmt::Display for PricingCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PricingCategory {
    type Err = String;

    /// Meta's name (lower case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
                format!(
                    "unknown category {s:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// An ISO 4217 currency code: three upper-case letters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The code, such as `USD`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err(format!(
                "bad currency {s:?}: expected an ISO 4217 code such as USD, EUR or INR"
            )),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

/// An amount of money in millionths of a currency unit (no floating point: sums are exact).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// An amount of `micros` millionths.
    pub fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    /// The amount in millionths of a unit.
    pub fn micros(&self) -> u64 {
        self.0
    }

    /// `self × n`, saturating (beyond 18 trillion units, which no message bill reaches).
    pub fn times(self, n: u64) -> Self {
        Self(self.0.saturating_mul(n))
    }

    /// `self + other`, saturating.
    pub fn plus(self, other: Amount) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl FromStr for Amount {
    type Err = String;

    /// A decimal such as `0.0250` or `12`: digits, an optional point and at most six decimals; no sign, exponent
    /// or thousands separator.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "bad price {s:?}: expected a decimal number such as 0.0250 (at most {PRICE_DECIMALS} decimals)"
            )
        };
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !digits(whole)
            || !digits(frac)
            || frac.len() > PRICE_DECIMALS as usize
            || (s.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let frac_micros: u64 = if frac.is_empty() {
            0
        } else {
            let n: u64 = frac.parse().map_err(|_| bad())?;
            n * 10u64.pow(PRICE_DECIMALS - frac.len() as u32)
        };
        whole
            .checked_mul(SCALE)
            .and_then(|w| w.checked_add(frac_micros))
            .map(Amount)
            .ok_or_else(bad)
    }
}

impl fmt::Display for Amount {
    /// The shortest decimal that is exact: `0.025`, `12`, `0.0034`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / SCALE, self.0 % SCALE);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let frac = format!("{frac:06}");
        write!(f, "{whole}.{}", frac.trim_end_matches('0'))
    }
}

/// The price of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Per message.
    pub price: Amount,
    /// In this currency.
    pub currency: Currency,
}

/// Which countries a row of the card prices: one, or (`*`) every country no row names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RateCountry {
    /// Every country without a row of its own.
    Others,
    /// This one.
    Country(Country),
}

/// A rate card that could not be read: the line (1 is the header) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RateCardError {
    /// The line of the file, counting from 1 (the header).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Prices per country and category.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateCard {
    rates: BTreeMap<(RateCountry, PricingCategory), Rate>,
}

const HEADER: [&str; 4] = ["country", "category", "price", "currency"];

impl RateCard {
    /// Reads a CSV rate card: the header `country,category,price,currency` (in any order), then one row per
    /// country and category. `country` is an ISO 3166-1 alpha-2 code or `*` (every country without a row),
    /// `category` one of Meta's pricing categories, `price` a decimal, `currency` an ISO 4217 code. Blank lines
    /// and lines starting with `#` are skipped. Refused, naming the line: a missing or unknown column, an unknown
    /// country or category, a bad price or currency, a second row for the same country and category (so a card has at most
    /// one row per known country and category).
    pub fn from_csv<R: Read>(input: R) -> Result<RateCard, RateCardError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .flexible(true)
            .from_reader(input);
        let header = reader.headers().map_err(|e| csv_error(&e, 1))?.clone();
        let names: Vec<String> = header.iter().map(str::to_ascii_lowercase).collect();
        let mut columns = [0usize; 4];
        for (slot, want) in columns.iter_mut().zip(HEADER) {
            *slot = names
                .iter()
                .position(|n| n == want)
                .ok_or_else(|| RateCardError {
                    line: 1,
                    message: format!(
                        "the header must name the columns {}; {want} is missing",
                        HEADER.join(",")
                    ),
                })?;
        }
        if let Some(extra) = names.iter().find(|n| !HEADER.contains(&n.as_str())) {
            return Err(RateCardError {
                line: 1,
                message: format!(
                    "unknown column {extra:?}: the columns are {}",
                    HEADER.join(",")
                ),
            });
        }
        let mut card = RateCard::default();
        let mut record = csv::StringRecord::new();
        let mut last_line = 1;
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(csv_error(&e, last_line + 1)),
            }
            let line = record.position().map_or(last_line + 1, csv::Position::line);
            last_line = line;
            if record.iter().all(str::is_empty) {
                continue;
            }
            let err = |message: String| RateCardError { line, message };
            if record.len() != names.len() {
                return Err(err(format!(
                    "expected {} fields ({}), found {}",
                    names.len(),
                    header.iter().collect::<Vec<_>>().join(","),
                    record.len()
                )));
            }
            let [country, category, price, currency] = columns.map(|i| &record[i]);
            let country = match country {
                "*" => RateCountry::Others,
                c => RateCountry::Country(c.parse().map_err(
                    |e: super::country::UnknownCountry| {
                        err(format!("{e} (or * for every other country)"))
                    },
                )?),
            };
            let category: PricingCategory = category.parse().map_err(err)?;
            let rate = Rate {
                price: price.parse().map_err(err)?,
                currency: currency.parse().map_err(err)?,
            };
            if card.rates.insert((country, category), rate).is_some() {
                let name = match country {
                    RateCountry::Others => "*".to_owned(),
                    RateCountry::Country(c) => c.to_string(),
                };
                return Err(err(format!("a second row for {name} and {category}")));
            }
        }
        Ok(card)
    }

    /// The price of a message of `category` to `country`: the country's own row, else the `*` row; `None` when
    /// neither exists, the country is unknown (a recipient known only by a username) or the category is not one a
    /// card prices.
    pub fn rate(&self, country: Option<Country>, category: &str) -> Option<&Rate> {
        let category: PricingCategory = category.parse().ok()?;
        let country = country?;
        self.rates
            .get(&(RateCountry::Country(country), category))
            .or_else(|| self.rates.get(&(RateCountry::Others, category)))
    }

    /// How many rows it has.
    pub fn len(&self) -> usize {
        self.rates.len()
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.rates.is_empty()
    }
}

fn csv_error(e: &csv::Error, fallback_line: u64) -> RateCardError {
    let line = e.position().map_or(fallback_line, csv::Position::line);
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
        _ => format!("not readable as CSV: {e}"),
    };
    RateCardError { line, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(text: &str) -> Result<RateCard, RateCardError> {
        RateCard::from_csv(text.as_bytes())
    }

    fn country(c: &str) -> Option<Country> {
        Some(c.parse().unwrap())
    }

    #[test]
    fn a_card_prices_by_country_and_category_with_a_fallback() {
        let c = card(
            "country,category,price,currency\n\
             # Meta's USD card, 2026-10\n\
             US,marketing,0.025,USD\n\
             US, utility ,0.004,USD\n\
             \n\
             IN,marketing,0.0107,USD\n\
             *,marketing,0.0604,USD\n",
        )
        .unwrap();
        assert_eq!(c.len(), 4);
        let us = c.rate(country("US"), "marketing").unwrap();
        assert_eq!((us.price.micros(), us.currency.as_str()), (25_000, "USD"));
        assert_eq!(
            c.rate(country("US"), "utility").unwrap().price.micros(),
            4_000
        );
        assert_eq!(
            c.rate(country("IN"), "marketing").unwrap().price.micros(),
            10_700
        );
        assert_eq!(
            c.rate(country("BR"), "marketing").unwrap().price.micros(),
            60_400
        );
        assert_eq!(
            c.rate(country("BR"), "utility"),
            None,
            "no * row for utility"
        );
        assert_eq!(c.rate(None, "marketing"), None, "unknown country");
        assert_eq!(c.rate(country("US"), "promo"), None, "unknown category");
    }

    #[test]
    fn columns_may_come_in_any_order() {
        let c = card("currency,price,category,country\nEUR,0.0509,marketing,DE\n").unwrap();
        let de = c.rate(country("DE"), "marketing").unwrap();
        assert_eq!((de.price.micros(), de.currency.as_str()), (50_900, "EUR"));
    }

    #[test]
    fn mistakes_are_refused_naming_the_line() {
        let header = "country,category,price,currency\n";
        for (body, line, words) in [
            (
                "US,marketing,0.025,USD\nUS,promo,0.01,USD\n",
                3,
                "unknown category \"promo\"",
            ),
            ("US,marketing,abc,USD\n", 2, "bad price \"abc\""),
            ("US,marketing,-0.01,USD\n", 2, "bad price"),
            ("US,marketing,0.0000001,USD\n", 2, "at most 6 decimals"),
            ("US,marketing,1e-3,USD\n", 2, "bad price"),
            ("US,marketing,,USD\n", 2, "bad price"),
            ("US,marketing,0.02,usd\n", 2, "bad currency"),
            ("UK,marketing,0.02,GBP\n", 2, "unknown country \"UK\""),
            (
                "US,marketing,0.025,USD\nGB,utility,0.02,GBP\nUS,marketing,0.03,USD\n",
                4,
                "a second row for US and marketing",
            ),
            (
                "*,service,0,USD\n*,service,0,USD\n",
                3,
                "a second row for * and service",
            ),
            ("US,marketing,0.025\n", 2, "expected 4 fields"),
        ] {
            let e = card(&format!("{header}{body}")).unwrap_err();
            assert_eq!(e.line, line, "{body}: {e}");
            assert!(e.to_string().contains(words), "{body}: {e}");
        }
        let e = card("country,category,price\nUS,marketing,0.02\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("currency is missing"), "{e}");
        let e = card("country,category,price,currency,note\n").unwrap_err();
        assert!(e.message.contains("unknown column \"note\""), "{e}");
        let e =
            RateCard::from_csv(&b"country,category,price,currency\nUS,marketing,0.02,\xff\n"[..])
                .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn a_card_of_every_country_and_category_loads() {
        let mut text = String::from("country,category,price,currency\n");
        let mut n = 0;
        for d in 1..1000 {
            if let Some(c) = Country::of_digits(&format!("{d}")) {
                if text.contains(&format!("\n{c},")) {
                    continue;
                }
                for cat in PricingCategory::ALL {
                    text.push_str(&format!("{c},{cat},0.01,USD\n"));
                    n += 1;
                }
            }
        }
        assert_eq!(card(&text).unwrap().len(), n);
    }

    #[test]
    fn amounts_are_exact_decimals() {
        for (text, micros, shown) in [
            ("0.025", 25_000, "0.025"),
            ("0.0250", 25_000, "0.025"),
            ("12", 12_000_000, "12"),
            ("1.5", 1_500_000, "1.5"),
            ("0.000001", 1, "0.000001"),
            ("0", 0, "0"),
        ] {
            let a: Amount = text.parse().unwrap();
            assert_eq!(a.micros(), micros, "{text}");
            assert_eq!(a.to_string(), shown, "{text}");
        }
        // 0.1 + 0.2 is exactly 0.3, unlike f64.
        let sum = "0.1"
            .parse::<Amount>()
            .unwrap()
            .plus("0.2".parse().unwrap());
        assert_eq!(sum, "0.3".parse().unwrap());
        assert_eq!(
            "0.0034".parse::<Amount>().unwrap().times(3).to_string(),
            "0.0102"
        );
        for bad in ["", ".5", "5.", "+1", "1,5", "0x10", "99999999999999999999"] {
            assert!(bad.parse::<Amount>().is_err(), "{bad}");
        }
    }

    #[test]
    fn categories_are_metas_names() {
        for c in PricingCategory::ALL {
            assert_eq!(c.as_str().parse::<PricingCategory>(), Ok(c));
        }
        assert!("Marketing".parse::<PricingCategory>().is_err());
    }
}
