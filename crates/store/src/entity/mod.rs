//! SeaORM entities of the identity schema.
//!
//! These files hold derives only; conversions to domain types live in `crate::convert` and
//! queries in `crate::repo`. The schema itself is defined by the migrations in
//! `crate::migration`, never by these entities.

pub mod api_keys;
pub mod idempotency_records;
pub mod login_failures;
pub mod memberships;
pub mod organizations;
pub mod team_memberships;
pub mod teams;
pub mod users;
