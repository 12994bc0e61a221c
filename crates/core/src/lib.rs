//! `identity-core`: the domain of the identity service.
//!
//! Domain types (parsed, never merely validated), the use cases with their authorization rules,
//! the storage port, errors, the clock, password hashing, the API key format and session
//! tokens. No transport or storage crate appears here.

pub mod clock;
pub mod domain;
pub mod error;
pub mod key_limits;
pub mod keys;
pub mod login_source;
pub mod pagination;
pub mod password;
pub mod ports;
pub mod principal;
pub mod service;
pub mod token;

pub use error::{
    Denial, Entity, Error, FieldViolation, Limit, MAX_VIOLATION_CHARS, MAX_VIOLATIONS,
    Precondition, Result, Violations,
};
