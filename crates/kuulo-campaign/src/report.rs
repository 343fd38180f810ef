//! A campaign's results: the funnel and the answer distributions, as
//! terminal text ([`Report`]'s `Display`), and the analysts' exports of
//! pseudonymous answers ([`export_csv`], [`export_json`]), and one
//! self-contained HTML page with charts ([`render_html`]).
//!
//! No export holds a phone number: answers are keyed by the campaign's
//! pseudonym, and the queue (the only table with numbers) is read for
//! counts only.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write;

use serde::Serialize;
use thiserror::Error;

use crate::error::StoreError;
use crate::exclusions::ExclusionReason;
use crate::store::{AnswerRow, FunnelCounts, Store};
use crate::types::{Campaign, CampaignId};

mod html;

pub use html::render_html;

/// Why a report or export failed.
#[derive(Debug, Error)]
pub enum ReportError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the export failed.
    #[error("cannot write the export: {0}; check the target path and free disk space")]
    Io(#[from] std::io::Error),
    /// Encoding the CSV failed.
    #[error("cannot write the CSV export: {0}; check the target path and free disk space")]
    Csv(#[from] csv::Error),
    /// Encoding the JSON failed.
    #[error("cannot write the JSON export: {0}; check the target path and free disk space")]
    Json(#[from] serde_json::Error),
}

/// One answer value's share of a question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerShare {
    /// The answer as text (`yes`, a choice's value, a rating).
    pub value: String,
    /// Residents who gave it.
    pub count: u64,
    /// Of the residents who answered the question, in percent.
    pub percent: f64,
}

/// The answers to one question from residents who took the survey in one
/// language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LanguageShares {
    /// The call's language (`fi`, `sv`, ...); `None` when the call did not
    /// record one.
    pub language: Option<String>,
    /// Residents who answered the question in this language.
    pub answered: u64,
    /// Each value, in the order of the question's overall
    /// [`QuestionReport::shares`] (values nobody gave in this language are
    /// left out), so charts keep one colour per value.
    pub shares: Vec<AnswerShare>,
}

/// The answers to one question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionReport {
    /// The question step's id.
    pub question: String,
    /// Residents who answered it.
    pub answered: u64,
    /// Each value, most given first.
    pub shares: Vec<AnswerShare>,
    /// The same answers split by the language of the call, languages in
    /// name order, unknown last.
    pub by_language: Vec<LanguageShares>,
}

/// A campaign's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Campaign id.
    pub campaign: i64,
    /// Title.
    pub title: String,
    /// The survey script's id.
    pub script_id: String,
    /// The funnel.
    pub funnel: FunnelCounts,
    /// Per-question distributions, in the order first answered.
    pub questions: Vec<QuestionReport>,
}

impl Report {
    /// Builds the report of `campaign` from the store. A resident who
    /// answered a question in several calls counts once, with the latest
    /// answer.
    pub fn build(store: &Store, campaign: CampaignId) -> Result<Report, StoreError> {
        let Campaign {
            id,
            title,
            script_id,
            ..
        } = store.campaign(campaign)?;
        let funnel = store.funnel(campaign)?;
        let questions = distributions(&store.answer_rows(campaign)?);
        Ok(Report {
            campaign: id.0,
            title,
            script_id,
            funnel,
            questions,
        })
    }
}

fn distributions(rows: &[AnswerRow]) -> Vec<QuestionReport> {
    let mut order: Vec<&str> = Vec::new();
    let mut latest: HashMap<(&str, &str), &AnswerRow> = HashMap::new();
    for r in rows {
        if !order.contains(&r.question.as_str()) {
            order.push(&r.question);
        }
        // Rows come in call order, so a later call's answer (and its
        // language) replaces.
        latest.insert((&r.pseudonym, &r.question), r);
    }
    order
        .into_iter()
        .map(|q| {
            let answers: Vec<&AnswerRow> = latest
                .iter()
                .filter(|((_, lq), _)| *lq == q)
                .map(|(_, r)| *r)
                .collect();
            let (answered, shares) = shares_of(answers.iter().map(|r| r.value.as_str()));
            // `None` sorts first in an Option; unknown goes last instead.
            let mut per_language: BTreeMap<(bool, Option<&str>), Vec<&str>> = BTreeMap::new();
            for r in &answers {
                let language = r.language.as_deref();
                per_language
                    .entry((language.is_none(), language))
                    .or_default()
                    .push(&r.value);
            }
            let by_language = per_language
                .into_iter()
                .map(|((_, language), values)| {
                    let (answered, mut own) = shares_of(values.into_iter());
                    own.sort_by_key(|s| shares.iter().position(|o| o.value == s.value));
                    LanguageShares {
                        language: language.map(str::to_owned),
                        answered,
                        shares: own,
                    }
                })
                .collect();
            QuestionReport {
                question: q.to_owned(),
                answered,
                shares,
                by_language,
            }
        })
        .collect()
}

/// Counts `values`: how many there are, and each value's share, most
/// given first (ties by value, so the order is stable).
fn shares_of<'a>(values: impl Iterator<Item = &'a str>) -> (u64, Vec<AnswerShare>) {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let answered: u64 = counts.values().sum();
    let mut shares: Vec<AnswerShare> = counts
        .into_iter()
        .map(|(value, count)| AnswerShare {
            value: value.to_owned(),
            count,
            percent: percent(count, answered),
        })
        .collect();
    shares.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
    (answered, shares)
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// A language as shown in reports; calls without one say so.
pub(crate) fn language_label(language: Option<&str>) -> &str {
    language.unwrap_or("unknown language")
}

/// One aligned line: label, count, and its percent of `whole` if any.
fn line(f: &mut fmt::Formatter<'_>, indent: usize, label: &str, n: u64, whole: u64) -> fmt::Result {
    let pad = 28usize.saturating_sub(indent);
    if whole == 0 {
        writeln!(f, "{:indent$}{label:<pad$} {n:>8}", "")
    } else {
        let p = percent(n, whole);
        writeln!(f, "{:indent$}{label:<pad$} {n:>8} {p:>6.1}%", "")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Campaign {}: {} (script {})",
            self.campaign, self.title, self.script_id
        )?;
        let fu = &self.funnel;
        // Stages are shares of all contacts; inbound-only campaigns have
        // none, so they fall back to shares of the callers.
        let whole = if fu.contacts > 0 {
            fu.contacts
        } else {
            fu.attempted
        };
        writeln!(f, "\nFunnel")?;
        line(f, 2, "contacts", fu.contacts, whole)?;
        line(f, 2, "excluded", fu.excluded.total(), whole)?;
        for reason in ExclusionReason::ALL {
            let n = fu.excluded.get(reason);
            if n > 0 {
                line(f, 4, reason.as_str(), n, whole)?;
            }
        }
        line(f, 2, "attempted", fu.attempted, whole)?;
        line(f, 2, "reached", fu.reached, whole)?;
        line(f, 2, "consented", fu.consented, whole)?;
        line(f, 2, "completed", fu.completed, whole)?;
        line(f, 2, "declined", fu.declined, whole)?;
        line(f, 2, "opted out", fu.opted_out, whole)?;
        for q in &self.questions {
            writeln!(f, "\nQuestion {} ({} answered)", q.question, q.answered)?;
            for s in &q.shares {
                line(f, 2, &s.value, s.count, q.answered)?;
            }
            // One language tells nothing the lines above do not.
            if q.by_language.len() > 1 {
                for l in &q.by_language {
                    let shares: Vec<String> = l
                        .shares
                        .iter()
                        .map(|s| format!("{} {:.1}%", s.value, s.percent))
                        .collect();
                    writeln!(
                        f,
                        "  in {} ({} answered): {}",
                        language_label(l.language.as_deref()),
                        l.answered,
                        shares.join(", ")
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// Writes every answer of `campaign` as CSV, one row per answer:
/// `pseudonym,call_id,question,value,answered_at_ms,language,disposition`.
pub fn export_csv(store: &Store, campaign: CampaignId, out: impl Write) -> Result<(), ReportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "pseudonym",
        "call_id",
        "question",
        "value",
        "answered_at_ms",
        "language",
        "disposition",
    ])?;
    for r in store.answer_rows(campaign)? {
        w.write_record([
            r.pseudonym.as_str(),
            &r.call_id,
            &r.question,
            &r.value,
            &r.answered_at.to_string(),
            r.language.as_deref().unwrap_or(""),
            r.disposition.as_deref().unwrap_or(""),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[derive(Serialize)]
struct JsonExport<'a> {
    report: &'a Report,
    answers: &'a [AnswerRow],
}

/// Writes the report and every answer of `campaign` as one JSON object:
/// `{"report": {...}, "answers": [...]}`.
pub fn export_json(
    store: &Store,
    campaign: CampaignId,
    out: impl Write,
) -> Result<(), ReportError> {
    let report = Report::build(store, campaign)?;
    let answers = store.answer_rows(campaign)?;
    serde_json::to_writer_pretty(
        out,
        &JsonExport {
            report: &report,
            answers: &answers,
        },
    )?;
    Ok(())
}
