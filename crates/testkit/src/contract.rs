//! The compiled `identity.v1` contract, for suites that must cover every RPC.

use std::collections::BTreeSet;

use prost::Message as _;

/// Every `package.Service/Method` of the compiled contract, so that a suite which iterates them
/// fails when an RPC is added without a case.
pub fn all_rpcs() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(identity_api::FILE_DESCRIPTOR_SET)
        .unwrap_or_default();
    let mut out = BTreeSet::new();
    for file in set.file {
        for service in &file.service {
            for method in &service.method {
                out.insert(format!(
                    "{}.{}/{}",
                    file.package(),
                    service.name(),
                    method.name()
                ));
            }
        }
    }
    out
}
