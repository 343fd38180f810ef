//! Checks on the flow of the call: reachability, loops, consent first.
//!
//! These run on a script whose fields are already valid, so every step
//! reference is a real index.

use crate::diag::Sink;
use crate::load::Spans;
use crate::model::{QuestionKind, StepKind, SurveyScript};

/// The steps that may follow `kind`.
pub(crate) fn successors(kind: &StepKind) -> Vec<usize> {
    match kind {
        StepKind::Play { next, .. } => vec![*next],
        StepKind::Question(q) => vec![q.next],
        StepKind::Record(r) => vec![r.next],
        StepKind::Branch { rules, otherwise } => {
            rules.iter().map(|r| r.goto).chain([*otherwise]).collect()
        }
        StepKind::Goto { to } => vec![*to],
        StepKind::End { .. } => vec![],
    }
}

/// Steps that pass control on without waiting for the caller.
fn is_instant(kind: &StepKind) -> bool {
    matches!(kind, StepKind::Branch { .. } | StepKind::Goto { .. })
}

pub(crate) fn graph(script: &SurveyScript, spans: &Spans, sink: &mut Sink<'_>) {
    let n = script.steps.len();
    if n == 0 {
        return;
    }
    let succ: Vec<Vec<usize>> = script.steps.iter().map(|s| successors(&s.kind)).collect();

    let reachable = reach(&[script.start], |i| succ[i].clone(), n);
    for (i, step) in script.steps.iter().enumerate() {
        if !reachable[i] {
            sink.error(
                spans.steps[i].clone(),
                format!("step `{}` can never be reached", step.id),
                "point a `next`, `goto` or branch rule at it, or delete it",
            );
        }
    }

    let mut pred = vec![Vec::new(); n];
    for (i, s) in succ.iter().enumerate() {
        for &j in s {
            pred[j].push(i);
        }
    }
    let ends: Vec<usize> = (0..n)
        .filter(|&i| matches!(script.steps[i].kind, StepKind::End { .. }))
        .collect();
    let can_end = reach(&ends, |i| pred[i].clone(), n);
    let stuck: Vec<usize> = (0..n).filter(|&i| reachable[i] && !can_end[i]).collect();
    if let Some(&first) = stuck.first() {
        let names: Vec<&str> = stuck.iter().map(|&i| script.steps[i].id.as_str()).collect();
        sink.error(
            spans.steps[first].clone(),
            format!(
                "loop with no exit: from {} no path leads to an `end` step",
                names.join(", ")
            ),
            "add a branch rule or `next` that leads to an `end` step",
        );
    }

    instant_cycles(script, &succ, &reachable, spans, sink);
    consent_first(script, &succ, spans, sink);
}

/// Marks every step reachable from `roots` along `edges`.
fn reach(roots: &[usize], edges: impl Fn(usize) -> Vec<usize>, n: usize) -> Vec<bool> {
    let mut seen = vec![false; n];
    let mut stack: Vec<usize> = roots.to_vec();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(edges(i).into_iter().filter(|&j| !seen[j]));
        }
    }
    seen
}

/// A cycle of `branch`/`goto` steps spins forever without waiting for the
/// caller: the answers it tests cannot change inside it.
fn instant_cycles(
    script: &SurveyScript,
    succ: &[Vec<usize>],
    reachable: &[bool],
    spans: &Spans,
    sink: &mut Sink<'_>,
) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let n = script.steps.len();
    let mut mark = vec![Mark::New; n];
    for root in 0..n {
        if mark[root] != Mark::New || !reachable[root] || !is_instant(&script.steps[root].kind) {
            continue;
        }
        // Iterative DFS; the path stack lets us name the cycle's steps.
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Open;
        while let Some(top) = path.last_mut() {
            let i = top.0;
            let next = succ[i].get(top.1).copied();
            top.1 += 1;
            match next {
                None => {
                    mark[i] = Mark::Done;
                    path.pop();
                }
                Some(j) if !is_instant(&script.steps[j].kind) => {}
                Some(j) if mark[j] == Mark::Open => {
                    let start = path.iter().position(|(k, _)| *k == j).unwrap_or(0);
                    let names: Vec<&str> = path[start..]
                        .iter()
                        .map(|(k, _)| script.steps[*k].id.as_str())
                        .chain([script.steps[j].id.as_str()])
                        .collect();
                    sink.error(
                        spans.steps[j].clone(),
                        format!("steps {} loop without ever waiting for the caller", names.join(" -> ")),
                        "a loop must pass through a question or play step; check the `goto` and branch targets",
                    );
                }
                Some(j) if mark[j] == Mark::New => {
                    mark[j] = Mark::Open;
                    path.push((j, 0));
                }
                Some(_) => {}
            }
        }
    }
}

/// No answer may be collected before the caller has agreed to take part.
fn consent_first(script: &SurveyScript, succ: &[Vec<usize>], spans: &Spans, sink: &mut Sink<'_>) {
    let is_consent = |i: usize| matches!(&script.steps[i].kind, StepKind::Question(q) if matches!(q.kind, QuestionKind::Consent { .. }));
    let collects = |i: usize| match &script.steps[i].kind {
        StepKind::Question(q) => !matches!(
            q.kind,
            QuestionKind::Consent { .. } | QuestionKind::Language { .. }
        ),
        StepKind::Record(_) => true,
        _ => false,
    };
    let n = script.steps.len();
    if !(0..n).any(is_consent) {
        if (0..n).any(collects) {
            sink.error(
                spans.survey.clone(),
                "the survey asks questions but has no consent step",
                "add a step with type = \"consent\" (\"press 1 to take part, 2 to decline\") before the first question",
            );
        }
        return;
    }
    let before = reach(
        &[script.start],
        |i| {
            if is_consent(i) {
                vec![]
            } else {
                succ[i].clone()
            }
        },
        n,
    );
    if !(0..n).any(|i| before[i] && matches!(script.steps[i].kind, StepKind::Play { .. })) {
        let first = (0..n).find(|&i| is_consent(i)).unwrap_or(script.start);
        sink.warning(
            spans.steps[first].clone(),
            "the consent question comes without an introduction",
            format!(
                "add a play step before it that says who calls ({}) and why ({})",
                script.caller, script.purpose
            ),
        );
    }
    for i in (0..n).filter(|&i| before[i] && collects(i)) {
        sink.error(
            spans.steps[i].clone(),
            format!(
                "step `{}` can be reached before the caller has given consent",
                script.steps[i].id
            ),
            "move the consent step before it, so every path passes consent first",
        );
    }
}
