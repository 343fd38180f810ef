//! The report's figures, its text, and that no export leaks a number.

use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use kuulo_campaign::contacts::parse_contacts;
use kuulo_campaign::exclusions::queue_contacts;
use kuulo_campaign::{
    export_csv, export_json, CampaignId, Disposition, ExclusionReason, Exclusions, NewCampaign,
    Report, Store,
};
use kuulo_ivr::AnswerValue;

const NUMBERS: [&str; 6] = [
    "+358401000001",
    "+358401000002",
    "+358401000003",
    "+358401000004",
    "+358401000005",
    "+358401000006",
];

fn setup() -> (tempfile::TempDir, Store, CampaignId) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("r.sqlite")).unwrap();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let campaign = store
        .create_campaign(&NewCampaign {
            script_id: "digital-services",
            title: "Oulu 2021",
            created: t,
            retention_until: None,
        })
        .unwrap();
    let csv = "phone,age,type\n\
               0401000001,30,\n0401000002,40,\n0401000003,50,\n0401000004,60,\n\
               0401000005,15,\n0401000006,30,business\n";
    let list = parse_contacts(csv.as_bytes()).unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let summary = queue_contacts(
        &mut store,
        campaign,
        &list.contacts,
        &Exclusions::default(),
        today,
    )
    .unwrap();
    assert_eq!(summary.queued, 4);
    let calls = [
        (NUMBERS[0], Disposition::Completed, Some("phone")),
        (NUMBERS[1], Disposition::Completed, Some("chat")),
        (NUMBERS[2], Disposition::Completed, Some("phone")),
        (NUMBERS[3], Disposition::OptedOut, None),
    ];
    for (i, (number, disposition, channel)) in calls.into_iter().enumerate() {
        let at = t + Duration::from_secs(i as u64);
        let call = store.record_call_start(campaign, number, at).unwrap();
        if let Some(channel) = channel {
            store
                .store_answer(&call, "consent", &AnswerValue::Yes, at)
                .unwrap();
            store
                .store_answer(&call, "channel", &AnswerValue::Choice(channel.into()), at)
                .unwrap();
        }
        store
            .finish_call(&call, disposition, Some(200), Some("fi"), at)
            .unwrap();
    }
    (dir, store, campaign)
}

#[test]
fn funnel_and_distributions() {
    let (_dir, store, campaign) = setup();
    let report = Report::build(&store, campaign).unwrap();
    let f = &report.funnel;
    assert_eq!(f.contacts, 6);
    assert_eq!(f.excluded.get(ExclusionReason::Minor), 1);
    assert_eq!(f.excluded.get(ExclusionReason::Business), 1);
    assert_eq!(
        (
            f.attempted,
            f.reached,
            f.consented,
            f.completed,
            f.opted_out
        ),
        (4, 4, 3, 3, 1)
    );
    let channel = &report.questions[1];
    assert_eq!(channel.question, "channel");
    assert_eq!(channel.answered, 3);
    assert_eq!(channel.shares[0].value, "phone");
    assert_eq!(channel.shares[0].count, 2);
    assert!((channel.shares[0].percent - 66.666).abs() < 0.01);
    let text = report.to_string();
    assert!(
        text.contains("  completed                         3   50.0%"),
        "{text}"
    );
    assert!(
        text.contains("    minor                           1   16.7%"),
        "{text}"
    );
    assert!(
        text.contains("  phone                             2   66.7%"),
        "{text}"
    );
}

#[test]
fn no_phone_number_in_any_export() {
    let (_dir, store, campaign) = setup();
    let mut csv = Vec::new();
    export_csv(&store, campaign, &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 1 + 6);
    let mut json = Vec::new();
    export_json(&store, campaign, &mut json).unwrap();
    let json = String::from_utf8(json).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["answers"].as_array().unwrap().len(), 6);
    let text = Report::build(&store, campaign).unwrap().to_string();
    for export in [&csv, &json, &text] {
        for number in NUMBERS {
            let national = &number[4..];
            assert!(!export.contains(national), "{number} leaked:\n{export}");
        }
        assert!(!export.contains("+358"));
    }
}

#[test]
fn answers_split_by_the_language_of_the_latest_call() {
    let (_dir, mut store, campaign) = setup();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_001_000);
    // Resident 2 answers again, in Swedish: their latest answer and its
    // language replace the Finnish one.
    let call = store.record_call_start(campaign, NUMBERS[1], t).unwrap();
    store
        .store_answer(&call, "channel", &AnswerValue::Choice("web".into()), t)
        .unwrap();
    store
        .finish_call(&call, Disposition::Completed, Some(200), Some("sv"), t)
        .unwrap();
    let report = Report::build(&store, campaign).unwrap();
    let channel = &report.questions[1];
    assert_eq!(channel.answered, 3);
    let languages: Vec<(Option<&str>, u64)> = channel
        .by_language
        .iter()
        .map(|l| (l.language.as_deref(), l.answered))
        .collect();
    assert_eq!(languages, [(Some("fi"), 2), (Some("sv"), 1)]);
    let fi = &channel.by_language[0].shares;
    assert_eq!((fi[0].value.as_str(), fi[0].count), ("phone", 2));
    assert_eq!(channel.by_language[1].shares[0].value, "web");
    assert!((channel.by_language[1].shares[0].percent - 100.0).abs() < 1e-9);
    let text = report.to_string();
    assert!(
        text.contains("  in fi (2 answered): phone 100.0%"),
        "{text}"
    );
    assert!(text.contains("  in sv (1 answered): web 100.0%"), "{text}");
}

#[test]
fn the_html_page_has_a_chart_per_question() {
    let (_dir, store, campaign) = setup();
    let html = kuulo_campaign::render_html(&Report::build(&store, campaign).unwrap());
    assert_eq!(html.matches("<svg class=\"chart question\"").count(), 2);
    assert!(html.contains(">2 (66.7%)</text>"), "{html}");
    for number in NUMBERS {
        assert!(!html.contains(&number[4..]), "{number} leaked");
    }
}
