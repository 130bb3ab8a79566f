"""What the real node could change on the machine, read before it starts and after it stops.

The node runs in namespaces of its own, so none of this should change; the real-node fixture
compares the two snapshots and fails its teardown naming whatever differs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# The kernel settings a kubelet sets (or, with protectKernelDefaults, insists on).
KUBELET_SYSCTLS = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}

# Paths a kubelet, containerd or the CNI plugins write whatever their flags say.
WRITTEN_PATHS = (
    "/var/lib/kubelet",
    "/var/lib/containerd",
    "/var/lib/cni",
    "/var/log/containers",
    "/var/log/pods",
    "/run/containerd",
    "/run/xtables.lock",
    "/etc/cni/net.d",
)

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Names the node gives what it makes in shared kernel places: its cgroup root and veth links.
NODE_PREFIX = "sovits-node"


def sysctls() -> dict[str, str]:
    return {name: (Path("/proc/sys") / name).read_text().strip() for name in KUBELET_SYSCTLS}


def firewall() -> dict[str, str]:
    """The host network namespace's rules, as iptables (nft and legacy) and nft print them."""
    commands = {
        "iptables-nft": ["iptables-nft-save"],
        "ip6tables-nft": ["ip6tables-nft-save"],
        "iptables-legacy": ["iptables-legacy-save"],
        "nft": ["nft", "list", "ruleset"],
    }
    rules = {}
    for name, args in commands.items():
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout
        except FileNotFoundError:
            continue
        # Drop the save tools' comment lines: they carry the time of the dump.
        rules[name] = "\n".join(line for line in out.splitlines() if not line.startswith("#"))
    return rules


def cgroups() -> list[str]:
    """Top-level cgroups a kubelet would make (``kubepods``) or ours (the node's cgroup root)."""
    found = (d for h in CGROUP_ROOT.iterdir() if h.is_dir() for d in h.iterdir() if d.is_dir())
    return sorted(str(d.relative_to(CGROUP_ROOT)) for d in found if d.name.startswith((NODE_PREFIX, "kubepods")))


def links() -> list[str]:
    return sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith(NODE_PREFIX[:3]))


def snapshot() -> dict[str, object]:
    return {
        "sysctls": sysctls(),
        "firewall": firewall(),
        "paths": sorted(p for p in WRITTEN_PATHS if Path(p).exists()),
        "cgroups": cgroups(),
        "links": links(),
    }


def differences(before: dict[str, object], after: dict[str, object]) -> dict[str, tuple[object, object]]:
    return {key: (before[key], after.get(key)) for key in before if before[key] != after.get(key)}
