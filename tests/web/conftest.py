"""Fixtures of the web studio tests: a tiny random VGG, generated images, a client."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from painterly import weights
from painterly.web.uploads import Limits

try:
    with warnings.catch_warnings():  # starlette's notice about a future httpx successor
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette")
        from fastapi.testclient import TestClient
except ImportError:  # the test modules skip themselves with a clear reason
    TestClient = None


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("weights") / "tiny-vgg19.pt"
    weights.save_weights(weights.random_weights(width=1 / 16), path)
    return str(path)


@pytest.fixture
def make_client(tiny_weights: str) -> Iterator[Callable[..., Any]]:
    """make_client(data_dir, **create_app kwargs) -> a started TestClient (closed at the end)."""
    opened: list[Any] = []

    def make(data_dir: Path, **kw: Any) -> Any:
        kw.setdefault("limits", Limits())
        kw.setdefault("preview_interval", 0.0)
        from painterly.web.app import create_app

        client = TestClient(create_app(data_dir, tiny_weights, "cpu", **kw),
                            base_url="http://127.0.0.1:8000")
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for c in opened:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client, tmp_path: Path) -> Any:
    return make_client(tmp_path / "studio")
