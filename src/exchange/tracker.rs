//! The exchange layer's driver: receives flow events, keeps each connection's state
//! (its analyzer, its exchanges, their timings and as many bytes as the template needs)
//! and hands each finished exchange to the sink. Where exchanges start and end is the
//! analyzer's business ([`super::analyzer`]); when they are printed is decided here.

use super::analyzer::{AnalyzerSlot, ExchangeQueue, Exchanges, PayloadLog};
use super::conn_facts::ProtocolFacts;
use super::connection::{CloseHow, ConnSummary, ConnectionRecord, KeepAliveValues};
use super::record::{CloseOriginator, Exchange, Position};
use super::state::{ConnFacts, ExchangeState, KeptBudget, MaybeTime};
use super::{AnalyzerOptions, ExchangeSink, Mode, Needs, Protocol};
use crate::chunked_vec::ChunkedVec;
use crate::decode::{Endpoint, Tunnels};
use crate::flow::{ConnId, Direction, FlowEvent, FlowEventKind, FlowEventSink, Lifecycle};
use crate::time::Timestamp;

pub use super::state::{MAX_HEADER_KEPT, MAX_KEPT_PER_PHASE, MAX_KEPT_TOTAL};

/// Everything known about one connection.
struct ConnState {
    client: Endpoint,
    server: Endpoint,
    opening: Timestamp,
    open: MaybeTime,
    facts: ConnFacts,
    queue: ExchangeQueue,
    analyzer: AnalyzerSlot,
    /// Connection-level protocol facts, once an analyzer had some.
    protocol_facts: Option<Box<ProtocolFacts>>,
}

/// What connection records count beside the connection states (`--connections`, the
/// report, metrics): a [`ConnSummary`] per connection slot, the bytes missed in gaps
/// and, when records are rendered, the first exchange's keep-alive values. Rows are
/// indexed like the states, reused by the slot's next connection and cleared when their
/// connection ends. A table grows to a slot when the slot's connection first writes to
/// it, not when it opens (a row not there yet reads as clean): the rows of hundreds of
/// thousands of connections opened together are not written once more for nothing.
/// The tables stay empty when records are not asked for.
#[derive(Default)]
struct Summaries {
    on: bool,
    /// Keep the keep-alive values (records that print them).
    values: bool,
    rows: ChunkedVec<ConnSummary>,
    /// Payload bytes missed in gaps, `[client, server]`.
    missed: ChunkedVec<[u64; 2]>,
    keep_alive: ChunkedVec<KeepAliveValues>,
}

/// Slot `i` of `table`, grown to it with clean rows if needed.
#[inline]
fn grown<T: Default>(table: &mut ChunkedVec<T>, i: usize) -> Option<&mut T> {
    if table.len() <= i {
        grow(table, i + 1);
    }
    table.get_mut(i)
}

/// Once per slot at most: off the path of every payload event.
#[cold]
#[inline(never)]
fn grow<T: Default>(table: &mut ChunkedVec<T>, len: usize) {
    table.resize_with(len, T::default);
}

/// One connection's rows in [`Summaries`].
struct SummaryRow<'a> {
    summary: &'a mut ConnSummary,
    keep_alive: Option<&'a mut KeepAliveValues>,
}

impl Summaries {
    /// Connection `conn`'s rows, to write (only with connection records).
    fn row(&mut self, conn: ConnId) -> Option<SummaryRow<'_>> {
        if !self.on {
            return None;
        }
        let i = conn as usize;
        let summary = grown(&mut self.rows, i)?;
        let keep_alive = match self.values {
            true => grown(&mut self.keep_alive, i),
            false => None,
        };
        Some(SummaryRow {
            summary,
            keep_alive,
        })
    }

    /// Connection `conn`'s summary, to write (only with connection records): the row
    /// alone, for what every payload event counts.
    #[inline]
    fn summary_mut(&mut self, conn: ConnId) -> Option<&mut ConnSummary> {
        match self.on {
            true => grown(&mut self.rows, conn as usize),
            false => None,
        }
    }

    /// Connection `conn`'s summary so far.
    fn summary(&self, conn: ConnId) -> ConnSummary {
        self.rows.get(conn as usize).copied().unwrap_or_default()
    }

    fn missed(&self, conn: ConnId) -> [u64; 2] {
        self.missed.get(conn as usize).copied().unwrap_or_default()
    }

    fn add_missed(&mut self, conn: ConnId, dir: Direction, len: u64) {
        if let Some(missed) = grown(&mut self.missed, conn as usize) {
            let i = usize::from(dir == Direction::FromServer);
            missed[i] = missed[i].saturating_add(len);
        }
    }

    /// Clears slot `conn`'s rows for its next connection.
    fn clear(&mut self, conn: ConnId) {
        let i = conn as usize;
        if let Some(row) = self.rows.get_mut(i) {
            *row = ConnSummary::default();
        }
        if let Some(missed) = self.missed.get_mut(i) {
            *missed = [0; 2];
        }
        if let Some(values) = self.keep_alive.get_mut(i) {
            *values = KeepAliveValues::default();
        }
    }
}

impl ConnState {
    /// A connection whose first exchange is `head`.
    fn new(
        client: Endpoint,
        server: Endpoint,
        opening: Timestamp,
        mode: Mode,
        head: ExchangeState,
    ) -> Self {
        ConnState {
            client,
            server,
            opening,
            open: MaybeTime::default(),
            facts: ConnFacts {
                protocol: match mode {
                    Mode::Turns => Protocol::None,
                    Mode::Messages => Protocol::Unknown,
                },
                ..ConnFacts::default()
            },
            queue: ExchangeQueue {
                head,
                rest: Vec::new(),
            },
            analyzer: AnalyzerSlot::for_mode(mode),
            protocol_facts: None,
        }
    }

    /// Prints the oldest exchange where it is (an exchange is never moved out whole),
    /// then drops its bytes; `at` is (streams, print, close, originator).
    fn print_head<S: ExchangeSink>(
        &mut self,
        sink: &mut S,
        budget: &mut KeptBudget,
        at: (
            usize,
            Option<Timestamp>,
            Option<Timestamp>,
            Option<CloseOriginator>,
        ),
        last_at_close: bool,
        row: Option<&mut SummaryRow<'_>>,
    ) -> std::io::Result<()> {
        let (streams, print, close, originator) = at;
        let record = self.exchange(
            &self.queue.head,
            streams,
            print,
            close,
            originator,
            last_at_close,
        );
        let result = sink.exchange(&record);
        self.drop_head(budget, row);
        result
    }

    /// The oldest exchange counts as printed; its kept bytes go back to the budget.
    /// `row`: the connection's summary rows, with connection records.
    fn drop_head(&mut self, budget: &mut KeptBudget, row: Option<&mut SummaryRow<'_>>) {
        if let Some(row) = row {
            let e = &self.queue.head;
            let summary = &mut *row.summary;
            if e.begun() {
                if summary.exchanges == 0 {
                    let (request, response) =
                        e.kept.split_at((e.request.kept as usize).min(e.kept.len()));
                    let request_header_len = e.request.header_len().map(|n| n as usize);
                    summary.first_request(request, request_header_len, e.request.fields);
                    if let Some(values) = row.keep_alive.as_deref_mut() {
                        *values = KeepAliveValues::first_headers(
                            request,
                            request_header_len,
                            response,
                            e.response.header_len().map(|n| n as usize),
                        );
                    }
                }
                let end = e.response.last.get().or(e.request.last.get());
                summary.exchange(
                    summary.exchanges == 0,
                    e.request.first.get(),
                    e.previous_end.get(),
                    end,
                );
            }
        }
        self.facts.printed = self.facts.printed.saturating_add(1);
        self.queue.head.release_kept(budget);
    }

    /// The record of `e`, the connection's next exchange to print.
    fn exchange<'a>(
        &'a self,
        e: &'a ExchangeState,
        streams: usize,
        print: Option<Timestamp>,
        close: Option<Timestamp>,
        originator: Option<CloseOriginator>,
        last_at_close: bool,
    ) -> Exchange<'a> {
        let first = self.facts.printed == 0;
        let (request, response) = e.kept.split_at((e.request.kept as usize).min(e.kept.len()));
        let position = match (first, last_at_close) {
            (true, true) => Position::Unique,
            (true, false) => Position::Start,
            (false, false) => Position::Continue,
            (false, true) => Position::Last,
        };
        let framed = e.facts.framed;
        Exchange {
            id: e.id,
            client: self.client,
            server: self.server,
            position,
            close_originator: originator,
            streams,
            session_requests: u64::from(e.session_requests),
            first,
            opening: self.opening,
            open: self.open.get(),
            request_first: e.request.first.get(),
            request_last: e.request.last.get(),
            response_first: e.response.first.get(),
            response_last: e.response.last.get(),
            print,
            close,
            last_activity: e.last_activity.get(),
            request,
            response,
            request_size: e.request.size,
            response_size: e.response.size,
            request_header_len: e.request.header_len().map(|n| n as usize),
            response_header_len: e.response.header_len().map(|n| n as usize),
            request_fields: e.request.fields,
            response_fields: e.response.fields,
            protocol: e.protocol.unwrap_or(self.facts.protocol),
            index: self.facts.printed.saturating_add(1),
            pipelined: framed.then_some(e.pipelined),
            complete: framed.then_some(e.facts.complete),
            gap: e.gap,
            request_body_size: (framed && e.facts.request_head).then_some(e.facts.request_body),
            response_body_size: (framed && e.facts.response_head).then_some(e.facts.response_body),
            interim: framed.then_some(e.facts.interim),
            previous_end: e.previous_end.get(),
            tls: self.protocol_facts.as_deref().and_then(|f| f.tls.as_ref()),
            connection: None,
            h2: self.protocol_facts.as_deref().and_then(|f| f.h2.as_ref()),
            h2_stream: e.h2.as_deref(),
            ws: self.protocol_facts.as_deref().and_then(|f| f.ws.as_ref()),
            ws_message: self
                .protocol_facts
                .as_deref()
                .and_then(|f| f.ws_message(e.id)),
            tunnel: self
                .protocol_facts
                .as_deref()
                .and_then(|f| f.tunnel.as_ref()),
        }
    }
}

/// Turns flow events into exchanges for `sink`.
pub struct ExchangeTracker<S> {
    needs: Needs,
    mode: Mode,
    options: AnalyzerOptions,
    conns: ChunkedVec<Option<ConnState>>,
    sink: S,
    exchanges: u64,
    budget: KeptBudget,
    /// Requests beyond [`super::analyzer::MAX_PIPELINED`] waiting on one connection.
    pipeline_overflow: u64,
    /// Exchanges beyond [`super::analyzer::MAX_OPEN_EXCHANGES`] open on one connection.
    open_overflow: u64,
    /// The id of the next exchange created ([`Exchange::id`]).
    serial: u64,
    /// The payload one flow event gave to exchanges, for a sink that wants it.
    payload: PayloadLog,
    /// With connection records: each connection's summary, handed to the sink in its
    /// record at the end ([`ExchangeSink::connection`]).
    summaries: Summaries,
    /// Connection records handed to the sink.
    connection_records: u64,
    /// The lifecycle the flow layer gave for the connection about to end.
    ending: Option<(ConnId, Lifecycle)>,
    /// The connection about to end as timed out was idle (not evicted).
    idle_timed_out: bool,
    /// The encapsulations of the packet being processed ([`ExchangeTracker::seen_in`];
    /// empty for none), kept by a connection it opens.
    tunnel: Tunnels,
}

impl<S: ExchangeSink> ExchangeTracker<S> {
    /// A tracker in `turns` mode (SPEC §4).
    pub fn new(needs: Needs, sink: S) -> Self {
        Self::with_mode(needs, Mode::Turns, sink)
    }

    pub fn with_mode(needs: Needs, mode: Mode, sink: S) -> Self {
        let payload = PayloadLog {
            enabled: sink.wants_payload(),
            ..PayloadLog::default()
        };
        ExchangeTracker {
            needs,
            mode,
            options: AnalyzerOptions::default(),
            conns: ChunkedVec::new(),
            sink,
            exchanges: 0,
            budget: KeptBudget::default(),
            pipeline_overflow: 0,
            open_overflow: 0,
            serial: 0,
            payload,
            summaries: Summaries::default(),
            connection_records: 0,
            ending: None,
            idle_timed_out: false,
            tunnel: Tunnels::default(),
        }
    }

    /// The encapsulations of the packet about to be processed: a connection it opens
    /// keeps them for its records (`%tunnel`).
    #[inline]
    pub fn seen_in(&mut self, tunnel: Option<&Tunnels>) {
        // Called for every packet: without a tunnel only the level count is written.
        match tunnel {
            Some(t) => self.tunnel = *t,
            None => self.tunnel.clear(),
        }
    }

    /// Keeps a summary of each connection and hands its record to the sink when it ends
    /// ([`ExchangeSink::connection`]); the flow table must report lifecycles
    /// ([`crate::flow::FlowConfig::lifecycle`]). `keep_alive_values`: keep the first
    /// exchange's `Connection` and `Keep-Alive` values (`%conn.connection.asked`...),
    /// which only rendered records print; without them the record still says whether
    /// keep-alive was asked ([`ConnectionRecord::keep_alive_asked`]).
    pub fn with_connection_records(mut self, keep_alive_values: bool) -> Self {
        self.summaries.on = true;
        self.summaries.values = keep_alive_values;
        self
    }

    /// Connection records handed to the sink so far.
    pub fn connection_records(&self) -> u64 {
        self.connection_records
    }

    /// The options analyzers read (`--ws-messages`…).
    pub fn with_options(mut self, options: AnalyzerOptions) -> Self {
        self.options = options;
        self
    }

    /// Payload bytes a template wanted kept but that a bound refused.
    pub fn refused_bytes(&self) -> u64 {
        self.budget.refused
    }

    /// Requests that found their connection's pipeline full (their bytes joined the
    /// newest exchange).
    pub fn pipeline_overflow(&self) -> u64 {
        self.pipeline_overflow
    }

    /// Exchanges (HTTP/2 streams) refused because their connection already held
    /// [`super::analyzer::MAX_OPEN_EXCHANGES`].
    pub fn open_overflow(&self) -> u64 {
        self.open_overflow
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    pub fn into_sink(self) -> S {
        self.sink
    }

    /// Exchanges handed to the sink so far.
    pub fn exchanges(&self) -> u64 {
        self.exchanges
    }

    /// Heap bytes one connection's state holds beyond its slot: queued exchanges,
    /// their kept bytes, the analyzer's state (tests watch it stays bounded).
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self, conn: ConnId) -> usize {
        let Some(state) = self.conns.get(conn as usize).and_then(Option::as_ref) else {
            return 0;
        };
        let q = &state.queue;
        let exchanges = std::iter::once(&q.head).chain(&q.rest);
        q.rest.capacity() * std::mem::size_of::<ExchangeState>()
            + exchanges
                .map(|e| e.kept.capacity() + e.h2.as_ref().map_or(0, |_| 16))
                .sum::<usize>()
            + state.analyzer.heap_bytes()
            + state.protocol_facts.as_ref().map_or(0, |_| 256)
    }

    /// Whether `conn` is a connection being tracked.
    fn tracks(&self, conn: ConnId) -> bool {
        self.conns.get(conn as usize).is_some_and(Option::is_some)
    }

    /// Runs `f` with the connection's analyzer and its exchanges.
    fn analyze(
        &mut self,
        conn: ConnId,
        f: impl FnOnce(&mut AnalyzerSlot, &mut Exchanges<'_>),
    ) -> bool {
        let Some(state) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) else {
            return false;
        };
        let mut x = Exchanges {
            queue: &mut state.queue,
            facts: &mut state.facts,
            protocol_facts: &mut state.protocol_facts,
            budget: &mut self.budget,
            needs: self.needs,
            options: self.options,
            open: state.open,
            overflow: &mut self.pipeline_overflow,
            open_overflow: &mut self.open_overflow,
            serial: &mut self.serial,
            payload: &mut self.payload,
        };
        f(&mut state.analyzer, &mut x);
        true
    }

    /// After an event's analysis: reports the payload it gave to exchanges and prints the
    /// records it made due, each exchange's payload before its record, and a later
    /// exchange's payload after the records due before it.
    #[inline]
    fn report(&mut self, conn: ConnId, streams: usize, ts: Timestamp) -> std::io::Result<()> {
        if !self.payload.pieces.is_empty() {
            self.report_payload(conn, streams, ts)?;
        }
        self.print_finished(conn, streams, ts, u64::MAX)
    }

    #[inline(never)]
    fn report_payload(
        &mut self,
        conn: ConnId,
        streams: usize,
        ts: Timestamp,
    ) -> std::io::Result<()> {
        let log = std::mem::take(&mut self.payload);
        let result = self.report_pieces(conn, streams, ts, &log);
        self.payload = log;
        self.payload.clear();
        result
    }

    fn report_pieces(
        &mut self,
        conn: ConnId,
        streams: usize,
        ts: Timestamp,
        log: &PayloadLog,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for piece in &log.pieces {
            let bytes = log.bytes.get(start..piece.end).unwrap_or_default();
            start = piece.end;
            self.print_finished(conn, streams, ts, piece.exchange)?;
            match piece.dir {
                Direction::FromClient => self.sink.request(conn, piece.exchange, bytes, piece.ts),
                Direction::FromServer => self.sink.response(conn, piece.exchange, bytes, piece.ts),
            }?;
        }
        Ok(())
    }

    /// Prints the finished exchanges at the front whose successor has begun: what
    /// follows them is known, so their record is complete; only those numbered below
    /// `before`.
    fn print_finished(
        &mut self,
        conn: ConnId,
        streams: usize,
        ts: Timestamp,
        before: u64,
    ) -> std::io::Result<()> {
        loop {
            let Some(state) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) else {
                return Ok(());
            };
            let q = &state.queue;
            let due = q.head.done
                && (q.head.flush || q.rest.first().is_some_and(ExchangeState::begun))
                && q.head.id < before;
            if !due {
                return Ok(());
            }
            self.exchanges += 1;
            let printed = state.print_head(
                &mut self.sink,
                &mut self.budget,
                (streams, Some(ts), None, None),
                false,
                self.summaries.row(conn).as_mut(),
            );
            if state.queue.rest.is_empty() {
                // Printed before anything followed it: an empty exchange takes its
                // place for what may come (printed only if something does).
                state.queue.head = ExchangeState::numbered(&mut self.serial);
            } else {
                state.queue.advance();
            }
            printed?;
        }
    }

    /// The connection ended: every exchange still held is printed, in order, the last
    /// one as the connection's last; then its state is dropped.
    fn end(
        &mut self,
        conn: ConnId,
        streams: usize,
        ts: Timestamp,
        close: Option<Timestamp>,
        originator: CloseOriginator,
    ) -> std::io::Result<()> {
        // A truncated connection's records are printed at no particular time.
        let print = (originator != CloseOriginator::Truncated).then_some(ts);
        self.analyze(conn, |a, x| a.end(x, close.is_some()));
        let Some(mut state) = self.conns.get_mut(conn as usize).and_then(Option::take) else {
            return Ok(());
        };
        let mut result = Ok(());
        // The empty exchange after one printed when done (a WebSocket upgrade): nothing
        // followed it, so no exchange is left to print; the connection's record still is.
        let nothing_left =
            state.facts.printed > 0 && state.queue.rest.is_empty() && !state.queue.head.begun();
        if !nothing_left {
            result = self.print_all(conn, &mut state, streams, print, close, originator);
        }
        if result.is_ok() && self.summaries.on {
            result = self.print_connection(conn, &state, streams, ts, close, originator);
        }
        self.summaries.clear(conn);
        result
    }

    /// Prints every exchange `state` still holds, in order, the last one as the
    /// connection's last when it closed.
    fn print_all(
        &mut self,
        conn: ConnId,
        state: &mut ConnState,
        streams: usize,
        print: Option<Timestamp>,
        close: Option<Timestamp>,
        originator: CloseOriginator,
    ) -> std::io::Result<()> {
        let mut result = Ok(());
        let mut row = self.summaries.row(conn);
        loop {
            let last = state.queue.rest.is_empty();
            self.exchanges += 1;
            if result.is_ok() {
                result = state.print_head(
                    &mut self.sink,
                    &mut self.budget,
                    (streams, print, close, Some(originator)),
                    last && close.is_some(),
                    row.as_mut(),
                );
            } else {
                // The sink failed: the rest are counted and dropped, not printed.
                state.drop_head(&mut self.budget, row.as_mut());
            }
            if last {
                return result;
            }
            state.queue.advance();
        }
    }

    /// Hands connection `conn`'s record to the sink: a record without request or
    /// response that carries the [`ConnectionRecord`].
    fn print_connection(
        &mut self,
        conn: ConnId,
        state: &ConnState,
        streams: usize,
        ts: Timestamp,
        close: Option<Timestamp>,
        originator: CloseOriginator,
    ) -> std::io::Result<()> {
        let summary = &self.summaries.summary(conn);
        let lifecycle = match self.ending.take() {
            Some((id, lifecycle)) if id == conn => lifecycle,
            _ => Lifecycle::default(),
        };
        let how = match originator {
            CloseOriginator::Client | CloseOriginator::Server => {
                let reset = [Direction::FromClient, Direction::FromServer]
                    .iter()
                    .any(|&d| lifecycle.state(d) == crate::flow::EndpointState::Reset);
                if reset {
                    CloseHow::Rst
                } else {
                    CloseHow::Fin
                }
            }
            CloseOriginator::TimedOut if self.idle_timed_out => CloseHow::IdleTimeout,
            CloseOriginator::TimedOut => CloseHow::Evicted,
            CloseOriginator::Truncated => CloseHow::Truncated,
        };
        let by = match originator {
            CloseOriginator::Client => Some(Direction::FromClient),
            CloseOriginator::Server => Some(Direction::FromServer),
            _ => None,
        };
        let record = ConnectionRecord {
            lifecycle: &lifecycle,
            summary,
            missed: self.summaries.missed(conn),
            keep_alive: self.summaries.keep_alive.get(conn as usize),
            opening: state.opening,
            open: state.open.get(),
            end: ts,
            how,
            by,
            protocol_facts: state.protocol_facts.as_deref(),
        };
        let blank = ExchangeState::default();
        let mut carrier = state.exchange(&blank, streams, Some(ts), close, Some(originator), true);
        carrier.first = true;
        carrier.position = Position::Unique;
        carrier.index = summary.exchanges;
        carrier.connection = Some(&record);
        self.connection_records += 1;
        self.sink.connection(&carrier)
    }

    /// Hands the sink an interim record of connection `conn`, still open at `now` with
    /// `lifecycle` so far (`--open-report`): its connection record so far with
    /// connection records, else its pending exchange as it stands.
    pub fn report_open(
        &mut self,
        conn: ConnId,
        lifecycle: &Lifecycle,
        now: Timestamp,
        streams: usize,
    ) -> std::io::Result<()> {
        let Some(state) = self.conns.get(conn as usize).and_then(Option::as_ref) else {
            return Ok(());
        };
        match self.summaries.on {
            true => {
                // Exchanges finished but not printed yet count too.
                let mut summary = self.summaries.summary(conn);
                let q = &state.queue;
                let pending = std::iter::once(&q.head)
                    .chain(&q.rest)
                    .filter(|e| e.begun());
                summary.exchanges = summary.exchanges.saturating_add(pending.count() as u32);
                let summary = &summary;
                let record = ConnectionRecord {
                    lifecycle,
                    summary,
                    missed: self.summaries.missed(conn),
                    keep_alive: self.summaries.keep_alive.get(conn as usize),
                    opening: state.opening,
                    open: state.open.get(),
                    end: now,
                    how: CloseHow::Open,
                    by: None,
                    protocol_facts: state.protocol_facts.as_deref(),
                };
                let blank = ExchangeState::default();
                let mut carrier = state.exchange(&blank, streams, Some(now), None, None, false);
                carrier.first = true;
                carrier.position = Position::Open;
                carrier.index = summary.exchanges;
                carrier.connection = Some(&record);
                self.sink.interim(&carrier)
            }
            false => {
                let mut record =
                    state.exchange(&state.queue.head, streams, Some(now), None, None, false);
                record.position = Position::Open;
                self.sink.interim(&record)
            }
        }
    }

    /// Runs `f` on connection `conn`'s summary (`--connections`).
    fn summarize(&mut self, conn: ConnId, f: impl FnOnce(&mut ConnSummary)) {
        // Only a tracked connection's row: the others stay clean for their next one.
        if !self.tracks(conn) {
            return;
        }
        if let Some(summary) = self.summaries.summary_mut(conn) {
            f(summary);
        }
    }
}

impl<S: ExchangeSink> FlowEventSink for ExchangeTracker<S> {
    fn lifecycle(&mut self, conn: ConnId, lifecycle: &Lifecycle) -> std::io::Result<()> {
        if self.summaries.on {
            self.ending = Some((conn, *lifecycle));
        }
        Ok(())
    }

    fn picked_up_mid_stream(&mut self, conn: ConnId) {
        if let Some(state) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) {
            state.facts.mid_stream = true;
        }
    }

    fn event(&mut self, event: FlowEvent<'_>) -> std::io::Result<()> {
        let FlowEvent {
            conn,
            ts,
            streams,
            kind,
        } = event;
        match kind {
            FlowEventKind::Opening { client, server } => {
                let idx = conn as usize;
                if self.conns.len() <= idx {
                    self.conns.resize_with(idx + 1, || None);
                }
                let head = ExchangeState::numbered(&mut self.serial);
                let id = head.id;
                let mut state = ConnState::new(client, server, ts, self.mode, head);
                if !self.tunnel.is_empty() {
                    state.protocol_facts.get_or_insert_with(Box::default).tunnel =
                        Some(self.tunnel);
                }
                if self.summaries.on && self.conns[idx].is_some() {
                    // A state left there never ended: its rows are not clean.
                    self.summaries.clear(conn);
                }
                self.conns[idx] = Some(state);
                self.sink.opening(conn, id, client, server, ts)
            }
            FlowEventKind::Established => {
                let Some(state) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) else {
                    return Ok(());
                };
                state.open.put(ts);
                state.queue.head.last_activity.put(ts);
                state.queue.head.previous_end.put(ts);
                self.sink.open(conn, ts)
            }
            FlowEventKind::Data { dir, bytes } => {
                if self.summaries.on {
                    self.summarize(conn, |s| s.data(dir, bytes.len(), ts));
                }
                if self.analyze(conn, |a, x| a.data(x, dir, ts, bytes)) {
                    self.report(conn, streams, ts)?;
                }
                Ok(())
            }
            FlowEventKind::Gap { dir, len } => {
                if self.summaries.on && self.tracks(conn) {
                    self.summaries.add_missed(conn, dir, len);
                }
                if self.analyze(conn, |a, x| a.gap(x, dir, ts, len)) {
                    self.report(conn, streams, ts)?;
                }
                Ok(())
            }
            FlowEventKind::Closed { originator } => {
                if !self.tracks(conn) {
                    return Ok(());
                }
                let told = self.sink.closed(conn, ts, originator);
                let originator = match originator {
                    Direction::FromClient => CloseOriginator::Client,
                    Direction::FromServer => CloseOriginator::Server,
                };
                let ended = self.end(conn, streams, ts, Some(ts), originator);
                told.and(ended)
            }
            FlowEventKind::TimedOut | FlowEventKind::IdleTimedOut => {
                if !self.tracks(conn) {
                    return Ok(());
                }
                self.idle_timed_out = kind == FlowEventKind::IdleTimedOut;
                let told = self.sink.timed_out(conn, ts);
                let ended = self.end(conn, streams, ts, None, CloseOriginator::TimedOut);
                told.and(ended)
            }
            FlowEventKind::Truncated => {
                if !self.tracks(conn) {
                    return Ok(());
                }
                let told = self.sink.truncated(conn);
                let ended = self.end(conn, streams, ts, None, CloseOriginator::Truncated);
                told.and(ended)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::http::HeaderEndScan;
    use crate::exchange::Retention;
    use std::net::{IpAddr, Ipv4Addr};

    /// Position, originator, request kept, response kept, sizes, session requests.
    type Seen = (
        Position,
        Option<CloseOriginator>,
        Vec<u8>,
        Vec<u8>,
        u64,
        u64,
        u64,
    );

    #[derive(Default)]
    struct Collect(Vec<Seen>);

    impl ExchangeSink for Collect {
        fn exchange(&mut self, e: &Exchange<'_>) -> std::io::Result<()> {
            self.0.push((
                e.position,
                e.close_originator,
                e.request.to_vec(),
                e.response.to_vec(),
                e.request_size,
                e.response_size,
                e.session_requests,
            ));
            Ok(())
        }
    }

    fn t(us: i64) -> Timestamp {
        Timestamp::from_secs_micros(0, us)
    }

    fn feed(needs: Needs, events: &[(i64, FlowEventKind<'_>)]) -> Vec<Seen> {
        let mut tracker = ExchangeTracker::new(needs, Collect::default());
        for (us, kind) in events {
            tracker
                .event(FlowEvent {
                    conn: 0,
                    ts: t(*us),
                    streams: 1,
                    kind: *kind,
                })
                .unwrap();
        }
        tracker.into_sink().0
    }

    fn opening() -> FlowEventKind<'static> {
        let ep = |port| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        };
        FlowEventKind::Opening {
            client: ep(40000),
            server: ep(80),
        }
    }

    const ALL: Retention = Retention {
        all: true,
        header: false,
        prefix: 0,
    };
    const FC: Direction = Direction::FromClient;
    const FS: Direction = Direction::FromServer;

    /// What a sink saw, in order: events and records.
    #[derive(Debug, PartialEq, Eq)]
    enum Told {
        Opening(u64),
        Open,
        Request(u64, Vec<u8>),
        Response(u64, Vec<u8>),
        Closed(Direction),
        TimedOut,
        Truncated,
        /// A record: its id, kept request and response.
        Record(u64, Vec<u8>, Vec<u8>),
    }

    struct Log {
        payload: bool,
        told: Vec<Told>,
    }

    impl ExchangeSink for Log {
        fn exchange(&mut self, e: &Exchange<'_>) -> std::io::Result<()> {
            let record = Told::Record(e.id, e.request.to_vec(), e.response.to_vec());
            self.told.push(record);
            Ok(())
        }
        fn wants_payload(&self) -> bool {
            self.payload
        }
        fn opening(
            &mut self,
            conn: ConnId,
            exchange: u64,
            client: Endpoint,
            server: Endpoint,
            _: Timestamp,
        ) -> std::io::Result<()> {
            assert_eq!((conn, client.port, server.port), (0, 40000, 80));
            self.told.push(Told::Opening(exchange));
            Ok(())
        }
        fn open(&mut self, _: ConnId, _: Timestamp) -> std::io::Result<()> {
            self.told.push(Told::Open);
            Ok(())
        }
        fn request(&mut self, _: ConnId, id: u64, b: &[u8], _: Timestamp) -> std::io::Result<()> {
            self.told.push(Told::Request(id, b.to_vec()));
            Ok(())
        }
        fn response(&mut self, _: ConnId, id: u64, b: &[u8], _: Timestamp) -> std::io::Result<()> {
            self.told.push(Told::Response(id, b.to_vec()));
            Ok(())
        }
        fn closed(&mut self, _: ConnId, _: Timestamp, by: Direction) -> std::io::Result<()> {
            self.told.push(Told::Closed(by));
            Ok(())
        }
        fn timed_out(&mut self, _: ConnId, _: Timestamp) -> std::io::Result<()> {
            self.told.push(Told::TimedOut);
            Ok(())
        }
        fn truncated(&mut self, _: ConnId) -> std::io::Result<()> {
            self.told.push(Told::Truncated);
            Ok(())
        }
    }

    /// Feeds `events` to a tracker in `mode` whose sink logs everything.
    fn tell(mode: Mode, payload: bool, events: &[(i64, FlowEventKind<'_>)]) -> Vec<Told> {
        let needs = Needs {
            request: ALL,
            response: ALL,
        };
        let log = Log {
            payload,
            told: Vec::new(),
        };
        let mut tracker = ExchangeTracker::with_mode(needs, mode, log);
        for (us, kind) in events {
            let event = FlowEvent {
                conn: 0,
                ts: t(*us),
                streams: 1,
                kind: *kind,
            };
            tracker.event(event).unwrap();
        }
        tracker.into_sink().told
    }

    #[test]
    fn pipelined_requests_and_their_responses_are_told_with_their_exchange_ids() {
        let (a, b, c) = (
            &b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            &b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            &b"HEAD /c HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        );
        let (ra, rb, rc) = (
            &b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"[..],
            &b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nBB"[..],
            &b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"[..],
        );
        let requests = [a, b, c].concat();
        let responses = [ra, rb, rc].concat();
        let events = [
            (0, opening()),
            (1, FlowEventKind::Established),
            // Every request in one segment, the first response and half the second in
            // the next, the rest in a third.
            (
                2,
                FlowEventKind::Data {
                    dir: FC,
                    bytes: &requests,
                },
            ),
            (
                3,
                FlowEventKind::Data {
                    dir: FS,
                    bytes: &responses[..ra.len() + 10],
                },
            ),
            (
                4,
                FlowEventKind::Data {
                    dir: FS,
                    bytes: &responses[ra.len() + 10..],
                },
            ),
            (5, FlowEventKind::Closed { originator: FC }),
        ];
        let told = tell(Mode::Messages, true, &events);
        use Told::*;
        let v = |b: &[u8]| b.to_vec();
        assert_eq!(
            told,
            [
                Opening(0),
                Open,
                Request(0, v(a)),
                Request(1, v(b)),
                Request(2, v(c)),
                Response(0, v(ra)),
                // The first exchange is finished and the next has begun: its record
                // comes before the next exchange's payload.
                Record(0, v(a), v(ra)),
                Response(1, v(&rb[..10])),
                Response(1, v(&rb[10..])),
                Record(1, v(b), v(rb)),
                Response(2, v(rc)),
                Closed(FC),
                Record(2, v(c), v(rc)),
            ]
        );
        // Without payload wanted, the same records and connection events, no payload.
        let quiet = tell(Mode::Messages, false, &events);
        let expected: Vec<Told> = told
            .into_iter()
            .filter(|t| !matches!(t, Request(..) | Response(..)))
            .collect();
        assert_eq!(quiet, expected);
    }

    #[test]
    fn in_turns_mode_a_new_request_is_told_after_the_record_it_made_due() {
        let told = tell(
            Mode::Turns,
            true,
            &[
                (0, opening()),
                (
                    2,
                    FlowEventKind::Data {
                        dir: FS,
                        bytes: b"220",
                    },
                ),
                (
                    3,
                    FlowEventKind::Data {
                        dir: FC,
                        bytes: b"Q1",
                    },
                ),
                (
                    4,
                    FlowEventKind::Data {
                        dir: FS,
                        bytes: b"R1",
                    },
                ),
                (
                    5,
                    FlowEventKind::Data {
                        dir: FC,
                        bytes: b"Q2",
                    },
                ),
                (6, FlowEventKind::TimedOut),
                (7, FlowEventKind::Truncated),
            ],
        );
        use Told::*;
        let v = |b: &[u8]| b.to_vec();
        assert_eq!(
            told,
            [
                Opening(0),
                Response(0, v(b"220")),
                Record(0, v(b""), v(b"220")),
                Request(1, v(b"Q1")),
                Response(1, v(b"R1")),
                Record(1, v(b"Q1"), v(b"R1")),
                Request(2, v(b"Q2")),
                TimedOut,
                Record(2, v(b"Q2"), v(b"")),
            ]
        );
    }

    #[test]
    fn client_data_after_a_response_prints_the_pending_exchange_and_starts_another() {
        let got = feed(
            Needs {
                request: ALL,
                response: ALL,
            },
            &[
                (0, opening()),
                (1, FlowEventKind::Established),
                (
                    2,
                    FlowEventKind::Data {
                        dir: FC,
                        bytes: b"Q1",
                    },
                ),
                (
                    3,
                    FlowEventKind::Data {
                        dir: FS,
                        bytes: b"R1",
                    },
                ),
                (
                    4,
                    FlowEventKind::Data {
                        dir: FC,
                        bytes: b"Q2",
                    },
                ),
                (
                    5,
                    FlowEventKind::Data {
                        dir: FS,
                        bytes: b"R2",
                    },
                ),
                (6, FlowEventKind::Closed { originator: FC }),
            ],
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, Position::Start);
        assert_eq!(got[0].1, None);
        assert_eq!(
            (got[0].2.as_slice(), got[0].3.as_slice()),
            (&b"Q1"[..], &b"R1"[..])
        );
        assert_eq!(got[1].0, Position::Last);
        assert_eq!(got[1].1, Some(CloseOriginator::Client));
        assert_eq!(got[1].6, 2);
    }

    #[test]
    fn pipelined_requests_before_the_first_response_form_one_exchange() {
        let got = feed(
            Needs {
                request: ALL,
                response: ALL,
            },
            &[
                (0, opening()),
                (1, FlowEventKind::Established),
                (
                    2,
                    FlowEventKind::Data {
                        dir: FC,
                        bytes: b"Q1",
                    },
                ),
                (
                    3,
                    FlowEventKind::Data {
                        dir: FC,
                        bytes: b"Q2",
                    },
                ),
                (
                    4,
                    FlowEventKind::Data {
                        dir: FS,
                        bytes: b"R1R2",
                    },
                ),
                (6, FlowEventKind::Closed { originator: FS }),
            ],
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Position::Unique);
        assert_eq!(got[0].2, b"Q1Q2");
        assert_eq!(got[0].6, 1);
    }

    #[test]
    fn server_data_first_forms_an_exchange_with_an_empty_request() {
        let got = feed(
            Needs {
                request: ALL,
                response: ALL,
            },
            &[
                (0, opening()),
                (1, FlowEventKind::Established),
                (
                    2,
                    FlowEventKind::Data {
                        dir: FS,
                        bytes: b"220 hello",
                    },
                ),
                (
                    3,
                    FlowEventKind::Data {
                        dir: FC,
                        bytes: b"QUIT",
                    },
                ),
                (4, FlowEventKind::Truncated),
            ],
        );
        assert_eq!(got[0].2, b"");
        assert_eq!(got[0].6, 0);
        assert_eq!(got[1].0, Position::Continue);
        assert_eq!(got[1].1, Some(CloseOriginator::Truncated));
    }

    #[test]
    fn a_connection_without_data_still_prints_one_record() {
        let got = feed(
            Needs::default(),
            &[(0, opening()), (1, FlowEventKind::TimedOut)],
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Position::Start);
        assert_eq!(got[0].1, Some(CloseOriginator::TimedOut));
    }

    #[test]
    fn header_retention_keeps_bytes_up_to_the_header_end_but_counts_them() {
        let header_only = Retention {
            all: false,
            header: true,
            prefix: 0,
        };
        let got = feed(
            Needs {
                request: header_only,
                response: header_only,
            },
            &[
                (0, opening()),
                (1, FlowEventKind::Established),
                (
                    2,
                    FlowEventKind::Data {
                        dir: FS,
                        bytes: b"HTTP/1.1 200 OK\r\nA: b\r",
                    },
                ),
                (
                    3,
                    FlowEventKind::Data {
                        dir: FS,
                        bytes: b"\n\r\nbody",
                    },
                ),
                (
                    4,
                    FlowEventKind::Data {
                        dir: FS,
                        bytes: b"more body",
                    },
                ),
                (5, FlowEventKind::Truncated),
            ],
        );
        assert_eq!(got[0].3, b"HTTP/1.1 200 OK\r\nA: b\r\n\r");
        assert_eq!(got[0].5, 38);
    }

    #[test]
    fn the_header_end_is_found_across_events_and_lf_runs() {
        let mut end = HeaderEndScan::default();
        assert_eq!(end.scan(b"A: b\r"), None);
        assert_eq!(end.scan(b"\n"), None);
        assert_eq!(end.scan(b""), None);
        assert_eq!(end.scan(b"\n\n\rbody"), Some(2));
        let mut reset = HeaderEndScan::default();
        assert_eq!(reset.scan(b"a\r\nb\r\n"), None);
        assert_eq!(reset.scan(b"x\r\r"), Some(2));
        // Whatever the split, the end agrees with the renderer's header_split.
        let message = b"GET / HTTP/1.1\r\nHost: h\r\n\n\r\nbody\r\n\r\n";
        let (header_len, _) = super::super::http::header_split(message);
        for cut in 0..message.len() {
            let mut e = HeaderEndScan::default();
            let found = e
                .scan(&message[..cut])
                .or_else(|| e.scan(&message[cut..]).map(|i| i + cut));
            assert_eq!(found, Some(header_len), "cut at {cut}");
        }
    }

    #[test]
    fn a_tls_prefix_keeps_whole_events_past_the_header_end() {
        let both = Retention {
            all: false,
            header: true,
            prefix: 1024,
        };
        let got = feed(
            Needs {
                request: both,
                response: Retention::default(),
            },
            &[
                (0, opening()),
                (1, FlowEventKind::Established),
                (
                    2,
                    FlowEventKind::Data {
                        dir: FC,
                        bytes: b"\r\r\x16\x03\x01",
                    },
                ),
                (3, FlowEventKind::Truncated),
            ],
        );
        assert_eq!(got[0].2, b"\r\r\x16\x03\x01");
    }

    #[test]
    fn nothing_is_kept_when_the_template_needs_no_bytes() {
        let got = feed(
            Needs::default(),
            &[
                (0, opening()),
                (1, FlowEventKind::Established),
                (
                    2,
                    FlowEventKind::Data {
                        dir: FC,
                        bytes: b"GET / HTTP/1.1\r\n\r\n",
                    },
                ),
                (3, FlowEventKind::Truncated),
            ],
        );
        assert!(got[0].2.is_empty());
        assert_eq!(got[0].4, 18);
    }

    #[test]
    fn a_header_block_that_never_ends_is_kept_only_up_to_its_bound() {
        let header_only = Retention {
            all: false,
            header: true,
            prefix: 0,
        };
        let chunk = vec![b'x'; 100 << 10];
        let mut events = vec![(0, opening()), (1, FlowEventKind::Established)];
        for i in 0..5 {
            events.push((
                2 + i,
                FlowEventKind::Data {
                    dir: FS,
                    bytes: &chunk,
                },
            ));
        }
        events.push((9, FlowEventKind::Truncated));
        let got = feed(
            Needs {
                request: header_only,
                response: header_only,
            },
            &events,
        );
        assert_eq!(got[0].3.len(), MAX_HEADER_KEPT);
        assert_eq!(got[0].5, 500 << 10);
    }
}
#[cfg(test)]
mod size {
    /// Every tracked connection holds one: hundreds of thousands at once are common, so
    /// its size is watched (the HTTP/1 and TLS analyzers live behind a pointer, the
    /// first exchange inline, the rest in a vector; an HTTP/2 stream's facts behind
    /// one pointer of the exchange; the tunnel description in the protocol facts).
    #[test]
    fn a_connections_state_stays_small() {
        assert!(std::mem::size_of::<super::ConnState>() <= 320);
        assert!(std::mem::size_of::<super::AnalyzerSlot>() <= 16);
    }
}
