//! `check` on a table of broken scripts: each names its fault, with the
//! line it is on and a hint.

use std::path::Path;

use kuulo_ivr::{check_source, Severity};

/// A small script that passes: intro, consent, one question, end.
const GOOD: &str = r#"
[survey]
id = "t"
title = "Test"
caller = "City of Oulu"
purpose = "testing"
languages = ["fi", "en"]
opt_out_key = "9"
opt_out_prompt = "bye"

[prompts]
hello = { fi = "Hei", en = "Hello" }
consent = { fi = "Paina 1", en = "Press 1" }
q = { fi = "Kysymys", en = "Question" }
bye = { fi = "Hei hei", en = "Bye" }

[[step]]
id = "hello"
type = "play"
prompt = "hello"

[[step]]
id = "consent"
type = "consent"
prompt = "consent"
declined_prompt = "bye"

[[step]]
id = "q"
type = "yes_no"
prompt = "q"

[[step]]
id = "end"
type = "end"
prompt = "bye"
"#;

/// One broken script: `GOOD` with `from` replaced by `to`; the error must
/// contain `message` and sit on the first line containing `at`.
struct Case {
    name: &'static str,
    from: &'static str,
    to: &'static str,
    message: &'static str,
    at: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "unknown step reference",
        from: "type = \"yes_no\"",
        to: "type = \"yes_no\"\nnext = \"nowhere\"",
        message: "unknown step `nowhere`",
        at: "next = \"nowhere\"",
    },
    Case {
        name: "unknown prompt reference",
        from: "prompt = \"q\"",
        to: "prompt = \"qq\"",
        message: "unknown prompt `qq`",
        at: "prompt = \"qq\"",
    },
    Case {
        name: "unreachable step",
        from: "type = \"end\"\nprompt = \"bye\"\n",
        to: "type = \"end\"\nprompt = \"bye\"\n\n[[step]]\nid = \"orphan\"\ntype = \"end\"\n",
        message: "step `orphan` can never be reached",
        at: "id = \"orphan\"",
    },
    Case {
        name: "missing audio file",
        from: "hello = { fi = \"Hei\",",
        to: "hello = { fi = { file = \"no/such.wav\" },",
        message: "is missing",
        at: "hello = {",
    },
    Case {
        name: "duplicate key in a question",
        from: "prompt = \"q\"",
        to: "prompt = \"q\"\nyes_key = \"1\"\nno_key = \"1\"",
        message: "key `1` is used twice",
        at: "no_key",
    },
    Case {
        name: "question key is the opt-out key",
        from: "prompt = \"q\"",
        to: "prompt = \"q\"\nyes_key = \"9\"",
        message: "key `9` is the opt-out key",
        at: "yes_key",
    },
    Case {
        name: "choice key is the repeat key",
        from: "type = \"yes_no\"\nprompt = \"q\"",
        to: "type = \"choice\"\nprompt = \"q\"\noptions = [{ key = \"1\", value = \"a\" }, { key = \"*\", value = \"b\" }]",
        message: "key `*` is the repeat key",
        at: "options",
    },
    Case {
        name: "scale overlapping the opt-out key",
        from: "type = \"yes_no\"\nprompt = \"q\"",
        to: "type = \"scale\"\nprompt = \"q\"\nmin = 5\nmax = 9",
        message: "key `9` is the opt-out key",
        at: "max = 9",
    },
    Case {
        name: "loop with no exit",
        from: "prompt = \"q\"",
        to: "prompt = \"q\"\nnext = \"hello\"",
        message: "loop with no exit",
        at: "id = \"hello\"",
    },
    Case {
        name: "loop that never waits",
        from: "[[step]]\nid = \"end\"",
        to: "[[step]]\nid = \"b\"\ntype = \"branch\"\nrules = [{ question = \"q\", is = \"yes\", goto = \"end\" }]\notherwise = \"g\"\n\n[[step]]\nid = \"g\"\ntype = \"goto\"\nto = \"b\"\n\n[[step]]\nid = \"end\"",
        message: "loop without ever waiting",
        at: "id = \"b\"",
    },
    Case {
        name: "timeout of zero",
        from: "prompt = \"q\"",
        to: "prompt = \"q\"\ntimeout = 0",
        message: "timeout is 0 seconds",
        at: "timeout = 0",
    },
    Case {
        name: "timeout too long",
        from: "prompt = \"q\"",
        to: "prompt = \"q\"\ntimeout = 600",
        message: "timeout is 600 seconds",
        at: "timeout = 600",
    },
    Case {
        name: "no attempts",
        from: "prompt = \"q\"",
        to: "prompt = \"q\"\nmax_attempts = 0",
        message: "max_attempts is 0",
        at: "max_attempts",
    },
    Case {
        name: "record longer than ten minutes",
        from: "type = \"yes_no\"",
        to: "type = \"record\"\nmax_seconds = 3600",
        message: "max_seconds is 3600",
        at: "max_seconds",
    },
    Case {
        name: "language without prompts",
        from: "languages = [\"fi\", \"en\"]",
        to: "languages = [\"fi\", \"en\", \"sv\"]",
        message: "language `sv` has no prompts",
        at: "languages",
    },
    Case {
        name: "prompt missing one language",
        from: "bye = { fi = \"Hei hei\", en = \"Bye\" }",
        to: "bye = { fi = \"Hei hei\" }",
        message: "prompt `bye` has no `en` version",
        at: "bye = {",
    },
    Case {
        name: "prompt in an undeclared language",
        from: "q = { fi = \"Kysymys\", en = \"Question\" }",
        to: "q = { fi = \"Kysymys\", en = \"Question\", se = \"Fråga\" }",
        message: "`se` is not in [survey] languages",
        at: "q = {",
    },
    Case {
        name: "TOML syntax error",
        from: "title = \"Test\"",
        to: "title = \"Test",
        message: "",
        at: "title",
    },
    Case {
        name: "misspelt field",
        from: "prompt = \"q\"",
        to: "prompt = \"q\"\ntiemout = 5",
        message: "unknown field `tiemout`",
        at: "tiemout",
    },
    Case {
        name: "field of another step type",
        from: "prompt = \"q\"",
        to: "prompt = \"q\"\nmax_digits = 4",
        message: "`max_digits` does not apply to a `yes_no` step",
        at: "max_digits",
    },
    Case {
        name: "missing required field",
        from: "type = \"yes_no\"",
        to: "type = \"choice\"",
        message: "a `choice` step needs `options`",
        at: "[[step]]\nid = \"q\"",
    },
    Case {
        name: "question before consent",
        from: "prompt = \"hello\"",
        to: "prompt = \"hello\"\nnext = \"q\"",
        message: "before the caller has given consent",
        at: "id = \"q\"",
    },
    Case {
        name: "no consent step",
        from: "type = \"consent\"\nprompt = \"consent\"\ndeclined_prompt = \"bye\"",
        to: "type = \"play\"\nprompt = \"consent\"",
        message: "has no consent step",
        at: "[survey]",
    },
    Case {
        name: "branch on an impossible answer",
        from: "[[step]]\nid = \"end\"",
        to: "[[step]]\nid = \"b\"\ntype = \"branch\"\nrules = [{ question = \"q\", is = \"maybe\", goto = \"end\" }]\notherwise = \"end\"\n\n[[step]]\nid = \"end\"",
        message: "`q` can never answer `maybe`",
        at: "is = \"maybe\"",
    },
    Case {
        name: "duplicate step id",
        from: "id = \"end\"",
        to: "id = \"q\"",
        message: "step id `q` is used twice",
        at: "id = \"q\"\ntype = \"end\"",
    },
    Case {
        name: "unknown step type",
        from: "type = \"yes_no\"",
        to: "type = \"yesno\"",
        message: "unknown step type `yesno`",
        at: "type = \"yesno\"",
    },
    Case {
        name: "opt-out key without a goodbye",
        from: "opt_out_prompt = \"bye\"\n",
        to: "\n",
        message: "opt-out key needs an `opt_out_prompt`",
        at: "opt_out_key",
    },
    Case {
        name: "call runs past the last step",
        from: "id = \"end\"\ntype = \"end\"\nprompt = \"bye\"",
        to: "id = \"end\"\ntype = \"play\"\nprompt = \"bye\"",
        message: "run past the last step `end`",
        at: "id = \"end\"",
    },
    Case {
        name: "default language not spoken",
        from: "languages = [\"fi\", \"en\"]",
        to: "languages = [\"fi\", \"en\"]\ndefault_language = \"sv\"",
        message: "default language `sv`",
        at: "default_language",
    },
    Case {
        name: "not a phone key",
        from: "opt_out_key = \"9\"",
        to: "opt_out_key = \"99\"",
        message: "`99` is not a phone key",
        at: "opt_out_key",
    },
    Case {
        name: "terminator that is a digit",
        from: "type = \"yes_no\"",
        to: "type = \"number\"\nterminator = \"0\"",
        message: "`0` cannot end a number",
        at: "terminator",
    },
];

fn line_of(src: &str, needle: &str) -> usize {
    let offset = src
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in script"));
    src[..offset].matches('\n').count() + 1
}

#[test]
fn the_good_script_passes() {
    let report = check_source(GOOD, Path::new("good.toml"));
    assert!(!report.has_errors(), "{report}");
    // Every prompt is text only, so each is one synthesis warning.
    assert_eq!(report.warnings().count(), 4, "{report}");
    assert!(report.script.is_some());
}

#[test]
fn each_broken_script_names_its_fault_and_line() {
    for case in CASES {
        assert!(GOOD.contains(case.from), "{}: `from` not found", case.name);
        let src = GOOD.replacen(case.from, case.to, 1);
        let report = check_source(&src, Path::new("broken.toml"));
        assert!(
            report.script.is_none(),
            "{}: script should not load",
            case.name
        );
        assert_eq!(report.exit_code(), 1, "{}", case.name);
        let want_line = line_of(&src, case.at);
        let found = report.errors().find(|d| d.message.contains(case.message));
        let Some(d) = found else {
            panic!(
                "{}: no error containing `{}`:\n{report}",
                case.name, case.message
            );
        };
        assert_eq!(d.line, want_line, "{}: wrong line:\n{report}", case.name);
        assert!(d.column >= 1);
        assert_eq!(d.file, Path::new("broken.toml"));
        assert!(
            d.hint.as_deref().is_some_and(|h| !h.is_empty()),
            "{}: no hint",
            case.name
        );
        let shown = d.to_string();
        assert!(
            shown.starts_with(&format!("broken.toml:{}:", d.line)),
            "{shown}"
        );
    }
}

#[test]
fn synthesis_fallback_is_a_warning_naming_the_missing_recording() {
    let src = GOOD.replacen(
        "hello = { fi = \"Hei\",",
        "hello = { fi = { file = \"no/such.wav\", text = \"Hei\" },",
        1,
    );
    let report = check_source(&src, Path::new("w.toml"));
    assert!(!report.has_errors(), "{report}");
    let w = report
        .warnings()
        .find(|d| d.message.contains("prompt `hello` will be synthesised"))
        .expect("a synthesis warning");
    assert_eq!(w.severity, Severity::Warning);
    assert!(
        w.hint.as_deref().unwrap_or("").contains("no/such.wav"),
        "{w}"
    );
}

#[test]
fn a_recorded_prompt_next_to_the_script_is_used() {
    let dir = std::env::temp_dir().join(format!("kuulo-ivr-check-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("prompts")).unwrap();
    std::fs::write(dir.join("prompts/hello.wav"), b"RIFF").unwrap();
    let src = GOOD.replacen(
        "hello = { fi = \"Hei\",",
        "hello = { fi = { file = \"prompts/hello.wav\" },",
        1,
    );
    std::fs::write(dir.join("survey.toml"), &src).unwrap();
    let report = kuulo_ivr::check(dir.join("survey.toml"));
    std::fs::remove_dir_all(&dir).ok();
    assert!(!report.has_errors(), "{report}");
    let script = report.script.unwrap();
    let hello = &script.prompts[&kuulo_ivr::PromptId::new("hello")];
    assert!(matches!(
        hello.versions[&kuulo_ivr::Language::new("fi")],
        kuulo_ivr::PromptSource::Recorded(_)
    ));
}

#[test]
fn an_unreadable_file_is_one_error() {
    let report = kuulo_ivr::check("/no/such/dir/survey.toml");
    assert_eq!(report.errors().count(), 1);
    assert!(report.to_string().contains("cannot read"));
}

#[test]
fn misspelt_names_get_a_suggestion() {
    for (from, to, hint) in [
        ("prompt = \"q\"", "prompt = \"qq\"", "did you mean `q`?"),
        (
            "type = \"yes_no\"",
            "type = \"yesno\"",
            "did you mean `yes_no`?",
        ),
        (
            "type = \"yes_no\"",
            "type = \"yes_no\"\nnext = \"ned\"",
            "did you mean `end`?",
        ),
    ] {
        let report = check_source(&GOOD.replacen(from, to, 1), Path::new("typo.toml"));
        assert!(
            report.errors().any(|d| d.hint.as_deref() == Some(hint)),
            "{to}: want hint {hint}\n{report}"
        );
    }
}

#[test]
fn a_broken_version_is_not_also_reported_missing() {
    let src = GOOD.replacen(
        "hello = { fi = \"Hei\",",
        "hello = { fi = { file = \"x.wav\" },",
        1,
    );
    let report = check_source(&src, Path::new("x.toml"));
    assert_eq!(report.errors().count(), 1, "{report}");
}

#[test]
fn consent_without_an_introduction_is_a_warning() {
    let src = GOOD.replacen(
        "[[step]]\nid = \"hello\"\ntype = \"play\"\nprompt = \"hello\"\n",
        "",
        1,
    );
    let report = check_source(&src, Path::new("x.toml"));
    assert!(!report.has_errors(), "{report}");
    assert!(report
        .warnings()
        .any(|d| d.message.contains("without an introduction")));
}
