//! TLS in `messages` mode: the handshake is connection metadata, not exchanges. Both
//! directions' records are followed ([`RecordReader`]); the ClientHello and ServerHello
//! fill the connection's [`TlsFacts`]; application data records are cut into exchanges
//! by the turns rule at record granularity (the only passive view of encrypted traffic).
//! Server records before the client's first application data (TLS 1.3 session
//! tickets) belong to no exchange. If the bytes stop looking like TLS records, the rest
//! of the connection follows the turns rule.

use super::analyzer::{AnalyzerSlot, Exchanges, Handoff};
use super::record::Protocol;
use super::tls_facts::TlsFacts;
use super::tls_stream::{content_type, RecordEvent, RecordReader};
use super::turns::Turns;
use crate::flow::Direction;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    #[default]
    Idle,
    Request,
    Response,
}

/// One TLS connection's state.
#[derive(Debug, Default)]
pub(crate) struct TlsAnalyzer {
    /// `[client, server]`.
    readers: [RecordReader; 2],
    phase: Phase,
    /// The client has sent application data: server application data answers it.
    client_spoke: bool,
    /// The server chose TLS 1.3: the client's first application_data record is its
    /// encrypted Finished (RFC 8446 §4.4.4), part of the handshake.
    tls13: bool,
    /// The number of that record in the client's direction, once it began.
    client_finished: Option<u64>,
}

/// What the hello events of one feed said.
#[derive(Default)]
struct Hellos {
    client: Option<super::tls_stream::ClientHelloFacts>,
    server: Option<super::tls_stream::ServerHelloFacts>,
}

impl TlsAnalyzer {
    fn record_facts(x: &mut Exchanges<'_>, hellos: Hellos) {
        if hellos.client.is_none() && hellos.server.is_none() {
            return;
        }
        let facts = x.protocol_facts().tls.get_or_insert_with(TlsFacts::default);
        if let Some(c) = hellos.client {
            facts.sni = c.sni.map(Vec::into_boxed_slice);
            facts.offered_alpn = c.alpn.into_iter().map(Vec::into_boxed_slice).collect();
            facts.offered_version = Some(c.version);
        }
        if let Some(s) = hellos.server.filter(|s| !s.hello_retry_request) {
            facts.version = Some(s.version);
            facts.cipher = Some(s.cipher_suite);
            facts.chosen_alpn = s.alpn.map(Vec::into_boxed_slice);
        }
        let h2 = facts.is_h2();
        if h2 {
            x.set_protocol(Protocol::H2);
        }
    }
}

impl super::analyzer::Analyzer for TlsAnalyzer {
    fn data(
        &mut self,
        x: &mut Exchanges<'_>,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
    ) -> Handoff {
        let side = match dir {
            Direction::FromClient => 0,
            Direction::FromServer => 1,
        };
        let mut hellos = Hellos::default();
        let mut not_tls_at = None;
        let mut offset = 0usize;
        let (reader, phase, client_spoke) = (
            &mut self.readers[side],
            &mut self.phase,
            &mut self.client_spoke,
        );
        let (tls13, client_finished) = (self.tls13, &mut self.client_finished);
        reader.feed_pieces(
            bytes,
            &mut |event| match event {
                RecordEvent::ClientHello(c) if side == 0 => hellos.client = Some(c),
                RecordEvent::ServerHello(s) if side == 1 => hellos.server = Some(s),
                _ => {}
            },
            &mut |piece, record_type, number| {
                match record_type {
                    Some(content_type::APPLICATION_DATA)
                        if dir == Direction::FromClient
                            && tls13
                            && *client_finished.get_or_insert(number) == number => {}
                    Some(content_type::APPLICATION_DATA) => match dir {
                        Direction::FromClient => {
                            if *phase == Phase::Response {
                                x.finish_response(false);
                            }
                            if *phase != Phase::Request {
                                *phase = Phase::Request;
                                x.begin_request();
                            }
                            *client_spoke = true;
                            x.request_data(ts, piece);
                        }
                        Direction::FromServer if *client_spoke => {
                            *phase = Phase::Response;
                            x.response_data(ts, piece);
                        }
                        Direction::FromServer => {}
                    },
                    // Handshake, alerts, ChangeCipherSpec: the handshake's, not an
                    // exchange's.
                    Some(_) => {}
                    None => {
                        not_tls_at.get_or_insert(offset);
                    }
                }
                offset += piece.len();
            },
        );
        if hellos
            .server
            .as_ref()
            .is_some_and(|s| !s.hello_retry_request && s.version == 0x0304)
        {
            self.tls13 = true;
        }
        Self::record_facts(x, hellos);
        match not_tls_at {
            Some(consumed) => {
                x.set_protocol(Protocol::Unknown);
                Handoff::To {
                    next: AnalyzerSlot::Turns(Turns::default()),
                    consumed,
                }
            }
            None => Handoff::Stay,
        }
    }

    fn gap(&mut self, x: &mut Exchanges<'_>, dir: Direction, ts: Timestamp, len: u64) {
        let _ = ts;
        let side = match dir {
            Direction::FromClient => 0,
            Direction::FromServer => 1,
        };
        self.readers[side].gap(len, &mut |_| {});
        x.gap(dir, len);
    }
}
