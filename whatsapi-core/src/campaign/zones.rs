//! A recipient's time zone when the campaign did not give one: a representative zone of the country of its phone
//! number.
//!
//! The country comes from the calling-code table the cost reports use ([`Country::of`]). There is no maintained crate
//! that maps countries to one zone (the IANA database lists every zone of a country, not the one most of its
//! people live in), so this is a small table of our own: each country's zone of its most populous region. It is
//! exact for single-zone countries and an approximation for the others (the US is New York, Russia Moscow, Brazil
//! São Paulo, Australia Sydney, Indonesia Jakarta…): a campaign whose recipients span zones of one country gives
//! each row its `timeZone`. A country missing from the table takes the zone of its calling code's main country
//! (the other members of the North American plan take New York), and numbers of no known country are UTC.

use chrono_tz::Tz;

use crate::costs::Country;
use crate::phone::PhoneNumber;
use crate::recipient::Recipient;

/// Country (ISO 3166-1 alpha-2) → representative zone, sorted by country.
const ZONES: &[(&str, Tz)] = &[
    ("AE", Tz::Asia__Dubai),
    ("AR", Tz::America__Argentina__Buenos_Aires),
    ("AT", Tz::Europe__Vienna),
    ("AU", Tz::Australia__Sydney),
    ("BD", Tz::Asia__Dhaka),
    ("BE", Tz::Europe__Brussels),
    ("BR", Tz::America__Sao_Paulo),
    ("CH", Tz::Europe__Zurich),
    ("CL", Tz::America__Santiago),
    ("CN", Tz::Asia__Shanghai),
    ("CO", Tz::America__Bogota),
    ("CZ", Tz::Europe__Prague),
    ("DE", Tz::Europe__Berlin),
    ("DK", Tz::Europe__Copenhagen),
    ("DO", Tz::America__Santo_Domingo),
    ("EC", Tz::America__Guayaquil),
    ("EG", Tz::Africa__Cairo),
    ("ES", Tz::Europe__Madrid),
    ("ET", Tz::Africa__Addis_Ababa),
    ("FI", Tz::Europe__Helsinki),
    ("FR", Tz::Europe__Paris),
    ("GB", Tz::Europe__London),
    ("GH", Tz::Africa__Accra),
    ("GR", Tz::Europe__Athens),
    ("HK", Tz::Asia__Hong_Kong),
    ("HU", Tz::Europe__Budapest),
    ("ID", Tz::Asia__Jakarta),
    ("IE", Tz::Europe__Dublin),
    ("IL", Tz::Asia__Jerusalem),
    ("IN", Tz::Asia__Kolkata),
    ("IR", Tz::Asia__Tehran),
    ("IT", Tz::Europe__Rome),
    ("JM", Tz::America__Jamaica),
    ("JO", Tz::Asia__Amman),
    ("JP", Tz::Asia__Tokyo),
    ("KE", Tz::Africa__Nairobi),
    ("KR", Tz::Asia__Seoul),
    ("KW", Tz::Asia__Kuwait),
    ("KZ", Tz::Asia__Almaty),
    ("LB", Tz::Asia__Beirut),
    ("LK", Tz::Asia__Colombo),
    ("MA", Tz::Africa__Casablanca),
    ("MX", Tz::America__Mexico_City),
    ("MY", Tz::Asia__Kuala_Lumpur),
    ("NG", Tz::Africa__Lagos),
    ("NL", Tz::Europe__Amsterdam),
    ("NO", Tz::Europe__Oslo),
    ("NZ", Tz::Pacific__Auckland),
    ("PE", Tz::America__Lima),
    ("PH", Tz::Asia__Manila),
    ("PK", Tz::Asia__Karachi),
    ("PL", Tz::Europe__Warsaw),
    ("PR", Tz::America__Puerto_Rico),
    ("PT", Tz::Europe__Lisbon),
    ("QA", Tz::Asia__Qatar),
    ("RO", Tz::Europe__Bucharest),
    ("RU", Tz::Europe__Moscow),
    ("SA", Tz::Asia__Riyadh),
    ("SE", Tz::Europe__Stockholm),
    ("SG", Tz::Asia__Singapore),
    ("TH", Tz::Asia__Bangkok),
    ("TR", Tz::Europe__Istanbul),
    ("TT", Tz::America__Port_of_Spain),
    ("TW", Tz::Asia__Taipei),
    ("TZ", Tz::Africa__Dar_es_Salaam),
    ("UA", Tz::Europe__Kyiv),
    ("UG", Tz::Africa__Kampala),
    ("US", Tz::America__New_York),
    ("VE", Tz::America__Caracas),
    ("VN", Tz::Asia__Ho_Chi_Minh),
    ("ZA", Tz::Africa__Johannesburg),
];

/// Number prefixes whose zone is not their country's (Hawaii's area code).
const PREFIX_ZONES: &[(&str, Tz)] = &[("1808", Tz::Pacific__Honolulu)];

/// The zone of a country missing from [`ZONES`]: the zone of its calling code's main country.
const CALLING_CODE_ZONES: &[(&str, Tz)] =
    &[("1", Tz::America__New_York), ("7", Tz::Europe__Moscow)];

/// The representative zone of the number's country (see the module docs); UTC for numbers of no known country.
pub fn zone_of_number(phone: &PhoneNumber) -> Tz {
    let digits = phone.as_str();
    let prefixed = |table: &[(&str, Tz)]| {
        table
            .iter()
            .find(|(prefix, _)| digits.starts_with(prefix))
            .map(|(_, zone)| *zone)
    };
    if let Some(zone) = prefixed(PREFIX_ZONES) {
        return zone;
    }
    let Some(country) = Country::of(phone) else {
        return Tz::UTC;
    };
    ZONES
        .binary_search_by(|(c, _)| (*c).cmp(country.as_str()))
        .map(|i| ZONES[i].1)
        .ok()
        .or_else(|| prefixed(CALLING_CODE_ZONES))
        .unwrap_or(Tz::UTC)
}

/// The zone of a recipient without one given: its phone number's, UTC for a recipient known only by BSUID.
pub fn zone_of_recipient(to: &Recipient) -> Tz {
    to.phone_number().map_or(Tz::UTC, zone_of_number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_every_country_is_known() {
        assert!(
            ZONES.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
        for (c, _) in ZONES {
            assert!(
                c.parse::<Country>().is_ok(),
                "{c} is a country of the calling-code table"
            );
        }
    }
}
