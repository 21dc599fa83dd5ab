//! Python handlers (SPEC §7) through an embedded interpreter (PyO3, feature `python`):
//!
//! * `-P SCRIPT[:FUNC]`: [`FunctionSink`], a record sink that calls `FUNC(record: bytes)`
//!   with each record instead of printing it;
//! * `%python(MODULE[:CLASS])`: [`Handlers`], one instance of `CLASS` per keyword and per
//!   exchange. The handlers are the template's [`RecordValues`]: they follow the
//!   exchanges through the tracker's events (`crate::exchange::ExchangeSink`, passed on by
//!   the template sink) and, when a record is rendered, give the `result(t)` of its
//!   exchange's instances.
//!
//! Instances follow the exchanges, by [`Exchange::id`]: the first exchange's instance is
//! made at the SYN and sees `on_opening` and `on_open`; a later exchange's is made at its
//! first payload. `on_request` and `on_response` go to the exchange the analyzer gave
//! the bytes to (in `messages` mode several exchanges of a connection may be open at
//! once: pipelined requests; bytes given to no exchange, like a TLS handshake, are seen
//! by none); a request that starts an exchange comes after the record of the exchange
//! before it. At the end of the connection every instance still live sees `on_close`,
//! `on_timed_out` or `on_interrupted`, then each gives its `result(t)` (`t` is `None` at
//! the end of the capture). An instance is dropped once its result was asked.
//!
//! Exceptions raised by user code print their traceback on standard error and the run
//! goes on (a missing callback is skipped); only loading errors stop the run, at start-up.
//! Python's `sys.stdout` is flushed before each record, so that what handlers print and
//! the records keep their order.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyModule, PyString};
use pyo3::{intern, PyErr};

use super::{ExtensionError, PythonStep, SpecProblem};
use super::{RecordSink, RecordValues};
use crate::decode::Endpoint;
use crate::exchange::Exchange;
use crate::flow::{ConnId, Direction};
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

/// One connection, as its handlers see it.
struct Conn {
    /// `((client_ip, client_port), (server_ip, server_port))`.
    key: Py<PyAny>,
    client: Endpoint,
    server: Endpoint,
    /// Its exchanges that have instances, by id (oldest first).
    live: Vec<u64>,
    /// The connection ended: it is forgotten once its last instances gave their results.
    ended: bool,
}

/// The instances of one exchange.
struct Instances {
    conn: ConnId,
    /// One per handler, in slot order (`None`: its constructor failed).
    objects: Vec<Option<Py<PyAny>>>,
}

/// The `%python(...)` handlers of the format and their live instances.
pub struct Handlers {
    /// One class per `%python(...)`, in slot order.
    classes: Vec<Py<PyAny>>,
    /// By connection id.
    conns: Vec<Option<Conn>>,
    /// By exchange id ([`Exchange::id`]): made at the first event of the exchange (at the
    /// SYN for a connection's first), dropped when its record asked for their results.
    exchanges: HashMap<u64, Instances>,
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
                exchanges: HashMap::new(),
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

    /// Makes the instances of exchange `id` of `conn` if it has none yet.
    fn ensure_instances(&mut self, py: Python<'_>, conn: ConnId, id: u64) {
        if self.exchanges.contains_key(&id) {
            return;
        }
        let Some(state) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) else {
            return;
        };
        let at = state.live.partition_point(|&e| e < id);
        state.live.insert(at, id);
        let objects = self.instantiate(py);
        self.exchanges.insert(id, Instances { conn, objects });
    }

    /// Calls `callback` with `args(key)` on every live instance of `conn`, oldest
    /// exchange first.
    fn tell_all<'py, A: pyo3::call::PyCallArgs<'py>>(
        &self,
        py: Python<'py>,
        conn: ConnId,
        callback: Callback,
        args: impl Fn(&Bound<'py, PyAny>, &Conn) -> A,
    ) {
        let Some(state) = self.conns.get(conn as usize).and_then(Option::as_ref) else {
            return;
        };
        let key = state.key.bind(py);
        for id in &state.live {
            let Some(instances) = self.exchanges.get(id) else {
                continue;
            };
            for instance in instances.objects.iter().flatten() {
                call(py, instance, callback, args(key, state));
            }
        }
    }

    /// Payload of exchange `id`: to its instances (made now if this is its first event).
    fn payload(&mut self, conn: ConnId, id: u64, callback: Callback, bytes: &[u8], ts: Timestamp) {
        Python::attach(|py| {
            self.ensure_instances(py, conn, id);
            let (Some(state), Some(instances)) = (
                self.conns.get(conn as usize).and_then(Option::as_ref),
                self.exchanges.get(&id),
            ) else {
                return;
            };
            let key = state.key.bind(py);
            let data = PyBytes::new(py, bytes);
            let t = seconds(ts);
            for instance in instances.objects.iter().flatten() {
                call(py, instance, callback, (key, &data, t));
            }
        });
    }

    /// The connection ended: its records follow, then it is forgotten.
    fn end(&mut self, conn: ConnId) {
        if let Some(state) = self.conns.get_mut(conn as usize).and_then(Option::as_mut) {
            state.ended = true;
            if state.live.is_empty() {
                self.conns[conn as usize] = None;
            }
        }
    }
}

impl RecordValues for Handlers {
    fn values(&mut self, exchange: &Exchange<'_>) -> &[Option<Vec<u8>>] {
        self.results.clear();
        let instances = self.exchanges.remove(&exchange.id);
        if let Some(instances) = &instances {
            let idx = instances.conn as usize;
            if let Some(state) = self.conns.get_mut(idx).and_then(Option::as_mut) {
                state.live.retain(|&e| e != exchange.id);
                if state.ended && state.live.is_empty() {
                    self.conns[idx] = None;
                }
            }
        }
        Python::attach(|py| {
            // An exchange that had no event still has its instances, for their result.
            let objects = match instances {
                Some(instances) => instances.objects,
                None => self.instantiate(py),
            };
            let t = exchange.print.map(seconds);
            for instance in &objects {
                let text = instance
                    .as_ref()
                    .and_then(|i| call(py, i, Callback::Result, (t,)))
                    .and_then(|value| text_of(&value));
                self.results.push(text);
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

    fn wants_payload(&self) -> bool {
        true
    }

    /// A new connection: its first exchange's instances are made and see `on_opening`.
    fn opening(
        &mut self,
        conn: ConnId,
        exchange: u64,
        client: Endpoint,
        server: Endpoint,
        ts: Timestamp,
    ) {
        Python::attach(|py| {
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
            let idx = conn as usize;
            if self.conns.len() <= idx {
                self.conns.resize_with(idx + 1, || None);
            }
            // A connection that reused the id of one never ended (cannot happen: the
            // tracker ends every connection) leaves nothing behind.
            if let Some(old) = self.conns[idx].take() {
                for id in old.live {
                    self.exchanges.remove(&id);
                }
            }
            self.conns[idx] = Some(Conn {
                key,
                client,
                server,
                live: Vec::new(),
                ended: false,
            });
            self.ensure_instances(py, conn, exchange);
            let t = seconds(ts);
            self.tell_all(py, conn, Callback::Opening, |key, _| (key.clone(), t));
        });
    }

    fn open(&mut self, conn: ConnId, ts: Timestamp) {
        let t = seconds(ts);
        Python::attach(|py| {
            self.tell_all(py, conn, Callback::Open, |key, _| (key.clone(), t));
        });
    }

    fn request(&mut self, conn: ConnId, exchange: u64, bytes: &[u8], ts: Timestamp) {
        self.payload(conn, exchange, Callback::Request, bytes, ts);
    }

    fn response(&mut self, conn: ConnId, exchange: u64, bytes: &[u8], ts: Timestamp) {
        self.payload(conn, exchange, Callback::Response, bytes, ts);
    }

    /// `on_close` to every live instance of the connection, with the closing side.
    fn closed(&mut self, conn: ConnId, ts: Timestamp, by: Direction) {
        let t = seconds(ts);
        Python::attach(|py| {
            self.tell_all(py, conn, Callback::Close, |key, state| {
                let side = match by {
                    Direction::FromClient => state.client,
                    Direction::FromServer => state.server,
                };
                (key.clone(), t, side.ip.to_string(), side.port)
            });
        });
        self.end(conn);
    }

    fn timed_out(&mut self, conn: ConnId, ts: Timestamp) {
        let t = seconds(ts);
        Python::attach(|py| {
            self.tell_all(py, conn, Callback::TimedOut, |key, _| (key.clone(), t));
        });
        self.end(conn);
    }

    fn truncated(&mut self, conn: ConnId) {
        Python::attach(|py| {
            self.tell_all(py, conn, Callback::Interrupted, |_, _| ());
        });
        self.end(conn);
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
