//! Direct reads of the test database, for checks the API cannot make (e.g. orphan rows that no
//! RPC can reach).

use sea_orm::{ConnectionTrait as _, Database, Statement};
use secrecy::ExposeSecret as _;

use crate::TestApp;

impl TestApp {
    /// Run `sql`, a query returning one row with one integer column named `n`, on the server's
    /// own database through a separate connection, and return that number.
    pub async fn count_rows(&self, sql: &str) -> i64 {
        let conn = Database::connect(self.settings.database_url.expose_secret())
            .await
            .unwrap_or_else(|e| panic!("connecting to the test database: {e}"));
        let backend = conn.get_database_backend();
        let row = conn
            .query_one_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or_else(|| panic!("{sql}: no row"));
        let n: i64 = row
            .try_get("", "n")
            .unwrap_or_else(|e| panic!("{sql}: column n: {e}"));
        let _ = conn.close().await;
        n
    }
}
