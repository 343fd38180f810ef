//! Properties of the interpreter under any input: it never panics, stores
//! only answers the question allows, always ends, and a hang-up at any
//! point keeps every answer given so far.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kuulo_ivr::{
    AnswerValue, Command, Disposition, Event, Interpreter, PlaybackId, RecordingEnd, RecordingId,
    SurveyScript, TimerId,
};
use proptest::prelude::*;

fn scripts() -> &'static [Arc<SurveyScript>] {
    static SCRIPTS: OnceLock<Vec<Arc<SurveyScript>>> = OnceLock::new();
    SCRIPTS.get_or_init(load_scripts)
}

fn load_scripts() -> Vec<Arc<SurveyScript>> {
    let mut out: Vec<Arc<SurveyScript>> = ["wellbeing", "digital-services", "after-visit"]
        .iter()
        .map(|name| {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/surveys")
                .join(name)
                .join("survey.toml");
            Arc::new(SurveyScript::load(path).expect("example loads"))
        })
        .collect();
    // Every step kind in one script, with a loop back to a question.
    out.push(common::script(
        "
[[step]]
id = \"lang\"
type = \"language\"
prompt = \"menu\"
options = [{ key = \"1\", value = \"fi\" }, { key = \"2\", value = \"sv\" }]

[[step]]
id = \"n\"
type = \"number\"
prompt = \"q\"
min_digits = 2
max_digits = 4

[[step]]
id = \"s\"
type = \"scale\"
prompt = \"q\"
on_max_attempts = \"end\"

[[step]]
id = \"open\"
type = \"record\"
prompt = \"q2\"

[[step]]
id = \"again\"
type = \"yes_no\"
prompt = \"q2\"

[[step]]
id = \"b\"
type = \"branch\"
rules = [{ question = \"again\", is = \"yes\", goto = \"back\" }]
otherwise = \"end\"

[[step]]
id = \"back\"
type = \"goto\"
to = \"s\"
",
    ));
    out
}

/// Raw input: anything a buggy or hostile driver might send.
#[derive(Debug, Clone)]
enum Raw {
    Start,
    Digit(char),
    /// Finish the playback with this id offset from the latest (0 = current).
    Playback(u64),
    Timer(u64),
    Recording(u64, u64),
    HangUp,
}

fn raw_event() -> impl Strategy<Value = Raw> {
    let key = prop::sample::select(vec![
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'x',
    ]);
    prop_oneof![
        1 => Just(Raw::Start),
        6 => key.prop_map(Raw::Digit),
        4 => (0u64..3).prop_map(Raw::Playback),
        3 => (0u64..3).prop_map(Raw::Timer),
        2 => ((0u64..2), (0u64..5000)).prop_map(|(o, ms)| Raw::Recording(o, ms)),
        1 => Just(Raw::HangUp),
    ]
}

/// Drains commands, checking each stored answer and remembering the
/// latest ids so raw events can aim at them (or just miss).
#[derive(Default)]
struct Seen {
    playback: u64,
    timer: u64,
    recording: u64,
    stored: Vec<(String, AnswerValue)>,
    commands: usize,
}

fn drain(ivr: &mut Interpreter, seen: &mut Seen) {
    let script = Arc::clone(ivr.script());
    while let Some(c) = ivr.poll_command() {
        seen.commands += 1;
        match c {
            Command::Play { id, .. } => seen.playback = id.0,
            Command::StartTimer { id, .. } => seen.timer = id.0,
            Command::StartRecord { id, .. } => seen.recording = id.0,
            Command::StoreAnswer { question, value } => {
                let step = script
                    .step(question.as_str())
                    .expect("answer for a real step");
                assert!(step.accepts(&value), "{question} cannot store {value:?}");
                match seen.stored.iter_mut().find(|(q, _)| q == question.as_str()) {
                    Some(slot) => slot.1 = value,
                    None => seen.stored.push((question.to_string(), value)),
                }
            }
            _ => {}
        }
    }
}

/// A cooperative driver step: finish what is playing or recording, else
/// fire the armed timer. Returns the event it sent, if any.
fn advance(ivr: &mut Interpreter, seen: &mut Seen, live: &mut Live, now: Instant) -> Option<Event> {
    let event = if let Some(id) = live.playing.take() {
        Event::PlaybackFinished { id }
    } else if let Some(id) = live.recording.take() {
        Event::RecordingFinished {
            id,
            duration: Duration::from_millis(1500),
            reason: RecordingEnd::Silence,
        }
    } else if let Some(id) = live.timer.take() {
        Event::TimerFired(id)
    } else {
        return None;
    };
    send(ivr, seen, live, now, event.clone());
    Some(event)
}

/// What a well-behaved driver would have running.
#[derive(Default)]
struct Live {
    playing: Option<PlaybackId>,
    timer: Option<TimerId>,
    recording: Option<RecordingId>,
}

fn send(ivr: &mut Interpreter, seen: &mut Seen, live: &mut Live, now: Instant, event: Event) {
    ivr.handle_event(now, event);
    let script = Arc::clone(ivr.script());
    while let Some(c) = ivr.poll_command() {
        seen.commands += 1;
        match c {
            Command::Play { id, .. } => live.playing = Some(id),
            Command::StopPlayback { .. } => live.playing = None,
            Command::StartTimer { id, .. } => live.timer = Some(id),
            Command::CancelTimer { id } if live.timer == Some(id) => live.timer = None,
            Command::StartRecord { id, .. } => live.recording = Some(id),
            Command::StoreAnswer { question, value } => {
                let step = script
                    .step(question.as_str())
                    .expect("answer for a real step");
                assert!(step.accepts(&value), "{question} cannot store {value:?}");
                match seen.stored.iter_mut().find(|(q, _)| q == question.as_str()) {
                    Some(slot) => slot.1 = value,
                    None => seen.stored.push((question.to_string(), value)),
                }
            }
            _ => {}
        }
    }
}

/// Runs a call where the caller presses `keys` (None: stays silent for one
/// driver step) and the driver behaves; returns every event sent.
fn cooperative(script: &Arc<SurveyScript>, keys: &[Option<char>]) -> (Interpreter, Vec<Event>) {
    let now = Instant::now();
    let mut ivr = Interpreter::new(Arc::clone(script));
    let (mut seen, mut live) = (Seen::default(), Live::default());
    let mut events = vec![Event::CallStarted];
    send(&mut ivr, &mut seen, &mut live, now, Event::CallStarted);
    for k in keys {
        if ivr.is_finished() {
            break;
        }
        match k {
            Some(c) => {
                send(&mut ivr, &mut seen, &mut live, now, Event::Digit(*c));
                events.push(Event::Digit(*c));
            }
            None => events.extend(advance(&mut ivr, &mut seen, &mut live, now)),
        }
    }
    // Then the caller falls silent: the call must end on its own.
    let bound = 40 * script.steps.len();
    for _ in 0..bound {
        if ivr.is_finished() {
            break;
        }
        let sent = advance(&mut ivr, &mut seen, &mut live, now);
        assert!(sent.is_some(), "stuck: nothing playing, recording or timed");
        events.extend(sent);
    }
    assert!(
        ivr.is_finished(),
        "a silent caller must be let go within {bound} steps"
    );
    (ivr, events)
}

fn caller() -> impl Strategy<Value = Vec<Option<char>>> {
    let key = prop::sample::select(vec!['1', '2', '3', '4', '5', '6', '9', '*', '#', '0']);
    prop::collection::vec(prop::option::weighted(0.4, key), 0..80)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_event_sequence_is_handled(
        which in 0usize..4,
        events in prop::collection::vec(raw_event(), 0..200),
    ) {
        let scripts = scripts();
        let script = &scripts[which];
        let mut ivr = Interpreter::new(Arc::clone(script));
        let mut seen = Seen::default();
        let now = Instant::now();
        for raw in &events {
            let before = seen.commands;
            let event = match *raw {
                Raw::Start => Event::CallStarted,
                Raw::Digit(c) => Event::Digit(c),
                Raw::Playback(back) => Event::PlaybackFinished { id: PlaybackId(seen.playback.saturating_sub(back)) },
                Raw::Timer(back) => Event::TimerFired(TimerId(seen.timer.saturating_sub(back))),
                Raw::Recording(back, ms) => Event::RecordingFinished {
                    id: RecordingId(seen.recording.saturating_sub(back)),
                    duration: Duration::from_millis(ms),
                    reason: RecordingEnd::Silence,
                },
                Raw::HangUp => Event::HungUp,
            };
            ivr.handle_event(now, event);
            drain(&mut ivr, &mut seen);
            // One event never sets off a flood of commands.
            prop_assert!(seen.commands - before <= 12);
        }
        ivr.handle_event(now, Event::HungUp);
        drain(&mut ivr, &mut seen);
        let outcome = ivr.outcome().expect("a hang-up always ends the call");
        for (q, v) in &outcome.answers {
            prop_assert!(seen.stored.iter().any(|(sq, sv)| sq == q.as_str() && sv == v));
        }
    }

    #[test]
    fn a_call_always_ends_and_keeps_valid_answers(which in 0usize..4, keys in caller()) {
        let scripts = scripts();
        let (ivr, _) = cooperative(&scripts[which], &keys);
        let outcome = ivr.outcome().expect("finished");
        let consent = outcome.answers.iter().find(|(q, _)| q == "consent").map(|(_, v)| v.clone());
        match outcome.disposition {
            Disposition::Completed | Disposition::Partial => prop_assert_eq!(consent, Some(AnswerValue::Yes)),
            Disposition::DeclinedConsent => prop_assert!(matches!(consent, Some(AnswerValue::No | AnswerValue::NoAnswer))),
            Disposition::Abandoned => prop_assert!(outcome.answers.iter().all(|(q, _)| q == "language")),
            Disposition::OptedOut => {}
        }
        for (q, v) in &outcome.answers {
            prop_assert!(ivr.script().step(q.as_str()).unwrap().accepts(v));
        }
    }

    #[test]
    fn hanging_up_at_any_point_keeps_every_answer_so_far(
        which in 0usize..4,
        keys in caller(),
        cut in any::<prop::sample::Index>(),
    ) {
        let scripts = scripts();
        let script = &scripts[which];
        let (_, events) = cooperative(script, &keys);
        let cut = cut.index(events.len() + 1);
        let now = Instant::now();
        let mut ivr = Interpreter::new(Arc::clone(script));
        let mut seen = Seen::default();
        for e in &events[..cut] {
            ivr.handle_event(now, e.clone());
            drain(&mut ivr, &mut seen);
        }
        let finished_before = ivr.is_finished();
        ivr.handle_event(now, Event::HungUp);
        drain(&mut ivr, &mut seen);
        let outcome = ivr.outcome().expect("finished");
        let answers: Vec<(String, AnswerValue)> =
            outcome.answers.iter().map(|(q, v)| (q.to_string(), v.clone())).collect();
        prop_assert_eq!(&answers, &seen.stored);
        let consented = answers.iter().any(|(q, v)| q == "consent" && *v == AnswerValue::Yes);
        if consented && !finished_before {
            prop_assert!(matches!(
                outcome.disposition,
                Disposition::Partial | Disposition::Completed | Disposition::OptedOut
            ));
        }
    }
}
