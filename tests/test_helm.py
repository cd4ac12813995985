"""The Helm chart in helm/, checked without a helm binary (there is none on the test machine).

How the templates are checked: :func:`render` turns a template into plain YAML in a simple,
deliberately dumb way, so the structure the chart promises can be asserted with PyYAML:

1. ``{{/* comments */}}`` are removed;
2. a line that is only ``{{ include "name" . | nindent N }}`` (or only ``{{ include "name" . }}``)
   is replaced by the body of that ``define`` in _helpers.tpl, rendered the same way and
   indented by N (or by the line's own indentation);
3. any other line that holds nothing but template actions (``if``, ``range``, ``with``, ``end``,
   ``toYaml … | nindent``, variable assignments) is dropped: both branches of an ``if`` and one
   pass of a ``range`` stay in, values written with ``toYaml`` become null;
4. every remaining action is replaced by the word ``TEMPLATED`` (``- {{ … }}`` list items by a
   mapping ``_templated: TEMPLATED``), except an ``include`` of a helper that is a constant
   (the instance path), which is written out.

What is written literally in the templates (probe paths, the security context, hook annotations)
can therefore be asserted exactly. Where the helm-python-sdk package (Helm's own Go engine,
`pip install helm-python-sdk`) is installed, the same assertions also run on Helm's real
rendering of values.yaml and values-production.example.yaml, and `helm lint --strict` must pass.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import click
import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm"
TEMPLATES = CHART / "templates"
INSTANCE_PATH = "/var/lib/nvsi/instance"

COMMENT_RE = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.S)
ACTION_RE = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
INCLUDE_LINE_RE = re.compile(
    r'^(?P<indent>[ ]*)\{\{-?\s*include\s+"(?P<name>[^"]+)"\s+\S+\s*(?:\|\s*nindent\s+(?P<n>\d+)\s*)?-?\}\}\s*$'
)
SECRET_NAME_RE = re.compile(r"(SECRET|PASSWORD|TOKEN|DATABASE_URL|_KEY$)")


def load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def values() -> dict:
    return load(CHART / "values.yaml")


def schema() -> dict:
    return json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))


def merge(base: dict, override: dict) -> dict:
    """Helm's coalescing of user values onto the chart's defaults (maps merge, the rest replaces)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def production_values() -> dict:
    return merge(values(), load(CHART / "values-production.example.yaml"))


# -- the simple renderer ------------------------------------------------------------------------


def helpers() -> dict[str, str]:
    """Every ``define`` of _helpers.tpl: name -> body."""
    text = COMMENT_RE.sub("", (TEMPLATES / "_helpers.tpl").read_text(encoding="utf-8"))
    defines, stack = {}, []
    for match in ACTION_RE.finditer(text):
        words = match.group(1).split()
        word = words[0] if words else ""
        if word == "define":
            stack.append(("define", words[1].strip('"'), match.end()))
        elif word in ("if", "range", "with", "block"):
            stack.append((word, None, None))
        elif word == "end":
            kind, name, start = stack.pop()
            if kind == "define":
                defines[name] = text[start:match.start()].strip("\n")
    assert not stack, "unbalanced actions in _helpers.tpl"
    return defines


def render(text: str, defines: dict[str, str] | None = None) -> str:
    """Plain YAML from a template, as described in the module docstring."""
    defines = helpers() if defines is None else defines
    out = []
    for line in COMMENT_RE.sub("", text).splitlines():
        include = INCLUDE_LINE_RE.match(line)
        if include and include["name"] in defines:
            indent = int(include["n"]) if include["n"] else len(include["indent"])
            body = render(defines[include["name"]], defines)
            out += [" " * indent + part for part in body.splitlines() if part.strip()]
            continue
        if ACTION_RE.search(line) and not ACTION_RE.sub("", line).strip():
            continue  # control flow or toYaml on a line of its own
        if re.fullmatch(r"\s*- \{\{.*\}\}\s*", line):
            line = line[: line.index("{{")] + "_templated: TEMPLATED"
        out.append(ACTION_RE.sub(lambda m: _inline(m, defines), line))
    return "\n".join(out)


def _inline(match: re.Match, defines: dict[str, str]) -> str:
    """An inline action: a helper that is a constant (a path) is written out, anything else TEMPLATED."""
    include = re.fullmatch(r'include\s+"([^"]+)"\s+\S+(\s*\|\s*quote)?', match.group(1))
    if include and "{{" not in defines.get(include.group(1), "{{"):
        constant = defines[include.group(1)].strip()
        return f'"{constant}"' if include.group(2) else constant
    return "TEMPLATED"


def stripped_docs() -> dict[str, list[dict]]:
    """template file -> its YAML documents, rendered by :func:`render`."""
    defines = helpers()
    docs = {}
    for path in sorted(TEMPLATES.rglob("*.yaml")):
        docs[path.relative_to(TEMPLATES).as_posix()] = [
            d for d in yaml.safe_load_all(render(path.read_text(encoding="utf-8"), defines)) if d
        ]
    return docs


def helm_docs(overrides: dict | None) -> dict[str, list[dict]]:
    """template file -> documents, rendered by Helm's own engine (helm-python-sdk)."""
    helm = pytest.importorskip("helm_python", reason="helm-python-sdk not installed: Helm's own rendering skipped")
    report = helm.lint(str(CHART), values=overrides, strict=True, kube_version="v1.30.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values=overrides, name="nvsi", namespace="nvsi", is_install=True)
    return {
        path.split("/templates/", 1)[1]: [d for d in yaml.safe_load_all(text) if d]
        for path, text in rendered.items() if path.endswith(".yaml")
    }


def by_kind(docs: dict[str, list[dict]]) -> dict[str, list[dict]]:
    kinds: dict[str, list[dict]] = {}
    for file_docs in docs.values():
        for doc in file_docs:
            kinds.setdefault(doc["kind"], []).append(doc)
    return kinds


# -- structure (for both renderings) ------------------------------------------------------------


def check_pod(spec: dict, *, platform: bool = True) -> dict:
    """A pod: non-root, read-only root; a platform pod also has a writable /tmp and instance
    folder and its secrets as references. Returns the container."""
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = spec["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
    assert "resources" in container
    if not platform:
        return container
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes["tmp"] and "emptyDir" in volumes["instance"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    mounts.pop("/archives", None)  # the archive claim, when one is named (its own test)
    assert mounts == {"/tmp": "tmp", INSTANCE_PATH: "instance"}
    env = {e["name"]: e for e in container.get("env") or [] if e["name"] != "TEMPLATED"}
    for name, entry in env.items():
        if SECRET_NAME_RE.search(name):
            assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], f"{name} is not a secret reference"
    for name in ("NVSI_DATABASE_URL", "NVSI_SECRET_KEY", "NVSI_DATA_KEY"):
        assert "secretKeyRef" in env[name]["valueFrom"], name
    return container


def check_structure(docs: dict[str, list[dict]], cronjobs_expected: bool) -> None:
    kinds = by_kind(docs)
    for kind in ("Deployment", "Service", "Job", "ConfigMap", "NetworkPolicy", "PodDisruptionBudget",
                 "ServiceAccount", "Pod"):
        assert kind in kinds, f"no {kind}"
    assert "Secret" not in kinds, "the chart must only reference Secrets, never create them"
    for file_docs in docs.values():
        for doc in file_docs:
            assert doc["apiVersion"] and doc["metadata"]["name"] and doc["metadata"]["labels"]

    [deployment] = kinds["Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    web = check_pod(spec)
    assert web["command"] == ["gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {p["name"] for p in web["ports"]} == {"http", "metrics"}
    assert web["envFrom"][0]["configMapRef"]["name"]
    assert web["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "checksum/config" in deployment["spec"]["template"]["metadata"]["annotations"]

    [job] = kinds["Job"]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    migrate = check_pod(job["spec"]["template"]["spec"])
    assert migrate["command"][:3] == ["nvsi", "migrate", "--jobs"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "envFrom" not in migrate  # the ConfigMap does not exist yet on a first install

    cronjobs = kinds.get("CronJob", [])
    assert bool(cronjobs) == cronjobs_expected
    for cronjob in cronjobs:
        assert cronjob["spec"]["concurrencyPolicy"] and cronjob["spec"]["timeZone"]
        check_pod(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])

    [policy] = kinds["NetworkPolicy"]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    [test_pod] = kinds["Pod"]
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    check_pod(test_pod["spec"], platform=False)


def test_templates_have_the_promised_structure():
    docs = stripped_docs()
    check_structure(docs, cronjobs_expected=True)  # the simple renderer keeps every branch
    kinds = by_kind(docs)
    for kind in ("Ingress", "HorizontalPodAutoscaler", "ServiceMonitor", "CronJob"):
        assert kind in kinds
    assert {s["metadata"]["name"] for s in kinds["Service"]} == {"TEMPLATED", "TEMPLATED-metrics"}


def test_helm_renders_the_default_values():
    docs = helm_docs(None)
    check_structure(docs, cronjobs_expected=False)  # their commands arrive with later issues
    assert "HorizontalPodAutoscaler" not in by_kind(docs)


def test_helm_renders_the_production_example():
    overrides = load(CHART / "values-production.example.yaml")
    overrides["cronjobs"] = {name: {"enabled": True} for name in values()["cronjobs"]}
    docs = helm_docs(overrides)
    check_structure(docs, cronjobs_expected=True)
    kinds = by_kind(docs)
    assert kinds["HorizontalPodAutoscaler"][0]["spec"]["maxReplicas"] == 10
    assert {c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][1]
            for c in kinds["CronJob"]} == {"reminders", "invoices", "premiums", "onboarding", "members"}
    config = kinds["ConfigMap"][0]["data"]
    assert config["NVSI_DATABASE_POOL_RECYCLE"] == "600" and config["GUNICORN_WORKERS"] == "3"


def test_templates_are_well_formed():
    defines = helpers()
    for path in [*TEMPLATES.rglob("*.yaml"), TEMPLATES / "NOTES.txt", TEMPLATES / "_helpers.tpl"]:
        text = COMMENT_RE.sub("", path.read_text(encoding="utf-8"))
        assert text.count("{{") == text.count("}}"), path.name
        opened = sum(1 for m in ACTION_RE.finditer(text) if m.group(1).split()[:1] in (["if"], ["range"], ["with"], ["define"]))
        closed = sum(1 for m in ACTION_RE.finditer(text) if m.group(1).split()[:1] == ["end"])
        assert opened == closed, f"{path.name}: {opened} blocks opened, {closed} closed"
        for name in re.findall(r'include\s+"([^"]+)"', text):
            assert name in defines, f"{path.name} includes an undefined template {name}"


def test_every_value_the_templates_use_exists():
    known = values()
    used = set()
    for path in [*TEMPLATES.rglob("*.yaml"), TEMPLATES / "NOTES.txt", TEMPLATES / "_helpers.tpl"]:
        used |= set(re.findall(r"\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", path.read_text(encoding="utf-8")))
    assert used
    for dotted in sorted(used):
        node = known
        for part in dotted.strip(".").split("."):
            assert isinstance(node, dict) and part in node, f".Values{dotted} is not in values.yaml"
            node = node[part]


# -- values ---------------------------------------------------------------------------------------


def test_values_files_fit_the_schema():
    validator = jsonschema.Draft7Validator(schema())
    jsonschema.Draft7Validator.check_schema(schema())
    for name, data in (("values.yaml", values()), ("production example", production_values())):
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(data)]
        assert not errors, f"{name}: {errors}"


@pytest.mark.parametrize("override, where", [
    ({"config": {"SECRET_KEY": "x"}}, "config"),
    ({"config": {"DATABASE_URL": "postgresql://u:p@h/db"}}, "config"),
    ({"config": {"MAIL_PASSWORD": "x"}}, "config"),
    ({"extraEnv": [{"name": "NVSI_STRIPE_SECRET_KEY", "value": "sk_live_x"}]}, "extraEnv"),
    ({"secrets": {"database": {"existingSecret": ""}}}, "secrets"),
    ({"replicaCount": "2"}, "replicaCount"),
    ({"podSecurityContext": {"runAsUser": 0}}, "podSecurityContext"),
    ({"cronjobs": {"reminders": {"schedule": "daily"}}}, "cronjobs"),
    ({"unknownSetting": True}, ""),
])
def test_schema_refuses_bad_values(override, where):
    errors = list(jsonschema.Draft7Validator(schema()).iter_errors(merge(values(), override)))
    assert errors and any(where in "/".join(map(str, e.absolute_path)) for e in errors)


def test_every_value_has_a_comment():
    """Every key that holds a value (not only sub-keys) has a comment above it or after it."""
    lines = (CHART / "values.yaml").read_text(encoding="utf-8").splitlines()
    missing = []
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z0-9_./-]+):(.*)$", line)
        if not match:
            continue
        rest = match.group(3).strip()
        if not rest or rest.startswith("#"):
            continue  # a parent key: its children carry the comments
        above = lines[number - 1].strip() if number else ""
        if not above.startswith("#") and "#" not in rest:
            missing.append(f"line {number + 1}: {line.strip()}")
    assert not missing, "values without a comment:\n" + "\n".join(missing)


def leaves(node, trail=()):
    """(path of keys, value) of every scalar in a values tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*trail, str(key)))
    elif isinstance(node, list):
        for item in node:
            yield from leaves(item, trail)
    else:
        yield trail, node


def test_no_secret_values_in_the_values_files():
    secret_like = re.compile(r"(sk_(live|test)_|whsec_|-----BEGIN|://[^/\s:@]+:[^/\s@]+@)")
    for path in (CHART / "values.yaml", CHART / "values-production.example.yaml"):
        data = load(path)
        for trail, value in leaves(data):
            where = f"{path.name}: {'.'.join(trail)}"
            assert not (isinstance(value, str) and secret_like.search(value)), f"{where} looks like a secret"
            named_like_a_secret = re.search(r"(?i)password|token|secret", trail[-1]) and trail[0] != "secrets"
            if named_like_a_secret and not re.search(r"(secretName|existingSecret)$", trail[-1]):
                assert value in ("", None), f"{where} holds a value"
        for name, ref in data.get("secrets", {}).items():
            for key, value in ref.items():  # names of Secrets and of keys in them, nothing else
                assert key == "existingSecret" or key == "key" or key.endswith("Key"), f"secrets.{name}.{key}"
                assert re.fullmatch(r"[a-z0-9][-a-z0-9._]*|", value), f"secrets.{name}.{key} is not a name"


def test_cronjobs_are_off_by_default_and_run_commands_that_exist():
    """Every CronJob names a real `nvsi` command, and is off until the operator has set up what it
    needs (mail, the NVSI account, the archive volume), which its comment says."""
    import flask

    from nvsi.cli import register_cli

    cli_only = flask.Flask("cli-only")  # the commands, without building the platform's app
    register_cli(cli_only)
    text = (CHART / "values.yaml").read_text(encoding="utf-8")
    jobs = values()["cronjobs"]
    assert {"reminders", "invoices", "dunning", "premiums", "accrual", "onboarding", "archives"} <= set(jobs)
    for name, job in jobs.items():
        assert job["enabled"] is False
        program, *path = job["command"]
        assert program == "nvsi"
        group = cli_only.cli
        ctx = click.Context(group)
        for word in path:
            command = group.get_command(ctx, word)
            assert command is not None, f"cronjobs.{name}: no command `{' '.join(job['command'])}`"
            group = command
        assert not isinstance(group, click.Group), f"cronjobs.{name}: `{' '.join(job['command'])}` is a group"
        block = text[text.index(f"  {name}:"):]
        comment = block.splitlines()[1]
        assert "Off by default" in comment and " ".join(job["command"]) in comment


def test_the_archive_claim_is_mounted_and_named_in_the_config():
    kinds = by_kind(helm_docs({"archives": {"existingClaim": "nvsi-archives"}}))
    pod = kinds["Deployment"][0]["spec"]["template"]["spec"]
    assert {"name": "archives", "persistentVolumeClaim": {"claimName": "nvsi-archives"}} in pod["volumes"]
    assert {"name": "archives", "mountPath": "/archives"} in pod["containers"][0]["volumeMounts"]
    assert kinds["ConfigMap"][0]["data"]["NVSI_OFFBOARDING_ARCHIVE_DIR"] == "/archives"
    without = by_kind(helm_docs(None))
    assert "NVSI_OFFBOARDING_ARCHIVE_DIR" not in without["ConfigMap"][0]["data"]
    assert all(v["name"] != "archives" for v in without["Deployment"][0]["spec"]["template"]["spec"]["volumes"])


def test_production_example_sets_what_many_schemas_need():
    prod = production_values()
    settings = prod["postgresql"]["expectedSettings"]
    assert settings["max_locks_per_transaction"] >= 256
    assert prod["config"]["DATABASE_POOL_RECYCLE"] <= 900
    config, gunicorn = prod["config"], prod["gunicorn"]
    per_worker = config["DATABASE_POOL_SIZE"] + config["DATABASE_MAX_OVERFLOW"]
    assert per_worker >= gunicorn["threads"], "every thread of a worker can get a connection"
    web = prod["autoscaling"]["maxReplicas"] * gunicorn["workers"] * per_worker
    assert web + prod["migration"]["jobs"] + 1 < settings["max_connections"]


def test_chart_metadata_and_readme():
    chart = load(CHART / "Chart.yaml")
    assert chart["apiVersion"] == "v2" and chart["name"] == "nvsi" and chart["type"] == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    with (ROOT / "pyproject.toml").open("rb") as fh:
        assert chart["appVersion"] == tomllib.load(fh)["project"]["version"]
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    for phrase in ("no `helm` binary", "helm lint", "helm template", "values-production.example.yaml"):
        assert phrase in readme
    for name in ("Chart.yaml", "values.yaml", "values.schema.json", ".helmignore", "templates/_helpers.tpl",
                 "templates/NOTES.txt", "templates/tests/test-connection.yaml"):
        assert (CHART / name).exists(), name
