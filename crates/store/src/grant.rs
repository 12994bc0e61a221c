//! The read behind an API-key authentication in one round trip: the key, its owner and the
//! owner's memberships with their organizations, joined on the server.
//!
//! SeaORM's relation loaders would take two or three queries; this builds one `SELECT` (per
//! backend, once) whose column aliases carry a table prefix, and reads each entity's model back
//! with `FromQueryResult` and that prefix. The owner's password hash is never selected.

use std::sync::OnceLock;

use identity_core::{Error, Result, domain::KeyGrant};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult, IdenStatic,
    Iterable, Statement,
};
use uuid::Uuid;

use crate::{
    convert,
    entity::{api_keys, memberships, organizations, users},
    error::db_err,
};

fn columns<E: EntityTrait>(alias: &str, out: &mut Vec<String>, skip: &[&str]) {
    for c in E::Column::iter() {
        let name = c.as_str();
        if skip.contains(&name) {
            out.push(format!("NULL AS \"{alias}_{name}\""));
        } else {
            out.push(format!("{alias}.\"{name}\" AS \"{alias}_{name}\""));
        }
    }
}

fn build(placeholder: &str) -> String {
    let mut cols = Vec::new();
    columns::<api_keys::Entity>("k", &mut cols, &[]);
    columns::<users::Entity>("u", &mut cols, &["password_hash"]);
    columns::<memberships::Entity>("m", &mut cols, &[]);
    columns::<organizations::Entity>("o", &mut cols, &[]);
    format!(
        "SELECT {} FROM \"api_keys\" k \
         JOIN \"users\" u ON u.\"id\" = k.\"user_id\" \
         LEFT JOIN \"memberships\" m ON m.\"user_id\" = u.\"id\" \
         LEFT JOIN \"organizations\" o ON o.\"id\" = m.\"organization_id\" \
         WHERE k.\"digest\" = {placeholder} \
         ORDER BY m.\"added_at\", m.\"organization_id\"",
        cols.join(", ")
    )
}

/// The statement (for `EXPLAIN` in the benchmark); its one parameter is the digest.
pub fn sql(backend: DbBackend) -> &'static str {
    static POSTGRES: OnceLock<String> = OnceLock::new();
    static OTHER: OnceLock<String> = OnceLock::new();
    if backend == DbBackend::Postgres {
        POSTGRES.get_or_init(|| build("$1"))
    } else {
        OTHER.get_or_init(|| build("?"))
    }
}

pub(crate) async fn by_digest(
    db: &DatabaseConnection,
    digest: &[u8; 32],
) -> Result<Option<KeyGrant>> {
    let backend = db.get_database_backend();
    let statement = Statement::from_sql_and_values(backend, sql(backend), [digest.to_vec().into()]);
    let rows = db.query_all_raw(statement).await.map_err(db_err)?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let key = convert::api_key(api_keys::Model::from_query_result(first, "k_").map_err(db_err)?)?;
    let mut user = convert::user(users::Model::from_query_result(first, "u_").map_err(db_err)?)?;
    user.password_hash = None;
    let mut memberships = Vec::new();
    for row in &rows {
        let joined: Option<Uuid> = row.try_get("", "m_organization_id").map_err(db_err)?;
        if joined.is_none() {
            continue;
        }
        let m = memberships::Model::from_query_result(row, "m_").map_err(db_err)?;
        let o = organizations::Model::from_query_result(row, "o_")
            .map_err(|e| Error::Internal(format!("membership without its organization: {e}")))?;
        memberships.push((convert::membership(m)?, convert::organization(o)));
    }
    Ok(Some(KeyGrant {
        key,
        user,
        memberships,
    }))
}
