//! gRPC server reflection, v1 and v1alpha.

use identity_testkit::TestApp;
use prost::Message as _;
use tonic_reflection::pb::{v1, v1alpha};

const EXPECTED: [&str; 6] = [
    "identity.v1.UserService",
    "identity.v1.ApiKeyService",
    "identity.v1.AuthService",
    "identity.v1.OrganizationService",
    "identity.v1.TeamService",
    "grpc.health.v1.Health",
];

both!(reflection_lists_every_service);

async fn v1_request(
    app: &TestApp,
    request: v1::server_reflection_request::MessageRequest,
) -> v1::server_reflection_response::MessageResponse {
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(app.channel());
    let outbound = tokio_stream::iter(vec![v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    }]);
    let mut inbound = client
        .server_reflection_info(outbound)
        .await
        .unwrap_or_else(|s| panic!("v1 reflection refused: {s:?}"))
        .into_inner();
    inbound
        .message()
        .await
        .unwrap_or_else(|s| panic!("v1 reflection stream failed: {s:?}"))
        .and_then(|r| r.message_response)
        .unwrap_or_else(|| panic!("v1 reflection sent no answer"))
}

async fn reflection_lists_every_service(app: TestApp) {
    // v1: list services.
    let answer = v1_request(
        &app,
        v1::server_reflection_request::MessageRequest::ListServices(String::new()),
    )
    .await;
    let v1::server_reflection_response::MessageResponse::ListServicesResponse(list) = answer else {
        panic!("v1 ListServices answered {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in EXPECTED {
        assert!(
            names.iter().any(|n| n == expected),
            "v1 reflection does not list {expected}: {names:?}"
        );
    }

    // v1: the descriptor of a service can be fetched and names its methods.
    let answer = v1_request(
        &app,
        v1::server_reflection_request::MessageRequest::FileContainingSymbol(
            "identity.v1.UserService".to_owned(),
        ),
    )
    .await;
    let v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files) = answer
    else {
        panic!("v1 FileContainingSymbol answered {answer:?}");
    };
    let descriptors: Vec<prost_types::FileDescriptorProto> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| {
            prost_types::FileDescriptorProto::decode(bytes.as_slice())
                .unwrap_or_else(|e| panic!("bad descriptor: {e}"))
        })
        .collect();
    let user_service = descriptors
        .iter()
        .flat_map(|f| f.service.iter())
        .find(|s| s.name() == "UserService")
        .unwrap_or_else(|| {
            panic!(
                "no UserService in {:?}",
                descriptors.iter().map(|f| f.name()).collect::<Vec<_>>()
            )
        });
    let methods: Vec<&str> = user_service.method.iter().map(|m| m.name()).collect();
    assert!(
        methods.contains(&"CreateUser") && methods.contains(&"ListUsers"),
        "{methods:?}"
    );

    // v1alpha answers too.
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel());
    let outbound = tokio_stream::iter(vec![v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    }]);
    let answer = client
        .server_reflection_info(outbound)
        .await
        .unwrap_or_else(|s| panic!("v1alpha reflection refused: {s:?}"))
        .into_inner()
        .message()
        .await
        .unwrap_or_else(|s| panic!("v1alpha reflection stream failed: {s:?}"))
        .and_then(|r| r.message_response);
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer
    else {
        panic!("v1alpha ListServices answered {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in EXPECTED {
        assert!(
            names.iter().any(|n| n == expected),
            "v1alpha reflection does not list {expected}: {names:?}"
        );
    }
}
