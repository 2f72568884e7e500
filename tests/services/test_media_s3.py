"""Recordings' media in an S3 bucket: the `recordings` storage as PLAYGROUND_MEDIA_BUCKET configures it.

.ci/run starts moto's standalone S3 server on loopback and sets PLAYGROUND_TEST_S3_URL. Like
test_backends.py this fails, never skips, when it is missing: a services run that proved nothing
must not pass. The storage is built by the settings' own function from the PLAYGROUND_MEDIA_*
variables, so the options a deployment gets are the ones that ran here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.test import override_settings

pytestmark = pytest.mark.services

ACCESS_KEY_ID = "playground-test-key-id"
SECRET = f"media-secret-{uuid.uuid4().hex}"
REGION = "us-east-1"  # moto's default; Yandex's is ru-central1 (docs/operations.md)
# Not a FLAC, just bytes no text codec would keep: every value, several times, in a varying order.
AUDIO = bytes((i * 7 + i // 256) % 256 for i in range(200_000))


@pytest.fixture
def s3_url() -> str:
    url = os.environ.get("PLAYGROUND_TEST_S3_URL", "")
    assert url.startswith("http://"), (
        "set PLAYGROUND_TEST_S3_URL (moto_server, .ci/run starts one) for the services suite"
    )
    return url


@pytest.fixture
def bucket(s3_url: str) -> Iterator[str]:
    """A fresh bucket on the test S3 server; emptied and removed afterwards."""
    name = f"playground-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET,
    )
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        for obj in client.list_objects_v2(Bucket=name).get("Contents", []):
            client.delete_object(Bucket=name, Key=obj["Key"])
        client.delete_bucket(Bucket=name)


@pytest.fixture
def recordings(monkeypatch: pytest.MonkeyPatch, s3_url: str, bucket: str) -> Iterator[Any]:
    """storages["recordings"] as the settings make it from PLAYGROUND_MEDIA_* (override_settings resets
    Django's cache of storages on the way in and out)."""
    from playground import settings as playground_settings

    for name, value in {
        "PLAYGROUND_MEDIA_BUCKET": bucket,
        "PLAYGROUND_MEDIA_ENDPOINT_URL": s3_url,
        "PLAYGROUND_MEDIA_REGION": REGION,
        "PLAYGROUND_MEDIA_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "PLAYGROUND_MEDIA_SECRET_ACCESS_KEY": SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    config = playground_settings._recordings_storage(playground_settings._read(playground_settings._Env))
    from django.conf import settings

    with override_settings(STORAGES={**settings.STORAGES, "recordings": config}):
        yield storages["recordings"]


def s3_objects(s3_url: str, bucket: str) -> dict[str, Any]:
    client = boto3.client(
        "s3", endpoint_url=s3_url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET
    )
    return {obj["Key"]: obj for obj in client.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_recordings_media_round_trip_through_s3(recordings: Any, s3_url: str, bucket: str) -> None:
    from storages.backends.s3 import S3Storage

    assert isinstance(recordings, S3Storage)
    name = "sessions/abc/user.flac"

    # Saved under exactly its name, inside the prefix, private.
    assert recordings.save(name, ContentFile(AUDIO)) == name
    assert list(s3_objects(s3_url, bucket)) == [f"recordings/{name}"]
    assert s3_objects(s3_url, bucket)[f"recordings/{name}"]["Size"] == len(AUDIO)
    client = boto3.client(
        "s3", endpoint_url=s3_url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET
    )
    grants = client.get_object_acl(Bucket=bucket, Key=f"recordings/{name}")["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
    assert all("URI" not in g["Grantee"] for g in grants)  # no AllUsers / AuthenticatedUsers grant
    assert recordings.exists(name) and recordings.size(name) == len(AUDIO)
    assert not recordings.exists("sessions/abc/assistant.flac")

    # Read back byte for byte, and a byte range (what an HTTP Range request is answered from).
    with recordings.open(name, "rb") as f:
        assert f.read() == AUDIO
    with recordings.open(name, "rb") as f:
        f.seek(123_456)
        assert f.read(4096) == AUDIO[123_456 : 123_456 + 4096]
        f.seek(len(AUDIO) - 10)
        assert f.read(4096) == AUDIO[-10:]

    # Saving again under the same name replaces it (file_overwrite), never "user_x7Kq2.flac".
    shorter = AUDIO[:1000]
    assert recordings.save(name, ContentFile(shorter)) == name
    with recordings.open(name, "rb") as f:
        assert f.read() == shorter
    assert recordings.size(name) == 1000

    # Listed like a directory; a second file beside it.
    recordings.save("sessions/abc/assistant.flac", ContentFile(b"fLaC" + bytes(100)))
    assert recordings.listdir("sessions/abc") == ([], ["assistant.flac", "user.flac"])
    assert recordings.listdir("sessions") == (["abc"], [])
    assert recordings.listdir("") == (["sessions"], [])

    # No signed URL, and nothing of the credentials in one: files go out through the playground's API only.
    url = recordings.url(name)
    assert SECRET not in url and "Signature" not in url and ACCESS_KEY_ID not in url

    # Deleted: gone from the storage and from the bucket.
    recordings.delete(name)
    assert not recordings.exists(name)
    assert recordings.listdir("sessions/abc") == ([], ["assistant.flac"])
    recordings.delete("sessions/abc/assistant.flac")
    assert recordings.listdir("") == ([], [])
    assert s3_objects(s3_url, bucket) == {}
    recordings.delete(name)  # deleting what is gone is no error (a retried prune)
