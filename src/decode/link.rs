//! Link-layer shims: find where the IP header starts in a frame, and which IP version
//! the link layer announces. Each shim is a few named offsets; nothing is copied.

use super::tunnel::{Tunnel, TunnelKind, Tunnels};
use super::Skip;
use crate::capture::LinkType;

/// The network layer a link header announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Net {
    V4,
    V6,
    /// Raw IP links that carry both: the version nibble of the first byte decides.
    ByVersion,
}

/// EtherType values (IEEE 802 numbers registry).
mod ethertype {
    /// RFC 894.
    pub const IPV4: u16 = 0x0800;
    /// RFC 8200 §1 / RFC 2464 §3.
    pub const IPV6: u16 = 0x86DD;
    /// IEEE 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service VLAN tag (Q-in-Q).
    pub const QINQ: u16 = 0x88A8;
    /// Pre-standard Q-in-Q tag still emitted by some switches.
    pub const QINQ_LEGACY: u16 = 0x9100;
    /// RFC 3032 §5: MPLS unicast and multicast.
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    /// RFC 2516 §4: PPPoE session stage.
    pub const PPPOE_SESSION: u16 = 0x8864;
}

/// An MPLS label stack entry (RFC 3032 §2.1): label (20 bits), TC (3), S (1), TTL (8).
mod mpls {
    pub const ENTRY_LEN: usize = 4;
    pub const BOTTOM_OF_STACK: u32 = 0x100;
    /// RFC 4385 §3: a pseudowire control word starts with the nibble 0; an Ethernet
    /// frame (RFC 4448) follows it.
    pub const CONTROL_WORD_LEN: usize = 4;
}

/// PPPoE session header (RFC 2516 §4): version and type (0x11), code (0 for session
/// data), session id (2), length (2); then the PPP protocol field.
mod pppoe {
    pub const VERSION_TYPE: u8 = 0x11;
    pub const CODE_SESSION: u8 = 0;
    pub const HEADER_LEN: usize = 6;
}

/// PPP protocol numbers (RFC 1661 §2, IANA "PPP DLL Protocol Numbers").
mod ppp {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
    pub const MPLS: u16 = 0x0281;
    pub const MPLS_MULTICAST: u16 = 0x0283;
    /// RFC 1662 §3.1: "all stations" address and unnumbered-information control.
    pub const ADDRESS: u8 = 0xFF;
    pub const CONTROL: u8 = 0x03;
}

/// Cisco HDLC: address (0x0F unicast, 0x8F broadcast), control (0), an EtherType.
mod chdlc {
    pub const UNICAST: u8 = 0x0F;
    pub const BROADCAST: u8 = 0x8F;
    pub const PROTOCOL_AT: usize = 2;
    pub const HEADER_LEN: usize = 4;
}

/// Linux NFLOG (tcpdump.org `LINKTYPE_NFLOG`): family (1), version (1), resource id
/// (2), then TLVs of length (2, including these 4 bytes) and type (2), both in the
/// capturing host's byte order, each padded to 4 bytes. Type 9 holds the packet.
mod nflog {
    pub const HEADER_LEN: usize = 4;
    pub const TLV_HEADER_LEN: usize = 4;
    pub const PAYLOAD: u16 = 9;
    pub const AF_INET: u8 = 2;
    pub const AF_INET6: u8 = 10;
}

/// Ethernet II header (IEEE 802.3 §3.1.1).
mod ethernet {
    use std::ops::Range;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const HEADER_LEN: usize = 14;
}

/// An 802.1Q tag follows the outer EtherType: TCI (2 bytes), then the inner EtherType.
mod vlan {
    use std::ops::Range;
    /// Relative to the start of the tag (just after the EtherType that announced it).
    pub const INNER_ETHERTYPE: Range<usize> = 2..4;
    pub const TAG_LEN: usize = 4;
}

/// Linux cooked capture v1 (tcpdump.org `LINKTYPE_LINUX_SLL`): packet type (2),
/// ARPHRD type (2), address length (2), address (8), protocol (2).
mod sll {
    use std::ops::Range;
    pub const PROTOCOL: Range<usize> = 14..16;
    pub const HEADER_LEN: usize = 16;
}

/// Linux cooked capture v2 (tcpdump.org `LINKTYPE_LINUX_SLL2`): protocol (2), reserved (2),
/// interface index (4), ARPHRD type (2), packet type (1), address length (1), address (8).
mod sll2 {
    use std::ops::Range;
    pub const PROTOCOL: Range<usize> = 0..2;
    pub const HEADER_LEN: usize = 20;
}

/// BSD loopback (`LINKTYPE_NULL`, `LINKTYPE_LOOP`): a 4-byte address family.
mod null {
    use std::ops::Range;
    pub const FAMILY: Range<usize> = 0..4;
    pub const HEADER_LEN: usize = 4;
}

/// Address family numbers as BSD-derived systems write them in the loopback header.
mod family {
    /// AF_INET is 2 everywhere.
    pub const INET: u32 = 2;
    /// AF_INET6: Linux 10, NetBSD/OpenBSD 24, FreeBSD/DragonFly 28, macOS/iOS 30.
    pub const INET6: [u32; 4] = [10, 24, 28, 30];
}

fn be16(frame: &[u8], at: std::ops::Range<usize>) -> Result<u16, Skip> {
    match frame.get(at) {
        Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err(Skip::Short),
    }
}

/// Where the IP header starts in `frame`, and which version the link layer announces.
/// The returned offset is never beyond `frame.len()`.
#[inline]
/// `tun` receives the MPLS and PPPoE levels crossed; without it (`--no-tunnels`) they
/// are not IP.
pub(crate) fn network(
    link: LinkType,
    frame: &[u8],
    tun: Option<&mut Tunnels>,
) -> Result<(Net, usize), Skip> {
    match link {
        // The common case first: untagged IPv4.
        LinkType::ETHERNET if frame.get(ethernet::ETHERTYPE) == Some(&[0x08, 0x00]) => {
            Ok((Net::V4, ethernet::HEADER_LEN))
        }
        LinkType::ETHERNET => ethernet(frame, 0, tun),
        LinkType::LINUX_SLL => {
            let protocol = be16(frame, sll::PROTOCOL)?;
            by_ethertype(frame, sll::HEADER_LEN, protocol, tun)
        }
        LinkType::LINUX_SLL2 => {
            if frame.len() < sll2::HEADER_LEN {
                return Err(Skip::Short);
            }
            let protocol = be16(frame, sll2::PROTOCOL)?;
            by_ethertype(frame, sll2::HEADER_LEN, protocol, tun)
        }
        LinkType::PPP => {
            // Either HDLC-like framing (FF 03) or the bare protocol field.
            let at = if frame.starts_with(&[ppp::ADDRESS, ppp::CONTROL]) {
                2
            } else {
                0
            };
            by_ppp(frame, at, tun)
        }
        LinkType::PPP_HDLC | LinkType::C_HDLC => match frame.first() {
            Some(&ppp::ADDRESS) => by_ppp(frame, 2, tun),
            Some(&chdlc::UNICAST | &chdlc::BROADCAST) => {
                let protocol = be16(frame, chdlc::PROTOCOL_AT..chdlc::PROTOCOL_AT + 2)?;
                by_ethertype(frame, chdlc::HEADER_LEN, protocol, tun)
            }
            Some(_) => Err(Skip::NotIp),
            None => Err(Skip::Short),
        },
        LinkType::PPP_ETHER => by_ethertype(frame, 0, ethertype::PPPOE_SESSION, tun),
        LinkType::NFLOG => nflog_payload(frame),
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => Ok((Net::ByVersion, 0)),
        LinkType::IPV4 => Ok((Net::V4, 0)),
        LinkType::IPV6 => Ok((Net::V6, 0)),
        LinkType::NULL => {
            let raw = family_bytes(frame)?;
            // The capturing host's byte order is unknown: families are small numbers, so
            // whichever reading gives a known family is the right one.
            let le = u32::from_le_bytes(raw);
            let family = if by_family(le).is_some() {
                le
            } else {
                u32::from_be_bytes(raw)
            };
            by_family(family)
                .map(|net| (net, null::HEADER_LEN))
                .ok_or(Skip::NotIp)
        }
        LinkType::LOOP => {
            let family = u32::from_be_bytes(family_bytes(frame)?);
            by_family(family)
                .map(|net| (net, null::HEADER_LEN))
                .ok_or(Skip::NotIp)
        }
        _ => Err(Skip::NotIp),
    }
}

fn family_bytes(frame: &[u8]) -> Result<[u8; 4], Skip> {
    match frame.get(null::FAMILY) {
        Some(&[a, b, c, d]) => Ok([a, b, c, d]),
        _ => Err(Skip::Short),
    }
}

fn by_family(family: u32) -> Option<Net> {
    if family == family::INET {
        Some(Net::V4)
    } else if family::INET6.contains(&family) {
        Some(Net::V6)
    } else {
        None
    }
}

/// An Ethernet frame starting at `at` of `frame`.
pub(crate) fn ethernet(
    frame: &[u8],
    at: usize,
    tun: Option<&mut Tunnels>,
) -> Result<(Net, usize), Skip> {
    let field = ethernet::ETHERTYPE;
    let ethertype = be16(frame, at + field.start..at + field.end)?;
    by_ethertype(frame, at + ethernet::HEADER_LEN, ethertype, tun)
}

/// A PPP protocol field at `at` (one byte when compressed: RFC 1661 §6.5, odd values).
fn by_ppp(frame: &[u8], at: usize, tun: Option<&mut Tunnels>) -> Result<(Net, usize), Skip> {
    let (protocol, len) = match frame.get(at) {
        Some(&b) if b & 1 == 1 => (u16::from(b), 1),
        Some(_) => (be16(frame, at..at + 2)?, 2),
        None => return Err(Skip::Short),
    };
    let at = at + len;
    match protocol {
        ppp::IPV4 => Ok((Net::V4, at)),
        ppp::IPV6 => Ok((Net::V6, at)),
        ppp::MPLS | ppp::MPLS_MULTICAST => by_ethertype(frame, at, ethertype::MPLS, tun),
        _ => Err(Skip::NotIp),
    }
}

/// The packet TLV of an NFLOG record. The TLV byte order is the capturing host's:
/// little-endian is tried first (x86, ARM), big-endian when it gives no sane length.
fn nflog_payload(frame: &[u8]) -> Result<(Net, usize), Skip> {
    let net = match frame.first() {
        Some(&nflog::AF_INET) => Net::V4,
        Some(&nflog::AF_INET6) => Net::V6,
        Some(_) => Net::ByVersion,
        None => return Err(Skip::Short),
    };
    let mut at = nflog::HEADER_LEN;
    // Each TLV consumes at least 4 bytes: the walk ends within the frame.
    while let Some(&[a, b, c, d]) = frame.get(at..at + nflog::TLV_HEADER_LEN) {
        let rest = frame.len() - at;
        let (len, kind) = match usize::from(u16::from_le_bytes([a, b])) {
            n if (nflog::TLV_HEADER_LEN..=rest).contains(&n) => (n, u16::from_le_bytes([c, d])),
            _ => (
                usize::from(u16::from_be_bytes([a, b])),
                u16::from_be_bytes([c, d]),
            ),
        };
        if len < nflog::TLV_HEADER_LEN || len > rest {
            return Err(Skip::Bad);
        }
        if kind == nflog::PAYLOAD {
            return Ok((net, at + nflog::TLV_HEADER_LEN));
        }
        at += len.next_multiple_of(4);
    }
    // No packet in this record (e.g. only its metadata was logged).
    Err(Skip::NotIp)
}

/// Follows VLAN tags, MPLS label stacks and PPPoE sessions (any depth: each consumes at
/// least 4 bytes, so the frame length bounds the loop) down to an IP header. `at`
/// never passes `frame.len()`: each field read ends where the next header starts.
/// MPLS and PPPoE are levels of `tun`, and not IP without it.
pub(crate) fn by_ethertype(
    frame: &[u8],
    mut at: usize,
    mut ethertype: u16,
    mut tun: Option<&mut Tunnels>,
) -> Result<(Net, usize), Skip> {
    loop {
        match ethertype {
            ethertype::IPV4 => return Ok((Net::V4, at)),
            ethertype::IPV6 => return Ok((Net::V6, at)),
            ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_LEGACY => {
                let inner = vlan::INNER_ETHERTYPE;
                ethertype = be16(frame, at + inner.start..at + inner.end)?;
                at += vlan::TAG_LEN;
            }
            ethertype::MPLS | ethertype::MPLS_MULTICAST => {
                let Some(t) = tun.as_deref_mut() else {
                    return Err(Skip::NotIp);
                };
                let bottom = loop {
                    let entry = be32(frame, at)?;
                    at += mpls::ENTRY_LEN;
                    if entry & mpls::BOTTOM_OF_STACK != 0 {
                        break entry >> 12;
                    }
                };
                t.push(Tunnel::link(TunnelKind::Mpls, bottom))?;
                match frame.get(at).map(|b| b >> 4) {
                    Some(4) => return Ok((Net::V4, at)),
                    Some(6) => return Ok((Net::V6, at)),
                    Some(0) => {
                        at += mpls::CONTROL_WORD_LEN;
                        let field = ethernet::ETHERTYPE;
                        ethertype = be16(frame, at + field.start..at + field.end)?;
                        at += ethernet::HEADER_LEN;
                    }
                    Some(_) => return Err(Skip::NotIp),
                    None => return Err(Skip::Short),
                }
            }
            ethertype::PPPOE_SESSION => {
                let Some(t) = tun.as_deref_mut() else {
                    return Err(Skip::NotIp);
                };
                let Some(&[version_type, code, hi, lo, _, _]) =
                    frame.get(at..at + pppoe::HEADER_LEN)
                else {
                    return Err(Skip::Short);
                };
                if version_type != pppoe::VERSION_TYPE || code != pppoe::CODE_SESSION {
                    return Err(Skip::NotIp);
                }
                let session = u16::from_be_bytes([hi, lo]);
                t.push(Tunnel::link(TunnelKind::Pppoe, u32::from(session)))?;
                return by_ppp(frame, at + pppoe::HEADER_LEN, tun);
            }
            _ => return Err(Skip::NotIp),
        }
    }
}

fn be32(frame: &[u8], at: usize) -> Result<u32, Skip> {
    match frame.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(Skip::Short),
    }
}
