//! Tests of the whole config pipeline: a good file gives the expected
//! model; every kind of error is reported at the right line:column with
//! the right key path; the shipped configs pass; the effective config
//! parses back to the same model; diffs name what changed.

use std::net::IpAddr;
use std::time::Duration;

use super::*;

const BASE: &str = "\
node_id: 192.168.1.1
cores: { control: 0, workers: [1] }
interfaces:
  n3: { device: net_null0, address: 192.168.1.1/24 }
  n6: { device: net_null1, address: 10.200.0.1/24, gateway: 10.200.0.254 }
ue_pools:
  - { cidr: 10.45.0.0/16, dnn: internet }
";

fn host() -> HostInfo {
    HostInfo::with_cpus(4)
}

fn ok(text: &str) -> Config {
    match parse(text, "t.yaml", Some(&host())) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

/// All diagnostics as (line, column, path, message).
fn errs(text: &str) -> Vec<(u32, u32, String, String)> {
    let e = parse(text, "t.yaml", Some(&host())).expect_err("expected an invalid config");
    e.diagnostics
        .iter()
        .map(|d| {
            let p = d.pos.expect("every diagnostic of a text has a position");
            (p.line, p.column, d.path.clone(), d.message.clone())
        })
        .collect()
}

/// Asserts exactly one diagnostic at `line:col` for `path` whose message
/// contains `needle`.
#[track_caller]
fn one_err(text: &str, line: u32, col: u32, path: &str, needle: &str) {
    let all = errs(text);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    let (l, c, p, m) = &all[0];
    assert_eq!(
        (*l, *c, p.as_str()),
        (line, col, path),
        "wrong place for {m:?}"
    );
    assert!(m.contains(needle), "message {m:?} lacks {needle:?}");
}

fn with_sessions(sessions: &str) -> String {
    format!("{BASE}sessions:\n{sessions}")
}

// ---------------------------------------------------------------- good input

#[test]
fn good_file_gives_the_expected_model() {
    let c = ok(&with_sessions(
        "  - id: 7
    ue_ip: 10.45.0.2
    uplink: { teid: 0x100 }
    downlink: { gnb: 192.168.1.2, teid: 0x200, qfi: 5 }
    qos: { mbr_ul: 50Mbps, mbr_dl: 1.5Gbps }
",
    ));
    assert_eq!(c.node_id, types::NodeId::Ip("192.168.1.1".parse().unwrap()));
    assert_eq!(
        c.cores,
        Cores {
            control: 0,
            workers: vec![1]
        }
    );
    assert_eq!(
        c.interfaces.n3.ipv4,
        Some("192.168.1.1/24".parse().unwrap())
    );
    assert_eq!(
        c.interfaces.n6.gateway_v4,
        Some("10.200.0.254".parse().unwrap())
    );
    assert!(c.interfaces.n9.is_none());
    // Defaults.
    assert_eq!(c.dpdk.mbufs, 65536);
    assert_eq!(c.pfcp.listen, None);
    assert_eq!(c.pfcp.heartbeat_interval, Duration::from_secs(5));
    assert_eq!(c.api.listen, "127.0.0.1:9100".parse().unwrap());
    assert_eq!(
        c.teid_range,
        TeidRange {
            first: 0x1000,
            last: 0x00ff_ffff
        }
    );
    assert_eq!(c.log_level, log::LevelFilter::Info);
    assert!(!c.reload.watch);
    assert_eq!(c.dataplane.idle_backoff, None);

    // The short form expands to the PFCP rules the Contract describes.
    let s = &c.sessions[0];
    assert_eq!(s.id, 7);
    let ue: IpAddr = "10.45.0.2".parse().unwrap();
    let (ul, dl) = (&s.pdrs[0], &s.pdrs[1]);
    assert_eq!(ul.source, SourceInterface::Access);
    assert_eq!(
        ul.local_fteid,
        Some(LocalFteid {
            interface: InterfaceName::N3,
            teid: 0x100
        })
    );
    assert_eq!(ul.ue_ip, Some(ue));
    assert_eq!(
        ul.outer_header_removal,
        Some(OuterHeaderRemoval::GtpuUdpIpv4)
    );
    assert_eq!(s.far(ul.far_id).unwrap().egress(), Some(InterfaceName::N6));
    assert_eq!(dl.source, SourceInterface::Core);
    assert_eq!(dl.ue_ip, Some(ue));
    assert_eq!(dl.local_fteid, None);
    let dl_far = s.far(dl.far_id).unwrap();
    assert_eq!(dl_far.egress(), Some(InterfaceName::N3));
    assert_eq!(
        dl_far.outer_header_creation,
        Some(OuterHeaderCreation {
            teid: 0x200,
            peer: "192.168.1.2".parse().unwrap()
        })
    );
    let qer = s.qer(dl.qer_ids[0]).unwrap();
    assert_eq!(qer.qfi, Some(5));
    assert_eq!(qer.mbr_ul.map(units::Bitrate::bps), Some(50_000_000));
    assert_eq!(qer.mbr_dl.map(units::Bitrate::bps), Some(1_500_000_000));
    assert_eq!(ul.qer_ids, vec![qer.id]);
    let urr = s.urr(ul.urr_ids[0]).unwrap();
    assert!(urr.measure_volume);
    assert_eq!(dl.urr_ids, ul.urr_ids);
    // Inside the pool: reserved from allocation.
    assert_eq!(c.reserved_ue_ips(), vec![ue]);
    assert!(c.warnings.is_empty());
}

#[test]
fn full_form_with_every_rule_kind() {
    let c = ok(&with_sessions(
        "  - id: 1
    pdrs:
      - { id: 1, precedence: 100, source: access, teid: 0x42, ue_ip: 10.45.0.9,
          outer_header_removal: gtpu-udp-ipv4, far_id: 1, qer_ids: [1], urr_ids: [1], qfi: 9 }
      - { id: 2, precedence: 10, source: core, ue_ip: 10.45.0.9, far_id: 2,
          sdf: ['permit out 17 from any to assigned 5060'] }
      - { id: 3, precedence: 100, source: n6-lan, ue_ip: 10.45.0.9, far_id: 3 }
    fars:
      - { id: 1, action: forward, destination: core }
      - { id: 2, action: forward, destination: access, dscp: 46,
          outer_header_creation: { teid: 0x99, address: 192.168.1.7 } }
      - { id: 3, action: buffer, notify_cp: true }
    qers:
      - { id: 1, gate: { ul: closed }, mbr: { ul: 1Mbps }, gbr: { ul: 500Kbps } }
    urrs:
      - { id: 1, measurement: [volume, duration], volume_quota: { ul: 10MB },
          time_threshold: 30s, period: 1m }
",
    ));
    let s = &c.sessions[0];
    assert_eq!(s.pdrs.len(), 3);
    assert_eq!(s.pdrs[1].sdf_filters[0].protocol, Some(17));
    assert_eq!(s.pdrs[2].source, SourceInterface::SgiLan);
    assert_eq!(s.fars[1].dscp, Some(46));
    assert_eq!(s.fars[2].action, FarAction::Buffer);
    assert_eq!(s.fars[2].egress(), None);
    assert_eq!(s.qers[0].gate_ul, GateStatus::Closed);
    assert_eq!(s.qers[0].gate_dl, GateStatus::Open);
    assert_eq!(
        s.urrs[0].volume_quota,
        Some(Volume {
            total: None,
            ul: Some(10_000_000),
            dl: None
        })
    );
    assert_eq!(s.urrs[0].period, Some(Duration::from_secs(60)));
    assert!(s.urrs[0].measure_duration);
}

/// The YAML example of the Contract (ARCHITECTURE.md, "Contract", "YAML
/// config"), verbatim: every key it shows is accepted, with the meaning
/// it gives.
const CONTRACT_EXAMPLE: &str = r#"node_id: 192.168.1.1                  # PFCP Node ID (IPv4, IPv6 or FQDN)
dpdk:
  args: ["--no-huge", "-m", "512", "--no-pci"]   # extra EAL arguments
  mbufs: 65536                        # mbufs per mempool (pcap replay holds one per frame)
cores:
  control: 0                          # lcore of the control thread
  workers: [1]                        # one pinned worker per listed lcore
interfaces:
  n3:                                 # access side: GTP-U from gNBs
    device: "net_af_packet0,iface=upf-n3"   # PCI address or DPDK vdev string
    address: 192.168.1.1/24           # the UPF's own N3 IP (answers ARP and ping)
  n6:                                 # core side: plain IP to the data network
    device: "net_af_packet1,iface=upf-n6"
    address: 10.200.0.1/24
    gateway: 10.200.0.254             # next hop for traffic to the data network
    neighbors:                        # optional static ARP entries (benchmarks on
      10.200.0.254: "02:00:00:00:00:fe"  #   net_null/net_pcap, where nobody answers ARP)
  # n9: optional, another UPF (GTP-U), same keys as n3
pfcp:
  listen: 192.168.1.1:8805            # N4 (UDP); omit to run on static sessions only
  peers: []                           # allowed SMF addresses; empty list = any
  heartbeat_interval: 5s
ue_pools:                             # for UE IP allocation by the UPF (CHOOSE)
  - { cidr: 10.45.0.0/16, dnn: internet }
teid_range: { first: 0x1000, last: 0x00ffffff }  # for F-TEID allocation (CHOOSE)
api:
  listen: 127.0.0.1:9100              # HTTP: GET /metrics (Prometheus), GET /status (JSON)
sessions:                             # static sessions, no SMF needed
  - id: 1
    ue_ip: 10.45.0.2
    uplink:   { teid: 0x100 }                          # F-TEID on the UPF's N3 address
    downlink: { gnb: 192.168.1.2, teid: 0x200, qfi: 9 } # where DL goes, and its QFI
    qos: { mbr_ul: 50Mbps, mbr_dl: 100Mbps }          # optional; also Kbps, Gbps
"#;

#[test]
fn contract_example_is_accepted() {
    let c = parse(
        CONTRACT_EXAMPLE,
        "contract.yaml",
        Some(&HostInfo::with_cpus(2)),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // No warnings: N4 on the N3 address is served through the DPDK port.
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.node_id, types::NodeId::Ip("192.168.1.1".parse().unwrap()));
    assert_eq!(c.dpdk.args, ["--no-huge", "-m", "512", "--no-pci"]);
    assert_eq!(c.dpdk.mbufs, 65536);
    assert_eq!(
        c.cores,
        Cores {
            control: 0,
            workers: vec![1]
        }
    );
    assert_eq!(c.interfaces.n3.device, "net_af_packet0,iface=upf-n3");
    assert_eq!(
        c.interfaces.n3.ipv4,
        Some("192.168.1.1/24".parse().unwrap())
    );
    assert_eq!(
        c.interfaces.n6.gateway_v4,
        Some("10.200.0.254".parse().unwrap())
    );
    assert_eq!(
        c.interfaces.n6.neighbors.len(),
        1,
        "{:?}",
        c.interfaces.n6.neighbors
    );
    assert!(c.interfaces.n9.is_none());
    assert_eq!(c.pfcp.listen, Some("192.168.1.1:8805".parse().unwrap()));
    assert!(c.pfcp.peers.is_empty());
    assert_eq!(c.pfcp.heartbeat_interval, Duration::from_secs(5));
    assert_eq!(c.ue_pools.len(), 1);
    assert_eq!(c.ue_pools[0].dnn, "internet");
    assert_eq!(
        c.teid_range,
        TeidRange {
            first: 0x1000,
            last: 0x00ff_ffff
        }
    );
    assert_eq!(c.api.listen, "127.0.0.1:9100".parse().unwrap());
    assert_eq!(c.sessions.len(), 1);
    let s = &c.sessions[0];
    assert_eq!(s.id, 1);
    assert_eq!(
        (s.pdrs.len(), s.fars.len(), s.qers.len(), s.urrs.len()),
        (2, 2, 1, 1)
    );
    let q = &s.qers[0];
    assert_eq!(q.qfi, Some(9));
    assert_eq!(q.mbr_ul.map(units::Bitrate::bps), Some(50_000_000));
    assert_eq!(q.mbr_dl.map(units::Bitrate::bps), Some(100_000_000));
}

#[test]
fn shipped_configs_pass() {
    for (name, text) in [
        ("config/upf.yaml", include_str!("../../../config/upf.yaml")),
        (
            "config/demo.yaml",
            include_str!("../../../config/demo.yaml"),
        ),
        (
            "config/static-demo.yaml",
            include_str!("../../../config/static-demo.yaml"),
        ),
    ] {
        let c = parse(text, name, Some(&HostInfo::with_cpus(2))).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.warnings.is_empty(), "{name}: {:?}", c.warnings);
    }
    let demo = parse(include_str!("../../../config/static-demo.yaml"), "s", None).unwrap();
    assert_eq!(demo.sessions.len(), 2);
    assert_eq!(demo.pfcp.listen, None);
}

#[test]
fn effective_config_parses_back_to_the_same_model() {
    for text in [
        include_str!("../../../config/upf.yaml"),
        include_str!("../../../config/demo.yaml"),
        include_str!("../../../config/static-demo.yaml"),
    ] {
        let a = parse(text, "a", None).unwrap();
        let printed = a.to_yaml().unwrap();
        let b = parse(&printed, "b", None).unwrap_or_else(|e| panic!("{e}\n{printed}"));
        assert!(a.diff(&b).is_empty(), "{}", a.diff(&b));
        assert_eq!(a.sessions, b.sessions);
        assert_eq!(
            (&a.interfaces, &a.pfcp, &a.dpdk),
            (&b.interfaces, &b.pfcp, &b.dpdk)
        );
        // Printing is a fixed point.
        assert_eq!(b.to_yaml().unwrap(), printed);
    }
}

#[test]
fn effective_config_shows_defaults() {
    let y = ok(BASE).to_yaml().unwrap();
    for needle in [
        "mbufs: 65536",
        "heartbeat_interval: 5s",
        "listen: 127.0.0.1:9100",
        "burst: 32",
        "level: info",
    ] {
        assert!(y.contains(needle), "{needle} missing from\n{y}");
    }
}

#[test]
fn listen_without_port_takes_the_default_port() {
    let c = ok(&format!(
        "{BASE}pfcp: {{ listen: 127.0.0.1 }}\napi: {{ listen: '::1' }}\n"
    ));
    assert_eq!(c.pfcp.listen, Some("127.0.0.1:8805".parse().unwrap()));
    assert_eq!(c.api.listen, "[::1]:9100".parse().unwrap());
    assert!(c.to_yaml().unwrap().contains("listen: 127.0.0.1:8805"));
}

#[test]
fn dual_stack_interfaces_and_fqdn_node_id() {
    let text = BASE
        .replace("node_id: 192.168.1.1", "node_id: upf1.example.net")
        .replace(
            "address: 10.200.0.1/24, gateway: 10.200.0.254",
            "address: [10.200.0.1/24, '2001:db8:6::1/64'], gateway: [10.200.0.254, '2001:db8:6::fe']",
        );
    let c = ok(&text);
    assert_eq!(c.node_id, types::NodeId::Fqdn("upf1.example.net".into()));
    assert_eq!(
        c.interfaces.n6.ipv6,
        Some("2001:db8:6::1/64".parse().unwrap())
    );
    assert_eq!(
        c.interfaces.n6.gateway_v6,
        Some("2001:db8:6::fe".parse().unwrap())
    );
}

// ---------------------------------------------------------------- syntax and schema errors

#[test]
fn not_yaml() {
    one_err("node_id: \"unterminated\n", 1, 10, "", "quote");
    one_err("node_id: 1.2.3.4\ncores:\n\tcontrol: 0\n", 3, 2, "", "tab");
}

#[test]
fn empty_file() {
    one_err("", 1, 1, "", "empty");
}

#[test]
fn not_a_mapping() {
    one_err("- a\n- b\n", 1, 1, "", "mapping");
}

#[test]
fn wrong_type() {
    one_err(
        &BASE.replace("control: 0", "control: zero"),
        2,
        19,
        "cores.control",
        "",
    );
    one_err(
        &BASE.replace("workers: [1]", "workers: 1"),
        2,
        31,
        "cores.workers",
        "list",
    );
}

#[test]
fn unknown_key() {
    one_err(
        &format!("{BASE}colour: red\n"),
        8,
        1,
        "colour",
        "unknown key `colour`",
    );
    one_err(
        &BASE.replace("device: net_null0,", "device: net_null0, devcie: x,"),
        4,
        28,
        "interfaces.n3.devcie",
        "unknown key",
    );
}

#[test]
fn missing_key() {
    one_err(
        "node_id: 1.2.3.4\ncores: { control: 0, workers: [1] }\n",
        1,
        1,
        "",
        "missing required key `interfaces`",
    );
}

#[test]
fn duplicate_key() {
    one_err(
        &format!("{BASE}node_id: 1.2.3.5\n"),
        8,
        1,
        "",
        "duplicate key: node_id",
    );
}

#[test]
fn bad_addresses() {
    one_err(
        &BASE.replace("192.168.1.1/24", "192.168.1.300/24"),
        4,
        37,
        "interfaces.n3.address",
        "expected the interface's address with its prefix length, such as 192.168.1.1/24",
    );
    // An interface address without its prefix: the message says what is missing.
    one_err(
        &BASE.replace("192.168.1.1/24", "192.168.1.1"),
        4,
        37,
        "interfaces.n3.address",
        "with its prefix length",
    );
    one_err(
        &BASE.replace("10.45.0.0/16", "10.45.0.0"),
        7,
        13,
        "ue_pools[0].cidr",
        "expected a network address with its prefix length, such as 10.45.0.0/16",
    );
    // An address where a prefix does not belong.
    one_err(
        &BASE.replace("gateway: 10.200.0.254", "gateway: 10.200.0.254/24"),
        5,
        61,
        "interfaces.n6.gateway",
        "expected an IP address without prefix length",
    );
    one_err(
        &with_sessions(
            "  - id: 7
    ue_ip: 10.45.0.2
    uplink: { teid: 0x100 }
    downlink: { gnb: 192.168.1, teid: 0x200 }
",
        ),
        12,
        22,
        "sessions[0].downlink.gnb",
        "expected an IP address without prefix length, such as 192.168.1.2",
    );
    one_err(
        &BASE.replace("node_id: 192.168.1.1", "node_id: 192.168.1.300"),
        1,
        10,
        "node_id",
        "not a valid IPv4",
    );
    one_err(
        &BASE.replace("node_id: 192.168.1.1", "node_id: bad_name"),
        1,
        10,
        "node_id",
        "not an FQDN",
    );
}

#[test]
fn out_of_range() {
    // Beyond the type (u16): caught while deserializing.
    one_err(
        &BASE.replace("device: net_null0,", "device: net_null0, mtu: 70000,"),
        4,
        33,
        "interfaces.n3.mtu",
        "0..=65535",
    );
    // Beyond what makes sense: caught by validation.
    one_err(
        &BASE.replace("device: net_null0,", "device: net_null0, mtu: 100,"),
        4,
        33,
        "interfaces.n3.mtu",
        "576..=9216",
    );
    one_err(
        &format!("{BASE}dataplane: {{ burst: 0 }}\n"),
        8,
        21,
        "dataplane.burst",
        "1..=512",
    );
    one_err(
        &format!("{BASE}dpdk: {{ rx_descriptors: 1000 }}\n"),
        8,
        25,
        "dpdk.rx_descriptors",
        "power of two",
    );
}

#[test]
fn bad_bitrate() {
    let t = with_sessions(
        "  - id: 1
    ue_ip: 10.45.0.2
    uplink: { teid: 0x100 }
    downlink: { gnb: 192.168.1.2, teid: 0x200 }
    qos: { mbr_ul: 50MBps }
",
    );
    one_err(&t, 13, 20, "sessions[0].qos.mbr_ul", "bytes per second");
}

#[test]
fn bad_duration() {
    one_err(
        &format!("{BASE}pfcp: {{ heartbeat_interval: 5 }}\n"),
        8,
        9,
        "pfcp.heartbeat_interval",
        "duration",
    );
    one_err(
        &format!("{BASE}pfcp: {{ heartbeat_interval: 5 fortnights }}\n"),
        8,
        29,
        "pfcp.heartbeat_interval",
        "unit",
    );
    one_err(
        &format!("{BASE}pfcp: {{ heartbeat_interval: 10ms }}\n"),
        8,
        29,
        "pfcp.heartbeat_interval",
        "100ms..=1h",
    );
}

#[test]
fn bad_mac() {
    one_err(
        &BASE.replace(
            "gateway: 10.200.0.254",
            "gateway: 10.200.0.254, neighbors: { 10.200.0.254: '02:00:00:00:fe' }",
        ),
        5,
        102,
        "interfaces.n6.neighbors.10.200.0.254",
        "MAC",
    );
    one_err(
        &BASE.replace(
            "gateway: 10.200.0.254",
            "gateway: 10.200.0.254, neighbors: { 10.200.0.254: 'ff:ff:ff:ff:ff:ff' }",
        ),
        5,
        102,
        "interfaces.n6.neighbors.10.200.0.254",
        "unicast",
    );
}

// ---------------------------------------------------------------- semantic errors

#[test]
fn overlapping_cores() {
    one_err(
        &BASE.replace("workers: [1]", "workers: [0]"),
        2,
        32,
        "cores.workers[0]",
        "also cores.control",
    );
    one_err(
        &BASE.replace("workers: [1]", "workers: [1, 2, 1]"),
        2,
        38,
        "cores.workers[2]",
        "listed twice",
    );
    one_err(
        &BASE.replace("workers: [1]", "workers: []"),
        2,
        31,
        "cores.workers",
        "at least one",
    );
}

#[test]
fn core_that_does_not_exist() {
    one_err(
        &BASE.replace("workers: [1]", "workers: [1, 5]"),
        2,
        35,
        "cores.workers[1]",
        "core 5 does not exist",
    );
    // Without host checks the same file is fine (a config for another machine).
    assert!(parse(&BASE.replace("workers: [1]", "workers: [1, 5]"), "t", None).is_ok());
    one_err(
        &BASE.replace("workers: [1]", "workers: [1, 200]"),
        2,
        35,
        "cores.workers[1]",
        "RTE_MAX_LCORE",
    );
}

#[test]
fn gateway_outside_prefix() {
    one_err(
        &BASE.replace("gateway: 10.200.0.254", "gateway: 10.201.0.254"),
        5,
        61,
        "interfaces.n6.gateway",
        "not inside",
    );
}

#[test]
fn same_device_and_overlapping_interfaces() {
    one_err(
        &BASE.replace("net_null1", "net_null0"),
        5,
        17,
        "interfaces.n6.device",
        "already used",
    );
    one_err(
        &BASE.replace("10.200.0.1/24, gateway: 10.200.0.254", "192.168.1.9/16"),
        5,
        37,
        "interfaces.n6.address",
        "overlaps",
    );
}

#[test]
fn overlapping_pools() {
    one_err(
        &format!("{BASE}  - {{ cidr: 10.45.128.0/17 }}\n"),
        8,
        13,
        "ue_pools[1].cidr",
        "overlaps ue_pools[0]",
    );
    one_err(
        &BASE.replace("10.45.0.0/16", "10.45.0.1/16"),
        7,
        13,
        "ue_pools[0].cidr",
        "did you mean 10.45.0.0/16",
    );
    one_err(
        &BASE.replace("10.45.0.0/16", "10.200.0.0/16"),
        7,
        13,
        "ue_pools[0].cidr",
        "overlaps interfaces.n6",
    );
}

#[test]
fn eal_arguments_upf_owns() {
    one_err(
        &format!("{BASE}dpdk: {{ args: ['-l', '0-1'] }}\n"),
        8,
        16,
        "dpdk.args[0]",
        "set by upf from `cores`",
    );
    one_err(
        &format!("{BASE}dpdk: {{ args: ['--lcores=0-1'] }}\n"),
        8,
        16,
        "dpdk.args[0]",
        "cores",
    );
    one_err(
        &format!("{BASE}dpdk: {{ args: ['--no-huge', '--in-memory'] }}\n"),
        8,
        29,
        "dpdk.args[1]",
        "--in-memory",
    );
    one_err(
        &format!("{BASE}dpdk: {{ mbufs: 1000 }}\n"),
        8,
        16,
        "dpdk.mbufs",
        "at least 4096",
    );
    one_err(
        &format!(
            "{}dpdk: {{ args: [--no-pci] }}\n",
            BASE.replace("net_null0", "'0000:3b:00.0'")
        ),
        4,
        17,
        "interfaces.n3.device",
        "--no-pci",
    );
}

const SESSION_A: &str = "  - id: 1
    ue_ip: 10.45.0.2
    uplink: { teid: 0x100 }
    downlink: { gnb: 192.168.1.2, teid: 0x200 }
";

#[test]
fn duplicate_teid() {
    let t = with_sessions(&format!(
        "{SESSION_A}  - id: 2
    ue_ip: 10.45.0.3
    uplink: {{ teid: 0x100 }}
    downlink: {{ gnb: 192.168.1.2, teid: 0x201 }}
"
    ));
    one_err(
        &t,
        15,
        21,
        "sessions[1].uplink.teid",
        "duplicate TEID 0x100 on n3 (also used by sessions[0])",
    );
}

#[test]
fn duplicate_ue_ip_and_session_id() {
    let t = with_sessions(&format!(
        "{SESSION_A}  - id: 1
    ue_ip: 10.45.0.2
    uplink: {{ teid: 0x101 }}
    downlink: {{ gnb: 192.168.1.2, teid: 0x201 }}
"
    ));
    let all = errs(&t);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(
        (all[0].0, all[0].1, all[0].2.as_str()),
        (13, 9, "sessions[1].id")
    );
    assert!(all[0].3.contains("duplicate session id 1"));
    assert_eq!(
        (all[1].0, all[1].1, all[1].2.as_str()),
        (14, 12, "sessions[1].ue_ip")
    );
    assert!(all[1].3.contains("duplicate UE IP 10.45.0.2"));
}

#[test]
fn teid_inside_the_allocation_range() {
    let t = with_sessions(&SESSION_A.replace("teid: 0x100", "teid: 0x1234"));
    one_err(&t, 11, 21, "sessions[0].uplink.teid", "inside teid_range");
    let t = with_sessions(&SESSION_A.replace("teid: 0x100", "teid: 0"));
    one_err(&t, 11, 21, "sessions[0].uplink.teid", "TEID 0 is reserved");
    one_err(
        &format!("{BASE}teid_range: {{ first: 10, last: 5 }}\n"),
        8,
        32,
        "teid_range.last",
        "below",
    );
}

#[test]
fn gnb_not_reachable() {
    let t = with_sessions(&SESSION_A.replace("gnb: 192.168.1.2", "gnb: 172.16.0.2"));
    one_err(&t, 12, 22, "sessions[0].downlink.gnb", "not on-link");
    let t = with_sessions(&SESSION_A.replace("gnb: 192.168.1.2", "gnb: 192.168.1.1"));
    one_err(&t, 12, 22, "sessions[0].downlink.gnb", "own");
}

#[test]
fn ue_ip_on_an_interface_subnet() {
    let t = with_sessions(&SESSION_A.replace("ue_ip: 10.45.0.2", "ue_ip: 10.200.0.77"));
    one_err(
        &t,
        10,
        12,
        "sessions[0].ue_ip",
        "inside interfaces.n6.address",
    );
}

#[test]
fn forms_must_not_mix() {
    let t = with_sessions(&format!(
        "{SESSION_A}    fars: [{{ id: 1, action: drop }}]\n"
    ));
    one_err(&t, 9, 5, "sessions[0]", "mixes the short form");
    let t = with_sessions("  - { id: 3, ue_ip: 10.45.0.2 }\n");
    one_err(&t, 9, 5, "sessions[0]", "lacks uplink, downlink");
}

const FULL: &str = "  - id: 1
    pdrs:
      - { id: 1, precedence: 1, source: core, ue_ip: 10.45.0.2, far_id: 1, qer_ids: [1] }
    fars:
      - { id: 1, action: forward, destination: access,
          outer_header_creation: { teid: 0x9, address: 192.168.1.2 } }
    qers:
      - { id: 1, mbr: { dl: 1Mbps } }
";

#[test]
fn missing_far_reference() {
    let t = with_sessions(&FULL.replace("far_id: 1", "far_id: 2"));
    let all = errs(&t);
    // The PDR's reference is the error; FAR 1 left unused is only a warning.
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(
        (all[0].0, all[0].1, all[0].2.as_str()),
        (11, 73, "sessions[0].pdrs[0].far_id")
    );
    assert!(
        all[0]
            .3
            .contains("FAR 2 is not defined in sessions[0].fars"),
        "{}",
        all[0].3
    );
}

#[test]
fn missing_qer_reference_and_duplicate_rule_ids() {
    let t = with_sessions(&FULL.replace("qer_ids: [1]", "qer_ids: [3]"));
    one_err(
        &t,
        11,
        86,
        "sessions[0].pdrs[0].qer_ids[0]",
        "QER 3 is not defined",
    );
    let t = with_sessions(&FULL.replace(
        "      - { id: 1, mbr: { dl: 1Mbps } }",
        "      - { id: 1 }\n      - { id: 1 }",
    ));
    one_err(&t, 17, 15, "sessions[0].qers[1].id", "duplicate QER id 1");
}

#[test]
fn far_semantics() {
    let t = with_sessions(&FULL.replace(
        "      - { id: 1, action: forward, destination: access,\n          outer_header_creation: { teid: 0x9, address: 192.168.1.2 } }",
        "      - { id: 1, action: forward, destination: access }",
    ));
    one_err(
        &t,
        13,
        9,
        "sessions[0].fars[0]",
        "needs `outer_header_creation`",
    );
    let t = with_sessions(&FULL.replace("action: forward, destination: access,", "action: drop,"));
    one_err(
        &t,
        14,
        34,
        "sessions[0].fars[0].outer_header_creation",
        "only applies to action forward",
    );
    let t = with_sessions(&FULL.replace("destination: access", "destination: core"));
    one_err(
        &t,
        14,
        34,
        "sessions[0].fars[0].outer_header_creation",
        "interfaces.n9 is not configured",
    );
}

#[test]
fn pdr_semantics() {
    let t = with_sessions(&FULL.replace("source: core, ue_ip: 10.45.0.2,", "source: access,"));
    one_err(&t, 11, 9, "sessions[0].pdrs[0]", "needs `teid`");
    let t = with_sessions(&FULL.replace(
        "far_id: 1,",
        "far_id: 1, sdf: ['permit out ip from any to nowhere'],",
    ));
    one_err(
        &t,
        11,
        82,
        "sessions[0].pdrs[0].sdf[0]",
        "`nowhere` is not an IP address",
    );
    let t = with_sessions(&FULL.replace("far_id: 1,", "far_id: 1, qfi: 64,"));
    one_err(&t, 11, 81, "sessions[0].pdrs[0].qfi", "0..=63");
}

#[test]
fn qer_and_urr_semantics() {
    let t = with_sessions(&FULL.replace(
        "mbr: { dl: 1Mbps }",
        "mbr: { dl: 1Mbps }, gbr: { dl: 2Mbps }",
    ));
    one_err(&t, 16, 49, "sessions[0].qers[0].gbr.dl", "above the MBR");
    let t = with_sessions(&format!(
        "{FULL}    urrs:\n      - {{ id: 1, time_quota: 10s }}\n"
    ));
    let all = errs(&t);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(
        (all[0].0, all[0].2.as_str()),
        (18, "sessions[0].urrs[0].time_quota")
    );
    assert!(all[0].3.contains("needs `duration`"));
}

#[test]
fn unused_rules_are_warnings_with_positions() {
    let c = ok(&with_sessions(&format!(
        "{FULL}    urrs:\n      - {{ id: 4 }}\n"
    )));
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    let w = &c.warnings[0];
    assert_eq!(w.path, "sessions[0].urrs[0].id");
    assert_eq!(w.pos.map(|p| (p.line, p.column)), Some((18, 15)));
    assert!(w.message.contains("URR 4 is not used"));
}

#[test]
fn all_errors_are_reported_in_file_order() {
    let t = BASE
        .replace("workers: [1]", "workers: [9]")
        .replace("gateway: 10.200.0.254", "gateway: 10.201.0.254")
        + "pfcp: { heartbeat_interval: 1ms }\n";
    let all = errs(&t);
    let places: Vec<(u32, String)> = all.iter().map(|e| (e.0, e.2.clone())).collect();
    assert_eq!(
        places,
        vec![
            (2, "cores.workers[0]".to_owned()),
            (5, "interfaces.n6.gateway".to_owned()),
            (8, "pfcp.heartbeat_interval".to_owned())
        ]
    );
}

#[test]
fn error_text_is_file_line_column_path_message() {
    let e = parse(
        &BASE.replace("workers: [1]", "workers: [7]"),
        "conf/x.yaml",
        Some(&host()),
    )
    .unwrap_err();
    let text = e.to_string();
    assert_eq!(
        text,
        "conf/x.yaml:2:32: cores.workers[0]: core 7 does not exist or is not available to this process (usable: 0-3)"
    );
    let rendered = e.render_with_source();
    assert!(rendered.starts_with(&text));
    let caret = format!(
        "    cores: {{ control: 0, workers: [7] }}\n    {}^\n",
        " ".repeat(31)
    );
    assert!(rendered.contains(&caret), "{rendered}");
}

#[test]
fn load_reports_unreadable_and_non_utf8_files() {
    let dir = std::env::temp_dir().join(format!("upfcfg-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.yaml");
    let e = load(&missing, None).unwrap_err();
    assert!(e.to_string().contains("missing.yaml: cannot read"), "{e}");
    let bin = dir.join("bin.yaml");
    std::fs::write(&bin, b"node_id: 1.2.3.4\n  \xff\xfe\n").unwrap();
    let e = load(&bin, None).unwrap_err();
    let d = e.first().unwrap();
    assert_eq!(d.pos.map(|p| (p.line, p.column)), Some((2, 3)));
    assert!(d.message.contains("UTF-8"));
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- diff

#[test]
fn diff_names_sessions_and_restart_fields() {
    let old = ok(&with_sessions(&format!(
        "{SESSION_A}  - id: 2
    ue_ip: 10.45.0.3
    uplink: {{ teid: 0x101 }}
    downlink: {{ gnb: 192.168.1.2, teid: 0x201 }}
"
    )));
    // Session 1's DL TEID changes, 2 goes, 3 arrives; log level and gateway
    // are live; the N3 device needs a restart.
    let new = ok(&format!(
        "{}log: {{ level: debug }}\nsessions:\n{}  - id: 3\n    ue_ip: 10.45.0.4\n    uplink: {{ teid: 0x102 }}\n    downlink: {{ gnb: 192.168.1.2, teid: 0x202 }}\n",
        BASE.replace("net_null0", "net_null2")
            .replace("gateway: 10.200.0.254", "gateway: 10.200.0.253"),
        SESSION_A.replace("teid: 0x200", "teid: 0x300")
    ));
    let d = old.diff(&new);
    assert_eq!(d.upserted_at, vec![0, 1]);
    assert_eq!(d.sessions_added, vec![3]);
    assert_eq!(d.sessions_removed, vec![2]);
    assert_eq!(d.sessions_changed, vec![1]);
    assert_eq!(d.restart_required, vec!["interfaces.n3.device".to_owned()]);
    assert_eq!(
        d.live,
        vec!["interfaces.n6.gateway".to_owned(), "log.level".to_owned()]
    );
    assert_eq!(
        d.to_string(),
        "sessions +1 -1 ~1; live: interfaces.n6.gateway, log.level; restart needed: interfaces.n3.device"
    );
    assert!(old.diff(&old).is_empty());
    assert_eq!(old.diff(&old).to_string(), "no changes");
}

#[test]
fn diff_sees_qos_changes_and_restart_only_sections() {
    let a = ok(&with_sessions(SESSION_A));
    let b = ok(&with_sessions(&format!(
        "{SESSION_A}    qos: {{ mbr_dl: 10Mbps }}\n"
    )));
    assert_eq!(a.diff(&b).sessions_changed, vec![1]);
    let c = ok(&format!(
        "{}dataplane: {{ burst: 64 }}\n",
        BASE.replace("workers: [1]", "workers: [1, 2]")
    ));
    assert_eq!(
        ok(BASE).diff(&c).restart_required,
        vec!["cores.workers".to_owned(), "dataplane".to_owned()]
    );
}

/// Which changed sessions differ in their QERs' values only (a reload
/// publishes those as QoS-only updates): a new MBR value, a new QFI,
/// both; not a new DL TEID, and not an MBR where there was none (the
/// uplink PDR then names the QER: its rules changed). Found the same by
/// the side-by-side walk and by the by-id matching.
#[test]
fn diff_finds_the_changes_of_qos_values_only() {
    let line = |id: u32, dl_teid: u32, qfi: u8, qos: &str| {
        format!(
            "  - {{ id: {id}, ue_ip: 10.45.0.{}, uplink: {{ teid: {} }}, downlink: {{ gnb: 192.168.1.2, teid: {dl_teid}, qfi: {qfi} }}{qos} }}\n",
            id + 1,
            0x100 + id
        )
    };
    let both = ", qos: { mbr_ul: 100Mbps, mbr_dl: 100Mbps }";
    let old: String = (1..=6).map(|i| line(i, 0x200 + i, 9, both)).collect();
    let a = ok(&with_sessions(&old));
    let new = [
        line(1, 0x201, 9, both),
        line(2, 0x202, 9, ", qos: { mbr_ul: 200Mbps, mbr_dl: 200Mbps }"),
        line(3, 0x303, 9, both),
        line(4, 0x204, 5, both),
        line(5, 0x205, 9, ", qos: { mbr_dl: 100Mbps }"),
        line(6, 0x206, 7, ", qos: { mbr_ul: 1Gbps, mbr_dl: 100Mbps }"),
    ]
    .concat();
    let b = ok(&with_sessions(&new));
    let d = a.diff(&b);
    assert_eq!(d.sessions_changed, vec![2, 3, 4, 5, 6]);
    assert_eq!(d.upserted_at, vec![1, 2, 3, 4, 5]);
    assert_eq!(d.qos_only_at, vec![1, 3, 5]);
    // And back: 5 gains an uplink MBR, which its rules did not name.
    assert_eq!(b.diff(&a).qos_only_at, vec![1, 3, 5]);
    // Reordered: by id, positions in the new list.
    let reordered = [
        line(6, 0x206, 7, ", qos: { mbr_ul: 1Gbps, mbr_dl: 100Mbps }"),
        line(1, 0x201, 9, both),
        line(3, 0x303, 9, both),
        line(2, 0x202, 9, ", qos: { mbr_ul: 200Mbps, mbr_dl: 200Mbps }"),
    ]
    .concat();
    let d = a.diff(&ok(&with_sessions(&reordered)));
    assert_eq!(d.sessions_changed, vec![2, 3, 6]);
    assert_eq!(d.sessions_removed, vec![4, 5]);
    assert_eq!(d.upserted_at, vec![0, 2, 3]);
    assert_eq!(d.qos_only_at, vec![0, 3]);
    assert!(a.diff(&a).qos_only_at.is_empty());
}

/// The side-by-side walk and the by-id matching agree, whatever the order.
#[test]
fn diff_of_reordered_and_edited_session_lists() {
    let line = |id: u32, teid: u32| {
        format!(
            "  - {{ id: {id}, ue_ip: 10.45.0.{}, uplink: {{ teid: {} }}, downlink: {{ gnb: 192.168.1.2, teid: {teid} }} }}\n",
            id + 1,
            0x100 + id
        )
    };
    let old: String = (1..=6).map(|i| line(i, 0x200 + i)).collect();
    let a = ok(&with_sessions(&old));
    // Same order, 2 and 5 changed.
    let new: String = (1..=6)
        .map(|i| {
            line(
                i,
                if i == 2 || i == 5 {
                    0x300 + i
                } else {
                    0x200 + i
                },
            )
        })
        .collect();
    let d = a.diff(&ok(&with_sessions(&new)));
    // Where the upserted sessions are in the new list.
    assert_eq!(d.upserted_at, vec![1, 4]);
    assert_eq!(
        (d.sessions_changed, d.sessions_added, d.sessions_removed),
        (vec![2, 5], vec![], vec![])
    );
    // A common prefix, then reordered: 5 changed, 4 removed, 7 added.
    let new = [
        line(1, 0x201),
        line(2, 0x202),
        line(6, 0x206),
        line(7, 0x207),
        line(5, 0x305),
        line(3, 0x203),
    ]
    .concat();
    let d = a.diff(&ok(&with_sessions(&new)));
    // 7 at [3], 5 at [4].
    assert_eq!(d.upserted_at, vec![3, 4]);
    assert_eq!(
        (d.sessions_changed, d.sessions_added, d.sessions_removed),
        (vec![5], vec![7], vec![4])
    );
    // Reversed, nothing changed.
    let new: String = (1..=6).rev().map(|i| line(i, 0x200 + i)).collect();
    assert!(a.diff(&ok(&with_sessions(&new))).is_empty());
}

// ---------------------------------------------------------------- robustness

mod robustness {
    use super::*;
    use proptest::prelude::*;

    const REFERENCE: &str = include_str!("../../../config/upf.yaml");

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_text_is_ok_or_err(s in "\\PC{0,300}") {
            let _ = parse(&s, "p", Some(&HostInfo::with_cpus(2)));
            let _ = source_map::SourceMap::build(&s);
        }

        #[test]
        fn yaml_shaped_text_is_ok_or_err(s in "[a-z_0-9:{}\\[\\],.'\"&*!|>#/ \n-]{0,300}") {
            let _ = parse(&s, "p", None);
            let _ = source_map::SourceMap::build(&s);
        }

        /// Damage the reference config in one place: the result is a
        /// config or an error with a position, never a panic.
        #[test]
        fn damaged_reference_is_ok_or_err(at in 0..REFERENCE.len(), len in 0usize..8, with in "\\PC{0,4}") {
            let mut text = REFERENCE.to_owned();
            let start = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            let mut end = (start + len).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(start..end, &with);
            if let Err(e) = parse(&text, "p", None) {
                prop_assert!(!e.diagnostics.is_empty());
                for d in &e.diagnostics {
                    prop_assert!(d.pos.is_some(), "no position for {:?}", d);
                }
            }
        }
    }
}

#[test]
fn eal_arguments_and_port_names() {
    let c = ok(&BASE
        .replace("net_null0", "'0000:3b:00.0,rxq_cqe_comp_en=0'")
        .replace("net_null1", "'net_af_packet1,iface=upf-n6'")
        .replace("workers: [1]", "workers: [2, 3]"));
    assert_eq!(
        c.interfaces.n3.device_kind(),
        DeviceKind::Pci {
            address: "0000:3b:00.0"
        }
    );
    assert_eq!(c.interfaces.n3.port_name(), "0000:3b:00.0");
    assert_eq!(
        c.interfaces.n6.device_kind(),
        DeviceKind::Vdev {
            name: "net_af_packet1"
        }
    );
    assert_eq!(
        c.eal_args("upf"),
        [
            "upf",
            "-l",
            "0,2,3",
            "--main-lcore",
            "0",
            "--file-prefix",
            "upf",
            "--huge-unlink=always",
            "-a",
            "0000:3b:00.0,rxq_cqe_comp_en=0",
        ],
        "vdevs are hot-plugged by upf run, not given to EAL"
    );
    assert_eq!(c.file_prefix(), "upf");
    // Only vdevs: no PCI probing at all; the user's prefix and --no-huge kept.
    let v = ok(&BASE.replace(
        "cores:",
        "dpdk: { args: [--no-huge, -m, '512', '--file-prefix=t1'] }\ncores:",
    ));
    assert_eq!(
        v.eal_args("upf"),
        [
            "upf",
            "-l",
            "0,1",
            "--main-lcore",
            "0",
            "--no-huge",
            "-m",
            "512",
            "--file-prefix=t1",
            "--no-pci"
        ]
    );
    assert_eq!(v.file_prefix(), "t1");
    let short = ok(&BASE.replace("net_null0", "'3b:00.1'"));
    assert_eq!(
        short.interfaces.n3.device_kind(),
        DeviceKind::Pci { address: "3b:00.1" }
    );
    let not_pci = ok(&BASE.replace("net_null0", "'3b:00.9'"));
    assert!(matches!(
        not_pci.interfaces.n3.device_kind(),
        DeviceKind::Vdev { .. }
    ));
}

/// A FAR's egress as the config sees it (validation of the peer's subnet)
/// is where the dataplane sends it: GTP-U towards core on n9, towards
/// SGi-LAN on n6 (dataplane/src/control.rs, `compile`).
#[test]
fn far_egress_matches_the_dataplane() {
    let ohc = Some(OuterHeaderCreation {
        teid: 7,
        peer: "10.200.0.9".parse().unwrap(),
    });
    let far = |destination, outer_header_creation| Far {
        id: 1,
        action: FarAction::Forward,
        notify_cp: false,
        destination: Some(destination),
        outer_header_creation,
        dscp: None,
    };
    use DestinationInterface as D;
    assert_eq!(far(D::Core, ohc).egress(), Some(InterfaceName::N9));
    assert_eq!(far(D::SgiLan, ohc).egress(), Some(InterfaceName::N6));
    assert_eq!(far(D::SgiLan, None).egress(), Some(InterfaceName::N6));
    assert_eq!(far(D::Core, None).egress(), Some(InterfaceName::N6));
    assert_eq!(far(D::Access, ohc).egress(), Some(InterfaceName::N3));
}

/// `parse_after` (reload: skips re-checking sessions unchanged since the
/// running config) gives exactly what `parse` gives, errors included.
#[test]
fn parse_after_gives_what_parse_gives() {
    let sessions: String = (0..5)
        .map(|i| {
            format!(
                "  - {{ id: {}, ue_ip: 10.45.1.{}, uplink: {{ teid: {} }}, downlink: {{ gnb: 192.168.1.2, teid: {} }} }}\n",
                i + 1,
                i + 2,
                0x100 + i,
                0x200 + i
            )
        })
        .collect();
    let base = format!("{BASE}sessions:\n{sessions}");
    let prev = ok(&base);
    let full_form = "  - id: 3\n    pdrs:\n      - { id: 1, precedence: 10, source: access, teid: 0x150, outer_header_removal: udp-ipv4, far_id: 1 }\n    fars:\n      - { id: 1, action: forward, destination: core }\n";
    let third = "  - { id: 3, ue_ip: 10.45.1.4, uplink: { teid: 258 }, downlink: { gnb: 192.168.1.2, teid: 514 } }\n";
    assert!(base.contains(third));
    for text in [
        base.clone(),
        base.replace("teid: 514 }", "teid: 600 }"),
        base.replace("teid: 514 }", "teid: 514, qfi: 99 }"),
        base.replace("gnb: 192.168.1.2, teid: 514", "gnb: 172.16.0.9, teid: 514"),
        base.replace(third, full_form),
        base.replace("address: 192.168.1.1/24", "address: 192.168.0.1/16"),
        base.replace("gateway: 10.200.0.254", "gateway: 10.200.0.253"),
        BASE.to_owned(),
    ] {
        let a = parse_after(&text, "t.yaml", Some(&host()), &prev);
        let b = parse(&text, "t.yaml", Some(&host()));
        assert_eq!(a, b, "{text}");
    }
    // Unchanged sessions are the running config's, shared; a changed one
    // is new.
    let changed = base.replace("teid: 514 }", "teid: 600 }");
    let next = parse_after(&changed, "t.yaml", Some(&host()), &prev).unwrap();
    for (i, (a, b)) in prev.sessions.iter().zip(&next.sessions).enumerate() {
        assert_eq!(std::sync::Arc::ptr_eq(a, b), i != 2, "sessions[{i}]");
    }
    // Not under other interfaces.
    let moved = base.replace("address: 192.168.1.1/24", "address: 192.168.0.1/16");
    let next = parse_after(&moved, "t.yaml", Some(&host()), &prev).unwrap();
    assert!(!std::sync::Arc::ptr_eq(
        &prev.sessions[0],
        &next.sessions[0]
    ));
    // The full-form session that the dataplane refuses is refused after a
    // valid previous config too.
    assert!(
        parse_after(
            &base.replace(third, full_form),
            "t.yaml",
            Some(&host()),
            &prev
        )
        .is_err()
    );
}

/// A reload that changes a few short-form sessions of a valid file checks
/// only those against the others, through the index of which session
/// holds each key (kept with the config and moved along from one reload
/// to the next): keys freed by one reload can be taken by the next, keys
/// taken cannot, and every outcome, errors included, is `parse`'s.
#[test]
fn reloads_check_changed_sessions_against_the_index() {
    let file = |teids: &[u32], ues: &[u8], ids: &[u64]| -> String {
        let mut t = format!("{BASE}sessions:\n");
        for ((teid, ue), id) in teids.iter().zip(ues).zip(ids) {
            t.push_str(&format!(
                "  - {{ id: {id}, ue_ip: 10.45.1.{ue}, uplink: {{ teid: {teid} }}, downlink: {{ gnb: 192.168.1.2, teid: 7 }} }}\n"
            ));
        }
        t
    };
    let ids = [1, 2, 3, 4, 5];
    let ues = [2, 3, 4, 5, 6];
    let running = parse_text(
        file(&[10, 11, 12, 13, 14], &ues, &ids),
        "t.yaml",
        Some(&host()),
        None,
    )
    .unwrap();
    assert!(running.index.0.is_some());
    // Each step: the file, and whether it is valid.
    let steps: [(String, bool); 9] = [
        // Session 0's TEID 10 → 20: 10 is free now.
        (file(&[20, 11, 12, 13, 14], &ues, &ids), true),
        // Session 2 takes 10.
        (file(&[20, 11, 10, 13, 14], &ues, &ids), true),
        // Session 3 takes 20, still session 0's.
        (file(&[20, 11, 10, 20, 14], &ues, &ids), false),
        // Sessions 0 and 1 swap TEIDs (both change).
        (file(&[11, 20, 10, 13, 14], &ues, &ids), true),
        // A UE address of an unchanged session, then a freed one.
        (file(&[11, 20, 10, 13, 14], &[2, 3, 4, 5, 5], &ids), false),
        (file(&[11, 20, 10, 13, 14], &[7, 3, 4, 5, 6], &ids), true),
        (file(&[11, 20, 10, 13, 14], &[7, 3, 4, 5, 2], &ids), true),
        // Ids: one of an unchanged session, then a swap.
        (
            file(&[11, 20, 10, 13, 14], &[7, 3, 4, 5, 2], &[1, 2, 3, 4, 4]),
            false,
        ),
        (
            file(&[11, 20, 10, 13, 14], &[7, 3, 4, 5, 2], &[2, 1, 3, 4, 5]),
            true,
        ),
    ];
    reload_chain(running, steps);
}

/// A reload that edits most sessions without moving their keys (QoS, the
/// common operator edit) still takes the index path: those sessions are
/// read again but move nothing, so the quarter that bounds the index path
/// counts only sessions whose keys move, and a moved key that clashes
/// with an edited session's is found. Every outcome is `parse`'s.
#[test]
fn reloads_of_many_qos_edits_keep_the_index() {
    let file = |teids: &[u32], ues: &[u8], mbr: &str| -> String {
        let mut t = format!("{BASE}sessions:\n");
        for (i, (teid, ue)) in teids.iter().zip(ues).enumerate() {
            t.push_str(&format!(
                "  - {{ id: {}, ue_ip: 10.45.1.{ue}, uplink: {{ teid: {teid} }}, downlink: {{ gnb: 192.168.1.2, teid: 7 }}, qos: {{ mbr_dl: {mbr} }} }}\n",
                i + 1
            ));
        }
        t
    };
    let teids = [10, 11, 12, 13, 14, 15, 16, 17];
    let ues = [2, 3, 4, 5, 6, 7, 8, 9];
    let mut running =
        parse_text(file(&teids, &ues, "10Mbps"), "t.yaml", Some(&host()), None).unwrap();
    // Every session's QoS: the index is the running one, shared.
    let all_qos = file(&teids, &ues, "20Mbps");
    let next = parse_text(all_qos.clone(), "t.yaml", Some(&host()), Some(&running)).unwrap();
    assert_eq!(Ok(&next), parse(&all_qos, "t.yaml", Some(&host())).as_ref());
    assert!(std::sync::Arc::ptr_eq(
        running.index.0.as_ref().unwrap(),
        next.index.0.as_ref().unwrap()
    ));
    running = next;
    let steps: [(String, bool); 6] = [
        // Session 0 takes session 1's TEID while every QoS changes.
        (
            file(&[11, 11, 12, 13, 14, 15, 16, 17], &ues, "30Mbps"),
            false,
        ),
        // ... session 1's UE address.
        (file(&teids, &[3, 3, 4, 5, 6, 7, 8, 9], "30Mbps"), false),
        // Sessions 0 and 1 swap TEIDs.
        (
            file(&[11, 10, 12, 13, 14, 15, 16, 17], &ues, "30Mbps"),
            true,
        ),
        // Session 2 takes TEID 18 (free), then session 3 takes 12 (freed).
        (
            file(&[11, 10, 18, 13, 14, 15, 16, 17], &ues, "40Mbps"),
            true,
        ),
        (
            file(&[11, 10, 18, 12, 14, 15, 16, 17], &ues, "50Mbps"),
            true,
        ),
        // Session 4 takes 18, still session 2's (QoS edited only).
        (
            file(&[11, 10, 18, 12, 18, 15, 16, 17], &ues, "60Mbps"),
            false,
        ),
    ];
    reload_chain(running, steps);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// The diff reads the raw entries where they tell (equal entries,
    /// entries differing in QoS values only) and the sessions otherwise:
    /// the same result as comparing the sessions, for edits of every
    /// short-form field, QoS written in every way (absent, empty, one
    /// or both MBRs), also between sessions that are equal but written
    /// differently.
    #[test]
    fn diff_through_raw_entries_is_the_diff_of_the_sessions(
        old in proptest::collection::vec(0u8..=255, 6),
        new in proptest::collection::vec(0u8..=255, 6),
    ) {
        let entry = |i: usize, v: u8| {
            let qos = [
                "",
                ", qos: {}",
                ", qos: { mbr_dl: 10Mbps }",
                ", qos: { mbr_ul: 10Mbps, mbr_dl: 20Mbps }",
                ", qos: { mbr_ul: 20Mbps }",
                ", qos: { mbr_ul: 10Mbps, mbr_dl: 10Mbps }",
                ", qos: { mbr_dl: 10000000bps }",
                ", qos: { mbr_ul: 10Mbps }",
            ][usize::from(v & 7)];
            let bit = |b: u8| usize::from(v >> b & 1);
            format!(
                "  - {{ id: {}, ue_ip: 10.45.{}.{}, uplink: {{ teid: {} }}, downlink: {{ gnb: 192.168.1.{}, teid: {}{} }}{qos} }}\n",
                i + 1,
                1 + bit(3),
                i + 2,
                0x100 + 0x100 * bit(4) + i,
                2 + bit(5),
                0x1000 + 0x100 * bit(6) + i,
                if bit(7) == 1 { ", qfi: 5" } else { "" },
            )
        };
        let file = |vs: &[u8]| {
            with_sessions(&vs.iter().enumerate().map(|(i, v)| entry(i, *v)).collect::<String>())
        };
        let (a, b) = (ok(&file(&old)), ok(&file(&new)));
        let d = a.diff(&b);
        let mut models = ConfigDiff::default();
        super::diff::sessions_diff(&a.sessions, &b.sessions, None, &mut models);
        proptest::prop_assert_eq!(
            (&d.sessions_changed, &d.upserted_at, &d.qos_only_at),
            (&models.sessions_changed, &models.upserted_at, &models.qos_only_at)
        );
        proptest::prop_assert!(super::diff::raws_of(&a).is_some());
    }
}

/// Reloads `steps` (file, valid?) one after the other from `running`:
/// each gives exactly what a fresh `parse` gives (errors included), and a
/// valid one becomes the running config of the next.
fn reload_chain(mut running: Config, steps: impl IntoIterator<Item = (String, bool)>) {
    for (n, (text, valid)) in steps.into_iter().enumerate() {
        let want = parse(&text, "t.yaml", Some(&host()));
        let got = parse_text(text.clone(), "t.yaml", Some(&host()), Some(&running));
        assert_eq!(got, want, "step {n}:\n{text}");
        assert_eq!(got.is_ok(), valid, "step {n}");
        if let Ok(c) = got {
            running = c;
        }
    }
}
