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
mod detect;
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

pub use analyzer::MAX_PIPELINED;
pub use record::{CloseOriginator, Exchange, Micros, Position, Protocol};
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

/// Receives finished exchanges, in the order their records are due.
pub trait ExchangeSink {
    fn exchange(&mut self, exchange: &Exchange<'_>) -> std::io::Result<()>;
}
