//! Whatever a script writer's editor produces, `check` answers with
//! diagnostics, never a panic; and whatever passes the check runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use kuulo_ivr::{check_source, Command, Event, Interpreter};
use proptest::prelude::*;

fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/surveys")
        .join(name)
        .join("survey.toml");
    std::fs::read_to_string(path).expect("example exists")
}

/// Checks `src`; if it loads, runs a call that answers every question with
/// `key` and lets every timer expire, which must end the call.
fn check_and_run(src: &str, key: char) {
    let report = check_source(src, Path::new("mutant.toml"));
    let lines = src.lines().count() + 1;
    for d in &report.diagnostics {
        assert!(d.line >= 1 && d.line <= lines, "{d}");
        assert!(d.hint.is_some(), "{d}");
    }
    let Some(script) = report.script else { return };
    let mut ivr = Interpreter::new(Arc::new(script));
    let now = Instant::now();
    let mut pending = vec![Event::CallStarted];
    for _ in 0..10_000 {
        let Some(event) = pending.pop() else { break };
        ivr.handle_event(now, event);
        while let Some(c) = ivr.poll_command() {
            match c {
                Command::Play { id, .. } => pending.push(Event::PlaybackFinished { id }),
                Command::StartTimer { id, .. } => pending.push(Event::TimerFired(id)),
                Command::CollectDigits { .. } => pending.push(Event::Digit(key)),
                Command::StartRecord { id, .. } => pending.push(Event::RecordingFinished {
                    id,
                    duration: std::time::Duration::from_secs(2),
                    reason: kuulo_ivr::RecordingEnd::Silence,
                }),
                _ => {}
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Replace(usize, usize),
    Insert(usize, String),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Replace(a, b)),
        (
            any::<usize>(),
            "[a-z_]{1,8} = (\"[a-z0-9#*]{0,4}\"|[0-9]{1,3}|true)"
        )
            .prop_map(|(a, s)| Edit::Insert(a, s)),
    ];
    prop::collection::vec(edit, 1..4)
}

fn apply(src: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = src.lines().map(str::to_owned).collect();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::Delete(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) if !lines.is_empty() => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Replace(a, b) if !lines.is_empty() => lines[a % n] = lines[b % n].clone(),
            Edit::Insert(a, s) => lines.insert(a % (lines.len() + 1), s.clone()),
            _ => {}
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_text_gets_diagnostics_not_a_panic(src in "\\PC{0,300}") {
        check_and_run(&src, '1');
    }

    #[test]
    fn damaged_examples_get_diagnostics_not_a_panic(
        which in prop::sample::select(vec!["wellbeing", "digital-services", "after-visit"]),
        edits in edits(),
        key in prop::sample::select(vec!['1', '2', '3', '9', '*', '#']),
    ) {
        check_and_run(&apply(&example(which), &edits), key);
    }
}
