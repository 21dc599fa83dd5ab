//! Decoding: link layers, IPv4 and IPv6 (extension headers walked), IP fragment
//! reassembly (bounded), and the TCP header. Produces one [`Segment`] per TCP packet.
//!
//! Nothing here knows about connections; a frame that cannot be decoded is counted
//! and skipped, never an error.

use std::net::IpAddr;

use crate::time::Timestamp;

/// TCP flag bits (RFC 793 §3.1, RFC 3168 for ECE/CWR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    pub fn urg(self) -> bool {
        self.0 & Self::URG != 0
    }
}

/// One end of a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// The 4-tuple of a packet, as sent: `src` sent it to `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub src: Endpoint,
    pub dst: Endpoint,
}

impl FlowKey {
    /// The same connection seen from the other side.
    pub fn reversed(self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
        }
    }
}

/// The TCP options the flow layer uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// Window scale shift (RFC 7323 §2), as sent (not clamped).
    pub window_scale: Option<u8>,
    /// Timestamps option: (TSval, TSecr) (RFC 7323 §3).
    pub timestamp: Option<(u32, u32)>,
}

/// A decoded TCP segment. `payload` borrows the packet, or the decoder's reassembly
/// buffer for a defragmented datagram.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub ts: Timestamp,
    pub key: FlowKey,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub urgent_ptr: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
    /// The encapsulations the packet was found in, when there were any.
    pub tunnel: Option<&'a Tunnels>,
}

#[cfg(any(test, feature = "testing"))]
pub mod build;
mod frag;
mod ip;
mod link;
mod tcp;
#[cfg(test)]
mod tests;
pub mod tunnel;
#[cfg(test)]
mod tunnel_tests;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use crate::capture::Packet;

use tunnel::UdpEncap;
pub use tunnel::{Tunnel, TunnelKind, TunnelPorts, Tunnels};

pub use frag::{DATAGRAM_MAX, HOST_BYTES_MAX, RANGES_MAX, TIMEOUT_NS, TOTAL_BYTES_MAX};

/// Default for `-d`: hosts with IP fragments pending at once.
pub const DEFAULT_MAX_FRAGMENTED_HOSTS: usize = 1024;

/// What the decoder saw, for the report at exit.
///
/// Every frame lands in exactly one of `tcp_segments`, `non_ip`, `non_tcp`,
/// `malformed`, `truncated`, or is an IP fragment that did not complete a datagram, so
/// `frames == tcp_segments + non_ip + non_tcp + malformed + truncated
/// + fragments - datagrams_reassembled`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames given to [`Decoder::decode`].
    pub frames: u64,
    /// TCP segments returned.
    pub tcp_segments: u64,
    /// Frames whose link layer carries something other than IP (ARP, LLC…).
    pub non_ip: u64,
    /// IP datagrams carrying something other than TCP.
    pub non_tcp: u64,
    /// Frames whose headers contradict themselves (bad version, lengths that do not add
    /// up, TCP data offset outside the datagram…).
    pub malformed: u64,
    /// Frames cut by the capture's snapshot length before the end of their IP datagram:
    /// dropped whole.
    pub truncated: u64,
    /// IP fragments of datagrams that may carry TCP, taken into reassembly.
    pub fragments: u64,
    /// Datagrams rebuilt from fragments.
    pub datagrams_reassembled: u64,
    /// Fragments held right now, waiting for the rest of their datagram.
    pub fragments_pending: u64,
    /// Fragments given up because their host was pushed out of a table full at `-d`
    /// hosts (or `-d` is 0).
    pub fragments_discarded_hosts: u64,
    /// Fragments given up to a size bound: bytes pending per host ([`HOST_BYTES_MAX`])
    /// or in all ([`TOTAL_BYTES_MAX`]), or too scattered a datagram ([`RANGES_MAX`]).
    pub fragments_discarded_size: u64,
    /// Fragments given up because their datagram saw no new fragment for 30 s.
    pub fragments_discarded_timeout: u64,
    /// Fragments that contradict their datagram's length, reach beyond 65535 bytes, or
    /// carry nothing.
    pub fragments_discarded_invalid: u64,
}

/// Why a frame yields no segment (each maps to a [`DecodeStats`] counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    NotIp,
    NotTcp,
    /// Headers that contradict themselves.
    Bad,
    /// Needs more bytes than the frame holds: `truncated` when the capture cut the
    /// frame, `malformed` otherwise.
    Short,
    /// An IP fragment, held or discarded by the reassembler (which counts it).
    Fragment,
}

/// Where a segment was found: its payload lies in the packet or in the reassembler's
/// output buffer.
struct Found {
    src: IpAddr,
    dst: IpAddr,
    tcp: tcp::Header,
    payload: Range<usize>,
    reassembled: bool,
}

/// The buffer the decoder is reading: the packet, or a datagram the reassembler rebuilt.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Buf {
    Packet,
    Reassembled,
}

/// What the next header is.
#[derive(Clone, Copy)]
enum Layer {
    Net(link::Net),
    /// The upper-layer header `protocol` of the datagram last read (from `src` to `dst`
    /// in [`Decoder::walk`]).
    Upper {
        protocol: u8,
    },
    Ethernet,
    EtherType(u16),
}

impl From<tunnel::Inner> for Layer {
    fn from(inner: tunnel::Inner) -> Layer {
        match inner {
            tunnel::Inner::Ethernet => Layer::Ethernet,
            tunnel::Inner::EtherType(t) => Layer::EtherType(t),
            tunnel::Inner::Ip => Layer::Net(link::Net::ByVersion),
        }
    }
}

/// Turns captured frames into TCP segments. Keeps fragment-reassembly state and the
/// encapsulations of the last packet.
pub struct Decoder {
    stats: DecodeStats,
    frag: frag::Reassembler,
    /// UDP ports of the encapsulations; `None` with tunnel decoding off.
    ports: Option<tunnel::PortTable>,
    /// The encapsulations of the packet decoded last.
    tunnels: Tunnels,
    /// A fragment found inside a reassembled datagram, copied out of the reassembler's
    /// buffer before it goes back in (at most one datagram: 65535 bytes).
    scratch: Vec<u8>,
    /// Tests turn the VXLAN shortcut off to compare it with the general walk.
    #[cfg(test)]
    walk_only: bool,
}

impl Decoder {
    /// `max_fragmented_hosts` is `-d`: at most that many destination hosts have
    /// fragments pending at once (0 disables reassembly: fragments are discarded).
    /// Encapsulations are decoded on the default ports.
    pub fn new(max_fragmented_hosts: usize) -> Self {
        Decoder {
            stats: DecodeStats::default(),
            frag: frag::Reassembler::new(max_fragmented_hosts),
            ports: Some(tunnel::PortTable::new(&TunnelPorts::default())),
            tunnels: Tunnels::default(),
            scratch: Vec::new(),
            #[cfg(test)]
            walk_only: false,
        }
    }

    /// Decodes encapsulations with UDP ports `ports`, or not at all with `None`
    /// (`--no-tunnels`: MPLS, PPPoE and tunnel packets then count as not TCP or not IP).
    pub fn with_tunnels(mut self, ports: Option<TunnelPorts>) -> Self {
        self.ports = ports.as_ref().map(tunnel::PortTable::new);
        self
    }

    /// The TCP segment in `pkt`, or `None` (counted in [`Decoder::stats`]) for anything
    /// else. For the fragment that completes a datagram, the segment's payload borrows the
    /// decoder's reassembly buffer and its time is that fragment's.
    pub fn decode<'a>(&'a mut self, pkt: &Packet<'a>) -> Option<Segment<'a>> {
        self.stats.frames += 1;
        let found = match self.locate(pkt) {
            Ok(found) => found,
            Err(skip) => {
                self.count(skip, pkt);
                return None;
            }
        };
        self.stats.tcp_segments += 1;
        let this: &'a Decoder = self;
        let bytes: &'a [u8] = if found.reassembled {
            this.frag.output()
        } else {
            pkt.data
        };
        let t = found.tcp;
        Some(Segment {
            ts: pkt.ts,
            key: FlowKey {
                src: Endpoint {
                    ip: found.src,
                    port: t.src_port,
                },
                dst: Endpoint {
                    ip: found.dst,
                    port: t.dst_port,
                },
            },
            flags: TcpFlags(t.flags),
            seq: t.seq,
            ack: t.ack,
            window: t.window,
            urgent_ptr: t.urgent_ptr,
            options: t.options,
            // `locate` checked the range against this very buffer.
            payload: bytes.get(found.payload).unwrap_or_default(),
            tunnel: (!this.tunnels.is_empty()).then_some(&this.tunnels),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    fn count(&mut self, skip: Skip, pkt: &Packet<'_>) {
        let s = &mut self.stats;
        match skip {
            Skip::NotIp => s.non_ip += 1,
            Skip::NotTcp => s.non_tcp += 1,
            Skip::Bad => s.malformed += 1,
            Skip::Short if (pkt.data.len() as u64) < u64::from(pkt.orig_len) => s.truncated += 1,
            Skip::Short => s.malformed += 1,
            Skip::Fragment => {}
        }
    }

    /// Walks the headers from the link layer to TCP, through encapsulations.
    #[inline]
    fn locate(&mut self, pkt: &Packet<'_>) -> Result<Found, Skip> {
        self.tunnels.clear();
        let tunnels_on = self.ports.is_some();
        let (net, at) = link::network(pkt.link, pkt.data, tunnels_on.then_some(&mut self.tunnels))?;
        // Most packets are whole IPv4 datagrams: TCP is found without the general walk,
        // and the walk of anything else starts after the header read here.
        if net == link::Net::V4 {
            let ip = pkt.data.get(at..).ok_or(Skip::Short)?;
            let h = ip::Ipv4::parse(ip)?;
            if !h.is_fragment() {
                let src = IpAddr::V4(Ipv4Addr::from(h.src));
                let dst = IpAddr::V4(Ipv4Addr::from(h.dst));
                // `parse` checked header_len <= total_len <= ip.len().
                if h.protocol == ip::proto::TCP {
                    let datagram = ip.get(..h.total_len).ok_or(Skip::Bad)?;
                    return Found::tcp(datagram, h.header_len, at, src, dst, false);
                }
                if h.protocol == ip::proto::UDP {
                    let udp_at = at + h.header_len;
                    if let Some(found) =
                        self.vxlan_ipv4_tcp(pkt.data, udp_at, at + h.total_len, src, dst)
                    {
                        return Ok(found);
                    }
                }
                let layer = Layer::Upper {
                    protocol: h.protocol,
                };
                return self.walk(pkt, layer, at + h.header_len..at + h.total_len, (src, dst));
            }
        }
        let no_address = (tunnel::NO_ADDRESS, tunnel::NO_ADDRESS);
        self.walk(pkt, Layer::Net(net), at..pkt.data.len(), no_address)
    }

    /// The common overlay packet, TCP over untagged IPv4 in Ethernet in VXLAN, whose
    /// UDP header is at `udp_at` of `data` (the outer datagram ends at `end`), found
    /// without the general walk: the same checks in a straight line. `None` (nothing
    /// recorded) for anything else, which the walk then decodes.
    #[inline]
    fn vxlan_ipv4_tcp(
        &mut self,
        data: &[u8],
        udp_at: usize,
        end: usize,
        src: IpAddr,
        dst: IpAddr,
    ) -> Option<Found> {
        const ETHERNET_HEADER_LEN: usize = 14;
        const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
        #[cfg(test)]
        if self.walk_only {
            return None;
        }
        let udp = data.get(udp_at..end)?;
        let port = tunnel::udp_dst_port(udp)?;
        if self.ports.as_ref()?.kind(port)? != UdpEncap::Vxlan {
            return None;
        }
        let payload = tunnel::udp_payload(udp).ok()?;
        let encap = tunnel::vxlan(payload).ok()?;
        let frame = payload.get(encap.at..)?;
        if frame.get(12..14)? != ETHERTYPE_IPV4 {
            return None;
        }
        let ip = frame.get(ETHERNET_HEADER_LEN..)?;
        let h = ip::Ipv4::parse(ip).ok()?;
        if h.is_fragment() || h.protocol != ip::proto::TCP {
            return None;
        }
        let datagram = ip.get(..h.total_len)?;
        self.tunnels
            .push(Tunnel {
                kind: encap.kind,
                id: encap.id,
                src,
                dst,
            })
            .ok()?;
        // The inner datagram's first byte, in `data`.
        let base = udp_at + tunnel::UDP_HEADER_LEN + encap.at + ETHERNET_HEADER_LEN;
        let found = Found::tcp(
            datagram,
            h.header_len,
            base,
            IpAddr::V4(Ipv4Addr::from(h.src)),
            IpAddr::V4(Ipv4Addr::from(h.dst)),
            false,
        );
        if found.is_err() {
            // The walk records the level again; levels the link layer recorded stay.
            self.tunnels.pop();
        }
        found.ok()
    }

    /// The general walk of [`Decoder::locate`]: `layer` is what `bytes` of the packet
    /// hold, `addresses` those of the datagram last read. Each turn of the loop reads
    /// one header of `[start, end)` of the current buffer and moves `start` past it (or
    /// pushes an encapsulation level, at most [`tunnel::MAX_DEPTH`]), so the walk ends.
    fn walk(
        &mut self,
        pkt: &Packet<'_>,
        layer: Layer,
        bytes: Range<usize>,
        addresses: (IpAddr, IpAddr),
    ) -> Result<Found, Skip> {
        let tunnels_on = self.ports.is_some();
        let mut layer = layer;
        let (mut start, mut end) = (bytes.start, bytes.end);
        let mut buf = Buf::Packet;
        // The addresses of the datagram last read (kept out of `layer`: cheaper to move).
        let (mut src, mut dst) = addresses;
        loop {
            let bytes = match buf {
                Buf::Packet => pkt.data,
                Buf::Reassembled => self.frag.output(),
            };
            let b = bytes.get(start..end).ok_or(Skip::Short)?;
            let fragment = match layer {
                Layer::Net(net) => {
                    let net = match net {
                        link::Net::ByVersion => match b.first().map(|b| b >> 4) {
                            Some(4) => link::Net::V4,
                            Some(6) => link::Net::V6,
                            Some(_) => return Err(Skip::Bad),
                            None => return Err(Skip::Short),
                        },
                        net => net,
                    };
                    if net == link::Net::V6 {
                        let h = ip::Ipv6::parse(b)?;
                        src = IpAddr::V6(Ipv6Addr::from(h.src));
                        dst = IpAddr::V6(Ipv6Addr::from(h.dst));
                        let datagram = b.get(..h.total_len).ok_or(Skip::Bad)?;
                        match ip::walk_extensions(
                            h.next_header,
                            datagram,
                            ip::IPV6_HEADER_LEN,
                            true,
                        )? {
                            ip::Upper::Proto(protocol, at) => {
                                end = start + h.total_len;
                                start += at;
                                layer = Layer::Upper { protocol };
                                continue;
                            }
                            ip::Upper::Fragment(f)
                                if !ip::may_lead_to_tcp(f.next_header, tunnels_on) =>
                            {
                                return Err(Skip::NotTcp)
                            }
                            ip::Upper::Fragment(f) => PendingFragment {
                                id: frag::DatagramId {
                                    src,
                                    dst,
                                    protocol: 0,
                                    id: f.id,
                                },
                                offset: f.offset,
                                more: f.more,
                                data: start + f.data_start..start + h.total_len,
                                next_header: f.next_header,
                            },
                        }
                    } else {
                        let h = ip::Ipv4::parse(b)?;
                        src = IpAddr::V4(Ipv4Addr::from(h.src));
                        dst = IpAddr::V4(Ipv4Addr::from(h.dst));
                        if h.protocol != ip::proto::TCP
                            && !(tunnels_on && ip::is_tunnel(h.protocol))
                        {
                            return Err(Skip::NotTcp);
                        }
                        // `parse` checked header_len <= total_len <= b.len().
                        if !h.is_fragment() {
                            end = start + h.total_len;
                            start += h.header_len;
                            layer = Layer::Upper {
                                protocol: h.protocol,
                            };
                            continue;
                        }
                        PendingFragment {
                            id: frag::DatagramId {
                                src,
                                dst,
                                protocol: h.protocol,
                                id: u32::from(h.id),
                            },
                            offset: h.frag_offset,
                            more: h.more_fragments,
                            data: start + h.header_len..start + h.total_len,
                            next_header: h.protocol,
                        }
                    }
                }
                Layer::Upper { protocol } => {
                    if protocol == ip::proto::TCP {
                        return Found::tcp(b, 0, start, src, dst, buf == Buf::Reassembled);
                    }
                    let Some(ports) = &self.ports else {
                        return Err(Skip::NotTcp);
                    };
                    let encap = match protocol {
                        ip::proto::IPV4 | ip::proto::IPV6 => tunnel::Encap {
                            kind: TunnelKind::IpInIp,
                            id: None,
                            inner: tunnel::Inner::Ip,
                            at: 0,
                        },
                        ip::proto::GRE => tunnel::gre(b)?,
                        ip::proto::UDP => {
                            let port = tunnel::udp_dst_port(b).ok_or(Skip::NotTcp)?;
                            let kind = ports.kind(port).ok_or(Skip::NotTcp)?;
                            let payload = tunnel::udp_payload(b)?;
                            let encap = match kind {
                                UdpEncap::Vxlan => tunnel::vxlan(payload)?,
                                UdpEncap::Geneve => tunnel::geneve(payload)?,
                                UdpEncap::GtpU => tunnel::gtp_u(payload)?,
                            };
                            end = start + tunnel::UDP_HEADER_LEN + payload.len();
                            tunnel::Encap {
                                at: encap.at + tunnel::UDP_HEADER_LEN,
                                ..encap
                            }
                        }
                        _ => return Err(Skip::NotTcp),
                    };
                    self.tunnels.push(Tunnel {
                        kind: encap.kind,
                        id: encap.id,
                        src,
                        dst,
                    })?;
                    start += encap.at;
                    layer = match (protocol, encap.inner) {
                        (ip::proto::IPV4, _) => Layer::Net(link::Net::V4),
                        (ip::proto::IPV6, _) => Layer::Net(link::Net::V6),
                        (_, inner) => inner.into(),
                    };
                    continue;
                }
                Layer::Ethernet => {
                    let (net, at) = link::ethernet(b, 0, Some(&mut self.tunnels))?;
                    start += at;
                    layer = Layer::Net(net);
                    continue;
                }
                Layer::EtherType(ethertype) => {
                    let (net, at) = link::by_ethertype(b, 0, ethertype, Some(&mut self.tunnels))?;
                    start += at;
                    layer = Layer::Net(net);
                    continue;
                }
            };
            // An IP fragment: into the reassembler, from the packet or, when found inside
            // a reassembled datagram, from a copy (the reassembler's buffer is rewritten).
            self.stats.fragments += 1;
            let data: &[u8] = match buf {
                Buf::Packet => pkt.data.get(fragment.data).ok_or(Skip::Bad)?,
                Buf::Reassembled => {
                    let data = self.frag.output().get(fragment.data).ok_or(Skip::Bad)?;
                    self.scratch.clear();
                    self.scratch.extend_from_slice(data);
                    &self.scratch
                }
            };
            (src, dst) = (fragment.id.src, fragment.id.dst);
            let frag::Outcome::Complete { next_header } = self.frag.insert(
                frag::Fragment {
                    id: fragment.id,
                    offset: fragment.offset,
                    more: fragment.more,
                    data,
                    next_header: fragment.next_header,
                },
                pkt.ts,
                &mut self.stats,
            ) else {
                return Err(Skip::Fragment);
            };
            // The fragmentable part of an IPv6 datagram may start with extension headers;
            // an IPv4 datagram's `next_header` is its protocol.
            let whole = self.frag.output();
            let ip::Upper::Proto(protocol, at) = ip::walk_extensions(next_header, whole, 0, false)?
            else {
                return Err(Skip::Bad);
            };
            if protocol != ip::proto::TCP && !(tunnels_on && ip::is_tunnel(protocol)) {
                return Err(Skip::NotTcp);
            }
            buf = Buf::Reassembled;
            start = at;
            end = whole.len();
            layer = Layer::Upper { protocol };
        }
    }
}

/// An IP fragment found by [`Decoder::locate`]: its data is `data` of the current buffer.
struct PendingFragment {
    id: frag::DatagramId,
    offset: u32,
    more: bool,
    data: Range<usize>,
    next_header: u8,
}

impl Found {
    /// The TCP header at `start` of `datagram`, whose first byte is at offset `base` of
    /// the buffer the payload will be taken from.
    #[inline]
    fn tcp(
        datagram: &[u8],
        start: usize,
        base: usize,
        src: IpAddr,
        dst: IpAddr,
        reassembled: bool,
    ) -> Result<Found, Skip> {
        let tcp = tcp::Header::parse(datagram.get(start..).ok_or(Skip::Bad)?)?;
        let payload = base + start + tcp.header_len..base + datagram.len();
        Ok(Found {
            src,
            dst,
            tcp,
            payload,
            reassembled,
        })
    }
}

#[cfg(test)]
impl Decoder {
    /// A decoder with smaller byte bounds, so tests can reach them quickly.
    fn with_byte_bounds(max_hosts: usize, host_bytes_max: usize, total_bytes_max: usize) -> Self {
        Decoder {
            frag: frag::Reassembler::with_byte_bounds(max_hosts, host_bytes_max, total_bytes_max),
            ..Decoder::new(max_hosts)
        }
    }

    fn fragmented_hosts(&self) -> usize {
        self.frag.hosts()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DEFAULT_MAX_FRAGMENTED_HOSTS)
    }
}
