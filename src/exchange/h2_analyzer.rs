//! HTTP/2 in clear text (`h2c`) in `messages` mode: one exchange per stream (RFC 9113).
//!
//! Both directions' frames are read ([`FrameReader`]) and their header blocks decoded
//! ([`Decoder`], one per direction, its table bounded by the receiver's
//! SETTINGS_HEADER_TABLE_SIZE). A stream's request is the client's HEADERS (and
//! CONTINUATION) and DATA, its response the server's; it ends at END_STREAM in both
//! directions or at RST_STREAM, and its exchange is finished then, so records come out
//! in the order streams end ([`Exchanges::finish`]). Several streams are open at once:
//! each is addressed by its exchange's handle.
//!
//! What an exchange keeps for the template is the decoded form of its messages: an
//! HTTP/1-style head (`GET /path HTTP/2`, `host:` from `:authority`, the other fields
//! as `name: value` lines; `HTTP/2 200` for a response; trailers appended to the head)
//! and the DATA payload as body, so every header keyword reads HTTP/2 as it reads
//! HTTP/1. What it counts (`%request.size`) is its wire payload: header block
//! fragments and DATA payload (frame headers and padding excluded); the body size is
//! the DATA payload; its timings run from its first to its last frame of each
//! direction.
//!
//! Connection-level frames (SETTINGS, PING, GOAWAY) fill the connection's
//! [`H2Facts`]. A malformed frame or header block stops the HTTP/2 analysis: open
//! streams are finished incomplete, the reason is kept in [`H2Facts::malformed`], and
//! the rest of the connection follows the turns rule.

#[cfg(doc)]
use super::analyzer::MAX_OPEN_EXCHANGES;
use super::analyzer::{AnalyzerSlot, Exchanges, Handoff};
use super::h2::frame::{
    Frame, FrameError, FrameReader, HeaderBlock, Settings, MAX_HEADER_BLOCK, MAX_MAX_FRAME_SIZE,
};
use super::h2::hpack::{Decoder, Field};
use super::h2::resync::frame_run_start;
use super::h2::upgrade::decode_settings_header;
use super::h2_facts::{
    H2Facts, H2Goaway, H2PingRtt, H2Reset, H2StreamFacts, Side, MAX_GOAWAY_DEBUG,
};
use super::http::{find_cr_or_lf, FieldLines};
use super::http1::KnownHead;
use super::turns::Turns;
use crate::flow::Direction;
use crate::time::Timestamp;

/// Most bytes of one synthesised head (request or response line and header lines):
/// beyond, further header lines are left out. A decoded header list is bounded by the
/// frame layer's header block bound times HPACK's expansion; this keeps one message's
/// kept head small whatever the peer sends.
const MAX_HEAD: usize = 64 << 10;

/// Unanswered PINGs remembered per side, to pair with their ACK.
const MAX_PENDING_PINGS: usize = 4;

/// Index of a direction in the per-direction arrays.
fn side_of(dir: Direction) -> usize {
    match dir {
        Direction::FromClient => 0,
        Direction::FromServer => 1,
    }
}

fn side(i: usize) -> Side {
    if i == 0 {
        Side::Client
    } else {
        Side::Server
    }
}

fn dir_of(i: usize) -> Direction {
    if i == 0 {
        Direction::FromClient
    } else {
        Direction::FromServer
    }
}

/// One stream being followed.
#[derive(Debug)]
struct Stream {
    id: u32,
    /// Its exchange's handle.
    exchange: u64,
    /// END_STREAM seen, `[client, server]`.
    ended: [bool; 2],
    /// A head (HEADERS) seen: a later HEADERS of the same side is trailers.
    head: [bool; 2],
}

/// What the frame that began a header block said of it.
#[derive(Clone, Copy, Debug, Default)]
struct BlockStart {
    /// The stream it belongs to, its END_STREAM flag, and for a PUSH_PROMISE the
    /// promised stream.
    stream: u32,
    end_stream: bool,
    promised: Option<u32>,
}

/// The header block being joined in one direction (only when CONTINUATION frames
/// follow its first frame: a block whole in one frame is decoded where it lies).
#[derive(Debug, Default)]
struct OpenBlock {
    start: BlockStart,
    fragments: HeaderBlock,
}

/// Everything but the frame readers (which lend the frames).
#[derive(Debug)]
struct Conn {
    decoders: [Decoder; 2],
    blocks: [Option<OpenBlock>; 2],
    /// Open streams, in the order they began (at most [`MAX_OPEN_EXCHANGES`]).
    streams: Vec<Stream>,
    /// Unanswered PINGs per sender: payload and time.
    pings: [Vec<([u8; 8], Timestamp)>; 2],
    /// Why the analysis stopped, once it did.
    broken: Option<&'static str>,
    /// Max frame sizes announced by `[client, server]`, to apply to the other reader.
    frame_size: [Option<u32>; 2],
    /// The highest stream id the client opened: a HEADERS on a lower odd id belongs to
    /// a stream already closed (a response racing the client's RST_STREAM), not a new
    /// one.
    last_client_stream: u32,
    /// Whether the synthesised heads are wanted (the template or a sink reads them).
    wants_heads: bool,
    /// The head being decoded and its text: reused from block to block, so a stream
    /// costs no allocation of its own here (bounded by [`MAX_HEAD`] each).
    head: Head,
    text: Vec<u8>,
}

/// Payload events of one side read, on a connection picked up mid-stream, for a frame
/// boundary ([`frame_run_start`]) before the analysis gives up.
const MAX_RESYNC_EVENTS: u8 = 8;

/// One HTTP/2 connection's state.
#[derive(Debug)]
pub(crate) struct H2Analyzer {
    readers: [FrameReader; 2],
    /// Per side, whether its reader stands on a frame boundary; else (picked up
    /// mid-stream) how many of its payload events were read looking for one.
    synced: [bool; 2],
    resync_events: [u8; 2],
    conn: Conn,
    /// Once the analysis stopped at a gap (which cannot hand the connection over), the
    /// turns rule that takes the rest.
    fallback: Option<Turns>,
}

impl H2Analyzer {
    fn with(decoders: [Decoder; 2]) -> Self {
        H2Analyzer {
            readers: [FrameReader::new(), FrameReader::new()],
            synced: [true, true],
            resync_events: [0, 0],
            conn: Conn {
                decoders,
                blocks: [None, None],
                streams: Vec::new(),
                pings: [Vec::new(), Vec::new()],
                broken: None,
                frame_size: [None, None],
                last_client_stream: 0,
                wants_heads: true,
                head: Head::default(),
                text: Vec::new(),
            },
            fallback: None,
        }
    }

    /// A connection that opens with the client's connection preface (prior knowledge).
    pub fn prior_knowledge() -> Self {
        let mut a = Self::with([Decoder::new(), Decoder::new()]);
        a.readers[0].expect_preface();
        a
    }

    /// A connection picked up mid-stream (`-m`): no preface; each side's first frame
    /// boundary is found in its first payload ([`frame_run_start`], the bytes before it
    /// dropped); the HPACK tables' earlier entries are unknown ([`Decoder::mid_stream`]:
    /// fields that refer to them are not found and the stream says so); the frame size
    /// the peers agreed on is unknown, so frames up to RFC 9113's largest are read.
    pub fn mid_stream() -> Self {
        let mut a = Self::with([Decoder::mid_stream(), Decoder::mid_stream()]);
        for reader in &mut a.readers {
            reader.set_max_frame_size(MAX_MAX_FRAME_SIZE);
        }
        a.synced = [false, false];
        a
    }

    /// A connection upgraded from HTTP/1.1 (`Upgrade: h2c` answered `101`): the
    /// upgrade request is stream 1, whose exchange is `exchange`; the client sends the
    /// preface next, the server its response on stream 1. `request_head`: the upgrade
    /// request's head, whose `HTTP2-Settings` header holds the client's SETTINGS (RFC
    /// 7540 §3.2.1); a value that does not decode is kept in
    /// [`H2Facts::upgrade_settings_error`].
    pub fn upgraded(x: &mut Exchanges<'_>, exchange: u64, request_head: &[u8]) -> Self {
        let mut a = Self::prior_knowledge();
        match super::http::header_value(request_head, b"http2-settings") {
            Some(value) => {
                let mut payload = Vec::new();
                match decode_settings_header(value, &mut payload) {
                    Ok(params) => a.conn.settings(x, 0, params),
                    Err(e) => Conn::facts(x).upgrade_settings_error = Some(e.reason()),
                }
                if let Some(n) = a.conn.frame_size[0].take() {
                    a.readers[1].set_max_frame_size(n);
                }
            }
            None => Conn::facts(x).upgrade_settings_error = Some("no HTTP2-Settings"),
        }
        a.conn.streams.push(Stream {
            id: 1,
            exchange,
            ended: [true, false],
            head: [true, false],
        });
        a.conn.last_client_stream = 1;
        if let Some(e) = x.exchange_mut(exchange) {
            e.h2 = Some(Box::new(H2StreamFacts {
                stream: 1,
                ..H2StreamFacts::default()
            }));
        }
        a.conn.note_open(x);
        a
    }
}

impl Conn {
    fn facts<'x>(x: &'x mut Exchanges<'_>) -> &'x mut H2Facts {
        x.protocol_facts().h2.get_or_insert_with(H2Facts::default)
    }

    fn note_open(&self, x: &mut Exchanges<'_>) {
        let open = self.streams.len() as u32;
        let facts = Self::facts(x);
        facts.streams = facts.streams.saturating_add(1);
        facts.max_concurrent = facts.max_concurrent.max(open);
    }

    fn find(&self, id: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    /// A new stream `id` with its exchange, or `None` when the bound of open exchanges
    /// is reached (counted).
    fn open(
        &mut self,
        x: &mut Exchanges<'_>,
        id: u32,
        dir: Direction,
        ts: Timestamp,
    ) -> Option<usize> {
        if self.find(id).is_some() {
            // A stream promised twice (a peer's error): it stays one stream.
            return None;
        }
        // The queue's bound ([`MAX_OPEN_EXCHANGES`]) bounds the open streams too.
        let Some(exchange) = x.open_exchange() else {
            let facts = Self::facts(x);
            facts.untracked_streams = facts.untracked_streams.saturating_add(1);
            return None;
        };
        let concurrent = self.streams.len() as u32;
        // Begun now, even before its first counted byte (a pushed stream's request).
        x.count_for(exchange, dir, ts, 0);
        if let Some(e) = x.exchange_mut(exchange) {
            e.facts.framed = true;
            e.h2 = Some(Box::new(H2StreamFacts {
                stream: id,
                concurrent,
                ..H2StreamFacts::default()
            }));
        }
        if id % 2 == 1 {
            self.last_client_stream = self.last_client_stream.max(id);
        }
        self.streams.push(Stream {
            id,
            exchange,
            ended: [false; 2],
            head: [false; 2],
        });
        self.note_open(x);
        Some(self.streams.len() - 1)
    }

    /// The stream at `at` is over: its exchange is finished and its state freed.
    fn close(&mut self, x: &mut Exchanges<'_>, at: usize, complete: bool) {
        let s = self.streams.remove(at);
        if let Some(e) = x.exchange_mut(s.exchange) {
            e.facts.request_done = s.ended[0];
        }
        x.finish(s.exchange, complete);
    }

    /// Finishes every open stream, incomplete (the connection ended or broke).
    fn close_all(&mut self, x: &mut Exchanges<'_>) {
        while !self.streams.is_empty() {
            self.close(x, 0, false);
        }
        self.streams = Vec::new();
    }

    fn frame(&mut self, x: &mut Exchanges<'_>, i: usize, ts: Timestamp, frame: Frame<'_>) {
        if self.broken.is_some() {
            return;
        }
        let dir = dir_of(i);
        match frame {
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                block,
                ..
            } => {
                self.count(x, stream, dir, ts, block.len());
                self.begin_block(x, i, ts, stream, end_stream, None, end_headers, block);
            }
            Frame::PushPromise {
                stream,
                promised,
                end_headers,
                block,
            } => {
                self.count(x, stream, dir, ts, block.len());
                self.begin_block(x, i, ts, stream, false, Some(promised), end_headers, block);
            }
            Frame::Continuation {
                stream,
                end_headers,
                block,
            } => {
                self.count(x, stream, dir, ts, block.len());
                let Some(open) = self.blocks[i].as_mut() else {
                    self.broken = Some("CONTINUATION without a header block");
                    return;
                };
                if !open.fragments.push(block) {
                    self.broken = Some("header block over its bound");
                    return;
                }
                if end_headers {
                    if let Some(open) = self.blocks[i].take() {
                        self.end_block(x, i, ts, open.start, open.fragments.bytes());
                    }
                }
            }
            Frame::Data {
                stream,
                data,
                end_stream,
                last,
            } => {
                let Some(at) = self.find(stream) else {
                    return;
                };
                let exchange = self.streams[at].exchange;
                x.count_for(exchange, dir, ts, data.len() as u64);
                if let Some(e) = x.exchange_mut(exchange) {
                    match dir {
                        Direction::FromClient => e.facts.request_body += data.len() as u64,
                        Direction::FromServer => e.facts.response_body += data.len() as u64,
                    }
                }
                if self.wants_heads && !data.is_empty() {
                    x.keep_for(exchange, dir, ts, data);
                }
                if last && end_stream {
                    self.end_stream(x, at, i);
                }
            }
            Frame::DataGap { stream, len } => {
                if let Some(at) = self.find(stream) {
                    if let Some(e) = x.exchange_mut(self.streams[at].exchange) {
                        e.gap = e.gap.saturating_add(len);
                    }
                }
            }
            Frame::RstStream { stream, code } => {
                if let Some(at) = self.find(stream) {
                    let exchange = self.streams[at].exchange;
                    x.count_for(exchange, dir, ts, 0);
                    if let Some(h2) = x.exchange_mut(exchange).and_then(|e| e.h2.as_mut()) {
                        h2.reset = Some(H2Reset { code, by: side(i) });
                    }
                    self.close(x, at, false);
                }
            }
            Frame::Settings { ack: false, params } => self.settings(x, i, params),
            Frame::Ping {
                ack: false,
                payload,
            } => {
                let pending = &mut self.pings[i];
                if pending.len() >= MAX_PENDING_PINGS {
                    pending.remove(0);
                }
                pending.push((payload, ts));
            }
            Frame::Ping { ack: true, payload } => {
                // The ACK answers a PING of the other side.
                let pending = &mut self.pings[1 - i];
                if let Some(at) = pending.iter().position(|(p, _)| *p == payload) {
                    let (_, sent) = pending.remove(at);
                    let facts = Self::facts(x);
                    facts.last_ping = Some(H2PingRtt {
                        by: side(1 - i),
                        micros: ts.micros_since(sent),
                    });
                    facts.pings = facts.pings.saturating_add(1);
                }
            }
            Frame::Goaway {
                last_stream,
                code,
                debug,
            } => {
                let debug = debug.get(..MAX_GOAWAY_DEBUG).unwrap_or(debug);
                Self::facts(x).goaway = Some(H2Goaway {
                    by: side(i),
                    last_stream,
                    code,
                    debug: debug.into(),
                });
            }
            Frame::Settings { ack: true, .. }
            | Frame::Priority { .. }
            | Frame::WindowUpdate { .. }
            | Frame::Unknown { .. } => {}
        }
    }

    /// The SETTINGS side `i` announced (a frame, or the `HTTP2-Settings` header of an
    /// upgrade request).
    fn settings(&mut self, x: &mut Exchanges<'_>, i: usize, params: Settings<'_>) {
        if let Some(n) = params.header_table_size() {
            // The sender's decoder table: it bounds what the other side encodes.
            self.decoders[1 - i].set_table_limit(n as usize);
            let overruns = self.decoders.iter().map(Decoder::overruns).sum();
            Self::facts(x).table_overruns = overruns;
        }
        if let Some(n) = params.max_frame_size() {
            self.frame_size[i] = Some(n);
        }
        let s = Self::facts(x).settings_mut(side(i));
        s.header_table_size = params.header_table_size().or(s.header_table_size);
        s.max_concurrent_streams = params.max_concurrent_streams().or(s.max_concurrent_streams);
        s.initial_window_size = params.initial_window_size().or(s.initial_window_size);
        s.max_frame_size = params.max_frame_size().or(s.max_frame_size);
    }

    /// Counts `len` wire bytes of a stream's frame on its exchange.
    fn count(&self, x: &mut Exchanges<'_>, stream: u32, dir: Direction, ts: Timestamp, len: usize) {
        if let Some(at) = self.find(stream) {
            x.count_for(self.streams[at].exchange, dir, ts, len as u64);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn begin_block(
        &mut self,
        x: &mut Exchanges<'_>,
        i: usize,
        ts: Timestamp,
        stream: u32,
        end_stream: bool,
        promised: Option<u32>,
        end_headers: bool,
        block: &[u8],
    ) {
        let start = BlockStart {
            stream,
            end_stream,
            promised,
        };
        if end_headers && block.len() <= MAX_HEADER_BLOCK {
            // Whole in this frame (the usual case): decoded where it lies.
            self.end_block(x, i, ts, start, block);
            return;
        }
        let mut fragments = HeaderBlock::new();
        if !fragments.push(block) {
            self.broken = Some("header block over its bound");
            return;
        }
        self.blocks[i] = Some(OpenBlock { start, fragments });
    }

    /// A whole header block of side `i`: decoded (always, to keep the HPACK table in
    /// step), then given to its stream as a head or trailers.
    fn end_block(
        &mut self,
        x: &mut Exchanges<'_>,
        i: usize,
        ts: Timestamp,
        open: BlockStart,
        block: &[u8],
    ) {
        let dir = dir_of(i);
        // The stream the block opens or continues.
        let mut at = match open.promised {
            // A pushed response's request: the promised stream, server-initiated.
            Some(promised) => self.open(x, promised, Direction::FromClient, ts),
            None => self.find(open.stream),
        };
        let mut fresh = false;
        let closed = open.stream % 2 == 1 && open.stream <= self.last_client_stream;
        if at.is_none() && open.promised.is_none() && !closed {
            // A client HEADERS opens a stream; a server HEADERS on a stream it did not
            // see open (picked up mid-stream, or a pushed stream beyond the bound)
            // opens one with no request.
            at = self.open(x, open.stream, dir, ts);
            fresh = at.is_some();
        }
        let head_dir = if open.promised.is_some() {
            Direction::FromClient
        } else {
            dir
        };
        let trailers = at.is_some_and(|a| self.streams[a].head[side_of(head_dir)]);
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        let wants = self.wants_heads && at.is_some();
        // Without the template reading heads, only the pseudo-fields are kept (:status
        // tells an interim response).
        head.lines_wanted = wants;
        let result = self.decoders[i].decode(block, &mut |field| head.field(field));
        if self.decoders[i].overruns() > 0 {
            let overruns = self.decoders.iter().map(Decoder::overruns).sum();
            Self::facts(x).table_overruns = overruns;
        }
        if result.is_err() {
            self.broken = Some("HPACK decoding error");
        } else if let Some(at) = at {
            let how = (i, ts, dir, head_dir);
            self.give_head(x, how, open, block.len(), at, fresh, trailers, &head, wants);
        }
        self.head = head;
    }

    /// Gives a decoded header block to the stream at `at`: the head of its request or
    /// response, trailers, or an interim response. `wants`: the decoded fields, when the
    /// template reads them.
    #[allow(clippy::too_many_arguments)]
    fn give_head(
        &mut self,
        x: &mut Exchanges<'_>,
        (i, ts, dir, head_dir): (usize, Timestamp, Direction, Direction),
        open: BlockStart,
        block_len: usize,
        at: usize,
        fresh: bool,
        trailers: bool,
        head: &Head,
        wants: bool,
    ) {
        if fresh {
            // The first frame of the stream was counted before it was known.
            let exchange = self.streams[at].exchange;
            x.count_for(exchange, dir, ts, block_len as u64);
        }
        let exchange = self.streams[at].exchange;
        if head.unknown {
            if let Some(h2) = x.exchange_mut(exchange).and_then(|e| e.h2.as_mut()) {
                h2.unknown_headers = true;
            }
        }
        let hs = side_of(head_dir);
        if open.promised.is_some() {
            // The promised request is complete: a pushed stream has no request body.
            self.streams[at].ended[0] = true;
            self.streams[at].head[0] = true;
        }
        if trailers {
            if wants {
                x.head_lines_for(exchange, head_dir, ts, &head.lines);
            }
        } else if head_dir == Direction::FromServer && head.interim() {
            // A 1xx response: the final one follows on the same stream.
            x.interim_for(exchange);
            return;
        } else {
            self.streams[at].head[hs] = true;
            if let Some(e) = x.exchange_mut(exchange) {
                match head_dir {
                    Direction::FromClient => e.facts.request_head = true,
                    Direction::FromServer => e.facts.response_head = true,
                }
            }
            if wants {
                let known = head.text(head_dir, &mut self.text);
                x.keep_head_for(exchange, head_dir, ts, &self.text, known);
            }
        }
        if open.end_stream {
            self.end_stream(x, at, i);
        }
    }

    /// END_STREAM from side `i` on the stream at `at`.
    fn end_stream(&mut self, x: &mut Exchanges<'_>, at: usize, i: usize) {
        let s = &mut self.streams[at];
        s.ended[i] = true;
        if s.ended == [true, true] {
            self.close(x, at, true);
        }
    }
}

/// A decoded header list, as an HTTP/1-style head.
#[derive(Debug, Default)]
struct Head {
    /// Whether the regular fields are written as lines (else only pseudo-fields kept).
    lines_wanted: bool,
    method: Vec<u8>,
    path: Vec<u8>,
    authority: Vec<u8>,
    status: Vec<u8>,
    /// The regular fields as `name: value\r\n` lines.
    lines: Vec<u8>,
    /// Where in `lines` the first `connection` and `content-length` lines start.
    connection: Option<usize>,
    content_length: Option<usize>,
    /// Some field could not be decoded.
    unknown: bool,
}

/// Whether a line that starts with `name` starts with `field:` (ASCII case ignored), as
/// the header look-up of [`super::http::header_value`] matches it.
fn names(name: &[u8], field: &[u8]) -> bool {
    name.get(..field.len())
        .is_some_and(|n| n.eq_ignore_ascii_case(field))
        && matches!(name.get(field.len()), None | Some(b':'))
}

/// Makes every CR and LF of `out` from `from` on a space, so that a hostile name or
/// value cannot end its line. One search over a whole line: most have neither.
fn clean_from(out: &mut [u8], from: usize) {
    let Some(tail) = out.get_mut(from..) else {
        return;
    };
    let Some(first) = find_cr_or_lf(tail) else {
        return;
    };
    for b in &mut tail[first..] {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
}

impl Head {
    fn field(&mut self, field: Field<'_>) {
        match field {
            Field::Header { name, value } => {
                let slot = match name {
                    b":method" => &mut self.method,
                    b":path" => &mut self.path,
                    b":authority" => &mut self.authority,
                    b":status" => &mut self.status,
                    _ if name.first() == Some(&b':') => return,
                    _ => {
                        if self.lines_wanted
                            && self.lines.len() + name.len() + value.len() + 4 <= MAX_HEAD
                        {
                            let at = self.lines.len();
                            if self.connection.is_none() && names(name, b"connection") {
                                self.connection = Some(at);
                            }
                            if self.content_length.is_none() && names(name, b"content-length") {
                                self.content_length = Some(at);
                            }
                            self.lines.extend_from_slice(name);
                            self.lines.extend_from_slice(b": ");
                            self.lines.extend_from_slice(value);
                            clean_from(&mut self.lines, at);
                            self.lines.extend_from_slice(b"\r\n");
                        }
                        return;
                    }
                };
                slot.clear();
                slot.extend_from_slice(value.get(..MAX_HEAD / 4).unwrap_or(value));
                clean_from(slot, 0);
            }
            Field::Unknown { .. } => self.unknown = true,
        }
    }

    /// A 1xx status.
    fn interim(&self) -> bool {
        self.status.len() == 3 && self.status[0] == b'1'
    }

    /// `METHOD PATH HTTP/2` or `HTTP/2 STATUS`, `host:` from `:authority`, the other
    /// fields, and the empty line; and what is known of it without reading it again:
    /// every line ends in CRLF and holds no other CR or LF, so its header block ends at
    /// the final CRLF, and where the `connection` and `content-length` lines are.
    fn text(&self, dir: Direction, out: &mut Vec<u8>) -> KnownHead {
        out.clear();
        fn word(w: &[u8]) -> &[u8] {
            if w.is_empty() {
                b"-"
            } else {
                w
            }
        }
        match dir {
            Direction::FromClient => {
                out.extend_from_slice(word(&self.method));
                out.push(b' ');
                // CONNECT names its target in :authority (RFC 9113 §8.5).
                let target = if self.path.is_empty() {
                    &self.authority
                } else {
                    &self.path
                };
                out.extend_from_slice(word(target));
                out.extend_from_slice(b" HTTP/2\r\n");
                if !self.authority.is_empty() {
                    out.extend_from_slice(b"host: ");
                    out.extend_from_slice(&self.authority);
                    out.extend_from_slice(b"\r\n");
                }
            }
            Direction::FromServer => {
                out.extend_from_slice(b"HTTP/2 ");
                out.extend_from_slice(word(&self.status));
                out.extend_from_slice(b"\r\n");
            }
        }
        let lines_at = out.len();
        // The look-up reads the start line too: a method shaped like `connection:`
        // leaves that name to it.
        let line_of = |found: Option<usize>, field: &[u8]| {
            if names(out, field) {
                return 0;
            }
            match found {
                None => FieldLines::ABSENT,
                Some(at) => u16::try_from(lines_at + at)
                    .ok()
                    .filter(|&at| at != FieldLines::ABSENT)
                    .unwrap_or(0),
            }
        };
        let fields = FieldLines {
            connection: line_of(self.connection, b"connection"),
            content_length: line_of(self.content_length, b"content-length"),
        };
        out.extend_from_slice(&self.lines);
        out.extend_from_slice(b"\r\n");
        KnownHead {
            header_end: out.len() - 2,
            fields,
        }
    }

    /// Empty again, keeping the buffers (released when a hostile head made them large).
    fn clear(&mut self) {
        for v in [
            &mut self.method,
            &mut self.path,
            &mut self.authority,
            &mut self.status,
            &mut self.lines,
        ] {
            if v.capacity() > MAX_HEAD {
                *v = Vec::new();
            }
            v.clear();
        }
        self.connection = None;
        self.content_length = None;
        self.unknown = false;
    }
}

impl super::analyzer::Analyzer for H2Analyzer {
    fn data(
        &mut self,
        x: &mut Exchanges<'_>,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
    ) -> Handoff {
        if let Some(turns) = self.fallback.as_mut() {
            return turns.data(x, dir, ts, bytes);
        }
        let i = side_of(dir);
        let mut bytes = bytes;
        if !self.synced[i] {
            match frame_run_start(bytes, i == 0) {
                Some(at) => {
                    self.synced[i] = true;
                    bytes = &bytes[at..];
                }
                None => {
                    self.resync_events[i] += 1;
                    if self.resync_events[i] >= MAX_RESYNC_EVENTS {
                        return self.stop(x, "no HTTP/2 frame boundary found mid-stream");
                    }
                    return Handoff::Stay;
                }
            }
        }
        self.conn.wants_heads = x.wants_kept();
        let conn = &mut self.conn;
        let result = self.readers[i].feed(bytes, &mut |frame| conn.frame(x, i, ts, frame));
        if let Some(n) = conn.frame_size[i].take() {
            // What side `i` announced bounds the frames the other side sends.
            self.readers[1 - i].set_max_frame_size(n);
        }
        let reason = match result {
            Err(e) => Some(frame_error_reason(e)),
            Ok(()) => conn.broken,
        };
        match reason {
            Some(reason) => self.stop(x, reason),
            None => Handoff::Stay,
        }
    }

    fn gap(&mut self, x: &mut Exchanges<'_>, dir: Direction, ts: Timestamp, len: u64) {
        if self.fallback.is_some() {
            x.gap(dir, len);
            return;
        }
        let i = side_of(dir);
        if !self.synced[i] {
            // Before the first frame boundary: nothing is lost that was being read.
            x.gap(dir, len);
            return;
        }
        let conn = &mut self.conn;
        let result = self.readers[i].gap(len, &mut |frame| conn.frame(x, i, ts, frame));
        if let Err(e) = result {
            // The next frame cannot be found: the rest is the turns rule's.
            let _ = self.stop(x, frame_error_reason(e));
            self.readers = [FrameReader::new(), FrameReader::new()];
            self.conn = Self::with([Decoder::new(), Decoder::new()]).conn;
            self.fallback = Some(Turns::default());
        }
    }

    fn end(&mut self, x: &mut Exchanges<'_>, closed: bool) {
        let _ = closed;
        self.conn.close_all(x);
    }
}

impl H2Analyzer {
    #[cfg(test)]
    /// Heap bytes this analyzer holds (frame buffers, open streams, header blocks
    /// being joined, unanswered PINGs); the HPACK tables are bounded apart.
    pub fn heap_bytes(&self) -> usize {
        let c = &self.conn;
        self.readers
            .iter()
            .map(FrameReader::buffered)
            .sum::<usize>()
            + c.streams.capacity() * std::mem::size_of::<Stream>()
            + c.pings.iter().map(|p| p.capacity() * 16).sum::<usize>()
            + c.blocks
                .iter()
                .flatten()
                .map(|b| b.fragments.len())
                .sum::<usize>()
    }

    /// Stops the HTTP/2 analysis: open streams end incomplete, the reason is noted,
    /// and the rest of the connection goes to the turns rule (this event's remaining
    /// bytes are dropped: where the bad frame began is not known).
    fn stop(&mut self, x: &mut Exchanges<'_>, reason: &'static str) -> Handoff {
        let facts = Conn::facts(x);
        facts.malformed = Some(reason);
        if facts.streams == 0 && self.readers[0].error() == Some(FrameError::BadPreface) {
            // Taken for HTTP/2 by a server's first bytes, but the client never sent the
            // preface: not HTTP/2 after all.
            x.set_protocol(super::record::Protocol::Unknown);
        }
        self.conn.close_all(x);
        Handoff::To {
            next: AnalyzerSlot::Turns(Turns::default()),
            consumed: usize::MAX,
        }
    }
}

fn frame_error_reason(e: FrameError) -> &'static str {
    match e {
        FrameError::BadPreface => "not the HTTP/2 connection preface",
        FrameError::TooLarge { .. } => "frame larger than SETTINGS_MAX_FRAME_SIZE",
        FrameError::BadLength { .. } => "frame length wrong for its type",
        FrameError::SettingsAckWithPayload { .. } => "SETTINGS ack with a payload",
        FrameError::PaddingTooLong { .. } => "padding longer than the frame",
        FrameError::StreamRequired { .. } => "stream frame on stream 0",
        FrameError::StreamForbidden { .. } => "connection frame on a stream",
        FrameError::ContinuationExpected { .. } => "CONTINUATION expected",
        FrameError::UnexpectedContinuation { .. } => "CONTINUATION without a header block",
        FrameError::Gap => "bytes missed outside a DATA payload",
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{Exchange, Position};
    use super::super::{ExchangeSink, ExchangeTracker, Mode, Needs, Retention};
    use crate::decode::Endpoint;
    use crate::flow::{Direction, FlowEvent, FlowEventKind, FlowEventSink};
    use crate::time::Timestamp;
    use std::net::{IpAddr, Ipv4Addr};

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const FC: Direction = Direction::FromClient;
    const FS: Direction = Direction::FromServer;

    /// One HTTP/2 frame (RFC 9113 §4.1).
    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    const DATA: u8 = 0;
    const HEADERS: u8 = 1;
    const RST: u8 = 3;
    const SETTINGS: u8 = 4;
    const PING: u8 = 6;
    const GOAWAY: u8 = 7;
    const WINDOW_UPDATE: u8 = 8;
    const END_STREAM: u8 = 1;
    const END_HEADERS: u8 = 4;

    /// An HPACK literal field without indexing, new name (RFC 7541 §6.2.2).
    fn literal(name: &str, value: &str) -> Vec<u8> {
        let mut b = vec![0, name.len() as u8];
        b.extend_from_slice(name.as_bytes());
        b.push(value.len() as u8);
        b.extend_from_slice(value.as_bytes());
        b
    }

    /// `GET path` to example.com: static-table :method GET, :scheme http, then
    /// literals (RFC 7541 Appendix A indexes 2 and 6).
    fn get(path: &str) -> Vec<u8> {
        let mut b = vec![0x82, 0x86];
        b.extend(literal(":path", path));
        b.extend(literal(":authority", "example.com"));
        b
    }

    /// `:status` 200 (static index 8), then the given literal fields.
    fn ok(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut b = vec![0x88];
        for (n, v) in fields {
            b.extend(literal(n, v));
        }
        b
    }

    /// What a record said, read as its template would.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Seen {
        position: Position,
        protocol: Option<&'static str>,
        stream: Option<u32>,
        concurrent: Option<u32>,
        request: String,
        response: String,
        request_size: u64,
        request_body: Option<u64>,
        response_body: Option<u64>,
        complete: Option<bool>,
        reset: String,
        goaway: String,
        ping: Option<i64>,
        interim: Option<u16>,
        client_settings: Option<super::super::h2_facts::H2Settings>,
        unknown_headers: Option<bool>,
        settings_error: Option<&'static str>,
    }

    #[derive(Default)]
    struct Collect(Vec<Seen>);

    impl ExchangeSink for Collect {
        fn exchange(&mut self, e: &Exchange<'_>) -> std::io::Result<()> {
            let mut reset = Vec::new();
            if let Some(h2) = e.h2_stream {
                h2.write_reset(&mut reset);
            }
            let mut goaway = Vec::new();
            if let Some(h2) = e.h2 {
                h2.write_goaway(&mut goaway);
            }
            self.0.push(Seen {
                position: e.position,
                protocol: e.protocol.as_str(),
                stream: e.h2_stream.map(|h| h.stream),
                concurrent: e.h2_stream.map(|h| h.concurrent),
                request: String::from_utf8_lossy(e.request).into_owned(),
                response: String::from_utf8_lossy(e.response).into_owned(),
                request_size: e.request_size,
                request_body: e.request_body_size,
                response_body: e.response_body_size,
                complete: e.complete,
                reset: String::from_utf8_lossy(&reset).into_owned(),
                goaway: String::from_utf8_lossy(&goaway).into_owned(),
                ping: e.h2.and_then(|h| h.last_ping).map(|p| p.micros),
                interim: e.interim,
                client_settings: e.h2.map(|h| h.settings[0]),
                unknown_headers: e.h2_stream.map(|h| h.unknown_headers),
                settings_error: e.h2.and_then(|h| h.upgrade_settings_error),
            });
            Ok(())
        }
    }

    const ALL: Retention = Retention {
        all: true,
        header: false,
        prefix: 0,
    };

    /// Feeds one connection's payload, each piece at its own microsecond, then closes
    /// it (by the client); every piece is also fed cut at `cut` when given.
    fn run(pieces: &[(Direction, Vec<u8>)], cut: Option<usize>) -> Vec<Seen> {
        run_with(pieces, cut, false)
    }

    /// [`run`], the connection picked up mid-stream when `mid_stream`.
    fn run_with(
        pieces: &[(Direction, Vec<u8>)],
        cut: Option<usize>,
        mid_stream: bool,
    ) -> Vec<Seen> {
        let needs = Needs {
            request: ALL,
            response: ALL,
        };
        let mut tracker = ExchangeTracker::with_mode(needs, Mode::Messages, Collect::default());
        let ep = |port| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        };
        let mut us = 0;
        let mut event = |tracker: &mut ExchangeTracker<Collect>, kind| {
            us += 1;
            tracker
                .event(FlowEvent {
                    conn: 0,
                    ts: Timestamp::from_secs_micros(0, us),
                    streams: 1,
                    kind,
                })
                .unwrap();
        };
        event(
            &mut tracker,
            FlowEventKind::Opening {
                client: ep(40000),
                server: ep(80),
            },
        );
        if mid_stream {
            tracker.picked_up_mid_stream(0);
        }
        event(&mut tracker, FlowEventKind::Established);
        for (dir, bytes) in pieces {
            let at = cut.unwrap_or(0).min(bytes.len());
            let (a, b) = bytes.split_at(at);
            for part in [a, b] {
                if !part.is_empty() {
                    event(
                        &mut tracker,
                        FlowEventKind::Data {
                            dir: *dir,
                            bytes: part,
                        },
                    );
                }
            }
        }
        event(&mut tracker, FlowEventKind::Closed { originator: FC });
        tracker.into_sink().0
    }

    fn client_start() -> Vec<u8> {
        [PREFACE, &frame(SETTINGS, 0, 0, &[])].concat()
    }

    #[test]
    fn a_synthesised_head_tells_what_a_reading_of_it_would_find() {
        use super::super::h2::hpack::Field;
        use super::super::http::{header_split, header_value, header_value_indexed};
        use super::{Head, MAX_HEAD};
        let long = "v".repeat(MAX_HEAD / 2);
        let cases: [(&str, &[(&str, &str)]); 7] = [
            (":method GET", &[("accept", "*/*")]),
            (
                ":method GET",
                &[("connection", "close"), ("content-length", "3")],
            ),
            // Case, a name with a colon in it, CR and LF in values.
            (
                ":method POST",
                &[("Connection:x", "a\r\n\r\nb"), ("CONTENT-LENGTH", "\n7")],
            ),
            // `connectionx` is not `connection`; the second `connection` is not first.
            (
                ":method GET",
                &[
                    ("connectionx", "1"),
                    ("connection", "2"),
                    ("connection", "3"),
                ],
            ),
            // A method the look-up takes for a field line.
            (":method connection:up", &[("connection", "down")]),
            (":status 200", &[("content-length", "12")]),
            // Lines past the 16-bit offsets of the field lines.
            (
                ":status 200",
                &[("a", &long), ("b", &long), ("connection", "far")],
            ),
        ];
        for (pseudo, fields) in cases {
            let (pname, pvalue) = pseudo.split_once(' ').unwrap();
            let mut head = Head {
                lines_wanted: true,
                ..Head::default()
            };
            let dir = if pname == ":status" { FS } else { FC };
            head.field(Field::Header {
                name: pname.as_bytes(),
                value: pvalue.as_bytes(),
            });
            head.field(Field::Header {
                name: b":path",
                value: b"/",
            });
            for (name, value) in fields {
                head.field(Field::Header {
                    name: name.as_bytes(),
                    value: value.as_bytes(),
                });
            }
            let mut text = Vec::new();
            let known = head.text(dir, &mut text);
            assert_eq!(
                header_split(&text).0,
                known.header_end,
                "{pseudo} {fields:?}"
            );
            let block = &text[..known.header_end];
            for name in [&b"connection"[..], b"content-length", b"Connection"] {
                assert_eq!(
                    header_value_indexed(block, name, known.fields),
                    header_value(block, name),
                    "{pseudo} {fields:?}"
                );
            }
        }
    }

    #[test]
    fn each_stream_is_an_exchange_printed_in_the_order_streams_end() {
        let client = [
            client_start(),
            frame(HEADERS, END_HEADERS | END_STREAM, 1, &get("/a")),
            frame(HEADERS, END_HEADERS | END_STREAM, 3, &get("/b")),
        ]
        .concat();
        // The server answers stream 3 first, then stream 1 with a body.
        let server3 = [
            frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]),
            frame(
                HEADERS,
                END_HEADERS | END_STREAM,
                3,
                &ok(&[("server", "t")]),
            ),
        ]
        .concat();
        let server1 = [
            frame(HEADERS, END_HEADERS, 1, &ok(&[])),
            frame(DATA, END_STREAM, 1, b"hello"),
        ]
        .concat();
        for cut in [None, Some(1), Some(9), Some(30)] {
            let seen = run(
                &[
                    (FC, client.clone()),
                    (FS, server3.clone()),
                    (FS, server1.clone()),
                ],
                cut,
            );
            assert_eq!(seen.len(), 2, "cut {cut:?}: {seen:#?}");
            let (b, a) = (&seen[0], &seen[1]);
            assert_eq!((b.stream, b.position), (Some(3), Position::Start));
            assert_eq!((a.protocol, b.protocol), (Some("h2c"), Some("h2c")));
            assert_eq!((a.stream, a.position), (Some(1), Position::Last));
            assert!(
                b.request
                    .starts_with("GET /b HTTP/2\r\nhost: example.com\r\n"),
                "{}",
                b.request
            );
            assert_eq!(b.response, "HTTP/2 200\r\nserver: t\r\n\r\n");
            assert_eq!(a.response, "HTTP/2 200\r\n\r\nhello");
            assert_eq!((a.response_body, a.request_body), (Some(5), Some(0)));
            assert_eq!((a.complete, b.complete), (Some(true), Some(true)));
            // Stream 3 began while stream 1 was open.
            assert_eq!((a.concurrent, b.concurrent), (Some(0), Some(1)));
            // The request's wire payload: its header block.
            assert_eq!(a.request_size, get("/a").len() as u64);
        }
    }

    #[test]
    fn trailers_join_the_head_and_a_reset_ends_the_stream() {
        let client = [
            client_start(),
            frame(HEADERS, END_HEADERS, 1, &get("/svc/Call")),
            frame(DATA, END_STREAM, 1, b"\0\0\0\0\x01x"),
            frame(HEADERS, END_HEADERS | END_STREAM, 3, &get("/svc/Slow")),
        ]
        .concat();
        let server = [
            frame(
                HEADERS,
                END_HEADERS,
                1,
                &ok(&[("content-type", "application/grpc")]),
            ),
            frame(DATA, 0, 1, b"\0\0\0\0\x01y"),
            frame(
                HEADERS,
                END_HEADERS | END_STREAM,
                1,
                &literal("grpc-status", "0"),
            ),
        ]
        .concat();
        let cancel = frame(RST, 0, 3, &8u32.to_be_bytes());
        // The server's answer to stream 3 was on its way: a closed stream, no record.
        let late = frame(HEADERS, END_HEADERS | END_STREAM, 3, &ok(&[]));
        let seen = run(
            &[(FC, client), (FS, server), (FC, cancel), (FS, late)],
            None,
        );
        assert_eq!(seen.len(), 2, "{seen:#?}");
        let (call, slow) = (&seen[0], &seen[1]);
        assert_eq!(
            call.response,
            "HTTP/2 200\r\ncontent-type: application/grpc\r\ngrpc-status: 0\r\n\r\n\0\0\0\0\x01y"
        );
        assert_eq!(call.reset, "");
        assert_eq!(slow.stream, Some(3));
        assert_eq!(slow.reset, "CANCEL by client");
        assert_eq!(slow.complete, Some(false));
    }

    #[test]
    fn ping_round_trips_and_goaway_are_connection_facts() {
        let client = [
            client_start(),
            frame(PING, 0, 0, b"12345678"),
            frame(HEADERS, END_HEADERS | END_STREAM, 1, &get("/")),
        ]
        .concat();
        let server = [
            frame(PING, 1, 0, b"12345678"),
            frame(HEADERS, END_HEADERS | END_STREAM, 1, &ok(&[])),
        ]
        .concat();
        let mut goaway = 1u32.to_be_bytes().to_vec();
        goaway.extend_from_slice(&0u32.to_be_bytes());
        goaway.extend_from_slice(b"bye");
        let seen = run(
            &[
                (FC, client),
                (FS, server),
                (FS, frame(GOAWAY, 0, 0, &goaway)),
            ],
            None,
        );
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].position, Position::Unique);
        assert_eq!(seen[0].ping, Some(1));
        assert_eq!(seen[0].goaway, "NO_ERROR by server last=1 \"bye\"");
    }

    #[test]
    fn a_malformed_frame_stops_http2_and_keeps_the_connection() {
        let client = [
            client_start(),
            frame(HEADERS, END_HEADERS, 1, &get("/")),
            // A PING whose length is not 8: a connection error.
            frame(PING, 0, 0, b"123"),
        ]
        .concat();
        let seen = run(
            &[
                (FC, client),
                (FS, b"later bytes".to_vec()),
                (FC, b"more".to_vec()),
            ],
            None,
        );
        // Stream 1, ended incomplete; then the turns rule's exchange.
        assert_eq!(seen[0].stream, Some(1));
        assert_eq!(seen[0].complete, Some(false));
        assert!(seen.len() >= 2, "{seen:#?}");
        assert_eq!(seen.last().unwrap().stream, None);
    }

    #[test]
    fn a_server_settings_first_without_the_client_preface_is_not_http2() {
        let settings = frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        let seen = run(
            &[
                (FS, settings),
                (FC, b"HELLO\r\n".to_vec()),
                (FS, b"OK".to_vec()),
            ],
            None,
        );
        assert!(seen.iter().all(|s| s.stream.is_none()), "{seen:#?}");
        assert!(seen.iter().any(|s| s.response == "OK"), "{seen:#?}");
        assert!(
            seen.iter().all(|s| s.protocol == Some("unknown")),
            "{seen:#?}"
        );
    }

    #[test]
    fn mutated_conversations_never_panic_and_keep_one_record_per_stream_at_most() {
        let client = [
            client_start(),
            frame(PING, 0, 0, b"12345678"),
            frame(HEADERS, END_HEADERS, 1, &get("/svc/Call")),
            frame(DATA, END_STREAM, 1, b"\0\0\0\0\x01x"),
            frame(HEADERS, END_HEADERS | END_STREAM, 3, &get("/svc/Slow")),
            frame(RST, 0, 3, &8u32.to_be_bytes()),
        ]
        .concat();
        let server = [
            frame(SETTINGS, 0, 0, &[0, 1, 0, 0, 0x10, 0, 0, 5, 0, 0, 0x40, 0]),
            frame(PING, 1, 0, b"12345678"),
            frame(
                HEADERS,
                END_HEADERS,
                1,
                &ok(&[("content-type", "application/grpc")]),
            ),
            frame(DATA, 0, 1, b"\0\0\0\0\x01y"),
            frame(
                HEADERS,
                END_HEADERS | END_STREAM,
                1,
                &literal("grpc-status", "0"),
            ),
            frame(GOAWAY, 0, 0, &[0, 0, 0, 3, 0, 0, 0, 0]),
        ]
        .concat();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2_000 {
            let (mut c, mut s) = (client.clone(), server.clone());
            for _ in 0..(next() % 4 + 1) {
                let target = if next() % 2 == 0 { &mut c } else { &mut s };
                let at = (next() as usize) % target.len();
                target[at] = next() as u8;
            }
            let cut = Some((next() % 64) as usize);
            let seen = run(&[(FC, c), (FS, s)], cut);
            let mut streams: Vec<u32> = seen.iter().filter_map(|s| s.stream).collect();
            let all = streams.len();
            streams.sort_unstable();
            streams.dedup();
            assert_eq!(streams.len(), all, "{seen:#?}");
        }
    }

    #[test]
    fn a_pushed_stream_is_an_exchange_whose_request_is_the_promise() {
        let client = [
            client_start(),
            frame(HEADERS, END_HEADERS | END_STREAM, 1, &get("/")),
        ]
        .concat();
        let mut promise = 2u32.to_be_bytes().to_vec();
        promise.extend(get("/style.css"));
        let server = [
            frame(5, END_HEADERS, 1, &promise),
            frame(HEADERS, END_HEADERS, 1, &ok(&[])),
            frame(DATA, END_STREAM, 1, b"page"),
            frame(
                HEADERS,
                END_HEADERS,
                2,
                &ok(&[("content-type", "text/css")]),
            ),
            frame(DATA, END_STREAM, 2, b"css"),
        ]
        .concat();
        let seen = run(&[(FC, client), (FS, server)], None);
        assert_eq!(seen.len(), 2, "{seen:#?}");
        assert_eq!(seen[0].stream, Some(1));
        assert_eq!(seen[1].stream, Some(2));
        assert!(
            seen[1].request.starts_with("GET /style.css HTTP/2\r\n"),
            "{seen:#?}"
        );
        assert_eq!(
            seen[1].response,
            "HTTP/2 200\r\ncontent-type: text/css\r\n\r\ncss"
        );
        assert_eq!(seen[1].complete, Some(true));
    }

    #[test]
    fn a_header_block_hpack_cannot_decode_stops_http2() {
        // Index 0 is not a field (RFC 7541 §6.1): a COMPRESSION_ERROR.
        let client = [
            client_start(),
            frame(HEADERS, END_HEADERS | END_STREAM, 1, &get("/")),
            frame(HEADERS, END_HEADERS | END_STREAM, 3, &[0x80]),
        ]
        .concat();
        let answer = frame(HEADERS, END_HEADERS | END_STREAM, 1, &ok(&[]));
        let seen = run(&[(FC, client), (FS, answer)], None);
        // Both streams end incomplete (stream 3's head is not known).
        assert_eq!(seen[0].stream, Some(1));
        assert_eq!(seen[0].complete, Some(false));
        assert_eq!(seen[1].stream, Some(3));
        assert_eq!(seen[1].complete, Some(false));
        assert!(seen[1].request.is_empty());
        // The server's frames after the stop are the turns rule's, not a stream's.
        assert!(seen.len() > 2, "{seen:#?}");
        assert!(seen[2..].iter().all(|s| s.stream.is_none()), "{seen:#?}");
    }

    #[test]
    fn an_upgrade_request_is_stream_one_and_the_101_is_interim() {
        let request = b"GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n\
Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
        let switching =
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
        let server = [
            &switching[..],
            &frame(SETTINGS, 0, 0, &[]),
            &frame(HEADERS, END_HEADERS, 1, &ok(&[])),
            &frame(DATA, END_STREAM, 1, b"up"),
        ]
        .concat();
        let client = [
            client_start(),
            frame(HEADERS, END_HEADERS | END_STREAM, 3, &get("/next")),
        ]
        .concat();
        let answer3 = frame(HEADERS, END_HEADERS | END_STREAM, 3, &ok(&[]));
        let seen = run(
            &[
                (FC, request.to_vec()),
                (FS, server),
                (FC, client),
                (FS, answer3),
            ],
            None,
        );
        assert_eq!(seen.len(), 2, "{seen:#?}");
        assert_eq!(seen[0].stream, Some(1));
        assert!(seen[0].request.starts_with("GET /up HTTP/1.1\r\n"));
        assert_eq!(seen[0].response, "HTTP/2 200\r\n\r\nup");
        assert_eq!(seen[0].interim, Some(1));
        assert_eq!(seen[1].stream, Some(3));
        assert!(seen[1].request.starts_with("GET /next HTTP/2\r\n"));
        // The client's settings came in the upgrade request's HTTP2-Settings (curl's).
        let client = seen[1].client_settings.unwrap();
        assert_eq!(client.max_concurrent_streams, Some(100));
        assert_eq!(client.initial_window_size, Some(0x0200_0000));
        assert_eq!(seen[1].settings_error, None);
    }

    #[test]
    fn a_connection_picked_up_mid_stream_is_http2_from_its_next_frame_boundary() {
        // The client's first captured bytes end a frame sent before the pickup.
        let tail = vec![0x5a; 30];
        // GET (static), :scheme http (static), a dynamic entry from before the pickup,
        // then a literal :path.
        let mut request = vec![0x82, 0x86, 0xbe];
        request.extend(literal(":path", "/later"));
        let client = [
            tail,
            frame(HEADERS, END_HEADERS | END_STREAM, 7, &request),
            frame(WINDOW_UPDATE, 0, 0, &[0, 0, 1, 0]),
        ]
        .concat();
        let server = [
            // The end of the answer to stream 5, asked before the pickup.
            frame(DATA, END_STREAM, 5, b"earlier"),
            frame(HEADERS, END_HEADERS, 7, &[0x88, 0xbf]),
            frame(DATA, END_STREAM, 7, b"later"),
        ]
        .concat();
        let pieces = [(FC, client), (FS, server)];
        let seen = run_with(&pieces, None, true);
        assert_eq!(seen.len(), 1, "{seen:#?}");
        let s = &seen[0];
        assert_eq!((s.protocol, s.stream), (Some("h2c"), Some(7)));
        assert!(s.request.starts_with("GET /later HTTP/2\r\n"), "{s:#?}");
        assert_eq!(s.response, "HTTP/2 200\r\n\r\nlater");
        assert_eq!(s.unknown_headers, Some(true));
        assert_eq!(s.complete, Some(true));
        // The same bytes from a connection's start are not HTTP/2.
        let seen = run_with(&pieces, None, false);
        assert!(seen.iter().all(|s| s.stream.is_none()), "{seen:#?}");
        assert!(seen.iter().all(|s| s.protocol == Some("unknown")));
    }

    #[test]
    fn mid_stream_bytes_that_are_no_frames_stay_with_the_turns_rule() {
        let pieces = [
            (FC, b"\x00\x00\x05\x00\x02 binary protocol".to_vec()),
            (FS, b"reply".to_vec()),
        ];
        let seen = run_with(&pieces, None, true);
        assert!(!seen.is_empty());
        assert!(seen.iter().all(|s| s.stream.is_none()), "{seen:#?}");
        assert!(seen.iter().all(|s| s.protocol == Some("unknown")));
    }

    #[test]
    fn a_malformed_http2_settings_is_reported_and_the_upgrade_goes_on() {
        for (header, why) in [
            (
                "HTTP2-Settings: AAMAAABk+AQC\r\n",
                "HTTP2-Settings is not base64url",
            ),
            (
                "HTTP2-Settings: AAMAAA\r\n",
                "HTTP2-Settings is not a whole number of settings",
            ),
            ("", "no HTTP2-Settings"),
        ] {
            let request = format!(
                "GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n{header}\r\n"
            );
            let switching = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n";
            let server = [
                &switching[..],
                &frame(SETTINGS, 0, 0, &[]),
                &frame(HEADERS, END_HEADERS | END_STREAM, 1, &ok(&[])),
            ]
            .concat();
            let seen = run(
                &[
                    (FC, request.into_bytes()),
                    (FS, server),
                    (FC, client_start()),
                ],
                None,
            );
            assert_eq!(seen.len(), 1, "{seen:#?}");
            assert_eq!(seen[0].stream, Some(1));
            assert_eq!(seen[0].complete, Some(true));
            assert_eq!(seen[0].settings_error, Some(why));
            assert_eq!(
                seen[0].client_settings.unwrap().max_concurrent_streams,
                None
            );
        }
    }

    #[test]
    fn streams_beyond_the_bound_of_open_exchanges_are_counted_not_followed() {
        let needs = Needs::default();
        let mut tracker = ExchangeTracker::with_mode(needs, Mode::Messages, Collect::default());
        let ep = |port| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        };
        let mut client = client_start();
        for i in 0..300u32 {
            client.extend(frame(
                HEADERS,
                END_HEADERS | END_STREAM,
                2 * i + 1,
                &get("/"),
            ));
        }
        let kinds = [
            FlowEventKind::Opening {
                client: ep(40000),
                server: ep(80),
            },
            FlowEventKind::Data {
                dir: FC,
                bytes: &client,
            },
            FlowEventKind::Truncated,
        ];
        for (us, kind) in kinds.into_iter().enumerate() {
            let ts = Timestamp::from_secs_micros(0, us as i64);
            let e = FlowEvent {
                conn: 0,
                ts,
                streams: 1,
                kind,
            };
            tracker.event(e).unwrap();
        }
        let bound = super::super::MAX_OPEN_EXCHANGES;
        assert_eq!(tracker.open_overflow(), 300 - bound as u64);
        let seen = tracker.into_sink().0;
        assert_eq!(seen.len(), bound);
        assert!(seen.iter().all(|s| s.complete == Some(false)));
    }

    #[test]
    fn ten_thousand_streams_cost_no_more_memory_at_the_end_than_at_the_start() {
        let needs = Needs {
            request: ALL,
            response: ALL,
        };
        let mut tracker = ExchangeTracker::with_mode(needs, Mode::Messages, Collect::default());
        let mut us = 0;
        fn event(tracker: &mut ExchangeTracker<Collect>, us: &mut i64, kind: FlowEventKind<'_>) {
            *us += 1;
            let ts = Timestamp::from_secs_micros(0, *us);
            let e = FlowEvent {
                conn: 0,
                ts,
                streams: 1,
                kind,
            };
            tracker.event(e).unwrap();
        }
        let ep = |port| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        };
        let (client, server) = (ep(40000), ep(80));
        event(
            &mut tracker,
            &mut us,
            FlowEventKind::Opening { client, server },
        );
        let start = client_start();
        event(
            &mut tracker,
            &mut us,
            FlowEventKind::Data {
                dir: FC,
                bytes: &start,
            },
        );
        let mut sizes = Vec::new();
        // Ten streams open at a time, a thousand rounds.
        for round in 0..1_000u32 {
            let ids: Vec<u32> = (0..10).map(|k| 2 * (round * 10 + k) + 1).collect();
            let mut requests = Vec::new();
            let mut responses = Vec::new();
            for &id in &ids {
                requests.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, &get("/")));
                responses.extend(frame(HEADERS, END_HEADERS, id, &ok(&[])));
                responses.extend(frame(DATA, END_STREAM, id, b"x"));
            }
            event(
                &mut tracker,
                &mut us,
                FlowEventKind::Data {
                    dir: FC,
                    bytes: &requests,
                },
            );
            event(
                &mut tracker,
                &mut us,
                FlowEventKind::Data {
                    dir: FS,
                    bytes: &responses,
                },
            );
            if round == 9 || round == 999 {
                sizes.push(tracker.heap_bytes(0));
            }
        }
        event(
            &mut tracker,
            &mut us,
            FlowEventKind::Closed { originator: FC },
        );
        let seen = tracker.into_sink().0;
        assert_eq!(seen.len(), 10_000);
        assert!(seen.iter().all(|s| s.complete == Some(true)));
        assert!(sizes[0] > 0);
        assert_eq!(
            sizes[0], sizes[1],
            "heap after 100 and after 10,000 streams"
        );
    }
}
