"""infra/kubernetes, rendered offline (tests/infra/kustomize.py, checked against `kubectl kustomize`
when kubectl is installed): every object is valid against the Kubernetes schemas bundled in
kubernetes-validate and the KEDA ScaledObject CRD's schema, runs the Procfile's commands with the
image's ports and real MAILBUS_* settings, drains within its grace period and scales the
workers from zero on the RQ queue's list."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from mailbus.settings import Settings
from tests.infra.conftest import INFRA, ROOT, Module
from tests.infra.kustomize import render
from tests.infra.test_run_commands import EXPECTED, _dockerfile_instruction

KUBERNETES = INFRA / "kubernetes"
BUILDS = [KUBERNETES / "base", KUBERNETES / "overlays" / "example"]
KUBERNETES_VERSION = "1.30.0"  # the oldest minor the managed clouds still support
CRD = Path(__file__).with_name("keda.sh_scaledobjects.yaml")
Objects = dict[tuple[str, str], dict[str, Any]]


def _objects(build: Path) -> Objects:
    return {(obj["kind"], obj["metadata"]["name"]): obj for obj in render(build)}


@pytest.fixture(params=BUILDS, ids=lambda build: build.name)
def objects(request: pytest.FixtureRequest) -> Objects:
    return _objects(request.param)


@pytest.mark.parametrize("build", BUILDS, ids=lambda build: build.name)
def test_the_loader_renders_what_kubectl_renders(build: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: the loader alone renders the manifests")
    result = subprocess.run(
        [kubectl, "kustomize", str(build)], capture_output=True, text=True, timeout=60, check=True
    )
    rendered = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(result.stdout)}
    assert rendered == _objects(build)


def test_every_object_is_valid_against_its_schema(objects: Objects) -> None:
    (crd,) = [doc for doc in yaml.safe_load_all(CRD.read_text()) if doc]
    (version,) = crd["spec"]["versions"]
    keda = jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])
    for (kind, name), obj in objects.items():
        if kind == "ScaledObject":
            assert obj["apiVersion"] == f"{crd['spec']['group']}/{version['name']}"
            errors = [error.message for error in keda.iter_errors(obj)]
            assert not errors, f"{kind}/{name}: {errors}"
        else:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_kinds_the_issue_asks_for(objects: Objects) -> None:
    assert {
        ("Deployment", "mailbus-listener"),
        ("Service", "mailbus-smtp"),
        ("PodDisruptionBudget", "mailbus-listener"),
        ("Deployment", "mailbus-worker"),
        ("ScaledObject", "mailbus-worker"),
    } <= set(objects)


def _pod(objects: Objects, role: str) -> dict[str, Any]:
    return objects[("Deployment", f"mailbus-{role}")]["spec"]["template"]


def _container(objects: Objects, role: str) -> dict[str, Any]:
    (container,) = _pod(objects, role)["spec"]["containers"]
    return container


def _env(objects: Objects, role: str) -> dict[str, str]:
    """The container's environment: its ConfigMaps, then its own env entries (which win)."""
    container = _container(objects, role)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(objects[("ConfigMap", source["configMapRef"]["name"])]["data"])
    env.update({item["name"]: item["value"] for item in container.get("env", [])})
    return env


def _image_env() -> dict[str, str]:
    return dict(re.findall(r"(MAILBUS_\w+)=(\S+)", _dockerfile_instruction("ENV")))


def test_both_roles_run_the_procfile_commands_through_the_image_entrypoint(
    objects: Objects,
) -> None:
    for role, command in EXPECTED.items():
        container = _container(objects, role)
        assert "command" not in container  # the image's ENTRYPOINT: mailbus
        assert " ".join(["mailbus", *container["args"]]).startswith(command)


def test_only_real_settings_and_the_images_ports(objects: Objects) -> None:
    known = set(re.findall(r'"(MAILBUS_\w+)"', (ROOT / "mailbus" / "settings.py").read_text()))
    image = _image_env()
    for role in EXPECTED:
        env = _env(objects, role)
        assert set(env) <= known, set(env) - known
        assert env["MAILBUS_METRICS_PORT"] == image["MAILBUS_METRICS_PORT"]
        ports = {p["name"]: p["containerPort"] for p in _container(objects, role)["ports"]}
        assert ports["metrics"] == int(image["MAILBUS_METRICS_PORT"])
    listener = _env(objects, "listener")
    assert listener["MAILBUS_PORT"] == image["MAILBUS_PORT"]
    assert listener["MAILBUS_HOST"] == image["MAILBUS_HOST"] == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in _container(objects, "listener")["ports"]}
    assert ports["smtp"] == int(image["MAILBUS_PORT"])
    (service_port,) = objects[("Service", "mailbus-smtp")]["spec"]["ports"]
    assert (service_port["port"], service_port["targetPort"]) == (25, "smtp")


def test_probes_are_healthz_and_readyz_on_the_metrics_port(objects: Objects) -> None:
    for role in EXPECTED:
        container = _container(objects, role)
        for probe, path in (
            ("startupProbe", "/healthz"),
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
        ):
            assert container[probe]["httpGet"] == {"path": path, "port": "metrics"}, probe


def test_non_root_and_a_read_only_root_with_scratch_in_tmp(objects: Objects) -> None:
    uid = int(_dockerfile_instruction("USER").split(":")[0])
    for role in EXPECTED:
        pod = _pod(objects, role)["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == uid
        assert pod["automountServiceAccountToken"] is False
        container = _container(objects, role)
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        scratch = [v["name"] for v in pod["volumes"] if "emptyDir" in v]
        assert [mounts[name] for name in scratch] == ["/tmp"]  # the metrics samples directory


def test_the_listener_drains_within_its_grace_period(objects: Objects) -> None:
    pod = _pod(objects, "listener")
    container = _container(objects, "listener")
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    grace = float(
        _env(objects, "listener").get("MAILBUS_SHUTDOWN_GRACE", Settings().shutdown_grace)
    )
    assert pod["spec"]["terminationGracePeriodSeconds"] >= int(command[1]) + grace + 5
    labels = pod["metadata"]["labels"]
    budget = objects[("PodDisruptionBudget", "mailbus-listener")]["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert budget.get("maxUnavailable", 0) >= 1 or "minAvailable" in budget
    service = objects[("Service", "mailbus-smtp")]["spec"]
    assert service["selector"].items() <= labels.items()


def test_proxy_protocol_in_mailbus_only_with_a_load_balancer_that_sends_it(
    objects: Objects,
) -> None:
    service = objects[("Service", "mailbus-smtp")]
    sends = (
        service["metadata"]
        .get("annotations", {})
        .get("service.beta.kubernetes.io/aws-load-balancer-proxy-protocol")
        == "*"
    )
    expects = _env(objects, "listener").get("MAILBUS_PROXY_PROTOCOL", "off") != "off"
    assert sends == expects
    if not sends:  # without the header, only a Local policy keeps the client's address
        assert service["spec"]["externalTrafficPolicy"] == "Local"


def test_keda_scales_the_workers_from_zero_on_the_queue_list(objects: Objects) -> None:
    scaled = objects[("ScaledObject", "mailbus-worker")]["spec"]
    assert scaled["scaleTargetRef"]["name"] == "mailbus-worker"
    assert ("Deployment", "mailbus-worker") in objects
    assert "replicas" not in objects[("Deployment", "mailbus-worker")]["spec"]  # KEDA's to set
    assert scaled["minReplicaCount"] == 0
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "redis"
    queue = _env(objects, "worker").get("MAILBUS_QUEUE", Settings().queue)
    assert trigger["metadata"]["listName"] == f"rq:queue:{queue}"
    assert trigger["metadata"]["activationListLength"] == "0"  # one waiting message wakes them
    idle_minutes = Module(INFRA / "terraform").variables()["worker_idle_minutes"]["default"]
    assert scaled["cooldownPeriod"] == idle_minutes * 60  # the same idle time as on AWS
