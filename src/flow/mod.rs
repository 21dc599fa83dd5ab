//! Connections: the bounded connection table, the TCP state machine, in-order
//! reassembly, the close originator and eviction.
