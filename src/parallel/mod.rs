//! Parallel analysis of a capture file (`--threads N`, docs/parallel.md): the calling
//! thread reads, filters and decodes every packet once and hands each segment to one of
//! N workers, chosen by a symmetric hash of its connection; each worker owns the
//! connections it is given (flow table, exchange tracker, template) and renders their
//! records into chunks tagged with the key of the place the one-thread run prints them
//! at; the merger writes them to the record sink in key order. The output is the
//! one-thread run's, byte for byte.
//!
//! What needs the whole table at once is decided by the reader, which sees every
//! packet: the idle checks and `--open-report` ticks go to every worker at the packet
//! the one-thread run would have run them at, and `-s` eviction, near its limit, runs
//! in lock-step (the worker holding the oldest connection of all ends it).
//!
//! A live capture (`-i`, `live.rs`) has no reader: each worker reads its own socket of a
//! fanout group, in which the kernel gives each socket whole flows, and the merger
//! writes the records in capture-time order.
//!
//! This module must not change what one thread prints: [`plan`] keeps on one thread
//! every option whose output it does not reproduce yet.

mod key;
#[cfg(target_os = "linux")]
pub mod live;
mod merge;
mod tally;
mod worker;

use std::sync::mpsc::{self, Receiver, SyncSender};

use crate::capture::{Next, PacketSource};
use crate::cli::Options;
use crate::decode::{Decoder, Endpoint, Segment};
use crate::filter::Filter;
use crate::format::{RenderOptions, Template};
use crate::output::RecordSink;
use crate::run::{run_stats, AnalysisStats, OutputTarget, RunError, Summary};
use crate::time::Timestamp;

use key::{Batch, Chunk, Entry, SegmentHead};
use worker::{Ask, Report, ToWorker};

/// The most `--threads` takes.
pub const MAX_THREADS: usize = 64;

/// Batches in flight to each worker: the reader is at most this many batches ahead
/// of the slowest worker.
const BATCHES_IN_FLIGHT: usize = 2;

/// Chunks in flight from each worker to the merger.
const CHUNKS_IN_FLIGHT: usize = 2;

/// Emptied batches and chunks go back to their sender to be filled again (allocated
/// once, and freed on the thread that allocated them); at most this many wait.
const SPARES: usize = BATCHES_IN_FLIGHT + 1;

/// `--threads` absent or 0: one thread, whose memory floor and `-s` flood speed
/// `tests/bounds.rs` holds the tool to (docs/parallel.md, "Default").
pub fn default_threads() -> usize {
    1
}

/// How a run is analysed, decided once from the options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Reader, this many workers, merger.
    Parallel(usize),
    /// The one-thread loop, and why.
    OneThread(&'static str),
}

/// Whether a run with `options` and `template` may use several threads: every option
/// whose output the parallel path does not reproduce yet keeps the one-thread path.
pub fn plan(options: &Options, template: &Template) -> Plan {
    if options.threads <= 1 {
        return Plan::OneThread("--threads 1");
    }
    let live = !matches!(options.input, crate::cli::Input::File(_));
    // A file's report and metrics file are added up by the merger (tally.rs); a live
    // group's merger has no one-thread order to follow.
    if live && options.report.enabled() {
        return Plan::OneThread("--report");
    }
    if live && options.metrics_file.is_some() {
        return Plan::OneThread("--metrics-file");
    }
    // Served or exported while the run goes: from one thread's counters as they stand.
    if options.metrics_listen.is_some() || options.otlp_endpoint.is_some() {
        return Plan::OneThread("--metrics-listen or OTLP");
    }
    if options.python.is_some() {
        return Plan::OneThread("-P");
    }
    let names = template.keyword_names();
    if names.contains(&"python") {
        return Plan::OneThread("%python");
    }
    Plan::Parallel(options.threads)
}

/// The reader stopped because a worker or the merger did.
struct Stopped;

/// The reader's handle on one worker.
struct Lane {
    input: SyncSender<ToWorker>,
    batch: Batch,
    /// Batches the worker is done with.
    spare: Receiver<Batch>,
}

/// The reader's side: batches, dispatch and the `-s` bookkeeping.
struct Dispatch {
    lanes: Vec<Lane>,
    /// Seeded per run, as the flow table's: nobody can aim every connection at one
    /// worker (the output does not depend on which worker holds what).
    hasher: foldhash::fast::RandomState,
    /// `3*N/4` of `-s N`: a creation evicts when more are tracked.
    limit: u64,
    /// Connections tracked over all workers at the last synchronisation...
    known: u64,
    /// ...and segments dispatched since that may have opened one: `known + since` bounds
    /// the count from above.
    since: u64,
}

impl Dispatch {
    /// The worker of `seg`'s connection: the same for both directions.
    fn worker_of(&self, seg: &Segment<'_>) -> usize {
        use std::hash::BuildHasher;
        let endpoint = |e: &Endpoint| {
            let (bits, family) = match e.ip {
                std::net::IpAddr::V4(a) => (u128::from(u32::from(a)), 4u32),
                std::net::IpAddr::V6(a) => (u128::from(a), 6u32),
            };
            self.hasher
                .hash_one((bits, family << 16 | u32::from(e.port)))
        };
        let mut h = endpoint(&seg.key.src).wrapping_add(endpoint(&seg.key.dst));
        let segment = seg.tunnel.map_or(0, |t| t.segment_id());
        if segment != 0 {
            h ^= self.hasher.hash_one(segment);
        }
        ((u128::from(h) * self.lanes.len() as u128) >> 64) as usize
    }

    fn push(&mut self, worker: usize, entry: Entry) {
        if let Some(lane) = self.lanes.get_mut(worker) {
            lane.batch.entries.push(entry);
        }
    }

    fn push_all(&mut self, entry: Entry) {
        for lane in &mut self.lanes {
            lane.batch.entries.push(entry);
        }
    }

    /// Hands every batch over (the empty ones too: their watermark lets the merger go
    /// on), saying that nothing at or before segment `upto` will follow.
    fn flush(&mut self, upto: u64) -> Result<(), Stopped> {
        self.flush_asking(upto, |_| None)
    }

    /// [`Dispatch::flush`], with a question for each worker to answer once it has done
    /// its batch.
    fn flush_asking(
        &mut self,
        upto: u64,
        mut ask: impl FnMut(usize) -> Option<Box<Ask>>,
    ) -> Result<(), Stopped> {
        for (w, lane) in self.lanes.iter_mut().enumerate() {
            let next = lane
                .spare
                .try_recv()
                .unwrap_or_else(|_| Batch::with_capacity());
            let mut batch = std::mem::replace(&mut lane.batch, next);
            batch.upto = upto;
            lane.input
                .send(ToWorker::Batch(batch, ask(w)))
                .map_err(|_| Stopped)?;
        }
        Ok(())
    }

    /// Every worker's count and oldest connection once it has done everything up to
    /// segment `upto`, and whether worker `w` would open a connection for `seg`: one
    /// round trip.
    fn sync(&mut self, upto: u64, w: usize, seg: &Segment<'_>) -> Result<Vec<Report>, Stopped> {
        let (tx, rx) = mpsc::channel();
        let probe = (SegmentHead::of(seg, 0, 0, None), seg.tunnel.copied());
        self.flush_asking(upto, |worker| {
            Some(Box::new(Ask {
                reply: tx.clone(),
                probe: (worker == w).then_some(probe),
            }))
        })?;
        drop(tx);
        let mut reports = Vec::with_capacity(self.lanes.len());
        while reports.len() < self.lanes.len() {
            reports.push(wait(&rx)?);
        }
        Ok(reports)
    }

    /// Segment `index` may open a connection: when the table might be full, decide
    /// with every worker whether it evicts, and which worker's connection goes.
    fn make_room(&mut self, index: u64, w: usize, seg: &Segment<'_>) -> Result<(), Stopped> {
        if self.known + self.since > self.limit {
            let reports = self.sync(index - 1, w, seg)?;
            self.known = reports.iter().map(|r| r.tracked as u64).sum();
            self.since = 0;
            let opens = reports.iter().any(|r| r.worker == w && r.opens);
            if self.known > self.limit && opens {
                let oldest = reports
                    .iter()
                    .filter_map(|r| Some((r.oldest?, r.worker)))
                    .min();
                if let Some((_, x)) = oldest {
                    self.push(x, Entry::Evict { index, ts: seg.ts });
                    self.known -= 1;
                }
            }
        }
        self.since += 1;
        Ok(())
    }
}

/// A worker's answer. A worker that stops (the merger failed) drops its input channel,
/// and with it the question and its reply sender: the wait ends.
fn wait<T>(rx: &Receiver<T>) -> Result<T, Stopped> {
    rx.recv().map_err(|_| Stopped)
}

/// The run with `threads` workers: what [`crate::run::process`] does, in parallel, with
/// the same output and summary.
pub fn process<R: RecordSink + Send>(
    source: &mut dyn PacketSource,
    options: &Options,
    filter: Option<Filter>,
    render: RenderOptions,
    threads: usize,
    mut records: R,
) -> Result<Summary, RunError> {
    let threads = threads.clamp(1, MAX_THREADS);
    let mut decoder =
        Decoder::new(options.max_fragmented_hosts).with_tunnels(options.tunnels.clone());
    let mut summary = Summary::default();
    let mut filtered_out = 0u64;
    let mut tally = tally::Tally::new(options, threads);
    let (outcome, workers, merged) = std::thread::scope(|scope| {
        let mut lanes = Vec::with_capacity(threads);
        let mut outputs = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for w in 0..threads {
            let (input_tx, input_rx) = mpsc::sync_channel::<ToWorker>(BATCHES_IN_FLIGHT);
            let (output_tx, output_rx) = mpsc::sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
            let (spare_batch_tx, spare_batch_rx) = mpsc::sync_channel::<Batch>(SPARES);
            let (spare_chunk_tx, spare_chunk_rx) = mpsc::sync_channel::<Chunk>(SPARES);
            let render = render.clone();
            let channels = worker::Channels {
                input: input_rx,
                output: output_tx,
                spare_batches: spare_batch_tx,
                spare_chunks: spare_chunk_rx,
            };
            handles.push(
                std::thread::Builder::new()
                    .name(format!("rustniffer-w{w}"))
                    .spawn_scoped(scope, move || worker::run(w, options, render, channels)),
            );
            lanes.push(Lane {
                input: input_tx,
                batch: Batch::with_capacity(),
                spare: spare_batch_rx,
            });
            outputs.push((output_rx, spare_chunk_tx));
        }
        let merger = std::thread::Builder::new()
            .name("rustniffer-merge".into())
            .spawn_scoped(scope, || merge::merge(outputs, &mut records, &mut tally));
        let mut dispatch = Dispatch {
            lanes,
            hasher: foldhash::fast::RandomState::default(),
            limit: (options.max_streams as u64).saturating_mul(3) / 4,
            known: 0,
            since: 0,
        };
        let read = read(
            source,
            options,
            filter.as_ref(),
            &mut decoder,
            &mut dispatch,
            &mut filtered_out,
            &mut summary,
        );
        // Closing the channels lets every worker end.
        drop(dispatch);
        let workers: Vec<std::io::Result<AnalysisStats>> = handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| Err(worker_panicked())),
                Err(e) => Err(e),
            })
            .collect();
        let merged = match merger {
            Ok(h) => h.join().unwrap_or_else(|_| Err(worker_panicked())),
            Err(e) => Err(e),
        };
        (read, workers, merged)
    });
    // The merger's error is the cause when there is one; a worker's, else.
    let mut stats = AnalysisStats::default();
    let mut failure: Option<std::io::Error> = None;
    let merged = match merged {
        Ok(m) => m,
        Err(e) => {
            failure = Some(e);
            merge::Merged::default()
        }
    };
    for w in workers {
        match w {
            Ok(w) => add(&mut stats, &w),
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if failure.is_none() && outcome.is_err() {
        failure = Some(worker_panicked());
    }
    if failure.is_none() {
        // As one thread's stages finish, once every record is out (none when the output
        // failed: one thread stops before its end then).
        let decoded = decoder.stats();
        let health = crate::output::metrics::Health {
            packets: decoded.frames,
            kernel_drops: source.kernel_drops().unwrap_or(0),
            decode_failures: decoded.truncated + decoded.malformed,
            evictions: stats.flow.evicted,
            out_of_order_discarded_bytes: stats.discarded_bytes,
        };
        if let Err(e) = tally.finish(options, health) {
            failure = Some(e);
        }
    }
    match failure {
        None => {}
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Some(source) => {
            return Err(RunError::Output {
                target: OutputTarget::of(options),
                source,
            })
        }
    }
    summary.stats = run_stats(
        options,
        decoder.stats(),
        source.unsupported_link_packets(),
        filtered_out,
        &stats,
        merged.peak,
        records.failures(),
    );
    Ok(summary)
}

fn worker_panicked() -> std::io::Error {
    std::io::Error::other("a parallel analysis thread failed")
}

/// Adds a worker's counters to the run's.
fn add(total: &mut AnalysisStats, w: &AnalysisStats) {
    let (t, f) = (&mut total.flow, &w.flow);
    t.connections += f.connections;
    t.midstream_connections += f.midstream_connections;
    t.evicted += f.evicted;
    t.idle_timed_out += f.idle_timed_out;
    t.open_at_end += f.open_at_end;
    t.unknown_packets += f.unknown_packets;
    t.out_of_window += f.out_of_window;
    t.paws_dropped += f.paws_dropped;
    t.gaps += f.gaps;
    t.gap_bytes += f.gap_bytes;
    total.discarded_bytes += w.discarded_bytes;
    total.discarded_segments += w.discarded_segments;
    total.abandoned_bytes += w.abandoned_bytes;
    total.refused_bytes += w.refused_bytes;
    total.pipeline_overflow += w.pipeline_overflow;
    total.open_overflow += w.open_overflow;
    total.records += w.records;
}

/// The reader: every packet of `source` through the filter and the decoder to its
/// worker, with the idle and open-report ticks and `-s` eviction decided here, then the
/// end of capture. Stops early, quietly, when a worker or the merger stopped.
fn read(
    source: &mut dyn PacketSource,
    options: &Options,
    filter: Option<&Filter>,
    decoder: &mut Decoder,
    dispatch: &mut Dispatch,
    filtered_out: &mut u64,
    summary: &mut Summary,
) -> Result<(), Stopped> {
    let mut index = 0u64;
    let mut last_ts = Timestamp::default();
    // The one-thread table's schedule of idle checks (FlowTable::expire_idle).
    let mut next_idle_check = Timestamp(i64::MIN);
    // The first packet starts the `--open-report` clock.
    let mut next_open_report = Timestamp(i64::MIN);
    let mut progress = source
        .position()
        .and_then(|_| crate::cli::progress::Progress::on_terminal());
    let result = (|| {
        loop {
            if let Some(p) = &mut progress {
                p.packet(|| source.position());
            }
            match source.next_packet() {
                Next::Packet(packet) => {
                    if let Some(f) = filter {
                        if !f.matches(packet.link, packet.data, packet.orig_len) {
                            *filtered_out += 1;
                            continue;
                        }
                    }
                    let Some(segment) = decoder.decode(&packet) else {
                        continue;
                    };
                    index += 1;
                    last_ts = segment.ts;
                    if let Some(every) = options.open_report {
                        if segment.ts >= next_open_report {
                            if next_open_report.0 == i64::MIN {
                                next_open_report = segment.ts;
                            } else {
                                // As the one-thread loop: at the last due time passed.
                                let missed = (segment.ts.0 - next_open_report.0) / every;
                                let due = next_open_report.0 + missed * every;
                                dispatch.push_all(Entry::OpenReport {
                                    index,
                                    now: Timestamp(due),
                                });
                                next_open_report = Timestamp(due);
                            }
                            next_open_report = Timestamp(next_open_report.0.saturating_add(every));
                        }
                    }
                    if let Some(timeout) = options.idle_timeout {
                        if segment.ts >= next_idle_check {
                            next_idle_check = Timestamp(
                                segment
                                    .ts
                                    .0
                                    .saturating_add((timeout / 4).clamp(1, 1_000_000_000)),
                            );
                            dispatch.push_all(Entry::Idle {
                                index,
                                now: segment.ts,
                            });
                        }
                    }
                    let w = dispatch.worker_of(&segment);
                    let f = segment.flags;
                    if (f.syn() && !f.ack() && !f.rst()) || (options.midstream && !f.syn()) {
                        dispatch.make_room(index, w, &segment)?;
                    }
                    let full = match dispatch.lanes.get_mut(w) {
                        Some(lane) => {
                            lane.batch.push_segment(index, &segment);
                            lane.batch.is_full()
                        }
                        None => false,
                    };
                    if full {
                        dispatch.flush(index)?;
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
        dispatch.flush(index)?;
        for lane in &dispatch.lanes {
            lane.input
                .send(ToWorker::Finish { last_ts })
                .map_err(|_| Stopped)?;
        }
        Ok(())
    })();
    if let Some(p) = &mut progress {
        p.finish();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(args: &[&str]) -> Plan {
        let options = match crate::cli::parse(args.iter().copied(), &[]) {
            Ok(crate::cli::Request::Run(o)) => *o,
            _ => panic!("{args:?} parses"),
        };
        let template = Template::parse(&options.format).expect("the format parses");
        plan(&options, &template)
    }

    #[test]
    fn a_files_report_and_metrics_file_run_on_the_workers_served_metrics_do_not() {
        for extra in [
            &["--report"][..],
            &["--report", "--json"],
            &["--report-html", "r.html"],
            &["--metrics-file", "m.prom"],
        ] {
            let args: Vec<&str> = ["-f", "x.pcap", "--threads", "3"]
                .iter()
                .chain(extra)
                .copied()
                .collect();
            assert_eq!(plan_of(&args), Plan::Parallel(3), "{args:?}");
        }
        assert_eq!(
            plan_of(&[
                "-f",
                "x.pcap",
                "--threads",
                "3",
                "--metrics-listen",
                "127.0.0.1:0"
            ]),
            Plan::OneThread("--metrics-listen or OTLP")
        );
        assert_eq!(
            plan_of(&["-i", "lo", "--threads", "3", "--report"]),
            Plan::OneThread("--report")
        );
        assert_eq!(
            plan_of(&["-i", "lo", "--threads", "3", "--metrics-file", "m.prom"]),
            Plan::OneThread("--metrics-file")
        );
    }
}
