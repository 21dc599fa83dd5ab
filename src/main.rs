//! The `rustniffer` command: parse options, run, turn errors into one line and exit 1.

use std::io::Write;
use std::process::ExitCode;

use rustniffer::cli::{self, Request, SummaryMode};
use rustniffer::format::keywords_help;
use rustniffer::run;

/// See Cargo.toml for why the binary does not use the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let request = match cli::parse(std::env::args_os().skip(1), keywords_help()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rustniffer: {e} (see 'rustniffer --help')");
            return ExitCode::from(1);
        }
    };
    let options = match request {
        Request::Help(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Request::Version(text) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Request::Run(options) => options,
    };
    match run::run(&options) {
        Ok(summary) => {
            // A closed standard error must not turn a finished run into a panic.
            let mut err = std::io::stderr().lock();
            if options.summary != SummaryMode::Quiet {
                for note in &summary.notes {
                    let _ = writeln!(err, "rustniffer: {note}");
                }
            }
            for line in cli::summary::render(&summary.stats, options.summary) {
                let _ = writeln!(err, "{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rustniffer: {e}");
            ExitCode::from(1)
        }
    }
}
