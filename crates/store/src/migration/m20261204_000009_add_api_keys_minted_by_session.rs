//! `api_keys.minted_by_session`: whether a session minted the key without the owner's password
//! (or a key minted so minted or was rolled into it). A password change revokes these keys, so a
//! stolen session leaves no working key behind. Existing keys are `false`: how they were minted
//! is unknown, and revoking them all would break every client at upgrade.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    MintedBySession,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(boolean(ApiKeys::MintedBySession).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .drop_column(ApiKeys::MintedBySession)
                    .to_owned(),
            )
            .await
    }
}
