//! IPv4 and IPv6 headers: validation against the captured bytes, and the IPv6
//! extension-header walk down to TCP (or to a fragment header).
//!
//! Header fields are read through etherparse's slices; this file only adds the rules
//! of SPEC §2 (total length, captured length, which headers lead to TCP).

use etherparse::{
    err, IpAuthHeaderSlice, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice,
    Ipv6RawExtHeaderSlice,
};

use super::Skip;

/// IP protocol / IPv6 next-header numbers (IANA "Assigned Internet Protocol Numbers").
pub(crate) mod proto {
    /// RFC 8200 §4.3.
    pub const HOP_BY_HOP: u8 = 0;
    /// RFC 2003: IPv4 in IP.
    pub const IPV4: u8 = 4;
    /// RFC 9293.
    pub const TCP: u8 = 6;
    /// RFC 768.
    pub const UDP: u8 = 17;
    /// RFC 2473, RFC 4213: IPv6 in IP.
    pub const IPV6: u8 = 41;
    /// RFC 2784.
    pub const GRE: u8 = 47;
    /// RFC 8200 §4.4.
    pub const ROUTING: u8 = 43;
    /// RFC 8200 §4.5.
    pub const FRAGMENT: u8 = 44;
    /// RFC 4302 (its length is in 4-byte units, unlike the others).
    pub const AUTH: u8 = 51;
    /// RFC 8200 §4.6.
    pub const DEST_OPTS: u8 = 60;
    /// RFC 6275 §6.1.
    pub const MOBILITY: u8 = 135;
    /// RFC 7401 §5.1.
    pub const HIP: u8 = 139;
    /// RFC 5533 §5.
    pub const SHIM6: u8 = 140;
    // ESP (50) and No Next Header (59) end the walk like any upper-layer protocol:
    // nothing after them can be read as TCP.
}

/// Fixed IPv6 header length (RFC 8200 §3).
pub(crate) const IPV6_HEADER_LEN: usize = 40;

/// IPv4 fragment offsets and IPv6 fragment offsets count 8-byte units
/// (RFC 791 §3.1, RFC 8200 §4.5).
const FRAGMENT_UNIT: u32 = 8;

/// A validated IPv4 header: `header_len <= total_len <= ` the bytes it was read from.
pub(crate) struct Ipv4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub protocol: u8,
    pub header_len: usize,
    pub total_len: usize,
    pub id: u16,
    /// Fragment offset in bytes.
    pub frag_offset: u32,
    pub more_fragments: bool,
}

impl Ipv4 {
    /// Reads and checks an IPv4 header at the start of `ip` (which may extend beyond the
    /// datagram, e.g. Ethernet padding). Options are skipped, the checksum is not verified.
    #[inline(always)]
    pub fn parse(ip: &[u8]) -> Result<Ipv4, Skip> {
        let h = Ipv4HeaderSlice::from_slice(ip).map_err(|e| match e {
            err::ipv4::HeaderSliceError::Len(_) => Skip::Short,
            err::ipv4::HeaderSliceError::Content(_) => Skip::Bad,
        })?;
        let header_len = h.slice().len();
        let total_len = usize::from(h.total_len());
        if total_len < header_len {
            return Err(Skip::Bad);
        }
        // SPEC §2: a datagram captured shorter than its total length is dropped whole.
        if total_len > ip.len() {
            return Err(Skip::Short);
        }
        Ok(Ipv4 {
            src: h.source(),
            dst: h.destination(),
            protocol: h.protocol().0,
            header_len,
            total_len,
            id: h.identification(),
            frag_offset: u32::from(h.fragments_offset().value()) * FRAGMENT_UNIT,
            more_fragments: h.more_fragments(),
        })
    }

    pub fn is_fragment(&self) -> bool {
        self.more_fragments || self.frag_offset != 0
    }
}

/// A validated IPv6 fixed header: `IPV6_HEADER_LEN + payload_len <=` the bytes read.
pub(crate) struct Ipv6 {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub next_header: u8,
    /// Header plus payload length: where the datagram ends.
    pub total_len: usize,
}

impl Ipv6 {
    pub fn parse(ip: &[u8]) -> Result<Ipv6, Skip> {
        let h = Ipv6HeaderSlice::from_slice(ip).map_err(|e| match e {
            err::ipv6::HeaderSliceError::Len(_) => Skip::Short,
            err::ipv6::HeaderSliceError::Content(_) => Skip::Bad,
        })?;
        // A payload length of 0 announces a jumbogram (RFC 2675), which we do not read:
        // the walk below then finds no room for any header and the packet is dropped.
        let total_len = IPV6_HEADER_LEN + usize::from(h.payload_length());
        if total_len > ip.len() {
            return Err(Skip::Short);
        }
        Ok(Ipv6 {
            src: h.source(),
            dst: h.destination(),
            next_header: h.next_header().0,
            total_len,
        })
    }
}

/// The fields of an IPv6 fragment header (RFC 8200 §4.5).
pub(crate) struct Ipv6Fragment {
    pub next_header: u8,
    /// Offset in bytes of this fragment's data in the fragmentable part.
    pub offset: u32,
    pub more: bool,
    pub id: u32,
    /// Where this fragment's data starts in the buffer that was walked.
    pub data_start: usize,
}

/// Where an IPv6 extension-header chain leads.
pub(crate) enum Upper {
    /// An upper-layer protocol (TCP, UDP, GRE, IP, ESP, No Next Header…) whose header
    /// starts at this offset.
    Proto(u8, usize),
    /// A (non-atomic) fragment.
    Fragment(Ipv6Fragment),
}

/// Whether an upper-layer protocol may carry an encapsulated packet.
pub(crate) fn is_tunnel(protocol: u8) -> bool {
    matches!(
        protocol,
        proto::IPV4 | proto::IPV6 | proto::UDP | proto::GRE
    )
}

/// Whether the first header of a fragmentable part may lead to TCP, so that its
/// fragments are worth reassembling (with `tunnels`, also through an encapsulation).
pub(crate) fn may_lead_to_tcp(next_header: u8, tunnels: bool) -> bool {
    (tunnels && is_tunnel(next_header))
        || matches!(
            next_header,
            proto::TCP
                | proto::HOP_BY_HOP
                | proto::ROUTING
                | proto::DEST_OPTS
                | proto::AUTH
                | proto::MOBILITY
                | proto::HIP
                | proto::SHIM6
        )
}

/// Walks the extension headers of `buf` starting at `at` with `next_header`, to the
/// upper-layer protocol or to a fragment header. Every header must lie inside `buf` (the datagram, already known
/// to be fully captured), so a header that does not fit is malformed. An atomic fragment
/// (offset 0, M = 0) is read through, as RFC 6946 §4 asks. With `fragments_allowed`
/// false (inside a reassembled datagram) a fragment header is malformed.
pub(crate) fn walk_extensions(
    mut next_header: u8,
    buf: &[u8],
    mut at: usize,
    fragments_allowed: bool,
) -> Result<Upper, Skip> {
    // Each step consumes at least 8 bytes, so the loop ends within buf.len() / 8 steps.
    loop {
        let rest = buf.get(at..).ok_or(Skip::Bad)?;
        match next_header {
            proto::HOP_BY_HOP
            | proto::ROUTING
            | proto::DEST_OPTS
            | proto::MOBILITY
            | proto::HIP
            | proto::SHIM6 => {
                let h = Ipv6RawExtHeaderSlice::from_slice(rest).map_err(|_| Skip::Bad)?;
                next_header = h.next_header().0;
                at += h.slice().len();
            }
            proto::AUTH => {
                let h = IpAuthHeaderSlice::from_slice(rest).map_err(|_| Skip::Bad)?;
                next_header = h.next_header().0;
                at += h.slice().len();
            }
            proto::FRAGMENT if fragments_allowed => {
                let h = Ipv6FragmentHeaderSlice::from_slice(rest).map_err(|_| Skip::Bad)?;
                let offset = u32::from(h.fragment_offset().value()) * FRAGMENT_UNIT;
                let data_start = at + h.slice().len();
                if offset == 0 && !h.more_fragments() {
                    next_header = h.next_header().0;
                    at = data_start;
                    continue;
                }
                // RFC 8200 §4.5: a fragmentable part never starts with another fragment.
                if h.next_header().0 == proto::FRAGMENT {
                    return Err(Skip::Bad);
                }
                return Ok(Upper::Fragment(Ipv6Fragment {
                    next_header: h.next_header().0,
                    offset,
                    more: h.more_fragments(),
                    id: h.identification(),
                    data_start,
                }));
            }
            // RFC 8200 §4.5: a fragmentable part never holds another fragment header.
            proto::FRAGMENT => return Err(Skip::Bad),
            _ => return Ok(Upper::Proto(next_header, at)),
        }
    }
}
