//! A results store with one finished campaign, written through the public
//! store API as a campaign run writes it, for the report tests.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use kuulo_campaign::contacts::parse_contacts;
use kuulo_campaign::exclusions::queue_contacts;
use kuulo_campaign::{CampaignId, Disposition, Exclusions, NewCampaign, Store};
use kuulo_ivr::AnswerValue;

/// The numbers called; none may appear in any report output.
pub const NUMBERS: [&str; 7] = [
    "+358401000001",
    "+358401000002",
    "+358401000003",
    "+358401000004",
    "+358401000005",
    "+358401000006",
    "+358401000007",
];

/// A spoken or typed value that would be markup if not escaped.
pub const HOSTILE: &str = "<script>alert(1)</script>";

/// Adds a campaign to the store at `db`: 9 contacts (a minor and a
/// business excluded), 7 called in Finnish, Swedish and one unknown
/// language; 5 complete, 1 opts out, 1 declines consent. Returns its id.
pub fn add_campaign(db: &Path, title: &str) -> CampaignId {
    let mut store = Store::open(db).expect("open the store");
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let campaign = store
        .create_campaign(&NewCampaign {
            script_id: "digital-services",
            title,
            created: t,
            retention_until: None,
        })
        .expect("create the campaign");
    let mut csv = String::from("phone,age,type\n");
    for n in NUMBERS {
        csv.push_str(&format!("0{},40,\n", &n[4..]));
    }
    csv.push_str("0401000008,15,\n0401000009,40,business\n");
    let list = parse_contacts(csv.as_bytes()).expect("parse the contacts");
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("a date");
    queue_contacts(
        &mut store,
        campaign,
        &list.contacts,
        &Exclusions::default(),
        today,
    )
    .expect("queue the contacts");
    // (disposition, language, answers: used digital services?, channel)
    type Call = (
        Disposition,
        Option<&'static str>,
        Option<(bool, &'static str)>,
    );
    let calls: [Call; 7] = [
        (Disposition::Completed, Some("fi"), Some((true, "phone"))),
        (Disposition::Completed, Some("fi"), Some((true, "phone"))),
        (Disposition::Completed, Some("fi"), Some((false, "chat"))),
        (Disposition::Completed, Some("sv"), Some((true, "web"))),
        (Disposition::Completed, None, Some((true, HOSTILE))),
        (Disposition::OptedOut, Some("sv"), None),
        (Disposition::DeclinedConsent, Some("fi"), None),
    ];
    for (i, (number, (disposition, language, answers))) in NUMBERS.iter().zip(calls).enumerate() {
        let at = t + Duration::from_secs(60 * i as u64);
        let call = store
            .record_call_start(campaign, number, at)
            .expect("start a call");
        if let Some((used, channel)) = answers {
            let used = if used {
                AnswerValue::Yes
            } else {
                AnswerValue::No
            };
            store
                .store_answer(&call, "used_digital", &used, at)
                .expect("store an answer");
            store
                .store_answer(&call, "channel", &AnswerValue::Choice(channel.into()), at)
                .expect("store an answer");
        }
        store
            .finish_call(&call, disposition, Some(200), language, at)
            .expect("finish a call");
    }
    campaign
}

/// Runs the built `kuulo` binary.
pub fn kuulo(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kuulo"))
        .args(args)
        .output()
        .expect("run the kuulo binary")
}
