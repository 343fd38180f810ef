//! Loading `[[step]]` tables: fields per step type, keys, references.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;

use crate::answer::{NO_ANSWER, RECORDED};
use crate::load::Loader;
use crate::model::{
    ChoiceOption, InputSettings, Question, QuestionKind, Record, Rule, Step, StepId, StepKind,
};
use crate::raw::{RawOption, RawStep};

const INPUT: &[&str] = &[
    "timeout",
    "max_attempts",
    "barge_in",
    "on_max_attempts",
    "no_input_prompt",
    "invalid_prompt",
];

/// Required and optional fields of each step type (besides `id` and `type`).
fn fields(kind: &str) -> Option<(&'static [&'static str], Vec<&'static str>)> {
    let with_input = |own: &[&'static str]| own.iter().chain(INPUT).copied().collect::<Vec<_>>();
    Some(match kind {
        "play" => (&["prompt"], vec!["next", "barge_in"]),
        "consent" => (
            &["prompt", "declined_prompt"],
            with_input(&["next", "yes_key", "no_key"]),
        ),
        "yes_no" => (&["prompt"], with_input(&["next", "yes_key", "no_key"])),
        "choice" | "language" => (&["prompt", "options"], with_input(&["next"])),
        "scale" => (&["prompt"], with_input(&["next", "min", "max"])),
        "number" => (
            &["prompt"],
            with_input(&[
                "next",
                "min_digits",
                "max_digits",
                "terminator",
                "inter_digit_timeout",
            ]),
        ),
        "record" => (
            &["prompt"],
            vec![
                "next",
                "beep",
                "max_seconds",
                "silence_seconds",
                "finish_key",
                "barge_in",
            ],
        ),
        "branch" => (&["rules", "otherwise"], vec![]),
        "goto" => (&["to"], vec![]),
        "end" => (&[], vec!["prompt"]),
        _ => return None,
    })
}

const KINDS: &str =
    "play, consent, yes_no, choice, scale, number, language, record, branch, goto, end";

/// The optional fields a step has filled in, with their spans.
fn present(s: &RawStep) -> Vec<(&'static str, Range<usize>)> {
    let mut out = Vec::new();
    macro_rules! field {
        ($($name:ident),*) => {$(
            if let Some(x) = &s.$name {
                out.push((stringify!($name), x.span()));
            }
        )*};
    }
    field!(
        prompt,
        next,
        to,
        options,
        yes_key,
        no_key,
        min,
        max,
        min_digits,
        max_digits,
        terminator,
        declined_prompt,
        beep,
        max_seconds,
        silence_seconds,
        finish_key,
        rules,
        otherwise,
        timeout,
        inter_digit_timeout,
        max_attempts,
        barge_in,
        on_max_attempts,
        no_input_prompt,
        invalid_prompt
    );
    out
}

/// A branch rule's values, checked once every step is known.
struct PendingValues {
    question: usize,
    values: Vec<(String, Range<usize>)>,
}

type Loaded = (Vec<Step>, HashMap<StepId, usize>, Vec<Range<usize>>);

impl Loader<'_, '_> {
    pub(crate) fn steps(&mut self, raw: &[Spanned<RawStep>], defaults: &InputSettings) -> Loaded {
        let mut index = HashMap::new();
        let mut spans = Vec::new();
        for (i, s) in raw.iter().enumerate() {
            let id = s.get_ref().id.get_ref();
            spans.push(s.get_ref().id.span());
            if id.trim().is_empty() {
                self.sink.error(
                    s.get_ref().id.span(),
                    "a step id must not be empty",
                    "use a short name like `q1` or `channel`",
                );
            } else if self.step_index.insert(id.clone(), i).is_some() {
                self.sink.error(
                    s.get_ref().id.span(),
                    format!("step id `{id}` is used twice"),
                    "give every step its own id",
                );
            } else {
                index.insert(StepId::new(id), i);
            }
        }
        let mut pending = Vec::new();
        let mut steps = Vec::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            let kind = self.step(i, raw.len(), s, defaults, &mut pending);
            steps.push(Step {
                id: StepId::new(s.get_ref().id.get_ref()),
                kind,
            });
        }
        for p in pending {
            self.rule_values(&steps, p);
        }
        (steps, index, spans)
    }

    fn step(
        &mut self,
        i: usize,
        count: usize,
        raw: &Spanned<RawStep>,
        defaults: &InputSettings,
        pending: &mut Vec<PendingValues>,
    ) -> StepKind {
        let span = raw.span();
        let s = raw.get_ref();
        let kind = s.kind.get_ref().as_str();
        let placeholder = StepKind::End { prompt: None };
        let Some((required, optional)) = fields(kind) else {
            let hint = match crate::load::did_you_mean(kind, KINDS.split(", ")) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("use one of: {KINDS}"),
            };
            self.sink
                .error(s.kind.span(), format!("unknown step type `{kind}`"), hint);
            return placeholder;
        };
        let given = present(s);
        let mut complete = true;
        for r in required {
            if !given.iter().any(|(name, _)| name == r) {
                self.sink.error(
                    span.clone(),
                    format!("a `{kind}` step needs `{r}`"),
                    "see docs/survey-scripts.md for each step type",
                );
                complete = false;
            }
        }
        for (name, field_span) in &given {
            if !required.contains(name) && !optional.contains(name) {
                self.sink.error(
                    field_span.clone(),
                    format!("`{name}` does not apply to a `{kind}` step"),
                    "remove it, or change the step's type",
                );
            }
        }
        if !complete {
            return placeholder;
        }
        let next = match (&s.next, matches!(kind, "branch" | "goto" | "end")) {
            (_, true) => 0,
            (Some(n), false) => self.step_ref(n),
            (None, false) if i + 1 < count => i + 1,
            (None, false) => {
                self.sink.error(
                    s.id.span(),
                    format!("the call would run past the last step `{}`", s.id.get_ref()),
                    "add `next = \"...\"`, or an `end` step after it",
                );
                0
            }
        };
        let question = |this: &mut Self, kind: QuestionKind| {
            let input = this.input(&s.input(), defaults);
            let prompt = s.prompt.as_ref().map(|p| this.prompt_ref(p));
            StepKind::Question(Question {
                prompt: prompt.expect("prompt is required for questions"),
                kind,
                input,
                next,
            })
        };
        match kind {
            "play" => StepKind::Play {
                prompt: self.opt_prompt(&s.prompt),
                barge_in: s
                    .barge_in
                    .as_ref()
                    .map_or(defaults.barge_in, |b| *b.get_ref()),
                next,
            },
            "consent" | "yes_no" => {
                let yes = self.key_or(&s.yes_key, '1');
                let no = self.key_or(&s.no_key, '2');
                self.check_keys(
                    &[
                        (yes, key_span(&s.yes_key, &span)),
                        (no, key_span(&s.no_key, &span)),
                    ],
                    true,
                );
                let kind = if kind == "consent" {
                    let declined_prompt = self.opt_prompt(&s.declined_prompt);
                    QuestionKind::Consent {
                        yes,
                        no,
                        declined_prompt,
                    }
                } else {
                    QuestionKind::YesNo { yes, no }
                };
                question(self, kind)
            }
            "choice" | "language" => {
                let options = self.options(s.options.as_ref(), kind == "language");
                let kind = if kind == "language" {
                    QuestionKind::Language { options }
                } else {
                    QuestionKind::Choice { options }
                };
                question(self, kind)
            }
            "scale" => {
                let min = self.int(&s.min, 1, 0, 9, "min");
                let max = self.int(&s.max, 5, 0, 9, "max");
                if min >= max {
                    self.sink.error(
                        span.clone(),
                        format!("scale from {min} to {max} is empty"),
                        "`min` must be below `max`, e.g. 1 and 5",
                    );
                } else {
                    // The range has no span of its own; `max` is where an
                    // overlap with the opt-out key (usually 9) is fixed.
                    let at = s
                        .max
                        .as_ref()
                        .or(s.min.as_ref())
                        .map_or(span.clone(), |v| v.span());
                    let keys: Vec<_> = (min..=max)
                        .map(|d| (char::from(b'0' + d), at.clone()))
                        .collect();
                    self.check_keys(&keys, true);
                }
                question(self, QuestionKind::Scale { min, max })
            }
            "number" => {
                let min_digits = self.int(&s.min_digits, 1, 1, 30, "min_digits");
                let max_digits = self.int(&s.max_digits, 10, 1, 30, "max_digits");
                if min_digits > max_digits {
                    self.sink.error(
                        span.clone(),
                        "min_digits is above max_digits",
                        "make `min_digits` at most `max_digits`",
                    );
                }
                let terminator = self.key_or(&s.terminator, '#');
                if terminator.is_ascii_digit() || Some(terminator) == self.repeat_key {
                    self.sink.error(
                        key_span(&s.terminator, &span),
                        format!("`{terminator}` cannot end a number"),
                        "the terminator must be * or # and differ from the repeat key; # is usual",
                    );
                }
                question(
                    self,
                    QuestionKind::Number {
                        min_digits,
                        max_digits,
                        terminator,
                    },
                )
            }
            "record" => {
                let max_duration = s
                    .max_seconds
                    .as_ref()
                    .and_then(|t| self.seconds(t, 1.0, 600.0, "max_seconds"))
                    .unwrap_or(std::time::Duration::from_secs(60));
                let silence = match &s.silence_seconds {
                    Some(t) if *t.get_ref() == 0.0 => None,
                    Some(t) => self.seconds(t, 0.5, 60.0, "silence_seconds"),
                    None => Some(std::time::Duration::from_secs(3)),
                };
                let finish_key = Some(self.key_or(&s.finish_key, '#'));
                StepKind::Record(Record {
                    prompt: self.opt_prompt(&s.prompt),
                    barge_in: s
                        .barge_in
                        .as_ref()
                        .map_or(defaults.barge_in, |b| *b.get_ref()),
                    beep: s.beep.as_ref().is_none_or(|b| *b.get_ref()),
                    max_duration,
                    silence,
                    finish_key,
                    next,
                })
            }
            "branch" => {
                let mut rules = Vec::new();
                for r in s
                    .rules
                    .as_ref()
                    .map(|r| r.get_ref().as_slice())
                    .unwrap_or_default()
                {
                    let r_span = r.span();
                    let r = r.get_ref();
                    let question = self.step_ref(&r.question);
                    let goto = self.step_ref(&r.goto);
                    let values: Vec<(String, Range<usize>)> = match (&r.is, &r.is_one_of) {
                        (Some(v), None) => vec![(v.get_ref().clone(), v.span())],
                        (None, Some(vs)) if !vs.get_ref().is_empty() => vs
                            .get_ref()
                            .iter()
                            .map(|v| (v.clone(), vs.span()))
                            .collect(),
                        _ => {
                            self.sink.error(
                                r_span,
                                "a rule needs `is` or a non-empty `is_one_of`, not both",
                                "e.g. { question = \"used\", is = \"no\", goto = \"why_not\" }",
                            );
                            Vec::new()
                        }
                    };
                    pending.push(PendingValues {
                        question,
                        values: values.clone(),
                    });
                    rules.push(Rule {
                        question,
                        values: values.into_iter().map(|(v, _)| v).collect(),
                        goto,
                    });
                }
                let otherwise = s.otherwise.as_ref().map_or(0, |o| self.step_ref(o));
                StepKind::Branch { rules, otherwise }
            }
            "goto" => StepKind::Goto {
                to: s.to.as_ref().map_or(0, |t| self.step_ref(t)),
            },
            _ => StepKind::End {
                prompt: s.prompt.as_ref().map(|p| self.prompt_ref(p)),
            },
        }
    }

    fn opt_prompt(&mut self, p: &Option<Spanned<String>>) -> crate::model::PromptId {
        // Callers only get here once `fields` confirmed the prompt is given.
        let p = p.as_ref().expect("required prompt checked by `fields`");
        self.prompt_ref(p)
    }

    fn key_or(&mut self, k: &Option<Spanned<String>>, default: char) -> char {
        k.as_ref().and_then(|k| self.key(k)).unwrap_or(default)
    }

    fn int(&mut self, v: &Option<Spanned<i64>>, default: u8, min: u8, max: u8, what: &str) -> u8 {
        let Some(v) = v else { return default };
        match u8::try_from(*v.get_ref()) {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                self.sink.error(
                    v.span(),
                    format!("{what} is {}, but must be {min} to {max}", v.get_ref()),
                    "a scale uses single keys 0-9; a number up to 30 digits",
                );
                default
            }
        }
    }

    fn options(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<RawOption>>>>,
        languages: bool,
    ) -> Vec<ChoiceOption> {
        let Some(raw) = raw else { return Vec::new() };
        if raw.get_ref().len() < 2 {
            self.sink.error(
                raw.span(),
                "a choice needs at least two options",
                "add options like { key = \"1\", value = \"phone\" }",
            );
        }
        let mut out: Vec<ChoiceOption> = Vec::new();
        let mut keys = Vec::new();
        for o in raw.get_ref() {
            let o = o.get_ref();
            let value = o.value.get_ref();
            if value.trim().is_empty() || value == NO_ANSWER {
                self.sink.error(
                    o.value.span(),
                    format!("`{value}` cannot be an option's value"),
                    "use a short word for the report, e.g. \"phone\"",
                );
            } else if out.iter().any(|x| &x.value == value) {
                self.sink.error(
                    o.value.span(),
                    format!("two options store `{value}`"),
                    "give each option its own value",
                );
            }
            if languages && !self.languages.iter().any(|l| l == value.as_str()) {
                self.sink.error(
                    o.value.span(),
                    format!("`{value}` is not one of the survey's languages"),
                    "use a code from [survey] languages",
                );
            }
            if let Some(key) = self.key(&o.key) {
                keys.push((key, o.key.span()));
                out.push(ChoiceOption {
                    key,
                    value: value.clone(),
                });
            }
        }
        self.check_keys(&keys, true);
        out
    }

    /// Reports a key used twice in one question, or one that clashes with
    /// the keys that work everywhere (repeat, opt-out).
    fn check_keys(&mut self, keys: &[(char, Range<usize>)], opt_out_active: bool) {
        for (i, (k, span)) in keys.iter().enumerate() {
            if keys[..i].iter().any(|(k2, _)| k2 == k) {
                self.sink.error(
                    span.clone(),
                    format!("key `{k}` is used twice in this question"),
                    "give each answer its own key",
                );
            } else if Some(*k) == self.repeat_key {
                self.sink.error(
                    span.clone(),
                    format!("key `{k}` is the repeat key"),
                    "choose another key; the repeat key replays the question",
                );
            } else if opt_out_active && Some(*k) == self.opt_out_key {
                self.sink.error(
                    span.clone(),
                    format!("key `{k}` is the opt-out key"),
                    "choose another key; the opt-out key ends the call and stops future calls",
                );
            }
        }
    }

    fn rule_values(&mut self, steps: &[Step], p: PendingValues) {
        let step = &steps[p.question];
        let allowed: Option<Vec<String>> = match &step.kind {
            StepKind::Question(q) => match &q.kind {
                QuestionKind::Consent { .. } | QuestionKind::YesNo { .. } => {
                    Some(vec!["yes".into(), "no".into()])
                }
                QuestionKind::Choice { options } | QuestionKind::Language { options } => {
                    Some(options.iter().map(|o| o.value.clone()).collect())
                }
                QuestionKind::Scale { min, max } => {
                    Some((*min..=*max).map(|n| n.to_string()).collect())
                }
                QuestionKind::Number { .. } => None,
            },
            StepKind::Record(_) => Some(vec![RECORDED.into()]),
            _ => {
                let span = p.values.first().map(|(_, s)| s.clone()).unwrap_or_default();
                self.sink.error(
                    span,
                    format!("step `{}` is not a question, so it has no answer", step.id),
                    "branch on a question or record step",
                );
                return;
            }
        };
        for (v, span) in p.values {
            let ok = v == NO_ANSWER
                || match &allowed {
                    Some(a) => a.contains(&v),
                    None => !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()),
                };
            if !ok {
                let hint = match &allowed {
                    Some(a) => format!("`{}` can answer: {}, {NO_ANSWER}", step.id, a.join(", ")),
                    None => format!("`{}` answers with digits, or {NO_ANSWER}", step.id),
                };
                self.sink
                    .error(span, format!("`{}` can never answer `{v}`", step.id), hint);
            }
        }
    }
}

fn key_span(k: &Option<Spanned<String>>, step: &Range<usize>) -> Range<usize> {
    k.as_ref().map_or_else(|| step.clone(), |k| k.span())
}
