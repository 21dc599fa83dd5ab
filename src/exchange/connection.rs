//! Connection records (`--connections`): one record per connection, when it ends,
//! that answers directly whether it was reused, who closed it, how and when.
//!
//! The flow layer counts packets and keeps the Zeek-style history and state
//! ([`crate::flow::Lifecycle`]); the tracker adds what only the exchange layer knows —
//! payload bytes, exchanges, the idle time between them and before the close — in a
//! [`ConnSummary`] row per connection slot, kept only when connection records are
//! asked for (and the first exchange's keep-alive values, [`KeepAliveValues`], only
//! when records print them). At the end the two become a [`ConnectionRecord`], carried to the sink by the
//! connection's one record ([`super::Exchange::connection`]), so every sink and the
//! whole format language work on it unchanged.

use super::conn_facts::ProtocolFacts;
use super::http::FieldLines;
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

/// What the exchange layer counts on one connection for its record: one row per
/// connection slot, in a table beside the connection states, only when connection
/// records are asked for (`ExchangeTracker`'s summaries). One cache line, no
/// allocation: with hundreds of thousands of connections open, each touch of a row is
/// a cache miss, so a row is touched only when its connection delivers data, ends an
/// exchange and ends (the tracker clears it then, for the slot's next connection).
/// Bytes missed in gaps are rare and live in a table of their own.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(64))]
pub(crate) struct ConnSummary {
    /// Payload bytes delivered, `[client, server]`.
    bytes: [u64; 2],
    /// Longest time between the end of one exchange and the start of the next (µs; set
    /// when [`IDLE_MAX`] is in `set`).
    idle_max: i64,
    /// The end of the last exchange: its last response byte, else its last request
    /// byte (nanoseconds, when [`LAST_END`] is set).
    last_exchange_end: i64,
    /// The end of the exchange before it (the report's idle before close when the last
    /// exchange came after the close had started; when [`PREVIOUS_END`] is set).
    previous_exchange_end: i64,
    /// The last payload of either direction (when [`LAST_DATA`] is set).
    last_data: i64,
    /// Exchanges that ended on the connection.
    pub exchanges: u32,
    /// Which of the optional times above hold a value.
    set: u8,
    /// Whether the first request asked to keep the connection open
    /// ([`ConnectionRecord::keep_alive_asked`]): [`ASKED_UNKNOWN`], [`ASKED_NO`] or
    /// [`ASKED_YES`].
    asked: u8,
}

const IDLE_MAX: u8 = 1;
const LAST_END: u8 = 1 << 1;
const PREVIOUS_END: u8 = 1 << 2;
const LAST_DATA: u8 = 1 << 3;

/// The first request was not HTTP/1.x (or no exchange ended yet).
const ASKED_UNKNOWN: u8 = 0;
const ASKED_NO: u8 = 1;
const ASKED_YES: u8 = 2;

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
    fn time(&self, bit: u8, nanos: i64) -> Option<Timestamp> {
        (self.set & bit != 0).then_some(Timestamp(nanos))
    }

    fn last_exchange_end(&self) -> Option<Timestamp> {
        self.time(LAST_END, self.last_exchange_end)
    }

    fn previous_exchange_end(&self) -> Option<Timestamp> {
        self.time(PREVIOUS_END, self.previous_exchange_end)
    }

    fn last_data(&self) -> Option<Timestamp> {
        self.time(LAST_DATA, self.last_data)
    }

    fn idle_max(&self) -> Option<Micros> {
        (self.set & IDLE_MAX != 0).then_some(self.idle_max)
    }

    pub fn data(&mut self, dir: Direction, len: usize, ts: Timestamp) {
        let i = side(dir);
        self.bytes[i] = self.bytes[i].saturating_add(len as u64);
        self.last_data = ts.0;
        self.set |= LAST_DATA;
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
                self.idle_max = self.idle_max().map_or(idle, |m| m.max(idle));
                self.set |= IDLE_MAX;
            }
        }
        if let Some(end) = end {
            match self.last_exchange_end() {
                Some(last) => {
                    self.previous_exchange_end = last.0;
                    self.set |= PREVIOUS_END;
                }
                None => self.set &= !PREVIOUS_END,
            }
            self.last_exchange_end = end.0;
            self.set |= LAST_END;
        }
    }

    /// Reads the first exchange's request head (its kept bytes): whether it asked to keep
    /// the connection open, from its `Connection` header (as kept: at most
    /// [`MAX_HEADER_KEPT`] bytes) and its version. `request_header_len`: the header
    /// block's length when the exchange layer found its end (else it is looked for);
    /// `fields`: where the framer found its `Connection` line, when it did.
    pub fn first_request(
        &mut self,
        request: &[u8],
        request_header_len: Option<usize>,
        fields: FieldLines,
    ) {
        // The framer's line offsets count from the kept bytes' start, as the header
        // length does: they hold when the whole block was kept.
        let connection = match request_header_len.and_then(|len| request.get(..len)) {
            Some(block) => super::http::header_value_indexed(block, b"Connection", fields),
            None => {
                super::http::header_value(header_block(request, request_header_len), b"Connection")
            }
        };
        self.asked = match request_http_minor(request) {
            None => ASKED_UNKNOWN,
            Some(minor) => match connection.map(|v| &v[..v.len().min(MAX_HEADER_KEPT)]) {
                Some(v) if has_token(v, b"close") => ASKED_NO,
                Some(v) if has_token(v, b"keep-alive") => ASKED_YES,
                _ if minor >= 1 => ASKED_YES,
                _ => ASKED_NO,
            },
        };
    }
}

/// Whether a comma-separated header value lists `token` (ASCII case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// The header block of a message's kept bytes: `len` bytes when the exchange layer found
/// its end, else up to the blank line.
fn header_block(message: &[u8], len: Option<usize>) -> &[u8] {
    match len {
        Some(len) => message.get(..len).unwrap_or(message),
        None => super::http::header_block(message),
    }
}

/// Bytes of keep-alive values stored in the row itself; longer sets go to the heap.
const INLINE_VALUES: usize = 58;

/// A value's length in [`KeepAliveValues`] when the header was absent.
const ABSENT: u8 = u8::MAX;

/// The first exchange's `Connection` and `Keep-Alive` headers, for records that print
/// them (`%conn.connection.asked`...): `[request's Connection, response's Connection,
/// request's Keep-Alive, response's Keep-Alive]`, each at most [`MAX_HEADER_KEPT`] bytes,
/// one after the other. A row per connection slot beside [`ConnSummary`], only when
/// records are rendered; 64 bytes: the usual values (`keep-alive`, `close`,
/// `timeout=5, max=100`) fit in the row, longer ones (at most 512 bytes) are allocated.
#[derive(Clone, Debug)]
pub(crate) enum KeepAliveValues {
    Inline {
        /// Each value's length, [`ABSENT`] for none.
        lens: [u8; 4],
        bytes: [u8; INLINE_VALUES],
    },
    Heap {
        lens: [u8; 4],
        bytes: Box<[u8]>,
    },
}

impl Default for KeepAliveValues {
    fn default() -> Self {
        KeepAliveValues::Inline {
            lens: [ABSENT; 4],
            bytes: [0; INLINE_VALUES],
        }
    }
}

impl KeepAliveValues {
    /// Keeps the first exchange's `Connection` and `Keep-Alive` headers from its kept
    /// bytes: one pass over each header block for both names. `*_header_len`: the
    /// block's length when the exchange layer found its end (else it is looked for).
    pub fn first_headers(
        request: &[u8],
        request_header_len: Option<usize>,
        response: &[u8],
        response_header_len: Option<usize>,
    ) -> Self {
        let [req_connection, req_keep_alive] = super::http::header_values_of_two(
            header_block(request, request_header_len),
            b"Connection",
            b"Keep-Alive",
        );
        let [resp_connection, resp_keep_alive] = super::http::header_values_of_two(
            header_block(response, response_header_len),
            b"Connection",
            b"Keep-Alive",
        );
        let values = [
            req_connection,
            resp_connection,
            req_keep_alive,
            resp_keep_alive,
        ]
        .map(|v| v.map(|v| &v[..v.len().min(MAX_HEADER_KEPT)]));
        // Each length is at most MAX_HEADER_KEPT (128): it fits a byte beside ABSENT.
        let lens = values.map(|v| v.map_or(ABSENT, |v| v.len() as u8));
        let total: usize = values.iter().flatten().map(|v| v.len()).sum();
        if total <= INLINE_VALUES {
            let mut bytes = [0; INLINE_VALUES];
            let mut at = 0;
            for v in values.iter().flatten() {
                if let Some(slot) = bytes.get_mut(at..at + v.len()) {
                    slot.copy_from_slice(v);
                }
                at += v.len();
            }
            KeepAliveValues::Inline { lens, bytes }
        } else {
            KeepAliveValues::Heap {
                lens,
                bytes: values
                    .iter()
                    .flatten()
                    .flat_map(|v| v.iter().copied())
                    .collect(),
            }
        }
    }

    /// One of the values, `None` when its header was absent.
    pub fn get(&self, which: KeepAliveHeader) -> Option<&[u8]> {
        let (lens, bytes): (&[u8; 4], &[u8]) = match self {
            KeepAliveValues::Inline { lens, bytes } => (lens, bytes),
            KeepAliveValues::Heap { lens, bytes } => (lens, bytes),
        };
        let i = which as usize;
        let len = *lens.get(i)?;
        if len == ABSENT {
            return None;
        }
        let start: usize = lens[..i]
            .iter()
            .filter(|&&l| l != ABSENT)
            .map(|&l| usize::from(l))
            .sum();
        bytes.get(start..start + usize::from(len))
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
    /// Payload bytes the capture missed (acknowledged, never seen), `[client, server]`.
    pub(crate) missed: [u64; 2],
    /// The first exchange's keep-alive headers, kept only when records are rendered.
    pub(crate) keep_alive: Option<&'a KeepAliveValues>,
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
        self.summary.idle_max()
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
            .last_exchange_end()
            .or(self.summary.last_data())
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
        let before = closing.micros_since(self.summary.previous_exchange_end()?);
        (before >= 0).then_some(before)
    }

    /// Payload bytes delivered by `dir`.
    pub fn bytes(&self, dir: Direction) -> u64 {
        self.summary.bytes[side(dir)]
    }

    /// Payload bytes of `dir` the capture missed.
    pub fn missed(&self, dir: Direction) -> u64 {
        self.missed[side(dir)]
    }

    /// One of the first exchange's keep-alive headers.
    pub fn keep_alive_header(&self, which: KeepAliveHeader) -> Option<&[u8]> {
        self.keep_alive?.get(which)
    }

    /// Whether the first request asked to keep the connection open (RFC 9112 §9.3): a
    /// `Connection` header naming `keep-alive` or `close` decides; otherwise HTTP/1.1
    /// asks and HTTP/1.0 does not. `None` when the first request was not HTTP/1.x.
    pub fn keep_alive_asked(&self) -> Option<bool> {
        match self.summary.asked {
            ASKED_YES => Some(true),
            ASKED_NO => Some(false),
            _ => None,
        }
    }

    /// Whether either side reset.
    pub fn reset(&self) -> bool {
        self.lifecycle.state(Direction::FromClient) == EndpointState::Reset
            || self.lifecycle.state(Direction::FromServer) == EndpointState::Reset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeepAliveHeader::*;

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n";

    fn values(request: &[u8], response: &[u8]) -> KeepAliveValues {
        KeepAliveValues::first_headers(request, None, response, None)
    }

    fn all(v: &KeepAliveValues) -> [Option<&[u8]>; 4] {
        [
            ConnectionAsked,
            ConnectionAnswered,
            KeepAliveAsked,
            KeepAliveAnswered,
        ]
        .map(|w| v.get(w))
    }

    #[test]
    fn usual_keep_alive_values_stay_in_the_row() {
        let response =
            b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nConnection: Keep-Alive\r\n\r\n";
        let v = values(REQUEST, response);
        assert!(matches!(v, KeepAliveValues::Inline { .. }));
        assert_eq!(
            all(&v),
            [
                Some(&b"keep-alive"[..]),
                Some(&b"Keep-Alive"[..]),
                None,
                Some(&b"timeout=5, max=100"[..]),
            ]
        );
    }

    #[test]
    fn an_empty_value_is_not_an_absent_one() {
        let v = values(
            b"GET / HTTP/1.1\r\nConnection:\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
        );
        assert_eq!(all(&v), [Some(&b""[..]), None, None, None]);
        assert_eq!(all(&KeepAliveValues::default()), [None; 4]);
    }

    #[test]
    fn long_values_go_to_the_heap_cut_at_the_bound() {
        let long = "x".repeat(MAX_HEADER_KEPT + 40);
        let request = format!("GET / HTTP/1.1\r\nKeep-Alive: {long}\r\nConnection: close\r\n\r\n");
        let v = values(
            request.as_bytes(),
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
        );
        assert!(matches!(v, KeepAliveValues::Heap { .. }));
        assert_eq!(
            all(&v),
            [
                Some(&b"close"[..]),
                Some(&b"close"[..]),
                Some(&long.as_bytes()[..MAX_HEADER_KEPT]),
                None,
            ]
        );
    }

    #[test]
    fn keep_alive_asked_follows_the_connection_header_then_the_version() {
        let asked = |request: &[u8]| {
            let mut s = ConnSummary::default();
            s.first_request(request, None, FieldLines::default());
            s.asked
        };
        assert_eq!(asked(REQUEST), ASKED_YES);
        assert_eq!(asked(b"GET / HTTP/1.1\r\n\r\n"), ASKED_YES);
        assert_eq!(asked(b"GET / HTTP/1.0\r\n\r\n"), ASKED_NO);
        assert_eq!(
            asked(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
            ASKED_YES
        );
        assert_eq!(
            asked(b"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n"),
            ASKED_NO
        );
        assert_eq!(asked(b"\x16\x03\x01\x00"), ASKED_UNKNOWN);
    }

    #[test]
    fn the_previous_exchange_end_is_the_one_before_the_last() {
        let mut s = ConnSummary::default();
        let t = |us: i64| Timestamp(us * 1000);
        s.exchange(true, Some(t(10)), Some(t(5)), Some(t(20)));
        assert_eq!(s.previous_exchange_end(), None);
        assert_eq!(s.last_exchange_end(), Some(t(20)));
        s.exchange(false, Some(t(3020)), Some(t(20)), None);
        assert_eq!(s.last_exchange_end(), Some(t(20)));
        s.exchange(false, Some(t(5000)), Some(t(20)), Some(t(6000)));
        assert_eq!(s.previous_exchange_end(), Some(t(20)));
        assert_eq!(s.last_exchange_end(), Some(t(6000)));
        assert_eq!(s.idle_max(), Some(5000 - 20));
        assert_eq!(s.exchanges, 3);
    }

    /// A row per connection slot: hundreds of thousands at once are common.
    #[test]
    fn the_rows_stay_small() {
        assert_eq!(std::mem::size_of::<ConnSummary>(), 64);
        assert!(std::mem::size_of::<KeepAliveValues>() <= 64);
    }
}
