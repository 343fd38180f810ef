//! The interpreter's boundary with the world: events in, commands out.

use std::time::Duration;

use crate::answer::AnswerValue;
use crate::model::{Language, PromptId, StepId};

/// Names one playback; a `PlaybackFinished` for an older id is ignored, so a
/// driver never has to worry about races with `StopPlayback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlaybackId(pub u64);

/// Names one recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordingId(pub u64);

/// Names one timer; a `TimerFired` for a cancelled or replaced timer is
/// ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(pub u64);

/// Why a recording stopped (reported by the media side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingEnd {
    /// The caller pressed the finish key.
    FinishKey,
    /// The caller stopped speaking for the configured silence.
    Silence,
    /// The maximum length was reached.
    MaxDuration,
    /// The interpreter asked with `StopRecord`.
    Stopped,
    /// The caller hung up while speaking; send this before [`Event::HungUp`]
    /// so the answer is kept.
    HungUp,
}

/// Something that happened on the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The call is answered and media flows: the survey begins.
    CallStarted,
    /// A key: `0`-`9`, `*`, `#` (or `A`-`D`, which no script uses).
    Digit(char),
    /// A [`Command::Play`] has played to its end or was stopped.
    PlaybackFinished {
        /// The playback, as given in the command.
        id: PlaybackId,
    },
    /// A [`Command::StartRecord`] has ended.
    RecordingFinished {
        /// The recording, as given in the command.
        id: RecordingId,
        /// How much audio was kept; zero means nothing was said.
        duration: Duration,
        /// Why it ended.
        reason: RecordingEnd,
    },
    /// A [`Command::StartTimer`] has expired.
    TimerFired(TimerId),
    /// The caller hung up.
    HungUp,
}

/// Why the interpreter hangs up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangUpReason {
    /// The survey reached its end.
    Completed,
    /// The caller declined, or did not answer, the consent question.
    DeclinedConsent,
    /// The caller pressed the opt-out key.
    OptedOut,
    /// Too many failed attempts at a question set to end the call.
    NoInput,
    /// The script kept jumping without ever waiting (validation rejects
    /// such scripts; this is the interpreter's own guard).
    ScriptError,
}

/// What the driver must do next. Drain them with
/// [`Interpreter::poll_command`](crate::Interpreter::poll_command) after each event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Play a prompt; report [`Event::PlaybackFinished`] with `id` when done.
    Play {
        /// Names this playback.
        id: PlaybackId,
        /// What to play (see [`SurveyScript::prompt_source`](crate::SurveyScript::prompt_source)).
        prompt: PromptId,
        /// In which language.
        language: Language,
        /// Whether a key press stops it; the interpreter sends
        /// `StopPlayback` itself, this is a hint for drivers that flush
        /// audio early.
        barge_in: bool,
    },
    /// Stop a playback at once (barge-in or opt-out). No
    /// `PlaybackFinished` is needed for it.
    StopPlayback {
        /// The playback to stop.
        id: PlaybackId,
    },
    /// The question now listens for keys; forward each as [`Event::Digit`].
    /// Drivers may use it to start in-band DTMF detection.
    CollectDigits {
        /// The question.
        question: StepId,
        /// Most keys the answer can take.
        max_digits: u8,
        /// The key that ends a number, if any.
        terminator: Option<char>,
    },
    /// Beep (if asked) and record the caller; report
    /// [`Event::RecordingFinished`] when it ends. The driver owns the audio,
    /// so it enforces `max_duration` and `silence` and must always report
    /// the end: the interpreter keeps no timer of its own here.
    StartRecord {
        /// Names this recording.
        id: RecordingId,
        /// The record step; the file should be named by the call's
        /// pseudonymous id and this, never by phone number.
        question: StepId,
        /// Play a beep first.
        beep: bool,
        /// Stop at this length.
        max_duration: Duration,
        /// Stop after this much silence.
        silence: Option<Duration>,
        /// Key that stops the recording (the interpreter also sends
        /// `StopRecord` when it sees it).
        finish_key: Option<char>,
    },
    /// Stop a recording; `RecordingFinished` still follows.
    StopRecord {
        /// The recording to stop.
        id: RecordingId,
    },
    /// Start a timer; report [`Event::TimerFired`] when it expires.
    StartTimer {
        /// Names this timer.
        id: TimerId,
        /// Time from now.
        after: Duration,
    },
    /// Cancel a timer (a late `TimerFired` for it is harmless).
    CancelTimer {
        /// The timer.
        id: TimerId,
    },
    /// Store an answer now, so a later hang-up keeps it.
    StoreAnswer {
        /// The question step.
        question: StepId,
        /// The answer.
        value: AnswerValue,
    },
    /// Mark this number "never call again".
    OptOut,
    /// End the call.
    HangUp {
        /// Why.
        reason: HangUpReason,
    },
}

/// How a call ended, for the campaign store and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The caller agreed and reached the end.
    Completed,
    /// The caller agreed but the call ended early; answers so far count.
    Partial,
    /// The caller declined (or never answered) the consent question.
    DeclinedConsent,
    /// The caller asked never to be called again.
    OptedOut,
    /// The call ended before the consent question was answered.
    Abandoned,
}

/// The result of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How it ended.
    pub disposition: Disposition,
    /// Every answer stored, in the order first given; a question asked
    /// twice keeps its latest answer.
    pub answers: Vec<(StepId, AnswerValue)>,
    /// The language the call ended in.
    pub language: Language,
    /// From `CallStarted` to the end, by the times passed in.
    pub duration: Duration,
}
