"""Screenshots of the web studio for docs/ (desktop and phone), with timings.

Serves the studio (real weights) on a free local port, drives Debian's Chromium with
Playwright through what a painter does (a photo, a painting, the quick look, a slider, a
picture, painted regions, the camera, many photos through a network) and writes
docs/studio.jpg, docs/studio-phone.jpg and docs/studio-phone-result.jpg::

    python tools/studio_screenshots.py PHOTO PAINTING --models DIR --photos P1 P2 ...

``--camera FILE.y4m`` feeds Chromium's fake camera with a clip (else its test pattern).
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from painterly.web.app import create_app

DOCS = Path(__file__).resolve().parents[1] / "docs"
SLIDE = "(e, v) => { e.value = v; e.dispatchEvent(new Event('input', { bubbles: true })); }"


def serve(data: Path, models: list[str]) -> tuple[str, uvicorn.Server, threading.Thread]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(create_app(data, None, "cpu", model_folders=models),
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", srv, thread


def shot(page: Page, name: str, full: bool = False) -> None:
    png = Path(tempfile.mkdtemp()) / f"{name}.png"
    page.screenshot(path=str(png), full_page=full)
    Image.open(png).convert("RGB").save(DOCS / f"{name}.jpg", quality=82, optimize=True)


def quick_look(page: Page, photo: str, painting: str) -> None:
    page.set_input_files("#content-input", photo)
    page.wait_for_selector("#content-thumbs img")
    t = time.monotonic()
    page.set_input_files("#style-input", painting)
    page.wait_for_selector("#look-badge:not([hidden])", timeout=120_000)
    print(f"first quick look: {time.monotonic() - t:.2f} s after the painting was chosen")
    first, t = page.get_attribute("#preview", "src"), time.monotonic()
    page.eval_on_selector("#opt-style_weight", SLIDE, "700")
    page.wait_for_function("(o) => document.querySelector('#preview').src !== o", arg=first)
    print(f"after a slider move: {time.monotonic() - t:.2f} s")


def picture(page: Page) -> None:
    page.click("[data-preset='quick preview']")
    page.wait_for_function("() => /on this computer/.test("
                           "document.querySelector('#estimate').textContent)")
    time.sleep(2)
    print(page.inner_text("#estimate"))
    t = time.monotonic()
    page.click("#start")
    page.wait_for_selector("#download:not([hidden])", timeout=900_000)
    print(f"the picture: {time.monotonic() - t:.1f} s")
    page.eval_on_selector("#compare", SLIDE, "38")


def regions(page: Page) -> None:
    page.click("#regions summary")
    page.click("[data-brush='1']")
    page.eval_on_selector("#brush-size", SLIDE, "40")
    page.locator("#mask-canvas").scroll_into_view_if_needed()
    box = page.locator("#mask-canvas").bounding_box()
    for y in (0.72, 0.82, 0.92):
        page.mouse.move(box["x"] + 4, box["y"] + box["height"] * y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] - 4, box["y"] + box["height"] * y, steps=25)
        page.mouse.up()
    time.sleep(8)  # the quick look with the regions


def camera_and_batch(page: Page, photos: list[str]) -> None:
    page.eval_on_selector("#apply-strength", SLIDE, "650")
    page.click("#camera-start")
    page.wait_for_function("() => /[0-9.]+ frames/.test("
                           "document.querySelector('#camera-fps').textContent)", timeout=60_000)
    time.sleep(6)
    print("camera:", page.inner_text("#camera-fps"))
    page.click("#camera-snap")
    t = time.monotonic()
    page.set_input_files("#batch-input", photos)
    page.wait_for_selector("#batch-zip:not([hidden])", timeout=300_000)
    print(f"{len(photos)} photos through the network: {time.monotonic() - t:.1f} s")
    time.sleep(4)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("photo")
    p.add_argument("painting")
    p.add_argument("--models", action="append", default=[], help="a folder of networks")
    p.add_argument("--photos", nargs="+", default=[], help="photos for 'many photos at once'")
    p.add_argument("--camera", help="a .y4m clip for Chromium's fake camera")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    a = p.parse_args()
    url, srv, thread = serve(Path(tempfile.mkdtemp()) / "studio", a.models)
    args = ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    if a.camera:
        args.append(f"--use-file-for-fake-video-capture={a.camera}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=a.chromium, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.wait_for_selector("#opt-size")
        time.sleep(20)  # the page warms the network up meanwhile
        quick_look(page, a.photo, a.painting)
        regions(page)
        picture(page)
        if a.models:
            camera_and_batch(page, a.photos or [a.photo])
        page.evaluate("() => window.scrollTo(0, 0)")
        shot(page, "studio", full=True)
        if a.models:
            page.click("#camera-stop")
        page.set_viewport_size({"width": 390, "height": 844})
        time.sleep(1)
        shot(page, "studio-phone")
        page.evaluate("() => document.querySelector('#output').scrollIntoView()")
        time.sleep(0.5)
        shot(page, "studio-phone-result")
        browser.close()
    srv.should_exit = True
    thread.join(10)


if __name__ == "__main__":
    main()
