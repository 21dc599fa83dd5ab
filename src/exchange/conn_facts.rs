//! What a connection's protocols said about the connection as a whole (not about one
//! exchange), kept for every exchange's record and the connection's own record: the
//! TLS handshake, HTTP/2's connection-level facts; WebSocket's join them here.
//!
//! Boxed and allocated by the first analyzer that has something to say, so a connection
//! whose protocol keeps no connection-level facts pays one pointer.

use super::h2_facts::H2Facts;
use super::tls_facts::TlsFacts;
use super::ws_facts::{WsFacts, WsMessageFacts};

/// Most per-message facts held for records not yet printed: a message record is
/// printed when the next message ends, so only the last one or two wait.
const MAX_MESSAGE_FACTS: usize = 8;

/// The connection-level facts of every protocol analyzed on one connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtocolFacts {
    /// The TLS handshake's facts, once a ClientHello or ServerHello was read.
    pub tls: Option<TlsFacts>,
    /// The encapsulations the connection's first packet was found in (`%tunnel`): not a
    /// protocol's word, but as rare and as connection-wide, so it shares the box.
    pub tunnel: Option<crate::decode::Tunnels>,
    /// HTTP/2's connection-level facts (PING, GOAWAY, SETTINGS, stream counts).
    pub h2: Option<H2Facts>,
    /// The WebSocket's handshake and the summary of its life so far, after a 101.
    pub ws: Option<WsFacts>,
    /// The facts of the WebSocket message records not yet printed, by exchange id
    /// (`--ws-messages`): kept here rather than in every exchange's state, which all
    /// connections pay for.
    pub ws_messages: Vec<(u64, WsMessageFacts)>,
}

impl ProtocolFacts {
    /// Notes the facts of message record `exchange` (the oldest are forgotten beyond
    /// the bound: they were printed long ago).
    pub fn note_ws_message(&mut self, exchange: u64, facts: WsMessageFacts) {
        if self.ws_messages.len() >= MAX_MESSAGE_FACTS {
            self.ws_messages.remove(0);
        }
        self.ws_messages.push((exchange, facts));
    }

    /// The facts of message record `exchange`, if it is one.
    pub fn ws_message(&self, exchange: u64) -> Option<&WsMessageFacts> {
        self.ws_messages
            .iter()
            .find(|(id, _)| *id == exchange)
            .map(|(_, f)| f)
    }
}
