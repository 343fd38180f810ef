//! A scripted caller and media side for interpreter tests, with virtual time.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kuulo_ivr::{
    AnswerValue, Command, Event, HangUpReason, Interpreter, PlaybackId, RecordingEnd, RecordingId,
    SurveyScript, TimerId,
};

/// `[survey]`, `[defaults]` and prompts shared by the test scripts; append
/// `[[step]]` tables to it.
pub const HEAD: &str = r#"
[survey]
id = "t"
title = "Test"
caller = "City of Oulu"
purpose = "testing"
languages = ["fi", "sv"]
opt_out_key = "9"
opt_out_prompt = "opt_out"
goodbye_prompt = "goodbye"

[defaults]
timeout = 5
inter_digit_timeout = 3
max_attempts = 2
no_input_prompt = "no_input"
invalid_prompt = "invalid"

[prompts]
menu = { fi = "1 suomi, 2 svenska", sv = "1 suomi, 2 svenska" }
hello = { fi = "Hei", sv = "Hej" }
consent = { fi = "Paina 1", sv = "Tryck 1" }
declined = { fi = "Selvä", sv = "Okej" }
q = { fi = "Kysymys", sv = "Fråga" }
q2 = { fi = "Toinen", sv = "Andra" }
no_input = { fi = "En kuullut", sv = "Jag hörde inte" }
invalid = { fi = "Väärä näppäin", sv = "Fel knapp" }
goodbye = { fi = "Näkemiin", sv = "Hej då" }
opt_out = { fi = "Ei soiteta enää", sv = "Vi ringer inte igen" }
bye = { fi = "Kiitos", sv = "Tack" }

[[step]]
id = "hello"
type = "play"
prompt = "hello"

[[step]]
id = "consent"
type = "consent"
prompt = "consent"
declined_prompt = "declined"
"#;

/// The usual last step.
pub const END: &str = "\n[[step]]\nid = \"end\"\ntype = \"end\"\nprompt = \"bye\"\n";

/// Loads `HEAD + steps + END`, panicking with the report if it has errors.
pub fn script(steps: &str) -> Arc<SurveyScript> {
    let src = format!("{HEAD}{steps}{END}");
    match SurveyScript::from_toml(&src, Path::new("test.toml")) {
        Ok(s) => Arc::new(s),
        Err(e) => panic!("{e}"),
    }
}

/// One call with a fake driver that remembers what is playing, which timer
/// is armed and what is recording.
pub struct Call {
    pub ivr: Interpreter,
    pub now: Instant,
    pub commands: Vec<Command>,
    pub played: Vec<String>,
    pub playing: Option<PlaybackId>,
    pub timer: Option<(TimerId, Duration)>,
    pub recording: Option<RecordingId>,
    pub hung_up: Option<HangUpReason>,
    pub stored: Vec<(String, AnswerValue)>,
}

impl Call {
    pub fn new(script: Arc<SurveyScript>) -> Self {
        Call {
            ivr: Interpreter::new(script),
            now: Instant::now(),
            commands: Vec::new(),
            played: Vec::new(),
            playing: None,
            timer: None,
            recording: None,
            hung_up: None,
            stored: Vec::new(),
        }
    }

    /// Feeds one event and applies the resulting commands to the fake driver.
    pub fn send(&mut self, event: Event) {
        self.ivr.handle_event(self.now, event);
        while let Some(c) = self.ivr.poll_command() {
            match &c {
                Command::Play {
                    id,
                    prompt,
                    language,
                    ..
                } => {
                    self.playing = Some(*id);
                    self.played.push(format!("{prompt}/{language}"));
                }
                Command::StopPlayback { id } if self.playing == Some(*id) => self.playing = None,
                Command::StartTimer { id, after } => self.timer = Some((*id, *after)),
                Command::CancelTimer { id } if self.timer.map(|t| t.0) == Some(*id) => {
                    self.timer = None
                }
                Command::StartRecord { id, .. } => self.recording = Some(*id),
                Command::StoreAnswer { question, value } => {
                    self.stored.push((question.to_string(), value.clone()))
                }
                Command::HangUp { reason } => self.hung_up = Some(*reason),
                _ => {}
            }
            self.commands.push(c);
        }
    }

    /// Runs a conversation written as tokens:
    /// `start`, `play` (the current prompt ends), `wait` (the armed timer
    /// fires), `rec:MS` (the recording ends with MS ms of audio), `hangup`,
    /// or single keys such as `1`, `*`, `#`, or `12#` for several keys.
    pub fn run(&mut self, conversation: &str) {
        for token in conversation.split_whitespace() {
            match token {
                "start" => self.send(Event::CallStarted),
                "play" => {
                    let id = self.playing.take().unwrap_or_else(|| {
                        panic!("`play` but nothing is playing; so far: {:?}", self.played)
                    });
                    self.send(Event::PlaybackFinished { id });
                }
                "wait" => {
                    let (id, after) = self.timer.take().expect("`wait` but no timer is armed");
                    self.now += after;
                    self.send(Event::TimerFired(id));
                }
                "hangup" => self.send(Event::HungUp),
                t if t.starts_with("rec:") => {
                    let ms: u64 = t[4..].parse().expect("rec:MS");
                    let id = self.recording.take().expect("`rec` but nothing records");
                    self.now += Duration::from_millis(ms);
                    self.send(Event::RecordingFinished {
                        id,
                        duration: Duration::from_millis(ms),
                        reason: RecordingEnd::Silence,
                    });
                }
                keys => {
                    for c in keys.chars() {
                        self.send(Event::Digit(c));
                    }
                }
            }
        }
    }

    /// The prompt names played, without languages.
    pub fn prompts(&self) -> Vec<&str> {
        self.played
            .iter()
            .map(|p| p.split('/').next().unwrap_or(""))
            .collect()
    }
}
