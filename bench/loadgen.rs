//! A bounded HTTP/1.1 keep-alive load for the capture benchmark (`bench/capture.sh`).
//!
//! ```text
//! loadgen serve ADDR                       serve until killed; prints the bound address
//! loadgen drive ADDR CONNS REQUESTS THREADS
//!     CONNS connections in all, REQUESTS small request/response exchanges on each,
//!     THREADS connections at a time; prints "SECONDS EXCHANGES"
//! loadgen blast ADDR CONNS WRITES SIZE
//!     CONNS connections at once, each sending WRITES messages of SIZE bytes without
//!     waiting for answers (to a `serve` address, which reads and drops them, as the
//!     messages are not requests); prints "SECONDS WRITES"
//! loadgen udpsink ADDR                      bind a UDP socket that is never read (the
//!     datagrams are captured, then dropped); prints the bound address; runs until killed
//! loadgen udp ADDR THREADS DATAGRAMS SIZE
//!     THREADS senders of DATAGRAMS datagrams of SIZE bytes each to a `udpsink`: one
//!     packet per datagram, the highest packet rate this load can make; prints
//!     "SECONDS DATAGRAMS"
//! ```
//!
//! Messages are small and sent with TCP_NODELAY, so each is mostly its own packet: the
//! load is many packets per second, the hard case for a capture.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const REQUEST: &[u8] = b"GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: loadgen\r\n\r\n";
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";

/// Runs `work` on `threads` threads at once and prints "SECONDS TOTAL", TOTAL being the
/// sum of what the threads return.
fn run_workers(
    threads: usize,
    work: impl Fn() -> std::io::Result<usize> + Clone + Send + 'static,
) -> std::io::Result<()> {
    let start = Instant::now();
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| std::thread::spawn(work.clone()))
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker
            .join()
            .map_err(|_| std::io::Error::other("a worker panicked"))??;
    }
    println!("{:.3} {total}", start.elapsed().as_secs_f64());
    Ok(())
}

fn serve(addr: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    println!("{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    for stream in listener.incoming() {
        let mut stream = stream?;
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let mut request = [0u8; REQUEST.len()];
            while stream.read_exact(&mut request).is_ok() {
                if request != REQUEST {
                    // Not a request: a blast. Read and drop everything.
                    let _ = std::io::copy(&mut stream, &mut std::io::sink());
                    return;
                }
                if stream.write_all(RESPONSE).is_err() {
                    return;
                }
            }
        });
    }
    Ok(())
}

fn drive(addr: SocketAddr, conns: usize, requests: usize, threads: usize) -> std::io::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    run_workers(threads, move || {
        let mut done = 0;
        let mut response = [0u8; RESPONSE.len()];
        while next.fetch_add(1, Ordering::Relaxed) < conns {
            let mut stream = TcpStream::connect(addr)?;
            stream.set_nodelay(true)?;
            for _ in 0..requests {
                stream.write_all(REQUEST)?;
                stream.read_exact(&mut response)?;
                done += 1;
            }
        }
        Ok(done)
    })
}

fn blast(addr: SocketAddr, conns: usize, writes: usize, size: usize) -> std::io::Result<()> {
    run_workers(conns, move || {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let message = vec![b'x'; size.max(1)];
        for _ in 0..writes {
            stream.write_all(&message)?;
        }
        stream.shutdown(std::net::Shutdown::Write)?;
        // Wait for the server's close, so the whole load is over when we return.
        let _ = stream.read(&mut [0u8; 1]);
        Ok(writes)
    })
}

fn udp_sink(addr: &str) -> std::io::Result<()> {
    let socket = UdpSocket::bind(addr)?;
    println!("{}", socket.local_addr()?);
    std::io::stdout().flush()?;
    loop {
        std::thread::park();
    }
}

fn udp(addr: SocketAddr, threads: usize, datagrams: usize, size: usize) -> std::io::Result<()> {
    run_workers(threads, move || {
        let local = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(addr)?;
        let message = vec![b'u'; size.max(1)];
        let mut sent = 0;
        while sent < datagrams {
            match socket.send(&message) {
                Ok(_) => sent += 1,
                // ICMP errors from an earlier datagram, or a full queue: go on.
                Err(_) => std::thread::yield_now(),
            }
        }
        Ok(sent)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| -> usize {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| usage())
    };
    let result = match args.first().map(String::as_str) {
        Some("serve") if args.len() == 2 => serve(&args[1]),
        Some("drive") if args.len() == 5 => {
            let addr = args[1].parse().unwrap_or_else(|_| usage());
            drive(addr, number(2), number(3), number(4))
        }
        Some("blast") if args.len() == 5 => {
            let addr = args[1].parse().unwrap_or_else(|_| usage());
            blast(addr, number(2), number(3), number(4))
        }
        Some("udpsink") if args.len() == 2 => udp_sink(&args[1]),
        Some("udp") if args.len() == 5 => {
            let addr = args[1].parse().unwrap_or_else(|_| usage());
            udp(addr, number(2), number(3), number(4))
        }
        _ => usage(),
    };
    if let Err(e) = result {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen serve ADDR | drive ADDR CONNS REQUESTS THREADS | blast ADDR CONNS WRITES SIZE \
         | udpsink ADDR | udp ADDR THREADS DATAGRAMS SIZE"
    );
    std::process::exit(2);
}
