"""Fixtures of the S3 unit tests: test credentials, one moto_server and one FaultyS3 in front of it per
module, each module with a bucket of its own (its `BUCKET`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import CREDENTIALS, FaultyS3, MotoServer, create_bucket


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    """Test credentials in boto3's chain; no endpoint from the environment (every test names its own)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "HTTP_PROXY", "http_proxy"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def moto(aws_env: None, request: pytest.FixtureRequest) -> Iterator[MotoServer]:
    with MotoServer() as server:
        create_bucket(server.endpoint, request.module.BUCKET)
        yield server


@pytest.fixture(scope="module")
def faulty_s3(moto: MotoServer) -> Iterator[FaultyS3]:
    with FaultyS3(moto.endpoint) as proxy:
        yield proxy


@pytest.fixture
def proxy(faulty_s3: FaultyS3) -> Iterator[FaultyS3]:
    """The module's FaultyS3, passing everything through at the start and the end of each test."""
    faulty_s3.fault("pass")
    yield faulty_s3
    faulty_s3.fault("pass")
