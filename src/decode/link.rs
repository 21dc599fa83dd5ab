//! Link-layer shims: find where the IP header starts in a frame, and which IP version
//! the link layer announces. Each shim is a few named offsets; nothing is copied.

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
pub(crate) fn network(link: LinkType, frame: &[u8]) -> Result<(Net, usize), Skip> {
    match link {
        LinkType::ETHERNET => {
            let ethertype = be16(frame, ethernet::ETHERTYPE)?;
            by_ethertype(frame, ethernet::HEADER_LEN, ethertype)
        }
        LinkType::LINUX_SLL => {
            let protocol = be16(frame, sll::PROTOCOL)?;
            by_ethertype(frame, sll::HEADER_LEN, protocol)
        }
        LinkType::LINUX_SLL2 => {
            if frame.len() < sll2::HEADER_LEN {
                return Err(Skip::Short);
            }
            let protocol = be16(frame, sll2::PROTOCOL)?;
            by_ethertype(frame, sll2::HEADER_LEN, protocol)
        }
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

/// Follows VLAN tags (any depth: each one consumes 4 bytes, so the frame length bounds
/// the loop) down to an IP EtherType. `at` never passes `frame.len()`: each EtherType
/// read ends exactly where the next header starts.
fn by_ethertype(frame: &[u8], mut at: usize, mut ethertype: u16) -> Result<(Net, usize), Skip> {
    loop {
        match ethertype {
            ethertype::IPV4 => return Ok((Net::V4, at)),
            ethertype::IPV6 => return Ok((Net::V6, at)),
            ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_LEGACY => {
                let inner = vlan::INNER_ETHERTYPE;
                ethertype = be16(frame, at + inner.start..at + inner.end)?;
                at += vlan::TAG_LEN;
            }
            _ => return Err(Skip::NotIp),
        }
    }
}
