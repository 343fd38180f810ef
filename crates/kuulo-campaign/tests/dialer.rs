//! The dialer under virtual time: pacing, concurrency, calling hours across
//! midnight and DST, holidays, retries, and resuming from the store.

use std::time::{Duration, SystemTime};

use chrono::{NaiveDate, TimeZone, Weekday};
use chrono_tz::Europe::Helsinki;
use kuulo_campaign::contacts::parse_contacts;
use kuulo_campaign::exclusions::queue_contacts;
use kuulo_campaign::run::{dial_next, finish, load_dialer};
use kuulo_campaign::{
    CallingHours, Contact, DialOrder, Dialer, DialerConfig, DialerEvent, Disposition,
    ExclusionPolicy, ExclusionReason, Exclusions, Followup, NewCampaign, RetryPolicy, Store, Trunk,
    Window,
};

/// Helsinki local time.
fn hel(y: i32, m: u32, d: u32, h: u32, mi: u32) -> SystemTime {
    Helsinki
        .with_ymd_and_hms(y, m, d, h, mi, 0)
        .earliest()
        .unwrap()
        .into()
}

fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> SystemTime {
    chrono::Utc
        .with_ymd_and_hms(y, m, d, h, mi, 0)
        .unwrap()
        .into()
}

fn adult(i: usize) -> Contact {
    Contact {
        e164: format!("+35840{i:07}"),
        age: Some(30),
        ..Contact::default()
    }
}

fn always() -> DialerConfig {
    DialerConfig {
        hours: CallingHours::always(Helsinki),
        ..DialerConfig::default()
    }
}

fn dialer(config: DialerConfig, n: usize) -> Dialer {
    let mut d = Dialer::new(config, Exclusions::default());
    for i in 0..n {
        d.add_contact(adult(i), 0, None);
    }
    d
}

/// Dials everything possible until `end`, answering nothing; returns the
/// orders with their times.
fn drive(d: &mut Dialer, start: SystemTime, end: SystemTime) -> Vec<(SystemTime, DialOrder)> {
    let mut now = start;
    let mut out = Vec::new();
    while now <= end {
        while let Some(o) = d.poll_dial(now) {
            out.push((now, o));
        }
        match d.poll_timeout() {
            Some(t) => {
                assert!(t > now, "timeout must move time forward");
                now = t;
            }
            None => break,
        }
    }
    out
}

#[test]
fn pacing_rate_is_exact() {
    let mut d = dialer(
        DialerConfig {
            calls_per_second: 10.0,
            max_concurrent: 1000,
            ..always()
        },
        100,
    );
    let t0 = hel(2026, 11, 23, 10, 0);
    let calls = drive(&mut d, t0, t0 + Duration::from_secs(5));
    assert_eq!(calls.len(), 51);
    for (i, (at, _)) in calls.iter().enumerate() {
        assert_eq!(*at, t0 + Duration::from_millis(100 * i as u64));
    }
}

#[test]
fn ramp_up_is_linear() {
    let mut d = dialer(
        DialerConfig {
            calls_per_second: 10.0,
            ramp_up: Duration::from_secs(10),
            max_concurrent: 1000,
            ..always()
        },
        1000,
    );
    let t0 = hel(2026, 11, 23, 10, 0);
    let calls = drive(&mut d, t0, t0 + Duration::from_secs(21));
    let by = |s: u64| {
        calls
            .iter()
            .filter(|(t, _)| *t <= t0 + Duration::from_secs(s) + Duration::from_micros(1))
            .count()
    };
    // Credit after t s of the ramp is t^2/2 calls, plus the first at once.
    // Times are whole nanoseconds, so a call may come 1 ns after its ideal
    // instant: hence the microsecond of slack.
    assert_eq!(by(2), 3);
    assert_eq!(by(10), 51);
    assert_eq!(by(20), 151);
}

#[test]
fn concurrency_and_trunk_caps() {
    let config = DialerConfig {
        calls_per_second: 1000.0,
        burst: 100,
        max_concurrent: 10,
        trunks: vec![
            Trunk {
                name: "a".into(),
                max_concurrent: 1,
            },
            Trunk {
                name: "b".into(),
                max_concurrent: 2,
            },
        ],
        ..always()
    };
    let mut d = dialer(config, 20);
    let t0 = hel(2026, 11, 23, 10, 0);
    let orders: Vec<_> = std::iter::from_fn(|| d.poll_dial(t0)).collect();
    let mut trunks: Vec<_> = orders.iter().map(|o| o.trunk).collect();
    trunks.sort();
    assert_eq!(trunks, [0, 1, 1]);
    assert_eq!(
        d.poll_timeout(),
        None,
        "all lines busy: wait for an outcome"
    );
    let done = &orders[0];
    assert_eq!(
        d.on_outcome(t0, &done.e164, Disposition::Completed, Some(200)),
        Ok(Followup::Done)
    );
    assert_eq!(d.poll_dial(t0).map(|o| o.trunk), Some(done.trunk));
    assert!(d.poll_dial(t0).is_none());
    assert!(d
        .on_outcome(t0, &done.e164, Disposition::Busy, None)
        .is_err());

    let mut d = dialer(
        DialerConfig {
            calls_per_second: 1000.0,
            burst: 100,
            max_concurrent: 4,
            ..always()
        },
        20,
    );
    assert_eq!(std::iter::from_fn(|| d.poll_dial(t0)).count(), 4);
    assert_eq!(d.stats().active, 4);
}

fn office_hours() -> CallingHours {
    CallingHours {
        windows: vec!["09:00-20:00".parse::<Window>().unwrap()],
        ..CallingHours::default()
    }
}

#[test]
fn weekdays_and_holidays() {
    let mut hours = office_hours();
    // Friday 2026-12-04 at 19:59: open; 20:00 closed until Monday 09:00.
    assert!(hours.is_open(hel(2026, 12, 4, 19, 59)));
    assert!(!hours.is_open(hel(2026, 12, 4, 20, 0)));
    assert_eq!(
        hours.next_open(hel(2026, 12, 4, 20, 0)),
        Some(hel(2026, 12, 7, 9, 0))
    );
    // Independence Day on Sunday 6th does not matter; a holiday on Monday
    // moves it to Tuesday.
    hours
        .holidays
        .insert(NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
    assert_eq!(
        hours.next_open(hel(2026, 12, 4, 20, 0)),
        Some(hel(2026, 12, 8, 9, 0))
    );
    let mut d = Dialer::new(
        DialerConfig {
            hours,
            ..DialerConfig::default()
        },
        Exclusions::default(),
    );
    d.add_contact(adult(1), 0, None);
    assert!(d.poll_dial(hel(2026, 12, 7, 12, 0)).is_none());
    assert_eq!(d.poll_timeout(), Some(hel(2026, 12, 8, 9, 0)));
    assert!(d.poll_dial(hel(2026, 12, 8, 9, 0)).is_some());
}

#[test]
fn windows_across_midnight() {
    let hours = CallingHours {
        windows: vec!["22:00-02:00".parse().unwrap()],
        weekdays: vec![Weekday::Fri],
        ..CallingHours::default()
    };
    // Friday 2026-12-04 22:00 to Saturday 02:00 belongs to Friday.
    assert!(!hours.is_open(hel(2026, 12, 4, 21, 59)));
    assert!(hours.is_open(hel(2026, 12, 4, 22, 0)));
    assert!(hours.is_open(hel(2026, 12, 5, 1, 59)));
    assert!(!hours.is_open(hel(2026, 12, 5, 2, 0)));
    assert!(!hours.is_open(hel(2026, 12, 5, 22, 30)));
    assert!(!hours.is_open(hel(2026, 12, 4, 1, 0)), "Thursday's window");
    assert_eq!(
        hours.next_open(hel(2026, 12, 5, 2, 0)),
        Some(hel(2026, 12, 11, 22, 0))
    );
}

#[test]
fn dst_changes_in_helsinki() {
    let every_day = |w: &str| CallingHours {
        windows: vec![w.parse().unwrap()],
        ..CallingHours::always(Helsinki)
    };
    // 2026-03-29: 03:00 EET jumps to 04:00 EEST (01:00 UTC).
    let nine = every_day("09:00-20:00");
    assert_eq!(
        nine.next_open(hel(2026, 3, 28, 21, 0)),
        Some(utc(2026, 3, 29, 6, 0))
    );
    assert_eq!(
        nine.next_open(hel(2026, 3, 27, 21, 0)),
        Some(utc(2026, 3, 28, 7, 0))
    );
    // A window starting inside the skipped hour opens at the change.
    let gap = every_day("03:30-05:00");
    assert_eq!(
        gap.next_open(utc(2026, 3, 28, 23, 0)),
        Some(utc(2026, 3, 29, 1, 0))
    );
    // The night of the change is one hour shorter.
    let night = every_day("22:00-06:00");
    assert!(night.is_open(utc(2026, 3, 29, 2, 59)));
    assert!(!night.is_open(utc(2026, 3, 29, 3, 0)));
    // 2026-10-25: 04:00 EEST falls back to 03:00 EET (01:00 UTC).
    assert_eq!(
        nine.next_open(hel(2026, 10, 24, 21, 0)),
        Some(utc(2026, 10, 25, 7, 0))
    );
    assert_eq!(
        nine.next_open(hel(2026, 10, 23, 21, 0)),
        Some(utc(2026, 10, 24, 6, 0))
    );
    // The night of the change is one hour longer.
    assert!(night.is_open(utc(2026, 10, 25, 3, 59)));
    assert!(!night.is_open(utc(2026, 10, 25, 4, 0)));
    // A window repeated by the change runs to its last occurrence.
    let repeated = every_day("02:00-03:30");
    assert!(repeated.is_open(utc(2026, 10, 25, 1, 15)));
    assert!(!repeated.is_open(utc(2026, 10, 25, 1, 30)));
}

#[test]
fn retries_with_backoff() {
    let retry = RetryPolicy::default();
    let mut d = dialer(
        DialerConfig {
            retry: retry.clone(),
            ..always()
        },
        1,
    );
    let t0 = hel(2026, 11, 23, 10, 0);
    let o = d.poll_dial(t0).unwrap();
    assert_eq!(o.attempt, 1);
    let ten = retry.busy.unwrap();
    let f = d.on_outcome(t0, &o.e164, Disposition::Busy, Some(486));
    assert_eq!(f, Ok(Followup::RetryAt(t0 + ten)));
    assert!(d.poll_dial(t0 + ten - Duration::from_millis(1)).is_none());
    assert_eq!(d.poll_timeout(), Some(t0 + ten));
    let t1 = t0 + ten;
    let o = d.poll_dial(t1).unwrap();
    assert_eq!(o.attempt, 2);
    let f = d.on_outcome(t1, &o.e164, Disposition::Busy, Some(486));
    assert_eq!(f, Ok(Followup::RetryAt(t1 + 2 * ten)), "doubles");
    let t2 = t1 + 2 * ten;
    let o = d.poll_dial(t2).unwrap();
    assert_eq!(o.attempt, 3);
    let f = d.on_outcome(t2, &o.e164, Disposition::NoAnswer, Some(480));
    assert_eq!(f, Ok(Followup::GaveUp), "three attempts at most");
    assert!(d.is_finished());
    assert_eq!(d.poll_timeout(), None);

    assert_eq!(retry.delay(Disposition::Failed, Some(404), 1), None);
    assert_eq!(retry.delay(Disposition::Failed, Some(503), 1), retry.failed);
    for final_ in [
        Disposition::Completed,
        Disposition::Partial,
        Disposition::OptedOut,
        Disposition::DeclinedConsent,
    ] {
        assert_eq!(retry.delay(final_, Some(200), 1), None);
    }
    assert_eq!(retry.delay(Disposition::Abandoned, Some(200), 1), None);
}

fn store_with(
    csv: &str,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    kuulo_campaign::CampaignId,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.sqlite");
    let mut store = Store::open(&path).unwrap();
    let campaign = store
        .create_campaign(&NewCampaign {
            script_id: "s",
            title: "t",
            created: SystemTime::UNIX_EPOCH,
            retention_until: None,
        })
        .unwrap();
    let list = parse_contacts(csv.as_bytes()).unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    queue_contacts(
        &mut store,
        campaign,
        &list.contacts,
        &Exclusions::default(),
        today,
    )
    .unwrap();
    (dir, path, campaign)
}

#[test]
fn resume_after_reopening_the_store() {
    let (_dir, path, campaign) =
        store_with("phone,age\n040 000 0001,30\n040 000 0002,30\n040 000 0003,12\n");
    let config = || DialerConfig {
        calls_per_second: 100.0,
        retry: RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        },
        ..always()
    };
    let t0 = hel(2026, 11, 23, 10, 0);
    {
        let mut store = Store::open(&path).unwrap();
        let mut d = load_dialer(&store, campaign, config(), Exclusions::default()).unwrap();
        let (o1, c1) = dial_next(&mut store, campaign, &mut d, t0)
            .unwrap()
            .unwrap();
        let f = finish(
            &mut store,
            &mut d,
            &c1,
            &o1.e164,
            Disposition::Busy,
            Some(486),
            None,
            t0,
        )
        .unwrap();
        assert!(matches!(f, Followup::RetryAt(_)));
        let t = t0 + Duration::from_secs(1);
        // Counted, then "SIGKILL" before the call's end is stored.
        let (o2, _) = dial_next(&mut store, campaign, &mut d, t).unwrap().unwrap();
        assert_eq!(o2.e164, "+358400000002");
        let person = store.person_export(campaign, &o2.e164).unwrap();
        assert_eq!(person.contact.unwrap().attempts, 1);
    }
    let mut store = Store::open(&path).unwrap();
    let person = store.person_export(campaign, "+358400000003").unwrap();
    assert_eq!(person.contact.unwrap().state, "excluded");
    let mut d = load_dialer(&store, campaign, config(), Exclusions::default()).unwrap();
    let t = t0 + Duration::from_secs(2);
    // The crashed call's contact is due again at once; the busy one waits.
    let (o, c) = dial_next(&mut store, campaign, &mut d, t).unwrap().unwrap();
    assert_eq!((o.e164.as_str(), o.attempt), ("+358400000002", 2));
    finish(
        &mut store,
        &mut d,
        &c,
        &o.e164,
        Disposition::NoAnswer,
        Some(480),
        None,
        t,
    )
    .unwrap();
    assert!(dial_next(&mut store, campaign, &mut d, t)
        .unwrap()
        .is_none());
    let retry_at = d.poll_timeout().unwrap();
    assert_eq!(retry_at, t0 + RetryPolicy::default().busy.unwrap());
    let (o, _) = dial_next(&mut store, campaign, &mut d, retry_at)
        .unwrap()
        .unwrap();
    assert_eq!((o.e164.as_str(), o.attempt), ("+358400000001", 2));
    // Crash again with that attempt in flight: it was the last allowed.
    drop(d);
    let mut d = load_dialer(&store, campaign, config(), Exclusions::default()).unwrap();
    assert!(dial_next(
        &mut store,
        campaign,
        &mut d,
        retry_at + Duration::from_secs(9)
    )
    .unwrap()
    .is_none());
    assert!(d.is_finished());
    let c = store.person_export(campaign, "+358400000001").unwrap();
    assert_eq!(c.contact.unwrap().attempts, 2);
}

#[test]
fn do_not_call_is_checked_at_dial_time() {
    let (_dir, path, campaign) = store_with("phone,age\n040 000 0001,30\n040 000 0002,30\n");
    let mut store = Store::open(&path).unwrap();
    let mut d = load_dialer(&store, campaign, always(), Exclusions::default()).unwrap();
    // Another campaign's opt-out after the import.
    store
        .mark_do_not_call(
            "+358400000001",
            "opted out elsewhere",
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
    let t0 = hel(2026, 11, 23, 10, 0);
    let (o, _) = dial_next(&mut store, campaign, &mut d, t0)
        .unwrap()
        .unwrap();
    assert_eq!(o.e164, "+358400000002");
    assert_eq!(d.stats().excluded.get(ExclusionReason::DoNotCall), 1);
    let p = store.person_export(campaign, "+358400000001").unwrap();
    assert_eq!(p.contact.unwrap().state, "excluded");
    assert_eq!(
        store
            .funnel(campaign)
            .unwrap()
            .excluded
            .get(ExclusionReason::DoNotCall),
        1
    );
}

#[test]
fn dial_time_exclusions_are_events() {
    let mut d = Dialer::new(always(), Exclusions::new(ExclusionPolicy::default()));
    d.add_contact(
        Contact {
            e164: "+358400000009".into(),
            birth_date: NaiveDate::from_ymd_opt(2008, 11, 24),
            ..Contact::default()
        },
        0,
        None,
    );
    assert!(d.poll_dial(hel(2026, 11, 23, 23, 0)).is_none());
    assert_eq!(
        d.poll_event(),
        Some(DialerEvent::Excluded {
            e164: "+358400000009".into(),
            reason: ExclusionReason::Minor
        })
    );
    assert!(d.is_finished());
}

#[test]
fn import_applies_exclusions_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("r.sqlite")).unwrap();
    let campaign = store
        .create_campaign(&NewCampaign {
            script_id: "s",
            title: "t",
            created: SystemTime::UNIX_EPOCH,
            retention_until: None,
        })
        .unwrap();
    store
        .mark_do_not_call("+358400000001", "opted out in 2025", SystemTime::UNIX_EPOCH)
        .unwrap();
    let csv = "phone;age;ban\n040 000 0001;30;\n040 000 0002;30;x\n040 000 0003;30;\n\
               040 000 0004;;\n040 000 0005;30;\n";
    let list = parse_contacts(csv.as_bytes()).unwrap();
    let mut exclusions = Exclusions::default();
    exclusions.add_ban_list(["+358400000003".to_string()]);
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let first = queue_contacts(&mut store, campaign, &list.contacts, &exclusions, today).unwrap();
    assert_eq!(first.queued, 1);
    for (reason, n) in [
        (ExclusionReason::DoNotCall, 1),
        (ExclusionReason::MarketingBan, 1),
        (ExclusionReason::BanList, 1),
        (ExclusionReason::AgeUnknown, 1),
    ] {
        assert_eq!(first.excluded.get(reason), n, "{reason}");
        assert_eq!(store.funnel(campaign).unwrap().excluded.get(reason), n);
    }
    let again = queue_contacts(&mut store, campaign, &list.contacts, &exclusions, today).unwrap();
    assert_eq!(again.already_queued, 5);
    let pending = store.pending_contacts(campaign).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].e164, "+358400000005");
}
