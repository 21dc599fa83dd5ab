//! Output sinks: where rendered records go.
//!
//! The exchange layer hands [`Exchange`]s to an [`ExchangeSink`]; [`TemplateSink`]
//! renders them through the format and passes the bytes to a [`RecordSink`]: standard
//! output ([`WriterSink`]), an `-e` command ([`command::CommandSink`]) or a `-P` Python
//! function ([`python::FunctionSink`]). `%python(...)` handlers ([`python::Handlers`]) see
//! every flow event through [`python::Events`] and give the template their texts through
//! [`RecordValues`]. [`Extensions`] checks and starts all of SPEC §7 (`-e`, `-U`, `-P`,
//! `%python`).

use std::io::Write;

use crate::exchange::{Exchange, ExchangeSink, ExchangeTracker};
use crate::flow::FlowEventSink;
use crate::format::{RenderOptions, Template};

pub mod command;
mod error;
mod extensions;
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
    out: std::io::BufWriter<W>,
    flush_each: bool,
}

impl<W: Write> WriterSink<W> {
    pub fn new(out: W, flush_each: bool) -> Self {
        WriterSink {
            out: std::io::BufWriter::with_capacity(256 * 1024, out),
            flush_each,
        }
    }
}

impl<W: Write> RecordSink for WriterSink<W> {
    fn record(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        if self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Texts a record takes from outside its exchange: what `%python(...)` handlers return.
pub trait RecordValues {
    /// Called when the record of `exchange` is due, just before it is rendered: the text
    /// of each `%python(...)` of the format, by slot (`None`: not found).
    fn values(&mut self, exchange: &Exchange<'_>) -> &[Option<Vec<u8>>];

    /// After the last record.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
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

/// Renders each exchange through the template and passes the record on.
pub struct TemplateSink<R, V = NoValues> {
    template: Template,
    options: RenderOptions,
    buffer: Vec<u8>,
    records: R,
    values: V,
}

impl<R: RecordSink> TemplateSink<R> {
    pub fn new(template: Template, options: RenderOptions, records: R) -> Self {
        TemplateSink {
            template,
            options,
            buffer: Vec::with_capacity(4096),
            records,
            values: NoValues,
        }
    }

    /// The same sink, with `values` for the `%python(...)` keywords.
    pub fn with_values<V: RecordValues>(self, values: V) -> TemplateSink<R, V> {
        TemplateSink {
            template: self.template,
            options: self.options,
            buffer: self.buffer,
            records: self.records,
            values,
        }
    }
}

impl<R: RecordSink, V: RecordValues> TemplateSink<R, V> {
    pub fn records_mut(&mut self) -> &mut R {
        &mut self.records
    }

    pub fn records(&self) -> &R {
        &self.records
    }

    pub fn values_mut(&mut self) -> &mut V {
        &mut self.values
    }

    /// After the last record: the values' source, then the records, are finished.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.values.finish()?;
        self.records.finish()
    }
}

impl<R: RecordSink, V: RecordValues> ExchangeSink for TemplateSink<R, V> {
    fn exchange(&mut self, exchange: &Exchange<'_>) -> std::io::Result<()> {
        self.buffer.clear();
        let values = self.values.values(exchange);
        self.template
            .render_with(exchange, &self.options, values, &mut self.buffer);
        self.records.record(&self.buffer)
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
}

impl<R: RecordSink, V: RecordValues> Pipeline for ExchangeTracker<TemplateSink<R, V>> {
    fn finish(&mut self) -> std::io::Result<()> {
        self.sink_mut().finish()
    }
    fn refused_bytes(&self) -> u64 {
        ExchangeTracker::refused_bytes(self)
    }
    fn records(&self) -> u64 {
        self.exchanges()
    }
    fn record_failures(&self) -> u64 {
        self.sink().records().failures()
    }
}

/// Writes one warning line on standard error, ignoring a closed standard error (a
/// warning must never stop the run, nor panic as `eprintln!` would).
pub(crate) fn warn(message: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "rustniffer: {message}");
}
