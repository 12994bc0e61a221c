//! The largest request every RPC accepts: every string at its longest accepted length (4-byte
//! characters where the limit counts characters, the longest accepted spelling of UUIDs), every
//! repeated field at its count limit. Sent in an order that makes each of them succeed.

use identity_api::pb;
use identity_core::{
    domain::MAX_PASSWORD_BYTES,
    service::{MAX_IDENTIFIER_CHARS, MAX_REQUEST_ID_LEN, MAX_SEARCH_CHARS, bounds},
};
use prost::Message;
use tonic::{Code, transport::Channel};

use crate::wire::call;

/// One RPC as it was sent: what the hostile variants start from.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    /// `identity.v1.Service/Method`.
    pub(crate) rpc: String,
    /// The encoded largest valid request.
    pub(crate) body: Vec<u8>,
    /// The credential it was sent with.
    pub(crate) credential: Option<String>,
    /// Its repeated string fields, as field-number paths.
    pub(crate) repeated: Vec<Vec<u32>>,
}

/// A character of 4 bytes in UTF-8 (and no case, so it survives lower-casing).
const WIDE: char = '\u{1D11E}';

/// `n` characters of 4 bytes each; `tag` keeps strings of the same length apart.
fn wide(n: usize, tag: char) -> String {
    let mut s: String = std::iter::repeat_n(WIDE, n - 1).collect();
    s.push(char::from_u32(0x1F600 + (u32::from(tag) & 0x3f)).unwrap_or(WIDE));
    s
}

/// An e-mail address of exactly 254 bytes.
fn email(tag: char) -> String {
    let domain = "@example.com";
    format!("{tag}{}{domain}", "e".repeat(254 - 1 - domain.len()))
}

/// An e-mail filter at its count limit, every address at its longest.
fn filter_emails() -> Vec<String> {
    let tags = ('a'..='z').cycle();
    tags.take(bounds::MAX_FILTER_EMAILS).map(email).collect()
}

/// The longest accepted spelling of a UUID: `urn:uuid:` and the hyphenated form (45 bytes).
fn urn(id: &str) -> String {
    format!("urn:uuid:{id}")
}

fn password(tag: char) -> String {
    let mut p = "p".repeat(MAX_PASSWORD_BYTES - 1);
    p.push(tag);
    p
}

fn request_id(tag: char) -> String {
    let mut r = "r".repeat(MAX_REQUEST_ID_LEN - 1);
    r.push(tag);
    r
}

/// Sends the cases and remembers them.
pub(crate) struct Runner<'a> {
    pub(crate) channel: &'a Channel,
    pub(crate) sent: Vec<Sent>,
    /// Called after every call (reads the server's RSS).
    pub(crate) after_call: &'a mut dyn FnMut(&str),
    /// The administrator's session, once logged in.
    pub(crate) admin: Option<String>,
}

impl Runner<'_> {
    /// Send `message` to `rpc` as the administrator; it must succeed.
    async fn ok<R: Message + Default>(&mut self, rpc: &str, message: &impl Message) -> R {
        let admin = self.admin.clone();
        self.send(rpc, message, admin.as_deref(), &[], Code::Ok)
            .await
    }

    /// Send `message` to `rpc` and decode the answer as `R`; the call must end with `expect`.
    async fn send<R: Message + Default>(
        &mut self,
        rpc: &str,
        message: &impl Message,
        credential: Option<&str>,
        repeated: &[&[u32]],
        expect: Code,
    ) -> R {
        let body = message.encode_to_vec();
        let result = call(self.channel, rpc, body.clone(), credential).await;
        (self.after_call)(rpc);
        self.sent.push(Sent {
            rpc: rpc.to_owned(),
            body,
            credential: credential.map(str::to_owned),
            repeated: repeated.iter().map(|p| p.to_vec()).collect(),
        });
        match result {
            Ok(bytes) if expect == Code::Ok => R::decode(bytes.as_slice())
                .unwrap_or_else(|e| panic!("{rpc}: undecodable response: {e}")),
            Ok(_) => panic!("{rpc}: expected {expect:?}, got OK"),
            Err(s) if s.code() == expect => R::default(),
            Err(s) => panic!("{rpc}: expected {expect:?}, got {s:?}"),
        }
    }
}

/// Send the largest accepted request of every RPC once.
pub(crate) async fn largest_accepted(r: &mut Runner<'_>) {
    const U: &str = "identity.v1.UserService/";
    const K: &str = "identity.v1.ApiKeyService/";
    const A: &str = "identity.v1.AuthService/";
    const O: &str = "identity.v1.OrganizationService/";
    const T: &str = "identity.v1.TeamService/";
    let ok = Code::Ok;

    let admin_name = wide(128, 'a');
    let init = pb::InitAdminRequest {
        username: admin_name.clone(),
        password: password('a'),
        email: Some(email('a')),
        display_name: wide(256, 'a'),
        organization_name: wide(256, 'd'),
    };
    let init: pb::InitAdminResponse = r.send(&format!("{A}InitAdmin"), &init, None, &[], ok).await;
    let default_org = init.organization.unwrap_or_default().id;
    let admin_handle = init.user.unwrap_or_default().handle;
    let login = |identifier: String, password: String| pb::LoginRequest {
        identifier,
        password,
    };
    let admin: pb::LoginResponse = r
        .send(
            &format!("{A}Login"),
            &login(admin_name.clone(), password('a')),
            None,
            &[],
            ok,
        )
        .await;
    let admin = admin.session_token;
    let adm = Some(admin.as_str());
    r.admin = Some(admin.clone());
    // The longest identifier there is: no such user, refused after the same work.
    let _: pb::LoginResponse = r
        .send(
            &format!("{A}Login"),
            &login(wide(MAX_IDENTIFIER_CHARS, 'z'), password('z')),
            None,
            &[],
            Code::Unauthenticated,
        )
        .await;
    let _: pb::GetSetupStateResponse = r
        .send(
            &format!("{A}GetSetupState"),
            &pb::GetSetupStateRequest {},
            None,
            &[],
            ok,
        )
        .await;
    let _: pb::GetJwksResponse = r
        .send(
            &format!("{A}GetJwks"),
            &pb::GetJwksRequest {},
            None,
            &[],
            ok,
        )
        .await;
    // The largest accepted: 64 scopes of 256 characters (not the key's: refused after the
    // count check, which is the work that matters).
    let _: pb::ExchangeApiKeyResponse = r
        .send(
            &format!("{A}ExchangeApiKey"),
            &pb::ExchangeApiKeyRequest {
                api_key: wide(64, 'k'),
                ttl_seconds: 900,
                scopes: vec![wide(256, 's'); 64],
            },
            None,
            &[&[3]],
            Code::Unauthenticated,
        )
        .await;
    let _: pb::AuthenticateResponse = r
        .send(
            &format!("{A}Authenticate"),
            &pb::AuthenticateRequest {
                credential: admin.clone(),
            },
            None,
            &[],
            ok,
        )
        .await;
    let _: pb::WhoAmIResponse = r.ok(&format!("{A}WhoAmI"), &pb::WhoAmIRequest {}).await;

    // Users.
    let prefs = pb::Preferences {
        theme_color: wide(64, 't'),
        use_cache: true,
        show_chat: true,
        show_portal: true,
        notifications_enabled: true,
        access_to_sso_config: true,
    };
    let create = pb::CreateUserRequest {
        username: wide(128, 'u'),
        email: Some(email('u')),
        display_name: wide(256, 'u'),
        password: Some(password('u')),
        global_role: pb::GlobalRole::Standard as i32,
        email_verified: true,
        preferences: Some(prefs.clone()),
        organization_id: Some(urn(&default_org)),
        organization_role: pb::OrganizationRole::Admin as i32,
        request_id: Some(request_id('u')),
    };
    let user: pb::CreateUserResponse = r.ok(&format!("{U}CreateUser"), &create).await;
    let user = user.user.unwrap_or_default();
    let doomed: pb::CreateUserResponse = r
        .ok(
            &format!("{U}CreateUser"),
            &pb::CreateUserRequest {
                username: "doomed".to_owned(),
                ..Default::default()
            },
        )
        .await;
    let _: pb::GetUserResponse = r
        .ok(
            &format!("{U}GetUser"),
            &pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Username(wide(128, 'u'))),
            },
        )
        .await;
    let list = pb::ListUsersRequest {
        page_size: 100,
        page_token: String::new(),
        emails: filter_emails(),
        username: Some(wide(128, 'u')),
        search: Some(wide(MAX_SEARCH_CHARS, 'u')),
        order_by: pb::UserOrderField::DisplayName as i32,
        descending: true,
        offset: 100_000,
        include_total_count: true,
    };
    let _: pb::ListUsersResponse = r
        .send(&format!("{U}ListUsers"), &list, adm, &[&[3]], ok)
        .await;
    let all_paths = [
        "username",
        "email",
        "display_name",
        "global_role",
        "email_verified",
        "preferences",
        "preferences.theme_color",
        "preferences.use_cache",
        "preferences.show_chat",
        "preferences.show_portal",
        "preferences.notifications_enabled",
        "preferences.access_to_sso_config",
    ];
    let update = pb::UpdateUserRequest {
        user_id: user.id,
        user: Some(pb::UserUpdate {
            username: wide(128, 'v'),
            email: Some(email('v')),
            display_name: wide(256, 'v'),
            global_role: pb::GlobalRole::Standard as i32,
            email_verified: true,
            preferences: Some(prefs),
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: all_paths
                .iter()
                .cycle()
                .take(bounds::MAX_MASK_PATHS)
                .map(|p| (*p).to_owned())
                .collect(),
        }),
    };
    let _: pb::UpdateUserResponse = r
        .send(&format!("{U}UpdateUser"), &update, adm, &[&[3, 1]], ok)
        .await;
    let change = pb::ChangePasswordRequest {
        user_id: user.id,
        current_password: Some(password('u')),
        new_password: password('w'),
    };
    let _: pb::ChangePasswordResponse = r.ok(&format!("{U}ChangePassword"), &change).await;
    let _: pb::DeleteUserResponse = r
        .ok(
            &format!("{U}DeleteUser"),
            &pb::DeleteUserRequest {
                user_id: doomed.user.unwrap_or_default().id,
            },
        )
        .await;

    // API keys.
    let ids = |tag: u8| -> Vec<String> {
        (0..bounds::MAX_KEY_IDS)
            .map(|i| urn(&format!("{tag:08x}-0000-4000-8000-{i:012x}")))
            .collect()
    };
    let key = pb::CreateApiKeyRequest {
        user_id: Some(user.id),
        name: wide(128, 'k'),
        description: wide(1024, 'k'),
        role: pb::ApiKeyRole::Read as i32,
        scopes: (0..bounds::MAX_SCOPES)
            .map(|i| format!("{i:03}{}", "s".repeat(253)))
            .collect(),
        organization_id: Some(urn(&default_org)),
        dataset_ids: ids(1),
        organization_ids: ids(2),
        expires_at: Some(prost_types::Timestamp {
            seconds: 4_102_444_800,
            nanos: 999_999_999,
        }),
        password: Some(password('w')),
        primary: true,
        request_id: Some(request_id('k')),
        // Exclusive with `expires_at`: the largest valid request has only one of them.
        expires_in_seconds: None,
    };
    let key: pb::CreateApiKeyResponse = r
        .send(
            &format!("{K}CreateApiKey"),
            &key,
            adm,
            &[&[5], &[7], &[8]],
            ok,
        )
        .await;
    let key = key.api_key.unwrap_or_default();
    let _: pb::ListApiKeysResponse = r
        .ok(
            &format!("{K}ListApiKeys"),
            &pb::ListApiKeysRequest {
                user_id: Some(user.id),
                include_revoked: true,
                page_size: 100,
                page_token: String::new(),
                organization_id: Some(urn(&default_org)),
            },
        )
        .await;
    let key_ref = |uid: &str| pb::ApiKeyRef {
        key: Some(pb::api_key_ref::Key::Uid(urn(uid))),
    };
    let _: pb::GetApiKeyResponse = r
        .ok(
            &format!("{K}GetApiKey"),
            &pb::GetApiKeyRequest {
                key: Some(key_ref(&key.uid)),
            },
        )
        .await;
    let rolled: pb::RollApiKeyResponse = r
        .ok(
            &format!("{K}RollApiKey"),
            &pb::RollApiKeyRequest {
                target: Some(pb::roll_api_key_request::Target::Key(key_ref(&key.uid))),
            },
        )
        .await;
    let _: pb::RevokeApiKeyResponse = r
        .ok(
            &format!("{K}RevokeApiKey"),
            &pb::RevokeApiKeyRequest {
                key: Some(key_ref(&rolled.api_key.unwrap_or_default().uid)),
            },
        )
        .await;

    // Organizations.
    let org: pb::CreateOrganizationResponse = r
        .ok(
            &format!("{O}CreateOrganization"),
            &pb::CreateOrganizationRequest {
                name: wide(256, 'o'),
            },
        )
        .await;
    let org = urn(&org.organization.unwrap_or_default().id);
    let _: pb::GetOrganizationResponse = r
        .ok(
            &format!("{O}GetOrganization"),
            &pb::GetOrganizationRequest {
                organization: Some(pb::OrganizationRef {
                    org: Some(pb::organization_ref::Org::Id(org.clone())),
                }),
            },
        )
        .await;
    let member = |role: pb::OrganizationRole| pb::AddMemberRequest {
        organization_id: org.clone(),
        user_id: user.id,
        role: role as i32,
    };
    let _: pb::AddMemberResponse = r
        .ok(
            &format!("{O}AddMember"),
            &member(pb::OrganizationRole::Admin),
        )
        .await;
    let m = member(pb::OrganizationRole::Owner);
    let _: pb::UpdateMemberRoleResponse = r
        .ok(
            &format!("{O}UpdateMemberRole"),
            &pb::UpdateMemberRoleRequest {
                organization_id: m.organization_id,
                user_id: m.user_id,
                role: m.role,
            },
        )
        .await;
    let _: pb::GetMemberResponse = r
        .ok(
            &format!("{O}GetMember"),
            &pb::GetMemberRequest {
                organization_id: org.clone(),
                user_id: user.id,
            },
        )
        .await;
    let mut handles: Vec<String> = (0..bounds::MAX_FILTER_HANDLES - 1)
        .map(|i| format!("user-{i:032x}"))
        .collect();
    handles.push(user.handle.clone());
    let members = pb::ListMembersRequest {
        organization_id: org.clone(),
        page_size: 100,
        page_token: String::new(),
        emails: filter_emails(),
        after_user_handle: Some(admin_handle.clone()),
        user_handles: handles,
    };
    let _: pb::ListMembersResponse = r
        .send(&format!("{O}ListMembers"), &members, adm, &[&[4], &[6]], ok)
        .await;
    let _: pb::ListUserOrganizationsResponse = r
        .ok(
            &format!("{O}ListUserOrganizations"),
            &pb::ListUserOrganizationsRequest {
                user_id: Some(user.id),
            },
        )
        .await;
    let _: pb::RemoveMemberResponse = r
        .ok(
            &format!("{O}RemoveMember"),
            &pb::RemoveMemberRequest {
                organization_id: org.clone(),
                user_id: user.id,
            },
        )
        .await;

    // Teams.
    let team: pb::CreateTeamResponse = r
        .ok(
            &format!("{T}CreateTeam"),
            &pb::CreateTeamRequest {
                name: wide(256, 't'),
            },
        )
        .await;
    let team = team.team.unwrap_or_default().id;
    let _: pb::ListTeamsResponse = r
        .ok(
            &format!("{T}ListTeams"),
            &pb::ListTeamsRequest {
                page_size: 100,
                page_token: String::new(),
            },
        )
        .await;
    let _: pb::AddTeamMemberResponse = r
        .ok(
            &format!("{T}AddTeamMember"),
            &pb::AddTeamMemberRequest {
                team_id: team,
                user_id: user.id,
                role: pb::TeamRole::Leader as i32,
            },
        )
        .await;
    let _: pb::ListUserTeamMembershipsResponse = r
        .ok(
            &format!("{T}ListUserTeamMemberships"),
            &pb::ListUserTeamMembershipsRequest {
                user_id: Some(user.id),
            },
        )
        .await;
    let _: pb::RemoveTeamMemberResponse = r
        .ok(
            &format!("{T}RemoveTeamMember"),
            &pb::RemoveTeamMemberRequest {
                team_id: team,
                user_id: user.id,
            },
        )
        .await;
}
