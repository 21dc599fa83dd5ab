//! Output sinks: where rendered records go.

/// Receives rendered records (each already carrying its newline, unless `-N`).
pub trait RecordSink {
    fn record(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
