"""Independent cross-check of the pfcp crate's codec with scapy.contrib.pfcp.

  parse: read "name<TAB>hex" lines; for each, parse with scapy, look for
         anything scapy could not place (Raw payload, IE_NotImplemented of a
         type scapy knows, leftover extra_data), rebuild with scapy and
         compare with the input bytes. Print "name<TAB>OK" or the problem.
  build: print "name<TAB>hex" for messages built with scapy; the Rust test
         (tests/dissectors.rs) checks the values given here.

Run by `cargo test -p pfcp --test dissectors` (needs python3-scapy).
"""

import sys

from scapy.all import Raw, conf
from scapy.contrib import pfcp as P

conf.verb = 0

# IE types that scapy 2.5 does not implement (it parses them as
# IE_NotImplemented); anything else unparsed is a finding.
KNOWN = set(P.ietypecls.keys())
# Extendable IEs whose later octets scapy 2.5 (TS 29.244 Rel-15) does not
# know: UP Function Features has 2 octets there; octet 7 (UEIP, MNOP, ...)
# came later, so scapy leaves it in extra_data.
# The same for FQ-CSID: the Node Type octet after the CSIDs is Rel-17.
NEWER_OCTETS_OK = {"IE UP Function Features", "IE FQ-CSID"}


def problems(pkt):
    found = []
    layer = pkt
    while layer is not None and not isinstance(layer, type(None)):
        if isinstance(layer, Raw):
            found.append("raw payload %r" % bytes(layer))
            break
        for f in layer.fields_desc:
            v = layer.getfieldval(f.name)
            if f.name == "extra_data" and v and layer.name not in NEWER_OCTETS_OK:
                found.append("%s: extra_data %r" % (layer.name, v))
            if isinstance(v, list):
                for ie in v:
                    if hasattr(ie, "fields_desc"):
                        found.extend(problems(ie))
        if isinstance(layer, P.IE_NotImplemented) and layer.ietype in KNOWN:
            found.append("IE %d not parsed" % layer.ietype)
        nxt = layer.payload
        if nxt is None or len(bytes(nxt)) == 0:
            break
        layer = nxt
    return found


def parse():
    for line in sys.stdin:
        name, hexstr = line.rstrip("\n").split("\t")
        data = bytes.fromhex(hexstr)
        pkt = P.PFCP(data)
        found = problems(pkt)
        # Rebuild from the parsed fields: scapy recomputes lengths.
        rebuilt = bytes(P.PFCP(bytes(pkt)))
        if rebuilt != data:
            found.append("rebuilt %s != %s" % (rebuilt.hex(), data.hex()))
        print("%s\t%s" % (name, "OK" if not found else "; ".join(found)))


def build():
    smf = "10.0.0.1"
    msgs = []
    msgs.append(("heartbeat", P.PFCP(S=0, seq=1) / P.PFCPHeartbeatRequest(
        IE_list=[P.IE_RecoveryTimeStamp(timestamp=3900000000)])))
    msgs.append(("heartbeat_response", P.PFCP(S=0, seq=1) / P.PFCPHeartbeatResponse(
        IE_list=[P.IE_RecoveryTimeStamp(timestamp=1)])))
    msgs.append(("association_setup", P.PFCP(S=0, seq=2) / P.PFCPAssociationSetupRequest(
        IE_list=[P.IE_NodeId(id_type="IPv4", ipv4=smf),
                 P.IE_RecoveryTimeStamp(timestamp=3900000000),
                 P.IE_CPFunctionFeatures(LOAD=1)])))
    ul = P.IE_CreatePDR(IE_list=[
        P.IE_PDR_Id(id=1),
        P.IE_Precedence(precedence=200),
        P.IE_PDI(IE_list=[
            P.IE_SourceInterface(interface="Access"),
            P.IE_FTEID(V4=1, CH=1, CHID=1, choose_id=5),
            P.IE_NetworkInstance(instance="access"),
            P.IE_SDF_Filter(FD=1, flow_description="permit out ip from any to assigned"),
            P.IE_QFI(QFI=9),
        ]),
        P.IE_OuterHeaderRemoval(header="GTP-U/UDP/IPv4"),
        P.IE_FAR_Id(id=1),
        P.IE_URR_Id(id=1),
        P.IE_QER_Id(id=1),
    ])
    dl = P.IE_CreatePDR(IE_list=[
        P.IE_PDR_Id(id=2),
        P.IE_Precedence(precedence=200),
        P.IE_PDI(IE_list=[
            P.IE_SourceInterface(interface="Core"),
            P.IE_NetworkInstance(instance="internet"),
            P.IE_UE_IP_Address(V4=1, SD=1, ipv4="10.45.0.9"),
        ]),
        P.IE_FAR_Id(id=2),
        P.IE_URR_Id(id=1),
        P.IE_QER_Id(id=1),
    ])
    far_ul = P.IE_CreateFAR(IE_list=[
        P.IE_FAR_Id(id=1),
        P.IE_ApplyAction(FORW=1),
        P.IE_ForwardingParameters(IE_list=[
            P.IE_DestinationInterface(interface="Core"),
            P.IE_NetworkInstance(instance="internet"),
        ]),
    ])
    far_dl = P.IE_CreateFAR(IE_list=[
        P.IE_FAR_Id(id=2),
        P.IE_ApplyAction(FORW=1),
        P.IE_ForwardingParameters(IE_list=[
            P.IE_DestinationInterface(interface="Access"),
            P.IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0xabcd, ipv4="10.0.1.1"),
        ]),
    ])
    qer = P.IE_CreateQER(IE_list=[
        P.IE_QER_Id(id=1),
        P.IE_GateStatus(ul="OPEN", dl="CLOSED"),
        P.IE_MBR(ul=1000, dl=2000),
        P.IE_QFI(QFI=9),
    ])
    urr = P.IE_CreateURR(IE_list=[
        P.IE_URR_Id(id=1),
        P.IE_MeasurementMethod(VOLUM=1, DURAT=1),
        P.IE_ReportingTriggers(volume_threshold=1, periodic_reporting=1),
        P.IE_MeasurementPeriod(period=60),
        P.IE_VolumeThreshold(TOVOL=1, total=10000),
    ])
    msgs.append(("establishment", P.PFCP(S=1, seid=0, seq=42) / P.PFCPSessionEstablishmentRequest(
        IE_list=[P.IE_NodeId(id_type="IPv4", ipv4=smf),
                 P.IE_FSEID(v4=1, seid=0x1234, ipv4=smf),
                 ul, dl, far_ul, far_dl, urr, qer])))
    msgs.append(("modification", P.PFCP(S=1, seid=0x99, seq=43) / P.PFCPSessionModificationRequest(
        IE_list=[P.IE_RemovePDR(IE_list=[P.IE_PDR_Id(id=4)]),
                 P.IE_RemoveFAR(IE_list=[P.IE_FAR_Id(id=4)]),
                 P.IE_UpdateFAR(IE_list=[
                     P.IE_FAR_Id(id=2),
                     P.IE_UpdateForwardingParameters(IE_list=[
                         P.IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0x5555, ipv4="10.0.1.2"),
                         P.IE_PFCPSMReqFlags(SNDEM=1),
                     ]),
                 ]),
                 P.IE_QueryURR(IE_list=[P.IE_URR_Id(id=1)])])))
    msgs.append(("deletion", P.PFCP(S=1, seid=0x99, seq=44) / P.PFCPSessionDeletionRequest()))
    msgs.append(("report_response", P.PFCP(S=1, seid=0x1, seq=45) / P.PFCPSessionReportResponse(
        IE_list=[P.IE_Cause(cause=1)])))
    msgs.append(("association_release", P.PFCP(S=0, seq=46) / P.PFCPAssociationReleaseRequest(
        IE_list=[P.IE_NodeId(id_type="IPv4", ipv4=smf)])))
    msgs.append(("pfd_management", P.PFCP(S=0, seq=47) / P.PFCPPFDManagementRequest(
        IE_list=[P.IE_ApplicationID_PFDs(IE_list=[
                     P.IE_ApplicationId(id="app1"),
                     P.IE_PFDContext(IE_list=[
                         P.IE_PFDContents(FD=1, flow="permit out 6 from 198.51.100.1 443 to assigned"),
                         P.IE_PFDContents(URL=1, url="http://example.com/"),
                     ]),
                 ]),
                 P.IE_ApplicationID_PFDs(IE_list=[P.IE_ApplicationId(id="app2")])])))
    msgs.append(("session_set_deletion", P.PFCP(S=0, seq=48) / P.PFCPSessionSetDeletionRequest(
        IE_list=[P.IE_NodeId(id_type="IPv4", ipv4=smf),
                 P.IE_FqCSID(node_id_type=0, ipv4=smf, csids=[1, 2]),
                 P.IE_FqCSID(node_id_type=1, ipv6="2001:db8::9", csids=[3]),
                 P.IE_FqCSID(node_id_type=2, mcc_mnc=0x12345, extra_id=0x678, csids=[4])])))
    msgs.append(("session_set_deletion_response", P.PFCP(S=0, seq=48) / P.PFCPSessionSetDeletionResponse(
        IE_list=[P.IE_NodeId(id_type="IPv4", ipv4="10.0.0.2"),
                 P.IE_Cause(cause=66),
                 P.IE_OffendingIE(type=60)])))
    msgs.append(("establishment_fq_csid", P.PFCP(S=1, seid=0, seq=49) / P.PFCPSessionEstablishmentRequest(
        IE_list=[P.IE_NodeId(id_type="IPv4", ipv4=smf),
                 P.IE_FSEID(v4=1, seid=0x1235, ipv4=smf),
                 ul, far_ul,
                 P.IE_FqCSID(node_id_type=0, ipv4=smf, csids=[0x11])])))
    for name, m in msgs:
        print("%s\t%s" % (name, bytes(m).hex()))


if __name__ == "__main__":
    {"parse": parse, "build": build}[sys.argv[1]]()
