//! Where every node of a YAML document sits in its file, by key path
//! (`sessions[3].uplink.teid`). Semantic validation runs on typed values
//! that no longer carry positions; it names the path of the offending value
//! and this map turns the path into `line:column`.
//!
//! Built from the event stream of the same parser that serde-saphyr uses
//! (granit-parser), so positions agree with those of deserialization errors.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde_saphyr::granit_parser::{Event, Parser, Span};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    fn from_span(span: &Span) -> Self {
        Self {
            line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
            column: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
        }
    }
}

/// Path → position of the value node, and of the key that introduced it.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

enum Frame {
    /// `base`: length of the path buffer holding this collection's path.
    Seq {
        base: usize,
        next: usize,
    },
    Map {
        base: usize,
        key: Option<String>,
    },
    /// A complex (non-scalar) mapping key, skipped.
    Skip {
        depth: usize,
    },
}

impl SourceMap {
    /// Indexes every node of `text`. A document that does not parse yields
    /// the positions seen up to the error (the deserializer reports that
    /// error itself).
    #[must_use]
    pub fn build(text: &str) -> Self {
        Self::index(text, None)
    }

    /// Indexes only `paths` and their ancestors (so that a missing path
    /// still falls back to its parent): what error reporting needs, at the
    /// cost of one pass of the parser and no allocation per node.
    #[must_use]
    pub fn build_for<'a>(text: &str, paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut wanted = HashSet::new();
        for p in paths {
            let mut q = Some(p);
            while let Some(x) = q {
                if !wanted.insert(x.to_owned()) {
                    break;
                }
                q = parent(x);
            }
        }
        Self::index(text, Some(&wanted))
    }

    fn index(text: &str, wanted: Option<&HashSet<String>>) -> Self {
        let want = |p: &str| wanted.is_none_or(|w| w.contains(p));
        let mut map = Self::default();
        let mut stack: Vec<Frame> = Vec::new();
        // The path of the current node, grown and truncated in place.
        let mut cur = String::new();
        let mut root_seen = false;
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let is_start = matches!(event, Event::SequenceStart(..) | Event::MappingStart(..));
            let is_end = matches!(event, Event::SequenceEnd | Event::MappingEnd);
            let is_node = is_start || matches!(event, Event::Scalar(..) | Event::Alias(..));

            if let Some(Frame::Skip { depth }) = stack.last_mut() {
                if is_start {
                    *depth += 1;
                } else if is_end {
                    *depth -= 1;
                }
                if *depth == 0 {
                    stack.pop();
                    // The complex key is done; its value follows under `?`.
                    if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                        *key = Some("?".to_owned());
                    }
                }
                continue;
            }

            if is_end {
                stack.pop();
                cur.truncate(Self::base_of(&stack));
                continue;
            }
            if !is_node {
                continue;
            }

            // Extend `cur` to this node's path, or record a mapping key.
            match stack.last_mut() {
                None => {
                    if root_seen {
                        // A second document: positions of the first one stay.
                        break;
                    }
                    root_seen = true;
                }
                Some(Frame::Seq { next, .. }) => {
                    let _ = write!(cur, "[{next}]");
                    *next += 1;
                }
                Some(Frame::Map { key, base }) => match key.take() {
                    Some(k) => {
                        if *base > 0 {
                            cur.push('.');
                        }
                        cur.push_str(&k);
                    }
                    None => {
                        if let Event::Scalar(value, ..) = &event {
                            let len = cur.len();
                            if *base > 0 {
                                cur.push('.');
                            }
                            cur.push_str(value);
                            if want(&cur) {
                                map.keys
                                    .entry(cur.clone())
                                    .or_insert_with(|| Pos::from_span(&span));
                            }
                            cur.truncate(len);
                            *key = Some(value.to_string());
                        } else if is_start {
                            stack.push(Frame::Skip { depth: 1 });
                        }
                        continue;
                    }
                },
                Some(Frame::Skip { .. }) => continue,
            }
            if want(&cur) {
                map.values
                    .entry(cur.clone())
                    .or_insert_with(|| Pos::from_span(&span));
            }
            match event {
                Event::SequenceStart(..) => stack.push(Frame::Seq {
                    base: cur.len(),
                    next: 0,
                }),
                Event::MappingStart(..) => stack.push(Frame::Map {
                    base: cur.len(),
                    key: None,
                }),
                _ => cur.truncate(Self::base_of(&stack)),
            }
        }
        map
    }

    /// Path length of the innermost open collection (0 at the root).
    fn base_of(stack: &[Frame]) -> usize {
        match stack.last() {
            Some(Frame::Seq { base, .. } | Frame::Map { base, .. }) => *base,
            Some(Frame::Skip { .. }) | None => 0,
        }
    }

    /// Position of the value at `path`, or of the nearest enclosing node
    /// that exists (a missing key points at its parent mapping).
    #[must_use]
    pub fn value(&self, path: &str) -> Option<Pos> {
        let mut p = path;
        loop {
            if let Some(pos) = self.values.get(p) {
                return Some(*pos);
            }
            p = parent(p)?;
        }
    }

    /// True if a node exists exactly at `path`.
    #[must_use]
    pub fn has(&self, path: &str) -> bool {
        self.values.contains_key(path)
    }

    /// Position of the key that introduced `path`, else as [`Self::value`].
    #[must_use]
    pub fn key(&self, path: &str) -> Option<Pos> {
        self.keys.get(path).copied().or_else(|| self.value(path))
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → `` → None.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
a: 1
b:
  c: [x, {d: 5}]
  e:
    - f: 7
      g: 8
    - h
? [complex, key]
: 9
z: 10
";

    #[test]
    fn every_node_has_a_position() {
        let m = SourceMap::build(DOC);
        let at = |p: &str| m.value(p).map(|p| (p.line, p.column));
        assert_eq!(at("a"), Some((1, 4)));
        assert_eq!(at("b"), Some((3, 3)));
        assert_eq!(at("b.c"), Some((3, 6)));
        assert_eq!(at("b.c[0]"), Some((3, 7)));
        assert_eq!(at("b.c[1].d"), Some((3, 14)));
        assert_eq!(at("b.e[0].f"), Some((5, 10)));
        assert_eq!(at("b.e[0].g"), Some((6, 10)));
        assert_eq!(at("b.e[1]"), Some((7, 7)));
        assert_eq!(at("z"), Some((10, 4)));
        assert_eq!(m.key("b.e[0].g").map(|p| (p.line, p.column)), Some((6, 7)));
    }

    #[test]
    fn missing_paths_fall_back_to_the_parent() {
        let m = SourceMap::build(DOC);
        assert_eq!(m.value("b.e[0].missing"), m.value("b.e[0]"));
        assert_eq!(m.value("nothing.here").map(|p| p.line), Some(1));
    }

    #[test]
    fn build_for_indexes_what_is_asked_and_its_ancestors() {
        let full = SourceMap::build(DOC);
        let some = SourceMap::build_for(DOC, ["b.e[0].g", "b.c[9]"]);
        for p in ["b.e[0].g", "b.e[0]", "b.e", "b", ""] {
            assert_eq!(some.value(p), full.value(p), "{p}");
        }
        assert_eq!(some.key("b.e[0].g"), full.key("b.e[0].g"));
        assert!(!some.has("a"));
        assert!(!some.has("b.e[0].f"));
        // Not in the file: falls back to the nearest ancestor that is.
        assert_eq!(some.value("b.c[9]"), full.value("b.c"));
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent("a.b[2].c"), Some("a.b[2]"));
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent(""), None);
    }
}
