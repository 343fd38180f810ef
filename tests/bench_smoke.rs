//! `kuulo bench --smoke`, the short load run CI makes on every change:
//! 400 survey calls with full media against simulated residents in their
//! own process; it must end with every call completed, every digit the
//! residents pressed detected and no answer lost or invented.

mod support;

use std::process::Command;
use std::time::Duration;

use support::Proc;

/// Runs `kuulo bench --smoke` with `population` and returns its JSON.
fn smoke(population: &str, rtp_base: u16) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_kuulo"))
            .args(["bench", "--smoke", "--quiet", "--population", population])
            .args(["--rtp-base", &rtp_base.to_string()])
            .arg("--dir")
            .arg(dir.path().join("run"))
            .arg("--json")
            .arg(&json),
    )
    .wait("kuulo bench --smoke", Duration::from_secs(180));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("RTP send deviation"), "{stdout}");
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

fn check(r: &serde_json::Value) {
    let n = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
    assert_eq!(n("attempted"), 400.0, "{r}");
    assert_eq!(n("completed"), 400.0, "{r}");
    assert_eq!(n("digits_sent"), n("digits_detected"), "{r}");
    // Consent, two questions and # after the voice answer: four keys.
    assert_eq!(n("digits_sent"), 1600.0, "{r}");
    assert_eq!(n("answers_lost") + n("answers_extra"), 0.0, "{r}");
    assert!(
        n("rtp_sent") > 400.0 * 6.0 * 30.0 * 0.9,
        "0.6 s of audio per prompt: {r}"
    );
    assert!(n("raw_udp_rate") > 10_000.0, "{r}");
    assert!(n("peak_concurrent") >= 100.0, "{r}");
}

#[test]
fn the_smoke_bench_completes_every_call_and_detects_every_digit() {
    check(&smoke(
        "sim",
        25_000 + (std::process::id() % 10) as u16 * 700,
    ));
}

/// The same against sipp UAS processes pressing the keys from sipp's own
/// RFC 2833 pcaps: the figures do not rest on our code at both ends.
#[test]
fn the_smoke_bench_against_sipp_detects_every_digit_sipp_sends() {
    support::sipp_available();
    let r = smoke("sipp", 13_000 + (std::process::id() % 5) as u16 * 1300);
    check(&r);
}
