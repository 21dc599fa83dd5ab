//! Python handlers in a build without the `python` feature: the same names as
//! `python.rs`, uninhabited, so that the rest of the program needs no `cfg`; asking for
//! `-P` or `%python(...)` is an error at start-up that names the feature.

use std::convert::Infallible;
use std::io;

use super::{RecordSink, RecordValues};
use crate::exchange::Exchange;

const UNAVAILABLE: &str = "Python support (-P, %python) is not in this build: rebuild with the cargo feature 'python' (cargo build --release --features python)";

/// Always the error naming the feature.
pub fn check_specs(_function: Option<&str>, _handlers: &[String]) -> Result<(), String> {
    Err(UNAVAILABLE.into())
}

pub fn initialize() -> Result<(), String> {
    Err(UNAVAILABLE.into())
}

/// Never exists in this build.
pub struct FunctionSink(Infallible);

impl FunctionSink {
    pub fn load(_spec: &str) -> Result<FunctionSink, String> {
        Err(UNAVAILABLE.into())
    }
}

impl RecordSink for FunctionSink {
    fn record(&mut self, _: &[u8]) -> io::Result<()> {
        match self.0 {}
    }
}

/// Never exists in this build.
pub struct Handlers(Infallible);

impl Handlers {
    pub fn load(_specs: &[String]) -> Result<Handlers, String> {
        Err(UNAVAILABLE.into())
    }
}

impl RecordValues for Handlers {
    fn values(&mut self, _: &Exchange<'_>) -> &[Option<Vec<u8>>] {
        match self.0 {}
    }
}
