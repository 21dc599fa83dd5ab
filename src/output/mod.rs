//! Output sinks: where rendered records go.
//!
//! The exchange layer hands [`Exchange`]s to an [`ExchangeSink`]; [`TemplateSink`]
//! renders them through the format and passes the bytes to a [`RecordSink`] (standard
//! output today; `-e` commands, Python and structured writers are further sinks).

use std::io::Write;

use crate::exchange::{Exchange, ExchangeSink};
use crate::format::{RenderOptions, Template};

/// Receives rendered records (each already carrying its newline, unless `-N`).
pub trait RecordSink {
    fn record(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
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

/// Renders each exchange through the template and passes the record on.
pub struct TemplateSink<R> {
    template: Template,
    options: RenderOptions,
    buffer: Vec<u8>,
    records: R,
}

impl<R: RecordSink> TemplateSink<R> {
    pub fn new(template: Template, options: RenderOptions, records: R) -> Self {
        TemplateSink {
            template,
            options,
            buffer: Vec::with_capacity(4096),
            records,
        }
    }

    pub fn records_mut(&mut self) -> &mut R {
        &mut self.records
    }
}

impl<R: RecordSink> ExchangeSink for TemplateSink<R> {
    fn exchange(&mut self, exchange: &Exchange<'_>) -> std::io::Result<()> {
        self.buffer.clear();
        self.template
            .render(exchange, &self.options, &mut self.buffer);
        self.records.record(&self.buffer)
    }
}
