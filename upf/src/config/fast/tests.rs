//! The fast path gives what serde-saphyr gives, or declines: for session
//! lists in every style it knows (property tests), for files it must
//! decline, and for mutated files (never a different value; the whole
//! `parse` — values, errors, line:col — is the same with and without it).

use proptest::prelude::*;

use super::super::{HostInfo, deserialize_full, parse, parse_after, parse_text, parse_with};
use super::*;

const HEAD: &str = "\
# fast-path test
node_id: 192.168.1.1
cores: { control: 0, workers: [1] }
interfaces:
  n3: { device: net_null0, address: 192.168.1.1/24 }
  n6: { device: net_null1, address: 10.200.0.1/24, gateway: 10.200.0.254 }
";

fn fast(text: &str) -> Option<RawConfig> {
    deserialize(text, |h| deserialize_full(h).ok(), None).map(|(r, _, _)| r)
}

/// The fast path applies and agrees with serde-saphyr.
fn agree(text: &str) {
    let slow = deserialize_full(text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    let quick = fast(text).unwrap_or_else(|| panic!("fast path declined:\n{text}"));
    assert_eq!(quick, slow, "{text}");
    assert!(!slow.sessions.is_empty());
}

/// The fast path declines (and serde-saphyr decides).
fn declines(text: &str) {
    assert_eq!(fast(text), None, "{text}");
}

fn same_parse(text: &str) {
    let host = HostInfo::with_cpus(4);
    let a = parse_with(text, "t.yaml", Some(&host), true, None, None);
    let b = parse_with(text, "t.yaml", Some(&host), false, None, None);
    assert_eq!(a, b, "{text}");
}

#[test]
fn the_benchmark_and_reference_shapes_take_the_fast_path() {
    agree(&format!(
        "{HEAD}sessions:\n\
         \x20 - {{ id: 1, ue_ip: 10.64.0.2, uplink: {{ teid: 0x01000000 }}, downlink: {{ gnb: 192.168.1.2, teid: 0x02000000, qfi: 9 }}, qos: {{ mbr_ul: 100Mbps, mbr_dl: 100Mbps }} }}\n\
         \x20 - {{ id: 2, ue_ip: 10.64.0.3, uplink: {{ teid: 0x01000001 }}, downlink: {{ gnb: 192.168.1.2, teid: 0x02000001 }} }}\n\
         api: {{ listen: 127.0.0.1:9100 }}\n"
    ));
    // ARCHITECTURE.md's example: block mapping, flow values, comments.
    agree(&format!(
        "{HEAD}sessions:                             # static sessions, no SMF needed\n\
         \x20 - id: 1\n\
         \x20   ue_ip: 10.45.0.2\n\
         \x20   uplink:   {{ teid: 0x100 }}                          # F-TEID on the UPF's N3 address\n\
         \x20   downlink: {{ gnb: 192.168.1.2, teid: 0x200, qfi: 9 }} # where DL goes, and its QFI\n\
         \x20   qos: {{ mbr_ul: 50Mbps, mbr_dl: 100Mbps }}          # optional; also Kbps, Gbps\n"
    ));
    // Nested block mappings, items at column 0, blank and comment lines.
    agree(&format!(
        "{HEAD}sessions:\n\
         - id: 7\n\
         \x20 ue_ip: 2001:db8::7\n\
         \n\
         # a comment at column 0\n\
         \x20 uplink:\n\
         \x20   teid: 4096\n\
         \x20 downlink:\n\
         \x20     gnb: 192.168.1.2\n\
         \x20     teid: 0x2000\n\
         \x20 qos:\n\
         \x20   mbr_dl: 1.5Gbps\n\
         - {{ id: 8, ue_ip: 10.45.0.8, uplink: {{teid: 9}}, downlink: {{gnb: 192.168.1.2, teid: 10}}, qos: {{}} }}\n\
         log: {{ level: debug }}\n"
    ));
}

#[test]
fn shapes_it_does_not_know_decline() {
    let one = "  - { id: 1, ue_ip: 10.64.0.2, uplink: { teid: 0x100 }, downlink: { gnb: 192.168.1.2, teid: 0x200 } }\n";
    let with = |s: &str| format!("{HEAD}sessions:\n{s}");
    for bad in [
        one.replace("10.64.0.2", "\"10.64.0.2\""),
        one.replace("id: 1,", "id: &a 1,"),
        one.replace("id: 1,", "id: 1, id: 2,"),
        one.replace("id: 1,", "id: 1, color: red,"),
        one.replace("teid: 0x100 }", "teid: 0x100, teid: 0x101 }"),
        one.replace("0x200 }", "0x200, }"),
        one.replace("gnb:", "gnbx:"),
        one.replace("  - ", "\t- "),
        one.replace('\n', "\r\n"),
        one.replace("ue_ip: ", "ue_ip:"),
        one.replace("teid: 0x100", "teid: 0x100000000"),
        one.replace("teid: 0x100", "teid: 0100"),
        one.replace("teid: 0x100", "teid: ~"),
        one.replace(" }\n", "\n    }\n"),
        "  - id: 1\n    pdrs: []\n".to_owned(),
        "  - id: 1\n    ue_ip: 10.64.0.2\n     uplink: { teid: 1 }\n".to_owned(),
        "  - id: 1\n    qos:\n".to_owned(),
        "  -\n    id: 1\n".to_owned(),
        " - { id: 1 }\n  - { id: 2 }\n".to_owned(),
    ] {
        declines(&with(&bad));
        same_parse(&with(&bad));
    }
    // Not a list on the following lines.
    declines(&format!("{HEAD}sessions: []\n"));
    declines(&format!("{HEAD}sessions:\n"));
    declines(&format!("{HEAD}sessions: # c\n  foo: 1\n"));
    // `sessions:` inside something still open is not the top-level key.
    declines(&format!(
        "node_id: \"a\nsessions:\n{one}\"\ncores: {{ control: 0, workers: [1] }}\n"
    ));
    // A second `sessions` key: serde-saphyr refuses it as a duplicate.
    declines(&format!("{HEAD}sessions:\n{one}sessions:\n{one}"));
}

// ------------------------------------------------------------ properties

#[derive(Debug, Clone)]
struct Spec {
    id: u64,
    ue_ip: Option<IpAddr>,
    ul: Option<u32>,
    dl: Option<(IpAddr, u32, Option<u8>)>,
    qos: Option<(Option<String>, Option<String>)>,
}

/// Addresses the emitter can write as plain scalars in every style: not
/// one whose text ends in "::" (see
/// `an_ipv6_ending_in_double_colon_in_a_flow_mapping_is_left_to_serde`).
fn ip_strategy() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u32..1 << 20).prop_map(|n| IpAddr::from(std::net::Ipv4Addr::from(0x0a40_0000 + n))),
        any::<u16>()
            .prop_map(|n| IpAddr::from(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n))),
        any::<u128>().prop_map(|n| IpAddr::from(std::net::Ipv6Addr::from(n))),
        Just("192.168.1.2".parse().unwrap()),
    ]
    .prop_filter("ends in \"::\"", |ip| !ip.to_string().ends_with(':'))
}

fn rate() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u64..100_000).prop_map(|n| format!("{n}Mbps")),
        (1u64..100_000).prop_map(|n| format!("{n}Kbps")),
        (0u64..100_000_000).prop_map(|n| n.to_string()),
        (1u64..100, 0u64..10).prop_map(|(a, b)| format!("{a}.{b}Gbps")),
        Just("0bps".to_owned()),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u64..2000,
        proptest::option::weighted(0.9, ip_strategy()),
        proptest::option::weighted(0.9, any::<u32>()),
        proptest::option::weighted(
            0.9,
            (
                ip_strategy(),
                any::<u32>(),
                proptest::option::of(any::<u8>()),
            ),
        ),
        proptest::option::of((proptest::option::of(rate()), proptest::option::of(rate()))),
    )
        .prop_map(|(id, ue_ip, ul, dl, qos)| Spec {
            id,
            ue_ip,
            ul,
            dl,
            qos,
        })
}

/// How a session is written; `bits` picks spellings and spacing.
#[derive(Debug, Clone, Copy)]
struct Style {
    block: bool,
    nested: bool,
    bits: u32,
}

/// Makes item `i` of a generated list valid next to the others: distinct
/// keys, a gNB on N3's subnet, QFI and MBRs in range.
fn make_valid(s: &mut Spec, i: usize) {
    s.ue_ip = Some(IpAddr::from(std::net::Ipv4Addr::new(
        10,
        45,
        0,
        i as u8 + 2,
    )));
    s.ul = Some(0x0100_0000 + i as u32);
    s.dl =
        s.dl.map(|(_, t, q)| ("192.168.1.2".parse().unwrap(), t | 1, q.map(|q| q % 64)));
    s.dl.get_or_insert(("192.168.1.2".parse().unwrap(), 7, None));
    if let Some((ul, dl)) = &mut s.qos {
        for r in [ul, dl].into_iter().flatten() {
            if r.starts_with('0') {
                *r = "1Mbps".to_owned();
            }
        }
    }
}

fn int(n: u64, hex: bool) -> String {
    if hex {
        format!("{n:#x}")
    } else {
        n.to_string()
    }
}

/// A session's value: a scalar (`Ok`) or a mapping of scalars (`Err`).
type Entry = Result<String, Vec<(String, String)>>;

fn emit(s: &Spec, st: Style, indent: usize) -> String {
    let b = |i: u32| st.bits & (1 << i) != 0;
    let sp = if b(0) { "  " } else { " " };
    // Entries of the session: (key, scalar) or (key, [(key, scalar)]).
    let mut top: Vec<(String, Entry)> = Vec::new();
    top.push(("id".into(), Ok(int(s.id, b(1)))));
    if let Some(ip) = s.ue_ip {
        top.push(("ue_ip".into(), Ok(ip.to_string())));
    }
    if let Some(t) = s.ul {
        top.push((
            "uplink".into(),
            Err(vec![("teid".into(), int(t.into(), b(2)))]),
        ));
    }
    if let Some((gnb, t, q)) = s.dl {
        let mut m = vec![
            ("gnb".into(), gnb.to_string()),
            ("teid".into(), int(t.into(), b(3))),
        ];
        if let Some(q) = q {
            m.push(("qfi".into(), q.to_string()));
        }
        if b(4) {
            m.reverse();
        }
        top.push(("downlink".into(), Err(m)));
    }
    if let Some((ul, dl)) = &s.qos {
        let mut m = Vec::new();
        if let Some(r) = ul {
            m.push(("mbr_ul".into(), r.clone()));
        }
        if let Some(r) = dl {
            m.push(("mbr_dl".into(), r.clone()));
        }
        top.push(("qos".into(), Err(m)));
    }
    if b(5) {
        top.rotate_left(1);
    }
    let flow = |m: &[(String, String)]| {
        let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{sp}{v}")).collect();
        if inner.is_empty() {
            "{}".to_owned()
        } else if b(6) {
            format!("{{{}}}", inner.join(","))
        } else {
            format!("{{ {} }}", inner.join(&format!(",{sp}")))
        }
    };
    let pad = " ".repeat(indent);
    let comment = if b(7) { "   # note" } else { "" };
    if !st.block {
        let inner: Vec<String> = top
            .iter()
            .map(|(k, v)| match v {
                Ok(x) => format!("{k}: {x}"),
                Err(m) => format!("{k}: {}", flow(m)),
            })
            .collect();
        return format!("{pad}- {{ {} }}{comment}\n", inner.join(", "));
    }
    let mut out = String::new();
    let dash = if b(8) { "-   " } else { "- " };
    let col = indent + dash.len();
    for (i, (k, v)) in top.iter().enumerate() {
        let lead = if i == 0 {
            format!("{pad}{dash}")
        } else {
            " ".repeat(col)
        };
        match v {
            Ok(x) => out.push_str(&format!("{lead}{k}:{sp}{x}{comment}\n")),
            Err(m) if st.nested && !m.is_empty() => {
                out.push_str(&format!("{lead}{k}:{comment}\n"));
                let deeper = " ".repeat(col + if b(9) { 4 } else { 2 });
                for (k2, v2) in m {
                    out.push_str(&format!("{deeper}{k2}: {v2}\n"));
                }
            }
            Err(m) => out.push_str(&format!("{lead}{k}: {}{comment}\n", flow(m))),
        }
        if b(10) && i == 0 {
            out.push_str("\n# between keys\n");
        }
    }
    out
}

fn style() -> impl Strategy<Value = Style> {
    (any::<bool>(), any::<bool>(), any::<u32>()).prop_map(|(block, nested, bits)| Style {
        block,
        nested,
        bits,
    })
}

const TAILS: [&str; 4] = [
    "",
    "api: { listen: 127.0.0.1:9100 }\n",
    "# trailing comment\n\nlog:\n  level: debug\n",
    "teid_range: { first: 0x1000, last: 0xffff }\n",
];

fn file() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec((spec(), style()), 1..12),
        prop_oneof![Just(0usize), Just(2), Just(4)],
        0..TAILS.len(),
    )
        .prop_map(|(items, indent, tail)| {
            let mut t = format!("{HEAD}sessions:\n");
            for (s, st) in &items {
                t.push_str(&emit(s, *st, indent));
            }
            t.push_str(TAILS[tail]);
            t
        })
}

/// An edit of `text` at a random place: a YAML-significant character
/// inserted, a few bytes removed, or one replaced.
fn mutate(text: &str, at: usize, what: u8, op: u8) -> String {
    const CHARS: &[u8] = b" -:#{},[]\"'&*!|>?\n\t0x.aZ_9%@`";
    let mut b = text.as_bytes().to_vec();
    let at = at % (b.len() + 1);
    let c = CHARS[usize::from(what) % CHARS.len()];
    match op % 3 {
        0 => b.insert(at, c),
        1 => {
            let end = (at + 1 + usize::from(what % 4)).min(b.len());
            b.drain(at..end);
        }
        _ => {
            if at < b.len() {
                b[at] = c;
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Spellings YAML (1.1 or 1.2) or our types might read differently from
/// what they look like: the fast path must decline them or agree.
const TRICKY: &[&str] = &[
    "0x1_0",
    "1e3",
    "0o17",
    "+5",
    "~",
    "null",
    "\"1\"",
    "'a'",
    "1.5",
    ".inf",
    "0b101",
    "1:20",
    "2001:db8::",
    "::1",
    "-1",
    "007",
    "true",
    "0X1F",
    "100MBps",
    "1.5Mbps",
    "12_000",
    "0x",
    "!!str 5",
    "&a 5",
    "*a",
    "1.2.3.4",
    "1.2.3",
    "010.0.0.1",
    "1.2.3.256",
    "1.2.3.4.5",
    "007Mbps",
    "0Mbps",
    "99999999999999999999Tbps",
    "18446744073709551615Tbps",
    "0x00000000000000001",
    "0xFFFFFFFFFFFFFFFFF",
    "10.0.0.1/24",
    "4294967296",
    "0xffffffff",
    "18446744073709551616",
    "256",
    "63",
    "64",
    "0",
    "0bps",
    "5 Mbps",
    "5Mbps # c",
    "[1]",
    "{}",
    "1..2",
    "::",
    "fe80::1%eth0",
    "1Tbps",
    "0.5Kbps",
    "99999999999999999999Tbps",
    "5mbps",
];

/// `text` with the value after its `n`-th `: ` in the `sessions:` list
/// replaced by `value`.
fn replace_value(text: &str, n: usize, value: &str) -> String {
    let start = text.find("sessions:\n").map_or(0, |i| i + 10);
    let spots: Vec<usize> = text[start..]
        .match_indices(": ")
        .map(|(i, _)| start + i + 2)
        .collect();
    let Some(&at) = spots.get(n % spots.len().max(1)) else {
        return text.to_owned();
    };
    let end = text[at..]
        .find([',', '}', '\n', ' '])
        .map_or(text.len(), |e| at + e);
    format!("{}{value}{}", &text[..at], &text[end..])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A reload's `parse_after` (which reuses the running config's
    /// unchanged sessions, and the values of the list items whose bytes
    /// did not change) gives what `parse` gives, for an edit of a valid
    /// file: values replaced, or bytes inserted, removed or replaced.
    #[test]
    fn parse_after_a_valid_file_is_parse(
        items in proptest::collection::vec((spec(), style()), 1..8),
        edits in proptest::collection::vec((any::<usize>(), 0..TRICKY.len()), 0..3),
        mutation in proptest::option::of((any::<usize>(), any::<u8>(), any::<u8>())),
    ) {
        // Distinct keys, so that the first file is valid more often.
        let mut t = format!("{HEAD}sessions:\n");
        for (i, (s, st)) in items.iter().enumerate() {
            let mut s = s.clone();
            s.id = i as u64 + 1;
            make_valid(&mut s, i);
            t.push_str(&emit(&s, *st, 2));
        }
        let host = HostInfo::with_cpus(4);
        let prev = parse_text(t.clone(), "t.yaml", Some(&host), None);
        prop_assert!(prev.is_ok(), "{:?}\n{}", prev.err().map(|e| e.to_string()), t);
        let Ok(prev) = prev else { return Ok(()) };
        prop_assert!(prev.source.0.is_some(), "the fast path read the list");
        let mut t2 = t.clone();
        for (n, v) in edits {
            t2 = replace_value(&t2, n, TRICKY[v]);
        }
        if let Some((at, what, op)) = mutation {
            t2 = mutate(&t2, at, what, op);
        }
        let want = parse(&t2, "t.yaml", Some(&host));
        prop_assert_eq!(&parse_after(&t2, "t.yaml", Some(&host), &prev), &want);
        // And from a config that was itself read after another.
        let mid = parse_text(t2.clone(), "t.yaml", Some(&host), Some(&prev));
        prop_assert_eq!(&mid, &want);
        if let Ok(mid) = mid {
            prop_assert_eq!(parse_text(t.clone(), "t.yaml", Some(&host), Some(&mid)),
                parse(&t, "t.yaml", Some(&host)));
        }
    }

    #[test]
    fn tricky_scalars_are_read_the_same_or_declined(
        t in file(),
        edits in proptest::collection::vec((any::<usize>(), 0..TRICKY.len()), 1..3),
    ) {
        let mut t = t;
        for (n, v) in edits {
            t = replace_value(&t, n, TRICKY[v]);
        }
        if let Some(quick) = fast(&t) {
            prop_assert_eq!(Some(quick), deserialize_full(&t).ok(), "{}", t);
        }
        same_parse(&t);
    }

    #[test]
    fn both_paths_read_every_style_the_same(t in file()) {
        agree(&t);
        same_parse(&t);
    }

    #[test]
    fn a_mutated_file_is_read_the_same_or_declined(
        t in file(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        let mut t = t;
        for (at, what, op) in edits {
            t = mutate(&t, at, what, op);
        }
        if let Some(quick) = fast(&t) {
            let slow = deserialize_full(&t);
            prop_assert_eq!(Some(quick), slow.ok(), "{}", t);
        }
        same_parse(&t);
    }

    #[test]
    fn any_text_is_some_or_none(s in "[a-z_0-9:{}\\[\\],.'\"&*!|>#/ \n-]{0,300}") {
        let t = format!("sessions:\n{s}");
        let _ = fast(&t);
        let _ = fast(&s);
    }
}

#[test]
fn the_shipped_configs_read_the_same_on_both_paths() {
    for text in [
        include_str!("../../../../config/upf.yaml"),
        include_str!("../../../../config/demo.yaml"),
        include_str!("../../../../config/static-demo.yaml"),
    ] {
        if let Some(quick) = fast(text) {
            assert_eq!(Some(quick), deserialize_full(text).ok());
        }
        same_parse(text);
    }
}

/// With an earlier read to reuse, an item whose bytes are those of the
/// item at the same place gives what that one gave, unparsed; any other
/// item is read. (Shown with earlier values that its bytes do not give:
/// the reused ones come through, the others do not.)
#[test]
fn items_with_unchanged_bytes_take_the_earlier_value() {
    let item = |i: u32, teid: u32| {
        format!(
            "  - {{ id: {i}, ue_ip: 10.45.0.{i}, uplink: {{ teid: {teid} }}, downlink: {{ gnb: 192.168.1.2, teid: 7 }} }}\n"
        )
    };
    let block = "  - id: 9\n    ue_ip: 10.45.0.9\n    uplink: { teid: 99 }\n    downlink:\n      gnb: 192.168.1.2\n      teid: 7\n\n  # a comment\n";
    let a = format!(
        "{HEAD}sessions:\n{}{}{block}{}",
        item(1, 1),
        item(2, 2),
        item(3, 3)
    );
    let (raw, at, reused) = deserialize(&a, |h| deserialize_full(h).ok(), None).unwrap();
    assert_eq!(raw.sessions.len(), 4);
    assert!(reused.is_empty(), "nothing to reuse");
    let items = Items {
        text: Arc::new(a.clone()),
        at,
    };
    // Marked: ids + 1000.
    let marked: Vec<RawSession> = raw
        .sessions
        .iter()
        .map(|s| RawSession {
            id: s.id + 1000,
            ..s.clone()
        })
        .collect();
    let reuse = Reuse {
        items: &items,
        raws: &marked,
    };
    // Item 1 changed, an item added at the end.
    let b = format!(
        "{HEAD}sessions:\n{}{}{block}{}{}",
        item(1, 1),
        item(2, 20),
        item(3, 3),
        item(4, 4)
    );
    let (raw, _, reused) = deserialize(&b, |h| deserialize_full(h).ok(), Some(reuse)).unwrap();
    let ids: Vec<u64> = raw.sessions.iter().map(|s| s.id).collect();
    assert_eq!(ids, [1001, 2, 1009, 1003, 4]);
    // Marked as copies exactly where they are.
    assert_eq!(reused, [true, false, true, true, false]);
    // The same bytes under another indent are read again.
    let c = b.replace("\n  ", "\n    ");
    let (raw, _, reused) = deserialize(&c, |h| deserialize_full(h).ok(), Some(reuse)).unwrap();
    assert!(raw.sessions.iter().all(|s| s.id < 1000));
    assert!(reused.iter().all(|r| !r));
    // The last item without its newline is not the item with one.
    let d = a.strip_suffix('\n').unwrap();
    let (raw, _, reused) = deserialize(d, |h| deserialize_full(h).ok(), Some(reuse)).unwrap();
    let ids: Vec<u64> = raw.sessions.iter().map(|s| s.id).collect();
    assert_eq!(ids, [1001, 1002, 1009, 3]);
    assert_eq!(reused, [true, true, true, false]);
}

proptest! {
    /// Validation does not translate short-form sessions to check them
    /// against the dataplane's rules (`validate`): every short-form
    /// session of a file that passes validation passes that check.
    #[test]
    fn short_form_sessions_pass_check_session(
        items in proptest::collection::vec((spec(), style()), 1..6),
    ) {
        let mut t = format!("{HEAD}sessions:\n");
        for (i, (s, st)) in items.iter().enumerate() {
            let mut s = s.clone();
            s.id = i as u64 + 1;
            // Mostly valid (`make_valid`).
            if st.bits & 1 == 0 {
                make_valid(&mut s, i);
            }
            t.push_str(&emit(&s, *st, 2));
        }
        let host = HostInfo::with_cpus(4);
        if let Ok(c) = parse(&t, "t.yaml", Some(&host)) {
            for s in &c.sessions {
                prop_assert!(
                    crate::translate::check_session(&c.interfaces, s).is_ok(),
                    "{:?}\n{}", s, t
                );
            }
        }
    }
}

/// An IPv6 address that ends in "::" cannot be a plain scalar inside a
/// flow mapping (":," and ": " end a plain scalar there): serde-saphyr
/// rejects it; the fast path must decline, so that the error is the same.
#[test]
fn an_ipv6_ending_in_double_colon_in_a_flow_mapping_is_left_to_serde() {
    let t = format!(
        "{HEAD}sessions:\n  - {{ id: 1, uplink: {{teid: 1}}, downlink: {{gnb: 2001:db8::, teid: 2}} }}\n"
    );
    assert!(deserialize_full(&t).is_err());
    declines(&t);
    same_parse(&t);
}

// The scalar readers as they were before their one-pass spellings
// (folded integers, integer bitrates): the slow, obviously right
// reference they must equal on any input. `ip`'s is `ip_general`, the
// reader's own way for spellings `dotted_quad` declines.
fn u64_int_ref(v: &str) -> Option<u64> {
    if let Some(h) = v.strip_prefix("0x") {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return u64::from_str_radix(h, 16).ok();
    }
    u64_dec_ref(v)
}

fn u64_dec_ref(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || (v.len() > 1 && v.starts_with('0'))
    {
        return None;
    }
    v.parse().ok()
}

fn bitrate_ref(v: &str) -> Option<Bitrate> {
    if let Some(n) = u64_dec_ref(v) {
        return Some(Bitrate::from_bps(n));
    }
    let digits = v.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.');
    let num = digits.count();
    let unit = &v[num..];
    if num == 0
        || !matches!(
            unit,
            "bps" | "Kbps" | "kbps" | "Mbps" | "mbps" | "Gbps" | "gbps" | "Tbps" | "tbps"
        )
    {
        return None;
    }
    v.parse().ok()
}

fn scalar_readers_agree(v: &str) {
    assert_eq!(u64_int(v), u64_int_ref(v), "{v:?}");
    assert_eq!(u64_dec(v), u64_dec_ref(v), "{v:?}");
    assert_eq!(ip(v), ip_general(v), "{v:?}");
    assert_eq!(bitrate(v), bitrate_ref(v), "{v:?}");
}

#[test]
fn scalar_readers_equal_the_references_on_edge_cases() {
    for v in TRICKY {
        scalar_readers_agree(v);
    }
    for v in [
        "",
        "0",
        "00",
        "0x",
        "0x0",
        "0xg",
        "255.255.255.255",
        "0.0.0.0",
        "1..2.3",
        "1.2.3.",
        ".1.2.3",
        "01.2.3.4",
        "1.2.3.04",
        "1000.1.1.1",
        "18446744073709551615",
        "18446744073709551616",
        "9999999999999999999",
        "0xffffffffffffffff",
        "0x10000000000000000",
        "0000000000000000000001",
        "1Mbps",
        "1.5Mbps",
        "1.Mbps",
        "18446744073709551Kbps",
        "18446744073709552Kbps",
        "0001Gbps",
        "1bps",
        "1Bps",
    ] {
        scalar_readers_agree(v);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn scalar_readers_equal_the_references(
        v in "[0-9a-fA-FxKMGTbps.:]{0,24}",
        n in any::<u64>(),
        q in any::<[u8; 4]>(),
        unit in prop::sample::select(vec!["", "bps", "Kbps", "kbps", "Mbps", "Gbps", "Tbps", "tbps", "Bps"]),
    ) {
        scalar_readers_agree(&v);
        scalar_readers_agree(&format!("{n}{unit}"));
        scalar_readers_agree(&format!("0x{n:x}"));
        scalar_readers_agree(&format!("{}.{}.{}.{}", q[0], q[1], q[2], q[3]));
        scalar_readers_agree(&format!("{}.{:02}.{}.{}", q[0], q[1], q[2], u16::from(q[3]) * 3));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A reload builds an edited short-form session around the running
    /// session's rule lists that the edit keeps (`validate`'s
    /// `short_form` with `like`): the config equals a fresh parse of the
    /// file, whichever fields changed (each of ue_ip, uplink TEID,
    /// downlink, QoS and id kept or replaced at random), on the path
    /// that checks only the changed entries and on the full one (many
    /// keys moved).
    #[test]
    fn short_form_sharing_gives_what_building_gives(
        items in proptest::collection::vec((spec(), spec(), style(), any::<u8>()), 1..10),
    ) {
        let mut a = format!("{HEAD}sessions:\n");
        let mut b = a.clone();
        for (i, (sa, sb, st, mask)) in items.iter().enumerate() {
            let mut x = sa.clone();
            x.id = i as u64 + 1;
            make_valid(&mut x, i);
            // Other valid values for the same place (keys of an index no
            // other item uses).
            let mut o = sb.clone();
            make_valid(&mut o, i + 50);
            let mut y = x.clone();
            if mask & 1 != 0 {
                y.ue_ip = o.ue_ip;
            }
            if mask & 2 != 0 {
                y.ul = o.ul;
            }
            if mask & 4 != 0 {
                y.dl = o.dl;
            }
            if mask & 8 != 0 {
                y.qos = o.qos.clone();
            }
            if mask & 16 != 0 {
                y.id = i as u64 + 100;
            }
            a.push_str(&emit(&x, *st, 2));
            b.push_str(&emit(&y, *st, 2));
        }
        let host = HostInfo::with_cpus(4);
        let prev = parse_text(a.clone(), "t.yaml", Some(&host), None);
        prop_assume!(prev.is_ok());
        let prev = prev.unwrap();
        let fresh = parse(&b, "t.yaml", Some(&host));
        let after = parse_text(b.clone(), "t.yaml", Some(&host), Some(&prev));
        prop_assert_eq!(&after, &fresh, "{}\n---\n{}", a, b);
        // Field by field as well (the lists' `==` compares pointers first).
        if let (Ok(after), Ok(fresh)) = (after, fresh) {
            for (s, f) in after.sessions.iter().zip(&fresh.sessions) {
                prop_assert_eq!(&s.pdrs[..], &f.pdrs[..]);
                prop_assert_eq!(&s.fars[..], &f.fars[..]);
                prop_assert_eq!(&s.qers[..], &f.qers[..]);
                prop_assert_eq!(&s.urrs[..], &f.urrs[..]);
            }
        }
    }
}

/// A QoS edit shares the running session's PDR, FAR and URR lists and
/// builds its QER list alone; a downlink TEID edit shares the PDRs, QERs
/// and URRs.
#[test]
fn a_reload_shares_the_lists_an_edit_keeps() {
    let host = HostInfo::with_cpus(4);
    let item = |qos: &str, dl: u32| {
        format!(
            "  - {{ id: 1, ue_ip: 10.45.0.2, uplink: {{ teid: 0x100 }}, downlink: {{ gnb: 192.168.1.2, teid: {dl} }}, qos: {{ mbr_ul: {qos}, mbr_dl: {qos} }} }}\n  - {{ id: 2, ue_ip: 10.45.0.3, uplink: {{ teid: 0x101 }}, downlink: {{ gnb: 192.168.1.2, teid: 7 }} }}\n"
        )
    };
    let a = format!("{HEAD}sessions:\n{}", item("100Mbps", 5));
    let prev = parse_text(a, "t.yaml", Some(&host), None).unwrap();
    let (p, n) = (&prev.sessions[0], &prev.sessions[1]);
    let b = format!("{HEAD}sessions:\n{}", item("200Mbps", 5));
    let next = parse_text(b.clone(), "t.yaml", Some(&host), Some(&prev)).unwrap();
    assert_eq!(next, parse(&b, "t.yaml", Some(&host)).unwrap());
    let s = &next.sessions[0];
    assert!(Arc::ptr_eq(&s.pdrs, &p.pdrs) && Arc::ptr_eq(&s.fars, &p.fars));
    assert!(Arc::ptr_eq(&s.urrs, &p.urrs) && Arc::ptr_eq(&s.urrs, &n.urrs));
    assert!(!Arc::ptr_eq(&s.qers, &p.qers));
    assert_eq!(s.qers[0].mbr_dl.map(Bitrate::bps), Some(200_000_000));
    // The unchanged session is the running one.
    assert!(Arc::ptr_eq(&next.sessions[1], n));
    let c = format!("{HEAD}sessions:\n{}", item("100Mbps", 9));
    let next = parse_text(c.clone(), "t.yaml", Some(&host), Some(&prev)).unwrap();
    assert_eq!(next, parse(&c, "t.yaml", Some(&host)).unwrap());
    let s = &next.sessions[0];
    assert!(Arc::ptr_eq(&s.pdrs, &p.pdrs) && Arc::ptr_eq(&s.qers, &p.qers));
    assert!(!Arc::ptr_eq(&s.fars, &p.fars));
    assert_eq!(s.fars[1].outer_header_creation.map(|o| o.teid), Some(9));
}

/// The general reader of a one-line flow item (what `parse_item` ran
/// before `canonical_flow`), the reference of the canonical reader.
fn general_flow(line: &str) -> Option<RawSession> {
    let mut item = Item::default();
    let mut cur = Cursor { s: line, i: 0 };
    cur.flow_item(&mut item)?;
    cur.end_of_line()?;
    item.finish()
}

/// `line` (an emitted `- { … }` item) without its dash and newline.
fn flow_line(item: &str) -> &str {
    item.trim_start_matches(' ')
        .trim_start_matches("- ")
        .trim_end_matches('\n')
}

#[test]
fn the_canonical_reader_takes_the_generators_layouts() {
    // perf/lib/reload_bench.py, perf/gen/sessions.py, reload_phases.
    for l in [
        "{ id: 1, ue_ip: 10.64.0.2, uplink: { teid: 0x01000000 }, downlink: { gnb: 192.168.1.2, teid: 0x02000000, qfi: 9 }, qos: { mbr_ul: 200Mbps, mbr_dl: 200Mbps } }",
        "{ id: 7, ue_ip: 10.45.0.3, uplink: { teid: 0x100001 }, downlink: { gnb: 192.168.1.2, teid: 0x201 } }",
        "{ id: 2, ue_ip: 10.45.0.3, uplink: { teid: 0x100001 }, downlink: { gnb: 192.168.1.2, teid: 0x301 }, qos: { mbr_dl: 5Mbps } }",
        "{ id: 3, ue_ip: 2001:db8::5, uplink: { teid: 17 }, downlink: { gnb: 192.168.1.2, teid: 18, qfi: 5 }, qos: { mbr_ul: 1.5Gbps } }",
    ] {
        let quick = canonical_flow(l).unwrap_or_else(|| panic!("declined: {l}"));
        assert_eq!(Some(quick), general_flow(l), "{l}");
    }
    // Other layouts are the general reader's.
    for l in [
        "{ id: 1, ue_ip: 10.64.0.2, uplink: { teid: 1 }, downlink: { gnb: 192.168.1.2, teid: 2 } }  # c",
        "{ ue_ip: 10.64.0.2, id: 1, uplink: { teid: 1 }, downlink: { gnb: 192.168.1.2, teid: 2 } }",
        "{ id: 1, ue_ip: 10.64.0.2, uplink: { teid: 1 }, downlink: { gnb: 192.168.1.2, teid: 2 }, qos: {} }",
        "{ id: 1, ue_ip: 10.64.0.2, uplink: {teid: 1}, downlink: { gnb: 192.168.1.2, teid: 2 } }",
        "{ id: 1, uplink: { teid: 1 }, downlink: { gnb: 192.168.1.2, teid: 2 } }",
    ] {
        assert_eq!(canonical_flow(l), None, "{l}");
    }
}

/// Canonical flow lines (style bits that keep the layout), their values
/// replaced by tricky spellings and then mutated at random.
fn canonical_item() -> impl Strategy<Value = String> {
    (spec(), any::<u32>()).prop_map(|(s, bits)| {
        // Only the hex spellings vary (bits 1-3); bits 0 and 4-10 off.
        let st = Style {
            block: false,
            nested: false,
            bits: bits & 0b1110,
        };
        emit(&s, st, 0)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Whatever line the canonical reader accepts, the general reader
    /// reads to the same session: the layout, tricky values and random
    /// edits included.
    #[test]
    fn the_canonical_reader_gives_what_the_general_one_gives(
        item in canonical_item(),
        tricky in proptest::option::of((any::<usize>(), 0..TRICKY.len())),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..3),
    ) {
        let mut t = item;
        if let Some((n, v)) = tricky {
            t = replace_value(&format!("sessions:\n{t}"), n, TRICKY[v])
                .trim_start_matches("sessions:\n")
                .to_owned();
        }
        for (at, what, op) in edits {
            t = mutate(&t, at, what, op);
        }
        let l = flow_line(&t);
        if let Some(quick) = canonical_flow(l) {
            prop_assert_eq!(Some(quick), general_flow(l), "{}", l);
        }
    }

    /// Files of canonical items read on the fast path as serde-saphyr
    /// reads them (the canonical reader in the whole pipeline).
    #[test]
    fn canonical_files_read_as_serde_saphyr_reads_them(
        items in proptest::collection::vec(canonical_item(), 1..8),
    ) {
        let mut t = format!("{HEAD}sessions:\n");
        for i in &items {
            t.push_str(&format!("  {i}"));
        }
        if let Some(quick) = fast(&t) {
            prop_assert_eq!(Some(quick), deserialize_full(&t).ok(), "{}", t);
        }
        same_parse(&t);
    }
}
