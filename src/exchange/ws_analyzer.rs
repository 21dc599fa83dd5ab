//! WebSocket in `messages` mode (RFC 6455, RFC 7692): the connection after a
//! `101 Switching Protocols` that answered `Upgrade: websocket`.
//!
//! HTTP/1 hands the connection over with the handshake's two heads ([`Handshake`]):
//! the `Sec-WebSocket-Accept` check, the subprotocol and the extensions become the
//! connection's [`WsFacts`]. Then one [`WsReader`] per direction follows the frames and
//! the analyzer keeps the summary (messages and bytes each way, pings, pongs and their
//! round trips, silences, the closing handshake). By default that is all: the upgrade
//! was the connection's last exchange. With `--ws-messages` every message (data or
//! control) becomes an exchange of its own, built whole when its last frame ends: a
//! client message on the request side, a server message on the response side.
//!
//! When analysis stops (a frame larger than `--ws-max-message`, bytes lost in a
//! frame header) the rest of the connection is ignored; the facts say why.

use super::analyzer::{Exchanges, Handoff};
use super::http::header_split;
use super::record::Micros;
use super::ws_facts::{
    Accept, Deflate, WsClose, WsEnd, WsFacts, WsMessageFacts, MAX_CLOSE_REASON, MAX_HANDSHAKE_VALUE,
};
use super::ws_frame::{close_payload, opcode, ReaderConfig, WsEvent, WsReader, MAX_KEPT};
use super::AnalyzerOptions;
use crate::flow::Direction;
use crate::time::Timestamp;

/// The GUID of RFC 6455 §1.3 appended to the key before hashing.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Pings waiting for their pong (a peer that pings and is never answered cannot grow
/// the list: the oldest is forgotten).
const MAX_PENDING_PINGS: usize = 16;

/// The two heads of an upgrade: the request's and the 101's (each at most the HTTP/1
/// framer's head bound).
#[derive(Debug, Default)]
pub(crate) struct Handshake<'a> {
    pub request: &'a [u8],
    pub response: &'a [u8],
}

/// Every value of the header `name` in the header block `block`, in order (a field may
/// be repeated: RFC 9110 §5.3).
fn header_values<'a>(block: &'a [u8], name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    block.split(|&b| b == b'\n').filter_map(move |line| {
        let (field, value) = line.split_at(line.iter().position(|&b| b == b':')?);
        field
            .eq_ignore_ascii_case(name)
            .then(|| value[1..].trim_ascii())
    })
}

/// The values of `name` joined by `, ` (at most [`MAX_HANDSHAKE_VALUE`] bytes).
fn joined(block: &[u8], name: &[u8]) -> Option<Box<[u8]>> {
    let mut out = Vec::new();
    for (i, v) in header_values(block, name).enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(v);
    }
    if out.is_empty() {
        return None;
    }
    out.truncate(MAX_HANDSHAKE_VALUE);
    Some(out.into_boxed_slice())
}

/// Standard base64 with padding (RFC 4648 §4) of `bytes`.
fn base64(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

/// The `Sec-WebSocket-Accept` a server must send for `key` (RFC 6455 §4.2.2).
pub(crate) fn expected_accept(key: &[u8]) -> Vec<u8> {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(ACCEPT_GUID);
    base64(&sha.digest().bytes())
}

/// The agreed `permessage-deflate` parameters in the 101's extensions (RFC 7692 §7.1),
/// when it was agreed.
fn deflate_params(extensions: &[u8]) -> Option<Deflate> {
    for extension in extensions.split(|&b| b == b',') {
        let mut params = extension.split(|&b| b == b';').map(<[u8]>::trim_ascii);
        if !params
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"permessage-deflate"))
        {
            continue;
        }
        let mut d = Deflate::default();
        for p in params {
            let (name, value) = match p.iter().position(|&b| b == b'=') {
                Some(i) => (p[..i].trim_ascii(), Some(p[i + 1..].trim_ascii())),
                None => (p, None),
            };
            let bits = value.and_then(|v| {
                let v = v.strip_prefix(b"\"").unwrap_or(v);
                let v = v.strip_suffix(b"\"").unwrap_or(v);
                std::str::from_utf8(v).ok()?.parse::<u8>().ok()
            });
            match name.to_ascii_lowercase().as_slice() {
                b"client_no_context_takeover" => d.client_no_context_takeover = true,
                b"server_no_context_takeover" => d.server_no_context_takeover = true,
                b"client_max_window_bits" => d.client_max_window_bits = bits,
                b"server_max_window_bits" => d.server_max_window_bits = bits,
                _ => {}
            }
        }
        return Some(d);
    }
    None
}

impl Handshake<'_> {
    /// The connection-level facts the handshake gives.
    pub fn facts(&self, upgraded: Timestamp) -> WsFacts {
        let request = &self.request[..header_split(self.request).0];
        let response = &self.response[..header_split(self.response).0];
        let key = header_values(request, b"Sec-WebSocket-Key").next();
        let accept = header_values(response, b"Sec-WebSocket-Accept").next();
        let accept = match (key, accept) {
            (Some(k), Some(a)) if !k.is_empty() && !a.is_empty() => {
                if expected_accept(k) == a {
                    Accept::Valid
                } else {
                    Accept::Invalid
                }
            }
            _ => Accept::Missing,
        };
        let extensions = joined(response, b"Sec-WebSocket-Extensions");
        WsFacts {
            accept,
            subprotocol: joined(response, b"Sec-WebSocket-Protocol"),
            offered_subprotocols: joined(request, b"Sec-WebSocket-Protocol"),
            deflate: extensions.as_deref().and_then(deflate_params),
            extensions,
            offered_extensions: joined(request, b"Sec-WebSocket-Extensions"),
            upgraded: Some(upgraded),
            last_activity: Some(upgraded),
            ..WsFacts::default()
        }
    }
}

/// A ping waiting for its pong.
#[derive(Debug)]
struct Ping {
    by: Direction,
    at: Timestamp,
    payload: Box<[u8]>,
}

/// The message in progress in one direction.
#[derive(Clone, Copy, Debug, Default)]
struct Pending {
    first: Option<Timestamp>,
    gap: u64,
}

/// When each direction last carried bytes: the end of a message cut by the end of the
/// connection.
#[derive(Clone, Copy, Debug, Default)]
struct LastSeen([Option<Timestamp>; 2]);

/// One WebSocket connection's state.
#[derive(Debug)]
pub(crate) struct WsAnalyzer {
    /// `[client, server]`.
    readers: [WsReader; 2],
    pending: [Pending; 2],
    last_seen: LastSeen,
    pings: Vec<Ping>,
    /// Every message is a record (`--ws-messages`).
    records: bool,
    stopped: bool,
}

fn side(dir: Direction) -> usize {
    match dir {
        Direction::FromClient => 0,
        Direction::FromServer => 1,
    }
}

fn other(dir: Direction) -> Direction {
    match dir {
        Direction::FromClient => Direction::FromServer,
        Direction::FromServer => Direction::FromClient,
    }
}

impl WsAnalyzer {
    /// The analyzer of a connection whose 101 ended at `upgraded`; the handshake's facts
    /// go to the connection's facts.
    pub fn new(
        x: &mut Exchanges<'_>,
        options: AnalyzerOptions,
        handshake: &Handshake<'_>,
        upgraded: Timestamp,
    ) -> Self {
        let facts = handshake.facts(upgraded);
        let deflate = facts.deflate;
        let records = options.ws_messages;
        let keep = |r: super::Retention| {
            if !records {
                0
            } else if r.all {
                MAX_KEPT
            } else {
                r.prefix.min(MAX_KEPT)
            }
        };
        let config = |from_client: bool, no_takeover: bool, keep: usize| ReaderConfig {
            from_client,
            max_message: options.ws_max_message,
            deflate: deflate.is_some(),
            context_takeover: !no_takeover,
            keep,
        };
        let client = config(
            true,
            deflate.is_some_and(|d| d.client_no_context_takeover),
            keep(x.needs.request),
        );
        let server = config(
            false,
            deflate.is_some_and(|d| d.server_no_context_takeover),
            keep(x.needs.response),
        );
        x.protocol_facts().ws = Some(facts);
        WsAnalyzer {
            readers: [WsReader::new(client), WsReader::new(server)],
            pending: [Pending::default(); 2],
            last_seen: LastSeen::default(),
            pings: Vec::new(),
            records,
            stopped: false,
        }
    }
}

/// What handling one event needs besides the reader that made it.
struct Handler<'a, 'x> {
    x: &'a mut Exchanges<'x>,
    pending: &'a mut [Pending; 2],
    pings: &'a mut Vec<Ping>,
    records: bool,
    stopped: &'a mut bool,
    dir: Direction,
    ts: Timestamp,
}

impl Handler<'_, '_> {
    fn facts(&mut self) -> &mut WsFacts {
        self.x
            .protocol_facts()
            .ws
            .get_or_insert_with(WsFacts::default)
    }

    fn on(&mut self, event: WsEvent<'_>) {
        let (dir, ts) = (self.dir, self.ts);
        match event {
            WsEvent::MessageStart { .. } => {
                self.pending[side(dir)].first = Some(ts);
                let facts = self.facts();
                if let Some(last) = facts.last_activity {
                    note_silence(facts, ts.micros_since(last));
                }
            }
            WsEvent::Message(m) => {
                let pending = std::mem::take(&mut self.pending[side(dir)]);
                let facts = self.facts();
                let s = facts.side_mut(dir);
                s.messages += 1;
                s.bytes = s.bytes.saturating_add(m.wire);
                match m.size {
                    Some(n) => s.decoded = s.decoded.saturating_add(n),
                    None => s.undecoded += 1,
                }
                s.last = Some(ts);
                facts.last_activity = Some(ts);
                let message = WsMessageFacts {
                    opcode: m.opcode,
                    wire: m.wire,
                    size: m.size,
                    compressed: m.compressed,
                    rtt: None,
                    close: None,
                };
                let first = pending.first.unwrap_or(ts);
                self.record(first, m.kept, message, m.complete, pending.gap);
            }
            WsEvent::Control(c) => {
                let mut message = WsMessageFacts {
                    opcode: c.opcode,
                    wire: c.len,
                    size: Some(c.len),
                    compressed: false,
                    rtt: None,
                    close: None,
                };
                match c.opcode {
                    opcode::PING => {
                        self.facts().side_mut(dir).pings += 1;
                        if c.complete {
                            if self.pings.len() >= MAX_PENDING_PINGS {
                                self.pings.remove(0);
                            }
                            self.pings.push(Ping {
                                by: dir,
                                at: ts,
                                payload: c.payload.into(),
                            });
                        }
                    }
                    opcode::PONG => {
                        self.facts().side_mut(dir).pongs += 1;
                        let answered = self
                            .pings
                            .iter()
                            .position(|p| p.by == other(dir) && *p.payload == *c.payload);
                        if let Some(i) = answered.filter(|_| c.complete) {
                            let ping = self.pings.remove(i);
                            let rtt = ts.micros_since(ping.at);
                            message.rtt = Some(rtt);
                            self.facts().ping_rtt = Some((rtt, ping.by));
                        }
                    }
                    opcode::CLOSE => {
                        let (code, reason) = if c.complete {
                            close_payload(c.payload)
                        } else {
                            (None, &[][..])
                        };
                        message.close = Some((code, dir));
                        let facts = self.facts();
                        if let Some(last) = facts.last_activity {
                            note_silence(facts, ts.micros_since(last));
                        }
                        facts.last_activity = Some(ts);
                        match facts.close.as_mut() {
                            None => {
                                facts.close = Some(WsClose {
                                    code,
                                    reason: reason[..reason.len().min(MAX_CLOSE_REASON)].into(),
                                    by: dir,
                                    at: ts,
                                    answered: false,
                                })
                            }
                            Some(first) if first.by != dir => first.answered = true,
                            Some(_) => {}
                        }
                    }
                    _ => {}
                }
                let payload = if c.opcode == opcode::CLOSE {
                    c.payload
                } else {
                    &[]
                };
                self.record(ts, payload, message, c.complete, 0);
            }
            WsEvent::Violation(v) => {
                let facts = self.facts();
                facts.violations += 1;
                facts.error.get_or_insert(v.as_str());
            }
            WsEvent::Stop(s) => {
                *self.stopped = true;
                let facts = self.facts();
                facts.stopped = true;
                facts.error.get_or_insert(s.as_str());
            }
        }
    }

    /// `--ws-messages`: the message that just ended becomes an exchange of its own.
    fn record(
        &mut self,
        first: Timestamp,
        kept: &[u8],
        message: WsMessageFacts,
        complete: bool,
        gap: u64,
    ) {
        if !self.records {
            return;
        }
        let (dir, ts, x) = (self.dir, self.ts, &mut *self.x);
        if dir == Direction::FromClient {
            x.begin_request();
        }
        x.message_data(dir, first, &[], 0);
        x.message_data(dir, ts, kept, message.wire);
        let e = match dir {
            Direction::FromClient => Some(x.newest_mut()),
            Direction::FromServer => x.answering_mut(),
        };
        let Some(e) = e else {
            return;
        };
        e.facts.framed = true;
        e.facts.request_done = true;
        e.gap = e.gap.saturating_add(gap);
        let id = e.id;
        x.finish_response(complete);
        x.protocol_facts().note_ws_message(id, message);
    }
}

fn note_silence(facts: &mut WsFacts, silence: Micros) {
    if facts.silence_max.is_none_or(|m| silence > m) {
        facts.silence_max = Some(silence);
    }
}

impl super::analyzer::Analyzer for WsAnalyzer {
    fn data(
        &mut self,
        x: &mut Exchanges<'_>,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
    ) -> Handoff {
        if self.stopped {
            return Handoff::Stay;
        }
        self.last_seen.0[side(dir)] = Some(ts);
        let WsAnalyzer {
            readers,
            pending,
            pings,
            records,
            stopped,
            ..
        } = self;
        let mut h = Handler {
            x,
            pending,
            pings,
            records: *records,
            stopped,
            dir,
            ts,
        };
        readers[side(dir)].feed(bytes, &mut |e| h.on(e));
        Handoff::Stay
    }

    fn gap(&mut self, x: &mut Exchanges<'_>, dir: Direction, ts: Timestamp, len: u64) {
        if self.stopped {
            return;
        }
        let in_message = self.readers[side(dir)].in_message();
        let WsAnalyzer {
            readers,
            pending,
            pings,
            records,
            stopped,
            ..
        } = self;
        if in_message {
            pending[side(dir)].gap = pending[side(dir)].gap.saturating_add(len);
        }
        let mut h = Handler {
            x,
            pending,
            pings,
            records: *records,
            stopped,
            dir,
            ts,
        };
        readers[side(dir)].gap(len, &mut |e| h.on(e));
    }

    fn end(&mut self, x: &mut Exchanges<'_>, closed: bool) {
        // A message cut by the end: counted, and a record (incomplete) if asked.
        for dir in [Direction::FromClient, Direction::FromServer] {
            let Some(ts) = self.last_seen.0[side(dir)] else {
                continue;
            };
            let WsAnalyzer {
                readers,
                pending,
                pings,
                records,
                stopped,
                ..
            } = self;
            let mut h = Handler {
                x,
                pending,
                pings,
                records: *records,
                stopped,
                dir,
                ts,
            };
            readers[side(dir)].abandon(&mut |e| h.on(e));
        }
        if !closed {
            return;
        }
        let facts = x.protocol_facts().ws.get_or_insert_with(WsFacts::default);
        facts.end = Some(match &facts.close {
            None => WsEnd::Abnormal,
            Some(c) if c.answered => WsEnd::Clean,
            Some(_) => WsEnd::Unanswered,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_of_rfc6455_example_key() {
        // RFC 6455 §1.3.
        assert_eq!(
            expected_accept(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(base64(b""), b"");
        assert_eq!(base64(b"f"), b"Zg==");
        assert_eq!(base64(b"fo"), b"Zm8=");
        assert_eq!(base64(b"foo"), b"Zm9v");
        assert_eq!(base64(b"foobar"), b"Zm9vYmFy");
    }

    const REQUEST: &[u8] =
        b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn handshake_facts_check_the_accept_and_read_the_agreed_extension() {
        let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
            Sec-WebSocket-Protocol: chat\r\n\
            sec-websocket-extensions: permessage-deflate; server_no_context_takeover;\r\n\
            Sec-WebSocket-Extensions:  client_max_window_bits=\"10\"\r\n\r\n";
        let f = Handshake {
            request: REQUEST,
            response,
        }
        .facts(Timestamp(0));
        assert_eq!(f.accept, Accept::Valid);
        assert_eq!(f.subprotocol.as_deref(), Some(&b"chat"[..]));
        assert_eq!(
            f.offered_subprotocols.as_deref(),
            Some(&b"chat, superchat"[..])
        );
        assert_eq!(
            f.deflate,
            Some(Deflate {
                server_no_context_takeover: true,
                ..Deflate::default()
            })
        );
        let bad = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: AAAA\r\n\r\n";
        let f = Handshake {
            request: REQUEST,
            response: bad,
        }
        .facts(Timestamp(0));
        assert_eq!((f.accept, f.deflate), (Accept::Invalid, None));
        let none = Handshake {
            request: b"GET / HTTP/1.1\r\n\r\n",
            response: bad,
        };
        assert_eq!(none.facts(Timestamp(0)).accept, Accept::Missing);
    }

    #[test]
    fn deflate_parameters_with_values_and_other_extensions() {
        let d = deflate_params(
            b"x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover; \
              server_max_window_bits=12; client_max_window_bits=\"9\"",
        )
        .unwrap();
        assert!(d.client_no_context_takeover && !d.server_no_context_takeover);
        assert_eq!(
            (d.server_max_window_bits, d.client_max_window_bits),
            (Some(12), Some(9))
        );
        assert_eq!(deflate_params(b"x-other"), None);
    }

    use crate::decode::Endpoint;
    use crate::exchange::{
        AnalyzerOptions, Exchange, ExchangeSink, ExchangeTracker, Mode, Needs, Position, Protocol,
        Retention,
    };
    use crate::flow::{FlowEvent, FlowEventKind, FlowEventSink};
    use std::net::{IpAddr, Ipv4Addr};

    /// What a test reads of a record.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Rec {
        position: Position,
        protocol: Protocol,
        opcode: Option<&'static str>,
        sizes: (u64, u64),
        kept: (Vec<u8>, Vec<u8>),
        size: Option<u64>,
        rtt: Option<i64>,
        messages: Option<(u64, u64)>,
        close: Option<String>,
        clean: Option<bool>,
        accept: Option<Accept>,
        error: Option<&'static str>,
        ping_rtt: Option<(i64, Direction)>,
    }

    #[derive(Default)]
    struct Collect(Vec<Rec>);

    impl ExchangeSink for Collect {
        fn exchange(&mut self, e: &Exchange<'_>) -> std::io::Result<()> {
            let close = e.ws_message.and_then(|m| m.close).map_or_else(
                || {
                    let mut out = Vec::new();
                    e.ws.is_some_and(|w| w.write_close(&mut out)).then_some(out)
                },
                |(code, by)| {
                    let mut out = Vec::new();
                    crate::exchange::ws_facts::write_close(code, by, &mut out);
                    Some(out)
                },
            );
            self.0.push(Rec {
                position: e.position,
                protocol: e.protocol,
                opcode: e.ws_message.map(|m| m.opcode_name()),
                sizes: (e.request_size, e.response_size),
                kept: (e.request.to_vec(), e.response.to_vec()),
                size: e.ws_message.and_then(|m| m.size),
                rtt: e.ws_message.and_then(|m| m.rtt),
                messages: e.ws.map(|w| (w.client.messages, w.server.messages)),
                close: close.map(|c| String::from_utf8(c).unwrap()),
                clean: e.ws.and_then(|w| w.end).map(|end| end == WsEnd::Clean),
                accept: e.ws.map(|w| w.accept),
                error: e.ws.and_then(|w| w.error),
                ping_rtt: e.ws.and_then(|w| w.ping_rtt),
            });
            Ok(())
        }
    }

    const FC: Direction = Direction::FromClient;
    const FS: Direction = Direction::FromServer;
    const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// One frame; masked with [`MASK`] when `masked`.
    fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mut out = vec![first];
        let m = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(m | n as u8),
            n if n < 65536 => {
                out.push(m | 126);
                out.extend((n as u16).to_be_bytes());
            }
            n => {
                out.push(m | 127);
                out.extend((n as u64).to_be_bytes());
            }
        }
        if masked {
            out.extend(MASK);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        } else {
            out.extend(payload);
        }
        out
    }

    /// Runs a connection: `(ms, dir, bytes)` data events, then a close (by the client,
    /// unless `None`: the capture ends).
    fn run(
        options: AnalyzerOptions,
        events: &[(i64, Direction, Vec<u8>)],
        close: Option<Direction>,
    ) -> Vec<Rec> {
        let mut kinds = vec![(1, FlowEventKind::Established)];
        for (ms, dir, bytes) in events {
            kinds.push((*ms, FlowEventKind::Data { dir: *dir, bytes }));
        }
        kinds.push(match close {
            Some(originator) => (1000, FlowEventKind::Closed { originator }),
            None => (1000, FlowEventKind::Truncated),
        });
        replay(options, kinds)
    }

    /// Opens a connection 127.0.0.1:40000 → :80 at 100 s, then feeds `events` (times in
    /// milliseconds after it) to a messages-mode tracker that keeps every byte.
    fn replay(options: AnalyzerOptions, events: Vec<(i64, FlowEventKind<'_>)>) -> Vec<Rec> {
        let all = Retention {
            all: true,
            header: false,
            prefix: 0,
        };
        let needs = Needs {
            request: all,
            response: all,
        };
        let mut tracker = ExchangeTracker::with_mode(needs, Mode::Messages, Collect::default())
            .with_options(options);
        let ep = |port| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        };
        let opening = FlowEventKind::Opening {
            client: ep(40000),
            server: ep(80),
        };
        for (ms, kind) in std::iter::once((0, opening)).chain(events) {
            tracker
                .event(FlowEvent {
                    conn: 0,
                    ts: Timestamp::from_secs_micros(100, ms * 1000),
                    streams: 1,
                    kind,
                })
                .unwrap();
        }
        tracker.into_sink().0
    }

    fn messages_mode() -> AnalyzerOptions {
        AnalyzerOptions {
            ws_messages: true,
            ..AnalyzerOptions::default()
        }
    }

    /// The handshake, then: client "hello" split over two frames with a ping between
    /// them, the server's echo and pong, a close handshake started by the client.
    fn chat() -> Vec<(i64, Direction, Vec<u8>)> {
        let mut client = frame(0x01, b"hel", true);
        client.extend(frame(0x89, b"p1", true));
        client.extend(frame(0x80, b"lo", true));
        let mut server = frame(0x8a, b"p1", false);
        server.extend(frame(0x81, b"hello", false));
        vec![
            (10, FC, REQUEST.to_vec()),
            (20, FS, RESPONSE.to_vec()),
            (30, FC, client),
            (45, FS, server),
            (50, FC, frame(0x88, b"\x03\xe8bye", true)),
            (60, FS, frame(0x88, b"\x03\xe8", false)),
        ]
    }

    #[test]
    fn by_default_the_upgrade_is_the_only_record_printed_at_the_101() {
        let got = run(AnalyzerOptions::default(), &chat(), Some(FC));
        assert_eq!(got.len(), 1);
        let upgrade = &got[0];
        assert_eq!(upgrade.position, Position::Start);
        assert_eq!(upgrade.protocol, Protocol::Http11);
        assert!(upgrade.kept.0.starts_with(b"GET /chat"));
        assert!(upgrade.kept.1.starts_with(b"HTTP/1.1 101"));
        assert_eq!(upgrade.accept, Some(Accept::Valid));
        // Printed at the 101: nothing of the WebSocket is known yet.
        assert_eq!(upgrade.messages, Some((0, 0)));
        assert_eq!(upgrade.close, None);
    }

    #[test]
    fn with_ws_messages_every_message_is_a_record_whatever_the_segmentation() {
        let events = chat();
        let whole = run(messages_mode(), &events, Some(FC));
        let summary: Vec<_> = whole
            .iter()
            .map(|r| (r.position, r.opcode, r.sizes, r.size))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    Position::Start,
                    None,
                    (REQUEST.len() as u64, RESPONSE.len() as u64),
                    None
                ),
                (Position::Continue, Some("ping"), (2, 0), Some(2)),
                (Position::Continue, Some("text"), (5, 0), Some(5)),
                (Position::Continue, Some("pong"), (0, 2), Some(2)),
                (Position::Continue, Some("text"), (0, 5), Some(5)),
                (Position::Continue, Some("close"), (5, 0), Some(5)),
                (Position::Last, Some("close"), (0, 2), Some(2)),
            ]
        );
        assert_eq!(whole[2].kept.0, b"hello");
        assert_eq!(whole[4].kept.1, b"hello");
        assert_eq!(whole[3].rtt, Some(15_000));
        assert_eq!(whole[5].close.as_deref(), Some("1000 normal by client"));
        let last = &whole[6];
        assert_eq!(last.close.as_deref(), Some("1000 normal by server"));
        assert_eq!(last.messages, Some((1, 1)));
        assert_eq!(last.clean, Some(true));
        assert_eq!(last.ping_rtt, Some((15_000, FC)));
        assert_eq!(last.error, None);

        // The same bytes cut at every position of each direction's stream.
        for (i, (ms, dir, bytes)) in events.iter().enumerate() {
            for cut in 1..bytes.len() {
                let mut split = events.clone();
                let (a, b) = bytes.split_at(cut);
                split[i] = (*ms, *dir, a.to_vec());
                split.insert(i + 1, (*ms, *dir, b.to_vec()));
                let got = run(messages_mode(), &split, Some(FC));
                // The summary is the one of the moment a record is printed, which a
                // cut may move: every value of the messages themselves is the same,
                // and the final summary too.
                let own = |r: &[Rec]| {
                    r.iter()
                        .map(|r| Rec {
                            messages: None,
                            ping_rtt: None,
                            close: r.close.clone().filter(|_| r.opcode == Some("close")),
                            ..r.clone()
                        })
                        .collect::<Vec<_>>()
                };
                assert_eq!(own(&got), own(&whole), "event {i} cut at {cut}");
                assert_eq!(got.last(), whole.last(), "event {i} cut at {cut}");
            }
        }
    }

    #[test]
    fn a_tcp_close_without_close_frames_is_the_abnormal_closure() {
        let events = vec![
            (10, FC, REQUEST.to_vec()),
            (20, FS, RESPONSE.to_vec()),
            (30, FC, frame(0x81, b"x", true)),
        ];
        let got = run(messages_mode(), &events, Some(FC));
        let last = got.last().unwrap();
        assert_eq!(last.close.as_deref(), Some("1006 abnormal"));
        assert_eq!(last.clean, Some(false));
        // Cut by the end of the capture, nothing is known of the end.
        let got = run(messages_mode(), &events, None);
        assert_eq!((got[1].close.as_deref(), got[1].clean), (None, None));
    }

    #[test]
    fn permessage_deflate_messages_are_inflated_and_a_bad_accept_is_reported() {
        let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
            Sec-WebSocket-Accept: wrong=\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
        // RFC 7692 §7.2.3.2: two compressed "Hello" sharing the context.
        let mut server = vec![0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        server.extend([0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
        let events = vec![
            (10, FC, REQUEST.to_vec()),
            (20, FS, response.to_vec()),
            (30, FS, server),
        ];
        let got = run(messages_mode(), &events, Some(FS));
        assert_eq!(got[0].accept, Some(Accept::Invalid));
        assert_eq!((got[1].sizes.1, got[1].size), (7, Some(5)));
        assert_eq!((got[2].sizes.1, got[2].size), (5, Some(5)));
        assert_eq!(got[2].kept.1, b"Hello");
    }

    #[test]
    fn a_frame_over_the_maximum_stops_the_analysis() {
        let options = AnalyzerOptions {
            ws_max_message: 100,
            ws_messages: true,
        };
        let mut big = frame(0x82, &[0u8; 200], true);
        big.extend(frame(0x81, b"after", true));
        let events = vec![
            (10, FC, REQUEST.to_vec()),
            (20, FS, RESPONSE.to_vec()),
            (30, FC, big),
            (40, FS, frame(0x81, b"ignored", false)),
        ];
        let got = run(options, &events, Some(FC));
        assert_eq!(got.len(), 1, "no message after the stop");
        // The upgrade was printed before: what the analysis found shows on no record
        // in this test, but stays in the connection's facts (connection records).
        assert_eq!(got[0].error, None);
    }

    #[test]
    fn a_gap_inside_a_payload_keeps_sync_and_a_cut_message_is_printed_incomplete() {
        let first = frame(0x81, b"0123456789", false);
        let cut = frame(0x82, b"never ends", false);
        let events: Vec<(i64, FlowEventKind<'_>)> = vec![
            (
                10,
                FlowEventKind::Data {
                    dir: FC,
                    bytes: REQUEST,
                },
            ),
            (
                20,
                FlowEventKind::Data {
                    dir: FS,
                    bytes: RESPONSE,
                },
            ),
            (
                30,
                FlowEventKind::Data {
                    dir: FS,
                    bytes: &first[..4],
                },
            ),
            (40, FlowEventKind::Gap { dir: FS, len: 4 }),
            (
                50,
                FlowEventKind::Data {
                    dir: FS,
                    bytes: &first[8..],
                },
            ),
            (
                60,
                FlowEventKind::Data {
                    dir: FS,
                    bytes: &cut[..5],
                },
            ),
            (70, FlowEventKind::Closed { originator: FS }),
        ];
        let got = replay(messages_mode(), events);
        assert_eq!(got.len(), 3);
        // The text with 4 bytes lost: its size is known, its bytes are not all there.
        assert_eq!(
            (got[1].opcode, got[1].sizes.1, got[1].size),
            (Some("text"), 10, Some(10))
        );
        assert_eq!(got[1].kept.1, b"01");
        // The binary cut by the close: an incomplete record, the connection's last.
        assert_eq!((got[2].opcode, got[2].sizes.1), (Some("binary"), 3));
        assert_eq!(got[2].position, Position::Last);
        assert_eq!(got[2].messages, Some((0, 2)));
    }

    #[test]
    fn a_gap_in_a_frame_header_stops_the_analysis_and_says_so() {
        let hello = frame(0x81, b"hello", false);
        let x = frame(0x81, b"x", true);
        let events: Vec<(i64, FlowEventKind<'_>)> = vec![
            (
                10,
                FlowEventKind::Data {
                    dir: FC,
                    bytes: REQUEST,
                },
            ),
            (
                20,
                FlowEventKind::Data {
                    dir: FS,
                    bytes: RESPONSE,
                },
            ),
            (
                30,
                FlowEventKind::Data {
                    dir: FS,
                    bytes: &hello,
                },
            ),
            (40, FlowEventKind::Gap { dir: FS, len: 3 }),
            (
                50,
                FlowEventKind::Data {
                    dir: FS,
                    bytes: &hello,
                },
            ),
            (60, FlowEventKind::Data { dir: FC, bytes: &x }),
            (70, FlowEventKind::Closed { originator: FS }),
        ];
        let got = replay(messages_mode(), events);
        // The upgrade and the first hello; nothing is read after the lost header.
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].error, Some("lost-sync"));
        assert_eq!(got[1].messages, Some((0, 1)));
    }

    #[test]
    fn the_101_and_the_first_message_in_one_segment() {
        let mut server = RESPONSE.to_vec();
        server.extend(frame(0x81, b"welcome", false));
        let events = vec![(10, FC, REQUEST.to_vec()), (20, FS, server)];
        let got = run(messages_mode(), &events, Some(FS));
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].kept.1, b"welcome");
        assert_eq!(got[1].position, Position::Last);
        assert_eq!(got[1].close.as_deref(), Some("1006 abnormal"));
    }

    #[test]
    fn arbitrary_frames_after_an_upgrade_never_panic_and_the_upgrade_comes_first() {
        // Frames built at random (valid and not: lengths, masks, opcodes, RSV bits,
        // deflate data that is not), cut at random, both ways. (Gaps: the frame
        // reader's fuzz target and the gap tests above.)
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n.max(1)
        };
        let deflate_response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
            Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n\r\n";
        for round in 0..300 {
            let mut streams: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
            for (side, stream) in streams.iter_mut().enumerate() {
                for _ in 0..next(12) {
                    let first = (next(256) as u8) & if next(4) == 0 { 0xff } else { 0xcf };
                    let len = match next(10) {
                        0 => 126 + next(400) as usize,
                        1 => 0,
                        _ => next(40) as usize,
                    };
                    let payload: Vec<u8> = (0..len).map(|_| next(256) as u8).collect();
                    stream.extend(frame(first, &payload, (side == 0) != (next(8) == 0)));
                }
            }
            let response: &[u8] = if round % 2 == 0 {
                RESPONSE
            } else {
                deflate_response
            };
            let mut events = vec![(10, FC, REQUEST.to_vec()), (20, FS, response.to_vec())];
            let mut at = [0usize; 2];
            let mut ms = 30;
            while at[0] < streams[0].len() || at[1] < streams[1].len() {
                let side = next(2) as usize;
                let rest = streams[side].len() - at[side];
                if rest == 0 {
                    continue;
                }
                let n = 1 + next(rest as u64) as usize;
                let dir = if side == 0 { FC } else { FS };
                events.push((ms, dir, streams[side][at[side]..at[side] + n].to_vec()));
                at[side] += n;
                ms += 1;
            }
            for ws_messages in [false, true] {
                let options = AnalyzerOptions {
                    ws_messages,
                    ws_max_message: 300,
                };
                let got = run(options, &events, Some(FC));
                assert!(!got.is_empty());
                assert_eq!(got[0].protocol, Protocol::Http11);
                assert!(got[1..].iter().all(|r| r.protocol == Protocol::WebSocket));
            }
        }
    }
}
