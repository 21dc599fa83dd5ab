//! Decoder tests: each builds its frames with [`super::build`] and checks the segment or
//! the counter it lands in.

use super::build::{self, ethertype, proto, TcpPacket};
use super::*;
use crate::capture::LinkType;

/// An owned copy of a segment, so the decoder can be used again.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    ts: Timestamp,
    key: FlowKey,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    window: u16,
    urgent_ptr: u16,
    options: TcpOptions,
    payload: Vec<u8>,
}

fn at_us(micros: i64) -> Timestamp {
    Timestamp::from_secs_micros(0, micros)
}

fn feed_at(d: &mut Decoder, link: LinkType, frame: &[u8], ts: Timestamp) -> Option<Seen> {
    d.decode(&build::packet_at(link, frame, ts)).map(Seen::from)
}

impl From<Segment<'_>> for Seen {
    fn from(s: Segment<'_>) -> Seen {
        Seen {
            ts: s.ts,
            key: s.key,
            flags: s.flags,
            seq: s.seq,
            ack: s.ack,
            window: s.window,
            urgent_ptr: s.urgent_ptr,
            options: s.options,
            payload: s.payload.to_vec(),
        }
    }
}

fn feed(d: &mut Decoder, link: LinkType, frame: &[u8]) -> Option<Seen> {
    feed_at(d, link, frame, at_us(0))
}

/// Decodes one frame with a fresh decoder.
fn one(link: LinkType, frame: &[u8]) -> (Option<Seen>, DecodeStats) {
    let mut d = Decoder::default();
    let seen = feed(&mut d, link, frame);
    check_invariant(d.stats());
    (seen, d.stats().clone())
}

/// Feeds raw IP datagrams (fragments) on a raw-IP link at the given times (µs).
fn feed_ip(d: &mut Decoder, datagrams: &[Vec<u8>], times: &[i64]) -> Vec<Seen> {
    let out = datagrams
        .iter()
        .zip(times)
        .filter_map(|(dg, &t)| feed_at(d, LinkType::RAW, dg, at_us(t)))
        .collect();
    check_invariant(d.stats());
    out
}

fn check_invariant(s: &DecodeStats) {
    assert_eq!(
        s.frames,
        s.tcp_segments + s.non_ip + s.non_tcp + s.malformed + s.truncated + s.fragments
            - s.datagrams_reassembled,
        "every frame lands in one bucket: {s:?}"
    );
}

/// A named change to a built datagram, to make it malformed.
type Edit = (&'static str, fn(&mut Vec<u8>));

fn client() -> TcpPacket {
    TcpPacket::new("192.0.2.10:40000", "198.51.100.20:80")
        .seq(1000)
        .ack(2000)
        .psh()
}

fn client6() -> TcpPacket {
    TcpPacket::new("[2001:db8::10]:40000", "[2001:db8::20]:80")
        .seq(1000)
        .ack(2000)
        .psh()
}

/// Bytes 0, 1, 2… so that any misplaced byte shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

// ---------------------------------------------------------------- link layers

#[test]
fn ethernet_ipv4_segment_carries_every_header_field() {
    let frame = TcpPacket::new("192.0.2.10:40000", "198.51.100.20:80")
        .seq(0xdead_beef)
        .ack(0x0102_0304)
        .window(4321)
        .urgent(3)
        .wscale(7)
        .timestamps(11, 22)
        .payload(b"GET / HTTP/1.1\r\n\r\n")
        .ipv4_frame();
    let mut d = Decoder::default();
    let s = feed_at(&mut d, LinkType::ETHERNET, &frame, at_us(1_500_000)).expect("segment");
    assert_eq!(s.ts, at_us(1_500_000));
    assert_eq!(
        s.key.src,
        Endpoint {
            ip: "192.0.2.10".parse().unwrap(),
            port: 40000
        }
    );
    assert_eq!(
        s.key.dst,
        Endpoint {
            ip: "198.51.100.20".parse().unwrap(),
            port: 80
        }
    );
    assert_eq!(
        (s.seq, s.ack, s.window, s.urgent_ptr),
        (0xdead_beef, 0x0102_0304, 4321, 3)
    );
    assert!(s.flags.ack() && s.flags.urg() && !s.flags.syn());
    assert_eq!(
        s.options,
        TcpOptions {
            window_scale: Some(7),
            timestamp: Some((11, 22))
        }
    );
    assert_eq!(s.payload, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(d.stats().tcp_segments, 1);
}

#[test]
fn ethernet_ipv6_segment_is_decoded() {
    let (s, _) = one(LinkType::ETHERNET, &client6().payload(b"v6").ipv6_frame());
    let s = s.expect("segment");
    assert_eq!(s.key.src.ip, "2001:db8::10".parse::<IpAddr>().unwrap());
    assert_eq!(s.key.dst.port, 80);
    assert_eq!(s.payload, b"v6");
}

#[test]
fn every_tcp_flag_bit_is_passed_through() {
    let (s, _) = one(LinkType::ETHERNET, &client().flags(0xff).ipv4_frame());
    assert_eq!(s.expect("segment").flags, TcpFlags(0xff));
}

#[test]
fn vlan_tags_of_every_kind_and_depth_are_followed() {
    let ip = client().payload(b"tagged").ipv4();
    let stacks: [&[u16]; 4] = [
        &[ethertype::VLAN],
        &[ethertype::QINQ, ethertype::VLAN],
        &[ethertype::QINQ_LEGACY, ethertype::QINQ, ethertype::VLAN],
        &[ethertype::VLAN; 6],
    ];
    for tags in stacks {
        let (s, _) = one(
            LinkType::ETHERNET,
            &build::ethernet_tagged(tags, ethertype::IPV4, &ip),
        );
        assert_eq!(s.expect("segment").payload, b"tagged", "tags {tags:x?}");
    }
    let ip6 = client6().payload(b"tagged6").ipv6();
    let frame = build::ethernet_tagged(&[ethertype::QINQ, ethertype::VLAN], ethertype::IPV6, &ip6);
    assert_eq!(
        one(LinkType::ETHERNET, &frame).0.expect("segment").payload,
        b"tagged6"
    );
}

#[test]
fn linux_cooked_v1_and_v2_carry_ipv4_and_ipv6() {
    let v4 = client().payload(b"four").ipv4();
    let v6 = client6().payload(b"six").ipv6();
    for (link, make) in [
        (
            LinkType::LINUX_SLL,
            build::linux_sll as fn(u16, &[u8]) -> Vec<u8>,
        ),
        (LinkType::LINUX_SLL2, build::linux_sll2),
    ] {
        assert_eq!(
            one(link, &make(ethertype::IPV4, &v4))
                .0
                .expect("v4")
                .payload,
            b"four"
        );
        assert_eq!(
            one(link, &make(ethertype::IPV6, &v6))
                .0
                .expect("v6")
                .payload,
            b"six"
        );
        let (s, st) = one(link, &make(ethertype::ARP, &[0; 28]));
        assert!(s.is_none());
        assert_eq!(st.non_ip, 1);
    }
}

#[test]
fn linux_cooked_frames_may_carry_a_vlan_tag() {
    let ip = client().payload(b"x").ipv4();
    let mut inner = vec![0, 100];
    inner.extend_from_slice(&ethertype::IPV4.to_be_bytes());
    inner.extend_from_slice(&ip);
    let (s, _) = one(
        LinkType::LINUX_SLL,
        &build::linux_sll(ethertype::VLAN, &inner),
    );
    assert_eq!(s.expect("segment").payload, b"x");
}

#[test]
fn generic_raw_ip_link_types_decide_by_the_version_nibble() {
    let v4 = client().payload(b"four").ipv4();
    let v6 = client6().payload(b"six").ipv6();
    for link in [LinkType::RAW, LinkType::RAW_12, LinkType::RAW_14] {
        assert_eq!(one(link, &v4).0.expect("v4").payload, b"four");
        assert_eq!(one(link, &v6).0.expect("v6").payload, b"six");
        let (s, st) = one(link, &[0x50; 40]);
        assert!(s.is_none());
        assert_eq!(st.malformed, 1, "version 5 on {link:?}");
    }
}

#[test]
fn raw_ipv4_and_raw_ipv6_link_types_accept_only_their_version() {
    let v4 = client().ipv4();
    let v6 = client6().ipv6();
    assert!(one(LinkType::IPV4, &v4).0.is_some());
    assert!(one(LinkType::IPV6, &v6).0.is_some());
    assert_eq!(one(LinkType::IPV4, &v6).1.malformed, 1);
    assert_eq!(one(LinkType::IPV6, &v4).1.malformed, 1);
}

#[test]
fn bsd_null_family_is_read_in_either_byte_order() {
    let v4 = client().payload(b"four").ipv4();
    let v6 = client6().payload(b"six").ipv6();
    for big_endian in [false, true] {
        let frame = build::bsd_null(2, big_endian, &v4);
        assert_eq!(one(LinkType::NULL, &frame).0.expect("v4").payload, b"four");
        for inet6 in [10, 24, 28, 30] {
            let frame = build::bsd_null(inet6, big_endian, &v6);
            assert_eq!(
                one(LinkType::NULL, &frame).0.expect("v6").payload,
                b"six",
                "AF {inet6}"
            );
        }
    }
    let (s, st) = one(LinkType::NULL, &build::bsd_null(7, false, &v4));
    assert!(s.is_none());
    assert_eq!(st.non_ip, 1);
}

#[test]
fn bsd_loop_family_is_big_endian_only() {
    let v4 = client().ipv4();
    assert!(one(LinkType::LOOP, &build::bsd_loop(2, &v4)).0.is_some());
    assert!(one(LinkType::LOOP, &build::bsd_loop(24, &client6().ipv6()))
        .0
        .is_some());
    let (s, st) = one(LinkType::LOOP, &build::bsd_null(2, false, &v4));
    assert!(s.is_none());
    assert_eq!(st.non_ip, 1);
}

#[test]
fn non_ip_ethertypes_and_unknown_link_types_count_as_non_ip() {
    assert_eq!(
        one(
            LinkType::ETHERNET,
            &build::ethernet(ethertype::ARP, &[0; 28])
        )
        .1
        .non_ip,
        1
    );
    // An 802.3 length field instead of an EtherType.
    assert_eq!(
        one(LinkType::ETHERNET, &build::ethernet(46, &[0; 46]))
            .1
            .non_ip,
        1
    );
    assert_eq!(one(LinkType(147), &client().ipv4_frame()).1.non_ip, 1);
}

// ---------------------------------------------------------------- IPv4

#[test]
fn ethernet_padding_after_the_datagram_is_ignored() {
    let mut frame = client().payload(b"ab").ipv4_frame();
    frame.extend_from_slice(&[0xee; 12]);
    assert_eq!(
        one(LinkType::ETHERNET, &frame).0.expect("segment").payload,
        b"ab"
    );
}

#[test]
fn datagram_cut_by_the_snapshot_length_is_dropped_whole_as_truncated() {
    let frame = client().payload(&[b'x'; 200]).ipv4_frame();
    let mut d = Decoder::default();
    let cut = Packet {
        ts: at_us(0),
        link: LinkType::ETHERNET,
        data: &frame[..96],
        orig_len: frame.len() as u32,
    };
    assert!(d.decode(&cut).is_none());
    assert_eq!((d.stats().truncated, d.stats().malformed), (1, 0));
}

#[test]
fn total_length_beyond_an_uncut_frame_is_malformed() {
    let mut ip = client().payload(b"abcd").ipv4();
    ip[2..4].copy_from_slice(&1500u16.to_be_bytes());
    let (s, st) = one(LinkType::ETHERNET, &build::ethernet(ethertype::IPV4, &ip));
    assert!(s.is_none());
    assert_eq!((st.malformed, st.truncated), (1, 0));
}

#[test]
fn ipv4_header_contradictions_are_malformed() {
    let good = client().payload(b"abcd").ipv4();
    let edits: [Edit; 5] = [
        ("IHL below 5", |ip| ip[0] = 0x43),
        ("IHL beyond the datagram", |ip| ip[0] = 0x4f),
        ("total length below the header", |ip| {
            ip[2..4].copy_from_slice(&12u16.to_be_bytes())
        }),
        ("version 6 under the IPv4 EtherType", |ip| ip[0] = 0x65),
        ("total length 0 (as TSO captures show)", |ip| {
            ip[2..4].copy_from_slice(&[0, 0])
        }),
    ];
    for (what, edit) in edits {
        let mut ip = good.clone();
        edit(&mut ip);
        let (s, st) = one(LinkType::ETHERNET, &build::ethernet(ethertype::IPV4, &ip));
        assert!(s.is_none(), "{what}");
        assert_eq!(st.malformed, 1, "{what}");
    }
}

#[test]
fn ipv4_options_are_skipped() {
    let ip = client().payload(b"opts").ipv4();
    // Insert 8 bytes of options (NOP × 7, EOL) and fix IHL and total length.
    let mut with = ip[..20].to_vec();
    with.extend_from_slice(&[1, 1, 1, 1, 1, 1, 1, 0]);
    with.extend_from_slice(&ip[20..]);
    with[0] = 0x47;
    let total = with.len() as u16;
    with[2..4].copy_from_slice(&total.to_be_bytes());
    let (s, _) = one(LinkType::RAW, &with);
    assert_eq!(s.expect("segment").payload, b"opts");
}

#[test]
fn checksums_are_not_verified() {
    let mut ip = client().payload(b"sum").ipv4();
    ip[10] ^= 0xff; // IPv4 header checksum
    ip[36] ^= 0xff; // TCP checksum
    assert_eq!(one(LinkType::RAW, &ip).0.expect("segment").payload, b"sum");
}

#[test]
fn other_ip_protocols_count_as_non_tcp() {
    let src = "192.0.2.1".parse().unwrap();
    let dst = "192.0.2.2".parse().unwrap();
    for protocol in [1, proto::UDP, 132] {
        let ip = build::ipv4_datagram(src, dst, protocol, 1, &[0; 16]);
        assert_eq!(one(LinkType::RAW, &ip).1.non_tcp, 1, "protocol {protocol}");
    }
}

// ---------------------------------------------------------------- TCP

#[test]
fn tcp_header_problems_are_malformed() {
    let good = client().payload(b"abcd").ipv4();
    let edits: [Edit; 2] = [
        ("data offset below 5", |ip| ip[32] = 0x40),
        ("data offset beyond the datagram", |ip| ip[32] = 0xf0),
    ];
    for (what, edit) in edits {
        let mut ip = good.clone();
        edit(&mut ip);
        assert_eq!(one(LinkType::RAW, &ip).1.malformed, 1, "{what}");
    }
    // A TCP header cut by the IP total length (the rest is Ethernet padding).
    let mut ip = good.clone();
    ip[2..4].copy_from_slice(&28u16.to_be_bytes());
    assert_eq!(
        one(LinkType::RAW, &ip).1.malformed,
        1,
        "TCP header cut by total length"
    );
}

#[test]
fn malformed_tcp_options_keep_the_segment() {
    let frame = client()
        .wscale(3)
        .raw_options(&[8, 1, 0, 0])
        .payload(b"p")
        .ipv4_frame();
    let s = one(LinkType::ETHERNET, &frame).0.expect("segment");
    assert_eq!(
        s.options,
        TcpOptions {
            window_scale: Some(3),
            timestamp: None
        }
    );
    assert_eq!(s.payload, b"p");
}

// ---------------------------------------------------------------- IPv6

#[test]
fn ipv6_extension_headers_are_walked_to_tcp() {
    let chains: [&[u8]; 4] = [
        &[proto::HOP_BY_HOP],
        &[
            proto::HOP_BY_HOP,
            proto::DEST_OPTS,
            proto::ROUTING,
            proto::FRAGMENT,
            proto::AUTH,
            proto::DEST_OPTS,
        ],
        &[proto::MOBILITY, proto::HIP, proto::SHIM6],
        &[proto::AUTH, proto::AUTH],
    ];
    for chain in chains {
        let ip = client6().payload(b"deep").ipv6_with_extensions(chain);
        let (s, st) = one(LinkType::RAW, &ip);
        assert_eq!(
            s.map(|s| s.payload),
            Some(b"deep".to_vec()),
            "chain {chain:?}: {st:?}"
        );
    }
}

#[test]
fn esp_and_no_next_header_end_the_ipv6_walk() {
    let src = "2001:db8::1".parse().unwrap();
    let dst = "2001:db8::2".parse().unwrap();
    for next in [proto::ESP, proto::NO_NEXT, proto::UDP] {
        let ip = build::ipv6_datagram(src, dst, next, &[0; 24]);
        assert_eq!(one(LinkType::RAW, &ip).1.non_tcp, 1, "next header {next}");
    }
}

#[test]
fn ipv6_extension_header_running_past_the_payload_is_malformed() {
    let mut ip = client6().ipv6_with_extensions(&[proto::DEST_OPTS]);
    ip[41] = 200; // header length: 201 × 8 bytes
    assert_eq!(one(LinkType::RAW, &ip).1.malformed, 1);
}

#[test]
fn ipv6_payload_length_zero_is_dropped() {
    for chain in [&[][..], &[proto::HOP_BY_HOP][..]] {
        let mut ip = client6().payload(b"jumbo").ipv6_with_extensions(chain);
        ip[4..6].copy_from_slice(&[0, 0]);
        let (s, st) = one(LinkType::RAW, &ip);
        assert!(s.is_none());
        assert_eq!(st.malformed, 1);
    }
}

#[test]
fn ipv6_captured_shorter_than_its_payload_length_is_dropped() {
    let mut ip = client6().payload(b"abc").ipv6();
    ip.truncate(ip.len() - 1);
    assert_eq!(one(LinkType::RAW, &ip).1.malformed, 1);
}

// ---------------------------------------------------------------- truncation

#[test]
fn every_truncation_point_of_every_frame_kind_returns_none_without_panic() {
    let v4 = client()
        .wscale(2)
        .timestamps(1, 2)
        .payload(b"payload")
        .ipv4();
    let v6 = client6().payload(b"payload").ipv6_with_extensions(&[
        proto::HOP_BY_HOP,
        proto::AUTH,
        proto::DEST_OPTS,
    ]);
    let frames = [
        (LinkType::ETHERNET, build::ethernet(ethertype::IPV4, &v4)),
        (
            LinkType::ETHERNET,
            build::ethernet_tagged(&[ethertype::QINQ, ethertype::VLAN], ethertype::IPV6, &v6),
        ),
        (LinkType::LINUX_SLL, build::linux_sll(ethertype::IPV4, &v4)),
        (
            LinkType::LINUX_SLL2,
            build::linux_sll2(ethertype::IPV6, &v6),
        ),
        (LinkType::NULL, build::bsd_null(2, false, &v4)),
        (LinkType::LOOP, build::bsd_loop(30, &v6)),
        (LinkType::RAW, v4.clone()),
        (LinkType::IPV6, v6.clone()),
    ];
    for (link, frame) in &frames {
        assert!(one(*link, frame).0.is_some(), "whole frame on {link:?}");
        for n in 0..frame.len() {
            let mut d = Decoder::default();
            let snapped = Packet {
                ts: at_us(0),
                link: *link,
                data: &frame[..n],
                orig_len: frame.len() as u32,
            };
            assert!(d.decode(&snapped).is_none(), "{link:?} cut at {n}");
            assert_eq!(d.stats().truncated, 1, "{link:?} cut at {n}");
            let mut d = Decoder::default();
            assert!(
                feed(&mut d, *link, &frame[..n]).is_none(),
                "{link:?} short at {n}"
            );
            assert_eq!(d.stats().malformed, 1, "{link:?} short at {n}");
        }
    }
}

// ---------------------------------------------------------------- IPv4 fragments

fn v4_datagram(len: usize) -> Vec<u8> {
    client().ip_id(0x4242).payload(&pattern(len)).ipv4()
}

#[test]
fn ipv4_fragments_in_order_are_reassembled() {
    let frags = build::ipv4_fragments(&v4_datagram(330), 64);
    assert_eq!(frags.len(), 6);
    let mut d = Decoder::default();
    let seen = feed_ip(&mut d, &frags, &[1, 2, 3, 4, 5, 6]);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].payload, pattern(330));
    assert_eq!(seen[0].seq, 1000);
    let st = d.stats();
    assert_eq!(
        (st.fragments, st.datagrams_reassembled, st.fragments_pending),
        (6, 1, 0)
    );
    assert_eq!(d.fragmented_hosts(), 0);
}

#[test]
fn ipv4_fragments_in_reverse_order_are_reassembled() {
    let mut frags = build::ipv4_fragments(&v4_datagram(330), 64);
    frags.reverse();
    let seen = feed_ip(&mut Decoder::default(), &frags, &[1, 2, 3, 4, 5, 6]);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].payload, pattern(330));
}

#[test]
fn ipv4_fragments_shuffled_are_reassembled() {
    let frags = build::ipv4_fragments(&v4_datagram(330), 64);
    let shuffled: Vec<Vec<u8>> = [3, 0, 5, 2, 4, 1]
        .iter()
        .map(|&i| frags[i].clone())
        .collect();
    let seen = feed_ip(&mut Decoder::default(), &shuffled, &[1, 2, 3, 4, 5, 6]);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].payload, pattern(330));
}

#[test]
fn duplicated_ipv4_fragments_are_tolerated() {
    let frags = build::ipv4_fragments(&v4_datagram(330), 64);
    let order = [0, 0, 2, 1, 2, 3, 4, 3, 5];
    let dup: Vec<Vec<u8>> = order.iter().map(|&i| frags[i].clone()).collect();
    let mut d = Decoder::default();
    let seen = feed_ip(&mut d, &dup, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].payload, pattern(330));
    assert_eq!(d.stats().fragments, 9);
    // The datagram is gone: a late duplicate starts a new, incomplete one.
    assert!(feed_ip(&mut d, &frags[..1], &[10]).is_empty());
    assert_eq!(d.stats().fragments_pending, 1);
}

#[test]
fn overlapping_ipv4_fragments_keep_the_bytes_received_first() {
    // Same header, different payload bytes: "a"s and "b"s.
    let a = client().payload(&[b'a'; 100]).ipv4();
    let b = client().payload(&[b'b'; 100]).ipv4();
    // TCP payload starts at offset 20 of the IP payload.
    let head_a = build::ipv4_fragment(&a, 0, 64, true);
    let tail_b = build::ipv4_fragment(&b, 32, 88, false);

    let seen = feed_ip(
        &mut Decoder::default(),
        &[head_a.clone(), tail_b.clone()],
        &[1, 2],
    );
    let mut expect = vec![b'a'; 44];
    expect.extend_from_slice(&[b'b'; 56]);
    assert_eq!(seen[0].payload, expect);

    let seen = feed_ip(&mut Decoder::default(), &[tail_b, head_a], &[1, 2]);
    let mut expect = vec![b'a'; 12];
    expect.extend_from_slice(&[b'b'; 88]);
    assert_eq!(seen[0].payload, expect);
}

#[test]
fn fragment_bridging_two_received_ranges_fills_only_the_gap() {
    let a = client().payload(&[b'a'; 100]).ipv4();
    let b = client().payload(&[b'b'; 100]).ipv4();
    let frags = [
        build::ipv4_fragment(&a, 0, 32, true),   // [0, 32)
        build::ipv4_fragment(&a, 48, 16, true),  // [48, 64)
        build::ipv4_fragment(&b, 24, 48, true),  // [24, 72): fills [32, 48) and [64, 72)
        build::ipv4_fragment(&a, 64, 56, false), // [64, 120): only [72, 120) is new
    ];
    let seen = feed_ip(&mut Decoder::default(), &frags, &[1, 2, 3, 4]);
    let mut expect = vec![b'a'; 12]; // IP payload [20, 32)
    expect.extend_from_slice(&[b'b'; 16]); // [32, 48)
    expect.extend_from_slice(&[b'a'; 16]); // [48, 64)
    expect.extend_from_slice(&[b'b'; 8]); // [64, 72)
    expect.extend_from_slice(&[b'a'; 48]); // [72, 120)
    assert_eq!(seen[0].payload, expect);
}

#[test]
fn tcp_header_split_across_tiny_fragments_is_reassembled() {
    let frags = build::ipv4_fragments(&client().wscale(5).payload(b"tiny").ipv4(), 8);
    let mut order = frags.clone();
    order.rotate_left(2);
    let seen = feed_ip(&mut Decoder::default(), &order, &[1, 2, 3, 4]);
    assert_eq!(seen[0].payload, b"tiny");
    assert_eq!(seen[0].options.window_scale, Some(5));
}

#[test]
fn reassembled_datagram_takes_the_time_of_the_completing_fragment() {
    let frags = build::ipv4_fragments(&v4_datagram(200), 64);
    // The middle fragment completes the datagram, though another came later in time order.
    let order = vec![
        frags[0].clone(),
        frags[3].clone(),
        frags[2].clone(),
        frags[1].clone(),
    ];
    let seen = feed_ip(&mut Decoder::default(), &order, &[50, 10, 40, 30]);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].ts, at_us(30));
}

#[test]
fn interleaved_datagrams_are_kept_apart() {
    let one_ = build::ipv4_fragments(&client().ip_id(1).payload(&[1; 100]).ipv4(), 64);
    let two = build::ipv4_fragments(&client().ip_id(2).payload(&[2; 100]).ipv4(), 64);
    let frames = vec![
        one_[0].clone(),
        two[1].clone(),
        two[0].clone(),
        one_[1].clone(),
    ];
    let seen = feed_ip(&mut Decoder::default(), &frames, &[1, 2, 3, 4]);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].payload, vec![2; 100]);
    assert_eq!(seen[1].payload, vec![1; 100]);
}

#[test]
fn fragments_of_non_tcp_datagrams_are_not_held() {
    let src = "192.0.2.1".parse().unwrap();
    let dst = "192.0.2.2".parse().unwrap();
    // SCTP: neither TCP nor an encapsulation (UDP fragments are held for VXLAN & co.).
    let sctp = build::ipv4_datagram(src, dst, 132, 9, &[0; 100]);
    let mut d = Decoder::default();
    feed_ip(&mut d, &build::ipv4_fragments(&sctp, 64), &[1, 2]);
    assert_eq!(
        (d.stats().non_tcp, d.stats().fragments, d.fragmented_hosts()),
        (2, 0, 0)
    );
}

#[test]
fn fragments_contradicting_the_datagram_length_are_discarded() {
    let dg = v4_datagram(200);
    let frags = build::ipv4_fragments(&dg, 64);
    let mut d = Decoder::default();
    feed_ip(&mut d, &frags[..2], &[1, 2]); // [0, 128) held
    let short_last = build::ipv4_fragment(&dg, 8, 32, false); // claims the end is 40
    let empty_more = build::ipv4_fragment(&dg, 128, 0, true);
    assert!(feed_ip(&mut d, &[short_last, empty_more], &[3, 4]).is_empty());
    assert_eq!(d.stats().fragments_discarded_invalid, 2);
    // The true last fragment still completes it.
    let seen = feed_ip(&mut d, &frags[2..], &[5, 6]);
    assert_eq!(seen[0].payload, pattern(200));
    // A second "last" fragment with another end is refused.
    let mut d = Decoder::default();
    feed_ip(&mut d, &[frags[3].clone()], &[1]);
    feed_ip(&mut d, &[build::ipv4_fragment(&dg, 64, 64, false)], &[2]);
    assert_eq!(d.stats().fragments_discarded_invalid, 1);
}

#[test]
fn fragment_reaching_beyond_65535_bytes_is_discarded() {
    let mut f = build::ipv4_fragment(&v4_datagram(100), 0, 16, false);
    f[6..8].copy_from_slice(&0x1fffu16.to_be_bytes()); // offset 65528 + 16 bytes
    let mut d = Decoder::default();
    assert!(feed_ip(&mut d, &[f], &[1]).is_empty());
    assert_eq!(d.stats().fragments_discarded_invalid, 1);
    assert_eq!(d.fragmented_hosts(), 0);
}

#[test]
fn ipv4_datagram_of_the_largest_size_is_reassembled() {
    // 65535 - 20 (IP) - 20 (TCP) bytes of payload.
    let dg = v4_datagram(65_495);
    let frags = build::ipv4_fragments(&dg, 1480);
    let times: Vec<i64> = (0..frags.len() as i64).collect();
    let seen = feed_ip(&mut Decoder::default(), &frags, &times);
    assert_eq!(seen[0].payload.len(), 65_495);
}

#[test]
fn full_host_table_discards_the_host_with_the_oldest_fragments() {
    let to = |dst: &str, id: u16| {
        TcpPacket::new("192.0.2.1:1000", dst)
            .ip_id(id)
            .payload(&pattern(100))
            .ipv4()
    };
    let (a, b, c) = (
        to("10.0.0.1:80", 1),
        to("10.0.0.2:80", 2),
        to("10.0.0.3:80", 3),
    );
    let first = |dg: &Vec<u8>| build::ipv4_fragment(dg, 0, 64, true);
    let last = |dg: &Vec<u8>| build::ipv4_fragment(dg, 64, 56, false);

    let mut d = Decoder::new(2);
    feed_ip(&mut d, &[first(&a), first(&b)], &[1, 2]);
    assert_eq!(d.fragmented_hosts(), 2);
    feed_ip(&mut d, &[first(&c)], &[3]); // a's host goes
    assert_eq!(d.fragmented_hosts(), 2);
    assert_eq!(d.stats().fragments_discarded_hosts, 1);

    let seen = feed_ip(&mut d, &[last(&b), last(&c), last(&a)], &[4, 5, 6]);
    assert_eq!(seen.len(), 2, "b and c complete, a lost its first fragment");
    assert_eq!(d.stats().fragments_pending, 1);
}

#[test]
fn host_evicted_from_a_full_table_after_its_timeout_counts_as_timed_out() {
    let to = |dst: &str| {
        TcpPacket::new("192.0.2.1:1000", dst)
            .payload(&pattern(100))
            .ipv4()
    };
    let (a, b) = (to("10.0.0.1:80"), to("10.0.0.2:80"));
    let mut d = Decoder::new(1);
    feed_ip(&mut d, &[build::ipv4_fragment(&a, 0, 64, true)], &[0]);
    feed_ip(
        &mut d,
        &[build::ipv4_fragment(&b, 0, 64, true)],
        &[31 * SEC],
    );
    let st = d.stats();
    assert_eq!(
        (st.fragments_discarded_timeout, st.fragments_discarded_hosts),
        (1, 0)
    );
    assert_eq!((st.fragments_pending, d.fragmented_hosts()), (1, 1));
}

#[test]
fn zero_fragmented_hosts_disables_reassembly() {
    let mut d = Decoder::new(0);
    let seen = feed_ip(
        &mut d,
        &build::ipv4_fragments(&v4_datagram(100), 64),
        &[1, 2],
    );
    assert!(seen.is_empty());
    assert_eq!(d.stats().fragments_discarded_hosts, 2);
    // Unfragmented traffic is unaffected.
    assert!(feed(&mut d, LinkType::RAW, &v4_datagram(10)).is_some());
}

#[test]
fn host_byte_bound_discards_the_hosts_oldest_datagrams() {
    // Four incomplete 1 KiB datagrams to one host with room for about three.
    let mut d = Decoder::with_byte_bounds(16, 4096, usize::MAX);
    let dgs: Vec<Vec<u8>> = (1..=4)
        .map(|id| client().ip_id(id).payload(&pattern(2000)).ipv4())
        .collect();
    for (i, dg) in dgs.iter().enumerate() {
        feed_ip(
            &mut d,
            &[build::ipv4_fragment(dg, 0, 1024, true)],
            &[i as i64],
        );
    }
    assert!(d.stats().fragments_discarded_size >= 1);
    let rest = |dg: &Vec<u8>| build::ipv4_fragment(dg, 1024, 996, false);
    assert!(
        feed_ip(&mut d, &[rest(&dgs[0])], &[10]).is_empty(),
        "oldest was discarded"
    );
    assert_eq!(
        feed_ip(&mut d, &[rest(&dgs[3])], &[11]).len(),
        1,
        "newest survived"
    );
}

#[test]
fn total_byte_bound_discards_the_oldest_host() {
    let mut d = Decoder::with_byte_bounds(16, usize::MAX, 4096);
    let dgs: Vec<Vec<u8>> = (1..=4)
        .map(|i| {
            let dst = format!("10.0.0.{i}:80");
            TcpPacket::new("192.0.2.1:1000", dst.as_str())
                .payload(&pattern(2000))
                .ipv4()
        })
        .collect();
    for (i, dg) in dgs.iter().enumerate() {
        feed_ip(
            &mut d,
            &[build::ipv4_fragment(dg, 0, 1024, true)],
            &[i as i64],
        );
    }
    assert!(d.fragmented_hosts() < 4);
    assert!(d.stats().fragments_discarded_size >= 1);
    let rest = |dg: &Vec<u8>| build::ipv4_fragment(dg, 1024, 996, false);
    assert!(
        feed_ip(&mut d, &[rest(&dgs[0])], &[10]).is_empty(),
        "oldest host was discarded"
    );
    assert_eq!(feed_ip(&mut d, &[rest(&dgs[3])], &[11]).len(), 1);
}

#[test]
fn too_scattered_a_datagram_is_discarded() {
    let dg = v4_datagram(16 * (RANGES_MAX + 1));
    let holes: Vec<Vec<u8>> = (0..=RANGES_MAX)
        .map(|i| build::ipv4_fragment(&dg, 16 * i, 8, true))
        .collect();
    let times = vec![1; holes.len()];
    let mut d = Decoder::default();
    feed_ip(&mut d, &holes, &times);
    assert_eq!(d.stats().fragments_discarded_size, RANGES_MAX as u64 + 1);
    assert_eq!((d.stats().fragments_pending, d.fragmented_hosts()), (0, 0));
}

const SEC: i64 = 1_000_000;

#[test]
fn fragment_30_seconds_after_the_previous_one_still_completes() {
    let frags = build::ipv4_fragments(&v4_datagram(100), 64);
    let seen = feed_ip(&mut Decoder::default(), &frags, &[0, 30 * SEC]);
    assert_eq!(seen.len(), 1);
}

#[test]
fn datagram_silent_for_more_than_30_seconds_times_out() {
    let frags = build::ipv4_fragments(&v4_datagram(100), 64);
    let mut d = Decoder::default();
    assert!(feed_ip(&mut d, &frags, &[0, 30 * SEC + 1]).is_empty());
    let st = d.stats();
    assert_eq!(
        (st.fragments_discarded_timeout, st.fragments_pending),
        (1, 1)
    );
}

#[test]
fn each_fragment_rearms_the_timeout() {
    let frags = build::ipv4_fragments(&v4_datagram(150), 64);
    let seen = feed_ip(&mut Decoder::default(), &frags, &[0, 20 * SEC, 40 * SEC]);
    assert_eq!(seen.len(), 1);
}

#[test]
fn timestamps_going_backwards_neither_panic_nor_lose_recent_fragments() {
    let frags = build::ipv4_fragments(&v4_datagram(150), 64);
    let seen = feed_ip(
        &mut Decoder::default(),
        &frags,
        &[100 * SEC, 90 * SEC, 95 * SEC],
    );
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].ts, at_us(95 * SEC));
    // A jump back by more than the timeout expires what was pending.
    let mut d = Decoder::default();
    assert!(feed_ip(&mut d, &frags, &[100 * SEC, 50 * SEC, i64::MIN / 2]).is_empty());
    assert_eq!(d.stats().fragments_discarded_timeout, 2);
}

// ---------------------------------------------------------------- IPv6 fragments

fn v6_datagram(len: usize) -> Vec<u8> {
    client6().payload(&pattern(len)).ipv6()
}

fn v6_run(frags: &[Vec<u8>]) -> (Vec<Seen>, DecodeStats) {
    let mut d = Decoder::default();
    let times: Vec<i64> = (1..=frags.len() as i64).collect();
    let seen = feed_ip(&mut d, frags, &times);
    (seen, d.stats().clone())
}

#[test]
fn ipv6_fragments_in_order_reverse_and_shuffled_are_reassembled() {
    let frags = build::ipv6_fragments(&v6_datagram(330), 64, 77);
    assert_eq!(frags.len(), 6);
    let mut reverse = frags.clone();
    reverse.reverse();
    let shuffled: Vec<Vec<u8>> = [4, 1, 5, 0, 3, 2]
        .iter()
        .map(|&i| frags[i].clone())
        .collect();
    for order in [frags.clone(), reverse, shuffled] {
        let (seen, st) = v6_run(&order);
        assert_eq!(seen.len(), 1, "{st:?}");
        assert_eq!(seen[0].payload, pattern(330));
        assert_eq!(
            seen[0].key.dst.ip,
            "2001:db8::20".parse::<IpAddr>().unwrap()
        );
        assert_eq!((st.fragments, st.datagrams_reassembled), (6, 1));
    }
}

#[test]
fn duplicated_and_overlapping_ipv6_fragments_keep_the_first_bytes() {
    let a = client6().payload(&[b'a'; 100]).ipv6();
    let b = client6().payload(&[b'b'; 100]).ipv6();
    let frags = vec![
        build::ipv6_fragment(&b, 32, 88, false, 5),
        build::ipv6_fragment(&a, 0, 64, true, 5),
        build::ipv6_fragment(&a, 0, 64, true, 5),
    ];
    let (seen, _) = v6_run(&frags);
    let mut expect = vec![b'a'; 12];
    expect.extend_from_slice(&[b'b'; 88]);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].payload, expect);
}

#[test]
fn ipv6_fragment_ids_separate_datagrams() {
    let x = build::ipv6_fragments(&client6().payload(&[1; 100]).ipv6(), 64, 1);
    let y = build::ipv6_fragments(&client6().payload(&[2; 100]).ipv6(), 64, 2);
    let (seen, _) = v6_run(&[x[0].clone(), y[0].clone(), y[1].clone(), x[1].clone()]);
    assert_eq!(
        seen.iter().map(|s| s.payload[0]).collect::<Vec<_>>(),
        vec![2, 1]
    );
}

#[test]
fn ipv6_extension_headers_inside_the_fragmentable_part_are_walked() {
    let dg = client6()
        .payload(b"behind options")
        .ipv6_with_extensions(&[proto::DEST_OPTS, proto::AUTH]);
    let mut frags = build::ipv6_fragments(&dg, 16, 9);
    frags.reverse();
    let (seen, _) = v6_run(&frags);
    assert_eq!(seen[0].payload, b"behind options");
}

#[test]
fn ipv6_fragment_header_after_hop_by_hop_is_found() {
    let frags: Vec<Vec<u8>> = build::ipv6_fragments(&v6_datagram(100), 64, 3)
        .into_iter()
        .map(|mut f| {
            // Fixed header → hop-by-hop (8 bytes, PadN) → the fragment header.
            let hop = [proto::FRAGMENT, 0, 1, 4, 0, 0, 0, 0];
            f.splice(40..40, hop);
            f[6] = proto::HOP_BY_HOP;
            let len = (f.len() - 40) as u16;
            f[4..6].copy_from_slice(&len.to_be_bytes());
            f
        })
        .collect();
    let (seen, _) = v6_run(&frags);
    assert_eq!(seen[0].payload, pattern(100));
}

#[test]
fn reassembled_ipv6_datagram_takes_the_time_of_the_completing_fragment() {
    let frags = build::ipv6_fragments(&v6_datagram(100), 64, 3);
    let mut d = Decoder::default();
    let seen = feed_ip(&mut d, &[frags[1].clone(), frags[0].clone()], &[700, 200]);
    assert_eq!(seen[0].ts, at_us(200));
}

#[test]
fn atomic_ipv6_fragment_is_an_ordinary_packet() {
    let ip = client6()
        .payload(b"atomic")
        .ipv6_with_extensions(&[proto::FRAGMENT]);
    let mut d = Decoder::default();
    assert_eq!(
        feed(&mut d, LinkType::RAW, &ip).expect("segment").payload,
        b"atomic"
    );
    assert_eq!(d.stats().fragments, 0);
}

#[test]
fn ipv6_fragments_of_non_tcp_payloads_are_not_held() {
    let src = "2001:db8::1".parse().unwrap();
    let dst = "2001:db8::2".parse().unwrap();
    let sctp = build::ipv6_datagram(src, dst, 132, &[0; 100]);
    let (seen, st) = v6_run(&build::ipv6_fragments(&sctp, 64, 1));
    assert!(seen.is_empty());
    assert_eq!((st.non_tcp, st.fragments), (2, 0));
}

#[test]
fn fragment_header_inside_a_reassembled_ipv6_datagram_is_malformed() {
    let inner = client6()
        .payload(b"nested")
        .ipv6_with_extensions(&[proto::FRAGMENT]);
    let frags = build::ipv6_fragments(&inner, 16, 4);
    let (seen, st) = v6_run(&frags);
    assert!(seen.is_empty());
    assert_eq!((st.malformed, st.fragments), (frags.len() as u64, 0));
    // Further in, behind destination options, it is found after reassembly.
    let inner = client6()
        .payload(b"nested")
        .ipv6_with_extensions(&[proto::DEST_OPTS, proto::FRAGMENT]);
    let (seen, st) = v6_run(&build::ipv6_fragments(&inner, 16, 4));
    assert!(seen.is_empty());
    assert_eq!((st.malformed, st.datagrams_reassembled), (1, 1));
}

#[test]
fn ipv6_fragment_beyond_65535_bytes_is_discarded() {
    let mut f = build::ipv6_fragment(&v6_datagram(100), 0, 16, false, 1);
    f[42..44].copy_from_slice(&(0x1fffu16 << 3).to_be_bytes());
    let (_, st) = v6_run(&[f]);
    assert_eq!(st.fragments_discarded_invalid, 1);
}

#[test]
fn ipv4_and_ipv6_fragments_with_equal_ids_do_not_mix() {
    let v4 = build::ipv4_fragments(&client().ip_id(7).payload(&[4; 100]).ipv4(), 64);
    let v6 = build::ipv6_fragments(&client6().payload(&[6; 100]).ipv6(), 64, 7);
    let (seen, _) = v6_run(&[v4[0].clone(), v6[0].clone(), v4[1].clone(), v6[1].clone()]);
    assert_eq!(
        seen.iter().map(|s| s.payload[0]).collect::<Vec<_>>(),
        vec![4, 6]
    );
}

// ---------------------------------------------------------------- arbitrary input

/// xorshift64: a fixed, dependency-free stream of pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_and_mutated_frames_never_panic_and_are_all_counted() {
    let links = [
        LinkType::ETHERNET,
        LinkType::LINUX_SLL,
        LinkType::LINUX_SLL2,
        LinkType::RAW,
        LinkType::IPV4,
        LinkType::IPV6,
        LinkType::NULL,
        LinkType::LOOP,
    ];
    let v4 = client()
        .ip_id(9)
        .timestamps(1, 2)
        .payload(&pattern(300))
        .ipv4();
    let v6 = client6()
        .payload(&pattern(300))
        .ipv6_with_extensions(&[proto::DEST_OPTS]);
    let mut seeds: Vec<(LinkType, Vec<u8>)> = vec![
        (
            LinkType::ETHERNET,
            build::ethernet_tagged(&[ethertype::VLAN], ethertype::IPV4, &v4),
        ),
        (
            LinkType::LINUX_SLL2,
            build::linux_sll2(ethertype::IPV6, &v6),
        ),
    ];
    for f in build::ipv4_fragments(&v4, 64) {
        seeds.push((LinkType::RAW, f));
    }
    for f in build::ipv6_fragments(&v6, 64, 3) {
        seeds.push((LinkType::RAW, f));
    }

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut d = Decoder::new(4);
    for round in 0..200_000 {
        let (link, mut frame) = if round % 3 == 0 {
            let len = rng.below(120);
            let bytes = (0..len).map(|_| rng.next() as u8).collect();
            (links[rng.below(links.len())], bytes)
        } else {
            seeds[rng.below(seeds.len())].clone()
        };
        for _ in 0..rng.below(4) {
            if !frame.is_empty() {
                let at = rng.below(frame.len());
                frame[at] ^= 1 << rng.below(8);
            }
        }
        if rng.below(8) == 0 {
            frame.truncate(rng.below(frame.len() + 1));
        }
        let ts = Timestamp((rng.next() % 100_000_000_000) as i64 - 50_000_000_000);
        let _ = feed_at(&mut d, link, &frame, ts);
    }
    check_invariant(d.stats());
    assert!(d.fragmented_hosts() <= 4);
    assert!(d.stats().tcp_segments > 0 && d.stats().datagrams_reassembled > 0);
}

// ---------------------------------------------------------------- the conformance corpus

/// A frame read from a capture file by the tiny reader below.
struct Frame {
    link: LinkType,
    ts: Timestamp,
    data: Vec<u8>,
    orig_len: u32,
}

fn corpus_dir() -> Option<std::path::PathBuf> {
    [
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/conformance"),
        "/work/shared/conformance",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.join("pcaps").is_dir())
}

fn u32_at(b: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    })
}

/// Classic pcap (either byte order, µs or ns) and pcapng (SHB, IDB, EPB, SPB; timestamps
/// taken as microseconds). Stops quietly at the first damage.
fn read_capture(file: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    let magic = u32_at(file, 0, false).unwrap_or(0);
    if magic == 0x0a0d_0d0a {
        let mut links = Vec::new();
        let mut big_endian = false;
        let mut at = 0;
        while let Some(kind) = u32_at(file, at, big_endian) {
            if kind == 0x0a0d_0d0a {
                big_endian = u32_at(file, at + 8, false) == Some(0x4d3c_2b1a);
                links.clear();
            }
            let Some(len) = u32_at(file, at + 4, big_endian).map(|l| l as usize) else {
                break;
            };
            let Some(block) = file.get(at..at + len).filter(|_| len >= 12) else {
                break;
            };
            let word = |off| u32_at(block, off, big_endian);
            match kind {
                1 => links.push(LinkType(word(8).unwrap_or(0) & 0xffff)),
                6 => {
                    let (Some(iface), Some(hi), Some(lo), Some(cap), Some(orig)) =
                        (word(8), word(12), word(16), word(20), word(24))
                    else {
                        break;
                    };
                    let Some(data) = block.get(28..28 + cap as usize) else {
                        break;
                    };
                    let micros = (u64::from(hi) << 32 | u64::from(lo)) as i64;
                    frames.push(Frame {
                        link: links
                            .get(iface as usize)
                            .copied()
                            .unwrap_or(LinkType(u32::MAX)),
                        ts: Timestamp::from_secs_micros(0, micros),
                        data: data.to_vec(),
                        orig_len: orig,
                    });
                }
                3 => {
                    let orig = word(8).unwrap_or(0);
                    let cap = (orig as usize).min(len.saturating_sub(16));
                    let Some(data) = block.get(12..12 + cap) else {
                        break;
                    };
                    let link = links.first().copied().unwrap_or(LinkType(u32::MAX));
                    frames.push(Frame {
                        link,
                        ts: Timestamp(0),
                        data: data.to_vec(),
                        orig_len: orig,
                    });
                }
                _ => {}
            }
            at += len;
        }
        return frames;
    }
    let (big_endian, nanos) = match magic {
        0xa1b2_c3d4 => (false, false),
        0xa1b2_3c4d => (false, true),
        0xd4c3_b2a1 => (true, false),
        0x4d3c_b2a1 => (true, true),
        _ => return frames,
    };
    let link = LinkType(u32_at(file, 20, big_endian).unwrap_or(0) & 0xffff);
    let mut at = 24;
    while let (Some(secs), Some(frac), Some(cap), Some(orig)) = (
        u32_at(file, at, big_endian),
        u32_at(file, at + 4, big_endian),
        u32_at(file, at + 8, big_endian),
        u32_at(file, at + 12, big_endian),
    ) {
        let Some(data) = file.get(at + 16..at + 16 + cap as usize) else {
            break;
        };
        let ts = if nanos {
            Timestamp::from_secs_nanos(i64::from(secs), i64::from(frac))
        } else {
            Timestamp::from_secs_micros(i64::from(secs), i64::from(frac))
        };
        frames.push(Frame {
            link,
            ts,
            data: data.to_vec(),
            orig_len: orig,
        });
        at += 16 + cap as usize;
    }
    frames
}

/// Decodes a corpus capture; returns the segments (owned) and the stats.
fn decode_capture(name: &str) -> Option<(Vec<Seen>, DecodeStats)> {
    let Some(dir) = corpus_dir() else {
        eprintln!("conformance corpus not found: skipping");
        return None;
    };
    let bytes = std::fs::read(dir.join("pcaps").join(name)).ok()?;
    let mut d = Decoder::default();
    let mut seen = Vec::new();
    for f in read_capture(&bytes) {
        let pkt = Packet {
            ts: f.ts,
            link: f.link,
            data: &f.data,
            orig_len: f.orig_len,
        };
        seen.extend(d.decode(&pkt).map(Seen::from));
    }
    check_invariant(d.stats());
    Some((seen, d.stats().clone()))
}

#[test]
fn every_frame_of_every_conformance_capture_decodes_without_panic() {
    let Some(dir) = corpus_dir() else {
        eprintln!("conformance corpus not found: skipping");
        return;
    };
    let mut names: Vec<String> = std::fs::read_dir(dir.join("pcaps"))
        .expect("pcaps directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for name in names {
        let (_, st) = decode_capture(&name).expect("readable capture");
        assert!(st.frames > 0, "{name}: no frames read");
        // Twins re-encode TCP-only loopback captures: every frame must decode.
        if name.starts_with("twin_") {
            assert_eq!(st.tcp_segments, st.frames, "{name}: {st:?}");
        }
        eprintln!("{name}: {st:?}");
    }
}

#[test]
fn syn_garbage_yields_exactly_the_connection_segments() {
    let Some((seen, st)) = decode_capture("syn_garbage_A.pcap") else {
        return;
    };
    let port = |s: &Seen| s.key.src.port;
    // SYN, SYN-ACK, ACK, request, ACK, response, ACK, FIN, FIN, ACK.
    assert_eq!(seen.len(), 10, "{st:?}");
    assert!(seen.iter().all(|s| port(s) == 40061 || port(s) == 80));
    assert_eq!(seen[3].payload.len(), 102);
    assert!(seen[3]
        .payload
        .starts_with(b"GET /garbage-around-me HTTP/1.1\r\n"));
    assert_eq!(seen[5].payload.len(), 149);
    assert!(seen[5].payload.ends_with(b"survived the garbage\n"));
    // ARP; UDP, ICMP and IPv6 No Next Header; the runt, the random bytes and the eight
    // broken IPv4 headers (none of them cut by the snapshot length).
    assert_eq!(
        (st.non_ip, st.non_tcp, st.malformed, st.truncated),
        (1, 3, 10, 0),
        "{st:?}"
    );
}

#[test]
fn syn_frag_yields_the_reassembled_request_and_response() {
    let Some((seen, st)) = decode_capture("syn_frag_A.pcap") else {
        return;
    };
    assert_eq!(seen.len(), 10, "{st:?}");
    let request = &seen[3];
    assert_eq!(request.payload.len(), 312);
    assert!(request
        .payload
        .starts_with(b"GET /fragmented/request HTTP/1.1\r\n"));
    // 03:05:15.001220, the third (completing) fragment.
    assert_eq!(request.ts.subsec_micros(), 1220);
    let response = &seen[5];
    assert_eq!(response.payload.len(), 630);
    assert_eq!(response.ts.subsec_micros(), 3210);
    assert_eq!(
        (st.fragments, st.datagrams_reassembled, st.fragments_pending),
        (5, 2, 0)
    );
}
