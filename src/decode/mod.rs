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
        FlowKey { src: self.dst, dst: self.src }
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
}
