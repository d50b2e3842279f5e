//! The default sink's tables and the primary-key rule.
//!
//! Per dataset there is the sink table (`SinkTable.name`: typed columns plus `_job_id`, `_row`)
//! and, when the schema has a primary key, two key tables:
//!
//! - `"{name}__keys"(h INTEGER PRIMARY KEY, k TEXT NOT NULL)`: one row per 64-bit key hash
//!   (the engine's [`key_hash`](crate::batch::key_hash)), holding the first key seen with it.
//!   Inserting sorted 8-byte integers into the rowid B-tree is what keeps the rule cheap
//!   (DESIGN.md, "The hot path"); the text is only read when a hash is already there.
//! - `"{name}__keys_overflow"(k TEXT PRIMARY KEY) WITHOUT ROWID`: the keys whose hash was
//!   already taken by a different key (true collisions), so the rule stays exact.

use std::collections::{HashMap, HashSet};

use rusqlite::types::Null;
use rusqlite::{Connection, OptionalExtension};

use super::db_err;
use crate::batch::{ColumnType, RowBatch, SinkTable};
use crate::error::{Error, Result};
use crate::types::Cell;

/// What this connection knows to exist (committed), by table name: the column names in lower
/// case (SQLite compares them case-insensitively). Saves DDL and lookups on every commit.
pub(super) type Known = HashMap<String, HashSet<String>>;

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
    if let Some(cols) = known.get(&table.name) {
        if wanted().all(|c| cols.contains(&c)) {
            return Ok(());
        }
    }
    let err = |what: &str| db_err(format!("{what} sink table {}", table.name));
    let mut present: HashSet<String> = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .and_then(|mut st| {
            st.query_map([&table.name], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(err("reading the columns of"))?
        .into_iter()
        .map(|n| n.to_lowercase())
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
        present.extend(wanted());
        present.insert("_job_id".into());
        present.insert("_row".into());
    } else {
        for (name, ty) in &table.columns {
            let lower = name.to_lowercase();
            if !present.contains(&lower) {
                let sql = format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    quote(&table.name),
                    quote(name),
                    sql_type(*ty)
                );
                conn.execute_batch(&sql)
                    .map_err(err("adding a column to"))?;
                present.insert(lower);
            }
        }
    }
    pending.insert(table.name.clone(), present);
    Ok(())
}

/// Creates the key tables of a dataset when absent.
pub(super) fn ensure_key_tables(
    conn: &Connection,
    known: &Known,
    pending: &mut Known,
    table: &SinkTable,
) -> Result<()> {
    let keys = keys_table(table);
    if known.contains_key(&keys) {
        return Ok(());
    }
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (h INTEGER PRIMARY KEY, k TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS {} (k TEXT PRIMARY KEY) WITHOUT ROWID;",
        quote(&keys),
        quote(&overflow_table(table))
    );
    conn.execute_batch(&sql)
        .map_err(db_err(format!("creating the key tables of {}", table.name)))?;
    pending.insert(keys, HashSet::new());
    Ok(())
}

/// Applies the primary-key rule to a batch: records every new key, and returns the positions
/// (ascending) of the rows whose key was stored before or appears earlier in the batch.
pub(super) fn apply_key_rule(
    conn: &Connection,
    table: &SinkTable,
    key: &[usize],
    rows: &RowBatch,
) -> Result<Vec<usize>> {
    let err = || db_err(format!("applying the primary key of {}", table.name));
    let keys = quote(&keys_table(table));
    let mut insert = conn
        .prepare_cached(&format!(
            "INSERT OR IGNORE INTO {keys} (h, k) VALUES (?1, ?2)"
        ))
        .map_err(err())?;
    let mut stored = conn
        .prepare_cached(&format!("SELECT k FROM {keys} WHERE h = ?1"))
        .map_err(err())?;
    let mut overflow = conn
        .prepare_cached(&format!(
            "INSERT OR IGNORE INTO {} (k) VALUES (?1)",
            quote(&overflow_table(table))
        ))
        .map_err(err())?;

    // Sorted hashes go into the B-tree in order; equal hashes keep file order (first wins).
    let mut order: Vec<(i64, usize)> = (0..rows.len())
        .map(|i| (rows.meta(i).key_hash as i64, i))
        .collect();
    order.sort_unstable();

    let mut duplicates = Vec::new();
    let mut text = String::new();
    let mut seen: Vec<String> = Vec::new();
    for group in order.chunk_by(|a, b| a.0 == b.0) {
        seen.clear();
        for &(h, i) in group {
            rows.key_text(i, key, &mut text);
            if seen.contains(&text) {
                duplicates.push(i);
                continue;
            }
            if group.len() > 1 {
                seen.push(text.clone());
            }
            insert.raw_bind_parameter(1, h).map_err(err())?;
            insert.raw_bind_parameter(2, text.as_str()).map_err(err())?;
            if insert.raw_execute().map_err(err())? == 1 {
                continue;
            }
            let first: String = stored.query_row([h], |r| r.get(0)).map_err(err())?;
            if first == text {
                duplicates.push(i);
                continue;
            }
            // Same hash, another key: a true collision, settled by the text itself.
            overflow
                .raw_bind_parameter(1, text.as_str())
                .map_err(err())?;
            if overflow.raw_execute().map_err(err())? == 0 {
                duplicates.push(i);
            }
        }
    }
    duplicates.sort_unstable();
    Ok(duplicates)
}

/// Inserts the rows at `positions` into the sink table (one cached prepared statement).
pub(super) fn insert_rows(
    conn: &Connection,
    table: &SinkTable,
    rows: &RowBatch,
    positions: &[usize],
    job_id: &str,
) -> Result<()> {
    let err = || db_err(format!("inserting rows into sink table {}", table.name));
    let n = table.columns.len();
    let mut sql = format!("INSERT INTO {} (", quote(&table.name));
    for (name, _) in &table.columns {
        sql.push_str(&quote(name));
        sql.push_str(", ");
    }
    sql.push_str("_job_id, _row) VALUES (");
    for p in 1..=n + 2 {
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
        st.raw_execute().map_err(err())?;
    }
    Ok(())
}
