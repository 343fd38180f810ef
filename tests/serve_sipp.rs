//! `kuulo serve` as the city runs it, called by sipp (Debian's
//! `sip-tester`) on loopback: the resident answers with RFC 2833 keys
//! replayed from sipp's bundled pcaps, and the answers are read back from
//! the SQLite results store.
//!
//! Each test uses its own ports and folders, bounds every process in
//! time, and kills what it started when it ends. Prompts are synthesised
//! with espeak-ng into a cache under `target/`, so only the first run
//! renders them.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use support::serve::{free_port_pair as free_port, pairs, query, tts_cache};
use support::{root, Proc};

fn script() -> PathBuf {
    root().join("tests/surveys/keys/survey.toml")
}

/// `kuulo serve` with this file's survey, for one call.
fn serve(dir: &Path, sip_port: u16) -> Proc {
    support::serve::serve(&script(), dir, sip_port, 90, "kuulo=info")
}

/// Runs one sipp call with `scenario` (a path) against the server.
fn sipp(scenario: &Path, sip_port: u16) -> Output {
    sipp_calls(scenario, sip_port, &["-m", "1"])
}

/// Runs sipp with `scenario` against the server, `calls` saying how many
/// and how (`-m`, `-l`, `-r`).
fn sipp_calls(scenario: &Path, sip_port: u16, calls: &[&str]) -> Output {
    let local = free_port();
    let media = free_port();
    Proc::spawn(
        Command::new("sipp")
            .arg("-sf")
            .arg(scenario)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &local.to_string(), "-mp", &media.to_string()])
            .args(calls)
            .args(["-timeout", "70s", "-timeout_error", "-nostdin"])
            .arg(format!("127.0.0.1:{sip_port}")),
    )
    .wait("sipp", Duration::from_secs(90))
}

/// Writes 7 s of A-law speech as RTP in 20 ms packets (payload type 8):
/// the audio of sipp's bundled g711a.pcap, whose 30 ms packets the media
/// session cannot play out without gaps. sipp rewrites the addresses and
/// ports when it replays, so placeholders do.
fn write_speech_pcap(out: &Path) {
    let speech = support::serve::sipp_alaw_speech();
    let mut pcap = Vec::new();
    pcap.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    pcap.extend_from_slice(&2u16.to_le_bytes());
    pcap.extend_from_slice(&4u16.to_le_bytes());
    pcap.extend_from_slice(&[0; 8]);
    pcap.extend_from_slice(&65535u32.to_le_bytes());
    pcap.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    for (i, frame) in speech.chunks_exact(160).enumerate() {
        let i = i as u32;
        let mut rtp = vec![0x80, if i == 0 { 0x88 } else { 0x08 }];
        rtp.extend_from_slice(&(1000 + i as u16).to_be_bytes());
        rtp.extend_from_slice(&(160 * i).to_be_bytes());
        rtp.extend_from_slice(&0x5eec_0001u32.to_be_bytes());
        rtp.extend_from_slice(frame);
        let udp_len = 8 + rtp.len() as u16;
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
        ip[2..4].copy_from_slice(&(20 + udp_len).to_be_bytes());
        ip.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        let mut udp = Vec::new();
        udp.extend_from_slice(&6000u16.to_be_bytes());
        udp.extend_from_slice(&6000u16.to_be_bytes());
        udp.extend_from_slice(&udp_len.to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        let len = (eth.len() + ip.len() + udp.len() + rtp.len()) as u32;
        let micros = i * 20_000;
        pcap.extend_from_slice(&(micros / 1_000_000).to_le_bytes());
        pcap.extend_from_slice(&(micros % 1_000_000).to_le_bytes());
        pcap.extend_from_slice(&len.to_le_bytes());
        pcap.extend_from_slice(&len.to_le_bytes());
        for part in [&eth, &ip, &udp, &rtp] {
            pcap.extend_from_slice(part);
        }
    }
    std::fs::write(out, pcap).unwrap();
}

/// Runs a scenario against a fresh `kuulo serve` and returns the server's
/// summary line and the results store's path.
fn survey_call(dir: &Path, scenario: &str) -> (String, PathBuf) {
    survey_call_with(dir, &root().join("tests/sipp").join(scenario))
}

fn survey_call_with(dir: &Path, scenario: &Path) -> (String, PathBuf) {
    let sip_port = free_port();
    let server = serve(dir, sip_port);
    let sipp = sipp(scenario, sip_port);
    let (summary, _) = served(dir, server, &sipp, Duration::from_secs(30));
    (summary, dir.join("results.sqlite"))
}

/// Waits up to `limit` for `kuulo serve` to end after sipp did, requires
/// both to have succeeded, and returns serve's summary and log.
fn served(dir: &Path, server: Proc, sipp: &Output, limit: Duration) -> (String, String) {
    let served = server.wait("kuulo serve", limit);
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    assert!(
        sipp.status.success(),
        "sipp failed ({:?})\nsipp stdout:\n{}\nsipp stderr:\n{}\nkuulo log:\n{log}",
        sipp.status.code(),
        String::from_utf8_lossy(&sipp.stdout),
        String::from_utf8_lossy(&sipp.stderr),
    );
    assert!(served.status.success(), "kuulo serve failed:\n{log}");
    (String::from_utf8_lossy(&served.stdout).into_owned(), log)
}

/// Six residents at once, every one replaying the same RFC 2833 pcaps
/// from sipp's one media port: the same source address and SSRC for all.
/// Only a port per call (`--rtp-ports`) tells their keys apart; on one
/// shared pair they would land on one call.
#[test]
fn six_sipp_calls_at_once_from_one_media_port_each_get_their_own_answers() {
    const CALLS: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let sip_port = free_port();
    // Ports nothing else in this test binary is handed.
    let rtp_first = support::serve::free_port_block(40);
    let range = format!("{rtp_first}-{}", rtp_first + 39);
    let server = support::serve::serve_with(
        &script(),
        dir.path(),
        sip_port,
        90,
        "kuulo=info",
        &["--max-calls", &CALLS.to_string(), "--rtp-ports", &range],
    );
    let n = CALLS.to_string();
    let sipp = sipp_calls(
        &root().join("tests/sipp/uac_survey_keys.xml"),
        sip_port,
        &["-m", &n, "-l", &n, "-r", "10"],
    );
    let (summary, log) = served(dir.path(), server, &sipp, Duration::from_secs(60));
    assert!(
        summary.contains(&format!("completed={CALLS}")),
        "{summary}\n{log}"
    );
    let db = dir.path().join("results.sqlite");
    let answers = query(
        &db,
        "SELECT question || '=' || value, CAST(COUNT(*) AS TEXT) FROM answers GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(
        answers,
        pairs(&[
            ("again=no", n.as_str()),
            ("comment=no answer", n.as_str()),
            ("consent=yes", n.as_str()),
            ("rating=4", n.as_str()),
        ]),
        "every call got its own keys, once"
    );
}

#[test]
fn keypad_answers_from_sipp_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, db) = survey_call(dir.path(), "uac_survey_keys.xml");
    assert!(summary.contains("calls=1 "), "{summary}");
    assert!(summary.contains("completed=1"), "{summary}");
    let answers = query(
        &db,
        "SELECT question, value FROM answers ORDER BY answered_at",
    );
    assert_eq!(
        answers,
        pairs(&[
            ("consent", "yes"),
            ("again", "no"),
            ("rating", "4"),
            ("comment", "no answer"),
        ])
    );
    let calls = query(&db, "SELECT disposition, language FROM calls");
    assert_eq!(calls, pairs(&[("completed", "en")]));
}

#[test]
fn a_caller_hanging_up_midway_leaves_a_partial_survey() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, db) = survey_call(dir.path(), "uac_survey_hangup.xml");
    assert!(summary.contains("partial=1"), "{summary}");
    let answers = query(
        &db,
        "SELECT question, value FROM answers ORDER BY answered_at",
    );
    assert_eq!(answers, pairs(&[("consent", "yes"), ("again", "no")]));
    let calls = query(&db, "SELECT disposition, language FROM calls");
    assert_eq!(calls, pairs(&[("partial", "en")]));
}

#[test]
fn a_voice_answer_from_sipp_is_written_as_wav_named_by_call_id() {
    let dir = tempfile::tempdir().unwrap();
    // The scenario finds its pcap next to itself.
    let scenario = dir.path().join("uac_survey_voice.xml");
    std::fs::copy(root().join("tests/sipp/uac_survey_voice.xml"), &scenario).unwrap();
    write_speech_pcap(&dir.path().join("speech_20ms.pcap"));
    let (summary, db) = survey_call_with(dir.path(), &scenario);
    assert!(summary.contains("completed=1"), "{summary}");
    assert!(summary.contains("recordings=1"), "{summary}");
    let answers = query(
        &db,
        "SELECT question, value FROM answers ORDER BY answered_at",
    );
    assert_eq!(
        answers,
        pairs(&[
            ("consent", "yes"),
            ("again", "no"),
            ("rating", "4"),
            ("comment", "recorded"),
        ])
    );
    let recs = query(
        &db,
        "SELECT r.path, c.id FROM recordings r JOIN calls c ON c.id = r.call_id",
    );
    assert_eq!(recs.len(), 1);
    let (path, call_id) = &recs[0];
    assert_eq!(path, &format!("{call_id}-comment.wav"));
    let wav = dir.path().join("recordings").join(path);
    let reader = hound::WavReader::open(&wav).unwrap();
    assert_eq!(reader.spec().sample_rate, 8000);
    let secs = reader.duration() as f64 / 8000.0;
    assert!((2.0..=10.0).contains(&secs), "recording of {secs} s");
}

#[test]
fn kuulo_call_runs_the_survey_on_an_outbound_call() {
    let dir = tempfile::tempdir().unwrap();
    let phone_port = free_port();
    let media = free_port();
    let phone = Proc::spawn(
        Command::new("sipp")
            .arg("-sf")
            .arg(root().join("tests/sipp/uas_survey_keys.xml"))
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &phone_port.to_string(), "-mp", &media.to_string()])
            .args(["-m", "1", "-timeout", "70s", "-timeout_error", "-nostdin"]),
    );
    // sipp needs a moment to bind before the INVITE comes.
    std::thread::sleep(Duration::from_millis(500));
    let db = dir.path().join("results.sqlite");
    let call = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_kuulo"))
            .arg("call")
            .arg(format!("sip:resident@127.0.0.1:{phone_port}"))
            .arg("--script")
            .arg(script())
            .arg("--db")
            .arg(&db)
            .arg("--tts-cache")
            .arg(tts_cache())
            .args(["--max-secs", "80"]),
    )
    .wait("kuulo call", Duration::from_secs(90));
    let phone = phone.wait("sipp", Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&call.stdout);
    assert!(
        call.status.success(),
        "kuulo call failed\nstdout:\n{stdout}\nstderr:\n{}\nsipp:\n{}",
        String::from_utf8_lossy(&call.stderr),
        String::from_utf8_lossy(&phone.stdout)
    );
    assert!(phone.status.success(), "sipp failed: {phone:?}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        vec![
            "outcome: completed (LocalBye)",
            "  consent = yes",
            "  again = no",
            "  rating = 4",
            "  comment = no answer",
        ]
    );
    let calls = query(&db, "SELECT disposition, language FROM calls");
    assert_eq!(calls, pairs(&[("completed", "en")]));
}
