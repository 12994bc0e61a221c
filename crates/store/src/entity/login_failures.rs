//! The `login_failures` table.

use sea_orm::entity::prelude::*;

/// A row of `login_failures`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_failures")]
pub struct Model {
    /// Lower-cased login identifier as presented.
    #[sea_orm(primary_key, auto_increment = false)]
    pub identifier_key: String,
    pub failures: i32,
    pub last_failure_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
