//! `login_failures`: recent failed logins per presented identifier (lower-cased), for the
//! per-account login backoff shared by every replica. Keyed by the identifier rather than the
//! user so that unknown identifiers back off exactly like real accounts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    IdentifierKey,
    Failures,
    LastFailureAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginFailures::Table)
                    // At most 320 characters, lower-cased: up to 1280 bytes of UTF-8.
                    .col(string_len(LoginFailures::IdentifierKey, 1300).primary_key())
                    .col(integer(LoginFailures::Failures))
                    .col(timestamp_with_time_zone(LoginFailures::LastFailureAt))
                    .to_owned(),
            )
            .await?;
        // Purging forgotten failures.
        manager
            .create_index(
                Index::create()
                    .name("ix_login_failures_last_failure_at")
                    .table(LoginFailures::Table)
                    .col(LoginFailures::LastFailureAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginFailures::Table).to_owned())
            .await
    }
}
