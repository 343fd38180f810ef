//! A survey campaign end to end over loopback: contacts imported from CSV
//! with exclusions, the kuulo-campaign dialler pacing calls through the
//! survey engine, simulated residents answering on their own sockets, and
//! the results store afterwards: one call row per attempt, every excluded
//! number never dialled, answers stored for completed calls.

mod support;

use std::path::Path;
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
use support::{dialling_engine, Residents};

const CONTACTS: &str = "puhelin;ikä;tyyppi;kieli;markkinointikielto
040 100 0001;35;henkilö;fi;
040 100 0002;61;henkilö;sv;
040 100 0003;15;henkilö;fi;
040 100 0004;44;yritys;fi;
040 100 0005;52;henkilö;fi;x
040 100 0006;29;henkilö;en;
040 100 0007;73;henkilö;fi;
040 100 0008;38;henkilö;fi;
040 100 0009;47;henkilö;fi;
040 100 0010;33;henkilö;sv;
040 100 0011;58;henkilö;fi;
040 100 0012;66;henkilö;fi;
";

#[test]
fn campaign_dials_imported_contacts_through_the_engine() {
    let script_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/surveys/digital-services/survey.toml");
    let script = Arc::new(SurveyScript::load(&script_path).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("results.sqlite");

    // Import: 12 rows; a minor, a business and a marketing ban excluded.
    let list = parse_contacts(CONTACTS.as_bytes()).unwrap();
    assert_eq!(list.contacts.len(), 12);
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
    assert_eq!(summary.queued, 9, "{summary:?}");

    // The residents, on their own thread and runtime, on fixed ports below
    // the kernel's ephemeral range so no test's port-0 socket can take them.
    let residents = Residents::start(
        Arc::clone(&script),
        26_000 + (std::process::id() % 25) as u16 * 200,
    );
    let pop_sip = residents.sip;

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
            max_concurrent: 20,
            hours: CallingHours::always(chrono_tz::Europe::Helsinki),
            retry: RetryPolicy {
                max_attempts: 1,
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
            Peer::udp(pop_sip),
            pop_sip.to_string(),
            Duration::from_secs(5),
        );
        let bounds = Bounds {
            max_calls: Some(9),
            until: Some(Instant::now() + Duration::from_secs(120)),
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
    let (given, stats) = residents.stop();

    assert_eq!(dialler.errors(), 0);
    assert!(dialler.is_finished(), "{:?}", dialler.stats());
    assert_eq!(
        stats.calls, 9,
        "only queued contacts are dialled: {stats:?}"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT COUNT(*) FROM calls"),
        9,
        "one call row per attempt"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM calls WHERE ended_at IS NULL"),
        0,
        "every call's end is stored"
    );
    let answers_given = given.len() as i64;
    assert_eq!(
        count("SELECT COUNT(*) FROM answers"),
        answers_given,
        "{given:?}"
    );
}
