//! Live capture on several threads (`-i IFACE --threads N`, docs/parallel.md): one
//! worker per member of a `PACKET_FANOUT` group ([`LiveGroup`]), each reading, filtering
//! and decoding its own member's frames and running the file path's [`Worker`] on them;
//! the merger writes their records in capture-time order.
//!
//! The kernel gives each member whole flows (both directions, IPv4 fragments reassembled
//! before the hash), so a worker owns its connections alone and no packet is handed from
//! one thread to another. A record's key is the capture time of the packet that caused
//! it, kept non-decreasing within a worker; a worker tells the merger how far its clock
//! has gone when it hands records over, and a worker whose member is quiet says that its
//! clock is [`WINDOW`] behind the wall clock, so that it never holds the others' records
//! back for long.
//!
//! Must not: share a flow table or tracker between threads, or wait on a member without
//! a deadline (the merger would wait on that worker).
//!
//! [`LiveGroup`]: crate::capture::live::LiveGroup

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, SystemTime};

use super::key::Chunk;
use super::merge;
use super::worker::{self, Drive, Worker};
use super::{add, worker_panicked, SPARES};
use crate::capture::live::{LiveSource, LiveStats};
use crate::capture::Next;
use crate::cli::Options;
use crate::decode::{DecodeStats, Decoder};
use crate::filter::Filter;
use crate::format::RenderOptions;
use crate::output::{OutputStage, RecordSink};
use crate::run::{run_stats, AnalysisStats};
use crate::run::{KernelStats, OutputTarget, RunError, Summary};
use crate::time::Timestamp;

/// How far behind the wall clock a worker whose member is quiet says its clock is: a
/// frame is stamped when the kernel copies it into the ring and handed over with its
/// block at the latest a couple of retire timeouts (10 ms) later, so a frame that reaches
/// a quiet worker after this is one the kernel held far longer than it should. Records
/// are written about this late when some member is quiet.
pub const WINDOW: Duration = Duration::from_millis(100);

/// A member with nothing to hand over for this long is quiet: its worker moves its clock
/// on and tells the merger (two retire timeouts).
pub const QUIET: Duration = Duration::from_millis(20);

/// A worker busy with packets hands its records over at least every 10 ms of its clock,
/// so that its progress reaches the merger even when it has no records to give.
const HANDOVER_NS: i64 = 10_000_000;

/// Chunks in flight from each live worker to the merger: while the merger waits for a
/// quiet worker (up to [`WINDOW`] plus [`QUIET`]), a busy one hands over a chunk every
/// [`HANDOVER_NS`]; more than enough for that, and bounded (each chunk holds at most
/// 64 KiB of records and 1024 items).
const CHUNKS_IN_FLIGHT: usize = 32;

/// A capture-time key: nanoseconds since the epoch (times before it count as 0).
fn key_of(ts: Timestamp) -> u64 {
    u64::try_from(ts.0).unwrap_or(0)
}

/// The wall clock, as capture timestamps count time.
fn wall_now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
}

/// The wall clock when a capture starts: the common origin of every worker's
/// `--open-report` schedule.
pub fn start_time() -> Timestamp {
    wall_now()
}

/// What a worker reads: a fanout member, or a scripted one in tests.
pub trait Member: Send {
    /// The next frame, `None` when nothing came within `quiet`; `Next::End` once stopped.
    fn next_within(&mut self, quiet: Duration) -> Option<Next<'_>>;
    /// The kernel's counters (read at the end).
    fn stats(&mut self) -> LiveStats;
    /// The wall clock, in the clock of the frames' timestamps (read when quiet).
    fn wall_now(&self) -> Timestamp {
        wall_now()
    }
}

impl Member for LiveSource {
    fn next_within(&mut self, quiet: Duration) -> Option<Next<'_>> {
        LiveSource::next_within(self, quiet)
    }

    fn stats(&mut self) -> LiveStats {
        LiveSource::stats(self)
    }
}

/// One worker's clock: capture time as its packets tell it (never going back), or the
/// wall clock less [`WINDOW`] while its member is quiet; and the schedules that run by it.
#[derive(Debug)]
struct Clock {
    now: Timestamp,
    /// What the merger was last told: nothing will follow with an earlier key.
    promised: Timestamp,
    /// The time of this worker's last packet (the end of capture for its connections).
    last_packet: Timestamp,
    idle_timeout: Option<i64>,
    next_idle_check: Timestamp,
    open_report: Option<i64>,
    next_open_report: Timestamp,
}

/// What is due at a point of a worker's clock.
#[derive(Debug, Default, PartialEq, Eq)]
struct Due {
    /// `--open-report` at this time (the last due time passed).
    open_report: Option<Timestamp>,
    /// The idle check.
    idle: bool,
}

impl Clock {
    fn new(start: Timestamp, idle_timeout: Option<i64>, open_report: Option<i64>) -> Clock {
        Clock {
            now: Timestamp(i64::MIN),
            promised: Timestamp(i64::MIN),
            last_packet: start,
            idle_timeout,
            next_idle_check: Timestamp(i64::MIN),
            open_report,
            next_open_report: Timestamp(
                open_report.map_or(i64::MAX, |every| start.0.saturating_add(every)),
            ),
        }
    }

    /// Moves to `ts` (or stays, if it is earlier); what falls due there.
    fn advance(&mut self, ts: Timestamp) -> Due {
        self.now = self.now.max(ts);
        let now = self.now;
        let mut due = Due::default();
        if let Some(every) = self.open_report.filter(|&e| e > 0) {
            if now >= self.next_open_report {
                // As the one-thread loop: at the last due time passed, once.
                let missed = (now.0 - self.next_open_report.0) / every;
                let at = self
                    .next_open_report
                    .0
                    .saturating_add(missed.saturating_mul(every));
                due.open_report = Some(Timestamp(at));
                self.next_open_report = Timestamp(at.saturating_add(every));
            }
        }
        if let Some(timeout) = self.idle_timeout {
            if now >= self.next_idle_check {
                // The one-thread table's schedule (FlowTable::expire_idle).
                self.next_idle_check =
                    Timestamp(now.0.saturating_add((timeout / 4).clamp(1, 1_000_000_000)));
                due.idle = true;
            }
        }
        due
    }

    /// A packet at `ts`: whether it came after the clock was promised past it (its
    /// records may be written out of order), and what falls due.
    fn packet(&mut self, ts: Timestamp) -> (bool, Due) {
        let late = ts < self.promised;
        self.last_packet = self.last_packet.max(ts);
        (late, self.advance(ts))
    }

    /// The member was quiet until `wall`.
    fn quiet(&mut self, wall: Timestamp) -> Due {
        let behind = i64::try_from(WINDOW.as_nanos()).unwrap_or(i64::MAX);
        self.advance(Timestamp(wall.0.saturating_sub(behind)))
    }

    /// The merger is told the clock: later records have no earlier key.
    fn promise(&mut self) -> u64 {
        self.promised = self.now;
        key_of(self.now)
    }
}

/// What a live worker returns at its end.
#[derive(Debug, Default)]
struct MemberStats {
    worker: AnalysisStats,
    decoded: DecodeStats,
    filtered_out: u64,
    kernel: LiveStats,
    /// Packets that came with a time earlier than the worker had told the merger.
    late: u64,
    /// Segments reassembled from fragments that belong to no connection of this worker
    /// and were not allowed to open one.
    stray_fragments: u64,
    damaged: Option<String>,
}

/// Runs what falls due on `worker`.
fn run_due<S: OutputStage>(
    worker: &mut Worker<'_, S>,
    due: Due,
    now: Timestamp,
) -> std::io::Result<()> {
    if let Some(at) = due.open_report {
        worker.open_report(key_of(at), at)?;
    }
    if due.idle {
        worker.idle(key_of(now), now)?;
    }
    Ok(())
}

/// Everything a live worker needs besides its member and channels.
struct Shared<'a> {
    options: &'a Options,
    filter: Option<&'a Filter>,
    render: &'a RenderOptions,
    stop: &'static AtomicBool,
    start: Timestamp,
    workers: usize,
}

/// One worker: its member's frames through the filter, the decoder and the worker's
/// table until the member ends (the stop flag), then its connections' end.
fn run_member<M: Member>(
    member: &mut M,
    shared: &Shared<'_>,
    output: SyncSender<Chunk>,
    spare: Receiver<Chunk>,
) -> std::io::Result<MemberStats> {
    let options = shared.options;
    let mut config = crate::run::flow_config(options);
    // `-s` is shared out: each worker evicts its own oldest connection past its part.
    config.max_streams = options.max_streams.div_ceil(shared.workers.max(1)).max(1);
    let drive = FromMember { member, shared };
    worker::start(options, shared.render.clone(), config, output, spare, drive)
}

/// A live worker's loop over its member.
struct FromMember<'m, 's, M> {
    member: &'m mut M,
    shared: &'s Shared<'s>,
}

impl<M: Member> Drive for FromMember<'_, '_, M> {
    type Out = MemberStats;

    fn drive<S: OutputStage>(self, mut worker: Worker<'_, S>) -> std::io::Result<MemberStats> {
        let FromMember { member, shared } = self;
        let options = shared.options;
        let mut decoder =
            Decoder::new(options.max_fragmented_hosts).with_tunnels(options.tunnels.clone());
        let mut clock = Clock::new(shared.start, options.idle_timeout, options.open_report);
        let mut stats = MemberStats::default();
        let mut handed = Timestamp(i64::MIN);
        loop {
            match member.next_within(QUIET) {
                Some(Next::Packet(packet)) => {
                    if let Some(f) = shared.filter {
                        if !f.matches(packet.link, packet.data, packet.orig_len) {
                            stats.filtered_out += 1;
                            continue;
                        }
                    }
                    let Some(segment) = decoder.decode(&packet) else {
                        continue;
                    };
                    // A payload outside the frame is in the decoder's reassembly buffer.
                    let reassembled = !segment.payload.is_empty()
                        && !packet
                            .data
                            .as_ptr_range()
                            .contains(&segment.payload.as_ptr());
                    if reassembled && worker.would_open(&segment) {
                        // Rebuilt here from IPv6 fragments (the kernel reassembles IPv4
                        // ones), which the kernel hashes on addresses alone: the segment may
                        // belong to a connection of another member. Counted, never opening a
                        // second copy of a connection (with -m) here.
                        stats.stray_fragments += 1;
                        continue;
                    }
                    let (late, due) = clock.packet(segment.ts);
                    stats.late += u64::from(late);
                    run_due(&mut worker, due, clock.now)?;
                    worker.segment(key_of(clock.now), &segment)?;
                    if clock.now.0.saturating_sub(handed.0) >= HANDOVER_NS {
                        handed = clock.now;
                        let watermark = clock.promise();
                        worker.hand_over(watermark)?;
                    }
                }
                Some(Next::End) => break,
                Some(Next::Damaged(reason)) => {
                    // The group cannot lose a member without moving flows: all stop.
                    shared.stop.store(true, Ordering::Relaxed);
                    stats.damaged = Some(reason);
                    break;
                }
                None => {
                    let due = clock.quiet(member.wall_now());
                    run_due(&mut worker, due, clock.now)?;
                    handed = clock.now;
                    let watermark = clock.promise();
                    worker.hand_over(watermark)?;
                }
            }
        }
        worker.finish(clock.last_packet)?;
        stats.worker = worker.stats();
        stats.decoded = decoder.stats().clone();
        stats.kernel = member.stats();
        Ok(stats)
    }
}

/// Adds a decoder's counters to the run's.
fn add_decoded(total: &mut DecodeStats, d: &DecodeStats) {
    total.frames += d.frames;
    total.tcp_segments += d.tcp_segments;
    total.non_ip += d.non_ip;
    total.non_tcp += d.non_tcp;
    total.malformed += d.malformed;
    total.truncated += d.truncated;
    total.fragments += d.fragments;
    total.datagrams_reassembled += d.datagrams_reassembled;
    total.fragments_pending += d.fragments_pending;
    total.fragments_discarded_hosts += d.fragments_discarded_hosts;
    total.fragments_discarded_size += d.fragments_discarded_size;
    total.fragments_discarded_timeout += d.fragments_discarded_timeout;
    total.fragments_discarded_invalid += d.fragments_discarded_invalid;
}

/// The live run with one worker per member: records merged by capture time into
/// `records`, the summary with every member's counters summed.
pub fn process<M: Member, R: RecordSink + Send>(
    members: Vec<M>,
    options: &Options,
    filter: Option<Filter>,
    render: RenderOptions,
    stop: &'static AtomicBool,
    start: Timestamp,
    mut records: R,
) -> Result<Summary, RunError> {
    let shared = Shared {
        options,
        filter: filter.as_ref(),
        render: &render,
        stop,
        start,
        workers: members.len(),
    };
    let (workers, merged) = std::thread::scope(|scope| {
        let mut outputs = Vec::with_capacity(members.len());
        let mut handles = Vec::with_capacity(members.len());
        for (w, mut member) in members.into_iter().enumerate() {
            let (output_tx, output_rx) = mpsc::sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
            let (spare_tx, spare_rx) = mpsc::sync_channel::<Chunk>(SPARES);
            let shared = &shared;
            handles.push(
                std::thread::Builder::new()
                    .name(format!("rustniffer-w{w}"))
                    .spawn_scoped(scope, move || {
                        let result = run_member(&mut member, shared, output_tx, spare_rx);
                        if result.is_err() {
                            // The merger stopped (the output failed): so do the others.
                            stop.store(true, Ordering::Relaxed);
                        }
                        result
                    }),
            );
            outputs.push((output_rx, spare_tx));
        }
        let merged = merge::merge(outputs, &mut records, &mut super::tally::Tally::none());
        if merged.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let workers: Vec<std::io::Result<MemberStats>> = handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| Err(worker_panicked())),
                Err(e) => Err(e),
            })
            .collect();
        (workers, merged)
    });
    let mut failure: Option<std::io::Error> = None;
    let merged = merged.unwrap_or_else(|e| {
        failure = Some(e);
        merge::Merged::default()
    });
    let mut stats = AnalysisStats::default();
    let mut decoded = DecodeStats::default();
    let mut filtered_out = 0u64;
    let mut late = 0u64;
    let mut stray = 0u64;
    let mut kernel: Vec<LiveStats> = Vec::new();
    let mut notes = Vec::new();
    for w in workers {
        match w {
            Ok(m) => {
                add(&mut stats, &m.worker);
                add_decoded(&mut decoded, &m.decoded);
                filtered_out += m.filtered_out;
                late += m.late;
                stray += m.stray_fragments;
                kernel.push(m.kernel);
                if let Some(reason) = m.damaged {
                    notes.push(format!("warning: {reason}; stopped reading there"));
                }
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
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
    if std::env::var_os("RUSTNIFFER_DEBUG_PLAN").is_some() {
        // For the tests that check that the members' counts add up.
        for (i, k) in kernel.iter().enumerate() {
            eprintln!(
                "rustniffer: debug: member {i}: captured {}, dropped {}",
                k.captured, k.dropped
            );
        }
    }
    if late > 0 {
        notes.push(format!(
            "warning: {late} packets reached their worker after it had told the merger that \
             their capture time was past; their records may be out of capture-time order"
        ));
    }
    if stray > 0 {
        notes.push(format!(
            "warning: {stray} TCP segments reassembled from IPv6 fragments reached a worker \
             that does not hold their connection (the kernel shares fragments out by \
             address alone); not analysed"
        ));
    }
    let total: LiveStats = kernel.into_iter().sum();
    let mut summary = Summary {
        notes,
        ..Summary::default()
    };
    summary.stats = run_stats(
        options,
        &decoded,
        0,
        filtered_out,
        &stats,
        merged.peak,
        records.failures(),
    );
    summary.stats.kernel = Some(KernelStats {
        captured: total.captured,
        dropped: total.dropped,
        malformed: total.malformed,
    });
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::capture::{LinkType, Packet, PacketSource};
    use crate::cli::Request;
    use crate::output::WriterSink;

    fn ms(n: i64) -> i64 {
        n * 1_000_000
    }

    #[test]
    fn the_clock_never_goes_back_and_a_quiet_member_is_a_window_behind_the_wall() {
        let start = Timestamp(ms(1_000));
        let mut clock = Clock::new(start, None, None);
        assert_eq!(clock.packet(Timestamp(ms(1_010))), (false, Due::default()));
        // A frame stamped a little earlier on another CPU keeps the clock where it was.
        clock.packet(Timestamp(ms(1_009)));
        assert_eq!(clock.now, Timestamp(ms(1_010)));
        assert_eq!(clock.promise(), key_of(Timestamp(ms(1_010))));
        clock.quiet(Timestamp(ms(1_500)));
        assert_eq!(clock.now, Timestamp(ms(1_400)));
        assert_eq!(clock.promise(), ms(1_400) as u64);
        // A frame the kernel held past the window: its records may come out of order.
        assert!(clock.packet(Timestamp(ms(1_300))).0);
        assert!(!clock.packet(Timestamp(ms(1_450))).0);
        assert_eq!(clock.last_packet, Timestamp(ms(1_450)));
    }

    #[test]
    fn open_reports_fall_on_the_common_schedule_from_the_start_once_per_stretch() {
        let start = Timestamp(ms(10_000));
        let mut clock = Clock::new(start, None, Some(ms(1_000)));
        assert_eq!(clock.packet(Timestamp(ms(10_999))).1.open_report, None);
        assert_eq!(
            clock.packet(Timestamp(ms(11_000))).1.open_report,
            Some(Timestamp(ms(11_000)))
        );
        assert_eq!(clock.packet(Timestamp(ms(11_500))).1.open_report, None);
        // Quiet for three periods: one report, at the last due time passed.
        assert_eq!(
            clock.quiet(Timestamp(ms(14_600))).open_report,
            Some(Timestamp(ms(14_000)))
        );
        assert_eq!(clock.quiet(Timestamp(ms(14_700))).open_report, None);
    }

    #[test]
    fn idle_checks_run_a_quarter_of_the_timeout_apart_by_packets_or_the_wall() {
        let mut clock = Clock::new(Timestamp(0), Some(ms(400)), None);
        assert!(clock.packet(Timestamp(ms(1_000))).1.idle);
        assert!(!clock.packet(Timestamp(ms(1_099))).1.idle);
        assert!(clock.packet(Timestamp(ms(1_100))).1.idle);
        assert!(!clock.quiet(Timestamp(ms(1_250))).idle);
        assert!(clock.quiet(Timestamp(ms(1_300))).idle);
    }

    enum Event {
        Frame(Timestamp, LinkType, Vec<u8>, u32),
        /// Nothing came; the wall clock reads this.
        Quiet(Timestamp),
    }

    /// A member that replays frames and quiet spells.
    struct Scripted {
        events: VecDeque<Event>,
        current: Vec<u8>,
        wall: Timestamp,
        captured: u64,
    }

    impl Member for Scripted {
        fn next_within(&mut self, _: Duration) -> Option<Next<'_>> {
            match self.events.pop_front() {
                None => Some(Next::End),
                Some(Event::Quiet(wall)) => {
                    self.wall = wall;
                    None
                }
                Some(Event::Frame(ts, link, data, orig_len)) => {
                    self.current = data;
                    self.captured += 1;
                    Some(Next::Packet(Packet {
                        ts,
                        link,
                        data: &self.current,
                        orig_len,
                    }))
                }
            }
        }

        fn stats(&mut self) -> LiveStats {
            LiveStats {
                captured: self.captured,
                dropped: 0,
                malformed: 0,
            }
        }

        fn wall_now(&self) -> Timestamp {
            self.wall
        }
    }

    fn options(args: &[&str]) -> Options {
        match crate::cli::parse(args.iter().copied(), &[]) {
            Ok(Request::Run(options)) => *options,
            _ => panic!("options {args:?}"),
        }
    }

    const FORMAT: &str =
        "%source.ip %source.port %dest.port %connection %close.originator %streams \
                          %request.line %response.line";

    /// The one-thread records of `path`, and its frames shared out by connection between
    /// two scripted members (as the kernel's flow hash would), each member quiet before
    /// a frame that comes after a pause and at the end.
    fn one_thread_and_members(
        path: &str,
        more: &[&str],
        end_quiet: i64,
    ) -> (Vec<u8>, Vec<Scripted>, u64) {
        let mut args = vec!["-f", path, "-l", FORMAT];
        args.extend_from_slice(more);
        let options = options(&args);
        let mut one = Vec::new();
        let mut source = crate::capture::file::open(path, false).expect("open");
        let prepared = crate::run::prepare(&options).expect("prepare");
        crate::run::process(
            &mut source,
            &options,
            prepared,
            WriterSink::new(&mut one, false),
        )
        .expect("one thread");
        let mut members: Vec<Scripted> = (0..2)
            .map(|_| Scripted {
                events: VecDeque::new(),
                current: Vec::new(),
                wall: Timestamp(0),
                captured: 0,
            })
            .collect();
        let mut source = crate::capture::file::open(path, false).expect("open");
        let mut decoder = Decoder::new(64);
        let mut last = Timestamp(0);
        let mut frames = 0u64;
        while let Next::Packet(p) = source.next_packet() {
            let member = decoder.decode(&p).map_or(0, |s| {
                ((s.key.src.port ^ s.key.dst.port).count_ones() & 1) as usize
            });
            let m = &mut members[member];
            let pause = i64::try_from((WINDOW + QUIET).as_nanos()).unwrap_or(i64::MAX);
            let previous = m.events.iter().rev().find_map(|e| match e {
                Event::Frame(ts, ..) => Some(*ts),
                Event::Quiet(_) => None,
            });
            if previous.is_none_or(|t| p.ts.0 - t.0 > pause) {
                m.events.push_back(Event::Quiet(p.ts));
            }
            m.events
                .push_back(Event::Frame(p.ts, p.link, p.data.to_vec(), p.orig_len));
            last = last.max(p.ts);
            frames += 1;
        }
        for m in &mut members {
            m.events
                .push_back(Event::Quiet(Timestamp(last.0.saturating_add(end_quiet))));
        }
        assert!(
            members.iter().all(|m| m.events.len() > 2),
            "both members get frames"
        );
        (one, members, frames)
    }

    /// Two workers, fed `members`, with the article-like format and `more` options:
    /// the merged output and the summary.
    fn two_workers(members: Vec<Scripted>, more: &[&str]) -> (Vec<u8>, Summary) {
        static STOP: AtomicBool = AtomicBool::new(false);
        let mut args = vec!["-i", "lo", "--threads", "2", "-l", FORMAT];
        args.extend_from_slice(more);
        let options = options(&args);
        let mut merged = Vec::new();
        let summary = process(
            members,
            &options,
            None,
            crate::run::render_options(&options),
            &STOP,
            Timestamp(0),
            WriterSink::new(&mut merged, true),
        )
        .expect("two workers");
        (merged, summary)
    }

    #[test]
    fn two_members_print_the_one_thread_records_in_capture_time_order() {
        let cases = [
            ("nonpersistent.pcap", &[][..]),
            ("client_pool_timeout.pcap", &[][..]),
            ("rst_storm.pcap", &[][..]),
            ("client_pool_timeout.pcap", &["--json"][..]),
        ];
        for (name, more) in cases {
            let path = format!("{}/tests/report/pcaps/{name}", env!("CARGO_MANIFEST_DIR"));
            let (one, members, frames) = one_thread_and_members(&path, more, ms(1_000));
            let (merged, summary) = two_workers(members, more);
            // These captures' connections end one after the other and at distinct
            // times, so capture-time order is the one-thread order.
            assert_eq!(
                String::from_utf8_lossy(&merged),
                String::from_utf8_lossy(&one),
                "{name}"
            );
            assert!(!one.is_empty());
            let kernel = summary.stats.kernel.expect("kernel counters");
            assert_eq!(kernel.captured, frames, "{name}");
            assert_eq!(summary.stats.packets_read, frames, "{name}");
            assert!(summary.notes.is_empty(), "{:?}", summary.notes);
        }
    }

    #[test]
    fn a_quiet_member_ends_idle_connections_by_the_wall_clock() {
        let path = format!(
            "{}/tests/report/pcaps/client_pool_timeout.pcap",
            env!("CARGO_MANIFEST_DIR")
        );
        // Quiet for 3 s after the last frame: past the 1 s timeout and the window.
        let idle = ["--idle-timeout", "1"];
        let (one, members, _) = one_thread_and_members(&path, &idle, ms(3_000));
        let (merged, summary) = two_workers(members, &idle);
        // Without `%streams` (the sixth field): the workers' idle checks run at their own
        // clocks' times, so the count of all connections at each expiry differs.
        let sorted = |bytes: &[u8]| {
            let mut lines: Vec<String> = String::from_utf8_lossy(bytes)
                .lines()
                .map(|l| {
                    let mut fields: Vec<&str> = l.split(' ').collect();
                    fields.remove(5);
                    fields.join(" ")
                })
                .collect();
            lines.sort();
            lines
        };
        assert_eq!(sorted(&merged), sorted(&one));
        assert_eq!(summary.stats.connections_idle_timed_out, 12);
        assert_eq!(summary.stats.connections_open_at_end, 0);
    }

    #[test]
    fn max_streams_is_shared_out_between_the_workers() {
        let path = format!(
            "{}/tests/report/pcaps/client_pool_timeout.pcap",
            env!("CARGO_MANIFEST_DIR")
        );
        // Twelve connections open at once; one thread keeps at most 4 with -s 4.
        let (_, members, _) = one_thread_and_members(&path, &[], ms(1_000));
        let (merged, summary) = two_workers(members, &["-s", "4"]);
        // Each worker holds its part, 2, so at most 3*2/4 + 1 = 2 at once.
        assert!(summary.stats.connections_peak <= 4, "{:?}", summary.stats);
        assert!(
            summary.stats.connections_evicted >= 8,
            "{:?}",
            summary.stats
        );
        assert_eq!(summary.stats.connections, 12);
        let timedout = String::from_utf8_lossy(&merged)
            .matches(" timedout ")
            .count();
        assert!(timedout as u64 >= summary.stats.connections_evicted);
    }
}
