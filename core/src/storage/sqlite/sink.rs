//! The default sink's tables and the primary-key rule.
//!
//! Per dataset there is the sink table (`SinkTable.name`: typed columns plus `_job_id`, `_row`)
//! and, when the schema has a primary key, three key tables:
//!
//! - `"{name}__keys"(h INTEGER PRIMARY KEY, r INTEGER NOT NULL)`: one row per 64-bit key hash
//!   (the engine's [`key_hash`](crate::batch::key_hash) XOR the tenant's
//!   [`tenant_hash`](crate::storage::tenant_hash)), pointing at the first key seen with it.
//!   This B-tree is the one written at random places, so it holds two integers and nothing
//!   else: inserting sorted 8-byte integers is what keeps the rule cheap (DESIGN.md, "The hot
//!   path"). The key's text is only read when a hash is already there.
//! - `r > 0`: the key is that of the sink row with rowid `r` (rows are inserted with the rowid
//!   chosen for them before the rule runs), read back from its key columns and the tenant of
//!   its `_job_id`. Only used when that read gives back exactly the key text (a string or
//!   integer in a `TEXT` column, an integer in an `INTEGER` one): the default path needs no
//!   other table.
//! - `r < 0`: the key's text (tenant prefix included) is row `-r` of
//!   `"{name}__keytext"(k TEXT NOT NULL)`, an append-only rowid table: for a host sink
//!   (`store_rows` false) and for keys whose columns would not read back exactly.
//! - `"{name}__keys_overflow"(k TEXT PRIMARY KEY) WITHOUT ROWID`: the (tenant-prefixed) keys
//!   whose hash was already taken by a different key (true collisions), so the rule stays exact.

use std::collections::hash_map::{Entry, HashMap};

use rusqlite::types::{Null, ValueRef};
use rusqlite::{Connection, OptionalExtension};

use super::db_err;
use crate::batch::{ColumnType, RowBatch, SinkTable};
use crate::error::{Error, Result};
use crate::storage::{tenant_hash, tenant_key_prefix};
use crate::types::Cell;

/// What this connection knows to exist (committed), by table name: the column names in lower
/// case (SQLite compares them case-insensitively) with their declared types in upper case.
/// Saves DDL and lookups on every commit.
pub(super) type Known = HashMap<String, HashMap<String, String>>;

/// An SQL identifier in double quotes.
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(super) fn keys_table(table: &SinkTable) -> String {
    format!("{}__keys", table.name)
}

pub(super) fn overflow_table(table: &SinkTable) -> String {
    format!("{}__keys_overflow", table.name)
}

pub(super) fn keytext_table(table: &SinkTable) -> String {
    format!("{}__keytext", table.name)
}

fn sql_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Integer | ColumnType::Boolean => "INTEGER",
        ColumnType::Real => "REAL",
        ColumnType::Text => "TEXT",
    }
}

/// Whether a table exists.
pub(super) fn table_exists(conn: &Connection, name: &str) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
        .and_then(|mut st| st.query_row([name], |_| Ok(())).optional())
        .map(|o| o.is_some())
        .map_err(db_err(format!("looking up table {name}")))
}

/// Checks that a batch fits the table it is committed to (so nothing below can index out of it).
pub(super) fn check_shape(table: &SinkTable, rows: &RowBatch, store_rows: bool) -> Result<()> {
    if store_rows && rows.columns() != table.columns.len() {
        return Err(Error::storage(format!(
            "commit: the batch has {} values per row but table {} has {} columns",
            rows.columns(),
            table.name,
            table.columns.len()
        )));
    }
    if let Some(key) = table.key.as_deref() {
        if let Some(&bad) = key.iter().find(|&&c| c >= rows.columns()) {
            return Err(Error::storage(format!(
                "commit: key column {bad} of table {} is outside the batch's {} values per row",
                table.name,
                rows.columns()
            )));
        }
    }
    Ok(())
}

/// Creates the sink table, or adds the columns a later schema version brought. Records what
/// it made sure of in `pending` (moved into `known` once the transaction commits).
pub(super) fn ensure_sink_table(
    conn: &Connection,
    known: &Known,
    pending: &mut Known,
    table: &SinkTable,
) -> Result<()> {
    let wanted = || table.columns.iter().map(|(n, _)| n.to_lowercase());
    for cols in [known.get(&table.name), pending.get(&table.name)]
        .into_iter()
        .flatten()
    {
        if wanted().all(|c| cols.contains_key(&c)) {
            return Ok(());
        }
    }
    let err = |what: &str| db_err(format!("{what} sink table {}", table.name));
    let mut present: HashMap<String, String> = conn
        .prepare("SELECT name, type FROM pragma_table_info(?1)")
        .and_then(|mut st| {
            st.query_map([&table.name], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(err("reading the columns of"))?
        .into_iter()
        .map(|(n, t)| (n.to_lowercase(), t.to_uppercase()))
        .collect();
    if present.is_empty() {
        let mut sql = format!("CREATE TABLE IF NOT EXISTS {} (", quote(&table.name));
        for (name, ty) in &table.columns {
            sql.push_str(&quote(name));
            sql.push(' ');
            sql.push_str(sql_type(*ty));
            sql.push_str(", ");
        }
        sql.push_str("_job_id TEXT NOT NULL, _row INTEGER NOT NULL)");
        conn.execute_batch(&sql).map_err(err("creating"))?;
        for (name, ty) in &table.columns {
            present.insert(name.to_lowercase(), sql_type(*ty).to_string());
        }
        present.insert("_job_id".into(), "TEXT".into());
        present.insert("_row".into(), "INTEGER".into());
    } else {
        for (name, ty) in &table.columns {
            if let Entry::Vacant(slot) = present.entry(name.to_lowercase()) {
                let sql = format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    quote(&table.name),
                    quote(name),
                    sql_type(*ty)
                );
                conn.execute_batch(&sql)
                    .map_err(err("adding a column to"))?;
                slot.insert(sql_type(*ty).to_string());
            }
        }
    }
    pending.insert(table.name.clone(), present);
    Ok(())
}

/// The rowid the sink row at batch position 0 gets, minus one: rows are inserted with rowid
/// `base + 1 + position` (gaps where rows are rejected), so the key rule can point at them
/// before they are written.
pub(super) fn sink_rowid_base(conn: &Connection, table: &SinkTable, rows: usize) -> Result<i64> {
    let base: i64 = conn
        .prepare_cached(&format!(
            "SELECT coalesce(max(rowid), 0) FROM {}",
            quote(&table.name)
        ))
        .and_then(|mut st| st.query_row([], |r| r.get(0)))
        .map_err(db_err(format!("reading the last rowid of {}", table.name)))?;
    check_room(base, rows, &table.name)?;
    Ok(base)
}

/// Refuses a base whose `base + 1 + position` would leave the rowid range.
fn check_room(base: i64, rows: usize, name: &str) -> Result<()> {
    i64::try_from(rows)
        .ok()
        .and_then(|n| base.checked_add(n)?.checked_add(1))
        .map(|_| ())
        .ok_or_else(|| Error::storage(format!("table {name} has run out of rowids")))
}

/// Creates the key tables of a dataset when absent.
pub(super) fn ensure_key_tables(
    conn: &Connection,
    known: &Known,
    pending: &mut Known,
    table: &SinkTable,
) -> Result<()> {
    let keys = keys_table(table);
    if known.contains_key(&keys) || pending.contains_key(&keys) {
        return Ok(());
    }
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (h INTEGER PRIMARY KEY, r INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS {} (k TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS {} (k TEXT PRIMARY KEY) WITHOUT ROWID;",
        quote(&keys),
        quote(&keytext_table(table)),
        quote(&overflow_table(table))
    );
    conn.execute_batch(&sql)
        .map_err(db_err(format!("creating the key tables of {}", table.name)))?;
    pending.insert(keys, HashMap::new());
    Ok(())
}

/// How a key column's value reads back from the sink table, by the column's declared type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadBack {
    /// `TEXT` affinity: strings and integers come back as the key text has them.
    Text,
    /// `INTEGER` affinity: integers come back as they are (strings may be converted).
    Integer,
    /// Anything else: not read back (the key text goes to the keytext table).
    No,
}

/// What the primary-key rule needs to know of a commit.
pub(super) struct KeyRule<'a> {
    pub table: &'a SinkTable,
    pub key: &'a [usize],
    pub rows: &'a RowBatch,
    /// The tenant of the job: keys are unique per tenant.
    pub tenant: &'a str,
    /// `Some(base)` when the rows are stored in the sink table with rowid `base + 1 + position`.
    pub sink_base: Option<i64>,
}

/// Applies the primary-key rule to a batch: records every new key, and returns the positions
/// (ascending) of the rows whose key was stored before or appears earlier in the batch.
pub(super) fn apply_key_rule(
    conn: &Connection,
    known: &Known,
    pending: &mut Known,
    rule: &KeyRule<'_>,
) -> Result<Vec<usize>> {
    let KeyRule {
        table,
        key,
        rows,
        tenant,
        sink_base,
    } = *rule;
    // Formats its message only on failure (this runs per key).
    let err = || |e| db_err(format_args!("applying the primary key of {}", table.name))(e);
    let keys = quote(&keys_table(table));
    let mut stored = conn
        .prepare_cached(&format!("SELECT r FROM {keys} WHERE h = ?1"))
        .map_err(err())?;
    let mut overflow = conn
        .prepare_cached(&format!(
            "INSERT OR IGNORE INTO {} (k) VALUES (?1)",
            quote(&overflow_table(table))
        ))
        .map_err(err())?;

    // How each key column reads back from the sink table, when rows are stored there.
    let read_back: Option<Vec<ReadBack>> = sink_base.map(|_| {
        let cols = known.get(&table.name).or_else(|| pending.get(&table.name));
        key.iter()
            .map(|&c| {
                let declared = table
                    .columns
                    .get(c)
                    .and_then(|(n, _)| cols?.get(&n.to_lowercase()));
                match declared.map(String::as_str) {
                    Some("TEXT") => ReadBack::Text,
                    Some("INTEGER") => ReadBack::Integer,
                    _ => ReadBack::No,
                }
            })
            .collect()
    });
    // Whether row `i`'s key text can be read back from its sink row (worked out in row order:
    // the loops below visit rows in hash order, where every look at a row is a cache miss).
    let in_sink_row: Vec<bool> = match read_back.as_deref() {
        Some(rb) => (0..rows.len())
            .map(|i| {
                key.iter().zip(rb).all(|(&c, &rb)| {
                    matches!(
                        (rows.cell(i, c), rb),
                        (Cell::Null, ReadBack::Text | ReadBack::Integer)
                            | (Cell::Str(_), ReadBack::Text)
                            | (Cell::Int(_), ReadBack::Text | ReadBack::Integer)
                    )
                })
            })
            .collect(),
        None => Vec::new(),
    };
    let len = i64::try_from(rows.len()).map_err(|_| Error::storage("commit: batch too large"))?;
    let keytext_base = keytext_rowid_base(conn, table, rows.len())?;
    // Where row `i`'s key text is: its sink row (`r > 0`), or row `-r` of the keytext table.
    let pointer = |i: usize| -> i64 {
        let pos = i as i64; // i < len, which fits (checked above)
        match sink_base {
            Some(base) if in_sink_row.get(i).copied().unwrap_or(false) => base + 1 + pos,
            _ => -(keytext_base + 1 + pos),
        }
    };
    // Whether a pointer is one of this batch's (its row not written yet).
    let this_batch = |r: i64| -> bool {
        if r > 0 {
            sink_base.is_some_and(|base| r > base && r <= base + len)
        } else {
            -r > keytext_base && -r <= keytext_base + len
        }
    };

    let prefix = tenant_key_prefix(tenant);
    let th = tenant_hash(tenant);
    let full_text = |i: usize, text: &mut String, full: &mut String| {
        rows.key_text(i, key, text);
        full.clear();
        full.push_str(&prefix);
        full.push_str(text);
    };
    let mut text = String::new();
    let mut full = String::new();
    let mut duplicates = Vec::new();

    // Sorted hashes go into the B-tree in order; equal hashes keep file order (first wins).
    let mut order: Vec<(i64, usize)> = (0..rows.len())
        .map(|i| ((rows.meta(i).key_hash ^ th) as i64, i))
        .collect();
    order.sort_unstable();
    // Duplicates within the batch, found without the database: equal hashes, equal texts.
    let mut candidates: Vec<(i64, usize)> = Vec::with_capacity(order.len());
    let mut seen: Vec<String> = Vec::new();
    for group in order.chunk_by(|a, b| a.0 == b.0) {
        if let [one] = group {
            candidates.push(*one);
            continue;
        }
        seen.clear();
        for &(h, i) in group {
            full_text(i, &mut text, &mut full);
            if seen.contains(&full) {
                duplicates.push(i);
            } else {
                seen.push(full.clone());
                candidates.push((h, i));
            }
        }
    }

    // Each candidate's hash goes in, in hash order. One that was taken was taken by the same
    // key (a duplicate) or by another (a collision).
    let mut insert = conn
        .prepare_cached(&format!(
            "INSERT OR IGNORE INTO {keys} (h, r) VALUES (?1, ?2)"
        ))
        .map_err(err())?;
    let mut new_keytext: Vec<usize> = Vec::new();
    for &(h, i) in &candidates {
        let r = pointer(i);
        insert.raw_bind_parameter(1, h).map_err(err())?;
        insert.raw_bind_parameter(2, r).map_err(err())?;
        if insert.raw_execute().map_err(err())? == 1 {
            if r < 0 {
                new_keytext.push(i);
            }
            continue;
        }
        full_text(i, &mut text, &mut full);
        let first_r: i64 = stored.query_row([h], |r| r.get(0)).map_err(err())?;
        // A key of this batch with this hash is not this text (that was found above).
        let same = !this_batch(first_r)
            && stored_key_text(conn, known, pending, table, key, first_r)?.as_deref()
                == Some(full.as_str());
        if same {
            duplicates.push(i);
            continue;
        }
        // Same hash, another key: a true collision, settled by the text itself.
        overflow
            .raw_bind_parameter(1, full.as_str())
            .map_err(err())?;
        if overflow.raw_execute().map_err(err())? == 0 {
            duplicates.push(i);
        }
    }

    // The texts that need a row of their own, appended in rowid order.
    if !new_keytext.is_empty() {
        new_keytext.sort_unstable();
        let mut append = conn
            .prepare_cached(&format!(
                "INSERT INTO {} (rowid, k) VALUES (?1, ?2)",
                quote(&keytext_table(table))
            ))
            .map_err(err())?;
        for &i in &new_keytext {
            full_text(i, &mut text, &mut full);
            append.raw_bind_parameter(1, -pointer(i)).map_err(err())?;
            append.raw_bind_parameter(2, full.as_str()).map_err(err())?;
            append.raw_execute().map_err(err())?;
        }
    }
    duplicates.sort_unstable();
    Ok(duplicates)
}

/// The keytext table's counterpart of [`sink_rowid_base`].
fn keytext_rowid_base(conn: &Connection, table: &SinkTable, rows: usize) -> Result<i64> {
    let name = keytext_table(table);
    let base: i64 = conn
        .prepare_cached(&format!(
            "SELECT coalesce(max(rowid), 0) FROM {}",
            quote(&name)
        ))
        .and_then(|mut st| st.query_row([], |r| r.get(0)))
        .map_err(db_err(format!("reading the last rowid of {name}")))?;
    check_room(base, rows, &name)?;
    Ok(base)
}

/// The tenant-prefixed key text a `__keys` row's `r` points at; `None` when it is not there
/// (which a key compared with it then treats as another key).
fn stored_key_text(
    conn: &Connection,
    known: &Known,
    pending: &mut Known,
    table: &SinkTable,
    key: &[usize],
    r: i64,
) -> Result<Option<String>> {
    let err = || db_err(format!("reading a stored key of {}", table.name));
    if r < 0 {
        return conn
            .prepare_cached(&format!(
                "SELECT k FROM {} WHERE rowid = ?1",
                quote(&keytext_table(table))
            ))
            .and_then(|mut st| st.query_row([-r], |row| row.get(0)).optional())
            .map_err(err());
    }
    // The sink row exists (the pointer was written with it); a later schema version may have
    // key columns the table lacks as yet.
    ensure_sink_table(conn, known, pending, table)?;
    let mut sql = String::from("SELECT j.tenant");
    for &c in key {
        let name = table.columns.get(c).map(|(n, _)| n.as_str()).unwrap_or("");
        sql.push_str(", s.");
        sql.push_str(&quote(name));
    }
    sql.push_str(&format!(
        " FROM {} AS s LEFT JOIN jobs AS j ON j.job_id = s._job_id WHERE s.rowid = ?1",
        quote(&table.name)
    ));
    let mut st = conn.prepare_cached(&sql).map_err(err())?;
    st.query_row([r], |row| {
        let Some(tenant) = row.get::<_, Option<String>>(0)? else {
            return Ok(None);
        };
        let mut out = tenant_key_prefix(&tenant);
        for n in 0..key.len() {
            if n > 0 {
                out.push('\u{1f}');
            }
            match row.get_ref(n + 1)? {
                ValueRef::Null => {}
                ValueRef::Integer(v) => out.push_str(&v.to_string()),
                ValueRef::Text(t) => match std::str::from_utf8(t) {
                    Ok(t) => out.push_str(t),
                    Err(_) => return Ok(None),
                },
                // Never written under a read-back pointer.
                ValueRef::Real(_) | ValueRef::Blob(_) => return Ok(None),
            }
        }
        Ok(Some(out))
    })
    .optional()
    .map(Option::flatten)
    .map_err(err())
}

/// Inserts the rows at `positions` into the sink table (one cached prepared statement).
pub(super) fn insert_rows(
    conn: &Connection,
    table: &SinkTable,
    rows: &RowBatch,
    positions: &[usize],
    job_id: &str,
    rowid_base: i64,
) -> Result<()> {
    // Formats its message only on failure (this runs per value).
    let err = || {
        |e| {
            db_err(format_args!(
                "inserting rows into sink table {}",
                table.name
            ))(e)
        }
    };
    let n = table.columns.len();
    let mut sql = format!("INSERT INTO {} (", quote(&table.name));
    for (name, _) in &table.columns {
        sql.push_str(&quote(name));
        sql.push_str(", ");
    }
    sql.push_str("_job_id, _row, rowid) VALUES (");
    for p in 1..=n + 3 {
        if p > 1 {
            sql.push_str(", ");
        }
        sql.push('?');
        sql.push_str(&p.to_string());
    }
    sql.push(')');
    let mut st = conn.prepare_cached(&sql).map_err(err())?;
    st.raw_bind_parameter(n + 1, job_id).map_err(err())?;
    for &i in positions {
        for col in 0..n {
            let p = col + 1;
            match rows.cell(i, col) {
                Cell::Null => st.raw_bind_parameter(p, Null),
                Cell::Bool(b) => st.raw_bind_parameter(p, i64::from(b)),
                Cell::Int(v) => st.raw_bind_parameter(p, v),
                Cell::Num(v) => st.raw_bind_parameter(p, v),
                Cell::Str(s) => st.raw_bind_parameter(p, s),
            }
            .map_err(err())?;
        }
        st.raw_bind_parameter(n + 2, rows.meta(i).row as i64)
            .map_err(err())?;
        // `sink_rowid_base` checked that this stays in range.
        st.raw_bind_parameter(n + 3, rowid_base + 1 + i as i64)
            .map_err(err())?;
        st.raw_execute().map_err(err())?;
    }
    Ok(())
}
