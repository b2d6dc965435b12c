//! The YAML configuration of the appliance: loading, validation, the
//! effective config that `upf check` prints, and the diff that reload uses.
//! Sits on the control thread only; workers see its effects through the
//! tables the control thread publishes.
//!
//! YAML crate: serde-saphyr. `serde_yaml` is deprecated; its fork
//! `serde_yaml_ng` gives positions for syntax errors only; `saphyr` and
//! `yaml-rust2` build marked trees but have no serde; `marked-yaml` marks
//! every node but reads every scalar as a string and refuses anchors.
//! serde-saphyr is maintained, fuzzed, panic-free, rejects duplicate keys,
//! enforces input budgets, and reports line:column for syntax, type and
//! schema errors. Semantic errors get their line:column from a
//! [`source_map::SourceMap`] built from the events of the same parser
//! (granit-parser), only when there is something to report.
//!
//! serde-saphyr is weak at one size: ~20 µs per static session, 2-3 s for a
//! file of 100,000. `fast` reads the `sessions:` list of the common shape
//! ~20x faster and hands the rest of the file to serde-saphyr; it gives
//! the same value or declines (then serde-saphyr reads the whole file), so
//! every error still comes from serde-saphyr or validation, positions
//! included.

mod diff;
mod error;
mod fast;
pub mod host;
mod model;
pub mod raw;
pub mod sdf;
pub mod source_map;
pub mod types;
pub mod units;
mod validate;

use std::borrow::Cow;
use std::path::Path;

use serde_saphyr::MessageFormatter;

pub use diff::ConfigDiff;
pub use error::{ConfigError, Diagnostic};
pub use host::HostInfo;
pub use model::*;
pub use validate::SHORT_FORM_PRECEDENCE;

use raw::RawConfig;
use source_map::{Pos, SourceMap};

/// Largest config file we read (a million static sessions fit).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Reads and validates the config file at `path`. `host`: the machine to
/// check cores against; `None` skips host-dependent checks (validating a
/// config meant for another machine).
///
/// # Errors
/// Every problem found, each with file, line, column and key path.
pub fn load(path: &Path, host: Option<&HostInfo>) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| ConfigError::io(&origin, format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ConfigError::io(
            &origin,
            format!("file is larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| ConfigError::io(&origin, format!("cannot read: {e}")))?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let valid = String::from_utf8_lossy(valid);
            let line = valid.matches('\n').count() + 1;
            let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let pos = Pos {
                line: u32::try_from(line).unwrap_or(u32::MAX),
                column: u32::try_from(column).unwrap_or(u32::MAX),
            };
            let d = Diagnostic {
                pos: Some(pos),
                path: String::new(),
                message: "the file is not UTF-8 text".into(),
            };
            return Err(ConfigError::new(&origin, vec![d], None));
        }
    };
    parse_text(text, &origin, host, None)
}

/// Options for the YAML reader: YAML 1.2 booleans only (`yes` is a string,
/// not `true`), duplicate keys rejected, and budgets large enough for a
/// million static sessions while still refusing alias bombs.
fn reader_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 200_000_000;
    budget.max_nodes = 100_000_000;
    budget.max_total_scalar_bytes = 1 << 30;
    budget.max_reader_input_bytes = Some(1 << 30);
    let mut o = serde_saphyr::Options::default();
    o.budget = Some(budget);
    o.strict_booleans = true;
    o.with_snippet = false;
    o
}

/// Validates config `text`; `origin` names it in errors (usually the path).
///
/// # Errors
/// Every problem found, each with line, column and key path.
pub fn parse(text: &str, origin: &str, host: Option<&HostInfo>) -> Result<Config, ConfigError> {
    parse_with(text, origin, host, true, None, None)
}

/// [`parse`] for a reload: the same result, sooner where `prev` (a config
/// validated before, the running one) has the same sessions in the same
/// places: those are not translated again to check them against the
/// dataplane's rules.
///
/// # Errors
/// As [`parse`].
pub fn parse_after(
    text: &str,
    origin: &str,
    host: Option<&HostInfo>,
    prev: &Config,
) -> Result<Config, ConfigError> {
    parse_with(text, origin, host, true, Some(prev), None)
}

/// [`parse_after`] (or [`parse`] without `prev`) of a text handed over:
/// the config keeps it, so that the next reload, given this config as
/// `prev`, reads only the `sessions:` items whose bytes changed (the
/// others give what they gave, `fast`). What `load` and a reload use.
///
/// # Errors
/// As [`parse`].
pub fn parse_text(
    text: String,
    origin: &str,
    host: Option<&HostInfo>,
    prev: Option<&Config>,
) -> Result<Config, ConfigError> {
    let text = std::sync::Arc::new(text);
    parse_with(&text, origin, host, true, prev, Some(&text))
}

/// [`parse`]; `fast: false` skips the fast path (tests compare the two);
/// `keep`: `text` itself, for the config to keep ([`parse_text`]).
fn parse_with(
    text: &str,
    origin: &str,
    host: Option<&HostInfo>,
    fast: bool,
    prev: Option<&Config>,
    keep: Option<&std::sync::Arc<String>>,
) -> Result<Config, ConfigError> {
    let reuse = prev.and_then(|p| {
        Some(fast::Reuse {
            items: p.source.0.as_deref()?,
            raws: &p.effective.sessions,
        })
    });
    let (raw, at, reused) = if fast {
        deserialize(text, reuse)
    } else {
        deserialize_full(text).map(|r| (r, None, Vec::new()))
    }
    .map_err(|d| ConfigError::new(origin, vec![d], Some(text)))?;
    match validate::validate(raw, host, prev, &reused) {
        Ok(mut cfg) => {
            if let (Some(text), Some(at)) = (keep, at) {
                cfg.source = model::Source(Some(std::sync::Arc::new(fast::Items {
                    text: std::sync::Arc::clone(text),
                    at,
                })));
            }
            if !cfg.warnings.is_empty() {
                let map = map_for(text, &cfg.warnings);
                resolve_positions(&map, &mut cfg.warnings);
            }
            Ok(cfg)
        }
        Err(mut diags) => {
            let map = map_for(text, &diags);
            resolve_positions(&map, &mut diags);
            Err(ConfigError::new(origin, diags, Some(text)))
        }
    }
}

/// The schema-checked file: the fast path for a large `sessions:` list
/// when the file has the shape it knows (`fast`), else serde-saphyr over
/// the whole text. Both give the same value; errors come from the latter.
/// Also where the list's items lie, when the fast path read them, and
/// which sessions it copied from `reuse` (`fast::deserialize`).
fn deserialize(
    text: &str,
    reuse: Option<fast::Reuse<'_>>,
) -> Result<(RawConfig, Option<fast::ItemsAt>, Vec<bool>), Diagnostic> {
    if let Some((raw, at, reused)) =
        fast::deserialize(text, |head| deserialize_full(head).ok(), reuse)
    {
        return Ok((raw, Some(at), reused));
    }
    deserialize_full(text).map(|r| (r, None, Vec::new()))
}

/// serde-saphyr over the whole text.
fn deserialize_full(text: &str) -> Result<RawConfig, Diagnostic> {
    let mut path = String::new();
    let result =
        serde_saphyr::with_deserializer_from_str_with_options(text, reader_options(), |de| {
            serde_path_to_error::deserialize::<_, RawConfig>(de).map_err(|e| {
                path = e.path().to_string();
                e.into_inner()
            })
        });
    result.map_err(|e| {
        let pos = e.location().and_then(|l| {
            (l.line() > 0).then(|| Pos {
                line: u32::try_from(l.line()).unwrap_or(u32::MAX),
                column: u32::try_from(l.column()).unwrap_or(u32::MAX),
            })
        });
        let message = match serde_saphyr::DefaultMessageFormatter.format_message(&e) {
            Cow::Borrowed(m) => m.to_owned(),
            Cow::Owned(m) => m,
        };
        // serde_path_to_error writes `.` for the root and `?` for positions
        // it cannot name (syntax errors): those are not key paths.
        let path = if path == "." || path.contains('?') {
            String::new()
        } else {
            path
        };
        // A missing key is best shown at the start of the mapping that lacks it.
        let pos = if message.starts_with("missing field") {
            SourceMap::build_for(text, [path.as_str()])
                .value(&path)
                .or(pos)
        } else {
            pos
        };
        let message = friendlier(&message, &path);
        Diagnostic { pos, path, message }
    })
}

/// Rewords the deserializer messages that speak serde or parser internals
/// rather than config keys. `path`: the key path of the value, for
/// messages that do not say what was expected there.
fn friendlier(msg: &str, path: &str) -> String {
    if msg.contains("unexpected end of") {
        return format!("{msg} (is the file empty or truncated?)");
    }
    // The standard library's and ipnet's parse error says neither what
    // was expected nor whether a prefix length belongs there.
    if msg == "invalid IP address syntax" {
        let key = path.rsplit('.').next().unwrap_or_default();
        let key = key.split('[').next().unwrap_or_default();
        let expected = if path.starts_with("interfaces.") && key == "address" {
            "expected the interface's address with its prefix length, such as 192.168.1.1/24 or \"2001:db8::1/64\""
        } else if path.starts_with("ue_pools") && key == "cidr" {
            "expected a network address with its prefix length, such as 10.45.0.0/16 or \"2001:db8:45::/48\""
        } else {
            "expected an IP address without prefix length, such as 192.168.1.2 or \"2001:db8::2\""
        };
        return format!("{msg}; {expected}");
    }
    let ranges = [
        ("invalid u8", "expected an integer in 0..=255"),
        ("invalid u16", "expected an integer in 0..=65535"),
        ("invalid u32", "expected an integer in 0..=4294967295"),
        (
            "invalid u64",
            "expected an integer in 0..=18446744073709551615",
        ),
    ];
    if let Some((_, better)) = ranges.iter().find(|(m, _)| msg == *m) {
        return (*better).to_owned();
    }
    msg.replace("unknown field", "unknown key")
        .replace("missing field", "missing required key")
        .replace(", set DuplicateKeyPolicy in Options if acceptable", "")
        .replace("duplicate mapping key", "duplicate key")
        .replace(
            "; use from_str_multiple or from_str_multiple_with_options",
            ": a config is a single document (remove the `---` separator)",
        )
        .replace(
            "expected mapping start",
            "expected a mapping (key: value pairs)",
        )
        .replace("expected sequence start", "expected a list")
        .replace(
            "expected string scalar",
            "expected a single value, not a list or mapping",
        )
}

/// A source map of the paths `diags` name (and, for `x[0]`, of `x`).
fn map_for(text: &str, diags: &[Diagnostic]) -> SourceMap {
    let paths = diags
        .iter()
        .flat_map(|d| [d.path.as_str(), d.path.strip_suffix("[0]").unwrap_or("")]);
    SourceMap::build_for(text, paths)
}

/// Fills in `pos` from the key paths. `x.address[0]` where the file wrote
/// a scalar (one address, not a list) is reported as `x.address`.
fn resolve_positions(map: &SourceMap, diags: &mut [Diagnostic]) {
    for d in diags {
        if d.pos.is_some() {
            continue;
        }
        if d.path.ends_with("[0]") && !map.has(&d.path) {
            let parent = d.path.trim_end_matches("[0]");
            if map.has(parent) {
                d.path = parent.to_owned();
            }
        }
        d.pos = map.value(&d.path);
    }
}

#[cfg(test)]
mod tests;
