//! The largest message each gRPC service decodes (tonic's `max_decoding_message_size`; its
//! default is 4 MiB). A larger message is refused by tonic with OUT_OF_RANGE before it is
//! buffered or decoded, so no request can make the server hold more than the cap of its encoded
//! bytes plus their decoded form (a list of empty strings is the worst case: 2 encoded bytes
//! become a 24-byte `String`, so 68 KiB decode to at most about 0.8 MiB).
//!
//! Every field of `identity.v1` requests is small and bounded by the use cases (see
//! `identity_core::service::bounds` for the lists), so the caps are far below tonic's default:
//!
//! - **UserService, ApiKeyService, OrganizationService, AuthService: 68 KiB.** The largest valid
//!   requests are CreateApiKey (about 46 KiB: 64 scopes of 256 bytes, 2 × 256 ids in their
//!   longest accepted form, a 1,024-character description, a 1,024-byte password), ListMembers
//!   (100 e-mails of 254 bytes and 100 handles: about 30 KiB) and ListUsers (about 27 KiB). The
//!   REST gateway feeds these services from bodies of up to 64 KiB
//!   ([`identity_gateway::GatewayConfig`]); their protobuf is never longer than the JSON but gets
//!   fields from headers (idempotency key, organization), hence 4 KiB of headroom: whatever a
//!   REST client can send is judged by the use cases (400 in its dialect), not cut off here.
//! - **TeamService: 16 KiB.** Its only string is a team name of at most 256 characters
//!   (1 KiB); no REST body reaches it.
//! - **Reflection: 16 KiB** (symbol and file names). **Health: 1 KiB** (a service name).

/// UserService, ApiKeyService, OrganizationService and AuthService (see the module docs).
pub const GATEWAY_FED_SERVICE: usize = 68 * 1024;
/// TeamService.
pub const TEAM_SERVICE: usize = 16 * 1024;
/// Server reflection, v1 and v1alpha.
pub const REFLECTION: usize = 16 * 1024;
/// `grpc.health.v1.Health`.
pub const HEALTH: usize = 1024;

// Every cap is far below tonic's 4 MiB default.
const _: () = assert!(GATEWAY_FED_SERVICE <= 4 * 1024 * 1024 / 32);

/// The decode cap of a fully qualified service name (`identity.v1.UserService`), if it is one
/// this server serves.
pub fn decode_cap(service: &str) -> Option<usize> {
    match service {
        "identity.v1.UserService"
        | "identity.v1.ApiKeyService"
        | "identity.v1.OrganizationService"
        | "identity.v1.AuthService" => Some(GATEWAY_FED_SERVICE),
        "identity.v1.TeamService" => Some(TEAM_SERVICE),
        "grpc.reflection.v1.ServerReflection" | "grpc.reflection.v1alpha.ServerReflection" => {
            Some(REFLECTION)
        }
        "grpc.health.v1.Health" => Some(HEALTH),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_bodies_fit_under_the_cap_with_headroom() {
        let body = identity_gateway::GatewayConfig::default().body_limit;
        assert!(GATEWAY_FED_SERVICE >= body + 4 * 1024);
    }

    #[test]
    fn every_identity_service_has_a_cap() {
        use prost::Message as _;
        let set = prost_types::FileDescriptorSet::decode(identity_api::FILE_DESCRIPTOR_SET)
            .unwrap_or_default();
        let mut services = 0;
        for file in set.file {
            for s in &file.service {
                let name = format!("{}.{}", file.package(), s.name());
                assert!(decode_cap(&name).is_some(), "{name} has no decode cap");
                services += 1;
            }
        }
        assert_eq!(services, 5);
    }
}
