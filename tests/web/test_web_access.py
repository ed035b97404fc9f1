"""Host names, the access token, streamed body limits and option numbers in the studio."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the web extras are not installed: pip install .[web]")

from web_helpers import images, png_bytes, upload

from painterly.web.access import Access, host_name
from painterly.web.uploads import Limits


def test_host_names_parsed():
    assert host_name("127.0.0.1:8000") == "127.0.0.1"
    assert host_name("[::1]:8000") == "::1"
    assert host_name("LocalHost.") == "localhost"
    assert host_name("evil.example:8000") == "evil.example"
    assert host_name("a:b:c") is None and host_name("") is None and host_name("x:port") is None


def test_rebinding_host_refused_before_any_work(client):
    content, style = images(client)
    evil = {"Host": "evil.example:8000", "Origin": "http://evil.example:8000"}
    for method, url in [("get", "/"), ("get", "/api/jobs"), ("get", f"/api/uploads/{content}"),
                        ("delete", "/api/jobs/20260101-000000-00000000")]:
        r = getattr(client, method)(url, headers=evil)
        assert r.status_code == 421 and "host name" in r.json()["error"], (url, r.text)
    r = client.post("/api/jobs", headers=evil,
                    json={"content": content, "styles": [style], "options": {"size": 48}})
    assert r.status_code == 421
    for method, url in [("get", "/api/models"), ("get", "/api/models/0123456789abcdef/thumb.png"),
                        ("post", "/api/apply"), ("post", "/api/train"),
                        ("get", "/api/jobs/20260101-000000-00000000/result.mp4")]:
        r = getattr(client, method)(url, headers=evil)
        assert r.status_code == 421 and "host name" in r.json()["error"], (url, r.text)
    assert client.get("/api/jobs").json()["jobs"] == []  # nothing was queued
    for host in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
        assert client.get("/api/schema", headers={"Host": host}).status_code == 200


def test_allowed_names_and_wildcard_bind():
    a = Access.for_server("0.0.0.0", ["studio.lan"])
    assert a.host_ok("studio.lan:8000") and a.host_ok("192.168.1.20:8000")
    assert not a.host_ok("evil.example:8000")
    b = Access.for_server("192.168.1.20")
    assert b.host_ok("192.168.1.20:8000") and not b.host_ok("10.0.0.1:8000")


def test_token_required_on_every_request(make_client, tmp_path: Path):
    c = make_client(tmp_path, access=Access.for_server("127.0.0.1", token="s3cret-token"))
    assert c.get("/api/jobs").status_code == 401
    assert c.get("/static/app.js").status_code == 401
    assert c.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/jobs", headers={"Authorization": "Bearer s3cret-token"}
                 ).status_code == 200
    for method, url in [("get", "/api/models"), ("get", "/api/models/0123456789abcdef/thumb.png"),
                        ("post", "/api/apply"), ("post", "/api/train"),
                        ("get", "/api/jobs/20260101-000000-00000000/result.mp4")]:
        assert getattr(c, method)(url).status_code == 401, url
    assert c.get("/api/models", headers={"Authorization": "Bearer s3cret-token"}
                 ).json() == {"models": []}
    r = c.get("/?token=s3cret-token", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    assert c.get("/").status_code == 200  # the cookie now carries the token
    assert c.get("/api/jobs").status_code == 200
    c.cookies.clear()
    assert c.get("/?token=nope", follow_redirects=False).status_code == 401


def test_upload_without_length_is_stopped_as_it_arrives(make_client, tmp_path: Path):
    """Driven at the ASGI level: the test client would read the whole body first."""
    import asyncio

    c = make_client(tmp_path, limits=Limits(max_bytes=100_000, max_clip_bytes=100_000))
    head = b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
    chunks = [head] + [bytes(100_000)] * 3000  # 300 MB if it were all read
    sent: list[dict] = []
    taken = [0]

    async def receive() -> dict:
        taken[0] += 1
        return {"type": "http.request", "body": chunks[min(taken[0] - 1, len(chunks) - 1)],
                "more_body": taken[0] < len(chunks)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/uploads",
             "raw_path": b"/api/uploads", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8000"),
                         (b"content-type", b"multipart/form-data; boundary=xx"),
                         (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "state": {}}
    asyncio.run(c.app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert b"larger than" in b"".join(m.get("body", b"") for m in sent[1:])
    assert taken[0] < 10
    assert not list((tmp_path / "uploads").iterdir())


@pytest.mark.parametrize("options,words", [
    ({"size": 1e400}, "finite"), ({"size": "inf"}, "finite"), ({"seed": 1e30}, "maximum"),
    ({"style_weight": float("nan")}, "finite"), ({"size": True}, "expects"),
    ({"style_layer_weights": ["1e999"]}, "finite"), ({"steps": [1]}, "expects"),
])
def test_bad_numbers_are_400(client, options, words):
    content, style = upload(client, png_bytes(48, 40, 1))["id"], \
        upload(client, png_bytes(48, 48, 2))["id"]
    import json

    body = json.dumps({"content": content, "styles": [style], "options": options},
                      allow_nan=True).replace("Infinity", "1e400")
    r = client.post("/api/jobs", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and words in r.json()["error"], r.text


def test_serve_on_a_network_address_makes_a_token(monkeypatch, tmp_path: Path, tiny_weights,
                                                  capsys):
    uvicorn = pytest.importorskip("uvicorn", reason="the web extras are not installed")
    import socket

    from painterly import cli

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seen = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: seen.update(server=self))
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", str(port), "--allow-host",
                     "studio.lan", "--data-dir", str(tmp_path / "d"), "--weights",
                     tiny_weights, "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    token = err.split("?token=")[1].split()[0]
    assert len(token) >= 16 and "warning" not in err
    from fastapi.testclient import TestClient

    app = seen["server"].config.app
    c = TestClient(app, base_url=f"http://studio.lan:{port}")
    assert c.get("/api/schema").status_code == 401
    assert c.get("/api/schema", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert TestClient(app, base_url="http://evil.example").get("/").status_code == 421
    assert cli.main(["serve", "--token", "short"]) == 2


def test_only_uploads_may_be_as_large_as_a_clip(make_client, tmp_path: Path):
    c = make_client(tmp_path, limits=Limits(max_bytes=100_000, max_clip_bytes=1_000_000))
    body = b'{"model": "' + b"x" * 300_000 + b'"}'
    r = c.post("/api/apply", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "request is larger than 98 KB" in r.json()["error"]
    r = c.post("/api/uploads", files={"file": ("a.bin", bytes(1_200_000))})
    assert r.status_code == 413 and "upload is larger than 977 KB" in r.json()["error"]


def test_the_token_redirect_stays_on_this_site(make_client, tmp_path: Path):
    """The redirect that takes the token out of the address kept a path of two slashes,
    "//evil.com/", which a browser follows to another site."""
    import asyncio

    from painterly.web.access import Access

    c = make_client(tmp_path, access=Access.for_server("127.0.0.1", [], "s3cret-token"))

    def location(path: str) -> str:  # sent as it is (an HTTP client would tidy the path)
        scope = {"type": "http", "http_version": "1.1", "method": "GET", "path": path,
                 "raw_path": path.encode(), "root_path": "", "scheme": "http",
                 "query_string": b"token=s3cret-token", "server": ("127.0.0.1", 8000),
                 "client": ("127.0.0.1", 1), "headers": [(b"host", b"127.0.0.1:8000")]}
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        asyncio.run(c.app(scope, receive, send))
        assert sent[0]["status"] == 303, sent[0]
        return dict(sent[0]["headers"])[b"location"].decode()

    for path in ("//evil.com/", "///evil.com/x"):
        assert location(path) == "/" + path.lstrip("/")
    assert location("/api/jobs") == "/api/jobs"


def test_other_sites_cannot_use_the_studio_s_responses(make_client, tmp_path: Path):
    """No response said Cross-Origin-Resource-Policy, so another site's page could show
    /api/uploads/<id> (a content hash) and learn whether a picture was uploaded; and its
    request for /api/preview/info made the server load its network."""
    import threading

    c = make_client(tmp_path)
    content, _ = images(c)
    for r in (c.get("/"), c.get("/api/schema"), c.get(f"/api/uploads/{content}"),
              c.get("/api/jobs/20260101-000000-00000000"),
              c.get("/api/jobs", headers={"Host": "evil.example"}),
              c.post("/api/jobs", json={"content": content, "styles": []})):
        assert r.headers["cross-origin-resource-policy"] == "same-origin", (r.url, r.headers)
    warmed = threading.Event()
    c.app.state.previewer.warm = warmed.set
    r = c.get("/api/preview/info", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200 and not warmed.wait(0.5)
    assert c.get("/api/preview/info", headers={"Sec-Fetch-Site": "same-origin"}
                 ).status_code == 200
    assert warmed.wait(5)
