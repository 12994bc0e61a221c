//! Schema migrations. They are the only definition of the schema and run unchanged on Postgres
//! and SQLite. One file per migration: `DeriveMigrationName` names a migration after its file.

// `MigrationTrait` declares `manager: &SchemaManager` with an elided lifetime; under
// `async_trait`, spelling it `SchemaManager<'_>` no longer matches the trait.
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_users;
mod m20261123_000002_create_organizations;
mod m20261123_000003_create_memberships;
mod m20261123_000004_create_teams;
mod m20261123_000005_create_team_memberships;
mod m20261123_000006_create_api_keys;
mod m20261123_000007_create_login_failures;
mod m20261123_000008_create_idempotency_records;
mod m20261204_000009_add_api_keys_minted_by_session;
mod m20261204_000010_add_users_username_skeleton;

/// All migrations of the identity schema, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_users::Migration),
            Box::new(m20261123_000002_create_organizations::Migration),
            Box::new(m20261123_000003_create_memberships::Migration),
            Box::new(m20261123_000004_create_teams::Migration),
            Box::new(m20261123_000005_create_team_memberships::Migration),
            Box::new(m20261123_000006_create_api_keys::Migration),
            Box::new(m20261123_000007_create_login_failures::Migration),
            Box::new(m20261123_000008_create_idempotency_records::Migration),
            Box::new(m20261204_000009_add_api_keys_minted_by_session::Migration),
            Box::new(m20261204_000010_add_users_username_skeleton::Migration),
        ]
    }
}
