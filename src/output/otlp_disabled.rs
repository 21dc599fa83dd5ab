//! The default build's OpenTelemetry export: the same names as `otlp/mod.rs`, the
//! exporter uninhabited, and `--otlp-endpoint` an error naming the cargo feature.

use super::metrics::Metrics;
use crate::run::OtlpStats;

/// Where the records come from.
#[derive(Clone, Debug)]
pub enum CaptureSource {
    Interface(String),
    File(std::path::PathBuf),
}

/// Why the exporter could not start.
#[derive(Debug)]
pub struct OtlpError(pub String);

impl std::fmt::Display for OtlpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--otlp-endpoint: {}", self.0)
    }
}

/// Cannot exist in this build.
#[derive(Debug)]
pub enum Exporter {}

impl Exporter {
    pub fn start(_: &str, _: &CaptureSource) -> Result<Exporter, OtlpError> {
        Err(OtlpError(
            "this rustniffer was built without OpenTelemetry export (cargo feature `otlp`: cargo build --release --features otlp)".into(),
        ))
    }

    pub fn needs(&self) -> crate::exchange::Needs {
        match *self {}
    }

    pub fn meter(&mut self, _: Metrics) -> Metrics {
        match *self {}
    }

    pub fn stats_handle(&self) -> StatsHandle {
        match *self {}
    }
}

/// Cannot exist in this build.
#[derive(Clone, Debug)]
pub enum StatsHandle {}

impl StatsHandle {
    pub fn stats(&self) -> OtlpStats {
        match *self {}
    }
}

/// Without the feature, the stage is the inner one.
pub type Logged<S> = S;

pub fn logged<S>(inner: S, exporter: Option<Exporter>, _: bool) -> Logged<S> {
    if let Some(e) = exporter {
        match e {}
    }
    inner
}
