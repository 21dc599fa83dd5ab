//! What goes between the reader, the workers and the merger: owned segments in
//! batches, and records tagged with the place the one-thread run prints them at.

use crate::decode::{Endpoint, FlowKey, Segment, TcpFlags, TcpOptions, Tunnels};
use crate::flow::ConnId;
use crate::output::metrics::{ConnectionFacts as MetricConnectionFacts, RequestFacts};
use crate::output::report::{ConnectionFacts, ExchangeFacts};
use crate::time::Timestamp;

/// The packet index of the end of the capture: what `finish` prints comes last.
pub const END: u64 = u64::MAX;

/// `--open-report` records of a packet come first (printed before the packet goes to
/// the flow table)...
pub const PHASE_OPEN_REPORT: u8 = 0;
/// ...then `--idle-timeout` expiry (the table's first step for a packet)...
pub const PHASE_IDLE: u8 = 1;
/// ...then the packet's own events: `-s` eviction first, then its connection's.
pub const PHASE_PACKET: u8 = 2;

/// Where the one-thread run prints a record: records are merged in increasing key
/// order, and the keys of one worker come in increasing order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// The decoded segment being processed (1 for the first), or [`END`].
    pub index: u64,
    pub phase: u8,
    /// In the open-report and idle phases and at the end, the index of the segment that
    /// created the connection (the one-thread table walks connections oldest first); in
    /// the packet phase 0 for an eviction and 1 for the packet's own records.
    pub sub: u64,
}

/// Sub-key of an eviction within its packet's phase.
pub const SUB_EVICTION: u64 = 0;
/// Sub-key of a packet's own records within its phase.
pub const SUB_OWN: u64 = 1;

/// One output of a worker, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    pub key: Key,
    pub what: What,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    /// A rendered record: these bytes of its chunk, where `holes` (a range of the
    /// chunk's [`Chunk::holes`]) name the offsets of the [`HOLE_LEN`]-byte places where
    /// `%streams` goes, filled in by the merger.
    Record {
        start: usize,
        end: usize,
        holes: (u32, u32),
    },
    /// A connection began to be tracked (for the global peak).
    Opened,
    /// A tracked connection ended.
    Ended,
    /// What the report or the metrics read of a record or event: this entry of its
    /// chunk's [`Chunk::facts`].
    Fact(u32),
}

/// What the report and the metrics read of one record or connection event, kept by a
/// worker for the merger, which adds them up in key order as one thread does
/// (`--report`, `--metrics-file`). Bytes are ranges of the chunk's `bytes`.
#[derive(Clone, Copy, Debug)]
pub enum Fact {
    Exchange {
        report: Option<ExchangeFacts>,
        /// The SNI or Host of a connection's first exchange (report).
        name: Option<(usize, usize)>,
        /// An HTTP exchange's first lines' words and duration (metrics).
        request: Option<HeldRequest>,
    },
    Connection {
        report: Option<ConnectionFacts>,
        metrics: Option<MetricConnectionFacts>,
    },
    /// Connection `conn` of the worker's table opened to `server` (metrics).
    Opening { conn: ConnId, server: Endpoint },
    /// Connection `conn` of the worker's table ended (metrics).
    Ended { conn: ConnId },
}

/// [`RequestFacts`] with its words as ranges of the chunk's bytes.
#[derive(Clone, Copy, Debug)]
pub struct HeldRequest {
    pub server: Endpoint,
    pub method: (usize, usize),
    pub version: (usize, usize),
    pub status: (usize, usize),
    pub micros: i64,
}

impl HeldRequest {
    /// Copies the words of `r` into `bytes`.
    pub fn hold(r: &RequestFacts<'_>, bytes: &mut Vec<u8>) -> Self {
        let mut keep = |word: &[u8]| {
            let start = bytes.len();
            bytes.extend_from_slice(word);
            (start, bytes.len())
        };
        HeldRequest {
            server: r.server,
            method: keep(r.method),
            version: keep(r.version),
            status: keep(r.status),
            micros: r.micros,
        }
    }

    /// The facts again, borrowing `bytes`.
    pub fn facts<'a>(&self, bytes: &'a [u8]) -> RequestFacts<'a> {
        let word = |(start, end): (usize, usize)| bytes.get(start..end).unwrap_or_default();
        RequestFacts {
            server: self.server,
            method: word(self.method),
            version: word(self.version),
            status: word(self.status),
            micros: self.micros,
        }
    }
}

impl Chunk {
    pub fn with_capacity() -> Self {
        Chunk {
            items: Vec::with_capacity(CHUNK_ITEMS),
            bytes: Vec::with_capacity(CHUNK_BYTES),
            holes: Vec::new(),
            facts: Vec::new(),
            watermark: 0,
        }
    }

    /// Empties the chunk, keeping its memory for the next one.
    pub fn clear(&mut self) {
        self.items.clear();
        self.bytes.clear();
        self.holes.clear();
        self.facts.clear();
    }
}

/// The two values of `%streams` a worker renders a record with, which differ in each of
/// their [`HOLE_LEN`] digits: where the renderings differ, the merger writes the count of
/// every worker's connections.
pub const STREAMS_PROBES: [usize; 2] = [1_111_111_111, 2_222_222_222];
/// Digits of each of [`STREAMS_PROBES`].
pub const HOLE_LEN: usize = 10;

/// A worker's outputs, sent to the merger: at most [`CHUNK_BYTES`] of records (plus one)
/// or [`CHUNK_ITEMS`] items.
#[derive(Debug, Default)]
pub struct Chunk {
    pub items: Vec<Item>,
    pub bytes: Vec<u8>,
    /// Offsets in `bytes` of the `%streams` places of the records.
    pub holes: Vec<usize>,
    /// What the report and the metrics read, named by [`What::Fact`] items.
    pub facts: Vec<Fact>,
    /// The worker will send nothing more with a packet index at or below this one.
    pub watermark: u64,
}

/// Bytes of records a worker gathers before it hands them to the merger.
pub const CHUNK_BYTES: usize = 64 << 10;
/// Items a worker gathers before it hands them to the merger.
pub const CHUNK_ITEMS: usize = 1024;

/// A decoded segment without its borrows: the payload is a range of its batch's arena
/// and the encapsulations an index into its batch's list.
#[derive(Clone, Copy, Debug)]
pub struct SegmentHead {
    pub ts: Timestamp,
    pub key: FlowKey,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub urgent_ptr: u16,
    pub options: TcpOptions,
    pub payload: (u32, u32),
    pub tunnel: Option<u32>,
}

/// What a worker does, in the order the reader saw it.
#[derive(Clone, Copy, Debug)]
pub enum Entry {
    Segment {
        index: u64,
        head: SegmentHead,
    },
    /// `--open-report` at segment `index`: an interim record of every open connection.
    OpenReport {
        index: u64,
        now: Timestamp,
    },
    /// The idle check the one-thread table runs at segment `index`.
    Idle {
        index: u64,
        now: Timestamp,
    },
    /// Segment `index` opens a connection in a full table (`-s`), and this worker holds
    /// the oldest connection of all: it ends it.
    Evict {
        index: u64,
        ts: Timestamp,
    },
}

/// Entries for one worker, with the bytes their segments carry.
#[derive(Debug, Default)]
pub struct Batch {
    pub entries: Vec<Entry>,
    pub arena: Vec<u8>,
    pub tunnels: Vec<Tunnels>,
    /// Once this batch is done, the worker has everything up to this segment index.
    pub upto: u64,
}

/// Entries per worker batch before the reader hands every batch over.
pub const BATCH_ENTRIES: usize = 256;
/// Payload bytes per worker batch before the reader hands every batch over (plus one
/// segment: at most a 64 KiB datagram).
pub const BATCH_BYTES: usize = 128 << 10;

impl Batch {
    pub fn with_capacity() -> Self {
        Batch {
            entries: Vec::with_capacity(BATCH_ENTRIES),
            arena: Vec::with_capacity(BATCH_BYTES / 4),
            tunnels: Vec::new(),
            upto: 0,
        }
    }

    /// Empties the batch, keeping its memory for the next one.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.arena.clear();
        self.tunnels.clear();
        self.upto = 0;
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= BATCH_ENTRIES || self.arena.len() >= BATCH_BYTES
    }

    /// Copies `seg` in, as the segment at `index`.
    pub fn push_segment(&mut self, index: u64, seg: &Segment<'_>) {
        let start = self.arena.len();
        self.arena.extend_from_slice(seg.payload);
        let tunnel = seg.tunnel.map(|t| {
            self.tunnels.push(*t);
            (self.tunnels.len() - 1) as u32
        });
        self.entries.push(Entry::Segment {
            index,
            head: SegmentHead::of(seg, start as u32, self.arena.len() as u32, tunnel),
        });
    }

    /// The segment of `head`, borrowing this batch.
    pub fn segment(&self, head: &SegmentHead) -> Segment<'_> {
        let (start, end) = head.payload;
        head.with(
            self.arena
                .get(start as usize..end as usize)
                .unwrap_or_default(),
            head.tunnel.and_then(|t| self.tunnels.get(t as usize)),
        )
    }
}

impl SegmentHead {
    pub fn of(seg: &Segment<'_>, start: u32, end: u32, tunnel: Option<u32>) -> Self {
        SegmentHead {
            ts: seg.ts,
            key: seg.key,
            flags: seg.flags,
            seq: seg.seq,
            ack: seg.ack,
            window: seg.window,
            urgent_ptr: seg.urgent_ptr,
            options: seg.options,
            payload: (start, end),
            tunnel,
        }
    }

    pub fn with<'a>(&self, payload: &'a [u8], tunnel: Option<&'a Tunnels>) -> Segment<'a> {
        Segment {
            ts: self.ts,
            key: self.key,
            flags: self.flags,
            seq: self.seq,
            ack: self.ack,
            window: self.window,
            urgent_ptr: self.urgent_ptr,
            options: self.options,
            payload,
            tunnel,
        }
    }
}
