"""``painterly serve`` and the lazy import of the web extras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from painterly import cli

ROOT = Path(__file__).resolve().parents[2]


def test_import_painterly_does_not_need_fastapi():
    code = ("import sys, painterly, painterly.cli; "
            "assert 'fastapi' not in sys.modules and 'uvicorn' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_serve_defaults_and_options(monkeypatch, tmp_path: Path, tiny_weights: str):
    pytest.importorskip("fastapi", reason="the web extras are not installed")
    uvicorn = pytest.importorskip("uvicorn", reason="the web extras are not installed")
    from painterly.config import from_args
    from painterly.web.options import ServeOptions

    so = from_args(ServeOptions, cli.build_parser().parse_args(["serve"]))
    assert (so.host, so.port) == ("127.0.0.1", 8000)
    seen = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: seen.update(server=self))
    code = cli.main(["serve", "--port", "8765", "--data-dir", str(tmp_path / "d"),
                     "--weights", tiny_weights, "--device", "cpu"])
    server = seen["server"]
    assert code == 0 and (server.config.host, server.config.port) == ("127.0.0.1", 8765)
    studio = server.config.app.state.studio
    assert studio.root == tmp_path / "d"
    server.handle_exit(2, None)  # Ctrl-C ends the progress streams at once
    assert studio.closing and server.should_exit
    assert (tmp_path / "d" / "jobs").is_dir()


def test_serve_default_data_dir(monkeypatch, tmp_path: Path):
    pytest.importorskip("fastapi", reason="the web extras are not installed")
    from painterly.web.app import default_data_dir

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "painterly" / "studio"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / ".local" / "share" / "painterly" / "studio"


def test_serve_bad_arguments(capsys):
    pytest.importorskip("fastapi", reason="the web extras are not installed")
    assert cli.main(["serve", "--port", "70000"]) == 2
    assert "--port: 70000 is above the maximum" in capsys.readouterr().err
    assert cli.main(["serve", "--device", "cuda:7"]) == 2
    assert "cuda:7" in capsys.readouterr().err


def test_serve_models_photos_and_clip_limits(monkeypatch, tmp_path: Path, tiny_weights: str,
                                             capsys):
    pytest.importorskip("fastapi", reason="the web extras are not installed")
    uvicorn = pytest.importorskip("uvicorn", reason="the web extras are not installed")
    seen = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: seen.update(server=self))
    for d in ("a", "b", "photos"):
        (tmp_path / d).mkdir()
    code = cli.main(["serve", "--port", "8766", "--data-dir", str(tmp_path / "d"),
                     "--weights", tiny_weights, "--device", "cpu", "--models",
                     str(tmp_path / "a"), "--models", str(tmp_path / "b"), "--photos",
                     str(tmp_path / "photos"), "--max-clip-mb", "5", "--max-clip-seconds",
                     "12.5", "--max-clip-frames", "300"])
    assert code == 0
    app = seen["server"].config.app
    studio = app.state.studio
    assert studio.models.folders == [tmp_path / "a", tmp_path / "b"]
    assert studio.photo_folder == tmp_path / "photos"
    from fastapi.testclient import TestClient

    limits = TestClient(app, base_url="http://127.0.0.1").get("/api/schema").json()["limits"]
    assert (limits["max_clip_bytes"], limits["max_clip_seconds"], limits["max_clip_frames"]) \
        == (5 * 2**20, 12.5, 300)
    capsys.readouterr()
    for args, words in [(["--models", str(tmp_path / "none")], "--models"),
                        (["--photos", str(tmp_path / "none")], "--photos"),
                        (["--max-clip-seconds", "0"], "--max-clip-seconds")]:
        assert cli.main(["serve", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err


def test_a_second_server_on_the_same_data_folder_is_refused(monkeypatch, tmp_path: Path,
                                                          tiny_weights: str, capsys):
    """A second server on a data folder took the first one's running job for a crashed one
    and ran its queued jobs again: the folder is locked for the server's life."""
    pytest.importorskip("fastapi", reason="the web extras are not installed")
    uvicorn = pytest.importorskip("uvicorn", reason="the web extras are not installed")
    from painterly.web.jobs import Studio

    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    first = Studio(tmp_path / "d", tiny_weights, "cpu")
    args = ["serve", "--port", "8767", "--data-dir", str(tmp_path / "d"), "--weights",
            tiny_weights, "--device", "cpu"]
    capsys.readouterr()
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "used by another painterly serve" in err and len(err.splitlines()) == 1, err
    first.release()
    assert cli.main(args) == 0  # free again once the first one is gone
    assert cli.main(args) == 0  # and a stopped server lets it go


SLOW_SERVER = """
import sys, time
from painterly.web import models_api
def slow(self, topts, site):
    print("estimating", file=sys.stderr, flush=True)
    time.sleep(120)  # a request working in a thread, as a long test pass did
models_api.TrainTimes.estimate = slow
from painterly import cli
sys.exit(cli.main(["serve", "--port", sys.argv[1], "--data-dir", sys.argv[2],
                   "--weights", sys.argv[3], "--device", "cpu"]))
"""


def test_ctrl_c_stops_the_server_while_a_request_works(tmp_path: Path, tiny_weights: str):
    """Ctrl-C during a long request (a training estimate) hung until the request was done;
    the server now stops within seconds, its jobs recorded, the request dropped."""
    pytest.importorskip("fastapi", reason="the web extras are not installed")
    pytest.importorskip("uvicorn", reason="the web extras are not installed")
    import http.client
    import os
    import signal
    import socket
    import threading
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(port),
                             str(tmp_path / "d"), tiny_weights], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < end, "no server"
                time.sleep(0.2)

        def ask() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=150)
            try:
                conn.request("POST", "/api/train/estimate", body=b'{"options": {}}',
                             headers={"Content-Type": "application/json"})
                conn.getresponse().read()
            except OSError:
                pass

        threading.Thread(target=ask, daemon=True).start()
        while "estimating" not in proc.stderr.readline():
            assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_uses_the_fast_model_it_is_given(monkeypatch, tmp_path: Path, tiny_weights: str,
                                               capsys):
    """--fast-model was accepted and ignored (the shipped model painted, a missing file was
    not refused): the fast method and the quick looks use it, and a bad file is refused."""
    pytest.importorskip("fastapi", reason="the web extras are not installed")
    uvicorn = pytest.importorskip("uvicorn", reason="the web extras are not installed")
    import shutil

    from painterly.config import Options
    from painterly.fast import method as fast_method
    from painterly.fast.modelfile import SHIPPED

    if not SHIPPED.exists():
        pytest.skip("the shipped fast model is not installed")
    model = tmp_path / "mine.safetensors"
    shutil.copyfile(SHIPPED, model)
    seen = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: seen.update(server=self))
    read: list[str] = []
    real_load = fast_method.load_fast
    monkeypatch.setattr(fast_method, "load_fast", lambda p: read.append(str(p)) or real_load(p))
    base = ["serve", "--port", "8768", "--data-dir", str(tmp_path / "d"), "--weights",
            tiny_weights, "--device", "cpu", "--fast-model"]
    assert cli.main([*base, str(model)]) == 0
    app = seen["server"].config.app
    app.state.studio.stylizer(Options(method="fast"))
    assert app.state.previewer.fast() is not None
    assert read == [str(model), str(model)]
    capsys.readouterr()
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    for bad in (tmp_path / "none.safetensors", tmp_path / "bad.safetensors"):
        assert cli.main([*base, str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("--fast-model") == 1 and len(err.splitlines()) == 1, err


def test_serve_on_every_interface_prints_addresses_a_browser_can_open(
        monkeypatch, tmp_path: Path, tiny_weights: str, capsys):
    """--host 0.0.0.0 printed http://0.0.0.0:PORT/?token=..., which other machines cannot
    open; it now prints this machine's address, its host name and localhost, each of which
    the studio answers."""
    import re
    import socket

    uvicorn = pytest.importorskip("uvicorn", reason="the web extras are not installed")
    from fastapi.testclient import TestClient

    from painterly.web import cli as web_cli

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(web_cli, "own_ip", lambda: "10.1.2.3")
    seen = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: seen.update(server=self))
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", str(port), "--token",
                     "s3cret-token", "--data-dir", str(tmp_path / "d"), "--weights",
                     tiny_weights, "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    urls = re.findall(r"http://\S+?/\?token=s3cret-token", err)
    assert "0.0.0.0" not in err and urls[0] == f"http://10.1.2.3:{port}/?token=s3cret-token"
    name = socket.gethostname().lower()
    assert f"http://{name}:{port}/?token=s3cret-token" in urls
    assert urls[-1] == f"http://localhost:{port}/?token=s3cret-token"
    app = seen["server"].config.app
    for url in urls:
        r = TestClient(app, base_url=url.split("/?")[0]).get(
            "/api/schema", headers={"Authorization": "Bearer s3cret-token"})
        assert r.status_code == 200, (url, r.text)
    app.state.studio.release()
    assert web_cli.addresses("192.168.1.20") == ["192.168.1.20"]
    assert web_cli.addresses("[::1]") == ["::1"]


def test_serve_refuses_weights_it_cannot_read_at_start(monkeypatch, tmp_path: Path,
                                                       tiny_weights: str, capsys):
    """A wrong --weights (or PAINTERLY_WEIGHTS) started the studio, and every picture the
    page asked for then failed; now it is refused before the server starts, in one line."""
    uvicorn = pytest.importorskip("uvicorn", reason="the web extras are not installed")
    pytest.importorskip("fastapi", reason="the web extras are not installed")
    started = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: started.append(self))
    monkeypatch.delenv("PAINTERLY_WEIGHTS", raising=False)
    base = ["serve", "--port", "8769", "--data-dir", str(tmp_path / "d"), "--device", "cpu"]
    (tmp_path / "bad.pt").write_bytes(b"not weights")
    for bad, named in [(tmp_path / "none.pt", "--weights"), (tmp_path / "bad.pt", "--weights")]:
        assert cli.main([*base, "--weights", str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and named in err and bad.name in err, err
    monkeypatch.setenv("PAINTERLY_WEIGHTS", str(tmp_path / "none.pt"))
    assert cli.main(base) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.count("PAINTERLY_WEIGHTS=") == 1, err
    assert not started and not (tmp_path / "d").exists()
    monkeypatch.setenv("PAINTERLY_WEIGHTS", tiny_weights)
    assert cli.main(base) == 0 and len(started) == 1
