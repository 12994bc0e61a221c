//! `team_memberships`: users in teams, one row per (team_id, user_id).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum TeamMemberships {
    Table,
    Id,
    TeamId,
    UserId,
    Role,
    AddedAt,
}

#[derive(DeriveIden)]
enum Teams {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
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
                    .table(TeamMemberships::Table)
                    .col(big_pk_auto(TeamMemberships::Id))
                    .col(big_integer(TeamMemberships::TeamId))
                    .col(big_integer(TeamMemberships::UserId))
                    .col(string_len(TeamMemberships::Role, 32))
                    .col(timestamp_with_time_zone(TeamMemberships::AddedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_team_memberships__teams")
                            .from(TeamMemberships::Table, TeamMemberships::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_team_memberships__users")
                            .from(TeamMemberships::Table, TeamMemberships::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_team_memberships_team_user")
                    .table(TeamMemberships::Table)
                    .col(TeamMemberships::TeamId)
                    .col(TeamMemberships::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_team_memberships_user_id")
                    .table(TeamMemberships::Table)
                    .col(TeamMemberships::UserId)
                    .col(TeamMemberships::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TeamMemberships::Table).to_owned())
            .await
    }
}
