//! The database schema, as a list of steps applied in order and counted in `user_version`.
//!
//! A step is never edited once released: a change is a new step at the end. Opening a database
//! applies the steps it lacks inside one `BEGIN IMMEDIATE` transaction, so processes that open
//! the same file at once apply each step exactly once.

use rusqlite::{Connection, TransactionBehavior};

use super::db_err;
use crate::error::{Error, Result};

/// The steps, in order: step `i` brings `user_version` from `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: schemas, uploads, jobs, row errors and failed rows.
    "CREATE TABLE schemas (
        dataset TEXT NOT NULL,
        version TEXT NOT NULL,
        dialect TEXT NOT NULL,
        source  TEXT NOT NULL,
        PRIMARY KEY (dataset, version)
    ) WITHOUT ROWID;

    CREATE TABLE uploads (
        file_id     TEXT PRIMARY KEY NOT NULL,
        tenant      TEXT NOT NULL,
        file_name   TEXT NOT NULL,
        format      TEXT NOT NULL,
        blob_key    TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        size        INTEGER,
        sha256      TEXT,
        etag        TEXT,
        received_at INTEGER
    );

    CREATE TABLE jobs (
        id               INTEGER PRIMARY KEY,
        job_id           TEXT NOT NULL UNIQUE,
        tenant           TEXT NOT NULL,
        file_id          TEXT NOT NULL,
        dataset          TEXT NOT NULL,
        schema_version   TEXT NOT NULL,
        format           TEXT NOT NULL,
        blob_key         TEXT NOT NULL,
        blob_size        INTEGER NOT NULL,
        blob_sha256      TEXT NOT NULL,
        blob_etag        TEXT,
        blob_received_at INTEGER NOT NULL,
        metadata         TEXT,
        options          TEXT NOT NULL,
        state            TEXT NOT NULL,
        total_rows       INTEGER,
        processed_rows   INTEGER NOT NULL DEFAULT 0,
        error_rows       INTEGER NOT NULL DEFAULT 0,
        cp_offset        INTEGER NOT NULL DEFAULT 0,
        cp_line          INTEGER NOT NULL DEFAULT 0,
        cp_rows          INTEGER NOT NULL DEFAULT 0,
        csv_header       BLOB,
        error_code       TEXT,
        error_message    TEXT,
        created_at       INTEGER NOT NULL,
        started_at       INTEGER,
        completed_at     INTEGER,
        lease_owner      TEXT,
        lease_until      INTEGER,
        attempts         INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_by_state ON jobs (state, id);

    CREATE TABLE row_errors (
        job_id  TEXT NOT NULL,
        row     INTEGER NOT NULL,
        seq     INTEGER NOT NULL,
        line    INTEGER,
        field   TEXT,
        code    TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX row_errors_by_row ON row_errors (job_id, row, seq);

    CREATE TABLE failed_rows (
        job_id TEXT NOT NULL,
        row    INTEGER NOT NULL,
        line   INTEGER,
        raw    BLOB NOT NULL
    );
    CREATE INDEX failed_rows_by_row ON failed_rows (job_id, row);",
];

/// Applies the steps of `steps` that the database lacks. Returns the version reached.
pub(crate) fn migrate(conn: &mut Connection, steps: &[&str]) -> Result<usize> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err("migrating the database schema (begin)"))?;
    let current: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db_err("reading the database schema version"))?;
    let current = usize::try_from(current).unwrap_or(usize::MAX);
    if current > steps.len() {
        return Err(Error::storage(format!(
            "the database schema is at version {current}, newer than this library's {}; upgrade the library",
            steps.len()
        )));
    }
    for (i, step) in steps.iter().enumerate().skip(current) {
        tx.execute_batch(step)
            .map_err(|e| Error::storage(format!("applying database migration {}: {e}", i + 1)))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(db_err("recording the database schema version"))?;
    }
    tx.commit()
        .map_err(db_err("migrating the database schema (commit)"))?;
    Ok(steps.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::TestDir;

    fn version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

    fn schema_sql(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn steps_apply_in_order_once() {
        let steps = [
            "CREATE TABLE t (a INTEGER)",
            "ALTER TABLE t ADD COLUMN b TEXT",
            "INSERT INTO t (a, b) VALUES (1, 'x')",
        ];
        let mut conn = Connection::open_in_memory().unwrap();
        // The second step needs the first: applying them out of order would fail.
        assert_eq!(migrate(&mut conn, &steps[..2]).unwrap(), 2);
        assert_eq!(version(&conn), 2);
        assert_eq!(migrate(&mut conn, &steps).unwrap(), 3);
        assert_eq!(version(&conn), 3);
        // Again: a no-op (the insert does not run twice).
        assert_eq!(migrate(&mut conn, &steps).unwrap(), 3);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        // A database from a newer library is refused, and left alone.
        let err = migrate(&mut conn, &steps[..1]).unwrap_err();
        assert_eq!(err.code(), "STORAGE_ERROR");
        assert_eq!(version(&conn), 3);
    }

    #[test]
    fn a_failing_step_leaves_the_database_as_it_was() {
        let mut conn = Connection::open_in_memory().unwrap();
        let err = migrate(
            &mut conn,
            &[
                "CREATE TABLE t (a INTEGER)",
                "ALTER TABLE nowhere ADD COLUMN b",
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("migration 2"), "{err}");
        assert_eq!(version(&conn), 0);
        assert!(schema_sql(&conn).is_empty());
    }

    #[test]
    fn reopening_an_existing_database_is_a_no_op() {
        let dir = TestDir::new("migrate-reopen");
        let path = dir.path().join("state.db");
        drop(super::super::SqliteStateStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        assert_eq!(version(&conn), MIGRATIONS.len() as i64);
        let before = schema_sql(&conn);
        drop(conn);
        drop(super::super::SqliteStateStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        assert_eq!(version(&conn), MIGRATIONS.len() as i64);
        assert_eq!(schema_sql(&conn), before);
    }
}
