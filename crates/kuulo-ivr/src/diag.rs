//! Diagnostics: what `kuulo check` prints, one line per finding.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::model::SurveyScript;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The script still runs, but something deserves a look (for example a
    /// prompt that will be spoken by the synthesiser).
    Warning,
    /// The script cannot run until this is fixed.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding in a script, with its position and a hint on how to fix it.
///
/// `Display` renders it the way compilers do, so editors can jump to it:
///
/// ```text
/// survey.toml:12:8: error: unknown step `chanel`
///   hint: steps are: intro, consent, channel, thanks
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The script file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.severity,
            self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// The result of checking one script: every finding, and the script itself
/// when there were no errors.
#[derive(Debug)]
pub struct Report {
    /// The checked file.
    pub file: PathBuf,
    /// Findings in source order, errors and warnings mixed.
    pub diagnostics: Vec<Diagnostic>,
    /// The loaded script; `None` if any error was found.
    pub script: Option<SurveyScript>,
}

impl Report {
    /// True if the script cannot run.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    /// The process exit code `kuulo check` uses: 0 when the script can run,
    /// 1 otherwise. Warnings alone do not fail the check.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.has_errors())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        write!(
            f,
            "{}: {errors} error(s), {warnings} warning(s)",
            self.file.display()
        )
    }
}

/// Collects findings while a script is loaded; turns byte spans into
/// line and column.
pub(crate) struct Sink<'a> {
    src: &'a str,
    file: &'a Path,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Sink<'a> {
    pub fn new(src: &'a str, file: &'a Path) -> Self {
        Sink {
            src,
            file,
            diagnostics: Vec::new(),
        }
    }

    pub fn error(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Error, span, message.into(), Some(hint.into()));
    }

    pub fn warning(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Warning, span, message.into(), Some(hint.into()));
    }

    pub fn push(
        &mut self,
        severity: Severity,
        span: Range<usize>,
        message: String,
        hint: Option<String>,
    ) {
        let (line, column) = line_col(self.src, span.start);
        self.diagnostics.push(Diagnostic {
            severity,
            file: self.file.to_path_buf(),
            line,
            column,
            message,
            hint,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// 1-based line and character column of a byte offset; offsets past the end
/// or inside a character clamp to the nearest valid position.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let src = "a = 1\nä = \"x\"\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        // `=` after the two-byte `ä` and a space.
        assert_eq!(line_col(src, 9), (2, 3));
        assert_eq!(line_col(src, 7), (2, 1));
        assert_eq!(line_col(src, 999), (3, 1));
    }
}
