//! The interpreter: one survey call as a pure state machine.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::answer::{AnswerValue, NO_ANSWER};
use crate::io::{
    Command, Disposition, Event, HangUpReason, Outcome, PlaybackId, RecordingId, TimerId,
};
use crate::model::{Language, PromptId, Question, QuestionKind, StepId, StepKind, SurveyScript};

mod input;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before `CallStarted`.
    Waiting,
    /// Playing the current step's prompt (or a reprompt before it).
    Prompting,
    /// A question waits for keys.
    Collecting,
    /// A record step is recording.
    Recording,
    /// Playing a goodbye; hang up when it ends. Keys are ignored.
    Closing(HangUpReason),
    /// Finished; every event is ignored.
    Done,
}

/// Why a question's attempt failed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Failure {
    NoInput,
    Invalid,
}

/// Runs one call of a survey: feed it [`Event`]s, carry out its
/// [`Command`]s.
///
/// It reads no clock and does no I/O: the driver passes the time in, plays
/// prompts, runs timers and stores answers. The same events always give the
/// same commands, which is what the tests rely on.
///
/// # Run loop
///
/// After every [`handle_event`](Self::handle_event), drain
/// [`poll_command`](Self::poll_command) until it returns `None`. Once
/// [`outcome`](Self::outcome) is `Some`, the call is over and later events
/// are ignored.
///
/// ```
/// # use std::{path::Path, sync::Arc, time::Instant};
/// # use kuulo_ivr::{Command, Event, Interpreter, SurveyScript};
/// let src = r#"
/// [survey]
/// id = "demo"
/// title = "Demo"
/// caller = "City of Oulu"
/// purpose = "a test"
/// languages = ["en"]
/// [prompts]
/// hello = { en = "Hello, this is the City of Oulu." }
/// [[step]]
/// id = "hello"
/// type = "play"
/// prompt = "hello"
/// [[step]]
/// id = "end"
/// type = "end"
/// "#;
/// let script = Arc::new(SurveyScript::from_toml(src, Path::new("demo.toml"))?);
/// let mut call = Interpreter::new(script);
/// let now = Instant::now();
/// call.handle_event(now, Event::CallStarted);
/// while let Some(cmd) = call.poll_command() {
///     if let Command::Play { id, .. } = cmd {
///         // ... play it, then:
///         call.handle_event(now, Event::PlaybackFinished { id });
///     }
/// }
/// assert!(call.outcome().is_some());
/// # Ok::<(), kuulo_ivr::LoadError>(())
/// ```
#[derive(Debug)]
pub struct Interpreter {
    script: Arc<SurveyScript>,
    phase: Phase,
    step: usize,
    attempt: u8,
    repeats: u8,
    digits: String,
    language: Language,
    /// The question prompt to play after the current reprompt.
    then_play: Option<PromptId>,
    playback: Option<PlaybackId>,
    timer: Option<TimerId>,
    recording: Option<RecordingId>,
    next_id: u64,
    commands: VecDeque<Command>,
    answers: Vec<(StepId, AnswerValue)>,
    consent: Option<bool>,
    completed: bool,
    opted_out: bool,
    started_at: Option<Instant>,
    now: Option<Instant>,
    outcome: Option<Outcome>,
}

impl Interpreter {
    /// A new call, waiting for [`Event::CallStarted`].
    pub fn new(script: Arc<SurveyScript>) -> Self {
        let language = script.default_language.clone();
        Interpreter {
            script,
            phase: Phase::Waiting,
            step: 0,
            attempt: 1,
            repeats: 0,
            digits: String::new(),
            language,
            then_play: None,
            playback: None,
            timer: None,
            recording: None,
            next_id: 1,
            commands: VecDeque::new(),
            answers: Vec::new(),
            consent: None,
            completed: false,
            opted_out: false,
            started_at: None,
            now: None,
            outcome: None,
        }
    }

    /// Feeds one event. `now` is the driver's clock; it only dates the
    /// outcome, timers are the driver's.
    pub fn handle_event(&mut self, now: Instant, event: Event) {
        if self.phase == Phase::Done {
            return;
        }
        self.now = Some(now);
        match event {
            Event::CallStarted if self.phase == Phase::Waiting => {
                self.started_at = Some(now);
                self.enter(self.script.start);
            }
            Event::CallStarted => {}
            Event::HungUp => self.finish(None),
            Event::Digit(c) => self.digit(c),
            Event::PlaybackFinished { id } if self.playback == Some(id) => {
                self.playback = None;
                self.playback_done();
            }
            Event::PlaybackFinished { .. } => {}
            Event::RecordingFinished { id, duration, .. }
                if self.phase == Phase::Recording && self.recording == Some(id) =>
            {
                self.recording = None;
                let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
                let value = if ms > 0 {
                    AnswerValue::Recording { duration_ms: ms }
                } else {
                    AnswerValue::NoAnswer
                };
                self.store(value);
                let next = match &self.script.steps[self.step].kind {
                    StepKind::Record(r) => r.next,
                    _ => self.step,
                };
                self.enter(next);
            }
            Event::RecordingFinished { .. } => {}
            Event::TimerFired(id) if self.timer == Some(id) => {
                self.timer = None;
                self.timer_fired();
            }
            Event::TimerFired(_) => {}
        }
    }

    /// The next command for the driver, in order.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// How the call ended; `None` while it runs.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// True once the call is over.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Answers stored so far.
    pub fn answers(&self) -> &[(StepId, AnswerValue)] {
        &self.answers
    }

    /// The language prompts are played in now.
    pub fn language(&self) -> &Language {
        &self.language
    }

    /// The step being run, once the call has started.
    pub fn current_step(&self) -> Option<&StepId> {
        match self.phase {
            Phase::Waiting | Phase::Done => None,
            _ => Some(&self.script.steps[self.step].id),
        }
    }

    /// The script this call runs.
    pub fn script(&self) -> &Arc<SurveyScript> {
        &self.script
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Runs steps from `index` until one waits for the caller. Branches and
    /// gotos are followed at once; the hop limit keeps a bad script (which
    /// validation rejects anyway) from spinning forever.
    fn enter(&mut self, mut index: usize) {
        let script = Arc::clone(&self.script);
        for _ in 0..=script.steps.len() {
            self.step = index;
            self.attempt = 1;
            self.repeats = 0;
            self.digits.clear();
            match &script.steps[index].kind {
                StepKind::Play { prompt, .. } => return self.play(prompt.clone(), None),
                StepKind::Question(q) => return self.play(q.prompt.clone(), None),
                StepKind::Record(r) => return self.play(r.prompt.clone(), None),
                StepKind::Branch { rules, otherwise } => {
                    index = rules
                        .iter()
                        .find(|r| {
                            let answer = self.answer_text(&script.steps[r.question].id);
                            r.values.iter().any(|v| *v == answer)
                        })
                        .map_or(*otherwise, |r| r.goto);
                }
                StepKind::Goto { to } => index = *to,
                StepKind::End { prompt } => {
                    self.completed = true;
                    return self.close(prompt.clone(), HangUpReason::Completed);
                }
            }
        }
        self.finish(Some(HangUpReason::ScriptError));
    }

    /// The latest answer to `step` as branch rules see it; a question not
    /// asked (yet) on this call counts as "no answer".
    fn answer_text(&self, step: &StepId) -> Cow<'_, str> {
        self.answers
            .iter()
            .find(|(s, _)| s == step)
            .map_or(Cow::Borrowed(NO_ANSWER), |(_, v)| v.as_text())
    }

    fn barge_in(&self) -> bool {
        match &self.script.steps[self.step].kind {
            StepKind::Play { barge_in, .. } => *barge_in,
            StepKind::Question(q) => q.input.barge_in,
            StepKind::Record(r) => r.barge_in,
            _ => false,
        }
    }

    fn play(&mut self, prompt: PromptId, then: Option<PromptId>) {
        let barge_in = !matches!(self.phase, Phase::Closing(_)) && self.barge_in();
        let id = PlaybackId(self.fresh_id());
        self.playback = Some(id);
        self.then_play = then;
        if !matches!(self.phase, Phase::Closing(_)) {
            self.phase = Phase::Prompting;
        }
        self.commands.push_back(Command::Play {
            id,
            prompt,
            language: self.language.clone(),
            barge_in,
        });
    }

    fn stop_playback(&mut self) {
        self.then_play = None;
        if let Some(id) = self.playback.take() {
            self.commands.push_back(Command::StopPlayback { id });
        }
    }

    fn start_timer(&mut self, after: Duration) {
        self.cancel_timer();
        let id = TimerId(self.fresh_id());
        self.timer = Some(id);
        self.commands.push_back(Command::StartTimer { id, after });
    }

    fn cancel_timer(&mut self) {
        if let Some(id) = self.timer.take() {
            self.commands.push_back(Command::CancelTimer { id });
        }
    }

    fn question(&self) -> Option<&Question> {
        match &self.script.steps[self.step].kind {
            StepKind::Question(q) => Some(q),
            _ => None,
        }
    }

    fn playback_done(&mut self) {
        match self.phase {
            Phase::Prompting => {
                if let Some(p) = self.then_play.take() {
                    return self.play(p, None);
                }
                let script = Arc::clone(&self.script);
                match &script.steps[self.step].kind {
                    StepKind::Play { next, .. } => self.enter(*next),
                    StepKind::Question(q) => self.open_input(q, true),
                    StepKind::Record(_) => self.start_record(),
                    _ => self.finish(Some(HangUpReason::ScriptError)),
                }
            }
            Phase::Closing(reason) => self.finish(Some(reason)),
            _ => {}
        }
    }

    /// Whether the opt-out key counts as opting out here: everywhere but
    /// while a number is typed (where 9 is just a digit) and while recording.
    fn opt_out_active(&self) -> bool {
        !matches!(
            self.question().map(|q| &q.kind),
            Some(QuestionKind::Number { .. })
        )
    }

    fn digit(&mut self, c: char) {
        match self.phase {
            Phase::Waiting | Phase::Done | Phase::Closing(_) => {}
            Phase::Recording => {
                let finish = match &self.script.steps[self.step].kind {
                    StepKind::Record(r) => r.finish_key,
                    _ => None,
                };
                if let (Some(id), true) = (self.recording, finish == Some(c)) {
                    self.commands.push_back(Command::StopRecord { id });
                }
            }
            Phase::Prompting => {
                if self.opt_out_active() && self.script.opt_out_key == Some(c) {
                    return self.opt_out();
                }
                if !self.barge_in() {
                    return;
                }
                self.stop_playback();
                let script = Arc::clone(&self.script);
                match &script.steps[self.step].kind {
                    StepKind::Play { next, .. } => self.enter(*next),
                    StepKind::Record(_) => self.start_record(),
                    StepKind::Question(q) => {
                        if script.repeat_key == Some(c) {
                            self.repeat(q);
                        } else {
                            self.open_input(q, false);
                            self.input_digit(q, c);
                        }
                    }
                    _ => {}
                }
            }
            Phase::Collecting => {
                let script = Arc::clone(&self.script);
                let StepKind::Question(q) = &script.steps[self.step].kind else {
                    return;
                };
                if self.opt_out_active() && script.opt_out_key == Some(c) {
                    self.opt_out();
                } else if script.repeat_key == Some(c) {
                    self.cancel_timer();
                    self.repeat(q);
                } else {
                    self.input_digit(q, c);
                }
            }
        }
    }

    fn start_record(&mut self) {
        let StepKind::Record(r) = &self.script.steps[self.step].kind else {
            return;
        };
        let id = RecordingId(self.next_id);
        self.next_id += 1;
        let command = Command::StartRecord {
            id,
            question: self.script.steps[self.step].id.clone(),
            beep: r.beep,
            max_duration: r.max_duration,
            silence: r.silence,
            finish_key: r.finish_key,
        };
        self.recording = Some(id);
        self.phase = Phase::Recording;
        self.commands.push_back(command);
    }

    fn opt_out(&mut self) {
        self.opted_out = true;
        self.commands.push_back(Command::OptOut);
        let prompt = self.script.opt_out_prompt.clone();
        self.close(prompt, HangUpReason::OptedOut);
    }

    /// Says goodbye (without barge-in) and hangs up.
    fn close(&mut self, prompt: Option<PromptId>, reason: HangUpReason) {
        self.stop_playback();
        self.cancel_timer();
        self.phase = Phase::Closing(reason);
        match prompt {
            Some(p) => self.play(p, None),
            None => self.finish(Some(reason)),
        }
    }

    fn store(&mut self, value: AnswerValue) {
        let step = &self.script.steps[self.step];
        debug_assert!(step.accepts(&value), "{} cannot store {value:?}", step.id);
        self.commands.push_back(Command::StoreAnswer {
            question: step.id.clone(),
            value: value.clone(),
        });
        match self.answers.iter_mut().find(|(s, _)| *s == step.id) {
            Some(slot) => slot.1 = value,
            None => self.answers.push((step.id.clone(), value)),
        }
    }

    fn finish(&mut self, hang_up: Option<HangUpReason>) {
        self.cancel_timer();
        if let Some(reason) = hang_up {
            self.commands.push_back(Command::HangUp { reason });
        }
        self.phase = Phase::Done;
        let disposition = if self.opted_out {
            Disposition::OptedOut
        } else if self.consent == Some(false) {
            Disposition::DeclinedConsent
        } else if self.completed {
            Disposition::Completed
        } else if self.consent == Some(true) {
            Disposition::Partial
        } else {
            Disposition::Abandoned
        };
        let duration = match (self.started_at, self.now) {
            (Some(start), Some(end)) => end.saturating_duration_since(start),
            _ => Duration::ZERO,
        };
        self.outcome = Some(Outcome {
            disposition,
            answers: self.answers.clone(),
            language: self.language.clone(),
            duration,
        });
    }
}
