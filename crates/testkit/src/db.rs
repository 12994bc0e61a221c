//! Fresh databases per test: a new Postgres database or a new SQLite file, deleted on drop.

use std::{fmt, net::SocketAddr, path::PathBuf};

use anyhow::Context as _;
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database};
use uuid::Uuid;

use crate::Backend;

/// Admin URL used when `TEST_DATABASE_URL` is not set.
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Every database this harness creates starts with this; it never touches any other.
const DATABASE_PREFIX: &str = "identity_e2e_";

/// A database owned by one test, deleted when dropped.
pub enum TestDatabase {
    /// A database on the Postgres server of the admin URL.
    Postgres {
        /// URL of the maintenance database used to create and drop it.
        admin_url: String,
        /// The database's name (`identity_e2e_<uuid>`).
        name: String,
    },
    /// A SQLite file.
    Sqlite {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The admin URL may carry a password: leave it out.
            TestDatabase::Postgres { name, .. } => f
                .debug_struct("Postgres")
                .field("name", name)
                .finish_non_exhaustive(),
            TestDatabase::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
        }
    }
}

/// The Postgres maintenance URL: `TEST_DATABASE_URL`, or the local server as `postgres`.
pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_owned())
}

/// The socket address of the Postgres server named by [`admin_database_url`].
pub async fn postgres_server_addr() -> anyhow::Result<SocketAddr> {
    let url = admin_database_url();
    let authority = authority(&url);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // A port is present when the last ':' comes after any IPv6 bracket.
    let has_port = host_port
        .rfind(':')
        .is_some_and(|i| host_port.rfind(']').is_none_or(|b| i > b));
    let target = if has_port {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    tokio::net::lookup_host(&target)
        .await
        .with_context(|| format!("resolving {target}"))?
        .next()
        .with_context(|| format!("{target} resolves to nothing"))
}

/// `url` with its host and port replaced by `addr` (user, password, path and query kept).
pub fn replace_database_addr(url: &str, addr: SocketAddr) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let credentials_len = rest[..authority_len].rfind('@').map_or(0, |i| i + 1);
    format!(
        "{}{}{addr}{}",
        &url[..scheme_end],
        &rest[..credentials_len],
        &rest[authority_len..]
    )
}

/// The `user:password@host:port` part of a URL.
fn authority(url: &str) -> &str {
    let rest = url.find("://").map_or(url, |i| &url[i + 3..]);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    &rest[..end]
}

/// `url` naming database `name` instead of its own.
fn with_database_name(url: &str, name: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (url, None),
    };
    let scheme_end = main.find("://").map_or(0, |i| i + 3);
    let authority_end = main[scheme_end..]
        .find('/')
        .map_or(main.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &main[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

async fn admin_connection(admin_url: &str) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let mut options = ConnectOptions::new(admin_url.to_owned());
    options
        .max_connections(1)
        .connect_timeout(std::time::Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .context("connecting to the Postgres admin database (is TEST_DATABASE_URL right?)")
}

impl TestDatabase {
    /// Create a fresh database; returns it and the URL the server should use. Keep the value
    /// alive as long as the database is used: dropping it deletes the database.
    pub async fn create(backend: Backend) -> anyhow::Result<(Self, String)> {
        match backend {
            Backend::Postgres => {
                let admin_url = admin_database_url();
                let name = format!("{DATABASE_PREFIX}{}", Uuid::new_v4().simple());
                let conn = admin_connection(&admin_url).await?;
                conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .with_context(|| format!("CREATE DATABASE {name}"))?;
                conn.close().await.context("closing the admin connection")?;
                let url = with_database_name(&admin_url, &name);
                Ok((TestDatabase::Postgres { admin_url, name }, url))
            }
            Backend::Sqlite => {
                let path =
                    std::env::temp_dir().join(format!("identity-{}.db", Uuid::new_v4().simple()));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                Ok((TestDatabase::Sqlite { path }, url))
            }
        }
    }
}

async fn drop_postgres_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    // Only ever the database this harness created.
    anyhow::ensure!(name.starts_with(DATABASE_PREFIX), "refusing to drop {name}");
    let conn = admin_connection(admin_url).await?;
    conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .with_context(|| format!("DROP DATABASE {name}"))?;
    conn.close().await.context("closing the admin connection")?;
    Ok(())
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match self {
            TestDatabase::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime, which cannot be blocked on: use a thread
                // with its own small runtime, and wait for it so the process does not exit first.
                let worker = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    let outcome = match runtime {
                        Ok(rt) => rt.block_on(drop_postgres_database(&admin_url, &name)),
                        Err(e) => Err(e.into()),
                    };
                    if let Err(e) = outcome {
                        eprintln!("identity-testkit: could not drop test database {name}: {e:#}");
                    }
                });
                let _ = worker.join();
            }
            TestDatabase::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_rewritten_without_losing_parts() {
        assert_eq!(
            with_database_name("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database_name("postgres://h", "x"), "postgres://h/x");
        let addr = SocketAddr::from(([127, 0, 0, 1], 6000));
        assert_eq!(
            replace_database_addr("postgres://u:p@h:5432/db?a=b", addr),
            "postgres://u:p@127.0.0.1:6000/db?a=b"
        );
        assert_eq!(
            replace_database_addr("postgres://h/db", addr),
            "postgres://127.0.0.1:6000/db"
        );
        assert_eq!(authority("postgres://u@[::1]:5433/db"), "u@[::1]:5433");
    }
}
