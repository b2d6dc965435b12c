#!/usr/bin/env python3
"""Where the instructions of the pipeline loop go, by stage.

Reads a callgrind profile made with per-instruction counts (see
profile.sh next to this file), disassembles the benchmark binary with
objdump's inline chains (-l --inlines) and attributes every executed
instruction to a stage of dataplane::worker::Worker::burst_of / the tier-1
fast path by the functions it was inlined from and the line of burst_of it
belongs to. Prints instructions per packet per stage.

    where.py PROFILE BINARY PACKETS [--dump STAGE-PREFIX]
"""
import collections
import os
import re
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))


def anchors():
    """Line numbers of burst_of's passes in worker.rs and of fast_slot's
    parts in pipeline/fast.rs, found by the code they name."""
    w = open(os.path.join(ROOT, 'dataplane/src/worker.rs')).read().splitlines()
    f = open(os.path.join(ROOT, 'dataplane/src/pipeline/fast.rs')).read().splitlines()
    def find(src, pat, after=0):
        return next(i + 1 for i, l in enumerate(src) if i >= after and pat in l)
    tier1 = find(f, 'fn fast_slot')
    return {
        'p1': find(w, 'fn burst_of'),
        'p2': find(w, 'for j in 0..n {'),
        'p3': find(w, 'let ctx = Ctx { snap, lines, now };'),
        'rare': find(w, 'if !self.rare.is_empty()'),
        'disp': find(w, 'fn dispatch('),
        'send': find(w, 'fn send<'),
        'memio': find(w, 'pub struct MemIo'),
        'ours': find(f, '// From here on the packet is ours', tier1),
        'ttl': find(f, 'if p.ttl >> 24 <= 1', tier1),
    }


def stage(t, a):
    """The stage of an instruction whose inline chain (innermost function
    name first, then file:line frames) is the text `t`."""
    if 'pipeline-bench/src/main.rs' in t:
        return '0 I/O harness (rx patch, tx return)'
    # The innermost frame in worker.rs: burst_of's own line, or the line of
    # burst_of that the code was inlined into.
    m = re.search(r'worker\.rs:(\d+)', t.split('\n', 1)[-1])
    w = int(m.group(1)) if m else None
    if w is not None and a['p1'] <= w < a['disp']:
        if w < a['p2']:
            return '1 pass 1: key, hash, shard, prefetch slot'
        if w < a['p3']:
            return '2 pass 2: probe slot, prefetch state line'
        if w >= a['rare']:
            return '9 rare verdicts'
        if 'eth_out' in t:
            return '3e next hop + Ethernet header'
        if 'count_paired' in t or 'count_urr' in t or 'first_packet' in t:
            return '3c URR counting'
        if 'conform' in t:
            return '3b QER gate + meter'
        if 'parse_ul' in t or 'parse_dl' in t or 'ip_hdr_ok' in t:
            return '3a header checks (parse_ul / parse_dl)'
        if any(s in t for s in ('Encap', 'reframe', 'ttl_word', 'flow_hash_at', 'data_mut')):
            return '3d rewrite: TTL, reframe, outer headers'
        fl = [int(x) for x in re.findall(r'pipeline/fast\.rs:(\d+)', t)]
        if fl:
            f0 = max(fl)
            if a['ours'] <= f0 < a['ttl']:
                return '3b QER gate + meter'
            if f0 >= a['ttl']:
                return '3d rewrite: TTL, reframe, outer headers'
            return '3a header checks (parse_ul / parse_dl)'
        if 'pipeline.rs' in t:
            return '3f glue: process_found, tier switch'
        return '3g verdict, tx queue push, rx drain'
    if w is not None and a['send'] <= w < a['memio'] or 'flush_tx' in t:
        return '5 tx flush (tx_burst, tx counters)'
    if 'counters.rs' in t:
        return '6 counters flush (per poll)'
    return '7 rest of poll (refresh, inject ring, loops)'


def main():
    prof, binary, packets = sys.argv[1], sys.argv[2], int(sys.argv[3])
    dump = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == '--dump' else None
    cost = collections.Counter()
    skip = False
    for line in open(prof):
        if line.startswith('calls='):
            skip = True
            continue
        if line.startswith('0x'):
            if not skip:
                p = line.split()
                cost[int(p[0], 16)] += int(p[-1])
        skip = False
    lo, hi = min(cost), max(cost)
    dis = subprocess.run(['objdump', '-d', '-l', '--inlines', '--no-show-raw-insn', '-C',
                          '--start-address=%d' % lo, '--stop-address=%d' % (hi + 16), binary],
                         capture_output=True, text=True, check=True).stdout
    a = anchors()
    stages = collections.Counter()
    fn, chain = '', []
    for l in dis.splitlines():
        m = re.match(r'\s*([0-9a-f]+):\s*(.*)', l)
        if m:
            addr = int(m.group(1), 16)
            if addr in cost:
                t = fn + '\n' + '\n'.join(chain)
                s = stage(t, a)
                stages[s] += cost[addr]
                if dump and s.startswith(dump):
                    print('%6.2f %x %s' % (cost[addr] / packets, addr, m.group(2)))
        elif l.endswith(':') and not l.startswith(('/', 'inlined')):
            fn, chain = l, []
        elif l.startswith('/'):
            chain = [l]
        elif l.startswith('inlined by'):
            chain.append(l)
    for s in sorted(stages):
        print('%-50s %7.1f' % (s, stages[s] / packets))
    print('%-50s %7.1f' % ('total (libc memcpy of the harness not included)', sum(stages.values()) / packets))


if __name__ == '__main__':
    main()
