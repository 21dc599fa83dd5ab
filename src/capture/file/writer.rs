//! Writing classic pcap files: little-endian, microsecond timestamps. Tests and benchmarks
//! build their captures with it.

use std::io::{self, Write};

use super::{classic_magic, CLASSIC_MAJOR_VERSION};
use crate::capture::LinkType;
use crate::time::Timestamp;

/// The minor version written (draft-ietf-opsawg-pcap §4 "Minor Version").
const MINOR_VERSION: u16 = 4;

/// Writes a classic pcap file: the file header at creation, then one record per packet.
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header (draft-ietf-opsawg-pcap §4).
    pub fn new(mut out: W, link: LinkType, snaplen: u32) -> io::Result<Self> {
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&classic_magic::MICROS.to_le_bytes());
        header.extend_from_slice(&CLASSIC_MAJOR_VERSION.to_le_bytes());
        header.extend_from_slice(&MINOR_VERSION.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // thiszone: always 0 in practice
        header.extend_from_slice(&0u32.to_le_bytes()); // sigfigs: always 0 in practice
        header.extend_from_slice(&snaplen.to_le_bytes());
        header.extend_from_slice(&link.0.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out })
    }

    /// Writes a whole packet (captured length = original length).
    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8]) -> io::Result<()> {
        let orig_len = u32::try_from(data.len()).map_err(|_| too_long(data.len()))?;
        self.write_truncated_packet(ts, data, orig_len)
    }

    /// Writes a packet captured shorter than it was on the wire (`orig_len`).
    pub fn write_truncated_packet(
        &mut self,
        ts: Timestamp,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let caplen = u32::try_from(data.len()).map_err(|_| too_long(data.len()))?;
        // The record stores unsigned seconds (draft-ietf-opsawg-pcap §5).
        let secs = u32::try_from(ts.secs()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "timestamp {} s cannot be stored in a pcap record",
                    ts.secs()
                ),
            )
        })?;
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&ts.subsec_micros().to_le_bytes());
        header[8..12].copy_from_slice(&caplen.to_le_bytes());
        header[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(data)
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

fn too_long(len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("a packet of {len} bytes cannot be stored in a pcap record"),
    )
}
