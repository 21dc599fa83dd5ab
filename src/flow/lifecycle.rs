//! What the flow layer counts about each connection for its connection record: packets,
//! retransmitted bytes, zero windows and content gaps per direction, the handshake's
//! times, and Zeek's `history` and `conn_state` (Zeek's conn.log; the meanings below
//! are Zeek's, from its `base/protocols/conn` documentation).
//!
//! Every packet that belongs to a tracked connection is counted here, accepted by the
//! TCP rules of SPEC §3 or not, as Zeek counts every packet of a connection. The state
//! machine is Zeek's per-endpoint one (inactive, SYN sent, SYN-ACK sent, partial,
//! established, closed, reset), so that `conn_state` means what Zeek users know.
//!
//! Differences from Zeek, all from rustniffer's connection table: a connection is
//! created by a SYN (or, with `-m`, by any packet) and removed at its close (SPEC §3.5),
//! so packets after the close start nothing and are not counted; roles are never
//! flipped (no `^`); checksums are not verified (no `c`); the history keeps its first
//! [`MAX_HISTORY`] letters and then marks itself cut (`+` at the end).

use super::Direction;
use crate::decode::TcpFlags;
use crate::time::Timestamp;

/// Letters of history kept per connection.
pub const MAX_HISTORY: usize = 12;

/// Zeek's endpoint states (`TCP_ENDPOINT_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum EndpointState {
    #[default]
    Inactive,
    SynSent,
    SynAckSent,
    /// Seen only in the middle: no SYN.
    Partial,
    Established,
    Closed,
    Reset,
}

impl EndpointState {
    fn from_nibble(n: u8) -> Self {
        match n & 15 {
            1 => EndpointState::SynSent,
            2 => EndpointState::SynAckSent,
            3 => EndpointState::Partial,
            4 => EndpointState::Established,
            5 => EndpointState::Closed,
            6 => EndpointState::Reset,
            _ => EndpointState::Inactive,
        }
    }
}

/// Zeek's `conn_state` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Connection attempt seen, no reply.
    S0,
    /// Connection established, not terminated.
    S1,
    /// Normal establishment and termination.
    SF,
    /// Connection attempt rejected.
    Rej,
    /// Established, close attempt by the originator seen (but no reply).
    S2,
    /// Established, close attempt by the responder seen (but no reply).
    S3,
    /// Established, the originator aborted (sent an RST).
    Rsto,
    /// The responder sent an RST.
    Rstr,
    /// The originator sent a SYN then an RST; no SYN-ACK seen.
    Rstos0,
    /// The responder sent a SYN-ACK then an RST; no SYN from the originator seen.
    Rstrh,
    /// The originator sent a SYN then a FIN; no SYN-ACK seen ("half" open).
    Sh,
    /// The responder sent a SYN-ACK then a FIN; no SYN from the originator seen.
    Shr,
    /// No SYN seen, just midstream traffic.
    Oth,
}

impl ConnState {
    /// Zeek's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::S0 => "S0",
            ConnState::S1 => "S1",
            ConnState::SF => "SF",
            ConnState::Rej => "REJ",
            ConnState::S2 => "S2",
            ConnState::S3 => "S3",
            ConnState::Rsto => "RSTO",
            ConnState::Rstr => "RSTR",
            ConnState::Rstos0 => "RSTOS0",
            ConnState::Rstrh => "RSTRH",
            ConnState::Sh => "SH",
            ConnState::Shr => "SHR",
            ConnState::Oth => "OTH",
        }
    }
}

/// History letters (lower case; upper case is the originator's), as 5-bit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Letter {
    Syn = 1,
    SynAck,
    Ack,
    Data,
    Fin,
    Rst,
    Gap,
    Retransmit,
    ZeroWindow,
    FinRst,
    MultiFlag,
}

impl Letter {
    const ALL: [Letter; 11] = [
        Letter::Syn,
        Letter::SynAck,
        Letter::Ack,
        Letter::Data,
        Letter::Fin,
        Letter::Rst,
        Letter::Gap,
        Letter::Retransmit,
        Letter::ZeroWindow,
        Letter::FinRst,
        Letter::MultiFlag,
    ];

    fn lower(self) -> u8 {
        match self {
            Letter::Syn => b's',
            Letter::SynAck => b'h',
            Letter::Ack => b'a',
            Letter::Data => b'd',
            Letter::Fin => b'f',
            Letter::Rst => b'r',
            Letter::Gap => b'g',
            Letter::Retransmit => b't',
            Letter::ZeroWindow => b'w',
            Letter::FinRst => b'i',
            Letter::MultiFlag => b'q',
        }
    }

    /// Bit of the letters recorded at most once per direction.
    fn once_bit(self) -> Option<u8> {
        match self {
            Letter::Ack => Some(0),
            Letter::Data => Some(1),
            Letter::FinRst => Some(2),
            Letter::MultiFlag => Some(3),
            _ => None,
        }
    }
}

/// Per-direction counters, `[client, server]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirCounters {
    /// Packets sent, every packet of the connection.
    pub packets: u32,
    /// Payload bytes sent again that had already been delivered (saturating).
    pub retransmitted: u32,
    /// Packets that carried retransmitted payload (saturating; Zeek's `t`).
    pub retransmissions: u16,
    /// Zero-window advertisements (saturating; Zeek's `w`).
    pub zero_windows: u16,
    /// Content gaps the receiver acknowledged but the capture missed (saturating;
    /// Zeek's `g`).
    pub gaps: u16,
}

/// One connection's lifecycle as the flow layer saw it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// `[client, server]`.
    pub counters: [DirCounters; 2],
    /// When the server's first SYN-ACK was seen, in nanoseconds (set when
    /// [`SYN_ACK_SET`] is in `last_seq_set`).
    syn_ack: i64,
    /// When the first FIN or RST of either side was seen, in nanoseconds (set when
    /// [`CLOSE_STARTED_SET`] is in `last_seq_set`).
    close_started: i64,
    /// The last packet of either side, in nanoseconds.
    last_packet: i64,
    /// The letters, 5 bits each, the oldest in the low bits; the count in the top 4.
    letters: u64,
    /// Letters recorded at most once per direction, seen so far: 4 bits per direction.
    once: u8,
    /// Each side's [`EndpointState`] in the low nibble and the state it had before
    /// its last change (Zeek's `prev_state`) in the high one.
    states: [u8; 2],
    /// Low 16 bits of the sequence number of each side's last SYN, FIN and RST: a
    /// repeated flag is a new letter only when its sequence number differs (Zeek's
    /// rule), which 16 bits tell apart but for one chance in 65,536.
    last_seq: [[u16; 3]; 2],
    /// Which of `last_seq` are set: bit `3 * side + flag`; and [`SYN_ACK_SET`].
    last_seq_set: u8,
}

/// `syn_ack` holds a time.
const SYN_ACK_SET: u8 = 1 << 7;
/// `close_started` holds a time.
const CLOSE_STARTED_SET: u8 = 1 << 6;

const COUNT_SHIFT: u32 = 60;

fn side(dir: Direction) -> usize {
    match dir {
        Direction::FromClient => 0,
        Direction::FromServer => 1,
    }
}

/// Whether `n` (just reached) is 1, 10, 100, ...: Zeek's logarithmic repeats.
fn power_of_ten(n: u16) -> bool {
    matches!(n, 1 | 10 | 100 | 1000 | 10000)
}

impl Lifecycle {
    /// Counts one packet of the connection and updates the history and the endpoint
    /// states; `seq` is the packet's sequence number, `len` its payload length. Not
    /// inlined into the flow table's packet path, which a run without lifecycles takes
    /// too.
    #[inline(never)]
    pub fn packet(
        &mut self,
        ts: Timestamp,
        dir: Direction,
        flags: TcpFlags,
        seq: u32,
        len: usize,
        window: u16,
    ) {
        if self.routine(dir, flags, len, window) {
            // Most packets of a connection: only the count and the time change.
            self.last_packet = ts.0;
            let c = &mut self.counters[side(dir)];
            c.packets = c.packets.saturating_add(1);
            return;
        }
        self.packet_general(ts, dir, flags, seq, len, window);
    }

    /// Whether [`Self::packet_general`] would only count the packet and keep its time:
    /// no SYN, FIN or RST; a window that is not zero; a sender past its inactive state
    /// (the only state that moves without those flags); and the history letter the
    /// packet would add (data, else a pure ACK) already recorded for its direction.
    #[inline]
    fn routine(&self, dir: Direction, flags: TcpFlags, len: usize, window: u16) -> bool {
        let s = side(dir);
        let letter_seen = |letter: Letter| {
            letter
                .once_bit()
                .is_some_and(|bit| self.once & (1u8 << (4 * s as u8 + bit)) != 0)
        };
        flags.0 & (TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST) == 0
            && window != 0
            && self.state_of(s) != EndpointState::Inactive
            && if len > 0 {
                letter_seen(Letter::Data)
            } else {
                !flags.ack() || letter_seen(Letter::Ack)
            }
    }

    /// [`Self::packet`] for any packet.
    fn packet_general(
        &mut self,
        ts: Timestamp,
        dir: Direction,
        flags: TcpFlags,
        seq: u32,
        len: usize,
        window: u16,
    ) {
        let s = side(dir);
        self.last_packet = ts.0;
        if (flags.fin() || flags.rst()) && self.last_seq_set & CLOSE_STARTED_SET == 0 {
            self.last_seq_set |= CLOSE_STARTED_SET;
            self.close_started = ts.0;
        }
        let c = &mut self.counters[s];
        c.packets = c.packets.saturating_add(1);
        self.history(dir, flags, seq, len);
        self.update_state(dir, flags, len);
        // Zero windows are counted unless the packet or its sender reset, or the peer
        // already closed (no window matters then), as Zeek counts them.
        if window == 0
            && !flags.rst()
            && self.state_of(s) != EndpointState::Reset
            && self.state_of(1 - s) != EndpointState::Closed
        {
            let c = &mut self.counters[s];
            c.zero_windows = c.zero_windows.saturating_add(1);
            if power_of_ten(c.zero_windows) {
                self.add(dir, Letter::ZeroWindow);
            }
        }
    }

    /// The server's SYN-ACK was seen at `ts` (only the first one counts).
    pub fn syn_ack_seen(&mut self, ts: Timestamp) {
        if self.last_seq_set & SYN_ACK_SET == 0 {
            self.last_seq_set |= SYN_ACK_SET;
            self.syn_ack = ts.0;
        }
    }

    /// When the server's first SYN-ACK was seen.
    pub fn syn_ack(&self) -> Option<Timestamp> {
        (self.last_seq_set & SYN_ACK_SET != 0).then_some(Timestamp(self.syn_ack))
    }

    /// When the connection's last packet was seen.
    pub fn last_packet(&self) -> Timestamp {
        Timestamp(self.last_packet)
    }

    /// When the first FIN or RST of either side was seen.
    pub fn close_started(&self) -> Option<Timestamp> {
        (self.last_seq_set & CLOSE_STARTED_SET != 0).then_some(Timestamp(self.close_started))
    }

    /// `bytes` of a packet of `dir` had already been delivered.
    pub fn retransmitted(&mut self, dir: Direction, bytes: u32) {
        if bytes == 0 {
            return;
        }
        let c = &mut self.counters[side(dir)];
        c.retransmitted = c.retransmitted.saturating_add(bytes);
        c.retransmissions = c.retransmissions.saturating_add(1);
        if power_of_ten(c.retransmissions) {
            self.add(dir, Letter::Retransmit);
        }
    }

    /// The capture missed bytes of `dir` that its receiver acknowledged.
    pub fn gap(&mut self, dir: Direction) {
        let c = &mut self.counters[side(dir)];
        c.gaps = c.gaps.saturating_add(1);
        if power_of_ten(c.gaps) {
            self.add(dir, Letter::Gap);
        }
    }

    fn history(&mut self, dir: Direction, flags: TcpFlags, seq: u32, len: usize) {
        let controls = u8::from(flags.syn()) + u8::from(flags.fin()) + u8::from(flags.rst());
        if controls > 1 {
            let letter = if flags.fin() && flags.rst() {
                Letter::FinRst
            } else {
                Letter::MultiFlag
            };
            self.add(dir, letter);
        } else if flags.syn() {
            let letter = if flags.ack() {
                Letter::SynAck
            } else {
                Letter::Syn
            };
            self.add_unless_same_seq(dir, letter, 0, seq);
        } else if flags.fin() {
            // A FIN's sequence number is the one after its data.
            self.add_unless_same_seq(dir, Letter::Fin, 1, seq.wrapping_add(len as u32));
        } else if flags.rst() {
            self.add_unless_same_seq(dir, Letter::Rst, 2, seq);
        } else if len > 0 {
            self.add(dir, Letter::Data);
        } else if flags.ack() {
            self.add(dir, Letter::Ack);
        }
    }

    fn add_unless_same_seq(&mut self, dir: Direction, letter: Letter, flag: usize, seq: u32) {
        let s = side(dir);
        let bit = 1u8 << (3 * s + flag);
        let short = seq as u16;
        let repeated = self.last_seq_set & bit != 0 && self.last_seq[s][flag] == short;
        self.last_seq[s][flag] = short;
        self.last_seq_set |= bit;
        if !repeated {
            self.push(dir, letter);
        }
    }

    /// Adds a letter, once per direction for the letters recorded once.
    fn add(&mut self, dir: Direction, letter: Letter) {
        if let Some(bit) = letter.once_bit() {
            let mask = 1u8 << (4 * side(dir) as u8 + bit);
            if self.once & mask != 0 {
                return;
            }
            self.once |= mask;
        }
        self.push(dir, letter);
    }

    fn push(&mut self, dir: Direction, letter: Letter) {
        let count = (self.letters >> COUNT_SHIFT) as usize;
        if count > MAX_HISTORY {
            return;
        }
        if count == MAX_HISTORY {
            // Cut: the count one past the bound says so.
            self.letters = (self.letters & ((1 << COUNT_SHIFT) - 1))
                | ((MAX_HISTORY as u64 + 1) << COUNT_SHIFT);
            return;
        }
        let code = letter as u64 | if dir == Direction::FromClient { 16 } else { 0 };
        self.letters = (self.letters & ((1 << COUNT_SHIFT) - 1))
            | (code << (5 * count))
            | ((count as u64 + 1) << COUNT_SHIFT);
    }

    /// Zeek's `history` string: upper case for the originator (the client).
    pub fn history_letters(&self, out: &mut Vec<u8>) {
        let count = (self.letters >> COUNT_SHIFT) as usize;
        for i in 0..count.min(MAX_HISTORY) {
            let code = (self.letters >> (5 * i)) & 31;
            let Some(letter) = Letter::ALL.iter().find(|l| **l as u64 == code & 15) else {
                continue;
            };
            let c = letter.lower();
            out.push(if code & 16 != 0 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        if count > MAX_HISTORY {
            out.push(b'+');
        }
    }

    fn set_state(&mut self, s: usize, state: EndpointState) {
        self.states[s] = (self.states[s] << 4) | state as u8;
    }

    fn state_of(&self, s: usize) -> EndpointState {
        EndpointState::from_nibble(self.states[s])
    }

    fn prev_state_of(&self, s: usize) -> EndpointState {
        EndpointState::from_nibble(self.states[s] >> 4)
    }

    /// Zeek's per-endpoint state machine, for the packet's sender.
    fn update_state(&mut self, dir: Direction, flags: TcpFlags, len: usize) {
        use EndpointState::*;
        let s = side(dir);
        let p = 1 - s;
        let is_orig = dir == Direction::FromClient;
        match self.state_of(s) {
            Inactive => {
                if flags.syn() {
                    if is_orig {
                        self.set_state(s, if flags.ack() { SynAckSent } else { SynSent });
                    } else {
                        if self.state_of(p) == SynSent {
                            self.set_state(p, Established);
                        }
                        self.set_state(s, Established);
                    }
                }
                if flags.fin() {
                    self.set_state(s, Closed);
                }
                if flags.rst() {
                    self.set_state(s, Reset);
                }
                if self.state_of(s) == Inactive {
                    // A responder's empty ACK of the SYN before its SYN-ACK does not
                    // make a partial connection.
                    if !is_orig && len == 0 && self.state_of(0) == SynSent {
                    } else if flags.ack() && self.state_of(p) == Established {
                        self.set_state(s, Established);
                    } else {
                        self.set_state(s, Partial);
                    }
                }
            }
            SynSent | SynAckSent => {
                if flags.fin() {
                    self.set_state(s, Closed);
                }
                if flags.rst() {
                    self.set_state(s, Reset);
                }
            }
            Established | Partial => {
                if flags.syn()
                    && self.state_of(s) == Partial
                    && self.state_of(p) == Inactive
                    && !flags.ack()
                {
                    self.set_state(s, SynSent);
                }
                if flags.fin() && !flags.rst() {
                    self.set_state(s, Closed);
                    if self.state_of(p) == Reset && self.prev_state_of(p) == Closed {
                        // The peer sent a FIN and then an RST: a normal termination.
                        self.set_state(p, Closed);
                    }
                }
                if flags.rst() {
                    self.set_state(s, Reset);
                }
            }
            Closed => {
                if flags.rst() && self.state_of(p) != Closed {
                    self.set_state(s, Reset);
                }
            }
            Reset => {}
        }
    }

    /// Whether either side sent payload.
    fn any_data(&self) -> bool {
        self.once & (1 << 1 | 1 << 5) != 0
    }

    /// Zeek's `conn_state`, from the two endpoints' states (Zeek's `conn_state`
    /// function of `base/protocols/conn/main.zeek`, for TCP).
    pub fn conn_state(&self) -> ConnState {
        use EndpointState::*;
        let (os, rs) = (self.state_of(0), self.state_of(1));
        let o_inactive = matches!(os, Inactive | Partial);
        let r_inactive = matches!(rs, Inactive | Partial);
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent) || (os == Reset && !self.any_data()) {
                ConnState::Rej
            } else if o_inactive {
                ConnState::Rstrh
            } else {
                ConnState::Rstr
            }
        } else if os == Reset {
            if r_inactive {
                if self.syn_then_reset() {
                    ConnState::Rstos0
                } else {
                    ConnState::Oth
                }
            } else {
                ConnState::Rsto
            }
        } else if rs == Closed && os == Closed {
            ConnState::SF
        } else if os == Closed {
            if r_inactive {
                ConnState::Sh
            } else {
                ConnState::S2
            }
        } else if rs == Closed {
            if o_inactive {
                ConnState::Shr
            } else {
                ConnState::S3
            }
        } else if os == SynSent && rs == Inactive {
            ConnState::S0
        } else if os == Established && rs == Established {
            ConnState::S1
        } else {
            ConnState::Oth
        }
    }

    /// Zeek's test for RSTOS0: the history is `S`, then none of `HAFGIQ`, then `R`
    /// (the regular expression `^?S[^HAFGIQ]*R.*`).
    fn syn_then_reset(&self) -> bool {
        let mut letters = Vec::with_capacity(MAX_HISTORY + 1);
        self.history_letters(&mut letters);
        let Some(rest) = letters.strip_prefix(b"S") else {
            return false;
        };
        rest.iter()
            .take_while(|c| !b"HAFGIQ".contains(c))
            .any(|&c| c == b'R')
    }

    pub fn state(&self, dir: Direction) -> EndpointState {
        self.state_of(side(dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{FromClient as C, FromServer as S};

    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const FIN: u8 = 0x01;
    const RST: u8 = 0x04;
    const PSH: u8 = 0x08;

    /// Runs packets `(dir, flags, seq, payload length)` and returns (history, state).
    fn run(packets: &[(Direction, u8, u32, usize)]) -> (String, &'static str) {
        let mut l = Lifecycle::default();
        for &(dir, flags, seq, len) in packets {
            l.packet(Timestamp(0), dir, TcpFlags(flags), seq, len, 1000);
        }
        let mut h = Vec::new();
        l.history_letters(&mut h);
        (String::from_utf8(h).unwrap(), l.conn_state().as_str())
    }

    fn handshake() -> Vec<(Direction, u8, u32, usize)> {
        vec![(C, SYN, 100, 0), (S, SYN | ACK, 500, 0), (C, ACK, 101, 0)]
    }

    #[test]
    fn a_normal_exchange_and_close_is_sf() {
        let mut p = handshake();
        p.extend([
            (C, ACK | PSH, 101, 20),
            (S, ACK, 501, 0),
            (S, ACK | PSH, 501, 300),
            (C, ACK, 121, 0),
            (C, FIN | ACK, 121, 0),
            (S, FIN | ACK, 801, 0),
            (C, ACK, 122, 0),
        ]);
        assert_eq!(run(&p), ("ShADadFf".into(), "SF"));
    }

    #[test]
    fn an_unanswered_syn_is_s0_and_its_retransmission_same_seq_adds_nothing() {
        assert_eq!(
            run(&[(C, SYN, 100, 0), (C, SYN, 100, 0)]),
            ("S".into(), "S0")
        );
        // A SYN with another sequence number is a new attempt: a new letter.
        assert_eq!(
            run(&[(C, SYN, 100, 0), (C, SYN, 900, 0)]),
            ("SS".into(), "S0")
        );
    }

    #[test]
    fn established_and_still_open_is_s1() {
        assert_eq!(run(&handshake()), ("ShA".into(), "S1"));
    }

    #[test]
    fn a_reset_answering_the_syn_is_rej() {
        assert_eq!(
            run(&[(C, SYN, 100, 0), (S, RST | ACK, 0, 0)]),
            ("Sr".into(), "REJ")
        );
    }

    #[test]
    fn close_by_one_side_only_is_s2_or_s3() {
        let mut p = handshake();
        p.push((C, FIN | ACK, 101, 0));
        assert_eq!(run(&p), ("ShAF".into(), "S2"));
        let mut p = handshake();
        p.push((S, FIN | ACK, 501, 0));
        assert_eq!(run(&p), ("ShAf".into(), "S3"));
    }

    #[test]
    fn resets_after_establishment_are_rsto_or_rstr() {
        let mut p = handshake();
        p.push((C, RST | ACK, 101, 0));
        assert_eq!(run(&p), ("ShAR".into(), "RSTO"));
        let mut p = handshake();
        p.extend([(C, ACK | PSH, 101, 10), (S, RST, 501, 0)]);
        assert_eq!(run(&p), ("ShADr".into(), "RSTR"));
    }

    #[test]
    fn a_syn_then_the_originators_reset_is_rstos0() {
        assert_eq!(
            run(&[(C, SYN, 100, 0), (C, RST, 101, 0)]),
            ("SR".into(), "RSTOS0")
        );
    }

    #[test]
    fn a_syn_ack_then_a_reset_without_the_syn_is_rstrh() {
        assert_eq!(
            run(&[(S, SYN | ACK, 500, 0), (S, RST, 501, 0)]),
            ("hr".into(), "RSTRH")
        );
    }

    #[test]
    fn a_syn_then_a_fin_without_answer_is_sh() {
        assert_eq!(
            run(&[(C, SYN, 100, 0), (C, FIN, 101, 0)]),
            ("SF".into(), "SH")
        );
    }

    #[test]
    fn a_syn_ack_then_a_fin_without_the_syn_is_shr() {
        assert_eq!(
            run(&[(S, SYN | ACK, 500, 0), (S, FIN | ACK, 501, 0)]),
            ("hf".into(), "SHR")
        );
    }

    #[test]
    fn midstream_traffic_is_oth() {
        assert_eq!(
            run(&[(C, ACK | PSH, 100, 10), (S, ACK, 500, 0)]),
            ("Da".into(), "OTH")
        );
    }

    #[test]
    fn a_fin_then_a_reset_from_the_same_side_is_still_a_normal_close() {
        let mut p = handshake();
        p.extend([
            (C, FIN | ACK, 101, 0),
            (C, RST, 102, 0),
            (S, FIN | ACK, 501, 0),
        ]);
        assert_eq!(run(&p), ("ShAFRf".into(), "SF"));
    }

    #[test]
    fn multi_flag_packets_are_q_and_fin_rst_is_i() {
        let mut p = handshake();
        p.push((C, FIN | RST | ACK, 101, 0));
        assert_eq!(run(&p).0, "ShAI");
        assert_eq!(run(&[(C, SYN | FIN, 100, 0)]).0, "Q");
    }

    #[test]
    fn data_and_ack_letters_are_recorded_once_per_direction() {
        let mut p = handshake();
        for i in 0..5 {
            p.push((C, ACK | PSH, 101 + 10 * i, 10));
            p.push((S, ACK, 501, 0));
        }
        assert_eq!(run(&p).0, "ShADa");
    }

    #[test]
    fn retransmissions_gaps_and_zero_windows_repeat_at_powers_of_ten() {
        let mut l = Lifecycle::default();
        for _ in 0..100 {
            l.retransmitted(C, 5);
        }
        for _ in 0..9 {
            l.gap(S);
        }
        for _ in 0..10 {
            l.packet(Timestamp(0), S, TcpFlags(ACK), 1, 0, 0);
        }
        let mut h = Vec::new();
        l.history_letters(&mut h);
        assert_eq!(h, b"TTTgaww");
        assert_eq!(l.counters[0].retransmitted, 500);
        assert_eq!(l.counters[0].retransmissions, 100);
        assert_eq!(l.counters[1].gaps, 9);
        assert_eq!(l.counters[1].zero_windows, 10);
        assert_eq!(l.counters[1].packets, 10);
    }

    #[test]
    fn a_zero_window_with_a_reset_or_after_the_peer_closed_is_not_counted() {
        let mut l = Lifecycle::default();
        l.packet(Timestamp(0), C, TcpFlags(SYN), 1, 0, 1000);
        l.packet(Timestamp(0), S, TcpFlags(SYN | ACK), 1, 0, 1000);
        l.packet(Timestamp(0), C, TcpFlags(FIN | ACK), 2, 0, 1000);
        l.packet(Timestamp(0), S, TcpFlags(ACK), 2, 0, 0);
        l.packet(Timestamp(0), C, TcpFlags(RST), 3, 0, 0);
        assert_eq!(l.counters[1].zero_windows, 0);
        assert_eq!(l.counters[0].zero_windows, 0);
    }

    #[test]
    fn the_history_is_bounded_and_says_it_was_cut() {
        let mut p = Vec::new();
        for i in 0..20 {
            p.push((C, SYN, i * 7, 0));
        }
        let (h, _) = run(&p);
        assert_eq!(h, format!("{}+", "S".repeat(MAX_HISTORY)));
    }

    /// The shortcut for routine packets changes what the general path would: every
    /// flag combination, with and without payload and window, in each direction, from
    /// the states a connection goes through.
    #[test]
    fn routine_packets_count_as_the_general_path_does() {
        let mut prefixes = vec![Vec::new(), handshake()];
        let mut data = handshake();
        data.extend([(C, ACK | PSH, 101, 10), (S, ACK, 501, 0), (S, ACK, 501, 30)]);
        prefixes.push(data.clone());
        data.push((C, FIN | ACK, 111, 0));
        prefixes.push(data.clone());
        data.push((S, RST, 531, 0));
        prefixes.push(data);
        prefixes.push(vec![(C, ACK | PSH, 100, 10)]);
        for prefix in &prefixes {
            let mut start = Lifecycle::default();
            for &(dir, flags, seq, len) in prefix {
                start.packet(Timestamp(1), dir, TcpFlags(flags), seq, len, 1000);
            }
            for flags in 0..=u8::MAX {
                for (dir, len, window) in [C, S]
                    .into_iter()
                    .flat_map(|d| [(d, 0, 0), (d, 0, 512), (d, 7, 0), (d, 7, 512)])
                {
                    let (mut fast, mut general) = (start, start);
                    fast.packet(Timestamp(2), dir, TcpFlags(flags), 900, len, window);
                    general.packet_general(Timestamp(2), dir, TcpFlags(flags), 900, len, window);
                    assert_eq!(
                        fast, general,
                        "{prefix:?} then {dir:?} {flags:#x} {len} {window}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_lifecycle_is_small() {
        assert_eq!(std::mem::size_of::<Lifecycle>(), 80);
        assert!(std::mem::size_of::<[DirCounters; 2]>() <= 32);
    }
}
