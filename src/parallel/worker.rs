//! A worker: its part of the connections (a [`FlowTable`] and an [`ExchangeTracker`]),
//! fed by the reader (a capture file) or by its own fanout member (live, `live.rs`),
//! rendering records into chunks tagged with their [`Key`]s.
//!
//! Nothing here is shared with another thread but the channels: the outbox is shared
//! between the loop, the flow-event tap and the record sink of this thread only.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use super::key::{
    Batch, Chunk, Entry, Fact, HeldRequest, Item, Key, SegmentHead, What, CHUNK_BYTES, CHUNK_ITEMS,
    END, HOLE_LEN, PHASE_IDLE, PHASE_OPEN_REPORT, PHASE_PACKET, STREAMS_PROBES, SUB_EVICTION,
    SUB_OWN,
};
use crate::cli::Options;
use crate::decode::{Endpoint, Segment, Tunnels};
use crate::exchange::{Exchange, ExchangeSink, ExchangeTracker, Needs};
use crate::flow::{
    ConnId, Direction, FlowConfig, FlowEvent, FlowEventKind, FlowEventSink, FlowTable, Lifecycle,
};
use crate::format::{RenderOptions, Template};
use crate::output::json::{JsonFormat, JsonSink};
use crate::output::metrics::{ConnectionFacts as MetricConnection, RequestFacts};
use crate::output::report::{exchange_name, ConnectionFacts as ReportConnection, ExchangeFacts};
use crate::output::{OutputStage, Pipeline, RecordSink, TemplateSink};
use crate::run::AnalysisStats;
use crate::time::Timestamp;

/// What the reader asks of a worker.
pub enum ToWorker {
    /// Entries to process; then, when asked, a [`Report`].
    Batch(Batch, Option<Box<Ask>>),
    /// End of capture: `last_ts` is the run's last segment's time.
    Finish { last_ts: Timestamp },
}

/// A worker's channels: batches in and chunks out, and the emptied ones going back.
pub struct Channels {
    pub input: Receiver<ToWorker>,
    pub output: SyncSender<Chunk>,
    pub spare_batches: SyncSender<Batch>,
    pub spare_chunks: Receiver<Chunk>,
}

/// The reader's question at a synchronisation point (`-s` near its limit).
pub struct Ask {
    pub reply: Sender<Report>,
    /// Whether this segment would open a connection (payload left out).
    pub probe: Option<(SegmentHead, Option<Tunnels>)>,
}

/// A worker's state at a synchronisation point, once it has done everything before.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    pub worker: usize,
    pub tracked: usize,
    /// The creation index of the oldest connection tracked.
    pub oldest: Option<u64>,
    /// The answer to [`Ask::probe`].
    pub opens: bool,
}

/// Records and connection changes waiting to go to the merger, and the key the next one
/// gets.
struct Outbox {
    key: Key,
    /// In the idle phase and at the end, each event's key names its connection's
    /// creation index.
    by_connection: bool,
    /// The creation index of each tracked connection, by id (as long as the table's
    /// slots).
    creation: Vec<u64>,
    chunk: Chunk,
    /// Which rendering of a record comes next ([`StreamsHoles`]).
    pass: Pass,
    /// The first rendering of a record with `%streams`.
    first: Vec<u8>,
    out: SyncSender<Chunk>,
    /// Chunks the merger is done with.
    spare: Receiver<Chunk>,
}

/// The merger is gone (its output failed): stop.
fn stopped() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the merger stopped")
}

impl Outbox {
    fn creation_of(&self, conn: ConnId) -> u64 {
        self.creation.get(conn as usize).copied().unwrap_or(0)
    }

    fn push(&mut self, what: What) -> std::io::Result<()> {
        self.chunk.items.push(Item {
            key: self.key,
            what,
        });
        if self.chunk.bytes.len() >= CHUNK_BYTES || self.chunk.items.len() >= CHUNK_ITEMS {
            self.send()?;
        }
        Ok(())
    }

    /// Hands what is gathered to the merger (also when empty: the watermark moved).
    fn send(&mut self) -> std::io::Result<()> {
        let mut next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Chunk::with_capacity());
        next.watermark = self.chunk.watermark;
        let chunk = std::mem::replace(&mut self.chunk, next);
        self.out.send(chunk).map_err(|_| stopped())
    }
}

/// Which rendering of a record the record sink is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// The only one: the format has no `%streams`.
    Only,
    /// The first of two ([`StreamsHoles`]): kept aside.
    First,
    /// The second: compared with the first to find the `%streams` places.
    Second,
}

/// The worker's record sink: rendered records go to the outbox under the current key.
struct KeyedRecords(Rc<RefCell<Outbox>>);

impl RecordSink for KeyedRecords {
    fn record(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut outbox = self.0.borrow_mut();
        let o = &mut *outbox;
        match o.pass {
            Pass::Only => {
                let start = o.chunk.bytes.len();
                o.chunk.bytes.extend_from_slice(bytes);
                let end = o.chunk.bytes.len();
                o.push(What::Record {
                    start,
                    end,
                    holes: (0, 0),
                })
            }
            Pass::First => {
                o.first.clear();
                o.first.extend_from_slice(bytes);
                Ok(())
            }
            Pass::Second => {
                let start = o.chunk.bytes.len();
                o.chunk.bytes.extend_from_slice(&o.first);
                let end = o.chunk.bytes.len();
                let from = o.chunk.holes.len();
                // The renderings differ only in the digits of the two probe values.
                let mut i = 0;
                while i < o.first.len() {
                    if o.first.get(i) != bytes.get(i) {
                        o.chunk.holes.push(start + i);
                        i += HOLE_LEN;
                    } else {
                        i += 1;
                    }
                }
                let holes = (from as u32, o.chunk.holes.len() as u32);
                o.push(What::Record { start, end, holes })
            }
        }
    }
}

/// Renders each record twice when the format prints `%streams`, with the two
/// [`STREAMS_PROBES`] values: the record sink finds where they differ, and the merger,
/// which replays every worker's connections opened and ended in key order, writes the
/// count of all of them there (SPEC: connections tracked when the record is printed).
struct StreamsHoles<S> {
    inner: S,
    /// The format prints `%streams`.
    on: bool,
    outbox: Rc<RefCell<Outbox>>,
}

impl<S: ExchangeSink> StreamsHoles<S> {
    fn render(
        &mut self,
        record: &Exchange<'_>,
        sink: fn(&mut S, &Exchange<'_>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        if !self.on {
            return sink(&mut self.inner, record);
        }
        let mut probe = record.clone();
        let mut result = Ok(());
        for (pass, value) in [Pass::First, Pass::Second].into_iter().zip(STREAMS_PROBES) {
            probe.streams = value;
            self.outbox.borrow_mut().pass = pass;
            result = sink(&mut self.inner, &probe);
            if result.is_err() {
                break;
            }
        }
        self.outbox.borrow_mut().pass = Pass::Only;
        result
    }
}

impl<S: ExchangeSink> ExchangeSink for StreamsHoles<S> {
    fn exchange(&mut self, exchange: &Exchange<'_>) -> std::io::Result<()> {
        self.render(exchange, S::exchange)
    }

    fn connection(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        self.render(record, S::connection)
    }

    fn interim(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        self.render(record, S::interim)
    }

    crate::exchange::forward_exchange_sink!(
        inner: wants_payload,
        opening,
        open,
        request,
        response,
        closed,
        timed_out,
        truncated
    );
}

impl<S: OutputStage> OutputStage for StreamsHoles<S> {
    fn finish(&mut self) -> std::io::Result<()> {
        self.inner.finish()
    }

    fn record_failures(&self) -> u64 {
        self.inner.record_failures()
    }

    fn per_connection(&self) -> bool {
        self.inner.per_connection()
    }

    fn renders_records(&self) -> bool {
        self.inner.renders_records()
    }
}

/// What a worker keeps for the report and the metrics the merger builds (`--report`,
/// `--metrics-file`).
#[derive(Clone, Copy, Debug, Default)]
struct Tallies {
    report: bool,
    metrics: bool,
    /// The records go on to be rendered (not with `--report`, which replaces them).
    forward: bool,
}

/// Before the record sink: the facts the report and the metrics read of each record and
/// connection event go to the outbox under the current key, so that the merger adds
/// them up in the one-thread order; the records go on unless `--report` replaces them
/// (as [`crate::output::report::ReportSink`] and [`crate::output::metrics::Metered`]
/// do on one thread).
struct Tallied<S> {
    inner: S,
    tallies: Tallies,
    outbox: Rc<RefCell<Outbox>>,
}

impl<S> Tallied<S> {
    fn fact(&self, fact: Fact) -> std::io::Result<()> {
        let mut o = self.outbox.borrow_mut();
        let i = o.chunk.facts.len() as u32;
        o.chunk.facts.push(fact);
        o.push(What::Fact(i))
    }
}

impl<S: ExchangeSink> ExchangeSink for Tallied<S> {
    fn exchange(&mut self, e: &Exchange<'_>) -> std::io::Result<()> {
        let t = self.tallies;
        if t.report || t.metrics {
            let fact = {
                let mut o = self.outbox.borrow_mut();
                let bytes = &mut o.chunk.bytes;
                let name = match t.report && e.first {
                    true => exchange_name(e).map(|name| {
                        let start = bytes.len();
                        bytes.extend_from_slice(name);
                        (start, bytes.len())
                    }),
                    false => None,
                };
                Fact::Exchange {
                    report: t.report.then(|| ExchangeFacts::of(e)),
                    name,
                    request: match t.metrics {
                        true => RequestFacts::of(e).map(|r| HeldRequest::hold(&r, bytes)),
                        false => None,
                    },
                }
            };
            self.fact(fact)?;
        }
        match t.forward {
            true => self.inner.exchange(e),
            false => Ok(()),
        }
    }

    fn connection(&mut self, e: &Exchange<'_>) -> std::io::Result<()> {
        let t = self.tallies;
        if t.report || t.metrics {
            self.fact(Fact::Connection {
                report: t.report.then(|| ReportConnection::of(e)).flatten(),
                metrics: t.metrics.then(|| MetricConnection::of(e)).flatten(),
            })?;
        }
        match t.forward {
            true => self.inner.connection(e),
            false => Ok(()),
        }
    }

    fn interim(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        match self.tallies.forward {
            true => self.inner.interim(record),
            false => Ok(()),
        }
    }

    fn opening(
        &mut self,
        conn: ConnId,
        exchange: u64,
        client: Endpoint,
        server: Endpoint,
        ts: Timestamp,
    ) -> std::io::Result<()> {
        if self.tallies.metrics {
            self.fact(Fact::Opening { conn, server })?;
        }
        self.inner.opening(conn, exchange, client, server, ts)
    }

    fn closed(&mut self, conn: ConnId, ts: Timestamp, by: Direction) -> std::io::Result<()> {
        if self.tallies.metrics {
            self.fact(Fact::Ended { conn })?;
        }
        self.inner.closed(conn, ts, by)
    }

    fn timed_out(&mut self, conn: ConnId, ts: Timestamp) -> std::io::Result<()> {
        if self.tallies.metrics {
            self.fact(Fact::Ended { conn })?;
        }
        self.inner.timed_out(conn, ts)
    }

    fn truncated(&mut self, conn: ConnId) -> std::io::Result<()> {
        if self.tallies.metrics {
            self.fact(Fact::Ended { conn })?;
        }
        self.inner.truncated(conn)
    }

    crate::exchange::forward_exchange_sink!(inner: wants_payload, open, request, response);
}

impl<S: OutputStage> OutputStage for Tallied<S> {
    fn finish(&mut self) -> std::io::Result<()> {
        self.inner.finish()
    }

    fn record_failures(&self) -> u64 {
        self.inner.record_failures()
    }

    fn per_connection(&self) -> bool {
        self.inner.per_connection()
    }

    fn renders_records(&self) -> bool {
        self.tallies.forward && self.inner.renders_records()
    }
}

/// Between the flow table and the tracker: notes creations and ends, and keys the
/// events of the idle phase and the end by connection.
struct Tap<'a, P> {
    pipeline: &'a mut P,
    outbox: &'a RefCell<Outbox>,
}

impl<P: Pipeline> Tap<'_, P> {
    fn keyed(&mut self, conn: ConnId) {
        let mut outbox = self.outbox.borrow_mut();
        if outbox.by_connection {
            outbox.key.sub = outbox.creation_of(conn);
        }
    }
}

impl<P: Pipeline> FlowEventSink for Tap<'_, P> {
    fn event(&mut self, event: FlowEvent<'_>) -> std::io::Result<()> {
        self.keyed(event.conn);
        match event.kind {
            FlowEventKind::Opening { .. } => {
                let mut outbox = self.outbox.borrow_mut();
                let at = outbox.key.index;
                let slot = event.conn as usize;
                if outbox.creation.len() <= slot {
                    outbox.creation.resize(slot + 1, 0);
                }
                if let Some(c) = outbox.creation.get_mut(slot) {
                    *c = at;
                }
                outbox.push(What::Opened)?;
            }
            FlowEventKind::Closed { .. }
            | FlowEventKind::TimedOut
            | FlowEventKind::IdleTimedOut
            | FlowEventKind::Truncated => {
                // After the records it prints: they still count the connection.
                self.pipeline.event(event)?;
                return self.outbox.borrow_mut().push(What::Ended);
            }
            FlowEventKind::Established | FlowEventKind::Data { .. } | FlowEventKind::Gap { .. } => {
            }
        }
        self.pipeline.event(event)
    }

    fn lifecycle(&mut self, conn: ConnId, lifecycle: &Lifecycle) -> std::io::Result<()> {
        self.keyed(conn);
        self.pipeline.lifecycle(conn, lifecycle)
    }

    fn picked_up_mid_stream(&mut self, conn: ConnId) {
        self.pipeline.picked_up_mid_stream(conn);
    }
}

/// A worker's part of the run: a flow table and an exchange tracker for the connections
/// it is given, rendering records into the outbox under the key set before each step.
/// The file path feeds it batches ([`run`]); the live path its own fanout member
/// (`live.rs`).
pub struct Worker<'a, S> {
    options: &'a Options,
    flows: FlowTable,
    tracker: ExchangeTracker<S>,
    outbox: Rc<RefCell<Outbox>>,
}

impl<'a, S: OutputStage> Worker<'a, S> {
    /// A worker whose table has `config` (the run's, with the limits this worker keeps),
    /// rendering through `sink` into `outbox`.
    fn new(
        options: &'a Options,
        config: FlowConfig,
        sink: S,
        needs: Needs,
        outbox: Rc<RefCell<Outbox>>,
    ) -> Self {
        let mut tracker = ExchangeTracker::with_mode(needs, options.exchanges, sink)
            .with_options(options.analyzers);
        // As `run::process`: the report and the metrics read connection records; their
        // keep-alive values only when records are rendered.
        if options.report.enabled() {
            let values = options.connections && !options.report.text;
            tracker = tracker.with_connection_records(values);
        } else if options.connections || options.metrics_file.is_some() {
            tracker = tracker.with_connection_records(options.connections);
        }
        Worker {
            options,
            flows: FlowTable::new(config).with_external_clock(),
            tracker,
            outbox,
        }
    }

    /// Segment `index` through the table.
    pub fn segment(&mut self, index: u64, seg: &Segment<'_>) -> std::io::Result<()> {
        set(&self.outbox, index, PHASE_PACKET, SUB_OWN, false);
        let mut tap = Tap {
            pipeline: &mut self.tracker,
            outbox: &self.outbox,
        };
        // Only a SYN, or any packet with -m, may open a connection.
        if self.options.midstream || seg.flags.syn() {
            tap.pipeline.seen_in(seg.tunnel);
        }
        self.flows.process(seg, &mut tap)
    }

    /// Whether `seg` would open a connection here: it belongs to none this worker
    /// tracks and may start one.
    pub fn would_open(&self, seg: &Segment<'_>) -> bool {
        self.flows.would_open(seg)
    }

    /// `--open-report` at `index`: an interim record of every open connection at `now`.
    pub fn open_report(&mut self, index: u64, now: Timestamp) -> std::io::Result<()> {
        let streams = self.flows.tracked();
        for (conn, lifecycle) in self.flows.open_connections() {
            let sub = self.outbox.borrow().creation_of(conn);
            set(&self.outbox, index, PHASE_OPEN_REPORT, sub, false);
            self.tracker.report_open(conn, &lifecycle, now, streams)?;
        }
        Ok(())
    }

    /// The idle check at `index`, as of `now`.
    pub fn idle(&mut self, index: u64, now: Timestamp) -> std::io::Result<()> {
        set(&self.outbox, index, PHASE_IDLE, 0, true);
        let mut tap = Tap {
            pipeline: &mut self.tracker,
            outbox: &self.outbox,
        };
        self.flows.expire_idle_at(now, &mut tap)
    }

    /// Ends the oldest connection of this worker at `index` (`-s`).
    pub fn evict(&mut self, index: u64, ts: Timestamp) -> std::io::Result<()> {
        set(&self.outbox, index, PHASE_PACKET, SUB_EVICTION, false);
        let mut tap = Tap {
            pipeline: &mut self.tracker,
            outbox: &self.outbox,
        };
        self.flows.evict_oldest(ts, &mut tap)
    }

    /// End of capture at `last_ts`: idle connections, then every open one as truncated,
    /// keyed after everything else; the last chunk goes to the merger.
    pub fn finish(&mut self, last_ts: Timestamp) -> std::io::Result<()> {
        let mut tap = Tap {
            pipeline: &mut self.tracker,
            outbox: &self.outbox,
        };
        if self.options.idle_timeout.is_some() {
            set(&self.outbox, END, PHASE_IDLE, 0, true);
            self.flows.expire_idle_at(last_ts, &mut tap)?;
        }
        set(&self.outbox, END, PHASE_PACKET, 0, true);
        self.flows.finish_at(last_ts, &mut tap)?;
        self.tracker.finish()?;
        self.hand_over(END)
    }

    /// Hands what is gathered to the merger, saying that nothing will follow with a key
    /// index below (file path: at or below) `watermark`.
    pub fn hand_over(&mut self, watermark: u64) -> std::io::Result<()> {
        let mut o = self.outbox.borrow_mut();
        o.chunk.watermark = watermark;
        o.send()
    }

    /// This worker's count, oldest connection and whether `probe` would open one.
    fn report(&self, worker: usize, probe: Option<&(SegmentHead, Option<Tunnels>)>) -> Report {
        let oldest = self
            .flows
            .oldest()
            .map(|id| self.outbox.borrow().creation_of(id));
        let opens = probe
            .is_some_and(|(head, tunnel)| self.flows.would_open(&head.with(&[], tunnel.as_ref())));
        Report {
            worker,
            tracked: self.flows.tracked(),
            oldest,
            opens,
        }
    }

    /// The counters, at the end.
    pub fn stats(&self) -> AnalysisStats {
        AnalysisStats::of(&self.flows, &self.tracker)
    }
}

/// The key of what `outbox` gets next; `by_connection`: each event's sub-key is its
/// connection's creation index instead.
fn set(outbox: &RefCell<Outbox>, index: u64, phase: u8, sub: u64, by_connection: bool) {
    let mut o = outbox.borrow_mut();
    o.key = Key { index, phase, sub };
    o.by_connection = by_connection;
}

/// What runs a [`Worker`] once it is built: generic over the record sink the options
/// chose (template or JSON lines).
pub trait Drive {
    type Out;
    fn drive<S: OutputStage>(self, worker: Worker<'_, S>) -> std::io::Result<Self::Out>;
}

/// Builds a worker whose table has `config`, with the sinks of the one-thread path
/// without OTLP (`run::process`) rendering into chunks for `output` (the report's and
/// the metrics' facts among them), and hands it to `drive`.
pub fn start<D: Drive>(
    options: &Options,
    render: RenderOptions,
    config: FlowConfig,
    output: SyncSender<Chunk>,
    spare_chunks: Receiver<Chunk>,
    drive: D,
) -> std::io::Result<D::Out> {
    // The format parsed when the run was prepared: it parses again.
    let template = Template::parse(&options.format)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let outbox = Rc::new(RefCell::new(Outbox {
        key: Key::default(),
        by_connection: false,
        creation: Vec::new(),
        chunk: Chunk::with_capacity(),
        pass: Pass::Only,
        first: Vec::new(),
        out: output,
        spare: spare_chunks,
    }));
    let records = KeyedRecords(Rc::clone(&outbox));
    let tallies = Tallies {
        report: options.report.enabled(),
        metrics: options.metrics_file.is_some(),
        forward: !options.report.text,
    };
    let streams = template.keyword_names().contains(&"streams");
    if options.json {
        let format = match (options.json_fields, options.json_all) {
            (true, _) => JsonFormat::selected(&template),
            (false, true) => JsonFormat::new(),
            (false, false) => JsonFormat::default_fields(),
        };
        let sink = JsonSink::new(format, records, options.connections);
        let needs = connection_needs(sink.needs(), options);
        let sink = StreamsHoles {
            inner: sink,
            // The default fields leave out `streams`.
            on: options.json_all || (options.json_fields && streams),
            outbox: Rc::clone(&outbox),
        };
        let sink = Tallied {
            inner: sink,
            tallies,
            outbox: Rc::clone(&outbox),
        };
        return drive.drive(Worker::new(options, config, sink, needs, outbox));
    }
    let needs = connection_needs(template.needs(), options);
    let sink = StreamsHoles {
        inner: TemplateSink::new(template, render, records).per_connection(options.connections),
        on: streams,
        outbox: Rc::clone(&outbox),
    };
    let sink = Tallied {
        inner: sink,
        tallies,
        outbox: Rc::clone(&outbox),
    };
    drive.drive(Worker::new(options, config, sink, needs, outbox))
}

/// What the exchange layer keeps for `needs`, and for connection records.
fn connection_needs(mut needs: Needs, options: &Options) -> Needs {
    if options.connections || options.report.enabled() || options.metrics_file.is_some() {
        // Connection records read the first exchange's keep-alive headers; metrics
        // read every exchange's first lines; the report names services by Host.
        needs.request.header = true;
        needs.response.header = true;
    }
    needs
}

/// A worker of a capture file: fed by the reader's batches.
struct FromReader {
    worker: usize,
    input: Receiver<ToWorker>,
    spare_batches: SyncSender<Batch>,
}

impl Drive for FromReader {
    type Out = AnalysisStats;

    fn drive<S: OutputStage>(self, mut w: Worker<'_, S>) -> std::io::Result<AnalysisStats> {
        for message in self.input {
            match message {
                ToWorker::Batch(mut batch, ask) => {
                    for entry in &batch.entries {
                        match *entry {
                            Entry::Segment { index, head } => {
                                w.segment(index, &batch.segment(&head))?
                            }
                            Entry::OpenReport { index, now } => w.open_report(index, now)?,
                            Entry::Idle { index, now } => w.idle(index, now)?,
                            Entry::Evict { index, ts } => w.evict(index, ts)?,
                        }
                    }
                    w.hand_over(batch.upto)?;
                    batch.clear();
                    // The reader allocates another when none is back.
                    let _ = self.spare_batches.try_send(batch);
                    if let Some(ask) = ask {
                        // The reader may have stopped waiting.
                        let _ = ask.reply.send(w.report(self.worker, ask.probe.as_ref()));
                    }
                }
                ToWorker::Finish { last_ts } => {
                    w.finish(last_ts)?;
                    break;
                }
            }
        }
        Ok(w.stats())
    }
}

/// Runs one worker until the reader finishes or the merger stops.
pub fn run(
    worker: usize,
    options: &Options,
    render: RenderOptions,
    channels: Channels,
) -> std::io::Result<AnalysisStats> {
    let Channels {
        input,
        output,
        spare_batches,
        spare_chunks,
    } = channels;
    let mut config = crate::run::flow_config(options);
    // Eviction is the reader's decision (the oldest connection of all).
    config.max_streams = usize::MAX;
    let drive = FromReader {
        worker,
        input,
        spare_batches,
    };
    start(options, render, config, output, spare_chunks, drive)
}
