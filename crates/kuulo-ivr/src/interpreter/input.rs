//! Answering a question: keys, timeouts, reprompts and attempts.

use std::sync::Arc;

use crate::answer::AnswerValue;
use crate::io::{Command, HangUpReason};
use crate::model::{OnMaxAttempts, Question, QuestionKind, StepKind};

use super::{Failure, Interpreter, Phase};

impl Interpreter {
    pub(super) fn open_input(&mut self, q: &Question, arm_timer: bool) {
        self.phase = Phase::Collecting;
        let (max_digits, terminator) = match q.kind {
            QuestionKind::Number {
                max_digits,
                terminator,
                ..
            } => (max_digits, Some(terminator)),
            _ => (1, None),
        };
        self.commands.push_back(Command::CollectDigits {
            question: self.script.steps[self.step].id.clone(),
            max_digits,
            terminator,
        });
        if arm_timer {
            self.start_timer(q.input.first_digit_timeout);
        }
    }

    /// `*`: play the question again. Not an attempt, but capped, so a caller
    /// holding `*` cannot keep the line forever.
    pub(super) fn repeat(&mut self, q: &Question) {
        self.digits.clear();
        self.repeats += 1;
        if self.repeats > q.input.max_attempts {
            return self.fail(q, Failure::Invalid);
        }
        self.play(q.prompt.clone(), None);
    }

    pub(super) fn input_digit(&mut self, q: &Question, c: char) {
        let by_key = |options: &[crate::model::ChoiceOption]| {
            options.iter().find(|o| o.key == c).map(|o| o.value.clone())
        };
        let value = match &q.kind {
            QuestionKind::Consent { yes, no, .. } | QuestionKind::YesNo { yes, no } => {
                if c == *yes {
                    Some(AnswerValue::Yes)
                } else if c == *no {
                    Some(AnswerValue::No)
                } else {
                    None
                }
            }
            QuestionKind::Choice { options } | QuestionKind::Language { options } => {
                by_key(options).map(AnswerValue::Choice)
            }
            QuestionKind::Scale { min, max } => c
                .to_digit(10)
                .and_then(|d| u8::try_from(d).ok())
                .filter(|d| (*min..=*max).contains(d))
                .map(AnswerValue::Scale),
            QuestionKind::Number {
                max_digits,
                terminator,
                ..
            } => {
                if c == *terminator {
                    return self.finish_number(q);
                }
                if !c.is_ascii_digit() {
                    return self.fail(q, Failure::Invalid);
                }
                self.digits.push(c);
                if self.digits.len() >= usize::from(*max_digits) {
                    return self.finish_number(q);
                }
                return self.start_timer(q.input.inter_digit_timeout);
            }
        };
        match value {
            Some(v) => self.answer(q, v),
            None => self.fail(q, Failure::Invalid),
        }
    }

    pub(super) fn finish_number(&mut self, q: &Question) {
        let QuestionKind::Number { min_digits, .. } = q.kind else {
            return;
        };
        if self.digits.is_empty() {
            self.fail(q, Failure::NoInput);
        } else if self.digits.len() < usize::from(min_digits) {
            self.fail(q, Failure::Invalid);
        } else {
            let digits = std::mem::take(&mut self.digits);
            self.answer(q, AnswerValue::Number(digits));
        }
    }

    pub(super) fn timer_fired(&mut self) {
        if self.phase != Phase::Collecting {
            return;
        }
        let script = Arc::clone(&self.script);
        let StepKind::Question(q) = &script.steps[self.step].kind else {
            return;
        };
        if matches!(q.kind, QuestionKind::Number { .. }) && !self.digits.is_empty() {
            self.finish_number(q);
        } else {
            self.fail(q, Failure::NoInput);
        }
    }

    pub(super) fn answer(&mut self, q: &Question, value: AnswerValue) {
        self.cancel_timer();
        let consent = match (&q.kind, &value) {
            (
                QuestionKind::Consent {
                    declined_prompt, ..
                },
                AnswerValue::No,
            ) => Some(declined_prompt.clone()),
            _ => None,
        };
        if let (QuestionKind::Language { .. }, AnswerValue::Choice(code)) = (&q.kind, &value) {
            if let Some(l) = self.script.languages.iter().find(|l| *l == code.as_str()) {
                self.language = l.clone();
            }
        }
        if matches!(q.kind, QuestionKind::Consent { .. }) {
            self.consent = Some(value == AnswerValue::Yes);
        }
        self.store(value);
        match consent {
            Some(prompt) => self.close(Some(prompt), HangUpReason::DeclinedConsent),
            None => self.enter(q.next),
        }
    }

    /// No or wrong input: reprompt, or give up after the last attempt.
    pub(super) fn fail(&mut self, q: &Question, failure: Failure) {
        self.cancel_timer();
        self.digits.clear();
        self.attempt = self.attempt.saturating_add(1);
        if self.attempt <= q.input.max_attempts {
            let reprompt = match failure {
                Failure::NoInput => q.input.no_input_prompt.clone(),
                Failure::Invalid => q.input.invalid_prompt.clone(),
            };
            return match reprompt {
                Some(p) => self.play(p, Some(q.prompt.clone())),
                None => self.play(q.prompt.clone(), None),
            };
        }
        self.store(AnswerValue::NoAnswer);
        match &q.kind {
            QuestionKind::Consent {
                declined_prompt, ..
            } => {
                self.consent = Some(false);
                self.close(Some(declined_prompt.clone()), HangUpReason::DeclinedConsent);
            }
            QuestionKind::Language { .. } => self.enter(q.next),
            _ => match q.input.on_max_attempts {
                OnMaxAttempts::Skip => self.enter(q.next),
                OnMaxAttempts::End => {
                    let goodbye = self.script.goodbye_prompt.clone();
                    self.close(goodbye, HangUpReason::NoInput);
                }
            },
        }
    }
}
