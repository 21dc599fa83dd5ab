//! `-i lo --threads 2` end to end: the built binary reads a fanout group of two sockets,
//! one worker each, beside a one-thread run on the same traffic (the justniffer article's
//! keep-alive scenarios), in a network namespace of its own so that nothing else crosses
//! its `lo`.
//!
//! Capturing needs root or CAP_NET_RAW, and a network namespace CAP_SYS_ADMIN. Without
//! them the test prints a note and passes, unless the `CI` environment variable is set:
//! then it fails.

use std::net::TcpListener;
use std::time::{Duration, Instant};

#[path = "common/live.rs"]
mod common_live;
use common_live::{
    by_fields, in_private_namespace, micros_apart, play_article_scenarios, serve_http, Sniffer,
    CONNECTIONS_PER_ROUND, RECORDS_PER_ROUND, ROUNDS, STOP_TIMEOUT,
};

const PORT: u16 = 18952;
/// Longest the whole test may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The article's fields, after the request's time (its first two words).
const FORMAT: &str = "%request.timestamp %source.port %connection %close.originator \
                      %request.header.connection %response.header.connection";

/// The figure after `label` in the end-of-run summary.
fn figure(stderr: &[String], label: &str) -> u64 {
    let found: Vec<u64> = stderr
        .iter()
        .filter_map(|l| l.trim_start().strip_prefix(label))
        .filter_map(|rest| {
            rest.split_whitespace()
                .next()?
                .replace(',', "")
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(found.len(), 1, "one '{label}' in {stderr:#?}");
    found[0]
}

/// The members' `(captured, dropped)` of the debug lines of a parallel live run.
fn members(stderr: &[String]) -> Vec<(u64, u64)> {
    stderr
        .iter()
        .filter_map(|l| l.strip_prefix("rustniffer: debug: member "))
        .map(|rest| {
            let numbers: Vec<u64> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse().ok())
                .collect();
            assert_eq!(numbers.len(), 3, "member, captured, dropped: {rest}");
            (numbers[1], numbers[2])
        })
        .collect()
}

#[test]
fn two_workers_print_one_sockets_records_in_capture_time_order_and_lose_nothing() {
    let started = Instant::now();
    in_private_namespace(
        "two_workers_print_one_sockets_records_in_capture_time_order_and_lose_nothing",
        None,
        || {
            let listener = TcpListener::bind(("127.0.0.1", PORT)).expect("bind");
            let server = listener.local_addr().expect("address");
            let debug = [("RUSTNIFFER_DEBUG_PLAN", "1")];
            let mut one = Sniffer::start_with_env(PORT, &["-l", FORMAT], &debug);
            let mut two = Sniffer::start_with_env(PORT, &["-l", FORMAT, "--threads", "2"], &debug);
            assert!(
                two.listening.contains("2 rings") && two.listening.contains("fanout group"),
                "{}",
                two.listening
            );
            let served = serve_http(listener, ROUNDS * CONNECTIONS_PER_ROUND);
            play_article_scenarios(server);
            served.join().expect("server");
            // Records are written while the capture runs: a member that has gone quiet
            // does not hold the other's back.
            let expected = ROUNDS * RECORDS_PER_ROUND;
            two.wait_for_records(expected);
            one.wait_for_records(expected);
            let (status, _, one_records, one_stderr) = one.stop(libc::SIGINT);
            assert_eq!(status.code(), Some(0), "one thread: {one_stderr:#?}");
            let (status, took, two_records, two_stderr) = two.stop(libc::SIGINT);
            assert_eq!(status.code(), Some(0), "two workers: {two_stderr:#?}");
            assert!(took <= STOP_TIMEOUT, "stopping took {took:?}");

            // The same records, field for field; each socket stamps its own copy of a
            // frame, so the request times differ by microseconds.
            assert_eq!(one_records.len(), expected, "{one_records:#?}");
            let one_fields = by_fields(one_records.iter());
            let two_fields = by_fields(two_records.iter());
            assert_eq!(
                two_fields.iter().map(|(f, _)| f).collect::<Vec<_>>(),
                one_fields.iter().map(|(f, _)| f).collect::<Vec<_>>(),
                "two workers' records against one thread's"
            );
            for ((fields, a), (_, b)) in two_fields.iter().zip(&one_fields) {
                assert!(micros_apart(a, b) < 1_000, "{fields}: at {a} and {b}");
            }
            // In capture-time order: the connections follow one another, so the order of
            // the packets that end the records is that of the requests.
            let times: Vec<&str> = two_records.iter().map(|r| &r[..26]).collect();
            assert!(
                times.windows(2).all(|w| w[0] <= w[1]),
                "out of order: {two_records:#?}"
            );

            // Nothing lost: both runs saw every frame, and the members' counts add up.
            let captured = figure(&two_stderr, "packets captured by the kernel");
            let dropped = figure(&two_stderr, "dropped by the kernel");
            assert_eq!(
                captured,
                figure(&one_stderr, "packets captured by the kernel")
            );
            assert!(captured >= (expected * 6) as u64, "captured {captured}");
            assert_eq!(dropped, 0);
            assert_eq!(figure(&one_stderr, "dropped by the kernel"), 0);
            let per_member = members(&two_stderr);
            assert_eq!(per_member.len(), 2, "{two_stderr:#?}");
            assert!(
                per_member.iter().all(|&(c, _)| c > 0),
                "both members get connections: {per_member:?}"
            );
            assert_eq!(per_member.iter().map(|m| m.0).sum::<u64>(), captured);
            assert_eq!(per_member.iter().map(|m| m.1).sum::<u64>(), dropped);
            assert_eq!(figure(&two_stderr, "records"), expected as u64);
            assert_eq!(
                figure(&two_stderr, "connections"),
                (ROUNDS * CONNECTIONS_PER_ROUND) as u64
            );
        },
    );
    assert!(
        started.elapsed() < TEST_TIMEOUT,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_quiet_member_says_so_within_its_deadline_and_still_yields_frames() {
    use rustniffer::capture::live::{LiveConfig, LiveGroup};
    use rustniffer::capture::Next;
    use std::sync::atomic::AtomicBool;
    static STOP: AtomicBool = AtomicBool::new(false);
    in_private_namespace(
        "a_quiet_member_says_so_within_its_deadline_and_still_yields_frames",
        None,
        || {
            let config = LiveConfig {
                interface: "lo".into(),
                buffer_bytes: 4 << 20,
                kernel_filter: None,
            };
            let mut members = LiveGroup::open(&config, 2, &STOP)
                .expect("a group on lo")
                .into_members();
            let quiet = Duration::from_millis(20);
            for member in &mut members {
                let asked = Instant::now();
                assert!(member.next_within(quiet).is_none(), "nothing crossed lo");
                let took = asked.elapsed();
                assert!(
                    took >= quiet && took < quiet * 5,
                    "quiet after {took:?}, asked for {quiet:?}"
                );
            }
            // A datagram reaches one member, which yields it before its deadline.
            let socket = std::net::UdpSocket::bind("127.0.0.1:18953").expect("bind");
            socket
                .send_to(b"ping", "127.0.0.1:18953")
                .expect("send a datagram");
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut frames = 0;
            while frames == 0 && Instant::now() < deadline {
                for member in &mut members {
                    if let Some(Next::Packet(p)) = member.next_within(quiet) {
                        assert!(p.data.ends_with(b"ping"), "{:?}", p.data);
                        frames += 1;
                    }
                }
            }
            assert_eq!(frames, 1, "the datagram");
            for member in &mut members {
                assert!(member.next_within(quiet).is_none(), "the datagram twice");
            }
        },
    );
}
