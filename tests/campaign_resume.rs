//! `kuulo campaign run` killed with SIGKILL mid-campaign and run again:
//! it resumes from the store, no contact is called more often than the
//! retry policy allows, and no answer stored before the kill is lost.
//! The callees are `kuulo residents`, a separate process, as a trunk
//! would be.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{root, Proc};

const MAX_ATTEMPTS: i64 = 2;

/// 30 adults to call, and two numbers the exclusions must keep out.
fn contacts() -> String {
    let mut csv = String::from("phone;age;kind\n");
    for i in 0..30 {
        csv.push_str(&format!("040 555 {:04};{};person\n", 1000 + i, 20 + i));
    }
    csv.push_str("040 555 9001;15;person\n040 555 9002;;business\n");
    csv
}

/// Fixed ports below the ephemeral range, spread by process id; `slot`
/// keeps this file's tests apart.
fn ports(slot: u16) -> (u16, u16) {
    let base = 23_000 + (std::process::id() % 12) as u16 * 200 + slot * 100;
    (base, base + 10)
}

fn residents(sip_port: u16, rtp_base: u16, tts: &Path) -> Proc {
    let mut proc = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_kuulo"))
            .arg("residents")
            .args(["--bind", &format!("127.0.0.1:{sip_port}")])
            .args(["--rtp-base", &rtp_base.to_string(), "--count", "40"])
            .arg("--script")
            .arg(root().join("tests/surveys/keys/survey.toml"))
            // Knowing the prompts' lengths keeps residents in step when
            // the caller is slow to start a prompt under load.
            .arg("--speech-prompts")
            .arg("--tts-cache")
            .arg(tts)
            .args([
                "--fast",
                "--seed",
                "11",
                "--busy",
                "0.2",
                "--no-answer",
                "0.2",
            ])
            .args(["--duration", "300"]),
    );
    let stderr = proc.0.as_mut().unwrap().stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().expect("a line on stderr").unwrap();
    assert!(first.contains("answering on"), "{first}");
    std::thread::spawn(move || for _ in lines {});
    proc
}

fn campaign(dir: &Path, sip_port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kuulo"));
    cmd.args(["campaign", "run"])
        .arg("--script")
        .arg(root().join("tests/surveys/keys/survey.toml"))
        .arg("--contacts")
        .arg(dir.join("contacts.csv"))
        .arg("--db")
        .arg(dir.join("results.sqlite"))
        .arg("--tts-cache")
        .arg(dir.join("tts"))
        .args(["--trunk", &format!("sip:127.0.0.1:{sip_port}")])
        .args(["--cps", "8", "--max-concurrent", "15", "--hours", "always"])
        .args(["--max-attempts", &MAX_ATTEMPTS.to_string()])
        .args([
            "--retry-busy",
            "1s",
            "--retry-no-answer",
            "1s",
            "--retry-failed",
            "1s",
        ])
        .args(["--ring-secs", "2", "--idle-audio", "none", "--quiet"]);
    cmd
}

fn count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap_or(0)
}

/// (call id, question, value) of every stored answer.
fn answers(db: &Path) -> BTreeSet<(String, String, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT call_id, question, value FROM answers")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_campaign_killed_mid_run_resumes_without_overcalling_or_losing_answers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("contacts.csv"), contacts()).unwrap();
    let db = dir.path().join("results.sqlite");
    let (sip_port, rtp_base) = ports(0);
    let callees = residents(sip_port, rtp_base, &dir.path().join("tts"));

    // First run: killed once a third of the contacts have had a call and
    // some answers are in.
    let mut first = Proc::spawn(&mut campaign(dir.path(), sip_port));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(
            Instant::now() < deadline,
            "the first run never got going: {} calls",
            count(&db, "SELECT COUNT(*) FROM calls")
        );
        let child = first.0.as_mut().unwrap();
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the first run ended by itself ({status}) before the kill");
        }
        if db.exists()
            && count(&db, "SELECT COUNT(*) FROM calls") >= 10
            && count(&db, "SELECT COUNT(*) FROM answers") >= 3
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGKILL: no handler runs, nothing is flushed but what was committed.
    first.0.as_mut().unwrap().kill().unwrap();
    first.0.take().unwrap().wait().unwrap();
    let before = answers(&db);
    let open_calls = count(&db, "SELECT COUNT(*) FROM calls WHERE ended_at IS NULL");
    assert!(!before.is_empty());

    // Second run: the same command, to the end.
    let out = Proc::spawn(&mut campaign(dir.path(), sip_port))
        .wait("the resumed campaign", Duration::from_secs(240));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "resumed run failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("already in the campaign"),
        "the second import added nothing: {stdout}"
    );
    drop(callees);

    // Every contact to call is done, none called more often than allowed.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT c.e164, c.state, COUNT(k.id) FROM contacts c
             LEFT JOIN calls k ON k.campaign_id = c.campaign_id AND k.pseudonym = c.pseudonym
             GROUP BY c.e164",
        )
        .unwrap();
    let per_contact: BTreeMap<String, (String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(per_contact.len(), 32);
    for (number, (state, calls)) in &per_contact {
        if number.ends_with("9001") || number.ends_with("9002") {
            assert_eq!((state.as_str(), *calls), ("excluded", 0), "{number}");
            continue;
        }
        assert_ne!(state, "pending", "{number} was left in the queue");
        assert!(
            (1..=MAX_ATTEMPTS).contains(calls),
            "{number} called {calls} times (at most {MAX_ATTEMPTS})"
        );
    }
    // Answers stored before the kill survive the resume.
    let after = answers(&db);
    let lost: Vec<_> = before.difference(&after).collect();
    assert!(lost.is_empty(), "answers lost in the resume: {lost:?}");
    assert!(
        after.len() > before.len(),
        "the resumed run stored answers too"
    );
    // Calls cut by the kill stay counted as attempts; only they may lack
    // an end.
    assert!(
        count(&db, "SELECT COUNT(*) FROM calls WHERE ended_at IS NULL") <= open_calls,
        "the resumed run left calls open"
    );
}

#[test]
fn ctrl_c_lets_calls_under_way_finish_and_the_rerun_does_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("contacts.csv"), contacts()).unwrap();
    let db = dir.path().join("results.sqlite");
    let (sip_port, rtp_base) = ports(1);
    let callees = residents(sip_port, rtp_base, &dir.path().join("tts"));

    let first = Proc::spawn(&mut campaign(dir.path(), sip_port));
    let deadline = Instant::now() + Duration::from_secs(90);
    while !(db.exists() && count(&db, "SELECT COUNT(*) FROM calls") >= 8) {
        assert!(Instant::now() < deadline, "the first run never got going");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = first.0.as_ref().unwrap().id() as libc::pid_t;
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let out = first.wait("the interrupted campaign", Duration::from_secs(90));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(stderr.contains("no new calls"), "{stderr}");
    assert!(stdout.contains("still to call"), "{stdout}");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM calls WHERE ended_at IS NULL"),
        0,
        "every call under way at the Ctrl-C ran to its end"
    );
    let placed = count(&db, "SELECT COUNT(*) FROM calls");
    assert!(placed < 40, "it stopped placing calls: {placed}");

    let out = Proc::spawn(&mut campaign(dir.path(), sip_port))
        .wait("the resumed campaign", Duration::from_secs(240));
    assert!(out.status.success());
    drop(callees);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM contacts WHERE state IN ('pending', 'in_progress')"
        ),
        0,
        "the rerun called everyone left"
    );
    assert!(count(&db, "SELECT MAX(attempts) FROM contacts") <= MAX_ATTEMPTS);
}
