//! `messages` mode through the flow table and the exchange tracker: however the
//! client's and the server's bytes are cut into segments, the same exchanges come out
//! (an HTTP/1 conversation with pipelining, bodies framed by Content-Length and by
//! chunks, interim responses and HEAD).

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use rustniffer::decode::{Endpoint, FlowKey, Segment, TcpFlags, TcpOptions};
use rustniffer::exchange::{Exchange, ExchangeSink, ExchangeTracker, Mode, Needs, Retention};
use rustniffer::flow::{FlowConfig, FlowTable};
use rustniffer::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    request: Vec<u8>,
    response: Vec<u8>,
    protocol: Option<&'static str>,
    index: u32,
    pipelined: Option<u32>,
    complete: Option<bool>,
    request_body: Option<u64>,
    response_body: Option<u64>,
    interim: Option<u16>,
    position: &'static str,
    gap: u64,
}

#[derive(Default)]
struct Collect(Vec<Record>);

impl ExchangeSink for Collect {
    fn exchange(&mut self, e: &Exchange<'_>) -> std::io::Result<()> {
        self.0.push(Record {
            request: e.request.to_vec(),
            response: e.response.to_vec(),
            protocol: e.protocol.as_str(),
            index: e.index,
            pipelined: e.pipelined,
            complete: e.complete,
            request_body: e.request_body_size,
            response_body: e.response_body_size,
            interim: e.interim,
            position: e.position.as_str(),
            gap: e.gap,
        });
        Ok(())
    }
}

const A: u8 = TcpFlags::ACK;

/// The client's bytes (all its requests, pipelined) and the server's (all responses).
fn conversation() -> (Vec<u8>, Vec<u8>) {
    let requests = [
        &b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
        b"HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PUT /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
        b"GET /e HTTP/1.1\r\n\r\n",
    ]
    .concat();
    let responses = [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nAAA"[..],
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nBB\r\n0\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope",
    ]
    .concat();
    (requests, responses)
}

fn endpoints() -> (Endpoint, Endpoint) {
    (
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            port: 40000,
        },
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
            port: 80,
        },
    )
}

/// The records of the conversation, the client's bytes cut at `client_cuts` and the
/// server's at `server_cuts` (offsets), all requests sent before any response.
fn records(client_cuts: &[usize], server_cuts: &[usize]) -> Vec<Record> {
    records_missing(client_cuts, server_cuts, 0..0)
}

/// [`records`], with the server bytes in `missing` never captured (the client's
/// acknowledgements still cover them).
fn records_missing(
    client_cuts: &[usize],
    server_cuts: &[usize],
    missing: std::ops::Range<usize>,
) -> Vec<Record> {
    let (requests, responses) = conversation();
    let (client, server) = endpoints();
    let all = Retention {
        all: true,
        header: false,
        prefix: 0,
    };
    let mut tracker = ExchangeTracker::with_mode(
        Needs {
            request: all,
            response: all,
        },
        Mode::Messages,
        Collect::default(),
    );
    let mut table = FlowTable::new(FlowConfig {
        skip_gaps: true,
        syn_data: true,
        ..FlowConfig::default()
    });
    let (isn_c, isn_s) = (1000u32, 5000u32);
    let mut time = 0;
    let mut send = |table: &mut FlowTable,
                    tracker: &mut ExchangeTracker<Collect>,
                    from_client: bool,
                    flags: u8,
                    seq: u32,
                    ack: u32,
                    payload: &[u8]| {
        time += 1;
        let key = if from_client {
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
            ts: Timestamp::from_secs_micros(0, time),
            key,
            flags: TcpFlags(flags),
            seq,
            ack,
            window: 65535,
            urgent_ptr: 0,
            options: TcpOptions::default(),
            payload,
            tunnel: None,
        };
        table
            .process(&seg, tracker)
            .expect("collecting cannot fail");
    };
    send(&mut table, &mut tracker, true, TcpFlags::SYN, isn_c, 0, b"");
    send(
        &mut table,
        &mut tracker,
        false,
        TcpFlags::SYN | A,
        isn_s,
        isn_c + 1,
        b"",
    );
    let (c0, s0) = (isn_c + 1, isn_s + 1);
    send(&mut table, &mut tracker, true, A, c0, s0, b"");
    let pieces = |data: &[u8], cuts: &[usize]| -> Vec<(usize, usize)> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        points.push(0);
        points.push(data.len());
        points.sort_unstable();
        points.dedup();
        points.windows(2).map(|w| (w[0], w[1])).collect()
    };
    for (from, to) in pieces(&requests, client_cuts) {
        send(
            &mut table,
            &mut tracker,
            true,
            A,
            c0 + from as u32,
            s0,
            &requests[from..to],
        );
    }
    let c_end = c0 + requests.len() as u32;
    let mut cuts = server_cuts.to_vec();
    cuts.extend([missing.start, missing.end]);
    for (from, to) in pieces(&responses, &cuts) {
        if missing.contains(&from) {
            continue;
        }
        let payload = &responses[from..to];
        send(
            &mut table,
            &mut tracker,
            false,
            A,
            s0 + from as u32,
            c_end,
            payload,
        );
    }
    let s_end = s0 + responses.len() as u32;
    send(
        &mut table,
        &mut tracker,
        true,
        TcpFlags::FIN | A,
        c_end,
        s_end,
        b"",
    );
    send(
        &mut table,
        &mut tracker,
        false,
        TcpFlags::FIN | A,
        s_end,
        c_end + 1,
        b"",
    );
    send(&mut table, &mut tracker, true, A, c_end + 1, s_end + 1, b"");
    table.finish(&mut tracker).expect("collecting cannot fail");
    tracker.into_sink().0
}

#[test]
fn each_request_gets_its_own_exchange_with_its_framing_facts() {
    let got = records(&[], &[]);
    #[allow(clippy::type_complexity)]
    let summary: Vec<(
        String,
        Option<u64>,
        Option<u64>,
        Option<u16>,
        Option<u32>,
        Option<bool>,
        &str,
    )> = got
        .iter()
        .map(|r| {
            let line = r.request.split(|&b| b == b'\r').next().unwrap_or_default();
            (
                String::from_utf8_lossy(line).into_owned(),
                r.request_body,
                r.response_body,
                r.interim,
                r.pipelined,
                r.complete,
                r.position,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "GET /a HTTP/1.1".into(),
                Some(0),
                Some(3),
                Some(0),
                Some(0),
                Some(true),
                "start"
            ),
            (
                "POST /b HTTP/1.1".into(),
                Some(5),
                Some(0),
                Some(1),
                Some(1),
                Some(true),
                "continue"
            ),
            (
                "HEAD /c HTTP/1.1".into(),
                Some(0),
                Some(0),
                Some(0),
                Some(2),
                Some(true),
                "continue"
            ),
            (
                "PUT /d HTTP/1.1".into(),
                Some(3),
                Some(2),
                Some(0),
                Some(3),
                Some(true),
                "continue"
            ),
            (
                "GET /e HTTP/1.1".into(),
                Some(0),
                Some(4),
                Some(0),
                Some(4),
                Some(true),
                "last"
            ),
        ]
    );
    assert!(got.iter().all(|r| r.protocol == Some("http/1.1")));
    assert_eq!(
        got.iter().map(|r| r.index).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    // The interim response is not part of the exchange's response bytes.
    assert!(got[1].response.starts_with(b"HTTP/1.1 201"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn segmentation_does_not_change_the_exchanges(
        client_cuts in prop::collection::vec(any::<usize>(), 0..12),
        server_cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        prop_assert_eq!(records(&client_cuts, &server_cuts), records(&[], &[]));
    }
}

/// Where `needle` starts in the server's bytes.
fn response_offset(needle: &[u8]) -> usize {
    let (_, responses) = conversation();
    responses
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("in the conversation")
}

#[test]
fn a_hole_in_a_body_of_known_length_marks_only_its_exchange() {
    let at = response_offset(b"AAA");
    let got = records_missing(&[], &[], at..at + 2);
    assert_eq!(got.len(), 5);
    assert_eq!((got[0].gap, got[0].complete), (2, Some(false)));
    assert!(got[1..]
        .iter()
        .all(|r| r.gap == 0 && r.complete == Some(true)));
}

#[test]
fn a_hole_in_a_response_head_resynchronises_at_the_next_status_line() {
    // The head of the HEAD request's response is lost: the framing resumes at the
    // next status line, so the exchanges after it keep their responses.
    let at = response_offset(b"HTTP/1.1 200 OK\r\nContent-Length: 1000");
    let got = records_missing(&[], &[], at + 5..at + 20);
    assert_eq!(got.len(), 5);
    assert_eq!((got[2].gap, got[2].complete), (15, Some(false)));
    assert!(got[3]
        .response
        .starts_with(b"HTTP/1.1 200 OK\r\nTransfer-Encoding"));
    assert_eq!(got[3].complete, Some(true));
    assert!(got[4].response.starts_with(b"HTTP/1.1 404"));
}
