"""Offline evaluator of the TRex field engine (the VM program of a stream's JSON).

TRex runs a stream's field-engine instructions on its server for every packet;
no server runs here, so this module applies the same instructions to the base
packet for chosen variable values. The offline test (`perf/trex/check_offline.py`)
writes the results to a pcap for tshark. Only the instructions our profiles use
are implemented; anything else raises, so a profile change cannot slip past
the check unexpanded. Semantics from the TRex client's docstrings
(trex_stl_packet_builder_scapy.py: STLVmWrFlowVar, STLVmWrMaskFlowVar).
"""

import base64
import struct
from typing import Dict, List


class FieldEngineError(ValueError):
    pass


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def base_packet(stream_json: dict) -> bytes:
    return base64.b64decode(stream_json["packet"]["binary"])


def instructions(stream_json: dict) -> List[dict]:
    return list(stream_json.get("vm", {}).get("instructions", []))


def flow_vars(stream_json: dict) -> Dict[str, dict]:
    return {i["name"]: i for i in instructions(stream_json) if i["type"] == "flow_var"}


def var_values(var: dict) -> range:
    """Every value a flow_var takes (inc/dec/random all stay inside [min, max])."""
    if "value_list" in var and var["value_list"] is not None:
        raise FieldEngineError("value_list flow vars are not used by our profiles")
    return range(var["min_value"], var["max_value"] + 1, 1)


def expand(stream_json: dict, values: Dict[str, int]) -> bytes:
    """The packet TRex sends when the flow vars hold `values`."""
    pkt = bytearray(base_packet(stream_json))
    sizes: Dict[str, int] = {}
    for ins in instructions(stream_json):
        t = ins["type"]
        if t == "flow_var":
            v = values[ins["name"]]
            if not ins["min_value"] <= v <= ins["max_value"]:
                raise FieldEngineError(f"{ins['name']}={v} outside [{ins['min_value']}, {ins['max_value']}]")
            sizes[ins["name"]] = ins["size"]
        elif t == "write_flow_var":
            size = sizes[ins["name"]]
            val = (values[ins["name"]] + ins["add_value"]) % (1 << (8 * size))
            off = ins["pkt_offset"]
            if off + size > len(pkt):
                raise FieldEngineError(f"write at {off}+{size} beyond packet of {len(pkt)}")
            pkt[off:off + size] = val.to_bytes(size, "big" if ins["is_big_endian"] else "little")
        elif t == "write_mask_flow_var":
            cast = ins["pkt_cast_size"]
            order = "big" if ins["is_big_endian"] else "little"
            val = values[ins["name"]] % (1 << (8 * cast))
            val += ins["add_value"]
            shift = ins["shift"]
            val = val << shift if shift > 0 else val >> (-shift)
            off = ins["pkt_offset"]
            cur = int.from_bytes(pkt[off:off + cast], order)
            mask = ins["mask"]
            new = (cur & ~mask) | (val & mask)
            pkt[off:off + cast] = (new % (1 << (8 * cast))).to_bytes(cast, order)
        elif t == "fix_checksum_ipv4":
            off = ins["pkt_offset"]
            ihl = (pkt[off] & 0x0F) * 4
            pkt[off + 10:off + 12] = b"\0\0"
            pkt[off + 10:off + 12] = struct.pack("!H", _csum(bytes(pkt[off:off + ihl])))
        else:
            raise FieldEngineError(f"field-engine instruction {t!r} not implemented by the offline evaluator")
    return bytes(pkt)
