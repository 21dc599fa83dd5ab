//! Python handlers in a build without the `python` feature: the same names as
//! `python.rs`, uninhabited, so that the rest of the program needs no `cfg`; asking for
//! `-P` or `%python(...)` is an error at start-up that names the feature.

use std::convert::Infallible;
use std::io;

use super::{ExtensionError, RecordSink, RecordValues};
use crate::exchange::Exchange;

/// Always the error naming the feature.
pub fn check_specs(_function: Option<&str>, _handlers: &[String]) -> Result<(), ExtensionError> {
    Err(ExtensionError::PythonUnavailable)
}

pub fn initialize() -> Result<(), ExtensionError> {
    Err(ExtensionError::PythonUnavailable)
}

/// Never exists in this build.
pub struct FunctionSink(Infallible);

impl FunctionSink {
    pub fn load(_spec: &str) -> Result<FunctionSink, ExtensionError> {
        Err(ExtensionError::PythonUnavailable)
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
    pub fn load(_specs: &[String]) -> Result<Handlers, ExtensionError> {
        Err(ExtensionError::PythonUnavailable)
    }
}

impl RecordValues for Handlers {
    fn values(&mut self, _: &Exchange<'_>) -> &[Option<Vec<u8>>] {
        match self.0 {}
    }
}
