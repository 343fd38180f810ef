//! Cost of the interpreter: one step (a key answering a question) and a
//! whole survey call, without any I/O.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use kuulo_ivr::{Command, Event, Interpreter, SurveyScript};

fn digital_services() -> Arc<SurveyScript> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/surveys/digital-services/survey.toml");
    Arc::new(SurveyScript::load(path).expect("example loads"))
}

/// Plays the driver's part: finishes playbacks and recordings, presses
/// `keys` one per question. Returns the number of events fed.
fn run_call(script: &Arc<SurveyScript>, keys: &[char], now: Instant) -> usize {
    let mut ivr = Interpreter::new(Arc::clone(script));
    let mut keys = keys.iter();
    let mut pending = vec![Event::CallStarted];
    let mut events = 0;
    while let Some(event) = pending.pop() {
        events += 1;
        ivr.handle_event(now, event);
        while let Some(c) = ivr.poll_command() {
            match c {
                Command::Play { id, .. } => pending.push(Event::PlaybackFinished { id }),
                Command::CollectDigits { .. } => {
                    if let Some(k) = keys.next() {
                        pending.push(Event::Digit(*k));
                    }
                }
                Command::StartRecord { id, .. } => pending.push(Event::RecordingFinished {
                    id,
                    duration: std::time::Duration::from_secs(3),
                    reason: kuulo_ivr::RecordingEnd::Silence,
                }),
                other => {
                    black_box(other);
                }
            }
        }
    }
    events
}

fn bench(c: &mut Criterion) {
    let script = digital_services();
    let now = Instant::now();
    // Language, consent, used (no), why not, channel, pandemic.
    let keys = ['1', '1', '2', '3', '4', '1'];
    assert!(run_call(&script, &keys, now) > 10);

    c.bench_function("interpreter/whole_call_digital_services", |b| {
        b.iter(|| run_call(&script, black_box(&keys), now))
    });

    c.bench_function("interpreter/step_answer_question", |b| {
        b.iter_batched(
            || {
                // Positioned at the language menu, waiting for a key.
                let mut ivr = Interpreter::new(Arc::clone(&script));
                ivr.handle_event(now, Event::CallStarted);
                while ivr.poll_command().is_some() {}
                ivr
            },
            |mut ivr| {
                ivr.handle_event(now, Event::Digit('1'));
                while let Some(c) = ivr.poll_command() {
                    black_box(c);
                }
                ivr
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
