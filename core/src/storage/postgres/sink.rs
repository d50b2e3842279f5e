//! The default sink's tables in PostgreSQL and the primary-key rule.
//!
//! Per dataset there is the sink table (`SinkTable.name`: typed columns plus `_job_id`, `_row`)
//! and, when the schema has a primary key, `"{name}__keys"(k bytea PRIMARY KEY)`: one row per
//! (tenant-prefixed) key text. The rule is that unique index: a commit inserts its keys with
//! `ON CONFLICT DO NOTHING` and the keys that did not go in are the duplicates. Keys go in sorted,
//! so two commits inserting overlapping keys take the index's locks in the same order and never
//! deadlock; the second waits for the first and then sees its keys.

use std::collections::HashSet;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{GenericClient, Transaction};

use super::db_err;
use crate::batch::{ColumnType, RowBatch, SinkTable};
use crate::error::{Error, Result};
use crate::storage::tenant_key_prefix;
use crate::types::Cell;

/// An SQL identifier in double quotes.
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn keys_table(table: &SinkTable) -> String {
    format!("{}__keys", table.name)
}

fn sql_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Integer => "BIGINT",
        ColumnType::Boolean => "BOOLEAN",
        ColumnType::Real => "DOUBLE PRECISION",
        ColumnType::Text => "TEXT",
    }
}

fn pg_type(t: ColumnType) -> Type {
    match t {
        ColumnType::Integer => Type::INT8,
        ColumnType::Boolean => Type::BOOL,
        ColumnType::Real => Type::FLOAT8,
        ColumnType::Text => Type::TEXT,
    }
}

/// Whether a table exists (in the connection's search path).
pub(super) fn table_exists(c: &mut impl GenericClient, name: &str) -> Result<bool> {
    c.query_one("SELECT to_regclass($1) IS NOT NULL", &[&quote(name)])
        .map(|r| r.get(0))
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

/// What `known` records for a sink table: its name and columns (a later schema version with
/// more columns is a new entry).
fn sink_tag(table: &SinkTable) -> String {
    let mut tag = table.name.clone();
    for (n, t) in &table.columns {
        tag.push('\u{1f}');
        tag.push_str(n);
        tag.push(':');
        tag.push_str(sql_type(*t));
    }
    tag
}

/// Serialises DDL on one table across processes (until the transaction ends): concurrent
/// `CREATE TABLE IF NOT EXISTS` of the same name can otherwise fail on the catalog's indexes.
fn ddl_lock(tx: &mut Transaction<'_>, name: &str) -> Result<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.' || $1))",
        &[&name],
    )
    .map(|_| ())
    .map_err(db_err(format!("locking table {name} for DDL")))
}

/// Creates the sink table, or adds the columns a later schema version brought.
pub(super) fn ensure_sink_table(
    tx: &mut Transaction<'_>,
    known: &HashSet<String>,
    pending: &mut HashSet<String>,
    table: &SinkTable,
) -> Result<()> {
    let tag = sink_tag(table);
    if known.contains(&tag) || pending.contains(&tag) {
        return Ok(());
    }
    let err = |what: &str| db_err(format!("{what} sink table {}", table.name));
    // Most of the time the table is there with every column: then no DDL (and no lock that
    // would stop other workers' COPY into it) is needed.
    let present = |tx: &mut Transaction<'_>| -> Result<HashSet<String>> {
        Ok(tx
            .query(
                "SELECT attname::text FROM pg_attribute
                 WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
                &[&quote(&table.name)],
            )
            .map_err(err("reading the columns of"))?
            .iter()
            .map(|r| r.get(0))
            .collect())
    };
    let missing = |cols: &HashSet<String>| {
        cols.is_empty() || table.columns.iter().any(|(n, _)| !cols.contains(n))
    };
    if missing(&present(tx)?) {
        ddl_lock(tx, &table.name)?;
        let cols = present(tx)?;
        if cols.is_empty() {
            let mut sql = format!("CREATE TABLE IF NOT EXISTS {} (", quote(&table.name));
            for (name, ty) in &table.columns {
                sql.push_str(&quote(name));
                sql.push(' ');
                sql.push_str(sql_type(*ty));
                sql.push_str(", ");
            }
            sql.push_str("_job_id TEXT NOT NULL, _row BIGINT NOT NULL)");
            tx.batch_execute(&sql).map_err(err("creating"))?;
        } else {
            // A later schema version brought columns.
            for (name, ty) in table.columns.iter().filter(|(n, _)| !cols.contains(n)) {
                let sql = format!(
                    "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}",
                    quote(&table.name),
                    quote(name),
                    sql_type(*ty)
                );
                tx.batch_execute(&sql).map_err(err("adding a column to"))?;
            }
        }
    }
    pending.insert(tag);
    Ok(())
}

/// Creates the key table of a dataset when absent.
pub(super) fn ensure_key_table(
    tx: &mut Transaction<'_>,
    known: &HashSet<String>,
    pending: &mut HashSet<String>,
    table: &SinkTable,
) -> Result<()> {
    let keys = keys_table(table);
    if known.contains(&keys) || pending.contains(&keys) {
        return Ok(());
    }
    ddl_lock(tx, &keys)?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {} (k BYTEA PRIMARY KEY)",
        quote(&keys)
    ))
    .map_err(db_err(format!("creating the key table of {}", table.name)))?;
    pending.insert(keys);
    Ok(())
}

/// Applies the primary-key rule to a batch: records every new key, and returns the positions
/// (ascending) of the rows whose key was stored before or appears earlier in the batch.
pub(super) fn apply_key_rule(
    tx: &mut Transaction<'_>,
    table: &SinkTable,
    key: &[usize],
    rows: &RowBatch,
    tenant: &str,
) -> Result<Vec<usize>> {
    let prefix = tenant_key_prefix(tenant);
    let mut text = String::new();
    // (key bytes, position), sorted by key then position: the first of equal keys wins.
    let mut keyed: Vec<(Vec<u8>, usize)> = (0..rows.len())
        .map(|i| {
            rows.key_text(i, key, &mut text);
            let mut k = Vec::with_capacity(prefix.len() + text.len());
            k.extend_from_slice(prefix.as_bytes());
            k.extend_from_slice(text.as_bytes());
            (k, i)
        })
        .collect();
    keyed.sort_unstable();
    let mut duplicates = Vec::new();
    let mut candidates: Vec<&(Vec<u8>, usize)> = Vec::with_capacity(keyed.len());
    for (n, item) in keyed.iter().enumerate() {
        if n > 0 && keyed[n - 1].0 == item.0 {
            duplicates.push(item.1);
        } else {
            candidates.push(item);
        }
    }
    if !candidates.is_empty() {
        let keys: Vec<&[u8]> = candidates.iter().map(|(k, _)| k.as_slice()).collect();
        let inserted = tx
            .query(
                &format!(
                    "INSERT INTO {} (k) SELECT k FROM unnest($1::bytea[]) WITH ORDINALITY AS u(k, o)
                     ORDER BY o ON CONFLICT DO NOTHING RETURNING k",
                    quote(&keys_table(table))
                ),
                &[&keys],
            )
            .map_err(db_err(format!(
                "applying the primary key of {}",
                table.name
            )))?;
        let new: HashSet<Vec<u8>> = inserted.iter().map(|r| r.get(0)).collect();
        for (k, i) in candidates {
            if !new.contains(k) {
                duplicates.push(*i);
            }
        }
    }
    duplicates.sort_unstable();
    Ok(duplicates)
}

/// A cell as the value of a column of type `ty`.
fn value<'a>(
    cell: Cell<'a>,
    ty: ColumnType,
    scratch: &'a mut String,
) -> Option<Box<dyn ToSql + Sync + 'a>> {
    Some(match (ty, cell) {
        (_, Cell::Null) => match ty {
            ColumnType::Integer => Box::new(None::<i64>),
            ColumnType::Boolean => Box::new(None::<bool>),
            ColumnType::Real => Box::new(None::<f64>),
            ColumnType::Text => Box::new(None::<&str>),
        },
        (ColumnType::Integer, Cell::Int(v)) => Box::new(v),
        (ColumnType::Integer, Cell::Bool(b)) => Box::new(i64::from(b)),
        (ColumnType::Boolean, Cell::Bool(b)) => Box::new(b),
        (ColumnType::Boolean, Cell::Int(v)) => Box::new(v != 0),
        (ColumnType::Real, Cell::Num(v)) => Box::new(v),
        (ColumnType::Real, Cell::Int(v)) => Box::new(v as f64),
        (ColumnType::Text, Cell::Str(s)) => Box::new(s),
        (ColumnType::Text, other) => {
            scratch.clear();
            match other {
                Cell::Int(v) => scratch.push_str(&v.to_string()),
                Cell::Num(v) => scratch.push_str(&v.to_string()),
                Cell::Bool(b) => scratch.push_str(if b { "true" } else { "false" }),
                Cell::Null | Cell::Str(_) => {}
            }
            Box::new(scratch.as_str())
        }
        _ => return None,
    })
}

/// Writes the rows at `positions` into the sink table with one `COPY ... (FORMAT binary)`.
pub(super) fn copy_rows(
    tx: &mut Transaction<'_>,
    table: &SinkTable,
    rows: &RowBatch,
    positions: &[usize],
    job_id: &str,
) -> Result<()> {
    let err = || db_err(format!("copying rows into sink table {}", table.name));
    let mut sql = format!("COPY {} (", quote(&table.name));
    for (name, _) in &table.columns {
        sql.push_str(&quote(name));
        sql.push_str(", ");
    }
    sql.push_str("_job_id, _row) FROM STDIN (FORMAT binary)");
    let mut types: Vec<Type> = table.columns.iter().map(|(_, t)| pg_type(*t)).collect();
    types.push(Type::TEXT);
    types.push(Type::INT8);
    let sink = tx.copy_in(&sql).map_err(err())?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let n = table.columns.len();
    let mut scratch: Vec<String> = vec![String::new(); n];
    for &i in positions {
        let row_no = rows.meta(i).row as i64;
        let mut values: Vec<Box<dyn ToSql + Sync + '_>> = Vec::with_capacity(n + 2);
        for ((col, (name, ty)), s) in table.columns.iter().enumerate().zip(scratch.iter_mut()) {
            let cell = rows.cell(i, col);
            if let Cell::Str(s) = cell {
                if s.contains('\0') {
                    return Err(Error::storage(format!(
                        "row {}: field {name} holds a NUL character, which PostgreSQL text cannot store",
                        rows.meta(i).row
                    )));
                }
            }
            let v = value(cell, *ty, s).ok_or_else(|| {
                Error::storage(format!(
                    "row {}: field {name} does not fit its {} column",
                    rows.meta(i).row,
                    sql_type(*ty)
                ))
            })?;
            values.push(v);
        }
        values.push(Box::new(job_id));
        values.push(Box::new(row_no));
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| &**b).collect();
        writer.write(&refs).map_err(err())?;
    }
    writer.finish().map_err(err())?;
    Ok(())
}
