//! A recipient's time zone when the campaign did not give one: a representative zone of the country its phone
//! number's calling code belongs to.
//!
//! There is no maintained crate that maps calling codes to IANA zones (the IANA database maps countries to zones,
//! not calling codes), so this is a small table of our own: one zone per calling code, the zone of the country's
//! most populous region. It is exact for single-zone countries and an approximation for the others (+1 is
//! New York for the whole North American plan, +7 Moscow, +55 São Paulo, +61 Sydney, +62 Jakarta…): a campaign
//! whose recipients span zones of one country gives each row its `timeZone`. Unknown codes are UTC.

use chrono_tz::Tz;

use crate::phone::PhoneNumber;
use crate::recipient::Recipient;

/// Calling code → ISO 3166-1 alpha-2 country (the plan's main country for +1 and +7) and representative zone. Longest prefix wins, so `1` (NANP) and `44` stand beside
/// longer codes such as `1787` (Puerto Rico) or `420` (Czechia).
const ZONES: &[(&str, &str, Tz)] = &[
    // North American Numbering Plan: the Eastern zone, plus the members that are countries of their own.
    ("1", "US", Tz::America__New_York),
    ("1787", "PR", Tz::America__Puerto_Rico),
    ("1939", "PR", Tz::America__Puerto_Rico),
    ("1809", "DO", Tz::America__Santo_Domingo),
    ("1829", "DO", Tz::America__Santo_Domingo),
    ("1849", "DO", Tz::America__Santo_Domingo),
    ("1876", "JM", Tz::America__Jamaica),
    ("1868", "TT", Tz::America__Port_of_Spain),
    ("1808", "US", Tz::Pacific__Honolulu),
    ("7", "RU", Tz::Europe__Moscow),
    ("77", "KZ", Tz::Asia__Almaty),
    ("20", "EG", Tz::Africa__Cairo),
    ("27", "ZA", Tz::Africa__Johannesburg),
    ("30", "GR", Tz::Europe__Athens),
    ("31", "NL", Tz::Europe__Amsterdam),
    ("32", "BE", Tz::Europe__Brussels),
    ("33", "FR", Tz::Europe__Paris),
    ("34", "ES", Tz::Europe__Madrid),
    ("351", "PT", Tz::Europe__Lisbon),
    ("353", "IE", Tz::Europe__Dublin),
    ("358", "FI", Tz::Europe__Helsinki),
    ("36", "HU", Tz::Europe__Budapest),
    ("39", "IT", Tz::Europe__Rome),
    ("40", "RO", Tz::Europe__Bucharest),
    ("41", "CH", Tz::Europe__Zurich),
    ("420", "CZ", Tz::Europe__Prague),
    ("43", "AT", Tz::Europe__Vienna),
    ("44", "GB", Tz::Europe__London),
    ("45", "DK", Tz::Europe__Copenhagen),
    ("46", "SE", Tz::Europe__Stockholm),
    ("47", "NO", Tz::Europe__Oslo),
    ("48", "PL", Tz::Europe__Warsaw),
    ("49", "DE", Tz::Europe__Berlin),
    ("380", "UA", Tz::Europe__Kyiv),
    ("51", "PE", Tz::America__Lima),
    ("52", "MX", Tz::America__Mexico_City),
    ("54", "AR", Tz::America__Argentina__Buenos_Aires),
    ("55", "BR", Tz::America__Sao_Paulo),
    ("56", "CL", Tz::America__Santiago),
    ("57", "CO", Tz::America__Bogota),
    ("58", "VE", Tz::America__Caracas),
    ("593", "EC", Tz::America__Guayaquil),
    ("60", "MY", Tz::Asia__Kuala_Lumpur),
    ("61", "AU", Tz::Australia__Sydney),
    ("62", "ID", Tz::Asia__Jakarta),
    ("63", "PH", Tz::Asia__Manila),
    ("64", "NZ", Tz::Pacific__Auckland),
    ("65", "SG", Tz::Asia__Singapore),
    ("66", "TH", Tz::Asia__Bangkok),
    ("81", "JP", Tz::Asia__Tokyo),
    ("82", "KR", Tz::Asia__Seoul),
    ("84", "VN", Tz::Asia__Ho_Chi_Minh),
    ("852", "HK", Tz::Asia__Hong_Kong),
    ("86", "CN", Tz::Asia__Shanghai),
    ("880", "BD", Tz::Asia__Dhaka),
    ("886", "TW", Tz::Asia__Taipei),
    ("90", "TR", Tz::Europe__Istanbul),
    ("91", "IN", Tz::Asia__Kolkata),
    ("92", "PK", Tz::Asia__Karachi),
    ("94", "LK", Tz::Asia__Colombo),
    ("212", "MA", Tz::Africa__Casablanca),
    ("234", "NG", Tz::Africa__Lagos),
    ("233", "GH", Tz::Africa__Accra),
    ("254", "KE", Tz::Africa__Nairobi),
    ("255", "TZ", Tz::Africa__Dar_es_Salaam),
    ("256", "UG", Tz::Africa__Kampala),
    ("251", "ET", Tz::Africa__Addis_Ababa),
    ("961", "LB", Tz::Asia__Beirut),
    ("962", "JO", Tz::Asia__Amman),
    ("965", "KW", Tz::Asia__Kuwait),
    ("966", "SA", Tz::Asia__Riyadh),
    ("971", "AE", Tz::Asia__Dubai),
    ("972", "IL", Tz::Asia__Jerusalem),
    ("974", "QA", Tz::Asia__Qatar),
    ("98", "IR", Tz::Asia__Tehran),
];

/// The representative zone of the number's calling code (see the module docs); UTC for codes not in the table.
pub fn zone_of_number(phone: &PhoneNumber) -> Tz {
    entry(phone).map_or(Tz::UTC, |(_, _, zone)| *zone)
}

/// The ISO 3166-1 alpha-2 country of the number's calling code, as far as the table knows it (`US` for the whole
/// North American plan but its listed members, `RU` for +7 but Kazakhstan); `None` for codes not in the table.
pub fn country_of_number(phone: &PhoneNumber) -> Option<&'static str> {
    entry(phone).map(|(_, country, _)| *country)
}

fn entry(phone: &PhoneNumber) -> Option<&'static (&'static str, &'static str, Tz)> {
    let digits = phone.as_str();
    ZONES
        .iter()
        .filter(|(code, _, _)| digits.starts_with(code))
        .max_by_key(|(code, _, _)| code.len())
}

/// The zone of a recipient without one given: its phone number's, UTC for a recipient known only by BSUID.
pub fn zone_of_recipient(to: &Recipient) -> Tz {
    to.phone_number().map_or(Tz::UTC, zone_of_number)
}
