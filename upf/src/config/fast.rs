//! A fast path for the one part of a config file that grows: the
//! `sessions:` list of a file with 100,000 static sessions or more. Sits in
//! front of the YAML deserializer (`config::parse`), so `upf check`,
//! start-up and reload all take it.
//!
//! Why our own code: serde-saphyr (see `config`'s module doc for why it is
//! the YAML crate) spends ~20 µs per short-form session (an event stream,
//! budget and redaction bookkeeping, and `serde_path_to_error`'s path
//! tracking per node): 2-3 s for 100,000 sessions, which made a reload of
//! such a file take seconds however little changed. The list is regular
//! (one session per `- ` item, a handful of keys), so a scanner that knows
//! exactly that shape reads it ~50x faster.
//!
//! Correctness rule: this path either produces exactly the [`RawConfig`]
//! that serde-saphyr would, or declines (`None`), and then the caller runs
//! serde-saphyr over the whole text as before. It never reports errors of
//! its own: any doubt (a key, value or layout it does not know, a
//! duplicate key, a scalar it would read differently, anything invalid)
//! declines, so every error, with its file:line:col, still comes from the
//! full parse, and validation (which runs on the [`RawConfig`] either way,
//! positions from the same `SourceMap` of the full text) is unchanged.
//!
//! What it accepts: a top-level `sessions:` key alone on its line (at
//! column 0, after lines that close every bracket and quote they open),
//! followed by a block sequence of short-form sessions (`id`, `ue_ip`,
//! `uplink.teid`, `downlink.{gnb,teid,qfi}`, `qos.{mbr_ul,mbr_dl}`), each
//! either a one-line flow mapping (`- { id: 1, uplink: { teid: 0x100 }, … }`)
//! or a block mapping whose values are plain scalars, one-line flow
//! mappings or nested block mappings of plain scalars. Scalars are plain
//! (unquoted, no anchors, tags or aliases) and of a conservative alphabet.
//! The rest of the file (the "head": the file with the list's lines blanked
//! and `sessions: []` in place of the key, so that lines and columns stay)
//! goes through serde-saphyr, which is fast for a few dozen lines.
//!
//! `tests` (in this file) check the rule with property tests: random
//! session lists written in several styles give the same `RawConfig` on
//! both paths, and mutated files never give a different one.

use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;

use super::raw::{RawConfig, RawDownlink, RawQos, RawSession, RawUplink};
use super::units::{Bitrate, Teid, bitrate_scale};

/// The [`RawConfig`] of `text`, or `None` when the fast path does not
/// apply (then parse the whole text with serde-saphyr). `head` parses the
/// rest of the file with serde-saphyr (`None` on any error). With `reuse`
/// (the list of a file read before and what its items gave), an item
/// whose bytes are those of the item at the same place there gives what
/// it gave, unparsed. Also returns where the items lie in `text`, and
/// which sessions are such copies (`reused[k]`: `sessions[k]` is
/// `reuse.raws[k]`, cloned; empty without `reuse`), so that validation
/// need not compare them with the running config's again.
pub(crate) fn deserialize(
    text: &str,
    head: impl FnOnce(&str) -> Option<RawConfig>,
    reuse: Option<Reuse<'_>>,
) -> Option<(RawConfig, ItemsAt, Vec<bool>)> {
    let mut split = split(text)?;
    let starts = std::mem::take(&mut split.starts);
    let (sessions, at, reused) =
        parse_items(text, starts, split.items.clone(), split.indent, reuse)?;
    let mut h = String::with_capacity(split.key.start + 32 + (text.len() - split.items.end));
    h.push_str(&text[..split.key.start]);
    h.push_str("sessions: []\n");
    // One newline per line of the list (the last line of the file may
    // lack its own: then one fewer).
    let blank = split
        .lines
        .saturating_sub(usize::from(!text[split.items.clone()].ends_with('\n')));
    h.extend(std::iter::repeat_n('\n', blank));
    h.push_str(&text[split.items.end..]);
    let mut raw = head(&h)?;
    if !raw.sessions.is_empty() {
        return None;
    }
    raw.sessions = sessions;
    Some((raw, at, reused))
}

/// Where the items of a list lie in the text read: item `k` is
/// `starts[k]..starts[k + 1]` (`end` for the last), from its `- ` line to
/// the next item's, blank and comment lines after it included.
#[derive(Debug, Clone, Default)]
pub(crate) struct ItemsAt {
    starts: Vec<usize>,
    end: usize,
    indent: usize,
}

impl ItemsAt {
    fn item<'t>(&self, text: &'t str, k: usize) -> Option<&'t str> {
        let start = *self.starts.get(k)?;
        let end = self.starts.get(k + 1).copied().unwrap_or(self.end);
        text.get(start..end)
    }
}

/// A list the fast path read, kept with the config it became (the
/// running config) for the next read of the file (a reload): the file's
/// text and where the items lie.
#[derive(Debug)]
pub(crate) struct Items {
    pub(crate) text: Arc<String>,
    pub(crate) at: ItemsAt,
}

/// What an earlier read gives a new one: its list, and the sessions its
/// items gave, in order (`RawConfig::sessions` of that read).
#[derive(Clone, Copy)]
pub(crate) struct Reuse<'a> {
    pub(crate) items: &'a Items,
    pub(crate) raws: &'a [RawSession],
}

/// Where the list is: `key` is the `sessions:` line (with its newline),
/// `items` the lines of the list (each with its newline), `indent` the
/// column of its `-`, `starts` the content lines at `indent` (each the
/// first line of an item, or a line the item reader declines).
#[derive(Debug)]
struct Split {
    key: Range<usize>,
    items: Range<usize>,
    indent: usize,
    starts: Vec<usize>,
    /// Lines in `items`.
    lines: usize,
}

/// Lines of `text` with the byte offset of each; the newline stays with
/// the line.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    text.split_inclusive('\n').map(move |l| {
        let start = at;
        at += l.len();
        (start, l)
    })
}

/// The line without its newline; `None` for a line with a carriage return
/// or a tab (YAML gives those meanings this scanner does not model). The
/// list as a whole is checked once by [`plain_text`]; this is for the head.
fn content(l: &str) -> Option<&str> {
    let l = l.strip_suffix('\n').unwrap_or(l);
    (!l.contains(['\r', '\t'])).then_some(l)
}

/// True when `text` has no carriage return or tab (one vectorised pass,
/// rather than a check per line of a 15 MB list).
fn plain_text(text: &str) -> bool {
    memchr::memchr2(b'\r', b'\t', text.as_bytes()).is_none()
}

/// A line of text that [`plain_text`] accepted, without its newline.
fn bare(l: &str) -> &str {
    l.strip_suffix('\n').unwrap_or(l)
}

/// True for a line with nothing but spaces and perhaps a comment.
fn is_blank(l: &str) -> bool {
    let t = l.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

/// True if the line opens no bracket or quote that it does not close: the
/// next line starts a new node rather than continuing a flow collection
/// or quoted scalar. Counting is crude (a quote inside a plain scalar
/// counts), which only declines more often.
fn closes_what_it_opens(l: &str) -> bool {
    let (mut depth, mut dq, mut sq) = (0i32, 0u32, 0u32);
    for b in l.bytes() {
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            b'"' => dq += 1,
            b'\'' => sq += 1,
            _ => {}
        }
    }
    depth == 0 && dq % 2 == 0 && sq % 2 == 0
}

fn split(text: &str) -> Option<Split> {
    let mut it = lines(text);
    let key = loop {
        let (at, l) = it.next()?;
        let c = content(l)?;
        if let Some(rest) = c.strip_prefix("sessions:") {
            let rest = rest.trim_start_matches(' ');
            if rest.is_empty() || (rest.starts_with('#') && rest.len() < c.len() - 9) {
                break at..at + l.len();
            }
            return None;
        }
        if !closes_what_it_opens(c) {
            return None;
        }
    };
    if !plain_text(&text[key.end..]) {
        return None;
    }
    let mut indent = None;
    let mut end = key.end;
    let mut starts = Vec::with_capacity((text.len() - key.end) / 128);
    let mut n = 0;
    // The list's lines by a vectorised newline search: 15 MB of them for
    // 100,000 sessions, where `str::split` spent more than the rest of a
    // reload that reuses every item.
    let mut newlines = memchr::memchr_iter(b'\n', &text.as_bytes()[key.end..]);
    let mut next = key.end;
    while next < text.len() {
        let at = next;
        next = newlines.next().map_or(text.len(), |i| key.end + i + 1);
        let l = &text[at..next];
        let c = bare(l);
        if is_blank(c) {
            end = at + l.len();
            n += 1;
            continue;
        }
        let ind = c.len() - c.trim_start_matches(' ').len();
        match indent {
            None => {
                if !(c[ind..].starts_with("- ") || c[ind..] == *"-") {
                    return None;
                }
                indent = Some(ind);
            }
            Some(i) => {
                if ind == 0 && !(i == 0 && c.starts_with('-')) {
                    // The next top-level key: the list ends here.
                    return Some(Split {
                        items: key.end..end,
                        key,
                        indent: i,
                        starts,
                        lines: n,
                    });
                }
                if ind < i {
                    return None;
                }
            }
        }
        if indent == Some(ind) {
            starts.push(at);
        }
        end = at + l.len();
        n += 1;
    }
    Some(Split {
        items: key.end..end,
        key,
        indent: indent?,
        starts,
        lines: n,
    })
}

// ------------------------------------------------------------------ items

/// One session as read, each field at most once.
#[derive(Default)]
struct Item {
    id: Option<u64>,
    ue_ip: Option<IpAddr>,
    uplink: Option<RawUplink>,
    downlink: Option<RawDownlink>,
    qos: Option<RawQos>,
}

impl Item {
    fn finish(self) -> Option<RawSession> {
        Some(RawSession {
            id: self.id?,
            ue_ip: self.ue_ip,
            uplink: self.uplink,
            downlink: self.downlink,
            qos: self.qos,
            pdrs: Vec::new(),
            fars: Vec::new(),
            qers: Vec::new(),
            urrs: Vec::new(),
        })
    }
}

/// A value as written: a plain scalar or a mapping whose entries a
/// [`Sub`] collects.
enum Val<'a> {
    Scalar(&'a str),
    /// The mapping has been read into the `Sub` given.
    Map,
}

/// The nested mappings of a session, read entry by entry.
enum Sub {
    Uplink(Option<Teid>),
    Downlink {
        gnb: Option<IpAddr>,
        teid: Option<Teid>,
        qfi: Option<u8>,
    },
    Qos {
        ul: Option<Bitrate>,
        dl: Option<Bitrate>,
    },
}

impl Sub {
    fn of(key: &str) -> Option<Self> {
        Some(match key {
            "uplink" => Self::Uplink(None),
            "downlink" => Self::Downlink {
                gnb: None,
                teid: None,
                qfi: None,
            },
            "qos" => Self::Qos { ul: None, dl: None },
            _ => return None,
        })
    }

    fn set(&mut self, key: &str, v: &str) -> Option<()> {
        match (self, key) {
            (Self::Uplink(t @ None), "teid") => *t = Some(teid(v)?),
            (Self::Downlink { gnb: g @ None, .. }, "gnb") => *g = Some(ip(v)?),
            (Self::Downlink { teid: t @ None, .. }, "teid") => *t = Some(teid(v)?),
            (Self::Downlink { qfi: q @ None, .. }, "qfi") => *q = Some(u8_dec(v)?),
            (Self::Qos { ul: b @ None, .. }, "mbr_ul")
            | (Self::Qos { dl: b @ None, .. }, "mbr_dl") => {
                *b = Some(bitrate(v)?);
            }
            _ => return None,
        }
        Some(())
    }

    fn store(self, item: &mut Item) -> Option<()> {
        match self {
            Self::Uplink(teid) => put(&mut item.uplink, RawUplink { teid: teid? }),
            Self::Downlink { gnb, teid, qfi } => put(
                &mut item.downlink,
                RawDownlink {
                    gnb: gnb?,
                    teid: teid?,
                    qfi: qfi.unwrap_or(9),
                },
            ),
            Self::Qos { ul, dl } => put(
                &mut item.qos,
                RawQos {
                    mbr_ul: ul,
                    mbr_dl: dl,
                },
            ),
        }
    }
}

/// Sets a field that must not be set yet (a duplicate key declines).
fn put<T>(slot: &mut Option<T>, v: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(v);
    Some(())
}

impl Item {
    fn set_scalar(&mut self, key: &str, v: &str) -> Option<()> {
        match key {
            "id" => put(&mut self.id, u64_int(v)?),
            "ue_ip" => put(&mut self.ue_ip, ip(v)?),
            _ => None,
        }
    }
}

/// Reads the `- ` items of the list (`list`: where its lines lie in
/// `text`; `indent`: the column of the `-`; `starts`: its content lines
/// at `indent`, from `split`).
///
/// Items are found first, each by its first line (a content line at
/// `indent`: `split` saw to it that none is shallower, and one at
/// `indent` can only start an item), then read one by one. Reading an
/// item looks at its own lines only (the line after a flow item ends it
/// when it is at `indent`; a block item ends at the first line shallower
/// than its keys), so its value is a function of its bytes (and
/// `indent`): an item with the bytes of the item at the same place in
/// `reuse` gives what that one gave. (Property tests: `parse_after` of an
/// edited file, which takes this path, equals `parse` of it.)
fn parse_items(
    text: &str,
    starts: Vec<usize>,
    list: Range<usize>,
    indent: usize,
    reuse: Option<Reuse<'_>>,
) -> Option<(Vec<RawSession>, ItemsAt, Vec<bool>)> {
    let items = ItemsAt {
        starts,
        end: list.end,
        indent,
    };
    let reuse =
        reuse.filter(|r| r.items.at.indent == indent && r.items.at.starts.len() == r.raws.len());
    let mut out = Vec::with_capacity(items.starts.len());
    let mut reused = if reuse.is_some() {
        Vec::with_capacity(items.starts.len())
    } else {
        Vec::new()
    };
    for k in 0..items.starts.len() {
        let t = items.item(text, k)?;
        if let Some(r) = reuse
            && let Some(old) = r.items.at.item(&r.items.text, k)
            && old == t
            && let Some(raw) = r.raws.get(k)
        {
            out.push(raw.clone());
            reused.push(true);
            continue;
        }
        out.push(parse_item(t, indent)?);
        if reuse.is_some() {
            reused.push(false);
        }
    }
    Some((out, items, reused))
}

/// Reads one item (`text`: its lines, the first its `- ` line).
fn parse_item(text: &str, indent: usize) -> Option<RawSession> {
    // The first line by `memchr` (most items are that one line).
    let (first, more) = match memchr::memchr(b'\n', text.as_bytes()) {
        Some(nl) => text.split_at(nl + 1),
        None => (text, ""),
    };
    let mut ls = more.split_inclusive('\n').peekable();
    let c = bare(first);
    let rest = c.get(indent..)?.strip_prefix("- ")?;
    let col = indent + 2 + (rest.len() - rest.trim_start_matches(' ').len());
    let rest = rest.trim_start_matches(' ');
    let mut item = Item::default();
    if rest.starts_with('{') {
        // The common layout by its bytes alone; anything else (another
        // key order or spacing, a comment) by the general reader.
        let session = match canonical_flow(rest) {
            Some(s) => s,
            None => {
                let mut cur = Cursor { s: rest, i: 0 };
                cur.flow_item(&mut item)?;
                cur.end_of_line()?;
                item.finish()?
            }
        };
        // A flow item is one line; more lines of it decline.
        if ls.any(|n| !is_blank(bare(n))) {
            return None;
        }
        return Some(session);
    } else {
        block_item(rest, col, &mut ls, &mut item)?;
        // The item ends at the next item's line.
        if ls.next().is_some() {
            return None;
        }
    }
    item.finish()
}

/// A one-line flow item in the layout the generators and most operators
/// write, read straight into a [`RawSession`]: `{ id: I, ue_ip: A,
/// uplink: { teid: T }, downlink: { gnb: A, teid: T[, qfi: Q] }[, qos: {
/// mbr_ul: B[, mbr_dl: B] }] }` (or `qos: { mbr_dl: B }`), one space
/// after each `:` and `,`, inside each brace, and nothing after the last
/// `}`. The keys are matched as literal bytes in that order, so none of
/// the general reader's per-key work (key scan, `Sub` dispatch,
/// duplicate checks, the `Item` it fills) is done; the values are read by
/// the same [`Cursor::plain`] and scalar readers. `None` for any other
/// byte: the general reader ([`Cursor::flow_item`]) then reads the line,
/// and on what this accepts gives the same session (property test
/// `the_canonical_reader_gives_what_the_general_one_gives`).
fn canonical_flow(line: &str) -> Option<RawSession> {
    let mut c = Cursor { s: line, i: 0 };
    c.lit("{ id: ")?;
    let id = u64_int(c.plain()?)?;
    c.lit(", ue_ip: ")?;
    let ue_ip = ip(c.plain()?)?;
    c.lit(", uplink: { teid: ")?;
    let ul = teid(c.plain()?)?;
    c.lit(" }, downlink: { gnb: ")?;
    let gnb = ip(c.plain()?)?;
    c.lit(", teid: ")?;
    let dl = teid(c.plain()?)?;
    let qfi = if c.lit(", qfi: ").is_some() {
        u8_dec(c.plain()?)?
    } else {
        9
    };
    c.lit(" }")?;
    let qos = if c.lit(", qos: { ").is_some() {
        let (mbr_ul, mbr_dl) = if c.lit("mbr_ul: ").is_some() {
            let ul = bitrate(c.plain()?)?;
            let dl = if c.lit(", mbr_dl: ").is_some() {
                Some(bitrate(c.plain()?)?)
            } else {
                None
            };
            (Some(ul), dl)
        } else {
            c.lit("mbr_dl: ")?;
            (None, Some(bitrate(c.plain()?)?))
        };
        c.lit(" }")?;
        Some(RawQos { mbr_ul, mbr_dl })
    } else {
        None
    };
    c.lit(" }")?;
    (c.i == line.len()).then(|| RawSession {
        id,
        ue_ip: Some(ue_ip),
        uplink: Some(RawUplink { teid: ul }),
        downlink: Some(RawDownlink { gnb, teid: dl, qfi }),
        qos,
        pdrs: Vec::new(),
        fars: Vec::new(),
        qers: Vec::new(),
        urrs: Vec::new(),
    })
}

fn ind_of(c: &str) -> usize {
    c.len() - c.trim_start_matches(' ').len()
}

/// A block-mapping item: `first` is the rest of the `- ` line (its first
/// key), `col` the column of its keys; reads the item's further lines.
fn block_item<'a, I: Iterator<Item = &'a str>>(
    first: &'a str,
    col: usize,
    ls: &mut std::iter::Peekable<I>,
    item: &mut Item,
) -> Option<()> {
    let mut line = first;
    loop {
        let mut cur = Cursor { s: line, i: 0 };
        let key = cur.key()?;
        if cur.at_end_of_line() {
            // A nested block mapping on the following lines, deeper than `col`.
            let mut sub = Sub::of(key)?;
            let mut sub_col = None;
            while let Some(next) = ls.peek() {
                let n = bare(next);
                if is_blank(n) {
                    ls.next();
                    continue;
                }
                let ind = ind_of(n);
                if ind <= col {
                    break;
                }
                if *sub_col.get_or_insert(ind) != ind {
                    return None;
                }
                let mut c = Cursor { s: &n[ind..], i: 0 };
                let k = c.key()?;
                let v = c.plain()?;
                c.end_of_line()?;
                sub.set(k, v)?;
                ls.next();
            }
            sub_col?;
            sub.store(item)?;
        } else {
            match cur.value(Sub::of(key), item)? {
                Val::Scalar(v) => item.set_scalar(key, v)?,
                Val::Map => {}
            }
            cur.end_of_line()?;
        }
        // The next key of this item, at `col`, or the end of the item.
        let next = loop {
            let Some(next) = ls.peek() else {
                return Some(());
            };
            let n = bare(next);
            if is_blank(n) {
                ls.next();
                continue;
            }
            break n;
        };
        let ind = ind_of(next);
        if ind < col {
            // The next `- ` (at the list's column; `split` checked that
            // nothing shallower follows), or a misplaced line: the next
            // item's `- ` check declines the latter.
            return Some(());
        }
        if ind > col {
            return None;
        }
        line = &next[col..];
        ls.next();
    }
}

/// The bytes of a plain scalar of the conservative alphabet
/// ([`Cursor::plain`]): ASCII letters and digits and `.:/_-`.
static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'_' | b'-');
        b += 1;
    }
    t
};

/// A position in one line.
struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn spaces(&mut self) -> usize {
        let start = self.i;
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
        self.i - start
    }

    /// `l` here, byte for byte.
    fn lit(&mut self, l: &str) -> Option<()> {
        let here = self.s.as_bytes().get(self.i..)?;
        here.starts_with(l.as_bytes()).then(|| self.i += l.len())
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    /// Nothing but spaces and perhaps a comment (after a space) left.
    fn at_end_of_line(&mut self) -> bool {
        let had = self.spaces() > 0 || self.i == 0;
        match self.peek() {
            None => true,
            Some(b'#') => had,
            Some(_) => false,
        }
    }

    fn end_of_line(&mut self) -> Option<()> {
        self.at_end_of_line().then_some(())
    }

    /// `key:` followed by a space or the end of the line.
    fn key(&mut self) -> Option<&'a str> {
        let start = self.i;
        while matches!(self.peek(), Some(b'a'..=b'z' | b'_')) {
            self.i += 1;
        }
        let k = &self.s[start..self.i];
        if k.is_empty() {
            return None;
        }
        self.eat(b':')?;
        match self.peek() {
            None | Some(b' ') => Some(k),
            _ => None,
        }
    }

    /// A plain scalar of the conservative alphabet, ended by a space, `,`,
    /// `}` or the end of the line.
    fn plain(&mut self) -> Option<&'a str> {
        self.spaces();
        let start = self.i;
        let rest = self.s.as_bytes().get(start..).unwrap_or_default();
        self.i += rest
            .iter()
            .position(|&b| !PLAIN[usize::from(b)])
            .unwrap_or(rest.len());
        let v = &self.s[start..self.i];
        // `:` first or last reads differently in YAML (an indicator). (By
        // byte: the alphabet is ASCII.)
        match v.as_bytes() {
            [] | [b':' | b'-', ..] | [.., b':'] => None,
            _ => Some(v),
        }
    }

    /// The value after `key:`: a flow mapping (read into `sub`, then
    /// stored in `item`) or a plain scalar.
    fn value(&mut self, sub: Option<Sub>, item: &mut Item) -> Option<Val<'a>> {
        self.spaces();
        if self.peek() == Some(b'{') {
            let mut sub = sub?;
            self.flow_map(|k, c| {
                let v = c.plain()?;
                sub.set(k, v)
            })?;
            sub.store(item)?;
            Some(Val::Map)
        } else {
            sub.is_none().then_some(())?;
            self.plain().map(Val::Scalar)
        }
    }

    /// `{ k: v, k: v }` on this line; `entry` reads each value.
    fn flow_map(&mut self, mut entry: impl FnMut(&'a str, &mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.spaces();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let k = self.key()?;
            entry(k, self)?;
            self.spaces();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.spaces();
                    // `{ a: 1, }` is valid YAML, but keep to the plain shape.
                    if self.peek()? == b'}' {
                        return None;
                    }
                }
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A whole session as a flow mapping.
    fn flow_item(&mut self, item: &mut Item) -> Option<()> {
        let mut done = Item::default();
        self.flow_map(|k, c| match c.value(Sub::of(k), &mut done)? {
            Val::Scalar(v) => done.set_scalar(k, v),
            Val::Map => Some(()),
        })?;
        *item = done;
        Some(())
    }
}

// ---------------------------------------------------------------- scalars
//
// Each reads only spellings whose meaning is certain: YAML 1.2 core schema
// integers as serde-saphyr types them, and the strings our types parse.
// Anything else declines.

/// A decimal integer without leading zeros, or `0x` hexadecimal.
fn u64_int(v: &str) -> Option<u64> {
    if let Some(h) = v.strip_prefix("0x") {
        // Up to 16 digits cannot overflow: folded here, without the
        // generic radix parser (~0.1 µs per TEID, two per session).
        if h.is_empty() || h.len() > 16 {
            return (!h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u64::from_str_radix(h, 16).ok())
                .flatten();
        }
        let mut n = 0u64;
        for b in h.bytes() {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return None,
            };
            n = (n << 4) | u64::from(d);
        }
        return Some(n);
    }
    u64_dec(v)
}

fn u64_dec(v: &str) -> Option<u64> {
    if v.is_empty() || (v.len() > 1 && v.starts_with('0')) {
        return None;
    }
    // Up to 19 digits cannot overflow a u64: folded here; longer ones
    // (rare) by the standard parser, which checks.
    if v.len() > 19 {
        return v
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| v.parse().ok())
            .flatten();
    }
    let mut n = 0u64;
    for b in v.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

fn u8_dec(v: &str) -> Option<u8> {
    u64_dec(v).and_then(|n| u8::try_from(n).ok())
}

fn teid(v: &str) -> Option<Teid> {
    u64_int(v).and_then(|n| u32::try_from(n).ok()).map(Teid)
}

/// An address: only the characters of one, so that YAML sees a string.
fn ip(v: &str) -> Option<IpAddr> {
    // The common spelling first, in one pass: four decimal octets
    // without leading zeros, which the standard parser reads the same
    // (and YAML as a string: three dots). Anything else goes the long way.
    if let Some(a) = dotted_quad(v) {
        return Some(IpAddr::V4(a));
    }
    ip_general(v)
}

/// [`ip`] for any spelling (the reader before `dotted_quad`; the property
/// tests hold the two equal).
fn ip_general(v: &str) -> Option<IpAddr> {
    if !v
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
    {
        return None;
    }
    // All digits and dots with one dot at most would be a YAML number.
    if !v.contains(':') && v.bytes().filter(|&b| b == b'.').count() < 3 {
        return None;
    }
    v.parse().ok()
}

/// `a.b.c.d`, each 0..=255 in decimal without a leading zero; `None`
/// for anything else (which [`ip`] then reads as before).
fn dotted_quad(v: &str) -> Option<std::net::Ipv4Addr> {
    // One pass over the bytes (a `split('.')` searched for each dot).
    let (mut octets, mut k) = ([0u8; 4], 0);
    let (mut n, mut len, mut lead0) = (0u16, 0, false);
    for &b in v.as_bytes().iter().chain([b'.'].iter()) {
        if b == b'.' {
            if len == 0 || k == 4 {
                return None;
            }
            octets[k] = u8::try_from(n).ok()?;
            (k, n, len) = (k + 1, 0, 0);
        } else if b.is_ascii_digit() && len < 3 && !lead0 {
            lead0 = len == 0 && b == b'0';
            n = n * 10 + u16::from(b - b'0');
            len += 1;
            continue;
        } else {
            return None;
        }
        lead0 = false;
    }
    (k == 4).then_some(std::net::Ipv4Addr::from(octets))
}

/// `50Mbps`-style (a unit, so YAML sees a string), or a decimal integer.
fn bitrate(v: &str) -> Option<Bitrate> {
    let digits = v.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.');
    let num = digits.count();
    if num == v.len() {
        // No unit: a decimal integer or nothing (no unit has the empty
        // name), without scanning the digits twice.
        return u64_dec(v).map(Bitrate::from_bps);
    }
    let unit = &v[num..];
    if num == 0 {
        return None;
    }
    let scale = bitrate_scale(unit)?;
    // An integer count of the unit (`100Mbps`), the common spelling, is
    // that many times the unit, as `Bitrate::from_str` reads it (leading
    // zeros included); a fraction or a long number is left to it.
    let int = &v.as_bytes()[..num];
    if num <= 19 && int.iter().all(u8::is_ascii_digit) {
        let n = int.iter().fold(0u64, |n, &b| n * 10 + u64::from(b - b'0'));
        return n.checked_mul(scale).map(Bitrate::from_bps);
    }
    v.parse().ok()
}

#[cfg(test)]
mod tests;
