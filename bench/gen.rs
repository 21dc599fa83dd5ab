//! Writes the benchmark captures: deterministic classic pcap files (same bytes on every
//! run), one per scenario, each with a `.info` file saying what it holds.
//!
//! ```text
//! cargo run --release --example gen_bench -- DIR [SCENARIO...]
//! ```
//!
//! Scenarios (all HTTP/1.1 over IPv4 on Ethernet):
//! * `concurrent`: 200,000 connections all opened first, then one GET/200 each, then
//!   all closed.
//! * `keepalive`: 50 connections × 4,000 small request/response pairs, interleaved.
//! * `churn`: 75,000 short connections (one GET/200 each) in waves of 50, source
//!   ports reused once their previous connection closed.
//! * `bulk`: 4 connections, each one GET answered by a 50 MB body.
//! * `keepalive-vxlan` (only when named): `keepalive` with every frame inside VXLAN
//!   (VNI 42, UDP 4789, outer IPv4 on Ethernet), to measure the cost of tunnels.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use rustniffer::capture::file::PcapWriter;
use rustniffer::capture::LinkType;
use rustniffer::decode::build::{self, TcpPacket};
use rustniffer::time::Timestamp;

/// Maximum segment size of the generated traffic (Ethernet MTU minus IPv4 and TCP).
const MSS: usize = 1448;
/// 2023-11-14T22:13:20Z: every capture starts here.
const EPOCH_SECS: i64 = 1_700_000_000;

const SCENARIOS: [&str; 4] = ["concurrent", "keepalive", "churn", "bulk"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: gen_bench DIR [SCENARIO...]  (scenarios: {SCENARIOS:?})");
        std::process::exit(2);
    };
    let wanted: Vec<&str> = if args.len() > 1 {
        args[1..].iter().map(String::as_str).collect()
    } else {
        SCENARIOS.to_vec()
    };
    let dir = PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("gen_bench: creating {}: {e}", dir.display());
        std::process::exit(1);
    }
    for name in wanted {
        let result = match name {
            "concurrent" => generate(&dir, name, concurrent),
            "keepalive" => generate(&dir, name, keepalive),
            "churn" => generate(&dir, name, churn),
            "bulk" => generate(&dir, name, bulk),
            "keepalive-vxlan" => generate_in(&dir, name, keepalive, true),
            other => {
                eprintln!("gen_bench: unknown scenario {other:?} (known: {SCENARIOS:?})");
                std::process::exit(2);
            }
        };
        match result {
            Ok(info) => eprintln!(
                "gen_bench: {name}: {} packets, {} exchanges, {} bytes",
                info.packets, info.exchanges, info.bytes
            ),
            Err(e) => {
                eprintln!("gen_bench: {name}: {e}");
                std::process::exit(1);
            }
        }
    }
}

/// What a capture holds, written beside it as `NAME.info` (`key value` lines).
struct Info {
    packets: u64,
    exchanges: u64,
    bytes: u64,
}

/// Writes packets with a clock that advances a fixed step per packet.
struct Capture {
    pcap: PcapWriter<BufWriter<File>>,
    /// Microseconds since `EPOCH_SECS`.
    now: i64,
    step: i64,
    packets: u64,
    exchanges: u64,
    /// Wrap every frame in VXLAN.
    vxlan: bool,
    /// Scenarios hold `1/divisor` of their connections or exchanges (tests use small
    /// copies of the benchmark captures).
    divisor: u64,
}

impl Capture {
    fn send(&mut self, p: &TcpPacket) -> io::Result<()> {
        self.now += self.step;
        self.packets += 1;
        let ts = Timestamp::from_secs_micros(EPOCH_SECS, self.now);
        if self.vxlan {
            let udp = build::udp(49152, 4789, &build::vxlan(42, &p.ipv4_frame()));
            let frame = build::outer_ipv4("192.0.2.1", "192.0.2.2", 17, &udp);
            return self.pcap.write_packet(ts, &frame);
        }
        self.pcap.write_packet(ts, &p.ipv4_frame())
    }
}

fn generate(
    dir: &Path,
    name: &str,
    scenario: fn(&mut Capture) -> io::Result<()>,
) -> io::Result<Info> {
    generate_in(dir, name, scenario, false)
}

/// Writes `DIR/NAME.pcap`, scenario `name` with `1/divisor` of its connections or
/// exchanges (at least one): the small captures of `tests/parallel.rs`.
pub fn generate_small(dir: &Path, name: &str, divisor: u64) -> io::Result<PathBuf> {
    let scenario: fn(&mut Capture) -> io::Result<()> = match name {
        "concurrent" => concurrent,
        "keepalive" => keepalive,
        "churn" => churn,
        "bulk" => bulk,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown scenario {other:?}"),
            ))
        }
    };
    write(dir, name, scenario, false, divisor.max(1))?;
    Ok(dir.join(format!("{name}.pcap")))
}

fn generate_in(
    dir: &Path,
    name: &str,
    scenario: fn(&mut Capture) -> io::Result<()>,
    vxlan: bool,
) -> io::Result<Info> {
    write(dir, name, scenario, vxlan, 1)
}

fn write(
    dir: &Path,
    name: &str,
    scenario: fn(&mut Capture) -> io::Result<()>,
    vxlan: bool,
    divisor: u64,
) -> io::Result<Info> {
    let path = dir.join(format!("{name}.pcap"));
    let out = BufWriter::with_capacity(1 << 20, File::create(&path)?);
    let mut capture = Capture {
        pcap: PcapWriter::new(out, LinkType::ETHERNET, 262_144)?,
        now: 0,
        step: 20,
        packets: 0,
        exchanges: 0,
        vxlan,
        divisor,
    };
    scenario(&mut capture)?;
    capture.pcap.into_inner()?.into_inner()?.sync_all()?;
    let info = Info {
        packets: capture.packets,
        exchanges: capture.exchanges,
        bytes: std::fs::metadata(&path)?.len(),
    };
    let mut meta = File::create(dir.join(format!("{name}.info")))?;
    writeln!(meta, "packets {}", info.packets)?;
    writeln!(meta, "exchanges {}", info.exchanges)?;
    writeln!(meta, "bytes {}", info.bytes)?;
    Ok(info)
}

/// One TCP connection's sequence state.
struct Conn {
    client: SocketAddr,
    server: SocketAddr,
    /// Next sequence number each side sends.
    c_seq: u32,
    s_seq: u32,
}

impl Conn {
    fn new(client: SocketAddr, server: SocketAddr, n: u64) -> Self {
        // Spread initial sequence numbers over the whole space (some streams wrap).
        let isn = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32;
        Conn {
            client,
            server,
            c_seq: isn,
            s_seq: isn.rotate_left(16) ^ 0x5555_5555,
        }
    }

    fn client_packet(&self) -> TcpPacket {
        TcpPacket::new(self.client, self.server)
            .seq(self.c_seq)
            .ack(self.s_seq)
    }

    fn server_packet(&self) -> TcpPacket {
        TcpPacket::new(self.server, self.client)
            .seq(self.s_seq)
            .ack(self.c_seq)
    }

    fn syn(&mut self) -> TcpPacket {
        let p = TcpPacket::new(self.client, self.server)
            .syn()
            .seq(self.c_seq)
            .raw_options(&[2, 4, 0x05, 0xb4])
            .wscale(7);
        self.c_seq = self.c_seq.wrapping_add(1);
        p
    }

    fn syn_ack(&mut self) -> TcpPacket {
        let p = TcpPacket::new(self.server, self.client)
            .syn()
            .seq(self.s_seq)
            .ack(self.c_seq)
            .raw_options(&[2, 4, 0x05, 0xb4])
            .wscale(7);
        self.s_seq = self.s_seq.wrapping_add(1);
        p
    }

    fn handshake(&mut self, cap: &mut Capture) -> io::Result<()> {
        let syn = self.syn();
        cap.send(&syn)?;
        let syn_ack = self.syn_ack();
        cap.send(&syn_ack)?;
        cap.send(&self.client_packet())
    }

    fn request(&mut self, data: &[u8]) -> TcpPacket {
        let p = self.client_packet().psh().payload(data);
        self.c_seq = self.c_seq.wrapping_add(data.len() as u32);
        p
    }

    fn response(&mut self, data: &[u8]) -> TcpPacket {
        let p = self.server_packet().psh().payload(data);
        self.s_seq = self.s_seq.wrapping_add(data.len() as u32);
        p
    }

    /// Client FIN, server FIN+ACK, client ACK.
    fn close(&mut self, cap: &mut Capture) -> io::Result<()> {
        cap.send(&self.client_packet().fin())?;
        self.c_seq = self.c_seq.wrapping_add(1);
        cap.send(&self.server_packet().fin())?;
        self.s_seq = self.s_seq.wrapping_add(1);
        cap.send(&self.client_packet())
    }
}

fn addr(ip: u32, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)
}

fn get(path: u64, keep_alive: bool) -> Vec<u8> {
    format!(
        "GET /item/{path} HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: rustniffer-bench/1.0\r\n\
         Accept: */*\r\nConnection: {}\r\n\r\n",
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes()
}

/// A 200 response with a body of `len` bytes (deterministic text).
fn ok(len: usize, keep_alive: bool) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\n\
         Connection: {}\r\n\r\n",
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes();
    r.extend((0..len).map(|i| b'a' + (i % 26) as u8));
    r
}

/// 200,000 connections from 4 clients × 50,000 ports to 8 servers: all handshakes,
/// then one GET/200 (and the client's ACK) each, then every close.
fn concurrent(cap: &mut Capture) -> io::Result<()> {
    let conns_total = (200_000 / cap.divisor).max(1);
    let mut conns: Vec<Conn> = (0..conns_total)
        .map(|i| {
            let client = addr(
                0x0a00_0001 + (i / 50_000) as u32,
                10_000 + (i % 50_000) as u16,
            );
            let server = addr(0xc0a8_0001 + (i % 8) as u32, 80);
            Conn::new(client, server, i)
        })
        .collect();
    for c in &mut conns {
        c.handshake(cap)?;
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let q = c.request(&get(i as u64, false));
        cap.send(&q)?;
        let r = c.response(&ok(64 + i % 512, false));
        cap.send(&r)?;
        cap.send(&c.client_packet())?;
        cap.exchanges += 1;
    }
    for c in &mut conns {
        c.close(cap)?;
    }
    Ok(())
}

/// 50 connections, 4,000 request/response pairs each, the connections taking turns;
/// each response is acknowledged by the client.
fn keepalive(cap: &mut Capture) -> io::Result<()> {
    const CONNS: u64 = 50;
    let pairs = (4_000 / cap.divisor).max(1);
    let mut conns: Vec<Conn> = (0..CONNS)
        .map(|i| {
            Conn::new(
                addr(0x0a01_0001, 20_000 + i as u16),
                addr(0xc0a8_0101, 8080),
                i,
            )
        })
        .collect();
    for c in &mut conns {
        c.handshake(cap)?;
    }
    for round in 0..pairs {
        for (i, c) in conns.iter_mut().enumerate() {
            let n = round * CONNS + i as u64;
            let q = c.request(&get(n, true));
            cap.send(&q)?;
            let r = c.response(&ok((n % 200) as usize, true));
            cap.send(&r)?;
            cap.send(&c.client_packet())?;
            cap.exchanges += 1;
        }
    }
    for c in &mut conns {
        c.close(cap)?;
    }
    Ok(())
}

/// 75,000 connections in waves of 50 (each wave opens, exchanges and closes together);
/// 4 clients cycle through 2,000 source ports, so every 4-tuple is reused about nine
/// times, each time after its previous connection closed.
fn churn(cap: &mut Capture) -> io::Result<()> {
    let conns_total = (75_000 / cap.divisor).max(1);
    const WAVE: u64 = 50;
    let mut n = 0;
    while n < conns_total {
        let mut wave: Vec<Conn> = (n..(n + WAVE).min(conns_total))
            .map(|i| {
                let client = addr(
                    0x0a02_0001 + ((i / 2_000) % 4) as u32,
                    30_000 + (i % 2_000) as u16,
                );
                Conn::new(client, addr(0xc0a8_0201, 80), i)
            })
            .collect();
        for c in &mut wave {
            let syn = c.syn();
            cap.send(&syn)?;
        }
        for c in &mut wave {
            let syn_ack = c.syn_ack();
            cap.send(&syn_ack)?;
        }
        for c in &wave {
            cap.send(&c.client_packet())?;
        }
        for (k, c) in wave.iter_mut().enumerate() {
            let q = c.request(&get(n + k as u64, false));
            cap.send(&q)?;
        }
        for (k, c) in wave.iter_mut().enumerate() {
            let r = c.response(&ok(100 + (n as usize + k) % 900, false));
            cap.send(&r)?;
            cap.exchanges += 1;
        }
        for c in &mut wave {
            c.close(cap)?;
        }
        n += WAVE;
    }
    Ok(())
}

/// 4 connections one after the other, each a GET answered by a 50 MB body in
/// full-size segments, every second one acknowledged.
fn bulk(cap: &mut Capture) -> io::Result<()> {
    const CONNS: u64 = 4;
    let body_len = 50_000_000 / cap.divisor as usize;
    cap.step = 10;
    let chunk: Vec<u8> = (0..MSS).map(|i| b'A' + (i % 26) as u8).collect();
    for i in 0..CONNS {
        let mut c = Conn::new(
            addr(0x0a03_0001, 40_000 + i as u16),
            addr(0xc0a8_0301, 80),
            i,
        );
        c.handshake(cap)?;
        let q = c.request(&get(i, true));
        cap.send(&q)?;
        let head = format!(
            "HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {body_len}\r\n\r\n"
        );
        let r = c.response(head.as_bytes());
        cap.send(&r)?;
        let mut left = body_len;
        let mut segments = 0u64;
        while left > 0 {
            let len = left.min(MSS);
            let r = c.response(&chunk[..len]);
            cap.send(&r)?;
            left -= len;
            segments += 1;
            if segments % 2 == 0 {
                cap.send(&c.client_packet())?;
            }
        }
        cap.exchanges += 1;
        c.close(cap)?;
    }
    Ok(())
}
