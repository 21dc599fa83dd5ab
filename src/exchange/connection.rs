//! Connection records (`--connections`): one record per connection, when it ends,
//! that answers directly whether it was reused, who closed it, how and when.
//!
//! The flow layer counts packets and keeps the Zeek-style history and state
//! ([`crate::flow::Lifecycle`]); the tracker adds what only the exchange layer knows —
//! payload bytes, exchanges, the idle time between them and before the close — in a
//! [`ConnSummary`] per connection, allocated only when connection records are asked
//! for. At the end the two become a [`ConnectionRecord`], carried to the sink by the
//! connection's one record ([`super::Exchange::connection`]), so every sink and the
//! whole format language work on it unchanged.

use super::conn_facts::ProtocolFacts;
use super::record::Micros;
use crate::flow::{Direction, EndpointState, Lifecycle};
use crate::time::Timestamp;

/// How a connection ended (`%conn.close.how`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseHow {
    /// Both sides sent FIN and the close completed.
    Fin,
    /// An RST ended it.
    Rst,
    /// No packet either way for `--idle-timeout`.
    IdleTimeout,
    /// Removed from a full connection table for a new one.
    Evicted,
    /// Still open when the capture ended.
    Truncated,
    /// Still open: an interim record (`--open-report`).
    Open,
}

impl CloseHow {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseHow::Fin => "fin",
            CloseHow::Rst => "rst",
            CloseHow::IdleTimeout => "idle-timeout",
            CloseHow::Evicted => "evicted",
            CloseHow::Truncated => "truncated",
            CloseHow::Open => "open",
        }
    }
}

/// What the exchange layer counts on one connection for its record.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnSummary {
    /// Payload bytes delivered, `[client, server]`.
    pub bytes: [u64; 2],
    /// Payload bytes the capture missed (acknowledged, never seen), `[client, server]`.
    pub missed: [u64; 2],
    /// Exchanges that ended on the connection.
    pub exchanges: u32,
    /// Longest time between the end of one exchange and the start of the next.
    pub idle_max: Option<Micros>,
    /// The end of the last exchange: its last response byte, else its last request byte.
    pub last_exchange_end: Option<Timestamp>,
    /// The end of the exchange before it (the report's idle before close when the last
    /// exchange came after the close had started).
    pub previous_exchange_end: Option<Timestamp>,
    /// The last payload of either direction.
    pub last_data: Option<Timestamp>,
    /// The first exchange's `Connection` and `Keep-Alive` headers: `[request's
    /// Connection, response's Connection, request's Keep-Alive, response's Keep-Alive]`,
    /// each at most [`MAX_HEADER_KEPT`] bytes.
    pub keep_alive: [Option<Box<[u8]>>; 4],
    /// The first request line's `HTTP/1.x` minor version, when it has one.
    pub http_minor: Option<u8>,
}

/// Most bytes of a `Connection` or `Keep-Alive` value kept for the record.
pub const MAX_HEADER_KEPT: usize = 128;

/// Which of the first exchange's keep-alive headers (`%conn.connection.asked`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepAliveHeader {
    ConnectionAsked,
    ConnectionAnswered,
    KeepAliveAsked,
    KeepAliveAnswered,
}

impl ConnSummary {
    pub fn data(&mut self, dir: Direction, len: usize, ts: Timestamp) {
        let i = side(dir);
        self.bytes[i] = self.bytes[i].saturating_add(len as u64);
        self.last_data = Some(ts);
    }

    pub fn missed(&mut self, dir: Direction, len: u64) {
        let i = side(dir);
        self.missed[i] = self.missed[i].saturating_add(len);
    }

    /// An exchange of the connection ended: its request began at `request_first` after
    /// the previous exchange ended at `previous_end` (the open time for the first one);
    /// it ended at `end`.
    pub fn exchange(
        &mut self,
        first: bool,
        request_first: Option<Timestamp>,
        previous_end: Option<Timestamp>,
        end: Option<Timestamp>,
    ) {
        self.exchanges = self.exchanges.saturating_add(1);
        if !first {
            if let (Some(start), Some(before)) = (request_first, previous_end) {
                let idle = start.micros_since(before);
                self.idle_max = Some(self.idle_max.map_or(idle, |m| m.max(idle)));
            }
        }
        if end.is_some() {
            self.previous_exchange_end = self.last_exchange_end;
            self.last_exchange_end = end;
        }
    }
}

impl ConnSummary {
    /// Keeps the first exchange's `Connection` and `Keep-Alive` headers from its kept
    /// bytes: one pass over each header block for both names. `*_header_len`: the
    /// block's length when the exchange layer found its end (else it is looked for).
    pub fn first_headers(
        &mut self,
        request: &[u8],
        request_header_len: Option<usize>,
        response: &[u8],
        response_header_len: Option<usize>,
    ) {
        fn block(message: &[u8], len: Option<usize>) -> &[u8] {
            match len {
                Some(len) => message.get(..len).unwrap_or(message),
                None => super::http::header_block(message),
            }
        }
        let keep = |v: Option<&[u8]>| v.map(|v| v[..v.len().min(MAX_HEADER_KEPT)].into());
        let [req_connection, req_keep_alive] = super::http::header_values_of_two(
            block(request, request_header_len),
            b"Connection",
            b"Keep-Alive",
        );
        let [resp_connection, resp_keep_alive] = super::http::header_values_of_two(
            block(response, response_header_len),
            b"Connection",
            b"Keep-Alive",
        );
        self.keep_alive = [
            keep(req_connection),
            keep(resp_connection),
            keep(req_keep_alive),
            keep(resp_keep_alive),
        ];
        self.http_minor = request_http_minor(request);
    }
}

/// The minor version of a request line that ends in `HTTP/1.x` (RFC 9112 §3).
fn request_http_minor(request: &[u8]) -> Option<u8> {
    let line = super::http::first_line(request);
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    match super::http::word(line, 2) {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            Some(minor - b'0')
        }
        _ => None,
    }
}

fn side(dir: Direction) -> usize {
    match dir {
        Direction::FromClient => 0,
        Direction::FromServer => 1,
    }
}

/// One connection, as it ended.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionRecord<'a> {
    /// Packets, history and Zeek state from the flow layer.
    pub lifecycle: &'a Lifecycle,
    pub(crate) summary: &'a ConnSummary,
    /// The first SYN (or the first packet, mid-stream).
    pub opening: Timestamp,
    /// The handshake's last ACK.
    pub open: Option<Timestamp>,
    /// When it ended: the closing packet, the eviction or the last packet seen; for an
    /// interim record, the time of the report.
    pub end: Timestamp,
    pub how: CloseHow,
    /// The side that closed: the first FIN's sender, else the RST's.
    pub by: Option<Direction>,
    /// TLS, HTTP/2 and WebSocket facts of the connection (`messages` mode).
    pub protocol_facts: Option<&'a ProtocolFacts>,
}

impl ConnectionRecord<'_> {
    /// Zeek's `conn_state`; `open` for an interim record of a connection still open.
    pub fn state(&self) -> &'static str {
        if self.how == CloseHow::Open {
            return "open";
        }
        self.lifecycle.conn_state().as_str()
    }

    /// From the connection's last packet to the record's time: how long it has been
    /// idle (on an interim record), or sat idle before it ended.
    pub fn idle_now(&self) -> Option<Micros> {
        let last = self.lifecycle.last_packet();
        (last.0 != 0).then(|| self.end.micros_since(last))
    }

    /// Opening to end.
    pub fn duration(&self) -> Micros {
        self.end.micros_since(self.opening)
    }

    /// SYN to the handshake's ACK.
    pub fn handshake(&self) -> Option<Micros> {
        // Without a SYN-ACK (picked up mid-stream) there was no handshake to time.
        self.lifecycle.syn_ack()?;
        Some(self.open?.micros_since(self.opening))
    }

    /// SYN to SYN-ACK, as seen from the capture point (the server side's round trip).
    pub fn syn_to_syn_ack(&self) -> Option<Micros> {
        Some(self.lifecycle.syn_ack()?.micros_since(self.opening))
    }

    /// SYN-ACK to the handshake's ACK (the client side's round trip).
    pub fn syn_ack_to_ack(&self) -> Option<Micros> {
        Some(self.open?.micros_since(self.lifecycle.syn_ack()?))
    }

    pub fn exchanges(&self) -> u32 {
        self.summary.exchanges
    }

    pub fn idle_max(&self) -> Option<Micros> {
        self.summary.idle_max
    }

    /// End of the last exchange to the first FIN or RST (`%conn.idle.before_close`):
    /// how long the connection sat unused before it was closed.
    pub fn idle_before_close(&self) -> Option<Micros> {
        if !matches!(self.how, CloseHow::Fin | CloseHow::Rst) {
            return None;
        }
        let closing = self.lifecycle.close_started()?;
        let last = self
            .summary
            .last_exchange_end
            .or(self.summary.last_data)
            .or(self.open)?;
        Some(closing.micros_since(last))
    }

    /// Like [`Self::idle_before_close`], but when the last exchange began after the close
    /// had started (a request sent on a connection its peer had already closed, which
    /// makes that value negative), from the end of the exchange before it: how long the
    /// connection had been idle when the closing side closed it. `None` when that is
    /// negative too.
    pub fn idle_when_closed(&self) -> Option<Micros> {
        let idle = self.idle_before_close()?;
        if idle >= 0 {
            return Some(idle);
        }
        let closing = self.lifecycle.close_started()?;
        let before = closing.micros_since(self.summary.previous_exchange_end?);
        (before >= 0).then_some(before)
    }

    /// Payload bytes delivered by `dir`.
    pub fn bytes(&self, dir: Direction) -> u64 {
        self.summary.bytes[side(dir)]
    }

    /// Payload bytes of `dir` the capture missed.
    pub fn missed(&self, dir: Direction) -> u64 {
        self.summary.missed[side(dir)]
    }

    /// One of the first exchange's keep-alive headers.
    pub fn keep_alive_header(&self, which: KeepAliveHeader) -> Option<&[u8]> {
        self.summary.keep_alive[which as usize].as_deref()
    }

    /// Whether the first request asked to keep the connection open (RFC 9112 §9.3): a
    /// `Connection` header naming `keep-alive` or `close` decides; otherwise HTTP/1.1
    /// asks and HTTP/1.0 does not. `None` when the first request was not HTTP/1.x.
    pub fn keep_alive_asked(&self) -> Option<bool> {
        let minor = self.summary.http_minor?;
        if let Some(value) = self.keep_alive_header(KeepAliveHeader::ConnectionAsked) {
            let has = |token: &[u8]| {
                value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
            };
            if has(b"close") {
                return Some(false);
            }
            if has(b"keep-alive") {
                return Some(true);
            }
        }
        Some(minor >= 1)
    }

    /// Whether either side reset.
    pub fn reset(&self) -> bool {
        self.lifecycle.state(Direction::FromClient) == EndpointState::Reset
            || self.lifecycle.state(Direction::FromServer) == EndpointState::Reset
    }
}
