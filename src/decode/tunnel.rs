//! Encapsulations: the headers between an outer datagram (or link header) and the
//! inner one, and the record of the levels crossed ([`Tunnels`]).
//!
//! Each parser takes the bytes just after the header that announced it and says where
//! the inner packet starts and what it is; every length is checked against those bytes.
//! Nothing here follows the chain: `Decoder` does, bounded by [`MAX_DEPTH`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::Skip;

/// Most encapsulation levels one packet may cross; a deeper packet is malformed. Real
/// nestings seldom pass three (e.g. MPLS, GRE, VXLAN).
pub const MAX_DEPTH: usize = 8;

/// UDP destination ports that announce an encapsulation by default.
pub mod port {
    /// VXLAN, RFC 7348 §5 (IANA).
    pub const VXLAN: u16 = 4789;
    /// VXLAN on Linux's pre-IANA default port, still used by Flannel.
    pub const VXLAN_LINUX: u16 = 8472;
    /// Geneve, RFC 8926 §3.3 (IANA).
    pub const GENEVE: u16 = 6081;
    /// GTP-U, 3GPP TS 29.281 §4.4.2.3 (IANA).
    pub const GTP_U: u16 = 2152;
}

/// Which encapsulation a level is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    /// RFC 7348: id is the VNI.
    Vxlan,
    /// RFC 8926: id is the VNI.
    Geneve,
    /// 3GPP TS 29.281: id is the TEID.
    GtpU,
    /// RFC 2784/2890: id is the key, when present.
    Gre,
    /// Cisco ERSPAN type I, II or III over GRE: id is the session (type I has none).
    Erspan,
    /// An IP datagram in IPv4 or IPv6 (protocols 4 and 41): no id.
    IpInIp,
    /// RFC 3032 label stack: id is the bottom (innermost) label.
    Mpls,
    /// RFC 2516 PPPoE session: id is the session id.
    Pppoe,
}

impl TunnelKind {
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::GtpU => "gtp-u",
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::IpInIp => "ipip",
            TunnelKind::Mpls => "mpls",
            TunnelKind::Pppoe => "pppoe",
        }
    }

    /// The name of the id in `%tunnel`.
    fn id_name(self) -> &'static str {
        match self {
            TunnelKind::Vxlan | TunnelKind::Geneve => "vni",
            TunnelKind::GtpU => "teid",
            TunnelKind::Gre => "key",
            TunnelKind::Erspan | TunnelKind::Pppoe => "session",
            TunnelKind::Mpls => "label",
            TunnelKind::IpInIp => "id",
        }
    }

    /// Whether the level has outer IP addresses (MPLS and PPPoE sit below IP).
    fn has_addresses(self) -> bool {
        !matches!(self, TunnelKind::Mpls | TunnelKind::Pppoe)
    }
}

/// One encapsulation level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunnel {
    pub kind: TunnelKind,
    /// VNI, TEID, GRE key, ERSPAN session, MPLS label or PPPoE session.
    pub id: Option<u32>,
    /// The outer datagram's addresses (unspecified for MPLS and PPPoE).
    pub src: IpAddr,
    pub dst: IpAddr,
}

pub(crate) const NO_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl Tunnel {
    pub(crate) fn link(kind: TunnelKind, id: u32) -> Tunnel {
        Tunnel {
            kind,
            id: Some(id),
            src: NO_ADDRESS,
            dst: NO_ADDRESS,
        }
    }
}

impl fmt::Display for Tunnel {
    /// `vxlan vni=42 192.0.2.1>192.0.2.2`, `mpls label=100`, `ipip 10.0.0.1>10.0.0.2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.name())?;
        if let Some(id) = self.id {
            write!(f, " {}={id}", self.kind.id_name())?;
        }
        if self.kind.has_addresses() {
            write!(f, " {}>{}", self.src, self.dst)?;
        }
        Ok(())
    }
}

/// The encapsulations a packet was found in, outermost first. Kept inline (no
/// allocation): at most [`MAX_DEPTH`] levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunnels {
    len: u8,
    levels: [Tunnel; MAX_DEPTH],
}

impl Default for Tunnels {
    fn default() -> Self {
        Tunnels {
            len: 0,
            levels: [Tunnel::link(TunnelKind::IpInIp, 0); MAX_DEPTH],
        }
    }
}

/// Marks a VNI in [`Tunnels::segment_id`] (VNIs are 24 bits), so VNI 0 differs from none.
const SEGMENT_PRESENT: u32 = 1 << 24;

impl Tunnels {
    /// The levels, outermost first.
    pub fn levels(&self) -> &[Tunnel] {
        self.levels.get(..usize::from(self.len)).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every level.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Adds the next inner level; a packet nested deeper than [`MAX_DEPTH`] is malformed.
    pub(crate) fn push(&mut self, level: Tunnel) -> Result<(), Skip> {
        let slot = self
            .levels
            .get_mut(usize::from(self.len))
            .ok_or(Skip::Bad)?;
        *slot = level;
        self.len += 1;
        Ok(())
    }

    /// Forgets the innermost level.
    pub(crate) fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    /// The id `%tunnel.id` prints: the innermost level's that has one.
    pub fn id(&self) -> Option<u32> {
        self.levels().iter().rev().find_map(|t| t.id)
    }

    /// The part of the connection key the encapsulation adds: the innermost VXLAN or
    /// Geneve VNI, or 0 without one. A VNI names one virtual network, the same in both
    /// directions and at every hop, in which the inner addresses are private: the same
    /// inner 4-tuple in two VNIs is two connections. Other ids do not name an address
    /// space that way (MPLS labels change at every hop, GTP-U TEIDs and GRE keys may
    /// differ by direction, an ERSPAN session names a mirror) and stay out of the key.
    pub fn segment_id(&self) -> u32 {
        self.levels()
            .iter()
            .rev()
            .find(|t| matches!(t.kind, TunnelKind::Vxlan | TunnelKind::Geneve))
            .and_then(|t| t.id)
            .map_or(0, |vni| SEGMENT_PRESENT | (vni & 0x00FF_FFFF))
    }
}

impl fmt::Display for Tunnels {
    /// The levels outermost first, joined by `, `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.levels().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// Which UDP destination ports carry which encapsulation (`--vxlan-port`,
/// `--geneve-port` add to the defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelPorts {
    pub vxlan: Vec<u16>,
    pub geneve: Vec<u16>,
    pub gtp_u: Vec<u16>,
}

/// An encapsulation announced by a UDP destination port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UdpEncap {
    Vxlan,
    Geneve,
    GtpU,
}

/// [`TunnelPorts`] as one lookup per datagram: two bits per UDP port (16 KiB), 0 for
/// none, else the [`UdpEncap`]. A port given for two encapsulations is VXLAN before
/// Geneve before GTP-U.
#[derive(Clone)]
pub(crate) struct PortTable {
    words: Box<[u64; PortTable::WORDS]>,
}

impl PortTable {
    const PORTS_PER_WORD: usize = 32;
    const WORDS: usize = 65536 / Self::PORTS_PER_WORD;

    pub(crate) fn new(ports: &TunnelPorts) -> PortTable {
        let mut table = PortTable {
            words: Box::new([0; Self::WORDS]),
        };
        // Lowest priority first: a later assignment overwrites.
        for (list, code) in [(&ports.gtp_u, 3), (&ports.geneve, 2), (&ports.vxlan, 1)] {
            for &port in list {
                let (word, shift) = Self::slot(port);
                if let Some(w) = table.words.get_mut(word) {
                    *w = (*w & !(3 << shift)) | (code << shift);
                }
            }
        }
        table
    }

    fn slot(port: u16) -> (usize, u32) {
        let port = usize::from(port);
        (
            port / Self::PORTS_PER_WORD,
            2 * (port % Self::PORTS_PER_WORD) as u32,
        )
    }

    /// The encapsulation UDP destination port `port` announces, if any.
    #[inline]
    pub(crate) fn kind(&self, port: u16) -> Option<UdpEncap> {
        let (word, shift) = Self::slot(port);
        match (self.words.get(word).copied().unwrap_or(0) >> shift) & 3 {
            1 => Some(UdpEncap::Vxlan),
            2 => Some(UdpEncap::Geneve),
            3 => Some(UdpEncap::GtpU),
            _ => None,
        }
    }
}

impl Default for TunnelPorts {
    fn default() -> Self {
        TunnelPorts {
            vxlan: vec![port::VXLAN, port::VXLAN_LINUX],
            geneve: vec![port::GENEVE],
            gtp_u: vec![port::GTP_U],
        }
    }
}

/// What an encapsulation header says follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inner {
    /// An Ethernet frame.
    Ethernet,
    /// A payload named by an EtherType (IPv4, IPv6, MPLS…).
    EtherType(u16),
    /// An IP datagram whose version nibble decides.
    Ip,
}

/// A parsed encapsulation header: what follows, from which offset, and the id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Encap {
    pub kind: TunnelKind,
    pub id: Option<u32>,
    pub inner: Inner,
    /// Where the inner packet starts in the bytes parsed.
    pub at: usize,
}

fn be16(b: &[u8], at: usize) -> Result<u16, Skip> {
    match b.get(at..at + 2) {
        Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err(Skip::Short),
    }
}

fn be32(b: &[u8], at: usize) -> Result<u32, Skip> {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(Skip::Short),
    }
}

fn byte(b: &[u8], at: usize) -> Result<u8, Skip> {
    b.get(at).copied().ok_or(Skip::Short)
}

/// EtherTypes an encapsulation may name (IEEE 802 numbers registry).
pub(crate) mod ethertype {
    /// RFC 1701 "transparent Ethernet bridging": an Ethernet frame follows.
    pub const TEB: u16 = 0x6558;
    /// ERSPAN type II (and type I, without a sequence number).
    pub const ERSPAN_2: u16 = 0x88BE;
    /// ERSPAN type III.
    pub const ERSPAN_3: u16 = 0x22EB;
}

/// The UDP header (RFC 768) is 8 bytes.
pub(crate) const UDP_HEADER_LEN: usize = 8;

/// The destination port of a UDP header (RFC 768), if the header is there.
pub(crate) fn udp_dst_port(udp: &[u8]) -> Option<u16> {
    be16(udp, 2).ok()
}

/// The payload of a datagram whose UDP part (header and payload) is `udp`.
pub(crate) fn udp_payload(udp: &[u8]) -> Result<&[u8], Skip> {
    let len = usize::from(be16(udp, 4)?);
    if len < UDP_HEADER_LEN {
        return Err(Skip::Bad);
    }
    // The IP layer made sure the datagram is whole: a UDP length beyond it is a lie.
    udp.get(UDP_HEADER_LEN..len).ok_or(Skip::Bad)
}

/// VXLAN (RFC 7348 §5): flags (I bit 0x08 = VNI valid), 3 reserved, VNI (3), reserved.
pub(crate) fn vxlan(b: &[u8]) -> Result<Encap, Skip> {
    const HEADER_LEN: usize = 8;
    const FLAG_VNI: u8 = 0x08;
    let flags = byte(b, 0)?;
    let word = be32(b, 4)?;
    if b.len() < HEADER_LEN {
        return Err(Skip::Short);
    }
    if flags & FLAG_VNI == 0 {
        // Something else on the port.
        return Err(Skip::NotTcp);
    }
    Ok(Encap {
        kind: TunnelKind::Vxlan,
        id: Some(word >> 8),
        inner: Inner::Ethernet,
        at: HEADER_LEN,
    })
}

/// Geneve (RFC 8926 §3.4): version (2 bits, 0) and options length (6 bits, 4-byte
/// units), flags, protocol type, VNI (3), reserved; options skipped by their length.
pub(crate) fn geneve(b: &[u8]) -> Result<Encap, Skip> {
    const HEADER_LEN: usize = 8;
    let first = byte(b, 0)?;
    if first >> 6 != 0 {
        // A version this does not know, or something else on the port.
        return Err(Skip::NotTcp);
    }
    let protocol = be16(b, 2)?;
    let vni = be32(b, 4)? >> 8;
    let at = HEADER_LEN + usize::from(first & 0x3F) * 4;
    if b.len() < at {
        return Err(Skip::Short);
    }
    let inner = match protocol {
        ethertype::TEB => Inner::Ethernet,
        other => Inner::EtherType(other),
    };
    Ok(Encap {
        kind: TunnelKind::Geneve,
        id: Some(vni),
        inner,
        at,
    })
}

/// GTP-U (3GPP TS 29.281 §5.1): flags (version 1, PT 1, E S PN), message type, length,
/// TEID; then, when E, S or PN is set, sequence number (2), N-PDU number (1) and the
/// next extension header type, and the extension headers (length in 4-byte units, the
/// last byte naming the next). Only G-PDUs (type 255) carry user packets.
pub(crate) fn gtp_u(b: &[u8]) -> Result<Encap, Skip> {
    const HEADER_LEN: usize = 8;
    const OPTIONAL_LEN: usize = 4;
    const G_PDU: u8 = 0xFF;
    const VERSION_1: u8 = 1;
    const PT: u8 = 0x10;
    const E_S_PN: u8 = 0x07;
    const E: u8 = 0x04;
    let flags = byte(b, 0)?;
    if flags >> 5 != VERSION_1 || flags & PT == 0 {
        // GTP' (PT 0) or another version: no user packets.
        return Err(Skip::NotTcp);
    }
    if byte(b, 1)? != G_PDU {
        return Err(Skip::NotTcp);
    }
    let length = usize::from(be16(b, 2)?);
    let teid = be32(b, 4)?;
    let end = HEADER_LEN + length;
    let b = b.get(..end).ok_or(Skip::Bad)?;
    let mut at = HEADER_LEN;
    if flags & E_S_PN != 0 {
        at += OPTIONAL_LEN;
        let mut next = byte(b, at - 1)?;
        if flags & E == 0 {
            next = 0;
        }
        // Each extension header is at least 4 bytes, so the walk ends within the PDU.
        while next != 0 {
            let units = usize::from(byte(b, at)?);
            if units == 0 {
                return Err(Skip::Bad);
            }
            at += units * 4;
            next = byte(b, at - 1)?;
        }
    }
    if at > b.len() {
        return Err(Skip::Short);
    }
    Ok(Encap {
        kind: TunnelKind::GtpU,
        id: Some(teid),
        inner: Inner::Ip,
        at,
    })
}

/// GRE (RFC 2784 §2.1, RFC 2890 §2): C, K, S flags and version 0; checksum and
/// reserved (4) if C, key (4) if K, sequence number (4) if S. The routing present bit
/// of RFC 1701 and other versions (1 is PPTP's) are not read. ERSPAN follows its GRE
/// header: type II (protocol 0x88BE with S set) has an 8-byte header, type I (0x88BE
/// without S) none, type III (0x22EB) 12 bytes and an 8-byte platform sub-header when
/// its O bit is set.
pub(crate) fn gre(b: &[u8]) -> Result<Encap, Skip> {
    const BASE_LEN: usize = 4;
    const C: u16 = 0x8000;
    const R: u16 = 0x4000;
    const K: u16 = 0x2000;
    const S: u16 = 0x1000;
    const VERSION: u16 = 0x0007;
    let flags = be16(b, 0)?;
    let protocol = be16(b, 2)?;
    if flags & (R | VERSION) != 0 {
        return Err(Skip::NotTcp);
    }
    let mut at = BASE_LEN;
    if flags & C != 0 {
        at += 4;
    }
    let key = if flags & K != 0 {
        at += 4;
        Some(be32(b, at - 4)?)
    } else {
        None
    };
    if flags & S != 0 {
        at += 4;
    }
    if b.len() < at {
        return Err(Skip::Short);
    }
    let rest = b.get(at..).ok_or(Skip::Short)?;
    match protocol {
        ethertype::ERSPAN_2 if flags & S == 0 => Ok(Encap {
            kind: TunnelKind::Erspan,
            id: None,
            inner: Inner::Ethernet,
            at,
        }),
        ethertype::ERSPAN_2 => {
            // Ver (4) VLAN (12) | COS (3) En (2) T (1) Session ID (10) | Reserved, Index.
            const HEADER_LEN: usize = 8;
            let session = be16(rest, 2)? & 0x03FF;
            if rest.len() < HEADER_LEN {
                return Err(Skip::Short);
            }
            Ok(Encap {
                kind: TunnelKind::Erspan,
                id: Some(u32::from(session)),
                inner: Inner::Ethernet,
                at: at + HEADER_LEN,
            })
        }
        ethertype::ERSPAN_3 => {
            // Ver/VLAN | COS BSO T Session ID | Timestamp (4) | SGT (2) | P FT HW ID D Gra O.
            const HEADER_LEN: usize = 12;
            const PLATFORM_LEN: usize = 8;
            const O: u16 = 0x0001;
            let session = be16(rest, 2)? & 0x03FF;
            let last = be16(rest, 10)?;
            let len = HEADER_LEN + if last & O != 0 { PLATFORM_LEN } else { 0 };
            if rest.len() < len {
                return Err(Skip::Short);
            }
            Ok(Encap {
                kind: TunnelKind::Erspan,
                id: Some(u32::from(session)),
                inner: Inner::Ethernet,
                at: at + len,
            })
        }
        ethertype::TEB => Ok(Encap {
            kind: TunnelKind::Gre,
            id: key,
            inner: Inner::Ethernet,
            at,
        }),
        other => Ok(Encap {
            kind: TunnelKind::Gre,
            id: key,
            inner: Inner::EtherType(other),
            at,
        }),
    }
}
