//! `identity-server`: configuration, start-up, the tonic services, the authentication layer,
//! health and reflection.

pub mod admin;
pub mod auth;
pub mod config;
pub mod db_gate;
pub mod grpc;
pub mod health;
mod in_process;
pub mod limits;
mod listener;
pub mod login_limit;
pub mod observe;
pub mod proxy_net;
mod settings_check;
pub mod startup;
pub mod telemetry;
pub mod token_settings;

pub use config::Settings;
pub use identity_cache::{CacheCounters, CacheStats};
pub use startup::Application;
