//! `gen --format ndjson|json|csv --rows N [--invalid-ratio 0.05] [--seed S] [--gzip]
//!      [--record record.json] OUT`
//!
//! Writes a seeded POP-event file (`OUT` may be `-` for stdout) and, with `--record`, the
//! generator's record of which rows it made invalid, as JSON.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use bulk_ingest_bench::{generate, Format, GenOptions, GenRecord};
use flate2::write::GzEncoder;
use flate2::Compression;

const USAGE: &str = "usage: gen --format ndjson|json|csv --rows N [--invalid-ratio 0.05] \
[--seed S] [--gzip] [--record record.json] OUT";

struct Args {
    opts: GenOptions,
    gzip: bool,
    record: Option<String>,
    out: String,
}

fn parse_args() -> Result<Args, String> {
    let mut opts = GenOptions::default();
    let mut format = None;
    let mut rows = None;
    let mut gzip = false;
    let mut record = None;
    let mut out = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--format" => format = Some(value("--format")?.parse::<Format>()?),
            "--rows" => {
                let v = value("--rows")?;
                rows = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("--rows: bad number '{v}'"))?,
                );
            }
            "--invalid-ratio" => {
                let v = value("--invalid-ratio")?;
                let r = v
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| format!("--invalid-ratio: '{v}' is not in 0..=1"))?;
                opts.invalid_ratio = r;
            }
            "--seed" => {
                let v = value("--seed")?;
                opts.seed = v.parse().map_err(|_| format!("--seed: bad number '{v}'"))?;
            }
            "--gzip" => gzip = true,
            "--record" => record = Some(value("--record")?),
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => {
                if out.replace(s.to_string()).is_some() {
                    return Err("more than one OUT".into());
                }
            }
        }
    }
    opts.format = format.ok_or("--format is required")?;
    opts.rows = rows.ok_or("--rows is required")?;
    let out = out.ok_or("OUT is required")?;
    Ok(Args {
        opts,
        gzip,
        record,
        out,
    })
}

fn write_file(args: &Args) -> io::Result<GenRecord> {
    let sink: Box<dyn Write> = if args.out == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(&args.out)?)
    };
    let mut sink = BufWriter::with_capacity(1 << 16, sink);
    let rec = if args.gzip {
        let mut gz = GzEncoder::new(&mut sink, Compression::default());
        let rec = generate(&args.opts, &mut gz)?;
        gz.finish()?;
        rec
    } else {
        generate(&args.opts, &mut sink)?
    };
    sink.flush()?;
    Ok(rec)
}

fn record_json(args: &Args, rec: &GenRecord) -> serde_json::Value {
    serde_json::json!({
        "format": args.opts.format.as_str(),
        "seed": args.opts.seed,
        "gzip": args.gzip,
        "bytes": rec.bytes,
        "rows": rec.rows,
        "validRows": rec.valid_rows,
        "invalidRows": rec.invalid_rows,
        "invalid": rec.invalid.iter().map(|(r, c)| serde_json::json!([r, c])).collect::<Vec<_>>(),
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("gen: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rec = match write_file(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gen: writing {}: {e}", args.out);
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &args.record {
        let res = File::create(path).and_then(|f| {
            let mut w = BufWriter::new(f);
            serde_json::to_writer(&mut w, &record_json(&args, &rec))?;
            w.write_all(b"\n")?;
            w.flush()
        });
        if let Err(e) = res {
            eprintln!("gen: writing {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "gen: {} rows ({} valid, {} invalid), {} bytes{}",
        rec.rows,
        rec.valid_rows,
        rec.invalid_rows,
        rec.bytes,
        if args.gzip { " before gzip" } else { "" }
    );
    ExitCode::SUCCESS
}
