//! What HTTP/2 said about one stream (an exchange) and about the connection as a whole,
//! kept for the records: `%h2.stream`, `%h2.reset`, `%h2.concurrent` per stream;
//! `%h2.ping.rtt`, `%h2.goaway`, the peers' SETTINGS, stream counts per connection.
//!
//! Plain data filled by the HTTP/2 analyzer and only read by sinks, so that a
//! connection record can print the same facts without a second parser.

use std::io::Write as _;

/// A side of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// The name of an HTTP/2 error code (RFC 9113 §7), `0x…` for an unknown one.
pub fn write_error_code(code: u32, out: &mut Vec<u8>) {
    const NAMES: [&str; 14] = [
        "NO_ERROR",
        "PROTOCOL_ERROR",
        "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT",
        "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",
        "REFUSED_STREAM",
        "CANCEL",
        "COMPRESSION_ERROR",
        "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY",
        "HTTP_1_1_REQUIRED",
    ];
    match NAMES.get(code as usize) {
        Some(name) => out.extend_from_slice(name.as_bytes()),
        None => {
            let _ = write!(out, "0x{code:x}");
        }
    }
}

/// An RST_STREAM: its error code and who sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H2Reset {
    pub code: u32,
    pub by: Side,
}

/// One stream's facts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct H2StreamFacts {
    /// The stream identifier (`%h2.stream`).
    pub stream: u32,
    /// Streams open on the connection when this one started, itself excluded
    /// (`%h2.concurrent`).
    pub concurrent: u32,
    /// The RST_STREAM that ended it (`%h2.reset`).
    pub reset: Option<H2Reset>,
    /// Some header could not be decoded (a connection picked up mid-stream, whose
    /// HPACK dynamic table is unknown).
    pub unknown_headers: bool,
}

impl H2StreamFacts {
    /// `%h2.reset`: `CANCEL by client`.
    pub fn write_reset(&self, out: &mut Vec<u8>) -> bool {
        let Some(reset) = self.reset else {
            return false;
        };
        write_error_code(reset.code, out);
        out.extend_from_slice(b" by ");
        out.extend_from_slice(reset.by.as_str().as_bytes());
        true
    }
}

/// A GOAWAY frame (RFC 9113 §6.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H2Goaway {
    pub by: Side,
    pub last_stream: u32,
    pub code: u32,
    /// The debug data, cut at [`MAX_GOAWAY_DEBUG`] bytes.
    pub debug: Box<[u8]>,
}

/// Most bytes of a GOAWAY's debug data kept.
pub const MAX_GOAWAY_DEBUG: usize = 256;

/// The SETTINGS one side announced (RFC 9113 §6.5.2): the last value of each, when it
/// was sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct H2Settings {
    pub header_table_size: Option<u32>,
    pub max_concurrent_streams: Option<u32>,
    pub initial_window_size: Option<u32>,
    pub max_frame_size: Option<u32>,
}

/// A PING round trip: who sent the PING, and the time to its ACK seen from the
/// capture point, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H2PingRtt {
    pub by: Side,
    pub micros: i64,
}

/// What HTTP/2 said about the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct H2Facts {
    /// `[client, server]`.
    pub settings: [H2Settings; 2],
    /// The last PING round trip (`%h2.ping.rtt`).
    pub last_ping: Option<H2PingRtt>,
    /// PING round trips measured.
    pub pings: u32,
    /// The last GOAWAY (`%h2.goaway`).
    pub goaway: Option<H2Goaway>,
    /// Streams opened (by a HEADERS frame).
    pub streams: u32,
    /// The most streams open at once.
    pub max_concurrent: u32,
    /// Streams beyond the bound of exchanges open at once, not followed.
    pub untracked_streams: u32,
    /// SETTINGS_HEADER_TABLE_SIZE values above the HPACK decoder's cap (64 KiB): the
    /// table stays within the cap.
    pub table_overruns: u64,
    /// The HTTP/2 analysis stopped at a malformed frame or header block: its reason.
    pub malformed: Option<&'static str>,
    /// An upgraded connection whose request's `HTTP2-Settings` header is missing or
    /// does not decode (the client's settings are then not known): why. The analysis
    /// goes on.
    pub upgrade_settings_error: Option<&'static str>,
}

impl H2Facts {
    /// `%h2.goaway`: `NO_ERROR by server last=7`, then the debug text in quotes.
    pub fn write_goaway(&self, out: &mut Vec<u8>) -> bool {
        let Some(g) = &self.goaway else {
            return false;
        };
        write_error_code(g.code, out);
        let _ = write!(out, " by {} last={}", g.by.as_str(), g.last_stream);
        if !g.debug.is_empty() {
            out.extend_from_slice(b" \"");
            out.extend_from_slice(&g.debug);
            out.push(b'"');
        }
        true
    }

    /// `[client, server]` index of `side`.
    pub fn settings_mut(&mut self, side: Side) -> &mut H2Settings {
        &mut self.settings[side as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_and_a_goaway_print_their_error_names_and_sides() {
        let stream = H2StreamFacts {
            reset: Some(H2Reset {
                code: 8,
                by: Side::Client,
            }),
            ..H2StreamFacts::default()
        };
        let mut out = Vec::new();
        assert!(stream.write_reset(&mut out));
        assert_eq!(out, b"CANCEL by client");
        let facts = H2Facts {
            goaway: Some(H2Goaway {
                by: Side::Server,
                last_stream: 7,
                code: 0,
                debug: Box::default(),
            }),
            ..H2Facts::default()
        };
        out.clear();
        assert!(facts.write_goaway(&mut out));
        assert_eq!(out, b"NO_ERROR by server last=7");
        out.clear();
        write_error_code(0x99, &mut out);
        assert_eq!(out, b"0x99");
        assert!(!H2Facts::default().write_goaway(&mut out));
    }
}
