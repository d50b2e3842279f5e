//! Any text as a schema document: compiled or refused with INVALID_SCHEMA, never a panic; a
//! compiled schema validates a few rows without panicking.
#![no_main]

use bulk_ingest::{Format, Schema, ValidateOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = std::str::from_utf8(data) else { return };
    match Schema::compile(doc) {
        Ok(schema) => {
            let opts = ValidateOptions { threads: 0, ..Default::default() };
            let rows = b"{\"a\":1,\"b\":\"x\",\"c\":null}\n{\"a\":\"2020-01-01\",\"d\":[1]}\n";
            let _ = bulk_ingest::validate_bytes(rows, Format::Ndjson, &schema, &opts, &mut |_| Ok(()));
            let csv = b"a,b,c\n1,x,\n2020-01-01T00:00:00Z,,true\n";
            let _ = bulk_ingest::validate_bytes(csv, Format::Csv, &schema, &opts, &mut |_| Ok(()));
        }
        Err(e) => assert_eq!(e.code(), "INVALID_SCHEMA", "{e}"),
    }
});
