//! Encapsulation tests: each builds the inner TCP packet, wraps it with
//! [`super::build`]'s encapsulation helpers, and checks that the inner segment comes
//! out with the levels crossed.

use super::build::{self, ethertype, ppp, proto, TcpPacket};
use super::*;
use crate::capture::LinkType;

/// The inner connection's client packet.
fn inner() -> TcpPacket {
    TcpPacket::new("10.244.1.5:40000", "10.244.2.7:8080")
        .seq(1000)
        .ack(2000)
        .psh()
        .payload(b"GET / HTTP/1.1\r\n\r\n")
}

fn inner6() -> TcpPacket {
    TcpPacket::new("[fd00::5]:40000", "[fd00::7]:8080")
        .seq(1000)
        .ack(2000)
        .psh()
        .payload(b"GET / HTTP/1.1\r\n\r\n")
}

/// What one frame decodes to: the inner key and payload, and `%tunnel`'s text.
#[derive(Debug, PartialEq)]
struct Out {
    key: FlowKey,
    payload: Vec<u8>,
    tunnel: String,
    id: Option<u32>,
    segment_id: u32,
}

fn decode_with(d: &mut Decoder, link: LinkType, frame: &[u8]) -> Option<Out> {
    let out = d.decode(&build::packet(link, frame)).map(|s| Out {
        key: s.key,
        payload: s.payload.to_vec(),
        tunnel: s.tunnel.map(|t| t.to_string()).unwrap_or_default(),
        id: s.tunnel.and_then(Tunnels::id),
        segment_id: s.tunnel.map_or(0, Tunnels::segment_id),
    });
    let s = d.stats();
    assert_eq!(
        s.frames + s.datagrams_reassembled,
        s.tcp_segments + s.non_ip + s.non_tcp + s.malformed + s.truncated + s.fragments,
        "every frame lands in one bucket: {s:?}"
    );
    out
}

/// Decodes `frame` with a fresh decoder, and checks that every shorter cut of it is
/// refused without a panic (counted as truncated or malformed, never a segment with a
/// payload that is not the packet's).
fn decode(link: LinkType, frame: &[u8]) -> Out {
    for cut in 0..frame.len() {
        let mut d = Decoder::default();
        let p = Packet {
            orig_len: frame.len() as u32,
            ..build::packet(link, &frame[..cut])
        };
        if let Some(s) = d.decode(&p) {
            // Only a cut inside the inner Ethernet padding could still decode.
            assert!(s.payload.len() <= frame.len(), "cut {cut}");
        }
    }
    decode_with(&mut Decoder::default(), link, frame).expect("an inner TCP segment")
}

fn vxlan_frame(vni: u32, port: u16, tcp: &TcpPacket) -> Vec<u8> {
    let udp = build::udp(54321, port, &build::vxlan(vni, &tcp.frame()));
    build::outer_ipv4("192.0.2.1", "192.0.2.2", proto::UDP, &udp)
}

#[test]
fn vxlan_inner_connection_comes_out_with_its_vni() {
    let out = decode(LinkType::ETHERNET, &vxlan_frame(42, 4789, &inner()));
    assert_eq!(out.key, inner().key());
    assert_eq!(out.payload, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(out.tunnel, "vxlan vni=42 192.0.2.1>192.0.2.2");
    assert_eq!(out.id, Some(42));
}

#[test]
fn vxlan_on_the_linux_port_and_on_added_ports() {
    assert_eq!(
        decode(LinkType::ETHERNET, &vxlan_frame(7, 8472, &inner())).id,
        Some(7)
    );
    let odd = vxlan_frame(7, 4790, &inner());
    let mut d = Decoder::default();
    assert!(decode_with(&mut d, LinkType::ETHERNET, &odd).is_none());
    assert_eq!(d.stats().non_tcp, 1);
    let mut ports = TunnelPorts::default();
    ports.vxlan.push(4790);
    let mut d = Decoder::default().with_tunnels(Some(ports));
    assert_eq!(
        decode_with(&mut d, LinkType::ETHERNET, &odd).unwrap().id,
        Some(7)
    );
}

#[test]
fn the_vxlan_shortcut_decodes_as_the_general_walk() {
    let plain = vxlan_frame(42, 4789, &inner());
    let mut tagged_inner = build::vxlan(5, &inner().frame());
    // An 802.1Q tag in the inner frame: not the shortcut's case.
    tagged_inner.splice(8 + 12..8 + 12, [0x81, 0x00, 0x00, 0x64]);
    let tagged = build::outer_ipv4(
        "192.0.2.1",
        "192.0.2.2",
        proto::UDP,
        &build::udp(1, 4789, &tagged_inner),
    );
    let mut no_flag = plain.clone();
    no_flag[14 + 20 + 8] = 0;
    let mut long_udp = plain.clone();
    long_udp[14 + 20 + 4] = 0xFF;
    let mut frames = vec![
        plain,
        tagged,
        no_flag,
        long_udp,
        vxlan_frame(7, 8472, &inner6()),
        vxlan_frame(7, 6081, &inner()),
    ];
    // Levels the link layer records stay when the walk takes over (PPPoE, then VXLAN
    // around IPv6).
    let v6_in_vxlan = build::udp(1, 4789, &build::vxlan(3, &inner6().frame()));
    let outer = build::ipv4_datagram(
        "192.0.2.1".parse().expect("address"),
        "192.0.2.2".parse().expect("address"),
        proto::UDP,
        1,
        &v6_in_vxlan,
    );
    let in_pppoe = build::ethernet(
        ethertype::PPPOE_SESSION,
        &build::pppoe_session(9, ppp::IPV4, &outer),
    );
    assert_eq!(
        decode(LinkType::ETHERNET, &in_pppoe).tunnel,
        "pppoe session=9, vxlan vni=3 192.0.2.1>192.0.2.2"
    );
    frames.push(in_pppoe);
    frames.extend(
        build::ipv4_fragments(&inner().ipv4(), 24)
            .into_iter()
            .map(|f| {
                let frame = build::ethernet(ethertype::IPV4, &f);
                let udp = build::udp(1, 4789, &build::vxlan(9, &frame));
                build::outer_ipv4("192.0.2.1", "192.0.2.2", proto::UDP, &udp)
            }),
    );
    // 6081 as a VXLAN port too: VXLAN comes first.
    let mut ports = TunnelPorts::default();
    ports.vxlan.push(6081);
    let (mut shortcut, mut walk) = (
        Decoder::default().with_tunnels(Some(ports.clone())),
        Decoder::default().with_tunnels(Some(ports)),
    );
    walk.walk_only = true;
    for frame in &frames {
        for cut in 0..=frame.len() {
            let p = Packet {
                orig_len: frame.len() as u32,
                ..build::packet(LinkType::ETHERNET, &frame[..cut])
            };
            let a = decode_with(&mut shortcut, LinkType::ETHERNET, p.data);
            let b = decode_with(&mut walk, LinkType::ETHERNET, p.data);
            assert_eq!(a, b, "cut {cut} of {frame:02x?}");
            assert_eq!(shortcut.stats(), walk.stats(), "cut {cut} of {frame:02x?}");
        }
    }
    assert!(shortcut.stats().tcp_segments >= 4);
}

#[test]
fn the_vni_is_part_of_the_connection_key_and_other_ids_are_not() {
    let a = decode(LinkType::ETHERNET, &vxlan_frame(1, 4789, &inner()));
    let b = decode(LinkType::ETHERNET, &vxlan_frame(2, 4789, &inner()));
    let zero = decode(LinkType::ETHERNET, &vxlan_frame(0, 4789, &inner()));
    assert_ne!(a.segment_id, b.segment_id);
    assert_ne!(zero.segment_id, 0, "VNI 0 differs from no VNI");
    let gre = build::gre(ethertype::IPV4, false, Some(9), None, &inner().ipv4());
    let gre = decode(
        LinkType::ETHERNET,
        &build::outer_ipv4("192.0.2.1", "192.0.2.2", proto::GRE, &gre),
    );
    assert_eq!((gre.id, gre.segment_id), (Some(9), 0));
}

#[test]
fn a_vxlan_header_without_the_vni_flag_is_not_vxlan() {
    let mut frame = vxlan_frame(42, 4789, &inner());
    let flags = 14 + 20 + 8;
    frame[flags] = 0;
    let mut d = Decoder::default();
    assert!(decode_with(&mut d, LinkType::ETHERNET, &frame).is_none());
    assert_eq!(d.stats().non_tcp, 1);
}

#[test]
fn geneve_options_are_skipped_and_its_protocol_type_followed() {
    let options = [0x01, 0x02, 0x80, 0x01, 0xAA, 0xBB, 0xCC, 0xDD]; // one 4-byte option
    let teb = build::geneve(5001, ethertype::TEB, &options, &inner().frame());
    let udp = build::udp(1000, 6081, &teb);
    let out = decode(
        LinkType::ETHERNET,
        &build::outer_ipv4("198.51.100.1", "198.51.100.2", proto::UDP, &udp),
    );
    assert_eq!(out.key, inner().key());
    assert_eq!(out.tunnel, "geneve vni=5001 198.51.100.1>198.51.100.2");
    // Protocol type IPv6: the inner packet is an IPv6 datagram, no Ethernet.
    let ip6 = build::geneve(3, ethertype::IPV6, &[], &inner6().ipv6());
    let udp = build::udp(1000, 6081, &ip6);
    let out = decode(
        LinkType::ETHERNET,
        &build::outer_ipv4("198.51.100.1", "198.51.100.2", proto::UDP, &udp),
    );
    assert_eq!(out.key, inner6().key());
}

#[test]
fn gtp_u_g_pdus_carry_ip_with_or_without_extension_headers() {
    for pdu_session in [false, true] {
        let gtp = build::gtp_u(0x1234_5678, pdu_session, &inner().ipv4());
        let udp = build::udp(2152, 2152, &gtp);
        let out = decode(
            LinkType::ETHERNET,
            &build::outer_ipv4("203.0.113.1", "203.0.113.2", proto::UDP, &udp),
        );
        assert_eq!(out.key, inner().key(), "pdu session {pdu_session}");
        assert_eq!(out.tunnel, "gtp-u teid=305419896 203.0.113.1>203.0.113.2");
    }
    // An echo request (type 1) carries no user packet.
    let mut gtp = build::gtp_u(1, false, &inner().ipv4());
    gtp[1] = 1;
    let udp = build::udp(2152, 2152, &gtp);
    let mut d = Decoder::default();
    let frame = build::outer_ipv4("203.0.113.1", "203.0.113.2", proto::UDP, &udp);
    assert!(decode_with(&mut d, LinkType::ETHERNET, &frame).is_none());
    assert_eq!(d.stats().non_tcp, 1);
}

fn in_gre(payload: &[u8]) -> Vec<u8> {
    build::outer_ipv4("192.0.2.1", "192.0.2.2", proto::GRE, payload)
}

#[test]
fn gre_optional_fields_are_skipped() {
    for (checksum, key, seq) in [
        (false, None, None),
        (true, None, None),
        (false, Some(77), None),
        (true, Some(77), Some(3)),
        (false, None, Some(3)),
    ] {
        let gre = build::gre(ethertype::IPV4, checksum, key, seq, &inner().ipv4());
        let out = decode(LinkType::ETHERNET, &in_gre(&gre));
        assert_eq!(out.key, inner().key(), "{checksum} {key:?} {seq:?}");
        assert_eq!(out.id, key);
    }
    let gre = build::gre(ethertype::IPV6, false, Some(77), None, &inner6().ipv6());
    let out = decode(LinkType::ETHERNET, &in_gre(&gre));
    assert_eq!(out.tunnel, "gre key=77 192.0.2.1>192.0.2.2");
    let teb = build::gre(ethertype::TEB, false, None, None, &inner().frame());
    assert_eq!(decode(LinkType::ETHERNET, &in_gre(&teb)).key, inner().key());
}

#[test]
fn erspan_types_one_two_and_three_carry_the_mirrored_frame() {
    let frame = inner().frame();
    let type1 = build::gre(ethertype::ERSPAN_2, false, None, None, &frame);
    let type2 = build::gre(
        ethertype::ERSPAN_2,
        false,
        None,
        Some(1),
        &build::erspan2(300, &frame),
    );
    let type3 = build::gre(
        ethertype::ERSPAN_3,
        false,
        None,
        Some(1),
        &build::erspan3(301, false, &frame),
    );
    let type3p = build::gre(
        ethertype::ERSPAN_3,
        false,
        None,
        Some(1),
        &build::erspan3(302, true, &frame),
    );
    let cases = [
        (type1, None),
        (type2, Some(300)),
        (type3, Some(301)),
        (type3p, Some(302)),
    ];
    for (gre, session) in cases {
        let out = decode(LinkType::ETHERNET, &in_gre(&gre));
        assert_eq!(out.key, inner().key(), "{session:?}");
        assert_eq!(out.id, session);
    }
    let gre = build::gre(
        ethertype::ERSPAN_2,
        false,
        None,
        Some(1),
        &build::erspan2(300, &frame),
    );
    assert_eq!(
        decode(LinkType::ETHERNET, &in_gre(&gre)).tunnel,
        "erspan session=300 192.0.2.1>192.0.2.2"
    );
}

#[test]
fn gre_versions_and_routing_other_than_rfc_2784_are_not_read() {
    for flags in [0x4000u16, 0x0001] {
        let mut gre = build::gre(ethertype::IPV4, false, None, None, &inner().ipv4());
        gre[0..2].copy_from_slice(&flags.to_be_bytes());
        let mut d = Decoder::default();
        assert!(decode_with(&mut d, LinkType::ETHERNET, &in_gre(&gre)).is_none());
        assert_eq!(d.stats().non_tcp, 1, "{flags:#x}");
    }
}

#[test]
fn ip_in_ip_in_every_combination() {
    let v4 = |protocol, payload: &[u8]| {
        build::ipv4_datagram(
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            protocol,
            1,
            payload,
        )
    };
    let v6 = |next, payload: &[u8]| {
        build::ipv6_datagram(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            next,
            payload,
        )
    };
    let cases = [
        (
            v4(proto::IPV4, &inner().ipv4()),
            inner().key(),
            "ipip 192.0.2.1>192.0.2.2",
        ),
        (
            v4(proto::IPV6, &inner6().ipv6()),
            inner6().key(),
            "ipip 192.0.2.1>192.0.2.2",
        ),
        (
            v6(proto::IPV4, &inner().ipv4()),
            inner().key(),
            "ipip 2001:db8::1>2001:db8::2",
        ),
        (
            v6(proto::IPV6, &inner6().ipv6()),
            inner6().key(),
            "ipip 2001:db8::1>2001:db8::2",
        ),
    ];
    for (ip, key, text) in cases {
        let out = decode(LinkType::RAW, &ip);
        assert_eq!((out.key, out.tunnel.as_str()), (key, text));
    }
}

#[test]
fn mpls_stacks_name_their_bottom_label_and_the_version_nibble_decides() {
    let v4 = build::ethernet(ethertype::MPLS, &build::mpls(&[16, 100], &inner().ipv4()));
    let out = decode(LinkType::ETHERNET, &v4);
    assert_eq!(
        (out.key, out.tunnel.as_str()),
        (inner().key(), "mpls label=100")
    );
    let v6 = build::ethernet(ethertype::MPLS, &build::mpls(&[200], &inner6().ipv6()));
    assert_eq!(decode(LinkType::ETHERNET, &v6).key, inner6().key());
    // An Ethernet pseudowire behind its control word (RFC 4385, RFC 4448).
    let mut pw = vec![0, 0, 0, 0];
    pw.extend_from_slice(&inner().frame());
    let frame = build::ethernet(ethertype::MPLS, &build::mpls(&[300], &pw));
    assert_eq!(decode(LinkType::ETHERNET, &frame).key, inner().key());
}

#[test]
fn pppoe_sessions_carry_ppp() {
    let v4 = build::pppoe_session(0x1234, ppp::IPV4, &inner().ipv4());
    let out = decode(
        LinkType::ETHERNET,
        &build::ethernet(ethertype::PPPOE_SESSION, &v4),
    );
    assert_eq!(
        (out.key, out.tunnel.as_str()),
        (inner().key(), "pppoe session=4660")
    );
    let v6 = build::pppoe_session(1, ppp::IPV6, &inner6().ipv6());
    let tagged = build::ethernet_tagged(&[ethertype::VLAN], ethertype::PPPOE_SESSION, &v6);
    assert_eq!(decode(LinkType::ETHERNET, &tagged).key, inner6().key());
    assert_eq!(decode(LinkType::PPP_ETHER, &v4).key, inner().key());
}

#[test]
fn ppp_hdlc_and_nflog_link_types() {
    let ip = inner().ipv4();
    let mut compressed = vec![0x21];
    compressed.extend_from_slice(&ip);
    let cases = [
        (LinkType::PPP, build::ppp_frame(true, ppp::IPV4, &ip)),
        (LinkType::PPP, build::ppp_frame(false, ppp::IPV4, &ip)),
        (LinkType::PPP, compressed),
        (LinkType::PPP_HDLC, build::ppp_frame(true, ppp::IPV4, &ip)),
        (LinkType::PPP_HDLC, build::chdlc(ethertype::IPV4, &ip)),
        (LinkType::C_HDLC, build::chdlc(ethertype::IPV4, &ip)),
        (LinkType::NFLOG, build::nflog(2, &ip)),
    ];
    for (link, frame) in cases {
        let out = decode(link, &frame);
        assert_eq!(
            (out.key, out.tunnel.as_str()),
            (inner().key(), ""),
            "{link:?}"
        );
    }
    let v6 = build::nflog(10, &inner6().ipv6());
    assert_eq!(decode(LinkType::NFLOG, &v6).key, inner6().key());
    let mpls = build::ppp_frame(true, ppp::MPLS, &build::mpls(&[5], &ip));
    assert_eq!(decode(LinkType::PPP, &mpls).tunnel, "mpls label=5");
}

#[test]
fn an_nflog_record_without_a_packet_is_not_ip() {
    let mut d = Decoder::default();
    assert!(decode_with(
        &mut d,
        LinkType::NFLOG,
        &[2, 0, 0, 5, 8, 0, 10, 0, b'x', 0, 0, 0]
    )
    .is_none());
    assert_eq!(d.stats().non_ip, 1);
}

#[test]
fn nesting_is_followed_and_described_outermost_first() {
    // VLAN → IPv4 → UDP → VXLAN → Ethernet → VLAN → IPv6 → TCP.
    let inner_frame = build::ethernet_tagged(&[ethertype::VLAN], ethertype::IPV6, &inner6().ipv6());
    let udp = build::udp(1, 4789, &build::vxlan(42, &inner_frame));
    let outer = build::ipv4_datagram(
        "192.0.2.1".parse().unwrap(),
        "192.0.2.2".parse().unwrap(),
        proto::UDP,
        3,
        &udp,
    );
    let frame = build::ethernet_tagged(&[ethertype::VLAN], ethertype::IPV4, &outer);
    let out = decode(LinkType::ETHERNET, &frame);
    assert_eq!(out.key, inner6().key());
    assert_eq!(out.tunnel, "vxlan vni=42 192.0.2.1>192.0.2.2");
    // MPLS → GRE → VXLAN: three levels.
    let gre = build::gre(ethertype::IPV4, false, Some(5), None, &{
        let udp = build::udp(1, 4789, &build::vxlan(42, &inner().frame()));
        build::ipv4_datagram(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            proto::UDP,
            4,
            &udp,
        )
    });
    let outer = build::ipv4_datagram(
        "192.0.2.1".parse().unwrap(),
        "192.0.2.2".parse().unwrap(),
        proto::GRE,
        5,
        &gre,
    );
    let frame = build::ethernet(ethertype::MPLS, &build::mpls(&[16], &outer));
    let out = decode(LinkType::ETHERNET, &frame);
    assert_eq!(
        out.tunnel,
        "mpls label=16, gre key=5 192.0.2.1>192.0.2.2, vxlan vni=42 10.0.0.1>10.0.0.2"
    );
    assert_eq!(out.id, Some(42));
}

/// `levels` IP-in-IP headers around the inner packet.
fn ipip_nested(levels: usize) -> Vec<u8> {
    let mut ip = inner().ipv4();
    for _ in 0..levels {
        ip = build::ipv4_datagram(
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            proto::IPV4,
            1,
            &ip,
        );
    }
    ip
}

#[test]
fn nesting_deeper_than_the_bound_is_malformed() {
    let out = decode(LinkType::RAW, &ipip_nested(tunnel::MAX_DEPTH));
    assert_eq!(out.tunnel.matches("ipip").count(), tunnel::MAX_DEPTH);
    let mut d = Decoder::default();
    let frame = ipip_nested(tunnel::MAX_DEPTH + 1);
    assert!(decode_with(&mut d, LinkType::RAW, &frame).is_none());
    assert_eq!(d.stats().malformed, 1);
}

#[test]
fn without_tunnels_encapsulated_packets_are_not_tcp_or_not_ip() {
    let frames = [
        (vxlan_frame(42, 4789, &inner()), "non_tcp"),
        (
            in_gre(&build::gre(
                ethertype::IPV4,
                false,
                None,
                None,
                &inner().ipv4(),
            )),
            "non_tcp",
        ),
        (
            build::ethernet(ethertype::MPLS, &build::mpls(&[16], &inner().ipv4())),
            "non_ip",
        ),
        (
            build::ethernet(
                ethertype::PPPOE_SESSION,
                &build::pppoe_session(1, ppp::IPV4, &inner().ipv4()),
            ),
            "non_ip",
        ),
    ];
    for (frame, bucket) in frames {
        let mut d = Decoder::default().with_tunnels(None);
        assert!(decode_with(&mut d, LinkType::ETHERNET, &frame).is_none());
        let s = d.stats();
        let counted = if bucket == "non_tcp" {
            s.non_tcp
        } else {
            s.non_ip
        };
        assert_eq!(counted, 1, "{bucket}: {s:?}");
    }
    // A plain packet is the same either way, and has no tunnel.
    let mut d = Decoder::default().with_tunnels(None);
    let out = decode_with(&mut d, LinkType::ETHERNET, &inner().frame()).unwrap();
    assert_eq!((out.key, out.tunnel.as_str()), (inner().key(), ""));
}

#[test]
fn outer_fragments_of_a_vxlan_datagram_are_reassembled() {
    let udp = build::udp(
        1,
        4789,
        &build::vxlan(42, &inner().payload(&[7; 600]).frame()),
    );
    let outer = build::ipv4_datagram(
        "192.0.2.1".parse().unwrap(),
        "192.0.2.2".parse().unwrap(),
        proto::UDP,
        77,
        &udp,
    );
    let frags = build::ipv4_fragments(&outer, 256);
    assert!(frags.len() > 2);
    let mut d = Decoder::default();
    let mut outs = Vec::new();
    for f in &frags {
        outs.extend(decode_with(&mut d, LinkType::RAW, f));
    }
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].payload, vec![7; 600]);
    assert_eq!(outs[0].tunnel, "vxlan vni=42 192.0.2.1>192.0.2.2");
}

#[test]
fn inner_fragments_are_reassembled_inside_the_tunnel() {
    let inner_ip = inner().payload(&[9; 500]).ip_id(5).ipv4();
    let mut d = Decoder::default();
    let mut outs = Vec::new();
    for f in build::ipv4_fragments(&inner_ip, 200) {
        let gre = build::gre(ethertype::IPV4, false, Some(1), None, &f);
        outs.extend(decode_with(&mut d, LinkType::ETHERNET, &in_gre(&gre)));
    }
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].payload, vec![9; 500]);
    assert_eq!(outs[0].id, Some(1));
}

#[test]
fn inner_fragments_inside_a_reassembled_outer_datagram_are_reassembled_too() {
    let inner_ip = inner().payload(&[3; 400]).ip_id(6).ipv4();
    let inner_frags = build::ipv4_fragments(&inner_ip, 200);
    let mut d = Decoder::default();
    let mut outs = Vec::new();
    for (i, f) in inner_frags.iter().enumerate() {
        let outer = build::ipv4_datagram(
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            proto::IPV4,
            100 + i as u16,
            f,
        );
        for g in build::ipv4_fragments(&outer, 96) {
            outs.extend(decode_with(&mut d, LinkType::RAW, &g));
        }
    }
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].payload, vec![3; 400]);
}

#[test]
fn a_segment_grows_by_one_pointer_only() {
    // 96 bytes before tunnels (x86-64); `Option<&Tunnels>` adds 8.
    assert_eq!(std::mem::size_of::<Segment<'_>>(), 104);
    assert_eq!(std::mem::size_of::<Option<&Tunnels>>(), 8);
}
