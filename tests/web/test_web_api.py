"""The studio's HTTP API, in-process: uploads, options, jobs, queue, failures, restarts."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extras are not installed: pip install .[web]")

from web_helpers import images, png_bytes, submit, upload, wait_for

from painterly.config import Options
from painterly.errors import UsageError
from painterly.optimise.stylizer import Stylizer
from painterly.web.uploads import Limits

LONG = {"size": 48, "steps": 100000, "scales": 1}  # runs until cancelled
SHORT = {"size": 48, "steps": 4, "scales": 1}



def done_job(data: Path, name: str) -> Path:
    """A finished job's folder in a data folder: its record and a 48 x 40 result."""
    folder = data / "jobs" / name
    folder.mkdir(parents=True)
    rec = {"id": name, "content": "0" * 32 + ".png", "styles": ["1" * 32 + ".png"],
           "options": {"size": 48}, "status": "done", "created": 1.0}
    (folder / "job.json").write_text(json.dumps(rec))
    Image.new("RGB", (48, 40)).save(folder / "result.png")
    return folder


def test_page_and_schema(client):
    r = client.get("/")
    assert r.status_code == 200 and "painterly" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200
    schema = client.get("/api/schema").json()
    names = {o["name"]: o for o in schema["options"]}
    assert "weights" not in names and "device" not in names
    assert names["init"]["choices"] == ["palette", "content", "noise", "style", "fast"]
    assert names["init"]["default"] == "palette"
    assert {"size", "style_weight", "preserve_color", "steps"} <= {
        n for n, o in names.items() if o["group"] == "basic"}
    assert {"quick preview", "balanced", "high quality"} <= set(schema["presets"])


def test_upload_validation(make_client, tmp_path: Path):
    c = make_client(tmp_path, limits=Limits(max_bytes=200_000, max_pixels=100 * 100))
    ok = upload(c, png_bytes(48, 40, 1), "../../etc/passwd.png")
    assert ok["width"] == 48 and ok["height"] == 40 and ok["id"].endswith(".png")
    assert "/" not in ok["id"] and "passwd" not in ok["id"]
    assert (tmp_path / "uploads" / ok["id"]).is_file()
    got = c.get(ok["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert upload(c, png_bytes(48, 40, 1))["id"] == ok["id"]  # same bytes, same file

    def refused(data: bytes, status: int, words: str) -> None:
        r = c.post("/api/uploads", files={"file": ("x.png", data, "image/png")})
        assert r.status_code == status, r.text
        body = r.json()
        assert set(body) == {"error"} and words in body["error"]
        assert "Traceback" not in r.text

    refused(b"", 400, "empty")
    refused(b"just some text, not an image", 400, "not an image")
    refused(b"%PDF-1.7" + b"\0" * 150_000, 400, "not an image")  # refused by its header
    refused(b"RIFF\0\0\0\0WAVEfmt " + b"\0" * 64, 400, "not an image")
    refused(png_bytes(48, 40, 1)[:200], 400, "damaged")
    refused(png_bytes(200, 200, 3), 400, "too many pixels")
    big = c.post("/api/uploads", files={"file": ("b.png", png_bytes(200, 200, 3), "image/png")})
    assert big.json()["error"].startswith("200x200 is too many pixels")  # no "the upload:"
    refused(png_bytes(48, 40, 1, fmt="PPM"), 400, "accepted format")
    refused(bytes(210_000), 413, "larger than 195 KB")
    refused(bytes(300_000), 413, "larger than 195 KB")
    assert c.post("/api/uploads").status_code == 422
    for bad in ("../job.json", "0" * 32 + ".txt", "0" * 32 + ".png"):
        r = c.get(f"/api/uploads/{bad}")
        assert r.status_code == 404 and "error" in r.json()


def test_options_refused(client):
    content, style = images(client)

    def refused(options: dict, words: str, **body) -> None:
        req = {"content": content, "styles": [style], "options": options, **body}
        r = client.post("/api/jobs", json=req)
        assert r.status_code in (400, 422), r.text
        assert words in r.json()["error"]

    r = client.post("/api/jobs", content=b"{not json", headers={"content-type":
                                                                  "application/json"})
    assert r.status_code == 422 and r.json() == {
        "error": "the request body is not valid JSON (at character 1)"}
    refused({"weights": "/etc/passwd"}, "cannot be set from the web")
    refused({"device": "cuda"}, "cannot be set from the web")
    refused({"init": "/etc/hosts"}, "not one of palette, content, noise, style")
    refused({"no_such": 1}, "unknown option")
    refused({"size": 999999}, "above")
    refused({"size": 4000}, "limit of 2048")
    refused({"style_weight": -1}, "style_weight: -1.0 is below the minimum")  # its field name
    refused({"optimizer": "sgd"}, "not one of")
    refused({"steps": "many"}, "expects int")
    refused({"style_layers": ["relu9_9"]}, "unknown layer 'relu9_9'")  # not queued to fail
    refused({}, "unknown image id", content="../../secret.png")
    refused({}, "styles", styles=[])
    assert client.get("/api/jobs").json()["jobs"] == []


def test_full_queue_refused(make_client, tmp_path: Path):
    c = make_client(tmp_path, limits=Limits(max_queue=0))
    content, style = images(c)
    r = c.post("/api/jobs", json={"content": content, "styles": [style]})
    assert r.status_code == 429 and "queue is full" in r.json()["error"]


def test_the_queue_limit_holds_for_requests_at_the_same_moment(make_client, tmp_path: Path,
                                                                monkeypatch):
    """The room in the queue was checked before the job was queued: 105 requests at once
    queued 102 jobs against a limit of 100.  It is checked and taken under one lock."""
    import threading

    from painterly.web.jobs import Studio

    c = make_client(tmp_path, limits=Limits(max_queue=2))
    c.app.state.studio.stop()  # nothing leaves the queue
    content, style = images(c)
    real_save = Studio._save

    def slow_save(self, job):  # widen the moment between the check and the queueing
        time.sleep(0.2)
        real_save(self, job)

    monkeypatch.setattr(Studio, "_save", slow_save)
    codes: list[int] = []
    body = {"content": content, "styles": [style], "options": SHORT}
    asks = [threading.Thread(target=lambda: codes.append(c.post("/api/jobs",
                                                                json=body).status_code))
            for _ in range(6)]
    for t in asks:
        t.start()
    for t in asks:
        t.join()
    assert sorted(codes) == [201, 201, 429, 429, 429, 429]
    assert len(c.app.state.studio.queue) == 2


def test_cross_site_post_refused(client):
    r = client.post("/api/uploads", files={"file": ("a.png", png_bytes(8, 8, 0))},
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "cross-site" in r.json()["error"]


def test_job_lifecycle_to_png(client, tmp_path: Path, monkeypatch):
    real_run = Stylizer.picture

    def slow_run(self, content, styles, opts, callback=None, **kw):
        def slow(progress):  # leave the event stream time to connect, even on a busy machine
            time.sleep(0.3)
            callback(progress)

        return real_run(self, content, styles, opts, slow, **kw)

    monkeypatch.setattr(Stylizer, "picture", slow_run)
    content, style = images(client)
    job = submit(client, content, [style], size=48, steps=6, scales=1, preserve_color="luminance")
    assert job["status"] in ("queued", "running") and job["options"]["size"] == 48
    events = []
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[-1]["status"] == "done", events[-1]
    steps = [e["progress"]["step"] for e in events if e["status"] == "running" and e["progress"]]
    assert steps and steps == sorted(steps) and max(steps) <= 6
    assert any(e["preview_version"] > 0 for e in events)
    prev = client.get(f"/api/jobs/{job['id']}/preview.jpg")
    assert prev.status_code == 200 and prev.content[:2] == b"\xff\xd8"

    done = events[-1]
    assert done["progress"]["step"] == 6 and done["result"]
    r = client.get(done["result"], params={"download": "true"})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    im = Image.open(io.BytesIO(r.content))
    assert im.format == "PNG" and im.size == (48, 40)

    folder = tmp_path / "studio" / "jobs" / job["id"]
    record = json.loads((folder / "job.json").read_text())
    assert record["status"] == "done" and record["options"]["preserve_color"] == "luminance"
    assert sorted(p.name for p in folder.iterdir()) == ["job.json", "result.png", "thumb.jpg"]
    thumb = client.get(f"/api/jobs/{job['id']}/thumb.jpg")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    listed = client.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]

    assert client.delete(f"/api/jobs/{job['id']}").status_code == 200
    assert not folder.exists() and client.get(f"/api/jobs/{job['id']}").status_code == 404


def test_cancel_running_and_queued(client):
    content, style = images(client)
    a = submit(client, content, [style], **LONG)
    b = submit(client, content, [style], **LONG)
    wait_for(client, a["id"], ("running",))
    assert client.get(f"/api/jobs/{b['id']}").json()["position"] == 1
    r = client.delete(f"/api/jobs/{a['id']}")
    assert r.status_code == 409 and "cancel" in r.json()["error"]
    assert client.post(f"/api/jobs/{b['id']}/cancel").json()["status"] == "cancelled"
    client.post(f"/api/jobs/{a['id']}/cancel")
    a = wait_for(client, a["id"], ("cancelled",), timeout=10)
    assert a["progress"].get("step", 0) < 100000 and a["result"] is None
    assert client.get(f"/api/jobs/{a['id']}/result.png").status_code == 404
    assert client.post("/api/jobs/20990101-000000-00000000/cancel").status_code == 404


def test_queue_positions(client):
    content, style = images(client)
    a = submit(client, content, [style], **LONG)
    wait_for(client, a["id"], ("running",))
    b, c, d = (submit(client, content, [style], **SHORT) for _ in range(3))
    assert [client.get(f"/api/jobs/{j['id']}").json()["position"] for j in (b, c, d)] == [1, 2, 3]
    listing = client.get("/api/jobs").json()
    assert listing["running"] == a["id"] and listing["queue"] == [b["id"], c["id"], d["id"]]
    client.post(f"/api/jobs/{c['id']}/cancel")
    assert client.get(f"/api/jobs/{d['id']}").json()["position"] == 2
    client.post(f"/api/jobs/{a['id']}/cancel")
    for j in (b, d):
        assert wait_for(client, j["id"], ("done", "failed"))["status"] == "done"
    assert client.get(f"/api/jobs/{d['id']}").json()["position"] is None


def test_failures_are_reported_and_serving_goes_on(client, monkeypatch):
    content, style = images(client)
    real_run = Stylizer.picture

    def refused(self, *args, **kwargs):  # a user's error found only while painting
        raise UsageError("unknown layer 'relu9_9' for vgg19")

    monkeypatch.setattr(Stylizer, "picture", refused)
    bad = wait_for(client, submit(client, content, [style], **SHORT)["id"], ("failed",))
    assert "relu9_9" in bad["error"] and "Traceback" not in bad["error"]

    def out_of_memory(self, *args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 12.00 GiB")

    monkeypatch.setattr(Stylizer, "picture", out_of_memory)
    oom = wait_for(client, submit(client, content, [style], **SHORT)["id"], ("failed",))
    assert oom["error"] == "out of memory; try a smaller size"

    def crash(self, *args, **kwargs):
        raise ValueError("secret internals")

    monkeypatch.setattr(Stylizer, "picture", crash)
    odd = wait_for(client, submit(client, content, [style], **SHORT)["id"], ("failed",))
    assert "internal error" in odd["error"] and "secret" not in odd["error"]

    monkeypatch.setattr(Stylizer, "picture", real_run)
    good = wait_for(client, submit(client, content, [style], **SHORT)["id"], ("done", "failed"))
    assert good["status"] == "done"


def test_internal_errors_are_one_line_json(make_client, tmp_path: Path, monkeypatch):
    from fastapi.testclient import TestClient

    c = make_client(tmp_path)
    quiet = TestClient(c.app, raise_server_exceptions=False, base_url="http://localhost")
    monkeypatch.setattr(c.app.state.studio, "listing", lambda: 1 / 0)
    r = quiet.get("/api/jobs")
    assert r.status_code == 500 and r.json() == {"error": "internal error; see the server log"}


def test_results_and_queue_survive_a_restart(make_client, tmp_path: Path):
    first = make_client(tmp_path)
    content, style = images(first)
    done = wait_for(first, submit(first, content, [style], **SHORT)["id"], ("done",))
    running = submit(first, content, [style], **LONG)
    wait_for(first, running["id"], ("running",))
    queued = submit(first, content, [style], **SHORT)
    first.__exit__(None, None, None)  # orderly stop: the running job is queued again

    record = json.loads((tmp_path / "jobs" / running["id"] / "job.json").read_text())
    assert record["status"] == "queued"
    crashed = dict(record, id="20000101-000000-0000dead", status="running")
    (tmp_path / "jobs" / crashed["id"]).mkdir()
    (tmp_path / "jobs" / crashed["id"] / "job.json").write_text(json.dumps(crashed))

    second = make_client(tmp_path)
    listing = {j["id"]: j for j in second.get("/api/jobs").json()["jobs"]}
    assert listing[done["id"]]["status"] == "done"
    r = second.get(listing[done["id"]]["result"])
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (48, 40)
    assert listing[crashed["id"]]["status"] == "failed"
    assert "server stopped" in listing[crashed["id"]]["error"]
    assert listing[running["id"]]["status"] in ("queued", "running")
    assert listing[queued["id"]]["status"] == "queued"
    assert listing[queued["id"]]["position"] in (1, 2)
    wait_for(second, running["id"], ("running",))
    second.post(f"/api/jobs/{running['id']}/cancel")
    assert wait_for(second, queued["id"], ("done",))["result"]

    # a gallery entry can be run again from its record: same images, same settings
    old = listing[done["id"]]
    again = submit(second, old["content"], old["styles"], **old["options"])
    again = wait_for(second, again["id"], ("done",))
    assert again["options"] == old["options"]
    pixels = [np.asarray(Image.open(io.BytesIO(second.get(j["result"]).content)))
              for j in (old, again)]
    assert np.array_equal(*pixels)


def test_records_from_before_job_kinds_still_load(make_client, tmp_path: Path):
    """A job.json written before jobs had a kind is a stylize job; its result is served."""
    folder = tmp_path / "jobs" / "20250101-000000-0000beef"
    folder.mkdir(parents=True)
    old = {"id": folder.name, "content": "0" * 32 + ".png", "styles": ["1" * 32 + ".png"],
           "options": {"size": 48}, "preset": "", "status": "done", "error": "",
           "created": 1.0, "started": 1.0, "finished": 2.0, "progress": {}}
    (folder / "job.json").write_text(json.dumps(old))
    Image.new("RGB", (48, 40)).save(folder / "result.png")
    c = make_client(tmp_path)
    job = c.get(f"/api/jobs/{folder.name}").json()
    assert job["kind"] == "stylize" and job["model"] == "" and job["result"]
    assert c.get(job["result"]).status_code == 200


def test_a_stylize_job_is_painted_by_the_method_its_options_name(client, painted_by):
    """``method="fast"`` paints with the any-painting model (it ran optimisation before), and
    ``init="fast"`` starts the optimiser from its picture (it failed with advice about the
    Python API); every method of the studio takes its one VGG-19."""
    called = painted_by
    content, style = images(client)
    for options, painted_by in (({"method": "fast"}, ["fast"]),
                                ({"init": "fast"}, ["optimise", "fast"])):
        called.clear()
        job = submit(client, content, [style], size=40, steps=2, scales=1, **options)
        done = wait_for(client, job["id"], ("done", "failed"))
        assert done["status"] == "done", done
        assert called == painted_by
    studio = client.app.state.studio
    warm = studio.stylizer(Options(init="fast"))
    assert warm._shared is studio.vgg and warm.start_with.refiner._weights is warm.weights


def test_an_unknown_preset_is_refused(client):
    content, style = images(client)
    r = client.post("/api/jobs", json={"content": content, "styles": [style], "options": {},
                                       "preset": "zzz"})
    assert r.status_code == 400 and "preset: 'zzz' is not one of" in r.json()["error"]
    assert client.get("/api/jobs").json()["jobs"] == []


def test_the_style_scale_cannot_get_around_the_size_limit(client):
    """The painting is seen at size x style_scale: at size 2048 and style_scale 8 it was
    scaled to 16384 px; jobs, quick looks and estimates refuse it at once."""
    content, style = images(client)
    options = {"size": 2048, "style_scale": 8}
    for path, body in (("/api/jobs", {"styles": [style]}),
                       ("/api/preview", {"styles": [style], "tab": "t"}),
                       ("/api/estimate", {})):
        r = client.post(path, json={"content": content, "options": options, **body})
        assert r.status_code == 400, (path, r.text)
        error = r.json()["error"]
        assert error.startswith("style_scale:") and "limit of 2048" in error
        assert "lower the style scale or the size" in error and "\n" not in error
    ok = client.post("/api/estimate", json={"content": content,
                                            "options": {"size": 256, "style_scale": 8}})
    assert ok.status_code == 200, ok.text
    assert client.get("/api/jobs").json()["jobs"] == []


def test_jobs_that_cannot_succeed_are_refused_at_once(client):
    """Jobs the run would refuse were queued (201) and failed later: blend weights that do
    not match the paintings, a label image that cannot say where they go, a photo too small
    for its size, a network the server has no weights for."""
    from web_helpers import png_bytes as picture

    content, style = images(client)

    def label(values: list[int], mode: str = "L") -> str:
        a = np.zeros((40, 48), np.uint8)
        for i, v in enumerate(values):
            a[:, i * 48 // len(values):] = v
        im = Image.fromarray(a)
        if mode == "LA":
            im = Image.merge("LA", (im, Image.new("L", im.size, 0)))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return upload(client, buf.getvalue(), "mask.png")["id"]

    def refused(words: str, content: str = content, mask: str = "", styles=(style,),
                **options) -> None:
        r = client.post("/api/jobs", json={"content": content, "styles": list(styles),
                                           "mask": mask, "options": {"size": 48, **options}})
        assert r.status_code == 400, r.text
        assert words in r.json()["error"] and "\n" not in r.json()["error"], r.text
        assert "--" not in r.json()["error"], r.text

    refused("style_blend_weights: 2 weights for 1 styles", style_blend_weights=[1, 2])
    refused("3 labels (distinct colours) for 1 style", mask=label([0, 90, 200]))
    refused("1 label(s) for 2 style images", mask=label([0]), styles=(style, style))
    refused("none of its", mask=upload(client, picture(48, 40, 9), "photo.png")["id"])
    refused("transparent parts", mask=label([0, 200], "LA"))
    refused("too small to stylize", content=upload(client, picture(1, 1, 3))["id"])
    refused("too small to stylize", content=upload(client, picture(5000, 1, 3))["id"])
    refused("at size 48 would be 48x1",
            content=upload(client, picture(5000, 40, 3))["id"])
    refused("model: this studio has VGG-19 weights only; choose vgg19", model="vgg16")
    assert client.get("/api/jobs").json()["jobs"] == []
    ok = client.post("/api/jobs", json={"content": content, "styles": [style],
                                        "mask": label([0, 200]),
                                        "options": {"size": 48, "steps": 1, "scales": 1}})
    assert ok.status_code == 201, ok.text


def test_phone_jpegs_with_more_pictures_are_accepted(client):
    """A phone's or camera's JPEG with an MPF segment (Pillow's "MPO") was refused; it is a
    JPEG.  A refused kind names every accepted one (it said "use PNG, JPEG or WebP")."""
    from painterly.web.uploads import check_image

    im = Image.open(io.BytesIO(png_bytes(48, 40, 1)))
    buf = io.BytesIO()
    im.save(buf, format="MPO", save_all=True, append_images=[im])
    assert Image.open(io.BytesIO(buf.getvalue())).format == "MPO"
    got = upload(client, buf.getvalue(), "phone.jpg")
    assert got["id"].endswith(".jpg") and (got["width"], got["height"]) == (48, 40)
    with pytest.raises(Exception) as refused:
        check_image(png_bytes(48, 40, 1, fmt="PPM"), Limits())
    assert str(refused.value) == ("PPM images are not accepted; use PNG, JPEG, WebP, BMP, "
                                  "TIFF or GIF")
    style = upload(client, png_bytes(48, 48, 2))["id"]
    job = submit(client, got["id"], [style], size=32, steps=1, scales=1)
    assert wait_for(client, job["id"], ("done", "failed"))["status"] == "done"


def test_errors_name_options_as_the_page_does(client):
    """A check written with the command line's flag was answered as such on the page
    ("--style-layers: a layer is named twice"); the option is now named by its field."""
    content, style = images(client)
    twice = {"style_layers": ["relu1_1", "relu1_1"]}
    for url in ("/api/jobs", "/api/preview"):
        r = client.post(url, json={"content": content, "styles": [style], "options": twice})
        assert r.status_code == 400
        assert r.json()["error"] == "style_layers: a layer is named twice", (url, r.text)


def test_an_upload_that_is_not_a_file_says_to_send_one(client):
    """A text field where the file goes (curl -F file=hello) was answered "Value error,
    Expected UploadFile, received: <class 'str'>"."""
    for r in (client.post("/api/uploads", data={"file": "hello"}),
              client.post("/api/uploads", files={"picture": ("a.png", png_bytes(8, 8, 1))}),
              client.post("/api/uploads")):
        assert r.status_code == 422
        assert r.json()["error"].startswith("file: send the picture or clip as a file"), r.text


def test_an_unknown_option_is_cut_short_and_the_nearest_named(client):
    """A 100 KB option name was echoed back whole, and a typo was not helped."""
    content, style = images(client)

    def error(options: dict) -> str:
        r = client.post("/api/jobs", json={"content": content, "styles": [style],
                                           "options": options})
        assert r.status_code == 400, r.text
        return r.json()["error"]

    long = error({"x" * 100_000: 1})
    assert long.startswith("unknown option 'xxx") and len(long) < 100, long[:200]
    assert error({"style_wieght": 2}) == \
        "unknown option 'style_wieght' (did you mean 'style_weight'?)"
    assert len(error({"init": "y" * 100_000})) < 150
    r = client.post(f"/api/frame?{'z' * 5000}=1&model=fast", content=png_bytes(8, 8, 1))
    assert r.status_code == 400 and len(r.json()["error"]) < 100, r.text[:200]


def test_an_unknown_field_is_refused_with_the_nearest_one(client):
    """A misspelt field ("style" for "styles") was dropped unsaid, and the job refused for
    the wrong reason ("styles: pick at least one style image")."""
    content, style = images(client)
    for url, body in [("/api/jobs", {"content": content, "style": [style]}),
                      ("/api/preview", {"content": content, "style": [style]}),
                      ("/api/estimate", {"content": content, "style": [style]})]:
        r = client.post(url, json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "unknown field 'style' (did you mean 'styles'?)" or \
            r.json()["error"].startswith("unknown field 'style' (known: content, options"), \
            (url, r.text)
    r = client.post("/api/apply", json={"model": "0" * 16, "content": content, "x" * 9000: 1})
    assert r.status_code == 422 and len(r.json()["error"]) < 150, r.text[:200]
    assert r.json()["error"].startswith("unknown field 'xxx"), r.text[:200]
    assert client.get("/api/jobs").json()["jobs"] == []


def test_ids_with_a_trailing_newline_are_not_ids(make_client, tmp_path: Path):
    """The ids were checked with "^...$", which lets a trailing newline through: a job
    folder so named was loaded into the gallery, and such upload and model ids were taken
    for ids (the file then missing)."""
    done_job(tmp_path, "20250101-000000-0000beef\n")
    c = make_client(tmp_path)
    assert c.get("/api/jobs").json()["jobs"] == []
    assert c.get("/api/jobs/20250101-000000-0000beef%0a").status_code == 404
    content, _ = images(c)
    r = c.get(f"/api/uploads/{content}%0a")
    assert r.status_code == 404 and r.json()["error"] == "unknown image id"
    r = c.post("/api/apply", json={"model": "0123456789abcdef\n", "content": content})
    assert r.status_code == 400 and r.json()["error"] == "unknown model id"


def test_a_range_that_cannot_be_sent_is_refused_in_one_line(client):
    """bytes=5-2 was answered 400 in plain text and bytes=999999- 416 with an empty plain
    body; both are 416 with one line of JSON and the file's size, ranges still work, and a
    unit other than bytes is ignored."""
    content, _ = images(client)
    url = f"/api/uploads/{content}"
    size = len(client.get(url).content)
    part = client.get(url, headers={"Range": "bytes=2-5"})
    assert part.status_code == 206 and len(part.content) == 4
    for asked, words in [("bytes=5-2", "the range ends before it starts; ask for"),
                         ("bytes=999999-", "the range starts past the end"),
                         ("bytes=x-y", "not a range of bytes; ask for bytes=FIRST-LAST")]:
        r = client.get(url, headers={"Range": asked})
        assert r.status_code == 416 and r.headers["content-type"] == "application/json", \
            (asked, r.status_code, r.text)
        assert r.headers["content-range"] == f"bytes */{size}"
        assert r.json()["error"].startswith(f"Range {asked}: {words}"), r.text
    whole = client.get(url, headers={"Range": "pages=1-2"})
    assert whole.status_code == 200 and len(whole.content) == size


def test_head_is_answered_where_get_serves_a_file(make_client, tmp_path: Path):
    """HEAD /api/jobs/<id>/result.png was answered 405."""
    folder = done_job(tmp_path, "20250101-000000-0000cafe")
    Image.new("RGB", (48, 40)).save(folder / "thumb.jpg")
    c = make_client(tmp_path)
    for name in ("result.png", "thumb.jpg"):
        url = f"/api/jobs/{folder.name}/{name}"
        r = c.head(url)
        assert r.status_code == 200 and r.content == b"", (url, r.status_code)
        assert int(r.headers["content-length"]) == len(c.get(url).content)
    assert c.head(f"/api/jobs/{folder.name}/result.mp4").status_code == 404
    assert c.head(f"/api/jobs/{folder.name}/preview.jpg").status_code == 404
    assert c.head("/api/models/0123456789abcdef/thumb.png").status_code == 404


def test_a_body_that_is_not_a_json_object_says_so(client):
    """JSON nested 200,000 deep or not UTF-8 was answered "There was an error parsing the
    body", and JSON sent as text/plain "Input should be a valid dictionary or object to
    extract fields from"."""
    content, style = images(client)

    def error(body: bytes, kind: str | None = "application/json") -> str:
        headers = {"content-type": kind} if kind else {}
        r = client.post("/api/jobs", content=body, headers=headers)
        assert r.status_code == 422, r.text
        return r.json()["error"]

    for bad in (b"[" * 200_000 + b"]" * 200_000, b'{"content": "\xff\xfe"}'):
        assert error(bad).startswith("the request body is not valid JSON; send one JSON "
                                     "object"), bad[:20]
    good = json.dumps({"content": content, "styles": [style]}).encode()
    assert error(good, "text/plain") == ("send the body as JSON with Content-Type: "
                                         "application/json (it came as text/plain)")
    assert error(good, None).startswith("send the body as JSON with Content-Type")
    assert error(b"[1, 2]").startswith("the request body must be a JSON object")
    assert client.post("/api/jobs").json()["error"].startswith(
        "send the request's fields as a JSON object")
    assert client.get("/api/jobs").json()["jobs"] == []


def test_a_killed_server_s_leftovers_are_swept_at_start(make_client, tmp_path: Path):
    """Half-written files of a killed server (.*.part in uploads and job folders) and the
    folder of a network click killed before its job.json stayed for ever; they are removed
    at start, and nothing else."""
    kept_job = done_job(tmp_path, "20250101-000000-0000cafe")
    (kept_job / ".result.mp4.k3j2.part").write_bytes(b"half")
    killed = tmp_path / "jobs" / "20250101-000000-0000dead"
    killed.mkdir()
    (killed / "result.png").write_bytes(b"half")
    other = tmp_path / "jobs" / "not-a-job"
    other.mkdir()
    (other / ".x.part").write_bytes(b"mine")
    up = tmp_path / "uploads"
    up.mkdir()
    (up / ".clip-abc123.part").write_bytes(b"half")
    half = up / ("." + "0" * 32 + ".png.xy.part")  # an image being written
    half.write_bytes(b"half")
    (up / "notes.part").write_bytes(b"mine")
    (tmp_path / ".other.part").write_bytes(b"mine")
    c = make_client(tmp_path)
    assert not (kept_job / ".result.mp4.k3j2.part").exists() and not killed.exists()
    assert not (up / ".clip-abc123.part").exists() and not half.exists()
    assert (kept_job / "result.png").is_file() and (other / ".x.part").is_file()
    assert (up / "notes.part").is_file() and (tmp_path / ".other.part").is_file()
    assert [j["id"] for j in c.get("/api/jobs").json()["jobs"]] == [kept_job.name]
