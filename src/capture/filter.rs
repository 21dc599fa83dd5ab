//! The packet filter (`-p`): tcpdump expression syntax.
