//! Behaviour of the connection table, driven segment by segment.

use super::*;
use crate::decode::{FlowKey, Segment, TcpFlags, TcpOptions};
use std::net::{IpAddr, Ipv4Addr};

const CLIENT_ISN: u32 = 1000;
const SERVER_ISN: u32 = 5000;

fn ep(last: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port,
    }
}

/// A compact description of what the sink saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Opening(ConnId, u16),
    Established(ConnId),
    Data(ConnId, Direction, Vec<u8>, i64),
    Gap(ConnId, Direction, u64),
    Closed(ConnId, Direction, usize),
    TimedOut(ConnId, usize),
    IdleTimedOut(ConnId, usize),
    Truncated(ConnId, usize),
}

#[derive(Default)]
struct Recorder(Vec<Seen>);

impl FlowEventSink for Recorder {
    fn event(&mut self, e: FlowEvent<'_>) -> std::io::Result<()> {
        self.0.push(match e.kind {
            FlowEventKind::Opening { client, .. } => Seen::Opening(e.conn, client.port),
            FlowEventKind::Established => Seen::Established(e.conn),
            FlowEventKind::Data { dir, bytes } => {
                Seen::Data(e.conn, dir, bytes.to_vec(), e.ts.micros())
            }
            FlowEventKind::Gap { dir, len } => Seen::Gap(e.conn, dir, len),
            FlowEventKind::Closed { originator } => Seen::Closed(e.conn, originator, e.streams),
            FlowEventKind::TimedOut => Seen::TimedOut(e.conn, e.streams),
            FlowEventKind::IdleTimedOut => Seen::IdleTimedOut(e.conn, e.streams),
            FlowEventKind::Truncated => Seen::Truncated(e.conn, e.streams),
        });
        Ok(())
    }
}

/// Builds segments of one connection between 10.0.0.1:`port` and 10.0.0.2:80.
struct Conv {
    port: u16,
    time: i64,
}

impl Conv {
    fn new(port: u16) -> Self {
        Conv { port, time: 0 }
    }

    fn seg(
        &mut self,
        from_client: bool,
        flags: u8,
        seq: u32,
        ack: u32,
        payload: &'static [u8],
    ) -> Segment<'static> {
        self.time += 1;
        let (c, s) = (ep(1, self.port), ep(2, 80));
        let key = if from_client {
            FlowKey { src: c, dst: s }
        } else {
            FlowKey { src: s, dst: c }
        };
        Segment {
            ts: crate::time::Timestamp::from_secs_micros(0, self.time),
            key,
            flags: TcpFlags(flags),
            seq,
            ack,
            window: 65535,
            urgent_ptr: 0,
            options: TcpOptions::default(),
            payload,
            tunnel: None,
        }
    }

    /// SYN, SYN-ACK, ACK.
    fn handshake(&mut self) -> Vec<Segment<'static>> {
        vec![
            self.seg(true, TcpFlags::SYN, CLIENT_ISN, 0, b""),
            self.seg(
                false,
                TcpFlags::SYN | TcpFlags::ACK,
                SERVER_ISN,
                CLIENT_ISN + 1,
                b"",
            ),
            self.seg(true, TcpFlags::ACK, CLIENT_ISN + 1, SERVER_ISN + 1, b""),
        ]
    }
}

const A: u8 = TcpFlags::ACK;
const FA: u8 = TcpFlags::FIN | TcpFlags::ACK;

fn run(config: FlowConfig, segments: &[Segment<'_>]) -> (Vec<Seen>, FlowTable) {
    let mut table = FlowTable::new(config);
    let mut rec = Recorder::default();
    for s in segments {
        table.process(s, &mut rec).unwrap();
    }
    (rec.0, table)
}

fn data(seen: &[Seen], dir: Direction) -> Vec<u8> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Data(_, d, b, _) if *d == dir => Some(b.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .concat()
}

/// A request/response conversation closed with FINs, the client's FIN first.
fn conversation(c: &mut Conv) -> Vec<Segment<'static>> {
    let mut s = c.handshake();
    s.push(c.seg(true, A, CLIENT_ISN + 1, SERVER_ISN + 1, b"GET /"));
    s.push(c.seg(false, A, SERVER_ISN + 1, CLIENT_ISN + 6, b"200 OK"));
    s.push(c.seg(true, FA, CLIENT_ISN + 6, SERVER_ISN + 7, b""));
    s.push(c.seg(false, FA, SERVER_ISN + 7, CLIENT_ISN + 7, b""));
    s.push(c.seg(true, A, CLIENT_ISN + 7, SERVER_ISN + 8, b""));
    s
}

#[test]
fn a_conversation_opens_carries_data_and_closes_with_the_first_fin_sender_as_originator() {
    let mut c = Conv::new(40000);
    let (seen, table) = run(FlowConfig::default(), &conversation(&mut c));
    assert_eq!(seen[0], Seen::Opening(0, 40000));
    assert_eq!(seen[1], Seen::Established(0));
    assert_eq!(data(&seen, Direction::FromClient), b"GET /");
    assert_eq!(data(&seen, Direction::FromServer), b"200 OK");
    assert_eq!(
        seen.last(),
        Some(&Seen::Closed(0, Direction::FromClient, 1))
    );
    assert_eq!(table.tracked(), 0);
}

#[test]
fn the_packet_that_delivers_the_second_fin_does_not_close_by_itself() {
    let mut c = Conv::new(40000);
    let mut segs = conversation(&mut c);
    segs.pop();
    let (seen, table) = run(FlowConfig::default(), &segs);
    assert!(!seen.iter().any(|s| matches!(s, Seen::Closed(..))));
    assert_eq!(table.tracked(), 1);
}

#[test]
fn fin_from_server_first_makes_server_the_originator() {
    let mut c = Conv::new(40001);
    let mut s = c.handshake();
    s.push(c.seg(true, A, CLIENT_ISN + 1, SERVER_ISN + 1, b"Q"));
    s.push(c.seg(false, FA, SERVER_ISN + 1, CLIENT_ISN + 2, b"R"));
    s.push(c.seg(true, FA, CLIENT_ISN + 2, SERVER_ISN + 3, b""));
    s.push(c.seg(false, A, SERVER_ISN + 3, CLIENT_ISN + 3, b""));
    let (seen, _) = run(FlowConfig::default(), &s);
    assert_eq!(
        seen.last(),
        Some(&Seen::Closed(0, Direction::FromServer, 1))
    );
}

#[test]
fn a_reset_closes_at_once_and_its_payload_is_ignored() {
    let mut c = Conv::new(40002);
    let mut s = c.handshake();
    s.push(c.seg(
        true,
        TcpFlags::RST | A,
        CLIENT_ISN + 1,
        SERVER_ISN + 1,
        b"junk",
    ));
    let (seen, _) = run(FlowConfig::default(), &s);
    assert_eq!(data(&seen, Direction::FromClient), b"");
    assert_eq!(
        seen.last(),
        Some(&Seen::Closed(0, Direction::FromClient, 1))
    );
}

#[test]
fn a_refused_syn_closes_by_the_server() {
    let mut c = Conv::new(40003);
    let syn = c.seg(true, TcpFlags::SYN, CLIENT_ISN, 0, b"");
    let rst = c.seg(false, TcpFlags::RST | A, 0, CLIENT_ISN + 1, b"");
    let (seen, _) = run(FlowConfig::default(), &[syn, rst]);
    assert_eq!(
        seen,
        vec![
            Seen::Opening(0, 40003),
            Seen::Closed(0, Direction::FromServer, 1)
        ]
    );
}

#[test]
fn a_syn_ack_that_does_not_acknowledge_the_syn_is_ignored() {
    let mut c = Conv::new(40004);
    let segs = vec![
        c.seg(true, TcpFlags::SYN, CLIENT_ISN, 0, b""),
        c.seg(false, TcpFlags::SYN | A, SERVER_ISN, CLIENT_ISN + 99, b""),
        c.seg(true, A, CLIENT_ISN + 1, SERVER_ISN + 1, b"x"),
    ];
    let (seen, _) = run(FlowConfig::default(), &segs);
    assert_eq!(seen, vec![Seen::Opening(0, 40004)]);
}

#[test]
fn segments_outside_the_receive_window_are_dropped() {
    let mut c = Conv::new(40005);
    let mut s = c.handshake();
    // 65535 bytes of window from CLIENT_ISN + 1: this one starts beyond it.
    s.push(c.seg(true, A, CLIENT_ISN + 1 + 70_000, SERVER_ISN + 1, b"far"));
    s.push(c.seg(true, A, CLIENT_ISN + 1, SERVER_ISN + 1, b"near"));
    let (seen, table) = run(FlowConfig::default(), &s);
    assert_eq!(data(&seen, Direction::FromClient), b"near");
    assert_eq!(table.stats().out_of_window, 1);
}

#[test]
fn out_of_order_data_is_delivered_with_the_time_of_the_gap_filling_packet() {
    let mut c = Conv::new(40006);
    let mut s = c.handshake();
    s.push(c.seg(true, A, CLIENT_ISN + 4, SERVER_ISN + 1, b"def"));
    s.push(c.seg(true, A, CLIENT_ISN + 1, SERVER_ISN + 1, b"abc"));
    let (seen, _) = run(FlowConfig::default(), &s);
    let times: Vec<i64> = seen
        .iter()
        .filter_map(|e| {
            if let Seen::Data(_, _, _, t) = e {
                Some(*t)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(data(&seen, Direction::FromClient), b"abcdef");
    assert_eq!(times, vec![5, 5]);
}

#[test]
fn data_before_the_handshake_completes_is_not_delivered() {
    let mut c = Conv::new(40007);
    let segs = vec![
        c.seg(true, TcpFlags::SYN, CLIENT_ISN, 0, b""),
        c.seg(false, TcpFlags::SYN | A, SERVER_ISN, CLIENT_ISN + 1, b""),
        c.seg(false, A, SERVER_ISN + 1, CLIENT_ISN + 1, b"early"),
    ];
    let (seen, _) = run(FlowConfig::default(), &segs);
    assert_eq!(data(&seen, Direction::FromServer), b"");
}

#[test]
fn timestamps_older_than_the_last_in_order_one_are_dropped() {
    let mut c = Conv::new(40008);
    let mut s = c.handshake();
    for seg in s.iter_mut() {
        seg.options.timestamp = Some((100, 0));
    }
    let mut fresh = c.seg(true, A, CLIENT_ISN + 1, SERVER_ISN + 1, b"ab");
    fresh.options.timestamp = Some((200, 0));
    let mut stale = c.seg(true, A, CLIENT_ISN + 3, SERVER_ISN + 1, b"cd");
    stale.options.timestamp = Some((150, 0));
    s.push(fresh);
    s.push(stale);
    let (seen, table) = run(FlowConfig::default(), &s);
    assert_eq!(data(&seen, Direction::FromClient), b"ab");
    assert_eq!(table.stats().paws_dropped, 1);
}

#[test]
fn a_full_table_evicts_the_oldest_connection_as_timed_out() {
    // N = 4: at most 3*4/4 + 1 = 4 connections at once.
    let config = FlowConfig {
        max_streams: 4,
        ..FlowConfig::default()
    };
    let segs: Vec<Segment<'static>> = (0..5)
        .map(|i| Conv::new(41000 + i).seg(true, TcpFlags::SYN, CLIENT_ISN, 0, b""))
        .collect();
    let (seen, table) = run(config, &segs);
    assert_eq!(seen[4], Seen::TimedOut(0, 4));
    assert_eq!(seen[5], Seen::Opening(0, 41004));
    assert_eq!(table.tracked(), 4);
    assert_eq!(table.stats().evicted, 1);
}

#[test]
fn end_of_capture_truncates_every_connection_in_creation_order() {
    let mut table = FlowTable::new(FlowConfig::default());
    let mut rec = Recorder::default();
    for port in [43000, 42000, 44000] {
        table
            .process(
                &Conv::new(port).seg(true, TcpFlags::SYN, 1, 0, b""),
                &mut rec,
            )
            .unwrap();
    }
    table.finish(&mut rec).unwrap();
    assert_eq!(
        &rec.0[3..],
        &[
            Seen::Truncated(0, 3),
            Seen::Truncated(1, 3),
            Seen::Truncated(2, 3)
        ]
    );
    assert_eq!(table.tracked(), 0);
}

#[test]
fn a_freed_four_tuple_can_be_reused_by_a_new_syn() {
    let mut c = Conv::new(40009);
    let mut segs = conversation(&mut c);
    segs.extend(conversation(&mut c));
    let (seen, _) = run(FlowConfig::default(), &segs);
    let closes = seen
        .iter()
        .filter(|s| matches!(s, Seen::Closed(..)))
        .count();
    assert_eq!(closes, 2);
}

#[test]
fn packets_of_unknown_connections_are_ignored_without_midstream() {
    let mut c = Conv::new(40010);
    let seg = c.seg(true, A, 7, 9, b"hello");
    let (seen, table) = run(FlowConfig::default(), &[seg]);
    assert!(seen.is_empty());
    assert_eq!(table.stats().unknown_packets, 1);
}

#[test]
fn midstream_takes_the_first_sender_as_client_and_delivers_its_payload() {
    let mut c = Conv::new(40011);
    let segs = vec![
        c.seg(false, A, 777, 333, b"from-server-first"),
        c.seg(true, A, 333, 777 + 17, b"reply"),
    ];
    let config = FlowConfig {
        midstream: true,
        ..FlowConfig::default()
    };
    let (seen, _) = run(config, &segs);
    assert_eq!(seen[0], Seen::Opening(0, 80));
    assert_eq!(seen[1], Seen::Established(0));
    assert_eq!(data(&seen, Direction::FromClient), b"from-server-first");
    assert_eq!(data(&seen, Direction::FromServer), b"reply");
}

#[test]
fn payload_on_a_syn_is_skipped_but_uses_sequence_space() {
    let mut c = Conv::new(40012);
    let segs = vec![
        c.seg(true, TcpFlags::SYN, 500, 0, b"syn-payload!"),
        c.seg(false, TcpFlags::SYN | A, 600, 513, b""),
        c.seg(true, A, 513, 601, b""),
        c.seg(true, A, 513, 601, b"PING"),
    ];
    let (seen, _) = run(FlowConfig::default(), &segs);
    assert_eq!(seen[1], Seen::Established(0));
    assert_eq!(data(&seen, Direction::FromClient), b"PING");
}

/// The close time of the only connection, and its originator.
fn closed(seen: &[Seen]) -> Option<(Direction, i64)> {
    let at = seen.iter().position(|s| matches!(s, Seen::Closed(..)))?;
    match &seen[at] {
        Seen::Closed(_, by, _) => Some((*by, at as i64)),
        _ => None,
    }
}

#[test]
fn a_retransmitted_fin_closes_when_the_capture_missed_the_last_ack() {
    let mut c = Conv::new(40013);
    let mut s = conversation(&mut c);
    // The client's final ACK never reached the capture; the server sends its FIN again.
    s.pop();
    s.push(c.seg(false, FA, SERVER_ISN + 7, CLIENT_ISN + 7, b""));
    let (seen, table) = run(FlowConfig::default(), &s);
    assert_eq!(
        seen.last(),
        Some(&Seen::Closed(0, Direction::FromClient, 1))
    );
    assert_eq!(table.tracked(), 0);
}

#[test]
fn after_both_fins_the_next_ack_closes_from_either_side_whatever_it_acknowledges() {
    // Simultaneous close: the FINs cross, neither acknowledges the other's FIN.
    let mut c = Conv::new(40014);
    let mut s = c.handshake();
    s.push(c.seg(true, FA, CLIENT_ISN + 1, SERVER_ISN + 1, b""));
    s.push(c.seg(false, FA, SERVER_ISN + 1, CLIENT_ISN + 1, b""));
    // The server's next packet (not the client's ACK of its FIN) closes.
    s.push(c.seg(false, A, SERVER_ISN + 2, CLIENT_ISN + 1, b""));
    s.push(c.seg(true, A, CLIENT_ISN + 2, SERVER_ISN + 2, b""));
    let (seen, _) = run(FlowConfig::default(), &s);
    // Events: opening, established, closed at the third packet after the handshake.
    assert_eq!(closed(&seen), Some((Direction::FromClient, 2)));
    assert_eq!(seen.len(), 3);
}

#[test]
fn a_packet_without_ack_after_both_fins_does_not_close() {
    let mut c = Conv::new(40015);
    let mut s = conversation(&mut c);
    s.pop();
    // A bare FIN (no ACK flag) at the client's sequence number: accepted, but no ACK.
    s.push(c.seg(true, TcpFlags::FIN, CLIENT_ISN + 7, 0, b""));
    let (seen, table) = run(FlowConfig::default(), &s);
    assert_eq!(closed(&seen), None);
    assert_eq!(table.tracked(), 1);
}

#[test]
fn a_bare_reset_at_sequence_zero_refuses_the_syn_and_the_retry_is_tracked() {
    let mut c = Conv::new(40016);
    let mut s = vec![
        c.seg(true, TcpFlags::SYN, CLIENT_ISN, 0, b""),
        // RST without ACK, sequence number 0 (RFC 9293 §3.10.7.1).
        c.seg(false, TcpFlags::RST, 0, 0, b""),
    ];
    // The retry on the same 4-tuple is a new connection with its exchange.
    s.extend(conversation(&mut c));
    let (seen, table) = run(FlowConfig::default(), &s);
    assert_eq!(seen[0], Seen::Opening(0, 40016));
    assert_eq!(seen[1], Seen::Closed(0, Direction::FromServer, 1));
    assert_eq!(data(&seen, Direction::FromClient), b"GET /");
    assert_eq!(
        seen.last(),
        Some(&Seen::Closed(0, Direction::FromClient, 1))
    );
    assert_eq!(table.tracked(), 0);
}

#[test]
fn before_the_syn_ack_only_the_servers_reset_at_sequence_zero_counts() {
    let mut c = Conv::new(40017);
    let s = vec![
        c.seg(true, TcpFlags::SYN, CLIENT_ISN, 0, b""),
        // Not at the client's acknowledgement point (0): dropped.
        c.seg(false, TcpFlags::RST | A, 12345, CLIENT_ISN + 1, b""),
        // The client's own reset: the server has no window yet, dropped.
        c.seg(true, TcpFlags::RST, CLIENT_ISN + 1, 0, b""),
        c.seg(true, TcpFlags::RST | A, CLIENT_ISN + 1, 0, b""),
    ];
    let mut table = FlowTable::new(FlowConfig::default());
    let mut rec = Recorder::default();
    for seg in &s {
        table.process(seg, &mut rec).unwrap();
    }
    assert_eq!(rec.0, vec![Seen::Opening(0, 40017)]);
    // The connection stays opening until the end of the capture.
    table.finish(&mut rec).unwrap();
    assert_eq!(rec.0[1], Seen::Truncated(0, 1));
}

#[test]
fn midstream_an_unknown_reset_opens_and_closes_a_connection_by_its_sender() {
    let mut c = Conv::new(40018);
    let rst = c.seg(false, TcpFlags::RST | A, 777, 333, b"ignored");
    let config = FlowConfig {
        midstream: true,
        ..FlowConfig::default()
    };
    let (seen, table) = run(config, &[rst]);
    assert_eq!(
        seen,
        vec![
            Seen::Opening(0, 80),
            Seen::Established(0),
            Seen::Closed(0, Direction::FromClient, 1),
        ]
    );
    assert_eq!(table.tracked(), 0);
}

#[test]
fn without_midstream_an_unknown_reset_is_ignored() {
    let mut c = Conv::new(40019);
    let rst = c.seg(false, TcpFlags::RST | A, 777, 333, b"");
    let (seen, table) = run(FlowConfig::default(), &[rst]);
    assert!(seen.is_empty());
    assert_eq!(table.stats().unknown_packets, 1);
}

#[test]
fn midstream_a_syn_ack_seen_first_does_not_make_its_sender_the_client() {
    // SPEC §3.6 and §9: a SYN-ACK is a SYN packet, which never opens a mid-stream
    // connection; the client's next packet does, with the client as client.
    let mut c = Conv::new(40020);
    let segs = vec![
        c.seg(false, TcpFlags::SYN | A, SERVER_ISN, CLIENT_ISN + 1, b""),
        c.seg(true, A, CLIENT_ISN + 1, SERVER_ISN + 1, b"GET /"),
    ];
    let config = FlowConfig {
        midstream: true,
        ..FlowConfig::default()
    };
    let (seen, _) = run(config, &segs);
    assert_eq!(seen[0], Seen::Opening(0, 40020));
    assert_eq!(data(&seen, Direction::FromClient), b"GET /");
}

fn skipping() -> FlowConfig {
    FlowConfig {
        skip_gaps: true,
        ..FlowConfig::default()
    }
}

/// A request whose middle segment the capture missed, then the server's ACK of all of it.
fn lost_middle_segment(c: &mut Conv) -> Vec<Segment<'static>> {
    let mut s = c.handshake();
    s.push(c.seg(true, A, CLIENT_ISN + 1, SERVER_ISN + 1, b"abc"));
    // CLIENT_ISN + 4.. "def" never captured.
    s.push(c.seg(true, A, CLIENT_ISN + 7, SERVER_ISN + 1, b"ghi"));
    s.push(c.seg(false, A, SERVER_ISN + 1, CLIENT_ISN + 10, b""));
    s
}

#[test]
fn an_acknowledged_hole_becomes_a_gap_and_what_waited_behind_it_is_delivered() {
    let mut c = Conv::new(40030);
    let (seen, table) = run(skipping(), &lost_middle_segment(&mut c));
    let tail: Vec<&Seen> = seen.iter().skip(2).collect();
    assert_eq!(
        tail,
        vec![
            &Seen::Data(0, Direction::FromClient, b"abc".to_vec(), 4),
            &Seen::Gap(0, Direction::FromClient, 3),
            &Seen::Data(0, Direction::FromClient, b"ghi".to_vec(), 6),
        ]
    );
    assert_eq!((table.stats().gaps, table.stats().gap_bytes), (1, 3));
}

#[test]
fn without_skip_gaps_the_data_behind_a_hole_waits_for_ever() {
    let mut c = Conv::new(40031);
    let (seen, table) = run(FlowConfig::default(), &lost_middle_segment(&mut c));
    assert_eq!(data(&seen, Direction::FromClient), b"abc");
    assert!(!seen.iter().any(|s| matches!(s, Seen::Gap(..))));
    assert_eq!(table.stats().gaps, 0);
}

#[test]
fn an_acknowledged_hole_at_the_end_of_the_stream_is_a_gap_up_to_the_ack() {
    let mut c = Conv::new(40032);
    let mut s = c.handshake();
    s.push(c.seg(true, A, CLIENT_ISN + 1, SERVER_ISN + 1, b"abc"));
    // The next 5 bytes were never captured; the server acknowledges them.
    s.push(c.seg(false, A, SERVER_ISN + 1, CLIENT_ISN + 9, b"ok"));
    s.push(c.seg(true, A, CLIENT_ISN + 9, SERVER_ISN + 3, b"z"));
    let (seen, _) = run(skipping(), &s);
    let tail: Vec<&Seen> = seen.iter().skip(2).collect();
    assert_eq!(
        tail,
        vec![
            &Seen::Data(0, Direction::FromClient, b"abc".to_vec(), 4),
            &Seen::Gap(0, Direction::FromClient, 5),
            &Seen::Data(0, Direction::FromServer, b"ok".to_vec(), 5),
            &Seen::Data(0, Direction::FromClient, b"z".to_vec(), 6),
        ]
    );
}

#[test]
fn an_acknowledgement_beyond_any_window_reveals_no_gap() {
    let mut c = Conv::new(40033);
    let mut s = c.handshake();
    s.push(c.seg(true, A, CLIENT_ISN + 1, SERVER_ISN + 1, b"abc"));
    s.push(c.seg(
        false,
        A,
        SERVER_ISN + 1,
        CLIENT_ISN + 4 + (1 << 31) - 8,
        b"",
    ));
    let (seen, table) = run(skipping(), &s);
    assert!(!seen.iter().any(|s| matches!(s, Seen::Gap(..))));
    assert_eq!(table.stats().gaps, 0);
}

fn fast_open() -> FlowConfig {
    FlowConfig {
        syn_data: true,
        ..FlowConfig::default()
    }
}

#[test]
fn fast_open_data_acknowledged_by_the_syn_ack_is_the_clients_first_data() {
    let mut c = Conv::new(40040);
    let segs = vec![
        c.seg(true, TcpFlags::SYN, 500, 0, b"GET / HTTP/1.1\r\n\r\n"),
        c.seg(false, TcpFlags::SYN | A, 600, 519, b""),
        c.seg(true, A, 519, 601, b""),
        c.seg(true, A, 519, 601, b"more"),
    ];
    let (seen, _) = run(fast_open(), &segs);
    assert_eq!(seen[1], Seen::Established(0));
    assert_eq!(
        seen[2],
        Seen::Data(
            0,
            Direction::FromClient,
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            3
        )
    );
    assert_eq!(
        data(&seen, Direction::FromClient),
        b"GET / HTTP/1.1\r\n\r\nmore"
    );
}

#[test]
fn fast_open_data_the_server_refused_is_taken_from_its_retransmission() {
    let mut c = Conv::new(40041);
    let segs = vec![
        c.seg(true, TcpFlags::SYN, 500, 0, b"hello"),
        // The SYN-ACK acknowledges the ISN + 1 only: the data was not taken.
        c.seg(false, TcpFlags::SYN | A, 600, 501, b""),
        c.seg(true, A, 501, 601, b"hello"),
    ];
    let (seen, _) = run(fast_open(), &segs);
    assert_eq!(seen[1], Seen::Established(0));
    assert_eq!(data(&seen, Direction::FromClient), b"hello");
}

#[test]
fn without_syn_data_a_fast_open_payload_is_skipped() {
    let mut c = Conv::new(40042);
    let segs = vec![
        c.seg(true, TcpFlags::SYN, 500, 0, b"hello"),
        c.seg(false, TcpFlags::SYN | A, 600, 506, b""),
        c.seg(true, A, 506, 601, b""),
    ];
    let (seen, _) = run(FlowConfig::default(), &segs);
    assert_eq!(data(&seen, Direction::FromClient), b"");
}

/// Collects the lifecycles the table reports, and the event that followed each.
#[derive(Default)]
struct LifecycleRecorder {
    lifecycles: Vec<(ConnId, Lifecycle)>,
    ends: Vec<Seen>,
}

impl FlowEventSink for LifecycleRecorder {
    fn event(&mut self, e: FlowEvent<'_>) -> std::io::Result<()> {
        match e.kind {
            FlowEventKind::Closed { originator } => {
                self.ends.push(Seen::Closed(e.conn, originator, e.streams))
            }
            FlowEventKind::TimedOut => self.ends.push(Seen::TimedOut(e.conn, e.streams)),
            FlowEventKind::IdleTimedOut => self.ends.push(Seen::IdleTimedOut(e.conn, e.streams)),
            FlowEventKind::Truncated => self.ends.push(Seen::Truncated(e.conn, e.streams)),
            _ => {}
        }
        Ok(())
    }

    fn lifecycle(&mut self, conn: ConnId, lifecycle: &Lifecycle) -> std::io::Result<()> {
        // Reported before the end event: as many lifecycles as ends so far, plus this.
        assert_eq!(self.lifecycles.len(), self.ends.len());
        self.lifecycles.push((conn, *lifecycle));
        Ok(())
    }
}

fn history(l: &Lifecycle) -> String {
    let mut out = Vec::new();
    l.history_letters(&mut out);
    String::from_utf8(out).unwrap()
}

fn with_lifecycle() -> FlowConfig {
    FlowConfig {
        lifecycle: true,
        ..FlowConfig::default()
    }
}

#[test]
fn a_closed_connection_reports_its_counters_history_and_state_before_it_ends() {
    let mut c = Conv::new(4000);
    let mut segs = c.handshake();
    let (cs, ss) = (CLIENT_ISN + 1, SERVER_ISN + 1);
    segs.push(c.seg(true, A, cs, ss, b"GET / HTTP/1.0\r\n\r\n"));
    // The same request again: 18 bytes sent twice.
    segs.push(c.seg(true, A, cs, ss, b"GET / HTTP/1.0\r\n\r\n"));
    segs.push(c.seg(false, A, ss, cs + 18, b"HTTP/1.0 200 OK\r\n\r\n"));
    segs.push(c.seg(false, FA, ss + 19, cs + 18, b""));
    segs.push(c.seg(true, FA, cs + 18, ss + 20, b""));
    segs.push(c.seg(false, A, ss + 20, cs + 19, b""));
    let mut table = FlowTable::new(with_lifecycle());
    let mut rec = LifecycleRecorder::default();
    for s in &segs {
        table.process(s, &mut rec).unwrap();
    }
    assert_eq!(rec.ends, vec![Seen::Closed(0, Direction::FromServer, 1)]);
    let (conn, life) = rec.lifecycles[0];
    assert_eq!(conn, 0);
    // The server's last packet is its first pure ACK: `a`.
    assert_eq!(history(&life), "ShADTdfFa");
    assert_eq!(life.conn_state().as_str(), "SF");
    assert_eq!(life.counters[0].packets, 5);
    assert_eq!(life.counters[1].packets, 4);
    assert_eq!(life.counters[0].retransmitted, 18);
    assert_eq!(life.counters[1].retransmitted, 0);
    // The SYN-ACK was the second segment.
    assert_eq!(life.syn_ack(), Some(segs[1].ts));
}

#[test]
fn evicted_and_truncated_connections_report_their_lifecycle_too() {
    let config = FlowConfig {
        max_streams: 1,
        ..with_lifecycle()
    };
    let mut table = FlowTable::new(config);
    let mut rec = LifecycleRecorder::default();
    let mut a = Conv::new(4001);
    let mut b = Conv::new(4002);
    table
        .process(&a.seg(true, TcpFlags::SYN, CLIENT_ISN, 0, b""), &mut rec)
        .unwrap();
    table
        .process(&b.seg(true, TcpFlags::SYN, CLIENT_ISN, 0, b""), &mut rec)
        .unwrap();
    table.finish(&mut rec).unwrap();
    assert_eq!(rec.lifecycles.len(), 2);
    assert!(matches!(rec.ends[0], Seen::TimedOut(0, _)));
    assert!(matches!(rec.ends[1], Seen::Truncated(_, _)));
    for (_, life) in &rec.lifecycles {
        assert_eq!(history(life), "S");
        assert_eq!(life.conn_state().as_str(), "S0");
    }
}

#[test]
fn a_skipped_gap_is_a_g_in_the_receivers_history() {
    let mut c = Conv::new(4003);
    let mut segs = c.handshake();
    let (cs, ss) = (CLIENT_ISN + 1, SERVER_ISN + 1);
    segs.push(c.seg(true, A, cs, ss, b"GET"));
    // The server acknowledges 10 bytes the capture never had after the first 3.
    segs.push(c.seg(false, A, ss, cs + 13, b""));
    let config = FlowConfig {
        skip_gaps: true,
        ..with_lifecycle()
    };
    let mut table = FlowTable::new(config);
    let mut rec = LifecycleRecorder::default();
    for s in &segs {
        table.process(s, &mut rec).unwrap();
    }
    table.finish(&mut rec).unwrap();
    let life = rec.lifecycles[0].1;
    assert_eq!(history(&life), "ShADaG");
    assert_eq!(life.counters[0].gaps, 1);
    assert_eq!(life.conn_state().as_str(), "S1");
}

#[test]
fn without_the_option_no_lifecycle_is_reported() {
    let mut c = Conv::new(4004);
    let segs = c.handshake();
    let mut table = FlowTable::new(FlowConfig::default());
    let mut rec = LifecycleRecorder::default();
    for s in &segs {
        table.process(s, &mut rec).unwrap();
    }
    table.finish(&mut rec).unwrap();
    assert!(rec.lifecycles.is_empty());
    assert_eq!(rec.ends.len(), 1);
}

#[test]
fn idle_connections_end_after_the_timeout_and_the_others_go_on() {
    let config = FlowConfig {
        idle_timeout: Some(2_000_000_000),
        ..with_lifecycle()
    };
    let mut table = FlowTable::new(config);
    let mut rec = LifecycleRecorder::default();
    let mut quiet = Conv::new(4010);
    let mut busy = Conv::new(4011);
    for s in quiet.handshake() {
        table.process(&s, &mut rec).unwrap();
    }
    let mut segs = busy.handshake();
    // The busy connection sends a byte every second for five seconds.
    for i in 0..5u32 {
        busy.time = 1_000_000 * (i64::from(i) + 1);
        segs.push(busy.seg(true, A, CLIENT_ISN + 1 + i, SERVER_ISN + 1, b"x"));
    }
    for s in &segs {
        table.process(s, &mut rec).unwrap();
    }
    // The quiet one saw its last packet at 3 us: ended once 2 s passed, at the check
    // after it (checks run every 0.5 s of capture time).
    assert_eq!(rec.ends, vec![Seen::IdleTimedOut(0, 2)]);
    assert_eq!(rec.lifecycles[0].1.conn_state().as_str(), "S1");
    assert_eq!(table.stats().idle_timed_out, 1);
    // At the end, the busy one is idle for less than 2 s: truncated, not idle.
    table.finish(&mut rec).unwrap();
    assert_eq!(rec.ends[1], Seen::Truncated(1, 1));
}

#[test]
fn at_the_end_of_the_capture_connections_idle_for_the_timeout_end_as_idle() {
    // 8 s timeout: checks every second of capture time.
    let config = FlowConfig {
        idle_timeout: Some(8_000_000_000),
        ..with_lifecycle()
    };
    let mut table = FlowTable::new(config);
    let mut rec = LifecycleRecorder::default();
    let mut a = Conv::new(4012);
    for s in a.handshake() {
        table.process(&s, &mut rec).unwrap();
    }
    let mut b = Conv::new(4013);
    // At 7.5 s the first is idle for less than 8 s; at 8.2 s for more, but the next
    // check is not due before 8.5 s: the end of the capture finds it.
    b.time = 7_500_000;
    table
        .process(&b.seg(true, TcpFlags::SYN, CLIENT_ISN, 0, b""), &mut rec)
        .unwrap();
    b.time = 8_200_000;
    table
        .process(&b.seg(true, TcpFlags::SYN, CLIENT_ISN, 0, b""), &mut rec)
        .unwrap();
    assert!(rec.ends.is_empty());
    table.finish(&mut rec).unwrap();
    assert_eq!(rec.ends[0], Seen::IdleTimedOut(0, 2));
    assert_eq!(rec.ends[1], Seen::Truncated(1, 1));
}

#[test]
fn open_connections_are_listed_oldest_first_with_their_lifecycle_so_far() {
    let mut table = FlowTable::new(with_lifecycle());
    let mut rec = LifecycleRecorder::default();
    for port in [4020, 4021] {
        for s in Conv::new(port).handshake() {
            table.process(&s, &mut rec).unwrap();
        }
    }
    let open: Vec<_> = table.open_connections().collect();
    assert_eq!(open.len(), 2);
    assert_eq!((open[0].0, open[1].0), (0, 1));
    assert_eq!(history(&open[0].1), "ShA");
    assert_eq!(open[1].1.counters[0].packets, 2);
}

#[test]
fn would_open_answers_for_a_new_syn_only() {
    let mut table = FlowTable::new(FlowConfig::default());
    let mut rec = Recorder::default();
    let mut c = Conv::new(45000);
    let syn = c.seg(true, TcpFlags::SYN, CLIENT_ISN, 0, b"");
    assert!(table.would_open(&syn));
    table.process(&syn, &mut rec).unwrap();
    // The same connection, either way, no longer opens; a bare ACK never does (no -m).
    assert!(!table.would_open(&syn));
    assert!(!table.would_open(&c.seg(false, TcpFlags::SYN | A, SERVER_ISN, CLIENT_ISN + 1, b"")));
    assert!(!table.would_open(&Conv::new(45001).seg(true, A, 1, 1, b"")));
    assert!(table.would_open(&Conv::new(45001).seg(true, TcpFlags::SYN, 1, 0, b"")));
    let midstream = FlowTable::new(FlowConfig {
        midstream: true,
        ..FlowConfig::default()
    });
    assert!(midstream.would_open(&Conv::new(45001).seg(true, A, 1, 1, b"")));
}

#[test]
fn an_external_clock_expires_and_evicts_only_when_asked() {
    let second = 1_000_000_000;
    let config = FlowConfig {
        lifecycle: true,
        idle_timeout: Some(second),
        ..FlowConfig::default()
    };
    let mut table = FlowTable::new(config).with_external_clock();
    let mut rec = Recorder::default();
    let mut old = Conv::new(46000);
    table
        .process(&old.seg(true, TcpFlags::SYN, 1, 0, b""), &mut rec)
        .unwrap();
    let mut late = Conv::new(46001);
    late.time = 5_000_000; // 5 s later: the table does not check by itself.
    table
        .process(&late.seg(true, TcpFlags::SYN, 1, 0, b""), &mut rec)
        .unwrap();
    assert_eq!(table.tracked(), 2);
    table
        .expire_idle_at(crate::time::Timestamp::from_secs_micros(5, 0), &mut rec)
        .unwrap();
    assert_eq!(rec.0.last(), Some(&Seen::IdleTimedOut(0, 2)));
    assert_eq!(table.tracked(), 1);
    table
        .evict_oldest(crate::time::Timestamp::from_secs_micros(5, 1), &mut rec)
        .unwrap();
    assert_eq!(rec.0.last(), Some(&Seen::TimedOut(1, 1)));
    assert_eq!(table.oldest(), None);
    assert_eq!(table.stats().evicted, 1);
}
