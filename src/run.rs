//! Wiring: capture → decode → flow → exchange → format → output, and the summary
//! reported on standard error at exit.

use std::fmt;

use crate::capture::{file, CaptureError, Next, PacketSource};
use crate::cli::{Input, Options};
use crate::decode::Decoder;
use crate::exchange::ExchangeTracker;
use crate::filter::Filter;
use crate::flow::{FlowConfig, FlowTable};
use crate::format::{RenderOptions, Template};
use crate::output::{python, Extensions, Output, Pipeline, RecordSink, TemplateSink, WriterSink};

/// Why a run could not start or had to stop: one line for standard error, exit 1.
#[derive(Debug)]
pub enum RunError {
    Usage(String),
    Format(String),
    Filter(String),
    Capture(CaptureError),
    Output(std::io::Error),
    Unsupported(String),
    /// `-e`, `-U`, `-P`, `%python` (SPEC §7).
    Extension(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Usage(m) | RunError::Format(m) | RunError::Filter(m) => f.write_str(m),
            RunError::Unsupported(m) | RunError::Extension(m) => f.write_str(m),
            RunError::Capture(e) => write!(f, "{e}"),
            RunError::Output(e) => write!(f, "writing output: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

/// What a finished run reports on standard error.
#[derive(Debug, Default)]
pub struct Summary {
    /// Lines to print (warnings and counters worth a user's attention).
    pub notes: Vec<String>,
}

/// Everything built from the options before the first packet: errors surface here.
pub struct Prepared {
    template: Template,
    render: RenderOptions,
    filter: Option<Filter>,
    extensions: Extensions,
    /// The `%python(...)` handlers, once [`Extensions::start`] loaded them.
    python: Option<python::Handlers>,
}

/// Checks the options and compiles the format and filter (SPEC §8: before any packet).
pub fn prepare(options: &Options) -> Result<Prepared, RunError> {
    let template = Template::parse(&options.format).map_err(|e| RunError::Format(e.to_string()))?;
    let extensions = Extensions::check(
        options.execute.as_deref(),
        options.user.as_deref(),
        options.python.as_deref(),
        &template,
    )
    .map_err(RunError::Extension)?;
    let filter = match &options.filter {
        Some(expr) => Some(Filter::compile(expr).map_err(|e| RunError::Filter(e.to_string()))?),
        None => None,
    };
    let render = RenderOptions {
        not_found: options.not_found.clone().into_bytes(),
        encoding: options.encoding,
        newline: options.newline,
    };
    Ok(Prepared {
        template,
        render,
        filter,
        extensions,
        python: None,
    })
}

/// Runs the whole pipeline, writing records to standard output.
pub fn run(options: &Options) -> Result<Summary, RunError> {
    let prepared = prepare(options)?;
    let path = match &options.input {
        Input::File(path) => path.clone(),
        Input::Interface(_) | Input::DefaultInterface => return run_live(options, prepared),
    };
    let mut source = file::open(&path, options.force_read).map_err(RunError::Capture)?;
    process_with_extensions(&mut source, options, prepared, false)
}

/// Starts the extensions (SPEC §7) once the capture is open, since Python may switch
/// the process to `-U`'s user, then runs the pipeline into the chosen output.
/// `live` (or Python handlers, which print through their own buffer) flushes each record.
fn process_with_extensions(
    source: &mut dyn PacketSource,
    options: &Options,
    mut prepared: Prepared,
    live: bool,
) -> Result<Summary, RunError> {
    let extensions = std::mem::replace(&mut prepared.extensions, Extensions::none());
    let started = extensions.start().map_err(RunError::Extension)?;
    let flush_each = live || started.handlers.is_some();
    prepared.python = started.handlers;
    match started.output {
        Output::Stdout => {
            let stdout = std::io::stdout().lock();
            let records = WriterSink::new(stdout, flush_each);
            process(source, options, prepared, records)
        }
        Output::Command(records) => process(source, options, prepared, records),
        Output::Python(records) => process(source, options, prepared, records),
    }
}

/// Live capture (SPEC §1, §6). SIGINT/SIGTERM make the source end (after it read what
/// the kernel had already captured), so `process` reports every open connection as
/// `truncated` and the exit status is 0. Records are flushed one by one. The kernel's
/// counters become the last note on standard error.
#[cfg(target_os = "linux")]
fn run_live(options: &Options, prepared: Prepared) -> Result<Summary, RunError> {
    use crate::capture::live::{self, LiveConfig, LiveSource};
    use crate::capture::LinkType;
    let (interface, chosen) = match &options.input {
        Input::Interface(name) => (name.clone(), false),
        _ => (live::default_interface().map_err(RunError::Capture)?, true),
    };
    let stop = crate::cli::signals::stop_on_interrupt().map_err(|source| {
        RunError::Capture(CaptureError::Io {
            what: "installing the SIGINT/SIGTERM handlers".into(),
            source,
        })
    })?;
    // The -p filter also runs in the kernel when it compiles to classic BPF for Ethernet
    // (real interfaces and `lo`), so that frames it rejects never reach the ring. It still
    // runs in user space too (`process`): cheap, and it covers every other case (`any`,
    // cooked and raw-IP interfaces, filters too long for the kernel), where only user
    // space filters.
    let kernel_program = prepared
        .filter
        .as_ref()
        .and_then(|filter| filter.to_bpf(LinkType::ETHERNET).ok())
        .and_then(|program| live::kernel_program(&program));
    let config = LiveConfig {
        interface,
        buffer_bytes: options.buffer_size_mb.saturating_mul(1 << 20),
        kernel_filter: kernel_program.as_deref().map(|program| live::KernelFilter {
            link: LinkType::ETHERNET,
            program,
        }),
    };
    let mut source = LiveSource::open(&config, stop).map_err(RunError::Capture)?;
    if chosen {
        // Said once the capture is open: a failure to open is the only line otherwise.
        eprintln!(
            "rustniffer: no interface named (-i), capturing on {}",
            config.interface
        );
    }
    // Tests and scripts wait for this line before generating traffic.
    eprintln!("rustniffer: listening on {}", source.description());
    let mut summary = process_with_extensions(&mut source, options, prepared, true)?;
    let stats = source.stats();
    if stats.malformed > 0 {
        summary.notes.push(format!(
            "warning: {} malformed ring block(s) or frame(s) skipped",
            stats.malformed
        ));
    }
    summary.notes.push(format!(
        "{} packets captured, {} dropped by the kernel",
        stats.captured, stats.dropped
    ));
    Ok(summary)
}

#[cfg(not(target_os = "linux"))]
fn run_live(_: &Options, _: Prepared) -> Result<Summary, RunError> {
    Err(RunError::Capture(CaptureError::LiveUnsupported))
}

/// Reads every packet of `source` through the pipeline into `records`.
pub fn process<R: RecordSink>(
    source: &mut dyn PacketSource,
    options: &Options,
    prepared: Prepared,
    records: R,
) -> Result<Summary, RunError> {
    let Prepared {
        template,
        render,
        filter,
        extensions: _,
        python,
    } = prepared;
    let needs = template.needs();
    let sink = TemplateSink::new(template, render, records);
    match python {
        None => process_events(source, options, filter, ExchangeTracker::new(needs, sink)),
        Some(handlers) => process_events(
            source,
            options,
            filter,
            python::Events::new(needs, sink, handlers),
        ),
    }
}

/// The run loop: every packet of `source` through decode and the flow table into `tracker`.
fn process_events<P: Pipeline>(
    source: &mut dyn PacketSource,
    options: &Options,
    filter: Option<Filter>,
    mut tracker: P,
) -> Result<Summary, RunError> {
    let mut decoder = Decoder::new(options.max_fragmented_hosts);
    let mut flows = FlowTable::new(FlowConfig {
        max_streams: options.max_streams,
        midstream: options.midstream,
        ..FlowConfig::default()
    });
    let mut summary = Summary::default();
    let mut filtered_out = 0u64;
    let mut progress = source
        .position()
        .and_then(|_| crate::cli::progress::Progress::on_terminal());
    let outcome: std::io::Result<()> = (|| {
        loop {
            if let Some(p) = &mut progress {
                p.packet(|| source.position());
            }
            match source.next_packet() {
                Next::Packet(packet) => {
                    if let Some(f) = &filter {
                        if !f.matches(packet.link, packet.data, packet.orig_len) {
                            filtered_out += 1;
                            continue;
                        }
                    }
                    if let Some(segment) = decoder.decode(&packet) {
                        flows.process(&segment, &mut tracker)?;
                    }
                }
                Next::End => break,
                Next::Damaged(reason) => {
                    summary
                        .notes
                        .push(format!("warning: {reason}; stopped reading there"));
                    break;
                }
            }
        }
        flows.finish(&mut tracker)?;
        tracker.finish()
    })();
    if let Some(p) = &mut progress {
        p.finish();
    }
    match outcome {
        Ok(()) => {}
        // The reader went away (e.g. `| head`): stop quietly, as other filters do.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(summary),
        Err(e) => return Err(RunError::Output(e)),
    }
    let stats = flows.stats();
    if stats.evicted > 0 {
        summary.notes.push(format!(
            "{} connection(s) evicted because more than {} were open at once (-s {}); their records say 'timedout'",
            stats.evicted,
            options.max_streams.saturating_mul(3) / 4 + 1,
            options.max_streams
        ));
    }
    let budget = flows.queue_budget();
    if budget.discarded_bytes > 0 {
        summary.notes.push(format!(
            "{} out-of-order byte(s) in {} segment(s) discarded: waiting data exceeded its bound",
            budget.discarded_bytes, budget.discarded_segments
        ));
    }
    if budget.abandoned_bytes > 0 {
        summary.notes.push(format!(
            "{} out-of-order byte(s) never delivered: the gap before them was never filled",
            budget.abandoned_bytes
        ));
    }
    if tracker.refused_bytes() > 0 {
        summary.notes.push(format!(
            "{} payload byte(s) not kept for the format: an exchange phase exceeded {} MiB, or all pending exchanges {} MiB",
            tracker.refused_bytes(),
            crate::exchange::MAX_KEPT_PER_PHASE >> 20,
            crate::exchange::MAX_KEPT_TOTAL >> 20
        ));
    }
    let _ = filtered_out;
    Ok(summary)
}
