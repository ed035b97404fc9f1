"""Video clips in the studio: uploads checked by their bytes and by playing them, clip jobs
by a style network and by optimisation, progress by frames, results served with ranges."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the web extras are not installed: pip install .[web]")
pytest.importorskip("av", reason="video needs PyAV")

from web_helpers import png_bytes, tiny_model, upload, wait_for, wait_progress

from painterly import video
from painterly.web import uploads as uploads_module
from painterly.web.uploads import Limits
from tests.video_clips import make_clip


@pytest.fixture
def nets(tmp_path: Path) -> Path:
    d = tmp_path / "nets"
    d.mkdir()
    tiny_model(d / "starry.safetensors")
    return d


def upload_clip(client, path: Path) -> dict:
    r = client.post("/api/uploads", files={"file": (path.name, path.read_bytes(),
                                                    "video/mp4")})
    assert r.status_code == 201, r.text
    return r.json()


def events_of(client, job_id: str) -> list[dict]:
    out = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
    return out


def test_clip_uploads_are_checked(make_client, tmp_path: Path):
    c = make_client(tmp_path / "studio", limits=Limits(max_clip_seconds=2.0,
                                                       max_clip_bytes=200_000))
    schema = c.get("/api/schema").json()
    assert schema["limits"]["max_clip_seconds"] == 2.0
    assert schema["limits"]["max_clip_bytes"] == 200_000
    src = make_clip(tmp_path / "in.mp4", n=4, rate=8)
    clip = upload_clip(c, src)
    assert clip["kind"] == "clip" and clip["id"].endswith(".mp4") and clip["format"] == "mp4"
    assert (clip["width"], clip["height"], clip["frames"], clip["audio"]) == (64, 48, 4, True)
    assert clip["duration"] == pytest.approx(0.5, abs=0.05) and clip["fps"] == 8
    assert upload_clip(c, src)["id"] == clip["id"]  # same bytes, same file
    got = c.get(clip["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "video/mp4"
    assert got.content == src.read_bytes()
    part = c.get(clip["url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100

    def refused(data: bytes, status: int, words: str) -> None:
        r = c.post("/api/uploads", files={"file": ("x.mp4", data, "video/mp4")})
        assert r.status_code == status, r.text
        assert set(r.json()) == {"error"} and words in r.json()["error"], r.text
        assert str(tmp_path) not in r.text and "Traceback" not in r.text

    data = src.read_bytes()
    refused(data[:len(data) // 2], 400, "truncated")
    refused(data[:40], 400, "not a video")  # the page puts the file's name before it
    refused(b"\0\0\0\x18ftypisom" + bytes(300), 400, "not a video")
    refused(b"\0\0\0\x18ftypheic" + bytes(300), 400, "not an image or a clip")
    refused(b"\x1aE\xdf\xa3" + b"\x42\x82\x84webm" + bytes(100), 400, "not a video")
    refused(make_clip(tmp_path / "long.mp4", n=30, rate=10).read_bytes(), 400, "up to 2 s")
    refused(b"\0\0\0\x18ftypisom" + bytes(250_000), 413, "the clip is larger than 195 KB")
    left = sorted(p.name for p in (tmp_path / "studio" / "uploads").iterdir())
    assert left == [clip["id"]]  # nothing half-written is left behind

    # an animated GIF stays an image
    from PIL import Image

    buf = io.BytesIO()
    frames = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    assert upload(c, buf.getvalue(), "a.gif")["kind"] == "image"


def test_clip_kinds_from_header_bytes():
    assert uploads_module.sniff(b"\0\0\0\x18ftypqt  ") == "clip"
    assert uploads_module.clip_ext(b"\0\0\0\x18ftypqt  ") == "mov"
    assert uploads_module.clip_ext(b"\0\0\0\x18ftypM4V ") == "mp4"
    assert uploads_module.clip_ext(b"\x1aE\xdf\xa3\x42\x82\x84webm") == "webm"
    assert uploads_module.clip_ext(b"\x1aE\xdf\xa3\x42\x82\x88matroska") == "mkv"
    assert uploads_module.sniff(b"GIF89a") == "image"
    assert uploads_module.sniff(b"RIFF\0\0\0\0AVI ") is None


def test_clip_by_a_network_keeps_frames_and_audio(make_client, tmp_path: Path, nets: Path):
    c = make_client(tmp_path / "studio", model_folders=[nets])
    model = c.get("/api/models").json()["models"][0]
    clip = upload_clip(c, make_clip(tmp_path / "in.mp4", n=6, rate=6))
    image = upload(c, png_bytes(48, 40, 1))["id"]

    def refused(path: str, body: dict, words: str) -> None:
        r = c.post(path, json=body)
        assert r.status_code == 400 and words in r.json()["error"], r.text

    refused("/api/apply", {"model": model["id"], "content": clip["id"]}, "stylized by a job")
    refused("/api/jobs", {"model": model["id"], "content": image}, "/api/apply")
    refused("/api/jobs", {"model": model["id"], "content": clip["id"], "styles": [image]},
            "no style images")
    refused("/api/jobs", {"model": "../nets/starry", "content": clip["id"]}, "unknown model")
    refused("/api/jobs", {"model": model["id"], "content": clip["id"],
                          "options": {"blend": 2}}, "blend")

    r = c.post("/api/jobs", json={"model": model["id"], "content": clip["id"],
                                  "options": {"size": 32, "blend": 0.3}})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["kind"] == "clip" and job["model_name"] == "starry"
    events = events_of(c, job["id"])
    done = events[-1]
    assert done["status"] == "done", done
    frames = [e["progress"]["frame"] for e in events if e["progress"].get("frame")]
    assert frames == sorted(frames) and frames[-1] == 6 and done["progress"]["frames"] == 6
    assert done["progress"]["fps"] > 0 and done["preview_version"] > 0
    assert done["result"].endswith("/result.mp4") and done["thumb"]

    r = c.get(done["result"], params={"download": "true"})
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert "attachment" in r.headers["content-disposition"]
    part = c.get(done["result"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == r.content[10:20]
    out = tmp_path / "out.mp4"
    out.write_bytes(r.content)
    info = video.probe(out)
    assert (info.frames, info.audio, info.upright_size) == (6, "aac", (32, 24))
    assert c.get(f"/api/jobs/{job['id']}/result.png").status_code == 404
    folder = tmp_path / "studio" / "jobs" / job["id"]
    assert sorted(p.name for p in folder.iterdir()) == ["job.json", "result.mp4", "thumb.jpg"]


def test_clip_by_optimisation(client, tmp_path: Path):
    clip = upload_clip(client, make_clip(tmp_path / "in.mp4", n=3, rate=6, audio=False))
    style = upload(client, png_bytes(48, 48, 2))["id"]
    image = upload(client, png_bytes(48, 40, 1))["id"]
    r = client.post("/api/jobs", json={"content": image, "styles": [style],
                                       "options": {"frame_steps": 2}})
    assert r.status_code == 400 and "unknown option" in r.json()["error"]
    r = client.post("/api/jobs", json={"content": clip["id"], "styles": [style], "options": {
        "size": 32, "steps": 2, "scales": 1, "frame_steps": 2, "temporal_weight": 50}})
    assert r.status_code == 201, r.text
    job = wait_for(client, r.json()["id"], ("done", "failed"), timeout=60)
    assert job["status"] == "done", job
    assert job["kind"] == "clip" and job["options"]["frame_steps"] == 2
    assert job["progress"]["frame"] == job["progress"]["frames"] == 3
    out = tmp_path / "out.mp4"
    out.write_bytes(client.get(job["result"]).content)
    info = video.probe(out)
    assert (info.frames, info.audio, info.upright_size) == (3, None, (32, 24))


def test_cancelled_clip_leaves_nothing(client, tmp_path: Path):
    clip = upload_clip(client, make_clip(tmp_path / "in.mp4", n=4, rate=8))
    style = upload(client, png_bytes(48, 48, 2))["id"]
    r = client.post("/api/jobs", json={"content": clip["id"], "styles": [style], "options": {
        "size": 32, "steps": 2, "scales": 1, "frame_steps": 300}})
    job = r.json()
    wait_progress(client, job["id"], "frame", 1, timeout=180)  # a frame done, three to go
    client.post(f"/api/jobs/{job['id']}/cancel")
    job = wait_for(client, job["id"], ("cancelled",))
    assert job["result"] is None and job["thumb"] is None
    folder = tmp_path / "studio" / "jobs" / job["id"]
    assert sorted(p.name for p in folder.iterdir()) == ["job.json"]


def test_an_optimised_clip_reports_the_clip_s_time_left_not_the_frame_s():
    from types import SimpleNamespace

    import torch

    from painterly.engine import Progress
    from painterly.web.runners import step_callback

    job = SimpleNamespace(progress={"frame": 1, "frames": 6, "fps": 0.1, "eta": 50.0},
                          show=lambda *a: None, changed=lambda: None)
    ctx = SimpleNamespace(stop=lambda: False, preview_interval=1.0)
    cb = step_callback(job, ctx, {"frame": 1, "frames": 6})
    cb(Progress(2, 3, 0, 1, 24, 32, {"total": 1.5}, elapsed=9.0, eta=1.0))
    assert job.progress["eta"] == 50.0 and job.progress["fps"] == 0.1  # the clip's
    assert job.progress["step"] == 2 and job.progress["frame"] == 1
    image = SimpleNamespace(progress={}, show=lambda *a: None, changed=lambda: None)
    step_callback(image, ctx)(Progress(2, 3, 0, 1, 24, 32, {"total": 1.5}, elapsed=9.0,
                                       eta=1.0, _image=lambda: torch.zeros(1, 3, 24, 32)))
    assert image.progress["eta"] == 1.0  # a picture's own time left


def test_a_clip_gets_a_quick_look_at_its_first_frame(client, tmp_path: Path):
    import PIL.Image

    clip = upload_clip(client, make_clip(tmp_path / "in.mp4", n=3, audio=False))  # 64x48
    style = upload(client, png_bytes(48, 48, 2))["id"]
    r = client.post("/api/preview", json={"content": clip["id"], "styles": [style],
                                          "options": {"size": 32}, "tab": "t"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text
    assert PIL.Image.open(io.BytesIO(r.content)).size == (32, 24)
    r = client.post("/api/preview", json={"content": style, "styles": [clip["id"]],
                                          "options": {"size": 32}, "tab": "t"})
    assert r.status_code == 400 and "clip" in r.json()["error"]  # a painting is a picture
