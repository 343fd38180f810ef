//! The script as written: serde structs that mirror the TOML one to one.
//!
//! Every field that a diagnostic may point at is `Spanned`, so errors carry
//! line and column. Typed meaning (defaults, references, ranges) is added by
//! `load.rs`; keeping the two apart lets serde report syntax and the loader
//! report meaning, each with the best position it has.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScript {
    pub survey: Spanned<RawSurvey>,
    #[serde(default)]
    pub defaults: RawInput,
    #[serde(default)]
    pub prompts: BTreeMap<String, Spanned<BTreeMap<String, Spanned<RawPrompt>>>>,
    #[serde(default, rename = "step")]
    pub steps: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSurvey {
    pub id: Spanned<String>,
    pub title: Spanned<String>,
    pub caller: Spanned<String>,
    pub purpose: Spanned<String>,
    pub languages: Spanned<Vec<Spanned<String>>>,
    pub default_language: Option<Spanned<String>>,
    pub start: Option<Spanned<String>>,
    pub opt_out_key: Option<Spanned<String>>,
    pub opt_out_prompt: Option<Spanned<String>>,
    pub repeat_key: Option<Spanned<String>>,
    pub goodbye_prompt: Option<Spanned<String>>,
}

/// Input behaviour shared by `[defaults]` and each step that waits for keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInput {
    pub timeout: Option<Spanned<f64>>,
    pub inter_digit_timeout: Option<Spanned<f64>>,
    pub max_attempts: Option<Spanned<i64>>,
    pub barge_in: Option<Spanned<bool>>,
    pub on_max_attempts: Option<Spanned<String>>,
    pub no_input_prompt: Option<Spanned<String>>,
    pub invalid_prompt: Option<Spanned<String>>,
}

/// One language version of a prompt: `"text"` or `{ file, text, voice }`.
#[derive(Debug, Default)]
pub(crate) struct RawPrompt {
    pub file: Option<String>,
    pub text: Option<String>,
    pub voice: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub id: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub prompt: Option<Spanned<String>>,
    pub next: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    // Questions.
    pub options: Option<Spanned<Vec<Spanned<RawOption>>>>,
    pub yes_key: Option<Spanned<String>>,
    pub no_key: Option<Spanned<String>>,
    pub min: Option<Spanned<i64>>,
    pub max: Option<Spanned<i64>>,
    pub min_digits: Option<Spanned<i64>>,
    pub max_digits: Option<Spanned<i64>>,
    pub terminator: Option<Spanned<String>>,
    pub declined_prompt: Option<Spanned<String>>,
    // Record.
    pub beep: Option<Spanned<bool>>,
    pub max_seconds: Option<Spanned<f64>>,
    pub silence_seconds: Option<Spanned<f64>>,
    pub finish_key: Option<Spanned<String>>,
    // Branch.
    pub rules: Option<Spanned<Vec<Spanned<RawRule>>>>,
    pub otherwise: Option<Spanned<String>>,
    // Per-step overrides of `[defaults]`.
    pub timeout: Option<Spanned<f64>>,
    pub inter_digit_timeout: Option<Spanned<f64>>,
    pub max_attempts: Option<Spanned<i64>>,
    pub barge_in: Option<Spanned<bool>>,
    pub on_max_attempts: Option<Spanned<String>>,
    pub no_input_prompt: Option<Spanned<String>>,
    pub invalid_prompt: Option<Spanned<String>>,
}

impl RawStep {
    /// The step's input overrides, shaped like `[defaults]`.
    pub fn input(&self) -> RawInput {
        RawInput {
            timeout: self.timeout.clone(),
            inter_digit_timeout: self.inter_digit_timeout.clone(),
            max_attempts: self.max_attempts.clone(),
            barge_in: self.barge_in.clone(),
            on_max_attempts: self.on_max_attempts.clone(),
            no_input_prompt: self.no_input_prompt.clone(),
            invalid_prompt: self.invalid_prompt.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOption {
    pub key: Spanned<String>,
    pub value: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub question: Spanned<String>,
    pub is: Option<Spanned<String>>,
    pub is_one_of: Option<Spanned<Vec<String>>>,
    pub goto: Spanned<String>,
}

impl<'de> Deserialize<'de> for RawPrompt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Hand-written rather than `#[serde(untagged)]`: untagged enums lose
        // the field names in their errors ("did not match any variant"),
        // which tells a script writer nothing.
        struct PromptVisitor;
        impl<'de> Visitor<'de> for PromptVisitor {
            type Value = RawPrompt;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a text to speak, or a table like { file = \"fi/intro.wav\", text = \"...\" }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPrompt, E> {
                Ok(RawPrompt {
                    text: Some(v.to_owned()),
                    ..RawPrompt::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPrompt, A::Error> {
                let mut out = RawPrompt::default();
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "file" => &mut out.file,
                        "text" => &mut out.text,
                        "voice" => &mut out.voice,
                        other => {
                            return Err(de::Error::unknown_field(other, &["file", "text", "voice"]))
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom(format!("`{key}` is given twice")));
                    }
                    *slot = Some(map.next_value()?);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_any(PromptVisitor)
    }
}
