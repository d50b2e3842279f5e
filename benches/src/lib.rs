//! A seeded, deterministic generator of POP-event files (`pop` 1.0, see `DESIGN.md`).
//!
//! The same [`GenOptions`] always give the same bytes, on every platform: the generator uses its
//! own splitmix64 PRNG and formats every number itself. Alongside the file it returns a
//! [`GenRecord`]: exactly which rows it made invalid and the row error code each must produce.
//! Every invalid row carries exactly one defect; the defects cycle through every row error kind
//! the format can express.

pub mod raw;

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::str::FromStr;

/// The output format of a generated file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON object per line (LF line ends).
    Ndjson,
    /// One top-level JSON array, one element per line: `[\n{...},\n{...}\n]\n`.
    Json,
    /// RFC 4180 CSV with the fixed [`FIELDS`] header and CRLF line ends.
    Csv,
}

impl Format {
    /// `"ndjson"`, `"json"` or `"csv"` (also the usual file extension).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(format!(
                "unknown format '{other}': expected ndjson, json or csv"
            )),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenOptions {
    /// Number of data rows.
    pub rows: u64,
    /// Share of rows made invalid, e.g. `0.05` (each row independently, from the seeded PRNG).
    pub invalid_ratio: f64,
    /// PRNG seed: the same seed gives the same bytes.
    pub seed: u64,
    /// Output format.
    pub format: Format,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            rows: 1000,
            invalid_ratio: 0.05,
            seed: 1,
            format: Format::Ndjson,
        }
    }
}

/// The generator's record of what it wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenRecord {
    /// Data rows written (`valid_rows + invalid_rows`).
    pub rows: u64,
    /// Rows that satisfy every `pop` 1.0 rule.
    pub valid_rows: u64,
    /// Rows with exactly one injected defect.
    pub invalid_rows: u64,
    /// `(1-based row, expected row error code)` of every invalid row, in row order.
    pub invalid: Vec<(u64, &'static str)>,
    /// Bytes written (uncompressed).
    pub bytes: u64,
}

/// The `pop` 1.0 fields in schema order; also the fixed CSV header.
pub const FIELDS: [&str; 11] = [
    "eventId",
    "screenId",
    "creativeId",
    "campaignId",
    "playedAt",
    "durationMs",
    "impressions",
    "venueType",
    "latitude",
    "longitude",
    "playStatus",
];

/// `venueType` enum of `pop` 1.0.
pub const VENUE_TYPES: [&str; 6] = ["transit", "retail", "outdoor", "airport", "gym", "office"];
/// `playStatus` enum of `pop` 1.0.
pub const PLAY_STATUSES: [&str; 3] = ["completed", "interrupted", "skipped"];

const EVENT_ID: usize = 0;
const SCREEN_ID: usize = 1;
const CREATIVE_ID: usize = 2;
const CAMPAIGN_ID: usize = 3;
const PLAYED_AT: usize = 4;
const DURATION_MS: usize = 5;
const IMPRESSIONS: usize = 6;
const VENUE_TYPE: usize = 7;
const LATITUDE: usize = 8;
const LONGITUDE: usize = 9;
const PLAY_STATUS: usize = 10;
const REQUIRED: [usize; 8] = [
    EVENT_ID,
    SCREEN_ID,
    CREATIVE_ID,
    CAMPAIGN_ID,
    PLAYED_AT,
    DURATION_MS,
    VENUE_TYPE,
    PLAY_STATUS,
];

/// The kinds of defect, in the order the generator cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Defect {
    Required,
    Type,
    Pattern,
    Enum,
    MinLength,
    MaxLength,
    Minimum,
    Maximum,
    Format,
    Unique,
    UnknownField,
    MalformedRow,
}

const ALL_DEFECTS: [Defect; 12] = [
    Defect::Required,
    Defect::Type,
    Defect::Pattern,
    Defect::Enum,
    Defect::MinLength,
    Defect::MaxLength,
    Defect::Minimum,
    Defect::Maximum,
    Defect::Format,
    Defect::Unique,
    Defect::UnknownField,
    Defect::MalformedRow,
];

/// CSV cannot express an unknown field (the header is fixed) nor an empty string (an empty cell
/// is a missing value, so `REQUIRED`, not `MIN_LENGTH`).
const CSV_DEFECTS: [Defect; 10] = [
    Defect::Required,
    Defect::Type,
    Defect::Pattern,
    Defect::Enum,
    Defect::MaxLength,
    Defect::Minimum,
    Defect::Maximum,
    Defect::Format,
    Defect::Unique,
    Defect::MalformedRow,
];

impl Defect {
    fn code(self) -> &'static str {
        match self {
            Defect::Required => "REQUIRED",
            Defect::Type => "TYPE",
            Defect::Pattern => "PATTERN",
            Defect::Enum => "ENUM",
            Defect::MinLength => "MIN_LENGTH",
            Defect::MaxLength => "MAX_LENGTH",
            Defect::Minimum => "MINIMUM",
            Defect::Maximum => "MAXIMUM",
            Defect::Format => "FORMAT",
            Defect::Unique => "UNIQUE",
            Defect::UnknownField => "UNKNOWN_FIELD",
            Defect::MalformedRow => "MALFORMED_ROW",
        }
    }
}

fn defects(format: Format) -> &'static [Defect] {
    match format {
        Format::Csv => &CSV_DEFECTS,
        Format::Ndjson | Format::Json => &ALL_DEFECTS,
    }
}

/// The row error codes the generator injects in `format`, in cycling order.
pub fn defect_codes(format: Format) -> Vec<&'static str> {
    defects(format).iter().map(|d| d.code()).collect()
}

/// splitmix64: tiny, fast, and the same on every platform.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-high.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64 + 1;
        lo + self.below(span) as i64
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < p
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// How a cell is written: absent (omitted in JSON, empty in CSV), a JSON string, or a raw JSON
/// literal (numbers). CSV writes the text of both the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Absent,
    Str,
    Raw,
}

/// A malformed row, written instead of the cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Malformed {
    /// NDJSON: a line that is not valid JSON.
    TruncatedObject,
    /// NDJSON / JSON: an array instead of an object.
    Array,
    /// JSON: a number instead of an object.
    Number,
    /// CSV: a record with only this many cells.
    FewCells(usize),
}

struct Row {
    kind: [Kind; 11],
    text: [String; 11],
    uuid: [u8; 16],
    /// Insert `"colour":"red"` before the field with this index (11 = at the end).
    extra_at: Option<usize>,
    malformed: Option<Malformed>,
}

impl Row {
    fn new() -> Self {
        Row {
            kind: [Kind::Absent; 11],
            text: Default::default(),
            uuid: [0; 16],
            extra_at: None,
            malformed: None,
        }
    }

    fn set(&mut self, i: usize, kind: Kind, value: &str) {
        self.kind[i] = kind;
        self.text[i].clear();
        self.text[i].push_str(value);
    }
}

const RESERVOIR: usize = 1024;

/// Generates one file into `out` and returns the record of what it wrote.
pub fn generate(opts: &GenOptions, out: &mut impl Write) -> io::Result<GenRecord> {
    let mut w = Counting {
        inner: BufWriter::with_capacity(1 << 16, out),
        bytes: 0,
    };
    let mut rng = SplitMix64::new(opts.seed);
    let kinds = defects(opts.format);
    let mut next_kind = 0usize;
    let mut rec = GenRecord::default();
    // A uniform sample of earlier valid rows' event ids, for UNIQUE rows.
    let mut reservoir: Vec<[u8; 16]> = Vec::with_capacity(RESERVOIR);
    let mut row = Row::new();
    let mut line = String::with_capacity(512);
    // How often each defect kind has been injected so far: picks the form of the next one.
    let mut seen = [0u64; ALL_DEFECTS.len()];

    match opts.format {
        Format::Csv => {
            line.push_str(&FIELDS.join(","));
            line.push_str("\r\n");
            w.write_all(line.as_bytes())?;
        }
        Format::Json => w.write_all(b"[\n")?,
        Format::Ndjson => {}
    }

    for n in 1..=opts.rows {
        valid_row(&mut rng, &mut row);
        let mut defect = None;
        if rng.chance(opts.invalid_ratio) {
            let mut d = kinds[next_kind % kinds.len()];
            next_kind += 1;
            if d == Defect::Unique && reservoir.is_empty() {
                d = kinds[next_kind % kinds.len()];
                next_kind += 1;
            }
            let v = seen[d as usize];
            seen[d as usize] += 1;
            inject(&mut rng, &mut row, d, opts.format, v, &reservoir);
            defect = Some(d);
        }
        match defect {
            Some(d) => {
                rec.invalid_rows += 1;
                rec.invalid.push((n, d.code()));
            }
            None => {
                rec.valid_rows += 1;
                if reservoir.len() < RESERVOIR {
                    reservoir.push(row.uuid);
                } else {
                    let j = rng.below(rec.valid_rows) as usize;
                    if j < RESERVOIR {
                        reservoir[j] = row.uuid;
                    }
                }
            }
        }
        rec.rows += 1;

        line.clear();
        match opts.format {
            Format::Ndjson => {
                write_json_row(&row, &mut line);
                line.push('\n');
            }
            Format::Json => {
                if n > 1 {
                    line.push_str(",\n");
                }
                write_json_row(&row, &mut line);
            }
            Format::Csv => {
                write_csv_row(&row, &mut line);
                line.push_str("\r\n");
            }
        }
        w.write_all(line.as_bytes())?;
    }

    if opts.format == Format::Json {
        if opts.rows > 0 {
            w.write_all(b"\n")?;
        }
        w.write_all(b"]\n")?;
    }
    w.inner.flush()?;
    rec.bytes = w.bytes;
    Ok(rec)
}

struct Counting<W: Write> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Counting<W> {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        self.bytes += b.len() as u64;
        self.inner.write_all(b)
    }
}

fn uuid_text(b: &[u8; 16], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[(byte >> 4) as usize] as char);
        out.push(HEX[(byte & 0xf) as usize] as char);
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A fixed-point decimal `micro / 10^scale` written with exactly `scale` fraction digits.
fn decimal(micro: i64, scale: u32, out: &mut String) {
    let p = 10i64.pow(scale);
    if micro < 0 {
        out.push('-');
    }
    let a = micro.unsigned_abs();
    let _ = write!(out, "{}", a / p as u64);
    if scale > 0 {
        let _ = write!(out, ".{:0width$}", a % p as u64, width = scale as usize);
    }
}

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Fills `row` with a row that satisfies every `pop` 1.0 rule.
fn valid_row(rng: &mut SplitMix64, row: &mut Row) {
    row.extra_at = None;
    row.malformed = None;
    let mut s = String::with_capacity(64);

    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    b[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    row.uuid = b;
    uuid_text(&b, &mut s);
    row.set(EVENT_ID, Kind::Str, &s);

    s.clear();
    let _ = write!(s, "SCR-{:06}", rng.below(1_000_000));
    row.set(SCREEN_ID, Kind::Str, &s);

    // creativeId: mostly a short id; now and then one that needs quoting in CSV and escaping
    // in JSON, or one with non-ASCII letters (length counts characters, not bytes).
    s.clear();
    s.push_str("CR-");
    for _ in 0..rng.range(4, 10) {
        s.push(BASE36[rng.below(36) as usize] as char);
    }
    match rng.below(128) {
        0 | 1 => s.push_str(", \"holiday\" cut"),
        2 => s.push_str("\nsecond line"),
        3 | 4 => s.push_str("-été-Ωmega"),
        _ => {}
    }
    row.set(CREATIVE_ID, Kind::Str, &s);

    s.clear();
    let _ = write!(s, "CMP-{}", rng.range(1, 99_999));
    row.set(CAMPAIGN_ID, Kind::Str, &s);

    s.clear();
    let (y, mo, d) = civil_from_days(rng.range(19_723, 20_453)); // 2024-01-01 ..= 2025-12-31
    let secs = rng.below(86_400);
    let _ = write!(
        s,
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    match rng.below(10) {
        0 => {}
        1 => {
            let _ = write!(s, ".{:06}", rng.below(1_000_000));
        }
        _ => {
            let _ = write!(s, ".{:03}", rng.below(1000));
        }
    }
    s.push('Z');
    row.set(PLAYED_AT, Kind::Str, &s);

    s.clear();
    let ms = match rng.below(200) {
        0 => 1,
        1 => 3_600_000,
        _ => rng.range(1000, 120_000),
    };
    let _ = write!(s, "{ms}");
    row.set(DURATION_MS, Kind::Raw, &s);

    s.clear();
    match rng.below(10) {
        0 | 1 => row.set(IMPRESSIONS, Kind::Absent, ""),
        2..=4 => {
            decimal(rng.range(0, 50_000), 2, &mut s);
            row.set(IMPRESSIONS, Kind::Raw, &s);
        }
        _ => {
            let _ = write!(s, "{}", rng.below(500));
            row.set(IMPRESSIONS, Kind::Raw, &s);
        }
    }

    let venue = rng.pick(&VENUE_TYPES);
    row.set(VENUE_TYPE, Kind::Str, venue);

    for (i, limit) in [(LATITUDE, 90_000_000i64), (LONGITUDE, 180_000_000)] {
        s.clear();
        if rng.below(100) < 15 {
            row.set(i, Kind::Absent, "");
        } else {
            decimal(rng.range(-limit, limit), 6, &mut s);
            row.set(i, Kind::Raw, &s);
        }
    }

    let status = match rng.below(10) {
        0 => "interrupted",
        1 => "skipped",
        _ => "completed",
    };
    row.set(PLAY_STATUS, Kind::Str, status);
}

/// Gives `row` exactly one defect of kind `d`. `v` (how many of this kind came before) picks
/// among the forms of that defect.
fn inject(
    rng: &mut SplitMix64,
    row: &mut Row,
    d: Defect,
    format: Format,
    v: u64,
    reservoir: &[[u8; 16]],
) {
    let csv = format == Format::Csv;
    match d {
        Defect::Required => {
            let i = REQUIRED[(v % REQUIRED.len() as u64) as usize];
            row.set(i, Kind::Absent, "");
        }
        Defect::Type => match (csv, v % 3) {
            (false, 0) => row.set(DURATION_MS, Kind::Str, "abc"),
            (false, 1) => row.set(DURATION_MS, Kind::Raw, "1500.5"),
            (false, _) => row.set(LATITUDE, Kind::Str, "12.5"),
            (true, 0) => row.set(DURATION_MS, Kind::Raw, "abc"),
            (true, 1) => row.set(DURATION_MS, Kind::Raw, "1e3"),
            (true, _) => row.set(LATITUDE, Kind::Raw, "north"),
        },
        Defect::Pattern => {
            let bad = ["SCR-12345", "scr-123456", "SCR-1234567", "SCR-12a456"][(v % 4) as usize];
            row.set(SCREEN_ID, Kind::Str, bad);
        }
        Defect::Enum => {
            if v.is_multiple_of(2) {
                row.set(
                    VENUE_TYPE,
                    Kind::Str,
                    ["stadium", "Retail"][(v / 2 % 2) as usize],
                );
            } else {
                row.set(PLAY_STATUS, Kind::Str, "done");
            }
        }
        Defect::MinLength => {
            let i = if v.is_multiple_of(2) {
                CREATIVE_ID
            } else {
                CAMPAIGN_ID
            };
            row.set(i, Kind::Str, "");
        }
        Defect::MaxLength => {
            let mut s = String::from("CR-");
            let len = rng.range(65, 80);
            while (s.len() as i64) < len {
                s.push(BASE36[rng.below(36) as usize] as char);
            }
            let i = if v.is_multiple_of(2) {
                CREATIVE_ID
            } else {
                CAMPAIGN_ID
            };
            row.set(i, Kind::Str, &s);
        }
        Defect::Minimum => match v % 3 {
            0 => row.set(DURATION_MS, Kind::Raw, "0"),
            1 => row.set(IMPRESSIONS, Kind::Raw, "-1"),
            _ => row.set(LATITUDE, Kind::Raw, "-90.5"),
        },
        Defect::Maximum => match v % 3 {
            0 => row.set(LATITUDE, Kind::Raw, "91"),
            1 => row.set(LONGITUDE, Kind::Raw, "180.5"),
            _ => row.set(DURATION_MS, Kind::Raw, "3600001"),
        },
        Defect::Format => match v % 4 {
            0 => {
                let t = row.text[PLAYED_AT].replacen('T', " ", 1);
                row.set(PLAYED_AT, Kind::Str, &t);
            }
            1 => row.set(PLAYED_AT, Kind::Str, "2025-02-30T10:15:30.123Z"),
            2 => {
                let t = row.text[PLAYED_AT].trim_end_matches('Z').to_string();
                row.set(PLAYED_AT, Kind::Str, &t);
            }
            _ => row.set(EVENT_ID, Kind::Str, "not-a-uuid"),
        },
        Defect::Unique => {
            let b = reservoir[rng.below(reservoir.len() as u64) as usize];
            row.uuid = b;
            let mut s = String::with_capacity(36);
            uuid_text(&b, &mut s);
            row.set(EVENT_ID, Kind::Str, &s);
        }
        Defect::UnknownField => row.extra_at = Some(rng.below(12) as usize),
        Defect::MalformedRow => {
            row.malformed = Some(match format {
                Format::Ndjson if v.is_multiple_of(2) => Malformed::TruncatedObject,
                Format::Ndjson => Malformed::Array,
                Format::Json if v.is_multiple_of(2) => Malformed::Number,
                Format::Json => Malformed::Array,
                Format::Csv => Malformed::FewCells(rng.range(3, 10) as usize),
            })
        }
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_json_row(row: &Row, out: &mut String) {
    match row.malformed {
        Some(Malformed::TruncatedObject) => return out.push_str("{\"eventId\": "),
        Some(Malformed::Array) => return out.push_str("[1,2]"),
        Some(Malformed::Number) => return out.push_str("42"),
        Some(Malformed::FewCells(_)) | None => {}
    }
    out.push('{');
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
    };
    for (i, name) in FIELDS.iter().enumerate() {
        if row.extra_at == Some(i) {
            sep(out);
            out.push_str("\"colour\":\"red\"");
        }
        if row.kind[i] == Kind::Absent {
            continue;
        }
        sep(out);
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
        match row.kind[i] {
            Kind::Str => json_string(&row.text[i], out),
            Kind::Raw => out.push_str(&row.text[i]),
            Kind::Absent => {}
        }
    }
    if row.extra_at == Some(FIELDS.len()) {
        sep(out);
        out.push_str("\"colour\":\"red\"");
    }
    out.push('}');
}

fn write_csv_row(row: &Row, out: &mut String) {
    let cells = match row.malformed {
        Some(Malformed::FewCells(k)) => k,
        _ => FIELDS.len(),
    };
    for i in 0..cells {
        if i > 0 {
            out.push(',');
        }
        if row.kind[i] == Kind::Absent {
            continue;
        }
        let t = &row.text[i];
        if t.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&t.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(t);
        }
    }
}

#[cfg(test)]
mod tests;
