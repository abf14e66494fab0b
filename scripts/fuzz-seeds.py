#!/usr/bin/python3
"""Seed inputs for the fuzz targets, from what the scenarios actually send.

    /usr/bin/python3 scripts/fuzz-seeds.py [--twin build/twin] [--out DIR]
                                           [--merge build-fuzz]

Runs every scenario in scenarios/ with every link captured (`twin run FILE
--set capture.pcap=all --pcap DIR`), reads the pcaps, and writes seeds to
DIR/<target>/ (default build/fuzz-seeds):

  wire      one file per kind of frame seen (Ethernet type, IP protocol,
            TCP flags and options, fragment or not), a mode byte of 0 then
            the frame as captured;
  stack     per TCP connection, two step sequences in fuzz_stack's encoding
            (fuzz/fuzz_stack.c): our stack as the server (listen, then the
            client's segments, consuming and answering as the server did)
            and as the client (connect, then the server's segments); plus
            per capture a sequence of rewritten raw frames (ARP, ICMP, UDP,
            fragments);
  scenario  scenarios/*.yaml and tests/scenarios/bad/*.yaml as they are.

With --merge BUILD (a build made by scripts/fuzz-ci.sh), each libFuzzer
target then merges DIR/<target> into fuzz/corpus/<target> (-merge=1
-use_counters=0): only seeds that reach an edge the corpus does not are
kept, which is what keeps the committed corpus small. Exit 0, or 2 when a scenario or a tool fails.
"""

import argparse
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# fuzz_stack.c's opcodes, in its enum's order.
(OP_ADVANCE, OP_TO_DEADLINE, OP_SEGMENT, OP_RAW, OP_REWRITE, OP_ARP, OP_LISTEN,
 OP_UNLISTEN, OP_CONNECT, OP_SEND, OP_CONSUME, OP_CLOSE, OP_ABORT, OP_OPTION,
 OP_PING, OP_IFACE) = range(16)

FRAMES_PER_PCAP = 4000     # read no further into a capture
WIRE_PER_SHAPE = 2         # frames kept per kind of frame
STACK_STEPS_MAX = 400      # fuzz_stack runs at most 512 steps
FLOWS_PER_PCAP = 3
RAW_FRAMES_PER_PCAP = 24


def read_pcap(path, limit=FRAMES_PER_PCAP):
    """(time_ns, frame) pairs of a classic pcap, micro- or nanosecond."""
    out = []
    with open(path, 'rb') as f:
        head = f.read(24)
        if len(head) < 24:
            return out
        magic = struct.unpack('<I', head[:4])[0]
        if magic in (0xa1b2c3d4, 0xa1b23c4d):
            endian = '<'
        else:
            endian = '>'
            magic = struct.unpack('>I', head[:4])[0]
        scale = 1 if magic == 0xa1b23c4d else 1000
        while len(out) < limit:
            rec = f.read(16)
            if len(rec) < 16:
                break
            sec, frac, incl, _orig = struct.unpack(endian + 'IIII', rec)
            data = f.read(incl)
            if len(data) < incl:
                break
            out.append((sec * 1_000_000_000 + frac * scale, data))
    return out


def parse(frame):
    """A dict describing an Ethernet/IPv4 frame, as far as it goes."""
    d = {'frame': frame}
    if len(frame) < 14:
        return d
    etype = struct.unpack('>H', frame[12:14])[0]
    d['etype'] = etype
    if etype != 0x0800 or len(frame) < 34:
        return d
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    total = struct.unpack('>H', ip[2:4])[0]
    fragw = struct.unpack('>H', ip[6:8])[0]
    d.update(proto=ip[9], src=ip[12:16], dst=ip[16:20], frag=bool(fragw & 0x3fff))
    l4 = ip[ihl:total]
    if d['proto'] != 6 or d['frag'] or len(l4) < 20:
        return d
    sport, dport, seq, ack, off, flags, win = struct.unpack('>HHIIBBH', l4[:16])
    hl = (off >> 4) * 4
    d.update(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=win,
             payload_len=len(l4) - hl, opts=tcp_options(l4[20:hl]))
    return d


def tcp_options(b):
    opts = {}
    i = 0
    while i < len(b):
        kind = b[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(b) or b[i + 1] < 2:
            break
        n = b[i + 1]
        body = b[i + 2:i + n]
        if kind == 2 and n == 4:
            opts['mss'] = struct.unpack('>H', body)[0]
        elif kind == 3 and n == 3:
            opts['ws'] = body[0]
        elif kind == 4:
            opts['sackok'] = True
        elif kind == 8 and n == 10:
            opts['ts'] = struct.unpack('>II', body)
        elif kind == 5:
            opts['sack'] = (n - 2) // 8
        i += n
    return opts


def shape(d):
    """What makes two frames the same kind, for the wire seeds."""
    return (d.get('etype'), d.get('proto'), d.get('frag'), d.get('flags'),
            tuple(sorted(d.get('opts', {}))), min(d.get('payload_len', 0), 1))


# ---- the fuzz_stack step encoding ---------------------------------------------

def s16(v):
    """A signed 16-bit delta, clamped."""
    return max(-32768, min(32767, v)) & 0xffff


def seq_delta(a, b):
    """a - b in sequence space (mod 2^32), as a signed number."""
    v = (a - b) & 0xffffffff
    return v - (1 << 32) if v & 0x80000000 else v


def advance(dt_ns):
    shift = 0
    while (dt_ns >> shift) > 0xffff:
        shift += 1
    return bytes([OP_ADVANCE]) + struct.pack('>HB', dt_ns >> shift, shift)


def segment(d, sel, peer_nxt, peer_first, ack_base, ack_how, ts_prev):
    """An OP_SEGMENT step for a captured segment the peer sends."""
    flags = d['flags']
    if flags & 0x02 and peer_first:
        mode, seqb = 0, struct.pack('>H', 0)                 # peer ISS + 0
    else:
        mode, seqb = 1, struct.pack('>H', s16(seq_delta(d['seq'], peer_nxt)))
    if ack_how == 3:
        ackb = b''
    else:
        ackb = struct.pack('>H', s16(seq_delta(d['ack'], ack_base)))
    mode |= ack_how << 2
    mode |= 0x20                                             # payload length as u16
    opts = d['opts']
    mask = 0
    ob = b''
    if 'mss' in opts:
        mask |= 1
        ob += struct.pack('>H', opts['mss'])
    if 'ws' in opts:
        mask |= 2
        ob += bytes([min(opts['ws'], 14)])
    if opts.get('sackok'):
        mask |= 4
    if 'ts' in opts:
        mask |= 8
        step = 1 if ts_prev is None else max(0, min(255, opts['ts'][0] - ts_prev))
        ob += bytes([step])
    out = bytes([OP_SEGMENT, sel, flags, mode]) + seqb + ackb
    out += struct.pack('>HB', d['win'], mask) + ob
    if flags & 0x20:
        out += struct.pack('>H', 0)
    out += struct.pack('>H', d['payload_len'])
    return out


def flows_of(packets):
    """TCP connections in a merged capture: {(client, server): [packets]}, in
    time order, starting with the client's SYN."""
    flows = {}
    for _t, d in packets:
        if 'sport' not in d:
            continue
        a = (bytes(d['src']), d['sport'])
        b = (bytes(d['dst']), d['dport'])
        if (a, b) in flows:
            flows[(a, b)].append(d)
        elif (b, a) in flows:
            flows[(b, a)].append(d)
        elif d['flags'] & 0x12 == 0x02:
            flows[(a, b)] = [d]
    return flows


def stack_seed(packets, client, as_server):
    """Our stack plays the server (as_server) or the client of a captured
    connection; the harness plays the other side from the capture."""
    syn = packets[0]
    opts = syn['opts']
    cfg = (1 if 'ts' in opts else 0) | (2 if 'ws' in opts else 0) | (3 << 2) | (3 << 4)
    out = bytearray([cfg])
    if as_server:
        out += bytes([OP_LISTEN, 0])                         # any address, port 80
        sel = 0                                              # peer 0:40000 -> our 80
    else:
        out += bytes([OP_CONNECT, 0])                        # to peer 0, port 40000
        sel = 0x80                                           # the flow our SYN made
    peer_is_client = as_server
    peer_nxt = None          # the peer's highest sequence end, in capture numbers
    our_nxt = None           # ours, likewise
    ts_prev = None
    steps = 0
    last_t = packets[0].get('t', 0)
    for d in packets:
        from_client = (bytes(d['src']), d['sport']) == client
        end = (d['seq'] + d['payload_len'] + (1 if d['flags'] & 0x03 else 0)) & 0xffffffff
        if from_client == peer_is_client:
            if d['t'] > last_t:
                out += advance(d['t'] - last_t)
                last_t = d['t']
            first = peer_nxt is None
            ack_how = 3 if our_nxt is None or not d['flags'] & 0x10 else 1
            out += segment(d, sel, peer_nxt if peer_nxt is not None else d['seq'], first,
                           our_nxt if our_nxt is not None else 0, ack_how, ts_prev)
            if 'ts' in d['opts']:
                ts_prev = d['opts']['ts'][0]
            if peer_nxt is None or seq_delta(end, peer_nxt) > 0:
                peer_nxt = end
            out += bytes([OP_CONSUME, 1])                    # the first connection, all
        else:
            # What our side did in the capture, done through the API.
            if d['payload_len'] > 0:
                out += bytes([OP_SEND, 0]) + struct.pack('>H', d['payload_len'])
            if d['flags'] & 0x01:
                out += bytes([OP_CLOSE, 0])
            if our_nxt is None or seq_delta(end, our_nxt) > 0:
                our_nxt = end
        steps += 1
        if steps >= STACK_STEPS_MAX // 3:
            break
    out += bytes([OP_TO_DEADLINE])
    return bytes(out)


def raw_seed(packets):
    """Rewritten raw frames: what is not TCP (ARP, ICMP, UDP, fragments)."""
    out = bytearray([0x3c])
    out += bytes([OP_LISTEN, 0])
    n = 0
    for _t, d in packets:
        if d.get('proto') == 6 and not d.get('frag'):
            continue
        f = d['frame'][:2048]
        out += bytes([OP_REWRITE]) + struct.pack('>H', len(f)) + f
        n += 1
        if n >= RAW_FRAMES_PER_PCAP:
            break
    return bytes(out) if n else None


# ---- driver ----------------------------------------------------------------------

def write(dirpath, data, seen):
    h = hashlib.sha1(data).hexdigest()
    if h in seen:
        return
    seen.add(h)
    with open(os.path.join(dirpath, 'seed-' + h[:16]), 'wb') as f:
        f.write(data)


def capture(twin, scenario, pcap_dir):
    cmd = [twin, 'run', scenario, '--set', 'capture.pcap=all', '--pcap', pcap_dir]
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       timeout=600)
    # 0 and 1 both ran the scenario (1: an expectation failed); 2 and 77
    # mean it could not run here (bad input, or a live-only scenario).
    if r.returncode not in (0, 1):
        print(f'fuzz-seeds: skipping {os.path.basename(scenario)}: exit {r.returncode}: '
              f'{r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""}',
              file=sys.stderr)
        return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--twin', default=os.path.join(ROOT, 'build', 'twin'))
    ap.add_argument('--out', default=os.path.join(ROOT, 'build', 'fuzz-seeds'))
    ap.add_argument('--merge', metavar='BUILD', help='a -Dfuzzing=true build to merge with')
    args = ap.parse_args()
    if not os.access(args.twin, os.X_OK):
        print(f'fuzz-seeds: {args.twin} is not built (ninja -C build)', file=sys.stderr)
        return 2
    dirs = {t: os.path.join(args.out, t) for t in ('wire', 'stack', 'scenario')}
    for d in dirs.values():
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    seen = set()
    shapes = {}
    scen_dir = os.path.join(ROOT, 'scenarios')
    with tempfile.TemporaryDirectory(prefix='fuzz-seeds-') as tmp:
        for name in sorted(os.listdir(scen_dir)):
            if not name.endswith('.yaml'):
                continue
            pdir = os.path.join(tmp, name[:-5])
            os.makedirs(pdir)
            if not capture(args.twin, os.path.join(scen_dir, name), pdir):
                continue
            # Both directions of a link, merged in time order.
            links = {}
            for p in sorted(os.listdir(pdir)):
                links.setdefault(p.rsplit('-', 1)[0], []).append(os.path.join(pdir, p))
            for files in links.values():
                packets = []
                for path in files:
                    for t, frame in read_pcap(path):
                        d = parse(frame)
                        d['t'] = t
                        packets.append((t, d))
                packets.sort(key=lambda x: x[0])
                for _t, d in packets:
                    k = shape(d)
                    if shapes.get(k, 0) < WIRE_PER_SHAPE:
                        shapes[k] = shapes.get(k, 0) + 1
                        write(dirs['wire'], b'\x00' + d['frame'], seen)
                flows = flows_of(packets)
                for (client, _server), pk in list(flows.items())[:FLOWS_PER_PCAP]:
                    write(dirs['stack'], stack_seed(pk, client, True), seen)
                    write(dirs['stack'], stack_seed(pk, client, False), seen)
                raw = raw_seed(packets)
                if raw:
                    write(dirs['stack'], raw, seen)
    for src in (scen_dir, os.path.join(ROOT, 'tests', 'scenarios', 'bad')):
        for name in sorted(os.listdir(src)):
            if name.endswith('.yaml'):
                with open(os.path.join(src, name), 'rb') as f:
                    write(dirs['scenario'], f.read(), seen)
    for t, d in dirs.items():
        print(f'fuzz-seeds: {len(os.listdir(d))} {t} seeds in {d}')
    if args.merge:
        for t, d in dirs.items():
            exe = os.path.join(args.merge, 'fuzz', 'fuzz_' + t)
            corpus = os.path.join(ROOT, 'fuzz', 'corpus', t)
            os.makedirs(corpus, exist_ok=True)
            r = subprocess.run([exe, '-merge=1', '-use_counters=0', corpus, d],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            if r.returncode != 0:
                print(r.stderr[-2000:], file=sys.stderr)
                print(f'fuzz-seeds: merging {t} failed', file=sys.stderr)
                return 2
            print(f'fuzz-seeds: fuzz/corpus/{t} now has '
                  f'{len([n for n in os.listdir(corpus) if not n.startswith(".")])} inputs')
    return 0


if __name__ == '__main__':
    sys.exit(main())
