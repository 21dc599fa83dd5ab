//! What the filter tests share: the expressions compared and synthetic frames of every
//! supported link type (well-formed, tagged, fragmented, cut short, and random).

#![allow(dead_code)] // each test uses part of it

use std::path::{Path, PathBuf};

use rustniffer::capture::LinkType;

/// The conformance corpus's captures, when `../shared` is there.
pub fn corpus_pcaps() -> Option<PathBuf> {
    [
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/conformance"),
        "/work/shared/conformance",
    ]
    .iter()
    .map(|dir| Path::new(dir).join("pcaps"))
    .find(|dir| dir.is_dir())
}

/// The expressions compared, chosen to exercise every part of the language.
pub const EXPRESSIONS: &[&str] = &[
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "arp",
    "ip",
    "ip6",
    "not ip and not ip6",
    "tcp port 80",
    "port 80 or 443",
    "tcp port 80 or 8080",
    "src port 80",
    "dst port 80 or dst port 8080",
    "portrange 8000-9000",
    "udp port domain",
    "host 127.0.0.1",
    "src host 127.0.0.2",
    "dst host 127.0.0.1 and tcp",
    "host 127.0.0.1 and not port 80",
    "host 192.0.2.1 or 198.51.100.20",
    "arp host 192.0.2.1",
    "net 127.0.0.0/8",
    "net 192.0.2.0 mask 255.255.255.0",
    "src net 198.51.100",
    "host fd00::1",
    "net fd00::/16",
    "ip6 and tcp port 80",
    "ip proto 17",
    "ip6 proto 58",
    "proto \\tcp",
    "tcp[tcpflags] & tcp-syn != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0 and not src port 80",
    "tcp[13] = 0x18",
    "tcp port 80 and tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
    "ip[6:2] & 0x1fff != 0",
    "ip[2:2] > 200",
    "ip[0] & 0xf != 5",
    "icmp[icmptype] = icmp-echo",
    "icmp6[icmp6type] = icmp6-echo",
    "udp[0:2] = 53 or udp[2:2] = 53",
    "tcp[2:2] % 7 + 1 = 3",
    "ip[8] ^ 0x40 & 0xf0 = 0",
    "len > 100",
    "greater 1000",
    "less 64",
    "tcp and (port 80 or port 8080) and len > 60",
    "vlan",
    "vlan 100",
    "vlan and tcp port 80",
    "vlan 100 or tcp",
    "vlan and vlan 200 and udp",
    // Encapsulations (tests/tunnels/pcaps): `mpls` and `pppoes` move later tests inside.
    "mpls",
    "mpls 100",
    "mpls and ip",
    "mpls and ip6",
    "mpls and tcp port 80",
    "mpls 16 and mpls 100 and ip",
    "mpls and mpls and tcp",
    "mpls and host 10.1.0.1",
    "mpls and ip[0] = 0x45",
    "not mpls and ip",
    "mpls and (ip or mpls)",
    "vlan and mpls and ip",
    "mpls and arp",
    "mpls and vlan",
    "mpls and pppoes",
    "mpls 1048576",
    "pppoes",
    "pppoes 0x1234",
    "pppoes 7",
    "pppoes and ip",
    "pppoes and ip6",
    "pppoes and tcp port 80",
    "pppoes and host 10.1.0.2",
    "pppoes 0x1234 and tcp[13] & 2 != 0",
    "pppoes and mpls 5 and ip",
    "pppoes and pppoes",
    "pppoes and vlan",
    "pppoes 65536",
    "udp port 4789 or udp port 6081 or udp port 2152",
    "ip proto 47 or ip proto 4 or ip proto 41",
    "ip6 proto 41 or ip6 proto 4 or ip6 proto 47",
    "ether src 02:00:00:00:00:01 or ether dst ff:ff:ff:ff:ff:ff",
    "ether[0] & 1 = 1",
    "not tcp",
    // Reads past the captured bytes reject the frame whatever surrounds them.
    "tcp[100:4] = 0 or ip",
    "port 80 or ip",
    "host 192.0.2.1 or ip",
    "(tcp[100] = 0 and tcp) or ip",
    "ip and (tcp[100] = 0 or ip)",
    "ip6[100] = 0 or ip6 proto 6",
    "icmp6[100] = 0 or ip6",
    "tcp[100] = 0 or tcp[101] = 0 or ip",
    "ip[100] = 1 or ip[0] = 0x45",
    "tcp[100:4] = 0 or udp",
    "tcp port 80 or tcp",
    "ip and not tcp[60] = 0",
    "ip6[40] = 6",
    "ether proto 0x88cc",
    "ether host 02:00:00:00:00:02",
    "src or dst port 80",
    "src and dst net 127.0.0.0/8",
    "host 127.0.0.1 and (port 80) or 8080",
    "not vlan and tcp",
    "icmp6 or arp or (udp and not port 53)",
    "len - 14 >= 60 and ip[9] = 6",
    "ip[ip[0] & 0xf] = 0",
    "sctp or esp or pim or igmp",
    "tcp portrange 1-1024 and dst portrange 79-81",
    "ip6 net fd00::/64 and udp",
    "net 127 or net 192.0",
    "ip proto 6 or 17 and not src 198.51.100.20",
    // Geneve (network_packets' Geneve datagrams, tests/tunnels/pcaps/synthetic-geneve).
    "geneve",
    "geneve 42",
    "geneve 5001",
    "geneve and tcp port 80",
    "geneve and host 10.1.0.2",
    "geneve and host fd01::2",
    "geneve 42 and ip and tcp[13] & 2 != 0",
    "not geneve",
    "geneve or tcp",
    "vlan and geneve",
    "vlan 100 and geneve and tcp",
    "geneve and vlan and ip",
    "geneve and ip6 and tcp dst port 80",
    "geneve and ether src 02:00:00:00:00:0a",
    "geneve and ether[12:2] = 0x0800",
    "geneve and arp",
    "geneve and mpls and ip",
    "geneve and pppoes and ip",
    "geneve 1 and geneve 2 and tcp port 80",
    "geneve and geneve",
    "udp port 6081 and not geneve",
    "geneve 16777216",
    "geneve and ip[9] = 6 and len > 100",
];

// ---- synthetic captures ---------------------------------------------------------------

/// Network-layer packets of many kinds: (ethertype, bytes).
pub fn network_packets() -> Vec<(u16, Vec<u8>)> {
    let a = [192, 0, 2, 1];
    let b = [198, 51, 100, 20];
    let lo1 = [127, 0, 0, 1];
    let lo2 = [127, 0, 0, 2];
    let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let mut v = vec![
        (0x0800, ipv4(a, b, 6, &tcp(40000, 80, 0x02, &[]), &[])),
        (0x0800, ipv4(a, b, 6, &tcp(40000, 80, 0x18, &get), &[])),
        (0x0800, ipv4(b, a, 6, &tcp(80, 40000, 0x11, &[]), &[])),
        (
            0x0800,
            ipv4(
                lo2,
                lo1,
                6,
                &tcp(41000, 8080, 0x18, b"POST /x HTTP/1.1\r\n\r\n"),
                &[],
            ),
        ),
        (0x0800, ipv4(lo1, lo2, 6, &tcp(8080, 41000, 0x04, &[]), &[])),
        (0x0800, ipv4(a, b, 17, &udp(5353, 53, b"query"), &[])),
        (0x0800, ipv4(b, a, 17, &udp(53, 5353, &[0; 300]), &[])),
        (0x0800, ipv4(a, b, 1, &[8, 0, 0, 0, 0, 1, 0, 1], &[])),
        (0x0800, ipv4(b, a, 1, &[0, 0, 0, 0, 0, 1, 0, 1], &[])),
        (
            0x0800,
            ipv4(a, b, 6, &tcp(8500, 443, 0x10, &[]), &[1, 1, 1, 0]),
        ), // with options
        (0x0800, ipv4(a, b, 132, &udp(9999, 80, &[0; 8]), &[])), // SCTP-ish ports
        (0x0800, ipv4(a, b, 47, &[0; 24], &[])),                 // GRE
        (
            0x0800,
            ipv4(a, b, 6, &tcp(40000, 80, 0x10, &[b'x'; 1400]), &[]),
        ),
    ];
    // A first fragment (MF, offset 0) and a later one whose payload looks like ports 53.
    let mut first = ipv4(a, b, 17, &udp(5353, 53, &[0; 16]), &[]);
    first[6] = 0x20;
    let mut later = ipv4(a, b, 17, &udp(53, 53, &[0; 16]), &[]);
    later[6] = 0x00;
    later[7] = 0xB9;
    v.push((0x0800, first));
    v.push((0x0800, later));
    // Malformed IPv4: IHL 0, and a header cut short.
    let mut ihl0 = ipv4(a, b, 6, &tcp(1, 80, 0x02, &[]), &[]);
    ihl0[0] = 0x40;
    v.push((0x0800, ihl0));
    v.push((
        0x0800,
        ipv4(a, b, 6, &tcp(1, 80, 0x02, &[]), &[])[..22].to_vec(),
    ));
    // IPv6: TCP, UDP, ICMPv6 echo, TCP behind a fragment header, TCP behind hop-by-hop.
    let f1 = v6("fd00::2");
    let f2 = v6("fd00::1");
    v.push((0x86DD, ipv6(f1, f2, 6, &tcp(40000, 80, 0x02, &[]))));
    v.push((0x86DD, ipv6(f2, f1, 6, &tcp(80, 40000, 0x12, &[]))));
    v.push((
        0x86DD,
        ipv6(f1, v6("2001:db8::53"), 17, &udp(5353, 53, b"q")),
    ));
    v.push((0x86DD, ipv6(f1, f2, 58, &[128, 0, 0, 0, 0, 1, 0, 1])));
    let mut fragment = vec![6, 0, 0, 1, 0, 0, 0, 7];
    fragment.extend(tcp(40000, 80, 0x02, &[]));
    v.push((0x86DD, ipv6(f1, f2, 44, &fragment)));
    let mut hop_by_hop = vec![6, 0, 1, 4, 0, 0, 0, 0];
    hop_by_hop.extend(tcp(40000, 80, 0x02, &[]));
    v.push((0x86DD, ipv6(f1, f2, 0, &hop_by_hop)));
    v.push((
        0x86DD,
        ipv6(f1, f2, 6, &tcp(40000, 80, 0x02, &[]))[..30].to_vec(),
    ));
    // Geneve (RFC 8926): Ethernet inside (IPv4, IPv6, VLAN-tagged), with options, IPv4
    // or MPLS directly inside (other protocol types), over IPv6, in Geneve, version 1,
    // another port, and cut inside the header.
    let (g1, g2) = ([10, 1, 0, 1], [10, 1, 0, 2]);
    let inner_v4 = inner_ethernet(0x0800, &ipv4(g1, g2, 6, &tcp(40000, 80, 0x02, &[]), &[]));
    let inner_v6 = inner_ethernet(
        0x86DD,
        &ipv6(v6("fd01::1"), v6("fd01::2"), 6, &tcp(40000, 80, 0x12, &[])),
    );
    let mut tagged = inner_ethernet(0x8100, &[0x00, 100]);
    tagged.extend(0x0800u16.to_be_bytes());
    tagged.extend(ipv4(g1, g2, 6, &tcp(40000, 80, 0x10, &[]), &[]));
    let option = [0x01, 0x02, 0x80, 0x01, 0xAA, 0xBB, 0xCC, 0xDD];
    let over_v4 = |vni: u32, protocol: u16, options: &[u8], payload: &[u8]| {
        ipv4(
            a,
            b,
            17,
            &udp(30000, 6081, &geneve(vni, protocol, options, payload)),
            &[],
        )
    };
    v.push((0x0800, over_v4(42, 0x6558, &[], &inner_v4)));
    v.push((0x0800, over_v4(42, 0x6558, &option, &inner_v6)));
    v.push((0x0800, over_v4(5001, 0x6558, &[], &tagged)));
    let mut mpls_ip = vec![0x00, 0x01, 0x01, 0x40]; // label 16, bottom of stack
    mpls_ip.extend(ipv4(g1, g2, 6, &tcp(40000, 80, 0x02, &[]), &[]));
    v.push((
        0x0800,
        over_v4(
            7,
            0x0800,
            &option,
            &ipv4(g1, g2, 6, &tcp(1, 80, 0x02, &[]), &[]),
        ),
    ));
    v.push((0x0800, over_v4(7, 0x8847, &[], &mpls_ip)));
    v.push((
        0x86DD,
        ipv6(
            f1,
            f2,
            17,
            &udp(30000, 6081, &geneve(42, 0x6558, &[], &inner_v4)),
        ),
    ));
    v.push((
        0x0800,
        over_v4(
            1,
            0x6558,
            &[],
            &inner_ethernet(0x0800, &over_v4(2, 0x6558, &[], &inner_v4)),
        ),
    ));
    let mut version1 = over_v4(42, 0x6558, &[], &inner_v4);
    version1[28] |= 0x40;
    v.push((0x0800, version1));
    v.push((
        0x0800,
        ipv4(
            a,
            b,
            17,
            &udp(30000, 6082, &geneve(42, 0x6558, &[], &inner_v4)),
            &[],
        ),
    ));
    v.push((
        0x0800,
        over_v4(42, 0x6558, &option, &inner_v4)[..31].to_vec(),
    ));
    // ARP request and reply, RARP, LLDP.
    v.push((0x0806, arp(1, a, b)));
    v.push((0x0806, arp(2, b, a)));
    v.push((0x8035, arp(3, a, b)));
    v.push((0x88CC, vec![0x02, 0x07, 0x04, 0, 0, 0, 0, 0, 1]));
    v
}

pub fn v6(text: &str) -> [u8; 16] {
    text.parse::<std::net::Ipv6Addr>()
        .expect("literal")
        .octets()
}

pub fn ipv4(src: [u8; 4], dst: [u8; 4], protocol: u8, payload: &[u8], options: &[u8]) -> Vec<u8> {
    let header_len = 20 + options.len();
    let total = (header_len + payload.len()) as u16;
    let mut p = vec![0x40 | (header_len / 4) as u8, 0];
    p.extend(total.to_be_bytes());
    p.extend([0x12, 0x34, 0x40, 0x00, 64, protocol, 0, 0]);
    p.extend(src);
    p.extend(dst);
    p.extend(options);
    p.extend(payload);
    p
}

pub fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend((payload.len() as u16).to_be_bytes());
    p.extend([next, 64]);
    p.extend(src);
    p.extend(dst);
    p.extend(payload);
    p
}

pub fn tcp(src: u16, dst: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend(src.to_be_bytes());
    t.extend(dst.to_be_bytes());
    t.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    t.extend(payload);
    t
}

pub fn udp(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend(src.to_be_bytes());
    u.extend(dst.to_be_bytes());
    u.extend(((8 + payload.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(payload);
    u
}

/// A Geneve header (RFC 8926 §3.4: version 0, options length, protocol type, VNI),
/// `options` (a multiple of 4 bytes) and the payload.
pub fn geneve(vni: u32, protocol: u16, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut g = vec![(options.len() / 4) as u8, 0];
    g.extend(protocol.to_be_bytes());
    g.extend((vni << 8).to_be_bytes());
    g.extend(options);
    g.extend(payload);
    g
}

/// An Ethernet frame inside an encapsulation (source 02:00:00:00:00:0a).
pub fn inner_ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a];
    f.extend(ethertype.to_be_bytes());
    f.extend(payload);
    f
}

pub fn arp(op: u16, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4];
    a.extend(op.to_be_bytes());
    a.extend([2, 0, 0, 0, 0, 1]);
    a.extend(sender);
    a.extend([0; 6]);
    a.extend(target);
    a
}

/// Frames the network packets for one link type (those it can carry), plus runts.
pub fn framed(link: LinkType) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for (i, (ethertype, packet)) in network_packets().into_iter().enumerate() {
        let is_ip = matches!(ethertype, 0x0800 | 0x86DD);
        let family_le =
            |v6: bool| -> Vec<u8> { (if v6 { 24u32 } else { 2 }).to_le_bytes().to_vec() };
        let header: Vec<u8> = match link {
            LinkType::ETHERNET => {
                let dst = if ethertype == 0x0806 {
                    [0xFF; 6]
                } else {
                    [0x02, 0, 0, 0, 0, 2]
                };
                let mut h = dst.to_vec();
                h.extend([0x02, 0, 0, 0, 0, (i % 3) as u8]);
                // Every third frame is 802.1Q-tagged (VLAN 100), every fifth QinQ (100, 200).
                if i % 5 == 4 {
                    h.extend([0x88, 0xA8, 0x00, 100, 0x81, 0x00, 0x00, 200]);
                } else if i % 3 == 2 {
                    h.extend([0x81, 0x00, 0x20, 100]);
                }
                h.extend(ethertype.to_be_bytes());
                h
            }
            LinkType::LINUX_SLL => {
                let mut h = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
                h.extend(ethertype.to_be_bytes());
                h
            }
            LinkType::LINUX_SLL2 => {
                let mut h = ethertype.to_be_bytes().to_vec();
                h.extend([0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
                h
            }
            LinkType::NULL if is_ip => family_le(ethertype == 0x86DD),
            LinkType::LOOP if is_ip => (if ethertype == 0x86DD { 24u32 } else { 2 })
                .to_be_bytes()
                .to_vec(),
            LinkType::RAW if is_ip => Vec::new(),
            LinkType::IPV4 if ethertype == 0x0800 => Vec::new(),
            LinkType::IPV6 if ethertype == 0x86DD => Vec::new(),
            // PPP (RFC 1662 address and control, then the PPP protocol: IPv4 0x0021,
            // IPv6 0x0057); ARP is not carried.
            LinkType::PPP | LinkType::PPP_HDLC if is_ip => {
                let mut h = vec![0xFF, 0x03];
                h.extend(ppp_protocol(ethertype).to_be_bytes());
                h
            }
            // PPPoE session header (RFC 2516 §4) of session 0x1234, then the PPP protocol.
            LinkType::PPP_ETHER if is_ip => {
                let mut h = vec![0x11, 0x00, 0x12, 0x34];
                h.extend(((packet.len() + 2) as u16).to_be_bytes());
                h.extend(ppp_protocol(ethertype).to_be_bytes());
                h
            }
            // Cisco HDLC: unicast address, control 0, the EtherType.
            LinkType::C_HDLC => {
                let mut h = vec![0x0F, 0x00];
                h.extend(ethertype.to_be_bytes());
                h
            }
            // NFLOG: family, version 0, resource id, a prefix TLV, and the packet TLV
            // (type 9), lengths little-endian.
            LinkType::NFLOG if is_ip => {
                let family = if ethertype == 0x86DD { 10 } else { 2 };
                let mut h = vec![family, 0, 0, 1];
                h.extend([8, 0, 10, 0, b'f', b'w', 0, 0]);
                h.extend(((packet.len() + 4) as u16).to_le_bytes());
                h.extend(9u16.to_le_bytes());
                h
            }
            _ => continue,
        };
        let mut frame = header;
        frame.extend(packet);
        frames.push(frame);
    }
    // Runts: shorter than any header.
    frames.push(vec![0x45]);
    frames.push(vec![0; 3]);
    frames.push(vec![0; 13]);
    frames
}

/// The PPP protocol number for IPv4 or IPv6 (RFC 1332, RFC 5072).
fn ppp_protocol(ethertype: u16) -> u16 {
    if ethertype == 0x86DD {
        0x0057
    } else {
        0x0021
    }
}

/// Frames with a plausible link header and random bytes after it, of random lengths:
/// they exercise reads past the end and nonsense header fields.
pub fn garbage(link: LinkType) -> Vec<Vec<u8>> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut random = move || {
        // xorshift64 (Marsaglia 2003): deterministic, good enough for test data.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let types: [u16; 6] = [0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8, 0x8035];
    (0..400)
        .map(|_| {
            let ethertype = types[(random() % 6) as usize];
            let mut frame = match link {
                LinkType::ETHERNET => {
                    let mut h = vec![0xFF; 6];
                    h.extend([0x02, 0, 0, 0, 0, 1]);
                    h.extend(ethertype.to_be_bytes());
                    h
                }
                _ => {
                    let mut h = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
                    h.extend(ethertype.to_be_bytes());
                    h
                }
            };
            // The version nibble and protocol are often right, so tests get far.
            let len = (random() % 90) as usize;
            for i in 0..len {
                let byte = random() as u8;
                frame.push(match i {
                    0 if ethertype == 0x0800 => 0x40 | (byte & 0x0F),
                    9 if byte & 1 == 0 => 6,
                    _ => byte,
                });
            }
            frame
        })
        .collect()
}
