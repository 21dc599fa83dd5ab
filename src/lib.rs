//! rustniffer: a passive TCP flow sniffer.
//!
//! The pipeline runs one way, each stage in its own module with one boundary type:
//!
//! ```text
//! capture ──Packet──▶ decode ──Segment──▶ flow ──FlowEvent──▶ exchange ──Exchange──▶ format ──bytes──▶ output
//! ```
//!
//! * [`capture`]: capture files (pcap, pcapng) and live interfaces.
//! * [`filter`]: the packet filter (`-p`): tcpdump's expression language, evaluated
//!   on each frame and compiled to classic BPF for the kernel.
//! * [`decode`]: link layers, IPv4/IPv6, fragment reassembly, the TCP header.
//! * [`flow`]: the connection table, the TCP state machine and in-order reassembly.
//! * [`exchange`]: cuts connections into request/response exchanges, keeps their timings
//!   and (only as much as the template needs of) their bytes; HTTP and TLS analyzers.
//! * [`format`]: the format language (parse once into a template, render many).
//! * [`output`]: where rendered records go.
//! * [`cli`]: options and configuration files; [`run`] wires the stages together.

pub mod capture;
pub mod chunked_vec;
pub mod cli;
pub mod decode;
pub mod exchange;
pub mod filter;
pub mod flow;
pub mod format;
pub mod output;
pub mod parallel;
pub mod run;
pub mod time;
