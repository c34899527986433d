use chrono::{NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::*;
use crate::PhoneNumber;

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

#[test]
fn windows_parse_and_contain() {
    let w: SendWindow = "09:00-20:00".parse().unwrap();
    assert!(w.contains(hm(9, 0)) && w.contains(hm(19, 59)));
    assert!(!w.contains(hm(20, 0)) && !w.contains(hm(8, 59)));
    let night: SendWindow = "22:00-06:00".parse().unwrap();
    assert!(night.contains(hm(23, 0)) && night.contains(hm(5, 0)));
    assert!(!night.contains(hm(12, 0)));
    assert!("09:00-09:00".parse::<SendWindow>().is_err());
    assert!("9-20".parse::<SendWindow>().is_err());
    assert!("25:00-26:00".parse::<SendWindow>().is_err());
}

#[test]
fn next_in_window_waits_for_the_local_opening() {
    let w: SendWindow = "09:00-20:00".parse().unwrap();
    // 06:00 UTC is 01:00 in New York (winter, UTC-5): opens at 09:00 local = 14:00 UTC the same day.
    let t = Utc.with_ymd_and_hms(2026, 1, 5, 6, 0, 0).unwrap();
    assert_eq!(
        next_in_window(t, Tz::America__New_York, &w),
        Utc.with_ymd_and_hms(2026, 1, 5, 14, 0, 0).unwrap()
    );
    // Inside the window: unchanged.
    let t = Utc.with_ymd_and_hms(2026, 1, 5, 15, 30, 0).unwrap();
    assert_eq!(next_in_window(t, Tz::America__New_York, &w), t);
    // After the close (21:00 Tokyo = 12:00 UTC): the next morning, 09:00 Tokyo = 00:00 UTC.
    let t = Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap();
    assert_eq!(
        next_in_window(t, Tz::Asia__Tokyo, &w),
        Utc.with_ymd_and_hms(2026, 1, 6, 0, 0, 0).unwrap()
    );
}

#[test]
fn an_opening_in_a_dst_gap_opens_after_the_gap() {
    // Europe/Berlin skips 02:00-03:00 on 2026-03-29.
    let w: SendWindow = "02:30-05:00".parse().unwrap();
    let t = Utc.with_ymd_and_hms(2026, 3, 28, 23, 0, 0).unwrap(); // 00:00 local
    let open = next_in_window(t, Tz::Europe__Berlin, &w);
    // 03:00 CEST = 01:00 UTC.
    assert_eq!(open, Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap());
}

#[test]
fn plan_spreads_at_the_rate() {
    let start = Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap();
    let due = plan(start, Some(4), None, &[Tz::UTC; 5]);
    let gaps: Vec<i64> = due
        .windows(2)
        .map(|p| (p[1] - p[0]).num_milliseconds())
        .collect();
    assert_eq!(due[0], start);
    assert_eq!(gaps, vec![250; 4]);
    assert_eq!(plan(start, None, None, &[Tz::UTC; 3]), vec![start; 3]);
}

#[test]
fn plan_keeps_each_zone_in_its_window_and_the_rate_overall() {
    let w: SendWindow = "09:00-20:00".parse().unwrap();
    // 12:00 UTC: open in London (12:00), closed in Tokyo (21:00).
    let start = Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap();
    let zones = [
        Tz::Europe__London,
        Tz::Asia__Tokyo,
        Tz::Europe__London,
        Tz::Asia__Tokyo,
    ];
    let due = plan(start, Some(1), Some(&w), &zones);
    assert_eq!(due[0], start);
    assert_eq!(due[2], start + chrono::Duration::seconds(1));
    let tokyo_open = Utc.with_ymd_and_hms(2026, 1, 6, 0, 0, 0).unwrap();
    assert_eq!(due[1], tokyo_open);
    assert_eq!(due[3], tokyo_open + chrono::Duration::seconds(1));
    for (t, z) in due.iter().zip(zones) {
        assert!(w.contains(t.with_timezone(&z).time()));
    }
    let mut sorted = due.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), due.len(), "no two messages share a slot");
}

#[test]
fn zones_come_from_the_numbers_country() {
    let z = |n: &str| zone_of_number(&PhoneNumber::parse(n).unwrap());
    assert_eq!(z("14155552671"), Tz::America__New_York);
    assert_eq!(
        z("18085551234"),
        Tz::Pacific__Honolulu,
        "Hawaii's area code"
    );
    assert_eq!(
        z("12045551234"),
        Tz::America__New_York,
        "Canada: its plan's zone"
    );
    assert_eq!(z("79161234567"), Tz::Europe__Moscow);
    assert_eq!(
        z("8001234567"),
        Tz::UTC,
        "an international code of no country"
    );
    assert_eq!(z("17875551234"), Tz::America__Puerto_Rico);
    assert_eq!(z("447911123456"), Tz::Europe__London);
    assert_eq!(z("420601123456"), Tz::Europe__Prague);
    assert_eq!(z("77011234567"), Tz::Asia__Almaty);
    assert_eq!(z("6799991234"), Tz::UTC);
}

#[test]
fn params_fill_the_template_body() {
    let content = crate::SendRequest::template(
        PhoneNumber::parse("14155552671").unwrap(),
        "order_ready",
        "en_US",
    )
    .body_params(["x"])
    .content()
    .clone();
    let filled = RecipientParams::Positional(vec!["Sarah".into(), "#1042".into()]).fill(&content);
    let MessageContent::Template(t) = filled else {
        panic!("a template")
    };
    assert_eq!(t.components.len(), 1);
    assert_eq!(
        t.components[0],
        TemplateComponent::Body {
            parameters: vec![
                TemplateParameter::text("Sarah"),
                TemplateParameter::text("#1042")
            ]
        }
    );
    assert_eq!(RecipientParams::None.fill(&content), content);
}

#[test]
fn state_follows_the_counts() {
    let mut counts = StatusCounts::new();
    counts.insert(Status::Scheduled, 3);
    assert_eq!(
        CampaignState::of(CampaignControl::Active, &counts),
        CampaignState::Scheduled
    );
    counts.insert(Status::Sent, 1);
    assert_eq!(
        CampaignState::of(CampaignControl::Active, &counts),
        CampaignState::Running
    );
    counts.remove(&Status::Scheduled);
    assert_eq!(
        CampaignState::of(CampaignControl::Active, &counts),
        CampaignState::Completed
    );
    assert_eq!(
        CampaignState::of(CampaignControl::Paused, &counts),
        CampaignState::Paused
    );
}
