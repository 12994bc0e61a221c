//! The `idempotency_records` table.

use sea_orm::entity::prelude::*;

/// A row of `idempotency_records`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_records")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub caller_id: i64,
    pub operation: String,
    pub request_id: String,
    /// SHA-256 of the request's canonical form (no secrets in it).
    #[sea_orm(column_type = "Binary(32)")]
    pub fingerprint: Vec<u8>,
    pub resource_id: i64,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
