//! From TOML text to a checked [`SurveyScript`], collecting diagnostics.
//!
//! The loader never stops at the first problem: city staff fix a script
//! faster when `kuulo check` lists everything at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::diag::{Report, Sink};
use crate::model::{
    InputSettings, Language, OnMaxAttempts, Prompt, PromptId, PromptSource, SurveyScript,
};
use crate::raw::{RawInput, RawScript};

/// Checks the script file at `path` and returns every finding.
///
/// This is what `kuulo check` runs. The report holds the loaded script when
/// there are no errors.
///
/// ```no_run
/// let report = kuulo_ivr::check("examples/surveys/wellbeing/survey.toml");
/// for finding in &report.diagnostics {
///     eprintln!("{finding}");
/// }
/// std::process::exit(report.exit_code());
/// ```
pub fn check(path: impl AsRef<Path>) -> Report {
    let path = path.as_ref();
    match std::fs::read_to_string(path) {
        Ok(src) => check_source(&src, path),
        Err(e) => {
            let mut sink = Sink::new("", path);
            sink.error(
                0..0,
                format!("cannot read the script: {e}"),
                "check the path; the file must be a readable UTF-8 text file",
            );
            Report {
                file: path.to_path_buf(),
                diagnostics: sink.diagnostics,
                script: None,
            }
        }
    }
}

/// Checks a script given as text. `file` names it in diagnostics, and its
/// folder is where prompt recordings are looked for.
pub fn check_source(src: &str, file: &Path) -> Report {
    let mut sink = Sink::new(src, file);
    let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let script = match toml::from_str::<RawScript>(src) {
        Ok(raw) => {
            let mut loader = Loader::new(&mut sink, base_dir);
            let loaded = loader.load(raw);
            if !sink.has_errors() {
                loaded.and_then(|(script, spans)| {
                    crate::check::graph(&script, &spans, &mut sink);
                    (!sink.has_errors()).then_some(script)
                })
            } else {
                None
            }
        }
        Err(e) => {
            sink.error(
                e.span().unwrap_or(0..0),
                e.message().trim().to_owned(),
                toml_hint(e.message()),
            );
            None
        }
    };
    let mut diagnostics = sink.diagnostics;
    diagnostics.sort_by_key(|d| (d.line, d.column));
    Report {
        file: file.to_path_buf(),
        diagnostics,
        script,
    }
}

fn toml_hint(message: &str) -> String {
    if message.contains("unknown field") {
        "check the spelling; docs/survey-scripts.md lists every field".into()
    } else if message.contains("missing field") {
        "add the field; docs/survey-scripts.md shows a complete example".into()
    } else if message.contains("duplicate key") {
        "each name may appear once in a table; rename or remove one".into()
    } else {
        "this is not valid TOML here; compare with the example in docs/survey-scripts.md".into()
    }
}

/// The known name closest to a misspelt one, if it is close enough to be
/// what the writer meant.
pub(crate) fn did_you_mean<'k>(
    name: &str,
    known: impl Iterator<Item = &'k str>,
) -> Option<&'k str> {
    known
        .map(|k| (strsim::levenshtein(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

/// Byte spans the graph checks point at: each step's `id`, and `[survey]`.
pub(crate) struct Spans {
    pub steps: Vec<Range<usize>>,
    pub survey: Range<usize>,
}

pub(crate) struct Loader<'s, 'a> {
    pub sink: &'s mut Sink<'a>,
    pub base_dir: PathBuf,
    pub languages: Vec<Language>,
    pub prompts: BTreeMap<PromptId, Prompt>,
    pub used_prompts: BTreeSet<PromptId>,
    pub prompt_spans: BTreeMap<PromptId, Range<usize>>,
    pub language_spans: HashMap<Language, Range<usize>>,
    pub step_index: HashMap<String, usize>,
    pub repeat_key: Option<char>,
    pub opt_out_key: Option<char>,
}

impl<'s, 'a> Loader<'s, 'a> {
    fn new(sink: &'s mut Sink<'a>, base_dir: PathBuf) -> Self {
        Loader {
            sink,
            base_dir,
            languages: Vec::new(),
            prompts: BTreeMap::new(),
            used_prompts: BTreeSet::new(),
            prompt_spans: BTreeMap::new(),
            language_spans: HashMap::new(),
            step_index: HashMap::new(),
            repeat_key: None,
            opt_out_key: None,
        }
    }

    fn load(&mut self, raw: RawScript) -> Option<(SurveyScript, Spans)> {
        let survey_span = raw.survey.span();
        let survey = raw.survey.into_inner();
        for s in [&survey.id, &survey.title, &survey.caller, &survey.purpose] {
            if s.get_ref().trim().is_empty() {
                self.sink.error(
                    s.span(),
                    "this must not be empty",
                    "residents must hear who calls (`caller`) and why (`purpose`); reports use `id` and `title`",
                );
            }
        }
        self.languages = self.languages(&survey.languages);
        let default_language = match &survey.default_language {
            Some(l) if !self.languages.iter().any(|x| x == l.get_ref().as_str()) => {
                self.sink.error(
                    l.span(),
                    format!("default language `{}` is not in `languages`", l.get_ref()),
                    "add it to `languages`, or pick one of them",
                );
                None
            }
            Some(l) => Some(Language::new(l.get_ref())),
            None => self.languages.first().cloned(),
        };
        self.repeat_key = match &survey.repeat_key {
            Some(k) => self.key(k),
            None => Some('*'),
        };
        self.opt_out_key = survey.opt_out_key.as_ref().and_then(|k| self.key(k));
        if let (Some(k), Some(r)) = (&survey.opt_out_key, self.repeat_key) {
            if self.opt_out_key == Some(r) {
                self.sink.error(
                    k.span(),
                    format!("the opt-out key `{r}` is also the repeat key"),
                    "choose different keys for opting out and repeating a question",
                );
            }
        }
        self.prompts(raw.prompts);

        let opt_out_prompt = survey.opt_out_prompt.as_ref().map(|p| self.prompt_ref(p));
        if let (Some(k), None) = (&survey.opt_out_key, &opt_out_prompt) {
            self.sink.error(
                k.span(),
                "an opt-out key needs an `opt_out_prompt`",
                "add `opt_out_prompt = \"...\"` to [survey]: a polite goodbye that says the number will not be called again",
            );
        }
        let goodbye_prompt = survey.goodbye_prompt.as_ref().map(|p| self.prompt_ref(p));
        let defaults = self.input(&raw.defaults, &builtin_input());

        let (steps, index, step_spans) = self.steps(&raw.steps, &defaults);
        let start = match &survey.start {
            Some(s) => self.step_ref(s),
            None if steps.is_empty() => {
                self.sink.error(
                    survey_span.clone(),
                    "the survey has no steps",
                    "add [[step]] tables: an introduction, the consent question, your questions and an end step",
                );
                0
            }
            None => 0,
        };
        self.unused_prompts();
        let default_language = default_language?;
        Some((
            SurveyScript {
                id: survey.id.into_inner(),
                title: survey.title.into_inner(),
                caller: survey.caller.into_inner(),
                purpose: survey.purpose.into_inner(),
                languages: self.languages.clone(),
                default_language,
                opt_out_key: self.opt_out_key,
                opt_out_prompt,
                repeat_key: self.repeat_key,
                goodbye_prompt,
                prompts: std::mem::take(&mut self.prompts),
                steps,
                start,
                base_dir: self.base_dir.clone(),
                index,
            },
            Spans {
                steps: step_spans,
                survey: survey_span,
            },
        ))
    }

    fn languages(&mut self, raw: &Spanned<Vec<Spanned<String>>>) -> Vec<Language> {
        if raw.get_ref().is_empty() {
            self.sink.error(
                raw.span(),
                "no languages given",
                "list the languages the survey speaks, e.g. [\"fi\", \"sv\"]",
            );
        }
        let mut out: Vec<Language> = Vec::new();
        for l in raw.get_ref() {
            let code = l.get_ref();
            let valid = (2..=8).contains(&code.len())
                && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !valid {
                self.sink.error(
                    l.span(),
                    format!("`{code}` is not a language code"),
                    "use a short code such as fi, sv or en",
                );
            } else if out.iter().any(|x| x == code.as_str()) {
                self.sink.error(
                    l.span(),
                    format!("language `{code}` is listed twice"),
                    "list each language once",
                );
            } else {
                out.push(Language::new(code));
                self.language_spans.insert(Language::new(code), l.span());
            }
        }
        out
    }

    fn prompts(
        &mut self,
        raw: BTreeMap<String, Spanned<BTreeMap<String, Spanned<crate::raw::RawPrompt>>>>,
    ) {
        let mut per_language: HashMap<Language, usize> = HashMap::new();
        let mut missing: Vec<(Range<usize>, String, Language)> = Vec::new();
        for (name, table) in raw {
            let table_span = table.span();
            let id = PromptId::new(&name);
            let mut versions = BTreeMap::new();
            let mut synthesized = Vec::new();
            let table = table.into_inner();
            // A version that is given but broken has its own error; only
            // versions not written at all are "missing".
            let given: BTreeSet<String> = table.keys().cloned().collect();
            for (lang, entry) in table {
                let span = entry.span();
                let Some(language) = self.languages.iter().find(|l| *l == lang.as_str()).cloned()
                else {
                    self.sink.error(
                        span,
                        format!("prompt `{name}` has a `{lang}` version, but `{lang}` is not in [survey] languages"),
                        "fix the language code, or add the language to [survey] languages",
                    );
                    continue;
                };
                let entry = entry.into_inner();
                let recording = entry.file.as_ref().map(|f| self.base_dir.join(f));
                let source = match (recording, entry.text) {
                    (Some(path), _) if path.is_file() => PromptSource::Recorded(path),
                    (recording, Some(text)) if !text.trim().is_empty() => {
                        synthesized.push((lang.clone(), recording));
                        let voice = entry.voice.unwrap_or_else(|| lang.clone());
                        PromptSource::Synthesized { text, voice }
                    }
                    (Some(path), _) => {
                        self.sink.error(
                            span,
                            format!("audio file {} of prompt `{name}` ({lang}) is missing", path.display()),
                            "record the file (paths are relative to the script's folder), or add `text = \"...\"` to synthesise it",
                        );
                        continue;
                    }
                    (None, _) => {
                        self.sink.error(
                            span,
                            format!("prompt `{name}` ({lang}) has neither a recording nor text"),
                            "give `file = \"prompts/...wav\"`, or the words to speak as text",
                        );
                        continue;
                    }
                };
                *per_language.entry(language.clone()).or_default() += 1;
                versions.insert(language, source);
            }
            if !synthesized.is_empty() {
                let langs: Vec<&str> = synthesized.iter().map(|(l, _)| l.as_str()).collect();
                let missing_files: Vec<String> = synthesized
                    .iter()
                    .filter_map(|(_, p)| p.as_ref())
                    .map(|p| p.display().to_string())
                    .collect();
                let hint = if missing_files.is_empty() {
                    "fine for trying the survey; add `file = \"...wav\"` recordings before a real round".to_owned()
                } else {
                    format!(
                        "recording not found: {}; record it or fix the path",
                        missing_files.join(", ")
                    )
                };
                self.sink.warning(
                    table_span.clone(),
                    format!(
                        "prompt `{name}` will be synthesised with espeak-ng in {}",
                        langs.join(", ")
                    ),
                    hint,
                );
            }
            for l in &self.languages {
                if !given.contains(l.as_str()) {
                    missing.push((table_span.clone(), name.clone(), l.clone()));
                }
            }
            self.prompt_spans.insert(id.clone(), table_span);
            self.prompts.insert(id.clone(), Prompt { id, versions });
        }
        for (span, name, lang) in missing {
            // A language with no prompt at all gets one error below rather
            // than one per prompt.
            if per_language.contains_key(&lang) {
                self.sink.error(
                    span,
                    format!("prompt `{name}` has no `{lang}` version"),
                    format!("add `{lang} = \"...\"` (text) or `{lang} = {{ file = \"...wav\" }}` to the prompt"),
                );
            }
        }
        for l in &self.languages {
            if !per_language.contains_key(l) && !self.prompts.is_empty() {
                // Point at the first prompt table: that is where the fix goes.
                let span = self.language_spans.get(l).cloned().unwrap_or_default();
                self.sink.error(
                    span,
                    format!("language `{l}` has no prompts"),
                    format!("give every prompt a `{l}` version, or remove `{l}` from [survey] languages"),
                );
            }
        }
    }

    fn unused_prompts(&mut self) {
        let unused: Vec<(PromptId, Range<usize>)> = self
            .prompt_spans
            .iter()
            .filter(|(p, _)| !self.used_prompts.contains(*p))
            .map(|(p, s)| (p.clone(), s.clone()))
            .collect();
        for (p, span) in unused {
            self.sink.warning(
                span,
                format!("prompt `{p}` is never played"),
                "remove it, or refer to it from a step",
            );
        }
    }

    /// A reference to a prompt; records the use and reports unknown names.
    pub fn prompt_ref(&mut self, r: &Spanned<String>) -> PromptId {
        let id = PromptId::new(r.get_ref());
        if !self.prompts.contains_key(&id) {
            let names = self.prompts.keys().map(PromptId::as_str);
            let hint = match did_you_mean(r.get_ref(), names.clone()) {
                Some(k) => format!("did you mean `{k}`?"),
                None => {
                    let known: Vec<&str> = names.take(12).collect();
                    let name = r.get_ref();
                    format!(
                        "define it as [prompts.{name}]; prompts are: {}",
                        known.join(", ")
                    )
                }
            };
            self.sink
                .error(r.span(), format!("unknown prompt `{}`", r.get_ref()), hint);
        }
        self.used_prompts.insert(id.clone());
        id
    }

    /// A reference to a step, as its index; unknown names are reported.
    pub fn step_ref(&mut self, r: &Spanned<String>) -> usize {
        if let Some(i) = self.step_index.get(r.get_ref().as_str()) {
            return *i;
        }
        let names = self.step_index.keys().map(String::as_str);
        let hint = match did_you_mean(r.get_ref(), names.clone()) {
            Some(k) => format!("did you mean `{k}`?"),
            None => {
                let mut known: Vec<&str> = names.collect();
                known.sort_unstable();
                known.truncate(12);
                format!("steps are: {}", known.join(", "))
            }
        };
        self.sink
            .error(r.span(), format!("unknown step `{}`", r.get_ref()), hint);
        0
    }

    /// A single key: a digit, `*` or `#`.
    pub fn key(&mut self, r: &Spanned<String>) -> Option<char> {
        let mut chars = r.get_ref().chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => Some(c),
            _ => {
                self.sink.error(
                    r.span(),
                    format!("`{}` is not a phone key", r.get_ref()),
                    "a key is one character: 0-9, * or #",
                );
                None
            }
        }
    }

    /// Merges `raw` over `base`, checking each value given.
    pub fn input(&mut self, raw: &RawInput, base: &InputSettings) -> InputSettings {
        let mut out = base.clone();
        if let Some(t) = &raw.timeout {
            out.first_digit_timeout = self
                .seconds(t, 0.5, 60.0, "timeout")
                .unwrap_or(out.first_digit_timeout);
        }
        if let Some(t) = &raw.inter_digit_timeout {
            out.inter_digit_timeout = self
                .seconds(t, 0.5, 30.0, "inter_digit_timeout")
                .unwrap_or(out.inter_digit_timeout);
        }
        if let Some(n) = &raw.max_attempts {
            match u8::try_from(*n.get_ref()) {
                Ok(v @ 1..=10) => out.max_attempts = v,
                _ => self.sink.error(
                    n.span(),
                    format!("max_attempts is {}, but must be 1 to 10", n.get_ref()),
                    "3 is usual: the question and two reprompts",
                ),
            }
        }
        if let Some(b) = &raw.barge_in {
            out.barge_in = *b.get_ref();
        }
        if let Some(p) = &raw.on_max_attempts {
            match p.get_ref().as_str() {
                "skip" => out.on_max_attempts = OnMaxAttempts::Skip,
                "end" => out.on_max_attempts = OnMaxAttempts::End,
                other => self.sink.error(
                    p.span(),
                    format!("on_max_attempts is `{other}`"),
                    "use \"skip\" (store no answer and go on) or \"end\" (say goodbye and hang up)",
                ),
            }
        }
        if let Some(p) = &raw.no_input_prompt {
            out.no_input_prompt = Some(self.prompt_ref(p));
        }
        if let Some(p) = &raw.invalid_prompt {
            out.invalid_prompt = Some(self.prompt_ref(p));
        }
        out
    }

    /// A duration in seconds within `min..=max`.
    pub fn seconds(
        &mut self,
        t: &Spanned<f64>,
        min: f64,
        max: f64,
        what: &str,
    ) -> Option<Duration> {
        let v = *t.get_ref();
        if (min..=max).contains(&v) {
            Some(Duration::from_secs_f64(v))
        } else {
            self.sink.error(
                t.span(),
                format!("{what} is {v} seconds, but must be {min} to {max}"),
                "timeouts are in seconds; 5 is usual for the first key, 3 between keys",
            );
            None
        }
    }
}

/// Behaviour when neither `[defaults]` nor the step say otherwise: close to
/// Asterisk Read() and Twilio Gather defaults.
fn builtin_input() -> InputSettings {
    InputSettings {
        first_digit_timeout: Duration::from_secs(5),
        inter_digit_timeout: Duration::from_secs(3),
        max_attempts: 3,
        barge_in: true,
        on_max_attempts: OnMaxAttempts::Skip,
        no_input_prompt: None,
        invalid_prompt: None,
    }
}
