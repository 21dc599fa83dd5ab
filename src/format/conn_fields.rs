//! The connection record's keywords (`%conn.*`, `--connections`): what each prints
//! from a [`ConnectionRecord`]. On a record that is not a connection's they print the
//! not-found text.

use super::render::{write_micros, write_u64, Value};
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

/// [`render`]'s value of `field`, typed (`Text` for the history, written letter by
/// letter).
pub fn value<'a>(field: ConnField, record: Option<&'a ConnectionRecord<'a>>) -> Value<'a> {
    let Some(r) = record else {
        return Value::Missing;
    };
    let counters = |dir: Direction| -> &DirCounters {
        &r.lifecycle.counters[match dir {
            Direction::FromClient => 0,
            Direction::FromServer => 1,
        }]
    };
    let micros = |us: Option<i64>| us.map_or(Value::Missing, Value::Micros);
    match field {
        ConnField::State => Value::Word(r.state()),
        ConnField::History => Value::Text,
        ConnField::Duration => Value::Micros(r.duration()),
        ConnField::Exchanges => Value::Uint(u64::from(r.exchanges())),
        ConnField::IdleMax => micros(r.idle_max()),
        ConnField::IdleBeforeClose => micros(r.idle_when_closed()),
        ConnField::IdleNow => micros(r.idle_now()),
        ConnField::CloseHow => Value::Word(r.how.as_str()),
        ConnField::CloseBy => match r.by {
            Some(Direction::FromClient) => Value::Word("client"),
            Some(Direction::FromServer) => Value::Word("server"),
            None => Value::Missing,
        },
        ConnField::Handshake => micros(r.handshake()),
        ConnField::SynToSynAck => micros(r.syn_to_syn_ack()),
        ConnField::SynAckToAck => micros(r.syn_ack_to_ack()),
        ConnField::Packets(d) => Value::Uint(u64::from(counters(d).packets)),
        ConnField::Bytes(d) => Value::Uint(r.bytes(d)),
        ConnField::Retransmitted(d) => Value::Uint(u64::from(counters(d).retransmitted)),
        ConnField::Missed(d) => Value::Uint(r.missed(d)),
        ConnField::ZeroWindows(d) => Value::Uint(u64::from(counters(d).zero_windows)),
        ConnField::KeepAlive(which) => r
            .keep_alive_header(which)
            .filter(|v| !v.is_empty())
            .map_or(Value::Missing, Value::Bytes),
    }
}
