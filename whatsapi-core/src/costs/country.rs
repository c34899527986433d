//! The country (ISO 3166-1 alpha-2) of a phone number, from its country calling code, as Meta prices a message by
//! the country of the recipient's number.
//!
//! The table is ITU-T Recommendation E.164's list of assigned country codes (the ITU Operational Bulletin's
//! "List of ITU-T Recommendation E.164 assigned country codes") and, for the North American Numbering Plan (+1),
//! NANPA's list of area codes outside the United States (Canada's and those of the Caribbean and Pacific members);
//! every other +1 area code is the US. A code shared by several territories maps to the country that holds most of
//! its numbers (+44 to GB, also for Jersey, Guernsey and the Isle of Man; +7 to RU except +76 and +77, Kazakhstan;
//! +47 to NO; +358 to FI; +590 to GP; +262 to RE; +599 to CW; +61 to AU; +39 to IT; +212 to MA; +290 to SH).
//! International non-geographic codes (+800, +808, +870, +881–+883, +888, +979) have no country.
//!
//! No code is longer than three digits, and NANP needs four (1 + area code), so a number's first four digits decide
//! its country: stores group by them ([`PREFIX_DIGITS`]).

use std::fmt;
use std::str::FromStr;

use crate::phone::PhoneNumber;

/// How many leading digits of an E.164 number decide its country.
pub const PREFIX_DIGITS: usize = 4;

/// An ISO 3166-1 alpha-2 country code (two upper-case ASCII letters) of a country this table knows.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country([u8; 2]);

impl Country {
    /// The code, such as `US`.
    pub fn as_str(&self) -> &str {
        // Built only from the ASCII table below.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The country of an E.164 number (digits, no `+`), by longest matching prefix; `None` for a code with no
    /// country.
    pub fn of_digits(digits: &str) -> Option<Country> {
        let digits = digits.strip_prefix('+').unwrap_or(digits);
        (1..=PREFIX_DIGITS.min(digits.len()))
            .rev()
            .find_map(|n| {
                let prefix = digits.get(..n)?;
                CODES
                    .binary_search_by(|(p, _)| p.cmp(&prefix))
                    .ok()
                    .map(|i| CODES[i].1)
            })
            .map(|c| Country([c.as_bytes()[0], c.as_bytes()[1]]))
    }

    /// The country of a phone number.
    pub fn of(phone: &PhoneNumber) -> Option<Country> {
        Self::of_digits(phone.as_str())
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.as_str())
    }
}

/// A string that is not the alpha-2 code of a country the table knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown country {0:?}: expected an ISO 3166-1 alpha-2 code such as US, GB or IN")]
pub struct UnknownCountry(pub String);

impl FromStr for Country {
    type Err = UnknownCountry;

    /// An alpha-2 code in upper case (`GB`, not `UK` or `gb`) of a country with a calling code.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let known = s.len() == 2 && CODES.iter().any(|(_, c)| *c == s);
        if known {
            let b = s.as_bytes();
            Ok(Country([b[0], b[1]]))
        } else {
            Err(UnknownCountry(s.to_owned()))
        }
    }
}

/// Calling-code prefixes (sorted, as strings) and their country.
#[rustfmt::skip]
static CODES: &[(&str, &str)] = &[
    // +1 is the US unless the area code is listed (NANPA).
    ("1", "US"),
    ("1204", "CA"), ("1226", "CA"), ("1236", "CA"), ("1242", "BS"), ("1246", "BB"), ("1249", "CA"),
    ("1250", "CA"), ("1257", "CA"), ("1263", "CA"), ("1264", "AI"), ("1268", "AG"), ("1284", "VG"),
    ("1289", "CA"), ("1306", "CA"), ("1340", "VI"), ("1343", "CA"), ("1345", "KY"), ("1354", "CA"),
    ("1365", "CA"), ("1367", "CA"), ("1368", "CA"), ("1382", "CA"), ("1387", "CA"), ("1403", "CA"),
    ("1416", "CA"), ("1418", "CA"), ("1428", "CA"), ("1431", "CA"), ("1437", "CA"), ("1438", "CA"),
    ("1441", "BM"), ("1450", "CA"), ("1460", "CA"), ("1468", "CA"), ("1473", "GD"), ("1474", "CA"),
    ("1506", "CA"), ("1514", "CA"), ("1519", "CA"), ("1548", "CA"), ("1568", "CA"), ("1579", "CA"),
    ("1581", "CA"), ("1584", "CA"), ("1587", "CA"), ("1600", "CA"), ("1604", "CA"), ("1613", "CA"),
    ("1622", "CA"), ("1639", "CA"), ("1647", "CA"), ("1649", "TC"), ("1658", "JM"), ("1664", "MS"),
    ("1670", "MP"), ("1671", "GU"), ("1672", "CA"), ("1683", "CA"), ("1684", "AS"), ("1705", "CA"),
    ("1709", "CA"), ("1721", "SX"), ("1742", "CA"), ("1753", "CA"), ("1758", "LC"), ("1767", "DM"),
    ("1778", "CA"), ("1780", "CA"), ("1782", "CA"), ("1784", "VC"), ("1787", "PR"), ("1807", "CA"),
    ("1809", "DO"), ("1819", "CA"), ("1825", "CA"), ("1829", "DO"), ("1849", "DO"), ("1867", "CA"),
    ("1868", "TT"), ("1869", "KN"), ("1873", "CA"), ("1876", "JM"), ("1879", "CA"), ("1902", "CA"),
    ("1905", "CA"), ("1939", "PR"), ("1942", "CA"),
    ("20", "EG"), ("211", "SS"), ("212", "MA"), ("213", "DZ"), ("216", "TN"), ("218", "LY"), ("220", "GM"),
    ("221", "SN"), ("222", "MR"), ("223", "ML"), ("224", "GN"), ("225", "CI"), ("226", "BF"), ("227", "NE"),
    ("228", "TG"), ("229", "BJ"), ("230", "MU"), ("231", "LR"), ("232", "SL"), ("233", "GH"), ("234", "NG"),
    ("235", "TD"), ("236", "CF"), ("237", "CM"), ("238", "CV"), ("239", "ST"), ("240", "GQ"), ("241", "GA"),
    ("242", "CG"), ("243", "CD"), ("244", "AO"), ("245", "GW"), ("246", "IO"), ("247", "SH"), ("248", "SC"),
    ("249", "SD"), ("250", "RW"), ("251", "ET"), ("252", "SO"), ("253", "DJ"), ("254", "KE"), ("255", "TZ"),
    ("256", "UG"), ("257", "BI"), ("258", "MZ"), ("260", "ZM"), ("261", "MG"), ("262", "RE"), ("263", "ZW"),
    ("264", "NA"), ("265", "MW"), ("266", "LS"), ("267", "BW"), ("268", "SZ"), ("269", "KM"), ("27", "ZA"),
    ("290", "SH"), ("291", "ER"), ("297", "AW"), ("298", "FO"), ("299", "GL"),
    ("30", "GR"), ("31", "NL"), ("32", "BE"), ("33", "FR"), ("34", "ES"), ("350", "GI"), ("351", "PT"),
    ("352", "LU"), ("353", "IE"), ("354", "IS"), ("355", "AL"), ("356", "MT"), ("357", "CY"), ("358", "FI"),
    ("359", "BG"), ("36", "HU"), ("370", "LT"), ("371", "LV"), ("372", "EE"), ("373", "MD"), ("374", "AM"),
    ("375", "BY"), ("376", "AD"), ("377", "MC"), ("378", "SM"), ("379", "VA"), ("380", "UA"), ("381", "RS"),
    ("382", "ME"), ("383", "XK"), ("385", "HR"), ("386", "SI"), ("387", "BA"), ("389", "MK"), ("39", "IT"),
    ("40", "RO"), ("41", "CH"), ("420", "CZ"), ("421", "SK"), ("423", "LI"), ("43", "AT"), ("44", "GB"),
    ("45", "DK"), ("46", "SE"), ("47", "NO"), ("48", "PL"), ("49", "DE"),
    ("500", "FK"), ("501", "BZ"), ("502", "GT"), ("503", "SV"), ("504", "HN"), ("505", "NI"), ("506", "CR"),
    ("507", "PA"), ("508", "PM"), ("509", "HT"), ("51", "PE"), ("52", "MX"), ("53", "CU"), ("54", "AR"),
    ("55", "BR"), ("56", "CL"), ("57", "CO"), ("58", "VE"), ("590", "GP"), ("591", "BO"), ("592", "GY"),
    ("593", "EC"), ("594", "GF"), ("595", "PY"), ("596", "MQ"), ("597", "SR"), ("598", "UY"), ("599", "CW"),
    ("60", "MY"), ("61", "AU"), ("62", "ID"), ("63", "PH"), ("64", "NZ"), ("65", "SG"), ("66", "TH"),
    ("670", "TL"), ("672", "NF"), ("673", "BN"), ("674", "NR"), ("675", "PG"), ("676", "TO"), ("677", "SB"),
    ("678", "VU"), ("679", "FJ"), ("680", "PW"), ("681", "WF"), ("682", "CK"), ("683", "NU"), ("685", "WS"),
    ("686", "KI"), ("687", "NC"), ("688", "TV"), ("689", "PF"), ("690", "TK"), ("691", "FM"), ("692", "MH"),
    ("7", "RU"), ("76", "KZ"), ("77", "KZ"),
    ("81", "JP"), ("82", "KR"), ("84", "VN"), ("850", "KP"), ("852", "HK"), ("853", "MO"), ("855", "KH"),
    ("856", "LA"), ("86", "CN"), ("880", "BD"), ("886", "TW"),
    ("90", "TR"), ("91", "IN"), ("92", "PK"), ("93", "AF"), ("94", "LK"), ("95", "MM"), ("960", "MV"),
    ("961", "LB"), ("962", "JO"), ("963", "SY"), ("964", "IQ"), ("965", "KW"), ("966", "SA"), ("967", "YE"),
    ("968", "OM"), ("970", "PS"), ("971", "AE"), ("972", "IL"), ("973", "BH"), ("974", "QA"), ("975", "BT"),
    ("976", "MN"), ("977", "NP"), ("98", "IR"), ("992", "TJ"), ("993", "TM"), ("994", "AZ"), ("995", "GE"),
    ("996", "KG"), ("998", "UZ"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn of(digits: &str) -> Option<String> {
        Country::of_digits(digits).map(|c| c.to_string())
    }

    #[test]
    fn the_table_is_sorted_without_duplicates_and_prefix_free_within_a_code() {
        assert!(CODES.windows(2).all(|w| w[0].0 < w[1].0), "sorted, unique");
        assert!(CODES.iter().all(|(p, c)| {
            (1..=PREFIX_DIGITS).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && c.len() == 2
                && c.bytes().all(|b| b.is_ascii_uppercase())
        }));
    }

    #[test]
    fn countries_come_from_the_calling_code() {
        for (digits, country) in [
            ("14155552671", "US"),
            ("12125550100", "US"),
            ("14165550100", "CA"),
            ("16045550100", "CA"),
            ("18765550100", "JM"),
            ("17875550100", "PR"),
            ("18095550100", "DO"),
            ("447911123456", "GB"),
            ("4915112345678", "DE"),
            ("919876543210", "IN"),
            ("5511987654321", "BR"),
            ("5215512345678", "MX"),
            ("79161234567", "RU"),
            ("77011234567", "KZ"),
            ("2348012345678", "NG"),
            ("27821234567", "ZA"),
            ("971501234567", "AE"),
            ("393331234567", "IT"),
            ("35312345678", "IE"),
            ("+447911123456", "GB"),
        ] {
            assert_eq!(of(digits).as_deref(), Some(country), "{digits}");
        }
    }

    #[test]
    fn codes_without_a_country_have_none() {
        for digits in ["80012345678", "88212345678", "979123456789", "0", ""] {
            assert_eq!(of(digits), None, "{digits}");
        }
    }

    #[test]
    fn parsing_accepts_known_alpha2_codes_only() {
        assert_eq!("GB".parse::<Country>().unwrap().as_str(), "GB");
        assert_eq!("KZ".parse::<Country>().unwrap().as_str(), "KZ");
        for bad in ["UK", "gb", "USA", "", "ZZ"] {
            assert!(bad.parse::<Country>().is_err(), "{bad}");
        }
    }
}
