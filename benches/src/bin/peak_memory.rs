//! Peak memory of `validate` as the file grows: generates a POP file of `--rows N` (in the
//! format given), validates it from disk on two threads, and prints one JSON line with the
//! process's peak resident set (VmHWM, Linux) before and after.
//!
//! `--schema PATH` validates against another schema (e.g. the POP schema without its primary key,
//! to see the memory of everything but the one set that must grow with the file).
//!
//! The file is generated first and then validated by a fresh process (this program again, with
//! `--file PATH`), so that the generator's own memory (its record of invalid rows grows with
//! the file) is not counted as the validation's.
//!
//! ```text
//! cargo run --release -p bulk-ingest-bench --bin peak_memory -- --format ndjson --rows 100000
//! cargo run --release -p bulk-ingest-bench --bin peak_memory -- --format ndjson --rows 1000000
//! ```

use std::io::BufWriter;

use bulk_ingest_bench::{generate, Format, GenOptions};

fn vm_hwm_kib() -> u64 {
    status_kib("VmHWM:")
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let mut rows = 100_000u64;
    let mut format = Format::Ndjson;
    let mut schema_path: Option<String> = None;
    let mut file: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rows" => rows = args.next().and_then(|v| v.parse().ok()).expect("--rows N"),
            "--format" => {
                format = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--format ndjson|json|csv")
            }
            "--schema" => schema_path = args.next(),
            "--file" => file = args.next(),
            other => panic!("unknown argument {other}"),
        }
    }
    if let Some(path) = file {
        measure(
            std::path::Path::new(&path),
            rows,
            format,
            schema_path.as_deref(),
        );
        return;
    }
    let path = std::env::temp_dir().join(format!(
        "bulk-ingest-peak-{}-{rows}.{}",
        std::process::id(),
        format.as_str()
    ));
    {
        let f = std::fs::File::create(&path).expect("create");
        let mut w = BufWriter::new(f);
        generate(
            &GenOptions {
                rows,
                invalid_ratio: 0.05,
                seed: 7,
                format,
            },
            &mut w,
        )
        .expect("generate");
    }
    let mut child = std::process::Command::new(std::env::current_exe().expect("own path"));
    child.args([
        "--rows",
        &rows.to_string(),
        "--format",
        format.as_str(),
        "--file",
    ]);
    child.arg(&path);
    if let Some(s) = &schema_path {
        child.args(["--schema", s]);
    }
    let status = child.status().expect("run the measuring process");
    let _ = std::fs::remove_file(&path);
    assert!(status.success(), "the measuring process failed");
}

/// Validates `path` in this process and prints its memory figures.
fn measure(path: &std::path::Path, rows: u64, format: Format, schema_path: Option<&str>) {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let before = vm_hwm_kib();
    let doc = match schema_path {
        Some(p) => std::fs::read_to_string(p).expect("read --schema"),
        None => include_str!("../../../examples/schemas/pop-1.0.json").to_string(),
    };
    let schema = bulk_ingest::Schema::compile(&doc).expect("schema");
    let lib_format: bulk_ingest::Format = format.as_str().parse().expect("format");
    let opts = bulk_ingest::ValidateOptions {
        threads: std::env::var("PEAK_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2),
        ..Default::default()
    };
    let v = bulk_ingest::validate_file(path, lib_format, &schema, &opts, &mut |_| Ok(()))
        .expect("validate");
    let after = vm_hwm_kib();
    let now = status_kib("VmRSS:");
    println!(
        r#"{{"format":"{}","rows":{},"fileBytes":{},"validRows":{},"peakRssKiBBefore":{},"peakRssKiB":{},"rssKiBAfter":{}}}"#,
        format.as_str(),
        rows,
        size,
        v.valid_rows,
        before,
        after,
        now
    );
}
