//! The generator's record is only useful if it is exact, so these tests re-check every row of
//! generated files with an independent, deliberately naive `pop` 1.0 checker.

use std::collections::{HashMap, HashSet};

use super::*;

fn gen(format: Format, rows: u64, ratio: f64, seed: u64) -> (Vec<u8>, GenRecord) {
    let mut out = Vec::new();
    let rec = generate(
        &GenOptions {
            rows,
            invalid_ratio: ratio,
            seed,
            format,
        },
        &mut out,
    )
    .unwrap();
    (out, rec)
}

const FORMATS: [Format; 3] = [Format::Ndjson, Format::Json, Format::Csv];

/// A field value as the checker sees it, after the format's own typing.
enum Val {
    Str(String),
    /// A number, and whether it has no fractional part.
    Num(f64, bool),
    /// A value of the wrong type for the field.
    BadType,
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn digits(s: &str) -> Option<u32> {
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn is_date_time(s: &str) -> bool {
    // YYYY-MM-DD[Tt]HH:MM:SS[.f+](Z|z|±HH:MM)
    if s.len() < 20 || !s.is_char_boundary(10) || !s.is_char_boundary(19) {
        return false;
    }
    let (date, rest) = s.split_at(10);
    let (sep, rest) = rest.split_at(1);
    if sep != "T" && sep != "t" {
        return false;
    }
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3 || d[0].len() != 4 || d[1].len() != 2 || d[2].len() != 2 {
        return false;
    }
    let (Some(y), Some(m), Some(day)) = (digits(d[0]), digits(d[1]), digits(d[2])) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let dim = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > dim {
        return false;
    }
    let (time, mut zone) = rest.split_at(8);
    let t: Vec<&str> = time.split(':').collect();
    if t.len() != 3 || t.iter().any(|p| p.len() != 2) {
        return false;
    }
    let (Some(h), Some(mi), Some(sec)) = (digits(t[0]), digits(t[1]), digits(t[2])) else {
        return false;
    };
    if h > 23 || mi > 59 || sec > 60 {
        return false;
    }
    if let Some(f) = zone.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        zone = &f[n..];
    }
    match zone {
        "Z" | "z" => true,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && &z[3..4] == ":" => {
            matches!((digits(&z[1..3]), digits(&z[4..6])), (Some(h), Some(m)) if h <= 23 && m <= 59)
        }
        _ => false,
    }
}

/// Every row error of one row (field values by name), uniqueness last. Only valid rows enter
/// `ids`, which is exact for the generator (its invalid rows never reuse an id).
fn check(vals: &HashMap<String, Val>, ids: &mut HashSet<String>) -> Vec<&'static str> {
    check_fields(vals, ids)
        .into_iter()
        .map(|(_, c)| c)
        .collect()
}

/// [`check`] with the field of each error.
fn check_fields(
    vals: &HashMap<String, Val>,
    ids: &mut HashSet<String>,
) -> Vec<(String, &'static str)> {
    let mut errs = Vec::new();
    for k in vals.keys() {
        if !FIELDS.contains(&k.as_str()) {
            errs.push((k.clone(), "UNKNOWN_FIELD"));
        }
    }
    for (i, name) in FIELDS.iter().enumerate() {
        let Some(v) = vals.get(*name) else {
            if REQUIRED.contains(&i) {
                errs.push((name.to_string(), "REQUIRED"));
            }
            continue;
        };
        let numeric = matches!(i, DURATION_MS | IMPRESSIONS | LATITUDE | LONGITUDE);
        match (v, numeric) {
            (Val::BadType, _) | (Val::Str(_), true) | (Val::Num(..), false) => {
                errs.push((name.to_string(), "TYPE"))
            }
            (Val::Str(s), false) => match i {
                EVENT_ID if !is_uuid(s) => errs.push((name.to_string(), "FORMAT")),
                SCREEN_ID => {
                    let ok = s.len() == 10
                        && s.starts_with("SCR-")
                        && s[4..].bytes().all(|c| c.is_ascii_digit());
                    if !ok {
                        errs.push((name.to_string(), "PATTERN"));
                    }
                }
                CREATIVE_ID | CAMPAIGN_ID => {
                    let n = s.chars().count();
                    if n < 1 {
                        errs.push((name.to_string(), "MIN_LENGTH"));
                    } else if n > 64 {
                        errs.push((name.to_string(), "MAX_LENGTH"));
                    }
                }
                PLAYED_AT if !is_date_time(s) => errs.push((name.to_string(), "FORMAT")),
                VENUE_TYPE if !VENUE_TYPES.contains(&s.as_str()) => {
                    errs.push((name.to_string(), "ENUM"))
                }
                PLAY_STATUS if !PLAY_STATUSES.contains(&s.as_str()) => {
                    errs.push((name.to_string(), "ENUM"))
                }
                _ => {}
            },
            (Val::Num(x, int), true) => {
                let (lo, hi) = match i {
                    DURATION_MS => (1.0, 3_600_000.0),
                    IMPRESSIONS => (0.0, f64::INFINITY),
                    LATITUDE => (-90.0, 90.0),
                    _ => (-180.0, 180.0),
                };
                if i == DURATION_MS && !int {
                    errs.push((name.to_string(), "TYPE"));
                } else if *x < lo {
                    errs.push((name.to_string(), "MINIMUM"));
                } else if *x > hi {
                    errs.push((name.to_string(), "MAXIMUM"));
                }
            }
        }
    }
    if errs.is_empty() {
        if let Some(Val::Str(id)) = vals.get("eventId") {
            if !ids.insert(id.clone()) {
                errs.push(("eventId".to_string(), "UNIQUE"));
            }
        }
    }
    errs
}

fn json_vals(v: &serde_json::Value) -> Option<HashMap<String, Val>> {
    let obj = v.as_object()?;
    Some(
        obj.iter()
            .map(|(k, v)| {
                let val = match v {
                    serde_json::Value::String(s) => Val::Str(s.clone()),
                    serde_json::Value::Number(n) => {
                        let x = n.as_f64().unwrap();
                        Val::Num(x, x.fract() == 0.0)
                    }
                    _ => Val::BadType,
                };
                (k.clone(), val)
            })
            .collect(),
    )
}

fn csv_number(s: &str) -> Option<f64> {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let all = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    let ok = match t.split_once('.') {
        Some((a, b)) => all(a) && all(b),
        None => all(t),
    };
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

fn csv_vals(cells: &[String]) -> HashMap<String, Val> {
    let mut m = HashMap::new();
    for (i, c) in cells.iter().enumerate() {
        if c.is_empty() {
            continue;
        }
        let v = match i {
            DURATION_MS => {
                let t = c.strip_prefix(['-', '+']).unwrap_or(c);
                if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                    Val::Num(c.parse().unwrap(), true)
                } else {
                    Val::BadType
                }
            }
            IMPRESSIONS | LATITUDE | LONGITUDE => match csv_number(c) {
                Some(x) => Val::Num(x, x.fract() == 0.0),
                None => Val::BadType,
            },
            _ => Val::Str(c.clone()),
        };
        m.insert(FIELDS[i].to_string(), v);
    }
    m
}

/// RFC 4180 records through csv-core.
fn csv_records(data: &[u8]) -> Vec<Vec<String>> {
    csv_records_lines(data)
        .into_iter()
        .map(|(_, r)| r)
        .collect()
}

/// RFC 4180 records through csv-core, each with the 1-based physical line it starts on.
fn csv_records_lines(data: &[u8]) -> Vec<(u64, Vec<String>)> {
    let mut rdr = csv_core::Reader::new();
    let mut pos = 0;
    let mut start = None;
    let mut out = vec![0u8; 1 << 16];
    let mut ends = vec![0usize; 64];
    let (mut outlen, mut endlen) = (0, 0);
    let mut recs = Vec::new();
    // Newlines in data[..counted], counted incrementally (the files can be large).
    let (mut counted, mut newlines) = (0, 0u64);
    loop {
        if start.is_none() {
            let skip = data[pos..]
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            start = Some(pos + skip);
        }
        let (res, nin, nout, nend) =
            rdr.read_record(&data[pos..], &mut out[outlen..], &mut ends[endlen..]);
        pos += nin;
        outlen += nout;
        endlen += nend;
        match res {
            csv_core::ReadRecordResult::InputEmpty => {}
            csv_core::ReadRecordResult::OutputFull => out.resize(out.len() * 2, 0),
            csv_core::ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
            csv_core::ReadRecordResult::Record => {
                let mut from = 0;
                let rec = ends[..endlen]
                    .iter()
                    .map(|&e| {
                        let f = String::from_utf8(out[from..e].to_vec()).unwrap();
                        from = e;
                        f
                    })
                    .collect();
                let s = start.take().unwrap();
                newlines += data[counted..s].iter().filter(|&&b| b == b'\n').count() as u64;
                counted = s;
                let line = 1 + newlines;
                recs.push((line, rec));
                outlen = 0;
                endlen = 0;
            }
            csv_core::ReadRecordResult::End => break,
        }
    }
    recs
}

/// The row errors of every data row of a generated file, per the independent checker.
fn check_file(format: Format, data: &[u8]) -> Vec<Vec<&'static str>> {
    let text = std::str::from_utf8(data).unwrap();
    let mut ids = HashSet::new();
    match format {
        Format::Ndjson => text
            .lines()
            .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
                Ok(v) => json_vals(&v).map_or(vec!["MALFORMED_ROW"], |m| check(&m, &mut ids)),
                Err(_) => vec!["MALFORMED_ROW"],
            })
            .collect(),
        Format::Json => {
            let v: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
            // One element per line, as documented.
            assert_eq!(text.lines().count(), v.len() + 2);
            v.iter()
                .map(|v| json_vals(v).map_or(vec!["MALFORMED_ROW"], |m| check(&m, &mut ids)))
                .collect()
        }
        Format::Csv => {
            let recs = csv_records(data);
            assert_eq!(recs[0], FIELDS.to_vec());
            recs[1..]
                .iter()
                .map(|r| {
                    if r.len() != FIELDS.len() {
                        vec!["MALFORMED_ROW"]
                    } else {
                        check(&csv_vals(r), &mut ids)
                    }
                })
                .collect()
        }
    }
}

#[test]
fn same_seed_same_bytes() {
    for f in FORMATS {
        let (a, ra) = gen(f, 2000, 0.1, 7);
        let (b, rb) = gen(f, 2000, 0.1, 7);
        assert_eq!(a, b);
        assert_eq!(ra, rb);
        let (c, _) = gen(f, 2000, 0.1, 8);
        assert_ne!(a, c);
    }
}

#[test]
fn known_first_row() {
    // Pins the PRNG and formatting: a change here changes every generated benchmark file.
    let (a, _) = gen(Format::Ndjson, 1, 0.0, 42);
    let line = std::str::from_utf8(&a).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let id = v["eventId"].as_str().unwrap();
    assert!(is_uuid(id) && &id[14..15] == "4", "{id}");
    assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    assert_eq!(id, id.to_ascii_lowercase());
    assert_eq!(
        line,
        "{\"eventId\":\"956eeb2f-2632-47bd-83f1-66b233e3ef28\",\"screenId\":\"SCR-278601\",\
         \"creativeId\":\"CR-1v7scm\",\"campaignId\":\"CMP-49299\",\
         \"playedAt\":\"2025-01-10T12:28:49.203Z\",\"durationMs\":59964,\"venueType\":\"gym\",\
         \"latitude\":-76.850322,\"longitude\":43.134853,\"playStatus\":\"interrupted\"}\n"
    );
}

#[test]
fn record_counts_add_up() {
    for f in FORMATS {
        for (rows, ratio) in [(0, 0.1), (1, 1.0), (1000, 0.0), (1000, 0.05), (3000, 1.0)] {
            let (data, rec) = gen(f, rows, ratio, 3);
            assert_eq!(rec.rows, rows);
            assert_eq!(rec.valid_rows + rec.invalid_rows, rec.rows);
            assert_eq!(rec.invalid.len() as u64, rec.invalid_rows);
            assert_eq!(rec.bytes, data.len() as u64);
            assert!(rec.invalid.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(rec.invalid.iter().all(|(r, _)| (1..=rows).contains(r)));
            if ratio == 0.0 {
                assert_eq!(rec.invalid_rows, 0);
            }
        }
    }
}

#[test]
fn invalid_ratio_is_roughly_honoured() {
    let (_, rec) = gen(Format::Ndjson, 20_000, 0.05, 11);
    assert!(
        (800..1200).contains(&rec.invalid_rows),
        "{}",
        rec.invalid_rows
    );
}

#[test]
fn every_kind_appears() {
    for f in FORMATS {
        let (_, rec) = gen(f, 1000, 0.2, 5);
        let got: HashSet<&str> = rec.invalid.iter().map(|(_, c)| *c).collect();
        let want: HashSet<&str> = defect_codes(f).into_iter().collect();
        assert_eq!(got, want, "{f:?}");
        assert_eq!(want.len(), if f == Format::Csv { 10 } else { 12 });
    }
}

#[test]
fn record_matches_independent_check() {
    for f in FORMATS {
        for (seed, ratio) in [(1, 0.2), (2, 0.05), (3, 0.9), (4, 1.0)] {
            let (data, rec) = gen(f, 3000, ratio, seed);
            let errs = check_file(f, &data);
            assert_eq!(errs.len() as u64, rec.rows, "{f:?}");
            let mut invalid = Vec::new();
            for (i, e) in errs.iter().enumerate() {
                assert!(e.len() <= 1, "{f:?} row {}: {e:?}", i + 1);
                if let Some(c) = e.first() {
                    invalid.push((i as u64 + 1, *c));
                }
            }
            assert_eq!(invalid, rec.invalid, "{f:?} seed {seed}");
        }
    }
}

#[test]
fn valid_rows_are_well_formed() {
    let (data, rec) = gen(Format::Ndjson, 2000, 0.2, 9);
    let bad: HashSet<u64> = rec.invalid.iter().map(|(r, _)| *r).collect();
    for (i, line) in std::str::from_utf8(&data).unwrap().lines().enumerate() {
        if !bad.contains(&(i as u64 + 1)) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v.is_object());
        }
    }
    let (data, rec) = gen(Format::Csv, 2000, 0.2, 9);
    let bad: HashSet<u64> = rec.invalid.iter().map(|(r, _)| *r).collect();
    let recs = csv_records(&data);
    assert_eq!(recs.len() as u64, rec.rows + 1);
    for (i, r) in recs[1..].iter().enumerate() {
        if !bad.contains(&(i as u64 + 1)) {
            assert_eq!(r.len(), FIELDS.len());
        }
    }
}

#[test]
fn unique_rows_repeat_an_earlier_valid_id() {
    for f in [Format::Ndjson, Format::Json] {
        let (data, rec) = gen(f, 3000, 0.2, 13);
        let text = std::str::from_utf8(&data).unwrap();
        let rows: Vec<serde_json::Value> = match f {
            Format::Json => serde_json::from_str(text).unwrap(),
            _ => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or(serde_json::Value::Null))
                .collect(),
        };
        let codes: HashMap<u64, &str> = rec.invalid.iter().copied().collect();
        let mut valid_ids = HashSet::new();
        let mut uniques = 0;
        for (i, v) in rows.iter().enumerate() {
            let n = i as u64 + 1;
            match codes.get(&n) {
                None => assert!(valid_ids.insert(v["eventId"].as_str().unwrap().to_string())),
                Some(&"UNIQUE") => {
                    uniques += 1;
                    assert!(
                        valid_ids.contains(v["eventId"].as_str().unwrap()),
                        "row {n}"
                    );
                }
                Some(_) => {}
            }
        }
        assert!(uniques > 0);
    }
}

#[test]
fn csv_quotes_what_needs_quoting() {
    let (data, _) = gen(Format::Csv, 5000, 0.0, 21);
    let text = std::str::from_utf8(&data).unwrap();
    assert!(text.starts_with(
        "eventId,screenId,creativeId,campaignId,playedAt,durationMs,impressions,venueType,latitude,longitude,playStatus\r\n"
    ));
    assert!(text.contains("\"\"holiday\"\""));
    assert!(text.contains("\nsecond line\""));
    let recs = csv_records(&data);
    assert_eq!(recs.len(), 5001);
    assert!(recs.iter().any(|r| r[2].contains(", \"holiday\" cut")));
}

#[test]
fn date_time_checker_sanity() {
    assert!(is_date_time("2025-12-09T10:15:30.123Z"));
    assert!(is_date_time("2024-02-29T00:00:00Z"));
    assert!(!is_date_time("2025-02-29T00:00:00Z"));
    assert!(!is_date_time("2025-02-30T10:15:30.123Z"));
    assert!(!is_date_time("2025-12-09 10:15:30Z"));
    assert!(!is_date_time("2025-12-09T10:15:30"));
    assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    assert_eq!(civil_from_days(20_453), (2025, 12, 31));
}

/// One expected row error of `testdata/expected.json`: row, line, field, code.
type Expected = (u64, u64, Option<String>, String);

fn testdata(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name);
    std::fs::read(p).unwrap()
}

/// Content 1.0 row errors, by column name, with the file's own uniqueness of `code`.
fn check_content(
    row: &HashMap<&str, &str>,
    codes: &mut HashSet<String>,
) -> Vec<(String, &'static str)> {
    const MIME: [&str; 9] = [
        "application/pdf",
        "video/mp4",
        "video/webm",
        "video/x-youtube",
        "application/epub",
        "application/vnd.ekstep.ecml-archive",
        "application/vnd.ekstep.html-archive",
        "application/vnd.ekstep.h5p-archive",
        "text/x-url",
    ];
    const CTYPE: [&str; 8] = [
        "Resource",
        "eTextBook",
        "TeachingMethod",
        "PracticeQuestionSet",
        "ExplanationResource",
        "ExperientialResource",
        "ConceptMap",
        "SelfAssess",
    ];
    const AUDIENCE: [&str; 5] = ["Student", "Teacher", "Administrator", "Parent", "Other"];
    const COLS: [(&str, bool); 13] = [
        ("name", true),
        ("code", true),
        ("mimeType", true),
        ("contentType", true),
        ("board", true),
        ("medium", true),
        ("gradeLevel", true),
        ("subject", true),
        ("fileUrl", true),
        ("description", false),
        ("appIcon", false),
        ("keywords", false),
        ("audience", false),
    ];
    let url = |v: &str| {
        (v.starts_with("http://") && v.len() > 7) || (v.starts_with("https://") && v.len() > 8)
    };
    let mut errs = Vec::new();
    for (col, required) in COLS {
        let v = row.get(col).copied().unwrap_or("");
        if v.is_empty() {
            if required {
                errs.push((col.to_string(), "REQUIRED"));
            }
            continue;
        }
        let n = v.chars().count();
        let code = match col {
            "code"
                if !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) =>
            {
                "PATTERN"
            }
            "mimeType" if !MIME.contains(&v) => "ENUM",
            "contentType" if !CTYPE.contains(&v) => "ENUM",
            "audience" if !AUDIENCE.contains(&v) => "ENUM",
            "fileUrl" | "appIcon" if !url(v) => "PATTERN",
            "description" if n > 2000 => "MAX_LENGTH",
            "name" | "board" | "medium" | "gradeLevel" | "subject" if n > 256 => "MAX_LENGTH",
            _ => continue,
        };
        errs.push((col.to_string(), code));
    }
    if errs.is_empty() && !codes.insert(row["code"].to_string()) {
        errs.push(("code".to_string(), "UNIQUE"));
    }
    errs
}

/// Recomputes the row errors of a `testdata/` file that should parse: (row, line, field, code).
fn testdata_errors(dataset: &str, format: &str, data: &[u8]) -> (u64, Vec<Expected>) {
    let text = std::str::from_utf8(data).unwrap();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut ids = HashSet::new();
    let mut out = Vec::new();
    let mut rows = 0;
    let mut push = |rows: u64, line: u64, errs: Vec<(Option<String>, &str)>| {
        assert!(
            errs.len() <= 1,
            "row {rows}: one error per row in testdata, got {errs:?}"
        );
        for (f, c) in errs {
            out.push((rows, line, f, c.to_string()));
        }
    };
    let named = |v: Vec<(String, &'static str)>| v.into_iter().map(|(f, c)| (Some(f), c)).collect();
    match (dataset, format) {
        ("pop", "ndjson" | "json") => {
            let lines: Vec<&str> = text.lines().collect();
            let body = if format == "json" {
                // One element per line between "[" and "]"; also parses as a whole.
                let all: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
                assert_eq!((lines[0], lines[lines.len() - 1]), ("[", "]"));
                assert_eq!(all.len(), lines.len() - 2);
                &lines[1..lines.len() - 1]
            } else {
                &lines[..]
            };
            let first = if format == "json" { 2 } else { 1 };
            for (i, l) in body.iter().enumerate() {
                let l = l.strip_suffix(',').unwrap_or(l);
                if l.trim().is_empty() {
                    continue;
                }
                rows += 1;
                let errs = match serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| json_vals(&v))
                {
                    Some(m) => named(check_fields(&m, &mut ids)),
                    None => vec![(None, "MALFORMED_ROW")],
                };
                push(rows, first + i as u64, errs);
            }
        }
        ("pop", "csv") => {
            let recs = csv_records_lines(text.as_bytes());
            assert_eq!(recs[0].1, FIELDS.to_vec());
            for (line, r) in &recs[1..] {
                rows += 1;
                let errs = if r.len() != FIELDS.len() {
                    vec![(None, "MALFORMED_ROW")]
                } else {
                    named(check_fields(&csv_vals(r), &mut ids))
                };
                push(rows, *line, errs);
            }
        }
        ("content", "csv") => {
            let recs = csv_records_lines(text.as_bytes());
            let header = &recs[0].1;
            for (line, r) in &recs[1..] {
                rows += 1;
                let errs = if r.len() != header.len() {
                    vec![(None, "MALFORMED_ROW")]
                } else {
                    let m: HashMap<&str, &str> = header
                        .iter()
                        .map(String::as_str)
                        .zip(r.iter().map(String::as_str))
                        .collect();
                    named(check_content(&m, &mut ids))
                };
                push(rows, *line, errs);
            }
        }
        other => panic!("no checker for {other:?}"),
    }
    (rows, out)
}

#[test]
fn testdata_expectations_hold() {
    let expected: serde_json::Value = serde_json::from_slice(&testdata("expected.json")).unwrap();
    let mut checked = 0;
    for (name, exp) in expected.as_object().unwrap() {
        let mut data = testdata(name);
        if name.ends_with(".gz") {
            let mut plain = Vec::new();
            let res = std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(&data[..]),
                &mut plain,
            );
            if exp.get("fileError").is_some() {
                assert!(res.is_err(), "{name} should not decompress");
                continue;
            }
            res.unwrap();
            data = plain;
        }
        if let Some(code) = exp.get("fileError") {
            // File-level errors: check the reason each file was built for is there.
            let ok = match code.as_str().unwrap() {
                "CORRUPTED_FILE" if name.ends_with(".csv") => std::str::from_utf8(&data).is_err(),
                "CORRUPTED_FILE" => {
                    serde_json::from_slice::<serde_json::Value>(&data).is_err()
                        && serde_json::from_slice::<serde_json::Value>(&[&data[..], b"]"].concat())
                            .is_ok()
                }
                "INVALID_FILE_FORMAT" => {
                    serde_json::from_slice::<serde_json::Value>(&data).is_err() && data[0] == b'{'
                }
                "INVALID_FILE_TEMPLATE" => {
                    let header = &csv_records(&data)[0];
                    let required: &[&str] = if exp["dataset"] == "pop" {
                        &["eventId", "screenId", "playedAt"]
                    } else {
                        &["fileUrl"]
                    };
                    required.iter().any(|c| !header.iter().any(|h| h == c))
                }
                other => panic!("{name}: unexpected {other}"),
            };
            assert!(ok, "{name}");
            continue;
        }
        let (rows, errs) = testdata_errors(
            exp["dataset"].as_str().unwrap(),
            exp["format"].as_str().unwrap(),
            &data,
        );
        let want: Vec<Expected> = exp["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e[0].as_u64().unwrap(),
                    e[1].as_u64().unwrap(),
                    e[2].as_str().map(str::to_string),
                    e[3].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(errs, want, "{name}");
        assert_eq!(exp["totalRows"], rows, "{name}");
        assert_eq!(exp["errorRows"], errs.len() as u64, "{name}");
        assert_eq!(exp["validRows"], rows - errs.len() as u64, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 10);
}
