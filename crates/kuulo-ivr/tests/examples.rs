//! The example surveys in examples/surveys load without errors, and play
//! their committed recordings in every language (Finnish, Swedish and
//! English), so they need no speech synthesiser.

use std::path::PathBuf;

use kuulo_ivr::PromptSource;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/surveys")
        .join(name)
        .join("survey.toml")
}

#[test]
fn every_example_survey_checks_without_errors() {
    for name in ["wellbeing", "digital-services", "after-visit"] {
        let report = kuulo_ivr::check(example(name));
        assert!(!report.has_errors(), "{name}:\n{report}");
        assert_eq!(report.exit_code(), 0);
        let script = report
            .script
            .as_ref()
            .expect("a script without errors loads");
        assert_eq!(script.languages.len(), 3, "{name} speaks fi, sv and en");
    }
}

#[test]
fn examples_play_recordings_in_every_language_and_synthesise_nothing() {
    for name in ["wellbeing", "digital-services", "after-visit"] {
        let report = kuulo_ivr::check(example(name));
        let script = report.script.as_ref().expect("the example loads");
        for prompt in script.prompts.values() {
            assert_eq!(
                prompt.versions.len(),
                script.languages.len(),
                "{name}: prompt `{}`",
                prompt.id
            );
            for (language, source) in &prompt.versions {
                let at = format!("{name}: prompt `{}` ({language})", prompt.id);
                let PromptSource::Recorded(path) = source else {
                    panic!("{at} is {source:?}, not a recording");
                };
                // scripts/make-prompts.sh writes exactly here.
                let expected = script
                    .base_dir
                    .join("prompts")
                    .join(language.as_str())
                    .join(format!("{}.wav", prompt.id));
                assert_eq!(path, &expected, "{at}");
            }
        }
        // A recording gone missing would fall back to espeak-ng, and
        // `check` would say so here.
        let synthesised: Vec<&str> = report
            .diagnostics
            .iter()
            .filter(|d| d.message.contains("synthesised"))
            .map(|d| d.message.as_str())
            .collect();
        assert!(synthesised.is_empty(), "{name}: {synthesised:?}");
    }
}

#[test]
fn without_the_recordings_the_text_is_spoken() {
    // A survey copied somewhere without its prompts/ folder still runs.
    let src = std::fs::read_to_string(example("after-visit")).unwrap();
    let elsewhere = std::env::temp_dir()
        .join(format!("kuulo-ivr-no-prompts-{}", std::process::id()))
        .join("survey.toml");
    let report = kuulo_ivr::check_source(&src, &elsewhere);
    assert!(!report.has_errors(), "{report}");
    let script = report.script.as_ref().unwrap();
    let intro = &script.prompts[&kuulo_ivr::PromptId::new("intro")];
    match &intro.versions[&kuulo_ivr::Language::new("fi")] {
        PromptSource::Synthesized { text, voice } => {
            assert!(text.starts_with("Hei, täällä Kuopion kaupunki."), "{text}");
            assert_eq!(voice, "fi");
        }
        other => panic!("expected the text as fallback, got {other:?}"),
    }
    assert!(report
        .diagnostics
        .iter()
        .any(|d| d.message.ends_with(" in en, fi, sv")
            && d.hint
                .as_deref()
                .is_some_and(|h| h.contains("recording not found"))));
}

#[test]
fn the_example_in_the_script_guide_checks_without_errors() {
    let guide = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/survey-scripts.md");
    let text = std::fs::read_to_string(guide).expect("docs/survey-scripts.md");
    let section = text
        .split("## A short complete example")
        .nth(1)
        .expect("the guide has a complete example");
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let len = section[start..].find("```").expect("the block ends");
    let report = kuulo_ivr::check_source(&section[start..start + len], "guide.toml".as_ref());
    assert!(!report.has_errors(), "{report}");
}
