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
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def server(tiny_weights: str, tmp_path: Path, monkeypatch) -> Iterator[str]:
    """The studio served by uvicorn on a free local port, in a thread.

    Each step is slowed down a little so that the page sees several previews even where
    the tiny network runs very fast."""
    uvicorn = pytest.importorskip("uvicorn")
    real_run = Stylizer.picture

    def slow_run(self, content, styles, opts, callback=None):
        def slow(progress):
            time.sleep(0.03)
            callback(progress)

        return real_run(self, content, styles, opts, slow)

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
    page.fill("#opt-size", "48")
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

    # a failing job is reported on the page, and the page goes on working
    page.click("#advanced summary")
    page.fill("#opt-style_layers", "relu9_9")
    page.fill("#opt-steps", "2")
    page.click("#start")
    page.wait_for_selector("#message.bad")
    assert "relu9_9" in page.inner_text("#message")
    assert page.inner_text("#status") == "Failed"
    page.wait_for_selector(".card[data-status='failed']")
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
    page.fill("#apply-size", "40")
    page.click(".network")
    page.wait_for_selector("#download:not([hidden])")
    page.wait_for_function("() => document.querySelector('#preview').complete && "
                           "document.querySelector('#preview').naturalWidth === 40")
    page.wait_for_selector(".card[data-kind='apply'][data-status='done'] img")
    assert "network: starry" in page.inner_text(".card[data-kind='apply']")

    # train a network from the page: style, photos, a few tiny options
    page.click("#train summary")
    page.set_input_files("#train-style-input", str(style))
    page.set_input_files("#train-photos-input", [str(p) for p in photos])
    page.wait_for_function("() => document.querySelectorAll('#train-photos-thumbs img')"
                           ".length === 3")
    assert page.input_value("#train-name") == "stripes"  # the style file's name
    page.click("#train-advanced summary")
    for name, value in {**TINY_TRAIN, "steps": 4}.items():
        page.fill(f"#train-{name}", str(value)) if name != "precision" else \
            page.select_option(f"#train-{name}", value)
    page.click("#train-start")
    page.wait_for_function("() => document.querySelector('#status').textContent"
                           ".includes('Trained')", timeout=60_000)
    page.wait_for_selector(".network[data-model] >> text=stripes")
    page.click(".network:has-text('stripes')")
    page.wait_for_selector(".card[data-kind='apply'] >> text=network: stripes")

    # a clip as the content: a network click becomes a clip job, shown in a player
    from tests.video_clips import make_clip

    page.set_input_files("#content-input", str(make_clip(tmp_path / "clip.mp4", n=4, rate=8)))
    page.wait_for_selector("#content-thumbs video")
    assert page.inner_text("#start") == "Start clip"
    assert page.is_visible("#opt-frame_steps") is False  # under Advanced, shown for clips
    page.click(".network:has-text('starry')")
    page.wait_for_selector("#video:not([hidden])", timeout=60_000)
    assert page.get_attribute("#video", "src").split("?")[0].endswith("/result.mp4")
    assert page.inner_text("#download") == "Download MP4"
    page.wait_for_selector(".card[data-kind='clip'][data-status='done'] img")
    playable = page.evaluate("() => document.querySelector('#video')"
                             ".canPlayType('video/mp4; codecs=\"avc1.42E01E\"')")
    if playable:  # a Chromium built without H.264 cannot decode the clip; the rest holds
        page.wait_for_function("() => document.querySelector('#video').videoWidth === 40")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-studio-networks.png"), full_page=True)
    assert not page.errors, page.errors
