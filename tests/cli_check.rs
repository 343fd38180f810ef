//! `kuulo check` and `kuulo synth` run as a user runs them: the built
//! binary, real files, exit codes and output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kuulo(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kuulo"))
        .args(args)
        .output()
        .expect("run the kuulo binary")
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/surveys")
        .join(name)
        .join("survey.toml")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_example_survey_passes() {
    for name in ["wellbeing", "digital-services", "after-visit"] {
        let path = example(name);
        let out = kuulo(&["check".as_ref(), path.as_os_str()]);
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}:\n{stdout}{}",
            text(&out.stderr)
        );
        let last = stdout.lines().last().unwrap_or_default();
        assert!(last.starts_with("0 errors, "), "{name}: last line {last:?}");
    }
}

#[test]
fn a_broken_script_names_file_line_and_column() {
    let original = std::fs::read_to_string(example("after-visit")).unwrap();
    // A misspelt prompt reference, as city staff might type it.
    let broken = original.replacen("prompt = \"rating\"", "prompt = \"ratign\"", 1);
    assert_ne!(broken, original, "the example changed; update this test");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("survey.toml");
    std::fs::write(&path, &broken).unwrap();

    let out = kuulo(&["check".as_ref(), path.as_os_str()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");

    let line = broken
        .lines()
        .position(|l| l.contains("\"ratign\""))
        .unwrap()
        + 1;
    let at = format!("{}:{line}:", path.display());
    let finding = stdout
        .lines()
        .find(|l| l.starts_with(&at))
        .unwrap_or_else(|| panic!("no finding at {at} in:\n{stdout}"));
    assert!(finding.contains(": error: "), "{finding}");
    assert!(finding.contains("ratign"), "{finding}");
    let column = finding[at.len()..].split(':').next().unwrap();
    assert!(column.parse::<usize>().unwrap() >= 1, "{finding}");
    assert!(stdout.contains("hint: "), "{stdout}");
    assert!(
        stdout.lines().last().unwrap().starts_with("1 error, "),
        "{stdout}"
    );
}

#[test]
fn an_unreadable_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-survey.toml");
    let out = kuulo(&["check".as_ref(), missing.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no-such-survey.toml"), "{stderr}");
}

#[test]
fn synth_renders_each_prompt_once() {
    if Command::new("espeak-ng").arg("--version").output().is_err() {
        eprintln!("skipped: espeak-ng is not installed (apt-get install espeak-ng)");
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let script = example("after-visit");
    let run = || {
        let out = kuulo(&[
            "synth".as_ref(),
            script.as_os_str(),
            "--cache".as_ref(),
            cache.path().as_os_str(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };

    let first = run();
    let lines: Vec<&str> = first.lines().collect();
    // 11 prompts in three languages, all text.
    assert_eq!(lines.len(), 33, "{first}");
    for line in &lines {
        let path = line.split(' ').nth(2).unwrap();
        assert!(Path::new(path).starts_with(cache.path()), "{line}");
        let wav = hound::WavReader::open(path).unwrap();
        assert_eq!(wav.spec().sample_rate, 8_000);
        assert_eq!(wav.spec().channels, 1);
        assert_eq!(wav.spec().bits_per_sample, 16);
    }

    let second = run();
    assert_eq!(second.lines().count(), 33);
    assert!(second.lines().all(|l| l.ends_with(" (cached)")), "{second}");
}
