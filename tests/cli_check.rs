//! `kuulo check` and `kuulo synth` run as a user runs them: the built
//! binary, real files, exit codes and output. The example surveys are
//! recorded in every language, so neither needs espeak-ng for them.

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
        // Every language plays the committed recordings: nothing is left
        // to espeak-ng, so `check` warns about no prompt.
        assert!(!stdout.contains("synthesised"), "{name}:\n{stdout}");
    }
}

/// Every WAV under `examples/surveys/*/prompts`, as (survey, path).
fn committed_recordings() -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    for name in ["wellbeing", "digital-services", "after-visit"] {
        let prompts = example(name).with_file_name("prompts");
        for language in std::fs::read_dir(&prompts).unwrap() {
            for file in std::fs::read_dir(language.unwrap().path()).unwrap() {
                out.push((name, file.unwrap().path()));
            }
        }
    }
    out
}

#[test]
fn the_committed_recordings_are_telephone_ready_and_all_used() {
    let recordings = committed_recordings();
    for (name, path) in &recordings {
        let wav =
            hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let spec = wav.spec();
        assert_eq!(
            (spec.sample_rate, spec.channels, spec.bits_per_sample),
            (8_000, 1, 16),
            "{} is not 8 kHz mono 16-bit",
            path.display()
        );
        let samples: Vec<i16> = wav.into_samples().map(Result::unwrap).collect();
        let seconds = samples.len() as f64 / 8_000.0;
        assert!(
            (0.5..30.0).contains(&seconds),
            "{}: {seconds} s",
            path.display()
        );
        // make-prompts.sh normalises to a -3 dBFS peak: loud enough over a
        // phone line, with room to spare for the codecs.
        let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
        let peak_db = 20.0 * (f64::from(peak) / 32_768.0).log10();
        assert!(
            (-3.5..=-2.5).contains(&peak_db),
            "{}: peak {peak_db:.1} dBFS",
            path.display()
        );
        // Trimmed: the speech starts within a quarter second.
        let onset = samples
            .iter()
            .position(|s| s.unsigned_abs() > 1_000)
            .unwrap();
        assert!(
            onset < 2_000,
            "{}: speech starts at sample {onset}",
            path.display()
        );

        // No stray files: each recording is the one its survey names.
        let source = std::fs::read_to_string(example(name)).unwrap();
        let relative = path.strip_prefix(example(name).parent().unwrap()).unwrap();
        let reference = format!("file = \"{}\"", relative.display());
        assert!(
            source.contains(&reference),
            "{name} does not use {}",
            relative.display()
        );
    }
    // 11 to 14 prompts per survey, in fi, sv and en.
    assert!(recordings.len() >= 3 * 3 * 11, "{}", recordings.len());
    for language in ["fi", "sv", "en"] {
        let folder = format!("/prompts/{language}/");
        assert!(
            recordings
                .iter()
                .filter(|(_, p)| p.to_string_lossy().contains(&folder))
                .count()
                >= 3 * 11,
            "too few {language} recordings"
        );
    }
}

#[test]
fn a_survey_without_its_recordings_still_checks_and_speaks_the_text() {
    // City staff copy the survey file alone to start a new round.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("survey.toml");
    std::fs::copy(example("digital-services"), &path).unwrap();
    let out = kuulo(&["check".as_ref(), path.as_os_str()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("prompt `intro` will be synthesised with espeak-ng in en, fi, sv"),
        "{stdout}"
    );
    assert!(stdout.contains("recording not found: "), "{stdout}");
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

/// An empty folder to use as `PATH`: no espeak-ng, sox or anything else
/// can be found, as on a server where only `kuulo` is installed.
fn empty_path() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn synth_has_nothing_to_render_for_the_examples_even_without_espeak() {
    let bare = empty_path();
    for name in ["wellbeing", "digital-services", "after-visit"] {
        let cache = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kuulo"))
            .arg("synth")
            .arg(example(name))
            .arg("--cache")
            .arg(cache.path())
            .env("PATH", bare.path())
            .output()
            .expect("run the kuulo binary");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        assert_eq!(text(&out.stdout), "", "{name}");
        assert!(
            stderr.contains("nothing to render: every prompt of "),
            "{name}: {stderr}"
        );
        assert_eq!(
            std::fs::read_dir(cache.path()).unwrap().count(),
            0,
            "{name}"
        );
    }
}

#[test]
fn synth_without_espeak_says_how_to_install_it() {
    // The survey file alone: its prompts fall back to their text.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("survey.toml");
    std::fs::copy(example("after-visit"), &path).unwrap();
    let bare = empty_path();
    let out = Command::new(env!("CARGO_BIN_EXE_kuulo"))
        .arg("synth")
        .arg(&path)
        .arg("--cache")
        .arg(dir.path().join("tts"))
        .env("PATH", bare.path())
        .output()
        .expect("run the kuulo binary");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("espeak-ng is not installed; install it with `apt-get install espeak-ng`"),
        "{stderr}"
    );
}

#[test]
fn synth_renders_each_prompt_once() {
    if Command::new("espeak-ng").arg("--version").output().is_err() {
        eprintln!("skipped: espeak-ng is not installed (apt-get install espeak-ng)");
        return;
    }
    // The example's survey file without its recordings: every prompt in
    // every language is text, as in a new survey before anything is
    // recorded.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("survey.toml");
    std::fs::copy(example("after-visit"), &script).unwrap();
    let cache = tempfile::tempdir().unwrap();
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
    // 11 prompts in fi, sv and en.
    assert_eq!(lines.len(), 33, "{first}");
    for language in ["fi", "sv", "en"] {
        let n = lines
            .iter()
            .filter(|l| l.split(' ').nth(1) == Some(language))
            .count();
        assert_eq!(n, 11, "{language}: {first}");
    }
    for line in &lines {
        let path = line.split(' ').nth(2).unwrap();
        assert!(Path::new(path).starts_with(cache.path()), "{line}");
        let wav = hound::WavReader::open(path).unwrap();
        assert_eq!(wav.spec().sample_rate, 8_000);
        assert_eq!(wav.spec().channels, 1);
        assert_eq!(wav.spec().bits_per_sample, 16);
    }
    // The language menu has the same text in fi, sv and en, read in three
    // voices: three renderings, not one shared file.
    let mut menus: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("language_menu "))
        .filter_map(|l| l.split(' ').nth(2))
        .collect();
    menus.sort_unstable();
    menus.dedup();
    assert_eq!(menus.len(), 3, "{first}");

    let second = run();
    assert_eq!(second.lines().count(), 33);
    assert!(second.lines().all(|l| l.ends_with(" (cached)")), "{second}");
}
