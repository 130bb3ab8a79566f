"""The test object store is a real S3 endpoint: auth on, multipart, presigned URLs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from tests.support.seaweed import S3Store

pytestmark = pytest.mark.s3


def test_objects_round_trip_and_list_under_a_prefix(s3_store: S3Store, s3_prefix: str) -> None:
    client = s3_store.client()
    client.put_object(Bucket=s3_store.bucket, Key=f"{s3_prefix}a/one.txt", Body=b"one")
    client.put_object(Bucket=s3_store.bucket, Key=f"{s3_prefix}a/two.txt", Body=b"two")
    client.put_object(Bucket=s3_store.bucket, Key=f"{s3_prefix}b/three.txt", Body=b"three")

    listed = client.list_objects_v2(Bucket=s3_store.bucket, Prefix=f"{s3_prefix}a/")

    assert sorted(o["Key"] for o in listed["Contents"]) == [f"{s3_prefix}a/one.txt", f"{s3_prefix}a/two.txt"]
    body = client.get_object(Bucket=s3_store.bucket, Key=f"{s3_prefix}a/two.txt")["Body"].read()
    assert body == b"two"


def test_a_presigned_get_downloads_without_credentials(s3_store: S3Store, s3_prefix: str) -> None:
    client = s3_store.client()
    key = f"{s3_prefix}weights.pth"
    client.put_object(Bucket=s3_store.bucket, Key=key, Body=b"\x00weights")

    url = client.generate_presigned_url("get_object", Params={"Bucket": s3_store.bucket, "Key": key})

    assert requests.get(url, timeout=10).content == b"\x00weights"


def test_anonymous_reads_are_refused(s3_store: S3Store, s3_prefix: str) -> None:
    key = f"{s3_prefix}private.txt"
    s3_store.client().put_object(Bucket=s3_store.bucket, Key=key, Body=b"secret")

    response = requests.get(f"{s3_store.endpoint_url}/{s3_store.bucket}/{key}", timeout=10)

    assert response.status_code == 403


def test_wrong_credentials_are_refused(s3_store: S3Store) -> None:
    intruder = s3_store.client(aws_secret_access_key="not-the-secret")

    with pytest.raises(ClientError) as info:
        intruder.list_objects_v2(Bucket=s3_store.bucket)

    assert info.value.response["Error"]["Code"] in {
        "SignatureDoesNotMatch",
        "AccessDenied",
        "InvalidAccessKeyId",
    }


def test_a_20_mb_upload_goes_multipart_and_arrives_intact(s3_store: S3Store, s3_prefix: str, tmp_path: Path) -> None:
    payload = os.urandom(20 * 1024 * 1024)
    source = tmp_path / "big.bin"
    source.write_bytes(payload)
    client = s3_store.client()
    key = f"{s3_prefix}big.bin"
    config = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)

    client.upload_file(str(source), s3_store.bucket, key, Config=config)

    head = client.head_object(Bucket=s3_store.bucket, Key=key)
    assert head["ContentLength"] == len(payload)
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 8 + 8 + 4 MiB
    assert client.get_object(Bucket=s3_store.bucket, Key=key)["Body"].read() == payload
