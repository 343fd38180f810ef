//! The results store against a real SQLite file in a temporary folder.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kuulo_campaign::{CallId, CampaignId, Disposition, NewCampaign, Store, StoreError};
use kuulo_ivr::AnswerValue;
use proptest::prelude::*;

const ANNA: &str = "+358401234567";
const BERT: &str = "+358501112223";

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn campaign(store: &mut Store, title: &str) -> CampaignId {
    store
        .create_campaign(&NewCampaign {
            script_id: "digital-services",
            title,
            created: at(0),
            retention_until: Some(at(90 * 86_400)),
        })
        .unwrap()
}

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("results.sqlite")
}

/// A completed call with one answer of every kind and a recording.
fn survey_call(store: &mut Store, c: CampaignId, number: &str) -> CallId {
    let call = store.record_call_start(c, number, at(10)).unwrap();
    let answers = [
        ("consent", AnswerValue::Yes),
        ("used_digital", AnswerValue::No),
        ("why_not", AnswerValue::Choice("hard_to_use".into())),
        ("pandemic", AnswerValue::Scale(4)),
        ("postcode", AnswerValue::Number("90100".into())),
        ("wish", AnswerValue::Recording { duration_ms: 5_250 }),
        ("callback", AnswerValue::NoAnswer),
    ];
    for (i, (q, v)) in answers.iter().enumerate() {
        store.store_answer(&call, q, v, at(11 + i as u64)).unwrap();
    }
    let file = PathBuf::from(format!("{call}/wish.wav"));
    store.record_recording(&call, "wish", &file, 5_250).unwrap();
    store
        .finish_call(&call, Disposition::Completed, Some(200), Some("fi"), at(60))
        .unwrap();
    call
}

#[test]
fn answers_round_trip_in_the_order_given() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(db(&dir)).unwrap();
    let c = campaign(&mut store, "Oulu 2021");
    let call = survey_call(&mut store, c, ANNA);

    let answers = store.answers_for_call(&call).unwrap();
    let got: Vec<(&str, &AnswerValue)> = answers
        .iter()
        .map(|a| (a.question.as_str(), &a.value))
        .collect();
    assert_eq!(got[0], ("consent", &AnswerValue::Yes));
    assert_eq!(
        got[2],
        ("why_not", &AnswerValue::Choice("hard_to_use".into()))
    );
    assert_eq!(got[3], ("pandemic", &AnswerValue::Scale(4)));
    assert_eq!(
        got[5],
        ("wish", &AnswerValue::Recording { duration_ms: 5_250 })
    );
    assert_eq!(got[6], ("callback", &AnswerValue::NoAnswer));
    assert_eq!(answers[1].at, at(12));

    // A question asked again keeps its place and its latest answer.
    store
        .store_answer(&call, "used_digital", &AnswerValue::Yes, at(99))
        .unwrap();
    let again = store.answers_for_call(&call).unwrap();
    assert_eq!(again.len(), 7);
    assert_eq!(again[1].question, "used_digital");
    assert_eq!(again[1].value, AnswerValue::Yes);
}

#[test]
fn export_shows_everything_about_one_person() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(db(&dir)).unwrap();
    let c = campaign(&mut store, "Oulu 2021");
    assert!(store
        .add_contact(c, ANNA, r#"{"age":44,"language":"fi"}"#)
        .unwrap());
    assert!(
        !store.add_contact(c, ANNA, "{}").unwrap(),
        "duplicates merge"
    );
    store.add_contact(c, BERT, "{}").unwrap();

    let busy = store.record_call_start(c, ANNA, at(1)).unwrap();
    store
        .finish_call(&busy, Disposition::Busy, Some(486), None, at(2))
        .unwrap();
    let pending = store.person_export(c, ANNA).unwrap();
    assert_eq!(pending.contact.as_ref().unwrap().state, "pending");

    let call = survey_call(&mut store, c, ANNA);
    survey_call(&mut store, c, BERT);

    let me = store.person_export(c, ANNA).unwrap();
    assert_eq!(me.pseudonym, store.pseudonym(c, ANNA).unwrap());
    let contact = me.contact.unwrap();
    assert_eq!(contact.e164, ANNA);
    assert_eq!(contact.attributes, r#"{"age":44,"language":"fi"}"#);
    assert_eq!(contact.attempts, 2);
    assert_eq!(contact.state, "done");
    assert_eq!(contact.last_disposition, Some(Disposition::Completed));
    assert_eq!(me.calls.len(), 2);
    assert_eq!(me.calls[0].disposition, Some(Disposition::Busy));
    assert_eq!(me.calls[0].sip_status, Some(486));
    assert!(me.calls[0].answers.is_empty());
    assert_eq!(me.calls[1].id, call);
    assert_eq!(me.calls[1].language.as_deref(), Some("fi"));
    assert_eq!(me.calls[1].ended, Some(at(60)));
    assert_eq!(me.calls[1].answers.len(), 7);
    assert_eq!(me.calls[1].recordings.len(), 1);
    assert_eq!(
        me.calls[1].recordings[0].path,
        Path::new(&format!("{call}/wish.wav"))
    );
    assert_eq!(me.do_not_call, None);
}

#[test]
fn erase_removes_everything_about_the_person_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut store = Store::open(&path).unwrap();
    let c = campaign(&mut store, "Oulu 2021");
    store
        .add_contact(c, ANNA, r#"{"note":"secret-attribute"}"#)
        .unwrap();
    store.add_contact(c, BERT, "{}").unwrap();
    let anna_call = survey_call(&mut store, c, ANNA);
    let bert_call = survey_call(&mut store, c, BERT);
    store
        .store_answer(
            &anna_call,
            "free_text",
            &AnswerValue::Number("424242".into()),
            at(70),
        )
        .unwrap();

    let erased = store.person_erase(c, ANNA).unwrap();
    assert!(erased.contact);
    assert_eq!(erased.calls, 1);
    assert_eq!(erased.answers, 8);
    assert_eq!(
        erased.recording_files,
        vec![PathBuf::from(format!("{anna_call}/wish.wav"))]
    );

    let me = store.person_export(c, ANNA).unwrap();
    assert_eq!(me.contact, None);
    assert!(me.calls.is_empty());
    assert!(store.answers_for_call(&anna_call).unwrap().is_empty());
    assert_eq!(store.answers_for_call(&bert_call).unwrap().len(), 7);
    assert!(store.person_export(c, BERT).unwrap().contact.is_some());
    assert_eq!(store.person_erase(c, ANNA).unwrap(), Default::default());
    drop(store);

    // Not even the file's free pages or the WAL keep the number.
    let mut bytes = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(path.with_extension("sqlite-wal")) {
        bytes.extend(wal);
    }
    for gone in [ANNA, "secret-attribute", "424242", anna_call.as_str()] {
        assert!(
            !bytes.windows(gone.len()).any(|w| w == gone.as_bytes()),
            "{gone} is still in the file"
        );
    }
    assert!(bytes.windows(BERT.len()).any(|w| w == BERT.as_bytes()));
}

#[test]
fn opt_out_holds_across_campaigns_and_survives_erasure() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(db(&dir)).unwrap();
    let first = campaign(&mut store, "Riihimäki spring");
    store.add_contact(first, ANNA, "{}").unwrap();
    let call = store.record_call_start(first, ANNA, at(1)).unwrap();
    store
        .finish_call(&call, Disposition::OptedOut, Some(200), Some("fi"), at(2))
        .unwrap();

    let later = campaign(&mut store, "Riihimäki autumn");
    let entry = store.do_not_call(ANNA).unwrap().expect("on the list");
    assert_eq!(entry.at, at(2));
    assert!(store
        .person_export(later, ANNA)
        .unwrap()
        .do_not_call
        .is_some());
    assert_eq!(store.do_not_call(BERT).unwrap(), None);

    store
        .mark_do_not_call(BERT, "asked by e-mail", at(5))
        .unwrap();
    store.mark_do_not_call(BERT, "asked again", at(6)).unwrap();
    assert_eq!(
        store.do_not_call(BERT).unwrap().unwrap().reason,
        "asked by e-mail"
    );

    store.person_erase(first, ANNA).unwrap();
    assert!(store.do_not_call(ANNA).unwrap().is_some());
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (c, call, pseudonym) = {
        let mut store = Store::open(db(&dir)).unwrap();
        assert_eq!(store.schema_version().unwrap(), 2);
        let c = campaign(&mut store, "Oulu 2021");
        let call = survey_call(&mut store, c, ANNA);
        (c, call, store.pseudonym(c, ANNA).unwrap())
    };
    let store = Store::open(db(&dir)).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    assert_eq!(store.answers_for_call(&call).unwrap().len(), 7);
    assert_eq!(store.pseudonym(c, ANNA).unwrap(), pseudonym);
    let campaigns = store.campaigns().unwrap();
    assert_eq!(campaigns.len(), 1);
    assert_eq!(campaigns[0].title, "Oulu 2021");
    assert_eq!(campaigns[0].retention_until, Some(at(90 * 86_400)));
}

#[test]
fn pseudonyms_differ_across_campaigns_and_stores() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(db(&dir)).unwrap();
    let a = campaign(&mut store, "a");
    let b = campaign(&mut store, "b");
    let pa = store.pseudonym(a, ANNA).unwrap();
    assert_eq!(pa.as_str().len(), 64);
    assert_eq!(pa, store.pseudonym(a, ANNA).unwrap());
    assert_ne!(pa, store.pseudonym(b, ANNA).unwrap());
    assert_ne!(pa, store.pseudonym(a, BERT).unwrap());

    let other_dir = tempfile::tempdir().unwrap();
    let mut other = Store::open(db(&other_dir)).unwrap();
    let same_id = campaign(&mut other, "a");
    assert_eq!(same_id, a);
    assert_ne!(pa, other.pseudonym(same_id, ANNA).unwrap());
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(db(&dir)).unwrap();
    let c = campaign(&mut store, "x");
    assert!(matches!(
        store.record_call_start(c, "040 123 4567", at(0)),
        Err(StoreError::InvalidNumber(_))
    ));
    assert!(matches!(
        store.record_call_start(CampaignId(99), ANNA, at(0)),
        Err(StoreError::UnknownCampaign(CampaignId(99)))
    ));
    let ghost = CallId::new("no-such-call");
    assert!(matches!(
        store.store_answer(&ghost, "q", &AnswerValue::Yes, at(0)),
        Err(StoreError::UnknownCall(_))
    ));
    assert!(matches!(
        store.finish_call(&ghost, Disposition::Completed, None, None, at(0)),
        Err(StoreError::UnknownCall(_))
    ));
    let call = store.record_call_start(c, ANNA, at(0)).unwrap();
    for bad in ["/etc/passwd", "../x.wav", ""] {
        assert!(
            matches!(
                store.record_recording(&call, "wish", Path::new(bad), 1),
                Err(StoreError::BadRecordingPath(_))
            ),
            "{bad}"
        );
    }
    assert!(store.person_export(c, ANNA).unwrap().calls[0]
        .recordings
        .is_empty());
    let message = StoreError::InvalidNumber("040".into()).to_string();
    assert!(message.contains("+358"), "{message}");
}

#[test]
fn a_file_from_a_newer_kuulo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(db(&dir)).unwrap());
    let conn = rusqlite::Connection::open(db(&dir)).unwrap();
    conn.execute("INSERT INTO schema_migrations VALUES (99, 0)", [])
        .unwrap();
    drop(conn);
    match Store::open(db(&dir)) {
        Err(StoreError::NewerSchema {
            found: 99,
            supported: 2,
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_second_process_can_read_while_a_campaign_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Store::open(db(&dir)).unwrap();
    let c = campaign(&mut writer, "x");
    let call = survey_call(&mut writer, c, ANNA);
    let reader = Store::open(db(&dir)).unwrap();
    writer
        .store_answer(&call, "late", &AnswerValue::Yes, at(100))
        .unwrap();
    assert_eq!(reader.answers_for_call(&call).unwrap().len(), 8);
}

#[test]
fn two_writers_on_one_file_wait_for_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let c = campaign(&mut Store::open(db(&dir)).unwrap(), "x");
    let writers: Vec<_> = [ANNA, BERT]
        .into_iter()
        .map(|number| {
            let path = db(&dir);
            std::thread::spawn(move || {
                let mut store = Store::open(path).unwrap();
                let call = store.record_call_start(c, number, at(0)).unwrap();
                for i in 0..100 {
                    let q = format!("q{i}");
                    store
                        .store_answer(&call, &q, &AnswerValue::Scale(3), at(i))
                        .unwrap();
                }
                call
            })
        })
        .collect();
    let calls: Vec<CallId> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let store = Store::open(db(&dir)).unwrap();
    for call in &calls {
        assert_eq!(store.answers_for_call(call).unwrap().len(), 100);
    }
}

#[test]
fn a_withheld_number_still_records_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(db(&dir)).unwrap();
    let c = campaign(&mut store, "inbound");
    let call = store.record_anonymous_call_start(c, at(0)).unwrap();
    store
        .store_answer(&call, "rating", &AnswerValue::Scale(5), at(1))
        .unwrap();
    store
        .finish_call(&call, Disposition::OptedOut, Some(200), Some("sv"), at(2))
        .unwrap();
    assert_eq!(store.answers_for_call(&call).unwrap().len(), 1);
    // Nothing links it to a person, not even to another anonymous call.
    assert!(store.person_export(c, ANNA).unwrap().calls.is_empty());
    let other = store.record_anonymous_call_start(c, at(3)).unwrap();
    assert_ne!(call, other);
}

fn answer() -> impl Strategy<Value = AnswerValue> {
    prop_oneof![
        Just(AnswerValue::Yes),
        Just(AnswerValue::No),
        ".{0,20}".prop_map(AnswerValue::Choice),
        any::<u8>().prop_map(AnswerValue::Scale),
        "[0-9]{0,12}".prop_map(AnswerValue::Number),
        // SQLite integers are signed 64-bit; longer recordings do not exist.
        (0..=i64::MAX as u64).prop_map(|duration_ms| AnswerValue::Recording { duration_ms }),
        Just(AnswerValue::NoAnswer),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn stored_answers_read_back_equal(
        answers in prop::collection::vec(("[a-z_]{1,8}", answer()), 0..12)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(db(&dir)).unwrap();
        let c = campaign(&mut store, "prop");
        let call = store.record_call_start(c, ANNA, at(0)).unwrap();
        // What the interpreter promises: first position, latest value.
        let mut expected: Vec<(String, AnswerValue)> = Vec::new();
        for (i, (q, v)) in answers.iter().enumerate() {
            store.store_answer(&call, q, v, at(i as u64)).unwrap();
            match expected.iter_mut().find(|(eq, _)| eq == q) {
                Some(slot) => slot.1 = v.clone(),
                None => expected.push((q.clone(), v.clone())),
            }
        }
        drop(store);
        let store = Store::open(db(&dir)).unwrap();
        let got: Vec<(String, AnswerValue)> = store
            .answers_for_call(&call)
            .unwrap()
            .into_iter()
            .map(|a| (a.question, a.value))
            .collect();
        prop_assert_eq!(got, expected);
    }
}
