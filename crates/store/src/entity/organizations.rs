//! The `organizations` table.

use sea_orm::entity::prelude::*;

/// A row of `organizations`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    pub is_default: bool,
    /// `Some(1)` for the default organization, `NULL` otherwise; a unique index on it allows
    /// at most one default organization.
    #[sea_orm(unique)]
    pub default_marker: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(has_many)]
    pub memberships: HasMany<super::memberships::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
