//! The promise the city makes: whatever the list holds and however calls
//! go, no excluded number is ever dialled.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Europe::Helsinki;
use kuulo_campaign::contacts::parse_contacts;
use kuulo_campaign::{CallingHours, Dialer, DialerConfig, Disposition, Exclusions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Row {
    /// 0: valid, 1: valid in another form, 2: invalid.
    form: u8,
    age: Option<u8>,
    /// Years and a day offset from today's anniversary.
    born: Option<(i32, i64)>,
    business: bool,
    ban_flag: bool,
    on_ban_list: bool,
    do_not_call: bool,
    /// Put on the do-not-call list after this many dials, if any.
    opts_out_later: Option<usize>,
}

fn row() -> impl Strategy<Value = Row> {
    (
        0u8..3,
        proptest::option::of(0u8..40),
        proptest::option::of((10i32..30, -3i64..=3)),
        any::<bool>(),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.2),
        proptest::option::weighted(0.2, 0usize..40),
    )
        .prop_map(
            |(form, age, born, business, ban_flag, on_ban_list, do_not_call, later)| Row {
                form,
                age,
                born,
                business,
                ban_flag,
                on_ban_list,
                do_not_call,
                opts_out_later: later,
            },
        )
}

/// The rule, written out independently of the crate's code.
fn must_not_call(r: &Row) -> bool {
    let age_from_birth = r.born.map(|(y, d)| if d > 0 { y - 1 } else { y });
    let ages: Vec<i32> = [age_from_birth, r.age.map(i32::from)]
        .into_iter()
        .flatten()
        .collect();
    r.form == 2
        || r.business
        || r.ban_flag
        || r.on_ban_list
        || r.do_not_call
        || ages.is_empty()
        || ages.iter().any(|&a| a < 18)
}

fn e164(i: usize) -> String {
    format!("+35840{i:07}")
}

fn dispositions() -> impl Strategy<Value = Vec<(Disposition, Option<u16>)>> {
    proptest::collection::vec(
        prop_oneof![
            Just((Disposition::Completed, Some(200))),
            Just((Disposition::Busy, Some(486))),
            Just((Disposition::NoAnswer, Some(480))),
            Just((Disposition::Failed, Some(503))),
            Just((Disposition::Failed, Some(404))),
            Just((Disposition::OptedOut, Some(200))),
            Just((Disposition::Abandoned, Some(200))),
        ],
        1..50,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_excluded_number_is_ever_dialled(
        rows in proptest::collection::vec(row(), 0..60),
        outcomes in dispositions(),
    ) {
        let mut csv = String::from("puhelin;syntymäaika;ikä;tyyppi;markkinointikielto\n");
        for (i, r) in rows.iter().enumerate() {
            let phone = match r.form {
                0 => format!("040 {:03} {:04}", i / 10_000, i % 10_000),
                1 => format!("+358 40 {i:07}"),
                _ => format!("40{i:07}x"),
            };
            let born = r.born.map_or(String::new(), |(y, d)| {
                let anniversary = NaiveDate::from_ymd_opt(2026 - y, 11, 23).unwrap();
                (anniversary + chrono::Duration::days(d)).format("%d.%m.%Y").to_string()
            });
            let age = r.age.map_or(String::new(), |a| a.to_string());
            let kind = if r.business { "yritys" } else { "henkilö" };
            let ban = if r.ban_flag { "x" } else { "" };
            csv.push_str(&format!("{phone};{born};{age};{kind};{ban}\n"));
        }
        let list = parse_contacts(csv.as_bytes()).unwrap();
        prop_assert_eq!(
            list.contacts.len() as u64 + list.merged + list.rejects.len() as u64,
            list.rows
        );
        let mut exclusions = Exclusions::default();
        exclusions.add_ban_list(
            rows.iter().enumerate().filter(|(_, r)| r.on_ban_list).map(|(i, _)| e164(i)),
        );
        for (i, r) in rows.iter().enumerate() {
            if r.do_not_call {
                exclusions.add_do_not_call(e164(i));
            }
        }
        let config = DialerConfig {
            calls_per_second: 50.0,
            max_concurrent: 3,
            hours: CallingHours::always(Helsinki),
            ..DialerConfig::default()
        };
        let mut dialer = Dialer::new(config, exclusions);
        for c in &list.contacts {
            dialer.add_contact(c.clone(), 0, None);
        }
        let forbidden: HashSet<String> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| must_not_call(r))
            .map(|(i, _)| e164(i))
            .collect();
        let mut opted_out: HashSet<String> = HashSet::new();
        let mut now: SystemTime = Helsinki
            .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .unwrap()
            .into();
        let mut active: Vec<String> = Vec::new();
        let mut dials = 0usize;
        for step in 0..10_000 {
            while let Some(order) = dialer.poll_dial(now) {
                prop_assert!(!forbidden.contains(&order.e164), "dialled {}", order.e164);
                prop_assert!(!opted_out.contains(&order.e164), "dialled {} after opt-out", order.e164);
                dials += 1;
                for (i, r) in rows.iter().enumerate() {
                    if r.opts_out_later == Some(dials) {
                        dialer.mark_do_not_call(&e164(i));
                        opted_out.insert(e164(i));
                    }
                }
                active.push(order.e164);
            }
            if let Some(e) = active.pop() {
                let (d, sip) = outcomes[step % outcomes.len()];
                dialer.on_outcome(now, &e, d, sip).unwrap();
                continue;
            }
            match dialer.poll_timeout() {
                Some(t) => now = t.max(now + Duration::from_millis(1)),
                None => break,
            }
        }
        prop_assert!(dialer.is_finished());
        let callable = rows.len() - forbidden.len();
        prop_assert!(callable == 0 || dials > 0, "nothing dialled of {} callable", callable);
    }
}
