//! The TCP state machine and reassembler fed arbitrary segment sequences, through the
//! exchange tracker into a template that reads every part of an exchange.
//!
//! Sequence and acknowledgment numbers are written as offsets from what an in-order
//! sender would use, so that offset 0 (the most common mutation target) produces a
//! well-behaved conversation and small offsets probe the window edges, overlaps and
//! gaps. Four endpoint pairs share one small table, so eviction and tuple reuse run.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rustniffer::decode::{Endpoint, FlowKey, Segment, TcpFlags, TcpOptions};
use rustniffer::exchange::{AnalyzerOptions, Exchange, ExchangeSink, ExchangeTracker, Mode};
use rustniffer::flow::{FlowConfig, FlowTable};
use rustniffer::format::{Encoding, RenderOptions, Template};
use rustniffer::time::Timestamp;

/// Reads request and response bytes, headers, TLS, every timing and counter.
const FORMAT: &str = "%source.ip:%source.port %dest.ip:%dest.port %connection %close.originator \
    %streams %session.requests %request.size %response.size c=%connection.time \
    i0=%idle.time.0 rq=%request.time rs=%response.time rb=%response.time.begin \
    re=%response.time.end i1=%idle.time.1 s=%session.time cl=%close.time \
    %request.timestamp %response.timestamp2 [%request.line] [%response.code] \
    %request.header.host %response.header.content-length %tls.sni %tls.version \
    %request.grep(^x-(\\w+)) <%request><%response> %protocol %exchange.index \
    %exchange.pipelined %exchange.complete %exchange.gap %request.body.size \
    %response.body.size %response.interim %idle.time.before %tls.alpn %tls.cipher \
    %ws.opcode %ws.size %ws.size.wire %ws.rtt %ws.close %ws.end %ws.messages %ws.bytes \
    %ws.bytes.decoded.server %ws.undecoded %ws.pings %ws.ping.rtt %ws.ping.sender \
    %ws.last.client %ws.silence.max %ws.close.reason %ws.subprotocol %ws.extensions \
    %ws.accept %ws.error";

#[derive(Arbitrary, Debug)]
struct Input {
    midstream: bool,
    /// `messages` mode: protocol detection, HTTP/1 and TLS analyzers, gaps skipped and
    /// Fast Open data delivered.
    messages: bool,
    max_streams: u8,
    /// Out-of-order bytes per direction: 256 << (n % 16); the high bit turns on
    /// `--ws-messages` (a WebSocket message per record after an upgrade).
    queue_shift: u8,
    ipv6: bool,
    segments: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
struct Op {
    /// Which of four connections (bits 0-1), sent by the server (bit 2).
    who: u8,
    flags: u8,
    seq_offset: i16,
    ack_offset: i16,
    window: u16,
    urgent: u16,
    window_scale: Option<u8>,
    tsval: Option<u32>,
    /// Microseconds since the previous segment (negative: time goes back).
    dt: i16,
    payload: Vec<u8>,
}

/// What an in-order sender would use next, per connection and direction.
#[derive(Clone, Copy)]
struct Side {
    isn: u32,
    next: u32,
}

/// Renders every exchange (parsing the template, with its regex, once per process).
struct Render {
    template: &'static Template,
    options: RenderOptions,
    out: Vec<u8>,
}

impl ExchangeSink for Render {
    fn exchange(&mut self, exchange: &Exchange<'_>) -> std::io::Result<()> {
        assert!(exchange.request.len() as u64 <= exchange.request_size);
        assert!(exchange.response.len() as u64 <= exchange.response_size);
        self.out.clear();
        self.template.render(exchange, &self.options, &mut self.out);
        assert_eq!(self.out.last(), Some(&b'\n'));
        Ok(())
    }
}

fuzz_target!(|input: Input| {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    let template =
        TEMPLATE.get_or_init(|| Template::parse(FORMAT).expect("the fuzz format parses"));
    let sink = Render {
        template,
        options: RenderOptions {
            not_found: b"-".to_vec(),
            encoding: Encoding::Hex,
            newline: true,
        },
        out: Vec::new(),
    };
    let mode = if input.messages {
        Mode::Messages
    } else {
        Mode::Turns
    };
    let options = AnalyzerOptions {
        ws_messages: input.queue_shift & 0x80 != 0,
        ws_max_message: 1 << 20,
    };
    // Connection records (lifecycles, summaries) and an idle timeout on half the inputs.
    let records = input.queue_shift & 0x40 != 0;
    let mut tracker =
        ExchangeTracker::with_mode(template.needs(), mode, sink).with_options(options);
    if records {
        // Keep-alive values too: the path that prints them is the longer one.
        tracker = tracker.with_connection_records(true);
    }
    let max_streams = usize::from(input.max_streams % 8) + 1;
    let mut flows = FlowTable::new(FlowConfig {
        max_streams,
        midstream: input.midstream,
        queue_per_direction: 256 << (input.queue_shift % 16),
        queue_total: 1 << 20,
        skip_gaps: input.messages,
        syn_data: input.messages,
        lifecycle: records,
        idle_timeout: records.then_some(1_000_000),
    });
    let endpoint = |host: u8, port: u16| Endpoint {
        ip: if input.ipv6 {
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(host)))
        } else {
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, host))
        },
        port,
    };
    // [connection][client, server]; ISNs near 2^32 so that some streams wrap.
    let mut sides: Vec<[Side; 2]> = (0..4u32)
        .map(|k| {
            let c = (u32::MAX - 1000).wrapping_add(k * 7919);
            let s = 0x8000_0000u32.wrapping_add(k * 104_729);
            [Side { isn: c, next: c }, Side { isn: s, next: s }]
        })
        .collect();
    let mut ts = Timestamp::from_secs_micros(1_600_000_000, 0);
    let mut sent = 0u64;
    for op in &input.segments {
        let conn = usize::from(op.who & 3);
        let from_server = op.who & 4 != 0;
        let (s, r) = if from_server { (1, 0) } else { (0, 1) };
        let client = endpoint(1, 40_000 + conn as u16);
        let server = endpoint(2, 80);
        let (src, dst) = if from_server {
            (server, client)
        } else {
            (client, server)
        };
        let flags = TcpFlags(op.flags);
        let sender = sides[conn][s];
        let receiver = sides[conn][r];
        let seq = if flags.syn() { sender.isn } else { sender.next }
            .wrapping_add(op.seq_offset as i32 as u32);
        let ack = receiver.next.wrapping_add(op.ack_offset as i32 as u32);
        ts = Timestamp(ts.0 + i64::from(op.dt) * 1_000);
        let segment = Segment {
            ts,
            key: FlowKey { src, dst },
            flags,
            seq,
            ack,
            window: op.window,
            urgent_ptr: op.urgent,
            options: TcpOptions {
                window_scale: op.window_scale,
                timestamp: op.tsval.map(|v| (v, 0)),
            },
            payload: &op.payload,
            tunnel: None,
        };
        flows
            .process(&segment, &mut tracker)
            .expect("sinks do not fail");
        sent += op.payload.len() as u64;
        // An in-order sender's next sequence number after this segment.
        let used = op.payload.len() as u32 + u32::from(flags.syn()) + u32::from(flags.fin());
        if op.seq_offset == 0 || flags.syn() {
            sides[conn][s].next = seq.wrapping_add(used);
        }
        if flags.syn() && !from_server {
            // A new connection on this tuple starts its server side afresh.
            sides[conn][1].next = sides[conn][1].isn;
        }
        assert!(flows.tracked() <= max_streams * 3 / 4 + 1);
    }
    flows.finish(&mut tracker).expect("sinks do not fail");
    assert_eq!(flows.tracked(), 0);
    let budget = flows.queue_budget();
    assert_eq!(budget.used, 0, "every waiting byte is returned at the end");
    assert!(budget.discarded_bytes + budget.abandoned_bytes <= sent);
});
