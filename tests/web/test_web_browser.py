"""End to end in headless Chromium: upload, start, watch the preview, download the PNG; repaint
with a network, train one from the page, and a clip through a network in the player.

Needs the ``playwright`` Python package and Debian's ``chromium`` (``tests/setup_browser.sh``
installs it); Playwright's own browser downloads are not used.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extras are not installed: pip install .[web]")

from web_helpers import TINY_TRAIN, png_bytes, tiny_model

from painterly.optimise.stylizer import Stylizer
from painterly.web.app import create_app

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("PAINTERLY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]  # a camera
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def server(tiny_weights: str, tmp_path: Path, monkeypatch) -> Iterator[str]:
    """The studio served by uvicorn on a free local port, in a thread.

    Each step is slowed down a little so that the page sees several previews even where
    the tiny network runs very fast."""
    uvicorn = pytest.importorskip("uvicorn")
    real_run = Stylizer.picture

    def slow_run(self, content, styles, opts, callback=None, **kw):
        def slow(progress):
            time.sleep(0.03)
            if callback is not None:  # the quick look's warm-up paints without one
                callback(progress)

        return real_run(self, content, styles, opts, slow, **kw)

    monkeypatch.setattr(Stylizer, "picture", slow_run)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    nets = tmp_path / "nets"
    nets.mkdir()
    tiny_model(nets / "starry.safetensors")
    app = create_app(tmp_path / "studio", tiny_weights, "cpu", preview_interval=0.0,
                     model_folders=[nets])
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                        timeout_graceful_shutdown=5))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < end, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    app.state.studio.closing = True
    srv.should_exit = True
    thread.join(15)
    sock.close()


@pytest.fixture
def page(server: str) -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the playwright package is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; run tests/setup_browser.sh")
    try:
        pw = sync_api.sync_playwright().start()
    except Exception as e:  # its driver cannot run here: a set-up problem, not a failure
        pytest.skip(f"Playwright does not start: {str(e).splitlines()[0]}")
    try:
        try:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        except Exception as e:
            pytest.skip(f"Chromium does not start: {str(e).splitlines()[0]}")
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      accept_downloads=True)
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.errors = errors
        yield pg
        context.close()
        browser.close()
    finally:
        pw.stop()


def set_slider(page, selector: str, value: float) -> None:
    """Move a slider to ``value`` as a hand would (the input event follows)."""
    page.eval_on_selector(selector, "(e, v) => { e.value = String(v); "
                                    "e.dispatchEvent(new Event('input', { bubbles: true })); }",
                          value)


def test_stylize_in_the_browser(page, server: str, tmp_path: Path):
    content, style = tmp_path / "photo.png", tmp_path / "art.jpg"
    content.write_bytes(png_bytes(64, 48, 11))
    style.write_bytes(png_bytes(56, 56, 12, fmt="JPEG"))
    previews: list[str] = []
    page.on("response", lambda r: previews.append(r.url)
            if "/preview.jpg" in r.url and r.status == 200 else None)

    page.goto(server)
    page.wait_for_selector("#opt-size")
    assert page.locator("#advanced-fields #opt-optimizer").count() == 1
    assert page.locator("#opt-weights").count() == 0 and page.locator("#opt-device").count() == 0
    page.set_input_files("#content-input", str(content))
    page.set_input_files("#style-input", str(style))
    page.wait_for_selector("#content-thumbs img")
    page.wait_for_selector("#style-thumbs img")

    page.click("[data-preset='quick preview']")
    set_slider(page, "#opt-size", 48)
    page.click("#advanced summary")
    page.fill("#opt-steps", "30")
    page.click("#start")
    page.wait_for_function("() => document.querySelector('#preview').src.includes('/preview.jpg')")
    page.wait_for_selector("#download:not([hidden])", timeout=60_000)
    assert len(set(previews)) >= 2, f"the preview did not update: {previews}"
    assert "Done" in page.inner_text("#status")
    page.wait_for_function("() => document.querySelector('#preview').complete && "
                           "document.querySelector('#preview').naturalWidth === 48")

    with page.expect_download() as info:
        page.click("#download")
    data = Path(info.value.path()).read_bytes()
    im = Image.open(io.BytesIO(data))
    assert im.format == "PNG" and im.size == (48, 36)

    page.wait_for_selector(".card[data-status='done'] img")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-studio.png"), full_page=True)

    # the gallery's compare line starts in the middle of its picture (it started at 0)
    line = page.eval_on_selector(".card[data-status='done'] .compare", """b => [
        parseFloat(b.querySelector('.divider').style.left), b.clientWidth]""")
    assert abs(line[0] - line[1] / 2) < 2, line

    # a job the server refuses (an unknown layer) is said on the page, and nothing is queued
    page.fill("#opt-style_layers", "relu9_9")
    page.fill("#opt-steps", "2")
    page.click("#start")
    page.wait_for_selector("#message.bad")
    assert "relu9_9" in page.inner_text("#message")
    assert page.locator(".card[data-status='queued'], .card[data-status='failed']").count() == 0
    # a number the browser cannot read is refused, not sent as the default
    page.fill("#opt-style_layers", "")
    page.fill("#opt-content_weight", "1e400")
    page.click("#start")
    page.wait_for_function("() => /type a number/.test(document.querySelector('#message')"
                           ".textContent)")
    assert page.locator(".card").count() == 1  # the first job only
    assert not page.errors, page.errors


def test_networks_in_the_browser(page, server: str, tmp_path: Path):
    """Click a network: the content is repainted at once; train one from the page."""
    content, style = tmp_path / "photo.png", tmp_path / "stripes.png"
    content.write_bytes(png_bytes(64, 48, 11))
    style.write_bytes(png_bytes(56, 56, 12))
    photos = []
    for i in range(3):
        photos.append(tmp_path / f"p{i}.png")
        photos[-1].write_bytes(png_bytes(48, 40, 20 + i))

    page.goto(server)
    page.wait_for_selector(".network[data-model]")
    assert page.locator(".network").count() == 1 and "starry" in page.inner_text("#networks")
    page.set_input_files("#content-input", str(content))
    page.wait_for_selector("#content-thumbs img")
    set_slider(page, "#apply-size", 48)
    page.click(".network")
    page.wait_for_selector("#download:not([hidden])")
    page.wait_for_function("() => document.querySelector('#preview').complete && "
                           "document.querySelector('#preview').naturalWidth === 48")
    page.wait_for_selector(".card[data-kind='apply'][data-status='done'] img")
    assert "network: starry" in page.inner_text(".card[data-kind='apply']")

    # train a network from the page: style, photos, a few tiny options
    page.click("#train summary")
    page.click("#train-start")  # nothing chosen: said beside the button, not at the top
    page.wait_for_selector("#train-message.bad")
    assert "painting" in page.inner_text("#train-message")
    page.set_input_files("#train-style-input", str(style))
    page.set_input_files("#train-photos-input", [str(p) for p in photos])
    page.wait_for_function("() => document.querySelectorAll('#train-photos-thumbs img')"
                           ".length === 3")
    assert page.input_value("#train-name") == "stripes"  # the style file's name
    page.click("#train-advanced summary")
    for name, value in {**TINY_TRAIN, "steps": 4}.items():
        page.fill(f"#train-{name}", str(value)) if name != "precision" else \
            page.select_option(f"#train-{name}", value)
    page.wait_for_function("() => /About .* for 4 steps on this computer.* Note: 4 steps of/"
                           ".test(document.querySelector('#train-estimate').textContent)")
    page.click("#train-start")
    page.wait_for_function("() => document.querySelector('#status').textContent"
                           ".includes('Trained')", timeout=60_000)
    page.wait_for_selector(".network[data-model] >> text=stripes")
    # 4 steps are far from enough: its card says so; the older network has no figure
    assert "Far from converged" in page.inner_text(".network:has-text('stripes') "
                                                   ".quality-warning")
    assert "texture" in page.inner_text(".network:has-text('stripes') .quality")
    assert page.locator(".network:has-text('starry') .quality").count() == 0
    page.click(".network:has-text('stripes')")
    page.wait_for_selector(".card[data-kind='apply'] >> text=network: stripes")

    # a clip as the content: a network click becomes a clip job, shown in a player
    from tests.video_clips import make_clip

    page.set_input_files("#content-input", str(make_clip(tmp_path / "clip.mp4", n=4, rate=8)))
    page.wait_for_selector("#content-thumbs video")
    assert page.inner_text("#start") == "Paint the video"
    assert page.is_visible("#opt-frame_steps") is False  # under Advanced, shown for clips
    page.click(".network:has-text('starry')")
    page.wait_for_selector("#video:not([hidden])", timeout=60_000)
    assert page.get_attribute("#video", "src").split("?")[0].endswith("/result.mp4")
    assert page.inner_text("#download") == "Download MP4"
    page.wait_for_selector(".card[data-kind='clip'][data-status='done'] img")
    playable = page.evaluate("() => document.querySelector('#video')"
                             ".canPlayType('video/mp4; codecs=\"avc1.42E01E\"')")
    if playable:  # a Chromium built without H.264 cannot decode the clip; the rest holds
        page.wait_for_function("() => document.querySelector('#video').videoWidth === 48")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-studio-networks.png"), full_page=True)
    assert not page.errors, page.errors


# --- the studio for artists: plain words, quick looks, compare, regions, camera, many photos

BANNED = ("relu", "alpha", "beta", "l-bfgs", "lbfgs", "gram", "adam", "optimizer steps")


def photo_and_painting(tmp_path: Path) -> tuple[Path, Path]:
    content, style = tmp_path / "photo.png", tmp_path / "art.png"
    content.write_bytes(png_bytes(64, 48, 11))
    style.write_bytes(png_bytes(56, 56, 12))
    return content, style


def test_a_quick_look_without_pressing_anything_then_compare(page, server: str,
                                                            tmp_path: Path):
    """Plain words outside Advanced; a picture within 5 s of choosing a photo and a painting,
    a new one when a slider moves; a measured estimate; the split compare."""
    page.goto(server)
    page.wait_for_selector("#opt-size")
    shown = page.inner_text("body").lower()
    assert not [w for w in BANNED if w in shown], [w for w in BANNED if w in shown]
    assert not page.eval_on_selector("#advanced", "e => e.open")
    assert page.is_visible("#camera-start") and page.locator("#mask-canvas").count() == 1
    assert page.locator("#basic-fields input[type=range]").count() >= 4

    content, style = photo_and_painting(tmp_path)
    page.set_input_files("#content-input", str(content))
    t0 = time.monotonic()
    page.set_input_files("#style-input", str(style))
    page.wait_for_selector("#look-badge:not([hidden])", timeout=5_000)
    assert time.monotonic() - t0 < 5
    first = page.get_attribute("#preview", "src")
    assert first.startswith("blob:")
    set_slider(page, "#opt-style_weight", 900)  # "more painting"
    page.wait_for_function("(old) => document.querySelector('#preview').src !== old", arg=first,
                           timeout=5_000)
    page.wait_for_function("() => /on this computer/.test("
                           "document.querySelector('#estimate').textContent)")
    assert "going by" in page.inner_text("#estimate")

    set_slider(page, "#opt-size", 48)
    page.click("#advanced summary")
    assert "relu" in page.inner_text("body")  # the maths is there, inside Advanced
    page.fill("#opt-steps", "3")
    page.click("#start")
    page.wait_for_selector("#download:not([hidden])", timeout=30_000)
    assert page.is_visible("#compare") and page.get_attribute("#before", "src").startswith(
        "/api/uploads/")
    # the line within the picture as drawn (a picture of another shape than the stage
    # leaves margins): 20% of the stage's width, held to the picture's edges
    for value in (20, 1, 99):
        set_slider(page, "#compare", value)
        cut, want = page.eval_on_selector("#preview", """e => {
            const box = e.parentElement, w = box.clientWidth;
            const k = Math.min(w / e.naturalWidth, box.clientHeight / e.naturalHeight);
            const shown = e.naturalWidth * k, left = (w - shown) / 2;
            const at = Math.min(Math.max(VALUE / 100 * w, left), left + shown);
            return [parseFloat(e.style.clipPath.split(" ").pop()), at]; }""".replace(
            "VALUE", str(value)))
        assert abs(cut - want) < 0.5, (value, cut, want)
        left = page.eval_on_selector("#divider", "e => parseFloat(e.style.left)")
        assert abs(left - want) < 0.5
    page.wait_for_selector(".card[data-status='done'] .compare input.split")
    set_slider(page, ".card .compare input.split", 70)
    cut = page.eval_on_selector(".card .compare img.after", """e => [
        parseFloat(e.style.clipPath.split(" ").pop()), e.parentElement.clientWidth]""")
    assert abs(cut[0] - 0.7 * cut[1]) < 0.5  # a card's picture fills its box ("cover")
    assert not page.errors, page.errors


def choose_photo_and_painting(page, server: str, tmp_path: Path) -> None:
    """Open the page and choose a photo and a painting, as a visitor does first."""
    content, style = photo_and_painting(tmp_path)
    page.goto(server)
    page.wait_for_selector("#opt-size")
    page.set_input_files("#content-input", str(content))
    page.set_input_files("#style-input", str(style))
    page.wait_for_selector("#style-thumbs img")


def test_a_reload_gives_back_the_pictures_and_settings(page, server: str, tmp_path: Path):
    choose_photo_and_painting(page, server, tmp_path)
    set_slider(page, "#opt-style_weight", 900)
    page.click("#advanced summary")
    page.fill("#opt-steps", "7")
    page.dispatch_event("#opt-steps", "input")
    before = page.evaluate("() => readForm()")
    assert before["steps"] == 7 and before["style_weight"] > 100
    page.reload()
    page.wait_for_selector("#content-thumbs img")
    page.wait_for_selector("#style-thumbs img")
    assert page.locator("#style-thumbs img").count() == 1
    assert page.input_value("#opt-steps") == "7"
    assert page.evaluate("() => readForm()") == before
    page.wait_for_selector("#look-badge:not([hidden])", timeout=10_000)  # a look, unasked
    assert not page.errors, page.errors
    # a painting the server no longer has is left out; the rest comes back
    draft = page.evaluate("() => JSON.parse(localStorage.getItem('painterly-draft'))")
    draft["styles"].append("0" * 32 + ".png")
    page.evaluate("d => localStorage.setItem('painterly-draft', JSON.stringify(d))", draft)
    page.reload()
    page.wait_for_selector("#style-thumbs img")
    assert page.locator("#style-thumbs img").count() == 1 and not page.errors, page.errors


def painted(page) -> int:
    """How many pixels of the regions canvas are painted."""
    return page.eval_on_selector("#mask-canvas", """c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }""")


def test_painted_regions_go_with_the_job_and_come_back(page, server: str, tmp_path: Path):
    choose_photo_and_painting(page, server, tmp_path)
    page.click("#regions summary")
    page.click("[data-brush='1']")
    assert page.input_value("select[data-region='1']") == "photo"  # "stays the photo"
    box = page.locator("#mask-canvas").bounding_box()
    page.mouse.move(box["x"] + 4, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=6)
    page.mouse.up()
    stroke = painted(page)
    assert stroke > 500
    page.wait_for_function("() => /Painted regions/.test("
                           "document.querySelector('#mask-state').textContent)")
    set_slider(page, "#opt-size", 48)
    page.click("#advanced summary")
    page.fill("#opt-steps", "3")
    page.click("#start")
    page.wait_for_selector("#download:not([hidden])", timeout=30_000)
    job = page.evaluate("() => fetch('/api/jobs').then(r => r.json()).then(j => j.jobs[0])")
    assert job["status"] == "done" and job["mask"]
    label = page.evaluate("(id) => fetch('/api/uploads/' + id).then(r => r.status)", job["mask"])
    assert label == 200

    page.click("#mask-clear")
    assert painted(page) == 0
    page.click(".card[data-status='done'] >> text=Use settings")
    page.wait_for_function("() => /are back/.test("
                           "document.querySelector('#mask-state').textContent)")
    assert painted(page) == stroke  # the photo's region, back on the canvas as painted
    assert page.input_value("select[data-region='1']") == "photo"
    assert page.input_value("select[data-region='0']") == "s0"  # the rest: "everything else"
    assert not page.errors, page.errors


def test_the_camera_and_many_photos_through_a_network(page, server: str, tmp_path: Path):
    """A fake camera painted live with its frame rate and a snapshot in the gallery; three
    photos through the network at once, and all of them in one zip."""
    page.goto(server)
    page.wait_for_selector(".network[data-model]")
    set_slider(page, "#apply-size", 32)
    page.click("#camera-start")
    page.wait_for_function("() => /[0-9.]+ frames\\/s/.test("
                           "document.querySelector('#camera-fps').textContent)", timeout=15_000)
    page.click("#camera-snap")
    page.wait_for_selector(".card[data-kind='apply'][data-status='done'] .compare")
    page.click("#camera-stop")
    assert page.is_hidden("#camera-view")

    photos = []
    for i in range(3):
        photos.append(tmp_path / f"p{i}.png")
        photos[-1].write_bytes(png_bytes(48, 40, 30 + i))
    page.set_input_files("#batch-input", [str(p) for p in photos])
    page.wait_for_selector("#batch-zip:not([hidden])")
    assert "3 of 3" in page.inner_text("#batch-status")
    with page.expect_download() as info:
        page.click("#batch-zip")
    with zipfile.ZipFile(info.value.path()) as z:
        assert len(z.namelist()) == 3
    assert page.locator(".card[data-kind='apply']").count() == 4
    assert not page.errors, page.errors
