//! Capture files: classic pcap and pcapng.
