"""Helpers for run.sh (stdlib only, plus openapi-spec-validator for `validate`).

Usage:
  support.py bootstrap GATEWAY_URL            -> prints an administrator session JWT
  support.py fetch GATEWAY_URL DIALECT FILE   -> saves /openapi/DIALECT.json to FILE
  support.py validate FILE...                 -> validates each file as OpenAPI 3.1
  support.py validate-must-fail FILE          -> a broken copy of FILE must be refused
  support.py seed-violation IN OUT PATH       -> OUT = IN whose GET PATH 200 body requires a
                                                 property the gateway never sends

The administrator is made with Portainer's public admin init and logged in with Portainer's
login; the same session works in every dialect (Trieve: raw `Authorization`; Tyk and OpenAI:
`Bearer`). The password never leaves this process except in the login request.
"""

import copy
import json
import secrets
import sys
import urllib.request


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def bootstrap(gateway: str) -> None:
    password = "Sch-" + secrets.token_hex(16)
    _post(f"{gateway}/api/users/admin/init", {"username": "admin", "password": password})
    jwt = _post(f"{gateway}/api/auth", {"username": "admin", "password": password})["jwt"]
    print(jwt)


def fetch(gateway: str, dialect: str, path: str) -> None:
    with urllib.request.urlopen(f"{gateway}/openapi/{dialect}.json", timeout=10) as r:
        if r.status != 200:
            sys.exit(f"/openapi/{dialect}.json: HTTP {r.status}")
        doc = json.load(r)
    with open(path, "w") as f:
        json.dump(doc, f)


def _validate(doc: dict) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV31SpecValidator

    if doc.get("openapi", "").split(".")[:2] != ["3", "1"]:
        raise ValueError(f"not OpenAPI 3.1: openapi={doc.get('openapi')!r}")
    validate(doc, cls=OpenAPIV31SpecValidator)


def validate(*paths: str) -> None:
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        _validate(doc)
        ops = sum(
            1
            for item in doc.get("paths", {}).values()
            for m in item
            if m in ("get", "put", "post", "delete", "patch")
        )
        print(f"{path}: valid OpenAPI {doc['openapi']}, {len(doc['paths'])} paths, {ops} operations")


def validate_must_fail(path: str) -> None:
    """The validator must refuse a document with a dangling $ref and a bad status key."""
    with open(path) as f:
        doc = json.load(f)
    broken = copy.deepcopy(doc)
    first = next(iter(broken["paths"].values()))
    op = next(iter(first.values()))
    op["responses"]["200"] = {"description": "x", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DoesNotExist"}}}}
    op["responses"]["2XX-not-a-status"] = {"description": "x"}
    try:
        _validate(broken)
    except Exception as e:  # noqa: BLE001 - any refusal is the expected outcome
        print(f"broken copy of {path} refused as expected: {type(e).__name__}")
        return
    sys.exit(f"the validator accepted a broken copy of {path}")


def seed_violation(src: str, dst: str, path: str) -> None:
    """A copy of the document that the real answers of GET `path` cannot satisfy: run.sh checks
    that schemathesis reports it, which also proves the bootstrap credential reaches the route."""
    with open(src) as f:
        doc = json.load(f)
    media = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    media["schema"] = {"allOf": [media["schema"], {"type": "object", "required": ["seeded_violation"]}]}
    with open(dst, "w") as f:
        json.dump(doc, f)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {
        "bootstrap": bootstrap,
        "fetch": fetch,
        "validate": validate,
        "validate-must-fail": validate_must_fail,
        "seed-violation": seed_violation,
    }[cmd](*args)
