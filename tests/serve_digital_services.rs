//! The Oulu digital-services survey (examples/surveys/digital-services)
//! served by `kuulo serve` and called by sipp on loopback, as a resident
//! would call the city's survey number: keys pressed at timed points, as
//! RFC 4733 events or as tones in the audio, a voice answer, and a caller
//! who hangs up midway. The answers are read back from the SQLite store.
//!
//! The scenarios in tests/sipp/uac_digital_services_*.xml hold the
//! schedule; this file writes the pcap files they play (see
//! tests/support/caller_media.rs) and checks that every key sent was heard
//! once, from the right source, and stored as the value the survey gives
//! it. Each test uses its own ports and folder, bounds every process in
//! time and kills what it started. Prompts are synthesised by espeak-ng
//! into the cache under `target/` that the other serve tests share.

#[path = "support/caller_media.rs"]
mod caller_media;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use caller_media::{schedule, sipp_speech, CallerStream, KeyMode, Law};
use support::serve::{free_port_pair as free_port, pairs, query};
use support::{root, Proc};

fn script() -> PathBuf {
    root().join("examples/surveys/digital-services/survey.toml")
}

/// `kuulo serve` with this file's survey, for one call.
fn serve(dir: &Path, sip_port: u16) -> Proc {
    support::serve::serve(
        &script(),
        dir,
        sip_port,
        100,
        "kuulo=info,kuulo::engine::call=debug",
    )
}

/// What one call left behind.
struct Call {
    /// `kuulo serve`'s summary line.
    summary: String,
    db: PathBuf,
    recordings: PathBuf,
    /// The keys the scenario pressed, in order.
    pressed: Vec<char>,
    /// The keys Kuulo reported, in order, with their source as logged.
    heard: Vec<(char, String)>,
    /// `kuulo serve`'s log, for failure messages.
    log: String,
}

/// Copies `scenario` into `dir`, writes the pcap files it plays (keys sent
/// as `keys`, audio in `law`), runs it with sipp against a fresh `kuulo
/// serve`, and waits for both to finish.
fn survey_call(dir: &Path, scenario: &str, law: Law, keys: KeyMode) -> Call {
    let xml = std::fs::read_to_string(root().join("tests/sipp").join(scenario)).unwrap();
    // sipp looks for a scenario's pcap files next to it first.
    let copy = dir.join(scenario);
    std::fs::write(&copy, &xml).unwrap();
    let plays = schedule(&xml);
    assert!(!plays.is_empty(), "{scenario} plays nothing");
    let pressed = CallerStream::new(law, keys, sipp_speech()).write_all(&plays, dir);

    let sip_port = free_port();
    let server = serve(dir, sip_port);
    let local = free_port();
    let media = free_port();
    let sipp = Proc::spawn(
        Command::new("sipp")
            .arg("-sf")
            .arg(&copy)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &local.to_string(), "-mp", &media.to_string()])
            .args(["-m", "1", "-timeout", "75s", "-timeout_error", "-nostdin"])
            .arg(format!("127.0.0.1:{sip_port}")),
    )
    .wait("sipp", Duration::from_secs(90));
    let served = server.wait("kuulo serve", Duration::from_secs(30));
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    let heard = heard_keys(&log);
    // A lost or extra key usually derails the call (sipp then waits in
    // vain for Kuulo's BYE), so say which keys went astray first.
    assert!(
        sipp.status.success(),
        "sipp failed ({:?})\nkeys pressed {pressed:?}, heard {heard:?}\n\
         sipp stdout:\n{}\nsipp stderr:\n{}\nkuulo log:\n{log}",
        sipp.status.code(),
        String::from_utf8_lossy(&sipp.stdout),
        String::from_utf8_lossy(&sipp.stderr),
    );
    assert!(served.status.success(), "kuulo serve failed:\n{log}");
    Call {
        summary: String::from_utf8_lossy(&served.stdout).into_owned(),
        db: dir.join("results.sqlite"),
        recordings: dir.join("recordings"),
        pressed,
        heard,
        log,
    }
}

/// The keys in `kuulo serve`'s log: its `key digit=5 source=InBand` lines.
fn heard_keys(log: &str) -> Vec<(char, String)> {
    let field = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .map(str::to_owned)
    };
    log.lines()
        .filter(|l| l.contains(" key ") && l.contains("digit="))
        .map(|l| {
            let digit = field(l, "digit=").and_then(|d| d.chars().next());
            let source = field(l, "source=");
            match (digit, source) {
                (Some(d), Some(s)) => (d, s),
                _ => panic!("unexpected key line in the log: {l}"),
            }
        })
        .collect()
}

/// Every key pressed was heard once, in order, from `source`.
fn assert_heard(call: &Call, source: &str) {
    let heard: Vec<char> = call.heard.iter().map(|(d, _)| *d).collect();
    assert_eq!(heard, call.pressed, "keys heard vs pressed");
    for (d, s) in &call.heard {
        assert_eq!(s, source, "key {d} came from {s}, not {source}");
    }
}

fn answers(db: &Path) -> Vec<(String, String)> {
    query(
        db,
        "SELECT question, value FROM answers ORDER BY answered_at",
    )
}

/// What the Swedish conversation of the two complete-survey scenarios
/// must leave in the store: each key's value in the survey script, the
/// `why_not` question asked because the resident said no, and the voice
/// answer.
const COMPLETE_SV: [(&str, &str); 7] = [
    ("language", "sv"),
    ("consent", "yes"),
    ("used_digital", "no"),
    ("why_not", "prefer to visit"),
    ("channel", "WhatsApp"),
    ("pandemic", "yes"),
    ("wish", "recorded"),
];

/// The completed call's store: answers, disposition and language, and the
/// voice answer as a WAV named by the pseudonymous call id, holding the
/// speech the caller sent (three seconds, of which the first half second
/// is a breath before the words; the recorder trims quiet ends).
fn assert_complete_survey(call: &Call) {
    let (s, log) = (&call.summary, &call.log);
    assert!(s.contains("calls=1 "), "{s}\nkuulo log:\n{log}");
    assert!(s.contains("completed=1"), "{s}\nkuulo log:\n{log}");
    assert!(s.contains("recordings=1"), "{s}\nkuulo log:\n{log}");
    assert_eq!(answers(&call.db), pairs(&COMPLETE_SV));
    let calls = query(&call.db, "SELECT disposition, language FROM calls");
    assert_eq!(calls, pairs(&[("completed", "sv")]));

    let recs = query(
        &call.db,
        "SELECT r.path, c.id FROM recordings r JOIN calls c ON c.id = r.call_id",
    );
    assert_eq!(recs.len(), 1, "{recs:?}");
    let (path, call_id) = &recs[0];
    assert_eq!(path, &format!("{call_id}-wish.wav"));
    let mut wav = hound::WavReader::open(call.recordings.join(path)).unwrap();
    assert_eq!(wav.spec().sample_rate, 8000);
    assert_eq!(wav.spec().channels, 1);
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let secs = samples.len() as f64 / 8000.0;
    assert!((2.0..=5.0).contains(&secs), "recording of {secs} s");
    // Speech, not the line's noise or silence: 20 ms frames well above the
    // noise floor the caller sends between words.
    let loud = samples
        .chunks(160)
        .filter(|f| {
            let power = f.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / f.len() as f64;
            power.sqrt() > 300.0
        })
        .count();
    assert!(
        loud * 20 >= 1500,
        "only {} ms of the {secs} s recording is speech",
        loud * 20
    );
}

#[test]
fn rfc4733_keys_answer_the_whole_survey() {
    support::sipp_available();
    let dir = tempfile::tempdir().unwrap();
    let call = survey_call(
        dir.path(),
        "uac_digital_services_rfc4733.xml",
        Law::Alaw,
        KeyMode::Rfc4733 { payload_type: 101 },
    );
    assert_heard(&call, "Rfc4733");
    assert_complete_survey(&call);
}

#[test]
fn inband_tones_answer_the_whole_survey() {
    support::sipp_available();
    let dir = tempfile::tempdir().unwrap();
    let call = survey_call(
        dir.path(),
        "uac_digital_services_inband.xml",
        Law::Ulaw,
        KeyMode::InBand,
    );
    assert_heard(&call, "InBand");
    assert_complete_survey(&call);
}

#[test]
fn hanging_up_midway_keeps_the_answers_given() {
    support::sipp_available();
    let dir = tempfile::tempdir().unwrap();
    let call = survey_call(
        dir.path(),
        "uac_digital_services_hangup.xml",
        Law::Ulaw,
        KeyMode::Rfc4733 { payload_type: 101 },
    );
    assert_heard(&call, "Rfc4733");
    let (s, log) = (&call.summary, &call.log);
    assert!(s.contains("calls=1 "), "{s}\nkuulo log:\n{log}");
    assert!(s.contains("partial=1"), "{s}\nkuulo log:\n{log}");
    // Yes to the digital services: no `why_not`; gone before `pandemic`.
    assert_eq!(
        answers(&call.db),
        pairs(&[
            ("language", "fi"),
            ("consent", "yes"),
            ("used_digital", "yes"),
            ("channel", "e-mail or web form"),
        ])
    );
    let calls = query(&call.db, "SELECT disposition, language FROM calls");
    assert_eq!(calls, pairs(&[("partial", "fi")]));
    let recs = query(&call.db, "SELECT path, call_id FROM recordings");
    assert!(recs.is_empty(), "{recs:?}");
}
