//! The validate program against files whose invalid rows the generator recorded exactly.

use std::path::PathBuf;
use std::process::Command;

use bulk_ingest_bench::{generate, Format, GenOptions};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bulk-ingest-validate-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run_validate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["run", "--quiet", "--example", "validate", "--"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn schema() -> String {
    root()
        .join("examples/schemas/pop-1.0.json")
        .display()
        .to_string()
}

fn check_against_record(format: Format, seed: u64, gzip: bool) {
    let dir = temp_dir(&format!("{}-{seed}", format.as_str()));
    let data = dir.join(format!("data.{}", format.as_str()));
    let mut bytes = Vec::new();
    let rec = generate(
        &GenOptions {
            rows: 20_000,
            invalid_ratio: 0.1,
            seed,
            format,
        },
        &mut bytes,
    )
    .unwrap();
    if gzip {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        bytes = gz.finish().unwrap();
    }
    std::fs::write(&data, &bytes).unwrap();
    let report = dir.join("errors.csv");
    let (code, stdout, stderr) = run_validate(&[
        "--schema",
        &schema(),
        "--format",
        format.as_str(),
        "--report",
        &report.display().to_string(),
        &data.display().to_string(),
    ]);
    assert_eq!(code, 1, "some rows are invalid; stderr: {stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["totalRows"], rec.rows);
    assert_eq!(v["validRows"], rec.valid_rows);
    assert_eq!(v["errorRows"], rec.invalid_rows);
    // Every invalid row, with the code the generator meant, in order.
    let got: Vec<(u64, String)> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let mut p = l.split(',');
            let row = p.next().unwrap().parse().unwrap();
            let _line = p.next();
            let _field = p.next();
            (row, p.next().unwrap().to_string())
        })
        .collect();
    let want: Vec<(u64, String)> = rec
        .invalid
        .iter()
        .map(|(r, c)| (*r, c.to_string()))
        .collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
}

#[test]
fn counts_agree_with_the_generator_ndjson() {
    check_against_record(Format::Ndjson, 1, false);
    check_against_record(Format::Ndjson, 2, true);
}

#[test]
fn counts_agree_with_the_generator_json() {
    check_against_record(Format::Json, 3, false);
}

#[test]
fn counts_agree_with_the_generator_csv() {
    check_against_record(Format::Csv, 4, false);
    check_against_record(Format::Csv, 5, true);
}

fn testdata(name: &str) -> String {
    root().join("testdata").join(name).display().to_string()
}

#[test]
fn exit_codes_and_messages() {
    let (code, out, _) = run_validate(&[
        "--schema",
        &schema(),
        "--format",
        "ndjson",
        &testdata("pop_valid.ndjson"),
    ]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), r#"{"totalRows":5,"validRows":5,"errorRows":0}"#);
    let (code, _, err) = run_validate(&[
        "--schema",
        &schema(),
        "--format",
        "ndjson",
        &testdata("truncated.ndjson.gz"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("CORRUPTED_FILE"), "{err}");
    let (code, _, err) = run_validate(&[
        "--schema",
        &schema(),
        "--format",
        "xml",
        &testdata("pop_valid.ndjson"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("format"), "{err}");
    let (code, _, err) = run_validate(&["--format", "csv", &testdata("pop_valid.csv")]);
    assert_eq!(code, 2);
    assert!(err.contains("--schema"), "{err}");
    let (code, _, err) = run_validate(&[
        "--schema",
        &schema(),
        "--format",
        "csv",
        "/nonexistent/file.csv",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot open"), "{err}");
    let (code, _, err) = run_validate(&[
        "--schema",
        &schema(),
        "--format",
        "csv",
        &testdata("missing_columns.csv"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("INVALID_FILE_TEMPLATE"), "{err}");
}
