"""Trieve generation A with Trieve's own client, trieve-py-client 0.11.9, unmodified.

This is the client of the seeds' UserApi: `set_user_api_key`, `update_user` with the organization
in the body (`UpdateUserOrgRoleData.organization_id`, no TR-Organization header) and
`delete_user_api_key`. It is configured as its docs say,
`Configuration(host=<gateway>, api_key={"ApiKey": <credential>})`, so it sends
`Authorization: <credential>` raw. Assertions are on the parsed models and on effects: a new key
authenticates, a deleted key no longer does, a role change shows in the member's own
`GET /api/auth/me` (this client has no read method for it, so that one call is plain HTTP).

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
from trieve_py_client.exceptions import BadRequestException, UnauthorizedException

GATEWAY_URL = os.environ["GATEWAY_URL"].rstrip("/")
ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1234"
PASSWORD = "a-long-password-1"
UNKNOWN = "0f0e0d0c-0b0a-4908-8706-050403020100"
HIGHER_ROLE = "Can not grant a user a higher role than that of the requesting user's"
NOT_IN_ORG = "You are not a member of this organization"


# --- plain HTTP for the bootstrap and for reads this client does not have ---------------------


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


def me(credential):
    status, body = http("GET", "/api/auth/me", authorization=credential)
    assert status == 200, (status, body)
    return body


def role_in(credential, org):
    (membership,) = [o for o in me(credential)["user_orgs"] if o["organization_id"] == org]
    return membership["role"]


def key_id(credential, name):
    status, keys = http("GET", "/api/user/api_key", authorization=credential)
    assert status == 200, keys
    (key,) = [k for k in keys if k["name"] == name]
    return key["id"]


class User:
    def __init__(self, jwt):
        self.jwt = jwt
        self.uid = me(jwt)["id"]


@pytest.fixture(scope="module")
def world():
    """The administrator (owner of the default organization) and the default organization."""
    status, body = http("POST", "/api/users/admin/init", {"username": ADMIN, "password": ADMIN_PASSWORD})
    assert status == 200, body
    admin = User(login(ADMIN, ADMIN_PASSWORD))
    org = me(admin.jwt)["orgs"][0]["id"]
    return admin, org


def new_user(world, name):
    admin, _ = world
    status, body = http(
        "POST", "/api/users", {"username": name, "password": PASSWORD, "role": 2}, "Bearer " + admin.jwt
    )
    assert status == 200, body
    return User(login(name, PASSWORD))


def user_api(credential):
    cfg = trieve_py_client.Configuration(host=GATEWAY_URL, api_key={"ApiKey": credential})
    return trieve_py_client.UserApi(trieve_py_client.ApiClient(cfg))


def new_key(credential, name, role, **lists):
    resp = user_api(credential).set_user_api_key(trieve_py_client.SetUserApiKeyRequest(name=name, role=role, **lists))
    assert isinstance(resp, trieve_py_client.SetUserApiKeyResponse)
    assert isinstance(resp.api_key, str) and resp.api_key
    return resp.api_key


def set_role(credential, org, role, user_id=None):
    data = trieve_py_client.UpdateUserOrgRoleData(organization_id=org, role=role, user_id=user_id)
    return user_api(credential).update_user(data)


def bad_request(exc_info, message=None):
    e = exc_info.value
    assert e.status == 400, (e.status, e.body)
    assert isinstance(e.data, trieve_py_client.ErrorResponseBody), e.body
    assert set(json.loads(e.body)) == {"message"}, e.body
    if message is not None:
        assert e.data.message == message, e.body


# --- tests ------------------------------------------------------------------------------------


def test_set_user_api_key_creates_a_working_key(world):
    admin, org = world
    key = new_key(admin.jwt, "ci", 1)
    assert me(key)["id"] == admin.uid
    # Restrictions are accepted and stored.
    scoped = new_key(admin.jwt, "scoped", 0, organization_ids=[org], dataset_ids=[UNKNOWN], scopes=["GET /api/dataset"])
    assert me(scoped)["id"] == admin.uid
    status, keys = http("GET", "/api/user/api_key", authorization=admin.jwt)
    assert status == 200
    (item,) = [k for k in keys if k["name"] == "scoped"]
    assert item["role"] == 0 and item["organization_ids"] == [org] and item["dataset_ids"] == [UNKNOWN]
    # A key can make keys too (with "Bearer " prefix, which Trieve also accepts).
    assert me(new_key("Bearer " + key, "from-key", 0))["id"] == admin.uid


def test_update_user_with_organization_in_body(world):
    admin, org = world
    bob, carol, dave = new_user(world, "bob"), new_user(world, "carol"), new_user(world, "dave")
    assert role_in(bob.jwt, org) == 0

    assert set_role(admin.jwt, org, 1, bob.uid) is None  # 204
    assert role_in(bob.jwt, org) == 1
    # bob (admin now) promotes carol, but cannot grant more than he has.
    assert set_role(bob.jwt, org, 1, carol.uid) is None
    assert role_in(carol.jwt, org) == 1
    with pytest.raises(BadRequestException) as e:
        set_role(bob.jwt, org, 2, carol.uid)
    bad_request(e, HIGHER_ROLE)
    # A member cannot change others.
    with pytest.raises(BadRequestException) as e:
        set_role(dave.jwt, org, 0, carol.uid)
    bad_request(e, "You must have an admin or owner role to update other users")
    # Without user_id: the caller itself.
    assert set_role(carol.jwt, org, 0) is None
    assert role_in(carol.jwt, org) == 0
    # The administrator's read-and-write key (role 1) changes roles too.
    rw = new_key(admin.jwt, "rw", 1)
    assert set_role(rw, org, 1, dave.uid) is None
    assert role_in(dave.jwt, org) == 1
    assert set_role(rw, org, 0, dave.uid) is None
    assert role_in(dave.jwt, org) == 0


def test_read_key_cannot_change_roles(world):
    admin, org = world
    erin = new_user(world, "erin")
    read = new_key(admin.jwt, "read-only", 0)
    assert me(read)["id"] == admin.uid
    for role, user in [(1, erin.uid), (0, erin.uid), (2, None), (0, None)]:
        with pytest.raises(BadRequestException) as e:
            set_role(read, org, role, user)
        bad_request(e)
    assert role_in(erin.jwt, org) == 0
    assert role_in(admin.jwt, org) == 2


def test_key_restricted_to_one_organization(world):
    admin, org = world
    frank = new_user(world, "frank")
    status, other = http("POST", "/api/organization", {"name": "Other"}, admin.jwt)
    assert status == 200, other
    only_default = new_key(admin.jwt, "only-default", 1, organization_ids=[org])
    # It acts in its organization…
    assert set_role(only_default, org, 1, frank.uid) is None
    assert role_in(frank.jwt, org) == 1
    # …and not in another one, although its user owns that one.
    with pytest.raises(BadRequestException) as e:
        set_role(only_default, other["id"], 2)
    bad_request(e, NOT_IN_ORG)
    only_other = new_key(admin.jwt, "only-other", 1, organization_ids=[other["id"]])
    with pytest.raises(BadRequestException) as e:
        set_role(only_other, org, 0, frank.uid)
    bad_request(e, NOT_IN_ORG)
    assert role_in(frank.jwt, org) == 1


def test_delete_user_api_key(world):
    admin, _ = world
    gina = new_user(world, "gina")
    temp = new_key(gina.jwt, "temp", 0)
    keep = new_key(gina.jwt, "keep", 0)
    temp_id, keep_id = key_id(gina.jwt, "temp"), key_id(gina.jwt, "keep")

    assert user_api(gina.jwt).delete_user_api_key(temp_id) is None  # 204
    with pytest.raises(UnauthorizedException) as e:
        user_api(temp).set_user_api_key(trieve_py_client.SetUserApiKeyRequest(name="x", role=0))
    assert json.loads(e.value.body) == {"message": "Unauthorized"}
    assert http("GET", "/api/auth/me", authorization=temp)[0] == 401
    # Trieve answers 204 when nothing matches: again, unknown, another user's key.
    assert user_api(gina.jwt).delete_user_api_key(temp_id) is None
    assert user_api(gina.jwt).delete_user_api_key(UNKNOWN) is None
    assert user_api(admin.jwt).delete_user_api_key(keep_id) is None
    assert me(keep)["id"] == gina.uid  # untouched
    with pytest.raises(BadRequestException) as e:
        user_api(gina.jwt).delete_user_api_key("not-a-uuid")
    bad_request(e)


def test_refused_credentials_and_bad_input(world):
    _, org = world
    with pytest.raises(UnauthorizedException) as e:
        user_api("idk_not_a_key").set_user_api_key(trieve_py_client.SetUserApiKeyRequest(name="x", role=0))
    assert json.loads(e.value.body) == {"message": "Unauthorized"}
    with pytest.raises(UnauthorizedException):
        set_role("idk_not_a_key", org, 0)
    admin, _ = world
    with pytest.raises(BadRequestException) as e:
        set_role(admin.jwt, "not-a-uuid", 0)
    bad_request(e)
    with pytest.raises(BadRequestException) as e:
        set_role(admin.jwt, org, 7)
    bad_request(e)
    with pytest.raises(BadRequestException) as e:
        user_api(admin.jwt).set_user_api_key(trieve_py_client.SetUserApiKeyRequest(name="x", role=0, organization_ids=["nope"]))
    bad_request(e)
