#!/usr/bin/env python3
"""Compares rustniffer with tshark on tunnel captures, request by request.

    oracle.py RUSTNIFFER PCAP...

For every HTTP request tshark finds, it takes the innermost IP addresses (the last
IPv4 or IPv6 layer before TCP in frame.protocols), the TCP ports and the request line;
rustniffer prints the same from its records (%source.ip ... %request.line). The two
multisets must be equal. Prints a Markdown table (one row per capture) and exits 1 on
any difference, listing it.

tshark keys a TCP conversation by addresses and ports only, so the same inner 4-tuple
in two VXLAN networks is one conversation to it (and the second request a
retransmission), while rustniffer keeps the VNI in the connection key: a capture with
several VNIs is split per VNI (tshark -Y vxlan.vni==N -w) before tshark reads it.
"""
import os
import tempfile
import collections
import subprocess
import sys

# Ports the captures use that tshark does not decode by default.
DECODE_AS = ["-d", "tcp.port==8000,http", "-d", "udp.port==8472,vxlan"]
FIELDS = ["frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport",
          "tcp.dstport", "http.request.method", "http.request.uri", "http.request.version"]


def tshark(pcap):
    cmd = ["tshark", "-n", "-r", pcap, *DECODE_AS, "-Y", "http.request", "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    found = collections.Counter()
    layers = {}
    for line in out.splitlines():
        protos, ip_src, ip_dst, ip6_src, ip6_dst, sport, dport, method, uri, version = line.split("\t")
        stack = protos.split(":")
        stack = stack[:stack.index("tcp")]
        inner = [p for p in stack if p in ("ip", "ipv6")][-1]
        src, dst = (ip_src, ip_dst) if inner == "ip" else (ip6_src, ip6_dst)
        found[(src.split(",")[-1], sport, dst.split(",")[-1], dport,
               "%s %s %s" % (method, uri, version))] += 1
        layers[":".join(stack)] = True
    return found, list(layers)


def tshark_per_vni(pcap):
    """tshark's requests, read one VXLAN network at a time when there are several."""
    out = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "fields", "-e", "vxlan.vni",
                          "-E", "occurrence=l"], check=True, capture_output=True, text=True).stdout
    vnis = sorted({v for v in out.split() if v})
    if len(vnis) < 2:
        return tshark(pcap)
    found, stacks = collections.Counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        for vni in vnis:
            part = os.path.join(tmp, "vni-%s.pcap" % vni)
            subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "vxlan.vni==%s" % vni, "-w", part],
                           check=True, capture_output=True)
            f, s = tshark(part)
            found += f
            stacks += [x for x in s if x not in stacks]
    return found, stacks


def rustniffer(binary, pcap):
    fmt = "%source.ip\t%source.port\t%dest.ip\t%dest.port\t%request.line"
    out = subprocess.run([binary, "-f", pcap, "-l", fmt], check=True, capture_output=True,
                         text=True).stdout
    found = collections.Counter()
    for line in out.splitlines():
        src, sport, dst, dport, request = line.split("\t")
        if request:
            found[(src, sport, dst, dport, request)] += 1
    return found


def main():
    binary, pcaps = sys.argv[1], sys.argv[2:]
    print("| capture | encapsulation (tshark's frame.protocols) | tshark requests | rustniffer requests | same |")
    print("|---|---|---:|---:|---|")
    failed = []
    for pcap in pcaps:
        theirs, stacks = tshark_per_vni(pcap)
        ours = rustniffer(binary, pcap)
        same = theirs == ours and sum(theirs.values()) > 0
        name = pcap.rsplit("/", 1)[-1]
        print("| %s | %s | %d | %d | %s |" % (name, " / ".join(stacks), sum(theirs.values()),
                                             sum(ours.values()), "yes" if same else "NO"))
        if not same:
            failed.append((name, theirs - ours, ours - theirs))
    for name, only_tshark, only_ours in failed:
        print("%s: only tshark: %s; only rustniffer: %s" % (name, dict(only_tshark), dict(only_ours)),
              file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
