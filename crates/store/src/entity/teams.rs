//! The `teams` table.

use sea_orm::entity::prelude::*;

/// A row of `teams`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "teams")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub created_at: DateTimeUtc,
    #[sea_orm(has_many)]
    pub team_memberships: HasMany<super::team_memberships::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
