use super::*;

// ---- helpers: frames ------------------------------------------------------------------

const CLIENT: [u8; 4] = [192, 0, 2, 1];
const SERVER: [u8; 4] = [198, 51, 100, 20];

fn ipv4(src: [u8; 4], dst: [u8; 4], protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend(total.to_be_bytes());
    p.extend([0, 1, 0x40, 0, 64, protocol, 0, 0]);
    p.extend(src);
    p.extend(dst);
    p.extend(payload);
    p
}

fn ipv6(src: &str, dst: &str, next: u8, payload: &[u8]) -> Vec<u8> {
    let octets = |s: &str| s.parse::<std::net::Ipv6Addr>().expect("literal").octets();
    let mut p = vec![0x60, 0, 0, 0];
    p.extend((payload.len() as u16).to_be_bytes());
    p.extend([next, 64]);
    p.extend(octets(src));
    p.extend(octets(dst));
    p.extend(payload);
    p
}

fn tcp(src: u16, dst: u16, flags: u8) -> Vec<u8> {
    let mut t = src.to_be_bytes().to_vec();
    t.extend(dst.to_be_bytes());
    t.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    t
}

fn udp(src: u16, dst: u16) -> Vec<u8> {
    let mut u = src.to_be_bytes().to_vec();
    u.extend(dst.to_be_bytes());
    u.extend([0, 8, 0, 0]);
    u
}

fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    f.extend(ethertype.to_be_bytes());
    f.extend(payload);
    f
}

fn vlan_tagged(vid: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x81, 0x00];
    f.extend(vid.to_be_bytes());
    f.extend(ethertype.to_be_bytes());
    f.extend(payload);
    f
}

fn http_syn() -> Vec<u8> {
    ethernet(0x0800, &ipv4(CLIENT, SERVER, 6, &tcp(40000, 80, 0x02)))
}

fn dns_query() -> Vec<u8> {
    ethernet(0x0800, &ipv4(CLIENT, SERVER, 17, &udp(5353, 53)))
}

fn filter(expr: &str) -> Filter {
    Filter::compile(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn on_ethernet(expr: &str, frame: &[u8]) -> bool {
    filter(expr).matches(LinkType::ETHERNET, frame, frame.len() as u32)
}

fn error(expr: &str) -> String {
    match Filter::compile(expr) {
        Ok(_) => panic!("{expr} should not compile"),
        Err(e) => e.to_string(),
    }
}

// ---- primitives -----------------------------------------------------------------------

#[test]
fn empty_expression_matches_everything() {
    assert!(on_ethernet("", &[]));
    assert!(on_ethernet("   ", &http_syn()));
}

#[test]
fn protocol_names_test_the_link_and_ip_protocol_fields() {
    let syn = http_syn();
    let dns = dns_query();
    assert!(on_ethernet("tcp", &syn) && !on_ethernet("tcp", &dns));
    assert!(on_ethernet("udp", &dns) && !on_ethernet("udp", &syn));
    assert!(on_ethernet("ip", &syn) && !on_ethernet("ip6", &syn));
    assert!(on_ethernet("ip proto 17", &dns) && on_ethernet("proto \\udp", &dns));
    let arp = ethernet(0x0806, &[0; 28]);
    assert!(on_ethernet("arp", &arp) && !on_ethernet("ip", &arp));
}

#[test]
fn ipv6_protocol_tests_look_through_one_fragment_header() {
    let mut fragment = vec![6, 0, 0, 1, 0, 0, 0, 7];
    fragment.extend(tcp(40000, 80, 0x02));
    let frame = ethernet(0x86DD, &ipv6("fd00::2", "fd00::1", 44, &fragment));
    assert!(on_ethernet("tcp", &frame));
    assert!(on_ethernet("ip6 proto 6", &frame));
    // ...but ports are only read right after the fixed header, as libpcap does.
    assert!(!on_ethernet("tcp port 80", &frame));
}

#[test]
fn hosts_and_networks_compare_masked_addresses() {
    let syn = http_syn();
    assert!(on_ethernet("host 192.0.2.1", &syn));
    assert!(on_ethernet(
        "src host 192.0.2.1 and dst host 198.51.100.20",
        &syn
    ));
    assert!(!on_ethernet("dst host 192.0.2.1", &syn));
    assert!(on_ethernet("net 192.0.2.0/24", &syn));
    assert!(on_ethernet("net 198.51.100.0 mask 255.255.255.0", &syn));
    assert!(
        on_ethernet("src net 192.0.2", &syn),
        "short dotted forms are prefixes"
    );
    assert!(
        on_ethernet("net 192", &syn),
        "a short net number names the top byte"
    );
    assert!(!on_ethernet("host 192.0.2.2", &syn));
    assert!(on_ethernet("src and dst net 0.0.0.0/0", &syn));
}

#[test]
fn host_without_protocol_also_matches_arp_addresses() {
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1];
    arp.extend(CLIENT);
    arp.extend([0; 6]);
    arp.extend(SERVER);
    let frame = ethernet(0x0806, &arp);
    assert!(on_ethernet("host 198.51.100.20", &frame));
    assert!(on_ethernet("arp src host 192.0.2.1", &frame));
    assert!(!on_ethernet("ip host 192.0.2.1", &frame));
}

#[test]
fn ipv6_addresses_and_prefixes() {
    let frame = ethernet(0x86DD, &ipv6("fd00::2", "2001:db8::1", 17, &udp(1, 53)));
    assert!(on_ethernet("host fd00::2", &frame));
    assert!(on_ethernet("dst net 2001:db8::/32", &frame));
    assert!(on_ethernet("ip6 src host fd00::2 and udp port 53", &frame));
    assert!(!on_ethernet("host fd00::1", &frame));
}

#[test]
fn ports_and_port_ranges_with_directions() {
    let syn = http_syn();
    assert!(on_ethernet("port 80", &syn));
    assert!(on_ethernet("tcp dst port 80", &syn));
    assert!(!on_ethernet("udp port 80", &syn));
    assert!(!on_ethernet("src port 80", &syn));
    assert!(on_ethernet("src or dst port 40000", &syn));
    assert!(!on_ethernet("src and dst port 80", &syn));
    assert!(on_ethernet("portrange 79-81", &syn));
    assert!(
        on_ethernet("portrange 81-79", &syn),
        "reversed ranges are swapped"
    );
    assert!(on_ethernet("port http", &syn));
    assert!(on_ethernet("udp port domain", &dns_query()));
}

#[test]
fn ports_are_not_read_in_later_ipv4_fragments() {
    let mut later = ipv4(CLIENT, SERVER, 17, &udp(53, 53));
    later[7] = 0xB9; // fragment offset 185 * 8
    let frame = ethernet(0x0800, &later);
    assert!(!on_ethernet("port 53", &frame));
    assert!(!on_ethernet("udp[0:2] = 53", &frame));
    assert!(on_ethernet("udp", &frame), "the protocol is still UDP");
    assert!(on_ethernet("ip[6:2] & 0x1fff != 0", &frame));
}

#[test]
fn ports_follow_the_ipv4_header_length_field() {
    let mut with_options = ipv4(CLIENT, SERVER, 6, &[1, 1, 1, 0]);
    with_options[0] = 0x46;
    with_options.extend(tcp(1234, 8080, 0x10));
    assert!(on_ethernet(
        "tcp port 8080",
        &ethernet(0x0800, &with_options)
    ));
}

#[test]
fn byte_comparisons_and_named_constants() {
    let syn = http_syn();
    assert!(on_ethernet("tcp[tcpflags] & tcp-syn != 0", &syn));
    assert!(on_ethernet("tcp[13] = 2", &syn));
    assert!(!on_ethernet("tcp[tcpflags] & (tcp-fin|tcp-rst) != 0", &syn));
    assert!(on_ethernet("ip[0] & 0xf0 = 0x40", &syn));
    assert!(on_ethernet("ip[2:2] = 40", &syn));
    assert!(on_ethernet("ether[12:2] = 0x0800", &syn));
    assert!(on_ethernet("tcp[0:4] = 0x9c400050", &syn));
    assert!(
        !on_ethernet("tcp[13] != 2", &dns_query()),
        "protocol checks hold outside the negated comparison"
    );
    assert!(on_ethernet("not tcp[13] = 2", &dns_query()));
    let echo = ethernet(0x0800, &ipv4(CLIENT, SERVER, 1, &[8, 0, 0, 0]));
    assert!(on_ethernet("icmp[icmptype] = icmp-echo", &echo));
    let echo6 = ethernet(0x86DD, &ipv6("fd00::2", "fd00::1", 58, &[128, 0, 0, 0]));
    assert!(on_ethernet("icmp6[icmp6type] = icmp6-echo", &echo6));
}

#[test]
fn lengths_use_the_wire_length() {
    let f = filter("greater 1000");
    let frame = http_syn();
    assert!(!f.matches(LinkType::ETHERNET, &frame, frame.len() as u32));
    assert!(
        f.matches(LinkType::ETHERNET, &frame, 1500),
        "captured short, long on the wire"
    );
    assert!(filter("less 54").matches(LinkType::ETHERNET, &frame, 54));
    assert!(filter("len = 54").matches(LinkType::ETHERNET, &frame, 54));
}

#[test]
fn ethernet_addresses() {
    let syn = http_syn();
    assert!(on_ethernet("ether src 02:00:00:00:00:01", &syn));
    assert!(on_ethernet("ether dst 02-00-00-00-00-02", &syn));
    assert!(on_ethernet("ether host 0200.0000.0001", &syn));
    assert!(!on_ethernet("ether src ff:ff:ff:ff:ff:ff", &syn));
}

#[test]
fn vlan_tagged_frames_are_seen_only_through_vlan() {
    let tagged = vlan_tagged(100, 0x0800, &ipv4(CLIENT, SERVER, 6, &tcp(1, 80, 2)));
    assert!(
        !on_ethernet("tcp", &tagged),
        "without 'vlan' the tag hides the payload"
    );
    assert!(on_ethernet("vlan and tcp port 80", &tagged));
    assert!(on_ethernet("vlan 100 and host 192.0.2.1", &tagged));
    assert!(!on_ethernet("vlan 200", &tagged));
    // libpcap's quirk: after 'vlan', later tests look 4 bytes further, even across 'or'.
    assert!(!on_ethernet("vlan 200 or tcp", &http_syn()));
    assert!(on_ethernet("tcp or vlan 200", &http_syn()));
}

#[test]
fn mpls_moves_later_tests_past_each_label() {
    let packet = ipv4(CLIENT, SERVER, 6, &tcp(40000, 80, 2));
    // Labels 16 then 100 (bottom of stack), TTL 64 (RFC 3032 §2.1).
    let mut stack = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x06, 0x41, 0x40];
    stack.extend(&packet);
    let frame = ethernet(0x8847, &stack);
    assert!(
        !on_ethernet("tcp", &frame),
        "without 'mpls' the labels hide the payload"
    );
    assert!(on_ethernet("mpls", &frame));
    assert!(on_ethernet("mpls 16 and mpls 100 and tcp port 80", &frame));
    assert!(
        !on_ethernet("mpls 16 and tcp", &frame),
        "one label is not the bottom"
    );
    assert!(!on_ethernet("mpls 100", &frame));
    assert!(on_ethernet("mpls and mpls and host 192.0.2.1", &frame));
    assert!(!on_ethernet("mpls and mpls and mpls", &frame));
    assert!(error("mpls and arp").contains("unsupported protocol over mpls"));
    assert!(error("mpls and vlan").contains("no VLAN match after MPLS"));
}

#[test]
fn pppoes_moves_later_tests_into_the_ppp_payload() {
    let packet = ipv4(CLIENT, SERVER, 6, &tcp(40000, 80, 2));
    // Version/type 0x11, code 0, session 0x1234, length, PPP protocol IPv4 (RFC 2516 §4).
    let mut session = vec![0x11, 0, 0x12, 0x34];
    session.extend(((packet.len() + 2) as u16).to_be_bytes());
    session.extend([0x00, 0x21]);
    session.extend(&packet);
    let frame = ethernet(0x8864, &session);
    assert!(!on_ethernet("ip", &frame));
    assert!(on_ethernet("pppoes and ip and tcp port 80", &frame));
    assert!(on_ethernet("pppoes 0x1234 and host 198.51.100.20", &frame));
    assert!(!on_ethernet("pppoes 7", &frame));
    assert!(!on_ethernet("pppoes and ip6", &frame));
    assert!(error("pppoes 65536").contains("greater than maximum 65535"));
}

/// A Geneve datagram (RFC 8926 §3.4) from CLIENT to SERVER over IPv4, with `options`
/// (a multiple of 4 bytes) and `payload` of protocol type `protocol`.
fn geneve_frame(vni: u32, protocol: u16, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut g = vec![(options.len() / 4) as u8, 0];
    g.extend(protocol.to_be_bytes());
    g.extend((vni << 8).to_be_bytes());
    g.extend(options);
    g.extend(payload);
    let mut u = 30000u16.to_be_bytes().to_vec();
    u.extend(6081u16.to_be_bytes());
    u.extend(((8 + g.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(g);
    ethernet(0x0800, &ipv4(CLIENT, SERVER, 17, &u))
}

#[test]
fn geneve_moves_later_tests_into_the_geneve_payload() {
    let inner = ethernet(
        0x0800,
        &ipv4([10, 1, 0, 1], [10, 1, 0, 2], 6, &tcp(40000, 80, 2)),
    );
    let plain = geneve_frame(42, 0x6558, &[], &inner);
    let options = geneve_frame(42, 0x6558, &[1, 2, 0x80, 1, 0xAA, 0xBB, 0xCC, 0xDD], &inner);
    let bare_ip = geneve_frame(
        7,
        0x0800,
        &[],
        &ipv4([10, 1, 0, 1], [10, 1, 0, 2], 6, &tcp(1, 80, 2)),
    );
    for frame in [&plain, &options] {
        assert!(on_ethernet("geneve", frame));
        assert!(on_ethernet("geneve 42 and tcp port 80", frame));
        assert!(on_ethernet(
            "geneve and host 10.1.0.2 and ether src 02:00:00:00:00:01",
            frame
        ));
        assert!(!on_ethernet("geneve 43", frame));
        assert!(!on_ethernet("geneve and host 192.0.2.1", frame));
        assert!(on_ethernet("udp port 6081 and not geneve 43", frame));
    }
    // Another protocol type: its EtherType is the link type, the payload follows.
    assert!(on_ethernet("geneve 7 and ip and tcp dst port 80", &bare_ip));
    assert!(!on_ethernet("geneve and ip6", &bare_ip));
    // Version 1 is not Geneve to libpcap.
    let mut version1 = plain.clone();
    version1[14 + 20 + 8] |= 0x40;
    assert!(!on_ethernet("geneve", &version1));
    // `geneve` twice looks into a Geneve payload inside the first.
    let nested = geneve_frame(1, 0x6558, &[], &geneve_frame(2, 0x6558, &[], &inner));
    assert!(on_ethernet(
        "geneve 1 and geneve 2 and tcp port 80",
        &nested
    ));
    assert!(!on_ethernet("geneve 2 and geneve 1", &nested));
    // The protocol type field lies past the captured bytes: the frame is rejected.
    assert!(!on_ethernet("not geneve", &plain[..14 + 20 + 8 + 3]));
    assert!(error("geneve 16777216").contains("greater than maximum"));
    assert!(error("mpls and geneve").contains("'geneve' after 'mpls'"));
    assert!(error("geneve and geneve and geneve and geneve and geneve").contains("more than 4"));
}

#[test]
fn ppp_hdlc_and_pppoe_links_have_libpcap_framing() {
    let v4 = ipv4(CLIENT, SERVER, 6, &tcp(40000, 80, 2));
    let v6 = ipv6("fd00::1", "fd00::2", 6, &tcp(40000, 80, 2));
    let framed = |header: &[u8], packet: &[u8]| [header, packet].concat();
    let f = filter("ip and host 192.0.2.1 and tcp dst port 80");
    let f6 = filter("ip6 and tcp port 80 and host fd00::2");
    for (link, v4_header, v6_header) in [
        (
            LinkType::PPP,
            vec![0xFF, 0x03, 0x00, 0x21],
            vec![0xFF, 0x03, 0x00, 0x57],
        ),
        (
            LinkType::PPP_HDLC,
            vec![0xFF, 0x03, 0x00, 0x21],
            vec![0xFF, 0x03, 0x00, 0x57],
        ),
        (
            LinkType::PPP_ETHER,
            vec![0x11, 0, 0, 1, 0, 0, 0x00, 0x21],
            vec![0x11, 0, 0, 1, 0, 0, 0x00, 0x57],
        ),
        (
            LinkType::C_HDLC,
            vec![0x0F, 0, 0x08, 0x00],
            vec![0x0F, 0, 0x86, 0xDD],
        ),
    ] {
        let (a, b) = (framed(&v4_header, &v4), framed(&v6_header, &v6));
        assert!(f.check_link(link).is_ok());
        assert!(f.matches(link, &a, a.len() as u32), "link {}", link.0);
        assert!(!f.matches(link, &b, b.len() as u32), "link {}", link.0);
        assert!(f6.matches(link, &b, b.len() as u32), "link {}", link.0);
        assert!(!f6.matches(link, &a, a.len() as u32), "link {}", link.0);
        assert!(filter("vlan").check_link(link).is_err());
        assert!(filter("ether host 1:2:3:4:5:6").check_link(link).is_err());
    }
    // MPLS: PPP and C-HDLC have it, PPP over serial and PPPoE only after `pppoes`.
    assert!(filter("mpls").check_link(LinkType::PPP).is_ok());
    assert!(filter("mpls").check_link(LinkType::C_HDLC).is_ok());
    assert!(filter("mpls").check_link(LinkType::PPP_HDLC).is_err());
    assert!(filter("pppoes and mpls")
        .check_link(LinkType::PPP_ETHER)
        .is_ok());
}

#[test]
fn nflog_takes_only_link_bytes_and_lengths() {
    for ok in [
        "link[0] = 2",
        "len > 100",
        "less 64",
        "ether[1] & 1 = 0 or greater 10",
    ] {
        assert!(filter(ok).check_link(LinkType::NFLOG).is_ok(), "{ok}");
    }
    for refused in [
        "ip",
        "tcp port 80",
        "ip[0] = 0x45",
        "vlan",
        "mpls",
        "geneve",
    ] {
        let e = filter(refused)
            .check_link(LinkType::NFLOG)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not implemented") || e.contains("no "),
            "{refused}: {e}"
        );
    }
    let frame = [2, 0, 0, 0, 8, 0, 9, 0];
    assert!(filter("link[0] = 2 and len = 8").matches(LinkType::NFLOG, &frame, 8));
}

#[test]
fn every_link_type_finds_the_network_header() {
    let packet = ipv4(CLIENT, SERVER, 6, &tcp(40000, 80, 2));
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend(&packet);
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend(&packet);
    let mut null_le = 2u32.to_le_bytes().to_vec();
    null_le.extend(&packet);
    let mut null_be = 2u32.to_be_bytes().to_vec();
    null_be.extend(&packet);
    let f = filter("ip and host 192.0.2.1 and tcp dst port 80");
    for (link, frame) in [
        (LinkType::LINUX_SLL, &sll),
        (LinkType::LINUX_SLL2, &sll2),
        (LinkType::NULL, &null_le),
        (LinkType::NULL, &null_be),
        (LinkType::LOOP, &null_be),
        (LinkType::RAW, &packet),
        (LinkType::RAW_12, &packet),
        (LinkType::IPV4, &packet),
    ] {
        assert!(
            f.matches(link, frame, frame.len() as u32),
            "link {}",
            link.0
        );
    }
    assert!(!f.matches(LinkType::IPV6, &packet, packet.len() as u32));
    assert!(!f.matches(LinkType(147), &packet, packet.len() as u32));
}

#[test]
fn reads_past_the_captured_bytes_reject_the_frame() {
    let syn = http_syn();
    assert!(!on_ethernet("tcp[60] = 0", &syn));
    assert!(
        !on_ethernet("not tcp[60] = 0", &syn),
        "not does not rescue a rejected frame"
    );
    assert!(
        !on_ethernet("tcp[60] = 0 or port 80", &syn),
        "nor does a later or"
    );
    assert!(
        !on_ethernet("not ip", &[0x02; 10]),
        "a runt cannot even show its type"
    );
    assert!(
        !on_ethernet("tcp[13] / (ip[0] - 0x45) = 0", &syn),
        "division by zero rejects too"
    );
}

// ---- grammar --------------------------------------------------------------------------

#[test]
fn and_or_have_equal_precedence_and_group_left() {
    // (udp or tcp) and port 53: the SYN to port 80 fails; left grouping is tcpdump's.
    assert!(!on_ethernet("udp or tcp and port 53", &http_syn()));
    assert!(on_ethernet("udp or (tcp and port 80)", &http_syn()));
    assert!(on_ethernet("tcp && port 80 || udp", &http_syn()));
    assert!(on_ethernet("! udp", &http_syn()));
}

#[test]
fn bare_identifiers_inherit_the_previous_qualifiers() {
    let syn = http_syn();
    assert!(on_ethernet("tcp port 22 or 80", &syn));
    assert!(on_ethernet("udp port 22 or tcp", &syn));
    assert!(
        !on_ethernet("udp port 22 or 80", &syn),
        "80 is 'udp port 80'"
    );
    assert!(on_ethernet("host 10.0.0.1 or 192.0.2.1", &syn));
    assert!(!on_ethernet("host 192.0.2.1 and not 198.51.100.20", &syn));
    assert!(on_ethernet("port (22 or 80)", &syn));
    assert!(
        on_ethernet("src port 22 or dst 198.51.100.20", &syn),
        "'dst 1.2.3.4' is a host"
    );
}

#[test]
fn qualifiers_lent_across_parentheses_follow_libpcap() {
    // '(port 80)' lends what was in force before the parenthesis: the host qualifier.
    let syn = http_syn();
    assert!(on_ethernet(
        "host 1.1.1.1 and (port 80) or 198.51.100.20",
        &syn
    ));
    assert!(error("(port 80) or 443").contains("needs a qualifier"));
    assert!(error("tcp or 80").contains("needs a qualifier"));
    assert!(error("less 10 or 20").contains("needs a qualifier"));
}

#[test]
fn arithmetic_follows_libpcap_precedence() {
    // ip[2:2] is 40 in the SYN.
    let syn = http_syn();
    assert!(on_ethernet("ip[2:2] + 2 * 3 = 46", &syn));
    assert!(
        on_ethernet("ip[2:2] - 10 - 10 = 20", &syn),
        "left-associative"
    );
    assert!(on_ethernet("ip[2:2] | 1 & 3 = 41", &syn));
    assert!(
        on_ethernet("ip[2:2] >> 1 + 1 = 10", &syn),
        "+ binds tighter than >>"
    );
    // '%' and '^' bind their right operand loosely: 40 % (7 + 1) = 0, 40 / (9 % 5) = 10.
    assert!(on_ethernet("ip[2:2] % 7 + 1 = 0", &syn));
    assert!(on_ethernet("ip[2:2] / 9 % 5 = 10", &syn));
    assert!(on_ethernet("ip[2:2] ^ 1 & 3 = 41", &syn));
    assert!(on_ethernet("-ip[2:2] = 0xffffffd8", &syn));
    assert!(on_ethernet("(ip[2:2] + 2) * 2 = 84", &syn));
    assert!(on_ethernet("ip[2:2] << 26 >> 26 = 40", &syn));
}

#[test]
fn constant_comparisons_fold() {
    assert!(on_ethernet("1 = 1", &[]));
    assert!(!on_ethernet("2 < 1", &[]));
    assert!(on_ethernet("0x10 == 020 and tcp-syn = 2", &[]));
}

// ---- errors ---------------------------------------------------------------------------

#[test]
fn missing_values_name_what_was_expected_and_where() {
    assert_eq!(
        error("tcp port"),
        "filter: expected a port number after 'port' at end of expression"
    );
    assert!(error("host").contains("expected an address after 'host'"));
    assert!(error("tcp and").contains("at end of expression"));
    assert!(error("ip[0] =").contains("expected a value"));
}

#[test]
fn syntax_errors_point_at_the_offending_token() {
    let e = error("tcp port 80 80");
    assert_eq!(e, "filter: unexpected '80' at character 13");
    assert_eq!(
        error("tcp port"),
        "filter: expected a port number after 'port' at end of expression"
    );
    assert_eq!(
        error("foo bar"),
        "filter: unknown word 'foo' at character 1 (expected a primitive such as host, net, port, \
         tcp or a comparison)"
    );
    assert_eq!(
        error("port 99999"),
        "filter: illegal port number 99999 > 65535 at '99999' (character 6)"
    );
    assert!(error("(tcp").contains("expected ')'"));
    assert!(error("tcp)").contains("unexpected ')'"));
    assert!(error("foo").contains("unknown word 'foo'"));
    assert!(error("tcp port 80 $").contains("unexpected character '$'"));
}

#[test]
fn host_and_network_names_are_refused_not_resolved() {
    assert!(error("host example.com").contains("host names are not resolved"));
    assert!(error("net localnet").contains("unknown network"));
    assert!(error("ether host router").contains("unknown ether host"));
    assert!(error("port nosuchservice").contains("unknown port 'nosuchservice'"));
}

#[test]
fn invalid_values_are_refused_as_libpcap_refuses_them() {
    assert!(error("port 65536").contains("illegal port number 65536 > 65535"));
    assert!(error("host 1.2.3.256").contains("invalid IPv4 address"));
    assert!(error("net 10.1.2.3/8").contains("non-network bits set"));
    assert!(error("net 10.0.0.0/33").contains("mask length must be <= 32"));
    assert!(error("host 10.0.0.0/8").contains("Mask syntax for networks only"));
    assert!(error("ip6 net fd00::1/16").contains("non-network bits"));
    assert!(error("vlan 4096").contains("greater than maximum 4095"));
    assert!(error("ip[0:3] = 1").contains("data size must be 1, 2, or 4"));
    assert!(error("ip[0] / 0 = 1").contains("division by zero"));
    assert!(error("ip[0] << 32 = 1").contains("shift by more than 31 bits"));
    assert!(error("port 080").contains("non-octal digit"));
}

#[test]
fn qualifiers_that_do_not_fit_are_refused() {
    assert!(error("tcp host 1.2.3.4").contains("'tcp' modifier applied to host"));
    assert!(error("ip6 host 1.2.3.4").contains("'ip6' modifier applied to ip host"));
    assert!(error("ip host fd00::1").contains("'ip' modifier applied to ip6 host"));
    assert!(error("ip port 80").contains("illegal qualifier of 'port'"));
    assert!(error("host aa:bb:cc:dd:ee:ff").contains("non-ether expression"));
    assert!(error("src proto 6").contains("expected"));
    assert!(error("tcp proto 6").contains("bogus"));
    assert!(error("udp port http").contains("is tcp"));
    assert!(error("ether").contains("link layer applied in wrong context"));
    assert!(error("ether proto 100").contains("802.3"));
}

#[test]
fn unsupported_libpcap_keywords_are_named() {
    assert!(error("gateway 1.2.3.4").contains("'gateway' is not supported"));
    assert!(error("ether broadcast").contains("'broadcast' is not supported"));
    assert!(error("vxlan").contains("'vxlan' is not supported"));
}

#[test]
fn keywords_are_case_sensitive() {
    assert!(error("TCP").contains("unknown word 'TCP'"));
}

#[test]
fn link_specific_parts_are_refused_for_links_without_them() {
    let vlan = filter("vlan and tcp");
    assert!(vlan.check_link(LinkType::ETHERNET).is_ok());
    let e = vlan
        .check_link(LinkType::LINUX_SLL)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no VLAN support for Linux cooked v1"), "{e}");
    assert!(filter("ether src 1:2:3:4:5:6")
        .check_link(LinkType::RAW)
        .is_err());
    assert!(filter("tcp port 80").check_link(LinkType::NULL).is_ok());
    assert!(filter("tcp").check_link(LinkType(147)).is_err());
}

// ---- hostile expressions --------------------------------------------------------------

#[test]
fn deep_nesting_is_refused_not_overflowing_the_stack() {
    let parens = format!("{}tcp{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(error(&parens).contains("nested more than"));
    let nots = format!("{}tcp", "not ".repeat(10_000));
    assert!(error(&nots).contains("nested more than"));
    let minus = format!("{}1 = 1", "-".repeat(10_000));
    assert!(error(&minus).contains("nested more than"));
    let brackets = format!("{}0{} = 1", "ip[".repeat(5_000), "]".repeat(5_000));
    assert!(error(&brackets).contains("nested more than"));
    let alternating = (0..5_000)
        .map(|i| if i % 2 == 0 { "tcp and" } else { "udp or" })
        .collect::<Vec<_>>()
        .join(" ")
        + " ip";
    assert!(error(&alternating).contains("nested more than"));
}

#[test]
fn long_flat_expressions_are_fine() {
    let ports = (1..=20_000)
        .map(|p| (p % 65_536).to_string())
        .collect::<Vec<_>>()
        .join(" or ");
    let f = filter(&format!("tcp port {ports}"));
    assert!(f.matches(LinkType::ETHERNET, &http_syn(), 54));
}

#[test]
fn garbage_never_panics_the_compiler() {
    let pieces = [
        "tcp",
        "port",
        "80",
        "(",
        ")",
        "[",
        "]",
        ":",
        "and",
        "or",
        "not",
        "!",
        "=",
        "host",
        "1.2.3.4",
        "::1",
        "aa:bb:cc:dd:ee:ff",
        "ip",
        "vlan",
        "-",
        "%",
        "^",
        "<<",
        "len",
        "\\x",
        "net",
        "/",
        "mask",
        "proto",
        "src",
        "dst",
        "ether",
        "0x",
        "08",
        "4294967295",
        "portrange",
        "1-2",
        "tcp[",
        "!=",
    ];
    // Every sequence of three pieces: compile must return, never panic.
    for a in pieces {
        for b in pieces {
            for c in pieces {
                let expr = format!("{a} {b} {c}");
                if let Ok(f) = Filter::compile(&expr) {
                    let _ = f.matches(LinkType::ETHERNET, &http_syn(), 54);
                    let _ = f.matches(LinkType::ETHERNET, &[], 0);
                }
            }
        }
    }
}

#[test]
fn matching_never_panics_on_any_frame_length() {
    let f = filter(
        "tcp port 80 and tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420 or vlan and ip6 host fd00::1 \
         or ether src 1:2:3:4:5:6 or arp host 1.2.3.4 or icmp6[0] = 128 or ip[ip[0]:4] > len",
    );
    let frame = ethernet(0x0800, &ipv4(CLIENT, SERVER, 6, &tcp(1, 80, 0x18)));
    for link in [
        LinkType::ETHERNET,
        LinkType::LINUX_SLL,
        LinkType::LINUX_SLL2,
        LinkType::NULL,
        LinkType::RAW,
    ] {
        for cut in 0..=frame.len() {
            let _ = f.matches(link, &frame[..cut], u32::MAX);
        }
    }
}

#[test]
fn long_mixed_expressions_compile_and_match_quickly() {
    let started = std::time::Instant::now();
    let terms: Vec<String> = (0..5_000)
        .map(|i| match i % 4 {
            0 => format!("tcp[{}] = 1", i % 60),
            1 => format!("ip host 10.0.{}.{}", i / 256 % 256, i % 256),
            2 => "ip".to_string(),
            _ => format!("(ip[{}] = 2 and tcp)", i % 40),
        })
        .collect();
    for joiner in [" or ", " and "] {
        let f = filter(&terms.join(joiner));
        for link in [LinkType::ETHERNET, LinkType::NULL, LinkType::RAW] {
            let _ = f.matches(link, &http_syn(), 54);
        }
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// The optimiser-like rewrite must not change any outcome for frames long enough for
/// every read: compare the rewritten and original trees on padded frames.
#[test]
fn simplification_keeps_results_for_frames_long_enough_to_read() {
    let expressions = [
        "tcp[100:4] = 0 or ip",
        "port 80 or ip",
        "host 192.0.2.1 or ip6 or arp",
        "(tcp[13] = 2 and tcp) or ip",
        "ip and (tcp[10] = 0 or ip)",
        "tcp[10] = 0 and ip6",
        "icmp6[0] = 128 or ip6 proto 58",
        "tcp port 80 or tcp",
        "udp port 53 or tcp or ip6",
        "vlan and tcp[1] = 1 or ip",
        "not (tcp[0] = 1 or ip) or udp",
    ];
    let mut padded = Vec::new();
    for base in [
        http_syn(),
        dns_query(),
        ethernet(0x86DD, &ipv6("fd00::2", "fd00::1", 58, &[128, 0, 0, 0])),
        vlan_tagged(100, 0x0800, &ipv4(CLIENT, SERVER, 6, &tcp(1, 80, 2))),
        ethernet(0x0806, &[0; 28]),
    ] {
        let mut frame = base;
        frame.resize(400, 0);
        padded.push(frame);
    }
    for expr in expressions {
        let original = parse::parse(expr).expect("parses");
        for framing in [
            Framing::Ethernet,
            Framing::Null,
            Framing::RawIp,
            Framing::LinuxSll,
        ] {
            let simplified = simplify::simplify(original.clone(), framing);
            for frame in &padded {
                let run = |tree: &Expr| eval::matches(tree, &Frame::new(framing, frame, 400));
                assert_eq!(run(&original), run(&simplified), "{expr} on {framing:?}");
            }
        }
    }
}

#[test]
fn redundant_reads_are_dropped_like_libpcap_drops_them() {
    // A short IPv4 frame: tcpdump accepts it for 'tcp[100:4] = 0 or ip' because its
    // optimiser removes the read; 'ip[100] = 1 or ip[0] = 0x45' keeps the read.
    let syn = http_syn();
    assert!(on_ethernet("tcp[100:4] = 0 or ip", &syn));
    assert!(on_ethernet("port 80 or ip", &syn[..20]));
    assert!(!on_ethernet("ip[100] = 1 or ip[0] = 0x45", &syn));
}
