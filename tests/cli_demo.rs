//! `kuulo demo` as a user runs it, with a smaller population: the seed
//! alone predicts how many residents are busy, never answer, decline,
//! hang up midway and complete; the results store must hold exactly those
//! figures after real SIP, RTP and DTMF between the two sides.

mod support;

use std::process::Command;
use std::time::Duration;

use kuulo::sim::{ResidentPopulation, Shares};
use support::Proc;

const RESIDENTS: u64 = 150;
const SEED: u64 = 7;

#[test]
fn the_demo_stores_exactly_what_the_seed_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let shares = Shares {
        busy: 0.1,
        no_answer: 0.15,
        decline: 0.12,
        hang_up_midway: 0.1,
        wrong_key: 0.2,
        barge_in: 0.7,
    };
    let rtp_base = 19_000 + (std::process::id() % 10) as u16 * 400;
    let html = dir.path().join("report.html");
    let out = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_kuulo"))
            .arg("demo")
            .args(["--residents", &RESIDENTS.to_string()])
            .args(["--seed", &SEED.to_string()])
            .args(["--busy", &shares.busy.to_string()])
            .args(["--no-answer", &shares.no_answer.to_string()])
            .args(["--decline", &shares.decline.to_string()])
            .args(["--hang-up", &shares.hang_up_midway.to_string()])
            .args(["--wrong-key", &shares.wrong_key.to_string()])
            .args(["--barge-in", &shares.barge_in.to_string()])
            .args(["--rtp-base", &rtp_base.to_string(), "--quiet"])
            .arg("--dir")
            .arg(dir.path().join("demo"))
            .arg("--html")
            .arg(&html),
    )
    .wait("kuulo demo", Duration::from_secs(240));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("demo/demo.json")).unwrap())
            .unwrap();
    let stored = |what: &str| summary["checks"][what]["stored"].as_u64().unwrap();
    let drawn = ResidentPopulation::predict(SEED, &shares, RESIDENTS);
    assert_eq!(stored("calls"), RESIDENTS, "{summary}");
    assert_eq!(stored("busy"), drawn.busy, "{summary}");
    assert_eq!(stored("no_answer"), drawn.no_answer, "{summary}");
    assert_eq!(stored("answered"), drawn.answered, "{summary}");
    assert_eq!(stored("declined"), drawn.declined, "{summary}");
    assert_eq!(stored("hung_up"), drawn.hang_up_midway, "{summary}");
    assert_eq!(stored("completed"), drawn.complete(), "{summary}");
    assert_eq!(
        stored("answers"),
        summary["checks"]["answers"]["residents"].as_u64().unwrap(),
        "every answer a resident gave is stored: {summary}"
    );
    assert_eq!(summary["agree"], true);

    // The generated list's minors, businesses and bans were kept out and
    // counted, its typing errors rejected with a reason.
    assert!(
        stdout.contains("150 to call, 9 excluded, 2 rejected"),
        "{stdout}"
    );
    assert!(stdout.contains("Funnel"), "{stdout}");
    let rejects = std::fs::read_to_string(dir.path().join("demo/rejects.csv")).unwrap();
    assert_eq!(rejects.lines().count(), 3, "header and two rows: {rejects}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("digital services"));
}
