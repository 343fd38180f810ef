//! Survey scripts for automated phone surveys: the model, validation, and a
//! pure interpreter.
//!
//! City staff write a survey as a TOML script (see `docs/survey-scripts.md`).
//! [`check`] reads it and reports every problem with file, line, column and
//! a hint; [`SurveyScript::load`] gives the checked script. Each call then
//! runs an [`Interpreter`]: a sans-IO state machine that takes [`Event`]s
//! (digits, playback done, timers, hang-up) and yields [`Command`]s (play,
//! collect digits, record, timers, store answer, opt out, hang up). It never
//! touches the network, audio or the clock, so one driver task can run
//! thousands of calls and tests run whole conversations in microseconds.
//!
//! This crate knows nothing of SIP or RTP; the `kuulo` crate wires it to
//! calls.
//!
//! ```no_run
//! use std::{sync::Arc, time::Instant};
//! use kuulo_ivr::{Command, Event, Interpreter, SurveyScript};
//!
//! let script = Arc::new(SurveyScript::load("examples/surveys/after-visit/survey.toml")?);
//! let mut call = Interpreter::new(Arc::clone(&script));
//! call.handle_event(Instant::now(), Event::CallStarted);
//! while let Some(command) = call.poll_command() {
//!     match command {
//!         Command::Play { prompt, language, .. } => {
//!             let _audio = script.prompt_source(&prompt, &language);
//!         }
//!         other => println!("{other:?}"),
//!     }
//! }
//! # Ok::<(), kuulo_ivr::LoadError>(())
//! ```

#![warn(missing_docs)]

mod answer;
mod check;
mod diag;
mod error;
mod interpreter;
mod io;
mod load;
mod model;
mod raw;
mod steps;

pub use answer::{AnswerValue, NO_ANSWER, RECORDED};
pub use diag::{Diagnostic, Report, Severity};
pub use error::LoadError;
pub use interpreter::Interpreter;
pub use io::{
    Command, Disposition, Event, HangUpReason, Outcome, PlaybackId, RecordingEnd, RecordingId,
    TimerId,
};
pub use load::{check, check_source};
pub use model::{
    ChoiceOption, InputSettings, Language, OnMaxAttempts, Prompt, PromptId, PromptSource, Question,
    QuestionKind, Record, Rule, Step, StepId, StepKind, SurveyScript,
};
