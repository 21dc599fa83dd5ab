//! The compiled form of a filter: a tree of tests on frame bytes, close to libpcap's code
//! generator primitives so that a later step can emit classic BPF from it.
//!
//! Every test that looks past the link-layer header carries the encapsulations the
//! expression had stepped over when it was written ([`Depth`]: `vlan`, `pppoes`,
//! `mpls`, `geneve`): libpcap moves every later test further into the frame after each
//! of these keywords, whatever the parentheses or `or`s, and so do we. After `geneve`
//! the offsets are known only at run time: that test stores them (see `eval::At`).

/// A boolean expression over one frame.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Expr {
    /// Known at compile time (`1 = 1`, the empty filter).
    Const(bool),
    /// All hold, tested left to right.
    All(Vec<Expr>),
    /// Any holds, tested left to right.
    Any(Vec<Expr>),
    Not(Box<Expr>),
    Test(Test),
    /// `lhs op rhs` on 32-bit unsigned values. Holds only when the protocol checks
    /// implied by the loads on both sides hold (`tcp[13] != 0` is false for UDP).
    Compare {
        op: Comparison,
        lhs: Value,
        rhs: Value,
    },
}

/// The encapsulations a test sits behind, in the only order libpcap accepts: the
/// payload of the last of `geneve` Geneve headers (none when 0), and inside it (or in the
/// outer frame) VLAN tags, then PPPoE session headers, then MPLS label stack entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Depth {
    pub vlan_tags: u8,
    pub pppoe_headers: u8,
    pub mpls_labels: u8,
    /// `geneve` keywords before the test: its offsets count from where the last one
    /// found its payload, at run time (the counts above start again after each).
    pub geneve: u8,
}

/// Bytes of a PPPoE session header (RFC 2516 §4) and its PPP protocol field.
pub(super) const PPPOE_AND_PPP_LEN: u64 = 8;
/// Bytes of a VLAN tag and of an MPLS label stack entry.
pub(super) const TAG_LEN: u64 = 4;
/// The most `geneve` keywords in one expression: each keeps three offsets in the BPF
/// program's 16 scratch words, as libpcap's do.
pub(super) const MAX_GENEVE: usize = 4;
/// Geneve's UDP destination port (RFC 8926 §3.3), the one libpcap's `geneve` tests.
pub(super) const GENEVE_PORT: u16 = 6081;
/// RFC 1701 "transparent Ethernet bridging": Geneve's protocol type for Ethernet.
pub(super) const ETHERTYPE_TEB: u16 = 0x6558;

/// The PPP protocol number libpcap tests for an EtherType behind `pppoes`
/// (`ethertype_to_ppptype`; RFC 1661 and IANA "PPP DLL Protocol Numbers").
pub(super) fn ppp_type(ethertype: u16) -> u16 {
    match ethertype {
        self::ethertype::IPV4 => 0x0021,
        self::ethertype::IPV6 => 0x0057,
        0x6003 => 0x0027, // DECnet
        0x809B => 0x0029, // AppleTalk
        0x0600 => 0x0025, // Xerox NS
        self::ethertype::MPLS => 0x0281,
        other => other,
    }
}

/// The most `geneve` keywords any test of the tree sits behind, or the tree uses.
pub(super) fn geneve_depth(expr: &Expr) -> u8 {
    fn value_depth(value: &Value) -> u8 {
        match value {
            Value::Const(_) | Value::WireLen => 0,
            Value::Neg(inner) => value_depth(inner),
            Value::Binary { lhs, rhs, .. } => value_depth(lhs).max(value_depth(rhs)),
            Value::Load { index, depth, .. } => depth.geneve.max(value_depth(index)),
        }
    }
    match expr {
        Expr::All(items) | Expr::Any(items) => items.iter().map(geneve_depth).max().unwrap_or(0),
        Expr::Not(inner) => geneve_depth(inner),
        Expr::Test(test) => match test.kind {
            TestKind::Geneve { .. } => test.depth.geneve + 1,
            _ => test.depth.geneve,
        },
        Expr::Const(_) => 0,
        Expr::Compare { lhs, rhs, .. } => value_depth(lhs).max(value_depth(rhs)),
    }
}

/// A primitive test behind given encapsulations.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Test {
    pub depth: Depth,
    pub kind: TestKind,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum TestKind {
    /// The link layer says the payload is this network protocol (`ip`, `arp`, `ether
    /// proto 0x88cc`).
    NetProto(NetProto),
    /// IPv4 whose protocol field is `protocol` (`ip proto 6`, `icmp`).
    Ipv4Protocol(u32),
    /// IPv6 whose next header is `protocol`, directly or after one fragment header
    /// (`ip6 proto 6`).
    Ipv6Protocol(u32),
    /// IPv6 whose fixed header's next header field is `protocol` (no extension header
    /// skipped): what `ip6` port tests and `icmp6[]` require.
    Ipv6NextHeader(u32),
    /// An IPv4 address field under a mask, in an IPv4, ARP or RARP header.
    Ipv4Address {
        carrier: NetProto,
        dir: Dir,
        addr: u32,
        mask: u32,
    },
    /// An IPv6 address under a prefix mask.
    Ipv6Address { dir: Dir, addr: u128, mask: u128 },
    /// An Ethernet address (Ethernet frames only).
    EtherAddress { dir: Dir, mac: [u8; 6] },
    /// A TCP/UDP/SCTP port in `low..=high`, for one IP version. IPv4 fragments other
    /// than the first never match; for IPv6 the transport header must follow the
    /// fixed header directly.
    Port {
        ip: IpVersion,
        protocols: Transports,
        dir: Dir,
        low: u16,
        high: u16,
    },
    /// An 802.1Q/802.1ad tag here, optionally with this VLAN id (Ethernet only).
    Vlan { id: Option<u16> },
    /// An MPLS label stack entry here, optionally with this label (Ethernet only).
    Mpls { label: Option<u32> },
    /// A PPPoE session header here, optionally with this session id.
    Pppoes { session: Option<u16> },
    /// IPv4 or IPv6, UDP to port 6081, Geneve version 0, optionally with this VNI: as
    /// libpcap's `geneve`, which then stores where the Geneve payload's protocol type
    /// and payload are (for the tests at the next Geneve depth).
    Geneve { vni: Option<u32> },
}

/// The 32-bit words of an IPv6 address test that its mask covers, as `(index, address
/// word, mask word)`, first word first: the evaluator and the BPF compiler compare these.
pub(super) fn ipv6_masked_words(addr: u128, mask: u128) -> impl Iterator<Item = (u32, u32, u32)> {
    (0..4u32).filter_map(move |word| {
        let shift = 96 - 32 * word;
        let mask_word = (mask >> shift) as u32;
        (mask_word != 0).then_some((word, (addr >> shift) as u32, mask_word))
    })
}

/// A network-layer protocol as the link layer announces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NetProto {
    Ipv4,
    Ipv6,
    Arp,
    Rarp,
    /// Any other ethertype (always above 1500).
    Ethertype(u16),
}

/// Ethertypes (IEEE 802 numbers registry).
pub(super) mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const RARP: u16 = 0x8035;
    pub const IPV6: u16 = 0x86DD;
    /// 802.1Q customer tag, 802.1ad service tag, and the pre-standard QinQ tag.
    pub const VLAN_TAGS: [u16; 3] = [0x8100, 0x88A8, 0x9100];
    /// RFC 3032 §5: MPLS unicast.
    pub const MPLS: u16 = 0x8847;
    /// RFC 2516 §4: PPPoE session stage.
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// Values up to this are 802.3 lengths, not types (IEEE 802.3 §3.2.6).
    pub const MAX_802_3_LENGTH: u16 = 1500;
}

impl NetProto {
    /// The protocol a given ethertype announces.
    pub fn from_ethertype(value: u16) -> NetProto {
        match value {
            ethertype::IPV4 => NetProto::Ipv4,
            ethertype::IPV6 => NetProto::Ipv6,
            ethertype::ARP => NetProto::Arp,
            ethertype::RARP => NetProto::Rarp,
            other => NetProto::Ethertype(other),
        }
    }

    pub fn ethertype(self) -> u16 {
        match self {
            NetProto::Ipv4 => ethertype::IPV4,
            NetProto::Ipv6 => ethertype::IPV6,
            NetProto::Arp => ethertype::ARP,
            NetProto::Rarp => ethertype::RARP,
            NetProto::Ethertype(value) => value,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IpVersion {
    V4,
    V6,
}

/// A set of transport protocols (those that have ports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Transports {
    pub tcp: bool,
    pub udp: bool,
    pub sctp: bool,
}

impl Transports {
    pub const ALL: Transports = Transports {
        tcp: true,
        udp: true,
        sctp: true,
    };
    pub const TCP: Transports = Transports {
        tcp: true,
        udp: false,
        sctp: false,
    };
    pub const UDP: Transports = Transports {
        tcp: false,
        udp: true,
        sctp: false,
    };
    pub const SCTP: Transports = Transports {
        tcp: false,
        udp: false,
        sctp: true,
    };

    pub fn contains(self, protocol: u8) -> bool {
        match protocol {
            ip_protocol::TCP => self.tcp,
            ip_protocol::UDP => self.udp,
            ip_protocol::SCTP => self.sctp,
            _ => false,
        }
    }
}

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
pub(super) mod ip_protocol {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const TCP: u8 = 6;
    pub const IGRP: u8 = 9;
    pub const UDP: u8 = 17;
    /// IPv6 fragment header (RFC 8200 §4.5).
    pub const IPV6_FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const PIM: u8 = 103;
    /// VRRP, also used by CARP.
    pub const VRRP: u8 = 112;
    pub const SCTP: u8 = 132;
}

/// Which address or port of a packet a test looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dir {
    Src,
    Dst,
    /// Source or destination (the default).
    Either,
    /// Source and destination.
    Both,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A 32-bit unsigned value computed from a frame.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Const(u32),
    /// The length of the frame on the wire (`len`).
    WireLen,
    /// `size` bytes (1, 2 or 4, big-endian) at `index` from the start of `layer`.
    Load {
        layer: Layer,
        index: Box<Value>,
        size: u8,
        depth: Depth,
    },
    Binary {
        op: ArithOp,
        lhs: Box<Value>,
        rhs: Box<Value>,
    },
    /// Two's complement negation.
    Neg(Box<Value>),
}

/// Where a byte load (`proto[index]`) counts from, and what it requires of the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layer {
    /// The first byte of the frame (`ether[]`, `link[]`): no requirement.
    Link,
    /// The network header (`ip[]`, `ip6[]`, `arp[]`, `rarp[]`): that protocol.
    Network(NetProto),
    /// The header after an IPv4 header with this protocol (`tcp[]`, `udp[]`, `icmp[]`...):
    /// IPv4 only, first fragment only, header length taken from the IHL field.
    AfterIpv4(u8),
    /// The header after a fixed IPv6 header whose next header is ICMPv6 (`icmp6[]`).
    Icmp6,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

impl ArithOp {
    /// Applies the operator as the BPF machine does; `None` for a division by zero,
    /// which makes BPF reject the packet.
    pub fn apply(self, a: u32, b: u32) -> Option<u32> {
        Some(match self {
            ArithOp::Add => a.wrapping_add(b),
            ArithOp::Sub => a.wrapping_sub(b),
            ArithOp::Mul => a.wrapping_mul(b),
            ArithOp::Div => a.checked_div(b)?,
            ArithOp::Mod => a.checked_rem(b)?,
            ArithOp::And => a & b,
            ArithOp::Or => a | b,
            ArithOp::Xor => a ^ b,
            // libpcap's interpreter yields 0 for shifts of 32 or more.
            ArithOp::Shl => a.checked_shl(b).unwrap_or(0),
            ArithOp::Shr => a.checked_shr(b).unwrap_or(0),
        })
    }
}

impl Comparison {
    pub fn holds(self, a: u32, b: u32) -> bool {
        match self {
            Comparison::Eq => a == b,
            Comparison::Ne => a != b,
            Comparison::Lt => a < b,
            Comparison::Le => a <= b,
            Comparison::Gt => a > b,
            Comparison::Ge => a >= b,
        }
    }
}
