//! The TCP header (RFC 9293 §3.1) and the two options the flow layer uses.

use etherparse::TcpHeaderSlice;

use super::{Skip, TcpOptions};

/// Offsets inside the TCP header not exposed as a raw byte by etherparse.
mod field {
    /// CWR ECE URG ACK PSH RST SYN FIN (RFC 9293 §3.1, RFC 3168 §23.2).
    pub const FLAGS: usize = 13;
}

/// Option kinds and lengths (RFC 9293 §3.2, RFC 7323 §2.2 and §3.2).
mod option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const WINDOW_SCALE: u8 = 3;
    pub const WINDOW_SCALE_LEN: usize = 3;
    pub const TIMESTAMPS: u8 = 8;
    pub const TIMESTAMPS_LEN: usize = 10;
}

/// A checked TCP header; the payload is what follows `header_len` in the datagram.
pub(crate) struct Header {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub urgent_ptr: u16,
    pub options: TcpOptions,
    pub header_len: usize,
}

impl Header {
    /// `segment` is the whole TCP part of the datagram (header + payload). The data
    /// offset must be at least 5 and lie inside it (etherparse checks both).
    #[inline]
    pub fn parse(segment: &[u8]) -> Result<Header, Skip> {
        let h = TcpHeaderSlice::from_slice(segment).map_err(|_| Skip::Bad)?;
        let raw = h.slice();
        Ok(Header {
            src_port: h.source_port(),
            dst_port: h.destination_port(),
            seq: h.sequence_number(),
            ack: h.acknowledgment_number(),
            // etherparse guarantees at least 20 header bytes.
            flags: raw.get(field::FLAGS).copied().unwrap_or(0),
            window: h.window_size(),
            urgent_ptr: h.urgent_pointer(),
            options: parse_options(h.options()),
            header_len: raw.len(),
        })
    }
}

/// Reads window scale and timestamps from the options area. A malformed length stops the
/// walk and keeps what was found before it; the segment itself stays valid.
///
/// This is a plain kind/length walk rather than etherparse's option iterator, because
/// that iterator stops at the first kind it does not know (MD5 19, MPTCP 30, TFO 34…),
/// which would hide a window scale written after one of them.
pub(crate) fn parse_options(options: &[u8]) -> TcpOptions {
    let mut found = TcpOptions::default();
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        match kind {
            option::END => break,
            option::NOP => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let Some(&len) = options.get(at + 1) else {
            break;
        };
        let len = usize::from(len);
        // The length counts kind and length bytes: below 2 the walk could not advance.
        if len < 2 {
            break;
        }
        let Some(body) = options.get(at + 2..at + len) else {
            break;
        };
        match (kind, len) {
            (option::WINDOW_SCALE, option::WINDOW_SCALE_LEN) => {
                found.window_scale = body.first().copied();
            }
            (option::TIMESTAMPS, option::TIMESTAMPS_LEN) => {
                if let (Some(val), Some(ecr)) = (be32(body, 0), be32(body, 4)) {
                    found.timestamp = Some((val, ecr));
                }
            }
            (option::WINDOW_SCALE | option::TIMESTAMPS, _) => break,
            _ => {}
        }
        at += len;
    }
    found
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => Some(u32::from_be_bytes([a, b, c, d])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_scale_and_timestamps_are_read_after_nops() {
        let o = parse_options(&[1, 3, 3, 7, 1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 9]);
        assert_eq!(o.window_scale, Some(7));
        assert_eq!(o.timestamp, Some((5, 9)));
    }

    #[test]
    fn unknown_option_kinds_are_skipped_by_their_length() {
        // MD5 signature (19, length 18) before the window scale.
        let mut opts = vec![19, 18];
        opts.extend_from_slice(&[0xAA; 16]);
        opts.extend_from_slice(&[3, 3, 14, 0]);
        assert_eq!(parse_options(&opts).window_scale, Some(14));
    }

    #[test]
    fn option_length_below_two_stops_the_walk_and_keeps_earlier_options() {
        let o = parse_options(&[3, 3, 2, 30, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(o.window_scale, Some(2));
        assert_eq!(o.timestamp, None);
    }

    #[test]
    fn option_running_past_the_header_stops_the_walk() {
        let o = parse_options(&[8, 10, 0, 0, 0, 1]);
        assert_eq!(o, TcpOptions::default());
    }

    #[test]
    fn known_option_with_a_wrong_length_stops_the_walk() {
        let o = parse_options(&[3, 4, 7, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(o, TcpOptions::default());
    }

    #[test]
    fn end_of_option_list_stops_the_walk() {
        assert_eq!(parse_options(&[0, 3, 3, 7]).window_scale, None);
    }

    #[test]
    fn a_lone_kind_byte_at_the_end_is_ignored() {
        assert_eq!(parse_options(&[1, 1, 3]), TcpOptions::default());
    }
}
