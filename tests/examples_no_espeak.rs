//! The example surveys start without espeak-ng. `kuulo serve` runs with
//! `PATH` set to an empty folder, as on a server where only `kuulo` is
//! installed: every prompt in every language must come from the committed
//! recordings, and start-up must not even need the synthesiser. The
//! control case (the same survey without its recordings) shows that the
//! empty `PATH` really hides espeak-ng.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kuulo::engine::{LibraryError, PromptLibrary};

const EXAMPLES: [&str; 3] = ["wellbeing", "digital-services", "after-visit"];

/// Longest a start-up may take before the test gives up on it; loading
/// and encoding the prompts takes well under a second.
const LIMIT: Duration = Duration::from_secs(60);

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/surveys")
        .join(name)
        .join("survey.toml")
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Waits for `child` at most [`LIMIT`], killing it (by its own handle)
/// if it runs longer, and collects its output.
fn finish(mut child: Child) -> Run {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kuulo") {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).unwrap();
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut stderr).unwrap();
    }
    assert!(
        status.is_some(),
        "kuulo serve ran longer than {LIMIT:?}:\n{stderr}"
    );
    Run {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
    }
}

/// `kuulo serve` on loopback, stopping by itself once started (no call is
/// awaited), with `bare` as its whole `PATH`.
fn serve_without_espeak(script: &Path, work: &Path, bare: &Path) -> Run {
    let child = Command::new(env!("CARGO_BIN_EXE_kuulo"))
        .args(["serve", "--bind", "127.0.0.1:0", "--max-calls", "0"])
        .args(["--run-secs", "30"])
        .arg("--script")
        .arg(script)
        .arg("--db")
        .arg(work.join("results.sqlite"))
        .arg("--tts-cache")
        .arg(work.join("tts"))
        .env("PATH", bare)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the kuulo binary");
    finish(child)
}

/// How many (prompt, language, codec) entries the survey's library has
/// when nothing is left out.
fn library_size(script: &Path) -> usize {
    let report = kuulo::ivr::check(script);
    let script = report.script.as_ref().expect("the example loads");
    PromptLibrary::build(script, |_, _, _| Ok::<_, LibraryError>(vec![0i16; 160]))
        .expect("silence encodes")
        .len()
}

#[test]
fn every_example_survey_serves_without_espeak_ng() {
    let bare = tempfile::tempdir().unwrap();
    for name in EXAMPLES {
        let work = tempfile::tempdir().unwrap();
        let run = serve_without_espeak(&example(name), work.path(), bare.path());
        assert_eq!(
            run.code,
            Some(0),
            "{name}: kuulo serve failed without espeak-ng:\n{}",
            run.stderr
        );
        // Every prompt of the survey in every language and codec was
        // loaded from its recording.
        let loaded = format!("; {} prompts loaded", library_size(&example(name)));
        assert!(run.stderr.contains(&loaded), "{name}: {}", run.stderr);
        assert!(
            run.stdout.starts_with("kuulo serve: calls=0 started=0 "),
            "{name}: {}",
            run.stdout
        );
        // Nothing was rendered into the speech cache.
        let rendered = std::fs::read_dir(work.path().join("tts"))
            .map(|dir| dir.count())
            .unwrap_or(0);
        assert_eq!(rendered, 0, "{name}");
    }
}

#[test]
fn without_its_recordings_a_survey_needs_espeak_ng_and_says_so() {
    // The control: the survey file alone falls back to its text, which
    // only espeak-ng can speak, and the empty PATH has none.
    let bare = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("survey.toml");
    std::fs::copy(example("after-visit"), &script).unwrap();
    let run = serve_without_espeak(&script, work.path(), bare.path());
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cannot be synthesised: espeak-ng is not installed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("apt-get install espeak-ng"),
        "{}",
        run.stderr
    );
}
