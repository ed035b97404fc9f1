"""Style networks in the studio: the model list, applying one at once, training from the page."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extras are not installed: pip install .[web]")

from web_helpers import (
    TINY_TRAIN,
    images,
    photo_ids,
    png_bytes,
    submit,
    tiny_model,
    upload,
    wait_for,
    wait_progress,
)

from painterly.network.options import CLIP_BLEND

LONG = {"size": 48, "steps": 100000, "scales": 1}  # an optimisation that runs until cancelled


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A --models folder: one good model, and files that are no (painterly) model."""
    d = tmp_path / "nets"
    d.mkdir()
    tiny_model(d / "starry.safetensors", seed=1, steps=7)
    good = (d / "starry.safetensors").read_bytes()
    (d / "truncated.safetensors").write_bytes(good[:len(good) // 2])
    import torch
    from safetensors.torch import save

    (d / "foreign.safetensors").write_bytes(save({"w": torch.zeros(3)}, metadata={"x": "y"}))
    (d / "notes.txt").write_text("not a model")
    return d


def model_by_name(client, name: str) -> dict:
    models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
    assert name in models, sorted(models)
    return models[name]


def test_models_are_listed_by_ids_with_their_pictures(make_client, tmp_path: Path,
                                                      folder: Path, caplog):
    data = tmp_path / "studio"
    (data / "models").mkdir(parents=True)
    tiny_model(data / "models" / "0123456789abcdef.safetensors", style_name="waves.jpg",
               steps=3, thumb=False)
    (data / "models" / "not-an-id.safetensors").write_bytes(b"ignored")
    with caplog.at_level(logging.WARNING, logger="painterly.web"):
        c = make_client(data, model_folders=[folder])
        r = c.get("/api/models")
    assert r.status_code == 200
    models = r.json()["models"]
    assert sorted(m["name"] for m in models) == ["starry", "waves"]
    assert str(tmp_path) not in r.text and "safetensors" not in r.text
    skipped = " ".join(rec.getMessage() for rec in caplog.records)
    assert "truncated.safetensors" in skipped and "foreign.safetensors" in skipped

    starry, waves = model_by_name(c, "starry"), model_by_name(c, "waves")
    assert starry["quality"] is None and waves["quality"] is None  # files without a figure
    assert waves["id"] == "0123456789abcdef" and waves["trained_here"]
    assert len(starry["id"]) == 16 and not starry["trained_here"]
    assert (starry["width"], starry["steps"], waves["steps"]) == (4, 7, 3)
    assert starry["arch"] == {"kind": "johnson-in", "width": 4, "blocks": 1, "downs": 2,
                              "down": "stride", "up": "nearest"}
    assert starry["preset"] == ""  # written without one
    pic = c.get(starry["thumb"])
    assert pic.status_code == 200 and pic.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(pic.content)).size == (96, 64)
    assert waves["thumb"] is None
    assert c.get(f"/api/models/{waves['id']}/thumb.png").status_code == 404

    # a model added to the folder later is listed; one removed is gone; ids are stable
    tiny_model(folder / "later.safetensors", seed=2)
    assert model_by_name(c, "later")["id"] != starry["id"]
    (folder / "later.safetensors").unlink()
    assert "later" not in {m["name"] for m in c.get("/api/models").json()["models"]}
    assert model_by_name(c, "starry")["id"] == starry["id"]


def test_requests_name_models_only_by_id(make_client, tmp_path: Path, folder: Path):
    c = make_client(tmp_path / "studio", model_folders=[folder])
    starry = model_by_name(c, "starry")
    content = upload(c, png_bytes(48, 40, 1))["id"]

    def refused(body: dict, words: str, status: int = 400) -> None:
        r = c.post("/api/apply", json={"model": starry["id"], "content": content, **body})
        assert r.status_code == status, r.text
        assert set(r.json()) == {"error"} and words in r.json()["error"], r.text
        assert str(tmp_path) not in r.text

    refused({"model": str(folder / "starry.safetensors")}, "model", status=422)  # too long
    for bad in ("nets/starry.safetensors", "../nets/starry", "starry", "0123456789abcdef",
                starry["id"].upper()):
        refused({"model": bad}, "unknown model id")
    refused({"content": "../../etc/passwd.png"}, "unknown image id")
    refused({"options": {"size": 4000}}, "limit of 2048")
    refused({"options": {"size": 8}}, "below the minimum")
    refused({"options": {"strength": 1.5}}, "above the maximum")
    refused({"options": {"preserve_color": "histogram"}}, "not one of none, luminance")
    refused({"options": {"weights": "/etc/passwd"}}, "cannot be set from the web")
    refused({"options": {"model": "/tmp/x.safetensors"}}, "unknown option")
    refused({"model": 5}, "model", status=422)
    for url in ("/api/models/..%2F..%2Fetc/thumb.png", "/api/models/zzzz/thumb.png",
                "/api/models/0123456789abcdef/thumb.png"):
        assert c.get(url).status_code == 404
    assert c.get("/api/jobs").json()["jobs"] == []  # nothing was kept


def test_apply_is_instant_kept_in_the_gallery_and_not_queued(make_client, tmp_path: Path,
                                                            folder: Path):
    c = make_client(tmp_path / "studio", model_folders=[folder])
    starry = model_by_name(c, "starry")
    content, style = images(c)
    long = submit(c, content, [style], **LONG)  # the worker is busy with a long job
    wait_for(c, long["id"], ("running",))

    photo = upload(c, png_bytes(64, 48, 5))["id"]
    t0 = time.monotonic()
    r = c.post("/api/apply", json={"model": starry["id"], "content": photo,
                                   "options": {"size": 40, "preserve_color": "luminance"}})
    took = time.monotonic() - t0
    assert r.status_code == 201, r.text
    job = r.json()
    assert took < 10, took  # well under a second when idle; never behind the long job
    assert job["kind"] == "apply" and job["status"] == "done" and job["position"] is None
    assert job["model"] == starry["id"] and job["model_name"] == "starry"
    assert job["options"] == {"size": 40, "preserve_color": "luminance", "strength": 1.0,
                              "blend": CLIP_BLEND}
    png = c.get(job["result"])
    im = Image.open(io.BytesIO(png.content))
    assert png.headers["content-type"] == "image/png" and im.size == (40, 30)
    assert c.get(job["thumb"]).status_code == 200
    assert c.get(f"/api/jobs/{long['id']}").json()["status"] == "running"

    listed = {j["id"]: j for j in c.get("/api/jobs").json()["jobs"]}
    assert listed[job["id"]]["kind"] == "apply" and listed[job["id"]]["result"]
    record = json.loads((tmp_path / "studio" / "jobs" / job["id"] / "job.json").read_text())
    assert record["kind"] == "apply" and record["model_name"] == "starry"
    assert c.delete(f"/api/jobs/{job['id']}").status_code == 200
    assert c.get(job["result"]).status_code == 404
    c.post(f"/api/jobs/{long['id']}/cancel")
    wait_for(c, long["id"], ("cancelled",))


def test_train_from_uploaded_photos_then_apply_the_model(client, tmp_path: Path):
    style = upload(client, png_bytes(48, 48, 2))["id"]
    photos = photo_ids(client, 4)
    r = client.post("/api/train", json={"style": style, "photos": photos, "name": "stripes",
                                        "options": {**TINY_TRAIN, "steps": 6,
                                                    "preset": "fast"}})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["kind"] == "train" and job["model_name"] == "stripes" and job["photos"] == photos
    events = []
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    done = events[-1]
    assert done["status"] == "done", done
    assert done["progress"]["step"] == 6 and done["progress"]["total"] == 6
    assert {"style", "content", "total"} <= set(done["progress"]["losses"])
    assert done["preview_version"] > 0 and done["thumb"] and done["result"] is None
    prev = client.get(f"/api/jobs/{job['id']}/preview.jpg")
    assert prev.status_code == 200 and prev.content[:2] == b"\xff\xd8"

    model = model_by_name(client, "stripes")
    assert model["id"] == job["model"] and model["steps"] == 6 and model["trained_here"]
    q = model["quality"]  # measured at the end of training: 6 steps are far from enough
    assert q["texture"] > 0 and q["content"] > 0 and q["grid"] >= 1 and q["photos"] == 1
    assert q["seen"] == 12 and q["far_from_converged"] is True
    assert q["summary"].startswith("texture ") and "(1 held-out photo, " in q["summary"]
    assert q["warning"].startswith("far from converged (12 photos seen")
    assert "(more steps)" in q["warning"] and "--" not in q["warning"]
    assert model["preset"] == "fast"  # its layout, with the width given
    assert (model["arch"]["width"], model["arch"]["down"], model["arch"]["up"]) == \
        (4, "stride", "nearest")
    assert client.get(model["thumb"]).status_code == 200
    folder = tmp_path / "studio" / "jobs" / job["id"]
    assert sorted(p.name for p in folder.iterdir()) == ["job.json", "thumb.jpg"]
    assert (tmp_path / "studio" / "models" / f"{model['id']}.safetensors").is_file()

    photo = upload(client, png_bytes(64, 48, 7))["id"]
    r = client.post("/api/apply", json={"model": model["id"], "content": photo,
                                        "options": {"size": 32}})
    assert r.status_code == 201, r.text
    im = Image.open(io.BytesIO(client.get(r.json()["result"]).content))
    assert im.size == (32, 24)
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 200
    assert model_by_name(client, "stripes")  # deleting the job keeps its model


def test_training_requests_are_checked(client, tmp_path: Path):
    style = upload(client, png_bytes(48, 48, 2))["id"]
    photos = photo_ids(client, 3)

    def refused(body: dict, words: str, status: int = 400) -> None:
        req = {"style": style, "photos": photos, "options": TINY_TRAIN, **body}
        r = client.post("/api/train", json=req)
        assert r.status_code == status, r.text
        assert words in r.json()["error"], r.text

    refused({"photos": []}, "upload photos to train on")
    refused({"photos": [], "photo_folder": True}, "no photo folder")
    refused({"photos": ["../../photos/a.png"]}, "unknown image id")
    refused({"style": "/etc/passwd"}, "unknown image id")
    refused({"options": {**TINY_TRAIN, "batch": 3}}, "fewer than batch 3")
    refused({"options": {**TINY_TRAIN, "holdout": 3}}, "holdout")
    refused({"options": {**TINY_TRAIN, "crop": 64}}, "crop")
    refused({"options": {**TINY_TRAIN, "photo_size": 4000}}, "limit of 2048")
    refused({"options": {**TINY_TRAIN, "preset": "best"}}, "preset")
    refused({"options": {**TINY_TRAIN, "width": 2}}, "width: 2 is below the minimum 4")
    refused({"options": {**TINY_TRAIN, "crop": 512, "photo_size": 256}},
            "crop 512 is larger than photo_size 256: lower crop or raise photo_size")
    form = {o["name"]: o for o in client.get("/api/schema").json()["train_options"]}
    assert form["preset"]["choices"] == ["quality", "fast"]
    assert form["preset"]["default"] == "quality" and form["width"]["default"] == 0
    assert form["down"]["choices"] == ["auto", "blur", "stride"]
    refused({"options": {"device": "cuda"}}, "cannot be set from the web")
    refused({"options": {"output": "/tmp/m.safetensors"}}, "unknown option")
    refused({"name": "bad\x07name"}, "printable")
    assert client.get("/api/jobs").json()["jobs"] == []


def test_the_train_form_is_told_how_long_training_takes(client):
    """Measured once per shape of run (a short pass here), then scaled by the steps."""
    def ask(**options) -> dict:
        r = client.post("/api/train/estimate", json={"options": {**TINY_TRAIN, **options}})
        assert r.status_code == 200, r.text
        return r.json()

    first = ask(steps=30)
    assert first["steps"] == 30 and first["seconds_per_step"] > 0 and first["seconds"] > 0
    again = ask(steps=60, lr=0.01)  # the same shape: the same measurement
    assert again["seconds_per_step"] == first["seconds_per_step"]
    assert abs(again["seconds"] - 60 * again["seconds_per_step"]) < 0.1
    # far fewer photos than the default recipe's: the form is told (the page shows it)
    assert again["note"].startswith("60 steps of ") and "default recipe" in again["note"]
    for bad, words in (({"crop": 64}, "crop"), ({"device": "cuda"}, "cannot be set"),
                       ({"photo_size": 4000}, "limit of 2048")):
        r = client.post("/api/train/estimate", json={"options": {**TINY_TRAIN, **bad}})
        assert r.status_code == 400 and words in r.json()["error"], r.text
    assert client.get("/api/jobs").json()["jobs"] == []  # nothing was queued


def test_cancelled_training_leaves_a_usable_model(client):
    style = upload(client, png_bytes(48, 48, 2))["id"]
    r = client.post("/api/train", json={"style": style, "photos": photo_ids(client, 3),
                                        "options": {**TINY_TRAIN, "steps": 100000}})
    job = r.json()
    wait_progress(client, job["id"], "step", 3)
    client.post(f"/api/jobs/{job['id']}/cancel")
    job = wait_for(client, job["id"], ("cancelled", "failed"))
    assert job["status"] == "cancelled" and "saved" in job["note"], job
    model = model_by_name(client, "network")
    assert model["id"] == job["model"] and 3 <= model["steps"] < 100000
    photo = upload(client, png_bytes(40, 40, 9))["id"]
    r = client.post("/api/apply", json={"model": model["id"], "content": photo,
                                        "options": {"size": 24}})
    assert r.status_code == 201 and r.json()["status"] == "done"


def test_training_on_the_server_photo_folder(make_client, tmp_path: Path):
    photos = tmp_path / "private-photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"p{i}.png").write_bytes(png_bytes(48, 40, 50 + i))
    c = make_client(tmp_path / "studio", photo_folder=photos)
    assert c.get("/api/schema").json()["photo_folder"] is True
    style = upload(c, png_bytes(48, 48, 2))["id"]
    r = c.post("/api/train", json={"style": style, "photo_folder": True, "name": "folder",
                                   "options": {**TINY_TRAIN, "steps": 2}})
    assert r.status_code == 201, r.text
    job = wait_for(c, r.json()["id"], ("done", "failed"))
    assert job["status"] == "done", job
    assert model_by_name(c, "folder")["steps"] == 2
    everything = c.get("/api/jobs").text + c.get("/api/schema").text + c.get("/api/models").text
    assert "private-photos" not in everything and str(tmp_path) not in everything
    r = c.post("/api/train", json={"style": style, "photo_folder": True,
                                   "options": {**TINY_TRAIN, "batch": 3}})
    assert r.status_code == 400 and "fewer than batch" in r.json()["error"]
    assert "private-photos" not in r.text


def test_training_goes_on_from_its_checkpoint_after_a_restart(make_client, tmp_path: Path,
                                                              monkeypatch):
    from painterly.network import train as train_module

    resumed = []
    real_train = train_module.train

    def spy(*args, **kwargs):
        resumed.append(kwargs["resume"])
        return real_train(*args, **kwargs)

    monkeypatch.setattr(train_module, "train", spy)
    first = make_client(tmp_path)
    style = upload(first, png_bytes(48, 48, 2))["id"]
    r = first.post("/api/train", json={"style": style, "photos": photo_ids(first, 3),
                                       "options": {**TINY_TRAIN, "steps": 100000}})
    job = r.json()
    wait_progress(first, job["id"], "step", 2)
    first.__exit__(None, None, None)  # an orderly stop: queued again, with its checkpoint
    folder = tmp_path / "jobs" / job["id"]
    assert json.loads((folder / "job.json").read_text())["status"] == "queued"
    from painterly.network.modelfile import load_model

    stopped_at = load_model(folder / "model.safetensors.ckpt").meta["steps"]
    assert stopped_at >= 2

    second = make_client(tmp_path)
    wait_for(second, job["id"], ("running",))
    second.post(f"/api/jobs/{job['id']}/cancel")
    job = wait_for(second, job["id"], ("cancelled",))
    assert resumed == [False, True]
    assert model_by_name(second, "network")["steps"] > stopped_at


def test_the_training_estimate_is_measured_on_small_crops(client, monkeypatch):
    """The estimate's test pass ran at the form's crop inside the request (a 512 px pass of
    a network of width 128 took minutes and 7 GB): it runs on small crops, scaled up by the
    pixels, and a network too heavy to time is refused in one line."""
    from painterly.network import estimate as estimate_module

    measured = []
    real = estimate_module.for_options

    def spy(topts, runtime, steps=None):
        measured.append((topts.crop, topts.photo_size))
        return real(topts, runtime, steps)

    monkeypatch.setattr(estimate_module, "for_options", spy)
    tiny = {**TINY_TRAIN, "crop": 32, "photo_size": 32, "steps": 10}
    small = client.post("/api/train/estimate", json={"options": tiny}).json()
    big = client.post("/api/train/estimate",
                      json={"options": {**tiny, "crop": 512, "photo_size": 512}}).json()
    assert measured == [(32, 32), (128, 128)]
    assert big["seconds_per_step"] > small["seconds_per_step"]
    wide = {**tiny, "crop": 512, "photo_size": 512, "width": 128, "blocks": 10}
    r = client.post("/api/train/estimate", json={"options": wide})
    assert r.status_code == 400 and r.json()["error"].startswith("width: a network of width "
                                                                  "128 with 10 blocks is too "
                                                                  "large to time here")
    assert len(measured) == 2  # nothing was run for it


def test_a_network_keeps_the_dots_of_its_name(make_client, tmp_path: Path):
    """A network named "Starry v2.1 final" was listed, and recorded by its pictures, as
    "Starry v2": its name was cut at the last dot like a file name."""
    data = tmp_path / "studio"
    (data / "models").mkdir(parents=True)
    tiny_model(data / "models" / "0123456789abcdef.safetensors", style_name="Starry v2.1 final")
    tiny_model(data / "models" / "00000000000000aa.safetensors", style_name="waves.jpg")
    c = make_client(data)
    assert sorted(m["name"] for m in c.get("/api/models").json()["models"]) == \
        ["Starry v2.1 final", "waves"]
    content, _ = images(c)
    r = c.post("/api/apply", json={"model": "0123456789abcdef", "content": content,
                                   "options": {"size": 32}})
    assert r.status_code == 201 and r.json()["model_name"] == "Starry v2.1 final", r.text
