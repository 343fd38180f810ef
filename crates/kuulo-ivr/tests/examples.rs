//! The example surveys in examples/surveys load without errors.

use std::path::PathBuf;

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
        let script = report.script.expect("a script without errors loads");
        assert_eq!(script.languages.len(), 3, "{name} speaks fi, sv and en");
        // Text prompts are fine for now, but `check` must say so.
        assert!(report
            .diagnostics
            .iter()
            .any(|d| d.message.contains("synthesised")));
    }
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
