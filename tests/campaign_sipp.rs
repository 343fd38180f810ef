//! A survey campaign against a real SIP peer: the kuulo-campaign dialler
//! calls through the survey engine into one sipp UAS
//! (tests/sipp/uas_campaign.xml) that answers and presses keys as RFC 2833
//! digits, answers and hangs up early, is busy, or rings until cancelled,
//! depending on the dialled number. Afterwards the store must hold the
//! right disposition for every attempt, the keys as answers under the
//! right questions, and exactly as many attempts per contact as the retry
//! policy allows.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kuulo::campaign::run::load_dialer;
use kuulo::campaign::{
    parse_contacts, CallingHours, DialerConfig, ExclusionPolicy, Exclusions, RetryPolicy, Store,
};
use kuulo::engine::campaign::CampaignDialler;
use kuulo::engine::driver::{run_app, Bounds};
use kuulo::engine::store::{campaign_for, StoreApplier, StoreWorker};
use kuulo::ivr::SurveyScript;
use kuulo::sip::transport::Peer;
use support::{dialling_engine, root, sipp_available, Proc};

/// The last digit picks the callee's behaviour in uas_campaign.xml.
const CONTACTS: &str = "puhelin;ikä;tyyppi;kieli;markkinointikielto
040 100 0001;35;henkilö;en;
040 100 0002;61;henkilö;en;
040 100 0003;44;henkilö;en;
040 100 0005;52;henkilö;en;
040 100 0006;29;henkilö;en;
";

const MAX_ATTEMPTS: u32 = 2;

/// Busy and no-answer contacts are called `MAX_ATTEMPTS` times, answered
/// ones once.
const EXPECTED_CALLS: u64 = 3 + 2 * MAX_ATTEMPTS as u64;

#[test]
fn campaign_against_sipp_stores_dispositions_answers_and_retries() {
    if !sipp_available() {
        return;
    }
    let started = Instant::now();
    let script_path = root().join("tests/surveys/keys/survey.toml");
    let script = Arc::new(SurveyScript::load(&script_path).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("results.sqlite");

    let list = parse_contacts(CONTACTS.as_bytes()).unwrap();
    let mut store = Store::open(&db).unwrap();
    let campaign = campaign_for(&mut store, &script.id, &script.title).unwrap();
    let exclusions = Exclusions::new(ExclusionPolicy::default());
    let today = chrono::Local::now().date_naive();
    let summary = kuulo::campaign::exclusions::queue_contacts(
        &mut store,
        campaign,
        &list.contacts,
        &exclusions,
        today,
    )
    .unwrap();
    assert_eq!(summary.queued, 5, "{summary:?}");

    // Fixed ports below the kernel's ephemeral range, so no port-0 socket of
    // a parallel test can take them; spread by process id across runs.
    // sipp's [auto_media_port] takes 4 ports per call above the media base.
    let base = 15_000 + (std::process::id() % 40) as u16 * 50;
    let (sip_port, media_port) = (base, base + 10);
    let stats = dir.path().join("sipp_stats.csv");
    let sipp = Proc::spawn(
        Command::new("sipp")
            .arg("-sf")
            .arg(root().join("tests/sipp/uas_campaign.xml"))
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
            .args(["-m", &EXPECTED_CALLS.to_string()])
            .args(["-timeout", "50s", "-timeout_error", "-nostdin"])
            .arg("-trace_stat")
            .arg("-stf")
            .arg(&stats),
    );
    // sipp needs a moment to bind before the first INVITE comes.
    std::thread::sleep(Duration::from_millis(500));
    let trunk: std::net::SocketAddr = ([127, 0, 0, 1], sip_port).into();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dialler = rt.block_on(async {
        let (mut engine, sockets) = dialling_engine(&script).await;
        let worker =
            StoreWorker::spawn(StoreApplier::new(store, campaign, dir.path().join("rec"))).unwrap();
        let dialer_config = DialerConfig {
            calls_per_second: 10.0,
            max_concurrent: 10,
            hours: CallingHours::always(chrono_tz::Europe::Helsinki),
            retry: RetryPolicy {
                max_attempts: MAX_ATTEMPTS,
                busy: Some(Duration::from_secs(1)),
                no_answer: Some(Duration::from_secs(1)),
                failed: None,
                backoff_factor: 1,
                ..RetryPolicy::default()
            },
            ..DialerConfig::default()
        };
        let dialler_store = Store::open(&db).unwrap();
        let dialer = load_dialer(&dialler_store, campaign, dialer_config, exclusions).unwrap();
        let mut dialler = CampaignDialler::new(
            dialler_store,
            campaign,
            dialer,
            Peer::udp(trunk),
            trunk.to_string(),
            // The ring timeout that turns the ringing callee into no answer.
            Duration::from_secs(2),
        );
        let bounds = Bounds {
            max_calls: Some(EXPECTED_CALLS),
            until: Some(Instant::now() + Duration::from_secs(45)),
        };
        run_app(
            &mut engine,
            &sockets,
            &worker,
            bounds,
            std::future::pending(),
            &mut dialler,
        )
        .await
        .unwrap();
        assert_eq!(worker.finish().errors, 0);
        dialler.close();
        dialler
    });
    let sipp = sipp.wait("sipp", Duration::from_secs(20));
    assert_eq!(dialler.errors(), 0);
    assert!(dialler.is_finished(), "{:?}", dialler.stats());
    assert_eq!(
        sipp_total_calls(&stats),
        EXPECTED_CALLS,
        "calls sipp received"
    );

    let conn = rusqlite::Connection::open(&db).unwrap();
    // Every attempt of every contact, in order, by the number's last digit.
    let mut stmt = conn
        .prepare(
            "SELECT substr(k.e164, -1), c.disposition, c.sip_status
             FROM calls c JOIN contacts k
               ON k.campaign_id = c.campaign_id AND k.pseudonym = c.pseudonym
             ORDER BY k.e164, c.started_at, c.rowid",
        )
        .unwrap();
    let attempts: Vec<(String, String, Option<i64>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let row = |digit: &str, disposition: &str, status: Option<i64>| {
        (digit.to_string(), disposition.to_string(), status)
    };
    assert_eq!(
        attempts,
        vec![
            row("1", "completed", None),
            row("2", "completed", None),
            row("3", "partial", None),
            row("5", "busy", Some(486)),
            row("5", "busy", Some(486)),
            row("6", "no_answer", Some(487)),
            row("6", "no_answer", Some(487)),
        ]
    );
    // Retries wait out the backoff after the previous attempt's end, and
    // the ringing callee is given the ring timeout (the store's wall clock
    // and the dialler's monotonic timer may differ by a few ms).
    let mut stmt = conn
        .prepare(
            "SELECT substr(k.e164, -1), c.started_at, c.ended_at
             FROM calls c JOIN contacts k
               ON k.campaign_id = c.campaign_id AND k.pseudonym = c.pseudonym
             WHERE substr(k.e164, -1) IN ('5', '6')
             ORDER BY k.e164, c.started_at",
        )
        .unwrap();
    let times: Vec<(String, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for pair in times.chunks(2) {
        let [(digit, _, first_end), (_, second_start, _)] = pair else {
            panic!("two attempts each: {times:?}");
        };
        assert!(
            second_start - first_end >= 1000,
            "contact {digit} retried {} ms after its first attempt: {times:?}",
            second_start - first_end
        );
    }
    for (digit, start, end) in &times {
        if digit == "6" {
            assert!(end - start >= 1900, "rang {} ms: {times:?}", end - start);
        }
    }
    let mut stmt = conn
        .prepare("SELECT substr(e164, -1), attempts, state, last_disposition FROM contacts ORDER BY e164")
        .unwrap();
    let contacts: Vec<(String, i64, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let contact = |digit: &str, attempts: i64, disposition: &str| {
        (
            digit.to_string(),
            attempts,
            "done".to_string(),
            disposition.to_string(),
        )
    };
    assert_eq!(
        contacts,
        vec![
            contact("1", 1, "completed"),
            contact("2", 1, "completed"),
            contact("3", 1, "partial"),
            contact("5", i64::from(MAX_ATTEMPTS), "busy"),
            contact("6", i64::from(MAX_ATTEMPTS), "no_answer"),
        ]
    );

    // The keys, stored under the questions they answered.
    let mut stmt = conn
        .prepare(
            "SELECT substr(k.e164, -1), a.question, a.value
             FROM answers a JOIN calls c ON c.id = a.call_id
             JOIN contacts k ON k.campaign_id = c.campaign_id AND k.pseudonym = c.pseudonym
             ORDER BY k.e164, a.question",
        )
        .unwrap();
    let answers: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut expected = Vec::new();
    for digit in ["1", "2"] {
        // By question name, as the query sorts them.
        for (q, v) in [
            ("again", "no"),
            ("comment", "no answer"),
            ("consent", "yes"),
            ("rating", "4"),
        ] {
            expected.push((digit.to_string(), q.to_string(), v.to_string()));
        }
    }
    expected.push(("3".into(), "consent".into(), "yes".into()));
    assert_eq!(answers, expected);
    assert!(
        sipp.status.success(),
        "sipp saw a failed call: {:?}\nstdout:\n{}\nstderr:\n{}",
        sipp.status,
        String::from_utf8_lossy(&sipp.stdout),
        String::from_utf8_lossy(&sipp.stderr)
    );
    eprintln!("campaign against sipp took {:?}", started.elapsed());
}

/// sipp's count of calls created, from the last line of its
/// `-trace_stat` CSV (`;`-separated, a header line naming the columns).
fn sipp_total_calls(stats: &Path) -> u64 {
    let text = std::fs::read_to_string(stats).expect("sipp's statistics file");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("a header line").split(';').collect();
    let last: Vec<&str> = lines
        .next_back()
        .expect("a statistics line")
        .split(';')
        .collect();
    let column = header
        .iter()
        .position(|h| *h == "TotalCallCreated")
        .expect("a TotalCallCreated column");
    last[column].trim().parse().expect("a call count")
}
