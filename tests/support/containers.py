"""The images hack/images.sh builds, and containers run from them the way a kubelet runs a pod.

``run_args`` turns a pod spec and one of its containers (rendered by the chart, or built by the
operator's Job builder) into ``podman run``/``docker run`` flags, so a test runs exactly the
security context, volumes, env and args a cluster would: the user and group (fsGroup as a
supplementary group), no new privileges, the capability drops, a read-only root with the pod's
emptyDirs as the only writable places, configMaps as read-only files, env with secretKeyRefs
resolved, the memory limit, and args after the image's entrypoint. What the kubelet adds by
itself (the termination-log file) is left to the caller. Containers use the host's network:
they reach the tests' loopback services and add no bridge or iptables rules.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "hack" / "images.sh"


def images_dir() -> Path:
    """Where hack/images.sh leaves its tarballs and images.json."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sovits-operator" / "images"


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    id: str
    size: int
    archive: Path
    build_seconds: int
    base: str


@dataclass(frozen=True)
class Engine:
    """docker or podman, with the environment that reaches the store the script built into."""

    command: str
    env: Mapping[str, str]

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.command, *args], env={**os.environ, **self.env}, capture_output=True, text=True, timeout=timeout
        )


@dataclass(frozen=True)
class Images:
    engine: Engine
    built: Mapping[str, BuiltImage]
    output: str  # what the script printed


def build_images(*names: str, timeout: float = 3600) -> Images:
    """Runs hack/images.sh for the named images and reads back what it built."""
    result = subprocess.run([str(SCRIPT), *names], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"hack/images.sh {' '.join(names)} failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    manifest = json.loads((images_dir() / "images.json").read_text())
    built = {
        name: BuiltImage(**{**info, "archive": Path(info["archive"])})
        for name, info in manifest["images"].items()
        if name in names
    }
    return Images(Engine(manifest["engine"], manifest["engine_env"]), built, result.stdout + result.stderr)


def _memory(quantity: str) -> str:
    """A Kubernetes memory quantity in the engines' spelling (binary suffixes as k/m/g)."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|)", quantity)
    if not match:
        raise ValueError(f"unsupported memory quantity {quantity!r}")
    number, suffix = match.groups()
    return number + {"Ki": "k", "Mi": "m", "Gi": "g", "Ti": "t", "": "b"}[suffix]


def _env(container: Mapping[str, Any], secrets: Mapping[str, Mapping[str, str]]) -> list[str]:
    flags: list[str] = []
    for item in container.get("env", []):
        if "value" in item:
            value = str(item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            value = secrets[ref["name"]][ref["key"]]
        flags += ["--env", f"{item['name']}={value}"]
    return flags


def _volumes(pod: Mapping[str, Any], container: Mapping[str, Any], config_maps: Mapping[str, Path]) -> list[str]:
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    flags: list[str] = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        target = mount["mountPath"]
        if "emptyDir" in volume:
            # A kubelet's emptyDir is a fresh world-writable directory.
            flags += ["--mount", f"type=tmpfs,destination={target},tmpfs-mode=1777"]
        elif "configMap" in volume:
            source = config_maps[volume["configMap"]["name"]]
            flags += ["--mount", f"type=bind,source={source},destination={target},ro=true"]
        else:
            raise ValueError(f"volume {mount['name']}: only emptyDir and configMap are supported")
    return flags


def run_args(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    *,
    engine: str,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
    config_maps: Mapping[str, Path] | None = None,
) -> list[str]:
    """``run`` flags for one container of a pod spec; the caller appends extra flags, then ``tail``."""
    pod_context: Mapping[str, Any] = pod.get("securityContext", {})
    context: Mapping[str, Any] = container.get("securityContext", {})
    flags = ["run", "--rm", "--network", "host"]
    user = context.get("runAsUser", pod_context.get("runAsUser"))
    group = context.get("runAsGroup", pod_context.get("runAsGroup"))
    if user is not None:
        flags += ["--user", f"{user}:{group}" if group is not None else str(user)]
    if "fsGroup" in pod_context:
        flags += ["--group-add", str(pod_context["fsGroup"])]
    if context.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    capabilities = context.get("capabilities", {})
    flags += [arg for cap in capabilities.get("drop", []) for arg in ("--cap-drop", cap)]
    flags += [arg for cap in capabilities.get("add", []) for arg in ("--cap-add", cap)]
    if context.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
        if engine == "podman":
            flags.append("--read-only-tmpfs=false")  # podman would add writable /tmp, /var/tmp, /run
    limit = container.get("resources", {}).get("limits", {}).get("memory")
    if limit:
        flags += ["--memory", _memory(limit), "--memory-swap", _memory(limit)]
    flags += _env(container, secrets or {})
    flags += _volumes(pod, container, config_maps or {})
    if container.get("workingDir"):
        flags += ["--workdir", container["workingDir"]]
    if container.get("command"):
        raise ValueError("a command would replace the image's entrypoint (tini); Jobs set only args")
    return flags


def tail(image: str, container: Mapping[str, Any]) -> list[str]:
    """The image and the container's args, which follow the image's entrypoint."""
    return [image, *container.get("args", [])]
