//! `identity-store`: persistence of the identity service on Postgres or SQLite with SeaORM.
//!
//! - [`connect`] opens a pool for a `postgres://…`, `sqlite://path?mode=rwc` or
//!   `sqlite::memory:` URL;
//! - [`migrate`] applies the [`Migrator`] migrations (serialised across replicas);
//! - [`SeaRepo`] implements `identity_core::ports::Repo`.

use std::{str::FromStr, time::Duration};

use identity_core::Error;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DbBackend, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode},
};
use sea_orm_migration::MigratorTrait;

mod convert;
pub mod entity;
mod error;
mod grant;
pub mod migration;
mod repo;
mod sqlite_file;

pub use grant::sql as key_grant_sql;
pub use migration::Migrator;
pub use repo::SeaRepo;
pub use sea_orm::DatabaseConnection;

/// Key of the Postgres advisory lock held while migrations run ("identity" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6964_656e_7469_7479;

/// Pool settings. `Default` suits a service: fail fast (5 s) when the database is down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSettings {
    /// Largest pool size (Postgres and SQLite files; an in-memory SQLite database always uses
    /// exactly one connection, since it lives only as long as its connection).
    pub max_connections: u32,
    /// Connections kept open even when idle.
    pub min_connections: u32,
    /// How long a query waits for a free connection (or a new one) before failing.
    pub acquire_timeout: Duration,
    /// Idle connections above `min_connections` are closed after this long.
    pub idle_timeout: Option<Duration>,
    /// Connections are replaced after this long.
    pub max_lifetime: Option<Duration>,
    /// SQLite: how long a writer waits for the database lock before failing.
    pub sqlite_busy_timeout: Duration,
    /// Postgres: server-side limit on any one statement.
    pub statement_timeout: Option<Duration>,
}

impl Default for ConnectSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            sqlite_busy_timeout: Duration::from_secs(5),
            statement_timeout: None,
        }
    }
}

/// What a database URL points at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Postgres,
    SqliteMemory,
    /// A SQLite file; the URL with a `mode` guaranteed.
    SqliteFile(String),
}

fn classify(url: &str) -> Result<Target, Error> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres);
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(Error::invalid(
            "database.url",
            "must start with postgres://, postgresql:// or sqlite:",
        ));
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let has_param = |name: &str| {
        query
            .split('&')
            .any(|kv| kv.split('=').next() == Some(name))
    };
    let memory_mode = query.split('&').any(|kv| kv == "mode=memory");
    if path == ":memory:" || memory_mode {
        return Ok(Target::SqliteMemory);
    }
    if path.is_empty() {
        return Err(Error::invalid("database.url", "names no SQLite file"));
    }
    // Without `mode=rwc` SQLite refuses to create the file ("unable to open database file").
    let url = if has_param("mode") {
        url.to_owned()
    } else if query.is_empty() {
        format!("{url}?mode=rwc")
    } else {
        format!("{url}&mode=rwc")
    };
    Ok(Target::SqliteFile(url))
}

/// Open a connection pool.
///
/// Accepts `postgres://` / `postgresql://` URLs, SQLite file URLs (`sqlite://data/identity.db`,
/// `sqlite:///abs/path.db`; `?mode=rwc` is appended when no mode is given, a missing parent
/// directory is created 0700 and the file 0600, see `sqlite_file`) and `sqlite::memory:`. SQLite files use WAL journaling and
/// a busy timeout. Statement logging is off. An unreachable database gives
/// `Error::Unavailable` once `acquire_timeout` has passed.
pub async fn connect(url: &str, opts: ConnectSettings) -> Result<DatabaseConnection, Error> {
    let target = classify(url)?;
    let url = match &target {
        Target::SqliteFile(u) => u.clone(),
        Target::Postgres | Target::SqliteMemory => url.to_owned(),
    };
    let mut co = ConnectOptions::new(url.clone());
    co.sqlx_logging(false)
        .acquire_timeout(opts.acquire_timeout)
        .connect_timeout(opts.acquire_timeout);
    match &target {
        Target::Postgres => {
            co.max_connections(opts.max_connections.max(1))
                .min_connections(opts.min_connections)
                .idle_timeout(opts.idle_timeout)
                .max_lifetime(opts.max_lifetime)
                // Ping only connections that sat idle long enough to have been dropped by a
                // proxy or the server, not every checkout.
                .test_before_acquire_if_idle_for(Duration::from_secs(30))
                .set_application_name("identity");
            if let Some(t) = opts.statement_timeout {
                co.statement_timeout(t);
            }
        }
        Target::SqliteMemory => {
            // The database vanishes with its last connection: keep exactly one, forever.
            co.max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .test_before_acquire(false);
        }
        Target::SqliteFile(file_url) => {
            let parsed = SqliteConnectOptions::from_str(file_url)
                .map_err(|e| Error::invalid("database.url", format!("is not a SQLite URL: {e}")))?;
            // Private before SQLite opens it: 0700 directory, 0600 file (and so -wal, -shm).
            if creates_file(file_url) {
                sqlite_file::prepare(parsed.get_filename())?;
            }
            let busy = opts.sqlite_busy_timeout;
            co.max_connections(opts.max_connections.max(1))
                .min_connections(opts.min_connections)
                .idle_timeout(opts.idle_timeout)
                .max_lifetime(opts.max_lifetime)
                .test_before_acquire(false)
                .map_sqlx_sqlite_opts(move |o| {
                    o.journal_mode(SqliteJournalMode::Wal).busy_timeout(busy)
                });
        }
    }
    // Connection failures map to `Unavailable`.
    let db = Database::connect(co).await.map_err(error::db_err)?;
    tracing::debug!(backend = ?db.get_database_backend(), "database pool open");
    Ok(db)
}

/// Whether a SQLite file URL lets SQLite create the file (`mode=rwc`).
fn creates_file(file_url: &str) -> bool {
    file_url
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv == "mode=rwc"))
}

/// Apply all pending migrations, in one transaction.
///
/// On Postgres the transaction first takes an advisory lock (`pg_advisory_xact_lock`, released
/// at commit or rollback), so replicas starting together run the migrations one after the
/// other: the first applies them, the others then find nothing pending. On SQLite the
/// transaction is `IMMEDIATE`, which serialises writers the same way.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), Error> {
    let backend = db.get_database_backend();
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    let txn = db
        .begin_with_options(options)
        .await
        .map_err(error::db_err)?;
    let result = async {
        if backend == DbBackend::Postgres {
            txn.execute_unprepared(&format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
            ))
            .await?;
        }
        Migrator::up(&txn, None).await
    }
    .await;
    match result {
        Ok(()) => {
            txn.commit().await.map_err(error::db_err)?;
            tracing::info!("database migrations applied");
            Ok(())
        }
        Err(e) => {
            if let Err(rollback) = txn.rollback().await {
                tracing::warn!(error = %rollback, "rollback of failed migrations failed");
            }
            Err(error::db_err(e))
        }
    }
}

/// Whether every migration of this build is recorded as applied. Read-only (it never creates the
/// migration table): readiness waits for it, so that a replica started before the migration job
/// takes no traffic. A missing migration table is `Ok(false)`; only an unreachable database is an
/// error.
pub async fn schema_current(db: &DatabaseConnection) -> Result<bool, Error> {
    let backend = db.get_database_backend();
    let rows = match db
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT version FROM seaql_migrations",
        ))
        .await
    {
        Ok(rows) => rows,
        // The connection works (the caller pinged it) but the table is not there yet.
        Err(sea_orm::DbErr::Query(_) | sea_orm::DbErr::Exec(_)) => return Ok(false),
        Err(e) => return Err(error::db_err(e)),
    };
    let applied: std::collections::HashSet<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String>("", "version").ok())
        .collect();
    Ok(Migrator::migrations()
        .iter()
        .all(|m| applied.contains(m.name())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_classified_and_sqlite_files_get_a_mode() -> Result<(), Error> {
        assert_eq!(classify("postgres://u@h/db")?, Target::Postgres);
        assert_eq!(classify("postgresql://u@h/db")?, Target::Postgres);
        assert_eq!(classify("sqlite::memory:")?, Target::SqliteMemory);
        assert_eq!(classify("sqlite://:memory:")?, Target::SqliteMemory);
        assert_eq!(classify("sqlite://?mode=memory")?, Target::SqliteMemory);
        assert_eq!(
            classify("sqlite://data/x.db")?,
            Target::SqliteFile("sqlite://data/x.db?mode=rwc".into())
        );
        assert_eq!(
            classify("sqlite:///tmp/x.db")?,
            Target::SqliteFile("sqlite:///tmp/x.db?mode=rwc".into())
        );
        assert_eq!(
            classify("sqlite:x.db")?,
            Target::SqliteFile("sqlite:x.db?mode=rwc".into())
        );
        assert_eq!(
            classify("sqlite://x.db?mode=ro")?,
            Target::SqliteFile("sqlite://x.db?mode=ro".into())
        );
        assert_eq!(
            classify("sqlite://x.db?cache=private")?,
            Target::SqliteFile("sqlite://x.db?cache=private&mode=rwc".into())
        );
        assert!(classify("mysql://h/db").is_err());
        assert!(classify("sqlite://").is_err());
        Ok(())
    }
}
