//! `bulk_ingest._native`: the Python face of the `bulk-ingest` core.
//!
//! Thin by design: arguments are converted into owned Rust values, the core call runs with the
//! GIL released (`py.detach`), and results come back as read-only objects. Nothing is decided
//! here that the core decides; the Python package (`python/bulk_ingest`) only re-exports.

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulk_ingest as core;
use bulk_ingest::{
    Cell, Format, IngestRequest, JobOptions, ReportFormat, ReportKind, RowBatch, Sink, SinkContext,
    Timestamp, UploadRequest,
};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{
    PyBytes, PyDateTime, PyDict, PyList, PyMapping, PyString, PyTuple, PyType, PyTzInfo,
};

// --- errors: one base, one subclass per family of codes --------------------------------------

create_exception!(
    bulk_ingest,
    IngestError,
    PyException,
    "Base of every error the library raises; `.code` is the design's stable code."
);
create_exception!(
    bulk_ingest,
    InvalidRequestError,
    IngestError,
    "The request itself is wrong: INVALID_REQUEST, UNAUTHORIZED, UNSUPPORTED_MEDIA_TYPE."
);
create_exception!(
    bulk_ingest,
    NotFoundError,
    IngestError,
    "Something named is not there: FILE_NOT_FOUND, JOB_NOT_FOUND, SCHEMA_NOT_FOUND."
);
create_exception!(
    bulk_ingest,
    SchemaError,
    IngestError,
    "The schema document cannot be compiled: INVALID_SCHEMA."
);
create_exception!(
    bulk_ingest,
    UploadError,
    IngestError,
    "Upload refused: UPLOAD_URL_EXPIRED, INVALID_SIGNATURE, UPLOAD_ALREADY_RECEIVED, \
     UPLOAD_NOT_RECEIVED, FILE_TOO_LARGE."
);
create_exception!(
    bulk_ingest,
    FileContentError,
    IngestError,
    "The file as a whole is refused: INVALID_FILE_FORMAT, CORRUPTED_FILE, \
     INVALID_FILE_TEMPLATE, MAX_ROW_COUNT_EXCEEDED, ERROR_LIMIT_EXCEEDED."
);
create_exception!(
    bulk_ingest,
    JobStateError,
    IngestError,
    "A job state change the state machine forbids: INVALID_STATE_TRANSITION."
);
create_exception!(
    bulk_ingest,
    StorageError,
    IngestError,
    "The storage backend (or a host sink) failed: STORAGE_ERROR."
);

/// The exception class of a code. `core::Error` is `#[non_exhaustive]`, so no match on its
/// variants can be exhaustive from this crate; the codes are matched instead, and the test
/// suite checks that every code of `ERROR_CODES` lands in a family (never the bare base).
fn family<'py>(py: Python<'py>, code: &str) -> Bound<'py, PyType> {
    match code {
        "INVALID_REQUEST" | "UNAUTHORIZED" | "UNSUPPORTED_MEDIA_TYPE" => {
            py.get_type::<InvalidRequestError>()
        }
        "FILE_NOT_FOUND" | "JOB_NOT_FOUND" | "SCHEMA_NOT_FOUND" => py.get_type::<NotFoundError>(),
        "INVALID_SCHEMA" => py.get_type::<SchemaError>(),
        "UPLOAD_URL_EXPIRED"
        | "INVALID_SIGNATURE"
        | "UPLOAD_ALREADY_RECEIVED"
        | "UPLOAD_NOT_RECEIVED"
        | "FILE_TOO_LARGE" => py.get_type::<UploadError>(),
        "INVALID_FILE_FORMAT"
        | "CORRUPTED_FILE"
        | "INVALID_FILE_TEMPLATE"
        | "MAX_ROW_COUNT_EXCEEDED"
        | "ERROR_LIMIT_EXCEEDED" => py.get_type::<FileContentError>(),
        "INVALID_STATE_TRANSITION" => py.get_type::<JobStateError>(),
        "STORAGE_ERROR" => py.get_type::<StorageError>(),
        // A code added to the core later still raises with its `.code`; the drift test fails.
        _ => py.get_type::<IngestError>(),
    }
}

/// A core error as the Python exception of its family, with `.code` and the core's message.
fn raise(e: core::Error) -> PyErr {
    Python::attach(|py| {
        let cls = family(py, e.code());
        match cls.call1((e.to_string(),)) {
            Ok(inst) => match inst.setattr("code", e.code()) {
                Ok(()) => PyErr::from_value(inst),
                Err(err) => err,
            },
            Err(err) => err,
        }
    })
}

trait OrRaise<T> {
    fn or_raise(self) -> PyResult<T>;
}

impl<T> OrRaise<T> for core::Result<T> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(raise)
    }
}

fn invalid(msg: impl Into<String>) -> PyErr {
    raise(core::Error::invalid(msg))
}

// --- conversions ------------------------------------------------------------------------------

fn datetime(py: Python<'_>, t: Timestamp) -> PyResult<Bound<'_, PyDateTime>> {
    let utc = PyTzInfo::utc(py)?;
    PyDateTime::from_timestamp(py, t.millis() as f64 / 1000.0, Some(&utc))
}

fn opt_datetime(py: Python<'_>, t: Option<Timestamp>) -> PyResult<Option<Bound<'_, PyDateTime>>> {
    t.map(|t| datetime(py, t)).transpose()
}

fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(json_to_py(py, x)?)?;
            }
            l.into_any()
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// The seed's JSON of a core record (the core's serde names) as a Python dict.
fn to_dict<'py, T: serde::Serialize>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    let j = serde_json::to_value(v).map_err(|e| invalid(format!("cannot serialise: {e}")))?;
    json_to_py(py, &j)
}

/// A Python object (dict, list, ...) as JSON text, through the standard `json` module (which
/// keeps the mapping's key order: a schema's field order is the order rows are handed over).
fn py_to_json_text(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    obj.py()
        .import("json")?
        .call_method1("dumps", (obj,))
        .map_err(|e| invalid(format!("{what} must be JSON-serialisable: {e}")))?
        .extract()
}

fn py_to_json(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<serde_json::Value> {
    let text = py_to_json_text(obj, what)?;
    serde_json::from_str(&text).map_err(|e| invalid(format!("{what}: {e}")))
}

/// A schema argument: the JSON document as text, or a mapping.
fn schema_text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    if obj.cast::<PyMapping>().is_ok() {
        return py_to_json_text(obj, "schema");
    }
    Err(invalid(
        "schema must be the JSON document as a str, or a dict",
    ))
}

fn parse<T: std::str::FromStr<Err = core::Error>>(s: &str) -> PyResult<T> {
    s.parse::<T>().or_raise()
}

fn cell<'py>(py: Python<'py>, c: Cell<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match c {
        Cell::Null => py.None().into_bound(py),
        Cell::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Cell::Int(i) => i.into_pyobject(py)?.into_any(),
        Cell::Num(f) => f.into_pyobject(py)?.into_any(),
        Cell::Str(s) => PyString::new(py, s).into_any(),
    })
}

/// What a method reads: bytes, a path, or a binary file object read in chunks.
enum Body {
    Bytes(Vec<u8>),
    Path(PathBuf),
    Stream(Py<PyAny>),
}

impl Body {
    fn extract(obj: &Bound<'_, PyAny>) -> PyResult<Body> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(Body::Bytes(b.as_bytes().to_vec()));
        }
        let py = obj.py();
        let builtins = py.import("builtins")?;
        if obj.is_instance(&builtins.getattr("bytearray")?)?
            || obj.is_instance(&builtins.getattr("memoryview")?)?
        {
            let b = builtins.getattr("bytes")?.call1((obj,))?;
            return Ok(Body::Bytes(b.cast::<PyBytes>()?.as_bytes().to_vec()));
        }
        if obj.hasattr("read")? {
            return Ok(Body::Stream(obj.clone().unbind()));
        }
        let fspath = py.import("os")?.getattr("fspath");
        if let Ok(p) = fspath?.call1((obj,)) {
            if let Ok(p) = p.extract::<PathBuf>() {
                return Ok(Body::Path(p));
            }
        }
        Err(invalid(
            "the file must be bytes, a path (str or os.PathLike), or a binary file object",
        ))
    }
}

fn open_path(p: &std::path::Path) -> core::Result<std::io::BufReader<std::fs::File>> {
    std::fs::File::open(p)
        .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
        .map_err(|e| core::Error::FileNotFound(format!("{} ({e})", p.display())))
}

/// A Python binary file object as a `Read`: each call takes the GIL for one `read(n)`.
struct PyReader(Py<PyAny>);

impl Read for PyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Python::attach(|py| {
            let chunk = self
                .0
                .bind(py)
                .call_method1("read", (buf.len(),))
                .map_err(|e| std::io::Error::other(format!("body.read() raised {e}")))?;
            if chunk.is_none() {
                // A non-blocking stream with nothing ready: treat as the end.
                return Ok(0);
            }
            let b = chunk.cast::<PyBytes>().map_err(|_| {
                std::io::Error::other("body.read() must return bytes (open the file in 'rb' mode)")
            })?;
            let b = b.as_bytes();
            let n = b.len().min(buf.len());
            buf[..n].copy_from_slice(&b[..n]);
            Ok(n)
        })
    }
}

/// `None` or the value, as Python prints it.
fn py_opt(v: Option<impl std::fmt::Display>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "None".into())
}

// --- result objects ---------------------------------------------------------------------------

/// One problem with one row.
#[pyclass(frozen, module = "bulk_ingest", name = "RowError")]
struct PyRowError(core::RowError);

#[pymethods]
impl PyRowError {
    #[getter]
    fn row(&self) -> u64 {
        self.0.row
    }
    #[getter]
    fn line(&self) -> Option<u64> {
        self.0.line
    }
    #[getter]
    fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }
    #[getter]
    fn code(&self) -> &'static str {
        self.0.code.as_str()
    }
    #[getter]
    fn message(&self) -> &str {
        &self.0.message
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_dict(py, &self.0)
    }
    fn __repr__(&self) -> String {
        format!(
            "RowError(row={}, line={}, field={}, code={:?}, message={:?})",
            self.0.row,
            py_opt(self.0.line),
            py_opt(self.0.field.as_ref().map(|f| format!("{f:?}"))),
            self.0.code.as_str(),
            self.0.message
        )
    }
}

fn row_errors<'py>(py: Python<'py>, errs: &[core::RowError]) -> PyResult<Bound<'py, PyList>> {
    let l = PyList::empty(py);
    for e in errs {
        l.append(Py::new(py, PyRowError(e.clone()))?)?;
    }
    Ok(l)
}

/// Why a job failed as a whole.
#[pyclass(frozen, module = "bulk_ingest", name = "JobError")]
struct PyJobError(core::JobError);

#[pymethods]
impl PyJobError {
    #[getter]
    fn code(&self) -> &str {
        &self.0.code
    }
    #[getter]
    fn message(&self) -> &str {
        &self.0.message
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_dict(py, &self.0)
    }
    fn __repr__(&self) -> String {
        format!(
            "JobError(code={:?}, message={:?})",
            self.0.code, self.0.message
        )
    }
}

/// A job's status (`start_ingest`, `job`, `wait`, `cancel`, `run_job`).
#[pyclass(frozen, module = "bulk_ingest", name = "JobStatus")]
struct PyJobStatus(core::JobStatus);

#[pymethods]
impl PyJobStatus {
    #[getter]
    fn job_id(&self) -> &str {
        &self.0.job_id
    }
    #[getter]
    fn status(&self) -> &'static str {
        self.0.status.as_str()
    }
    /// Whether the status is final (completed, partially_completed, failed, cancelled).
    #[getter]
    fn is_terminal(&self) -> bool {
        self.0.status.is_terminal()
    }
    #[getter]
    fn total_rows(&self) -> Option<u64> {
        self.0.total_rows
    }
    #[getter]
    fn processed_rows(&self) -> u64 {
        self.0.processed_rows
    }
    #[getter]
    fn error_rows(&self) -> u64 {
        self.0.error_rows
    }
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        row_errors(py, &self.0.errors)
    }
    #[getter]
    fn started_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDateTime>>> {
        opt_datetime(py, self.0.started_at)
    }
    #[getter]
    fn completed_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDateTime>>> {
        opt_datetime(py, self.0.completed_at)
    }
    #[getter]
    fn created_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDateTime>> {
        datetime(py, self.0.created_at)
    }
    #[getter]
    fn file_id(&self) -> &str {
        &self.0.file_id
    }
    #[getter]
    fn dataset(&self) -> &str {
        &self.0.dataset
    }
    #[getter]
    fn schema_version(&self) -> &str {
        &self.0.schema_version
    }
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0
            .metadata
            .as_ref()
            .map(|m| json_to_py(py, m))
            .transpose()
    }
    #[getter]
    fn error(&self, py: Python<'_>) -> PyResult<Option<Py<PyJobError>>> {
        self.0
            .error
            .clone()
            .map(|e| Py::new(py, PyJobError(e)))
            .transpose()
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // The POP seed's shape, as the example servers answer (`errors[].error` is the
        // message): the core decides it.
        to_dict(py, &self.0.seed_view())
    }
    fn __repr__(&self) -> String {
        format!(
            "JobStatus(job_id={:?}, status={:?}, total_rows={}, processed_rows={}, error_rows={})",
            self.0.job_id,
            self.0.status.as_str(),
            py_opt(self.0.total_rows),
            self.0.processed_rows,
            self.0.error_rows
        )
    }
}

/// Where and how to send a file (`create_upload`).
#[pyclass(frozen, module = "bulk_ingest", name = "UploadTicket")]
struct PyUploadTicket(core::UploadTicket);

#[pymethods]
impl PyUploadTicket {
    #[getter]
    fn file_id(&self) -> &str {
        &self.0.file_id
    }
    #[getter]
    fn upload_url(&self) -> &str {
        &self.0.upload_url
    }
    #[getter]
    fn content_type(&self) -> &str {
        &self.0.content_type
    }
    #[getter]
    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDateTime>> {
        datetime(py, self.0.expires_at)
    }
    #[getter]
    fn upload_instructions(&self) -> &str {
        &self.0.upload_instructions
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_dict(py, &self.0)
    }
    fn __repr__(&self) -> String {
        format!(
            "UploadTicket(file_id={:?}, content_type={:?}, expires_at={:?})",
            self.0.file_id,
            self.0.content_type,
            self.0.expires_at.to_rfc3339()
        )
    }
}

/// A received upload (`receive_upload`, `upload`).
#[pyclass(frozen, module = "bulk_ingest", name = "UploadedFile")]
struct PyUploadedFile(core::UploadedFile);

#[pymethods]
impl PyUploadedFile {
    #[getter]
    fn file_id(&self) -> &str {
        &self.0.file_id
    }
    #[getter]
    fn file_name(&self) -> &str {
        &self.0.file_name
    }
    #[getter]
    fn format(&self) -> &'static str {
        self.0.format.as_str()
    }
    #[getter]
    fn size(&self) -> u64 {
        self.0.size
    }
    #[getter]
    fn sha256(&self) -> &str {
        &self.0.sha256
    }
    #[getter]
    fn received_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDateTime>> {
        datetime(py, self.0.received_at)
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_dict(py, &self.0)
    }
    fn __repr__(&self) -> String {
        format!(
            "UploadedFile(file_id={:?}, file_name={:?}, size={})",
            self.0.file_id, self.0.file_name, self.0.size
        )
    }
}

/// What `validate` found.
#[pyclass(frozen, module = "bulk_ingest", name = "Validation")]
struct PyValidation(core::Validation);

#[pymethods]
impl PyValidation {
    #[getter]
    fn total_rows(&self) -> u64 {
        self.0.total_rows
    }
    #[getter]
    fn valid_rows(&self) -> u64 {
        self.0.valid_rows
    }
    #[getter]
    fn error_rows(&self) -> u64 {
        self.0.error_rows
    }
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        row_errors(py, &self.0.errors)
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_dict(py, &self.0)
    }
    fn __repr__(&self) -> String {
        format!(
            "Validation(total_rows={}, valid_rows={}, error_rows={})",
            self.0.total_rows, self.0.valid_rows, self.0.error_rows
        )
    }
}

/// A registered schema, compiled (`register_schema`).
#[pyclass(frozen, module = "bulk_ingest", name = "Schema")]
struct PySchema {
    dataset: String,
    version: String,
    schema: core::Schema,
}

#[pymethods]
impl PySchema {
    #[getter]
    fn dataset(&self) -> &str {
        &self.dataset
    }
    #[getter]
    fn version(&self) -> &str {
        &self.version
    }
    /// `"jsonschema"` or `"tableschema"`.
    #[getter]
    fn dialect(&self) -> &'static str {
        self.schema.dialect().as_str()
    }
    /// Field names, in the order rows are handed to a sink.
    #[getter]
    fn fields(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name.clone())
            .collect()
    }
    #[getter]
    fn primary_key(&self) -> Option<Vec<String>> {
        self.schema.primary_key().map(|k| {
            k.iter()
                .map(|&s| self.schema.fields()[s].name.clone())
                .collect()
        })
    }
    fn __repr__(&self) -> String {
        format!(
            "Schema(dataset={:?}, version={:?}, dialect={:?})",
            self.dataset,
            self.version,
            self.schema.dialect().as_str()
        )
    }
}

/// A report served through a signed URL (`download`).
#[pyclass(frozen, module = "bulk_ingest", name = "Download")]
struct PyDownload(core::Download);

#[pymethods]
impl PyDownload {
    #[getter]
    fn content_type(&self) -> &'static str {
        self.0.content_type
    }
    #[getter]
    fn file_name(&self) -> &str {
        &self.0.file_name
    }
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.body)
    }
}

/// Valid rows handed to a Python sink: `rows[i]` (a dict of field values) is data row
/// `row_numbers[i]` of the file.
#[pyclass(frozen, module = "bulk_ingest", name = "SinkBatch")]
struct PySinkBatch {
    #[pyo3(get)]
    job_id: String,
    #[pyo3(get)]
    dataset: String,
    #[pyo3(get)]
    schema_version: String,
    #[pyo3(get)]
    rows: Py<PyList>,
    #[pyo3(get)]
    row_numbers: Py<PyList>,
}

#[pymethods]
impl PySinkBatch {
    fn __len__(&self, py: Python<'_>) -> usize {
        self.rows.bind(py).len()
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "SinkBatch(job_id={:?}, rows={})",
            self.job_id,
            self.rows.bind(py).len()
        )
    }
}

/// A Python callable as the core's `Sink`. It runs inside the commit of its rows' checkpoint:
/// an exception rolls that commit back and fails the job with the exception's message.
struct PySink(Py<PyAny>);

impl Sink for PySink {
    fn write(&self, ctx: &SinkContext, batch: &RowBatch, rows: &[usize]) -> core::Result<()> {
        Python::attach(|py| {
            let call = || -> PyResult<()> {
                let names: Vec<Bound<'_, PyString>> = ctx
                    .table
                    .columns
                    .iter()
                    .map(|(n, _)| PyString::new(py, n))
                    .collect();
                let list = PyList::empty(py);
                let nums = PyList::empty(py);
                for &i in rows {
                    let d = PyDict::new(py);
                    for (c, name) in names.iter().enumerate() {
                        d.set_item(name, cell(py, batch.cell(i, c))?)?;
                    }
                    list.append(d)?;
                    nums.append(batch.row_number(i))?;
                }
                let b = Py::new(
                    py,
                    PySinkBatch {
                        job_id: ctx.job_id.clone(),
                        dataset: ctx.dataset.clone(),
                        schema_version: ctx.schema_version.clone(),
                        rows: list.unbind(),
                        row_numbers: nums.unbind(),
                    },
                )?;
                self.0.call1(py, (b,))?;
                Ok(())
            };
            call().map_err(|e| {
                let ty = e
                    .get_type(py)
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|_| "Exception".into());
                core::Error::storage(format!("the sink raised {ty}: {}", e.value(py)))
            })
        })
    }
}

// --- the facade -------------------------------------------------------------------------------

/// Runs `f` on a clone of the ingestor with the GIL released.
fn detached<T: Send>(
    py: Python<'_>,
    ing: core::Ingestor,
    f: impl FnOnce(&core::Ingestor) -> core::Result<T> + Send,
) -> PyResult<T> {
    py.detach(move || f(&ing)).or_raise()
}

fn seconds(what: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| invalid(format!("{what} must be a number of seconds >= 0; got {s}")))
}

/// The library's facade (`bulk_ingest.Ingestor`).
#[pyclass(frozen, module = "bulk_ingest", name = "Ingestor")]
struct PyIngestor {
    inner: Mutex<Option<core::Ingestor>>,
}

impl PyIngestor {
    fn get(&self) -> PyResult<core::Ingestor> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| invalid("this Ingestor is closed"))
    }
}

impl Drop for PyIngestor {
    fn drop(&mut self) {
        let ing = self
            .inner
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(ing) = ing {
            // Workers may be waiting for the GIL inside a sink: stop them with it released.
            Python::attach(|py| py.detach(move || drop(ing)));
        }
    }
}

#[pymethods]
impl PyIngestor {
    #[new]
    #[pyo3(signature = (
        path = None, *, secret = None, base_url = None, workers = 1, max_upload_bytes = None,
        lease_seconds = None, poll_interval_seconds = None, threads = None, chunk_size = None,
        commit_rows = None, error_sample = None, state = None, blobs = None, s3_endpoint = None,
        s3_region = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        secret: Option<&Bound<'_, PyAny>>,
        base_url: Option<String>,
        workers: usize,
        max_upload_bytes: Option<u64>,
        lease_seconds: Option<f64>,
        poll_interval_seconds: Option<f64>,
        threads: Option<usize>,
        chunk_size: Option<usize>,
        commit_rows: Option<usize>,
        error_sample: Option<usize>,
        state: Option<String>,
        blobs: Option<String>,
        s3_endpoint: Option<String>,
        s3_region: Option<String>,
    ) -> PyResult<Self> {
        let mut opts = core::IngestorOptions {
            workers,
            ..Default::default()
        };
        if let Some(s) = secret {
            opts.secret = Some(if let Ok(s) = s.cast::<PyString>() {
                s.to_str()?.as_bytes().to_vec()
            } else if let Ok(b) = s.cast::<PyBytes>() {
                b.as_bytes().to_vec()
            } else {
                return Err(invalid("secret must be str or bytes"));
            });
        }
        if let Some(u) = base_url {
            opts.base_url = u;
        }
        if let Some(v) = max_upload_bytes {
            opts.max_upload_bytes = v;
        }
        if let Some(v) = lease_seconds {
            opts.lease = seconds("lease_seconds", v)?;
        }
        if let Some(v) = poll_interval_seconds {
            opts.poll_interval = seconds("poll_interval_seconds", v)?;
        }
        if let Some(v) = threads {
            opts.threads = v;
        }
        if let Some(v) = chunk_size {
            opts.chunk_size = v;
        }
        if let Some(v) = commit_rows {
            opts.commit_rows = v;
        }
        if let Some(v) = error_sample {
            opts.error_sample = v;
        }
        // Scale-out storage: the core checks the URLs (STORAGE_ERROR naming what is wrong).
        let scale_out = state.is_some() || blobs.is_some();
        opts.state = state;
        opts.blobs = blobs;
        opts.s3.endpoint = s3_endpoint;
        opts.s3.region = s3_region;
        if scale_out && path.is_none() {
            return Err(invalid(
                "state/blobs URLs need a data directory (path) for what stays local",
            ));
        }
        let ing = py
            .detach(move || match path {
                Some(p) => core::Ingestor::open(p, opts),
                None => core::Ingestor::in_memory(opts),
            })
            .or_raise()?;
        Ok(PyIngestor {
            inner: Mutex::new(Some(ing)),
        })
    }

    /// Stops the workers after their current commit; later calls raise.
    fn close(&self, py: Python<'_>) {
        let ing = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(ing) = ing {
            py.detach(move || drop(ing));
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    #[pyo3(signature = (dataset, version, schema))]
    fn register_schema(
        &self,
        py: Python<'_>,
        dataset: String,
        version: String,
        schema: &Bound<'_, PyAny>,
    ) -> PyResult<PySchema> {
        let text = schema_text(schema)?;
        let (d, v) = (dataset.clone(), version.clone());
        let schema = detached(py, self.get()?, move |i| i.register_schema(&d, &v, &text))?;
        Ok(PySchema {
            dataset,
            version,
            schema,
        })
    }

    /// Routes the valid rows of every later job of `dataset` to `sink` (a callable taking a
    /// `SinkBatch`) instead of the default table; worker threads call it.
    fn set_sink(&self, dataset: String, sink: Py<PyAny>) -> PyResult<()> {
        self.get()?.set_sink(&dataset, Arc::new(PySink(sink)));
        Ok(())
    }

    #[pyo3(signature = (file_name, format, *, expires_in_seconds = None, tenant = None))]
    fn create_upload(
        &self,
        py: Python<'_>,
        file_name: String,
        format: &str,
        expires_in_seconds: Option<i64>,
        tenant: Option<String>,
    ) -> PyResult<PyUploadTicket> {
        let req = UploadRequest {
            file_name,
            format: Some(parse::<Format>(format)?),
            expires_in_seconds,
            tenant,
        };
        detached(py, self.get()?, move |i| i.create_upload(&req)).map(PyUploadTicket)
    }

    /// `body`: bytes, a path, or a binary file object (read in chunks).
    fn receive_upload(
        &self,
        py: Python<'_>,
        upload_url: String,
        content_type: String,
        body: &Bound<'_, PyAny>,
    ) -> PyResult<PyUploadedFile> {
        let body = Body::extract(body)?;
        detached(py, self.get()?, move |i| match body {
            Body::Bytes(b) => i.receive_upload(&upload_url, &content_type, &mut b.as_slice()),
            Body::Path(p) => i.receive_upload(&upload_url, &content_type, &mut open_path(&p)?),
            Body::Stream(s) => i.receive_upload(&upload_url, &content_type, &mut PyReader(s)),
        })
        .map(PyUploadedFile)
    }

    #[pyo3(signature = (file_id, *, tenant = None))]
    fn upload(
        &self,
        py: Python<'_>,
        file_id: String,
        tenant: Option<String>,
    ) -> PyResult<PyUploadedFile> {
        detached(py, self.get()?, move |i| {
            i.upload(&file_id, tenant.as_deref())
        })
        .map(PyUploadedFile)
    }

    #[pyo3(signature = (
        file_id, dataset, schema_version, *, metadata = None, max_error_rows = None,
        max_rows = None, error_sample = None, tenant = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn start_ingest(
        &self,
        py: Python<'_>,
        file_id: String,
        dataset: String,
        schema_version: String,
        metadata: Option<&Bound<'_, PyAny>>,
        max_error_rows: Option<u64>,
        max_rows: Option<u64>,
        error_sample: Option<u32>,
        tenant: Option<String>,
    ) -> PyResult<PyJobStatus> {
        let metadata = metadata
            .filter(|m| !m.is_none())
            .map(|m| py_to_json(m, "metadata"))
            .transpose()?;
        let req = IngestRequest {
            file_id,
            dataset,
            schema_version,
            metadata,
            options: JobOptions {
                max_error_rows,
                max_rows,
                error_sample,
            },
            tenant,
        };
        detached(py, self.get()?, move |i| i.start_ingest(&req)).map(PyJobStatus)
    }

    #[pyo3(signature = (job_id, *, tenant = None))]
    fn job(&self, py: Python<'_>, job_id: String, tenant: Option<String>) -> PyResult<PyJobStatus> {
        detached(py, self.get()?, move |i| i.job(&job_id, tenant.as_deref())).map(PyJobStatus)
    }

    /// Waits (GIL released) until the job is terminal or `timeout` seconds pass (None: no
    /// limit). Ctrl-C raises `KeyboardInterrupt` within a few milliseconds.
    #[pyo3(signature = (job_id, timeout = None, *, tenant = None))]
    fn wait(
        &self,
        py: Python<'_>,
        job_id: String,
        timeout: Option<f64>,
        tenant: Option<String>,
    ) -> PyResult<PyJobStatus> {
        let timeout = match timeout {
            Some(t) => seconds("timeout", t)?,
            None => Duration::from_secs(100 * 365 * 86_400),
        };
        let ing = self.get()?;
        let mut signal: Option<PyErr> = None;
        let status = py.detach(|| {
            ing.wait_while(&job_id, timeout, tenant.as_deref(), &mut || {
                Python::attach(|py| match py.check_signals() {
                    Ok(()) => false,
                    Err(e) => {
                        signal = Some(e);
                        true
                    }
                })
            })
        });
        if let Some(e) = signal {
            return Err(e);
        }
        status.or_raise().map(PyJobStatus)
    }

    #[pyo3(signature = (job_id, *, tenant = None))]
    fn cancel(
        &self,
        py: Python<'_>,
        job_id: String,
        tenant: Option<String>,
    ) -> PyResult<PyJobStatus> {
        detached(py, self.get()?, move |i| {
            i.cancel(&job_id, tenant.as_deref())
        })
        .map(PyJobStatus)
    }

    /// Every row error of the job, as `"csv"` or `"ndjson"` bytes.
    #[pyo3(signature = (job_id, format = "csv", *, tenant = None))]
    fn report<'py>(
        &self,
        py: Python<'py>,
        job_id: String,
        format: &str,
        tenant: Option<String>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let f = parse::<ReportFormat>(format)?;
        let out = detached(py, self.get()?, move |i| {
            i.report(&job_id, f, tenant.as_deref())
        })?;
        Ok(PyBytes::new(py, &out))
    }

    /// The job's failed rows in the upload's own format, ready to fix and upload again.
    #[pyo3(signature = (job_id, *, tenant = None))]
    fn failed_rows<'py>(
        &self,
        py: Python<'py>,
        job_id: String,
        tenant: Option<String>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let out = detached(py, self.get()?, move |i| {
            i.failed_rows(&job_id, tenant.as_deref())
        })?;
        Ok(PyBytes::new(py, &out))
    }

    /// A signed, expiring URL of a report: `kind` is `errors.csv`, `errors.ndjson` or
    /// `failed-rows`.
    #[pyo3(signature = (job_id, expires_in_seconds = 3600, *, kind = "errors.csv", tenant = None))]
    fn signed_report_url(
        &self,
        py: Python<'_>,
        job_id: String,
        expires_in_seconds: i64,
        kind: &str,
        tenant: Option<String>,
    ) -> PyResult<String> {
        let kind = parse::<ReportKind>(kind)?;
        detached(py, self.get()?, move |i| {
            i.signed_report_url(&job_id, kind, expires_in_seconds, tenant.as_deref())
        })
    }

    /// Serves a URL from `signed_report_url` (full URL or its path and query).
    fn download(&self, py: Python<'_>, url: String) -> PyResult<PyDownload> {
        detached(py, self.get()?, move |i| i.download(&url)).map(PyDownload)
    }

    /// Runs queued jobs on the calling thread until none is left; returns how many ran.
    fn run_pending(&self, py: Python<'_>) -> PyResult<usize> {
        detached(py, self.get()?, |i| i.run_pending())
    }

    /// Runs one job on the calling thread; with `sink`, its valid rows go to the callable
    /// (a `SinkBatch` per commit) instead of the default table.
    #[pyo3(signature = (job_id, *, sink = None, tenant = None))]
    fn run_job(
        &self,
        py: Python<'_>,
        job_id: String,
        sink: Option<Py<PyAny>>,
        tenant: Option<String>,
    ) -> PyResult<PyJobStatus> {
        let sink = sink.map(|s| Arc::new(PySink(s)) as Arc<dyn Sink>);
        detached(py, self.get()?, move |i| {
            i.run_job_with_sink(&job_id, tenant.as_deref(), sink)
        })
        .map(PyJobStatus)
    }

    /// Rows stored in the default table of `dataset` under schema `version`.
    fn stored_rows(&self, py: Python<'_>, dataset: String, version: String) -> PyResult<u64> {
        detached(py, self.get()?, move |i| i.stored_rows(&dataset, &version))
    }
}

/// Checks a file (bytes, a path, or a binary file object; plain or gzip) against a schema,
/// without storage.
#[pyfunction]
#[pyo3(signature = (path_or_bytes, format, schema, *, max_rows = None, threads = None, error_sample = None))]
fn validate(
    py: Python<'_>,
    path_or_bytes: &Bound<'_, PyAny>,
    format: &str,
    schema: &Bound<'_, PyAny>,
    max_rows: Option<u64>,
    threads: Option<usize>,
    error_sample: Option<usize>,
) -> PyResult<PyValidation> {
    let body = Body::extract(path_or_bytes)?;
    let format = parse::<Format>(format)?;
    let text = schema_text(schema)?;
    let mut opts = core::ValidateOptions {
        max_rows,
        ..Default::default()
    };
    if let Some(t) = threads {
        opts.threads = t;
    }
    if let Some(n) = error_sample {
        opts.error_sample = n;
    }
    py.detach(move || {
        let schema = core::Schema::compile(&text)?;
        let mut ignore = |_: &core::RowError| Ok(());
        match body {
            Body::Bytes(b) => core::validate_bytes(&b, format, &schema, &opts, &mut ignore),
            Body::Path(p) => core::validate_file(&p, format, &schema, &opts, &mut ignore),
            Body::Stream(r) => core::validate(PyReader(r), format, &schema, &opts, &mut ignore),
        }
    })
    .or_raise()
    .map(PyValidation)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<PyIngestor>()?;
    m.add_class::<PyJobStatus>()?;
    m.add_class::<PyJobError>()?;
    m.add_class::<PyRowError>()?;
    m.add_class::<PyUploadTicket>()?;
    m.add_class::<PyUploadedFile>()?;
    m.add_class::<PyValidation>()?;
    m.add_class::<PySchema>()?;
    m.add_class::<PyDownload>()?;
    m.add_class::<PySinkBatch>()?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add("IngestError", py.get_type::<IngestError>())?;
    m.add("InvalidRequestError", py.get_type::<InvalidRequestError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("SchemaError", py.get_type::<SchemaError>())?;
    m.add("UploadError", py.get_type::<UploadError>())?;
    m.add("FileContentError", py.get_type::<FileContentError>())?;
    m.add("JobStateError", py.get_type::<JobStateError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("ERROR_CODES", PyTuple::new(py, core::ERROR_CODES)?)?;
    m.add("ROW_ERROR_CODES", PyTuple::new(py, core::ROW_ERROR_CODES)?)?;
    let families = PyDict::new(py);
    for code in core::ERROR_CODES {
        families.set_item(code, family(py, code))?;
    }
    m.add("ERROR_FAMILIES", families)?;
    Ok(())
}
