"""Offline verification of identity session tokens by PyJWT, a verifier that is not ours.

- Against the stack run.sh started: a session token from the Portainer dialect's login verifies
  with the key PyJWKClient fetches from /.well-known/jwks.json; a tampered or algorithm-confused
  token does not.
- Rotation: the test runs its own server (SQLite, embedded gateway) with key K1, then with K2 as
  the current key and K1 as the previous one retiring a few seconds later. During the overlap a K1
  token verifies; after the retirement PyJWKClient no longer finds K1, and the server refuses it.
"""

import base64
import datetime
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

GATEWAY = os.environ["GATEWAY_URL"]
SERVER_BIN = os.environ.get("IDENTITY_SERVER_BIN", "")
PASSWORD = "jwks-admin-password-1234"


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def admin_token(base):
    status, _ = call(base, "POST", "/api/users/admin/init", {"Username": "admin", "Password": PASSWORD})
    assert status in (200, 409), status
    status, body = call(base, "POST", "/api/auth", {"Username": "admin", "Password": PASSWORD})
    assert status == 200, body
    return body["jwt"]


def verify(base, token):
    """PyJWT's own verification: key from the JWK Set by kid, then signature and claims."""
    key = jwt.PyJWKClient(base + "/.well-known/jwks.json", cache_keys=False).get_signing_key_from_jwt(token)
    return jwt.decode(token, key, algorithms=["EdDSA", "ES256"], audience="identity.v1", issuer="identity")


def test_session_token_verifies_with_the_published_key():
    token = admin_token(GATEWAY)
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    claims = verify(GATEWAY, token)
    assert claims["uid"] == 1
    assert claims["sub"]


def test_tampered_and_confused_tokens_do_not_verify():
    token = admin_token(GATEWAY)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["uid"] = 2
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        verify(GATEWAY, f"{header}.{forged}.{signature}")
    # HS256 under the server's kid: the published key is no HMAC secret, and EdDSA is expected.
    kid = jwt.get_unverified_header(token)["kid"]
    confused = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": kid})
    with pytest.raises(jwt.InvalidTokenError):
        verify(GATEWAY, confused)


def test_client_credentials_token_verifies_with_the_published_key():
    """RFC 6749 §4.4 with an API key as the client secret; PyJWT verifies the RFC 9068 token."""
    session = admin_token(GATEWAY)
    status, created = call(GATEWAY, "POST", "/api/users/1/tokens",
                           {"password": PASSWORD, "description": "exchange"}, token=session)
    assert status == 200, created
    key = created["rawAPIKey"]
    basic = base64.b64encode(f"svc:{key}".encode()).decode()
    req = urllib.request.Request(GATEWAY + "/oauth/token", data=b"grant_type=client_credentials",
                                 method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    req.add_header("Authorization", f"Basic {basic}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Cache-Control"] == "no-store"
        body = json.loads(resp.read())
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 900
    token = body["access_token"]
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = verify(GATEWAY, token)
    assert claims["uid"] == 1
    assert claims["exp"] - claims["iat"] <= 900
    # The access token is not a session: the gateway refuses it as a credential.
    assert call(GATEWAY, "GET", "/api/users/1", token=token)[0] == 401


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pem_file(directory, name):
    key = ed25519.Ed25519PrivateKey.generate()
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return path


class Server:
    """identity-server on a SQLite file with its embedded gateway, on free ports."""

    def __init__(self, directory, env):
        self.base = f"http://127.0.0.1:{free_port()}"
        full = {k: v for k, v in os.environ.items() if not k.startswith("IDENTITY_")}
        full.update({
            "IDENTITY_DATABASE_URL": f"sqlite://{directory}/identity.db?mode=rwc",
            "IDENTITY_GRPC_ADDR": f"127.0.0.1:{free_port()}",
            "IDENTITY_HTTP_ADDR": self.base.removeprefix("http://"),
            "IDENTITY_ADMIN_ADDR": "off",
            "IDENTITY_JWT_SECRET": base64.b64encode(os.urandom(48)).decode(),
            "IDENTITY_ARGON2_MEMORY_KIB": "8",
            "IDENTITY_ARGON2_ITERATIONS": "1",
        })
        full.update(env)
        self.log = open(os.path.join(directory, f"server-{time.time_ns()}.log"), "wb")
        self.proc = subprocess.Popen([SERVER_BIN], env=full, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited: {self.proc.returncode}"
            try:
                if call(self.base, "GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("server not ready within 60 s")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


@pytest.mark.skipif(not SERVER_BIN, reason="IDENTITY_SERVER_BIN is not set (run through tests/clients/run.sh)")
def test_rotation_overlap_then_retirement():
    with tempfile.TemporaryDirectory() as d:
        k1, k2 = pem_file(d, "k1.pem"), pem_file(d, "k2.pem")
        first = Server(d, {"IDENTITY_JWT_SIGNING_KEY_FILE": k1})
        try:
            old = admin_token(first.base)
            assert verify(first.base, old)["uid"] == 1
        finally:
            first.stop()
        retires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=4)
        second = Server(d, {
            "IDENTITY_JWT_SIGNING_KEY_FILE": k2,
            "IDENTITY_JWT_PREVIOUS_KEY_FILE": k1,
            "IDENTITY_JWT_PREVIOUS_KEY_RETIRES_AT": retires.isoformat(),
        })
        try:
            # The overlap: both keys are published, the old token still verifies and works.
            keys = jwt.PyJWKClient(second.base + "/.well-known/jwks.json", cache_keys=False).get_jwk_set().keys
            assert len(keys) == 2
            assert verify(second.base, old)["uid"] == 1
            new = admin_token(second.base)
            assert jwt.get_unverified_header(new)["kid"] != jwt.get_unverified_header(old)["kid"]
            assert call(second.base, "GET", "/api/users/1", token=old)[0] == 200
            # After the retirement: the key is gone from the set and the server refuses its tokens.
            time.sleep(max(0.0, (retires - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) + 0.5)
            with pytest.raises(jwt.PyJWKClientError):
                verify(second.base, old)
            assert call(second.base, "GET", "/api/users/1", token=old)[0] == 401
            assert verify(second.base, new)["uid"] == 1
        finally:
            second.stop()
