//! Property: any reordering and duplication of a connection's segments within the
//! window gives the same records.
//!
//! A conversation is a list of flights (consecutive segments of one direction). Within
//! a flight, segments may be shuffled and (before the FIN exchange) duplicated; every packet of a flight carries
//! the flight's timestamp, so the records, timings included, must not change.

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use rustniffer::decode::{Endpoint, FlowKey, Segment, TcpFlags, TcpOptions};
use rustniffer::exchange::{Exchange, ExchangeSink, ExchangeTracker, Needs, Retention};
use rustniffer::flow::{FlowConfig, FlowTable};
use rustniffer::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    position: &'static str,
    originator: Option<&'static str>,
    request: Vec<u8>,
    response: Vec<u8>,
    times: [Option<i64>; 7],
    session_requests: u64,
}

#[derive(Default)]
struct Collect(Vec<Record>);

impl ExchangeSink for Collect {
    fn exchange(&mut self, e: &Exchange<'_>) -> std::io::Result<()> {
        self.0.push(Record {
            position: e.position.as_str(),
            originator: e.close_originator.map(|o| o.as_str()),
            request: e.request.to_vec(),
            response: e.response.to_vec(),
            times: [
                e.connection_time(),
                e.idle_time_0(),
                e.request_time(),
                e.response_time(),
                e.idle_time_1(),
                Some(e.session_time()),
                e.close_time(),
            ],
            session_requests: e.session_requests,
        });
        Ok(())
    }
}

/// One packet, before it becomes a `Segment`.
#[derive(Debug, Clone)]
struct Packet {
    from_client: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: Vec<u8>,
    time: i64,
}

const A: u8 = TcpFlags::ACK;

/// Builds the flights of a conversation: the handshake, then `exchanges` of request and
/// response chunk sizes, then a FIN exchange. Sequence numbers start near 2^32 so that
/// some conversations wrap.
fn conversation(
    isn_c: u32,
    isn_s: u32,
    exchanges: &[(Vec<usize>, Vec<usize>)],
) -> Vec<Vec<Packet>> {
    let mut flights = Vec::new();
    let mut time = 1_000_000i64;
    let mut next_time = || {
        time += 1000;
        time
    };
    let mut c = isn_c.wrapping_add(1);
    let mut s = isn_s.wrapping_add(1);
    let t = next_time();
    flights.push(vec![Packet {
        from_client: true,
        flags: TcpFlags::SYN,
        seq: isn_c,
        ack: 0,
        payload: vec![],
        time: t,
    }]);
    let t = next_time();
    flights.push(vec![Packet {
        from_client: false,
        flags: TcpFlags::SYN | A,
        seq: isn_s,
        ack: c,
        payload: vec![],
        time: t,
    }]);
    let t = next_time();
    flights.push(vec![Packet {
        from_client: true,
        flags: A,
        seq: c,
        ack: s,
        payload: vec![],
        time: t,
    }]);
    let mut byte = 0u8;
    for (request, response) in exchanges {
        for (chunks, from_client) in [(request, true), (response, false)] {
            let t = next_time();
            let mut flight = Vec::new();
            for &len in chunks {
                let payload: Vec<u8> = (0..len)
                    .map(|_| {
                        byte = byte.wrapping_add(1);
                        b'a' + byte % 26
                    })
                    .collect();
                let (seq, ack) = if from_client { (c, s) } else { (s, c) };
                flight.push(Packet {
                    from_client,
                    flags: A,
                    seq,
                    ack,
                    payload,
                    time: t,
                });
                if from_client {
                    c = c.wrapping_add(len as u32);
                } else {
                    s = s.wrapping_add(len as u32);
                }
            }
            if !flight.is_empty() {
                flights.push(flight);
            }
        }
    }
    let fa = TcpFlags::FIN | A;
    let t = next_time();
    flights.push(vec![Packet {
        from_client: true,
        flags: fa,
        seq: c,
        ack: s,
        payload: vec![],
        time: t,
    }]);
    let t = next_time();
    flights.push(vec![Packet {
        from_client: false,
        flags: fa,
        seq: s,
        ack: c.wrapping_add(1),
        payload: vec![],
        time: t,
    }]);
    let t = next_time();
    flights.push(vec![Packet {
        from_client: true,
        flags: A,
        seq: c.wrapping_add(1),
        ack: s.wrapping_add(1),
        payload: vec![],
        time: t,
    }]);
    flights
}

fn records(packets: &[Packet]) -> Vec<Record> {
    let client = Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        port: 40000,
    };
    let server = Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
        port: 80,
    };
    let all = Retention {
        all: true,
        header: false,
        prefix: 0,
    };
    let mut tracker = ExchangeTracker::new(
        Needs {
            request: all,
            response: all,
        },
        Collect::default(),
    );
    let mut table = FlowTable::new(FlowConfig::default());
    for p in packets {
        let key = if p.from_client {
            FlowKey {
                src: client,
                dst: server,
            }
        } else {
            FlowKey {
                src: server,
                dst: client,
            }
        };
        let seg = Segment {
            ts: Timestamp::from_secs_micros(0, p.time),
            key,
            flags: TcpFlags(p.flags),
            seq: p.seq,
            ack: p.ack,
            window: 65535,
            urgent_ptr: 0,
            options: TcpOptions::default(),
            payload: &p.payload,
            tunnel: None,
        };
        table
            .process(&seg, &mut tracker)
            .expect("collecting cannot fail");
    }
    table.finish(&mut tracker).expect("collecting cannot fail");
    tracker.into_sink().0
}

fn exchanges_strategy() -> impl Strategy<Value = Vec<(Vec<usize>, Vec<usize>)>> {
    let chunks = prop::collection::vec(1usize..40, 1..6);
    prop::collection::vec((chunks.clone(), chunks), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn reordering_and_duplicating_segments_within_a_flight_gives_the_same_records(
        isn_c in prop_oneof![Just(u32::MAX - 30), any::<u32>()],
        isn_s in any::<u32>(),
        exchanges in exchanges_strategy(),
        shuffles in prop::collection::vec(any::<prop::sample::Index>(), 64),
        duplicates in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let flights = conversation(isn_c, isn_s, &exchanges);
        let in_order: Vec<Packet> = flights.iter().flatten().cloned().collect();
        let expected = records(&in_order);

        let mut disturbed = Vec::new();
        let mut pick = shuffles.iter().cycle();
        // The last three flights are the FIN exchange. A copy of the second FIN is a
        // retransmission that closes the connection at its own time (SPEC §3.5): the
        // flow tests check that rule; here only data and handshake flights get copies.
        let closing = flights.len() - 3;
        for (k, flight) in flights.iter().enumerate() {
            let mut flight = flight.clone();
            // Fisher-Yates with the generated indices.
            for i in (1..flight.len()).rev() {
                let j = pick.next().map_or(0, |ix| ix.index(i + 1));
                flight.swap(i, j);
            }
            for d in duplicates.iter().filter(|_| k < closing) {
                let copy = flight[d.index(flight.len())].clone();
                let at = pick.next().map_or(0, |ix| ix.index(flight.len() + 1));
                flight.insert(at, copy);
            }
            disturbed.extend(flight);
        }
        let got = records(&disturbed);
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(expected.len(), exchanges.len());
        prop_assert_eq!(expected.last().and_then(|r| r.originator), Some("client"));
    }
}
