//! Evaluates a filter tree on one frame the way libpcap's compiled BPF program would:
//! tests run left to right and stop as soon as the outcome is known; fields are read at
//! the offsets libpcap's code generator uses for each link type (header lengths are not
//! validated, exactly as in BPF); and a read past the captured bytes, or a division by
//! zero, rejects the whole packet, whatever `not` or `or` surround it.

use std::cell::Cell;

use super::ast::{
    ethertype, ip_protocol, ipv6_masked_words, ppp_type, Depth, Dir, Expr, IpVersion, Layer,
    NetProto, Test, TestKind, Value, ETHERTYPE_TEB, GENEVE_PORT, MAX_GENEVE, PPPOE_AND_PPP_LEN,
    TAG_LEN,
};
use crate::capture::LinkType;

/// How a link type frames the network layer, as far as the filter cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(super) enum Framing {
    /// Ethernet II: 14-byte header, type at 12; each VLAN tag adds 4 bytes.
    Ethernet,
    /// Linux cooked v1: 16-byte header, protocol at 14.
    LinuxSll,
    /// Linux cooked v2: 20-byte header, protocol at 0.
    LinuxSll2,
    /// BSD loopback: 4-byte address family in the writer's byte order.
    Null,
    /// OpenBSD loopback: 4-byte address family, big-endian.
    Loop,
    /// Raw IP: the version nibble tells IPv4 from IPv6.
    RawIp,
    /// Raw IPv4 only.
    RawIpv4,
    /// Raw IPv6 only.
    RawIpv6,
    /// PPP (link type 9): address and control bytes, then the PPP protocol at 2.
    Ppp,
    /// PPP in HDLC-like framing (50): laid out as PPP, but without MPLS in libpcap.
    PppSerial,
    /// PPPoE (51): the PPPoE session header, then the PPP protocol at 6.
    PppEther,
    /// Cisco HDLC (104): address and control bytes, then an EtherType at 2.
    CHdlc,
    /// Linux NFLOG (239): libpcap filters only on `link[]` bytes and lengths.
    Nflog,
}

/// Where a link type's protocol field and network header are: `(type field, network
/// header)`, as libpcap's `off_linktype` and `off_linkpl` for it.
type TypeField = (u64, u64);

impl Framing {
    /// How many framings there are (for per-framing tables).
    pub const COUNT: usize = 13;

    /// A distinct index below [`Framing::COUNT`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether libpcap tests for `proto` on this link with a single comparison, so that
    /// its optimiser remembers the outcome afterwards. IPv6 on BSD loopback is three
    /// comparisons (three possible address families) whose paths merge.
    pub fn single_comparison(self, proto: NetProto) -> bool {
        !(matches!(self, Framing::Null | Framing::Loop) && proto == NetProto::Ipv6)
    }

    pub fn of(link: LinkType) -> Option<Framing> {
        Some(match link {
            LinkType::ETHERNET => Framing::Ethernet,
            LinkType::LINUX_SLL => Framing::LinuxSll,
            LinkType::LINUX_SLL2 => Framing::LinuxSll2,
            LinkType::NULL => Framing::Null,
            LinkType::LOOP => Framing::Loop,
            LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => Framing::RawIp,
            LinkType::IPV4 => Framing::RawIpv4,
            LinkType::IPV6 => Framing::RawIpv6,
            LinkType::PPP => Framing::Ppp,
            LinkType::PPP_HDLC => Framing::PppSerial,
            LinkType::PPP_ETHER => Framing::PppEther,
            LinkType::C_HDLC => Framing::CHdlc,
            LinkType::NFLOG => Framing::Nflog,
            _ => return None,
        })
    }

    /// libpcap's name for the link type, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            Framing::Ethernet => "Ethernet",
            Framing::LinuxSll => "Linux cooked v1",
            Framing::LinuxSll2 => "Linux cooked v2",
            Framing::Null => "BSD loopback",
            Framing::Loop => "OpenBSD loopback",
            Framing::RawIp => "Raw IP",
            Framing::RawIpv4 => "Raw IPv4",
            Framing::RawIpv6 => "Raw IPv6",
            Framing::Ppp => "PPP",
            Framing::PppSerial => "PPP over serial",
            Framing::PppEther => "PPPoE",
            Framing::CHdlc => "Cisco HDLC",
            Framing::Nflog => "Linux netfilter log messages",
        }
    }

    /// The protocol field and network header of link types that have a protocol field.
    fn type_field(self) -> Option<TypeField> {
        match self {
            Framing::Ethernet => Some((12, 14)),
            Framing::LinuxSll => Some((14, 16)),
            Framing::LinuxSll2 => Some((0, 20)),
            Framing::Ppp | Framing::PppSerial | Framing::CHdlc => Some((2, 4)),
            Framing::PppEther => Some((6, 8)),
            Framing::Null
            | Framing::Loop
            | Framing::RawIp
            | Framing::RawIpv4
            | Framing::RawIpv6
            | Framing::Nflog => None,
        }
    }

    /// Whether the protocol field holds PPP protocol numbers (libpcap maps EtherTypes
    /// with `ethertype_to_ppptype`).
    fn ppp_numbers(self, depth: Depth) -> bool {
        depth.pppoe_headers > 0
            || (depth.geneve == 0
                && matches!(self, Framing::Ppp | Framing::PppSerial | Framing::PppEther))
    }

    /// Where the link-level protocol field and the network header of a test at `depth`
    /// are, for link types (or Geneve payloads) that have such a field. VLAN tags move
    /// both on; a PPPoE header puts the PPP protocol 6 bytes into the old network header
    /// and the new one 2 bytes after it; MPLS labels move the network header only.
    pub(super) fn type_and_network(self, depth: Depth) -> Option<(At, At)> {
        let (mut ty, mut net) = if depth.geneve > 0 {
            let geneve = depth.geneve - 1;
            (
                At::reg(geneve, GeneveReg::LinkType),
                At::reg(geneve, GeneveReg::Payload),
            )
        } else {
            let (ty, net) = self.type_field()?;
            (At::abs(ty), At::abs(net))
        };
        let tags = TAG_LEN * u64::from(depth.vlan_tags);
        ty = ty.plus(tags);
        net = net.plus(tags);
        if depth.pppoe_headers > 0 {
            let before_last = PPPOE_AND_PPP_LEN * u64::from(depth.pppoe_headers - 1);
            ty = net.plus(before_last + PPPOE_AND_PPP_LEN - 2);
            net = net.plus(before_last + PPPOE_AND_PPP_LEN);
        }
        Some((ty, net.plus(TAG_LEN * u64::from(depth.mpls_labels))))
    }

    /// Offset of the network-layer header.
    pub(super) fn network(self, depth: Depth) -> At {
        if let Some((_, net)) = self.type_and_network(depth) {
            return net;
        }
        At::abs(match self {
            Framing::Null | Framing::Loop => 4,
            _ => 0,
        })
    }

    /// Where `link[]`, `ether[]` and Ethernet addresses count from: the frame, or the
    /// Geneve payload.
    pub(super) fn link_header(self, depth: Depth) -> At {
        match depth.geneve {
            0 => At::abs(0),
            n => At::reg(n - 1, GeneveReg::LinkHeader),
        }
    }

    /// Whether Ethernet-only tests (`vlan`, `ether host`) apply at `depth`: after
    /// `geneve`, libpcap treats the payload as Ethernet whatever the outer link.
    pub(super) fn ethernet_at(self, depth: Depth) -> bool {
        self == Framing::Ethernet || depth.geneve > 0
    }

    /// The value of the protocol field that announces `proto` at `depth`.
    pub(super) fn type_value(self, proto: NetProto, depth: Depth) -> u32 {
        let ethertype = proto.ethertype();
        u32::from(if self.ppp_numbers(depth) {
            ppp_type(ethertype)
        } else {
            ethertype
        })
    }
}

/// An offset a `geneve` test stores (libpcap's variable `off_linktype`, `off_linkhdr`
/// and `off_linkpl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GeneveReg {
    /// The protocol field: Geneve's own, or the inner Ethernet header's type.
    LinkType = 0,
    /// The end of the Geneve header and options.
    LinkHeader = 1,
    /// The payload's network header: after the inner Ethernet header, if any.
    Payload = 2,
}

/// How many stored offsets each `geneve` keeps.
pub(super) const GENEVE_REGS: usize = 3;

/// A frame offset: a constant, or a constant past an offset a `geneve` test stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct At {
    /// Which stored offset (`geneve * GENEVE_REGS + reg`), if any.
    pub reg: Option<usize>,
    pub k: u64,
}

impl At {
    pub fn abs(k: u64) -> At {
        At { reg: None, k }
    }

    fn reg(geneve: u8, reg: GeneveReg) -> At {
        At {
            reg: Some(usize::from(geneve) * GENEVE_REGS + reg as usize),
            k: 0,
        }
    }

    pub fn plus(self, n: u64) -> At {
        At {
            k: self.k + n,
            ..self
        }
    }

    /// `n` bytes before (only for offsets known to be past them: labels' last bytes).
    pub fn minus(self, n: u64) -> At {
        At {
            k: self.k.saturating_sub(n),
            ..self
        }
    }
}

/// BSD address families for IPv4 and IPv6 (IPv6's differs between BSDs: NetBSD/OpenBSD
/// 24, FreeBSD 28, Darwin 30), as libpcap tests them.
pub(super) const AF_INET: u32 = 2;
pub(super) const AF_INET6_BSD: [u32; 3] = [24, 28, 30];

/// The packet is rejected outright: BPF read past the captured bytes or divided by zero.
#[derive(Debug)]
pub(super) struct Reject;

type Outcome<T> = Result<T, Reject>;

/// One frame under evaluation.
pub(super) struct Frame<'a> {
    pub framing: Framing,
    pub bytes: &'a [u8],
    pub wire_len: u32,
    /// The offsets `geneve` tests stored, 0 until one does. libpcap leaves them unset
    /// (tcpdump reads what an earlier packet left in its scratch memory; the kernel
    /// refuses such a program), so a test reached without its `geneve` having matched
    /// (`geneve or tcp`) reads from the start of the frame here.
    pub regs: Cell<[u32; MAX_GENEVE * GENEVE_REGS]>,
}

impl<'a> Frame<'a> {
    pub fn new(framing: Framing, bytes: &'a [u8], wire_len: u32) -> Frame<'a> {
        Frame {
            framing,
            bytes,
            wire_len,
            regs: Cell::new([0; MAX_GENEVE * GENEVE_REGS]),
        }
    }

    /// The absolute offset `at` names in this frame.
    fn offset(&self, at: At) -> u64 {
        let base = at
            .reg
            .and_then(|r| self.regs.get().get(r).copied())
            .unwrap_or(0);
        u64::from(base) + at.k
    }

    fn bytes_at<const N: usize>(&self, offset: u64) -> Outcome<[u8; N]> {
        let start = usize::try_from(offset).map_err(|_| Reject)?;
        let end = start.checked_add(N).ok_or(Reject)?;
        self.bytes
            .get(start..end)
            .and_then(|b| b.try_into().ok())
            .ok_or(Reject)
    }

    fn u8_at(&self, at: At) -> Outcome<u32> {
        Ok(u32::from(self.bytes_at::<1>(self.offset(at))?[0]))
    }

    fn u16_at(&self, at: At) -> Outcome<u32> {
        Ok(u32::from(u16::from_be_bytes(
            self.bytes_at(self.offset(at))?,
        )))
    }

    fn u32_at(&self, at: At) -> Outcome<u32> {
        Ok(u32::from_be_bytes(self.bytes_at(self.offset(at))?))
    }

    /// Whether the link layer announces `proto` (libpcap `gen_linktype`). Tests that
    /// cannot hold on this link type read nothing, as libpcap compiles them to "false".
    fn carries(&self, proto: NetProto, depth: Depth) -> Outcome<bool> {
        if let Some((type_at, net)) = self.framing.type_and_network(depth) {
            if depth.mpls_labels > 0 {
                // The previous label must be the bottom of the stack, and the version
                // nibble says which IP follows (libpcap `gen_mpls_linktype`).
                let version = match proto {
                    NetProto::Ipv4 => 0x40,
                    NetProto::Ipv6 => 0x60,
                    _ => return Ok(false),
                };
                return Ok(
                    self.u8_at(net.minus(2))? & 0x01 == 0x01 && self.u8_at(net)? & 0xF0 == version
                );
            }
            return Ok(self.u16_at(type_at)? == self.framing.type_value(proto, depth));
        }
        match self.framing {
            Framing::Null | Framing::Loop => {
                let families: &[u32] = match proto {
                    NetProto::Ipv4 => &[AF_INET],
                    NetProto::Ipv6 => &AF_INET6_BSD,
                    _ => return Ok(false),
                };
                let raw = self.u32_at(At::abs(0))?;
                // libpcap reads the family in the byte order the file was written in; a
                // frame carries no hint of that, so either order is accepted (families
                // are small, so the two readings never collide).
                let matches = |family: u32| families.contains(&family);
                Ok(matches(raw) || (self.framing == Framing::Null && matches(raw.swap_bytes())))
            }
            Framing::RawIp => {
                let version = match proto {
                    NetProto::Ipv4 => 0x40,
                    NetProto::Ipv6 => 0x60,
                    _ => return Ok(false),
                };
                Ok(self.u8_at(At::abs(0))? & 0xF0 == version)
            }
            Framing::RawIpv4 => Ok(proto == NetProto::Ipv4),
            Framing::RawIpv6 => Ok(proto == NetProto::Ipv6),
            // Refused by `Filter::check_link`; the rest have a protocol field.
            _ => Ok(false),
        }
    }
}

/// Whether the frame passes the filter.
pub(super) fn matches(expr: &Expr, frame: &Frame<'_>) -> bool {
    eval(expr, frame).unwrap_or(false)
}

fn eval(expr: &Expr, frame: &Frame<'_>) -> Outcome<bool> {
    match expr {
        Expr::Const(value) => Ok(*value),
        Expr::All(items) => {
            for item in items {
                if !eval(item, frame)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::Any(items) => {
            for item in items {
                if eval(item, frame)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Expr::Not(inner) => Ok(!eval(inner, frame)?),
        Expr::Test(test) => eval_test(test, frame),
        Expr::Compare { op, lhs, rhs } => {
            // libpcap checks the protocols the loads need before computing anything.
            if !requirements_hold(lhs, frame)? || !requirements_hold(rhs, frame)? {
                return Ok(false);
            }
            let a = value(lhs, frame)?;
            let b = value(rhs, frame)?;
            Ok(op.holds(a, b))
        }
    }
}

/// Applies a test to the source field, the destination field, or both, as `dir` says.
fn by_direction(
    dir: Dir,
    src: At,
    dst: At,
    mut field_matches: impl FnMut(At) -> Outcome<bool>,
) -> Outcome<bool> {
    Ok(match dir {
        Dir::Src => field_matches(src)?,
        Dir::Dst => field_matches(dst)?,
        Dir::Either => field_matches(src)? || field_matches(dst)?,
        Dir::Both => field_matches(src)? && field_matches(dst)?,
    })
}

/// The first byte of the transport header of the IPv4 datagram at `net` (header length
/// from its IHL field, unchecked, as BPF's `4*([k]&0xf)`).
fn ipv4_transport(frame: &Frame<'_>, net: At) -> Outcome<u64> {
    Ok(frame.offset(net) + 4 * u64::from(frame.u8_at(net)? & 0x0F))
}

/// Whether the frame is UDP to `port` in IPv4 (not a later fragment) or IPv6 (right
/// after the fixed header), as libpcap's `gen_port`/`gen_port6` for `geneve`; the UDP
/// header's offset when it is.
fn udp_to(frame: &Frame<'_>, ip: IpVersion, depth: Depth, port: u16) -> Outcome<Option<u64>> {
    let net = frame.framing.network(depth);
    let udp = match ip {
        IpVersion::V4 => {
            if !frame.carries(NetProto::Ipv4, depth)?
                || frame.u8_at(net.plus(9))? != u32::from(ip_protocol::UDP)
                || !first_fragment(frame, net)?
            {
                return Ok(None);
            }
            ipv4_transport(frame, net)?
        }
        IpVersion::V6 => {
            if !frame.carries(NetProto::Ipv6, depth)?
                || frame.u8_at(net.plus(6))? != u32::from(ip_protocol::UDP)
            {
                return Ok(None);
            }
            frame.offset(net) + 40
        }
    };
    Ok((frame.u16_at(At::abs(udp + 2))? == u32::from(port)).then_some(udp))
}

/// libpcap's `geneve [vni]`: IPv4, then IPv6, UDP to port 6081 carrying Geneve version
/// 0 (and the VNI); then it stores, for the tests after it, where the payload's
/// protocol type is (Geneve's own, or the inner Ethernet header's when the protocol
/// type is Ethernet) and where its network header and link header start.
fn geneve(frame: &Frame<'_>, depth: Depth, vni: Option<u32>) -> Outcome<bool> {
    let mut start = None;
    for ip in [IpVersion::V4, IpVersion::V6] {
        let Some(udp) = udp_to(frame, ip, depth, GENEVE_PORT)? else {
            continue;
        };
        // RFC 8926 §3.4: version in the top 2 bits of the first byte; VNI in the
        // three bytes at 4.
        let header = udp + 8;
        if frame.u8_at(At::abs(header))? & 0xC0 != 0 {
            continue;
        }
        if let Some(vni) = vni {
            if frame.u32_at(At::abs(header + 4))? & 0xFFFF_FF00 != vni << 8 {
                continue;
            }
        }
        start = Some(header);
        break;
    }
    let Some(header) = start else {
        return Ok(false);
    };
    // Options length in 4-byte units in the low 6 bits of the first byte; protocol type
    // at 2.
    let end = header + 8 + 4 * u64::from(frame.u8_at(At::abs(header))? & 0x3F);
    let protocol = frame.u16_at(At::abs(header + 2))?;
    let (link_type, payload) = if protocol == u32::from(ETHERTYPE_TEB) {
        (end + 12, end + 14)
    } else {
        (header + 2, end)
    };
    let slot = usize::from(depth.geneve) * GENEVE_REGS;
    let mut regs = frame.regs.get();
    for (reg, value) in [
        (GeneveReg::LinkType, link_type),
        (GeneveReg::LinkHeader, end),
        (GeneveReg::Payload, payload),
    ] {
        // Offsets inside a frame that was read at `header`: far below 2^32.
        if let Some(r) = regs.get_mut(slot + reg as usize) {
            *r = u32::try_from(value).map_err(|_| Reject)?;
        }
    }
    frame.regs.set(regs);
    Ok(true)
}

fn eval_test(test: &Test, frame: &Frame<'_>) -> Outcome<bool> {
    let depth = test.depth;
    let net = frame.framing.network(depth);
    match test.kind {
        TestKind::NetProto(proto) => frame.carries(proto, depth),
        TestKind::Ipv4Protocol(protocol) => {
            // IPv4 header: protocol at 9 (RFC 791 §3.1).
            Ok(frame.carries(NetProto::Ipv4, depth)? && frame.u8_at(net.plus(9))? == protocol)
        }
        TestKind::Ipv6Protocol(protocol) => {
            if !frame.carries(NetProto::Ipv6, depth)? {
                return Ok(false);
            }
            // IPv6 header: next header at 6; a fragment header's next header is its
            // first byte, right after the 40-byte fixed header (RFC 8200 §3, §4.5).
            let next = frame.u8_at(net.plus(6))?;
            if next == protocol {
                return Ok(true);
            }
            Ok(next == u32::from(ip_protocol::IPV6_FRAGMENT)
                && frame.u8_at(net.plus(40))? == protocol)
        }
        TestKind::Ipv6NextHeader(protocol) => {
            Ok(frame.carries(NetProto::Ipv6, depth)? && frame.u8_at(net.plus(6))? == protocol)
        }
        TestKind::Ipv4Address {
            carrier,
            dir,
            addr,
            mask,
        } => {
            if !frame.carries(carrier, depth)? {
                return Ok(false);
            }
            // IPv4: source at 12, destination at 16 (RFC 791 §3.1). ARP/RARP for
            // Ethernet/IPv4: sender protocol address at 14, target at 24 (RFC 826).
            let (src, dst) = if carrier == NetProto::Ipv4 {
                (12, 16)
            } else {
                (14, 24)
            };
            by_direction(dir, net.plus(src), net.plus(dst), |at| {
                // A zero mask compares nothing (libpcap's optimiser drops the load).
                Ok(mask == 0 || frame.u32_at(at)? & mask == addr)
            })
        }
        TestKind::Ipv6Address { dir, addr, mask } => {
            if !frame.carries(NetProto::Ipv6, depth)? {
                return Ok(false);
            }
            // IPv6: source at 8, destination at 24 (RFC 8200 §3), compared in 32-bit
            // words from the first, skipping words the prefix does not cover.
            by_direction(dir, net.plus(8), net.plus(24), |at| {
                for (word, addr_word, mask_word) in ipv6_masked_words(addr, mask) {
                    if frame.u32_at(at.plus(4 * u64::from(word)))? & mask_word != addr_word {
                        return Ok(false);
                    }
                }
                Ok(true)
            })
        }
        TestKind::EtherAddress { dir, mac } => {
            if !frame.framing.ethernet_at(depth) {
                return Ok(false);
            }
            // Ethernet: destination at 0, source at 6; libpcap compares the last four
            // bytes first, then the first two.
            let tail = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]);
            let head = u32::from(u16::from_be_bytes([mac[0], mac[1]]));
            let link = frame.framing.link_header(depth);
            by_direction(dir, link.plus(6), link, |at| {
                Ok(frame.u32_at(at.plus(2))? == tail && frame.u16_at(at)? == head)
            })
        }
        TestKind::Port {
            ip,
            protocols,
            dir,
            low,
            high,
        } => {
            let in_range = |port: u32| (u32::from(low)..=u32::from(high)).contains(&port);
            let transport = match ip {
                IpVersion::V4 => {
                    if !frame.carries(NetProto::Ipv4, depth)? {
                        return Ok(false);
                    }
                    let protocol = frame.u8_at(net.plus(9))?;
                    if !u8::try_from(protocol).is_ok_and(|p| protocols.contains(p)) {
                        return Ok(false);
                    }
                    if !first_fragment(frame, net)? {
                        return Ok(false);
                    }
                    ipv4_transport(frame, net)?
                }
                IpVersion::V6 => {
                    if !frame.carries(NetProto::Ipv6, depth)? {
                        return Ok(false);
                    }
                    let next = frame.u8_at(net.plus(6))?;
                    if !u8::try_from(next).is_ok_and(|p| protocols.contains(p)) {
                        return Ok(false);
                    }
                    frame.offset(net) + 40
                }
            };
            // Ports: source at 0, destination at 2 (RFC 9293, 768, 9260).
            let transport = At::abs(transport);
            by_direction(dir, transport, transport.plus(2), |at| {
                Ok(in_range(frame.u16_at(at)?))
            })
        }
        TestKind::Vlan { id } => {
            let Some((type_at, net)) = frame.framing.type_and_network(depth) else {
                return Ok(false);
            };
            if !frame.framing.ethernet_at(depth) {
                return Ok(false);
            }
            let tpid = frame.u16_at(type_at)?;
            if !ethertype::VLAN_TAGS.iter().any(|&t| u32::from(t) == tpid) {
                return Ok(false);
            }
            match id {
                // The VLAN id is the low 12 bits of the tag control field (IEEE 802.1Q
                // §9.6), where the network header would be without the tag.
                Some(id) => Ok(frame.u16_at(net)? & 0x0FFF == u32::from(id)),
                None => Ok(true),
            }
        }
        TestKind::Mpls { label } => {
            if frame.framing.type_and_network(depth).is_none() {
                return Ok(false);
            }
            let here = if depth.mpls_labels > 0 {
                // Another label follows only when the previous one is not the bottom.
                frame.u8_at(net.minus(2))? & 0x01 == 0
            } else {
                frame.carries(NetProto::Ethertype(ethertype::MPLS), depth)?
            };
            match label {
                Some(label) if here => Ok(frame.u32_at(net)? & 0xFFFF_F000 == label << 12),
                _ => Ok(here),
            }
        }
        TestKind::Pppoes { session } => {
            if frame.framing.type_and_network(depth).is_none()
                || !frame.carries(NetProto::Ethertype(ethertype::PPPOE_SESSION), depth)?
            {
                return Ok(false);
            }
            match session {
                // The session id follows version, type and code (RFC 2516 §4).
                Some(id) => Ok(frame.u32_at(net)? & 0xFFFF == u32::from(id)),
                None => Ok(true),
            }
        }
        TestKind::Geneve { vni } => geneve(frame, depth, vni),
    }
}

/// Whether the IPv4 datagram at `net` is not a later fragment: its fragment offset (the
/// low 13 bits at 6, RFC 791 §3.1) is zero.
fn first_fragment(frame: &Frame<'_>, net: At) -> Outcome<bool> {
    Ok(frame.u16_at(net.plus(6))? & 0x1FFF == 0)
}

/// Whether the protocol checks implied by the loads in `value` hold, in the order
/// libpcap tests them (an index's requirements before its load's own).
fn requirements_hold(value: &Value, frame: &Frame<'_>) -> Outcome<bool> {
    match value {
        Value::Const(_) | Value::WireLen => Ok(true),
        Value::Neg(inner) => requirements_hold(inner, frame),
        Value::Binary { lhs, rhs, .. } => {
            Ok(requirements_hold(lhs, frame)? && requirements_hold(rhs, frame)?)
        }
        Value::Load {
            layer,
            index,
            depth,
            ..
        } => {
            if !requirements_hold(index, frame)? {
                return Ok(false);
            }
            let net = frame.framing.network(*depth);
            match *layer {
                Layer::Link => Ok(true),
                Layer::Network(proto) => frame.carries(proto, *depth),
                Layer::AfterIpv4(protocol) => Ok(frame.carries(NetProto::Ipv4, *depth)?
                    && frame.u8_at(net.plus(9))? == u32::from(protocol)
                    && first_fragment(frame, net)?),
                Layer::Icmp6 => Ok(frame.carries(NetProto::Ipv6, *depth)?
                    && frame.u8_at(net.plus(6))? == u32::from(ip_protocol::ICMPV6)),
            }
        }
    }
}

fn value(value_expr: &Value, frame: &Frame<'_>) -> Outcome<u32> {
    match value_expr {
        Value::Const(c) => Ok(*c),
        Value::WireLen => Ok(frame.wire_len),
        Value::Neg(inner) => Ok(value(inner, frame)?.wrapping_neg()),
        Value::Binary { op, lhs, rhs } => {
            let a = value(lhs, frame)?;
            let b = value(rhs, frame)?;
            op.apply(a, b).ok_or(Reject)
        }
        Value::Load {
            layer,
            index,
            size,
            depth,
        } => {
            let index = u64::from(value(index, frame)?);
            let net = frame.framing.network(*depth);
            let base = match layer {
                Layer::Link => frame.offset(frame.framing.link_header(*depth)),
                Layer::Network(_) => frame.offset(net),
                Layer::AfterIpv4(_) => ipv4_transport(frame, net)?,
                Layer::Icmp6 => frame.offset(net) + 40,
            };
            let at = At::abs(base + index);
            match size {
                1 => frame.u8_at(at),
                2 => frame.u16_at(at),
                _ => frame.u32_at(at),
            }
        }
    }
}
