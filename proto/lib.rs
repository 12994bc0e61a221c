//! `identity-api`: the `identity.v1` wire contract (generated prost messages and tonic services).
//!
//! Nothing but generated code lives here; conversions to domain types are in the server.

#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::wildcard_enum_match_arm,
    missing_debug_implementations
)]
#[rustfmt::skip]
mod generated {
    pub mod identity {
        pub mod v1 {
            tonic::include_proto!("identity.v1");
        }
    }
}

pub use generated::identity;

/// The `identity.v1` package.
pub use generated::identity::v1 as pb;

/// Encoded `FileDescriptorSet` of `identity.v1`, for tonic-reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("identity_descriptor");
