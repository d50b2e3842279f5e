use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::*;

const MIB: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    line: u64,
    offset: u64,
    bytes: Vec<u8>,
    /// CSV: the parsed fields.
    fields: Option<Vec<String>>,
}

fn opts(chunk_size: usize, resume: Option<ResumePoint>) -> FramerOptions {
    FramerOptions { chunk_size, resume }
}

fn framer(input: &[u8], format: Format, chunk_size: usize) -> Result<Framer<&[u8]>> {
    Framer::new(input, format, opts(chunk_size, None))
}

fn chunks_with(input: &[u8], format: Format, o: FramerOptions) -> Result<Vec<Chunk>> {
    drain(Framer::new(input, format, o)?)
}

fn drain<R: Read>(mut f: Framer<R>) -> Result<Vec<Chunk>> {
    let mut out: Vec<Chunk> = Vec::new();
    while let Some(c) = f.next_chunk()? {
        if let Some(prev) = out.last() {
            assert!(!prev.is_last, "a chunk after the last one");
            assert_eq!(c.seq, prev.seq + 1);
            assert_eq!(c.start_offset, prev.end.offset, "chunks must be contiguous");
            assert_eq!(c.first_line, prev.end.line);
        }
        assert_eq!(c.end.offset, c.start_offset + c.data.len() as u64);
        assert!(std::str::from_utf8(&c.data).is_ok());
        out.push(c);
    }
    assert!(
        out.last().is_some_and(|c| c.is_last),
        "the last chunk must say so"
    );
    assert!(f.next_chunk()?.is_none());
    Ok(out)
}

fn chunks(input: &[u8], format: Format, chunk_size: usize) -> Result<Vec<Chunk>> {
    chunks_with(input, format, opts(chunk_size, None))
}

fn rows_of(chunk: &Chunk, format: Format) -> Vec<Row> {
    let plain = |r: RawRow<'_>| Row {
        line: r.line,
        offset: r.offset,
        bytes: r.bytes.to_vec(),
        fields: None,
    };
    let rows: Vec<Row> = match format {
        Format::Ndjson => ndjson_rows(chunk).map(plain).collect(),
        Format::Json => json_array_rows(chunk).map(plain).collect(),
        Format::Csv => {
            let mut it = CsvRows::new(chunk);
            let mut v = Vec::new();
            while let Some(rec) = it.next_record() {
                let fields = (0..rec.len())
                    .map(|i| rec.field(i).unwrap_or("?").to_string())
                    .collect();
                let mut row = plain(rec.raw);
                row.fields = Some(fields);
                v.push(row);
            }
            v
        }
    };
    let indexes: Vec<u32> = match format {
        Format::Ndjson => ndjson_rows(chunk).map(|r| r.index).collect(),
        Format::Json => json_array_rows(chunk).map(|r| r.index).collect(),
        Format::Csv => (0..rows.len() as u32).collect(),
    };
    assert_eq!(indexes, (0..rows.len() as u32).collect::<Vec<_>>());
    assert_eq!(count_rows(chunk, format), rows.len() as u64);
    rows
}

fn all_rows(chunks: &[Chunk], format: Format) -> Vec<Row> {
    chunks.iter().flat_map(|c| rows_of(c, format)).collect()
}

/// Rows of `decoded` (the plain stream) at `chunk_size`, with the identity of each row checked
/// against the decoded bytes.
fn read_rows(input: &[u8], decoded: &[u8], format: Format, chunk_size: usize) -> Result<Vec<Row>> {
    let cs = chunks(input, format, chunk_size)?;
    let rows = all_rows(&cs, format);
    for r in &rows {
        let off = r.offset as usize;
        assert_eq!(
            &decoded[off..off + r.bytes.len()],
            &r.bytes[..],
            "row bytes at their offset"
        );
        assert_eq!(
            r.line,
            1 + decoded[..off].iter().filter(|&&b| b == b'\n').count() as u64
        );
    }
    Ok(rows)
}

/// Reads at several chunk sizes, checks they all agree, returns the rows.
fn rows_all_sizes(input: &[u8], format: Format) -> Vec<Row> {
    rows_all_sizes_decoded(input, input, format)
}

fn rows_all_sizes_decoded(input: &[u8], decoded: &[u8], format: Format) -> Vec<Row> {
    let big = read_rows(input, decoded, format, MIB).unwrap();
    for cs in [1, 2, 3, 7, 64, 100] {
        let small = read_rows(input, decoded, format, cs).unwrap();
        assert_eq!(small, big, "chunk size {cs}");
    }
    big
}

fn bytes_of(rows: &[Row]) -> Vec<&str> {
    rows.iter()
        .map(|r| std::str::from_utf8(&r.bytes).unwrap())
        .collect()
}

fn lines_of(rows: &[Row]) -> Vec<u64> {
    rows.iter().map(|r| r.line).collect()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn err_of<T: std::fmt::Debug>(r: Result<T>) -> Error {
    r.expect_err("expected an error")
}

/// Every error of a full read at any chunk size (the first error is what counts).
fn read_err(input: &[u8], format: Format, chunk_size: usize) -> Error {
    err_of(chunks(input, format, chunk_size))
}

fn ndjson_sample(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "{{\"id\":{i},\"name\":\"row {i} é ü\",\"tags\":[\"a\",\"b\"]}}\n"
        ));
        if i % 7 == 3 {
            s.push('\n');
        }
        if i % 11 == 5 {
            s.push_str("   \t \r\n");
        }
    }
    s
}

// ---------------------------------------------------------------- NDJSON

#[test]
fn ndjson_lf_crlf_blank_lines_and_last_line_without_newline() {
    let input = b"{\"a\":1}\n\n{\"a\":2}\r\n  \r\n\t\n{\"a\":3}";
    let rows = rows_all_sizes(input, Format::Ndjson);
    assert_eq!(bytes_of(&rows), ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"]);
    assert_eq!(lines_of(&rows), [1, 3, 6]);
    assert_eq!(rows[1].offset, 9);
}

#[test]
fn ndjson_many_chunks_agree_with_one() {
    let s = ndjson_sample(500);
    let rows = rows_all_sizes(s.as_bytes(), Format::Ndjson);
    assert_eq!(rows.len(), 500);
    let cs = chunks(s.as_bytes(), Format::Ndjson, 64).unwrap();
    assert!(cs.len() > 100);
    for c in &cs[..cs.len() - 1] {
        assert!(c.data.ends_with(b"\n"));
        assert!(!c.is_last);
    }
}

#[test]
fn ndjson_row_longer_than_chunk_size_is_one_bigger_chunk() {
    let long = format!("{{\"x\":\"{}\"}}", "y".repeat(10_000));
    let input = format!("{{\"a\":1}}\n{long}\n{{\"a\":2}}\n");
    let cs = chunks(input.as_bytes(), Format::Ndjson, 64).unwrap();
    assert!(cs.iter().any(|c| c.data.len() > 10_000));
    let rows = rows_all_sizes(input.as_bytes(), Format::Ndjson);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1].bytes, long.as_bytes());
}

#[test]
fn ndjson_that_is_a_json_array_is_rejected() {
    for input in [&b"[{\"a\":1}]"[..], b"\n\n  [1,2]\n", b"\xEF\xBB\xBF[1]"] {
        let e = err_of(framer(input, Format::Ndjson, 64));
        assert_eq!(e.code(), "INVALID_FILE_FORMAT");
        assert!(e.to_string().contains("JSON array"), "{e}");
    }
    // Leading whitespace longer than the first block: found when the chunk is handed out.
    let mut input = vec![b'\n'; 200_000];
    input.extend_from_slice(b"[1]\n");
    assert_eq!(
        read_err(&input, Format::Ndjson, 64).code(),
        "INVALID_FILE_FORMAT"
    );
}

#[test]
fn ndjson_bom_is_skipped_and_counted_in_offsets() {
    let input = b"\xEF\xBB\xBF{\"a\":1}\n{\"a\":2}\n";
    let rows = rows_all_sizes(input, Format::Ndjson);
    assert_eq!(bytes_of(&rows), ["{\"a\":1}", "{\"a\":2}"]);
    assert_eq!(rows[0].offset, 3);
    assert_eq!(rows[0].line, 1);
}

#[test]
fn empty_and_blank_files_have_no_rows() {
    for format in Format::ALL {
        for input in [
            &b""[..],
            b"  \n\r\n \t",
            b"\xEF\xBB\xBF",
            b"\xEF\xBB\xBF\n\n",
        ] {
            let cs = chunks(input, format, 64).unwrap();
            assert_eq!(all_rows(&cs, format).len(), 0, "{format} {input:?}");
            let check = precheck(input, format, Some(0)).unwrap();
            assert_eq!(check.total_rows, 0);
            assert_eq!(check.decoded_bytes, input.len() as u64);
        }
    }
    let f = framer(b"", Format::Csv, 64).unwrap();
    assert_eq!(f.csv_header(), Some(&[][..]));
    assert_eq!(f.csv_header_raw(), Some(&[][..]));
    assert_eq!(framer(b"", Format::Json, 64).unwrap().csv_header(), None);
}

// ---------------------------------------------------------------- JSON arrays

#[test]
fn json_array_elements_with_nesting_and_tricky_strings() {
    let input = br#"  [
  {"a": "x]y", "b": [1, [2, {"c": "}"}]], "q": "say \"hi\", ok"},
  {"s": "back\\", "t": "\\\"]"}  ,
  [1,2,3],"str, with comma",  42 ,null,
  {bad}
]  
"#;
    let rows = rows_all_sizes(input, Format::Json);
    assert_eq!(
        bytes_of(&rows),
        [
            r#"{"a": "x]y", "b": [1, [2, {"c": "}"}]], "q": "say \"hi\", ok"}"#,
            r#"{"s": "back\\", "t": "\\\"]"}"#,
            "[1,2,3]",
            r#""str, with comma""#,
            "42",
            "null",
            "{bad}",
        ]
    );
    assert_eq!(lines_of(&rows), [2, 3, 4, 4, 4, 4, 5]);
    for r in &rows[..6] {
        assert!(serde_json::from_slice::<serde_json::Value>(&r.bytes).is_ok());
    }
}

#[test]
fn json_chunks_never_hold_the_brackets() {
    let mut s = String::from("[");
    for i in 0..300 {
        if i > 0 {
            s.push_str(",\n");
        }
        s.push_str(&format!("{{\"id\":{i},\"v\":[\"]\",\"[\",\"\\\"\"]}}"));
    }
    s.push_str("]\n");
    let cs = chunks(s.as_bytes(), Format::Json, 64).unwrap();
    assert!(cs.len() > 50);
    for c in &cs {
        assert_ne!(c.data.first(), Some(&b'['));
        assert!(!c.data.ends_with(b"]"));
        if !c.is_last {
            assert!(
                c.data.ends_with(b","),
                "non-last JSON chunks end after a separator"
            );
        }
    }
    let last = cs.last().unwrap();
    assert_eq!(s.as_bytes()[last.end.offset as usize], b']');
    let rows = rows_all_sizes(s.as_bytes(), Format::Json);
    assert_eq!(rows.len(), 300);
}

#[test]
fn json_empty_array_and_bom() {
    for input in [&b"[]"[..], b"\xEF\xBB\xBF [ \n ] \n", b"\n\n[\n]"] {
        assert!(rows_all_sizes(input, Format::Json).is_empty());
    }
    let rows = rows_all_sizes(b"\xEF\xBB\xBF[{\"a\":1}]", Format::Json);
    assert_eq!(rows[0].offset, 4);
}

#[test]
fn json_not_closed_is_corrupted() {
    for (input, what) in [
        (&b"[{\"a\":1},{\"a\":2}"[..], "before its closing"),
        (b"[{\"a\":1},{\"a\":", "inside an element"),
        (b"[{\"a\":\"abc", "inside a string"),
        (b"[{\"a\":\"abc\\", "inside a string"),
        (b"[", "before its closing"),
        (b"[1,2,", "before its closing"),
    ] {
        for cs in [1, 3, 64, MIB] {
            let e = read_err(input, Format::Json, cs);
            assert_eq!(e.code(), "CORRUPTED_FILE", "{input:?}");
            let msg = e.to_string();
            assert!(
                msg.contains("JSON array is not closed") && msg.contains(what),
                "{msg}"
            );
            assert!(msg.contains(&format!("byte {}", input.len())), "{msg}");
        }
    }
}

#[test]
fn json_that_is_not_an_array_is_invalid_format() {
    let e = err_of(framer(b"{\"a\":1}\n{\"a\":2}\n", Format::Json, 64));
    assert_eq!(e.code(), "INVALID_FILE_FORMAT");
    assert!(e.to_string().contains("NDJSON"), "{e}");
    let e = err_of(framer(b"  hello", Format::Json, 64));
    assert_eq!(e.code(), "INVALID_FILE_FORMAT");
    assert!(e.to_string().contains("byte 2"), "{e}");
}

#[test]
fn json_trailing_data_and_empty_elements_are_invalid_format() {
    for (input, needle) in [
        (&b"[1,2] x"[..], "byte 6"),
        (b"[1,2]\n\n]", "line 3"),
        (b"[1,2][3]", "after the closing"),
        (b"[1,,2]", "empty element"),
        (b"[,1]", "empty element"),
        (b"[1,2,]", "trailing comma"),
        (b"[1, \n ]", "trailing comma"),
    ] {
        for cs in [1, 2, 64, MIB] {
            let e = read_err(input, Format::Json, cs);
            assert_eq!(e.code(), "INVALID_FILE_FORMAT", "{input:?}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
    // Whitespace after the array is fine, however long.
    let mut input = b"[1]".to_vec();
    input.extend(std::iter::repeat_n(b'\n', 300_000));
    assert_eq!(rows_all_sizes(&input, Format::Json).len(), 1);
}

// ---------------------------------------------------------------- CSV

fn fields_of(rows: &[Row]) -> Vec<Vec<String>> {
    rows.iter().map(|r| r.fields.clone().unwrap()).collect()
}

#[test]
fn csv_header_rows_quotes_and_terminators() {
    let input = "\u{FEFF}id,name,note\r\n1,\"Smith, J\",\"say \"\"hi\"\"\"\r\n\r\n2,plain,\"multi\nline\r\nnote\"\n3,,last";
    let f = framer(input.as_bytes(), Format::Csv, 64).unwrap();
    assert_eq!(f.csv_header().unwrap(), ["id", "name", "note"]);
    assert_eq!(f.csv_header_raw().unwrap(), b"id,name,note\r\n");
    let rows = rows_all_sizes(input.as_bytes(), Format::Csv);
    assert_eq!(
        fields_of(&rows),
        [
            vec!["1", "Smith, J", "say \"hi\""],
            vec!["2", "plain", "multi\nline\r\nnote"],
            vec!["3", "", "last"],
        ]
    );
    assert_eq!(lines_of(&rows), [2, 4, 7]);
    assert_eq!(bytes_of(&rows)[0], "1,\"Smith, J\",\"say \"\"hi\"\"\"");
    assert_eq!(bytes_of(&rows)[1], "2,plain,\"multi\nline\r\nnote\"");
    assert_eq!(bytes_of(&rows)[2], "3,,last");
    assert_eq!(rows[0].offset, 3 + 14);
}

#[test]
fn csv_quoted_newlines_across_chunk_seams() {
    let mut s = String::from("a,b\n");
    for i in 0..400 {
        s.push_str(&format!(
            "{i},\"line one\nline, two \"\"q\"\"\r\n{}\"\n",
            "z".repeat(i % 50)
        ));
        if i % 13 == 0 {
            s.push('\n');
        }
    }
    let rows = rows_all_sizes(s.as_bytes(), Format::Csv);
    assert_eq!(rows.len(), 400);
    for (i, r) in rows.iter().enumerate() {
        let f = r.fields.as_ref().unwrap();
        assert_eq!(f[0], i.to_string());
        assert!(f[1].starts_with("line one\nline, two \"q\"\r\n"));
    }
    let cs = chunks(s.as_bytes(), Format::Csv, 64).unwrap();
    assert!(cs.len() > 100);
}

#[test]
fn csv_quote_inside_an_unquoted_field_is_data_like_csv_core() {
    // `ab"c` does not open a quoted field, so the newline after it ends the record.
    let input = b"h1,h2\nab\"c,d\ne,\"f\"g\"h\n\"x\" y,z\n";
    let rows = rows_all_sizes(input, Format::Csv);
    assert_eq!(
        fields_of(&rows),
        [vec!["ab\"c", "d"], vec!["e", "fg\"h"], vec!["x y", "z"]]
    );
}

#[test]
fn csv_rows_with_lone_cr_terminators_match_csv_core() {
    let input = b"a,b\r1,2\r3,4\r\r5,\"x\ry\"\r\n6,\"\"\r7,8";
    let rows = rows_all_sizes(input, Format::Csv);
    assert_eq!(
        fields_of(&rows),
        [
            vec!["1", "2"],
            vec!["3", "4"],
            vec!["5", "x\ry"],
            vec!["6", ""],
            vec!["7", "8"]
        ]
    );
    assert_eq!(bytes_of(&rows)[2], "5,\"x\ry\"");
    // The chunks stay small: a CR-only file is cut like any other.
    let big = "a,b\r".repeat(1000);
    let cs = chunks(big.as_bytes(), Format::Csv, 64).unwrap();
    assert!(cs.iter().all(|c| c.data.len() <= 64));
    check_resume(b"h\r1\r2\r\r3\r", Format::Csv, 2);
}

#[test]
fn csv_header_only_and_header_without_newline() {
    for input in [&b"a,b\n"[..], b"a,b", b"\n\r\na,b\r\n\n"] {
        let f = framer(input, Format::Csv, 64).unwrap();
        assert_eq!(f.csv_header().unwrap(), ["a", "b"]);
        assert!(rows_all_sizes(input, Format::Csv).is_empty());
    }
    let f = framer(b"\"quoted\nname\",\"x\"\"y\"\n1,2\n", Format::Csv, 2).unwrap();
    assert_eq!(f.csv_header().unwrap(), ["quoted\nname", "x\"y"]);
    let rows = rows_all_sizes(b"\"quoted\nname\",\"x\"\"y\"\n1,2\n", Format::Csv);
    assert_eq!(lines_of(&rows), [3]);
}

#[test]
fn csv_unterminated_quote_is_corrupted() {
    for (input, needle) in [
        (&b"a,b\n1,\"open\n2,3\n"[..], "byte 6 (line 2)"),
        (b"a,\"b\n", "header"),
        (b"a,b\n1,2\n\"x", "line 3"),
    ] {
        for cs in [1, 5, 64, MIB] {
            let e = read_err(input, Format::Csv, cs);
            assert_eq!(e.code(), "CORRUPTED_FILE");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
    // A closing quote as the very last byte is fine.
    let rows = rows_all_sizes(b"a\n\"x\"", Format::Csv);
    assert_eq!(fields_of(&rows), [vec!["x"]]);
}

#[test]
fn csv_data_row_starting_with_bom_is_read_the_same_in_any_chunk() {
    let input = "h\n\u{FEFF}x\n\u{FEFF}y\n";
    let rows = rows_all_sizes(input.as_bytes(), Format::Csv);
    assert_eq!(fields_of(&rows), [vec!["\u{FEFF}x"], vec!["\u{FEFF}y"]]);
}

#[test]
fn csv_long_record_and_many_fields_grow_buffers() {
    let header: Vec<String> = (0..300).map(|i| format!("c{i}")).collect();
    let row: Vec<String> = (0..300).map(|i| format!("\"{}\"", "v".repeat(i))).collect();
    let input = format!(
        "{}\n{}\n{}\n",
        header.join(","),
        row.join(","),
        row.join(",")
    );
    let f = framer(input.as_bytes(), Format::Csv, 64).unwrap();
    assert_eq!(f.csv_header().unwrap().len(), 300);
    let rows = rows_all_sizes(input.as_bytes(), Format::Csv);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].fields.as_ref().unwrap()[299], "v".repeat(299));
}

// ---------------------------------------------------------------- gzip

#[test]
fn gzip_bodies_read_like_plain_ones() {
    let nd = ndjson_sample(300);
    let csv = "a,b\n1,\"x\ny\"\n2,z\n".repeat(50);
    let json = format!(
        "[{}]",
        (0..200)
            .map(|i| format!("{{\"i\":{i}}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (format, plain) in [
        (Format::Ndjson, nd.as_bytes()),
        (Format::Csv, csv.as_bytes()),
        (Format::Json, json.as_bytes()),
    ] {
        let z = gz(plain);
        assert!(framer(&z, format, 64).unwrap().is_gzip());
        assert!(!framer(plain, format, 64).unwrap().is_gzip());
        let a = rows_all_sizes_decoded(&z, plain, format);
        assert_eq!(a, rows_all_sizes(plain, format));
        let check = precheck(&z[..], format, None).unwrap();
        assert!(check.gzip);
        assert_eq!(check.decoded_bytes, plain.len() as u64);
        assert_eq!(check.total_rows, a.len() as u64);
    }
}

#[test]
fn gzip_with_several_members_is_read_whole() {
    let mut z = gz(b"{\"a\":1}\n");
    z.extend(gz(b"{\"a\":2}\n"));
    let rows = rows_all_sizes_decoded(&z, b"{\"a\":1}\n{\"a\":2}\n", Format::Ndjson);
    assert_eq!(rows.len(), 2);
}

#[test]
fn truncated_or_damaged_gzip_is_corrupted() {
    let plain = ndjson_sample(20_000);
    let z = gz(plain.as_bytes());
    for cut in [z.len() / 2, z.len() - 4, z.len() - 1, 10, 3] {
        let e = precheck(&z[..cut], Format::Ndjson, None).unwrap_err();
        assert_eq!(e.code(), "CORRUPTED_FILE", "cut at {cut}: {e}");
        assert!(e.to_string().contains("gzip"), "{e}");
    }
    let mut bad = z.clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 16] {
        *b ^= 0x5a;
    }
    assert_eq!(
        precheck(&bad[..], Format::Ndjson, None).unwrap_err().code(),
        "CORRUPTED_FILE"
    );
    // Every chunk read before the damage is fine; the error comes in order, and repeats.
    let mut f = framer(&z[..z.len() / 2], Format::Ndjson, 4096).unwrap();
    let mut got = 0;
    let e = loop {
        match f.next_chunk() {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("truncated gzip read to the end"),
            Err(e) => break e,
        }
    };
    assert!(got > 0);
    assert_eq!(e.code(), "CORRUPTED_FILE");
    assert_eq!(f.next_chunk().unwrap_err(), e);
}

/// A reader that fails after some bytes.
struct Failing<'a> {
    data: &'a [u8],
}

impl Read for Failing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.data.len()).min(100);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn source_io_errors_are_storage_errors_even_under_gzip() {
    let plain = ndjson_sample(100);
    let z = gz(plain.as_bytes());
    for data in [plain.as_bytes(), &z[..z.len() / 2]] {
        let e = match Framer::new(Failing { data }, Format::Ndjson, opts(64, None)) {
            Err(e) => e,
            Ok(mut f) => loop {
                match f.next_chunk() {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("no error"),
                    Err(e) => break e,
                }
            },
        };
        assert_eq!(e.code(), "STORAGE_ERROR", "{e}");
    }
}

// ---------------------------------------------------------------- UTF-8 and binary

#[test]
fn invalid_utf8_is_corrupted_with_its_place() {
    // At a chunk seam: the bad byte starts the row that begins the second chunk.
    let mut input = b"{\"a\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n".to_vec();
    let bad_at = input.len();
    input.extend_from_slice(b"\xC3{\"b\":1}\n{\"c\":1}\n");
    for cs in [1, 3, bad_at, bad_at + 1, 64, MIB] {
        let e = read_err(&input, Format::Ndjson, cs);
        assert_eq!(e.code(), "CORRUPTED_FILE");
        assert_eq!(
            e.to_string(),
            format!("file is not valid UTF-8 at byte {bad_at} (line 2)")
        );
    }
    // A multi-byte character cut at the end of the stream.
    let e = read_err(b"[\"\xE2\x82", Format::Json, 64);
    assert_eq!(e.to_string(), "file is not valid UTF-8 at byte 2 (line 1)");
    // In a CSV header and in a CSV quoted field.
    assert_eq!(
        err_of(framer(b"a,\xFF\n", Format::Csv, 64)).code(),
        "CORRUPTED_FILE"
    );
    let e = read_err(b"a\n\"x\n\xFF\"\n", Format::Csv, 2);
    assert_eq!(e.to_string(), "file is not valid UTF-8 at byte 5 (line 3)");
    // In JSON, before an error of another kind: the first error wins.
    let e = read_err(b"[\"\xFF\",,1]", Format::Json, 64);
    assert_eq!(e.code(), "CORRUPTED_FILE");
}

#[test]
fn binary_files_are_invalid_format() {
    let pdf = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let zip = b"PK\x03\x04\x14\x00\x06\x00".to_vec();
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    let nul = b"{\"a\":1}\n{\"b\":\x00}\n".to_vec();
    for format in Format::ALL {
        for (input, needle) in [
            (&pdf, "PDF"),
            (&zip, "ZIP"),
            (&png, "PNG"),
            (&nul, "NUL byte at byte 13 (line 2)"),
        ] {
            let e = err_of(framer(input, format, 64));
            assert_eq!(e.code(), "INVALID_FILE_FORMAT");
            let msg = e.to_string();
            assert!(
                msg.contains(needle) && msg.contains(&format.as_str().to_ascii_uppercase()),
                "{msg}"
            );
            // Also inside gzip.
            assert_eq!(
                err_of(framer(&gz(input), format, 64)).code(),
                "INVALID_FILE_FORMAT"
            );
        }
    }
}

// ---------------------------------------------------------------- resume

/// For every chunk end, resuming there yields exactly the rows of the chunks after it.
fn check_resume(input: &[u8], format: Format, chunk_size: usize) {
    let cs = chunks(input, format, chunk_size).unwrap();
    let per_chunk: Vec<Vec<Row>> = cs.iter().map(|c| rows_of(c, format)).collect();
    let mut points = vec![ResumePoint::default()];
    points.extend(cs.iter().map(|c| c.end));
    for (i, p) in points.iter().enumerate() {
        // Point 0 is "no resume" (offset 0); point i is the end of chunk i-1.
        let want: Vec<Row> = per_chunk[i.min(per_chunk.len())..]
            .iter()
            .flatten()
            .cloned()
            .collect();
        let want = if i == 0 {
            per_chunk.iter().flatten().cloned().collect()
        } else {
            want
        };
        for cs2 in [chunk_size, MIB] {
            let got = chunks_with(input, format, opts(cs2, Some(*p))).unwrap();
            if i > 0 {
                assert_eq!(got[0].start_offset, p.offset);
                assert_eq!(got[0].first_line, p.line);
            }
            assert_eq!(
                all_rows(&got, format),
                want,
                "resume at {p:?} (chunk {i}) with chunk size {cs2}"
            );
        }
        if format == Format::Csv {
            let f = Framer::new(input, format, opts(chunk_size, Some(*p))).unwrap();
            assert_eq!(
                f.csv_header(),
                framer(input, format, chunk_size).unwrap().csv_header()
            );
        }
    }
    check_resume_seek(input, format, chunk_size);
}

/// A reader over a part of a file that counts the bytes it hands out.
struct Counted<'a> {
    data: &'a [u8],
    read: Arc<AtomicU64>,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.data.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// What a [`Framer::with_seek`] read of `input` read.
#[derive(Debug)]
struct SeekRead {
    chunks: Vec<Chunk>,
    /// Bytes read from the head reader (from byte 0 on).
    head: u64,
    /// The offset the rest was opened at, if it was, and the bytes read from there.
    rest_at: Option<u64>,
    rest: u64,
}

fn chunks_seek(input: &[u8], format: Format, o: FramerOptions) -> Result<SeekRead> {
    let head = Arc::new(AtomicU64::new(0));
    let rest = Arc::new(AtomicU64::new(0));
    let mut rest_at = None;
    let f = Framer::with_seek(
        Counted {
            data: input,
            read: Arc::clone(&head),
        },
        format,
        o,
        |at| {
            rest_at = Some(at);
            Ok(Counted {
                data: input.get(at as usize..).unwrap_or(&[]),
                read: Arc::clone(&rest),
            })
        },
    )?;
    let chunks = drain(f)?;
    Ok(SeekRead {
        chunks,
        head: head.load(Ordering::Relaxed),
        rest_at,
        rest: rest.load(Ordering::Relaxed),
    })
}

/// For every chunk end, a [`Framer::with_seek`] resume there gives exactly the chunks of a
/// [`Framer::new`] resume there (which `check_resume` compares with one pass), the same CSV
/// header and decoded size; a plain file is read from the head and then from the resume offset
/// only, a gzip one through from the head. Returns how many resumes sought.
fn check_resume_seek(input: &[u8], format: Format, chunk_size: usize) -> usize {
    let gzip = input.starts_with(&[0x1f, 0x8b]);
    let cs = chunks(input, format, chunk_size).unwrap();
    let mut sought = 0;
    for p in cs.iter().map(|c| c.end) {
        for cs2 in [chunk_size, MIB] {
            let o = opts(cs2, Some(p));
            let want = chunks_with(input, format, o).unwrap();
            let got = chunks_seek(input, format, o).unwrap();
            assert_eq!(got.chunks, want, "seek to {p:?} with chunk size {cs2}");
            if gzip {
                assert_eq!(got.rest_at, None, "a gzip stream cannot be sought");
                continue;
            }
            match got.rest_at {
                Some(at) => {
                    sought += 1;
                    assert_eq!(at, p.offset);
                    assert_eq!(got.rest, input.len() as u64 - at);
                    assert!(
                        got.head < at,
                        "head read {} bytes, up to the resume offset {at}",
                        got.head
                    );
                }
                None => assert!(got.head as usize >= p.offset as usize),
            }
            let mut f =
                Framer::with_seek(input, format, o, |at| Ok(&input[at as usize..])).unwrap();
            while f.next_chunk().unwrap().is_some() {}
            assert_eq!(f.decoded_bytes(), input.len() as u64);
            if format == Format::Csv {
                assert_eq!(
                    f.csv_header(),
                    framer(input, format, chunk_size).unwrap().csv_header()
                );
                assert_eq!(
                    f.csv_header_raw(),
                    framer(input, format, chunk_size).unwrap().csv_header_raw()
                );
            }
        }
    }
    sought
}

/// Samples larger than what the framer reads to open a file, so that resumes seek.
fn big_samples() -> [(Format, String); 3] {
    let nd = ndjson_sample(6000);
    let csv = format!(
        "\u{FEFF}a,b\r\n{}",
        (0..8000)
            .map(|i| format!("{i},\"x\ny, \"\"z\"\"\"\r\n\n{i},w é\r\n"))
            .collect::<String>()
    );
    let json = format!(
        " \n [\n{}\n] \n",
        (0..12000)
            .map(|i| format!("{{\"i\":{i},\"s\":\"],[\\\"\"}}"))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    [
        (Format::Ndjson, nd),
        (Format::Csv, csv),
        (Format::Json, json),
    ]
}

#[test]
fn resume_with_seek_yields_the_same_chunks_and_reads_only_head_and_rest() {
    for (format, plain) in big_samples() {
        let plain = plain.as_bytes();
        assert!(plain.len() > 3 * 64 * 1024, "{format}: {}", plain.len());
        let sought = check_resume_seek(plain, format, 32 * 1024);
        assert!(sought >= 4, "{format}: only {sought} resumes sought");
        check_resume_seek(&gz(plain), format, 32 * 1024);
        // Resumed past the middle: well under the whole file is read.
        let cs = chunks(plain, format, 32 * 1024).unwrap();
        let p = cs
            .iter()
            .map(|c| c.end)
            .find(|e| e.offset > plain.len() as u64 * 2 / 3)
            .unwrap();
        let got = chunks_seek(plain, format, opts(32 * 1024, Some(p))).unwrap();
        let read = got.head + got.rest;
        assert!(
            read < plain.len() as u64 * 2 / 3,
            "{format}: read {read} of {} bytes to resume at {}",
            plain.len(),
            p.offset
        );
    }
    // Small files: the resume point is inside the head, nothing else is opened.
    let nd = ndjson_sample(200);
    let csv = format!(
        "\u{FEFF}a,b\r\n{}",
        "1,\"x\ny, \"\"z\"\"\"\r\n\n2,w\r\n".repeat(40)
    );
    for (format, plain) in [
        (Format::Ndjson, nd.as_bytes()),
        (Format::Csv, csv.as_bytes()),
    ] {
        assert_eq!(check_resume_seek(plain, format, 64), 0);
        check_resume_seek(&gz(plain), format, 64);
    }
}

#[test]
fn resume_with_seek_beyond_the_end_is_an_error() {
    let p = Some(ResumePoint {
        offset: 10,
        line: 2,
    });
    let e = err_of(chunks_seek(b"{}\n", Format::Ndjson, opts(64, p)));
    assert_eq!(e.code(), "CORRUPTED_FILE");
    let e = err_of(chunks_seek(&gz(b"{}\n"), Format::Ndjson, opts(64, p)));
    assert_eq!(e.code(), "CORRUPTED_FILE");
}

#[test]
fn resume_with_seek_keeps_the_start_checks() {
    // The head is still checked: a wrong declared format or binary content fails as before.
    let big = ndjson_sample(6000);
    let p = Some(ResumePoint {
        offset: big.len() as u64 / 2,
        line: 2,
    });
    for (input, format) in [
        (big.as_bytes(), Format::Json),
        (b"%PDF-1.4 xxxxxxxx".as_slice(), Format::Ndjson),
    ] {
        let want = err_of(chunks_with(input, format, opts(64, p)));
        let got = err_of(chunks_seek(input, format, opts(64, p)));
        assert_eq!(got, want);
        assert_eq!(got.code(), "INVALID_FILE_FORMAT");
    }
}

#[test]
fn resume_yields_the_same_rows_for_every_format() {
    let nd = ndjson_sample(200);
    let csv = format!(
        "\u{FEFF}a,b\r\n{}",
        "1,\"x\ny, \"\"z\"\"\"\r\n\n2,w\r\n".repeat(40)
    );
    let json = format!(
        " [\n{}\n] \n",
        (0..150)
            .map(|i| format!("{{\"i\":{i},\"s\":\"],[\\\"\"}}"))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    for (format, plain) in [
        (Format::Ndjson, nd.as_bytes()),
        (Format::Csv, csv.as_bytes()),
        (Format::Json, json.as_bytes()),
    ] {
        check_resume(plain, format, 64);
        check_resume(plain, format, 500);
        check_resume(&gz(plain), format, 64);
    }
    for format in Format::ALL {
        check_resume(b"", format, 64);
    }
    check_resume(b"[]", Format::Json, 64);
    check_resume(b"a,b", Format::Csv, 64);
}

#[test]
fn resume_beyond_the_end_is_an_error() {
    let e = err_of(Framer::new(
        &b"{}\n"[..],
        Format::Ndjson,
        opts(
            64,
            Some(ResumePoint {
                offset: 10,
                line: 2,
            }),
        ),
    ));
    assert_eq!(e.code(), "CORRUPTED_FILE");
}

// ---------------------------------------------------------------- precheck

#[test]
fn precheck_counts_rows_like_the_iterators() {
    let nd = ndjson_sample(1000);
    let c = precheck(nd.as_bytes(), Format::Ndjson, Some(1000)).unwrap();
    assert_eq!(c.total_rows, 1000);
    assert_eq!(c.format, Format::Ndjson);
    assert!(!c.gzip);
    assert_eq!(c.csv_header, None);
    assert_eq!(c.decoded_bytes, nd.len() as u64);
    assert_eq!(
        precheck(nd.as_bytes(), Format::Ndjson, Some(999)).unwrap_err(),
        Error::MaxRowCountExceeded {
            rows: 1000,
            limit: 999
        }
    );
    let csv = "\u{FEFF}x,y\n1,\"a\nb\"\n\n2,c";
    let c = precheck(csv.as_bytes(), Format::Csv, None).unwrap();
    assert_eq!(c.total_rows, 2);
    assert_eq!(c.csv_header, Some(vec!["x".to_string(), "y".to_string()]));
    let c = precheck(&b"[1,{\"a\":[1,2]},\"x\"]"[..], Format::Json, None).unwrap();
    assert_eq!(c.total_rows, 3);
    assert_eq!(
        precheck(&b"[1,2"[..], Format::Json, Some(0))
            .unwrap_err()
            .code(),
        "CORRUPTED_FILE"
    );
}

// ---------------------------------------------------------------- robustness

use crate::test_rng::Rng;

#[test]
fn random_bytes_never_panic_and_chunking_never_changes_rows() {
    const TOKENS: &[&str] = &[
        "[",
        "]",
        "{",
        "}",
        ",",
        ",",
        "\"",
        "\"",
        "\\",
        "\n",
        "\n",
        "\r\n",
        "\r",
        " ",
        "\t",
        "a",
        "1",
        ":",
        "é",
        "\u{FEFF}",
        "\"x,y\"",
        "{\"a\":[1,\"]\"]}",
        "\"\"",
        "\u{1F600}",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut with_rows = [0usize; 3];
    // FORMAT_FUZZ_ROUNDS=100000 for a longer run (release mode).
    let rounds = std::env::var("FORMAT_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    for round in 0..rounds {
        let len = (rng.next() % 40) as usize;
        let mut input: Vec<u8> = Vec::new();
        for _ in 0..len {
            input.extend_from_slice(TOKENS[(rng.next() % TOKENS.len() as u64) as usize].as_bytes());
        }
        if round % 3 == 0 {
            input.insert(0, b'[');
            input.push(b']');
        }
        if round % 13 == 0 {
            let at = (rng.next() % (input.len() as u64 + 1)) as usize;
            input.insert(at, 0xFF);
        }
        if round % 10 == 0 {
            input = (0..len).map(|_| rng.next() as u8).collect();
        }
        let input = if round % 7 == 0 { gz(&input) } else { input };
        for format in Format::ALL {
            let reference = chunks(&input, format, MIB).map(|cs| all_rows(&cs, format));
            if reference.as_ref().is_ok_and(|r| !r.is_empty()) {
                with_rows[format as usize] += 1;
            }
            let _ = precheck(&input[..], format, Some(3));
            for cs in [1, 2, 5, 16] {
                let got = chunks(&input, format, cs).map(|cs| all_rows(&cs, format));
                match (&reference, &got) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{format} {input:?} at chunk size {cs}"),
                    (Err(a), Err(b)) => {
                        assert_eq!(a.code(), b.code(), "{format} {input:?}: {a} / {b}")
                    }
                    _ => panic!("{format} {input:?} at chunk size {cs}: {reference:?} vs {got:?}"),
                }
            }
            // Hand-built chunks of arbitrary bytes are tolerated by the iterators.
            let chunk = Chunk {
                seq: 0,
                data: input.clone(),
                start_offset: 0,
                first_line: 1,
                end: ResumePoint::default(),
                is_last: true,
            };
            let _ = rows_of(&chunk, format);
        }
    }
    assert!(
        with_rows.iter().all(|&n| n > 40),
        "the inputs must exercise the row paths: {with_rows:?}"
    );
}

// ---------------------------------------------------------------- speed (run by hand, release)

fn pop_like(n: usize, format: Format) -> Vec<u8> {
    let mut s = String::with_capacity(n * 160);
    if format == Format::Csv {
        s.push_str("eventId,ts,durationMs,kind,note\r\n");
    }
    if format == Format::Json {
        s.push_str("[\n");
    }
    for i in 0..n {
        let id = format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            i * 7919,
            i % 65536,
            i % 4096,
            i % 4096,
            i * 31
        );
        match format {
            Format::Csv => s.push_str(&format!(
                "{id},2024-05-01T12:{:02}:{:02}Z,{},click,\"a, b \"\"c\"\"\"\r\n",
                i % 60,
                i % 60,
                i % 5000
            )),
            _ => {
                if format == Format::Json && i > 0 {
                    s.push_str(",\n");
                }
                s.push_str(&format!(
                    "{{\"eventId\":\"{id}\",\"ts\":\"2024-05-01T12:{:02}:{:02}Z\",\"durationMs\":{},\"kind\":\"click\",\"tags\":[\"a\",\"b\"]}}",
                    i % 60,
                    i % 60,
                    i % 5000
                ));
                if format == Format::Ndjson {
                    s.push('\n');
                }
            }
        }
    }
    if format == Format::Json {
        s.push_str("\n]\n");
    }
    s.into_bytes()
}

#[test]
#[ignore = "a measurement: cargo test --release -p bulk-ingest --lib format::tests::framing_speed -- --ignored --nocapture"]
fn framing_speed() {
    use std::time::Instant;
    let n = 1_000_000;
    for format in Format::ALL {
        let data = pop_like(n, format);
        let mb = data.len() as f64 / 1e6;
        let t = Instant::now();
        let mut f = framer(&data, format, FramerOptions::DEFAULT_CHUNK_SIZE).unwrap();
        let mut chunks = Vec::new();
        while let Some(c) = f.next_chunk().unwrap() {
            chunks.push(c);
        }
        let frame = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let rows: u64 = chunks.iter().map(|c| count_rows(c, format)).sum();
        let iterate = t.elapsed().as_secs_f64();
        assert_eq!(rows, n as u64);
        let t = Instant::now();
        let mut parsed = 0usize;
        match format {
            Format::Csv => {
                for c in &chunks {
                    let mut it = CsvRows::new(c);
                    while let Some(r) = it.next_record() {
                        parsed += r.ends.len();
                    }
                }
            }
            _ => {
                let mut buf = Vec::new();
                let mut buffers = simd_json::Buffers::default();
                for c in &chunks {
                    let rows: Box<dyn Iterator<Item = RawRow<'_>>> = if format == Format::Json {
                        Box::new(json_array_rows(c))
                    } else {
                        Box::new(ndjson_rows(c))
                    };
                    for r in rows {
                        buf.clear();
                        buf.extend_from_slice(r.bytes);
                        parsed += simd_json::to_tape_with_buffers(&mut buf, &mut buffers)
                            .map(|t| t.0.len())
                            .unwrap_or(0);
                    }
                }
            }
        }
        let parse = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let check = precheck(&data[..], format, None).unwrap();
        let pre = t.elapsed().as_secs_f64();
        assert_eq!(check.total_rows, n as u64);
        println!(
            "{format:6} {mb:6.1} MB: framer {:7.0} MB/s ({:5.1} M rows/s); row split {:7.0} MB/s; framer+split {:5.1} M rows/s; \
             rows+parse (csv-core records / simd-json tape) {:4.2} M rows/s [{parsed}]; precheck {:5.1} M rows/s",
            mb / frame,
            n as f64 / frame / 1e6,
            mb / iterate,
            n as f64 / (frame + iterate) / 1e6,
            n as f64 / parse / 1e6,
            n as f64 / pre / 1e6,
        );
    }
}

/// Every record as csv-core alone reads the whole input (header included).
fn csv_core_reference(input: &[u8]) -> Vec<Vec<String>> {
    let mut rdr = csv_core::Reader::new();
    let (mut out, mut ends) = (vec![0u8; 1 << 16], vec![0usize; 256]);
    let (mut nout, mut nend) = (0, 0);
    let mut rest = input;
    let mut records = Vec::new();
    loop {
        let (res, nin, o, e) = rdr.read_record(rest, &mut out[nout..], &mut ends[nend..]);
        rest = &rest[nin..];
        nout += o;
        nend += e;
        match res {
            csv_core::ReadRecordResult::Record => {
                let mut start = 0;
                let mut fields = Vec::new();
                for &e in &ends[..nend] {
                    fields.push(String::from_utf8(out[start..e].to_vec()).unwrap());
                    start = e;
                }
                records.push(fields);
                (nout, nend) = (0, 0);
            }
            csv_core::ReadRecordResult::End => return records,
            csv_core::ReadRecordResult::InputEmpty => {}
            other => panic!("reference buffers too small: {other:?}"),
        }
    }
}

#[test]
fn csv_fields_agree_with_csv_core_for_every_mix_of_quoted_and_plain_records() {
    // Plain records take a path of their own (cut in place); quoted ones go through csv-core.
    // Every terminator, empty cells, trailing commas, non-ASCII, quotes inside plain fields
    // and blank lines, in a seeded mix, read at every chunk size.
    let pieces: [&str; 12] = [
        "plain,cells,here",
        "\"quoted, comma\",x,y",
        ",,",
        "é,ü,\u{1F600}",
        "a\"b,c,d",
        "\"multi\nline\",\"q \"\"x\"\"\",z",
        "1,2,",
        "\"\",\"\",\"\"",
        " sp , ace ,",
        "x,\"cr\rin\",y",
        "one,two,three",
        "\"a\"\"\",b,c",
    ];
    let terms: [&str; 4] = ["\n", "\r\n", "\r", "\n\n"];
    let mut rng = Rng(0x9e37_79b9_u64);
    let mut next = |n: usize| rng.index(n);
    let mut s = String::from("h1,h2,h3\n");
    for _ in 0..300 {
        s.push_str(pieces[next(pieces.len())]);
        s.push_str(terms[next(terms.len())]);
    }
    s.push_str("last,no,newline");
    let want = csv_core_reference(s.as_bytes());
    let rows = rows_all_sizes(s.as_bytes(), Format::Csv);
    assert_eq!(fields_of(&rows), want[1..].to_vec());
}

/// What a test compares of a chunk: its bytes and where it lies.
type Parts = (Vec<u8>, u64, u64, ResumePoint, bool);

fn parts(c: &Chunk) -> Parts {
    (
        c.data.clone(),
        c.start_offset,
        c.first_line,
        c.end,
        c.is_last,
    )
}

#[test]
fn buffers_given_back_carry_the_next_chunks_unchanged() {
    // Buffers of finished chunks come back (dirty: a chunk's bytes are still in them) and are
    // reused; the chunks read must be those of a framer that allocates every one.
    let input = ndjson_sample(400);
    let want = chunks(input.as_bytes(), Format::Ndjson, 300).unwrap();
    let mut f = framer(input.as_bytes(), Format::Ndjson, 300).unwrap();
    let back = f.recycler();
    let mut given = Vec::new();
    let mut reused = 0;
    let mut got = Vec::new();
    while let Some(c) = f.next_chunk().unwrap() {
        reused += usize::from(given.contains(&c.data.as_ptr()));
        got.push(parts(&c));
        given.push(c.data.as_ptr());
        back.give(c.data);
    }
    let want: Vec<_> = want.into_iter().map(|c| parts(&c)).collect();
    assert_eq!(got, want);
    assert!(reused > want.len() / 2, "{reused} of {} reused", want.len());
}

/// Every record of a CSV reader: identity, raw bytes and fields, and whether it was cut in place.
#[allow(clippy::type_complexity)]
fn csv_records(mut rows: CsvRows<'_>) -> (Vec<(u32, u64, u64, Vec<u8>, Vec<String>)>, usize) {
    let (mut out, mut in_place) = (Vec::new(), 0);
    while let Some(rec) = rows.next_record() {
        in_place += usize::from(rec.sep == 1);
        let fields = (0..rec.len())
            .map(|i| rec.field(i).unwrap_or("?").to_string())
            .collect();
        let r = rec.raw;
        out.push((r.index, r.line, r.offset, r.bytes.to_vec(), fields));
    }
    (out, in_place)
}

#[test]
fn csv_in_place_cutter_agrees_with_csv_core_on_random_chunks() {
    // Records cut in place (64-byte block masks) against the same chunk read by csv-core alone:
    // random text heavy in commas, CR, LF, CRLF and multibyte UTF-8, with quotes from none to
    // many, at every length, so records start, straddle and end at every place of a block and
    // at the chunk's end (with or without a terminator).
    let runs = [
        ",",
        ",",
        ",",
        ",,",
        "\n",
        "\n",
        "\r",
        "\r\n",
        "\n\n",
        "a",
        "bc",
        "def",
        "0123456789",
        " ",
        "é",
        "ü",
        "\u{1F600}",
        "\u{2028}",
        "x,y",
        "\u{FEFF}",
    ];
    let mut rng = Rng(0xc5f_0b10c);
    let (mut records, mut in_place) = (0, 0);
    for case in 0..4000 {
        let quote_per_mille = rng.pick(&[0, 0, 0, 2, 10, 60, 300]);
        let len = match case % 4 {
            0 => rng.below(70),
            1 => rng.below(200),
            _ => rng.below(1200),
        } as usize;
        let mut s = String::new();
        while s.len() < len {
            if rng.below(1000) < quote_per_mille {
                s.push('"');
            } else {
                s.push_str(rng.pick(&runs));
            }
        }
        let chunk = Chunk {
            seq: 0,
            data: s.into_bytes(),
            start_offset: rng.below(1 << 30),
            first_line: 1 + rng.below(1000),
            end: ResumePoint::default(),
            is_last: true,
        };
        let (got, n) = csv_records(CsvRows::new(&chunk));
        let (want, _) = csv_records(CsvRows::new(&chunk).csv_core_only());
        assert_eq!(
            got,
            want,
            "case {case}: {:?}",
            String::from_utf8_lossy(&chunk.data)
        );
        assert_eq!(CsvRows::new(&chunk).count_remaining(), want.len() as u64);
        records += want.len();
        in_place += n;
    }
    assert!(
        in_place * 2 > records,
        "only {in_place} of {records} records were cut in place"
    );
}

#[test]
fn a_csv_reader_handed_from_chunk_to_chunk_reads_each_as_a_fresh_one() {
    // Chunks read one after another with the same csv-core reader and buffers must give what
    // a reader of their own gives: whatever state the reader was left in (inside a quoted field,
    // after a lone CR, part-way through the records, a grown output buffer), and a BOM at a
    // chunk's start is a data byte of its first field (kept) as it is for a fresh reader.
    let long = format!("\"{}\"\"q\"\"\",tail\n", "x,".repeat(900));
    let mut texts: Vec<String> = vec![
        "a,\"open quoted field that never closes\nstill, inside".into(),
        "\u{FEFF}x,y\r\n\u{FEFF}z,w\n".into(),
        "1,\"2\r\n".into(),
        "\u{FEFF}\"q\",r\n".into(),
        "a,b\r".into(),
        "\nc,d\n".into(),
        long,
        "e,f\n\"g\",h\n".into(),
        "\u{EF}x,y\n".into(),
    ];
    let runs = [
        ",",
        ",",
        "\n",
        "\r",
        "\r\n",
        "a",
        "bc",
        "0123456789",
        "é",
        "\u{FEFF}",
        "\"",
        "x,y",
    ];
    let mut rng = Rng(0x5eed_c0de);
    for _ in 0..600 {
        let len = rng.below(300) as usize;
        let mut s = String::new();
        if rng.below(4) == 0 {
            s.push('\u{FEFF}');
        }
        while s.len() < len {
            s.push_str(rng.pick(&runs));
        }
        texts.push(s);
    }
    for csv_core_only in [false, true] {
        // The first chunk gets a reader left inside a quoted field (as a header's reader can
        // be handed on).
        let mut rdr = csv_core::Reader::new();
        let (mut out, mut ends) = ([0u8; 64], [0usize; 8]);
        let (res, ..) = rdr.read_record(b"a,\"b,c", &mut out, &mut ends);
        assert_eq!(res, csv_core::ReadRecordResult::InputEmpty);
        let mut carried = CsvBuffers::from_reader(rdr);
        for (i, s) in texts.iter().enumerate() {
            let chunk = Chunk {
                seq: i as u64,
                data: s.clone().into_bytes(),
                start_offset: 10 * i as u64,
                first_line: 1 + i as u64,
                end: ResumePoint::default(),
                is_last: false,
            };
            let fresh = || {
                let rows = CsvRows::new(&chunk);
                if csv_core_only {
                    rows.csv_core_only()
                } else {
                    rows
                }
            };
            let (want, _) = csv_records(fresh());
            let mut rows =
                CsvRows::with_buffers(&chunk, std::str::from_utf8(&chunk.data).ok(), carried);
            if csv_core_only {
                rows = rows.csv_core_only();
            }
            // Every third chunk is left part-way, as a caller that stops early leaves it.
            let (mut got, stop) = (Vec::new(), i % 3 == 2);
            while let Some(rec) = rows.next_record() {
                let fields: Vec<String> = (0..rec.len())
                    .map(|k| rec.field(k).unwrap_or("?").to_string())
                    .collect();
                let r = rec.raw;
                got.push((r.index, r.line, r.offset, r.bytes.to_vec(), fields));
                if stop && got.len() * 2 >= want.len() {
                    break;
                }
            }
            assert_eq!(got[..], want[..got.len()], "chunk {i}: {s:?}");
            if !stop {
                assert_eq!(got.len(), want.len(), "chunk {i}: {s:?}");
            }
            carried = rows.into_buffers();
        }
    }
    // The BOM rule, spelled out: the first field keeps its U+FEFF.
    let chunk = Chunk {
        seq: 0,
        data: "\u{FEFF}x,y\n".as_bytes().to_vec(),
        start_offset: 0,
        first_line: 1,
        end: ResumePoint::default(),
        is_last: true,
    };
    let mut used = CsvRows::new(&chunk);
    while used.next_record().is_some() {}
    let mut rows = CsvRows::with_buffers(&chunk, None, used.into_buffers());
    let rec = rows.next_record().unwrap();
    assert_eq!(rec.field(0), Some("\u{FEFF}x"));
    assert_eq!(rec.field(1), Some("y"));
}

/// A reader that hands out its bytes a few hundred at most at a time and now and then fails
/// with `Interrupted` (to be retried), as pipes and sockets do.
struct Trickle<'a> {
    data: &'a [u8],
    rng: Rng,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rng.below(5) == 0 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = buf
            .len()
            .min(self.data.len())
            .min(1 + self.rng.below(700) as usize);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn short_reads_into_recycled_buffers_give_the_chunks_of_whole_reads() {
    // The framer reads into the stale bytes of buffers given back (a long row's big buffer,
    // then small ones): the chunks, their places and the decoded size are those of a framer
    // reading a slice into new buffers, plain or gzip, at any chunk size.
    let long = format!("{{\"x\":\"{}\"}}\n", "y".repeat(10_000));
    let ndjson = format!("{}{long}{}", ndjson_sample(1500), ndjson_sample(1500));
    let mut csv = String::from("\u{FEFF}id,name\r\n");
    for i in 0..3000 {
        match i % 5 {
            0 => csv.push_str(&format!(
                "{i},\"quoted, with \"\"quotes\"\"\nand a newline\"\r\n"
            )),
            1 => csv.push_str(&format!("{i},{}\r\n", "z".repeat(3000))),
            _ => csv.push_str(&format!("{i},plain é\r\n")),
        }
    }
    let elements: Vec<String> = (0..3000).map(|i| format!("{{\"id\":{i}}}")).collect();
    let json = format!("[{}]\n", elements.join(",\n"));
    let mut rng = Rng(0x7121_c4e5);
    for (format, text) in [
        (Format::Ndjson, ndjson.as_bytes()),
        (Format::Csv, csv.as_bytes()),
        (Format::Json, json.as_bytes()),
    ] {
        for zip in [false, true] {
            let input = if zip { gz(text) } else { text.to_vec() };
            for cs in [64, 5000, 70_000] {
                let want: Vec<_> = chunks(&input, format, cs)
                    .unwrap()
                    .into_iter()
                    .map(|c| parts(&c))
                    .collect();
                let src = Trickle {
                    data: &input,
                    rng: Rng(rng.next() | 1),
                };
                let mut f = Framer::new(src, format, opts(cs, None)).unwrap();
                let back = f.recycler();
                let mut got = Vec::new();
                while let Some(c) = f.next_chunk().unwrap() {
                    got.push(parts(&c));
                    back.give(c.data);
                }
                assert_eq!(got, want, "{format} gzip {zip} chunk size {cs}");
                assert_eq!(f.decoded_bytes(), text.len() as u64);
            }
        }
    }
    // A truncated gzip stream read in short reads fails as a whole read does, word for word.
    let z = gz(ndjson.as_bytes());
    let cut = &z[..z.len() * 2 / 3];
    for cs in [64, 70_000] {
        let whole = read_err(cut, Format::Ndjson, cs);
        let src = Trickle {
            data: cut,
            rng: Rng(0x5107),
        };
        let trickled = err_of(Framer::new(src, Format::Ndjson, opts(cs, None)).and_then(drain));
        assert_eq!(trickled.to_string(), whole.to_string());
        assert!(whole.to_string().contains("after"), "{whole}");
    }
}

#[test]
fn the_simd_utf8_check_agrees_with_std_on_where_text_goes_bad() {
    // Valid pieces of 1 to 4 bytes with now and then a broken one (a lone continuation byte,
    // a lead byte cut short, an overlong form, a surrogate, past U+10FFFF), at every place of
    // the 16-, 32- and 64-byte blocks a SIMD check works in.
    let good: [&[u8]; 6] = [
        b"a",
        b",",
        b"\n",
        "é".as_bytes(),
        "€".as_bytes(),
        "😀".as_bytes(),
    ];
    let bad: [&[u8]; 6] = [
        b"\x80",
        b"\xC3",
        b"\xE2\x82",
        b"\xC0\xAF",
        b"\xED\xA0\x80",
        b"\xF4\x90\x80\x80",
    ];
    let mut rng = Rng(0xbad_c0de);
    for case in 0..20_000 {
        let len = rng.below(200) as usize;
        let mut b = Vec::new();
        while b.len() < len {
            if rng.below(400) == 0 {
                b.extend_from_slice(rng.pick(&bad));
            } else {
                b.extend_from_slice(rng.pick(&good));
            }
        }
        let want = std::str::from_utf8(&b).map_err(|e| e.valid_up_to());
        assert_eq!(super::framer::utf8(&b), want, "case {case}: {b:?}");
    }
}
