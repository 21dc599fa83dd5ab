//! The connection table and the TCP state machine (SPEC §3).
//!
//! Connections live in a slab (`ChunkedVec<Option<Conn>>`, ids reused through a free list),
//! are found through an index keyed by the unordered pair of endpoints (one lookup per
//! packet, whichever side sent it), and are chained in creation order, which decides
//! eviction (oldest first) and the end-of-capture flush.
//!
//! The index ([`Index`]) holds only connection ids; a probe compares the endpoints
//! stored in the connection itself, which the packet is about to update anyway.

use std::hash::BuildHasher;
use std::net::IpAddr;

use super::index::Index;
use super::lifecycle::Lifecycle;
use super::reassembly::{QueueBudget, Reassembler};
use super::seq::SeqNum;
use super::{ConnId, Direction, FlowEvent, FlowEventKind, FlowEventSink};
use crate::chunked_vec::ChunkedVec;
use crate::decode::{Endpoint, Segment};
use crate::time::Timestamp;

/// Largest window scale shift honoured (RFC 7323 §2.3).
const MAX_WINDOW_SHIFT: u8 = 14;

/// Most SYN payload bytes held at once for TCP Fast Open: a flood of SYNs with data
/// cannot hold more; beyond it their data is skipped as in `turns` mode.
const MAX_SYN_DATA_TOTAL: usize = 16 << 20;

/// Window advertised to the peer's check for a half we have not seen yet (`-m`).
const UNKNOWN_WINDOW: u16 = u16::MAX;

/// Default `-s`: far above justniffer's 16384, which silently lost exchanges beyond
/// 12,289 concurrent connections.
pub const DEFAULT_MAX_STREAMS: usize = 1 << 20;

/// The table's limits and modes.
#[derive(Clone, Copy, Debug)]
pub struct FlowConfig {
    /// `-s N`: at most `3*N/4 + 1` connections are tracked at once.
    pub max_streams: usize,
    /// `-m`: track connections whose SYN was not seen.
    pub midstream: bool,
    /// Most out-of-order bytes one direction may keep waiting.
    pub queue_per_direction: usize,
    /// Most out-of-order bytes all connections together may keep waiting.
    pub queue_total: usize,
    /// When a receiver acknowledges data the capture never had, report the hole as a
    /// gap and deliver what follows it, instead of waiting for it forever (`messages`
    /// mode, `--skip-gaps`; justniffer waits).
    pub skip_gaps: bool,
    /// Deliver the payload of a SYN that the SYN-ACK acknowledges (TCP Fast Open,
    /// RFC 7413) as the client's first data, instead of skipping it (`messages` mode).
    pub syn_data: bool,
    /// Count each connection's packets, retransmissions, zero windows and gaps and keep
    /// its Zeek-style history and state ([`Lifecycle`]), reported to the sink before
    /// the connection ends (for connection records).
    pub lifecycle: bool,
    /// `--idle-timeout`: end a connection with no packet either way for this many
    /// nanoseconds of capture time (needs [`FlowConfig::lifecycle`], which keeps the
    /// last packet's time).
    pub idle_timeout: Option<i64>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_streams: DEFAULT_MAX_STREAMS,
            midstream: false,
            // A gap is normally filled within one window; 4 MiB covers large scaled
            // windows while keeping a hostile stream of never-filled gaps cheap.
            queue_per_direction: 4 << 20,
            queue_total: 256 << 20,
            skip_gaps: false,
            syn_data: false,
            lifecycle: false,
            idle_timeout: None,
        }
    }
}

/// Counters reported at exit (the end-of-run summary).
#[derive(Clone, Debug, Default)]
pub struct FlowStats {
    /// Connections tracked, from their SYN or (`-m`) mid-stream.
    pub connections: u64,
    /// Of those, picked up mid-stream (`-m`).
    pub midstream_connections: u64,
    /// Ended to make room for a new one (`-s`).
    pub evicted: u64,
    /// Connections ended by `--idle-timeout`.
    pub idle_timed_out: u64,
    /// Still open at the end of the capture, reported truncated.
    pub open_at_end: u64,
    /// Packets of unknown connections that could not start one.
    pub unknown_packets: u64,
    /// Segments outside the receiver's window.
    pub out_of_window: u64,
    /// Segments dropped by the timestamp check (PAWS).
    pub paws_dropped: u64,
    /// Holes the receiver acknowledged but the capture never had, skipped
    /// ([`FlowConfig::skip_gaps`]), and their bytes.
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Most connections tracked at once.
    pub peak_tracked: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// SYN seen.
    SynSent,
    /// SYN-ACK acknowledging the client's SYN seen.
    SynReceived,
    /// Handshake complete: payload is delivered.
    Established,
}

/// One side of a connection: what it sends (its stream) and what it advertises.
#[derive(Debug)]
struct Half {
    /// The sequence number of this side's first data byte: its ISN + 1, plus any
    /// payload its SYN carried (skipped, but it used sequence space).
    first_seq: SeqNum,
    stream: Reassembler,
    /// Highest acknowledgment number this side sent: the base of its receive window.
    ack_seq: Option<SeqNum>,
    window: u16,
    window_shift: u8,
    /// TSval of this side's last in-order segment (RFC 7323 §5, PAWS).
    last_tsval: Option<u32>,
}

impl Half {
    fn new(first_seq: SeqNum, window: u16) -> Self {
        Half {
            first_seq,
            stream: Reassembler::new(first_seq),
            ack_seq: None,
            window,
            window_shift: 0,
            last_tsval: None,
        }
    }

    /// Whether a segment from the peer falls in this side's receive window
    /// (SPEC §3.3; an empty segment exactly at the ACK point always does).
    fn accepts(&self, seq: SeqNum, len: usize) -> bool {
        let Some(ack) = self.ack_seq else {
            return false;
        };
        if len == 0 && seq == ack {
            return true;
        }
        let span = (u64::from(self.window) << self.window_shift).min(u64::from(u32::MAX >> 1));
        seq.before(ack.wrapping_add(span as u32)) && !seq.wrapping_add(len as u32).before(ack)
    }

    fn record_ack(&mut self, ack: SeqNum) {
        match self.ack_seq {
            Some(current) if !ack.after(current) => {}
            _ => self.ack_seq = Some(ack),
        }
    }
}

#[derive(Debug)]
struct Conn {
    client: Endpoint,
    server: Endpoint,
    /// [`PairHasher::key`] of the endpoints and segment: the index needs it again when
    /// it grows.
    hash: u64,
    /// The virtual network the connection lives in ([`crate::decode::Tunnels::segment_id`],
    /// 0 for none): part of the connection key with the endpoints.
    segment: u32,
    state: State,
    /// `[client, server]`.
    halves: [Half; 2],
    /// Both SYNs carried timestamps: PAWS applies.
    timestamps: bool,
    /// The window scale the client's SYN offered.
    client_window_scale: Option<u8>,
    /// The side whose FIN was delivered first.
    first_fin: Option<Direction>,
    /// Creation-order chain.
    older: Option<ConnId>,
    newer: Option<ConnId>,
}

/// Hashes the unordered pair of endpoints: one value for both directions.
///
/// Each endpoint is hashed alone with a per-run random seed and the two hashes are
/// added, which needs no ordering of the endpoints and lets nobody predict collisions.
struct PairHasher(foldhash::fast::RandomState);

impl PairHasher {
    fn endpoint(&self, e: &Endpoint) -> u64 {
        // The address family goes with the port: ::a.b.c.d and a.b.c.d differ.
        let (bits, family) = match e.ip {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 4u32),
            IpAddr::V6(a) => (u128::from(a), 6u32),
        };
        self.0.hash_one((bits, family << 16 | u32::from(e.port)))
    }

    fn pair(&self, a: &Endpoint, b: &Endpoint) -> u64 {
        self.endpoint(a).wrapping_add(self.endpoint(b))
    }

    /// The whole connection key: the pair and, when there is one, the virtual network.
    fn key(&self, a: &Endpoint, b: &Endpoint, segment: u32) -> u64 {
        let pair = self.pair(a, b);
        if segment == 0 {
            pair
        } else {
            pair ^ self.0.hash_one(segment)
        }
    }
}

/// The connection table.
pub struct FlowTable {
    config: FlowConfig,
    /// Ids of the tracked connections, by [`PairHasher::pair`] of their endpoints.
    index: Index,
    hasher: PairHasher,
    slots: ChunkedVec<Option<Conn>>,
    /// Each slot's counters, history and Zeek state, beside `slots` so that a table
    /// without [`FlowConfig::lifecycle`] pays nothing for them (empty then).
    lives: ChunkedVec<Lifecycle>,
    free: Vec<ConnId>,
    oldest: Option<ConnId>,
    newest: Option<ConnId>,
    tracked: usize,
    budget: QueueBudget,
    stats: FlowStats,
    last_ts: Timestamp,
    /// When to look for idle connections next ([`FlowConfig::idle_timeout`]).
    next_idle_check: Timestamp,
    /// SYN payloads waiting for the SYN-ACK to say whether the server took them
    /// ([`FlowConfig::syn_data`]), and the bytes they hold (bounded by
    /// [`MAX_SYN_DATA_TOTAL`]).
    syn_data: std::collections::HashMap<ConnId, Box<[u8]>>,
    syn_data_bytes: usize,
    /// The connection of the previous packet: packets mostly come in runs of one
    /// connection, and checking it first spares hashing the endpoints and a probe of a
    /// large index (a likely cache miss).
    recent: Option<ConnId>,
    /// Idle expiry runs only when the caller asks ([`FlowTable::expire_idle_at`]): a
    /// worker of a parallel run holds part of the connections, and the reader, which
    /// sees every packet, decides when the one-thread table would have looked.
    external_clock: bool,
}

/// The virtual network of a segment's connection (0: none).
fn segment_of(seg: &Segment<'_>) -> u32 {
    seg.tunnel.map_or(0, |t| t.segment_id())
}

/// The index hash of the connection in `slots[id]` (which is occupied).
fn conn_hash(slots: &ChunkedVec<Option<Conn>>, id: ConnId) -> u64 {
    slots
        .get(id as usize)
        .and_then(Option::as_ref)
        .map_or(0, |c| c.hash)
}

fn index(dir: Direction) -> (usize, usize) {
    match dir {
        Direction::FromClient => (0, 1),
        Direction::FromServer => (1, 0),
    }
}

impl FlowTable {
    pub fn new(config: FlowConfig) -> Self {
        FlowTable {
            config,
            index: Index::new(),
            hasher: PairHasher(foldhash::fast::RandomState::default()),
            slots: ChunkedVec::new(),
            lives: ChunkedVec::new(),
            free: Vec::new(),
            oldest: None,
            newest: None,
            tracked: 0,
            budget: QueueBudget::new(config.queue_per_direction, config.queue_total),
            stats: FlowStats::default(),
            syn_data: std::collections::HashMap::new(),
            syn_data_bytes: 0,
            last_ts: Timestamp::default(),
            next_idle_check: Timestamp(i64::MIN),
            recent: None,
            external_clock: false,
        }
    }

    /// Leaves idle expiry to the caller ([`FlowTable::expire_idle_at`],
    /// [`FlowTable::finish_at`]): for a table that holds part of a run's connections
    /// (`src/parallel/`). Eviction is the caller's too: give such a table a `max_streams`
    /// it cannot reach and call [`FlowTable::evict_oldest`].
    pub fn with_external_clock(mut self) -> Self {
        self.external_clock = true;
        self
    }

    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    pub fn queue_budget(&self) -> &QueueBudget {
        &self.budget
    }

    /// Connections tracked now.
    pub fn tracked(&self) -> usize {
        self.tracked
    }

    /// The SYN data held for `id`, taken out of the table. The map is empty unless a
    /// SYN carried data (`messages` mode, TCP Fast Open): checked first, since hashing
    /// the id for every connection's SYN-ACK and removal cost 2 % of a run of short
    /// connections.
    fn take_syn_data(&mut self, id: ConnId) -> Option<Box<[u8]>> {
        if self.syn_data.is_empty() {
            return None;
        }
        let data = self.syn_data.remove(&id)?;
        self.syn_data_bytes -= data.len();
        Some(data)
    }

    /// Most connections tracked at once: `3*N/4 + 1`.
    fn limit_reached(&self) -> bool {
        self.tracked > self.config.max_streams.saturating_mul(3) / 4
    }

    /// Processes one segment, emitting the events it causes.
    pub fn process(
        &mut self,
        seg: &Segment<'_>,
        sink: &mut dyn FlowEventSink,
    ) -> std::io::Result<()> {
        self.last_ts = seg.ts;
        if self.config.idle_timeout.is_some()
            && !self.external_clock
            && seg.ts >= self.next_idle_check
        {
            self.expire_idle(seg.ts, sink)?;
        }
        let (src, dst) = (&seg.key.src, &seg.key.dst);
        let segment = segment_of(seg);
        let slots = &self.slots;
        let same_endpoints = |c: &Conn| {
            c.segment == segment
                && ((c.client == *src && c.server == *dst)
                    || (c.client == *dst && c.server == *src))
        };
        // The previous packet's connection is compared first, before hashing: packets
        // mostly come in runs of one connection.
        let recent = self
            .recent
            .filter(|&id| slots[id as usize].as_ref().is_some_and(same_endpoints));
        let (found, hash) = match recent {
            Some(id) => (Some(id), None),
            None => {
                let hash = self.hasher.key(src, dst, segment);
                let is = |id: ConnId| {
                    slots[id as usize]
                        .as_ref()
                        .is_some_and(|c| c.hash == hash && same_endpoints(c))
                };
                (self.index.find(hash, is), Some(hash))
            }
        };
        match found {
            Some(id) => {
                self.recent = Some(id);
                self.update(id, seg, sink)
            }
            None => {
                let hash = hash.unwrap_or_else(|| self.hasher.key(src, dst, segment));
                let f = seg.flags;
                if f.syn() && !f.ack() && !f.rst() {
                    self.open_from_syn(hash, seg, sink)
                } else if self.config.midstream && !f.syn() {
                    self.open_midstream(hash, seg, sink)
                } else {
                    self.stats.unknown_packets += 1;
                    Ok(())
                }
            }
        }
    }

    /// Ends every tracked connection with no packet for the idle timeout at `now`, oldest
    /// first; checked again a quarter of the timeout (at most a second) later. One pass
    /// over the table per check: cheap against the packets in between.
    fn expire_idle(&mut self, now: Timestamp, sink: &mut dyn FlowEventSink) -> std::io::Result<()> {
        let Some(timeout) = self.config.idle_timeout else {
            return Ok(());
        };
        self.next_idle_check =
            Timestamp(now.0.saturating_add((timeout / 4).clamp(1, 1_000_000_000)));
        let mut next = self.oldest;
        while let Some(id) = next {
            next = self
                .slots
                .get(id as usize)
                .and_then(Option::as_ref)
                .and_then(|c| c.newer);
            // The time the connection became idle for the timeout: the same whenever the
            // check runs.
            let expired = self
                .lives
                .get(id as usize)
                .map(|l| Timestamp(l.last_packet().0.saturating_add(timeout)))
                .filter(|&at| at <= now);
            if let Some(at) = expired {
                self.report_lifecycle(id, sink)?;
                let streams = self.tracked;
                sink.event(FlowEvent {
                    conn: id,
                    ts: at,
                    streams,
                    kind: FlowEventKind::IdleTimedOut,
                })?;
                self.remove(id);
                self.stats.idle_timed_out += 1;
            }
        }
        Ok(())
    }

    /// Runs the idle check at `now` as [`FlowTable::process`] would have at a packet of
    /// that time ([`FlowTable::with_external_clock`]).
    pub fn expire_idle_at(
        &mut self,
        now: Timestamp,
        sink: &mut dyn FlowEventSink,
    ) -> std::io::Result<()> {
        self.expire_idle(now, sink)
    }

    /// [`FlowTable::finish`] with the time of the run's last packet, which this table
    /// may not have seen ([`FlowTable::with_external_clock`]).
    pub fn finish_at(
        &mut self,
        last_ts: Timestamp,
        sink: &mut dyn FlowEventSink,
    ) -> std::io::Result<()> {
        self.last_ts = last_ts;
        self.finish(sink)
    }

    /// Whether `seg` would open a connection: it belongs to none tracked and may start
    /// one (a SYN, or with `-m` any packet without SYN).
    pub fn would_open(&self, seg: &Segment<'_>) -> bool {
        let f = seg.flags;
        let may_open = (f.syn() && !f.ack() && !f.rst()) || (self.config.midstream && !f.syn());
        if !may_open {
            return false;
        }
        let (src, dst) = (&seg.key.src, &seg.key.dst);
        let segment = segment_of(seg);
        let hash = self.hasher.key(src, dst, segment);
        let slots = &self.slots;
        let is = |id: ConnId| {
            slots
                .get(id as usize)
                .and_then(Option::as_ref)
                .is_some_and(|c| {
                    c.hash == hash
                        && c.segment == segment
                        && ((c.client == *src && c.server == *dst)
                            || (c.client == *dst && c.server == *src))
                })
        };
        self.index.find(hash, is).is_none()
    }

    /// The oldest connection tracked, the next one eviction ends.
    pub fn oldest(&self) -> Option<ConnId> {
        self.oldest
    }

    /// Connections still open, oldest first, with their lifecycle so far (interim
    /// records; empty lifecycles without [`FlowConfig::lifecycle`]).
    pub fn open_connections(&self) -> impl Iterator<Item = (ConnId, Lifecycle)> + '_ {
        let mut next = self.oldest;
        std::iter::from_fn(move || {
            let id = next?;
            next = self.slots.get(id as usize)?.as_ref()?.newer;
            Some((id, self.lives.get(id as usize).copied().unwrap_or_default()))
        })
    }

    /// Ends every tracked connection as truncated, oldest first (end of capture); those
    /// idle for the idle timeout by then end as idle first.
    pub fn finish(&mut self, sink: &mut dyn FlowEventSink) -> std::io::Result<()> {
        if self.config.idle_timeout.is_some() {
            self.expire_idle(self.last_ts, sink)?;
        }
        let streams = self.tracked;
        while let Some(id) = self.oldest {
            let ts = self.last_ts;
            self.report_lifecycle(id, sink)?;
            sink.event(FlowEvent {
                conn: id,
                ts,
                streams,
                kind: FlowEventKind::Truncated,
            })?;
            self.remove(id);
            self.stats.open_at_end += 1;
        }
        Ok(())
    }

    fn make_room(&mut self, ts: Timestamp, sink: &mut dyn FlowEventSink) -> std::io::Result<()> {
        if self.limit_reached() {
            self.evict_oldest(ts, sink)?;
        }
        Ok(())
    }

    /// Ends the oldest connection as timed out, at `ts`, to make room for a new one:
    /// what a full table does at a creation (`-s`).
    pub fn evict_oldest(
        &mut self,
        ts: Timestamp,
        sink: &mut dyn FlowEventSink,
    ) -> std::io::Result<()> {
        if let Some(oldest) = self.oldest {
            let streams = self.tracked;
            self.report_lifecycle(oldest, sink)?;
            sink.event(FlowEvent {
                conn: oldest,
                ts,
                streams,
                kind: FlowEventKind::TimedOut,
            })?;
            self.remove(oldest);
            self.stats.evicted += 1;
        }
        Ok(())
    }

    fn insert(&mut self, mut conn: Conn) -> ConnId {
        conn.older = self.newest;
        conn.newer = None;
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(conn);
                id
            }
            None => {
                self.slots.push(Some(conn));
                // The free list can come to hold every slot: grow it with them rather
                // than while connections close, when a large reallocation makes the
                // allocator walk every small block freed so far.
                self.free
                    .reserve(self.slots.capacity().saturating_sub(self.free.len()));
                (self.slots.len() - 1) as ConnId
            }
        };
        if let Some(prev) = self.newest {
            if let Some(p) = self.slots[prev as usize].as_mut() {
                p.newer = Some(id);
            }
        }
        self.newest = Some(id);
        if self.oldest.is_none() {
            self.oldest = Some(id);
        }
        if self.config.lifecycle {
            if self.lives.len() <= id as usize {
                self.lives.resize_with(id as usize + 1, Lifecycle::default);
            }
            if let Some(life) = self.lives.get_mut(id as usize) {
                *life = Lifecycle::default();
            }
        }
        self.index.insert(conn_hash(&self.slots, id), id);
        self.tracked += 1;
        self.stats.connections += 1;
        self.stats.peak_tracked = self.stats.peak_tracked.max(self.tracked);
        id
    }

    fn remove(&mut self, id: ConnId) {
        let Some(mut conn) = self.slots.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        for half in &mut conn.halves {
            half.stream.abandon(&mut self.budget);
        }
        match conn.older {
            Some(o) => {
                if let Some(c) = self.slots[o as usize].as_mut() {
                    c.newer = conn.newer;
                }
            }
            None => self.oldest = conn.newer,
        }
        match conn.newer {
            Some(n) => {
                if let Some(c) = self.slots[n as usize].as_mut() {
                    c.older = conn.older;
                }
            }
            None => self.newest = conn.older,
        }
        self.index.remove(conn.hash, id);
        self.take_syn_data(id);
        if self.recent == Some(id) {
            self.recent = None;
        }
        self.free.push(id);
        self.tracked -= 1;
    }

    fn open_from_syn(
        &mut self,
        hash: u64,
        seg: &Segment<'_>,
        sink: &mut dyn FlowEventSink,
    ) -> std::io::Result<()> {
        self.make_room(seg.ts, sink)?;
        let first_seq = SeqNum(seg.seq)
            .wrapping_add(1)
            .wrapping_add(seg.payload.len() as u32);
        let mut client = Half::new(first_seq, seg.window);
        client.last_tsval = seg.options.timestamp.map(|(val, _)| val);
        let conn = Conn {
            client: seg.key.src,
            server: seg.key.dst,
            hash,
            segment: segment_of(seg),
            state: State::SynSent,
            halves: [client, Half::new(SeqNum(0), 0)],
            timestamps: seg.options.timestamp.is_some(),
            client_window_scale: seg.options.window_scale,
            first_fin: None,
            older: None,
            newer: None,
        };
        let (client, server) = (conn.client, conn.server);
        let id = self.insert(conn);
        self.count_packet(id, Direction::FromClient, seg);
        if self.config.syn_data
            && !seg.payload.is_empty()
            && self.syn_data_bytes + seg.payload.len() <= MAX_SYN_DATA_TOTAL
        {
            self.syn_data_bytes += seg.payload.len();
            self.syn_data.insert(id, seg.payload.into());
        }
        sink.event(FlowEvent {
            conn: id,
            ts: seg.ts,
            streams: self.tracked,
            kind: FlowEventKind::Opening { client, server },
        })
    }

    /// SPEC §3.6: the sender of the first packet seen is the client; sequence numbers
    /// come from that packet and its payload is taken without a window check (an RST
    /// opens and closes the connection at once).
    fn open_midstream(
        &mut self,
        hash: u64,
        seg: &Segment<'_>,
        sink: &mut dyn FlowEventSink,
    ) -> std::io::Result<()> {
        self.make_room(seg.ts, sink)?;
        let mut client = Half::new(SeqNum(seg.seq), seg.window);
        let mut server = Half::new(SeqNum(seg.ack), UNKNOWN_WINDOW);
        // The handshake's window scales are unknown: assume the largest, so that a
        // real scaled window is never mistaken for a small one.
        client.window_shift = MAX_WINDOW_SHIFT;
        server.window_shift = MAX_WINDOW_SHIFT;
        if seg.flags.ack() {
            client.ack_seq = Some(SeqNum(seg.ack));
        }
        server.ack_seq = Some(SeqNum(seg.seq));
        let conn = Conn {
            client: seg.key.src,
            server: seg.key.dst,
            hash,
            segment: segment_of(seg),
            state: State::Established,
            halves: [client, server],
            timestamps: false,
            client_window_scale: None,
            first_fin: None,
            older: None,
            newer: None,
        };
        let (client, server) = (conn.client, conn.server);
        let id = self.insert(conn);
        self.count_packet(id, Direction::FromClient, seg);
        self.stats.midstream_connections += 1;
        let streams = self.tracked;
        let ts = seg.ts;
        sink.event(FlowEvent {
            conn: id,
            ts,
            streams,
            kind: FlowEventKind::Opening { client, server },
        })?;
        sink.picked_up_mid_stream(id);
        sink.event(FlowEvent {
            conn: id,
            ts,
            streams,
            kind: FlowEventKind::Established,
        })?;
        if seg.flags.rst() {
            // SPEC §3.6: an RST creates the connection and closes it at once, closed by
            // its sender; its payload is ignored as any RST's.
            return self.close(id, Direction::FromClient, ts, sink);
        }
        self.deliver(id, Direction::FromClient, seg, sink)?;
        self.after_segment(id, Direction::FromClient, seg);
        Ok(())
    }

    fn update(
        &mut self,
        id: ConnId,
        seg: &Segment<'_>,
        sink: &mut dyn FlowEventSink,
    ) -> std::io::Result<()> {
        let streams = self.tracked;
        let Some(conn) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return Ok(());
        };
        let dir = if seg.key.src == conn.client {
            Direction::FromClient
        } else {
            Direction::FromServer
        };
        let (s, r) = index(dir);
        let flags = seg.flags;
        let seq = SeqNum(seg.seq);
        let ack = SeqNum(seg.ack);
        if let Some(life) = self.lives.get_mut(id as usize) {
            life.packet(seg.ts, dir, flags, seg.seq, seg.payload.len(), seg.window);
        }

        if flags.syn() {
            // Only the SYN-ACK that acknowledges the client's SYN counts (SPEC §3.2);
            // repeated SYNs and SYN-ACKs are ignored.
            let expected = conn.halves[0].first_seq;
            // With Fast Open data held, a SYN-ACK of the ISN + 1 alone says the server
            // did not take it: the client sends it again after the handshake.
            let held = if self.syn_data.is_empty() {
                0
            } else {
                self.syn_data.get(&id).map_or(0, |d| d.len() as u32)
            };
            let refused_syn_data = held > 0 && ack == expected.wrapping_add(held.wrapping_neg());
            if dir == Direction::FromServer
                && conn.state == State::SynSent
                && flags.ack()
                && !flags.rst()
                && (ack == expected || refused_syn_data)
            {
                if refused_syn_data {
                    conn.halves[0].first_seq = ack;
                    conn.halves[0].stream = Reassembler::new(ack);
                    if let Some(data) = self.syn_data.remove(&id) {
                        self.syn_data_bytes -= data.len();
                    }
                }
                let mut server = Half::new(seq.wrapping_add(1), seg.window);
                server.ack_seq = Some(ack);
                server.last_tsval = seg.options.timestamp.map(|(val, _)| val);
                // Window scaling applies only when both SYNs offered it (RFC 7323 §2.2).
                if let (Some(client_shift), Some(server_shift)) =
                    (conn.client_window_scale, seg.options.window_scale)
                {
                    conn.halves[0].window_shift = client_shift.min(MAX_WINDOW_SHIFT);
                    server.window_shift = server_shift.min(MAX_WINDOW_SHIFT);
                }
                conn.timestamps &= seg.options.timestamp.is_some();
                conn.halves[1] = server;
                conn.state = State::SynReceived;
                if let Some(life) = self.lives.get_mut(id as usize) {
                    life.syn_ack_seen(seg.ts);
                }
            }
            return Ok(());
        }

        match conn.state {
            State::SynSent => {
                // Before the SYN-ACK only the server's reset refusing the SYN counts.
                // SPEC §3.5: the client's acknowledgement point is still 0 and the server
                // has no window yet, so rule 3 accepts only an empty segment at sequence
                // number 0 from the server: its RST answering the SYN, with or without
                // ACK (RFC 9293 §3.10.7.1). Nothing the client sends can be accepted.
                let accepted = flags.rst()
                    && dir == Direction::FromServer
                    && seq == SeqNum(0)
                    && seg.payload.is_empty();
                if accepted {
                    return self.close(id, dir, seg.ts, sink);
                }
                return Ok(());
            }
            State::SynReceived if dir == Direction::FromServer => {
                // The client has not acknowledged anything yet: no receive window to
                // check against, so only a reset in sequence counts.
                if flags.rst() && seq == conn.halves[1].first_seq {
                    return self.close(id, dir, seg.ts, sink);
                }
                return Ok(());
            }
            _ => {}
        }

        if !conn.halves[r].accepts(seq, seg.payload.len()) {
            self.stats.out_of_window += 1;
            return Ok(());
        }
        if flags.rst() {
            return self.close(id, dir, seg.ts, sink);
        }
        if conn.timestamps {
            if let (Some((tsval, _)), Some(last)) =
                (seg.options.timestamp, conn.halves[s].last_tsval)
            {
                if SeqNum(tsval).before(SeqNum(last)) {
                    self.stats.paws_dropped += 1;
                    return Ok(());
                }
            }
        }
        if flags.ack() {
            if dir == Direction::FromClient
                && conn.state == State::SynReceived
                && ack == conn.halves[1].first_seq
            {
                conn.state = State::Established;
                conn.halves[0].ack_seq = Some(ack);
                sink.event(FlowEvent {
                    conn: id,
                    ts: seg.ts,
                    streams,
                    kind: FlowEventKind::Established,
                })?;
                // The SYN's data, which the SYN-ACK acknowledged (RFC 7413 §4.2):
                // the client's first bytes.
                if let Some(data) = self.take_syn_data(id) {
                    sink.event(FlowEvent {
                        conn: id,
                        ts: seg.ts,
                        streams,
                        kind: FlowEventKind::Data {
                            dir: Direction::FromClient,
                            bytes: &data,
                        },
                    })?;
                }
            }
            // The sink cannot remove connections: `id` is still occupied.
            let Some(conn) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
                return Ok(());
            };
            conn.halves[s].record_ack(ack);
            // The acknowledged stream (the other half) has a hole to skip: checked here,
            // before `skip_gaps` sets up its event plumbing for every packet.
            let acked = &conn.halves[index(dir).1].stream;
            if self.config.skip_gaps && conn.state == State::Established && acked.acked_past(ack) {
                self.skip_gaps(id, dir, ack, seg.ts, sink)?;
            }
            let Some(conn) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
                return Ok(());
            };
            // SPEC §3.5: once both FINs are delivered, the next accepted packet with ACK
            // closes, from either side and whatever it acknowledges (a retransmitted FIN
            // too: the capture may have missed the last ACK). Tested before this packet's
            // own FIN is taken, so the packet delivering the second FIN does not close.
            if conn.halves[0].stream.fin_delivered() && conn.halves[1].stream.fin_delivered() {
                return self.close(id, dir, seg.ts, sink);
            }
        }
        let established = self.slots[id as usize]
            .as_ref()
            .is_some_and(|c| c.state == State::Established);
        if established {
            self.deliver(id, dir, seg, sink)?;
        }
        self.after_segment(id, dir, seg);
        Ok(())
    }

    /// Hands the segment's payload (and FIN) to the sender's reassembler.
    fn deliver(
        &mut self,
        id: ConnId,
        dir: Direction,
        seg: &Segment<'_>,
        sink: &mut dyn FlowEventSink,
    ) -> std::io::Result<()> {
        if seg.payload.is_empty() && !seg.flags.fin() {
            return Ok(());
        }
        let streams = self.tracked;
        let Some(conn) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return Ok(());
        };
        let (s, _) = index(dir);
        let seq = SeqNum(seg.seq);
        // RFC 793 §3.1: the urgent pointer points at the byte after the urgent one.
        let urgent = (seg.flags.urg() && seg.urgent_ptr > 0).then(|| {
            seq.wrapping_add(u32::from(seg.urgent_ptr))
                .wrapping_add(u32::MAX)
        });
        let ts = seg.ts;
        let received = conn.halves[s].stream.receive(
            seq,
            seg.payload,
            seg.flags.fin(),
            urgent,
            &mut self.budget,
            &mut |bytes| {
                sink.event(FlowEvent {
                    conn: id,
                    ts,
                    streams,
                    kind: FlowEventKind::Data { dir, bytes },
                })
            },
        )?;
        if received.retransmitted > 0 {
            if let Some(life) = self.lives.get_mut(id as usize) {
                life.retransmitted(dir, received.retransmitted);
            }
        }
        if received.in_order {
            if let Some((tsval, _)) = seg.options.timestamp {
                conn.halves[s].last_tsval = Some(tsval);
            }
        }
        if received.fin_delivered && conn.first_fin.is_none() {
            conn.first_fin = Some(dir);
        }
        Ok(())
    }

    /// `acker` acknowledged its peer's stream up to `ack`: bytes before it that the
    /// capture never had become a gap event, and what waited behind them is delivered.
    fn skip_gaps(
        &mut self,
        id: ConnId,
        acker: Direction,
        ack: SeqNum,
        ts: Timestamp,
        sink: &mut dyn FlowEventSink,
    ) -> std::io::Result<()> {
        let streams = self.tracked;
        let Some(conn) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return Ok(());
        };
        let (_, r) = index(acker);
        let dir = match acker {
            Direction::FromClient => Direction::FromServer,
            Direction::FromServer => Direction::FromClient,
        };
        let sink = std::cell::RefCell::new(sink);
        let event = |kind: FlowEventKind<'_>| {
            sink.borrow_mut().event(FlowEvent {
                conn: id,
                ts,
                streams,
                kind,
            })
        };
        let (mut gaps, mut gap_bytes) = (0u64, 0u64);
        let fin = conn.halves[r].stream.skip_to(
            ack,
            &mut self.budget,
            &mut |len| {
                gaps += 1;
                gap_bytes += len;
                event(FlowEventKind::Gap { dir, len })
            },
            &mut |bytes| event(FlowEventKind::Data { dir, bytes }),
        )?;
        if fin && conn.first_fin.is_none() {
            conn.first_fin = Some(dir);
        }
        if let Some(life) = self.lives.get_mut(id as usize) {
            for _ in 0..gaps.min(u64::from(u16::MAX)) {
                life.gap(dir);
            }
        }
        self.stats.gaps += gaps;
        self.stats.gap_bytes += gap_bytes;
        Ok(())
    }

    /// Counts a packet that opened connection `id`.
    fn count_packet(&mut self, id: ConnId, dir: Direction, seg: &Segment<'_>) {
        if let Some(life) = self.lives.get_mut(id as usize) {
            life.packet(
                seg.ts,
                dir,
                seg.flags,
                seg.seq,
                seg.payload.len(),
                seg.window,
            );
        }
    }

    /// Hands connection `id`'s lifecycle to the sink before the event that ends it.
    fn report_lifecycle(&self, id: ConnId, sink: &mut dyn FlowEventSink) -> std::io::Result<()> {
        match self.lives.get(id as usize) {
            Some(life) if self.slots.get(id as usize).is_some_and(Option::is_some) => {
                sink.lifecycle(id, life)
            }
            _ => Ok(()),
        }
    }

    /// Connection `id`'s lifecycle so far (interim records of open connections).
    pub fn lifecycle(&self, id: ConnId) -> Option<&Lifecycle> {
        self.slots.get(id as usize)?.as_ref()?;
        self.lives.get(id as usize)
    }

    /// The sender's advertised window is taken from every accepted segment.
    fn after_segment(&mut self, id: ConnId, dir: Direction, seg: &Segment<'_>) {
        if let Some(conn) = self.slots.get_mut(id as usize).and_then(Option::as_mut) {
            conn.halves[index(dir).0].window = seg.window;
        }
    }

    fn close(
        &mut self,
        id: ConnId,
        sender: Direction,
        ts: Timestamp,
        sink: &mut dyn FlowEventSink,
    ) -> std::io::Result<()> {
        let streams = self.tracked;
        let Some(conn) = self.slots.get(id as usize).and_then(Option::as_ref) else {
            return Ok(());
        };
        let originator = conn.first_fin.unwrap_or(sender);
        if let Some(life) = self.lives.get(id as usize) {
            sink.lifecycle(id, life)?;
        }
        sink.event(FlowEvent {
            conn: id,
            ts,
            streams,
            kind: FlowEventKind::Closed { originator },
        })?;
        self.remove(id);
        Ok(())
    }
}
