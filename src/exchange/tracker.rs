//! Cuts each connection into exchanges (SPEC §4): a run of client data followed by a
//! run of server data. Receives flow events, keeps per-connection timings and as many
//! bytes as the template needs, and hands each finished exchange to the sink.

use super::http::HeaderEndScan;
use super::record::{CloseOriginator, Exchange, Position};
use super::{ExchangeSink, Needs, Retention};
use crate::chunked_vec::ChunkedVec;
use crate::decode::Endpoint;
use crate::flow::{ConnId, Direction, FlowEvent, FlowEventKind, FlowEventSink};
use crate::time::Timestamp;

/// Most bytes of one phase (request or response) kept for a template that prints it
/// whole; the rest is counted in the sizes but not kept. Large enough for any realistic
/// message, small enough that one hostile stream cannot exhaust memory.
pub const MAX_KEPT_PER_PHASE: usize = 64 << 20;

/// Most bytes of one phase kept while looking for the end of its header block: a
/// header block larger than this is not HTTP (and its line and headers print cut).
pub const MAX_HEADER_KEPT: usize = 256 << 10;

/// Most bytes kept across all connections' pending exchanges.
pub const MAX_KEPT_TOTAL: usize = 1 << 30;

/// Capacity above which an exchange buffer is released rather than reused.
const REUSED_CAPACITY: usize = 64 << 10;

/// Bytes kept for the template across every connection.
#[derive(Debug, Default)]
struct KeptBudget {
    used: usize,
    /// Payload bytes the template wanted but that a bound refused.
    refused: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Request,
    Response,
}

/// An `Option<Timestamp>` in 9 bytes instead of 16: a connection's record holds six,
/// and with hundreds of thousands of connections its size is what costs.
#[derive(Clone, Copy, Debug, Default)]
struct MaybeTime {
    set: bool,
    nanos: [u8; 8],
}

impl MaybeTime {
    fn get(self) -> Option<Timestamp> {
        self.set.then(|| Timestamp(i64::from_ne_bytes(self.nanos)))
    }

    fn put(&mut self, ts: Timestamp) {
        self.set = true;
        self.nanos = ts.0.to_ne_bytes();
    }
}

/// One direction of the exchange being built. Its kept bytes are the last `kept`
/// bytes of the exchange's buffer while it grows: the request's come first, the
/// response's after them (an exchange's request data all precede its response data).
#[derive(Debug, Default)]
struct PhaseBytes {
    /// How many bytes of this phase are kept (at most MAX_KEPT_PER_PHASE: fits u32).
    kept: u32,
    /// Length of the header block in the kept bytes, once its terminator was kept.
    header_len: Option<u32>,
    size: u64,
    first: MaybeTime,
    last: MaybeTime,
    header_end: HeaderEndScan,
}

impl PhaseBytes {
    /// Counts `bytes` and appends to `buffer` as many of them as `retention` asks and
    /// the bounds allow.
    fn add(
        &mut self,
        buffer: &mut Vec<u8>,
        bytes: &[u8],
        ts: Timestamp,
        retention: Retention,
        budget: &mut KeptBudget,
    ) {
        self.size += bytes.len() as u64;
        if !self.first.set {
            self.first.put(ts);
        }
        self.last.put(ts);
        let before = self.kept as usize;
        let looking_for_header = retention.header && !self.header_end.found();
        let limit = if retention.all {
            MAX_KEPT_PER_PHASE
        } else if looking_for_header {
            MAX_HEADER_KEPT.max(retention.prefix)
        } else {
            retention.prefix
        };
        if before >= limit && !retention.all {
            return;
        }
        let mut keep = bytes;
        let mut end = None;
        if looking_for_header {
            end = self.header_end.scan(bytes);
            // Only the header block is read (line, headers, words): what follows its
            // terminating CR is not kept. `header_split` finds the same end in the
            // kept bytes, since it applies the same rule.
            if let Some(end) = end.filter(|_| !retention.all && retention.prefix == 0) {
                keep = &bytes[..=end];
            }
        }
        let room = limit.saturating_sub(before);
        let take = keep
            .len()
            .min(room)
            .min(MAX_KEPT_TOTAL.saturating_sub(budget.used));
        // A template that prints whole phases wanted every byte; one that reads headers
        // only wanted what fits its limit.
        let wanted = if retention.all {
            keep.len()
        } else {
            keep.len().min(room)
        };
        budget.refused += (wanted - take) as u64;
        budget.used += take;
        if buffer.capacity() == 0 && take > 0 {
            // Room for a response as large as the request: most exchanges then need
            // one allocation instead of an allocation and a reallocation.
            buffer.reserve(take * 2);
        }
        buffer.extend_from_slice(&keep[..take]);
        let kept = before + take;
        self.kept = u32::try_from(kept).unwrap_or(u32::MAX);
        if let Some(at) = end.map(|end| before + end).filter(|&at| at < kept) {
            self.header_len = u32::try_from(at).ok();
        }
    }
}

/// Everything known about one connection's current exchange.
#[derive(Debug)]
struct ConnExchange {
    client: Endpoint,
    server: Endpoint,
    opening: Timestamp,
    open: MaybeTime,
    first: bool,
    phase: Phase,
    session_requests: u64,
    /// The kept request bytes, then the kept response bytes: one allocation for both.
    kept: Vec<u8>,
    request: PhaseBytes,
    response: PhaseBytes,
    last_activity: MaybeTime,
}

impl ConnExchange {
    fn new(client: Endpoint, server: Endpoint, opening: Timestamp) -> Self {
        ConnExchange {
            client,
            server,
            opening,
            open: MaybeTime::default(),
            first: true,
            phase: Phase::Idle,
            session_requests: 0,
            kept: Vec::new(),
            request: PhaseBytes::default(),
            response: PhaseBytes::default(),
            last_activity: MaybeTime::default(),
        }
    }

    fn exchange(
        &self,
        streams: usize,
        print: Option<Timestamp>,
        close: Option<Timestamp>,
        originator: Option<CloseOriginator>,
    ) -> Exchange<'_> {
        let at_close = close.is_some();
        let (request, response) = self
            .kept
            .split_at((self.request.kept as usize).min(self.kept.len()));
        let position = match (self.first, at_close) {
            (true, true) => Position::Unique,
            (true, false) => Position::Start,
            (false, false) => Position::Continue,
            (false, true) => Position::Last,
        };
        Exchange {
            client: self.client,
            server: self.server,
            position,
            close_originator: originator,
            streams,
            session_requests: self.session_requests,
            first: self.first,
            opening: self.opening,
            open: self.open.get(),
            request_first: self.request.first.get(),
            request_last: self.request.last.get(),
            response_first: self.response.first.get(),
            response_last: self.response.last.get(),
            print,
            close,
            last_activity: self.last_activity.get(),
            request,
            response,
            request_size: self.request.size,
            response_size: self.response.size,
            request_header_len: self.request.header_len.map(|n| n as usize),
            response_header_len: self.response.header_len.map(|n| n as usize),
        }
    }

    /// Returns the kept bytes to the budget (and a large buffer to the allocator).
    fn release_kept(&mut self, budget: &mut KeptBudget) {
        budget.used = budget.used.saturating_sub(self.kept.len());
        if self.kept.capacity() > REUSED_CAPACITY {
            self.kept = Vec::new();
        }
        self.kept.clear();
    }

    /// Starts the next exchange of the same connection.
    fn next_exchange(&mut self, budget: &mut KeptBudget) {
        self.first = false;
        self.phase = Phase::Idle;
        self.release_kept(budget);
        self.request = PhaseBytes::default();
        self.response = PhaseBytes::default();
        self.last_activity = MaybeTime::default();
    }
}

/// Turns flow events into exchanges for `sink`.
pub struct ExchangeTracker<S> {
    needs: Needs,
    conns: ChunkedVec<Option<ConnExchange>>,
    sink: S,
    exchanges: u64,
    budget: KeptBudget,
}

impl<S: ExchangeSink> ExchangeTracker<S> {
    pub fn new(needs: Needs, sink: S) -> Self {
        ExchangeTracker {
            needs,
            conns: ChunkedVec::new(),
            sink,
            exchanges: 0,
            budget: KeptBudget::default(),
        }
    }

    /// Payload bytes a template wanted kept but that a bound refused.
    pub fn refused_bytes(&self) -> u64 {
        self.budget.refused
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

    fn emit(
        &mut self,
        conn: ConnId,
        streams: usize,
        print: Option<Timestamp>,
        close: Option<Timestamp>,
        originator: Option<CloseOriginator>,
    ) -> std::io::Result<()> {
        let Some(state) = self.conns.get(conn as usize).and_then(Option::as_ref) else {
            return Ok(());
        };
        self.exchanges += 1;
        self.sink
            .exchange(&state.exchange(streams, print, close, originator))
    }

    fn end(
        &mut self,
        conn: ConnId,
        streams: usize,
        print: Option<Timestamp>,
        close: Option<Timestamp>,
        originator: CloseOriginator,
    ) -> std::io::Result<()> {
        let result = self.emit(conn, streams, print, close, Some(originator));
        if let Some(mut state) = self.conns.get_mut(conn as usize).and_then(Option::take) {
            state.release_kept(&mut self.budget);
        }
        result
    }
}

impl<S: ExchangeSink> FlowEventSink for ExchangeTracker<S> {
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
                self.conns[idx] = Some(ConnExchange::new(client, server, ts));
                Ok(())
            }
            FlowEventKind::Established => {
                if let Some(state) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) {
                    state.open.put(ts);
                    state.last_activity.put(ts);
                }
                Ok(())
            }
            FlowEventKind::Data { dir, bytes } => {
                let needs = self.needs;
                let Some(state) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) else {
                    return Ok(());
                };
                match dir {
                    Direction::FromClient => {
                        if state.phase == Phase::Response {
                            self.emit(conn, streams, Some(ts), None, None)?;
                            if let Some(state) =
                                self.conns.get_mut(conn as usize).and_then(Option::as_mut)
                            {
                                state.next_exchange(&mut self.budget);
                            }
                        }
                        let Some(state) =
                            self.conns.get_mut(conn as usize).and_then(Option::as_mut)
                        else {
                            return Ok(());
                        };
                        if state.phase != Phase::Request {
                            state.phase = Phase::Request;
                            state.session_requests += 1;
                        }
                        debug_assert_eq!(state.response.kept, 0, "request bytes come first");
                        state.request.add(
                            &mut state.kept,
                            bytes,
                            ts,
                            needs.request,
                            &mut self.budget,
                        );
                        state.last_activity.put(ts);
                    }
                    Direction::FromServer => {
                        state.phase = Phase::Response;
                        state.response.add(
                            &mut state.kept,
                            bytes,
                            ts,
                            needs.response,
                            &mut self.budget,
                        );
                        state.last_activity.put(ts);
                    }
                }
                Ok(())
            }
            FlowEventKind::Closed { originator } => {
                let originator = match originator {
                    Direction::FromClient => CloseOriginator::Client,
                    Direction::FromServer => CloseOriginator::Server,
                };
                self.end(conn, streams, Some(ts), Some(ts), originator)
            }
            FlowEventKind::TimedOut => {
                self.end(conn, streams, Some(ts), None, CloseOriginator::TimedOut)
            }
            FlowEventKind::Truncated => {
                self.end(conn, streams, None, None, CloseOriginator::Truncated)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
