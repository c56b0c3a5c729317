"""House style for the module: a comment saying what each file owns, typed and described inputs."""

from __future__ import annotations

import re

from tests.infra.conftest import TERRAFORM, Module

EXPECTED_FILES = {
    "versions.tf",
    "variables.tf",
    "outputs.tf",
    "nlb.tf",
    "ecs.tf",
    "s3.tf",
    "redis.tf",
    "iam.tf",
    "logs.tf",
    "autoscaling.tf",
}


def test_module_is_split_by_concern() -> None:
    names = {p.name for p in TERRAFORM.glob("*.tf")}
    assert EXPECTED_FILES <= names
    assert (TERRAFORM / "terraform.tfvars.example").is_file()


def test_every_tf_file_opens_with_what_it_owns() -> None:
    for path in TERRAFORM.glob("*.tf"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# Owns: "), path.name


def test_every_variable_is_typed_and_described(tf: Module) -> None:
    for name, body in tf.variables().items():
        assert body.get("type"), f"{name} has no type"
        assert len(body.get("description", "")) > 10, f"{name} has no description"


def test_aws_provider_is_pinned(tf: Module) -> None:
    (terraform,) = tf.files["versions.tf"]["terraform"]
    (providers,) = terraform["required_providers"]
    assert providers["aws"]["source"] == "hashicorp/aws"
    assert re.search(r"<\s*\d", providers["aws"]["version"]), "needs an upper bound"


def test_example_tfvars_sets_every_required_variable(tf: Module) -> None:
    example = (TERRAFORM / "terraform.tfvars.example").read_text(encoding="utf-8")
    assigned = set(re.findall(r"^([a-z_]+)\s*=", example, flags=re.MULTILINE))
    required = {name for name, body in tf.variables().items() if "default" not in body}
    assert required <= assigned, f"missing from the example: {sorted(required - assigned)}"
    assert assigned <= set(tf.variables()), (
        f"unknown names: {sorted(assigned - set(tf.variables()))}"
    )
