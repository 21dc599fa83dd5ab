//! Exchanges: cuts each connection into request/response exchanges, records their
//! timings and sizes, and keeps their bytes only as far as the template needs.
//!
//! [`ExchangeTracker`] receives the flow layer's events and owns every connection's
//! state; an analyzer per connection ([`analyzer`]) decides where exchanges start and
//! end: justniffer's turns rule ([`turns`], SPEC §4) in `turns` mode, and in
//! `messages` mode the analyzer of the protocol detected from the first bytes
//! ([`detect`]): HTTP/1 ([`http1_analyzer`] over the framers of [`http1`]), TLS
//! ([`tls_analyzer`] over the record reader of [`tls_stream`]), the turns rule for
//! anything else. Protocol parsers are pure and incremental and live beside them.
//! See `docs/analyzers.md` for how to add one.
//!
//! This module never formats text: it hands finished [`Exchange`]s to an
//! [`ExchangeSink`].

mod analyzer;
pub mod conn_facts;
pub mod connection;
mod detect;
pub mod h2;
mod h2_analyzer;
pub mod h2_facts;
pub mod http;
pub mod http1;
mod http1_analyzer;
mod record;
mod state;
pub mod tls;
mod tls_analyzer;
pub mod tls_facts;
pub mod tls_stream;
mod tls_suites;
mod tracker;
mod turns;
mod ws_analyzer;
pub mod ws_facts;
pub mod ws_frame;

use crate::decode::Endpoint;
use crate::flow::{ConnId, Direction};
use crate::time::Timestamp;
pub use analyzer::{MAX_OPEN_EXCHANGES, MAX_PIPELINED};
pub use record::{CloseOriginator, Exchange, Micros, Position, Protocol};
pub use ws_facts::{WsFacts, WsMessageFacts};

pub use tracker::{ExchangeTracker, MAX_HEADER_KEPT, MAX_KEPT_PER_PHASE, MAX_KEPT_TOTAL};

/// How connections are cut into exchanges (`--exchanges`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// justniffer's rule (SPEC §4): a run of client data, then a run of server data.
    #[default]
    Turns,
    /// At the application protocol's message boundaries (HTTP/1.x, TLS records…), by
    /// an analyzer chosen from each connection's first bytes; the turns rule otherwise.
    Messages,
}

/// Run options that analyzers read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalyzerOptions {
    /// `--ws-max-message`: the largest WebSocket message analyzed (see
    /// [`ws_frame::DEFAULT_MAX_MESSAGE`]).
    pub ws_max_message: u64,
    /// `--ws-messages`: every WebSocket message is an exchange of its own.
    pub ws_messages: bool,
}

impl Default for AnalyzerOptions {
    fn default() -> Self {
        AnalyzerOptions {
            ws_max_message: ws_frame::DEFAULT_MAX_MESSAGE,
            ws_messages: false,
        }
    }
}

/// How much of one direction's bytes an exchange keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep every byte (`%request`, `%response`, `*.body`, `*.grep`).
    pub all: bool,
    /// Keep bytes until the header block is complete (`*.line`, `*.header*`,
    /// method/url/code…): the header terminator has been seen.
    pub header: bool,
    /// Keep at least this many leading bytes (whole data events), e.g. 1024 for TLS.
    pub prefix: usize,
}

/// What the template needs kept, per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub request: Retention,
    pub response: Retention,
}

/// Receives finished exchanges, in the order their records are due, and what happens to
/// exchanges and their connections while they are built.
///
/// Every method but [`ExchangeSink::exchange`] has a default that does nothing: a sink
/// implements the events it cares about. For one connection they come in order:
/// `opening`, `open`, then the payload as the analyzer hands it to exchanges
/// (`request`/`response`, each naming its exchange by [`Exchange::id`]) interleaved with
/// the records (`exchange`), and at the end one of `closed`, `timed_out` or `truncated`
/// followed by the records of every exchange still held. An exchange's payload always
/// comes before its record; payload of a later exchange comes after the records that the
/// same flow event made due before it (so in `turns` mode, the request that starts an
/// exchange follows the record of the previous one). Payload the analyzer gives to no
/// exchange (a TLS handshake) is not reported.
pub trait ExchangeSink {
    /// The record of `exchange` is due.
    fn exchange(&mut self, exchange: &Exchange<'_>) -> std::io::Result<()>;

    /// An interim record of a connection still open (`--open-report`): with connection
    /// records, `record` carries the connection so far (state `open`); otherwise it is
    /// the connection's pending exchange as it stands ([`Position::Open`]). Nothing is
    /// consumed: the connection goes on.
    fn interim(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        let _ = record;
        Ok(())
    }

    /// A connection ended: `record` stands for it ([`Exchange::connection`] is set; no
    /// request or response). Only when the tracker keeps connection summaries
    /// ([`ExchangeTracker::with_connection_records`]).
    fn connection(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        let _ = record;
        Ok(())
    }

    /// Whether this sink wants [`ExchangeSink::request`] and
    /// [`ExchangeSink::response`]. Asked once, when the tracker is made; when false (the
    /// default), the tracker never collects the payload for them.
    fn wants_payload(&self) -> bool {
        false
    }

    /// A connection `conn` from `client` to `server` is opening (its first SYN);
    /// `exchange` is the id of its first exchange.
    fn opening(
        &mut self,
        conn: ConnId,
        exchange: u64,
        client: Endpoint,
        server: Endpoint,
        ts: Timestamp,
    ) -> std::io::Result<()> {
        let _ = (conn, exchange, client, server, ts);
        Ok(())
    }

    /// The connection's handshake completed.
    fn open(&mut self, conn: ConnId, ts: Timestamp) -> std::io::Result<()> {
        let _ = (conn, ts);
        Ok(())
    }

    /// Request bytes of exchange `exchange` (only if [`ExchangeSink::wants_payload`]).
    fn request(
        &mut self,
        conn: ConnId,
        exchange: u64,
        bytes: &[u8],
        ts: Timestamp,
    ) -> std::io::Result<()> {
        let _ = (conn, exchange, bytes, ts);
        Ok(())
    }

    /// Response bytes of exchange `exchange` (only if [`ExchangeSink::wants_payload`]).
    fn response(
        &mut self,
        conn: ConnId,
        exchange: u64,
        bytes: &[u8],
        ts: Timestamp,
    ) -> std::io::Result<()> {
        let _ = (conn, exchange, bytes, ts);
        Ok(())
    }

    /// The connection was closed by the side `by` (its FIN or RST); its records follow.
    fn closed(&mut self, conn: ConnId, ts: Timestamp, by: Direction) -> std::io::Result<()> {
        let _ = (conn, ts, by);
        Ok(())
    }

    /// The connection was evicted from the stream table (`-s`); its records follow.
    fn timed_out(&mut self, conn: ConnId, ts: Timestamp) -> std::io::Result<()> {
        let _ = (conn, ts);
        Ok(())
    }

    /// The capture ended (or a live capture stopped) with the connection still open;
    /// its records follow.
    fn truncated(&mut self, conn: ConnId) -> std::io::Result<()> {
        let _ = conn;
        Ok(())
    }
}

/// Writes, inside an `impl ExchangeSink for` a stage that wraps another, the named
/// methods as plain hand-offs to `self.FIELD`: `forward_exchange_sink!(inner: open,
/// request)`. Stages that observe the events (metrics, the report, OTLP export) write
/// only the methods they add work to and forward the rest with this.
macro_rules! forward_exchange_sink {
    ($inner:ident: $($method:ident),+ $(,)?) => {
        $($crate::exchange::forward_exchange_sink!(@ $inner $method);)+
    };
    (@ $inner:ident wants_payload) => {
        fn wants_payload(&self) -> bool {
            self.$inner.wants_payload()
        }
    };
    (@ $inner:ident opening) => {
        fn opening(
            &mut self,
            conn: $crate::flow::ConnId,
            exchange: u64,
            client: $crate::decode::Endpoint,
            server: $crate::decode::Endpoint,
            ts: $crate::time::Timestamp,
        ) -> std::io::Result<()> {
            self.$inner.opening(conn, exchange, client, server, ts)
        }
    };
    (@ $inner:ident open) => {
        fn open(&mut self, conn: $crate::flow::ConnId, ts: $crate::time::Timestamp) -> std::io::Result<()> {
            self.$inner.open(conn, ts)
        }
    };
    (@ $inner:ident request) => {
        $crate::exchange::forward_exchange_sink!(@bytes $inner request);
    };
    (@ $inner:ident response) => {
        $crate::exchange::forward_exchange_sink!(@bytes $inner response);
    };
    // One direction's bytes of an exchange: `request` and `response` share a signature.
    (@bytes $inner:ident $method:ident) => {
        fn $method(
            &mut self,
            conn: $crate::flow::ConnId,
            exchange: u64,
            bytes: &[u8],
            ts: $crate::time::Timestamp,
        ) -> std::io::Result<()> {
            self.$inner.$method(conn, exchange, bytes, ts)
        }
    };
    (@ $inner:ident closed) => {
        fn closed(
            &mut self,
            conn: $crate::flow::ConnId,
            ts: $crate::time::Timestamp,
            by: $crate::flow::Direction,
        ) -> std::io::Result<()> {
            self.$inner.closed(conn, ts, by)
        }
    };
    (@ $inner:ident timed_out) => {
        fn timed_out(&mut self, conn: $crate::flow::ConnId, ts: $crate::time::Timestamp) -> std::io::Result<()> {
            self.$inner.timed_out(conn, ts)
        }
    };
    (@ $inner:ident truncated) => {
        fn truncated(&mut self, conn: $crate::flow::ConnId) -> std::io::Result<()> {
            self.$inner.truncated(conn)
        }
    };
}
pub(crate) use forward_exchange_sink;
