"""Tyk AI Studio conformance, driven the way Tyk's admin UI drives the API.

Tyk publishes no client package; the real client is its bundled React admin UI (axios, base
`/api/v1`, reads `response.data.data`, sends `Authorization: Bearer <key>` or `?token=`). This
suite behaves like it with `requests` against a fresh identity-server + identity-gateway (see
../run.sh): it lists and searches users, creates, edits and deletes one, and rolls the
administrator's API key, authenticates with the new key and sees the old key refused (401).

The administrator is bootstrapped through the service's public setup route (Portainer's
`/api/users/admin/init` and `/api/auth`), since Tyk has no setup API; everything else is Tyk.
The tests run in file order and share one database.
"""

import os

import pytest
import requests

GATEWAY_URL = os.environ["GATEWAY_URL"].rstrip("/")
API = GATEWAY_URL + "/api/v1"

ADMIN = "admin"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1234"

ATTRIBUTES = {
    "email", "name", "is_admin", "show_chat", "show_portal", "email_verified", "api_key",
    "notifications_enabled", "access_to_sso_config", "role",
}


class State:
    jwt = None
    key = None
    old_key = None
    dev_id = None


def call(method, path, key=None, *, token=None, json=None, params=None):
    """One UI call: `Authorization: Bearer <key>` (or `?token=`), JSON in and out."""
    headers = {"Accept": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    params = dict(params or {})
    if token is not None:
        params["token"] = token
    return requests.request(method, API + path, headers=headers, json=json, params=params, timeout=30)


def data(resp, status=200):
    """What the UI reads: `response.data.data`."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"data"}, body
    return body["data"]


def user_input(**attributes):
    return {"data": {"type": "users", "attributes": attributes}}


def check_user(u, id_, email, name, role):
    assert u["type"] == "users"
    assert u["id"] == str(id_)
    a = u["attributes"]
    assert set(a) == ATTRIBUTES, a
    assert (a["email"], a["name"], a["role"]) == (email, name, role), a
    for flag in ("is_admin", "show_chat", "show_portal", "email_verified",
                 "notifications_enabled", "access_to_sso_config"):
        assert isinstance(a[flag], bool), (flag, a)


def test_bootstrap_administrator():
    r = requests.post(GATEWAY_URL + "/api/users/admin/init",
                      json={"username": ADMIN, "password": ADMIN_PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.post(GATEWAY_URL + "/api/auth",
                      json={"username": ADMIN, "password": ADMIN_PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    State.jwt = r.json()["jwt"]


def test_unauthenticated_is_refused_in_the_middleware_envelope():
    r = call("GET", "/users")
    assert r.status_code == 401
    assert r.json() == {"error": "Unauthorized"}
    r = call("GET", "/users", "not-a-key")
    assert r.status_code == 401
    assert r.json() == {"error": "Unauthorized"}


def test_admin_edits_its_profile_full_replace():
    # The UI's edit form sends every attribute back (PATCH is a full replace).
    u = data(call("PATCH", "/users/1", State.jwt, json=user_input(
        email=ADMIN_EMAIL, name="Site Admin", is_admin=True, show_chat=True, show_portal=True,
        email_verified=True, notifications_enabled=True, access_to_sso_config=False, groups=[])))
    check_user(u, 1, ADMIN_EMAIL, "Site Admin", "Super Admin")
    assert u["attributes"]["notifications_enabled"] is True
    assert u["attributes"]["api_key"] == ""


def test_create_developer():
    resp = call("POST", "/users", State.jwt, json=user_input(
        email="Dev@Example.com", name="Dev", password="a-long-password-1", is_admin=False,
        show_chat=True, show_portal=True, email_verified=True, notifications_enabled=False,
        access_to_sso_config=False, groups=[]))
    u = data(resp, 201)
    State.dev_id = int(u["id"])
    check_user(u, State.dev_id, "Dev@Example.com", "Dev", "Developer")

    r = call("POST", "/users", State.jwt, json=user_input(email="dev@example.COM", name="Again"))
    assert r.status_code == 400
    assert r.json() == {"errors": [{"title": "Bad Request", "detail": "Email is already in use"}]}


def test_list_search_and_pagination_headers():
    for i in range(11):
        data(call("POST", "/users", State.jwt,
                  json=user_input(email=f"chat{i:02}@example.com", name=f"Chat {i:02}", show_chat=True)), 201)
    r = call("GET", "/users", State.jwt, params={"page": 1, "page_size": 10})
    users = data(r)
    assert len(users) == 10
    assert r.headers["X-Total-Count"] == "13"
    assert r.headers["X-Total-Pages"] == "2"
    assert all("groups" not in u["attributes"] for u in users)
    check_user(users[0], 1, ADMIN_EMAIL, "Site Admin", "Super Admin")
    page2 = data(call("GET", "/users", State.jwt, params={"page": 2, "page_size": 10}))
    assert len(page2) == 3
    everyone = data(call("GET", "/users", State.jwt, params={"all": "true"}))
    ids = [u["id"] for u in users + page2]
    assert ids == [u["id"] for u in everyone]
    assert ids == sorted(ids, key=int) and len(set(ids)) == 13

    found = data(call("GET", "/users", State.jwt, params={"search": "DEV@"}))
    assert [u["id"] for u in found] == [str(State.dev_id)]
    newest = data(call("GET", "/users", State.jwt, params={"sort": "-id", "page_size": 1}))
    assert newest[0]["attributes"]["email"] == "chat10@example.com"


def test_roll_key_authenticate_with_new_key_old_key_refused():
    # First roll (the UI's "Generate API key" button), with the session.
    u = data(call("POST", "/users/1/roll-api-key", State.jwt))
    check_user(u, 1, ADMIN_EMAIL, "Site Admin", "Super Admin")
    State.old_key = u["attributes"]["api_key"]
    assert State.old_key

    # The key authenticates, as a header and as ?token=.
    me = data(call("GET", "/users/1", State.old_key))
    assert me["attributes"]["api_key"] == ""  # shown once only: digests are stored
    data(call("GET", "/users", token=State.old_key))

    # Roll again, authenticated with the key being replaced.
    u = data(call("POST", "/users/1/roll-api-key", State.old_key))
    State.key = u["attributes"]["api_key"]
    assert State.key and State.key != State.old_key

    # The new key works at once; the old one is refused at once.
    users = data(call("GET", "/users", State.key))
    assert users[0]["id"] == "1"
    r = call("GET", "/users", State.old_key)
    assert r.status_code == 401
    assert r.json() == {"error": "Unauthorized"}
    r = call("GET", "/users", token=State.old_key)
    assert r.status_code == 401


def test_developer_is_forbidden_from_admin_routes():
    u = data(call("POST", f"/users/{State.dev_id}/roll-api-key", State.key))
    dev_key = u["attributes"]["api_key"]
    r = call("GET", "/users", dev_key)
    assert r.status_code == 403
    assert r.json() == {"error": "Forbidden"}


def test_errors_and_delete():
    r = call("GET", "/users/999999", State.key)
    assert r.status_code == 404
    assert r.json() == {"errors": [{"title": "Not Found", "detail": "User not found"}]}
    r = call("GET", "/users/abc", State.key)
    assert r.status_code == 400
    assert r.json()["errors"][0]["title"] == "Bad Request"

    r = call("DELETE", "/users/1", State.key)
    assert r.status_code == 403
    assert r.json() == {"errors": [{"title": "Forbidden", "detail": "super admin user cannot be deleted"}]}

    r = call("DELETE", f"/users/{State.dev_id}", State.key)
    assert r.status_code == 204
    assert r.content == b""
    assert call("GET", f"/users/{State.dev_id}", State.key).status_code == 404


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-v"]))
