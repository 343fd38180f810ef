//! Scripted conversations, a table per step kind: what the caller does,
//! what they hear, what is stored and how the call ends.

mod common;

use std::time::Duration;

use common::{script, Call};
use kuulo_ivr::{Command, Disposition, Event, HangUpReason, PlaybackId, TimerId};

const YES_NO: &str = "\n[[step]]\nid = \"q\"\ntype = \"yes_no\"\nprompt = \"q\"\n";

struct Case {
    name: &'static str,
    steps: &'static str,
    talk: &'static str,
    answers: &'static [(&'static str, &'static str)],
    disposition: Disposition,
    /// Prompts heard, in order; empty means "not checked".
    heard: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "play, consent and end",
        steps: "",
        talk: "start play 1 play",
        answers: &[("consent", "yes")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "bye"],
    },
    Case {
        name: "consent declined",
        steps: YES_NO,
        talk: "start play 2 play",
        answers: &[("consent", "no")],
        disposition: Disposition::DeclinedConsent,
        heard: &["hello", "consent", "declined"],
    },
    Case {
        name: "consent never answered",
        steps: YES_NO,
        talk: "start play play wait play play wait play",
        answers: &[("consent", "no answer")],
        disposition: Disposition::DeclinedConsent,
        heard: &["hello", "consent", "no_input", "consent", "declined"],
    },
    Case {
        name: "yes/no answered after the prompt",
        steps: YES_NO,
        talk: "start play 1 play 1 play",
        answers: &[("consent", "yes"), ("q", "yes")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "bye"],
    },
    Case {
        name: "wrong key, reprompt, then an answer",
        steps: YES_NO,
        talk: "start play 1 play 5 play play 2 play",
        answers: &[("consent", "yes"), ("q", "no")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "invalid", "q", "bye"],
    },
    Case {
        name: "silence until attempts run out: skipped as no answer",
        steps: YES_NO,
        talk: "start play 1 play wait play play wait play",
        answers: &[("consent", "yes"), ("q", "no answer")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "no_input", "q", "bye"],
    },
    Case {
        name: "barge-in answers during the prompt",
        steps: YES_NO,
        talk: "start play 1 1 play",
        answers: &[("consent", "yes"), ("q", "yes")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "bye"],
    },
    Case {
        name: "without barge-in keys during the prompt are ignored",
        steps: "\n[[step]]\nid = \"q\"\ntype = \"yes_no\"\nprompt = \"q\"\nbarge_in = false\n",
        talk: "start play 1 2 play 1 play",
        answers: &[("consent", "yes"), ("q", "yes")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "bye"],
    },
    Case {
        name: "star repeats the question without using an attempt",
        steps: YES_NO,
        talk: "start play 1 play * play * play 1 play",
        answers: &[("consent", "yes"), ("q", "yes")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "q", "q", "bye"],
    },
    Case {
        name: "endless star counts as a wrong key",
        steps: YES_NO,
        talk: "start play 1 * * * play play 1 play",
        answers: &[("consent", "yes"), ("q", "yes")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "q", "q", "invalid", "q", "bye"],
    },
    Case {
        name: "choice",
        steps: "\n[[step]]\nid = \"q\"\ntype = \"choice\"\nprompt = \"q\"\noptions = [{ key = \"1\", value = \"phone\" }, { key = \"2\", value = \"chat\" }, { key = \"3\", value = \"web\" }]\n",
        talk: "start play 1 play 3 play",
        answers: &[("consent", "yes"), ("q", "web")],
        disposition: Disposition::Completed,
        heard: &[],
    },
    Case {
        name: "choice with only wrong keys",
        steps: "\n[[step]]\nid = \"q\"\ntype = \"choice\"\nprompt = \"q\"\noptions = [{ key = \"1\", value = \"phone\" }, { key = \"2\", value = \"chat\" }]\n",
        talk: "start play 1 play 4 play play 5 play",
        answers: &[("consent", "yes"), ("q", "no answer")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "invalid", "q", "bye"],
    },
    Case {
        name: "scale rejects a key outside the range",
        steps: "\n[[step]]\nid = \"q\"\ntype = \"scale\"\nprompt = \"q\"\nmin = 1\nmax = 5\n",
        talk: "start play 1 play 7 play play 4 play",
        answers: &[("consent", "yes"), ("q", "4")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "invalid", "q", "bye"],
    },
    Case {
        name: "number ended by the terminator",
        steps: "\n[[step]]\nid = \"q\"\ntype = \"number\"\nprompt = \"q\"\nmin_digits = 2\nmax_digits = 6\n",
        talk: "start play 1 play 1234# play",
        answers: &[("consent", "yes"), ("q", "1234")],
        disposition: Disposition::Completed,
        heard: &[],
    },
    Case {
        name: "number ends at max digits",
        steps: "\n[[step]]\nid = \"q\"\ntype = \"number\"\nprompt = \"q\"\nmax_digits = 4\n",
        talk: "start play 1 play 5678 play",
        answers: &[("consent", "yes"), ("q", "5678")],
        disposition: Disposition::Completed,
        heard: &[],
    },
    Case {
        name: "number ends after the inter-digit pause",
        steps: "\n[[step]]\nid = \"q\"\ntype = \"number\"\nprompt = \"q\"\n",
        talk: "start play 1 play 12 wait play",
        answers: &[("consent", "yes"), ("q", "12")],
        disposition: Disposition::Completed,
        heard: &[],
    },
    Case {
        name: "number too short is reprompted",
        steps: "\n[[step]]\nid = \"q\"\ntype = \"number\"\nprompt = \"q\"\nmin_digits = 3\n",
        talk: "start play 1 play 12# play play 123# play",
        answers: &[("consent", "yes"), ("q", "123")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "invalid", "q", "bye"],
    },
    Case {
        name: "the opt-out key is a digit inside a number",
        steps: "\n[[step]]\nid = \"q\"\ntype = \"number\"\nprompt = \"q\"\n",
        talk: "start play 1 99# play",
        answers: &[("consent", "yes"), ("q", "99")],
        disposition: Disposition::Completed,
        heard: &[],
    },
    Case {
        name: "record an open answer",
        steps: "\n[[step]]\nid = \"open\"\ntype = \"record\"\nprompt = \"q\"\n",
        talk: "start play 1 play rec:2500 play",
        answers: &[("consent", "yes"), ("open", "recorded")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "bye"],
    },
    Case {
        name: "an empty recording is no answer",
        steps: "\n[[step]]\nid = \"open\"\ntype = \"record\"\nprompt = \"q\"\n",
        talk: "start play 1 play rec:0 play",
        answers: &[("consent", "yes"), ("open", "no answer")],
        disposition: Disposition::Completed,
        heard: &[],
    },
    Case {
        name: "branch taken",
        steps: BRANCH,
        talk: "start play 1 play 1 play 2 play",
        answers: &[("consent", "yes"), ("q", "yes"), ("q2", "no")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "q2", "bye"],
    },
    Case {
        name: "branch not taken",
        steps: BRANCH,
        talk: "start play 1 play 2 play",
        answers: &[("consent", "yes"), ("q", "no")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "bye"],
    },
    Case {
        name: "goto back to a question keeps the latest answer",
        steps: "\n[[step]]\nid = \"q\"\ntype = \"yes_no\"\nprompt = \"q\"\n\n[[step]]\nid = \"b\"\ntype = \"branch\"\nrules = [{ question = \"q\", is = \"yes\", goto = \"end\" }]\notherwise = \"again\"\n\n[[step]]\nid = \"again\"\ntype = \"goto\"\nto = \"q\"\n",
        talk: "start play 1 play 2 play 1 play",
        answers: &[("consent", "yes"), ("q", "yes")],
        disposition: Disposition::Completed,
        heard: &["hello", "consent", "q", "q", "bye"],
    },
    Case {
        name: "opt-out during a question",
        steps: YES_NO,
        talk: "start play 1 9 play",
        answers: &[("consent", "yes")],
        disposition: Disposition::OptedOut,
        heard: &["hello", "consent", "q", "opt_out"],
    },
    Case {
        name: "opt-out during the introduction",
        steps: YES_NO,
        talk: "start 9 play",
        answers: &[],
        disposition: Disposition::OptedOut,
        heard: &["hello", "opt_out"],
    },
    Case {
        name: "attempts run out and the step ends the call",
        steps: "\n[[step]]\nid = \"q\"\ntype = \"yes_no\"\nprompt = \"q\"\non_max_attempts = \"end\"\n\n[[step]]\nid = \"q2\"\ntype = \"yes_no\"\nprompt = \"q2\"\n",
        talk: "start play 1 play wait play play wait play",
        answers: &[("consent", "yes"), ("q", "no answer")],
        disposition: Disposition::Partial,
        heard: &["hello", "consent", "q", "no_input", "q", "goodbye"],
    },
    Case {
        name: "hang-up midway keeps the answers given",
        steps: "\n[[step]]\nid = \"q\"\ntype = \"yes_no\"\nprompt = \"q\"\n\n[[step]]\nid = \"q2\"\ntype = \"yes_no\"\nprompt = \"q2\"\n",
        talk: "start play 1 play 1 hangup",
        answers: &[("consent", "yes"), ("q", "yes")],
        disposition: Disposition::Partial,
        heard: &["hello", "consent", "q", "q2"],
    },
    Case {
        name: "hang-up before consent",
        steps: YES_NO,
        talk: "start play hangup",
        answers: &[],
        disposition: Disposition::Abandoned,
        heard: &["hello", "consent"],
    },
];

const BRANCH: &str = "\n[[step]]\nid = \"q\"\ntype = \"yes_no\"\nprompt = \"q\"\n\n[[step]]\nid = \"b\"\ntype = \"branch\"\nrules = [{ question = \"q\", is = \"yes\", goto = \"q2\" }]\notherwise = \"end\"\n\n[[step]]\nid = \"q2\"\ntype = \"yes_no\"\nprompt = \"q2\"\n";

#[test]
fn conversations() {
    for case in CASES {
        let mut call = Call::new(script(case.steps));
        call.run(case.talk);
        let outcome = call
            .ivr
            .outcome()
            .unwrap_or_else(|| panic!("{}: call not finished; heard {:?}", case.name, call.played));
        assert_eq!(outcome.disposition, case.disposition, "{}", case.name);
        let answers: Vec<(String, String)> = outcome
            .answers
            .iter()
            .map(|(q, v)| (q.to_string(), v.as_text().into_owned()))
            .collect();
        let want: Vec<(String, String)> = case
            .answers
            .iter()
            .map(|(q, v)| (q.to_string(), v.to_string()))
            .collect();
        assert_eq!(answers, want, "{}", case.name);
        if !case.heard.is_empty() {
            assert_eq!(call.prompts(), case.heard, "{}", case.name);
        }
        // Every answer in the outcome was also sent as a StoreAnswer, so a
        // store that only sees commands holds the same data.
        for (q, v) in &outcome.answers {
            assert!(
                call.stored
                    .iter()
                    .any(|(sq, sv)| sq == q.as_str() && sv == v),
                "{}",
                case.name
            );
        }
        let script = call.ivr.script();
        for (q, v) in &call.stored {
            assert!(
                script.step(q).unwrap().accepts(v),
                "{}: {q} = {v:?}",
                case.name
            );
        }
    }
}

#[test]
fn the_language_menu_switches_every_later_prompt() {
    let steps = "\n[[step]]\nid = \"lang\"\ntype = \"language\"\nprompt = \"menu\"\noptions = [{ key = \"1\", value = \"fi\" }, { key = \"2\", value = \"sv\" }]\n";
    let mut call = Call::new(script(steps));
    call.run("start play 1 play 2 play");
    assert_eq!(call.played, ["hello/fi", "consent/fi", "menu/fi", "bye/sv"]);
    let outcome = call.ivr.outcome().unwrap();
    assert_eq!(outcome.language, "sv");
    assert_eq!(outcome.disposition, Disposition::Completed);
}

#[test]
fn opting_out_sends_opt_out_and_hangs_up_politely() {
    let mut call = Call::new(script(YES_NO));
    call.run("start play 1 9");
    assert!(call.commands.contains(&Command::OptOut));
    assert!(call
        .commands
        .iter()
        .any(|c| matches!(c, Command::StopPlayback { .. })));
    assert_eq!(call.hung_up, None, "the goodbye plays first");
    call.run("9 9 play");
    assert_eq!(call.hung_up, Some(HangUpReason::OptedOut));
    assert_eq!(
        call.commands
            .iter()
            .filter(|c| **c == Command::OptOut)
            .count(),
        1
    );
}

#[test]
fn the_finish_key_stops_a_recording() {
    let steps = "\n[[step]]\nid = \"open\"\ntype = \"record\"\nprompt = \"q\"\nmax_seconds = 30\nsilence_seconds = 2\n";
    let mut call = Call::new(script(steps));
    call.run("start play 1 play");
    let start = call.commands.iter().find_map(|c| match c {
        Command::StartRecord {
            id,
            max_duration,
            silence,
            finish_key,
            beep,
            ..
        } => Some((*id, *max_duration, *silence, *finish_key, *beep)),
        _ => None,
    });
    let (id, max, silence, key, beep) = start.expect("recording started");
    assert_eq!(max, Duration::from_secs(30));
    assert_eq!(silence, Some(Duration::from_secs(2)));
    assert_eq!((key, beep), (Some('#'), true));
    call.run("9 #");
    assert_eq!(call.commands.last(), Some(&Command::StopRecord { id }));
    assert!(
        !call.commands.contains(&Command::OptOut),
        "9 is speech time, not opt-out"
    );
    call.run("rec:1200 play");
    assert_eq!(
        call.ivr.outcome().unwrap().disposition,
        Disposition::Completed
    );
}

#[test]
fn stale_timers_and_playbacks_are_ignored() {
    let mut call = Call::new(script(YES_NO));
    call.run("start play 1 play");
    let before = call.commands.len();
    call.send(Event::TimerFired(TimerId(9999)));
    call.send(Event::PlaybackFinished {
        id: PlaybackId(9999),
    });
    assert_eq!(call.commands.len(), before);
    call.run("1 play");
    assert_eq!(
        call.ivr.outcome().unwrap().disposition,
        Disposition::Completed
    );
}

#[test]
fn number_entry_announces_its_digits_and_terminator() {
    let steps = "\n[[step]]\nid = \"q\"\ntype = \"number\"\nprompt = \"q\"\nmax_digits = 5\n";
    let mut call = Call::new(script(steps));
    call.run("start play 1 play");
    assert!(call.commands.iter().any(|c| matches!(
        c,
        Command::CollectDigits { question, max_digits: 5, terminator: Some('#') } if question == "q"
    )));
    assert_eq!(call.timer.map(|t| t.1), Some(Duration::from_secs(5)));
    call.run("1");
    assert_eq!(
        call.timer.map(|t| t.1),
        Some(Duration::from_secs(3)),
        "inter-digit"
    );
}

#[test]
fn nothing_happens_after_the_call_ends() {
    let mut call = Call::new(script(YES_NO));
    call.run("start play 1 play 1 play");
    let outcome = call.ivr.outcome().cloned().unwrap();
    assert_eq!(outcome.duration, Duration::from_secs(0));
    let before = call.commands.len();
    call.run("1 2 hangup start");
    assert_eq!(call.commands.len(), before);
    assert_eq!(call.ivr.outcome(), Some(&outcome));
}

#[test]
fn outcome_duration_follows_the_time_passed_in() {
    let mut call = Call::new(script(YES_NO));
    call.run("start play 1 play wait play play 1 play");
    assert_eq!(call.ivr.outcome().unwrap().duration, Duration::from_secs(5));
}

#[test]
fn a_call_can_move_between_threads() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<kuulo_ivr::Interpreter>();
    assert_send::<kuulo_ivr::Command>();
}
