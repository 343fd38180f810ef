//! Replays the `sip_message` fuzz corpus (and any crash artifacts) through
//! the fuzz target's own checks, so CI keeps every input the fuzzer ever
//! found interesting without running libFuzzer. See docs/fuzzing.md.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(files: &[PathBuf]) -> Vec<String> {
    let mut failed = Vec::new();
    for path in files {
        let data = std::fs::read(path).expect("readable corpus file");
        let outcome = std::panic::catch_unwind(|| kuulo_sip::message::fuzz_check(&data));
        if outcome.is_err() {
            failed.push(path.display().to_string());
        }
    }
    failed
}

#[test]
fn corpus_replays_without_panics() {
    let corpus = files_in(&fuzz_dir().join("corpus/sip_message"));
    assert!(
        corpus.len() >= 12,
        "seed corpus missing: {} files",
        corpus.len()
    );
    let failed = replay(&corpus);
    assert!(
        failed.is_empty(),
        "corpus inputs that fail the fuzz checks: {failed:?}"
    );
}

#[test]
fn artifacts_replay_without_panics() {
    // Crashes found by `cargo fuzz run` land here; once fixed they must
    // stay fixed. The directory is absent on a clean checkout.
    let artifacts = files_in(&fuzz_dir().join("artifacts/sip_message"));
    let failed = replay(&artifacts);
    assert!(failed.is_empty(), "artifacts that still fail: {failed:?}");
}

#[test]
fn seed_messages_parse() {
    // The hand-written seeds (not the deliberately broken torture ones)
    // are valid messages; a regression that stops them parsing would make
    // the corpus much less useful to the fuzzer.
    let seeds = [
        "invite_sdp",
        "ok_200_sdp",
        "ringing_180",
        "bye",
        "register_auth",
        "challenge_401",
        "options_compact",
        "rfc4475_wsinv",
        "rfc4475_intmeth",
        "rfc4475_esc01",
        "rfc4475_longreq",
        "rfc4475_mpart01",
    ];
    for name in seeds {
        let data = std::fs::read(fuzz_dir().join("corpus/sip_message").join(name)).unwrap();
        assert!(
            kuulo_sip::message::SipMessage::parse(bytes::Bytes::from(data)).is_ok(),
            "{name} does not parse"
        );
    }
}
