//! HTTP/2 parsing (RFC 9113) for the `messages` mode's HTTP/2 analyzer: the frame reader
//! ([`frame`]: frame boundaries, headers, padding and the connection-error checks of
//! RFC 9113 §4–§6, one reader per direction), the HPACK decoder ([`hpack`], RFC 7541:
//! the static and dynamic tables and Huffman strings, one decoder per direction), the
//! `HTTP2-Settings` header of an `Upgrade: h2c` request ([`upgrade`]) and the first
//! frame boundary of a connection picked up mid-stream ([`resync`]).
//!
//! All are pure, incremental where the protocol is (frames arrive in pieces; header
//! blocks are decoded whole), bounded and panic-free over any bytes. They keep no
//! stream state and print nothing: the analyzer joins header blocks, pairs frames into
//! streams and builds exchanges.

pub mod frame;
pub mod hpack;
mod huffman;
pub mod resync;
pub mod upgrade;
