//! The raw parsers the validation figures are compared with: the same bytes through simd-json
//! or csv-core alone, doing nothing with what they find.

/// simd-json over each line (found with memchr, as the library finds them), reusing one scratch
/// buffer, one `Buffers` and one tape. Returns the tape nodes seen.
pub fn ndjson(data: &[u8]) -> usize {
    let mut buffers = simd_json::Buffers::new(4096);
    let mut scratch = Vec::new();
    let mut tape_store = Some(simd_json::Tape::null());
    let mut nodes = 0;
    let mut at = 0;
    while at < data.len() {
        let end = memchr::memchr(b'\n', &data[at..]).map_or(data.len(), |i| at + i);
        let line = &data[at..end];
        at = end + 1;
        if line.is_empty() {
            continue;
        }
        scratch.clear();
        scratch.extend_from_slice(line);
        let mut tape = tape_store
            .take()
            .unwrap_or_else(simd_json::Tape::null)
            .reset();
        if simd_json::fill_tape(&mut scratch, &mut buffers, &mut tape).is_ok() {
            nodes += tape.0.len();
        }
        tape_store = Some(tape.reset());
    }
    nodes
}

/// simd-json over the whole JSON array at once (it works in place, so on a copy). Returns the
/// tape nodes.
pub fn json_array(data: &[u8]) -> usize {
    let mut copy = data.to_vec();
    simd_json::to_tape(&mut copy)
        .map(|t| t.0.len())
        .unwrap_or(0)
}

/// csv-core `read_record` over every record. Returns the records read.
pub fn csv(data: &[u8]) -> usize {
    let mut rdr = csv_core::Reader::new();
    let mut out = vec![0u8; 64 * 1024];
    let mut ends = vec![0usize; 64];
    let mut input = data;
    let mut records = 0;
    loop {
        let (res, nin, _, _) = rdr.read_record(input, &mut out, &mut ends);
        input = &input[nin..];
        match res {
            csv_core::ReadRecordResult::Record => records += 1,
            csv_core::ReadRecordResult::End => break,
            csv_core::ReadRecordResult::InputEmpty => {
                if input.is_empty() {
                    // Tell the reader the input has ended.
                    let (r, _, _, _) = rdr.read_record(&[], &mut out, &mut ends);
                    if matches!(r, csv_core::ReadRecordResult::Record) {
                        records += 1;
                    }
                    break;
                }
            }
            csv_core::ReadRecordResult::OutputFull => out.resize(out.len() * 2, 0),
            csv_core::ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
        }
    }
    records
}
