"""Portainer conformance with Portainer's own generated client, unmodified.

The client is the openapi-generator client of the Portainer CE 2.33.6 spec that ships inside
PyPI's ptctools==0.2.3. It is configured exactly as its docs say (host=<gateway>/api, `jwt` key
with the `Bearer` prefix, or `ApiKeyAuth` for X-API-KEY) and driven through every UsersApi method
plus AuthApi login, against a fresh identity-server + identity-gateway (see ../run.sh). The
assertions are on the parsed models.

The tests run in file order and share one database: the first one creates the administrator.
"""

import json
import os

import pytest
from ptctools.portainer_client import openapi_client

GATEWAY_URL = os.environ["GATEWAY_URL"]
HOST = GATEWAY_URL.rstrip("/") + "/api"

ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1234"
PASSWORD = "a-long-password-1"
NEW_PASSWORD = "another-long-password"

ApiException = openapi_client.ApiException
ADMIN_ROLE = openapi_client.PortainerUserRole.AdministratorRole
STANDARD_ROLE = openapi_client.PortainerUserRole.StandardUserRole


def client(jwt=None, api_key=None):
    cfg = openapi_client.Configuration(host=HOST)
    if jwt is not None:
        cfg.api_key["jwt"] = jwt
        cfg.api_key_prefix["jwt"] = "Bearer"
    if api_key is not None:
        cfg.api_key["ApiKeyAuth"] = api_key
    return openapi_client.ApiClient(cfg)


def users(jwt=None, api_key=None):
    return openapi_client.UsersApi(client(jwt, api_key))


def login(username, password):
    payload = openapi_client.AuthAuthenticatePayload(username=username, password=password)
    resp = openapi_client.AuthApi(client()).authenticate_user(payload)
    assert isinstance(resp, openapi_client.AuthAuthenticateResponse)
    assert isinstance(resp.jwt, str) and resp.jwt.count(".") == 2
    return resp.jwt


def error(exc_info, status, message):
    """The ApiException has `status` and Portainer's {"message","details"} body."""
    e = exc_info.value
    assert e.status == status, (e.status, e.body)
    body = json.loads(e.body)
    assert set(body) <= {"message", "details"}, body
    assert body["message"] == message, body
    assert body.get("details"), body
    return body


def update_payload(**fields):
    """What a client sends for PUT /users/{id}: every field (the spec marks five required)."""
    base = {"username": "", "password": "", "new_password": "", "role": 0, "use_cache": False}
    base.update(fields)
    return openapi_client.UsersUserUpdatePayload(**base)


def check_user(u, id_, username, role):
    assert isinstance(u, openapi_client.PortainerUser)
    assert (u.id, u.username, u.role) == (id_, username, role)
    assert isinstance(u.token_issue_at, int)
    assert isinstance(u.theme_settings, openapi_client.PortainerUserThemeSettings)
    assert isinstance(u.use_cache, bool)


class State:
    """Ids and credentials the tests pass along (file order)."""

    admin_jwt = None
    bob = None
    bob_jwt = None
    carol = None
    bob_key_id = None
    bob_raw_key = None


def test_admin_check_and_init():
    api = users()
    with pytest.raises(ApiException) as e:
        api.user_admin_check()
    body = error(e, 404, "No administrator account found inside the database")
    assert body["details"] == "Object not found inside the database"

    with pytest.raises(ApiException) as e:
        api.user_admin_init(openapi_client.UsersAdminInitPayload(username=ADMIN, password="short"))
    error(e, 400, "Password does not meet the requirements")

    admin = api.user_admin_init(openapi_client.UsersAdminInitPayload(username=ADMIN, password=ADMIN_PASSWORD))
    check_user(admin, 1, ADMIN, ADMIN_ROLE)
    assert admin.theme_settings.color == ""
    assert admin.use_cache is False

    assert api.user_admin_check() is None  # 204

    with pytest.raises(ApiException) as e:
        api.user_admin_init(openapi_client.UsersAdminInitPayload(username="other", password=ADMIN_PASSWORD))
    body = error(e, 409, "Unable to create administrator user")
    assert body["details"] == "An administrator user already exists"


def test_auth_login():
    State.admin_jwt = login(ADMIN, ADMIN_PASSWORD)
    # Usernames are matched case-insensitively.
    login("ADMIN", ADMIN_PASSWORD)
    auth = openapi_client.AuthApi(client())
    for username, password in [(ADMIN, "wrong-password"), ("nobody", "whatever-password")]:
        with pytest.raises(ApiException) as e:
            auth.authenticate_user(openapi_client.AuthAuthenticatePayload(username=username, password=password))
        body = error(e, 422, "Invalid credentials")
        assert body == {"message": "Invalid credentials", "details": "Unauthorized"}


def test_current_user_inspect():
    me = users(jwt=State.admin_jwt).current_user_inspect()
    check_user(me, 1, ADMIN, ADMIN_ROLE)

    with pytest.raises(ApiException) as e:
        users().current_user_inspect()
    error(e, 401, "A valid authorization token is missing")
    with pytest.raises(ApiException) as e:
        users(jwt="not.a.jwt").current_user_inspect()
    error(e, 401, "Invalid JWT token")


def test_user_create():
    api = users(jwt=State.admin_jwt)
    bob = api.user_create(openapi_client.UsersUserCreatePayload(username="Bob", password=PASSWORD, role=2))
    check_user(bob, bob.id, "bob", STANDARD_ROLE)  # stored lower-cased
    assert bob.id > 1
    carol = api.user_create(openapi_client.UsersUserCreatePayload(username="carol", password=PASSWORD, role=2))
    check_user(carol, carol.id, "carol", STANDARD_ROLE)
    State.bob, State.carol = bob.id, carol.id
    State.bob_jwt = login("bob", PASSWORD)

    with pytest.raises(ApiException) as e:
        api.user_create(openapi_client.UsersUserCreatePayload(username="BOB", password=PASSWORD, role=2))
    body = error(e, 409, "Another user with the same username already exists")
    assert body["details"] == "User already exists"
    with pytest.raises(ApiException) as e:
        api.user_create(openapi_client.UsersUserCreatePayload(username="dave", password="short", role=2))
    error(e, 400, "Password does not meet the requirements")
    with pytest.raises(ApiException) as e:
        api.user_create(openapi_client.UsersUserCreatePayload(username="dave", password=PASSWORD, role=7))
    error(e, 400, "Invalid request payload")


def test_user_inspect():
    for jwt in (State.admin_jwt, State.bob_jwt):
        u = users(jwt=jwt).user_inspect(State.bob)
        check_user(u, State.bob, "bob", STANDARD_ROLE)
    with pytest.raises(ApiException) as e:
        users(jwt=State.admin_jwt).user_inspect(9999)
    error(e, 404, "Unable to find a user with the specified identifier inside the database")


def test_user_list():
    listed = users(jwt=State.admin_jwt).user_list()
    assert [(u.id, u.username, u.role) for u in listed] == [
        (1, ADMIN, ADMIN_ROLE),
        (State.bob, "bob", STANDARD_ROLE),
        (State.carol, "carol", STANDARD_ROLE),
    ]
    # Portainer's list items carry only Id, Username and Role.
    for u in listed:
        assert isinstance(u, openapi_client.PortainerUser)
        assert u.theme_settings is None and u.token_issue_at is None and u.use_cache is None


def test_user_update():
    admin_api = users(jwt=State.admin_jwt)
    theme = openapi_client.UsersThemePayload(color="dark")
    u = admin_api.user_update(State.bob, update_payload(use_cache=True, theme=theme))
    check_user(u, State.bob, "bob", STANDARD_ROLE)
    assert u.theme_settings.color == "dark" and u.use_cache is True

    # A user changes their own preferences; sending their own username is not a rename.
    u = users(jwt=State.bob_jwt).user_update(
        State.bob, update_payload(username="bob", theme=openapi_client.UsersThemePayload(color="light"))
    )
    assert u.username == "bob" and u.theme_settings.color == "light" and u.use_cache is False

    # Administrators rename and change roles.
    u = admin_api.user_update(State.carol, update_payload(username="caroline", role=1))
    check_user(u, State.carol, "caroline", ADMIN_ROLE)
    u = admin_api.user_update(State.carol, update_payload(role=2))
    check_user(u, State.carol, "caroline", STANDARD_ROLE)

    with pytest.raises(ApiException) as e:
        admin_api.user_update(State.carol, update_payload(username="bob"))
    error(e, 409, "Another user with the same username already exists")
    with pytest.raises(ApiException) as e:
        users(jwt=State.bob_jwt).user_update(State.bob, update_payload(role=1))
    error(e, 403, "Permission denied. Unable to update user role")


def test_user_update_password():
    api = users(jwt=State.bob_jwt)
    body = openapi_client.UsersUserUpdatePasswordPayload(password="wrong-password!", new_password=NEW_PASSWORD)
    with pytest.raises(ApiException) as e:
        api.user_update_password(State.bob, body)
    error(e, 403, "Specified password do not match actual password")
    body = openapi_client.UsersUserUpdatePasswordPayload(password=PASSWORD, new_password="short")
    with pytest.raises(ApiException) as e:
        api.user_update_password(State.bob, body)
    error(e, 400, "Password does not meet the requirements")

    body = openapi_client.UsersUserUpdatePasswordPayload(password=PASSWORD, new_password=NEW_PASSWORD)
    assert api.user_update_password(State.bob, body) is None  # 204
    # The change ended bob's session; the new password logs in.
    with pytest.raises(ApiException) as e:
        api.current_user_inspect()
    error(e, 401, "Invalid JWT token")
    State.bob_jwt = login("bob", NEW_PASSWORD)


def test_user_generate_api_key():
    api = users(jwt=State.bob_jwt)
    body = openapi_client.UsersUserAccessTokenCreatePayload(description="ci key", password=NEW_PASSWORD)
    resp = api.user_generate_api_key(State.bob, body)
    # A 201 would make the client return None: the gateway answers 200.
    assert isinstance(resp, openapi_client.UsersAccessTokenResponse)
    key = resp.api_key
    assert isinstance(key, openapi_client.PortainerAPIKey)
    assert isinstance(resp.raw_api_key, str) and len(resp.raw_api_key) > 20
    assert key.user_id == State.bob and key.description == "ci key"
    assert key.prefix == resp.raw_api_key[:7]
    assert isinstance(key.date_created, int) and key.date_created > 1_600_000_000
    assert key.last_used == 0
    assert key.digest is None
    State.bob_key_id, State.bob_raw_key = key.id, resp.raw_api_key

    # The key authenticates as X-API-KEY.
    me = users(api_key=State.bob_raw_key).current_user_inspect()
    check_user(me, State.bob, "bob", STANDARD_ROLE)

    # A key cannot mint keys (the spec lists only `jwt` for this operation, so the client would
    # not even send a configured key: pass it as an extra header, as a caller could).
    with pytest.raises(ApiException) as e:
        users().user_generate_api_key(State.bob, body, _headers={"X-API-KEY": State.bob_raw_key})
    error(e, 401, "Auth not supported")
    wrong = openapi_client.UsersUserAccessTokenCreatePayload(description="x", password="wrong-password!")
    with pytest.raises(ApiException) as e:
        api.user_generate_api_key(State.bob, wrong)
    error(e, 403, "Current password doesn't match")


def test_user_get_api_keys():
    for kwargs in ({"jwt": State.bob_jwt}, {"api_key": State.bob_raw_key}, {"jwt": State.admin_jwt}):
        keys = users(**kwargs).user_get_api_keys(State.bob)
        assert [k.id for k in keys] == [State.bob_key_id]
        k = keys[0]
        assert isinstance(k, openapi_client.PortainerAPIKey)
        assert (k.user_id, k.description, k.prefix) == (State.bob, "ci key", State.bob_raw_key[:7])
        assert k.digest is None
    assert users(jwt=State.admin_jwt).user_get_api_keys(1) == []


def test_user_memberships_inspect():
    memberships = users(jwt=State.bob_jwt).user_memberships_inspect(State.bob)
    assert memberships == []
    assert users(jwt=State.admin_jwt).user_memberships_inspect(State.bob) == []


def test_user_remove_api_key():
    api = users(jwt=State.bob_jwt)
    assert api.user_remove_api_key(State.bob, State.bob_key_id) is None  # 204
    assert api.user_get_api_keys(State.bob) == []
    with pytest.raises(ApiException) as e:
        users(api_key=State.bob_raw_key).current_user_inspect()
    error(e, 401, "Invalid JWT token")
    with pytest.raises(ApiException) as e:
        api.user_remove_api_key(State.bob, State.bob_key_id)
    error(e, 404, "API Key not found")


def test_standard_user_access_rules():
    """dialects.md §1.3: a standard user cannot touch anyone else."""
    api = users(jwt=State.bob_jwt)
    admin_key = users(jwt=State.admin_jwt).user_generate_api_key(
        1, openapi_client.UsersUserAccessTokenCreatePayload(description="admin key", password=ADMIN_PASSWORD)
    )

    cases = [
        (lambda: api.user_inspect(1), "Permission denied inspect user"),
        (lambda: api.user_inspect(State.carol), "Permission denied inspect user"),
        (lambda: api.user_update(State.carol, update_payload(use_cache=True)), "Permission denied to update user"),
        (
            lambda: api.user_update_password(
                State.carol,
                openapi_client.UsersUserUpdatePasswordPayload(password=PASSWORD, new_password=NEW_PASSWORD),
            ),
            "Permission denied to update user",
        ),
        (lambda: api.user_get_api_keys(1), "Permission denied to get user access tokens"),
        (lambda: api.user_get_api_keys(State.carol), "Permission denied to get user access tokens"),
        (
            lambda: api.user_generate_api_key(
                1, openapi_client.UsersUserAccessTokenCreatePayload(description="x", password=NEW_PASSWORD)
            ),
            "Permission denied to create user access token",
        ),
        (
            lambda: api.user_remove_api_key(1, admin_key.api_key.id),
            "Permission denied to remove user access token",
        ),
        (lambda: api.user_memberships_inspect(1), "Permission denied to update user memberships"),
        (lambda: api.user_list(), "Permission denied to access users list"),
        (
            lambda: api.user_create(openapi_client.UsersUserCreatePayload(username="eve", password=PASSWORD, role=1)),
            "Access denied",
        ),
        (lambda: api.user_delete(State.carol), "Access denied"),
    ]
    for call, message in cases:
        with pytest.raises(ApiException) as e:
            call()
        error(e, 403, message)

    # Even an administrator lists only non-administrators' keys, and creates keys only for itself.
    admin_api = users(jwt=State.admin_jwt)
    with pytest.raises(ApiException) as e:
        admin_api.user_generate_api_key(
            State.bob, openapi_client.UsersUserAccessTokenCreatePayload(description="x", password=ADMIN_PASSWORD)
        )
    error(e, 403, "Permission denied to create user access token")
    # The admin's own key works for the admin, and is still there.
    assert [k.id for k in users(api_key=admin_key.raw_api_key).user_get_api_keys(1)] == [admin_key.api_key.id]


def test_both_credentials_at_once_are_refused():
    cfg_client = client(jwt=State.admin_jwt, api_key="idk_anything")
    with pytest.raises(ApiException) as e:
        openapi_client.UsersApi(cfg_client).current_user_inspect()
    error(e, 403, "api key and auth header are not allowed at the same time")


def test_user_delete():
    api = users(jwt=State.admin_jwt)
    assert api.user_delete(State.carol) is None  # 204
    with pytest.raises(ApiException) as e:
        api.user_inspect(State.carol)
    error(e, 404, "Unable to find a user with the specified identifier inside the database")
    with pytest.raises(ApiException) as e:
        api.user_delete(State.carol)
    error(e, 404, "Unable to find a user with the specified identifier inside the database")
    with pytest.raises(ApiException) as e:
        api.user_delete(1)
    error(e, 403, "Cannot remove the initial admin account")
    assert [u.id for u in api.user_list()] == [1, State.bob]
