//! Capture sources: capture files (pcap, pcapng) and live interfaces (Linux).
//!
//! This module only produces frames with their link type and timestamp. It never looks
//! inside IP or TCP (that is `decode/`); the packet filter is its own module,
//! [`crate::filter`].

use crate::time::Timestamp;

pub mod file;
#[cfg(target_os = "linux")]
pub mod live;

/// Link-layer header types (the pcap `LINKTYPE_*` numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the byte order of the capturing host.
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (DLT_RAW on some systems is 12 or 14; 101 is the portable number).
    pub const RAW: LinkType = LinkType(101);
    pub const RAW_12: LinkType = LinkType(12);
    pub const RAW_14: LinkType = LinkType(14);
    /// OpenBSD loopback: like NULL but the family is always big-endian.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4 / raw IPv6 link types.
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// PPP (RFC 1661), with or without the HDLC-like address and control bytes.
    pub const PPP: LinkType = LinkType(9);
    /// PPP in HDLC-like framing (RFC 1662), or Cisco HDLC framing.
    pub const PPP_HDLC: LinkType = LinkType(50);
    /// PPPoE (RFC 2516): the frame starts with the PPPoE header.
    pub const PPP_ETHER: LinkType = LinkType(51);
    /// Cisco HDLC: address, control, EtherType.
    pub const C_HDLC: LinkType = LinkType(104);
    /// Linux netfilter NFLOG: a header and TLVs, one of which holds the packet.
    pub const NFLOG: LinkType = LinkType(239);

    /// Whether `decode/` knows how to read frames of this type.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            LinkType::NULL
                | LinkType::ETHERNET
                | LinkType::RAW
                | LinkType::RAW_12
                | LinkType::RAW_14
                | LinkType::LOOP
                | LinkType::LINUX_SLL
                | LinkType::IPV4
                | LinkType::IPV6
                | LinkType::LINUX_SLL2
                | LinkType::PPP
                | LinkType::PPP_HDLC
                | LinkType::PPP_ETHER
                | LinkType::C_HDLC
                | LinkType::NFLOG
        )
    }
}

/// One captured frame. `data` is what was captured (possibly shorter than `orig_len`).
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub ts: Timestamp,
    pub link: LinkType,
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
}

/// An error that stops a capture before or while reading it.
#[derive(Debug)]
pub enum CaptureError {
    /// The file could not be opened or read.
    Io {
        what: String,
        source: std::io::Error,
    },
    /// The file header is not a pcap/pcapng header, or is malformed.
    BadHeader { what: String, detail: String },
    /// A link type that `decode/` cannot read.
    UnknownLinkType { what: String, link: u32 },
    /// The snapshot length is below 65535 and `-F` was not given.
    SnaplenTooSmall { what: String, snaplen: u32 },
    /// Live capture: no interface has this name.
    NoSuchInterface { interface: String },
    /// Live capture: the interface exists but is down.
    InterfaceDown { interface: String },
    /// Live capture: no interface was named and none is up apart from loopback.
    NoDefaultInterface,
    /// Live capture: the system refused (no root, no `CAP_NET_RAW`).
    NotPermitted {
        interface: String,
        source: std::io::Error,
    },
    /// Live capture is not available on this system.
    LiveUnsupported,
}

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaptureError::Io { what, source } => write!(f, "{what}: {source}"),
            CaptureError::BadHeader { what, detail } => {
                write!(f, "{what}: not a pcap or pcapng capture ({detail})")
            }
            CaptureError::UnknownLinkType { what, link } => {
                write!(f, "{what}: link type unknown ({link})")
            }
            CaptureError::SnaplenTooSmall { what, snaplen } => write!(
                f,
                "{what}: snapshot length {snaplen} is below 65535, packets may be cut; use -F to read it anyway"
            ),
            CaptureError::NoSuchInterface { interface } => write!(
                f,
                "interface '{interface}' not found (see 'ip link' for the interfaces; 'any' = all of them)"
            ),
            CaptureError::InterfaceDown { interface } => {
                write!(f, "interface '{interface}' is down")
            }
            CaptureError::NoDefaultInterface => f.write_str(
                "no interface to capture from: none is up apart from loopback; name one with -i (or read a file with -f)",
            ),
            CaptureError::NotPermitted { interface, source } => write!(
                f,
                "capturing on '{interface}' is not permitted: it needs root or the CAP_NET_RAW capability ({source})"
            ),
            CaptureError::LiveUnsupported => {
                f.write_str("live capture (-i) is only available on Linux; read a capture file with -f")
            }
        }
    }
}

impl std::error::Error for CaptureError {}

/// What a source yields next.
pub enum Next<'a> {
    Packet(Packet<'a>),
    /// The source ended normally.
    End,
    /// The source is damaged from here on: reading stops, the reason becomes a warning.
    Damaged(String),
}

/// A source of frames, read one at a time (the frame borrows the source's buffer).
pub trait PacketSource {
    fn next_packet(&mut self) -> Next<'_>;

    /// `(bytes read, total bytes)` for a source of known size (a capture file on disk).
    fn position(&self) -> Option<(u64, u64)> {
        None
    }

    /// Packets read but not handed over because their link type cannot be decoded
    /// (a pcapng interface of another link type than the file's others).
    fn unsupported_link_packets(&self) -> u64 {
        0
    }

    /// Live capture: packets the kernel dropped so far because the ring was full (it
    /// asks the kernel); `None` for a file.
    fn kernel_drops(&mut self) -> Option<u64> {
        None
    }
}
