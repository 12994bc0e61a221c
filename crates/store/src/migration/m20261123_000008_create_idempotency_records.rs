//! `idempotency_records`: (caller, operation, request_id) → the user or key a create produced,
//! written in the create's transaction. The unique index makes concurrent retries produce one
//! row; records older than the TTL are ignored and purged.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum IdempotencyRecords {
    Table,
    Id,
    CallerId,
    Operation,
    RequestId,
    Fingerprint,
    ResourceId,
    CreatedAt,
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
                    .table(IdempotencyRecords::Table)
                    .col(big_pk_auto(IdempotencyRecords::Id))
                    // No foreign key: records expire on their own.
                    .col(big_integer(IdempotencyRecords::CallerId))
                    .col(string_len(IdempotencyRecords::Operation, 32))
                    .col(string_len(IdempotencyRecords::RequestId, 128))
                    .col(binary_len(IdempotencyRecords::Fingerprint, 32))
                    .col(big_integer(IdempotencyRecords::ResourceId))
                    .col(timestamp_with_time_zone(IdempotencyRecords::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_idempotency_records_request")
                    .table(IdempotencyRecords::Table)
                    .col(IdempotencyRecords::CallerId)
                    .col(IdempotencyRecords::Operation)
                    .col(IdempotencyRecords::RequestId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_idempotency_records_created_at")
                    .table(IdempotencyRecords::Table)
                    .col(IdempotencyRecords::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyRecords::Table).to_owned())
            .await
    }
}
