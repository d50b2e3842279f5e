//! Any bytes declared as json_array (see `common`): never a panic, one thread and two agree.
#![no_main]

mod common;

use bulk_ingest::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::check(data, Format::Json));
