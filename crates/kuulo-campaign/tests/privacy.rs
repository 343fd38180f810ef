//! Purge by retention date, and a resident's right of access and erasure,
//! against a real SQLite file and a real recordings folder.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kuulo_campaign::exclusions::ExclusionReason;
use kuulo_campaign::{
    CallId, CampaignId, Cutoff, Disposition, NewCampaign, PurgeRequest, QueueEntry, Report, Store,
    StoreError,
};
use kuulo_ivr::AnswerValue;

const ANNA: &str = "+358401234567";
const BERT: &str = "+358501112223";
const CARL: &str = "+358401110000";
const DORA: &str = "+358409998887";

/// `days` after the campaigns start.
fn day(days: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + days * 86_400)
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
    recordings: PathBuf,
    store: Store,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("results.sqlite");
        let recordings = dir.path().join("recordings");
        std::fs::create_dir_all(&recordings).unwrap();
        let store = Store::open(&db).unwrap();
        Fixture {
            _dir: dir,
            db,
            recordings,
            store,
        }
    }

    fn campaign(&mut self, title: &str) -> CampaignId {
        let c = self
            .store
            .create_campaign(&NewCampaign {
                script_id: "digital-services",
                title,
                created: day(0),
                retention_until: None,
            })
            .unwrap();
        let entries = [
            QueueEntry {
                e164: ANNA,
                attributes: r#"{"age":71}"#,
                exclusion: None,
            },
            QueueEntry {
                e164: BERT,
                attributes: r#"{"age":34}"#,
                exclusion: None,
            },
            QueueEntry {
                e164: CARL,
                attributes: "{}",
                exclusion: None,
            },
            QueueEntry {
                e164: DORA,
                attributes: r#"{"age":15}"#,
                exclusion: Some(ExclusionReason::Minor),
            },
        ];
        self.store.queue_contacts(c, &entries).unwrap();
        c
    }

    /// A call on `at` ending as `how`; a completed one answers two
    /// questions and leaves a voice answer on disk.
    fn call(&mut self, c: CampaignId, number: &str, at: SystemTime, how: Disposition) -> CallId {
        let call = self.store.record_call_start(c, number, at).unwrap();
        if how == Disposition::Completed {
            self.store
                .store_answer(&call, "consent", &AnswerValue::Yes, at)
                .unwrap();
            self.store
                .store_answer(&call, "pandemic", &AnswerValue::Scale(4), at)
                .unwrap();
            let name = PathBuf::from(format!("{call}-wish.wav"));
            std::fs::write(self.recordings.join(&name), vec![0u8; 1_000]).unwrap();
            self.store
                .store_answer(
                    &call,
                    "wish",
                    &AnswerValue::Recording { duration_ms: 2_000 },
                    at,
                )
                .unwrap();
            self.store
                .record_recording(&call, "wish", &name, 2_000)
                .unwrap();
        }
        self.store
            .finish_call(&call, how, Some(200), Some("fi"), at)
            .unwrap();
        call
    }

    fn file(&self, call: &CallId) -> PathBuf {
        self.recordings.join(format!("{call}-wish.wav"))
    }

    fn purge(
        &mut self,
        campaign: Option<CampaignId>,
        before: u64,
        dry_run: bool,
    ) -> kuulo_campaign::PurgeSummary {
        let recordings = self.recordings.clone();
        self.store
            .purge(&PurgeRequest {
                campaign,
                cutoff: Cutoff::at(day(before)),
                recordings: &recordings,
                dry_run,
            })
            .unwrap()
    }

    fn numbers(&self) -> Vec<String> {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        let mut stmt = conn
            .prepare("SELECT e164 FROM contacts ORDER BY id")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }
}

/// Anna completed early (day 1); Bert was missed on day 1 and completed on
/// day 100; Carl was never called; Dora is a minor, excluded.
fn scenario(f: &mut Fixture) -> (CampaignId, CallId, CallId) {
    let c = f.campaign("Oulu 2021");
    let anna = f.call(c, ANNA, day(1), Disposition::Completed);
    f.call(c, BERT, day(1), Disposition::NoAnswer);
    let bert = f.call(c, BERT, day(100), Disposition::Completed);
    (c, anna, bert)
}

#[test]
fn purge_removes_numbers_and_recordings_past_retention_only() {
    let mut f = Fixture::new();
    let (c, anna, bert) = scenario(&mut f);

    let summary = f.purge(None, 50, false);
    assert!(!summary.dry_run);
    assert_eq!(summary.campaigns.len(), 1);
    let purged = &summary.campaigns[0];
    assert_eq!(purged.campaign, c);
    // Anna (last called day 1), Carl and Dora (never called, imported day 0).
    assert_eq!(purged.numbers_removed, 3);
    assert_eq!(purged.calling_ended, 1, "Carl was still waiting for a call");
    assert_eq!(purged.recordings.deleted, 1);
    assert_eq!(purged.recordings.bytes_freed, 1_000);
    assert!(purged.recordings.missing.is_empty());
    assert!(!purged.secret_deleted, "Bert's data is recent");

    assert_eq!(f.numbers(), vec![BERT.to_owned()]);
    assert!(!f.file(&anna).exists());
    assert!(f.file(&bert).exists());
    let anna_now = f.store.person_export(c, ANNA).unwrap();
    assert!(anna_now.contact.is_none());
    assert!(anna_now.calls[0].recordings.is_empty());
    // Answers are pseudonymous and stay for the report.
    assert_eq!(anna_now.calls[0].answers.len(), 3);
    let bert_now = f.store.person_export(c, BERT).unwrap();
    assert!(bert_now.contact.is_some());
    assert_eq!(bert_now.calls[1].recordings.len(), 1);
}

#[test]
fn purge_twice_removes_nothing_the_second_time() {
    let mut f = Fixture::new();
    scenario(&mut f);
    f.purge(None, 50, false);
    let again = f.purge(None, 50, false);
    assert_eq!(again.numbers_removed(), 0);
    assert_eq!(again.recordings().deleted, 0);
    assert_eq!(again.recordings().bytes_freed, 0);
    assert!(again.recordings().missing.is_empty());
    assert_eq!(again.secrets_deleted(), 0);
}

#[test]
fn dry_run_counts_what_a_purge_would_delete_and_deletes_nothing() {
    let mut f = Fixture::new();
    let (c, anna, _) = scenario(&mut f);
    let before = f.store.funnel(c).unwrap();

    let dry = f.purge(None, 200, true);
    assert!(dry.dry_run);
    assert_eq!(f.numbers().len(), 4);
    assert!(f.file(&anna).exists());
    assert!(f.store.pseudonym(c, ANNA).is_ok());
    assert_eq!(f.store.funnel(c).unwrap(), before);

    let real = f.purge(None, 200, false);
    assert_eq!(dry.campaigns, real.campaigns);
    assert_eq!(real.numbers_removed(), 4);
    assert_eq!(real.recordings().deleted, 2);
    assert_eq!(real.recordings().bytes_freed, 2_000);
}

#[test]
fn report_and_funnel_read_the_same_after_purge() {
    let mut f = Fixture::new();
    let (c, _, _) = scenario(&mut f);
    let funnel = f.store.funnel(c).unwrap();
    assert_eq!(funnel.contacts, 4);
    assert_eq!(funnel.excluded.0.get(&ExclusionReason::Minor), Some(&1));
    let report = Report::build(&f.store, c).unwrap();

    f.purge(None, 50, false);
    assert_eq!(f.store.funnel(c).unwrap(), funnel);
    assert_eq!(Report::build(&f.store, c).unwrap(), report);

    // Everything past retention: the numbers and the secret are gone, the
    // figures are not.
    let all = f.purge(None, 200, false);
    assert!(all.campaigns[0].secret_deleted);
    assert!(f.numbers().is_empty());
    assert_eq!(f.store.funnel(c).unwrap(), funnel);
    assert_eq!(Report::build(&f.store, c).unwrap(), report);
}

#[test]
fn a_finished_campaign_past_retention_loses_its_secret() {
    let mut f = Fixture::new();
    let (c, _, _) = scenario(&mut f);
    let summary = f.purge(Some(c), 200, false);
    assert!(summary.campaigns[0].secret_deleted);
    assert!(f.store.campaign(c).unwrap().purged);
    assert!(matches!(f.store.pseudonym(c, ANNA), Err(StoreError::Purged(id)) if id == c));
    assert!(matches!(
        f.store.record_call_start(c, ANNA, day(201)),
        Err(StoreError::Purged(_))
    ));
    // Nothing links the number to the answers any more.
    let export = f.store.export_person(ANNA).unwrap();
    assert!(export.campaigns.is_empty());
    assert_eq!(export.unlinkable.len(), 1);

    let again = f.purge(Some(c), 200, false);
    assert!(again.campaigns[0].already_anonymous);
    assert!(!again.campaigns[0].secret_deleted);
}

#[test]
fn purge_of_one_campaign_leaves_the_others() {
    let mut f = Fixture::new();
    let (old, anna_old, _) = scenario(&mut f);
    let other = f.campaign("Oulu 2022");
    let anna_other = f.call(other, ANNA, day(1), Disposition::Completed);

    let summary = f.purge(Some(old), 200, false);
    assert_eq!(summary.campaigns.len(), 1);
    let purged: Vec<bool> = f
        .store
        .campaigns()
        .unwrap()
        .iter()
        .map(|c| c.purged)
        .collect();
    assert_eq!(purged, [true, false]);
    assert!(!f.file(&anna_old).exists());
    assert!(f.file(&anna_other).exists());
    assert!(f
        .store
        .person_export(other, ANNA)
        .unwrap()
        .contact
        .is_some());
    // Bert and Carl are still to be called there.
    assert_eq!(f.store.pending_contacts(other).unwrap().len(), 2);
}

#[test]
fn purge_counts_files_already_gone_and_removes_their_rows() {
    let mut f = Fixture::new();
    let (c, anna, _) = scenario(&mut f);
    std::fs::remove_file(f.file(&anna)).unwrap();
    let summary = f.purge(None, 50, false);
    let swept = &summary.campaigns[0].recordings;
    assert_eq!(swept.deleted, 0);
    assert_eq!(
        swept.missing,
        vec![PathBuf::from(format!("{anna}-wish.wav"))]
    );
    assert!(f.store.person_export(c, ANNA).unwrap().calls[0]
        .recordings
        .is_empty());
}

#[test]
fn purge_refuses_a_recordings_folder_that_does_not_exist() {
    let mut f = Fixture::new();
    let (c, anna, _) = scenario(&mut f);
    let wrong = f.recordings.with_file_name("recordigns");
    let request = PurgeRequest {
        campaign: None,
        cutoff: Cutoff::at(day(50)),
        recordings: &wrong,
        dry_run: false,
    };
    let err = f.store.purge(&request).unwrap_err();
    assert!(
        matches!(&err, StoreError::NoRecordingsFolder(p) if *p == wrong),
        "{err}"
    );
    // Nothing was removed: the rows still point at the real files.
    assert_eq!(f.numbers().len(), 4);
    assert!(f.file(&anna).exists());
    assert_eq!(
        f.store.person_export(c, ANNA).unwrap().calls[0]
            .recordings
            .len(),
        1
    );
    let erase = f.store.erase_person(ANNA, &wrong, false).unwrap_err();
    assert!(matches!(erase, StoreError::NoRecordingsFolder(_)));
}

#[test]
fn purge_removes_the_emptied_folder_of_a_recording() {
    let mut f = Fixture::new();
    let c = f.campaign("Oulu 2021");
    let call = f.store.record_call_start(c, ANNA, day(1)).unwrap();
    let name = Path::new("by-call").join(call.as_str()).join("wish.wav");
    std::fs::create_dir_all(f.recordings.join(name.parent().unwrap())).unwrap();
    std::fs::write(f.recordings.join(&name), b"RIFF").unwrap();
    f.store.record_recording(&call, "wish", &name, 100).unwrap();

    f.purge(None, 50, false);
    assert!(!f.recordings.join("by-call").exists());
    assert!(f.recordings.exists(), "the recordings folder itself stays");
}

#[test]
fn retention_in_days_and_dates() {
    let now = day(100);
    assert_eq!(Cutoff::retention_days(30, now).time(), day(70));
    assert_eq!(
        Cutoff::retention_days(u32::MAX, now).time(),
        SystemTime::UNIX_EPOCH
    );
    let new_year = Cutoff::before_date("2026-01-01").unwrap().time();
    assert_eq!(
        new_year.duration_since(SystemTime::UNIX_EPOCH).unwrap(),
        Duration::from_secs(1_767_225_600)
    );
    for bad in ["2026-02-30", "1.1.2026", "", "2026-1"] {
        assert!(Cutoff::before_date(bad).is_err(), "{bad}");
    }
}

/// Anna in two campaigns, opted out in the first; Bert in the first.
fn two_campaigns(f: &mut Fixture) -> [CampaignId; 2] {
    let first = f.campaign("Oulu 2021");
    let second = f.campaign("Oulu 2022");
    f.call(first, ANNA, day(1), Disposition::Completed);
    let opt_out = f.store.record_call_start(first, ANNA, day(2)).unwrap();
    f.store
        .finish_call(
            &opt_out,
            Disposition::OptedOut,
            Some(200),
            Some("fi"),
            day(2),
        )
        .unwrap();
    f.call(second, ANNA, day(3), Disposition::Completed);
    f.call(first, BERT, day(1), Disposition::Completed);
    [first, second]
}

#[test]
fn erase_removes_one_persons_data_and_nobody_elses() {
    let mut f = Fixture::new();
    let [first, second] = two_campaigns(&mut f);
    let bert_before = f.store.person_export(first, BERT).unwrap();
    let carl_before = f.store.person_export(first, CARL).unwrap();
    let anna_files: Vec<PathBuf> = f
        .store
        .export_person(ANNA)
        .unwrap()
        .campaigns
        .iter()
        .flat_map(|(_, d)| d.calls.iter().flat_map(|c| c.recordings.clone()))
        .map(|r| f.recordings.join(r.path))
        .collect();
    assert_eq!(anna_files.len(), 2);

    let recordings = f.recordings.clone();
    let erased = f.store.erase_person(ANNA, &recordings, false).unwrap();
    assert_eq!(erased.campaigns.len(), 2);
    let (id, in_first) = &erased.campaigns[0];
    assert_eq!(*id, first);
    assert!(in_first.contact);
    assert_eq!(in_first.calls, 2);
    assert_eq!(in_first.answers, 3);
    assert_eq!(erased.campaigns[1].0, second);
    assert_eq!(erased.files.deleted, 2);
    assert_eq!(erased.files.bytes_freed, 2_000);
    assert!(erased.do_not_call_kept && !erased.do_not_call_erased);
    for file in &anna_files {
        assert!(!file.exists(), "{}", file.display());
    }

    let anna = f.store.export_person(ANNA).unwrap();
    assert!(anna.campaigns.is_empty());
    assert!(
        anna.do_not_call.is_some(),
        "kept so she is not called again"
    );
    assert!(!f.numbers().contains(&ANNA.to_owned()));
    assert_eq!(f.store.person_export(first, BERT).unwrap(), bert_before);
    assert_eq!(f.store.person_export(first, CARL).unwrap(), carl_before);
    let bert_file = &bert_before.calls[0].recordings[0].path;
    assert!(f.recordings.join(bert_file).exists());

    // Erasing again finds nothing; asked to, it forgets the opt-out too.
    let recordings = f.recordings.clone();
    let again = f.store.erase_person(ANNA, &recordings, true).unwrap();
    assert!(again.campaigns.is_empty());
    assert!(again.do_not_call_erased);
    assert!(f.store.do_not_call(ANNA).unwrap().is_none());
}

#[test]
fn export_holds_everything_about_the_person_and_nothing_about_others() {
    let mut f = Fixture::new();
    let [first, second] = two_campaigns(&mut f);
    let bert_calls = f.store.person_export(first, BERT).unwrap().calls;
    let bert_pseudonym = f.store.pseudonym(first, BERT).unwrap();

    let export = f.store.export_person(ANNA).unwrap();
    assert_eq!(export.e164, ANNA);
    assert_eq!(export.campaigns.len(), 2);
    assert_eq!(export.campaigns[0].0.id, first);
    assert_eq!(export.campaigns[1].0.id, second);
    assert_eq!(export.campaigns[0].1.calls.len(), 2);
    assert_eq!(
        export.campaigns[0].1,
        f.store.person_export(first, ANNA).unwrap()
    );
    assert!(export.do_not_call.is_some());

    let json = export.to_json(&f.recordings);
    let text = json.to_string();
    assert_eq!(json["number"], ANNA);
    assert_eq!(json["campaigns"][0]["queue_entry"]["number"], ANNA);
    assert_eq!(json["campaigns"][0]["queue_entry"]["attributes"]["age"], 71);
    assert_eq!(json["campaigns"][0]["calls"].as_array().unwrap().len(), 2);
    let answers = &json["campaigns"][0]["calls"][0]["answers"];
    assert_eq!(answers[1]["question"], "pandemic");
    assert_eq!(answers[1]["value"], "4");
    let recording = json["campaigns"][0]["calls"][0]["recordings"][0]["path"]
        .as_str()
        .unwrap();
    assert!(Path::new(recording).exists(), "{recording}");
    assert!(json["do_not_call"]["reason"]
        .as_str()
        .unwrap()
        .contains("opted out"));
    assert!(json["do_not_call"]["since"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    for other in [
        BERT,
        CARL,
        DORA,
        bert_pseudonym.as_str(),
        bert_calls[0].id.as_str(),
    ] {
        assert!(!text.contains(other), "export leaks {other}");
    }

    let nobody = f.store.export_person("+358409990000").unwrap();
    assert!(nobody.is_empty());
}
