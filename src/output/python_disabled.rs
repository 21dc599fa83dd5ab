//! Python handlers in a build without the `python` feature: the same names as
//! `python.rs`, uninhabited, so that the rest of the program needs no `cfg`; asking for
//! `-P` or `%python(...)` is an error at start-up that names the feature.

use std::convert::Infallible;
use std::io;
use std::marker::PhantomData;

use super::{ExtensionError, Pipeline, RecordSink, RecordValues, TemplateSink};
use crate::exchange::{Exchange, Needs};
use crate::flow::{FlowEvent, FlowEventSink};

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

/// Never exists in this build.
pub struct Events<R>(Infallible, PhantomData<R>);

impl<R: RecordSink> Events<R> {
    pub fn new(_needs: Needs, _sink: TemplateSink<R>, handlers: Handlers) -> Self {
        match handlers.0 {}
    }
}

impl<R> FlowEventSink for Events<R> {
    fn event(&mut self, _: FlowEvent<'_>) -> io::Result<()> {
        match self.0 {}
    }
}

impl<R> Pipeline for Events<R> {
    fn finish(&mut self) -> io::Result<()> {
        match self.0 {}
    }
    fn refused_bytes(&self) -> u64 {
        match self.0 {}
    }
    fn records(&self) -> u64 {
        match self.0 {}
    }
    fn record_failures(&self) -> u64 {
        match self.0 {}
    }
}
