"""Trieve generation C with Trieve's own client, trieve-py-client 0.12.12, unmodified.

Generation C takes the organization from the `TR-Organization` header and creates keys per
organization. Driven through `AuthApi.get_me`, `OrganizationApi.create_organization`,
`create_organization_api_key`, `get_organization_api_keys`, `delete_organization_api_key`,
`get_organization_users`, and `UserApi.update_user` (with `tr_organization`), `get_user_api_keys`,
`delete_user_api_key`, configured as its docs say,
`Configuration(host=<gateway>, api_key={"ApiKey": <credential>})` (it sends
`Authorization: <credential>` raw). Assertions are on the parsed models and on effects: a new key
authenticates, a deleted key no longer does, a role change shows in `get_organization_users` and
the member's `get_me`.

Bootstrap (this client cannot create users): the administrator through Portainer's
`/api/users/admin/init` + `/api/auth` on the same gateway, standard users through Portainer's
`POST /api/users`; a session token is a valid Trieve credential.
"""

import json
import os
import urllib.error
import urllib.request

import pytest
import trieve_py_client
from trieve_py_client.exceptions import BadRequestException, ForbiddenException, UnauthorizedException

GATEWAY_URL = os.environ["GATEWAY_URL"].rstrip("/")
ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1234"
PASSWORD = "a-long-password-1"
NIL = "00000000-0000-0000-0000-000000000000"
UNKNOWN = "0f0e0d0c-0b0a-4908-8706-050403020100"
HIGHER_ROLE = "Can not grant a user a higher role than that of the requesting user's"


# --- plain HTTP for the bootstrap (Portainer's routes on the same gateway) --------------------


def http(method, path, body=None, authorization=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(GATEWAY_URL + path, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if authorization is not None:
        req.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    return status, (json.loads(text) if text else None)


def login(username, password):
    status, body = http("POST", "/api/auth", {"username": username, "password": password})
    assert status == 200, body
    return body["jwt"]


# --- the client -------------------------------------------------------------------------------


def client(credential):
    cfg = trieve_py_client.Configuration(host=GATEWAY_URL, api_key={"ApiKey": credential})
    return trieve_py_client.ApiClient(cfg)


def auth_api(credential):
    return trieve_py_client.AuthApi(client(credential))


def org_api(credential):
    return trieve_py_client.OrganizationApi(client(credential))


def user_api(credential):
    return trieve_py_client.UserApi(client(credential))


def get_me(credential):
    m = auth_api(credential).get_me()
    assert isinstance(m, trieve_py_client.SlimUser)
    for o in m.orgs:
        assert isinstance(o, trieve_py_client.Organization)
        assert o.deleted == 0
    for uo in m.user_orgs:
        assert isinstance(uo, trieve_py_client.UserOrganization)
        assert uo.user_id == m.id
    return m


def users_of(credential, org):
    users = org_api(credential).get_organization_users(tr_organization=org, organization_id=org)
    assert isinstance(users, list)
    out = {}
    for u in users:
        assert isinstance(u, trieve_py_client.SlimUser)
        (membership,) = u.user_orgs
        assert membership.organization_id == org and membership.user_id == u.id
        out[u.id] = membership.role
    return out


def set_role(credential, org, role, user_id=None):
    payload = trieve_py_client.UpdateUserOrgRoleReqPayload(role=role, user_id=user_id)
    return user_api(credential).update_user(tr_organization=org, update_user_org_role_req_payload=payload)


def org_key(credential, org, name, role, **extra):
    payload = trieve_py_client.CreateApiKeyReqPayload(name=name, role=role, **extra)
    resp = org_api(credential).create_organization_api_key(tr_organization=org, create_api_key_req_payload=payload)
    assert isinstance(resp, trieve_py_client.CreateApiKeyResponse)
    assert isinstance(resp.api_key, str) and resp.api_key
    return resp.api_key


def error(exc_info, status, message=None):
    e = exc_info.value
    assert e.status == status, (e.status, e.body)
    body = json.loads(e.body)
    assert set(body) == {"message"}, e.body
    if status == 400:
        assert isinstance(e.data, trieve_py_client.ErrorResponseBody), e.body
    if message is not None:
        assert body["message"] == message, e.body


class User:
    def __init__(self, jwt):
        self.jwt = jwt
        self.uid = get_me(jwt).id


@pytest.fixture(scope="module")
def world():
    """The administrator (owner of the default organization) and the default organization."""
    status, body = http("POST", "/api/users/admin/init", {"username": ADMIN, "password": ADMIN_PASSWORD})
    assert status == 200, body
    admin = User(login(ADMIN, ADMIN_PASSWORD))
    org = get_me(admin.jwt).orgs[0].id
    return admin, org


def new_user(world, name):
    admin, _ = world
    status, body = http(
        "POST", "/api/users", {"username": name, "password": PASSWORD, "role": 2}, "Bearer " + admin.jwt
    )
    assert status == 200, body
    return User(login(name, PASSWORD))


# --- tests ------------------------------------------------------------------------------------


def test_get_me(world):
    admin, org = world
    m = get_me(admin.jwt)
    assert m.id == admin.uid
    assert m.email == ""  # created without e-mail
    assert m.name == ADMIN
    assert [o.id for o in m.orgs] == [org] and m.orgs[0].name == "Default"
    assert [(uo.organization_id, uo.role) for uo in m.user_orgs] == [(org, 2)]
    bob = new_user(world, "bob")
    b = get_me(bob.jwt)
    assert b.name == "bob" and [(uo.organization_id, uo.role) for uo in b.user_orgs] == [(org, 0)]
    with pytest.raises(UnauthorizedException) as e:
        auth_api("idk_not_a_key").get_me()
    error(e, 401, "Unauthorized")


def test_create_organization(world):
    carol = new_user(world, "carol")
    o = org_api(carol.jwt).create_organization(trieve_py_client.CreateOrganizationReqPayload(name="Acme"))
    assert isinstance(o, trieve_py_client.Organization)
    assert o.name == "Acme" and o.deleted == 0
    mine = {uo.organization_id: uo.role for uo in get_me(carol.jwt).user_orgs}
    assert mine[o.id] == 2
    assert users_of(carol.jwt, o.id) == {carol.uid: 2}
    with pytest.raises(BadRequestException) as e:  # the name is taken
        org_api(carol.jwt).create_organization(trieve_py_client.CreateOrganizationReqPayload(name="Acme"))
    error(e, 400)


def test_update_user_with_tr_organization(world):
    admin, org = world
    dave, erin = new_user(world, "dave"), new_user(world, "erin")
    assert users_of(admin.jwt, org)[dave.uid] == 0

    assert set_role(admin.jwt, org, 1, dave.uid) is None  # 204
    assert users_of(admin.jwt, org)[dave.uid] == 1
    assert [uo.role for uo in get_me(dave.jwt).user_orgs if uo.organization_id == org] == [1]
    # dave (admin) promotes erin, but not above himself.
    assert set_role(dave.jwt, org, 1, erin.uid) is None
    assert users_of(dave.jwt, org)[erin.uid] == 1
    with pytest.raises(BadRequestException) as e:
        set_role(dave.jwt, org, 2, erin.uid)
    error(e, 400, HIGHER_ROLE)
    # Self, without user_id.
    assert set_role(erin.jwt, org, 0) is None
    assert users_of(erin.jwt, org)[erin.uid] == 0
    # Not a member of the header's organization: 403.
    acme = org_api(admin.jwt).create_organization(trieve_py_client.CreateOrganizationReqPayload(name="Admins only"))
    with pytest.raises(ForbiddenException) as e:
        set_role(erin.jwt, acme.id, 0)
    error(e, 403, "Forbidden")
    with pytest.raises(BadRequestException) as e:
        set_role(admin.jwt, "not-a-uuid", 0)
    error(e, 400, "Could not convert Organization to UUID")


def test_read_key_cannot_change_roles(world):
    admin, org = world
    fay = new_user(world, "fay")
    read = org_key(admin.jwt, org, "read-only", 0)
    assert get_me(read).id == admin.uid
    for role, user in [(0, fay.uid), (1, fay.uid), (2, None), (0, None)]:
        with pytest.raises(BadRequestException) as e:
            set_role(read, org, role, user)
        error(e, 400)
    assert users_of(admin.jwt, org)[fay.uid] == 0
    assert users_of(admin.jwt, org)[admin.uid] == 2


def test_organization_api_keys(world):
    admin, org = world
    gus = new_user(world, "gus")
    acme = org_api(gus.jwt).create_organization(trieve_py_client.CreateOrganizationReqPayload(name="Gus Co")).id

    key = org_key(gus.jwt, acme, "gus-owner", 2, expires_at="2099-01-01T00:00:00", scopes=["GET /api/dataset"])
    assert get_me(key).id == gus.uid  # the new key authenticates
    keys = org_api(gus.jwt).get_organization_api_keys(tr_organization=acme)
    assert [(k.name, k.organization_id, k.role) for k in keys] == [("gus-owner", acme, 2)]
    assert all(isinstance(k, trieve_py_client.ApiKeyRespBody) for k in keys)
    assert org_api(gus.jwt).get_organization_api_keys(tr_organization=org) == []

    # The key works in its organization and nowhere else.
    assert users_of(key, acme) == {gus.uid: 2}
    with pytest.raises(ForbiddenException) as e:
        users_of(key, org)
    error(e, 403, "Forbidden")
    with pytest.raises(ForbiddenException) as e:
        set_role(key, org, 0)
    error(e, 403, "Forbidden")
    # A key may not exceed its creator's role there (gus is a member of the default org).
    with pytest.raises(BadRequestException) as e:
        org_key(gus.jwt, org, "too-high", 1)
    error(e, 400)

    # Organization-route delete.
    (k,) = keys
    assert org_api(gus.jwt).delete_organization_api_key(api_key_id=k.id, tr_organization=acme) is None
    with pytest.raises(UnauthorizedException):
        get_me(key)


def test_user_api_keys(world):
    admin, org = world
    hal = new_user(world, "hal")
    k1 = org_key(hal.jwt, org, "first", 0)
    k2 = org_key(hal.jwt, org, "second", 0)
    keys = user_api(hal.jwt).get_user_api_keys()
    assert all(isinstance(k, trieve_py_client.ApiKeyRespBody) for k in keys)
    assert [(k.name, k.organization_id, k.role) for k in keys] == [("first", org, 0), ("second", org, 0)]
    # Superset fields both generations parse are on the wire.
    status, raw = http("GET", "/api/user/api_key", authorization=hal.jwt)
    assert status == 200 and {"id", "user_id", "organization_id", "name", "role"} <= set(raw[0])
    assert raw[0]["user_id"] == hal.uid and raw[0]["organization_id"] != NIL

    first, second = keys
    assert user_api(hal.jwt).delete_user_api_key(first.id) is None  # 204
    with pytest.raises(UnauthorizedException) as e:
        get_me(k1)
    error(e, 401, "Unauthorized")
    assert [k.name for k in user_api(hal.jwt).get_user_api_keys()] == ["second"]
    # 204 when nothing matches: again, unknown, someone else's key (untouched).
    assert user_api(hal.jwt).delete_user_api_key(first.id) is None
    assert user_api(hal.jwt).delete_user_api_key(UNKNOWN) is None
    assert user_api(admin.jwt).delete_user_api_key(second.id) is None
    assert get_me(k2).id == hal.uid
    with pytest.raises(BadRequestException) as e:
        user_api(hal.jwt).delete_user_api_key("not-a-uuid")
    error(e, 400)
    with pytest.raises(UnauthorizedException):
        user_api("idk_not_a_key").get_user_api_keys()
