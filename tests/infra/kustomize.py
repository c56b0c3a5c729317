"""Renders infra/kubernetes the way `kubectl kustomize` does, for the few features it uses, so the
tests need no kubectl: resources (files and bases), namespace, images (name, newName, newTag,
digest) and strategic-merge patches (maps merge, lists of named items merge by name, other lists
are replaced). Anything else in a kustomization fails loudly instead of rendering wrongly."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

KNOWN = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}


def render(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN
    assert not unknown, f"{directory}: the test loader does not implement {sorted(unknown)}"
    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            objects += render(path)
        else:
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for patch in kustomization.get("patches", []):
        assert set(patch) == {"path"}, f"only strategic-merge patch files: {patch}"
        for doc in yaml.safe_load_all((directory / patch["path"]).read_text()):
            target = _find(objects, doc)
            target.update(_merge(target, doc))
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] != "Namespace":
                obj["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        for container in _containers(objects):
            _retag(container, image)
    return objects


def _find(objects: list[dict[str, Any]], patch: dict[str, Any]) -> dict[str, Any]:
    (found,) = [
        obj
        for obj in objects
        if (obj["kind"], obj["metadata"]["name"]) == (patch["kind"], patch["metadata"]["name"])
    ]
    return found


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        merged_list = copy.deepcopy(base)
        for item in patch:
            same = [i for i, old in enumerate(merged_list) if old["name"] == item["name"]]
            if same:
                merged_list[same[0]] = _merge(merged_list[same[0]], item)
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def _containers(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        container
        for obj in objects
        if obj["kind"] == "Deployment"
        for container in obj["spec"]["template"]["spec"]["containers"]
    ]


def _retag(container: dict[str, Any], image: dict[str, str]) -> None:
    name, _, tag = container["image"].partition(":")
    if name != image["name"]:
        return
    name = image.get("newName", name)
    if "digest" in image:
        container["image"] = f"{name}@{image['digest']}"
    else:
        container["image"] = f"{name}:{image.get('newTag', tag)}"
