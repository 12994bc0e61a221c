"""OpenAI Administration API conformance with OpenAI's own Python SDK, unmodified.

`openai==3.54.0` is configured as its docs say for admin endpoints —
`OpenAI(admin_api_key=…, base_url=<gateway>/v1, max_retries=0)` — and drives
`client.admin.organization.users` and `client.admin.organization.admin_api_keys` against a fresh
identity-server + identity-gateway (see ../run.sh). The assertions are on the parsed models.

Setup uses plain HTTP on the Portainer routes of the same gateway (admin init, login, 150 users);
the administrator's session then creates the first admin key through the SDK itself.

The tests run in file order and share one database.
"""

import json
import os
import urllib.request

import openai
import pytest
from openai import OpenAI

GATEWAY_URL = os.environ["GATEWAY_URL"].rstrip("/")
BASE_URL = GATEWAY_URL + "/v1"

ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1234"
PASSWORD = "a-long-password-1"
USERS = 150


def http(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(GATEWAY_URL + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def admin_client(key):
    return OpenAI(admin_api_key=key, base_url=BASE_URL, max_retries=0)


class State:
    jwt = None
    key = None
    key_id = None
    key_expires_at = None
    usernames = []


def test_bootstrap_and_first_admin_key():
    http("POST", "/api/users/admin/init", {"username": ADMIN, "password": ADMIN_PASSWORD})
    State.jwt = http("POST", "/api/auth", {"username": ADMIN, "password": ADMIN_PASSWORD})["jwt"]
    for i in range(USERS):
        name = f"user{i:03d}"
        http("POST", "/api/users", {"username": name, "password": PASSWORD, "role": 2}, State.jwt)
        State.usernames.append(name)
    # Any credential of an organization owner may act, e.g. the session: it mints the admin key.
    created = admin_client(State.jwt).admin.organization.admin_api_keys.create(
        name="conformance", expires_in_seconds=3600
    )
    assert created.object == "organization.admin_api_key"
    assert created.id.startswith("key_")
    assert created.name == "conformance"
    assert isinstance(created.value, str) and created.value
    assert created.redacted_value.endswith("...")
    assert created.expires_at - created.created_at == 3600
    assert created.owner.role == "owner"
    State.key = created.value
    State.key_id = created.id
    State.key_expires_at = created.expires_at


def test_list_auto_paginates_over_every_user_once():
    client = admin_client(State.key)
    page = client.admin.organization.users.list(limit=100)
    assert len(page.data) == 100
    assert page.has_more is True
    seen = [u.id for u in page]  # iterating a page follows `after=last_id` to the end
    assert len(seen) == USERS + 1, len(seen)  # the administrator, plus every user
    assert len(set(seen)) == len(seen), "a user was returned twice"
    names = {u.name for u in client.admin.organization.users.list(limit=100)}
    assert set(State.usernames) <= names
    for u in client.admin.organization.users.list(limit=3):
        assert u.object == "organization.user"
        assert u.id.startswith("user-")
        assert u.role in ("owner", "reader")
        assert isinstance(u.added_at, int)
        break


def test_email_filter():
    client = admin_client(State.key)
    page = client.admin.organization.users.list(emails=["nobody@example.com"])
    assert page.data == []
    assert page.has_more is False


def test_retrieve_update_delete():
    client = admin_client(State.key)
    users = client.admin.organization.users
    target = next(u for u in users.list(limit=100) if u.name == "user007")
    got = users.retrieve(target.id)
    assert (got.id, got.name, got.role, got.object) == (target.id, "user007", "reader", "organization.user")
    assert got.email is None

    promoted = users.update(target.id, role="owner")
    assert promoted.role == "owner"
    demoted = users.update(target.id, role="reader")
    assert demoted.role == "reader"
    assert users.retrieve(target.id).role == "reader"

    deleted = users.delete(target.id)
    assert deleted.object == "organization.user.deleted"
    assert deleted.id == target.id
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError) as e:
        users.retrieve(target.id)
    assert e.value.status_code == 404
    remaining = [u.id for u in users.list(limit=100)]
    assert target.id not in remaining and len(remaining) == USERS


def test_not_found_and_bad_role():
    users = admin_client(State.key).admin.organization.users
    with pytest.raises(openai.NotFoundError) as e:
        users.retrieve("user-" + "0" * 32)
    assert e.value.body["code"] == "user_not_found"
    assert set(e.value.body) == {"message", "type", "param", "code"}
    target = next(iter(users.list(limit=5)))
    with pytest.raises(openai.BadRequestError) as e:
        users.update(target.id, role="member")
    assert e.value.status_code == 400
    assert e.value.body["param"] == "role"


def test_bad_key_is_authentication_error():
    with pytest.raises(openai.AuthenticationError) as e:
        admin_client("sk-admin-wrong").admin.organization.users.list()
    assert e.value.body["code"] == "invalid_api_key"


def test_admin_api_keys_create_list_delete():
    keys = admin_client(State.key).admin.organization.admin_api_keys
    second = keys.create(name="second")
    # A key never mints a longer-lived key: without expires_in_seconds the new admin key expires
    # with the one that created it.
    assert second.value and second.expires_at == State.key_expires_at
    listed = [k.id for k in keys.list()]
    assert listed == [State.key_id, second.id]
    newest = keys.list(order="desc", limit=1)
    assert [k.id for k in newest.data] == [second.id] and newest.has_more is True
    assert [k.id for k in newest] == [second.id, State.key_id]  # auto-pagination, descending
    fetched = keys.retrieve(second.id)
    assert fetched.id == second.id and fetched.name == "second"
    gone = keys.delete(second.id)
    assert (gone.id, gone.object, gone.deleted) == (
        second.id,
        "organization.admin_api_key.deleted",
        True,
    )
    assert [k.id for k in keys.list()] == [State.key_id]
    with pytest.raises(openai.NotFoundError):
        keys.retrieve(second.id)
    with pytest.raises(openai.AuthenticationError):
        admin_client(second.value).admin.organization.users.list()


def test_admin_api_key_create_is_idempotent_with_an_idempotency_key():
    # The SDK sends no Idempotency-Key by itself; `extra_headers` is its documented way to add one.
    keys = admin_client(State.key).admin.organization.admin_api_keys
    header = {"Idempotency-Key": "conformance-retried-1"}
    first = keys.create(name="retried", extra_headers=header)
    assert first.value
    # The retry creates nothing: the secret is shown once, so the answer is a 409 conflict.
    with pytest.raises(openai.ConflictError) as e:
        keys.create(name="retried", extra_headers=header)
    assert "Idempotency-Key" in e.value.body["message"]
    assert first.value not in json.dumps(e.value.body)
    # The same key for another request is a 400.
    with pytest.raises(openai.BadRequestError):
        keys.create(name="another", extra_headers=header)
    assert [k.name for k in keys.list()] == ["conformance", "retried"]
    keys.delete(first.id)
    assert [k.id for k in keys.list()] == [State.key_id]
