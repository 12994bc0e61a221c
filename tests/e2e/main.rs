//! End-to-end tests: the real server on port 0 with a fresh database per test, driven through the
//! generated gRPC clients. Every test runs against Postgres and SQLite (`<test>::postgres`,
//! `<test>::sqlite`); see `support::both!`.

#[macro_use]
mod support;

mod access;
mod api_key_roles;
mod cache;
mod faults;
mod flow;
mod health;
mod idempotency;
mod jwks;
mod login_protection;
mod member_handles;
mod observability;
mod organizations;
mod pagination;
mod reflection;
mod secrets;
mod security;
mod security_keys;
mod security_memory;
mod security_transport;
mod security_users;
mod sessions;
mod settings;
