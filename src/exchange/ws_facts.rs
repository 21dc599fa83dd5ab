//! What a connection's WebSocket said about the connection as a whole — its handshake
//! and the summary of its life — kept in [`super::conn_facts::ProtocolFacts`] for every
//! record of the connection (`%ws.*` keywords) and for connection records; and what
//! one message record says about its message ([`WsMessageFacts`], `--ws-messages`).
//!
//! The WebSocket analyzer ([`super::ws_analyzer`]) fills them as frames go by: every
//! value is the value *so far* when a record is printed, final once the connection
//! ended.

use super::record::Micros;
use super::ws_frame::{close_code_name, opcode};
use crate::flow::Direction;
use crate::time::Timestamp;

/// Longest handshake value kept (subprotocols, extensions): longer ones are cut.
pub const MAX_HANDSHAKE_VALUE: usize = 256;
/// Longest close reason: a Close payload is at most 125 bytes, 2 of them the code
/// (RFC 6455 §5.5.1).
pub const MAX_CLOSE_REASON: usize = 123;

/// The `Sec-WebSocket-Accept` check (RFC 6455 §4.2.2 item 5.4, §4.1 client rule 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Accept {
    /// base64(SHA-1(key + GUID)) matches.
    Valid,
    /// It does not match the request's key.
    Invalid,
    /// The request's key or the response's accept is absent.
    #[default]
    Missing,
}

impl Accept {
    pub fn as_str(self) -> &'static str {
        match self {
            Accept::Valid => "valid",
            Accept::Invalid => "invalid",
            Accept::Missing => "missing",
        }
    }
}

/// The agreed `permessage-deflate` parameters (RFC 7692 §7.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deflate {
    pub client_no_context_takeover: bool,
    pub server_no_context_takeover: bool,
    /// `*_max_window_bits`, when given with a value (8–15).
    pub client_max_window_bits: Option<u8>,
    pub server_max_window_bits: Option<u8>,
}

/// One direction's traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WsDirection {
    /// Data messages (text, binary) that ended.
    pub messages: u64,
    /// Their payload bytes on the wire (compressed size when compressed).
    pub bytes: u64,
    /// Their payload bytes after decompression (only messages that could be decoded).
    pub decoded: u64,
    /// Compressed messages that could not be decoded (lost bytes, a broken context).
    pub undecoded: u64,
    pub pings: u64,
    pub pongs: u64,
    /// When its last data message ended.
    pub last: Option<Timestamp>,
}

/// The first Close frame of the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsClose {
    /// Its status code; `None` when it had none (reported as 1005, RFC 6455 §7.4.1).
    pub code: Option<u16>,
    /// Its reason (at most [`MAX_CLOSE_REASON`] bytes).
    pub reason: Box<[u8]>,
    /// The side that sent it.
    pub by: Direction,
    pub at: Timestamp,
    /// The other side sent its Close too: the closing handshake completed.
    pub answered: bool,
}

/// How the connection ended, from the WebSocket's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsEnd {
    /// Close frames both ways, then the TCP connection closed.
    Clean,
    /// One side sent a Close, the other did not answer before the TCP close.
    Unanswered,
    /// The TCP connection closed (FIN or RST) without any Close frame: the abnormal
    /// closure, 1006 (RFC 6455 §7.1.5), a code never sent on the wire.
    Abnormal,
}

/// The WebSocket of one connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WsFacts {
    pub accept: Accept,
    /// The subprotocol the server chose (`Sec-WebSocket-Protocol` of the 101).
    pub subprotocol: Option<Box<[u8]>>,
    /// The subprotocols the client offered.
    pub offered_subprotocols: Option<Box<[u8]>>,
    /// The extensions the server agreed to (`Sec-WebSocket-Extensions` of the 101).
    pub extensions: Option<Box<[u8]>>,
    /// The extensions the client offered.
    pub offered_extensions: Option<Box<[u8]>>,
    /// `permessage-deflate`, when agreed.
    pub deflate: Option<Deflate>,
    /// When the 101 ended (the WebSocket began).
    pub upgraded: Option<Timestamp>,
    pub client: WsDirection,
    pub server: WsDirection,
    /// The last ping→pong round trip seen from the capture point, and who pinged.
    pub ping_rtt: Option<(Micros, Direction)>,
    /// The longest time with no data message (nor Close) either way, from the upgrade
    /// to the last message so far.
    pub silence_max: Option<Micros>,
    /// The end of the last data message either way (the upgrade before the first).
    pub last_activity: Option<Timestamp>,
    pub close: Option<WsClose>,
    /// Set when the connection ended by a TCP close (not at eviction or the end of the
    /// capture).
    pub end: Option<WsEnd>,
    /// The first rule broken or the reason analysis stopped (see [`super::ws_frame`]).
    pub error: Option<&'static str>,
    /// Rules broken (every violation counted).
    pub violations: u64,
    /// Analysis stopped (a frame too large, lost sync): later bytes are not read.
    pub stopped: bool,
}

impl WsFacts {
    pub fn side(&self, dir: Direction) -> &WsDirection {
        match dir {
            Direction::FromClient => &self.client,
            Direction::FromServer => &self.server,
        }
    }

    pub fn side_mut(&mut self, dir: Direction) -> &mut WsDirection {
        match dir {
            Direction::FromClient => &mut self.client,
            Direction::FromServer => &mut self.server,
        }
    }

    /// `%ws.close` of the connection: the first Close frame (`1000 normal by client`),
    /// `1006 abnormal` once the TCP connection closed without one; `false` when there
    /// is nothing to say yet.
    pub fn write_close(&self, out: &mut Vec<u8>) -> bool {
        match (&self.close, self.end) {
            (Some(c), _) => {
                write_close(c.code, c.by, out);
                true
            }
            (None, Some(WsEnd::Abnormal)) => {
                out.extend_from_slice(b"1006 abnormal");
                true
            }
            _ => false,
        }
    }
}

/// `CODE NAME by SIDE` (`1000 normal by client`; a code without a registered name
/// prints alone; no code prints as 1005 no-status).
pub fn write_close(code: Option<u16>, by: Direction, out: &mut Vec<u8>) {
    let code = code.unwrap_or(1005);
    out.extend_from_slice(code.to_string().as_bytes());
    if let Some(name) = close_code_name(code) {
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(match by {
        Direction::FromClient => b" by client",
        Direction::FromServer => b" by server",
    });
}

/// One message of a `--ws-messages` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsMessageFacts {
    pub opcode: u8,
    /// Payload bytes on the wire.
    pub wire: u64,
    /// Payload bytes after decompression; `None` when not decoded.
    pub size: Option<u64>,
    pub compressed: bool,
    /// On a pong that answers a ping of the other side: the round trip.
    pub rtt: Option<Micros>,
    /// On a Close frame: its code (`None`: none) and sender.
    pub close: Option<(Option<u16>, Direction)>,
}

impl WsMessageFacts {
    /// `%ws.opcode`.
    pub fn opcode_name(&self) -> &'static str {
        opcode::name(self.opcode)
    }
}
