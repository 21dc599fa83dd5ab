//! `messages` mode's first analyzer: chooses a connection's protocol from its first
//! payload bytes and hands the connection (those bytes included) to its analyzer.
//!
//! Client first: a TLS handshake record → TLS; an HTTP/1.x request line → HTTP/1; the
//! HTTP/2 connection preface → `h2c`, the HTTP/2 analyzer (which checks the whole
//! preface, also split across segments). Server first: an HTTP/2 SETTINGS frame (an
//! HTTP/2 server does not wait for the preface) → `h2c` too, the client's preface
//! expected next. Anything else, or the server speaking first → the turns rule, `unknown`.
//!
//! A connection picked up mid-stream (`-m`) may also be HTTP/2 without its preface:
//! first bytes of either side that are no other protocol but a run of frames
//! ([`super::h2::resync`]) → `h2c`, the HTTP/2 analyzer for a connection picked up in
//! the middle ([`H2Analyzer::mid_stream`]).

use super::analyzer::{AnalyzerSlot, Exchanges, Handoff};
use super::h2::resync::frame_run_start;
use super::h2_analyzer::H2Analyzer;
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
    /// A beginning of one of the patterns, too short to tell.
    NeedMore,
}

/// How many first bytes detection may hold while they are too short to tell: more than
/// the longest pattern it needs to see whole (`OPTIONS `, `PRI `).
const MAX_HELD: usize = 16;

/// Whether `bytes` starts like `pattern` (when shorter, like its beginning).
fn starts_like(bytes: &[u8], pattern: &[u8]) -> bool {
    let n = bytes.len().min(pattern.len());
    n > 0 && bytes[..n] == pattern[..n]
}

/// Classifies a connection's first client bytes.
pub(crate) fn classify(bytes: &[u8]) -> Detected {
    // A handshake record (22) of an SSL 3.0 / TLS version (RFC 8446 §5.1).
    match bytes {
        [22] => return Detected::NeedMore,
        [22, 3, ..] => return Detected::Tls,
        _ => {}
    }
    if starts_like(bytes, H2_PREFACE) {
        return if bytes.len() >= 4 {
            Detected::H2Preface
        } else {
            Detected::NeedMore
        };
    }
    let mut partial = false;
    for method in HTTP1_METHODS {
        if starts_like(bytes, method) {
            if bytes.len() >= method.len() {
                return Detected::Http1;
            }
            partial = true;
        }
    }
    if partial {
        Detected::NeedMore
    } else {
        Detected::Unknown
    }
}

/// Whether a server's first bytes are an HTTP/2 SETTINGS frame header (RFC 9113
/// §6.5): type 4, no flags, stream 0, a length that is a whole number of settings
/// within the initial frame size bound.
pub(crate) fn is_h2_server_start(bytes: &[u8]) -> bool {
    match bytes {
        [l0, l1, l2, 4, 0, 0, 0, 0, 0, ..] => {
            let len = u32::from_be_bytes([0, *l0, *l1, *l2]);
            len % 6 == 0 && len <= 16_384
        }
        _ => false,
    }
}

/// Whether the first bytes of a connection picked up mid-stream are HTTP/2 frames: no
/// other protocol's start (a client's), and a run of frames from `dir`'s side.
fn is_h2_mid_stream(dir: Direction, bytes: &[u8]) -> bool {
    let from_client = dir == Direction::FromClient;
    if from_client && classify(bytes) != Detected::Unknown {
        return false;
    }
    if !from_client && is_h2_server_start(bytes) {
        // A server's first SETTINGS: the connection's start, the preface expected.
        return false;
    }
    frame_run_start(bytes, from_client).is_some()
}

/// First client bytes too short to tell, with the time they came.
#[derive(Debug)]
struct Held {
    bytes: Vec<u8>,
    ts: Timestamp,
}

/// Waits for the first payload.
#[derive(Debug, Default)]
pub(crate) struct Detect {
    /// Only when the first segment was too short to tell (rare): boxed, so that a
    /// connection waiting for its first bytes stays small.
    held: Option<Box<Held>>,
}

impl Detect {
    /// The analyzer for what `found` says, with the connection's protocol set.
    fn analyzer_for(x: &mut Exchanges<'_>, found: Detected) -> AnalyzerSlot {
        match found {
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
                AnalyzerSlot::H2(Box::new(H2Analyzer::prior_knowledge()))
            }
            Detected::Unknown | Detected::NeedMore => {
                x.set_protocol(Protocol::Unknown);
                AnalyzerSlot::Turns(Turns::default())
            }
        }
    }

    /// Decides now with what is held (more bytes will not come first), hands the held
    /// bytes to the chosen analyzer, and returns it.
    fn decide(&mut self, x: &mut Exchanges<'_>) -> AnalyzerSlot {
        let held = self.held.take();
        let found = held
            .as_ref()
            .map_or(Detected::Unknown, |h| classify(&h.bytes));
        let mut next = Self::analyzer_for(x, found);
        if let Some(h) = held {
            next.data(x, Direction::FromClient, h.ts, &h.bytes);
        }
        next
    }
}

impl super::analyzer::Analyzer for Detect {
    fn data(
        &mut self,
        x: &mut Exchanges<'_>,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
    ) -> Handoff {
        if x.facts.mid_stream && self.held.is_none() && is_h2_mid_stream(dir, bytes) {
            x.set_protocol(Protocol::H2c);
            let next = AnalyzerSlot::H2(Box::new(H2Analyzer::mid_stream()));
            return Handoff::To { next, consumed: 0 };
        }
        if dir == Direction::FromServer && self.held.is_none() && is_h2_server_start(bytes) {
            // An HTTP/2 server sends its SETTINGS without waiting for the client's
            // preface (RFC 9113 §3.4): the client's preface must follow.
            x.set_protocol(Protocol::H2c);
            let next = AnalyzerSlot::H2(Box::new(H2Analyzer::prior_knowledge()));
            return Handoff::To { next, consumed: 0 };
        }
        if dir == Direction::FromServer {
            // The server speaks first, or before the client's first bytes told
            // anything: what is held decides.
            let next = self.decide(x);
            return Handoff::To { next, consumed: 0 };
        }
        match self.held.take() {
            None => {
                let found = classify(bytes);
                if found == Detected::NeedMore && bytes.len() < MAX_HELD {
                    self.held = Some(Box::new(Held {
                        bytes: bytes.to_vec(),
                        ts,
                    }));
                    return Handoff::Stay;
                }
                Handoff::To {
                    next: Self::analyzer_for(x, found),
                    consumed: 0,
                }
            }
            Some(mut held) => {
                let room = MAX_HELD.saturating_sub(held.bytes.len());
                let mut probe = held.bytes.clone();
                probe.extend_from_slice(&bytes[..bytes.len().min(room)]);
                let found = classify(&probe);
                if found == Detected::NeedMore && probe.len() < MAX_HELD {
                    held.bytes = probe;
                    self.held = Some(held);
                    return Handoff::Stay;
                }
                // The earlier bytes first, with their own time; this event's follow.
                let mut next = Self::analyzer_for(x, found);
                next.data(x, dir, held.ts, &held.bytes);
                Handoff::To { next, consumed: 0 }
            }
        }
    }

    fn end(&mut self, x: &mut Exchanges<'_>, closed: bool) {
        let mut next = self.decide(x);
        next.end(x, closed);
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
    fn an_http2_server_may_speak_first_with_its_settings() {
        assert!(is_h2_server_start(&[
            0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100
        ]));
        assert!(is_h2_server_start(&[0, 0, 0, 4, 0, 0, 0, 0, 0]));
        // A SETTINGS ack, a partial setting, a stream, a banner: not a server's start.
        assert!(!is_h2_server_start(&[0, 0, 0, 4, 1, 0, 0, 0, 0]));
        assert!(!is_h2_server_start(&[0, 0, 5, 4, 0, 0, 0, 0, 0]));
        assert!(!is_h2_server_start(&[0, 0, 6, 4, 0, 0, 0, 0, 1]));
        assert!(!is_h2_server_start(b"220 smtp.example.com ESMTP"));
        assert!(!is_h2_server_start(&[0, 0, 6, 4, 0]));
    }

    #[test]
    fn a_beginning_too_short_to_tell_needs_more() {
        assert_eq!(classify(b"POS"), Detected::NeedMore);
        assert_eq!(classify(b"\x16"), Detected::NeedMore);
        assert_eq!(classify(b"P"), Detected::NeedMore);
        assert_eq!(classify(b"PRI "), Detected::H2Preface);
        assert_eq!(classify(b"POST "), Detected::Http1);
    }
}
