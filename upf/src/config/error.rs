//! Config errors as the operator sees them: `file:line:column: key.path:
//! what was expected/found`, one line per problem, so that editors and CI
//! logs can jump to the spot. `upf check`, `upf run` and reload all print
//! the same text.

use std::fmt;

use super::source_map::Pos;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where it is; `None` when the problem is not at a place in the text
    /// (the file cannot be read, or a whole-file condition).
    pub pos: Option<Pos>,
    /// Key path of the offending value (`sessions[3].uplink.teid`); empty
    /// for the document itself.
    pub path: String,
    pub message: String,
}

/// Everything wrong with one config file. Validation collects all semantic
/// problems it can find rather than stopping at the first; a file that does
/// not parse as YAML or does not match the schema gives exactly one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file name as given on the command line.
    pub origin: String,
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// The source text, for [`ConfigError::render_with_source`].
    source_text: Option<String>,
}

impl ConfigError {
    pub(crate) fn new(origin: &str, mut diagnostics: Vec<Diagnostic>, text: Option<&str>) -> Self {
        diagnostics.sort_by(|a, b| a.pos.cmp(&b.pos).then_with(|| a.path.cmp(&b.path)));
        diagnostics.dedup();
        Self {
            origin: origin.to_owned(),
            diagnostics,
            source_text: text.map(str::to_owned),
        }
    }

    pub(crate) fn io(origin: &str, message: String) -> Self {
        Self::new(
            origin,
            vec![Diagnostic {
                pos: None,
                path: String::new(),
                message,
            }],
            None,
        )
    }

    /// The first diagnostic (there is always at least one).
    #[must_use]
    pub fn first(&self) -> Option<&Diagnostic> {
        self.diagnostics.first()
    }

    /// The one-line-per-problem text followed, for each problem, by the
    /// offending source line and a caret under the column: what `upf check`
    /// prints for a person.
    #[must_use]
    pub fn render_with_source(&self) -> String {
        let mut out = String::new();
        let lines: Vec<&str> = self
            .source_text
            .as_deref()
            .map(|t| t.lines().collect())
            .unwrap_or_default();
        for d in &self.diagnostics {
            out.push_str(&self.line_for(d));
            out.push('\n');
            if let Some(pos) = d.pos {
                let idx = usize::try_from(pos.line)
                    .unwrap_or(usize::MAX)
                    .wrapping_sub(1);
                if let Some(src) = lines.get(idx) {
                    // The line is file content: keep control characters off the terminal.
                    let src: String = src
                        .chars()
                        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
                        .collect();
                    let col = usize::try_from(pos.column).unwrap_or(1).saturating_sub(1);
                    let lead: String = src
                        .chars()
                        .take(col)
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    out.push_str(&format!("    {src}\n    {lead}^\n"));
                }
            }
        }
        out
    }

    fn line_for(&self, d: &Diagnostic) -> String {
        // The message may quote file content: keep it on one line.
        let msg = d.message.replace(['\n', '\r'], " ");
        let mut s = self.origin.clone();
        if let Some(p) = d.pos {
            s.push_str(&format!(":{}:{}", p.line, p.column));
        }
        s.push_str(": ");
        if !d.path.is_empty() {
            s.push_str(&d.path);
            s.push_str(": ");
        }
        s.push_str(&msg);
        s
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&self.line_for(d))?;
        }
        Ok(())
    }
}
