//! The connection record's keywords (`%conn.*`, `--connections`): what each prints
//! from a [`ConnectionRecord`]. On a record that is not a connection's they print the
//! not-found text.

use super::render::{write_micros, write_u64};
use crate::exchange::connection::{ConnectionRecord, KeepAliveHeader};
use crate::flow::{DirCounters, Direction};

/// A field of the connection record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnField {
    /// Zeek's `conn_state`.
    State,
    /// Zeek's `history`.
    History,
    Duration,
    Exchanges,
    IdleMax,
    IdleBeforeClose,
    CloseHow,
    CloseBy,
    /// SYN to the handshake's ACK.
    Handshake,
    /// SYN to SYN-ACK.
    SynToSynAck,
    /// SYN-ACK to ACK.
    SynAckToAck,
    Packets(Direction),
    Bytes(Direction),
    Retransmitted(Direction),
    Missed(Direction),
    ZeroWindows(Direction),
    /// Time since the last packet.
    IdleNow,
    /// The first exchange's `Connection` or `Keep-Alive` header.
    KeepAlive(KeepAliveHeader),
}

/// Writes `field` of `record`, or `nf` when the record has no such value.
pub fn render(
    field: ConnField,
    record: Option<&ConnectionRecord<'_>>,
    nf: &[u8],
    out: &mut Vec<u8>,
) {
    let Some(r) = record else {
        out.extend_from_slice(nf);
        return;
    };
    let counters = |dir: Direction| -> &DirCounters {
        &r.lifecycle.counters[match dir {
            Direction::FromClient => 0,
            Direction::FromServer => 1,
        }]
    };
    let micros = |out: &mut Vec<u8>, us: Option<i64>| match us {
        Some(us) => write_micros(out, us),
        None => out.extend_from_slice(nf),
    };
    match field {
        ConnField::State => out.extend_from_slice(r.state().as_bytes()),
        ConnField::History => {
            let start = out.len();
            r.lifecycle.history_letters(out);
            if out.len() == start {
                out.extend_from_slice(nf);
            }
        }
        ConnField::Duration => write_micros(out, r.duration()),
        ConnField::Exchanges => write_u64(out, u64::from(r.exchanges())),
        ConnField::IdleMax => micros(out, r.idle_max()),
        ConnField::IdleBeforeClose => micros(out, r.idle_when_closed()),
        ConnField::IdleNow => micros(out, r.idle_now()),
        ConnField::CloseHow => out.extend_from_slice(r.how.as_str().as_bytes()),
        ConnField::CloseBy => match r.by {
            Some(Direction::FromClient) => out.extend_from_slice(b"client"),
            Some(Direction::FromServer) => out.extend_from_slice(b"server"),
            None => out.extend_from_slice(nf),
        },
        ConnField::Handshake => micros(out, r.handshake()),
        ConnField::SynToSynAck => micros(out, r.syn_to_syn_ack()),
        ConnField::SynAckToAck => micros(out, r.syn_ack_to_ack()),
        ConnField::Packets(d) => write_u64(out, u64::from(counters(d).packets)),
        ConnField::Bytes(d) => write_u64(out, r.bytes(d)),
        ConnField::Retransmitted(d) => write_u64(out, u64::from(counters(d).retransmitted)),
        ConnField::Missed(d) => write_u64(out, r.missed(d)),
        ConnField::ZeroWindows(d) => write_u64(out, u64::from(counters(d).zero_windows)),
        ConnField::KeepAlive(which) => out.extend_from_slice(
            r.keep_alive_header(which)
                .filter(|v| !v.is_empty())
                .unwrap_or(nf),
        ),
    }
}
