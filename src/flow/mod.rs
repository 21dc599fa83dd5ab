//! Connections: the bounded connection table, the TCP state machine (SPEC §3), in-order
//! reassembly, the close originator and eviction.
//!
//! Input: decoded [`Segment`]s. Output: [`FlowEvent`]s to a [`FlowEventSink`]. This
//! module never looks at payload contents and never formats anything.

mod index;
pub mod lifecycle;
mod reassembly;
pub mod seq;
mod table;

pub use lifecycle::{ConnState as ZeekConnState, DirCounters, EndpointState, Lifecycle};
pub use reassembly::QueueBudget;
pub use table::{FlowConfig, FlowStats, FlowTable, DEFAULT_MAX_STREAMS};

use crate::decode::Endpoint;
use crate::time::Timestamp;

/// Identifies a tracked connection while it lives; reused after it ends.
pub type ConnId = u32;

/// Which way data travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the side that sent the first SYN.
    FromClient,
    FromServer,
}

/// What happened to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowEventKind<'a> {
    /// The first SYN (or, with `-m`, the first packet) of a new connection.
    Opening { client: Endpoint, server: Endpoint },
    /// The handshake completed.
    Established,
    /// In-order payload.
    Data { dir: Direction, bytes: &'a [u8] },
    /// `len` bytes of `dir` that the receiver acknowledged but the capture never had:
    /// delivery goes on after them ([`FlowConfig::skip_gaps`]).
    Gap { dir: Direction, len: u64 },
    /// Once both FINs are delivered, the next accepted packet with ACK, or an accepted
    /// RST (SPEC §3.5). `originator` is the side
    /// whose FIN was delivered first (or, without one, the side that sent the RST).
    Closed { originator: Direction },
    /// Evicted from a full table to make room for a new connection.
    TimedOut,
    /// No packet either way for [`FlowConfig::idle_timeout`]: ended and forgotten.
    IdleTimedOut,
    /// Still open when the capture ended.
    Truncated,
}

/// One event of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowEvent<'a> {
    pub conn: ConnId,
    /// The time of the packet that caused it (for `Truncated`: the last packet seen).
    pub ts: Timestamp,
    /// Connections tracked when the event happened, this one included.
    pub streams: usize,
    pub kind: FlowEventKind<'a>,
}

/// Receives flow events in order. After `Closed`, `TimedOut`, `IdleTimedOut` or `Truncated` the
/// connection id is free and may be reused by a later `Opening`.
pub trait FlowEventSink {
    fn event(&mut self, event: FlowEvent<'_>) -> std::io::Result<()>;

    /// A connection's lifecycle, given just before the event that ends it (`Closed`,
    /// `TimedOut`, `IdleTimedOut`, `Truncated`) when [`FlowConfig::lifecycle`] is on.
    fn lifecycle(&mut self, conn: ConnId, lifecycle: &Lifecycle) -> std::io::Result<()> {
        let _ = (conn, lifecycle);
        Ok(())
    }

    /// The connection just opened (`Opening`) was picked up mid-stream (`-m`): no
    /// handshake seen, and its first payload may start inside a protocol message.
    fn picked_up_mid_stream(&mut self, conn: ConnId) {
        let _ = conn;
    }
}

#[cfg(test)]
mod tests;
