//! Validate a file against a schema, for pipelines and for checking by hand.
//!
//! ```text
//! cargo run --release --example validate -- --schema SCHEMA.json --format ndjson|json|csv \
//!     [--report errors.csv] [--threads N] DATA
//! ```
//!
//! Prints one JSON line `{"totalRows":N,"validRows":V,"errorRows":E}` on stdout, writes every
//! row error to the report (CSV, or NDJSON when the name ends in `.ndjson`), and exits 0 when
//! every row is valid, 1 when some are not, 2 for a bad argument or an unreadable or corrupt
//! file. Shows progress on stderr when stderr is a terminal.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulk_ingest::{ErrorCsvWriter, Format, RowError, Schema, ValidateOptions};

const USAGE: &str = "usage: validate --schema SCHEMA.json --format ndjson|json|csv [--report errors.csv] [--threads N] DATA";

struct Args {
    schema: String,
    format: Format,
    report: Option<String>,
    threads: Option<usize>,
    data: String,
}

fn parse_args() -> Result<Args, String> {
    let mut schema = None;
    let mut format = None;
    let mut report = None;
    let mut threads = None;
    let mut data = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--schema" => schema = Some(value("--schema")?),
            "--format" => {
                let v = value("--format")?;
                format = Some(v.parse::<Format>().map_err(|e| e.to_string())?);
            }
            "--report" => report = Some(value("--report")?),
            "--threads" => {
                let v = value("--threads")?;
                threads = Some(
                    v.parse::<usize>()
                        .map_err(|_| format!("--threads: '{v}' is not a number"))?,
                );
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            _ if data.is_some() => {
                return Err(format!("only one DATA file may be given (got '{a}' too)"))
            }
            _ => data = Some(a),
        }
    }
    Ok(Args {
        schema: schema.ok_or("--schema is required")?,
        format: format.ok_or("--format is required")?,
        report,
        threads,
        data: data.ok_or("the DATA file is required")?,
    })
}

/// Counts bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

enum Report {
    Csv(ErrorCsvWriter<BufWriter<File>>),
    Ndjson(BufWriter<File>),
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("validate: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(all_valid) => ExitCode::from(if all_valid { 0 } else { 1 }),
        Err(msg) => {
            eprintln!("validate: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let doc = std::fs::read_to_string(&args.schema)
        .map_err(|e| format!("cannot read schema {}: {e}", args.schema))?;
    let schema = Schema::compile(&doc).map_err(|e| format!("{} [{}]", e, e.code()))?;
    let file = File::open(&args.data).map_err(|e| format!("cannot open {}: {e}", args.data))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut report = match &args.report {
        None => None,
        Some(path) => {
            let f = BufWriter::new(
                File::create(path).map_err(|e| format!("cannot create report {path}: {e}"))?,
            );
            Some(if path.ends_with(".ndjson") {
                Report::Ndjson(f)
            } else {
                Report::Csv(ErrorCsvWriter::new(f))
            })
        }
    };
    let read = Arc::new(AtomicU64::new(0));
    let reader = Counting {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        n: Arc::clone(&read),
    };
    let mut opts = ValidateOptions::default();
    if let Some(t) = args.threads {
        opts.threads = t;
    }
    let show = std::io::stderr().is_terminal() && size > 0;
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let bar = show.then(|| {
        let (read, done) = (Arc::clone(&read), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                progress(read.load(Ordering::Relaxed), size, started);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    });
    let mut on_error = |e: &RowError| -> bulk_ingest::Result<()> {
        match &mut report {
            Some(Report::Csv(w)) => w.write(e)?,
            Some(Report::Ndjson(w)) => {
                serde_json::to_writer(&mut *w, e).map_err(bulk_ingest::Error::storage)?;
                w.write_all(b"\n")?;
            }
            None => {}
        }
        Ok(())
    };
    let result = bulk_ingest::validate(reader, args.format, &schema, &opts, &mut on_error);
    done.store(true, Ordering::Relaxed);
    if let Some(bar) = bar {
        let _ = bar.join();
        progress(read.load(Ordering::Relaxed), size, started);
        eprintln!();
    }
    let v = result.map_err(|e| format!("{} [{}]", e, e.code()))?;
    match report {
        Some(Report::Csv(w)) => {
            w.finish()
                .map_err(|e| format!("cannot write the report: {e}"))?;
        }
        Some(Report::Ndjson(mut w)) => w
            .flush()
            .map_err(|e| format!("cannot write the report: {e}"))?,
        None => {}
    }
    println!(
        r#"{{"totalRows":{},"validRows":{},"errorRows":{}}}"#,
        v.total_rows, v.valid_rows, v.error_rows
    );
    Ok(v.error_rows == 0)
}

fn progress(done: u64, size: u64, started: Instant) {
    let frac = (done as f64 / size as f64).min(1.0);
    let width = 30;
    let filled = (frac * width as f64) as usize;
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    eprint!(
        "\r[{}{}] {:5.1}%  {:.1} MB/s",
        "#".repeat(filled),
        " ".repeat(width - filled),
        frac * 100.0,
        done as f64 / secs / 1e6
    );
}
