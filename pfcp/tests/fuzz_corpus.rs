//! Replays the committed fuzz corpus (fuzz/corpus/{decode,node}) with the
//! fuzz targets' checks, on stable: every input the fuzzer kept (and every
//! crash it once found) stays a regression test.

mod common;

include!("../fuzz/checks.rs");

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn decode_corpus() {
    let c = corpus("decode");
    assert!(c.len() >= 10, "corpus present");
    for input in &c {
        check_decode(input);
    }
}

#[test]
fn node_corpus() {
    let c = corpus("node");
    assert!(c.len() >= 10, "corpus present");
    for input in &c {
        check_node(input);
    }
}

/// Writes the seed corpus (run once by hand: `cargo test -p pfcp --test
/// fuzz_corpus -- --ignored`): typical messages, the OAI capture, and
/// session life cycles for the node target.
#[test]
#[ignore = "writes fuzz/corpus; run by hand when the seeds change"]
fn write_seed_corpus() {
    use pfcp::sample::{self, SessionParams};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let smf = Ipv4Addr::new(10, 0, 0, 1);
    let enc = |m: &Pfcp<'_>| {
        let mut b = Vec::new();
        m.encode(&mut b).unwrap();
        b
    };
    let p = SessionParams {
        cp_seid: 1,
        smf_addr: smf,
        ue_ip: None,
        ul_teid: None,
        gnb: None,
    };
    let g = SessionParams {
        gnb: Some((0x200, Ipv4Addr::new(192, 168, 1, 2))),
        ..p
    };
    let msgs: Vec<Vec<u8>> = vec![
        enc(&sample::association_setup_request(1, smf, 7)),
        enc(&sample::establishment_request(2, &p)),
        enc(&sample::establishment_request(3, &g)),
        enc(&sample::establishment_response(
            2,
            1,
            smf,
            1,
            0x10,
            Ipv4Addr::new(10, 45, 0, 1),
        )),
        enc(&sample::path_switch_request(
            4,
            1,
            0x300,
            Ipv4Addr::new(192, 168, 1, 3),
            true,
        )),
        enc(&sample::query_urr_request(5, 1, &[1])),
        enc(&sample::deletion_request(6, 1)),
        enc(&sample::report_request(7, 1)),
    ];
    let oai: Vec<Vec<u8>> = common::oai_capture()
        .into_iter()
        .map(|d| d.payload)
        .collect();
    std::fs::create_dir_all(root.join("decode")).unwrap();
    std::fs::create_dir_all(root.join("node")).unwrap();
    for (i, m) in msgs.iter().chain(oai.iter()).enumerate() {
        std::fs::write(root.join("decode").join(format!("seed-{i:03}")), m).unwrap();
    }
    // PFD Management Request: every PFD contents field, two applications
    // (one without PFD context).
    let pfd = enc(&Pfcp::node(
        8,
        pfcp::codec::message::PfdManagementRequest {
            application_ids_pfds: vec![
                pfcp::codec::grouped::ApplicationIdsPfds {
                    application_id: b"app1",
                    pfd_contexts: vec![pfcp::codec::grouped::PfdContext {
                        pfd_contents: vec![pfcp::codec::ies::PfdContents {
                            flow_description: Some(
                                b"permit out 6 from 198.51.100.1 443 to assigned",
                            ),
                            url: Some(b"http://example.com/"),
                            domain_name: Some(b"example.com"),
                            custom_pfd_content: Some(b"\x01"),
                            domain_name_protocol: Some(b"dns"),
                            additional_flow_description: Some(b"\x00\x02ab"),
                            additional_url: Some(b"\x00\x01c"),
                            additional_domain_name_and_protocol: Some(b"\x00\x01d"),
                        }],
                    }],
                },
                pfcp::codec::grouped::ApplicationIdsPfds {
                    application_id: b"app2",
                    pfd_contexts: Vec::new(),
                },
            ],
            node_id: None,
        },
    ));
    // Committed renamed to its SHA-1, like the minimized corpus files.
    std::fs::write(root.join("decode").join("seed-pfd-000"), &pfd).unwrap();
    // Session Set Deletion: FQ-CSIDs of each node-address type; and a
    // node life cycle: association, an establishment with an SGW-C and an
    // MME FQ-CSID, the Session Set Deletion naming the MME's set.
    let fq = |node, csids: &[u16]| pfcp::codec::ies::FqCsid {
        node,
        csids: csids.iter().copied().collect(),
        node_type: None,
    };
    let mme = pfcp::codec::ies::CsidNode::Ipv4(Ipv4Addr::new(10, 1, 1, 1));
    let ssd = enc(&Pfcp::node(
        9,
        pfcp::codec::message::SessionSetDeletionRequest {
            node_id: pfcp::codec::ies::NodeId::Ipv4(smf),
            fq_csids: vec![
                fq(pfcp::codec::ies::CsidNode::Ipv4(smf), &[1, 2]),
                fq(
                    pfcp::codec::ies::CsidNode::Ipv6("2001:db8::1".parse().unwrap()),
                    &[3],
                ),
                fq(pfcp::codec::ies::CsidNode::Plmn(1001 << 12 | 5), &[4]),
                fq(mme, &[7]),
            ],
        },
    ));
    std::fs::write(root.join("decode").join("seed-ssd-000"), &ssd).unwrap();
    let mut est = sample::establishment_request(2, &p);
    if let pfcp::codec::message::Message::SessionEstablishmentRequest(r) = &mut est.message {
        r.fq_csids = vec![
            fq(pfcp::codec::ies::CsidNode::Ipv4(smf), &[1]),
            fq(mme, &[7]),
        ];
    }
    let set_life: Vec<u8> = [msgs[0].clone(), enc(&est), ssd]
        .iter()
        .flat_map(|m| node_chunk(0x10, m))
        .collect();
    std::fs::write(root.join("node").join("seed-ssd-000"), &set_life).unwrap();
    // Session Set Modification (Rel-17): every criterion, both address
    // families; and a node life cycle: an establishment with an FQ-CSID,
    // a Group Id and a CP IP Address, the set modification naming them
    // from a second source, then a downlink report (control octet bit 2)
    // of the redirected session.
    let cp_ip = pfcp::codec::ies::CpIpAddress {
        ipv4: Some(Ipv4Addr::new(10, 9, 9, 9)),
        ipv6: None,
    };
    let ssm = enc(&Pfcp::node(
        10,
        pfcp::codec::message::SessionSetModificationRequest {
            node_id: None,
            alternative_smf_ip_address: pfcp::codec::ies::AlternativeSmfIpAddress {
                ipv4: Some(Ipv4Addr::new(10, 0, 0, 9)),
                ipv6: Some("2001:db8::9".parse().unwrap()),
                ppe: true,
            },
            fq_csids: vec![fq(pfcp::codec::ies::CsidNode::Ipv4(smf), &[1])],
            group_ids: vec![b"grp-a"],
            cp_ip_addresses: vec![cp_ip],
        },
    ));
    std::fs::write(root.join("decode").join("seed-ssm-000"), &ssm).unwrap();
    let mut est = sample::establishment_request(2, &p);
    if let pfcp::codec::message::Message::SessionEstablishmentRequest(r) = &mut est.message {
        r.fq_csids = vec![fq(pfcp::codec::ies::CsidNode::Ipv4(smf), &[1])];
        r.group_id = Some(b"grp-a");
        r.cp_ip_address = Some(cp_ip);
    }
    let ssm_life: Vec<u8> = [
        node_chunk(0x10, &msgs[0]),
        node_chunk(0x10, &enc(&est)),
        node_chunk(0x11, &ssm),
        node_chunk(0x04, &[]),
    ]
    .concat();
    std::fs::write(root.join("node").join("seed-ssm-000"), &ssm_life).unwrap();
    // Node: life cycles (session 1 is the first SEID the node hands out).
    let lifecycles: Vec<Vec<u8>> = vec![
        [1usize, 4, 5, 6]
            .iter()
            .flat_map(|i| node_chunk(0x10, &msgs[*i]))
            .collect(),
        [2usize, 4, 5, 6]
            .iter()
            .flat_map(|i| node_chunk(0x34, &msgs[*i]))
            .collect(),
        [1usize, 1, 6, 6]
            .iter()
            .flat_map(|i| node_chunk(0xf1, &msgs[*i]))
            .collect(),
        [0usize, 2, 5]
            .iter()
            .flat_map(|i| node_chunk(0x02, &msgs[*i]))
            .collect(),
    ];
    for (i, l) in lifecycles
        .iter()
        .chain(
            oai.iter()
                .map(|m| node_chunk(0x00, m))
                .collect::<Vec<_>>()
                .iter(),
        )
        .enumerate()
    {
        std::fs::write(root.join("node").join(format!("seed-{i:03}")), l).unwrap();
    }
}
