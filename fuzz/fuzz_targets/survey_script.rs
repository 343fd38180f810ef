//! Survey scripts come from city staff's editors: arbitrary text must give
//! diagnostics, never a panic. Whatever loads must also run: a short call
//! with keys taken from the same input must not panic either.
#![no_main]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use kuulo_ivr::{check_source, Command, Event, Interpreter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|src: &str| {
    let report = check_source(src, Path::new("fuzz/survey.toml"));
    for d in &report.diagnostics {
        let _ = d.to_string();
    }
    let Some(script) = report.script else { return };
    let mut ivr = Interpreter::new(Arc::new(script));
    let now = Instant::now();
    let mut pending = vec![Event::CallStarted];
    let mut keys = src.chars().filter(|c| c.is_ascii_digit() || *c == '*' || *c == '#');
    for _ in 0..1000 {
        let Some(event) = pending.pop() else { break };
        ivr.handle_event(now, event);
        while let Some(c) = ivr.poll_command() {
            match c {
                Command::Play { id, .. } => pending.push(Event::PlaybackFinished { id }),
                Command::StartTimer { id, .. } => pending.push(Event::TimerFired(id)),
                Command::CollectDigits { .. } => pending.extend(keys.next().map(Event::Digit)),
                _ => {}
            }
        }
    }
});
