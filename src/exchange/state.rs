//! The state of one exchange while it is built: its timings, sizes and the bytes kept for
//! the template, whatever analyzer cuts it. Analyzers never touch these directly: they go
//! through [`super::analyzer::Exchanges`].

use super::http::{FieldLines, HeaderEndScan};
use super::http1::KnownHead;
use super::record::Protocol;
use super::{Needs, Retention};
use crate::flow::Direction;
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

/// First capacity of the kept bytes of an exchange whose messages an analyzer decodes
/// (HTTP/2): a request head and a response head of usual size, without a reallocation.
const DECODED_RESERVE: usize = 512;

/// Capacity above which an exchange buffer is released rather than reused.
const REUSED_CAPACITY: usize = 64 << 10;

/// Bytes kept for the template across every connection.
#[derive(Debug, Default)]
pub(crate) struct KeptBudget {
    pub used: usize,
    /// Payload bytes the template wanted but that a bound refused.
    pub refused: u64,
}

/// An `Option<Timestamp>` in 9 bytes instead of 16: a connection's record holds several,
/// and with hundreds of thousands of connections its size is what costs.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MaybeTime {
    set: bool,
    nanos: [u8; 8],
}

impl MaybeTime {
    pub fn get(self) -> Option<Timestamp> {
        self.set.then(|| Timestamp(i64::from_ne_bytes(self.nanos)))
    }

    pub fn put(&mut self, ts: Timestamp) {
        self.set = true;
        self.nanos = ts.0.to_ne_bytes();
    }

    pub fn is_set(self) -> bool {
        self.set
    }
}

/// One direction of an exchange. Its kept bytes are the last `kept` bytes of the
/// exchange's buffer while it grows: the request's come first, the response's after them.
#[derive(Debug)]
pub(crate) struct PhaseBytes {
    /// How many bytes of this phase are kept (at most MAX_KEPT_PER_PHASE: fits u32).
    pub kept: u32,
    /// Length of the header block in the kept bytes, once its terminator was kept
    /// ([`PhaseBytes::header_len`]; `u32::MAX` until then: 4 bytes less than an
    /// `Option`, which makes room for `fields` without growing a connection's state).
    header_len: u32,
    /// The framer's field lines of the header block (valid with `header_len`).
    pub fields: FieldLines,
    pub size: u64,
    pub first: MaybeTime,
    pub last: MaybeTime,
    header_end: HeaderEndScan,
}

impl Default for PhaseBytes {
    fn default() -> Self {
        PhaseBytes {
            kept: 0,
            header_len: u32::MAX,
            fields: FieldLines::default(),
            size: 0,
            first: MaybeTime::default(),
            last: MaybeTime::default(),
            header_end: HeaderEndScan::default(),
        }
    }
}

impl PhaseBytes {
    /// Length of the header block in the kept bytes, once its terminator was kept.
    pub fn header_len(&self) -> Option<u32> {
        (self.header_len != u32::MAX).then_some(self.header_len)
    }
    /// Counts `bytes` and appends to `buffer` as many of them as `retention` asks and
    /// the bounds allow. `known`: what the analyzer knows of the head that starts
    /// `bytes` ([`super::http1::Progress::known`]); it is taken only for the
    /// phase's first bytes, where the scan would find the same header end.
    pub fn add(
        &mut self,
        buffer: &mut Vec<u8>,
        bytes: &[u8],
        ts: Timestamp,
        retention: Retention,
        budget: &mut KeptBudget,
        known: Option<KnownHead>,
    ) {
        let known = known.filter(|k| self.size == 0 && k.header_end < bytes.len());
        self.count(bytes, ts);
        self.keep(buffer, bytes, retention, budget, known);
    }

    /// Appends to `buffer` as many of `bytes` as `retention` asks and the bounds allow,
    /// without counting them in the size or the timings (a message's decoded form, when
    /// its wire bytes are counted apart). `known`: as for [`PhaseBytes::add`].
    pub fn keep(
        &mut self,
        buffer: &mut Vec<u8>,
        bytes: &[u8],
        retention: Retention,
        budget: &mut KeptBudget,
        known: Option<KnownHead>,
    ) {
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
            end = match known {
                Some(k) => {
                    debug_assert_eq!(HeaderEndScan::default().scan(bytes), Some(k.header_end));
                    self.header_end.set_found();
                    self.fields = k.fields;
                    Some(k.header_end)
                }
                None => self.header_end.scan(bytes),
            };
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
            // `at` < kept <= MAX_KEPT_PER_PHASE: never u32::MAX.
            self.header_len = u32::try_from(at).unwrap_or(u32::MAX);
        }
    }

    /// Counts bytes without keeping them (a request phase that goes on once the
    /// response's bytes are being kept after it).
    pub fn count(&mut self, bytes: &[u8], ts: Timestamp) {
        self.count_len(bytes.len() as u64, ts);
    }

    /// Counts `len` bytes that arrived at `ts`.
    pub fn count_len(&mut self, len: u64, ts: Timestamp) {
        self.size = self.size.saturating_add(len);
        if !self.first.set {
            self.first.put(ts);
        }
        self.last.put(ts);
    }

    /// Keeps what `retention` asks of `kept` but counts `size` bytes (an analyzer's
    /// own message: see `Exchanges::message_data`).
    pub fn add_sized(
        &mut self,
        buffer: &mut Vec<u8>,
        kept: &[u8],
        size: u64,
        ts: Timestamp,
        retention: Retention,
        budget: &mut KeptBudget,
    ) {
        let before = self.size;
        self.add(buffer, kept, ts, retention, budget, None);
        self.size = before.saturating_add(size);
    }
}

/// Facts of an exchange that only protocol analyzers know (`messages` mode); in
/// `turns` mode they stay at their defaults and their keywords print not-found.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MessageFacts {
    /// Both messages were finished by their framing.
    pub complete: bool,
    /// The analyzer framed this exchange (its `complete` and body sizes mean something).
    pub framed: bool,
    /// Decoded body bytes (chunk framing excluded), meaningful once the message's head
    /// was read (`request_head`, `response_head`).
    pub request_body: u64,
    pub response_body: u64,
    pub request_head: bool,
    pub response_head: bool,
    /// Interim (1xx) responses.
    pub interim: u16,
    /// What the response framing must know of the request (HTTP/1).
    pub request_kind: Option<super::http1::RequestKind>,
    /// The request message ended by its framing.
    pub request_done: bool,
}

/// One exchange being built.
#[derive(Debug, Default)]
pub(crate) struct ExchangeState {
    /// The tracker's serial number of this exchange ([`super::Exchange::id`]).
    pub id: u64,
    /// The kept request bytes, then the kept response bytes: one allocation for both.
    pub kept: Vec<u8>,
    pub request: PhaseBytes,
    pub response: PhaseBytes,
    /// The most recent open/request/response event of this exchange.
    pub last_activity: MaybeTime,
    /// Request runs of the connection up to this exchange (`%session.requests`).
    pub session_requests: u32,
    /// Requests of the connection still unanswered when this one started.
    pub pipelined: u32,
    /// Bytes the capture missed inside this exchange.
    pub gap: u64,
    /// The end of the previous exchange's response when this one's request began
    /// (`%idle.time.before`); for the first exchange, the open time.
    pub previous_end: MaybeTime,
    pub facts: MessageFacts,
    /// The analyzer is done with it: the response ended (or the exchange was given up).
    pub done: bool,
    /// The protocol when the analyzer finished it (a `CONNECT` exchange stays HTTP once
    /// its tunnel is found to carry TLS).
    pub protocol: Option<Protocol>,
    /// The HTTP/2 stream this exchange is (`messages` mode, h2c): boxed, one pointer
    /// for every other exchange.
    pub h2: Option<Box<super::h2_facts::H2StreamFacts>>,
    /// Printed as soon as it is done, not when what follows it begins
    /// (`Exchanges::print_when_done`).
    pub flush: bool,
}

impl ExchangeState {
    /// A new exchange, numbered from the tracker's `serial`.
    pub fn numbered(serial: &mut u64) -> Self {
        let id = *serial;
        *serial += 1;
        ExchangeState {
            id,
            ..ExchangeState::default()
        }
    }

    /// Whether any byte of either direction arrived.
    pub fn begun(&self) -> bool {
        self.request.first.is_set() || self.response.first.is_set()
    }

    /// Request bytes; `known` as in [`PhaseBytes::add`].
    pub fn add_request(
        &mut self,
        bytes: &[u8],
        ts: Timestamp,
        needs: Needs,
        b: &mut KeptBudget,
        known: Option<KnownHead>,
    ) {
        if self.response.kept > 0 {
            // Kept request bytes must precede the response's in the shared buffer: a
            // request still being sent after its response began is counted, not kept.
            self.request.count(bytes, ts);
        } else {
            self.request
                .add(&mut self.kept, bytes, ts, needs.request, b, known);
        }
        self.last_activity.put(ts);
    }

    /// [`ExchangeState::add_request`] of a message counted as `size` bytes.
    pub fn add_request_sized(
        &mut self,
        kept: &[u8],
        size: u64,
        ts: Timestamp,
        needs: Needs,
        b: &mut KeptBudget,
    ) {
        if self.response.kept > 0 {
            self.request.count_len(size, ts);
        } else {
            self.request
                .add_sized(&mut self.kept, kept, size, ts, needs.request, b);
        }
        self.last_activity.put(ts);
    }

    /// [`ExchangeState::add_response`] of a message counted as `size` bytes.
    pub fn add_response_sized(
        &mut self,
        kept: &[u8],
        size: u64,
        ts: Timestamp,
        needs: Needs,
        b: &mut KeptBudget,
    ) {
        self.response
            .add_sized(&mut self.kept, kept, size, ts, needs.response, b);
        self.last_activity.put(ts);
    }

    /// Response bytes; `known` as in [`PhaseBytes::add`].
    pub fn add_response(
        &mut self,
        bytes: &[u8],
        ts: Timestamp,
        needs: Needs,
        b: &mut KeptBudget,
        known: Option<KnownHead>,
    ) {
        self.response
            .add(&mut self.kept, bytes, ts, needs.response, b, known);
        self.last_activity.put(ts);
    }

    /// Counts `len` wire bytes of `dir` that arrived at `ts`, keeping none.
    pub fn count_wire(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        match dir {
            Direction::FromClient => self.request.count_len(len, ts),
            Direction::FromServer => self.response.count_len(len, ts),
        }
        self.last_activity.put(ts);
    }

    /// Keeps `bytes` of `dir` as the template needs without counting them: the decoded
    /// form of a message whose wire bytes are counted by [`Self::count_wire`]. Request
    /// bytes after kept response bytes are dropped (the request's come first). `known`:
    /// what the analyzer knows of a head that `bytes` are, taken when they are the
    /// phase's first kept bytes.
    pub fn keep_decoded(
        &mut self,
        dir: Direction,
        bytes: &[u8],
        needs: Needs,
        b: &mut KeptBudget,
        known: Option<KnownHead>,
    ) {
        if self.kept.capacity() == 0 {
            // Room for both decoded heads of a usual exchange at once.
            self.kept.reserve(DECODED_RESERVE);
        }
        let (phase, retention) = match dir {
            Direction::FromClient if self.response.kept == 0 => (&mut self.request, needs.request),
            Direction::FromClient => return,
            Direction::FromServer => (&mut self.response, needs.response),
        };
        let known = known.filter(|k| phase.kept == 0 && k.header_end < bytes.len());
        phase.keep(&mut self.kept, bytes, retention, b, known);
    }

    /// Inserts `lines` (whole `name: value\r\n` lines) at the end of the kept header
    /// block of `dir`, before its terminating empty line: trailers that arrive after the
    /// body. Nothing happens when no terminated header block is kept, or when the
    /// block would grow past [`MAX_HEADER_KEPT`] (counted as refused).
    pub fn insert_in_head(&mut self, dir: Direction, lines: &[u8], budget: &mut KeptBudget) {
        let request_kept = (self.request.kept as usize).min(self.kept.len());
        let (start, phase) = match dir {
            Direction::FromClient => (0, &mut self.request),
            Direction::FromServer => (request_kept, &mut self.response),
        };
        let end = (start + phase.kept as usize).min(self.kept.len());
        let (header_len, _) = super::http::header_split(&self.kept[start..end]);
        let fits = header_len + lines.len() <= MAX_HEADER_KEPT
            && budget.used.saturating_add(lines.len()) <= MAX_KEPT_TOTAL;
        if header_len >= end - start || lines.is_empty() {
            return;
        }
        if !fits {
            budget.refused += lines.len() as u64;
            return;
        }
        let at = start + header_len;
        self.kept.splice(at..at, lines.iter().copied());
        // The inserted lines may name what the field lines said was absent.
        phase.fields = FieldLines::default();
        budget.used += lines.len();
        phase.kept = phase.kept.saturating_add(lines.len() as u32);
        if phase.header_len != u32::MAX {
            phase.header_len = phase.header_len.saturating_add(lines.len() as u32);
        }
    }

    /// Forgets the response so far (an interim 1xx response: the record shows the final
    /// one), keeping the request.
    pub fn restart_response(&mut self, budget: &mut KeptBudget) {
        let request_kept = (self.request.kept as usize).min(self.kept.len());
        budget.used = budget.used.saturating_sub(self.kept.len() - request_kept);
        self.kept.truncate(request_kept);
        self.response = PhaseBytes::default();
    }

    /// Returns the kept bytes to the budget (and a large buffer to the allocator).
    pub fn release_kept(&mut self, budget: &mut KeptBudget) {
        budget.used = budget.used.saturating_sub(self.kept.len());
        if self.kept.capacity() > REUSED_CAPACITY {
            self.kept = Vec::new();
        }
        self.kept.clear();
    }
}

/// What is known of a connection beyond its exchanges.
#[derive(Debug, Default)]
pub(crate) struct ConnFacts {
    pub protocol: Protocol,
    /// Request runs so far.
    pub session_requests: u32,
    /// Exchanges printed so far.
    pub printed: u32,
    /// The end of the last finished response (`%idle.time.before` of the next request).
    pub last_response_end: MaybeTime,
    /// Picked up mid-stream (`-m`): detection also looks for protocol messages that do
    /// not start the connection.
    pub mid_stream: bool,
}
