//! The server's services called in process by the embedded gateway.

use crate::{auth::AuthLayer, observe::ObserveLayer};

/// Calls served at once per gRPC connection, and by the embedded gateway in process (it used to
/// be one connection); more wait for a slot.
pub(crate) const CALLS_PER_CONNECTION: usize = 256;

/// The server's services as a gateway [`identity_gateway::Transport`], called in process: the
/// same observe and auth layers as the network server and the same bound on calls at once as
/// one connection. The call's peer is the gateway's HTTP client (the [`ClientAddr`] the gateway
/// attaches to a Login; none otherwise), never the loopback, and any `x-forwarded-for` is
/// dropped: in process the client address travels as an extension, not as a header.
/// The gateway's upstream deadline bounds every call, waiting for a slot included.
///
/// [`ClientAddr`]: identity_gateway::ClientAddr
pub(crate) fn in_process(
    routes: tonic::service::Routes,
    identity: identity_core::service::Identity,
) -> identity_gateway::Transport {
    use tower::ServiceExt as _;
    let service = tower::ServiceBuilder::new()
        .map_request(move |mut req: http::Request<tonic::body::Body>| {
            let client = req
                .extensions()
                .get::<identity_gateway::ClientAddr>()
                .map(|c| std::net::SocketAddr::new(c.0, 0));
            req.headers_mut().remove("x-forwarded-for");
            req.extensions_mut()
                .insert(tonic::transport::server::TcpConnectInfo {
                    local_addr: None,
                    remote_addr: client,
                });
            req
        })
        .concurrency_limit(CALLS_PER_CONNECTION)
        .layer(ObserveLayer)
        .layer(AuthLayer::new(identity))
        .service(routes)
        .map_err(identity_gateway::TransportError::new);
    identity_gateway::Transport::new(service)
}
