//! Answers as stored: one value per question step.

use std::fmt;

/// The value stored for one question.
///
/// Stores keep answers as text ([`AnswerValue::as_text`]); branch rules in
/// scripts compare against the same text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AnswerValue {
    /// Yes (also: consent given).
    Yes,
    /// No (also: consent declined).
    No,
    /// The value of the chosen option (for the language menu: the code).
    Choice(String),
    /// A rating.
    Scale(u8),
    /// The digits typed, without the terminator.
    Number(String),
    /// An open voice answer; the driver stores the audio under the call's
    /// pseudonymous id and this step's id.
    Recording {
        /// Length of the recording.
        duration_ms: u64,
    },
    /// The caller gave no valid answer within the allowed attempts.
    NoAnswer,
}

impl AnswerValue {
    /// The text a store and branch rules use: `yes`, `no`, the choice value,
    /// the rating or digits, `recorded`, or `no answer`.
    ///
    /// ```
    /// use kuulo_ivr::AnswerValue;
    /// assert_eq!(AnswerValue::Scale(4).as_text(), "4");
    /// assert_eq!(AnswerValue::NoAnswer.as_text(), "no answer");
    /// ```
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            AnswerValue::Yes => Cow::Borrowed("yes"),
            AnswerValue::No => Cow::Borrowed("no"),
            AnswerValue::Choice(s) | AnswerValue::Number(s) => Cow::Borrowed(s),
            AnswerValue::Scale(n) => Cow::Owned(n.to_string()),
            AnswerValue::Recording { .. } => Cow::Borrowed(RECORDED),
            AnswerValue::NoAnswer => Cow::Borrowed(NO_ANSWER),
        }
    }
}

impl fmt::Display for AnswerValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_text())
    }
}

/// Text of [`AnswerValue::NoAnswer`].
pub const NO_ANSWER: &str = "no answer";
/// Text of [`AnswerValue::Recording`].
pub const RECORDED: &str = "recorded";
