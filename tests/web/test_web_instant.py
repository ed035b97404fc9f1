"""The studio's instant side: quick looks, time estimates, webcam frames, zips of results,
and jobs with a painted mask."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extras are not installed: pip install .[web]")

from web_helpers import images, png_bytes, tiny_model, upload, wait_for

from painterly.config import options_schema
from painterly.web import instant
from painterly.web.uploads import Limits


@pytest.fixture
def optimised(monkeypatch):
    """The quick look by optimisation, as where no any-painting fast method is offered."""
    monkeypatch.setattr(instant, "load_fast_method", lambda weights, device, vgg=None, **kw: None)


PLAIN_BANNED = ("relu", "alpha", "beta", "l-bfgs", "lbfgs", "gram", "adam", "optimizer")


def test_the_page_words_come_from_the_options_model(client):
    """Every option on the page's main panel has a plain label and help, without the maths;
    the CLI help stays as it is."""
    main = [o for o in client.get("/api/schema").json()["options"] if o["page_label"]]
    assert {o["name"] for o in main} >= {"size", "style_weight", "style_scale", "structure",
                                         "preserve_color"}
    for o in main:
        words = f"{o['page_label']} {o['page_help'] or ''} " \
                f"{' '.join((o['page_choices'] or {}).values())}".lower()
        assert not [w for w in PLAIN_BANNED if w in words], (o["name"], words)
        if o["type"] in ("int", "float"):
            low, high, scale = o["page_slider"]
            assert low < high and scale in ("lin", "log")
    cli = {o["name"]: o["help"] for o in options_schema()}
    assert "beta" in cli["style_weight"]  # the command line keeps its precise words
    train = {o["name"]: o for o in client.get("/api/schema").json()["train_options"]}
    for name in ("preset", "steps", "batch", "crop", "style_weight", "holdout"):  # shown
        words = f"{train[name]['page_label']} {train[name]['page_help']}".lower()
        assert not [w for w in (*PLAIN_BANNED, "torchrun", "--") if w in words], words


def test_a_quick_look_is_a_small_picture_and_uses_the_sliders(client, optimised):
    content, style = images(client)
    body = {"content": content, "styles": [style], "options": {"style_weight": 40, "size": 40},
            "tab": "t1"}
    r = client.post("/api/preview", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-look"] == "more"
    first = Image.open(io.BytesIO(r.content))
    assert max(first.size) == 40  # never larger than asked, at most PREVIEW_SIDE
    body["options"] = {"style_weight": 900, "preserve_color": "luminance", "size": 40}
    second = Image.open(io.BytesIO(client.post("/api/preview", json=body).content))
    diff = np.abs(np.asarray(first, float) - np.asarray(second, float)).mean()
    assert diff > 1.0, "moving a slider did not change the quick look"
    bad = client.post("/api/preview", json={**body, "options": {"style_weight": -1}})
    assert bad.status_code == 400 and "style_weight: -1.0" in bad.json()["error"]
    gone = client.post("/api/preview", json={**body, "styles": ["0" * 32 + ".png"]})
    assert gone.status_code == 400


def test_a_newer_quick_look_makes_an_older_one_stop(client, optimised):
    content, style = images(client)
    app = client.app
    previewer = instant.Previewer(app.state.studio, Limits())
    old = previewer.ticket("tab")
    previewer.ticket("tab")  # a slider moved again before the first look started
    req = instant.PreviewRequest(content=content, styles=[style], tab="tab",
                                 options={"size": 32})
    assert previewer.look(req, old) is None
    other = req.model_copy(update={"tab": "other tab"})  # another page is not stopped
    assert previewer.look(other, previewer.ticket("other tab")) is not None
    first = previewer.look(req, previewer.ticket("tab"))
    assert first is not None and not first[1]  # there is more to paint
    steps = previewer._last["tab"][2]
    refined = previewer.look(req.model_copy(update={"refine": True}), previewer.ticket("tab"))
    assert refined is not None and previewer._last["tab"][2] > steps  # it went on


def test_the_time_estimate_is_measured_and_grows_with_the_size(client, monkeypatch):
    monkeypatch.setattr(instant, "MIN_WORK", 0)  # the tiny job below counts
    content, style = images(client)
    small = client.post("/api/estimate", json={"content": content, "options": {"size": 64}})
    assert small.status_code == 200, small.text
    big = client.post("/api/estimate", json={"content": content, "options": {"size": 1024}})
    assert 0 < small.json()["seconds"] < big.json()["seconds"]
    assert small.json()["measured_on"] == "a short test run"
    # after a picture was painted here, its own time is the measure
    r = client.post("/api/jobs", json={"content": content, "styles": [style],
                                       "options": {"size": 48, "steps": 3, "scales": 1}})
    wait_for(client, r.json()["id"], ("done",))
    again = client.post("/api/estimate", json={"content": content, "options": {"size": 64}})
    assert again.json()["measured_on"].startswith("the last picture painted here")


@pytest.fixture
def with_network(make_client, tmp_path: Path):
    nets = tmp_path / "nets"
    nets.mkdir()
    tiny_model(nets / "starry.safetensors")
    client = make_client(tmp_path / "studio", model_folders=[nets])
    return client, client.get("/api/models").json()["models"][0]["id"]


def test_a_webcam_frame_goes_through_a_network_and_comes_back(with_network):
    client, model = with_network
    frame = png_bytes(64, 48, 5, fmt="JPEG")
    r = client.post(f"/api/frame?model={model}&size=32", content=frame,
                    headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (32, 24)
    assert not list((client.app.state.studio.root / "uploads").iterdir())  # nothing kept
    empty = client.post(f"/api/frame?model={model}", content=b"")
    assert empty.status_code == 400 and "frame" in empty.json()["error"]
    unknown = client.post("/api/frame?model=nosuchmodel", content=frame)
    assert unknown.status_code == 400


def test_several_photos_through_a_network_come_back_as_one_zip(with_network):
    client, model = with_network
    ids = []
    for seed in (1, 2, 3):
        photo = upload(client, png_bytes(40, 32, seed))["id"]
        r = client.post("/api/apply", json={"model": model, "content": photo,
                                            "options": {"size": 32}})
        ids.append(r.json()["id"])
    r = client.get(f"/api/results.zip?jobs={','.join(ids)}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert sorted(z.namelist()) == sorted(f"painterly-{i}.png" for i in ids)
        assert Image.open(z.open(z.namelist()[0])).size == (32, 26)
    missing = client.get("/api/results.zip?jobs=20990101-000000-00000000")
    assert missing.status_code == 400 and "no finished picture" in missing.json()["error"]


def label_png(width: int, height: int) -> bytes:
    """Left half black (stays the photo), right half grey (the style)."""
    a = np.zeros((height, width), np.uint8)
    a[:, width // 2:] = 128
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def test_a_painted_mask_is_used_and_kept_with_the_job(client):
    content, style = images(client)
    mask = upload(client, label_png(48, 40), "mask.png")["id"]
    r = client.post("/api/jobs", json={"content": content, "styles": [style], "mask": mask,
                                       "options": {"size": 48, "steps": 3, "scales": 1}})
    assert r.status_code == 201, r.text
    job = wait_for(client, r.json()["id"], ("done", "failed"))
    assert job["status"] == "done", job["error"]
    assert job["mask"] == mask
    listed = client.get("/api/jobs").json()["jobs"][0]
    assert listed["mask"] == mask  # "Use settings" gets it back
    look = client.post("/api/preview", json={"content": content, "styles": [style],
                                              "mask": mask, "options": {"size": 32}})
    assert look.status_code == 200
    bad = client.post("/api/jobs", json={"content": content, "styles": [style],
                                         "mask": "f" * 32 + ".png"})
    assert bad.status_code == 400


class SlowPainter:
    """Paints by calling the callback every ``delay`` seconds (as the optimiser does after
    each step) until interrupted or ``steps`` are done; counts the steps taken."""

    def __init__(self, steps: int = 400, delay: float = 0.05):
        self.steps, self.delay, self.taken = steps, delay, 0

    def __call__(self, content, styles, opts, callback=None, **kw):
        import types

        from painterly.errors import Interrupted

        for i in range(1, self.steps + 1):
            time.sleep(self.delay)
            self.taken = i
            try:
                callback(types.SimpleNamespace(step=i, width=8, height=8))
            except Interrupted as e:
                e.image = Image.new("RGB", (8, 8))
                raise
        return Image.new("RGB", (8, 8))


def test_a_slider_dragged_stops_the_look_in_progress(client, optimised):
    """A newer request makes the running look stop at its next step; a look that nobody
    replaces stops at its time budget."""
    content, style = images(client)
    pv = instant.Previewer(client.app.state.studio, Limits())
    pv._paint = painter = SlowPainter()
    req = instant.PreviewRequest(content=content, styles=[style], tab="t")
    got: list = []
    running = threading.Thread(target=lambda: got.append(pv.look(req, pv.ticket("t"))))
    started = time.monotonic()
    running.start()
    time.sleep(0.4)
    pv.ticket("t")  # the slider moved
    running.join(5)
    assert got == [None] and time.monotonic() - started < 1.5 and painter.taken < 20
    pv._paint = SlowPainter(delay=0.1)
    started = time.monotonic()
    look = pv.look(req, pv.ticket("t"))
    assert look is not None and look[1] is False
    assert instant.FIRST_SECONDS <= time.monotonic() - started < instant.FIRST_SECONDS + 1
    pv._paint = SlowPainter(delay=0.1)  # a refinement gets the longer round
    started = time.monotonic()
    assert pv.look(req.model_copy(update={"refine": True}), pv.ticket("t")) is not None
    assert instant.PREVIEW_SECONDS <= time.monotonic() - started < instant.PREVIEW_SECONDS + 1


def test_the_fast_method_is_the_quick_look_now_that_it_is_registered(client):
    """The any-painting fast method is registered: the page is told so and the quick look is
    its picture, final at once, no larger than asked."""
    assert instant.has_fast_choice()
    assert client.get("/api/preview/info").json()["fast"] is True
    content, style = images(client)
    r = client.post("/api/preview", json={"content": content, "styles": [style], "tab": "t",
                                          "options": {"size": 40}})
    assert r.status_code == 200 and r.headers["x-look"] == "final"
    assert max(Image.open(io.BytesIO(r.content)).size) == 40


def test_a_webcam_frame_goes_through_the_fast_method_with_a_style(client):
    content, style = images(client)
    frame = png_bytes(64, 48, 5, fmt="JPEG")
    r = client.post(f"/api/frame?model=fast&style={style}&size=32", content=frame)
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (32, 24)
    none = client.post("/api/frame?model=fast&size=32", content=frame)
    assert none.status_code == 400


def test_the_fast_method_is_taken_from_the_registry_when_it_is_offered(client, monkeypatch):
    """Without a "fast" room the look is optimised; with one, the registry's ``for_options``
    is asked for ``method="fast"`` and its picture is the look (marked final)."""
    assert instant.has_fast_choice()
    monkeypatch.delitem(instant.methods.ROOMS, "fast")
    assert not instant.has_fast_choice()  # a choice without a room is not offered
    assert instant.load_fast_method(None, "cpu") is None
    asked: list[str] = []

    class Fast:
        kind = "fast"

        def picture(self, content, styles, opts, callback=None, **kw):
            asked.append(opts.method)
            return Image.new("RGB", (24, 16), (200, 10, 10))

    monkeypatch.setitem(instant.methods.ROOMS, "fast", "painterly.fast")
    assert instant.has_fast_choice()
    monkeypatch.setattr(instant.methods, "for_options",
                        lambda opts, runtime=None, **kw: asked.append(opts.method) or Fast())
    content, style = images(client)
    pv = instant.Previewer(client.app.state.studio, Limits())
    req = instant.PreviewRequest(content=content, styles=[style], tab="t",
                                 options={"size": 32})
    got = pv.look(req, pv.ticket("t"))
    assert got is not None and got[1] is True and asked == ["fast", "fast"]
    assert Image.open(io.BytesIO(got[0])).size == (24, 16)


def test_the_optimiser_and_the_fast_look_share_one_vgg(monkeypatch):
    """The studio's two ways of looking take one VGG-19 (in float32 its Winograd kernels are
    205 MB): the same shared weights reach both methods."""
    from types import SimpleNamespace

    from painterly.weights import SharedWeights

    seen = []

    def for_options(opts, runtime, **settings):
        seen.append((opts.method, settings.get("vgg")))
        return SimpleNamespace(kind=opts.method, picture=lambda *a, **k: None)

    monkeypatch.setattr(instant.methods, "for_options", for_options)
    p = instant.Previewer(SimpleNamespace(weights="", device="cpu", vgg=SharedWeights(""),
                                          fast_model=""),
                          Limits())
    p.fast()
    p.paint()
    assert [m for m, _ in seen] == ["fast", "optimise"]
    assert isinstance(seen[0][1], SharedWeights) and seen[0][1] is seen[1][1]


def test_the_quick_looks_keep_their_pictures_small(make_client, tmp_path: Path, monkeypatch):
    """The quick looks kept the last 12 uploads decoded at full size in float32 (a 6000 px
    photo: about 1 GB each): a copy scaled to the largest side a look uses is kept, and the
    kept copies are held to a number of bytes."""
    c = make_client(tmp_path / "s", limits=Limits(max_size=600))
    pv = c.app.state.previewer
    big = upload(c, png_bytes(1200, 800, 1))["id"]
    label = upload(c, label_png(1200, 800), "mask.png")["id"]
    assert max(pv.image(big, "frame").size) == instant.LOOK_SIDE  # the photo
    assert max(pv.image(big).size) == 600  # a painting: up to the server's largest size
    mask = pv.image(label, "mask")
    assert max(mask.size) == instant.LOOK_SIDE
    assert sorted(np.unique(np.rint(mask.rgb * 255))) == [0, 128]  # no blended labels
    monkeypatch.setattr(instant, "KEPT_BYTES", 2 * 600 * 400 * 3 * 4)
    for seed in range(3, 8):
        pv.image(upload(c, png_bytes(900, 600, seed))["id"])
        assert sum(instant.image_bytes(i) for i in pv._images.values()) <= instant.KEPT_BYTES
    r = c.post("/api/preview", json={"content": big, "styles": [big], "tab": "t",
                                     "options": {"size": 256}})
    assert r.status_code == 200 and max(Image.open(io.BytesIO(r.content)).size) == 256


def test_the_time_estimate_is_measured_per_method_and_not_on_tiny_jobs(client):
    """The estimate took the last job's time whatever its size or method: after a 16 px
    one-step job a 256 px picture of 40 steps was said to take 1040 s (it took 24.5 s), and
    after a fast job optimisation was said to take a fifth of its time."""
    content, style = images(client)

    def estimate(**options) -> dict:
        r = client.post("/api/estimate", json={"content": content, "options": options})
        assert r.status_code == 200, r.text
        return r.json()

    for options in ({"size": 16, "steps": 1, "scales": 1}, {"size": 48, "method": "fast"}):
        job = client.post("/api/jobs", json={"content": content, "styles": [style],
                                             "options": options}).json()
        assert wait_for(client, job["id"], ("done", "failed"))["status"] == "done"
    assert estimate(size=256, steps=40, scales=1)["measured_on"] == "a short test run"
    fast = estimate(size=256, method="fast")
    assert fast["measured_on"] == "a short test run" and fast["seconds"] > 0
    big = client.post("/api/jobs", json={"content": content, "styles": [style],
                                         "options": {"size": 160, "method": "fast"}}).json()
    assert wait_for(client, big["id"], ("done", "failed"))["status"] == "done"
    assert estimate(size=256, method="fast")["measured_on"] == \
        "the last picture painted here (160 px)"
    assert estimate(size=256, steps=40, scales=1)["measured_on"] == "a short test run"


def test_a_webcam_frame_may_carry_the_token_in_its_address(make_client, tmp_path: Path):
    """The token in the address was read as an option of the frame ("unknown option
    'token'") after the guard had accepted it."""
    from painterly.web.access import Access

    c = make_client(tmp_path, access=Access.for_server("127.0.0.1", token="s3cret-token"))
    auth = {"Authorization": "Bearer s3cret-token"}
    style = c.post("/api/uploads", files={"file": ("s.png", png_bytes(48, 48, 2))},
                   headers=auth).json()["id"]
    frame = png_bytes(64, 48, 5, fmt="JPEG")
    r = c.post(f"/api/frame?model=fast&style={style}&size=32&token=s3cret-token",
               content=frame)
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (32, 24)


def test_a_refused_webcam_frame_says_what_to_do(with_network):
    """A 1x1 frame was named "<PngImageFile>" and a fast frame without a painting was
    answered "unknown image id"."""
    client, model = with_network
    style = upload(client, png_bytes(48, 48, 2))["id"]
    dot = png_bytes(1, 1, 5)
    for url in (f"/api/frame?model={model}&size=32",
                f"/api/frame?model=fast&style={style}&size=32"):
        r = client.post(url, content=dot)
        assert r.status_code == 400 and r.json()["error"].startswith("frame: a 1x1 image is "
                                                                      "too small"), r.text
    r = client.post("/api/frame?model=fast&size=32", content=png_bytes(64, 48, 5, fmt="JPEG"))
    assert r.status_code == 400 and r.json()["error"].startswith("style: pick a painting")
