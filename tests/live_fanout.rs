//! Live capture on several sockets in one `PACKET_FANOUT` group ([`LiveGroup`]), read by
//! one thread per member as the parallel pipeline reads them, beside one ordinary socket
//! ([`LiveSource`]) that sees the same traffic.
//!
//! Each test runs in a network namespace of its own (its loopback interface is a fresh
//! `lo`): no other traffic of the machine reaches the capture, tests may run at once,
//! and the fragment test can lower the MTU without touching the machine's `lo`.
//!
//! Capturing needs root or CAP_NET_RAW, and a network namespace CAP_SYS_ADMIN. Without
//! them the tests print a note and pass, unless the `CI` environment variable is set:
//! then they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustniffer::capture::live::{
    kernel_program, KernelFilter, LiveConfig, LiveGroup, LiveSource, LiveStats,
};
use rustniffer::capture::{LinkType, Next, PacketSource};
use rustniffer::filter::Filter;

#[path = "common/live.rs"]
mod common_live;
use common_live::{
    by_fields, in_private_namespace, micros_apart, play_article_scenarios, records_of, serve_http,
    CONNECTIONS_PER_ROUND, IO_TIMEOUT, RECORDS_PER_ROUND, ROUNDS,
};

/// Longest a whole test may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// [`in_private_namespace`], and the test fails when it took longer than
/// [`TEST_TIMEOUT`] (a hang shows as a failure, not as a stuck suite).
fn in_private_namespace_within_time_limit(
    test: &str,
    mtu: Option<i32>,
    body: impl FnOnce() + Send + 'static,
) {
    let started = Instant::now();
    in_private_namespace(test, mtu, body);
    assert!(
        started.elapsed() < TEST_TIMEOUT,
        "took {:?}",
        started.elapsed()
    );
}
/// SPEC §1: a stop request ends the capture within a second.
const STOP_TIMEOUT: Duration = Duration::from_secs(1);
/// After the last packet is sent: longer than the ring's retire timeout (10 ms), so
/// every frame has been handed to user space before the readers are stopped.
const SETTLE: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------------------
// What a frame on `lo` (Ethernet with zero addresses) carries, as far as the tests need.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Endpoint(Ipv4Addr, u16);

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    Tcp {
        from: Endpoint,
        to: Endpoint,
        seq: u32,
        flags: u8,
        payload: usize,
    },
    /// An IPv4 UDP datagram or a fragment of one (ports only in the first).
    Udp {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ip_id: u16,
        ports: Option<(u16, u16)>,
        /// Bytes after the IP header, and where they start in the datagram.
        payload: usize,
        offset: usize,
        more_fragments: bool,
    },
    /// An IPv6 fragment of a UDP datagram.
    Udp6Fragment {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        id: u32,
        /// Bytes after the fragment header, and where they start in the datagram.
        payload: usize,
        offset: usize,
        more_fragments: bool,
    },
    Other(Vec<u8>),
}

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const ACK: u8 = 0x10;

/// What `frame` carries: an Ethernet frame (`lo`), or a Linux cooked one (`any`).
fn parse(frame: &[u8], link: LinkType) -> Seen {
    let other = || Seen::Other(frame.iter().take(64).copied().collect());
    // Where the ethertype is, and the network header.
    let (ethertype, network) = if link == LinkType::LINUX_SLL {
        (14, 16)
    } else {
        (12, 14)
    };
    let Some(ip) = frame.get(network..) else {
        return other();
    };
    let ethertype = frame.get(ethertype..ethertype + 2);
    if ethertype == Some(&[0x86, 0xDD]) {
        return parse_ipv6(ip).unwrap_or_else(other);
    }
    if ethertype != Some(&[0x08, 0x00]) || ip.len() < 20 || ip[0] >> 4 != 4 {
        return other();
    }
    let header = usize::from(ip[0] & 0x0F) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let (Some(l4), true) = (ip.get(header..total.min(ip.len())), total <= ip.len()) else {
        return other();
    };
    let ip_id = u16::from_be_bytes([ip[4], ip[5]]);
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    let offset = usize::from(frag & 0x1FFF) * 8;
    let more_fragments = frag & 0x2000 != 0;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let port = |at: usize| l4.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    match ip[9] {
        6 if offset == 0 && !more_fragments && l4.len() >= 20 => {
            let data_at = usize::from(l4[12] >> 4) * 4;
            Seen::Tcp {
                from: Endpoint(src, port(0).unwrap_or(0)),
                to: Endpoint(dst, port(2).unwrap_or(0)),
                seq: u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]),
                flags: l4[13],
                payload: l4.len().saturating_sub(data_at),
            }
        }
        17 => Seen::Udp {
            src,
            dst,
            ip_id,
            ports: (offset == 0).then(|| Some((port(0)?, port(2)?))).flatten(),
            payload: l4.len(),
            offset,
            more_fragments,
        },
        _ => other(),
    }
}

/// An IPv6 packet whose first extension header is a fragment header of UDP (RFC 8200
/// §4.5); `None` for anything else.
fn parse_ipv6(ip: &[u8]) -> Option<Seen> {
    const FRAGMENT: u8 = 44;
    const UDP: u8 = 17;
    let payload_len = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
    let address = |at: usize| -> Option<Ipv6Addr> {
        let bytes: [u8; 16] = ip.get(at..at + 16)?.try_into().ok()?;
        Some(Ipv6Addr::from(bytes))
    };
    let fragment = ip.get(40..48)?;
    if *ip.get(6)? != FRAGMENT || fragment[0] != UDP {
        return None;
    }
    let offset_and_more = u16::from_be_bytes([fragment[2], fragment[3]]);
    Some(Seen::Udp6Fragment {
        src: address(8)?,
        dst: address(24)?,
        id: u32::from_be_bytes([fragment[4], fragment[5], fragment[6], fragment[7]]),
        payload: payload_len.checked_sub(8)?,
        offset: usize::from(offset_and_more >> 3) * 8,
        more_fragments: offset_and_more & 1 != 0,
    })
}

// ---------------------------------------------------------------------------------------
// Reading: one thread per source until the stop flag ends it.

/// What one source yielded, and its counters at the end.
struct Reading {
    /// The first `MAX_FRAMES` frames.
    frames: Vec<Seen>,
    /// Every frame, as a pcap file; `None` past `MAX_PCAP_BYTES`.
    pcap: Option<Vec<u8>>,
    stats: LiveStats,
}

const MAX_FRAMES: usize = 1 << 20;
const MAX_PCAP_BYTES: usize = 8 << 20;

/// A pcap file header (microsecond timestamps, little-endian) for Ethernet frames.
fn pcap_header() -> Vec<u8> {
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&[0; 8]); // time zone, accuracy
    header.extend_from_slice(&262_144u32.to_le_bytes());
    header.extend_from_slice(&LinkType::ETHERNET.0.to_le_bytes());
    header
}

/// Reads `source` on a thread of its own until it ends.
fn read_on_thread(mut source: LiveSource) -> thread::JoinHandle<Reading> {
    thread::spawn(move || {
        let mut frames = Vec::new();
        let mut pcap = Some(pcap_header());
        loop {
            match source.next_packet() {
                Next::Packet(packet) => {
                    if frames.len() < MAX_FRAMES {
                        frames.push(parse(packet.data, packet.link));
                    }
                    // The pcap file is for Ethernet frames (`lo`) only.
                    if packet.link != LinkType::ETHERNET
                        || pcap
                            .as_ref()
                            .is_some_and(|p| p.len() + packet.data.len() > MAX_PCAP_BYTES)
                    {
                        pcap = None;
                    }
                    if let Some(pcap) = &mut pcap {
                        let secs = u32::try_from(packet.ts.secs()).expect("a time after 1970");
                        pcap.extend_from_slice(&secs.to_le_bytes());
                        pcap.extend_from_slice(&packet.ts.subsec_micros().to_le_bytes());
                        let len = u32::try_from(packet.data.len()).expect("a frame");
                        pcap.extend_from_slice(&len.to_le_bytes());
                        pcap.extend_from_slice(&packet.orig_len.to_le_bytes());
                        pcap.extend_from_slice(packet.data);
                    }
                }
                Next::End => break,
                Next::Damaged(reason) => panic!("capture failed: {reason}"),
            }
        }
        Reading {
            frames,
            pcap,
            stats: source.stats(),
        }
    })
}

fn compiled(expr: &str) -> Vec<libc::sock_filter> {
    let program = Filter::compile(expr)
        .expect("filter compiles")
        .to_bpf(LinkType::ETHERNET)
        .expect("filter compiles to BPF");
    kernel_program(&program).expect("short enough for the kernel")
}

fn config<'a>(buffer_bytes: usize, program: Option<&'a [libc::sock_filter]>) -> LiveConfig<'a> {
    LiveConfig {
        interface: "lo".into(),
        buffer_bytes,
        kernel_filter: program.map(|program| KernelFilter {
            link: LinkType::ETHERNET,
            program,
        }),
    }
}

/// Opens a group of `members` and one ordinary socket, starts a reader for each, runs
/// `traffic`, waits until everything is in the rings, stops them all; what each read.
fn capture_while(
    stop: &'static AtomicBool,
    group_config: &LiveConfig<'_>,
    members: usize,
    plain_config: &LiveConfig<'_>,
    traffic: impl FnOnce(),
) -> (Vec<Reading>, Reading, LiveGroupFacts) {
    let group = LiveGroup::open(group_config, members, stop).expect("open the group");
    let facts = LiveGroupFacts {
        members: group.len(),
        fanout_id: group.fanout_id(),
        description: group.description(),
        drops: group.drop_counters(),
    };
    let plain = LiveSource::open(plain_config, stop).expect("open the ordinary socket");
    let readers: Vec<_> = group
        .into_members()
        .into_iter()
        .map(read_on_thread)
        .collect();
    let plain = read_on_thread(plain);
    traffic();
    thread::sleep(SETTLE);
    stop.store(true, Ordering::Relaxed);
    let stopped = Instant::now();
    let reads = readers
        .into_iter()
        .map(|r| r.join().expect("member reader"))
        .collect();
    let plain = plain.join().expect("plain reader");
    // SPEC §1: SIGINT/SIGTERM (which set the flag) end a run within one second.
    assert!(
        stopped.elapsed() < STOP_TIMEOUT,
        "the members took {:?} to stop",
        stopped.elapsed()
    );
    (reads, plain, facts)
}

struct LiveGroupFacts {
    members: usize,
    fanout_id: Option<u16>,
    description: String,
    drops: rustniffer::capture::live::DropCounters,
}

// ---------------------------------------------------------------------------------------
// Traffic.

const REQUEST: usize = 100;
const RESPONSE: usize = 300;
const EXCHANGES: usize = 3;

/// A server that answers each `REQUEST`-byte request with `RESPONSE` bytes until the
/// client closes; serves `connections` connections, then returns.
fn serve(listener: TcpListener, connections: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().expect("accept");
            handlers.push(thread::spawn(move || {
                stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
                let mut request = [0u8; REQUEST];
                while stream.read_exact(&mut request).is_ok() {
                    stream.write_all(&[b'r'; RESPONSE]).expect("respond");
                }
            }));
            if handlers.len() >= 16 {
                for handler in handlers.drain(..) {
                    handler.join().expect("handler");
                }
            }
        }
        for handler in handlers {
            handler.join().expect("handler");
        }
    })
}

/// Opens `connections` connections to `server` from `clients` threads, each with
/// `EXCHANGES` request/response pairs, the client closing first; the client endpoints.
fn play_connections(server: SocketAddr, connections: usize, clients: usize) -> Vec<Endpoint> {
    let per_client = connections / clients;
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            thread::spawn(move || {
                let mut endpoints = Vec::new();
                for _ in 0..per_client {
                    let mut stream =
                        TcpStream::connect_timeout(&server, IO_TIMEOUT).expect("connect");
                    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
                    let local = stream.local_addr().expect("address");
                    let SocketAddr::V4(local) = local else {
                        panic!("IPv4 expected")
                    };
                    endpoints.push(Endpoint(*local.ip(), local.port()));
                    let mut response = [0u8; RESPONSE];
                    for _ in 0..EXCHANGES {
                        stream.write_all(&[b'q'; REQUEST]).expect("request");
                        stream.read_exact(&mut response).expect("response");
                    }
                    stream.shutdown(std::net::Shutdown::Write).expect("close");
                    // The server's FIN: end of stream.
                    assert_eq!(stream.read(&mut response).expect("end"), 0);
                }
                endpoints
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("client"))
        .collect()
}

/// A UDP socket that receives datagrams on a thread (so that none is refused with an
/// ICMP error) and counts them.
struct UdpSink {
    address: SocketAddr,
    received: Arc<AtomicUsize>,
    thread: thread::JoinHandle<()>,
}

impl UdpSink {
    /// Receives on `ip`, `port` until `expected` datagrams came or none came for
    /// `IO_TIMEOUT`.
    fn start(ip: IpAddr, port: u16, expected: usize) -> UdpSink {
        let socket = UdpSocket::bind((ip, port)).expect("bind a UDP sink");
        let address = socket.local_addr().expect("address");
        let received = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&received);
        let thread = thread::spawn(move || {
            socket.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
            let mut buf = vec![0u8; 65536];
            while count.load(Ordering::Relaxed) < expected && socket.recv(&mut buf).is_ok() {
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
        UdpSink {
            address,
            received,
            thread,
        }
    }

    /// Sends `count` datagrams of `size` bytes from each of `sockets` new sockets (one
    /// source port each), waiting after each socket until the sink has them all (its
    /// receive buffer would overflow otherwise). Datagrams larger than the MTU are
    /// fragmented by the kernel.
    fn send(&self, sockets: usize, count: usize, size: usize) {
        let payload = vec![b'u'; size];
        let mut sent = self.received.load(Ordering::Relaxed);
        for _ in 0..sockets {
            let socket = UdpSocket::bind(SocketAddr::new(self.address.ip(), 0)).expect("bind");
            // PMTUDISC_DONT: a datagram larger than the MTU is fragmented here (IPv4: and
            // sent without DF) rather than refused.
            let (level, option, dont) = match self.address {
                SocketAddr::V4(_) => (
                    libc::IPPROTO_IP,
                    libc::IP_MTU_DISCOVER,
                    libc::IP_PMTUDISC_DONT,
                ),
                SocketAddr::V6(_) => (
                    libc::IPPROTO_IPV6,
                    libc::IPV6_MTU_DISCOVER,
                    libc::IPV6_PMTUDISC_DONT,
                ),
            };
            // SAFETY: setsockopt with a pointer to a live `c_int` and its size.
            let rc = unsafe {
                libc::setsockopt(
                    std::os::fd::AsRawFd::as_raw_fd(&socket),
                    level,
                    option,
                    (&dont as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0, "MTU_DISCOVER");
            for _ in 0..count {
                socket.send_to(&payload, self.address).expect("send");
            }
            sent += count;
            let deadline = Instant::now() + IO_TIMEOUT;
            while self.received.load(Ordering::Relaxed) < sent {
                assert!(Instant::now() < deadline, "the UDP sink stopped receiving");
                thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Datagrams received.
    fn finish(self) -> usize {
        self.thread.join().expect("UDP sink");
        self.received.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------
// The tests.

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const TCP_PORT: u16 = 18901;
const UDP_PORT: u16 = 18902;
const NOISE_PORT: u16 = 18903;
const CONNECTIONS: usize = 200;
const UDP_SOCKETS: usize = 30;
const UDP_PER_SOCKET: usize = 10;

fn sorted<'a>(frames: &[&'a Seen]) -> Vec<&'a Seen> {
    let mut frames = frames.to_vec();
    frames.sort();
    frames
}

/// A flow, the same in both directions.
fn flow_key(a: Endpoint, b: Endpoint) -> (Endpoint, Endpoint) {
    (a.min(b), a.max(b))
}

/// Frames per TCP connection (keyed by its client endpoint) in `frames`.
fn tcp_frames_by_client(frames: &[Seen], server: Endpoint) -> BTreeMap<Endpoint, Vec<&Seen>> {
    let mut by_client: BTreeMap<Endpoint, Vec<&Seen>> = BTreeMap::new();
    for seen in frames {
        if let Seen::Tcp { from, to, .. } = seen {
            let client = if *from == server { *to } else { *from };
            by_client.entry(client).or_default().push(seen);
        }
    }
    by_client
}

#[test]
fn two_members_share_the_connections_each_whole_and_miss_nothing_an_ordinary_socket_sees() {
    static STOP: AtomicBool = AtomicBool::new(false);
    in_private_namespace_within_time_limit("fanout_connections", None, move || {
        let expr = format!("tcp port {TCP_PORT} or udp port {UDP_PORT}");
        let program = compiled(&expr);
        let listener = TcpListener::bind(("127.0.0.1", TCP_PORT)).expect("bind the server");
        let server = listener.local_addr().expect("address");
        let datagrams = UdpSink::start(LOCALHOST, UDP_PORT, UDP_SOCKETS * UDP_PER_SOCKET);
        let noise = UdpSink::start(LOCALHOST, NOISE_PORT, 50);
        let mut clients = Vec::new();
        let (members, plain, group) = capture_while(
            &STOP,
            &config(32 << 20, Some(&program)),
            2,
            &config(32 << 20, Some(&program)),
            || {
                let served = serve(listener, CONNECTIONS);
                // Traffic the filter rejects: no member nor the socket may see it.
                noise.send(5, 10, 100);
                clients = play_connections(server, CONNECTIONS, 4);
                datagrams.send(UDP_SOCKETS, UDP_PER_SOCKET, 200);
                served.join().expect("server");
            },
        );
        assert_eq!(datagrams.finish(), UDP_SOCKETS * UDP_PER_SOCKET);
        assert_eq!(noise.finish(), 50);
        assert_eq!(group.members, 2);
        assert!(
            group.fanout_id.is_some(),
            "a group of two is a fanout group"
        );
        assert!(
            group
                .description
                .contains("2 rings of 16 MiB in fanout group"),
            "{}",
            group.description
        );
        assert!(
            group.description.contains("kernel filter"),
            "{}",
            group.description
        );
        let server = Endpoint(Ipv4Addr::LOCALHOST, TCP_PORT);

        // Nothing outside the filter, in the group or in the ordinary socket.
        for (who, read) in members
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("member {i}"), r))
            .chain([("the ordinary socket".to_string(), &plain)])
        {
            for seen in &read.frames {
                let inside = match seen {
                    Seen::Tcp { from, to, .. } => from.1 == TCP_PORT || to.1 == TCP_PORT,
                    Seen::Udp {
                        ports: Some((s, d)),
                        ..
                    } => *s == UDP_PORT || *d == UDP_PORT,
                    _ => false,
                };
                assert!(inside, "{who} got a frame the filter rejects: {seen:?}");
            }
            assert_eq!(read.stats.captured, read.frames.len() as u64, "{who}");
            assert!(read.pcap.is_some(), "{who}");
            assert_eq!(read.stats.dropped, 0, "{who} dropped frames");
            assert_eq!(read.stats.malformed, 0, "{who}");
        }

        // Each connection on one member, whole: SYN to FIN in both directions, every
        // payload byte, and exactly the frames the ordinary socket saw of it.
        let plain_tcp = tcp_frames_by_client(&plain.frames, server);
        let sent: BTreeSet<Endpoint> = clients.iter().copied().collect();
        assert_eq!(sent.len(), CONNECTIONS);
        assert_eq!(
            plain_tcp.keys().copied().collect::<BTreeSet<_>>(),
            sent,
            "the ordinary socket saw the connections the client opened"
        );
        let per_member: Vec<_> = members
            .iter()
            .map(|m| tcp_frames_by_client(&m.frames, server))
            .collect();
        for client in &sent {
            let holders: Vec<usize> = (0..members.len())
                .filter(|&i| per_member[i].contains_key(client))
                .collect();
            assert_eq!(
                holders.len(),
                1,
                "connection {client:?} on members {holders:?}"
            );
            let frames = &per_member[holders[0]][client];
            // As sets of frames: two sockets may order frames handled at once by two
            // CPUs differently.
            assert_eq!(
                sorted(frames),
                sorted(&plain_tcp[client]),
                "connection {client:?}: the member's frames are the ordinary socket's"
            );
            let mut payload = [BTreeMap::new(), BTreeMap::new()];
            let mut flags = [0u8; 2];
            for seen in frames {
                let Seen::Tcp {
                    from,
                    seq,
                    flags: f,
                    payload: len,
                    ..
                } = seen
                else {
                    continue;
                };
                let direction = usize::from(*from == server);
                flags[direction] |= f;
                if *len > 0 {
                    payload[direction].insert(*seq, *len);
                }
            }
            assert_eq!(
                flags[0] & (SYN | FIN),
                SYN | FIN,
                "client SYN and FIN of {client:?}"
            );
            assert_eq!(
                flags[1] & (SYN | ACK | FIN),
                SYN | ACK | FIN,
                "server SYN-ACK and FIN of {client:?}"
            );
            assert_eq!(payload[0].values().sum::<usize>(), EXCHANGES * REQUEST);
            assert_eq!(payload[1].values().sum::<usize>(), EXCHANGES * RESPONSE);
        }
        let flows_per_member: Vec<usize> = per_member.iter().map(BTreeMap::len).collect();
        assert!(
            flows_per_member.iter().all(|&n| n > 0),
            "the hash sends connections to every member: {flows_per_member:?}"
        );

        // Datagrams: each flow on one member, all of them counted.
        let mut udp_member: BTreeMap<(Endpoint, Endpoint), BTreeSet<usize>> = BTreeMap::new();
        let mut udp_total = 0;
        for (i, m) in members.iter().enumerate() {
            for seen in &m.frames {
                if let Seen::Udp {
                    src,
                    dst,
                    ports: Some((s, d)),
                    ..
                } = seen
                {
                    udp_member
                        .entry(flow_key(Endpoint(*src, *s), Endpoint(*dst, *d)))
                        .or_default()
                        .insert(i);
                    udp_total += 1;
                }
            }
        }
        let plain_udp = plain
            .frames
            .iter()
            .filter(|s| matches!(s, Seen::Udp { .. }))
            .count();
        assert_eq!(
            udp_total,
            UDP_SOCKETS * UDP_PER_SOCKET,
            "datagrams in the group"
        );
        assert_eq!(
            plain_udp,
            UDP_SOCKETS * UDP_PER_SOCKET,
            "datagrams in the socket"
        );
        assert_eq!(udp_member.len(), UDP_SOCKETS);
        assert!(udp_member.values().all(|m| m.len() == 1), "{udp_member:?}");

        // Counters: the members' add up to the ordinary socket's; the drops to the sum.
        let sum: LiveStats = members.iter().map(|m| m.stats).sum();
        assert_eq!(sum.captured, plain.stats.captured);
        assert_eq!(
            group.drops.per_member(),
            members.iter().map(|m| m.stats.dropped).collect::<Vec<_>>()
        );
        assert_eq!(group.drops.total(), sum.dropped);
    });
}

#[test]
fn one_member_is_an_ordinary_socket_and_members_of_a_group_share_its_id() {
    static STOP: AtomicBool = AtomicBool::new(false);
    in_private_namespace(
        "one_member_is_an_ordinary_socket_and_members_of_a_group_share_its_id",
        None,
        || {
            let single = LiveGroup::open(&config(4 << 20, None), 1, &STOP).expect("open");
            assert_eq!(single.fanout_id(), None);
            assert!(
                single.description().contains("ring of 4 MiB"),
                "{}",
                single.description()
            );
            let members = single.into_members();
            assert_eq!(members.len(), 1);
            assert_eq!(
                members[0].fanout_id(),
                None,
                "no fanout option with one member"
            );

            for n in [2, 3] {
                let group = LiveGroup::open(&config(4 << 20, None), n, &STOP).expect("open");
                let id = group.fanout_id().expect("a group");
                let members = group.into_members();
                assert_eq!(members.len(), n);
                for member in &members {
                    assert_eq!(member.fanout_id(), Some(id));
                }
            }
            // Two groups at once: two ids (the kernel chooses them).
            let a = LiveGroup::open(&config(4 << 20, None), 2, &STOP).expect("open");
            let b = LiveGroup::open(&config(4 << 20, None), 2, &STOP).expect("open");
            assert_ne!(a.fanout_id(), b.fanout_id());
        },
    );
}

const BULK_PORT: u16 = 18911;
const BULK_CONNECTIONS: usize = 8;
const BULK_BYTES: usize = 2 << 20;

#[test]
fn drops_of_full_rings_are_counted_per_member_and_summed() {
    static STOP: AtomicBool = AtomicBool::new(false);
    in_private_namespace_within_time_limit(
        "drops_of_full_rings_are_counted_per_member_and_summed",
        None,
        || {
            let program = compiled(&format!("tcp port {BULK_PORT}"));
            // The smallest rings (2 MiB each), not read while the traffic runs: they fill.
            let group = LiveGroup::open(&config(0, Some(&program)), 2, &STOP).expect("open");
            let counters = group.drop_counters();
            let members = group.into_members();
            // Room for all the traffic, and read all along: it misses nothing.
            let plain = LiveSource::open(&config(64 << 20, Some(&program)), &STOP)
                .expect("open the ordinary socket");
            let plain = read_on_thread(plain);

            let listener = TcpListener::bind(("127.0.0.1", BULK_PORT)).expect("bind");
            let server = thread::spawn(move || {
                let mut total = 0;
                for _ in 0..BULK_CONNECTIONS {
                    let (mut stream, _) = listener.accept().expect("accept");
                    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
                    let mut sink = Vec::new();
                    total += stream.read_to_end(&mut sink).expect("read");
                }
                total
            });
            for _ in 0..BULK_CONNECTIONS {
                let mut stream = TcpStream::connect_timeout(
                    &SocketAddr::from(([127, 0, 0, 1], BULK_PORT)),
                    IO_TIMEOUT,
                )
                .expect("connect");
                stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
                stream.write_all(&vec![b'b'; BULK_BYTES]).expect("send");
            }
            assert_eq!(
                server.join().expect("server"),
                BULK_CONNECTIONS * BULK_BYTES
            );
            thread::sleep(SETTLE);
            // Read from here while the members are not read at all.
            let dropped_meanwhile = counters.total();
            assert!(dropped_meanwhile > 0, "the small rings dropped nothing");

            let readers: Vec<_> = members.into_iter().map(read_on_thread).collect();
            thread::sleep(SETTLE);
            STOP.store(true, Ordering::Relaxed);
            let members: Vec<Reading> = readers
                .into_iter()
                .map(|r| r.join().expect("member reader"))
                .collect();
            let plain = plain.join().expect("plain reader");

            assert_eq!(plain.stats.dropped, 0, "the ordinary socket dropped frames");
            let sum: LiveStats = members.iter().map(|m| m.stats).sum();
            assert!(sum.dropped >= dropped_meanwhile);
            assert_eq!(
                counters.per_member(),
                members.iter().map(|m| m.stats.dropped).collect::<Vec<_>>()
            );
            assert_eq!(counters.total(), sum.dropped);
            // Every frame the group was given was either read or counted as dropped.
            assert_eq!(
                sum.captured + sum.dropped,
                plain.stats.captured,
                "members {:?}, ordinary socket {:?}",
                members.iter().map(|m| m.stats).collect::<Vec<_>>(),
                plain.stats
            );
        },
    );
}

const FRAGMENT_PORT: u16 = 18921;
const FRAGMENT_SOCKETS: usize = 20;
const FRAGMENT_DATAGRAMS: usize = 5;
/// UDP payload: with the 8-byte UDP header, 4,008 bytes in three fragments at MTU 1500.
const FRAGMENT_SIZE: usize = 4000;

/// The pieces of each IPv4 datagram in `frames` (whole or fragments), by source,
/// destination and IP id: how many, and their payload bytes together.
fn datagrams(frames: &[Seen]) -> BTreeMap<(Ipv4Addr, Ipv4Addr, u16), (usize, usize)> {
    let mut by_id = BTreeMap::new();
    for seen in frames {
        if let Seen::Udp {
            src,
            dst,
            ip_id,
            payload,
            ..
        } = seen
        {
            let entry: &mut (usize, usize) = by_id.entry((*src, *dst, *ip_id)).or_default();
            entry.0 += 1;
            entry.1 += payload;
        }
    }
    by_id
}

#[test]
fn fragments_of_a_datagram_reach_one_member_reassembled() {
    static STOP: AtomicBool = AtomicBool::new(false);
    in_private_namespace_within_time_limit(
        "fragments_of_a_datagram_reach_one_member_reassembled",
        Some(1500),
        || {
            let sink = UdpSink::start(
                LOCALHOST,
                FRAGMENT_PORT,
                FRAGMENT_SOCKETS * FRAGMENT_DATAGRAMS,
            );
            let (members, plain, _) = capture_while(
                &STOP,
                &config(8 << 20, None),
                2,
                &config(8 << 20, None),
                || sink.send(FRAGMENT_SOCKETS, FRAGMENT_DATAGRAMS, FRAGMENT_SIZE),
            );
            assert_eq!(sink.finish(), FRAGMENT_SOCKETS * FRAGMENT_DATAGRAMS);
            let whole = FRAGMENT_SIZE + 8;

            // The ordinary socket sees each datagram as its fragments.
            let plain_datagrams = datagrams(&plain.frames);
            assert_eq!(plain_datagrams.len(), FRAGMENT_SOCKETS * FRAGMENT_DATAGRAMS);
            for (id, (pieces, bytes)) in &plain_datagrams {
                assert_eq!(*pieces, 3, "fragments of {id:?}");
                assert_eq!(*bytes, whole, "bytes of {id:?}");
            }

            // The group: each datagram on one member, reassembled by the kernel.
            let per_member: Vec<_> = members.iter().map(|m| datagrams(&m.frames)).collect();
            for id in plain_datagrams.keys() {
                let holders: Vec<usize> = (0..members.len())
                    .filter(|&i| per_member[i].contains_key(id))
                    .collect();
                assert_eq!(holders.len(), 1, "datagram {id:?} on members {holders:?}");
                assert_eq!(per_member[holders[0]][id], (1, whole), "datagram {id:?}");
            }
            for member in &members {
                for seen in &member.frames {
                    let Seen::Udp {
                        offset,
                        more_fragments,
                        ports,
                        ..
                    } = seen
                    else {
                        continue;
                    };
                    assert_eq!((*offset, *more_fragments), (0, false), "{seen:?}");
                    assert_eq!(ports.map(|p| p.1), Some(FRAGMENT_PORT), "{seen:?}");
                }
            }
            let total: usize = per_member.iter().map(BTreeMap::len).sum();
            assert_eq!(total, plain_datagrams.len(), "no datagram twice");
            assert!(
                per_member.iter().all(|m| !m.is_empty()),
                "the hash sends datagrams to every member: {:?}",
                per_member.iter().map(BTreeMap::len).collect::<Vec<_>>()
            );
        },
    );
}

/// IPv6 fragments: the kernel does not reassemble them before the hash, which for a
/// fragment covers only the addresses; each member gets whole datagrams' fragments.
#[test]
fn ipv6_fragments_of_a_datagram_reach_one_member_as_fragments() {
    static STOP: AtomicBool = AtomicBool::new(false);
    in_private_namespace_within_time_limit(
        "ipv6_fragments_of_a_datagram_reach_one_member_as_fragments",
        Some(1500),
        || {
            let sink = UdpSink::start(
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                FRAGMENT_PORT,
                FRAGMENT_SOCKETS * FRAGMENT_DATAGRAMS,
            );
            let (members, plain, _) = capture_while(
                &STOP,
                &config(8 << 20, None),
                2,
                &config(8 << 20, None),
                || sink.send(FRAGMENT_SOCKETS, FRAGMENT_DATAGRAMS, FRAGMENT_SIZE),
            );
            assert_eq!(sink.finish(), FRAGMENT_SOCKETS * FRAGMENT_DATAGRAMS);
            let whole = FRAGMENT_SIZE + 8;
            // Datagram id -> (member, fragments, bytes); the ordinary socket is member N.
            let mut seen: BTreeMap<u32, BTreeMap<usize, (usize, usize)>> = BTreeMap::new();
            for (i, frames) in members
                .iter()
                .map(|m| &m.frames)
                .chain([&plain.frames])
                .enumerate()
            {
                for frame in frames {
                    let Seen::Udp6Fragment { id, payload, .. } = frame else {
                        continue;
                    };
                    let entry = seen.entry(*id).or_default().entry(i).or_default();
                    entry.0 += 1;
                    entry.1 += payload;
                }
            }
            assert_eq!(seen.len(), FRAGMENT_SOCKETS * FRAGMENT_DATAGRAMS);
            let plain_index = members.len();
            for (id, holders) in &seen {
                assert_eq!(holders.len(), 2, "datagram {id}: {holders:?}");
                assert_eq!(
                    holders.get(&plain_index),
                    Some(&(3, whole)),
                    "datagram {id}"
                );
                let (member, pieces) = holders.iter().next().expect("a member");
                assert!(*member < plain_index, "datagram {id}: {holders:?}");
                assert_eq!(*pieces, (3, whole), "datagram {id} on member {member}");
            }
        },
    );
}

const STARTUP_PORT: u16 = 18931;
const STARTUP_SOCKETS: usize = 64;

#[test]
fn a_group_opened_during_traffic_gives_each_flow_to_one_member() {
    static STOP: AtomicBool = AtomicBool::new(false);
    in_private_namespace_within_time_limit(
        "a_group_opened_during_traffic_gives_each_flow_to_one_member",
        None,
        || {
            // A receiver that never reads: the datagrams are dropped at its queue, and no
            // ICMP error is sent back.
            let _receiver = UdpSocket::bind(("127.0.0.1", STARTUP_PORT)).expect("bind");
            let sending = Arc::new(AtomicBool::new(true));
            let still = Arc::clone(&sending);
            let sender = thread::spawn(move || {
                let sockets: Vec<UdpSocket> = (0..STARTUP_SOCKETS)
                    .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind"))
                    .collect();
                let deadline = Instant::now() + IO_TIMEOUT;
                let mut sent = 0usize;
                while still.load(Ordering::Relaxed) && Instant::now() < deadline {
                    for socket in &sockets {
                        socket
                            .send_to(b"flow", ("127.0.0.1", STARTUP_PORT))
                            .expect("send");
                        sent += 1;
                    }
                }
                sent
            });
            thread::sleep(Duration::from_millis(50));
            let program = compiled(&format!("udp port {STARTUP_PORT}"));
            let group = LiveGroup::open(&config(8 << 20, Some(&program)), 2, &STOP)
                .expect("open the group");
            let readers: Vec<_> = group
                .into_members()
                .into_iter()
                .map(read_on_thread)
                .collect();
            thread::sleep(Duration::from_millis(100));
            sending.store(false, Ordering::Relaxed);
            let sent = sender.join().expect("sender");
            thread::sleep(SETTLE);
            STOP.store(true, Ordering::Relaxed);
            let members: Vec<Reading> = readers
                .into_iter()
                .map(|r| r.join().expect("member reader"))
                .collect();

            let mut holders: BTreeMap<u16, BTreeSet<usize>> = BTreeMap::new();
            for (i, member) in members.iter().enumerate() {
                assert_eq!(member.stats.dropped, 0, "member {i} dropped frames");
                for seen in &member.frames {
                    if let Seen::Udp {
                        ports: Some((from, _)),
                        ..
                    } = seen
                    {
                        holders.entry(*from).or_default().insert(i);
                    }
                }
            }
            assert!(sent > STARTUP_SOCKETS * 10, "sent only {sent}");
            assert_eq!(holders.len(), STARTUP_SOCKETS, "every flow was seen");
            let split: Vec<_> = holders.iter().filter(|(_, m)| m.len() > 1).collect();
            assert!(split.is_empty(), "flows on two members: {split:?}");
        },
    );
}

// ---------------------------------------------------------------------------------------
// The justniffer article's keep-alive scenarios, analysed per member.

const HTTP_PORT: u16 = 18951;

#[test]
fn the_article_scenarios_analysed_per_member_give_the_records_of_one_socket() {
    static STOP: AtomicBool = AtomicBool::new(false);
    in_private_namespace_within_time_limit(
        "the_article_scenarios_analysed_per_member_give_the_records_of_one_socket",
        None,
        || {
            let program = compiled(&format!("tcp port {HTTP_PORT}"));
            let listener = TcpListener::bind(("127.0.0.1", HTTP_PORT)).expect("bind");
            let server = listener.local_addr().expect("address");
            let (members, plain, _) = capture_while(
                &STOP,
                &config(8 << 20, Some(&program)),
                2,
                &config(8 << 20, Some(&program)),
                || {
                    let served = serve_http(listener, ROUNDS * CONNECTIONS_PER_ROUND);
                    play_article_scenarios(server);
                    served.join().expect("server");
                },
            );
            let dir =
                std::env::temp_dir().join(format!("rustniffer-live-fanout-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("a temporary directory");
            let one_socket = records_of(
                plain.pcap.as_deref().expect("the whole capture"),
                &dir.join("plain.pcap"),
            );
            // One worker per member; their records merged by capture time.
            let per_member: Vec<Vec<String>> = members
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    records_of(
                        m.pcap.as_deref().expect("the whole capture"),
                        &dir.join(format!("member{i}.pcap")),
                    )
                })
                .collect();
            let _ = std::fs::remove_dir_all(&dir);
            assert_eq!(
                one_socket.len(),
                ROUNDS * RECORDS_PER_ROUND,
                "{one_socket:#?}"
            );
            let kinds = |records: &[String], kind: &str| {
                records.iter().filter(|r| r.ends_with(kind)).count()
            };
            for (kind, count) in [
                (" unique server close close", 3 * ROUNDS),
                (" unique client keep-alive -", 3 * ROUNDS),
                (" start - keep-alive -", ROUNDS),
                (" continue - keep-alive -", 3 * ROUNDS),
                (" last client keep-alive -", ROUNDS),
            ] {
                assert_eq!(kinds(&one_socket, kind), count, "{kind}: {one_socket:#?}");
            }
            // Each socket stamps a frame when it copies it into its ring, so the same
            // request's time differs by a few microseconds from one socket to the other.
            let members_records = by_fields(per_member.iter().flatten());
            let one_socket_records = by_fields(one_socket.iter());
            assert_eq!(
                members_records
                    .iter()
                    .map(|(fields, _)| fields)
                    .collect::<Vec<_>>(),
                one_socket_records
                    .iter()
                    .map(|(fields, _)| fields)
                    .collect::<Vec<_>>(),
                "members' records against one socket's"
            );
            for ((fields, a), (_, b)) in members_records.iter().zip(&one_socket_records) {
                assert!(
                    micros_apart(a, b) < 1_000,
                    "{fields}: at {a} in a member, {b} in the ordinary socket"
                );
            }
            assert!(
                per_member.iter().all(|records| !records.is_empty()),
                "records per member: {:?}",
                per_member.iter().map(Vec::len).collect::<Vec<_>>()
            );
        },
    );
}

const ANY_PORT: u16 = 18961;

#[test]
fn a_group_on_any_interface_gives_each_flow_to_one_member_once() {
    static STOP: AtomicBool = AtomicBool::new(false);
    in_private_namespace(
        "a_group_on_any_interface_gives_each_flow_to_one_member_once",
        None,
        || {
            let sink = UdpSink::start(LOCALHOST, ANY_PORT, 60);
            let program = compiled(&format!("udp port {ANY_PORT}"));
            let mut any = config(4 << 20, Some(&program));
            any.interface = "any".into();
            let (members, plain, group) =
                capture_while(&STOP, &any, 2, &any, || sink.send(20, 3, 100));
            assert_eq!(sink.finish(), 60);
            // Cooked frames: the filter, written for Ethernet, is left to user space.
            assert!(
                group
                    .description
                    .starts_with("any, link type 113 (Linux cooked), 2 rings"),
                "{}",
                group.description
            );
            assert!(!group.description.contains("kernel filter"));
            let flows = |read: &Reading| -> Vec<u16> {
                read.frames
                    .iter()
                    .filter_map(|seen| match seen {
                        Seen::Udp {
                            ports: Some((from, ANY_PORT)),
                            ..
                        } => Some(*from),
                        _ => None,
                    })
                    .collect()
            };
            // Loopback frames pass the capture point twice; each is yielded once.
            assert_eq!(flows(&plain).len(), 60);
            let per_member: Vec<BTreeSet<u16>> = members
                .iter()
                .map(|m| flows(m).into_iter().collect())
                .collect();
            assert_eq!(members.iter().map(|m| flows(m).len()).sum::<usize>(), 60);
            assert_eq!(per_member.iter().map(BTreeSet::len).sum::<usize>(), 20);
            assert!(per_member[0].is_disjoint(&per_member[1]), "{per_member:?}");
        },
    );
}
