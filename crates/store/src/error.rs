//! `DbErr` → `identity_core::Error`.
//!
//! Unique clashes become `AlreadyExists` (the field is read from the index or column name in
//! the driver message, which is why every unique index is named in the migrations), foreign-key
//! failures `NotFound`, connection and pool failures (and transient lock conflicts)
//! `Unavailable`, everything else `Internal`. Nothing here panics.

use identity_core::{Entity, Error};
use sea_orm::{DbErr, RuntimeErr, SqlErr, SqlxPostgresError, SqlxSqliteError, sqlx};

/// Map a database error. `fk_entity` names the entity reported when a foreign key fails and
/// the driver does not say which one (SQLite never does).
pub(crate) fn map_db_err(err: DbErr, fk_entity: Entity) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(msg)) => {
            let (entity, field) = unique_target(&msg);
            return Error::AlreadyExists { entity, field };
        }
        Some(SqlErr::ForeignKeyConstraintViolation(msg)) => {
            return Error::NotFound {
                entity: fk_target(&msg).unwrap_or(fk_entity),
            };
        }
        Some(other) => {
            count_db_error("internal");
            return Error::Internal(other.to_string());
        }
        None => {}
    }
    if is_unavailable(&err) {
        count_db_error("unavailable");
        Error::Unavailable(err.to_string())
    } else {
        count_db_error("internal");
        Error::Internal(err.to_string())
    }
}

/// Count a database failure (`identity_db_errors_total`). Unique and foreign-key clashes are
/// answers to the caller, not failures, and are not counted.
pub(crate) fn count_db_error(kind: &'static str) {
    metrics::counter!("identity_db_errors_total", "kind" => kind).increment(1);
}

/// Map a database error where no foreign key is involved.
pub(crate) fn db_err(err: DbErr) -> Error {
    map_db_err(err, Entity::User)
}

/// Which entity and field a unique violation is about, from the driver message: Postgres
/// names the index (`uq_users_username_key`), SQLite the columns (`users.username_key`).
pub(crate) fn unique_target(msg: &str) -> (Entity, &'static str) {
    let m = msg.to_ascii_lowercase();
    let has = |s: &str| m.contains(s);
    // A look-alike of a taken name is a taken name.
    if has("username_key") || has("username_skeleton") {
        (Entity::User, "username")
    } else if has("email_key") {
        (Entity::User, "email")
    } else if has("default_marker") {
        // Only InitAdmin creates the default organization.
        (Entity::Administrator, "setup")
    } else if has("team_memberships") {
        (Entity::TeamMembership, "user")
    } else if has("memberships") {
        (Entity::Membership, "user")
    } else if has("api_keys") {
        if has("digest") {
            (Entity::ApiKey, "digest")
        } else if has("primary") || has("user_id") {
            (Entity::ApiKey, "primary")
        } else if has("uid") {
            (Entity::ApiKey, "uid")
        } else {
            (Entity::ApiKey, "id")
        }
    } else if has("organizations") {
        if has("name") {
            (Entity::Organization, "name")
        } else {
            (Entity::Organization, "id")
        }
    } else if has("teams") {
        if has("name") {
            (Entity::Team, "name")
        } else {
            (Entity::Team, "id")
        }
    } else if has("users") && has("uid") {
        (Entity::User, "uid")
    } else {
        (Entity::User, "id")
    }
}

/// The referenced entity of a failed foreign key, from a Postgres constraint name such as
/// `fk_memberships__users`.
fn fk_target(msg: &str) -> Option<Entity> {
    let m = msg.to_ascii_lowercase();
    if m.contains("__users") {
        Some(Entity::User)
    } else if m.contains("__organizations") {
        Some(Entity::Organization)
    } else if m.contains("__teams") {
        Some(Entity::Team)
    } else {
        None
    }
}

/// Whether retrying later may help: the connection or pool failed, the server is shutting
/// down or overloaded, or a lock conflict / serialization failure aborted the statement.
fn is_unavailable(err: &DbErr) -> bool {
    if matches!(err, DbErr::Conn(_) | DbErr::ConnectionAcquire(_)) {
        return true;
    }
    if let DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) = err {
        return sqlx_unavailable(e);
    }
    false
}

fn sqlx_unavailable(err: &sqlx::Error) -> bool {
    if let sqlx::Error::Database(db) = err {
        let code = db.code().unwrap_or_default();
        if db.try_downcast_ref::<SqlxPostgresError>().is_some() {
            return pg_code_unavailable(&code);
        }
        if db.try_downcast_ref::<SqlxSqliteError>().is_some() {
            return sqlite_code_unavailable(&code);
        }
        return false;
    }
    matches!(
        err,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

/// SQLSTATE classes 08 (connection exception) and 53 (insufficient resources), operator
/// intervention (57P01-57P05), serialization failure, deadlock and lock timeout.
pub(crate) fn pg_code_unavailable(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57P05" | "40001" | "40P01" | "55P03"
        )
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
pub(crate) fn sqlite_code_unavailable(code: &str) -> bool {
    code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_messages_name_the_right_field() {
        let cases: &[(&str, (Entity, &str))] = &[
            (
                r#"duplicate key value violates unique constraint "uq_users_username_key""#,
                (Entity::User, "username"),
            ),
            (
                "UNIQUE constraint failed: users.username_key",
                (Entity::User, "username"),
            ),
            (
                r#"duplicate key value violates unique constraint "uq_users_username_skeleton""#,
                (Entity::User, "username"),
            ),
            (
                "UNIQUE constraint failed: users.username_skeleton",
                (Entity::User, "username"),
            ),
            (
                r#"duplicate key value violates unique constraint "uq_users_email_key""#,
                (Entity::User, "email"),
            ),
            (
                "UNIQUE constraint failed: users.email_key",
                (Entity::User, "email"),
            ),
            ("UNIQUE constraint failed: users.uid", (Entity::User, "uid")),
            (
                r#"duplicate key value violates unique constraint "uq_organizations_name""#,
                (Entity::Organization, "name"),
            ),
            (
                "UNIQUE constraint failed: organizations.name",
                (Entity::Organization, "name"),
            ),
            (
                "UNIQUE constraint failed: organizations.default_marker",
                (Entity::Administrator, "setup"),
            ),
            (
                r#"duplicate key value violates unique constraint "pk_memberships""#,
                (Entity::Membership, "user"),
            ),
            (
                "UNIQUE constraint failed: memberships.organization_id, memberships.user_id",
                (Entity::Membership, "user"),
            ),
            (
                "UNIQUE constraint failed: team_memberships.team_id, team_memberships.user_id",
                (Entity::TeamMembership, "user"),
            ),
            (
                r#"duplicate key value violates unique constraint "uq_teams_name""#,
                (Entity::Team, "name"),
            ),
            (
                "UNIQUE constraint failed: api_keys.digest",
                (Entity::ApiKey, "digest"),
            ),
            (
                r#"duplicate key value violates unique constraint "uq_api_keys_one_primary""#,
                (Entity::ApiKey, "primary"),
            ),
            (
                "UNIQUE constraint failed: api_keys.user_id",
                (Entity::ApiKey, "primary"),
            ),
            (
                "UNIQUE constraint failed: api_keys.uid",
                (Entity::ApiKey, "uid"),
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(unique_target(msg), *want, "{msg}");
        }
    }

    #[test]
    fn fk_names_give_the_missing_entity() {
        assert_eq!(
            fk_target(
                r#"insert or update on table "memberships" violates foreign key constraint "fk_memberships__organizations""#
            ),
            Some(Entity::Organization)
        );
        assert_eq!(
            fk_target(r#"... constraint "fk_api_keys__users""#),
            Some(Entity::User)
        );
        assert_eq!(fk_target("FOREIGN KEY constraint failed"), None);
    }

    #[test]
    fn transient_codes_are_unavailable() {
        assert!(pg_code_unavailable("08006"));
        assert!(pg_code_unavailable("57P01"));
        assert!(pg_code_unavailable("40001"));
        assert!(!pg_code_unavailable("23505"));
        assert!(sqlite_code_unavailable("5"));
        assert!(sqlite_code_unavailable("517"));
        assert!(sqlite_code_unavailable("262"));
        assert!(!sqlite_code_unavailable("2067"));
        assert!(!sqlite_code_unavailable("garbage"));
    }

    #[test]
    fn connection_errors_are_unavailable_and_others_internal() {
        let e = map_db_err(
            DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout),
            Entity::User,
        );
        assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
        let e = map_db_err(
            DbErr::Conn(RuntimeErr::Internal("refused".into())),
            Entity::User,
        );
        assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
        let e = map_db_err(DbErr::Type("bad".into()), Entity::User);
        assert!(matches!(e, Error::Internal(_)), "{e:?}");
    }
}
