//! `kuulo purge` and `kuulo person export|erase` run as a data-protection
//! officer runs them: the built binary on a store made through the public
//! API, then the file read back with plain SQL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use kuulo_campaign::{CallId, CampaignId, Disposition, NewCampaign, QueueEntry, Store};
use kuulo_ivr::AnswerValue;

const ANNA: &str = "+358401234567";
/// Anna's number as people write it.
const ANNA_LOCAL: &str = "040 123 4567";
const BERT: &str = "+358501112223";
const CARL: &str = "+358401110000";

/// 2023-11-14, long past any retention period.
fn long_ago(days: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + days * 86_400)
}

struct Fixture {
    dir: tempfile::TempDir,
    campaign: CampaignId,
    anna_call: CallId,
    bert_call: CallId,
}

impl Fixture {
    /// Anna answered long ago and opted out of later campaigns; Bert
    /// answered yesterday; Carl was never called. Recordings lie in
    /// `recordings` next to the store, where `kuulo serve` puts them.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("recordings")).unwrap();
        let mut store = Store::open(dir.path().join("results.sqlite")).unwrap();
        let campaign = store
            .create_campaign(&NewCampaign {
                script_id: "digital-services",
                title: "Oulu 2023",
                created: long_ago(0),
                retention_until: None,
            })
            .unwrap();
        let entries: Vec<QueueEntry<'_>> = [ANNA, BERT, CARL]
            .into_iter()
            .map(|e164| QueueEntry {
                e164,
                attributes: r#"{"age":40}"#,
                exclusion: None,
            })
            .collect();
        store.queue_contacts(campaign, &entries).unwrap();
        let yesterday = SystemTime::now() - Duration::from_secs(86_400);
        let mut fixture = Fixture {
            campaign,
            anna_call: CallId::new(""),
            bert_call: CallId::new(""),
            dir,
        };
        fixture.anna_call = fixture.answered(&mut store, ANNA, long_ago(1));
        fixture.bert_call = fixture.answered(&mut store, BERT, yesterday);
        store
            .mark_do_not_call(ANNA, "asked on the phone", long_ago(1))
            .unwrap();
        fixture
    }

    fn answered(&self, store: &mut Store, number: &str, at: SystemTime) -> CallId {
        let call = store.record_call_start(self.campaign, number, at).unwrap();
        store
            .store_answer(&call, "pandemic", &AnswerValue::Scale(4), at)
            .unwrap();
        let name = PathBuf::from(format!("{call}-wish.wav"));
        std::fs::write(self.dir.path().join("recordings").join(&name), [0u8; 1_000]).unwrap();
        store.record_recording(&call, "wish", &name, 2_000).unwrap();
        store
            .finish_call(&call, Disposition::Completed, Some(200), Some("fi"), at)
            .unwrap();
        call
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("results.sqlite")
    }

    fn file(&self, call: &CallId) -> PathBuf {
        self.dir
            .path()
            .join("recordings")
            .join(format!("{call}-wish.wav"))
    }

    /// Runs `kuulo` with `--db` put after the (sub)subcommand words.
    fn kuulo(&self, args: &[&str]) -> Output {
        let words = if args.first() == Some(&"person") {
            2
        } else {
            1
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_kuulo"));
        command
            .args(&args[..words])
            .arg("--db")
            .arg(self.db())
            .args(&args[words..]);
        kuulo_output(command)
    }

    /// One value of plain SQL on the store file.
    fn sql(&self, query: &str) -> i64 {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        conn.query_row(query, [], |r| r.get(0)).unwrap()
    }

    fn numbers(&self) -> Vec<String> {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        let mut stmt = conn
            .prepare("SELECT e164 FROM contacts ORDER BY id")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }
}

fn kuulo_output(mut command: Command) -> Output {
    command.output().expect("run the kuulo binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output) -> String {
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    stdout
}

#[test]
fn purge_before_a_date_deletes_old_numbers_and_recordings_only() {
    let f = Fixture::new();
    let out = f.kuulo(&["purge", "--before", "2025-01-01"]);
    let stdout = ok(&out);
    assert!(
        stdout.contains("data collected before 2025-01-01T00:00:00.000Z"),
        "{stdout}"
    );
    assert!(
        stdout.contains("removed 2 numbers (1 still waiting for a call)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("deleted 1 recording (1000 bytes), 0 missing"),
        "{stdout}"
    );

    assert_eq!(f.numbers(), vec![BERT.to_owned()]);
    assert_eq!(f.sql("SELECT sum(count) FROM purged_contacts"), 2);
    assert_eq!(f.sql("SELECT count(*) FROM recordings"), 1);
    assert_eq!(f.sql("SELECT count(*) FROM answers"), 2, "answers stay");
    assert!(!f.file(&f.anna_call).exists());
    assert!(f.file(&f.bert_call).exists());
    assert_eq!(
        f.sql("SELECT count(*) FROM campaigns WHERE secret IS NOT NULL"),
        1,
        "Bert's recent call still needs the secret"
    );

    // A second run finds nothing more.
    let again = ok(&f.kuulo(&["purge", "--before", "2025-01-01"]));
    assert!(
        again.contains("total: removed 0 numbers, deleted 0 recordings"),
        "{again}"
    );
}

#[test]
fn purge_dry_run_deletes_nothing() {
    let f = Fixture::new();
    let out = f.kuulo(&["purge", "--retention-days", "30", "--dry-run"]);
    let stdout = ok(&out);
    assert!(stdout.contains("dry run"), "{stdout}");
    assert!(stdout.contains("would remove 2 numbers"), "{stdout}");
    assert!(
        stdout.contains("would delete 1 recording (1000 bytes)"),
        "{stdout}"
    );
    assert_eq!(f.numbers().len(), 3);
    assert_eq!(f.sql("SELECT count(*) FROM recordings"), 2);
    assert!(f.file(&f.anna_call).exists());
}

#[test]
fn purge_of_everything_deletes_the_campaign_secret() {
    let f = Fixture::new();
    let out = f.kuulo(&[
        "purge",
        "--campaign",
        &f.campaign.to_string(),
        "--retention-days",
        "0",
    ]);
    let stdout = ok(&out);
    assert!(stdout.contains("removed 3 numbers"), "{stdout}");
    assert!(stdout.contains("pseudonym secret"), "{stdout}");
    assert!(f.numbers().is_empty());
    assert_eq!(
        f.sql("SELECT count(*) FROM campaigns WHERE secret IS NULL"),
        1
    );
    // The funnel's figures survive.
    let store = Store::open(f.db()).unwrap();
    let funnel = store.funnel(f.campaign).unwrap();
    assert_eq!((funnel.contacts, funnel.completed), (3, 2));

    // Anna's answers can no longer be found from her number.
    let export = ok(&f.kuulo(&["person", "export", ANNA]));
    assert!(export.contains("\"purged_campaigns\""), "{export}");
    assert!(!export.contains(f.anna_call.as_str()), "{export}");
}

#[test]
fn purge_needs_a_valid_cutoff() {
    let f = Fixture::new();
    let none = f.kuulo(&["purge"]);
    assert_eq!(none.status.code(), Some(2));
    let bad = f.kuulo(&["purge", "--before", "31.12.2025"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("YYYY-MM-DD"),
        "{}",
        text(&bad.stderr)
    );
    let both = f.kuulo(&["purge", "--before", "2025-01-01", "--retention-days", "3"]);
    assert_eq!(both.status.code(), Some(2));
    assert_eq!(f.numbers().len(), 3);
}

#[test]
fn person_export_prints_one_numbers_data_as_json() {
    let f = Fixture::new();
    let stdout = ok(&f.kuulo(&["person", "export", ANNA_LOCAL]));
    assert!(stdout.trim_start().starts_with('{'), "{stdout}");
    for expected in [
        format!("\"number\": \"{ANNA}\""),
        f.anna_call.to_string(),
        "\"queue_entry\"".to_owned(),
        "\"pandemic\"".to_owned(),
        "\"asked on the phone\"".to_owned(),
        f.file(&f.anna_call).display().to_string(),
    ] {
        assert!(stdout.contains(&expected), "missing {expected} in {stdout}");
    }
    for other in [BERT, CARL, f.bert_call.as_str()] {
        assert!(!stdout.contains(other), "leaks {other}: {stdout}");
    }
    // Nothing changed.
    assert_eq!(f.numbers().len(), 3);
}

#[test]
fn person_erase_removes_one_number_and_keeps_the_opt_out() {
    let f = Fixture::new();
    let stdout = ok(&f.kuulo(&["person", "erase", ANNA_LOCAL]));
    assert!(
        stdout.contains(&format!("kuulo person erase: {ANNA}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("queue entry with the number, 1 call, 1 answer, 1 recording entry"),
        "{stdout}"
    );
    assert!(
        stdout.contains("deleted 1 recording (1000 bytes)"),
        "{stdout}"
    );
    assert!(stdout.contains("do-not-call entry kept"), "{stdout}");

    assert_eq!(f.numbers(), vec![BERT.to_owned(), CARL.to_owned()]);
    assert_eq!(f.sql("SELECT count(*) FROM calls"), 1);
    assert_eq!(f.sql("SELECT count(*) FROM answers"), 1);
    assert_eq!(f.sql("SELECT count(*) FROM recordings"), 1);
    assert_eq!(f.sql("SELECT count(*) FROM do_not_call"), 1);
    assert!(!f.file(&f.anna_call).exists());
    assert!(f.file(&f.bert_call).exists());

    let again = ok(&f.kuulo(&["person", "erase", ANNA, "--erase-do-not-call"]));
    assert!(again.contains("do-not-call entry erased"), "{again}");
    assert_eq!(f.sql("SELECT count(*) FROM do_not_call"), 0);
    assert_eq!(f.numbers().len(), 2);
}

#[test]
fn person_commands_refuse_a_bad_number_or_a_missing_store() {
    let f = Fixture::new();
    let bad = f.kuulo(&["person", "erase", "12ab"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("not a phone number"),
        "{}",
        text(&bad.stderr)
    );

    let missing = f.dir.path().join("typo.sqlite");
    let mut command = Command::new(env!("CARGO_BIN_EXE_kuulo"));
    command
        .args(["person", "export", "--db"])
        .arg(&missing)
        .arg(ANNA);
    let out = kuulo_output(command);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no results store"),
        "{}",
        text(&out.stderr)
    );
    assert!(!Path::new(&missing).exists(), "no empty store is created");
    assert_eq!(f.numbers().len(), 3);
}
