"""A real node for the test control plane: containerd and runc from Debian, the kubelet and
kube-proxy built by tests/cluster/build-node.sh, pods as real containers.

The node lives in a network and mount namespace the test creates (``unshare``), joined to the
host by a veth pair whose addresses the test picks:
- its node IP is the namespace end of the veth (the kubelet refuses a loopback one), and the
  API server reaches the kubelet there for ``kubectl logs``;
- kube-proxy's and the CNI bridge's iptables rules, the bridge, the pods' veths and every
  ``/proc/sys/net`` setting stay in that network namespace;
- in the mount namespace, /var/lib, /var/log and /run are bind mounts of the test's own
  directory (the kubelet writes /var/lib/kubelet/device-plugins and /var/log/containers, and
  containerd's shims /run/containerd/s, whatever their flags say), and the kernel settings the
  kubelet insists on are files mounted over /proc/sys that show it the values it wants, so the
  machine's own settings are never written (``protectKernelDefaults``);
- cgroups go under a cgroup root of the node's own name, removed at the end.
The control plane and SeaweedFS keep listening on 127.0.0.1; a TCP relay on the host end of
the veth (tests/support/tcp_relay.py) forwards the node's connections to them, and the API
server advertises that address, so the ``kubernetes`` Service that kube-proxy programs leads
pods there too.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import host_state, tcp_relay
from .cluster import REPO, Cluster, ClusterInfo, get_json
from .processes import stop_process, wait_for
from .seaweed import S3Store

BUILD_NODE = REPO / "tests" / "cluster" / "build-node.sh"
NODE_NAME = "real-node"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.0.0.0/24"  # kube-apiserver's default range; the kubernetes Service takes its first address
KUBERNETES_SERVICE_IP = "10.0.0.1"
DEBIAN_TOOLS = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
    "iptables": "iptables",
    "unshare": "util-linux",
    "nsenter": "util-linux",
}
IMAGES = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sovits-operator" / "images"
SETUP_HINT = "run hack/node.sh (Debian's containerd, runc, CNI plugins, iptables; kubelet and kube-proxy)"


class NodeSetupMissing(RuntimeError):
    """The real node's set-up has not been run on this machine."""


def node_build_dir() -> Path:
    """The cache with bin/kubelet, bin/kube-proxy and pause.tar; an error naming hack/node.sh when absent."""
    import shutil

    missing = sorted({pkg for tool, pkg in DEBIAN_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise NodeSetupMissing(f"missing Debian packages {', '.join(missing)}: {SETUP_HINT}")
    out = subprocess.run([str(BUILD_NODE), "--check"], capture_output=True, text=True)
    if out.returncode != 0:
        raise NodeSetupMissing(f"{out.stderr.strip()} ({SETUP_HINT})")
    return Path(out.stdout.strip().splitlines()[-1])


def built_image(name: str) -> Path:
    """hack/images.sh's docker-archive tarball of one image (operator, step-audio, step)."""
    path = IMAGES / f"{name}.tar"
    if not path.is_file():
        raise NodeSetupMissing(f"{path} is missing: run hack/images.sh (it builds the project's images)")
    return path


def archive_tags(archive: Path) -> list[str]:
    """The image names a docker-archive tarball carries (its manifest.json's RepoTags)."""
    import tarfile

    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None, f"{archive}: no manifest.json (not a docker archive)"
        return [tag for entry in json.load(member) for tag in entry.get("RepoTags") or []]


@dataclass(frozen=True)
class NodeNetwork:
    """The veth pair's /30: the host end (where the relay listens) and the node end (the node IP)."""

    host_ip: str
    node_ip: str
    host_link: str

    @property
    def prefix(self) -> int:
        return 30


def choose_network(used: list[ipaddress.IPv4Network], token: str, rng: random.Random) -> NodeNetwork:
    """A /30 in 10.213.0.0/16 that overlaps nothing ``used`` (the host's networks, the pod and
    service ranges); ``token`` makes the host-side link name unique."""
    reserved = [*used, ipaddress.ip_network(POD_CIDR), ipaddress.ip_network(SERVICE_CIDR)]
    candidates = list(ipaddress.ip_network("10.213.0.0/16").subnets(new_prefix=30))
    for net in rng.sample(candidates, 256):
        if not any(net.overlaps(r) for r in reserved):
            host, node = list(net.hosts())
            return NodeNetwork(str(host), str(node), f"{host_state.NODE_PREFIX[:3]}{token}")
    raise RuntimeError("no free /30 in 10.213.0.0/16")


def host_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    return [ipaddress.ip_interface(line.split()[3]).network for line in out.splitlines()]


def cluster_patches(network: NodeNetwork, pki: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """kwokctl options and kube-apiserver flags for a control plane with a real node.

    The API server advertises the relay's address (the ``kubernetes`` Service's endpoint),
    serves a certificate valid for it and for the Service's IP (in-cluster clients verify it),
    and reaches the kubelet at its InternalIP with a client certificate the kubelet trusts."""
    options = {"kubeApiserverCertSANs": [network.host_ip, KUBERNETES_SERVICE_IP]}
    args = {
        "advertise-address": network.host_ip,
        "kubelet-client-certificate": str(pki / "admin.crt"),
        "kubelet-client-key": str(pki / "admin.key"),
        "kubelet-preferred-address-types": "InternalIP",
    }
    patch = {"name": "kube-apiserver", "extraArgs": [{"key": k, "value": v} for k, v in args.items()]}
    return options, patch


def containerd_config(work: Path, pause_ref: str) -> str:
    """containerd 1.6 (config version 2) for this node; paths are as the node's mount namespace sees them."""
    disabled = [
        "io.containerd.internal.v1.opt",  # would create /opt/containerd
        "io.containerd.snapshotter.v1.aufs",
        "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.devmapper",
        "io.containerd.snapshotter.v1.zfs",
        "io.containerd.tracing.processor.v1.otlp",
    ]
    cri = "io.containerd.grpc.v1.cri"
    return f"""version = 2
root = "{work / "containerd"}"
state = "/run/containerd"
disabled_plugins = {json.dumps(disabled)}

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."{cri}"]
  sandbox_image = "{pause_ref}"
  # Pod sandboxes ask for oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE, which this
  # machine does not grant, so scores are clamped at containerd's own.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."{cri}".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."{cri}".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."{cri}".containerd.runtimes.runc.options]
  BinaryName = "/usr/sbin/runc"
  SystemdCgroup = false

[plugins."{cri}".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{work / "cni"}"
"""


def cni_config() -> dict[str, Any]:
    """A bridge with host-local addresses; pods reach the node's veth (and the relay) masqueraded."""
    return {
        "cniVersion": "0.4.0",
        "name": "sovits-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]], "routes": [{"dst": "0.0.0.0/0"}]},
            }
        ],
    }


def kubelet_config(work: Path, network: NodeNetwork, pki: Path, cgroup_root: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": network.node_ip,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(pki / "ca.crt")},  # the API server's kubelet client certificate
        },
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
        "cgroupDriver": "cgroupfs",  # PID 1 is not systemd
        "cgroupRoot": cgroup_root,
        "failCgroupV1": False,  # v1.35 refuses cgroup v1 otherwise; this machine has no usable v2
        "protectKernelDefaults": True,  # check kernel settings, never write them
        "oomScoreAdj": 0,  # the default -999 needs CAP_SYS_RESOURCE
        "failSwapOn": False,
        "resolvConf": str(work / "resolv.conf"),
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "nodeStatusReportFrequency": "10s",
    }


def kube_proxy_config(kubeconfig: Path) -> dict[str, Any]:
    """iptables mode inside the node's network namespace; conntrack settings (global ones
    among them) left as they are."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "hostnameOverride": NODE_NAME,
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "clusterCIDR": POD_CIDR,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "oomScoreAdj": 0,
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "iptables": {"localhostNodePorts": False},
    }


def kubeconfig(server: str, pki: Path) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": server, "certificate-authority": str(pki / "ca.crt")}}],
        "users": [
            {
                "name": "node",
                "user": {"client-certificate": str(pki / "admin.crt"), "client-key": str(pki / "admin.key")},
            }
        ],
        "contexts": [{"name": "node", "context": {"cluster": "test", "user": "node"}}],
        "current-context": "node",
    }


def namespace_setup_script(work: Path, network: NodeNetwork, link: str) -> str:
    """Run inside the new namespaces: the node's network, its private /var/lib, /var/log and
    /run, and the kernel settings the kubelet wants, shown only to processes in here."""
    lines = [
        "set -eu",
        "ip link set lo up",
        f"ip addr add {network.node_ip}/{network.prefix} dev {link}",
        f"ip link set {link} up",
        f"ip route add {SERVICE_CIDR} via {network.host_ip}",
    ]
    for target in ("/var/lib", "/var/log", "/run"):
        lines.append(f"mount --bind {work / 'root' / target.lstrip('/')} {target}")
    for name, value in host_state.KUBELET_SYSCTLS.items():
        shown = work / "sysctl" / name.replace("/", ".")
        lines += [f"printf '%s\\n' {value} > {shown}", f"mount --bind {shown} /proc/sys/{name}"]
    return "\n".join(lines) + "\n"


class RealNode:
    """The node's namespaces, containerd, the kubelet and kube-proxy; ``stop`` restores the host."""

    def __init__(self, workdir: Path) -> None:
        self.work = workdir
        self.build = node_build_dir()
        token = os.urandom(4).hex()
        self.network = choose_network(host_networks(), token, random.Random())
        self.cgroup_root = f"/{host_state.NODE_PREFIX}-{token}"
        self.host_before = host_state.snapshot()
        self.holder: subprocess.Popen[bytes] | None = None
        self.daemons: dict[str, subprocess.Popen[bytes]] = {}
        self.relay: subprocess.Popen[str] | None = None
        self.timings: dict[str, float] = {}
        self.images: dict[str, str] = {}

    @property
    def containerd_socket(self) -> Path:
        return self.work / "root" / "run" / "containerd" / "containerd.sock"

    # -- namespaces -------------------------------------------------------------------------

    def create_namespaces(self) -> None:
        """The network and mount namespace, with the veth pair; before the control plane
        starts, so that its certificate names the veth's host address."""
        for sub in ("root/var/lib", "root/var/log", "root/run", "sysctl", "cni", "containerd", "logs"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "--", "sleep", "infinity"]
        )
        net = self.network
        holder = self.holder.pid
        wait_for(lambda: _ns(holder, "net") != _ns(os.getpid(), "net"), timeout=10, what="node namespace")
        inner = "eth0"
        subprocess.run(
            ["ip", "link", "add", net.host_link, "type", "veth", "peer", "name", inner, "netns", str(self.holder.pid)],
            check=True,
        )
        subprocess.run(["ip", "addr", "add", f"{net.host_ip}/{net.prefix}", "dev", net.host_link], check=True)
        subprocess.run(["ip", "link", "set", net.host_link, "up"], check=True)
        self.in_node("sh", "-c", namespace_setup_script(self.work, net, inner))

    def in_node(self, *args: str, timeout: float = 120) -> str:
        out = subprocess.run(self._enter(*args), capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise subprocess.CalledProcessError(out.returncode, args, out.stdout, out.stderr)
        return out.stdout

    def _enter(self, *args: str) -> list[str]:
        assert self.holder is not None
        return ["nsenter", f"--target={self.holder.pid}", "--net", "--mount", "--", *args]

    def control_plane(self, workdir: Path) -> Cluster:
        """A control plane (no kwok nodes) whose API server the node can reach and verify."""
        cluster = Cluster(workdir, pools=())
        options, patch = cluster_patches(self.network, cluster.pki)
        cluster.options, cluster.patches = options, (patch,)
        return cluster

    # -- daemons ----------------------------------------------------------------------------

    def start(self, cluster: Cluster, forwards: list[int]) -> None:
        """Relay ``forwards`` (ports on 127.0.0.1, the API server's among them) to the veth's
        host address, then start containerd, the kubelet and kube-proxy; returns once the node
        is Ready."""
        net = self.network
        self.relay = tcp_relay.start(f"{net.host_ip}:{p}=127.0.0.1:{p}" for p in forwards)

        w = self.work
        pki = cluster.pki
        info = ClusterInfo(kubeconfig=cluster.kubeconfig, bin=cluster.bin or Path(), cluster=cluster)
        node_kubeconfig = w / "node.kubeconfig"
        node_kubeconfig.write_text(yaml.safe_dump(kubeconfig(f"https://{net.host_ip}:{info.api_port}", pki)))
        (w / "resolv.conf").write_text("")
        (w / "cni" / "10-sovits-node.conflist").write_text(json.dumps(cni_config()))
        pause_ref = (self.build / "pause.ref").read_text().strip()
        (w / "containerd.toml").write_text(containerd_config(w, pause_ref))
        (w / "kubelet.yaml").write_text(yaml.safe_dump(kubelet_config(w, net, pki, self.cgroup_root)))
        (w / "kube-proxy.yaml").write_text(yaml.safe_dump(kube_proxy_config(node_kubeconfig)))

        t0 = time.monotonic()
        self._daemon("containerd", "containerd", "--config", str(w / "containerd.toml"))
        wait_for(lambda: self._alive("containerd") and self.containerd_socket.exists(), what="containerd socket")
        self.import_image(self.build / "pause.tar")
        t1 = time.monotonic()
        self._create_cgroup_root()
        kubelet = self.build / "bin" / "kubelet"
        self._daemon(
            "kubelet", str(kubelet), f"--config={w / 'kubelet.yaml'}", f"--kubeconfig={node_kubeconfig}",
            f"--hostname-override={NODE_NAME}", f"--node-ip={net.node_ip}", "--v=2",
        )  # fmt: skip
        self._daemon("kube-proxy", str(self.build / "bin" / "kube-proxy"), f"--config={w / 'kube-proxy.yaml'}")
        wait_for(lambda: self._alive("kubelet") and node_ready(info), timeout=120, what="node Ready")
        self.timings["containerd_ready_s"] = t1 - t0
        self.timings["node_ready_s"] = time.monotonic() - t1

    def _alive(self, name: str) -> bool:
        if self.daemons[name].poll() is not None:
            raise RuntimeError(f"{name} exited with {self.daemons[name].returncode}:\n{self.log_tail(name)}")
        return True

    def _daemon(self, name: str, *args: str) -> None:
        with (self.work / "logs" / f"{name}.log").open("ab") as log:  # the child keeps its own descriptor
            self.daemons[name] = subprocess.Popen(self._enter(*args), stdout=log, stderr=subprocess.STDOUT)

    def import_image(self, archive: Path) -> None:
        """A docker-archive or OCI tarball into the node's image store, as kubelet's CRI sees it."""
        self.ctr("images", "import", str(archive))

    def load_image(self, name: str) -> str:
        """hack/images.sh's image ``name`` imported (once per node); returns its reference."""
        archive = built_image(name)
        if name not in self.images:
            started = time.monotonic()
            self.import_image(archive)
            self.timings[f"import_{name}_s"] = time.monotonic() - started
            self.images[name] = archive_tags(archive)[0]
        return self.images[name]

    def ctr(self, *args: str) -> str:
        """containerd's CLI in the node's namespaces (`ctr run` would make its fifos in the host's /run)."""
        return self.in_node("ctr", "-n", "k8s.io", *args, timeout=600)

    def running_containers(self, namespace: str) -> list[str]:
        """IDs of containers (sandboxes included) of pods in ``namespace`` whose process runs, as containerd sees it."""
        listed = self.ctr("containers", "ls", "-q", f'labels."io.kubernetes.pod.namespace"=={namespace}').split()
        running = {
            line.split()[0] for line in self.ctr("tasks", "ls").splitlines()[1:] if line.split()[-1] == "RUNNING"
        }
        return sorted(set(listed) & running)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.work / "logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    @contextlib.contextmanager
    def slow_relay(self, port: int, rate: int) -> Iterator[str]:
        """``127.0.0.1:port`` at ``rate`` bytes a second each way, as the node's pods reach it: yields the address."""
        with tcp_relay.throttled(self.network.host_ip, port, rate) as address:
            yield address

    # -- teardown ---------------------------------------------------------------------------

    def stop(self) -> dict[str, tuple[object, object]]:
        """Stop everything the node started and return how the host differs from before (nothing, when right)."""
        for name in ("kube-proxy", "kubelet"):
            stop_process(self.daemons.get(name), grace=10)
        for pid in self._node_processes():
            _kill(pid, signal.SIGKILL)
        stop_process(self.daemons.get("containerd"), grace=5)
        stop_process(self.holder, grace=5)
        wait_for(lambda: not self._node_processes(), timeout=30, what="node processes gone")
        self._remove_cgroups()
        stop_process(self.relay)
        wait_for(lambda: self.network.host_link not in host_state.links(), timeout=30, what="veth gone")
        return host_state.differences(self.host_before, host_state.snapshot())

    def _node_processes(self) -> list[int]:
        """Processes in the node's namespaces or cgroups: the daemons, containerd's shims and the containers."""
        if self.holder is None:
            return []
        found = set()
        marks = {_ns(self.holder.pid, "net"), _ns(self.holder.pid, "mnt")} - {None}
        for cgroup in _cgroup_dirs(self.cgroup_root):
            for line in (cgroup / "cgroup.procs").read_text().split():
                found.add(int(line))
        for proc in Path("/proc").iterdir():
            pid = int(proc.name) if proc.name.isdigit() else self.holder.pid
            if pid != self.holder.pid and {_ns(pid, "net"), _ns(pid, "mnt")} & marks:
                found.add(pid)
        return sorted(found)

    def _create_cgroup_root(self) -> None:
        """The kubelet's cgroup root in every hierarchy (it refuses one that does not exist);
        cpuset children start empty, so they get their parent's CPUs and memory nodes."""
        for hierarchy in host_state.CGROUP_ROOT.iterdir():
            top = hierarchy / self.cgroup_root.lstrip("/")
            if hierarchy.is_dir() and not top.exists():
                top.mkdir()
                for name in ("cpuset.cpus", "cpuset.mems"):
                    if (hierarchy / name).exists():
                        (top / name).write_text((hierarchy / name).read_text())

    def _remove_cgroups(self) -> None:
        for cgroup in sorted(_cgroup_dirs(self.cgroup_root), key=lambda p: len(p.parts), reverse=True):
            for _ in range(50):
                try:
                    cgroup.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy a moment longer while the killed processes exit
                    time.sleep(0.1)


def _cgroup_dirs(root: str) -> list[Path]:
    found: list[Path] = []
    for hierarchy in host_state.CGROUP_ROOT.iterdir():
        top = hierarchy / root.lstrip("/")
        if top.is_dir():
            found += [top, *(p for p in top.rglob("*") if p.is_dir())]
    return found


def _ns(pid: int, kind: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def node_ready(cluster: ClusterInfo) -> bool:
    try:
        node = get_json(cluster, "node", NODE_NAME)
    except subprocess.CalledProcessError:
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


@dataclass
class RealNodeCluster:
    """What tests get: the control plane with the real node, the node, and the store as pods reach it."""

    cluster: ClusterInfo
    node: RealNode
    store: S3Store

    @property
    def pod_endpoint_url(self) -> str:
        """SeaweedFS's S3 endpoint at the relay on the veth's host address."""
        return f"http://{self.node.network.host_ip}:{self.store.port}"

    def store_env(self) -> dict[str, str]:
        """The settings environment for the operator and step pods: the store at the pods' address."""
        return self.store.env(self.pod_endpoint_url)
