"""Fixtures of the web studio tests: a tiny random VGG, generated images, a client."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the web extras are not installed (pip install .[web])")
pytest.importorskip("httpx", reason="httpx is needed by the FastAPI test client")

with warnings.catch_warnings():  # starlette's notice about a future httpx successor
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from painterly import weights  # noqa: E402
from painterly.web.app import create_app  # noqa: E402
from painterly.web.uploads import Limits  # noqa: E402


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("weights") / "tiny-vgg19.pt"
    weights.save_weights(weights.random_weights(width=1 / 16), path)
    return str(path)


@pytest.fixture
def make_client(tiny_weights: str) -> Iterator[Callable[..., TestClient]]:
    """make_client(data_dir, **create_app kwargs) -> a started TestClient (closed at the end)."""
    opened: list[TestClient] = []

    def make(data_dir: Path, **kw) -> TestClient:
        kw.setdefault("limits", Limits())
        kw.setdefault("preview_interval", 0.0)
        client = TestClient(create_app(data_dir, tiny_weights, "cpu", **kw))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for c in opened:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client, tmp_path: Path) -> TestClient:
    return make_client(tmp_path / "studio")
