//! The HTTP API over a real TCP socket: a fake telemetry model goes in,
//! `/metrics` is parsed back from the Prometheus text format and `/status`
//! from JSON, and the figures must be the model's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

mod common;

use common::get;
use upf::api::{
    self, Association, BuildInfo, Direction, ReloadResult, RunState, Telemetry, WorkerStats,
};

/// One sample: metric name and its labels, sorted.
type Key = (String, Vec<(String, String)>);

/// A strict reader of the Prometheus text format 0.0.4: every sample
/// belongs to a family announced by `# TYPE`, counters' samples end in
/// `_total`, label values are quoted with `\\`, `\"`, `\n` escapes.
fn parse_exposition(text: &str) -> (BTreeMap<Key, f64>, BTreeMap<String, String>) {
    let mut samples = BTreeMap::new();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest
                .split_once(' ')
                .expect("TYPE line has a name and a type");
            assert!(
                ["counter", "gauge", "untyped", "info"].contains(&ty),
                "type {ty}"
            );
            assert!(
                types.insert(name.to_owned(), ty.to_owned()).is_none(),
                "family {name} announced twice"
            );
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("sample without value: {line:?}"),
        };
        let mut labels = Vec::new();
        let mut rest = rest;
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let mut end = None;
            loop {
                let (i, c) = chars.next().expect("unterminated label set");
                if c == '}' {
                    end = Some(i);
                    break;
                }
                if c == ',' {
                    continue;
                }
                let mut key = String::from(c);
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                assert_eq!(
                    chars.next().map(|x| x.1),
                    Some('"'),
                    "label value must be quoted in {line:?}"
                );
                let mut value = String::new();
                loop {
                    match chars.next().expect("unterminated label value").1 {
                        '"' => break,
                        '\\' => match chars.next().expect("dangling escape").1 {
                            'n' => value.push('\n'),
                            c @ ('\\' | '"') => value.push(c),
                            c => panic!("bad escape \\{c} in {line:?}"),
                        },
                        c => value.push(c),
                    }
                }
                labels.push((key, value));
                if end.is_some() {
                    break;
                }
            }
            rest = &r[end.expect("label set closed") + 1..];
        }
        let value: f64 = rest
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let family = types
            .keys()
            .filter(|f| {
                name == f.as_str() || name.strip_prefix(f.as_str()).is_some_and(|s| s == "_total")
            })
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("sample {name} before its # TYPE"));
        if types[family] == "counter" {
            assert!(
                name.ends_with("_total"),
                "counter sample {name} lacks _total"
            );
        }
        labels.sort();
        assert!(
            samples.insert((name.to_owned(), labels), value).is_none(),
            "duplicate sample {line:?}"
        );
    }
    (samples, types)
}

fn samples_named(s: &BTreeMap<Key, f64>, name: &str) -> usize {
    s.keys().filter(|(n, _)| n == name).count()
}

fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    l.sort();
    (name.to_owned(), l)
}

fn fake_model(t: &Telemetry) {
    t.update(|m| {
        m.state = RunState::Running;
        m.node_id = "192.168.1.1".into();
        let n3 = m.interface_mut("n3");
        n3.device = "net_null0".into();
        n3.addresses = vec!["192.168.1.1/24".into()];
        n3.rx_packets = 1000;
        n3.rx_bytes = 64_000;
        n3.tx_packets = 990;
        n3.tx_bytes = 70_000;
        n3.link_up = Some(true);
        let n6 = m.interface_mut("n6");
        n6.rx_packets = 5;
        n6.rx_missed = 2;
        m.drops.insert("no_pdr".into(), 7);
        m.drops.insert("malformed_gtpu".into(), 3);
        m.workers = vec![WorkerStats {
            index: 0,
            lcore: 1,
            rx_packets: 1005,
            tx_packets: 990,
            busy_polls: 40,
            idle_polls: 60,
        }];
        m.pfcp_sessions = 10;
        m.static_sessions = 2;
        *m.pfcp_message_mut("heartbeat_request", Direction::Rx) += 4;
        *m.pfcp_message_mut("session_establishment_response", Direction::Tx) += 10;
        m.associations.push(Association {
            node_id: "smf.example.org".into(),
            address: "10.0.0.9:8805".parse().unwrap(),
            established: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            last_heartbeat: None,
            sessions: 10,
        });
        m.pfd_applications.push(upf::api::PfdApplication {
            application_id: "voice".into(),
            pfds: 1,
            flow_descriptions: 2,
            urls: 0,
            domain_names: 0,
            custom: 0,
            enforceable: true,
        });
        m.fq_csid_nodes.push(upf::api::FqCsidNode {
            node: "10.0.0.9".into(),
            csids: 3,
            sets: vec![(7, 8), (1, 2)],
        });
        m.fq_csid_sessions = 9;
        m.fq_csids_dropped = 4;
        m.set_deleted_sessions = 5;
        m.set_modified_sessions = 6;
        m.record_reload(
            ReloadResult::Rejected,
            "t.yaml:3:5: cores.workers[0]: core 9 does not exist",
            Duration::from_millis(3),
        );
        m.record_reload(
            ReloadResult::Applied,
            "sessions +1 -0 ~0",
            Duration::from_millis(2),
        );
    });
}

async fn start(
    t: &Telemetry,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = api::bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, t.clone(), async move {
        let _ = rx.await;
    }));
    (addr, tx, server)
}

#[tokio::test(flavor = "current_thread")]
async fn metrics_carry_the_model_figures() {
    let t = Telemetry::new(BuildInfo {
        version: "1.2.3".into(),
        git: "abc".into(),
    });
    fake_model(&t);
    let (addr, stop, server) = start(&t).await;

    let r = get(addr, "/metrics", None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        r.content_type
    );
    let (s, types) = parse_exposition(&r.body);

    // The Contract's metrics.
    assert_eq!(
        s[&key("upf_rx_packets_total", &[("interface", "n3")])],
        1000.0
    );
    assert_eq!(
        s[&key("upf_tx_packets_total", &[("interface", "n3")])],
        990.0
    );
    assert_eq!(
        s[&key("upf_rx_bytes_total", &[("interface", "n3")])],
        64_000.0
    );
    assert_eq!(
        s[&key("upf_tx_bytes_total", &[("interface", "n3")])],
        70_000.0
    );
    assert_eq!(s[&key("upf_rx_packets_total", &[("interface", "n6")])], 5.0);
    assert_eq!(
        s[&key("upf_dropped_packets_total", &[("reason", "no_pdr")])],
        7.0
    );
    assert_eq!(
        s[&key("upf_dropped_packets_total", &[("reason", "malformed_gtpu")])],
        3.0
    );
    assert_eq!(s[&key("upf_sessions", &[])], 12.0);
    assert_eq!(
        s[&key(
            "upf_pfcp_messages_total",
            &[("type", "heartbeat_request"), ("direction", "rx")]
        )],
        4.0
    );
    assert_eq!(
        s[&key(
            "upf_pfcp_messages_total",
            &[
                ("type", "session_establishment_response"),
                ("direction", "tx")
            ]
        )],
        10.0
    );
    assert_eq!(
        s[&key("upf_config_reloads_total", &[("result", "applied")])],
        1.0
    );
    assert_eq!(
        s[&key("upf_config_reloads_total", &[("result", "rejected")])],
        1.0
    );
    assert_eq!(
        samples_named(&s, "upf_config_reloads_total"),
        2,
        "one series per result: applied, rejected"
    );
    for (family, ty) in [
        ("upf_rx_packets", "counter"),
        ("upf_dropped_packets", "counter"),
        ("upf_sessions", "gauge"),
        ("upf_pfcp_messages", "counter"),
        ("upf_config_reloads", "counter"),
    ] {
        // prometheus-client names counter families with their `_total` suffix.
        let announced = types
            .get(family)
            .or_else(|| types.get(&format!("{family}_total")));
        assert_eq!(announced.map(String::as_str), Some(ty), "{family}");
    }

    // Extras.
    assert_eq!(
        s[&key("upf_build_info", &[("version", "1.2.3"), ("git", "abc")])],
        1.0
    );
    assert_eq!(s[&key("upf_ready", &[])], 1.0);
    assert_eq!(s[&key("upf_link_up", &[("interface", "n3")])], 1.0);
    assert!(
        !s.contains_key(&key("upf_link_up", &[("interface", "n6")])),
        "unknown link state is not exported"
    );
    assert_eq!(
        s[&key("upf_rx_missed_packets_total", &[("interface", "n6")])],
        2.0
    );
    assert_eq!(s[&key("upf_pfcp_associations", &[])], 1.0);
    assert_eq!(s[&key("upf_pfcp_sessions_with_fq_csids", &[])], 9.0);
    assert_eq!(s[&key("upf_pfcp_fq_csids_dropped_total", &[])], 4.0);
    assert_eq!(
        s[&key(
            "upf_pfcp_session_set_sessions_total",
            &[("operation", "deleted")]
        )],
        5.0
    );
    assert_eq!(
        s[&key(
            "upf_pfcp_session_set_sessions_total",
            &[("operation", "modified")]
        )],
        6.0
    );
    assert_eq!(
        s[&key("upf_sessions_by_origin", &[("origin", "static")])],
        2.0
    );
    assert_eq!(
        s[&key(
            "upf_worker_rx_packets_total",
            &[("worker", "0"), ("lcore", "1")]
        )],
        1005.0
    );
    assert_eq!(
        s[&key(
            "upf_worker_polls_total",
            &[("worker", "0"), ("lcore", "1"), ("kind", "idle")]
        )],
        60.0
    );
    assert!(s[&key("upf_start_time_seconds", &[])] > 1.6e9);

    // The next scrape sees the next update.
    t.update(|m| m.interface_mut("n3").rx_packets = 2000);
    let (s, _) = parse_exposition(&get(addr, "/metrics", None).await.body);
    assert_eq!(
        s[&key("upf_rx_packets_total", &[("interface", "n3")])],
        2000.0
    );

    // OpenMetrics on request.
    let r = get(
        addr,
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    )
    .await;
    assert!(
        r.content_type.starts_with("application/openmetrics-text"),
        "{}",
        r.content_type
    );
    assert!(r.body.ends_with("# EOF\n"), "{}", r.body);
    assert!(
        r.body
            .contains("upf_rx_packets_total{interface=\"n3\"} 2000")
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn status_is_json_and_a_readiness_signal() {
    let t = Telemetry::new(BuildInfo::current());
    let (addr, stop, server) = start(&t).await;

    // Starting: 503 with the same document.
    let r = get(addr, "/status", None).await;
    assert_eq!(r.status, 503);
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(doc["state"], "starting");

    fake_model(&t);
    let r = get(addr, "/status", None).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("application/json"));
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["state"], "running");
    assert_eq!(doc["node_id"], "192.168.1.1");
    assert!(doc["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(doc["interfaces"][0]["name"], "n3");
    assert_eq!(doc["interfaces"][0]["device"], "net_null0");
    assert_eq!(doc["interfaces"][0]["addresses"][0], "192.168.1.1/24");
    assert_eq!(doc["interfaces"][0]["rx_packets"], 1000);
    assert_eq!(doc["interfaces"][1]["link_up"], serde_json::Value::Null);
    assert_eq!(doc["workers"][0]["lcore"], 1);
    assert_eq!(doc["sessions"]["total"], 12);
    assert_eq!(doc["sessions"]["static"], 2);
    assert_eq!(doc["drops"]["no_pdr"], 7);
    let assoc = &doc["pfcp"]["associations"][0];
    assert_eq!(assoc["node_id"], "smf.example.org");
    assert_eq!(assoc["address"], "10.0.0.9:8805");
    assert_eq!(assoc["established_at"], "2023-11-14T22:13:20Z");
    assert_eq!(doc["pfcp"]["messages"][0]["type"], "heartbeat_request");
    let app = &doc["pfcp"]["pfd_applications"][0];
    assert_eq!(app["application_id"], "voice");
    assert_eq!(app["pfds"], 1);
    assert_eq!(app["flow_descriptions"], 2);
    assert_eq!(app["urls"], 0);
    assert_eq!(app["enforceable"], true);
    let fq = &doc["pfcp"]["fq_csids"];
    assert_eq!(fq["sessions"], 9);
    assert_eq!(fq["dropped"], 4);
    assert_eq!(fq["set_deleted_sessions"], 5);
    assert_eq!(fq["set_modified_sessions"], 6);
    assert_eq!(fq["nodes"][0]["node"], "10.0.0.9");
    assert_eq!(fq["nodes"][0]["csids"], 3);
    assert_eq!(
        fq["nodes"][0]["sets"],
        serde_json::json!([{"csid": 7, "sessions": 8}, {"csid": 1, "sessions": 2}])
    );
    assert_eq!(doc["reloads"]["applied"], 1);
    assert_eq!(doc["reloads"]["rejected"], 1);
    assert_eq!(doc["reloads"]["last"]["result"], "applied");
    assert_eq!(doc["reloads"]["last"]["summary"], "sessions +1 -0 ~0");
    assert!(
        doc["reloads"]["last"]["at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    t.update(|m| m.state = RunState::Stopping);
    assert_eq!(get(addr, "/status", None).await.status, 503);

    assert_eq!(get(addr, "/nope", None).await.status, 404);
    assert!(get(addr, "/", None).await.body.contains("/metrics"));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
}

/// Every metric the Grafana dashboard queries is one the API exports.
#[tokio::test(flavor = "current_thread")]
async fn grafana_dashboard_queries_exported_metrics() {
    let t = Telemetry::new(BuildInfo::current());
    fake_model(&t);
    let (addr, stop, server) = start(&t).await;
    let (samples, _) = parse_exposition(&get(addr, "/metrics", None).await.body);
    let exported: std::collections::BTreeSet<&str> =
        samples.keys().map(|(n, _)| n.as_str()).collect();

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/grafana/upf-dashboard.json"
    );
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    fn walk<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", serde_json::Value::String(s)) => out.push(s),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash, &mut exprs);
    assert!(exprs.len() >= 10, "dashboard has {} queries", exprs.len());
    let mut used = std::collections::BTreeSet::new();
    for e in &exprs {
        let mut rest = *e;
        while let Some(i) = rest.find("upf_") {
            let name: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[i + name.len()..];
            used.insert(name);
        }
    }
    for name in &used {
        assert!(
            exported.contains(name.as_str()),
            "the dashboard queries {name}, which /metrics does not export"
        );
    }
    for contract in [
        "upf_rx_packets_total",
        "upf_tx_bytes_total",
        "upf_dropped_packets_total",
        "upf_sessions",
        "upf_pfcp_messages_total",
        "upf_config_reloads_total",
    ] {
        assert!(
            used.contains(contract),
            "the dashboard does not plot {contract}"
        );
    }
    let ids: Vec<u64> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "panel ids are unique");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
