"""Real-node benchmark: how fast the test control plane's real node comes up and starts pods.

Brings up the node as the `real_node` fixture does (namespaces, a control plane of its own,
containerd, kubelet, kube-proxy), then starts pods of the pause image one after another.
Prints progress lines, then one JSON object on the last line:
- node_ready_s: kubelet start to the Node's Ready condition;
- containerd_ready_s: containerd start plus the pause image import;
- pod_start_p50_s / pod_start_max_s: `kubectl apply` of a pod to its phase Running, as the test
  sees it (scheduler, kubelet, sandbox with CNI, container);
- runtime_start_p50_s: the baseline, measured in the same run: `ctr run -d` of the same image
  straight on containerd (no sandbox, no network, no API server);
- pod_vs_runtime: pod_start_p50_s / runtime_start_p50_s.

Usage: python bench/real_node.py [--pods 10]   (needs hack/node.sh once, and root)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster.test_real_node import talking_pod
from tests.support.cluster import get_json
from tests.support.processes import wait_for
from tests.support.real_node import RealNode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-real-node-"))
    for sub in ("node", "cluster"):
        (work / sub).mkdir()
    node = RealNode(work / "node")
    control_plane = None
    try:
        started = time.monotonic()
        node.create_namespaces()
        control_plane = node.control_plane(work / "cluster")
        cluster = control_plane.start()
        node.start(control_plane, forwards=[cluster.api_port])
        print(f"node Ready {time.monotonic() - started:.1f} s after start, {node.timings}", flush=True)
        image = (node.build / "pause.ref").read_text().strip()
        namespace = cluster.create_namespace("bench")

        pod_starts = []
        for i in range(args.pods):
            t0 = time.monotonic()
            cluster.apply(talking_pod(f"p{i}", namespace, image, "hello"))
            wait_for(lambda n=f"p{i}": get_json(cluster, "pod", n, "-n", namespace)["status"].get("phase") == "Running",
                     interval=0.05, what="pod Running")  # fmt: skip
            pod_starts.append(time.monotonic() - t0)

        runtime_starts = []
        for i in range(args.pods):
            t0 = time.monotonic()
            # Under the node's cgroup root: ctr's default (/k8s.io/<id>) would be a host cgroup.
            node.ctr("run", "-d", "--cgroup", f"{node.cgroup_root}/bench-{i}", image, f"bench-{i}", "/pause", "hello")
            runtime_starts.append(time.monotonic() - t0)
            node.ctr("tasks", "kill", "-s", "SIGKILL", f"bench-{i}")
        time.sleep(1)
        for i in range(args.pods):
            node.ctr("tasks", "delete", f"bench-{i}")
            node.ctr("containers", "delete", f"bench-{i}")

        pod_p50 = statistics.median(pod_starts)
        runtime_p50 = statistics.median(runtime_starts)
        print(json.dumps({
            "pods": args.pods,
            "node_ready_s": round(node.timings["node_ready_s"], 2),
            "containerd_ready_s": round(node.timings["containerd_ready_s"], 2),
            "pod_start_p50_s": round(pod_p50, 2),
            "pod_start_max_s": round(max(pod_starts), 2),
            "runtime_start_p50_s": round(runtime_p50, 3),
            "pod_vs_runtime": round(pod_p50 / runtime_p50, 1),
        }))  # fmt: skip
    finally:
        changed = node.stop()
        if control_plane is not None:
            control_plane.stop()
        if changed:
            print(f"the host changed: {changed}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
