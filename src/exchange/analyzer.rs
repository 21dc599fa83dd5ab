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
use super::h2_analyzer::H2Analyzer;
use super::http1::KnownHead;
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

/// Most exchanges of one connection open at once when an analyzer addresses them by
/// handle ([`Exchanges::open_exchange`], e.g. HTTP/2 streams): beyond it, a new one is
/// refused and counted in [`super::ExchangeTracker::open_overflow`]. Above the 100
/// concurrent streams RFC 9113 §6.5.2 recommends servers allow, with room for the
/// finished exchanges still waiting to be printed.
pub const MAX_OPEN_EXCHANGES: usize = 256;

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
    #[inline(always)]
    pub fn answering(&self) -> Option<usize> {
        // Mostly the first (one exchange at a time).
        if !self.head.done {
            return Some(0);
        }
        self.answering_after_head()
    }

    /// [`Self::answering`] past `head`: out of line, so that the many places that ask
    /// for the answered exchange hold only the test of `head`.
    #[inline(never)]
    fn answering_after_head(&self) -> Option<usize> {
        self.rest.iter().position(|e| !e.done).map(|i| i + 1)
    }

    /// The first exchange whose response is not finished, as [`Self::answering`].
    #[inline(always)]
    pub fn answering_mut(&mut self) -> Option<&mut ExchangeState> {
        if !self.head.done {
            return Some(&mut self.head);
        }
        self.answering_after_head_mut()
    }

    #[inline(never)]
    fn answering_after_head_mut(&mut self) -> Option<&mut ExchangeState> {
        self.rest.iter_mut().find(|e| !e.done)
    }

    /// The position of the exchange numbered `id`. Searched from the newest: a handle
    /// is mostly used on a recent exchange.
    pub fn position(&self, id: u64) -> Option<usize> {
        if self.head.id == id {
            return Some(0);
        }
        self.rest.iter().rposition(|e| e.id == id).map(|i| i + 1)
    }

    /// Moves the exchange at `from` to `to` (≤ `from`), the ones between one place back.
    fn move_back(&mut self, from: usize, to: usize) {
        if from <= to || from >= self.len() {
            return;
        }
        if to > 0 {
            self.rest[to - 1..from].rotate_right(1);
            return;
        }
        // Through `head`, which is not in the vector.
        self.rest[..from].rotate_right(1);
        std::mem::swap(&mut self.head, &mut self.rest[0]);
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
    /// Exchanges refused by [`MAX_OPEN_EXCHANGES`].
    pub(crate) open_overflow: &'a mut u64,
    /// The tracker's exchange numbering ([`ExchangeState::numbered`]).
    pub(crate) serial: &'a mut u64,
    /// Where the payload given to each exchange is noted for the sink.
    pub(crate) payload: &'a mut PayloadLog,
}

impl Exchanges<'_> {
    /// A new request message begins: the newest exchange takes it if nothing has
    /// happened on it yet, else a new exchange is queued behind the others.
    pub fn begin_request(&mut self) {
        if self.begin(MAX_PIPELINED).is_none() {
            *self.overflow += 1;
        }
    }

    /// A new exchange begins, several being possibly open at once: the newest takes it
    /// if nothing has happened on it yet, else a new one is queued. Returns its handle
    /// (its id) for the `*_for` operations, or `None` when [`MAX_OPEN_EXCHANGES`] are
    /// held (counted).
    pub fn open_exchange(&mut self) -> Option<u64> {
        let id = self.begin(MAX_OPEN_EXCHANGES);
        if id.is_none() {
            *self.open_overflow += 1;
        }
        id
    }

    /// [`Self::begin_request`] with a bound on the queue; `None` when it is full.
    fn begin(&mut self, bound: usize) -> Option<u64> {
        let reuse = !self.queue.back().begun() && !self.queue.back().done;
        if !reuse {
            if self.queue.len() >= bound {
                return None;
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
        Some(back.id)
    }

    /// The exchange `id`, while the connection holds it.
    pub fn exchange_mut(&mut self, id: u64) -> Option<&mut ExchangeState> {
        let at = self.queue.position(id)?;
        self.queue.get_mut(at)
    }

    /// `len` wire bytes of `dir` for exchange `id` at `ts`: counted in its size and
    /// timings, not kept (see [`Self::keep_for`]).
    pub fn count_for(&mut self, id: u64, dir: Direction, ts: Timestamp, len: u64) {
        if let Some(e) = self.exchange_mut(id) {
            e.count_wire(dir, len, ts);
        }
    }

    /// The decoded form of exchange `id`'s `dir` message (its head as HTTP/1-style
    /// lines, its body): kept as the template needs and reported to the sink as this
    /// exchange's payload, not counted (its wire bytes are, by [`Self::count_for`]).
    pub fn keep_for(&mut self, id: u64, dir: Direction, ts: Timestamp, bytes: &[u8]) {
        let needs = self.needs;
        let Some(at) = self.queue.position(id) else {
            return;
        };
        if let Some(e) = self.queue.get_mut(at) {
            e.keep_decoded(dir, bytes, needs, self.budget, None);
            self.payload.note(id, dir, ts, bytes);
        }
    }

    /// [`Self::keep_for`] of a message's synthesised head, `known` telling where its
    /// header block ends and its field lines are (no scan of the kept bytes for them).
    pub fn keep_head_for(
        &mut self,
        id: u64,
        dir: Direction,
        ts: Timestamp,
        head: &[u8],
        known: KnownHead,
    ) {
        let needs = self.needs;
        let Some(at) = self.queue.position(id) else {
            return;
        };
        if let Some(e) = self.queue.get_mut(at) {
            e.keep_decoded(dir, head, needs, self.budget, Some(known));
            self.payload.note(id, dir, ts, head);
        }
    }

    /// Header lines of exchange `id`'s `dir` message that come after its body
    /// (trailers): inserted at the end of its kept header block, and reported to the
    /// sink as payload after the body.
    pub fn head_lines_for(&mut self, id: u64, dir: Direction, ts: Timestamp, lines: &[u8]) {
        let Some(at) = self.queue.position(id) else {
            return;
        };
        if let Some(e) = self.queue.get_mut(at) {
            e.insert_in_head(dir, lines, self.budget);
            self.payload.note(id, dir, ts, lines);
        }
    }

    /// Exchange `id` is done (`complete`: both messages ended by their framing). It
    /// moves ahead of the unfinished exchanges before it, so records come out in the
    /// order exchanges finish.
    pub fn finish(&mut self, id: u64, complete: bool) {
        let protocol = self.facts.protocol;
        let Some(at) = self.queue.position(id) else {
            return;
        };
        let Some(e) = self.queue.get_mut(at) else {
            return;
        };
        if e.done {
            return;
        }
        e.done = true;
        e.protocol = Some(protocol);
        e.facts.complete = complete && e.gap == 0;
        let end = e.response.last;
        if end.is_set() {
            self.facts.last_response_end = end;
        }
        let finished_before = std::iter::once(&self.queue.head)
            .chain(&self.queue.rest)
            .take_while(|e| e.done && e.id != id)
            .count();
        self.queue.move_back(at, finished_before);
    }

    /// Whether the template or the sink reads kept bytes: without it, an analyzer need
    /// not build the decoded form of its messages.
    pub fn wants_kept(&self) -> bool {
        let wants = |r: super::Retention| r.all || r.header || r.prefix > 0;
        self.payload.enabled || wants(self.needs.request) || wants(self.needs.response)
    }

    /// An interim response of exchange `id` ended: its response starts again.
    pub fn interim_for(&mut self, id: u64) {
        let Some(at) = self.queue.position(id) else {
            return;
        };
        let budget = &mut *self.budget;
        if let Some(e) = self.queue.get_mut(at) {
            e.facts.interim = e.facts.interim.saturating_add(1);
            e.restart_response(budget);
        }
    }

    /// The handle of the oldest exchange not yet answered (the one response bytes go
    /// to), to address it once the connection's analyzer changes.
    pub fn answering_id(&mut self) -> Option<u64> {
        self.answering_mut().map(|e| e.id)
    }

    /// Request bytes, for the newest exchange.
    pub fn request_data(&mut self, ts: Timestamp, bytes: &[u8]) {
        self.request_data_head(ts, bytes, None);
    }

    /// [`Exchanges::request_data`] for bytes that start a message whose head the
    /// analyzer read whole (`known`: where its header block ends, its field lines).
    pub fn request_data_head(&mut self, ts: Timestamp, bytes: &[u8], known: Option<KnownHead>) {
        let needs = self.needs;
        let back = self.queue.back_mut();
        if back.done {
            // A request after a finished response with no begin: start one.
            self.begin_request();
        }
        let back = self.queue.back_mut();
        back.add_request(bytes, ts, needs, self.budget, known);
        let id = back.id;
        self.payload.note(id, Direction::FromClient, ts, bytes);
    }

    /// Response bytes, for the oldest exchange not yet answered; without one, a new
    /// exchange with an empty request (server data first).
    pub fn response_data(&mut self, ts: Timestamp, bytes: &[u8]) {
        self.response_data_head(ts, bytes, None);
    }

    /// [`Exchanges::response_data`] with a known head, as
    /// [`Exchanges::request_data_head`].
    pub fn response_data_head(&mut self, ts: Timestamp, bytes: &[u8], known: Option<KnownHead>) {
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
            e.add_response(bytes, ts, needs, self.budget, known);
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
    #[inline(always)]
    pub fn answering_mut(&mut self) -> Option<&mut ExchangeState> {
        self.queue.answering_mut()
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
    H2(Box<H2Analyzer>),
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
            AnalyzerSlot::H2(a) => &mut **a,
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

    /// Heap bytes held by the analyzer (HTTP/2 only; the others' state is bounded by
    /// their types).
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        match self {
            AnalyzerSlot::H2(a) => std::mem::size_of::<H2Analyzer>() + a.heap_bytes(),
            _ => 0,
        }
    }

    pub fn end(&mut self, x: &mut Exchanges<'_>, closed: bool) {
        self.get().end(x, closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(q: &ExchangeQueue) -> Vec<u64> {
        std::iter::once(&q.head)
            .chain(&q.rest)
            .map(|e| e.id)
            .collect()
    }

    #[test]
    fn an_exchange_moved_back_keeps_the_others_in_their_order() {
        let mut serial = 0;
        let mut q = ExchangeQueue {
            head: ExchangeState::numbered(&mut serial),
            rest: Vec::new(),
        };
        for _ in 0..4 {
            q.rest.push(ExchangeState::numbered(&mut serial));
        }
        q.move_back(3, 0);
        assert_eq!(ids(&q), [3, 0, 1, 2, 4]);
        q.move_back(4, 1);
        assert_eq!(ids(&q), [3, 4, 0, 1, 2]);
        // Nothing to move, or out of the queue: unchanged.
        q.move_back(2, 2);
        q.move_back(9, 0);
        q.move_back(1, 3);
        assert_eq!(ids(&q), [3, 4, 0, 1, 2]);
        assert_eq!(q.position(1), Some(3));
        assert_eq!(q.position(3), Some(0));
        assert_eq!(q.position(7), None);
    }
}
