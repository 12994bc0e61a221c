#!/usr/bin/env python3
"""Offline validation of deploy/k8s without the kustomize binary.

Usage: validate_manifests.py --k8s-version X.Y.Z [--expect-invalid FILE ...] [--out DIR] KUSTOMIZATION_DIR ...

For each kustomization directory it:
  1. checks every file named in `resources:` exists and parses as YAML (directories must hold a
     kustomization.yaml and are rendered recursively);
  2. renders the subset of kustomize used here (resources, namespace, labels, images, replicas,
     secretGenerator/configMapGenerator with literals and disableNameSuffixHash); any other
     kustomization field is an error, so a new feature cannot be silently skipped;
  3. validates every rendered object against the pinned Kubernetes JSON schema (strict: unknown
     fields are errors) shipped with kubernetes-validate;
  4. runs a few semantic checks: unique names, ConfigMap/Secret references resolve (Secrets only
     where the kustomization defines them), selectors match pod labels, server pods get
     terminationGracePeriodSeconds above IDENTITY_DRAIN_TIMEOUT_SECS, gRPC probes present on the
     server and httpGet /healthz + /readyz probes on the gateway.

--expect-invalid FILE: FILE must be REJECTED by the same schema validation; if it is accepted the
script fails (this proves the check can fail).

Prints `deploy manifests: N passed, M failed` and exits non-zero when M > 0.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys

import kubernetes_validate
import yaml

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume",
                  "StorageClass", "CustomResourceDefinition", "PriorityClass"}
SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "labels", "images",
                    "replicas", "secretGenerator", "configMapGenerator", "generatorOptions"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


class RenderError(Exception):
    pass


def load_yaml_docs(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        raise RenderError(f"{path}: cannot read/parse: {e}") from e
    for d in docs:
        if not isinstance(d, dict):
            raise RenderError(f"{path}: a document is not a mapping")
    return docs


def pod_spec(obj: dict) -> dict | None:
    if obj.get("kind") in WORKLOADS:
        return obj.get("spec", {}).get("template", {}).get("spec")
    return None


def generate(kind: str, gen: dict, opts: dict, where: str) -> dict:
    allowed = {"name", "literals", "type", "options"}
    extra = set(gen) - allowed
    if extra:
        raise RenderError(f"{where}: {kind} generator fields not supported here: {sorted(extra)}")
    if not opts.get("disableNameSuffixHash"):
        raise RenderError(f"{where}: generators need generatorOptions.disableNameSuffixHash: true "
                          "(this renderer does not compute name hashes)")
    data = {}
    for lit in gen.get("literals", []):
        if "=" not in lit:
            raise RenderError(f"{where}: literal without '=': {lit.split('=')[0]!r}")
        k, v = lit.split("=", 1)
        data[k] = v
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": gen["name"]}}
    if kind == "Secret":
        obj["type"] = gen.get("type", "Opaque")
        obj["stringData"] = data
    else:
        obj["data"] = data
    return obj


def render(directory: str) -> tuple[list[dict], int]:
    """Returns (objects, number of files checked)."""
    kpath = os.path.join(directory, "kustomization.yaml")
    if not os.path.isfile(kpath):
        raise RenderError(f"{directory}: no kustomization.yaml")
    docs = load_yaml_docs(kpath)
    if len(docs) != 1:
        raise RenderError(f"{kpath}: expected one document")
    k = docs[0]
    unknown = set(k) - SUPPORTED_FIELDS
    if unknown:
        raise RenderError(f"{kpath}: fields not supported by this renderer: {sorted(unknown)}")
    if k.get("kind") != "Kustomization":
        raise RenderError(f"{kpath}: kind must be Kustomization")

    objs: list[dict] = []
    files = 1
    for res in k.get("resources", []):
        p = os.path.normpath(os.path.join(directory, res))
        if os.path.isdir(p):
            sub, n = render(p)
            objs += sub
            files += n
        elif os.path.isfile(p):
            for d in load_yaml_docs(p):
                for field in ("apiVersion", "kind"):
                    if field not in d:
                        raise RenderError(f"{p}: a document has no {field}")
                if not d.get("metadata", {}).get("name"):
                    raise RenderError(f"{p}: a {d['kind']} has no metadata.name")
                objs.append(d)
            files += 1
        else:
            raise RenderError(f"{kpath}: resource {res!r} does not exist")

    opts = k.get("generatorOptions", {})
    for gen in k.get("secretGenerator", []):
        objs.append(generate("Secret", gen, opts, kpath))
    for gen in k.get("configMapGenerator", []):
        objs.append(generate("ConfigMap", gen, opts, kpath))

    objs = copy.deepcopy(objs)
    for entry in k.get("labels", []):
        if set(entry) - {"pairs"}:
            raise RenderError(f"{kpath}: only labels[].pairs is supported")
        for o in objs:
            o.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    if "namespace" in k:
        for o in objs:
            if o["kind"] not in CLUSTER_SCOPED:
                o["metadata"]["namespace"] = k["namespace"]
    for img in k.get("images", []):
        for o in objs:
            spec = pod_spec(o)
            for c in (spec or {}).get("containers", []) + (spec or {}).get("initContainers", []):
                name = c.get("image", "").split(":")[0].split("@")[0]
                if name == img["name"]:
                    new = img.get("newName", img["name"])
                    if "digest" in img:
                        c["image"] = f"{new}@{img['digest']}"
                    else:
                        tag = img.get("newTag") or (c["image"].split(":", 1)[1] if ":" in c["image"] else "latest")
                        c["image"] = f"{new}:{tag}"
    for rep in k.get("replicas", []):
        hit = [o for o in objs if o["metadata"]["name"] == rep["name"] and o["kind"] in {"Deployment", "StatefulSet"}]
        if not hit:
            raise RenderError(f"{kpath}: replicas: no workload named {rep['name']!r}")
        for o in hit:
            o["spec"]["replicas"] = rep["count"]
    return objs, files


def schema_errors(obj: dict, version: str) -> str | None:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = "/".join(str(p) for p in e.path)
        return f"{path or '<root>'}: {e.message}"
    except kubernetes_validate.SchemaNotFoundError as e:
        return f"no schema: {e}"
    return None


def semantic_errors(objs: list[dict], secrets_required: bool) -> list[str]:
    errs = []
    index = {}
    for o in objs:
        key = (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
        if key in index:
            errs.append(f"duplicate {key}")
        index[key] = o
    cms = {o["metadata"]["name"]: o.get("data", {}) for o in objs if o["kind"] == "ConfigMap"}
    secrets = {o["metadata"]["name"]: {**o.get("data", {}), **o.get("stringData", {})}
               for o in objs if o["kind"] == "Secret"}

    def check_ref(where, kind, name, key, optional):
        table = cms if kind == "ConfigMap" else secrets
        if kind == "Secret" and not secrets_required:
            return
        if name not in table:
            if not optional:
                errs.append(f"{where}: {kind} {name!r} is not defined")
        elif key is not None and key not in table[name] and not optional:
            errs.append(f"{where}: {kind} {name!r} has no key {key!r}")

    for o in objs:
        spec = pod_spec(o)
        if spec is None:
            continue
        where = f"{o['kind']}/{o['metadata']['name']}"
        sel = o["spec"].get("selector", {}).get("matchLabels", {})
        labels = o["spec"]["template"].get("metadata", {}).get("labels", {})
        if any(labels.get(k) != v for k, v in sel.items()):
            errs.append(f"{where}: selector does not match the pod labels")
        drain = None
        for c in spec.get("containers", []):
            for ef in c.get("envFrom", []):
                if "configMapRef" in ef:
                    r = ef["configMapRef"]
                    check_ref(where, "ConfigMap", r["name"], None, r.get("optional", False))
                    drain = cms.get(r["name"], {}).get("IDENTITY_DRAIN_TIMEOUT_SECS", drain)
                if "secretRef" in ef:
                    r = ef["secretRef"]
                    check_ref(where, "Secret", r["name"], None, r.get("optional", False))
            for e in c.get("env", []):
                vf = e.get("valueFrom", {})
                if "configMapKeyRef" in vf:
                    r = vf["configMapKeyRef"]
                    check_ref(where, "ConfigMap", r["name"], r["key"], r.get("optional", False))
                if "secretKeyRef" in vf:
                    r = vf["secretKeyRef"]
                    check_ref(where, "Secret", r["name"], r["key"], r.get("optional", False))
            if c.get("args", [None])[0] == "identity-server" and o["kind"] == "Deployment":
                for probe, svc in (("livenessProbe", ""), ("readinessProbe", "readiness"), ("startupProbe", "")):
                    g = c.get(probe, {}).get("grpc")
                    if not g or g.get("port") != 50051 or g.get("service", "") != svc:
                        errs.append(f"{where}: {probe} must be grpc on 50051 with service {svc!r}")
                grace = spec.get("terminationGracePeriodSeconds", 30)
                if drain is not None and grace <= int(drain):
                    errs.append(f"{where}: terminationGracePeriodSeconds {grace} <= drain {drain}")
            if c.get("args", [None])[0] == "identity-gateway" and o["kind"] == "Deployment":
                for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
                    h = c.get(probe, {}).get("httpGet")
                    if not h or h.get("path") != path or h.get("port") not in ("http", 8080):
                        errs.append(f"{where}: {probe} must be httpGet {path} on the http port")
            sc = c.get("securityContext", {})
            if not (sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
                    and "ALL" in sc.get("capabilities", {}).get("drop", [])):
                errs.append(f"{where}/{c['name']}: securityContext must be read-only, no escalation, drop ALL")
            if not (spec.get("securityContext", {}).get("runAsNonRoot") or sc.get("runAsNonRoot")):
                errs.append(f"{where}/{c['name']}: must run as non-root")
            if not c.get("resources", {}).get("requests") or not c.get("resources", {}).get("limits"):
                errs.append(f"{where}/{c['name']}: resources requests and limits required")
    return errs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k8s-version", required=True)
    ap.add_argument("--expect-invalid", action="append", default=[])
    ap.add_argument("--out", help="write each rendered kustomization here (one YAML stream each)")
    ap.add_argument("dirs", nargs="+")
    a = ap.parse_args()
    passed = failed = 0

    def ok(msg):
        nonlocal passed
        passed += 1
        print(f"  ok    {msg}")

    def bad(msg):
        nonlocal failed
        failed += 1
        print(f"  FAIL  {msg}")

    for d in a.dirs:
        print(f"kustomization {d} (Kubernetes {a.k8s_version}, strict schema)")
        try:
            objs, nfiles = render(d)
        except RenderError as e:
            bad(f"render: {e}")
            continue
        ok(f"render: {nfiles} files, {len(objs)} objects")
        if a.out:
            os.makedirs(a.out, exist_ok=True)
            name = d.strip("/").replace("/", "_") + ".yaml"
            with open(os.path.join(a.out, name), "w", encoding="utf-8") as f:
                yaml.safe_dump_all(objs, f, sort_keys=False)
        for o in objs:
            label = f"{o['kind']}/{o['metadata']['name']}"
            err = schema_errors(o, a.k8s_version)
            bad(f"{label}: {err}") if err else ok(f"{label}")
        errs = semantic_errors(objs, secrets_required=any(o["kind"] == "Secret" for o in objs))
        for e in errs:
            bad(f"semantic: {e}")
        if not errs:
            ok("semantic checks")

    for f in a.expect_invalid:
        print(f"negative fixture {f} (must be rejected)")
        try:
            docs = load_yaml_docs(f)
        except RenderError as e:
            ok(f"rejected at parse: {e}")
            continue
        # The schema check alone must reject it (the semantic checks are extra).
        errs = [e for e in (schema_errors(o, a.k8s_version) for o in docs) if e]
        if errs:
            ok(f"rejected by the schema ({len(errs)} objects), first: {errs[0]}")
        else:
            bad(f"{f} was ACCEPTED by the schema check: it cannot catch a broken manifest")

    print(f"deploy manifests: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
