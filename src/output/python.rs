//! Python handlers (SPEC §7) through an embedded interpreter (PyO3, feature `python`):
//!
//! * `-P SCRIPT[:FUNC]`: [`FunctionSink`], a record sink that calls `FUNC(record: bytes)`
//!   with each record instead of printing it;
//! * `%python(MODULE[:CLASS])`: [`Handlers`], one instance of `CLASS` per keyword and per
//!   exchange. [`Events`] sits in front of the exchange tracker and shows each instance the
//!   flow events of its exchange; when the record is rendered, the template asks the
//!   instances for `result(t)` through [`RecordValues`].
//!
//! Instances follow the exchanges: the first exchange's instance is made at the SYN and
//! sees `on_opening` and `on_open`; when a record is printed because a new request
//! arrived, the old instance gives its result and a fresh instance receives that request.
//! The instance of the last exchange sees `on_close`, `on_timed_out` or `on_interrupted`
//! before its `result(t)` (`t` is `None` at the end of the capture).
//!
//! Exceptions raised by user code print their traceback on standard error and the run
//! goes on (a missing callback is skipped); only loading errors stop the run, at start-up.
//! Python's `sys.stdout` is flushed before each record, so that what handlers print and
//! the records keep their order.

use std::ffi::CStr;
use std::io;
use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyModule, PyString};
use pyo3::{intern, PyErr};

use super::{ExtensionError, PythonStep, SpecProblem};
use super::{Pipeline, RecordSink, RecordValues, TemplateSink};
use crate::decode::Endpoint;
use crate::exchange::{Exchange, ExchangeTracker, Needs};
use crate::flow::{ConnId, Direction, FlowEvent, FlowEventKind, FlowEventSink};
use crate::time::Timestamp;

/// The function of `-P SCRIPT` and the class of `%python(MODULE)` when none is named.
const DEFAULT_NAME: &str = "app";

/// Glue run inside the interpreter: the module search path, loading a `-P` script from a
/// path, and the end of the run (Python is never finalized, so `atexit` functions are run
/// and the standard streams flushed by hand).
const SUPPORT: &CStr = cr#"
import atexit, importlib.machinery, importlib.util, os, site, sys

def setup_path():
    try:
        sys.path.insert(0, os.getcwd())
    except OSError:
        pass
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        version = "python%d.%d" % sys.version_info[:2]
        site.addsitedir(os.path.join(venv, "lib", version, "site-packages"))

def load_script(path):
    name = "rustniffer_script"
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    loader.exec_module(module)
    return module

def flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass

def finish():
    atexit._run_exitfuncs()
    flush()
"#;

/// The glue module, once the interpreter runs.
static GLUE: OnceLock<Py<PyModule>> = OnceLock::new();

/// Checks the form of `-P SCRIPT[:FUNC]` and of each `%python(MODULE[:CLASS])`.
pub fn check_specs(function: Option<&str>, handlers: &[String]) -> Result<(), ExtensionError> {
    if let Some(spec) = function {
        if split_function(spec).0.is_empty() {
            return Err(ExtensionError::MissingScript {
                spec: spec.to_string(),
            });
        }
    }
    for spec in handlers {
        split_handler(spec)?;
    }
    Ok(())
}

/// `SCRIPT[:FUNC]`: the last `:` separates a function name only when what follows is an
/// identifier (a path may contain `:`).
fn split_function(spec: &str) -> (&str, &str) {
    match spec.rsplit_once(':') {
        Some((path, function)) if is_identifier(function) => (path, function),
        _ => (spec, DEFAULT_NAME),
    }
}

/// `MODULE[:CLASS]`.
fn split_handler(spec: &str) -> Result<(&str, &str), ExtensionError> {
    let (module, class) = spec.split_once(':').unwrap_or((spec, DEFAULT_NAME));
    let problem = if module.is_empty() {
        SpecProblem::MissingModule
    } else if !is_identifier(class) {
        SpecProblem::NotAClassName {
            class: class.to_string(),
        }
    } else {
        return Ok((module, class));
    };
    Err(ExtensionError::PythonSpec {
        spec: spec.to_string(),
        reason: problem,
    })
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Starts the interpreter (signal handlers left to rustniffer) and completes the module
/// search path: the current directory first, `PYTHONPATH` as Python itself reads it, and
/// `$VIRTUAL_ENV`'s site-packages when set.
pub fn initialize() -> Result<(), ExtensionError> {
    Python::initialize();
    Python::attach(|py| -> PyResult<()> {
        let glue = PyModule::from_code(py, SUPPORT, c"<rustniffer>", c"_rustniffer")?;
        glue.getattr(intern!(py, "setup_path"))?.call0()?;
        let _ = GLUE.set(glue.unbind());
        Ok(())
    })
    .map_err(|e| python_error(PythonStep::Start, &e))
}

/// Calls a function of the glue module; `None` (after printing the exception) if it fails.
fn glue_call<'py>(
    py: Python<'py>,
    name: &Bound<'py, PyString>,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    match GLUE.get() {
        Some(glue) => glue.bind(py).getattr(name)?.call1(args),
        None => Err(pyo3::exceptions::PyRuntimeError::new_err(
            "the interpreter was not started",
        )),
    }
}

/// Flushes Python's standard output and error.
fn flush_streams(py: Python<'_>) {
    if let Err(e) = glue_call(py, intern!(py, "flush"), ()) {
        e.display(py);
    }
}

/// The end of the run: `atexit` functions, then the streams (once).
fn finish_interpreter() {
    static DONE: OnceLock<()> = OnceLock::new();
    if DONE.set(()).is_ok() {
        Python::attach(|py| {
            if let Err(e) = glue_call(py, intern!(py, "finish"), ()) {
                e.display(py);
            }
        });
    }
}

/// An exception from user code: its traceback on standard error (never exits, even for
/// `SystemExit`).
fn report(py: Python<'_>, error: &PyErr) {
    error.display(py);
}

/// An exception raised while `what` was done, as a start-up error (one line).
fn python_error(what: PythonStep, error: &PyErr) -> ExtensionError {
    ExtensionError::Python {
        what,
        message: error.to_string().replace('\n', " "),
    }
}

/// Seconds since the epoch, as Python's `time.time()` gives them.
fn seconds(ts: Timestamp) -> f64 {
    ts.micros() as f64 / 1e6
}

/// The text of a `result()`: `str` (UTF-8), `bytes` as they are, anything else through
/// `str()`; `None` is not found.
fn text_of(value: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    if value.is_none() {
        return None;
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Some(bytes.as_bytes().to_vec());
    }
    let text = match value.cast::<PyString>() {
        Ok(s) => s.to_string_lossy().into_owned(),
        Err(_) => match value.str() {
            Ok(s) => s.to_string_lossy().into_owned(),
            Err(e) => {
                report(value.py(), &e);
                return None;
            }
        },
    };
    Some(text.into_bytes())
}

// ---- -P ---------------------------------------------------------------------------

/// `-P SCRIPT[:FUNC]`: calls `FUNC(record)` with each record, as bytes, exactly as it
/// would have been printed (its newline included, unless `-N`).
pub struct FunctionSink {
    function: Py<PyAny>,
}

impl FunctionSink {
    /// Loads the script (once) and finds the function. Errors are one line each.
    pub fn load(spec: &str) -> Result<FunctionSink, ExtensionError> {
        let (path, name) = split_function(spec);
        Python::attach(|py| {
            let module = glue_call(py, intern!(py, "load_script"), (path,)).map_err(|e| {
                let path = path.to_string();
                python_error(PythonStep::LoadScript { path }, &e)
            })?;
            let function = module
                .getattr_opt(name)
                .map_err(|e| {
                    let spec = spec.to_string();
                    python_error(PythonStep::FindFunction { spec }, &e)
                })?
                .ok_or_else(|| ExtensionError::NoFunction {
                    spec: spec.to_string(),
                    function: name.to_string(),
                })?;
            if !function.is_callable() {
                return Err(ExtensionError::NotAFunction {
                    spec: spec.to_string(),
                    function: name.to_string(),
                });
            }
            Ok(FunctionSink {
                function: function.unbind(),
            })
        })
    }
}

impl RecordSink for FunctionSink {
    fn record(&mut self, bytes: &[u8]) -> io::Result<()> {
        Python::attach(|py| {
            if let Err(e) = self.function.call1(py, (PyBytes::new(py, bytes),)) {
                report(py, &e);
            }
        });
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        finish_interpreter();
        Ok(())
    }
}

// ---- %python ----------------------------------------------------------------------

/// The callbacks of a handler instance.
#[derive(Clone, Copy, Debug)]
enum Callback {
    Opening,
    Open,
    Request,
    Response,
    Close,
    TimedOut,
    Interrupted,
    Result,
}

impl Callback {
    fn name<'py>(self, py: Python<'py>) -> &'py Bound<'py, PyString> {
        match self {
            Callback::Opening => intern!(py, "on_opening"),
            Callback::Open => intern!(py, "on_open"),
            Callback::Request => intern!(py, "on_request"),
            Callback::Response => intern!(py, "on_response"),
            Callback::Close => intern!(py, "on_close"),
            Callback::TimedOut => intern!(py, "on_timed_out"),
            Callback::Interrupted => intern!(py, "on_interrupted"),
            Callback::Result => intern!(py, "result"),
        }
    }
}

/// Calls `instance.callback(*args)` if the instance has it; an exception is printed.
fn call<'py>(
    py: Python<'py>,
    instance: &Py<PyAny>,
    callback: Callback,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> Option<Bound<'py, PyAny>> {
    let method = match instance.bind(py).getattr_opt(callback.name(py)) {
        Ok(Some(method)) => method,
        Ok(None) => return None,
        Err(e) => {
            report(py, &e);
            return None;
        }
    };
    match method.call1(args) {
        Ok(value) => Some(value),
        Err(e) => {
            report(py, &e);
            None
        }
    }
}

/// One tracked connection, as its handlers see it.
struct Conn {
    /// `((client_ip, client_port), (server_ip, server_port))`.
    key: Py<PyAny>,
    client: Endpoint,
    server: Endpoint,
    /// The current exchange's instance of each handler (`None`: its constructor failed).
    instances: Vec<Option<Py<PyAny>>>,
}

/// The `%python(...)` handlers of the format and their live instances.
pub struct Handlers {
    /// One class per `%python(...)`, in slot order.
    classes: Vec<Py<PyAny>>,
    /// By connection id.
    conns: Vec<Option<Conn>>,
    /// The connection of the event being handled: the only one whose record can be due.
    current: Option<ConnId>,
    /// Whether that event printed a record (so that its data starts a new exchange).
    printed: bool,
    /// The last record's texts, by slot.
    results: Vec<Option<Vec<u8>>>,
}

impl Handlers {
    /// Imports each module and finds each class. Errors are one line each.
    pub fn load(specs: &[String]) -> Result<Handlers, ExtensionError> {
        Python::attach(|py| {
            let mut classes = Vec::with_capacity(specs.len());
            for spec in specs {
                let (module_name, class_name) = split_handler(spec)?;
                let module = PyModule::import(py, module_name).map_err(|e| {
                    let step = PythonStep::Import {
                        spec: spec.clone(),
                        module: module_name.to_string(),
                    };
                    python_error(step, &e)
                })?;
                let class = module
                    .getattr_opt(class_name)
                    .map_err(|e| python_error(PythonStep::FindClass { spec: spec.clone() }, &e))?
                    .ok_or_else(|| ExtensionError::NoClass {
                        spec: spec.clone(),
                        module: module_name.to_string(),
                        class: class_name.to_string(),
                    })?;
                if !class.is_callable() {
                    return Err(ExtensionError::NotAClass {
                        spec: spec.clone(),
                        module: module_name.to_string(),
                        class: class_name.to_string(),
                    });
                }
                classes.push(class.unbind());
            }
            Ok(Handlers {
                classes,
                conns: Vec::new(),
                current: None,
                printed: false,
                results: Vec::with_capacity(specs.len()),
            })
        })
    }

    /// A fresh instance of every handler.
    fn instantiate(&self, py: Python<'_>) -> Vec<Option<Py<PyAny>>> {
        self.classes
            .iter()
            .map(|class| match class.call0(py) {
                Ok(instance) => Some(instance),
                Err(e) => {
                    report(py, &e);
                    None
                }
            })
            .collect()
    }

    /// Before the exchange tracker sees `event`: new connections, and the callbacks that
    /// precede a record (`on_close`, `on_timed_out`, `on_interrupted`).
    fn before(&mut self, py: Python<'_>, event: &FlowEvent<'_>) {
        self.current = Some(event.conn);
        self.printed = false;
        let idx = event.conn as usize;
        let t = seconds(event.ts);
        if let FlowEventKind::Opening { client, server } = event.kind {
            let key = (
                (client.ip.to_string(), client.port),
                (server.ip.to_string(), server.port),
            );
            let key = match key.into_pyobject(py) {
                Ok(key) => key.into_any().unbind(),
                Err(e) => {
                    report(py, &e);
                    py.None()
                }
            };
            if self.conns.len() <= idx {
                self.conns.resize_with(idx + 1, || None);
            }
            self.conns[idx] = Some(Conn {
                key,
                client,
                server,
                instances: self.instantiate(py),
            });
        }
        let Some(conn) = self.conns.get(idx).and_then(Option::as_ref) else {
            return;
        };
        let key = conn.key.bind(py);
        for instance in conn.instances.iter().flatten() {
            match event.kind {
                FlowEventKind::Opening { .. } => {
                    call(py, instance, Callback::Opening, (key, t));
                }
                FlowEventKind::Established => {
                    call(py, instance, Callback::Open, (key, t));
                }
                FlowEventKind::Closed { originator } => {
                    let side = match originator {
                        Direction::FromClient => conn.client,
                        Direction::FromServer => conn.server,
                    };
                    let args = (key, t, side.ip.to_string(), side.port);
                    call(py, instance, Callback::Close, args);
                }
                FlowEventKind::TimedOut => {
                    call(py, instance, Callback::TimedOut, (key, t));
                }
                FlowEventKind::Truncated => {
                    call(py, instance, Callback::Interrupted, ());
                }
                FlowEventKind::Data { .. } => {}
            }
        }
    }

    /// After the exchange tracker saw `event`: data goes to the current exchange's
    /// instances (fresh ones if the event printed the previous exchange); an ended
    /// connection is forgotten.
    fn after(&mut self, py: Python<'_>, event: &FlowEvent<'_>) {
        let idx = event.conn as usize;
        let printed = std::mem::take(&mut self.printed);
        self.current = None;
        match event.kind {
            FlowEventKind::Data { dir, bytes } => {
                let fresh = if printed {
                    Some(self.instantiate(py))
                } else {
                    None
                };
                let Some(conn) = self.conns.get_mut(idx).and_then(Option::as_mut) else {
                    return;
                };
                if let Some(instances) = fresh {
                    conn.instances = instances;
                }
                let callback = match dir {
                    Direction::FromClient => Callback::Request,
                    Direction::FromServer => Callback::Response,
                };
                let key = conn.key.bind(py);
                let data = PyBytes::new(py, bytes);
                let t = seconds(event.ts);
                for instance in conn.instances.iter().flatten() {
                    call(py, instance, callback, (key, &data, t));
                }
            }
            FlowEventKind::Closed { .. } | FlowEventKind::TimedOut | FlowEventKind::Truncated => {
                if let Some(slot) = self.conns.get_mut(idx) {
                    *slot = None;
                }
            }
            FlowEventKind::Opening { .. } | FlowEventKind::Established => {}
        }
    }
}

impl RecordValues for Handlers {
    fn values(&mut self, exchange: &Exchange<'_>) -> &[Option<Vec<u8>>] {
        self.results.clear();
        self.printed = true;
        let conn = self
            .current
            .and_then(|c| self.conns.get(c as usize))
            .and_then(Option::as_ref);
        Python::attach(|py| {
            if let Some(conn) = conn {
                let t = exchange.print.map(seconds);
                for instance in &conn.instances {
                    let text = instance
                        .as_ref()
                        .and_then(|i| call(py, i, Callback::Result, (t,)))
                        .and_then(|value| text_of(&value));
                    self.results.push(text);
                }
            }
            // What handlers printed so far comes before this record.
            flush_streams(py);
        });
        &self.results
    }

    fn finish(&mut self) -> io::Result<()> {
        finish_interpreter();
        Ok(())
    }
}

/// The flow-event layer for `%python`: shows each event to the handlers, around the
/// exchange tracker, whose records ask the handlers for their results.
pub struct Events<R: RecordSink> {
    tracker: ExchangeTracker<TemplateSink<R, Handlers>>,
}

impl<R: RecordSink> Events<R> {
    pub fn new(needs: Needs, sink: TemplateSink<R>, handlers: Handlers) -> Self {
        Events {
            tracker: ExchangeTracker::new(needs, sink.with_values(handlers)),
        }
    }
}

impl<R: RecordSink> FlowEventSink for Events<R> {
    fn event(&mut self, event: FlowEvent<'_>) -> io::Result<()> {
        Python::attach(|py| {
            self.tracker.sink_mut().values_mut().before(py, &event);
            let result = self.tracker.event(event);
            self.tracker.sink_mut().values_mut().after(py, &event);
            result
        })
    }
}

impl<R: RecordSink> Pipeline for Events<R> {
    fn finish(&mut self) -> io::Result<()> {
        self.tracker.finish()
    }
    fn refused_bytes(&self) -> u64 {
        self.tracker.refused_bytes()
    }
    fn records(&self) -> u64 {
        self.tracker.exchanges()
    }
    fn record_failures(&self) -> u64 {
        self.tracker.sink().records().failures()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_name_follows_the_last_colon_only_when_it_is_an_identifier() {
        assert_eq!(split_function("x.py"), ("x.py", "app"));
        assert_eq!(split_function("x.py:handle"), ("x.py", "handle"));
        assert_eq!(
            split_function("dir:with:colons/x.py"),
            ("dir:with:colons/x.py", "app")
        );
        assert_eq!(split_function("a:b/x.py:f"), ("a:b/x.py", "f"));
    }

    #[test]
    fn a_handler_names_a_module_and_optionally_a_class() {
        assert_eq!(split_handler("mod").unwrap(), ("mod", "app"));
        assert_eq!(split_handler("pkg.mod:Cls").unwrap(), ("pkg.mod", "Cls"));
        let problem = |spec| match split_handler(spec) {
            Err(ExtensionError::PythonSpec { reason, .. }) => reason,
            other => panic!("{spec}: {other:?}"),
        };
        assert_eq!(problem(":Cls"), SpecProblem::MissingModule);
        let not_a_name = |class: &str| SpecProblem::NotAClassName {
            class: class.to_string(),
        };
        assert_eq!(problem("mod:"), not_a_name(""));
        assert_eq!(problem("mod:a b"), not_a_name("a b"));
        assert_eq!(
            split_handler("mod:a b").unwrap_err().to_string(),
            "%python(mod:a b): 'a b' is not a class name"
        );
    }

    #[test]
    fn times_are_float_seconds() {
        assert_eq!(
            seconds(Timestamp::from_secs_micros(1_700_000_000, 250_001)),
            1_700_000_000.250001
        );
    }
}
