//! Golden test on real traffic: every PFCP message of an OAI SMF ↔ UPF
//! capture (orion-belt/tempo upf.pcap, tests/data/) decodes, and re-encodes
//! to exactly the captured bytes.

mod common;

use pfcp::codec::message::{Message, Pfcp, decode_datagram};

#[test]
fn oai_capture_decodes_and_reencodes_byte_exact() {
    let dgrams = common::oai_capture();
    assert_eq!(dgrams.len(), 36, "PFCP datagrams in the capture");
    let mut kinds = std::collections::BTreeMap::new();
    for d in &dgrams {
        let msgs: Vec<Pfcp<'_>> = decode_datagram(&d.payload)
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{} -> {}: {e}", d.src, d.dst));
        assert_eq!(msgs.len(), 1);
        let mut out = Vec::new();
        msgs[0].encode(&mut out).unwrap();
        assert_eq!(out, d.payload, "re-encoding {:?}", msgs[0]);
        *kinds.entry(msgs[0].message.msg_type()).or_insert(0) += 1;
    }
    // Heartbeats both ways, association setup, the session life cycle.
    for t in [1, 2, 5, 6, 50, 51, 52, 53, 54, 55] {
        assert!(kinds.contains_key(&t), "message type {t} in capture");
    }
}

#[test]
fn oai_establishment_content() {
    let dgrams = common::oai_capture();
    let est = dgrams
        .iter()
        .find(|d| d.payload[1] == 50)
        .expect("establishment request");
    let (m, _) = Pfcp::decode(&est.payload).unwrap();
    let Message::SessionEstablishmentRequest(req) = m.message else {
        panic!()
    };
    assert_eq!(req.cp_f_seid.seid, 1);
    assert_eq!(req.create_pdr.len(), 1);
    let pdr = &req.create_pdr[0];
    assert_eq!(pdr.precedence, 15);
    assert!(matches!(
        pdr.pdi.local_f_teid,
        Some(pfcp::codec::ies::FTeid::Choose {
            v4: true,
            v6: false,
            choose_id: None
        })
    ));
    assert_eq!(pdr.pdi.network_instance.unwrap().to_text(), "access");
    assert_eq!(
        pdr.pdi.ue_ip_address[0].ipv4,
        Some("12.1.1.2".parse().unwrap())
    );
    assert_eq!(
        req.create_far[0]
            .forwarding_parameters
            .as_ref()
            .unwrap()
            .network_instance
            .unwrap()
            .to_text(),
        "sgi1"
    );
}
