//! Output sinks: where rendered records go.
//!
//! The exchange layer hands [`Exchange`]s to an [`ExchangeSink`]; [`TemplateSink`]
//! renders them through the format and passes the bytes to a [`RecordSink`]: standard
//! output ([`WriterSink`]), an `-e` command ([`command::CommandSink`]) or a `-P` Python
//! function ([`python::FunctionSink`]). `%python(...)` handlers ([`python::Handlers`]) are
//! a [`RecordValues`]: they follow the exchanges through the tracker's events, which
//! [`TemplateSink`] passes on, and give the template their texts. [`Extensions`] checks and starts all of SPEC §7 (`-e`, `-U`, `-P`,
//! `%python`).

use std::io::Write;

use crate::decode::Endpoint;
use crate::exchange::{Exchange, ExchangeSink, ExchangeTracker};
use crate::flow::{ConnId, Direction, FlowEventSink};
use crate::format::{RenderOptions, Template};
use crate::time::Timestamp;

pub mod command;
mod error;
mod extensions;
pub mod json;
pub mod metrics;
#[cfg(feature = "otlp")]
pub mod otlp;
// The default build: the same names, the exporter uninhabited, and an error naming the
// feature.
#[cfg(not(feature = "otlp"))]
#[path = "otlp_disabled.rs"]
pub mod otlp;
pub mod report;
pub mod user;

#[cfg(feature = "python")]
pub mod python;
// The default build: the same names, uninhabited, and an error naming the feature.
#[cfg(not(feature = "python"))]
#[path = "python_disabled.rs"]
pub mod python;

pub use error::{ExtensionError, PythonStep, SpecProblem};
pub use extensions::{Extensions, Output, Started};

/// Receives rendered records (each already carrying its newline, unless `-N`).
pub trait RecordSink {
    fn record(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// The sink's own buffer of records not yet written, where it has one: a record may
    /// be appended to it in place, then [`RecordSink::commit`]ted, instead of being
    /// written aside and copied in by [`RecordSink::record`].
    fn buffer(&mut self) -> Option<&mut Vec<u8>> {
        None
    }
    /// After a record was appended to [`RecordSink::buffer`].
    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Records this sink failed to deliver (an `-e` command that failed), for the
    /// end-of-run summary.
    fn failures(&self) -> u64 {
        0
    }
}

/// Writes records to a stream, buffered; `flush_each` makes every record visible at
/// once (live capture).
pub struct WriterSink<W: Write> {
    out: W,
    /// Records not yet written out: written out once it holds [`WRITER_BUFFER`] bytes
    /// (records are appended whole, so it may hold one record more).
    pending: Vec<u8>,
    flush_each: bool,
}

/// How many bytes [`WriterSink`] gathers before writing them out.
const WRITER_BUFFER: usize = 256 * 1024;

impl<W: Write> WriterSink<W> {
    pub fn new(out: W, flush_each: bool) -> Self {
        WriterSink {
            out,
            pending: Vec::with_capacity(WRITER_BUFFER + 4096),
            flush_each,
        }
    }

    /// Writes out what is pending; emptied even on an error, so that it stays bounded.
    #[inline(never)]
    fn write_pending(&mut self) -> std::io::Result<()> {
        let written = self.out.write_all(&self.pending);
        self.pending.clear();
        written
    }
}

impl<W: Write> RecordSink for WriterSink<W> {
    #[inline]
    fn record(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.pending.extend_from_slice(bytes);
        self.commit()
    }

    #[inline]
    fn buffer(&mut self) -> Option<&mut Vec<u8>> {
        Some(&mut self.pending)
    }

    #[inline]
    fn commit(&mut self) -> std::io::Result<()> {
        if self.flush_each {
            self.write_pending()?;
            self.out.flush()?;
        } else if self.pending.len() >= WRITER_BUFFER {
            self.write_pending()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.write_pending()?;
        self.out.flush()
    }
}

impl<W: Write> Drop for WriterSink<W> {
    /// What is pending goes out, as a `BufWriter` would on drop (errors ignored: there is
    /// no one to tell).
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.write_pending();
            let _ = self.out.flush();
        }
    }
}

/// Texts a record takes from outside its exchange: what `%python(...)` handlers return.
///
/// A source of values may follow the exchanges as they are built: [`TemplateSink`]
/// passes on the tracker's events ([`ExchangeSink`], same order and meaning), whose
/// defaults here do nothing. A source of values never stops the run: its events return
/// nothing.
pub trait RecordValues {
    /// Called when the record of `exchange` is due, just before it is rendered: the text
    /// of each `%python(...)` of the format, by slot (`None`: not found).
    fn values(&mut self, exchange: &Exchange<'_>) -> &[Option<Vec<u8>>];

    /// After the last record.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// [`ExchangeSink::wants_payload`].
    fn wants_payload(&self) -> bool {
        false
    }

    /// [`ExchangeSink::opening`].
    fn opening(
        &mut self,
        conn: ConnId,
        exchange: u64,
        client: Endpoint,
        server: Endpoint,
        ts: Timestamp,
    ) {
        let _ = (conn, exchange, client, server, ts);
    }

    /// [`ExchangeSink::open`].
    fn open(&mut self, conn: ConnId, ts: Timestamp) {
        let _ = (conn, ts);
    }

    /// [`ExchangeSink::request`].
    fn request(&mut self, conn: ConnId, exchange: u64, bytes: &[u8], ts: Timestamp) {
        let _ = (conn, exchange, bytes, ts);
    }

    /// [`ExchangeSink::response`].
    fn response(&mut self, conn: ConnId, exchange: u64, bytes: &[u8], ts: Timestamp) {
        let _ = (conn, exchange, bytes, ts);
    }

    /// [`ExchangeSink::closed`].
    fn closed(&mut self, conn: ConnId, ts: Timestamp, by: Direction) {
        let _ = (conn, ts, by);
    }

    /// [`ExchangeSink::timed_out`].
    fn timed_out(&mut self, conn: ConnId, ts: Timestamp) {
        let _ = (conn, ts);
    }

    /// [`ExchangeSink::truncated`].
    fn truncated(&mut self, conn: ConnId) {
        let _ = conn;
    }
}

/// No outside values: formats without `%python(...)`. Costs nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoValues;

impl RecordValues for NoValues {
    fn values(&mut self, _: &Exchange<'_>) -> &[Option<Vec<u8>>] {
        &[]
    }
}

/// Values when there is a source, none otherwise (the `%python(...)` handlers when the
/// format has some). Without the `python` feature the source cannot exist and this is
/// [`NoValues`].
impl<V: RecordValues> RecordValues for Option<V> {
    fn values(&mut self, exchange: &Exchange<'_>) -> &[Option<Vec<u8>>] {
        match self {
            Some(v) => v.values(exchange),
            None => &[],
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        match self {
            Some(v) => v.finish(),
            None => Ok(()),
        }
    }

    fn wants_payload(&self) -> bool {
        self.as_ref().is_some_and(V::wants_payload)
    }

    fn opening(
        &mut self,
        conn: ConnId,
        id: u64,
        client: Endpoint,
        server: Endpoint,
        ts: Timestamp,
    ) {
        if let Some(v) = self {
            v.opening(conn, id, client, server, ts);
        }
    }

    fn open(&mut self, conn: ConnId, ts: Timestamp) {
        if let Some(v) = self {
            v.open(conn, ts);
        }
    }

    fn request(&mut self, conn: ConnId, exchange: u64, bytes: &[u8], ts: Timestamp) {
        if let Some(v) = self {
            v.request(conn, exchange, bytes, ts);
        }
    }

    fn response(&mut self, conn: ConnId, exchange: u64, bytes: &[u8], ts: Timestamp) {
        if let Some(v) = self {
            v.response(conn, exchange, bytes, ts);
        }
    }

    fn closed(&mut self, conn: ConnId, ts: Timestamp, by: Direction) {
        if let Some(v) = self {
            v.closed(conn, ts, by);
        }
    }

    fn timed_out(&mut self, conn: ConnId, ts: Timestamp) {
        if let Some(v) = self {
            v.timed_out(conn, ts);
        }
    }

    fn truncated(&mut self, conn: ConnId) {
        if let Some(v) = self {
            v.truncated(conn);
        }
    }
}

/// Renders each exchange through the template and passes the record on.
pub struct TemplateSink<R, V = NoValues> {
    /// Render connection records (`--connections`) instead of exchange records.
    per_connection: bool,
    template: Template,
    options: RenderOptions,
    buffer: Vec<u8>,
    records: R,
    values: V,
}

impl<R: RecordSink> TemplateSink<R> {
    pub fn new(template: Template, options: RenderOptions, records: R) -> Self {
        TemplateSink {
            per_connection: false,
            template,
            options,
            buffer: Vec::with_capacity(4096),
            records,
            values: NoValues,
        }
    }

    /// The same sink, rendering one record per connection (`--connections`) instead of
    /// one per exchange.
    pub fn per_connection(mut self, yes: bool) -> Self {
        self.per_connection = yes;
        self
    }

    /// The same sink, with `values` for the `%python(...)` keywords.
    pub fn with_values<V: RecordValues>(self, values: V) -> TemplateSink<R, V> {
        TemplateSink {
            per_connection: self.per_connection,
            template: self.template,
            options: self.options,
            buffer: self.buffer,
            records: self.records,
            values,
        }
    }
}

impl<R: RecordSink, V: RecordValues> TemplateSink<R, V> {
    fn render(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        self.buffer.clear();
        let values = self.values.values(record);
        self.template
            .render_with(record, &self.options, values, &mut self.buffer);
        self.records.record(&self.buffer)
    }

    pub fn records_mut(&mut self) -> &mut R {
        &mut self.records
    }

    pub fn records(&self) -> &R {
        &self.records
    }

    pub fn values_mut(&mut self) -> &mut V {
        &mut self.values
    }
}

/// Renders records; the exchanges' events go to the values' source.
impl<R: RecordSink, V: RecordValues> ExchangeSink for TemplateSink<R, V> {
    fn exchange(&mut self, exchange: &Exchange<'_>) -> std::io::Result<()> {
        if self.per_connection {
            return Ok(());
        }
        self.render(exchange)
    }

    fn connection(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        if !self.per_connection {
            return Ok(());
        }
        self.render(record)
    }

    fn interim(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        // `%python(...)` handlers see final records only: not found here.
        self.buffer.clear();
        self.template
            .render_with(record, &self.options, &[], &mut self.buffer);
        self.records.record(&self.buffer)
    }

    fn wants_payload(&self) -> bool {
        self.values.wants_payload()
    }

    fn opening(
        &mut self,
        conn: ConnId,
        exchange: u64,
        client: Endpoint,
        server: Endpoint,
        ts: Timestamp,
    ) -> std::io::Result<()> {
        self.values.opening(conn, exchange, client, server, ts);
        Ok(())
    }

    fn open(&mut self, conn: ConnId, ts: Timestamp) -> std::io::Result<()> {
        self.values.open(conn, ts);
        Ok(())
    }

    fn request(
        &mut self,
        conn: ConnId,
        exchange: u64,
        bytes: &[u8],
        ts: Timestamp,
    ) -> std::io::Result<()> {
        self.values.request(conn, exchange, bytes, ts);
        Ok(())
    }

    fn response(
        &mut self,
        conn: ConnId,
        exchange: u64,
        bytes: &[u8],
        ts: Timestamp,
    ) -> std::io::Result<()> {
        self.values.response(conn, exchange, bytes, ts);
        Ok(())
    }

    fn closed(&mut self, conn: ConnId, ts: Timestamp, by: Direction) -> std::io::Result<()> {
        self.values.closed(conn, ts, by);
        Ok(())
    }

    fn timed_out(&mut self, conn: ConnId, ts: Timestamp) -> std::io::Result<()> {
        self.values.timed_out(conn, ts);
        Ok(())
    }

    fn truncated(&mut self, conn: ConnId) -> std::io::Result<()> {
        self.values.truncated(conn);
        Ok(())
    }
}

/// The last stage of a pipeline, as the run loop sees it: an exchange sink it finishes
/// after the last event and asks for the records it failed to deliver. Any such sink
/// behind an [`ExchangeTracker`] makes a [`Pipeline`].
pub trait OutputStage: ExchangeSink {
    /// After the last record: flush whatever is still held.
    fn finish(&mut self) -> std::io::Result<()>;

    /// Records that could not be delivered (an `-e` command that failed).
    fn record_failures(&self) -> u64 {
        0
    }

    /// Whether the records are connections' (`--connections`) rather than exchanges'.
    fn per_connection(&self) -> bool {
        false
    }

    /// The run loop's own counters so far (for metrics).
    fn health(&mut self, health: metrics::Health) {
        let _ = health;
    }

    /// Whether records are rendered at all (not with `--report`, which prints the
    /// report instead).
    fn renders_records(&self) -> bool {
        true
    }
}

impl<R: RecordSink, V: RecordValues> OutputStage for TemplateSink<R, V> {
    fn per_connection(&self) -> bool {
        self.per_connection
    }

    /// The values' source, then the records, are finished.
    fn finish(&mut self) -> std::io::Result<()> {
        self.values.finish()?;
        self.records.finish()
    }

    fn record_failures(&self) -> u64 {
        self.records.failures()
    }
}

/// What the run loop feeds flow events to: the exchange tracker and everything after it.
pub trait Pipeline: FlowEventSink {
    /// After the last event: flush whatever the sinks still hold.
    fn finish(&mut self) -> std::io::Result<()>;
    /// Payload bytes the template wanted kept but that a bound refused.
    fn refused_bytes(&self) -> u64;
    /// Records rendered and handed to the record sink.
    fn records(&self) -> u64;
    /// Of those, records the record sink failed to deliver ([`RecordSink::failures`]).
    fn record_failures(&self) -> u64;
    /// Requests beyond a connection's pipeline bound (`messages` mode).
    fn pipeline_overflow(&self) -> u64;
    /// The run loop's own counters so far (for metrics).
    fn health(&mut self, health: metrics::Health);
    /// The encapsulations of the packet about to be processed (`%tunnel`).
    fn seen_in(&mut self, tunnel: Option<&crate::decode::Tunnels>);
    /// An interim record of connection `conn`, still open (`--open-report`).
    fn report_open(
        &mut self,
        conn: crate::flow::ConnId,
        lifecycle: &crate::flow::Lifecycle,
        now: Timestamp,
        streams: usize,
    ) -> std::io::Result<()>;
    /// Exchanges beyond a connection's bound of open exchanges (HTTP/2 streams).
    fn open_overflow(&self) -> u64;
}

impl<S: OutputStage> Pipeline for ExchangeTracker<S> {
    fn health(&mut self, health: metrics::Health) {
        self.sink_mut().health(health);
    }

    fn seen_in(&mut self, tunnel: Option<&crate::decode::Tunnels>) {
        ExchangeTracker::seen_in(self, tunnel)
    }
    fn report_open(
        &mut self,
        conn: crate::flow::ConnId,
        lifecycle: &crate::flow::Lifecycle,
        now: Timestamp,
        streams: usize,
    ) -> std::io::Result<()> {
        ExchangeTracker::report_open(self, conn, lifecycle, now, streams)
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.sink_mut().finish()
    }
    fn refused_bytes(&self) -> u64 {
        ExchangeTracker::refused_bytes(self)
    }
    fn records(&self) -> u64 {
        if !self.sink().renders_records() {
            0
        } else if self.sink().per_connection() {
            self.connection_records()
        } else {
            self.exchanges()
        }
    }
    fn record_failures(&self) -> u64 {
        self.sink().record_failures()
    }
    fn pipeline_overflow(&self) -> u64 {
        ExchangeTracker::pipeline_overflow(self)
    }
    fn open_overflow(&self) -> u64 {
        ExchangeTracker::open_overflow(self)
    }
}

/// Writes one warning line on standard error, ignoring a closed standard error (a
/// warning must never stop the run, nor panic as `eprintln!` would).
pub(crate) fn warn(message: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "rustniffer: {message}");
}
