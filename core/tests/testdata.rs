//! The shared corpus (`testdata/expected.json`): what `validate` and a full ingest job answer
//! for every file, row by row.

mod common;

use bulk_ingest::{Format, IngestRequest, Ingestor, JobState, Schema, ValidateOptions};
use common::*;

fn expected() -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(testdata("expected.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn schema_for(dataset: &str) -> &'static str {
    match dataset {
        "pop" => POP_SCHEMA,
        "content" => CONTENT_SCHEMA,
        other => panic!("no schema for {other}"),
    }
}

/// `[row, line, field, code]` of each expected error.
fn expected_errors(case: &serde_json::Value) -> Vec<(u64, Option<u64>, Option<String>, String)> {
    case["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e[0].as_u64().unwrap(),
                e[1].as_u64(),
                e[2].as_str().map(str::to_string),
                e[3].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn validate_answers_every_file_as_expected() {
    for (name, case) in expected() {
        let format: Format = case["format"].as_str().unwrap().parse().unwrap();
        let schema = Schema::compile(schema_for(case["dataset"].as_str().unwrap())).unwrap();
        let bytes = std::fs::read(testdata(&name)).unwrap();
        for threads in [0, 2] {
            let opts = ValidateOptions {
                threads,
                chunk_size: 128,
                ..Default::default()
            };
            let mut errors = Vec::new();
            let got = bulk_ingest::validate_bytes(&bytes, format, &schema, &opts, &mut |e| {
                errors.push((e.row, e.line, e.field.clone(), e.code.as_str().to_string()));
                Ok(())
            });
            if let Some(code) = case.get("fileError") {
                let e = got.expect_err(&name);
                assert_eq!(e.code(), code.as_str().unwrap(), "{name}: {e}");
                assert!(!e.to_string().is_empty());
                continue;
            }
            let v = got.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(v.total_rows, case["totalRows"].as_u64().unwrap(), "{name}");
            assert_eq!(v.valid_rows, case["validRows"].as_u64().unwrap(), "{name}");
            assert_eq!(v.error_rows, case["errorRows"].as_u64().unwrap(), "{name}");
            assert_eq!(errors, expected_errors(&case), "{name} (threads {threads})");
        }
    }
}

#[test]
fn ingest_jobs_answer_every_file_as_expected() {
    let ing = Ingestor::in_memory(opts(0)).unwrap();
    ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    ing.register_schema("content", "1.0", CONTENT_SCHEMA)
        .unwrap();
    for (name, case) in expected() {
        let format: Format = case["format"].as_str().unwrap().parse().unwrap();
        let bytes = std::fs::read(testdata(&name)).unwrap();
        // Each file under its own tenant, so primary keys of one file do not meet another's.
        let tenant = name.replace('.', "_");
        let file_id = upload(&ing, format, &bytes, Some(&tenant));
        let started = ing.start_ingest(&IngestRequest {
            file_id,
            dataset: case["dataset"].as_str().unwrap().into(),
            schema_version: "1.0".into(),
            tenant: Some(tenant.clone()),
            ..Default::default()
        });
        if let Some(code) = case.get("fileError") {
            assert_eq!(
                started.unwrap_err().code(),
                code.as_str().unwrap(),
                "{name}"
            );
            continue;
        }
        let job = started.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(job.total_rows, case["totalRows"].as_u64(), "{name}");
        let st = ing.run_job(&job.job_id, Some(&tenant)).unwrap();
        let errors: Vec<_> = st
            .errors
            .iter()
            .map(|e| (e.row, e.line, e.field.clone(), e.code.as_str().to_string()))
            .collect();
        assert_eq!(
            st.processed_rows,
            case["validRows"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(st.error_rows, case["errorRows"].as_u64().unwrap(), "{name}");
        assert_eq!(errors, expected_errors(&case), "{name}");
        let want = if st.error_rows == 0 {
            JobState::Completed
        } else {
            JobState::PartiallyCompleted
        };
        assert_eq!(st.status, want, "{name}");
    }
}
