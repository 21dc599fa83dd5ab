//! What a connection's protocols said about the connection as a whole (not about one
//! exchange), kept for every exchange's record and the connection's own record: the
//! TLS handshake, HTTP/2's connection-level facts; WebSocket's join them here.
//!
//! Boxed and allocated by the first analyzer that has something to say, so a connection
//! whose protocol keeps no connection-level facts pays one pointer.

use super::h2_facts::H2Facts;
use super::tls_facts::TlsFacts;

/// The connection-level facts of every protocol analyzed on one connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtocolFacts {
    /// The TLS handshake's facts, once a ClientHello or ServerHello was read.
    pub tls: Option<TlsFacts>,
    /// HTTP/2's connection-level facts (PING, GOAWAY, SETTINGS, stream counts).
    pub h2: Option<H2Facts>,
}
