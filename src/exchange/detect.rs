//! `messages` mode's first analyzer: chooses a connection's protocol from its first
//! payload bytes and hands the connection (those bytes included) to its analyzer.
//!
//! Client first: a TLS handshake record → TLS; an HTTP/1.x request line → HTTP/1; the
//! HTTP/2 connection preface → `h2c` (framed by the turns rule until an HTTP/2 analyzer
//! exists). Anything else, or the server speaking first → the turns rule, `unknown`.

use super::analyzer::{AnalyzerSlot, Exchanges, Handoff};
use super::record::Protocol;
use super::turns::Turns;
use crate::flow::Direction;
use crate::time::Timestamp;

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Request methods that open an HTTP/1.x connection (RFC 9110 §9, RFC 5789 PATCH),
/// each followed by a space.
const HTTP1_METHODS: &[&[u8]] = &[
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"CONNECT ",
    b"OPTIONS ",
    b"TRACE ",
    b"PATCH ",
];

/// What a connection's first client bytes look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detected {
    Tls,
    Http1,
    H2Preface,
    Unknown,
}

/// Whether `bytes` starts like `pattern` (when shorter, like its beginning).
fn starts_like(bytes: &[u8], pattern: &[u8]) -> bool {
    let n = bytes.len().min(pattern.len());
    n > 0 && bytes[..n] == pattern[..n]
}

/// Classifies a connection's first client bytes.
pub(crate) fn classify(bytes: &[u8]) -> Detected {
    // A handshake record (22) of an SSL 3.0 / TLS version (RFC 8446 §5.1).
    if bytes.len() >= 2 && bytes[0] == 22 && bytes[1] == 3 {
        return Detected::Tls;
    }
    if starts_like(bytes, H2_PREFACE) && bytes.len() >= 4 {
        return Detected::H2Preface;
    }
    if HTTP1_METHODS
        .iter()
        .any(|m| starts_like(bytes, m) && bytes.len() >= 3)
    {
        return Detected::Http1;
    }
    Detected::Unknown
}

/// Waits for the first payload.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Detect;

impl super::analyzer::Analyzer for Detect {
    fn data(
        &mut self,
        x: &mut Exchanges<'_>,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
    ) -> Handoff {
        let _ = ts;
        let found = match dir {
            Direction::FromClient => classify(bytes),
            Direction::FromServer => Detected::Unknown,
        };
        let next = match found {
            Detected::Tls => {
                x.set_protocol(Protocol::Tls);
                AnalyzerSlot::Tls(Box::default())
            }
            Detected::Http1 => {
                x.set_protocol(Protocol::Http11);
                AnalyzerSlot::http1()
            }
            Detected::H2Preface => {
                x.set_protocol(Protocol::H2c);
                AnalyzerSlot::Turns(Turns::default())
            }
            Detected::Unknown => {
                x.set_protocol(Protocol::Unknown);
                AnalyzerSlot::Turns(Turns::default())
            }
        };
        Handoff::To { next, consumed: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_choose_the_protocol() {
        assert_eq!(classify(b"\x16\x03\x01\x02\x00"), Detected::Tls);
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Detected::Http1);
        assert_eq!(classify(b"CONNECT a:443 HTTP/1.1\r\n"), Detected::Http1);
        assert_eq!(
            classify(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Detected::H2Preface
        );
        assert_eq!(classify(b"GETX"), Detected::Unknown);
        assert_eq!(classify(b"\x00\x01binary"), Detected::Unknown);
        assert_eq!(classify(b"SSH-2.0-OpenSSH"), Detected::Unknown);
    }

    #[test]
    fn a_first_segment_cut_inside_the_method_still_counts() {
        assert_eq!(classify(b"POS"), Detected::Http1);
        assert_eq!(classify(b"PRI "), Detected::H2Preface);
    }
}
