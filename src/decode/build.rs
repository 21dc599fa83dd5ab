//! A small packet builder for tests, fuzz targets and benchmark generators.
//!
//! ```
//! use rustniffer::capture::LinkType;
//! use rustniffer::decode::build::{self, TcpPacket};
//! use rustniffer::decode::Decoder;
//!
//! let frame = TcpPacket::new("192.0.2.1:40000", "198.51.100.2:80")
//!     .seq(100)
//!     .ack(7)
//!     .payload(b"GET / HTTP/1.1\r\n\r\n")
//!     .ipv4_frame();
//! let mut decoder = Decoder::default();
//! let segment = decoder.decode(&build::packet(LinkType::ETHERNET, &frame)).unwrap();
//! assert_eq!(segment.payload, b"GET / HTTP/1.1\r\n\r\n");
//! ```
//!
//! Everything is written byte by byte from the RFC layouts, independently of the
//! decoder's own constants, so that a wrong offset in one is caught by the other.
//! IPv4 header and TCP checksums are filled in. The builder is for well-formed input:
//! addresses that do not fit the chosen IP version panic; malformed packets are made by
//! editing the returned bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::TcpFlags;
use crate::capture::{LinkType, Packet};
use crate::time::Timestamp;

/// EtherType values used by the link helpers.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86DD;
    pub const QINQ: u16 = 0x88A8;
    pub const QINQ_LEGACY: u16 = 0x9100;
    pub const MPLS: u16 = 0x8847;
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// Transparent Ethernet bridging (GRE, Geneve).
    pub const TEB: u16 = 0x6558;
    pub const ERSPAN_2: u16 = 0x88BE;
    pub const ERSPAN_3: u16 = 0x22EB;
}

/// IP protocol numbers used by the builder.
pub mod proto {
    pub const HOP_BY_HOP: u8 = 0;
    pub const IPV4: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const GRE: u8 = 47;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AUTH: u8 = 51;
    pub const NO_NEXT: u8 = 59;
    pub const DEST_OPTS: u8 = 60;
    pub const MOBILITY: u8 = 135;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;
}

/// Something that names an IP address and port: a `SocketAddr`, or a literal such as
/// `"192.0.2.1:80"` or `"[2001:db8::1]:443"` (which panics if it does not parse).
pub trait IntoSocketAddr {
    fn into_socket_addr(self) -> SocketAddr;
}

impl IntoSocketAddr for SocketAddr {
    fn into_socket_addr(self) -> SocketAddr {
        self
    }
}

impl IntoSocketAddr for &str {
    fn into_socket_addr(self) -> SocketAddr {
        self.parse()
            .unwrap_or_else(|e| panic!("builder address {self:?}: {e}"))
    }
}

impl IntoSocketAddr for (IpAddr, u16) {
    fn into_socket_addr(self) -> SocketAddr {
        SocketAddr::new(self.0, self.1)
    }
}

/// A TCP segment to be written as bytes, with its addresses.
#[derive(Clone, Debug)]
pub struct TcpPacket {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    urgent: u16,
    options: Vec<u8>,
    payload: Vec<u8>,
    ip_id: u16,
}

impl TcpPacket {
    /// The 4-tuple the decoder should find for this segment.
    pub fn key(&self) -> super::FlowKey {
        let end = |a: SocketAddr| super::Endpoint {
            ip: a.ip(),
            port: a.port(),
        };
        super::FlowKey {
            src: end(self.src),
            dst: end(self.dst),
        }
    }

    /// A segment from `src` to `dst`: no flags, sequence and acknowledgment 0, window
    /// 65535, no options, no payload.
    pub fn new(src: impl IntoSocketAddr, dst: impl IntoSocketAddr) -> Self {
        TcpPacket {
            src: src.into_socket_addr(),
            dst: dst.into_socket_addr(),
            seq: 0,
            ack: 0,
            flags: 0,
            window: 65535,
            urgent: 0,
            options: Vec::new(),
            payload: Vec::new(),
            ip_id: 1,
        }
    }

    /// Sets SYN.
    pub fn syn(mut self) -> Self {
        self.flags |= TcpFlags::SYN;
        self
    }

    /// Sets FIN.
    pub fn fin(mut self) -> Self {
        self.flags |= TcpFlags::FIN;
        self
    }

    /// Sets RST.
    pub fn rst(mut self) -> Self {
        self.flags |= TcpFlags::RST;
        self
    }

    /// Sets PSH.
    pub fn psh(mut self) -> Self {
        self.flags |= TcpFlags::PSH;
        self
    }

    /// Sets ACK and the acknowledgment number.
    pub fn ack(mut self, n: u32) -> Self {
        self.flags |= TcpFlags::ACK;
        self.ack = n;
        self
    }

    pub fn seq(mut self, n: u32) -> Self {
        self.seq = n;
        self
    }

    /// Replaces all flag bits (see [`flags`]).
    pub fn flags(mut self, bits: u8) -> Self {
        self.flags = bits;
        self
    }

    pub fn window(mut self, w: u16) -> Self {
        self.window = w;
        self
    }

    /// Appends NOP + window scale (RFC 7323 §2.2).
    pub fn wscale(mut self, shift: u8) -> Self {
        self.options.extend_from_slice(&[1, 3, 3, shift]);
        self
    }

    /// Appends NOP, NOP + timestamps (RFC 7323 §3.2).
    pub fn timestamps(mut self, val: u32, ecr: u32) -> Self {
        self.options.extend_from_slice(&[1, 1, 8, 10]);
        self.options.extend_from_slice(&val.to_be_bytes());
        self.options.extend_from_slice(&ecr.to_be_bytes());
        self
    }

    /// Appends raw option bytes (padded with end-of-list to a 4-byte boundary when written).
    pub fn raw_options(mut self, bytes: &[u8]) -> Self {
        self.options.extend_from_slice(bytes);
        self
    }

    /// Sets URG and the urgent pointer.
    pub fn urgent(mut self, ptr: u16) -> Self {
        self.flags |= TcpFlags::URG;
        self.urgent = ptr;
        self
    }

    pub fn payload(mut self, bytes: &[u8]) -> Self {
        self.payload = bytes.to_vec();
        self
    }

    /// IPv4 identification (matters for fragments).
    pub fn ip_id(mut self, id: u16) -> Self {
        self.ip_id = id;
        self
    }

    /// The TCP header and payload, checksum computed for these addresses.
    pub fn tcp(&self) -> Vec<u8> {
        let mut options = self.options.clone();
        options.resize(options.len().div_ceil(4) * 4, 0);
        let header_len = 20 + options.len();
        let mut t = Vec::with_capacity(header_len + self.payload.len());
        t.extend_from_slice(&self.src.port().to_be_bytes());
        t.extend_from_slice(&self.dst.port().to_be_bytes());
        t.extend_from_slice(&self.seq.to_be_bytes());
        t.extend_from_slice(&self.ack.to_be_bytes());
        t.push(((header_len / 4) as u8) << 4);
        t.push(self.flags);
        t.extend_from_slice(&self.window.to_be_bytes());
        t.extend_from_slice(&[0, 0]); // checksum, below
        t.extend_from_slice(&self.urgent.to_be_bytes());
        t.extend_from_slice(&options);
        t.extend_from_slice(&self.payload);

        // Pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1) + segment.
        let mut pseudo = Vec::with_capacity(40);
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&[0, proto::TCP]);
                pseudo.extend_from_slice(&(t.len() as u16).to_be_bytes());
            }
            (s, d) => {
                pseudo.extend_from_slice(&v6(s).octets());
                pseudo.extend_from_slice(&v6(d).octets());
                pseudo.extend_from_slice(&(t.len() as u32).to_be_bytes());
                pseudo.extend_from_slice(&[0, 0, 0, proto::TCP]);
            }
        }
        let sum = checksum(&[&pseudo, &t]);
        t[16..18].copy_from_slice(&sum.to_be_bytes());
        t
    }

    /// An IPv4 datagram (no options, DF clear) carrying the segment.
    pub fn ipv4(&self) -> Vec<u8> {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (self.src.ip(), self.dst.ip()) else {
            panic!(
                "ipv4() needs IPv4 addresses, got {} and {}",
                self.src, self.dst
            );
        };
        ipv4_datagram(src, dst, proto::TCP, self.ip_id, &self.tcp())
    }

    /// An IPv6 datagram carrying the segment.
    pub fn ipv6(&self) -> Vec<u8> {
        self.ipv6_with_extensions(&[])
    }

    /// An IPv6 datagram with the given extension headers (by next-header number, in
    /// order) between the fixed header and TCP. Each is the smallest valid one: 8 bytes
    /// (hop-by-hop and destination options hold a PadN, routing has no segments left, a
    /// fragment header is atomic), 16 bytes for AH.
    pub fn ipv6_with_extensions(&self, extensions: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for (i, &kind) in extensions.iter().enumerate() {
            let next = extensions.get(i + 1).copied().unwrap_or(proto::TCP);
            match kind {
                // RFC 4302 §2.2: length in 4-byte units minus 2; SPI, sequence, 4-byte ICV.
                proto::AUTH => {
                    body.extend_from_slice(&[next, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0])
                }
                // RFC 8200 §4.5: offset 0, M = 0, identification 1.
                proto::FRAGMENT => body.extend_from_slice(&[next, 0, 0, 0, 0, 0, 0, 1]),
                // RFC 8200 §4.2: PadN of 4 bytes fills the 8.
                proto::HOP_BY_HOP | proto::DEST_OPTS => {
                    body.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0])
                }
                _ => body.extend_from_slice(&[next, 0, 0, 0, 0, 0, 0, 0]),
            }
        }
        body.extend_from_slice(&self.tcp());
        let first = extensions.first().copied().unwrap_or(proto::TCP);
        ipv6_datagram(v6(self.src.ip()), v6(self.dst.ip()), first, &body)
    }

    /// `ipv4()` or `ipv6()`, by the address family.
    pub fn ip(&self) -> Vec<u8> {
        match self.src.ip() {
            IpAddr::V4(_) => self.ipv4(),
            IpAddr::V6(_) => self.ipv6(),
        }
    }

    /// An Ethernet frame carrying `ipv4()`.
    pub fn ipv4_frame(&self) -> Vec<u8> {
        ethernet(ethertype::IPV4, &self.ipv4())
    }

    /// An Ethernet frame carrying `ipv6()`.
    pub fn ipv6_frame(&self) -> Vec<u8> {
        ethernet(ethertype::IPV6, &self.ipv6())
    }

    /// An Ethernet frame carrying `ip()`.
    pub fn frame(&self) -> Vec<u8> {
        match self.src.ip() {
            IpAddr::V4(_) => self.ipv4_frame(),
            IpAddr::V6(_) => self.ipv6_frame(),
        }
    }
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V6(a) => a,
        IpAddr::V4(a) => panic!("an IPv6 packet needs IPv6 addresses, got {a}"),
    }
}

/// An IPv4 datagram (RFC 791 §3.1): 20-byte header, TTL 64, checksum filled.
pub fn ipv4_datagram(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    id: u16,
    payload: &[u8],
) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut d = vec![0x45, 0];
    d.extend_from_slice(&total.to_be_bytes());
    d.extend_from_slice(&id.to_be_bytes());
    d.extend_from_slice(&[0, 0, 64, protocol, 0, 0]);
    d.extend_from_slice(&src.octets());
    d.extend_from_slice(&dst.octets());
    set_ipv4_checksum(&mut d);
    d.extend_from_slice(payload);
    d
}

/// An IPv6 datagram (RFC 8200 §3): hop limit 64, `payload` after the fixed header.
pub fn ipv6_datagram(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0x60, 0, 0, 0];
    d.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    d.extend_from_slice(&[next_header, 64]);
    d.extend_from_slice(&src.octets());
    d.extend_from_slice(&dst.octets());
    d.extend_from_slice(payload);
    d
}

/// An Ethernet II frame (fixed MAC addresses).
pub fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    ethernet_tagged(&[], ethertype, payload)
}

/// An Ethernet frame with VLAN tags, outermost first: each tag is its TPID
/// ([`ethertype::VLAN`], [`ethertype::QINQ`]…) and a VLAN id 100, 101…
pub fn ethernet_tagged(tpids: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    for (i, tpid) in tpids.iter().enumerate() {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A Linux cooked (SLL) frame: sent by us, ARPHRD_ETHER, a 6-byte address.
pub fn linux_sll(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0];
    f.extend_from_slice(&protocol.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A Linux cooked v2 (SLL2) frame: interface 1, ARPHRD_ETHER, sent by us.
pub fn linux_sll2(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = protocol.to_be_bytes().to_vec();
    f.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 4, 6, 2, 0, 0, 0, 0, 2, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A BSD loopback (`LINKTYPE_NULL`) frame: the address family in the capturing host's
/// byte order, here chosen by `big_endian`.
pub fn bsd_null(family: u32, big_endian: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = if big_endian {
        family.to_be_bytes()
    } else {
        family.to_le_bytes()
    }
    .to_vec();
    f.extend_from_slice(payload);
    f
}

/// An OpenBSD loopback (`LINKTYPE_LOOP`) frame: the family is always big-endian.
pub fn bsd_loop(family: u32, payload: &[u8]) -> Vec<u8> {
    bsd_null(family, true, payload)
}

/// One fragment of an IPv4 datagram: its header (options included) with the payload
/// bytes `[offset, offset + len)` (clamped to the payload), MF as given. `offset` should
/// be a multiple of 8.
pub fn ipv4_fragment(datagram: &[u8], offset: usize, len: usize, more: bool) -> Vec<u8> {
    let header_len = usize::from(datagram.first().map_or(5, |b| b & 0x0f)) * 4;
    let header_len = header_len.min(datagram.len());
    let total = datagram.get(2..4).map_or(datagram.len(), |b| {
        usize::from(u16::from_be_bytes([b[0], b[1]]))
    });
    let payload = datagram
        .get(header_len..total.clamp(header_len, datagram.len()))
        .unwrap_or(&[]);
    let part = payload
        .get(offset.min(payload.len())..(offset + len).min(payload.len()))
        .unwrap_or(&[]);

    let mut f = datagram[..header_len].to_vec();
    if f.len() >= 20 {
        f[2..4].copy_from_slice(&((header_len + part.len()) as u16).to_be_bytes());
        let field = ((offset / 8) as u16 & 0x1fff) | if more { 0x2000 } else { 0 };
        f[6..8].copy_from_slice(&field.to_be_bytes());
        set_ipv4_checksum(&mut f);
    }
    f.extend_from_slice(part);
    f
}

/// An IPv4 datagram cut into fragments carrying `size` payload bytes each (rounded down
/// to a multiple of 8, at least 8), in order.
pub fn ipv4_fragments(datagram: &[u8], size: usize) -> Vec<Vec<u8>> {
    let header_len = usize::from(datagram.first().map_or(5, |b| b & 0x0f)) * 4;
    let payload_len = datagram.len().saturating_sub(header_len);
    split(payload_len, size)
        .map(|(off, len, more)| ipv4_fragment(datagram, off, len, more))
        .collect()
}

/// One fragment of an IPv6 datagram: the fixed header as the unfragmentable part, a
/// fragment header (identification `id`), then bytes `[offset, offset + len)` of
/// everything after the fixed header (extension headers included; clamped).
pub fn ipv6_fragment(datagram: &[u8], offset: usize, len: usize, more: bool, id: u32) -> Vec<u8> {
    let fixed = datagram.get(..40).unwrap_or(datagram);
    let rest = datagram.get(40..).unwrap_or(&[]);
    let part = rest
        .get(offset.min(rest.len())..(offset + len).min(rest.len()))
        .unwrap_or(&[]);
    let next_header = fixed.get(6).copied().unwrap_or(proto::TCP);

    let mut f = fixed.to_vec();
    if f.len() == 40 {
        f[4..6].copy_from_slice(&((8 + part.len()) as u16).to_be_bytes());
        f[6] = proto::FRAGMENT;
    }
    let field = ((offset / 8) as u16) << 3 | u16::from(more);
    f.extend_from_slice(&[next_header, 0]);
    f.extend_from_slice(&field.to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(part);
    f
}

/// An IPv6 datagram cut into fragments of `size` bytes (rounded down to a multiple of 8,
/// at least 8), in order.
pub fn ipv6_fragments(datagram: &[u8], size: usize, id: u32) -> Vec<Vec<u8>> {
    let rest = datagram.len().saturating_sub(40);
    split(rest, size)
        .map(|(off, len, more)| ipv6_fragment(datagram, off, len, more, id))
        .collect()
}

/// (offset, length, more) of each piece of a `total`-byte payload cut every `size` bytes.
fn split(total: usize, size: usize) -> impl Iterator<Item = (usize, usize, bool)> {
    let size = (size / 8 * 8).max(8);
    (0..total.div_ceil(size).max(1)).map(move |i| {
        let off = i * size;
        let len = size.min(total - off.min(total));
        (off, len, off + len < total)
    })
}

// ------------------------------------------------------------ encapsulations

/// A UDP header and `payload` (RFC 768); checksum 0 ("not computed", allowed over IPv4
/// and by RFC 6935 for tunnels over IPv6).
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = src_port.to_be_bytes().to_vec();
    d.extend_from_slice(&dst_port.to_be_bytes());
    d.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    d
}

/// A VXLAN header (RFC 7348 §5: flags with I set, VNI) and the inner Ethernet frame.
pub fn vxlan(vni: u32, frame: &[u8]) -> Vec<u8> {
    let mut d = vec![0x08, 0, 0, 0];
    d.extend_from_slice(&(vni << 8).to_be_bytes());
    d.extend_from_slice(frame);
    d
}

/// A Geneve header (RFC 8926 §3.4) with `options` (a multiple of 4 bytes, written as
/// is), protocol type `protocol` and VNI, then `payload`.
pub fn geneve(vni: u32, protocol: u16, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut d = vec![(options.len() / 4) as u8, 0];
    d.extend_from_slice(&protocol.to_be_bytes());
    d.extend_from_slice(&(vni << 8).to_be_bytes());
    d.extend_from_slice(options);
    d.extend_from_slice(payload);
    d
}

/// A GTP-U G-PDU (3GPP TS 29.281 §5.1) with TEID `teid` carrying the IP datagram `ip`;
/// with `pdu_session`, the sequence-number fields and one PDU Session Container
/// extension header (type 0x85, one 4-byte unit) come first, as 5G cores send.
pub fn gtp_u(teid: u32, pdu_session: bool, ip: &[u8]) -> Vec<u8> {
    let mut rest = Vec::new();
    if pdu_session {
        rest.extend_from_slice(&[0, 0, 0, 0x85]); // sequence, N-PDU, next: PDU session
        rest.extend_from_slice(&[1, 0x10, 0x09, 0]); // length 1, UL, QFI 9, no next
    }
    rest.extend_from_slice(ip);
    let flags = if pdu_session { 0x34 } else { 0x30 };
    let mut d = vec![flags, 0xFF];
    d.extend_from_slice(&(rest.len() as u16).to_be_bytes());
    d.extend_from_slice(&teid.to_be_bytes());
    d.extend_from_slice(&rest);
    d
}

/// A GRE header (RFC 2784, RFC 2890) with the optional checksum (left 0), key and
/// sequence number, protocol type `protocol`, then `payload`.
pub fn gre(
    protocol: u16,
    checksum: bool,
    key: Option<u32>,
    seq: Option<u32>,
    payload: &[u8],
) -> Vec<u8> {
    let mut flags = 0u16;
    let mut fields = Vec::new();
    if checksum {
        flags |= 0x8000;
        fields.extend_from_slice(&[0; 4]);
    }
    if let Some(k) = key {
        flags |= 0x2000;
        fields.extend_from_slice(&k.to_be_bytes());
    }
    if let Some(s) = seq {
        flags |= 0x1000;
        fields.extend_from_slice(&s.to_be_bytes());
    }
    let mut d = flags.to_be_bytes().to_vec();
    d.extend_from_slice(&protocol.to_be_bytes());
    d.extend_from_slice(&fields);
    d.extend_from_slice(payload);
    d
}

/// An ERSPAN type II header (version 1, VLAN 0, session `session`, index 0) and the
/// mirrored frame; goes in GRE with a sequence number and protocol 0x88BE.
pub fn erspan2(session: u16, frame: &[u8]) -> Vec<u8> {
    let mut d = vec![0x10, 0];
    d.extend_from_slice(&(session & 0x3FF).to_be_bytes());
    d.extend_from_slice(&[0; 4]);
    d.extend_from_slice(frame);
    d
}

/// An ERSPAN type III header (version 2, session `session`, timestamp 0), with the
/// 8-byte platform sub-header when `platform`, and the mirrored frame; goes in GRE with
/// protocol 0x22EB.
pub fn erspan3(session: u16, platform: bool, frame: &[u8]) -> Vec<u8> {
    let mut d = vec![0x20, 0];
    d.extend_from_slice(&(session & 0x3FF).to_be_bytes());
    d.extend_from_slice(&[0; 4]); // timestamp
    d.extend_from_slice(&[0, 0]); // SGT
    d.extend_from_slice(&u16::from(platform).to_be_bytes()); // ... O
    if platform {
        d.extend_from_slice(&[0x18, 0, 0, 0, 0, 0, 0, 0]); // platform id 3
    }
    d.extend_from_slice(frame);
    d
}

/// An MPLS label stack (RFC 3032 §2.1), outermost first, TTL 64, S on the last.
pub fn mpls(labels: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let bottom = if i + 1 == labels.len() { 0x100 } else { 0 };
        d.extend_from_slice(&((label << 12) | bottom | 64).to_be_bytes());
    }
    d.extend_from_slice(payload);
    d
}

/// A PPPoE session header (RFC 2516 §4) and PPP protocol `ppp_protocol` before `payload`.
pub fn pppoe_session(session: u16, ppp_protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0x11, 0];
    d.extend_from_slice(&session.to_be_bytes());
    d.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    d.extend_from_slice(&ppp_protocol.to_be_bytes());
    d.extend_from_slice(payload);
    d
}

/// PPP protocol numbers (RFC 1661, IANA).
pub mod ppp {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
    pub const MPLS: u16 = 0x0281;
}

/// A PPP frame: with `hdlc`, the RFC 1662 address and control bytes (FF 03) first.
pub fn ppp_frame(hdlc: bool, protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = if hdlc { vec![0xFF, 0x03] } else { Vec::new() };
    d.extend_from_slice(&protocol.to_be_bytes());
    d.extend_from_slice(payload);
    d
}

/// A Cisco HDLC frame: unicast address, control 0, `ethertype`.
pub fn chdlc(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0x0F, 0];
    d.extend_from_slice(&ethertype.to_be_bytes());
    d.extend_from_slice(payload);
    d
}

/// A Linux NFLOG record (little-endian TLVs, as on x86): family, version 0, resource
/// id, a prefix TLV (type 10) and the packet TLV (type 9) holding `ip`, padded to 4.
pub fn nflog(family: u8, ip: &[u8]) -> Vec<u8> {
    let mut d = vec![family, 0, 0, 5];
    let tlv = |d: &mut Vec<u8>, kind: u16, value: &[u8]| {
        d.extend_from_slice(&((4 + value.len()) as u16).to_le_bytes());
        d.extend_from_slice(&kind.to_le_bytes());
        d.extend_from_slice(value);
        while d.len() % 4 != 0 {
            d.push(0);
        }
    };
    tlv(&mut d, 10, b"rustniffer\0");
    tlv(&mut d, 9, ip);
    d
}

/// An Ethernet frame carrying an IPv4 datagram from `src` to `dst` of protocol
/// `protocol` around `payload`: the outer packet of a tunnel.
pub fn outer_ipv4(src: &str, dst: &str, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let ip = ipv4_datagram(
        src.parse().expect("an IPv4 address"),
        dst.parse().expect("an IPv4 address"),
        protocol,
        0x4242,
        payload,
    );
    ethernet(ethertype::IPV4, &ip)
}

/// A frame to hand to the decoder, at time 0, captured whole.
pub fn packet(link: LinkType, data: &[u8]) -> Packet<'_> {
    packet_at(link, data, Timestamp(0))
}

/// A frame to hand to the decoder at time `ts`, captured whole.
pub fn packet_at(link: LinkType, data: &[u8], ts: Timestamp) -> Packet<'_> {
    Packet {
        ts,
        link,
        data,
        orig_len: data.len() as u32,
    }
}

/// A classic pcap file (microsecond, little-endian, snaplen 262144) holding `frames`.
pub fn pcap(link: LinkType, frames: &[(Timestamp, &[u8])]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4_u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]); // thiszone, sigfigs
    f.extend_from_slice(&262_144u32.to_le_bytes());
    f.extend_from_slice(&link.0.to_le_bytes());
    for (ts, data) in frames {
        f.extend_from_slice(&(ts.secs() as u32).to_le_bytes());
        f.extend_from_slice(&ts.subsec_micros().to_le_bytes());
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend_from_slice(data);
    }
    f
}

/// RFC 1071 Internet checksum over the concatenation of `parts` (each of even length
/// except possibly the last).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        for pair in part.chunks(2) {
            let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
            sum += u32::from(word);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn set_ipv4_checksum(header: &mut [u8]) {
    if header.len() >= 20 {
        header[10..12].copy_from_slice(&[0, 0]);
        let sum = checksum(&[header]);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify_to_zero() {
        let d = TcpPacket::new("192.0.2.1:1", "192.0.2.2:2")
            .payload(b"abc")
            .ipv4();
        assert_eq!(checksum(&[&d[..20]]), 0);
        let mut pseudo = d[12..20].to_vec();
        pseudo.extend_from_slice(&[0, 6, 0, (d.len() - 20) as u8]);
        assert_eq!(checksum(&[&pseudo, &d[20..]]), 0);
    }

    #[test]
    fn fragments_cover_the_payload_exactly() {
        let d = TcpPacket::new("192.0.2.1:1", "192.0.2.2:2")
            .payload(&[7; 100])
            .ipv4();
        let frags = ipv4_fragments(&d, 50);
        let sizes: Vec<usize> = frags.iter().map(|f| f.len() - 20).collect();
        assert_eq!(sizes, vec![48, 48, 24]);
        assert_eq!(frags[2][6] & 0x20, 0, "last fragment has MF clear");
    }
}
