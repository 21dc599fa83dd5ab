//! The seam between the exchange layer and the protocols: one [`Analyzer`] per
//! connection decides where its exchanges start and end, through [`Exchanges`].
//!
//! The tracker ([`super::ExchangeTracker`]) owns every connection's state and feeds its
//! analyzer the flow layer's events in order: payload of either direction, bytes the
//! capture missed (gaps), and the end of the connection. The analyzer cuts the bytes
//! into exchanges with the few operations of [`Exchanges`] — a request begins, request
//! or response bytes arrive, a response is finished — and never sees timings buffers,
//! retention or sinks: the tracker keeps the times, sizes and bytes the template needs,
//! and prints an exchange once it is finished and the connection shows what follows it
//! (the next exchange began, or the connection ended), so that `%idle.time.1`,
//! `%close.*` and `%connection` keep their SPEC §4 meaning in every mode.
//!
//! An analyzer may hand its connection to another one ([`Handoff`]): detection
//! hands it to the protocol it recognised, HTTP/1 hands a `101 Switching Protocols` or
//! a `CONNECT` tunnel on. Adding a protocol is a new analyzer type, a variant of
//! [`AnalyzerSlot`] and its detection rule: nothing in the flow layer or the format
//! engine changes.

use super::conn_facts::ProtocolFacts;
use super::detect::Detect;
use super::http1_analyzer::Http1Slot;
use super::state::{ConnFacts, ExchangeState, KeptBudget, MaybeTime};
use super::tls_analyzer::TlsAnalyzer;
use super::turns::Turns;
use super::ws_analyzer::WsAnalyzer;
use super::{AnalyzerOptions, Needs, Protocol};
use crate::flow::Direction;
use crate::time::Timestamp;

/// Most exchanges of one connection waiting for their responses (pipelined requests):
/// beyond it, further requests join the newest exchange and are counted in
/// [`super::ExchangeTracker::pipeline_overflow`]. Zeek bounds its HTTP pending
/// transactions the same way.
pub const MAX_PIPELINED: usize = 100;

/// The exchanges of one connection, oldest first. The first is kept inline: most
/// connections never have two at once.
#[derive(Debug, Default)]
pub(crate) struct ExchangeQueue {
    pub head: ExchangeState,
    /// Exchanges after `head`, in order.
    pub rest: Vec<ExchangeState>,
}

impl ExchangeQueue {
    pub fn len(&self) -> usize {
        1 + self.rest.len()
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut ExchangeState> {
        match i {
            0 => Some(&mut self.head),
            _ => self.rest.get_mut(i - 1),
        }
    }

    pub fn back_mut(&mut self) -> &mut ExchangeState {
        self.rest.last_mut().unwrap_or(&mut self.head)
    }

    pub fn back(&self) -> &ExchangeState {
        self.rest.last().unwrap_or(&self.head)
    }

    /// The first exchange whose response is not finished.
    pub fn answering(&self) -> Option<usize> {
        std::iter::once(&self.head)
            .chain(&self.rest)
            .position(|e| !e.done)
    }

    /// Drops `head`; the next one takes its place (there must be one, else `head` is
    /// left as it is).
    pub fn advance(&mut self) {
        if self.rest.is_empty() {
            return;
        }
        // Swapped, then dropped where it is: fewer copies of a large struct than a move.
        std::mem::swap(&mut self.head, &mut self.rest[0]);
        self.rest.drain(..1);
        if self.rest.is_empty() && self.rest.capacity() > 4 {
            self.rest = Vec::new();
        }
    }
}

/// Payload as one flow event's analysis gave it to exchanges, kept for a sink that wants
/// it ([`super::ExchangeSink::wants_payload`]) until the tracker reports it, interleaved
/// with the records the event made due.
#[derive(Debug, Default)]
pub(crate) struct PayloadLog {
    /// Whether the sink wants payload: without it, nothing is kept.
    pub enabled: bool,
    pub pieces: Vec<Piece>,
    /// The pieces' bytes, one after another.
    pub bytes: Vec<u8>,
}

/// Bytes of one exchange, in [`PayloadLog::bytes`] up to `end`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Piece {
    pub exchange: u64,
    pub dir: Direction,
    pub ts: Timestamp,
    pub end: usize,
}

/// Capacity above which the log's buffer is released once reported.
const LOG_KEPT_CAPACITY: usize = 1 << 20;

impl PayloadLog {
    #[inline]
    fn note(&mut self, exchange: u64, dir: Direction, ts: Timestamp, bytes: &[u8]) {
        if self.enabled {
            self.push(exchange, dir, ts, bytes);
        }
    }

    #[inline(never)]
    fn push(&mut self, exchange: u64, dir: Direction, ts: Timestamp, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        self.pieces.push(Piece {
            exchange,
            dir,
            ts,
            end: self.bytes.len(),
        });
    }

    /// Forgets the reported pieces (keeping the buffers unless they grew large).
    pub fn clear(&mut self) {
        self.pieces.clear();
        if self.bytes.capacity() > LOG_KEPT_CAPACITY {
            self.bytes = Vec::new();
        }
        self.bytes.clear();
    }
}

/// What an analyzer works on: its connection's exchanges and facts.
pub(crate) struct Exchanges<'a> {
    pub(crate) queue: &'a mut ExchangeQueue,
    pub(crate) facts: &'a mut ConnFacts,
    /// The connection's protocol-level facts ([`Exchanges::protocol_facts`] allocates).
    pub(crate) protocol_facts: &'a mut Option<Box<ProtocolFacts>>,
    pub(crate) budget: &'a mut KeptBudget,
    pub(crate) needs: Needs,
    /// Run options that analyzers read (`--ws-messages`…).
    pub(crate) options: AnalyzerOptions,
    pub(crate) open: MaybeTime,
    /// Requests that found the pipeline full.
    pub(crate) overflow: &'a mut u64,
    /// The tracker's exchange numbering ([`ExchangeState::numbered`]).
    pub(crate) serial: &'a mut u64,
    /// Where the payload given to each exchange is noted for the sink.
    pub(crate) payload: &'a mut PayloadLog,
}

impl Exchanges<'_> {
    /// A new request message begins: the newest exchange takes it if nothing has
    /// happened on it yet, else a new exchange is queued behind the others.
    pub fn begin_request(&mut self) {
        let reuse = !self.queue.back().begun() && !self.queue.back().done;
        if !reuse {
            if self.queue.len() >= MAX_PIPELINED {
                *self.overflow += 1;
                return;
            }
            self.queue.rest.push(ExchangeState::numbered(self.serial));
        }
        self.facts.session_requests += 1;
        let waiting = self.queue.len()
            - 1
            - std::iter::once(&self.queue.head)
                .chain(&self.queue.rest)
                .filter(|e| e.done)
                .count();
        let first = self.facts.printed == 0 && self.queue.rest.is_empty();
        let previous_end = if first {
            self.open
        } else if waiting == 0 {
            self.facts.last_response_end
        } else {
            MaybeTime::default()
        };
        let session_requests = self.facts.session_requests;
        let back = self.queue.back_mut();
        back.session_requests = session_requests;
        back.pipelined = waiting as u32;
        back.previous_end = previous_end;
    }

    /// Request bytes, for the newest exchange.
    pub fn request_data(&mut self, ts: Timestamp, bytes: &[u8]) {
        let needs = self.needs;
        let back = self.queue.back_mut();
        if back.done {
            // A request after a finished response with no begin: start one.
            self.begin_request();
        }
        let back = self.queue.back_mut();
        back.add_request(bytes, ts, needs, self.budget);
        let id = back.id;
        self.payload.note(id, Direction::FromClient, ts, bytes);
    }

    /// Response bytes, for the oldest exchange not yet answered; without one, a new
    /// exchange with an empty request (server data first).
    pub fn response_data(&mut self, ts: Timestamp, bytes: &[u8]) {
        let needs = self.needs;
        let at = match self.queue.answering() {
            Some(at) => at,
            None => {
                self.queue.rest.push(ExchangeState {
                    session_requests: self.facts.session_requests,
                    ..ExchangeState::numbered(self.serial)
                });
                self.queue.len() - 1
            }
        };
        if let Some(e) = self.queue.get_mut(at) {
            e.add_response(bytes, ts, needs, self.budget);
            let id = e.id;
            self.payload.note(id, Direction::FromServer, ts, bytes);
        }
    }

    /// A message an analyzer assembled itself, on the exchange that `dir`'s bytes go
    /// to (the newest for requests, the one being answered for responses, as
    /// [`Exchanges::request_data`] and [`Exchanges::response_data`]): `size` bytes
    /// counted at `ts`, of which `kept` is what the template may keep — the two may
    /// differ (a decompressed payload, a bounded prefix). Empty `kept` and zero `size`
    /// only mark the time (the message's first frame).
    pub fn message_data(&mut self, dir: Direction, ts: Timestamp, kept: &[u8], size: u64) {
        let needs = self.needs;
        let at = match dir {
            Direction::FromClient => {
                if self.queue.back().done {
                    self.begin_request();
                }
                self.queue.len() - 1
            }
            Direction::FromServer => match self.queue.answering() {
                Some(at) => at,
                None => {
                    self.queue.rest.push(ExchangeState {
                        session_requests: self.facts.session_requests,
                        ..ExchangeState::numbered(self.serial)
                    });
                    self.queue.len() - 1
                }
            },
        };
        if let Some(e) = self.queue.get_mut(at) {
            match dir {
                Direction::FromClient => e.add_request_sized(kept, size, ts, needs, self.budget),
                Direction::FromServer => e.add_response_sized(kept, size, ts, needs, self.budget),
            }
            let id = e.id;
            if !kept.is_empty() {
                self.payload.note(id, dir, ts, kept);
            }
        }
    }

    /// Every exchange finished so far is printed after this event, without waiting for
    /// what follows it (the usual rule): for a protocol whose next exchange may never
    /// come, or come much later — a WebSocket's upgrade, printed at its 101. Its
    /// `%idle.time.1` is then measured to this event and, if the connection prints no
    /// other record, it has no `last` (or `unique`) record.
    pub fn print_when_done(&mut self) {
        for e in std::iter::once(&mut self.queue.head).chain(&mut self.queue.rest) {
            if e.done {
                e.flush = true;
            }
        }
    }

    /// The oldest unanswered exchange's facts (the one response bytes go to).
    pub fn answering_mut(&mut self) -> Option<&mut ExchangeState> {
        let at = self.queue.answering()?;
        self.queue.get_mut(at)
    }

    /// The newest exchange (the one request bytes go to).
    pub fn newest_mut(&mut self) -> &mut ExchangeState {
        self.queue.back_mut()
    }

    /// An interim response ended: the exchange's response starts again.
    pub fn interim_response(&mut self) {
        let budget = &mut *self.budget;
        if let Some(at) = self.queue.answering() {
            if let Some(e) = self.queue.get_mut(at) {
                e.facts.interim = e.facts.interim.saturating_add(1);
                e.restart_response(budget);
            }
        }
    }

    /// The oldest unanswered exchange is finished (`complete`: by its framing).
    pub fn finish_response(&mut self, complete: bool) {
        let protocol = self.facts.protocol;
        if let Some(e) = self.answering_mut() {
            e.done = true;
            e.protocol = Some(protocol);
            e.facts.complete = complete && e.gap == 0;
            let end = e.response.last;
            if end.is_set() {
                self.facts.last_response_end = end;
            }
        }
    }

    /// `len` bytes of `dir` that the capture missed: counted on the exchange they
    /// belong to (the newest for requests, the one being answered for responses).
    pub fn gap(&mut self, dir: Direction, len: u64) {
        let e = match dir {
            Direction::FromClient => Some(self.queue.back_mut()),
            Direction::FromServer => self.answering_mut(),
        };
        if let Some(e) = e {
            e.gap = e.gap.saturating_add(len);
        }
    }

    /// The connection's protocol-level facts, allocated on first use.
    pub fn protocol_facts(&mut self) -> &mut ProtocolFacts {
        self.protocol_facts.get_or_insert_with(Box::default)
    }

    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.facts.protocol = protocol;
    }
}

/// An analyzer's answer to payload: keep going, or hand the connection (and the bytes
/// after the first `consumed` of this event) to another analyzer.
pub(crate) enum Handoff {
    Stay,
    To { next: AnalyzerSlot, consumed: usize },
}

/// One connection's protocol logic.
pub(crate) trait Analyzer {
    /// In-order payload of `dir`.
    fn data(
        &mut self,
        x: &mut Exchanges<'_>,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
    ) -> Handoff;

    /// `len` bytes of `dir` that the receiver acknowledged but the capture never had.
    fn gap(&mut self, x: &mut Exchanges<'_>, dir: Direction, ts: Timestamp, len: u64) {
        let _ = ts;
        x.gap(dir, len);
    }

    /// The connection ended (closed when `closed`, else evicted or cut by the end of
    /// the capture): decide what is in progress.
    fn end(&mut self, x: &mut Exchanges<'_>, closed: bool) {
        let _ = (x, closed);
    }
}

/// The analyzer of a connection, by protocol. An enum rather than a trait object: the
/// common cases stay inline in the connection's state, without an allocation.
pub(crate) enum AnalyzerSlot {
    Turns(Turns),
    Detect(Detect),
    Http1(Http1Slot),
    Tls(Box<TlsAnalyzer>),
    Ws(Box<WsAnalyzer>),
}

impl AnalyzerSlot {
    /// The analyzer a new connection starts with.
    pub fn for_mode(mode: super::Mode) -> Self {
        match mode {
            super::Mode::Turns => AnalyzerSlot::Turns(Turns::default()),
            super::Mode::Messages => AnalyzerSlot::Detect(Detect::default()),
        }
    }

    pub fn http1() -> Self {
        AnalyzerSlot::Http1(Http1Slot::default())
    }

    fn get(&mut self) -> &mut dyn Analyzer {
        match self {
            AnalyzerSlot::Turns(a) => a,
            AnalyzerSlot::Detect(a) => a,
            AnalyzerSlot::Http1(a) => a,
            AnalyzerSlot::Tls(a) => &mut **a,
            AnalyzerSlot::Ws(a) => &mut **a,
        }
    }

    /// Feeds payload, following handoffs until every byte found its analyzer.
    pub fn data(&mut self, x: &mut Exchanges<'_>, dir: Direction, ts: Timestamp, bytes: &[u8]) {
        let mut bytes = bytes;
        // Each handoff consumes bytes or changes analyzer; the bound keeps a chain of
        // analyzers that hand back and forth from looping.
        for _ in 0..8 {
            match self.get().data(x, dir, ts, bytes) {
                Handoff::Stay => return,
                Handoff::To { next, consumed } => {
                    *self = next;
                    bytes = bytes.get(consumed..).unwrap_or_default();
                    if bytes.is_empty() {
                        return;
                    }
                }
            }
        }
    }

    pub fn gap(&mut self, x: &mut Exchanges<'_>, dir: Direction, ts: Timestamp, len: u64) {
        self.get().gap(x, dir, ts, len);
    }

    pub fn end(&mut self, x: &mut Exchanges<'_>, closed: bool) {
        self.get().end(x, closed);
    }
}
