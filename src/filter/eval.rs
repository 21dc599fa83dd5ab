//! Evaluates a filter tree on one frame the way libpcap's compiled BPF program would:
//! tests run left to right and stop as soon as the outcome is known; fields are read at
//! the offsets libpcap's code generator uses for each link type (header lengths are not
//! validated, exactly as in BPF); and a read past the captured bytes, or a division by
//! zero, rejects the whole packet, whatever `not` or `or` surround it.

use super::ast::{
    ethertype, ip_protocol, ipv6_masked_words, ppp_type, Depth, Dir, Expr, IpVersion, Layer,
    NetProto, Test, TestKind, Value,
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
}

impl Framing {
    /// How many framings there are (for per-framing tables).
    pub const COUNT: usize = 8;

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
        }
    }

    /// Offset of the network-layer header.
    pub(super) fn network_offset(self, depth: Depth) -> u64 {
        match self {
            Framing::Ethernet => depth.ethernet_network_offset(),
            Framing::LinuxSll => 16,
            Framing::LinuxSll2 => 20,
            Framing::Null | Framing::Loop => 4,
            Framing::RawIp | Framing::RawIpv4 | Framing::RawIpv6 => 0,
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
}

impl Frame<'_> {
    fn bytes_at<const N: usize>(&self, offset: u64) -> Outcome<[u8; N]> {
        let start = usize::try_from(offset).map_err(|_| Reject)?;
        let end = start.checked_add(N).ok_or(Reject)?;
        self.bytes
            .get(start..end)
            .and_then(|b| b.try_into().ok())
            .ok_or(Reject)
    }

    fn u8_at(&self, offset: u64) -> Outcome<u32> {
        Ok(u32::from(self.bytes_at::<1>(offset)?[0]))
    }

    fn u16_at(&self, offset: u64) -> Outcome<u32> {
        Ok(u32::from(u16::from_be_bytes(self.bytes_at(offset)?)))
    }

    fn u32_at(&self, offset: u64) -> Outcome<u32> {
        Ok(u32::from_be_bytes(self.bytes_at(offset)?))
    }

    /// Whether the link layer announces `proto` (libpcap `gen_linktype`). Tests that
    /// cannot hold on this link type read nothing, as libpcap compiles them to "false".
    fn carries(&self, proto: NetProto, depth: Depth) -> Outcome<bool> {
        let wanted = u32::from(proto.ethertype());
        match self.framing {
            Framing::Ethernet if depth.mpls_labels > 0 => {
                // The previous label must be the bottom of the stack, and the version
                // nibble says which IP follows (libpcap `gen_mpls_linktype`).
                let version = match proto {
                    NetProto::Ipv4 => 0x40,
                    NetProto::Ipv6 => 0x60,
                    _ => return Ok(false),
                };
                let net = depth.ethernet_network_offset();
                Ok(self.u8_at(net - 2)? & 0x01 == 0x01 && self.u8_at(net)? & 0xF0 == version)
            }
            Framing::Ethernet if depth.pppoe_headers > 0 => Ok(self
                .u16_at(depth.ppp_protocol_offset())?
                == u32::from(ppp_type(proto.ethertype()))),
            Framing::Ethernet => Ok(self.u16_at(depth.ethertype_offset())? == wanted),
            Framing::LinuxSll => Ok(self.u16_at(14)? == wanted),
            Framing::LinuxSll2 => Ok(self.u16_at(0)? == wanted),
            Framing::Null | Framing::Loop => {
                let families: &[u32] = match proto {
                    NetProto::Ipv4 => &[AF_INET],
                    NetProto::Ipv6 => &AF_INET6_BSD,
                    _ => return Ok(false),
                };
                let raw = self.u32_at(0)?;
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
                Ok(self.u8_at(0)? & 0xF0 == version)
            }
            Framing::RawIpv4 => Ok(proto == NetProto::Ipv4),
            Framing::RawIpv6 => Ok(proto == NetProto::Ipv6),
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
    src: u64,
    dst: u64,
    mut field_matches: impl FnMut(u64) -> Outcome<bool>,
) -> Outcome<bool> {
    Ok(match dir {
        Dir::Src => field_matches(src)?,
        Dir::Dst => field_matches(dst)?,
        Dir::Either => field_matches(src)? || field_matches(dst)?,
        Dir::Both => field_matches(src)? && field_matches(dst)?,
    })
}

fn eval_test(test: &Test, frame: &Frame<'_>) -> Outcome<bool> {
    let depth = test.depth;
    let net = frame.framing.network_offset(depth);
    match test.kind {
        TestKind::NetProto(proto) => frame.carries(proto, depth),
        TestKind::Ipv4Protocol(protocol) => {
            // IPv4 header: protocol at 9 (RFC 791 §3.1).
            Ok(frame.carries(NetProto::Ipv4, depth)? && frame.u8_at(net + 9)? == protocol)
        }
        TestKind::Ipv6Protocol(protocol) => {
            if !frame.carries(NetProto::Ipv6, depth)? {
                return Ok(false);
            }
            // IPv6 header: next header at 6; a fragment header's next header is its
            // first byte, right after the 40-byte fixed header (RFC 8200 §3, §4.5).
            let next = frame.u8_at(net + 6)?;
            if next == protocol {
                return Ok(true);
            }
            Ok(next == u32::from(ip_protocol::IPV6_FRAGMENT) && frame.u8_at(net + 40)? == protocol)
        }
        TestKind::Ipv6NextHeader(protocol) => {
            Ok(frame.carries(NetProto::Ipv6, depth)? && frame.u8_at(net + 6)? == protocol)
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
            by_direction(dir, net + src, net + dst, |offset| {
                // A zero mask compares nothing (libpcap's optimiser drops the load).
                Ok(mask == 0 || frame.u32_at(offset)? & mask == addr)
            })
        }
        TestKind::Ipv6Address { dir, addr, mask } => {
            if !frame.carries(NetProto::Ipv6, depth)? {
                return Ok(false);
            }
            // IPv6: source at 8, destination at 24 (RFC 8200 §3), compared in 32-bit
            // words from the first, skipping words the prefix does not cover.
            by_direction(dir, net + 8, net + 24, |offset| {
                for (word, addr_word, mask_word) in ipv6_masked_words(addr, mask) {
                    if frame.u32_at(offset + 4 * u64::from(word))? & mask_word != addr_word {
                        return Ok(false);
                    }
                }
                Ok(true)
            })
        }
        TestKind::EtherAddress { dir, mac } => {
            if frame.framing != Framing::Ethernet {
                return Ok(false);
            }
            // Ethernet: destination at 0, source at 6; libpcap compares the last four
            // bytes first, then the first two.
            let tail = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]);
            let head = u32::from(u16::from_be_bytes([mac[0], mac[1]]));
            by_direction(dir, 6, 0, |offset| {
                Ok(frame.u32_at(offset + 2)? == tail && frame.u16_at(offset)? == head)
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
            match ip {
                IpVersion::V4 => {
                    if !frame.carries(NetProto::Ipv4, depth)? {
                        return Ok(false);
                    }
                    let protocol = frame.u8_at(net + 9)?;
                    if !u8::try_from(protocol).is_ok_and(|p| protocols.contains(p)) {
                        return Ok(false);
                    }
                    if !first_fragment(frame, net)? {
                        return Ok(false);
                    }
                    let transport = net + ipv4_header_len(frame, net)?;
                    // Ports: source at 0, destination at 2 (RFC 9293, 768, 9260).
                    by_direction(dir, transport, transport + 2, |offset| {
                        Ok(in_range(frame.u16_at(offset)?))
                    })
                }
                IpVersion::V6 => {
                    if !frame.carries(NetProto::Ipv6, depth)? {
                        return Ok(false);
                    }
                    let next = frame.u8_at(net + 6)?;
                    if !u8::try_from(next).is_ok_and(|p| protocols.contains(p)) {
                        return Ok(false);
                    }
                    let transport = net + 40;
                    by_direction(dir, transport, transport + 2, |offset| {
                        Ok(in_range(frame.u16_at(offset)?))
                    })
                }
            }
        }
        TestKind::Vlan { id } => {
            if frame.framing != Framing::Ethernet {
                return Ok(false);
            }
            let type_at = depth.ethertype_offset();
            let tpid = frame.u16_at(type_at)?;
            if !ethertype::VLAN_TAGS.iter().any(|&t| u32::from(t) == tpid) {
                return Ok(false);
            }
            match id {
                // The VLAN id is the low 12 bits of the tag control field (IEEE 802.1Q §9.6).
                Some(id) => Ok(frame.u16_at(type_at + 2)? & 0x0FFF == u32::from(id)),
                None => Ok(true),
            }
        }
        TestKind::Mpls { label } => {
            if frame.framing != Framing::Ethernet {
                return Ok(false);
            }
            let here = if depth.mpls_labels > 0 {
                // Another label follows only when the previous one is not the bottom.
                frame.u8_at(net - 2)? & 0x01 == 0
            } else {
                frame.carries(NetProto::Ethertype(ethertype::MPLS), depth)?
            };
            match label {
                Some(label) if here => Ok(frame.u32_at(net)? & 0xFFFF_F000 == label << 12),
                _ => Ok(here),
            }
        }
        TestKind::Pppoes { session } => {
            if frame.framing != Framing::Ethernet
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
    }
}

/// Whether the IPv4 datagram at `net` is not a later fragment: its fragment offset (the
/// low 13 bits at 6, RFC 791 §3.1) is zero.
fn first_fragment(frame: &Frame<'_>, net: u64) -> Outcome<bool> {
    Ok(frame.u16_at(net + 6)? & 0x1FFF == 0)
}

/// The IPv4 header length from its IHL field, unchecked (as BPF's `ldxb 4*([k]&0xf)`).
fn ipv4_header_len(frame: &Frame<'_>, net: u64) -> Outcome<u64> {
    Ok(4 * u64::from(frame.u8_at(net)? & 0x0F))
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
            let net = frame.framing.network_offset(*depth);
            match *layer {
                Layer::Link => Ok(true),
                Layer::Network(proto) => frame.carries(proto, *depth),
                Layer::AfterIpv4(protocol) => Ok(frame.carries(NetProto::Ipv4, *depth)?
                    && frame.u8_at(net + 9)? == u32::from(protocol)
                    && first_fragment(frame, net)?),
                Layer::Icmp6 => Ok(frame.carries(NetProto::Ipv6, *depth)?
                    && frame.u8_at(net + 6)? == u32::from(ip_protocol::ICMPV6)),
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
            let net = frame.framing.network_offset(*depth);
            let base = match layer {
                Layer::Link => 0,
                Layer::Network(_) => net,
                Layer::AfterIpv4(_) => net + ipv4_header_len(frame, net)?,
                Layer::Icmp6 => net + 40,
            };
            let at = base + index;
            match size {
                1 => frame.u8_at(at),
                2 => frame.u16_at(at),
                _ => frame.u32_at(at),
            }
        }
    }
}
