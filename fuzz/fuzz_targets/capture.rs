//! Capture files: any byte stream through the pcap/pcapng reader. Opening either fails
//! with an error or yields packets until a clean end or a damage report; each packet's
//! bytes lie within the input and its captured length within the reader's maximum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustniffer::capture::file::{self, MAX_PACKET_LEN};
use rustniffer::capture::{Next, PacketSource};

fuzz_target!(|data: &[u8]| {
    // Alternate `-F`, so inputs with a small snapshot length are read too.
    let force = data.first().is_some_and(|b| b & 1 == 1);
    let Ok(mut source) = file::from_reader(std::io::Cursor::new(data.to_vec()), "fuzz", force)
    else {
        return;
    };
    let mut packets = 0usize;
    loop {
        match source.next_packet() {
            Next::Packet(p) => {
                assert!(p.data.len() <= MAX_PACKET_LEN);
                assert!(p.data.len() <= data.len());
                packets += 1;
                // Every record or block takes at least 12 bytes of input.
                assert!(
                    packets <= data.len() / 12 + 1,
                    "more packets than the input holds"
                );
            }
            Next::End | Next::Damaged(_) => break,
        }
    }
    // Once ended, it stays ended.
    assert!(matches!(source.next_packet(), Next::End));
});
