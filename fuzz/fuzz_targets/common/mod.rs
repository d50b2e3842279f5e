//! What the three reader targets share: any bytes, declared as one format, through framing,
//! parsing and validation against the POP and content schemas, on one thread and on two: an
//! error or row errors, never a panic, and both passes agree.

use std::sync::OnceLock;

use bulk_ingest::{Format, Schema, ValidateOptions};

fn schemas() -> &'static [Schema; 2] {
    static S: OnceLock<[Schema; 2]> = OnceLock::new();
    S.get_or_init(|| {
        [
            Schema::compile(include_str!("../../../examples/schemas/pop-1.0.json")).expect("pop"),
            Schema::compile(include_str!("../../../examples/schemas/content-1.0.json")).expect("content"),
        ]
    })
}

pub fn check(data: &[u8], format: Format) {
    for schema in schemas() {
        let run = |threads: usize, chunk_size: usize| {
            let opts = ValidateOptions { threads, chunk_size, ..Default::default() };
            let mut errors = Vec::new();
            let r = bulk_ingest::validate_bytes(data, format, schema, &opts, &mut |e| {
                errors.push(e.clone());
                Ok(())
            });
            (r.map_err(|e| e.code()), errors)
        };
        let one = run(0, 1 << 20);
        let two = run(2, 64);
        if one.0.is_ok() {
            assert_eq!(one, two, "chunking and threads must not change the result");
        }
    }
}
