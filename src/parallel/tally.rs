//! The report and the metrics of a parallel run (`--report`, `--metrics-file`): the
//! merger adds up the facts the workers took of their records and connection events, in
//! key order, which is the order one thread sees them in. So every part that depends on
//! order (the services that get a table or labels of their own, the first example of
//! each kind, names sampled, histogram sums in floating point, `--report-every`) comes
//! out as with one thread.

use super::key::Fact;
use crate::cli::Options;
use crate::output::metrics::{Health, Metrics};
use crate::output::report::ReportState;

/// The report and the metrics being built by the merger.
pub struct Tally {
    report: Option<ReportState>,
    metrics: Option<Metrics>,
    /// The metrics name a connection by its worker and its id there.
    workers: usize,
}

impl Tally {
    /// Neither report nor metrics.
    pub fn none() -> Self {
        Tally {
            report: None,
            metrics: None,
            workers: 1,
        }
    }

    /// What `options` ask for, over `workers` workers.
    pub fn new(options: &Options, workers: usize) -> Self {
        Tally {
            report: options
                .report
                .enabled()
                .then(|| ReportState::new(crate::run::report_config(options))),
            metrics: options
                .metrics_file
                .is_some()
                .then(|| Metrics::new(options.metrics_services)),
            workers: workers.max(1),
        }
    }

    /// Adds a fact of `worker`, whose bytes are in `bytes`. In the one-thread order of
    /// the stages: the metrics (`Metered`, the outer stage), then the report.
    pub fn add(&mut self, worker: usize, fact: &Fact, bytes: &[u8]) -> std::io::Result<()> {
        let range = |(start, end): (usize, usize)| bytes.get(start..end);
        match *fact {
            Fact::Exchange {
                report,
                name,
                request,
            } => {
                if let (Some(m), Some(r)) = (&mut self.metrics, request) {
                    m.add_request(&r.facts(bytes));
                }
                if let (Some(state), Some(f)) = (&mut self.report, report) {
                    state.exchange(&f, || name.and_then(range))?;
                }
            }
            Fact::Connection { report, metrics } => {
                if let (Some(m), Some(c)) = (&mut self.metrics, metrics) {
                    m.add_connection(&c);
                }
                if let (Some(state), Some(c)) = (&mut self.report, report) {
                    state.connection(&c)?;
                }
            }
            Fact::Opening { conn, server } => {
                let slot = self.slot(worker, conn);
                if let Some(m) = &mut self.metrics {
                    m.opening(slot, server);
                }
            }
            Fact::Ended { conn } => {
                let slot = self.slot(worker, conn);
                if let Some(m) = &mut self.metrics {
                    m.ended(slot);
                }
            }
        }
        Ok(())
    }

    /// A connection's slot in the metrics: ids are reused within a worker only.
    fn slot(&self, worker: usize, conn: crate::flow::ConnId) -> usize {
        (conn as usize)
            .saturating_mul(self.workers)
            .saturating_add(worker)
    }

    /// At the end, after the records, as one thread's stages finish: the text report and
    /// the HTML file, then the metrics with the run's final counters (`health`) to
    /// `--metrics-file` (a failure to write it is a warning, as with one thread).
    pub fn finish(&mut self, options: &Options, health: Health) -> std::io::Result<()> {
        let report = match &mut self.report {
            Some(state) => state.finish(),
            None => Ok(()),
        };
        if let (Some(m), Some(path)) = (&mut self.metrics, &options.metrics_file) {
            m.health(health);
            crate::output::metrics::write_file(m, path);
        }
        report
    }
}
