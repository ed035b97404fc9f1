"""Helpers of the web studio tests (generated images, uploads, waiting for jobs)."""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


def png_bytes(width: int, height: int, seed: int, fmt: str = "PNG") -> bytes:
    """A smooth random image (gradients plus noise), encoded."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([x, y, 1 - x * y], -1) * rng.uniform(0.3, 1.0, 3)
    arr = np.clip(base + rng.normal(0, 0.08, base.shape), 0, 1)
    buf = io.BytesIO()
    Image.fromarray((arr * 255).astype(np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def upload(client: TestClient, data: bytes, name: str = "image.png") -> dict:
    r = client.post("/api/uploads", files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == 201, r.text
    return r.json()


def submit(client: TestClient, content: str, styles: list[str], **options) -> dict:
    r = client.post("/api/jobs", json={"content": content, "styles": styles,
                                       "options": options})
    assert r.status_code == 201, r.text
    return r.json()


def images(client: TestClient) -> tuple[str, str]:
    return (upload(client, png_bytes(48, 40, 1))["id"],
            upload(client, png_bytes(48, 48, 2))["id"])


def wait_for(client: TestClient, job_id: str, statuses: tuple[str, ...],
             timeout: float = 30.0) -> dict:
    end = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > end:
            raise AssertionError(f"job {job_id} stayed {job['status']}, wanted {statuses}")
        time.sleep(0.05)


# tiny training options: a 4-wide network on 32 px crops, a few steps
TINY_TRAIN = {"crop": 32, "photo_size": 40, "width": 4, "blocks": 1, "downs": 2, "holdout": 1,
              "batch": 2, "precision": "fp32", "preview_every": 2, "checkpoint_every": 0}


def tiny_model(path, seed: int = 0, style_name: str = "s.png", steps: int = 7,
               thumb: bool = True):
    """A small random style network saved as a model file (with a style picture)."""
    import torch

    from painterly.network.modelfile import save_model, thumbnail_png
    from painterly.network.transform import Arch, TransformNet

    torch.manual_seed(seed)
    a = Arch(4, 1, 2)
    style = {"name": style_name}
    if thumb:
        style["thumbnail_png"] = thumbnail_png(torch.rand(1, 3, 20, 30))
    return save_model(path, TransformNet(a), a, {"style": style, "steps": steps})


def photo_ids(client: TestClient, n: int, first_seed: int = 100) -> list[str]:
    return [upload(client, png_bytes(48, 40, first_seed + i))["id"] for i in range(n)]


def wait_progress(client: TestClient, job_id: str, key: str, at_least: int,
                  timeout: float = 60.0) -> dict:
    """Wait until the job's progress[key] (step, frame) reaches ``at_least``."""
    end = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["progress"].get(key, 0) >= at_least:
            return job
        if time.monotonic() > end:
            raise AssertionError(f"job {job_id} did not reach {key} {at_least}: {job}")
        time.sleep(0.05)
