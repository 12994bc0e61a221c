//! The `api_keys` table: key metadata and SHA-256 digests (never plaintext).

use sea_orm::entity::prelude::*;

/// A row of `api_keys`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub uid: Uuid,
    pub user_id: i64,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub prefix: String,
    /// SHA-256 of the full key, 32 bytes.
    #[sea_orm(column_type = "Binary(32)", unique)]
    pub digest: Vec<u8>,
    pub role: String,
    /// JSON array of strings.
    #[sea_orm(column_type = "JsonBinary")]
    pub scopes: Json,
    pub organization_id: Option<Uuid>,
    /// JSON array of UUID strings.
    #[sea_orm(column_type = "JsonBinary")]
    pub dataset_ids: Json,
    /// JSON array of UUID strings.
    #[sea_orm(column_type = "JsonBinary")]
    pub organization_ids: Json,
    pub expires_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub is_primary: bool,
    /// Minted by a session without the password: revoked by the owner's password change.
    pub minted_by_session: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "user_id", to = "id", on_delete = "Cascade")]
    pub user: BelongsTo<super::users::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
