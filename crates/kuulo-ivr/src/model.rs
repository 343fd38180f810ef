//! The checked survey script: what the interpreter runs.
//!
//! A `SurveyScript` only exists once a script has passed validation, so the
//! interpreter can index steps and prompts without re-checking them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::answer::AnswerValue;
use crate::error::LoadError;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Cheap to clone (a shared string), so commands can carry it.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a name.
            pub fn new(name: &str) -> Self {
                $name(Arc::from(name))
            }

            /// The name as written in the script.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", &*self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// The `id` of a step; for questions it is also the answer's key.
    StepId
);
name_type!(
    /// The name of a prompt in `[prompts]`.
    PromptId
);
name_type!(
    /// A language code from `[survey] languages`, such as `fi`.
    Language
);

/// Where a prompt's audio comes from, for one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptSource {
    /// A recorded WAV file (the path is resolved against the script's folder).
    Recorded(PathBuf),
    /// No recording yet: speak `text` with espeak-ng using `voice`.
    Synthesized {
        /// What to say.
        text: String,
        /// The espeak-ng voice, by default the language code.
        voice: String,
    },
}

/// A prompt in every language of the survey.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// The prompt's name.
    pub id: PromptId,
    /// One source per survey language.
    pub versions: BTreeMap<Language, PromptSource>,
}

/// What happens when a caller has used up all attempts at a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMaxAttempts {
    /// Store "no answer" and go on with the next step.
    Skip,
    /// Store "no answer", say goodbye and hang up.
    End,
}

/// How a question waits for keys; `[defaults]` merged with the step's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSettings {
    /// Time to wait for the first key after the prompt ends.
    pub first_digit_timeout: Duration,
    /// Time to wait between keys of a number.
    pub inter_digit_timeout: Duration,
    /// Tries before giving up (`1` means no reprompt).
    pub max_attempts: u8,
    /// Whether a key press stops the prompt.
    pub barge_in: bool,
    /// What to do after the last failed attempt.
    pub on_max_attempts: OnMaxAttempts,
    /// Played before the question is repeated after silence.
    pub no_input_prompt: Option<PromptId>,
    /// Played before the question is repeated after a wrong key.
    pub invalid_prompt: Option<PromptId>,
}

/// One choice of a `choice` question or of the language menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceOption {
    /// The key the caller presses.
    pub key: char,
    /// The stored value (for the language menu: the language code).
    pub value: String,
}

/// The kinds of question; each defines its keys and the answers it stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuestionKind {
    /// "Press 1 to take part, 2 to decline." `no` ends the call politely.
    Consent {
        /// Key for "yes, I take part".
        yes: char,
        /// Key for "no".
        no: char,
        /// Played before hanging up when the caller declines.
        declined_prompt: PromptId,
    },
    /// A yes/no question.
    YesNo {
        /// Key for yes.
        yes: char,
        /// Key for no.
        no: char,
    },
    /// One key per choice.
    Choice {
        /// The choices, in script order.
        options: Vec<ChoiceOption>,
    },
    /// A rating: one key from `min` to `max`.
    Scale {
        /// Lowest rating.
        min: u8,
        /// Highest rating.
        max: u8,
    },
    /// Several digits, ended by the terminator key or a pause.
    Number {
        /// Fewest digits accepted.
        min_digits: u8,
        /// Most digits; reaching it ends the entry at once.
        max_digits: u8,
        /// The key that ends the entry, usually `#`.
        terminator: char,
    },
    /// The language menu: the chosen language is used from then on.
    Language {
        /// Keys and language codes.
        options: Vec<ChoiceOption>,
    },
}

/// A step that waits for keys and stores an answer.
#[derive(Debug, Clone)]
pub struct Question {
    /// The question itself.
    pub prompt: PromptId,
    /// Which keys mean what.
    pub kind: QuestionKind,
    /// Timeouts, attempts, barge-in.
    pub input: InputSettings,
    /// Index of the step that follows.
    pub next: usize,
}

/// An open question answered by voice.
#[derive(Debug, Clone)]
pub struct Record {
    /// The question.
    pub prompt: PromptId,
    /// Whether a key press skips the rest of the prompt.
    pub barge_in: bool,
    /// Play a beep before recording.
    pub beep: bool,
    /// Longest recording.
    pub max_duration: Duration,
    /// Stop after this much silence; `None` records until the key or limit.
    pub silence: Option<Duration>,
    /// The key that ends the recording.
    pub finish_key: Option<char>,
    /// Index of the step that follows.
    pub next: usize,
}

/// A branch rule: if `question`'s answer is one of `values`, go to `goto`.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Index of the question step whose answer is tested.
    pub question: usize,
    /// Answers (as text, see [`AnswerValue::as_text`]) that match.
    pub values: Vec<String>,
    /// Index of the step to go to.
    pub goto: usize,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// Play a prompt, then go on.
    Play {
        /// What to play.
        prompt: PromptId,
        /// Whether a key press skips it.
        barge_in: bool,
        /// Index of the step that follows.
        next: usize,
    },
    /// Ask and wait for keys.
    Question(Question),
    /// Record an open voice answer.
    Record(Record),
    /// Choose the next step by earlier answers; first matching rule wins.
    Branch {
        /// Tested in order.
        rules: Vec<Rule>,
        /// Where to go when no rule matches.
        otherwise: usize,
    },
    /// Jump to another step.
    Goto {
        /// Index of the target step.
        to: usize,
    },
    /// Thank the caller and hang up: the survey is complete.
    End {
        /// The thank-you prompt, if any.
        prompt: Option<PromptId>,
    },
}

/// One step of the call.
#[derive(Debug, Clone)]
pub struct Step {
    /// The step's id; answers are stored under it.
    pub id: StepId,
    /// What it does.
    pub kind: StepKind,
}

impl Step {
    /// True if `value` is an answer this step can store. The interpreter
    /// only ever stores such values; tests and stores can re-check them.
    pub fn accepts(&self, value: &AnswerValue) -> bool {
        use AnswerValue as A;
        match (&self.kind, value) {
            (StepKind::Question(_) | StepKind::Record(_), A::NoAnswer) => true,
            (StepKind::Record(_), A::Recording { duration_ms }) => *duration_ms > 0,
            (StepKind::Question(q), v) => match (&q.kind, v) {
                (QuestionKind::Consent { .. } | QuestionKind::YesNo { .. }, A::Yes | A::No) => true,
                (
                    QuestionKind::Choice { options } | QuestionKind::Language { options },
                    A::Choice(c),
                ) => options.iter().any(|o| &o.value == c),
                (QuestionKind::Scale { min, max }, A::Scale(n)) => (*min..=*max).contains(n),
                (
                    QuestionKind::Number {
                        min_digits,
                        max_digits,
                        ..
                    },
                    A::Number(s),
                ) => {
                    (usize::from(*min_digits)..=usize::from(*max_digits)).contains(&s.len())
                        && s.bytes().all(|b| b.is_ascii_digit())
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// A checked survey script, ready to run on any number of calls.
///
/// Load it with [`SurveyScript::load`] (or [`crate::check`] to see every
/// finding), share it with `Arc`, and give each call an
/// [`Interpreter`](crate::Interpreter).
///
/// ```no_run
/// let script = kuulo_ivr::SurveyScript::load("examples/surveys/after-visit/survey.toml")?;
/// println!("{}: {} steps", script.title, script.steps.len());
/// # Ok::<(), kuulo_ivr::LoadError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SurveyScript {
    /// Short id for reports, such as `digital-services-2021`.
    pub id: String,
    /// Human title.
    pub title: String,
    /// Who calls (named in the introduction).
    pub caller: String,
    /// Why (named in the introduction).
    pub purpose: String,
    /// Languages every prompt exists in.
    pub languages: Vec<Language>,
    /// Language used until the caller chooses one.
    pub default_language: Language,
    /// Key that ends the call and marks the number "never call again".
    pub opt_out_key: Option<char>,
    /// Played after the opt-out key, before hanging up.
    pub opt_out_prompt: Option<PromptId>,
    /// Key that repeats the current question.
    pub repeat_key: Option<char>,
    /// Played when the call ends early after too many failed attempts.
    pub goodbye_prompt: Option<PromptId>,
    /// All prompts by name.
    pub prompts: BTreeMap<PromptId, Prompt>,
    /// Steps in script order.
    pub steps: Vec<Step>,
    /// Index of the first step.
    pub start: usize,
    /// Folder of the script; prompt files are relative to it.
    pub base_dir: PathBuf,
    pub(crate) index: HashMap<StepId, usize>,
}

impl SurveyScript {
    /// Reads and checks a script file. Fails with the full [`crate::Report`]
    /// if there is any error; warnings are dropped (use [`crate::check`] to
    /// see them).
    pub fn load(path: impl AsRef<Path>) -> Result<SurveyScript, LoadError> {
        let path = path.as_ref();
        let src = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&src, path)
    }

    /// Checks a script given as text; `file` names it in diagnostics and its
    /// folder is where prompt files are looked for.
    pub fn from_toml(src: &str, file: &Path) -> Result<SurveyScript, LoadError> {
        let mut report = crate::load::check_source(src, file);
        match report.script.take() {
            Some(script) => Ok(script),
            None => Err(LoadError::Invalid(Box::new(report))),
        }
    }

    /// The index of the step called `id`.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The step called `id`.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.step_index(id).map(|i| &self.steps[i])
    }

    /// Where the audio of `prompt` in `language` comes from.
    pub fn prompt_source(&self, prompt: &PromptId, language: &Language) -> Option<&PromptSource> {
        self.prompts.get(prompt)?.versions.get(language)
    }
}
