"""Fixtures of the release tests: keys, tiny wheels, and S3-compatible servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lightbox.release.keys import TrustStore, generate_key
from tests.release.s3servers import S3Server, moto_server, seaweedfs_server
from tests.release.wheelfactory import make_release_wheels


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return generate_key()


@pytest.fixture
def trust(key: Ed25519PrivateKey) -> TrustStore:
    return TrustStore([key.public_key()])


@pytest.fixture
def wheels(tmp_path: Path) -> list[Path]:
    return make_release_wheels(tmp_path / "wheels", "1.2.0")


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweedfs_server(tmp_path_factory.mktemp("weed")) as server:
        yield server
