"""Faults and bad inputs: exit status 2 with one line, nothing lost, no stray files."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from painterly import cli
from painterly.config import Options, Runtime, make, make_options
from painterly.errors import ImageError, UsageError
from painterly.images import load_image, save_result
from painterly.paths import check_output, temp_prefix
from painterly.weights import short_reason

from .conftest import ROOT, run_cli

FAST = ["--size", "32", "--steps", "2", "--scales", "1", "-q"]


def one_line_error(proc: subprocess.CompletedProcess, words: str = "") -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painterly: error:"), proc.stderr
    assert "Traceback" not in proc.stderr and words in lines[0], lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".")
                  or p.suffix == ".part")


# --- numbers and devices -------------------------------------------------------------------

@pytest.mark.parametrize("name,value,words", [
    ("size", "inf", "not a finite number"), ("size", "1e999", "not a finite number"),
    ("size", 1e400, "not a finite number"), ("size", "nan", "not a finite number"),
    ("size", "2.5", "not a whole number"), ("size", True, "expects"),
    ("seed", "1e30", "above the maximum"), ("seed", 2**63, "above the maximum"),
    ("seed", -1, "below the minimum"), ("style_weight", "-inf", "not a finite number"),
    ("style_layer_weights", "1 inf", "not a finite number"), ("steps", "many", "expects int"),
    ("device", "cuda:abc", "cuda:N"), ("device", "cuda:-1", "cuda:N"),
    ("device", "cuda:99999", "cuda:N"), ("content_layers", 5, r"expects list\[str\]"),
])
def test_numbers_and_devices_are_checked(name, value, words):
    cls = Runtime if name == "device" else Options
    with pytest.raises(UsageError, match=words):
        make(cls, **{name: value})


def test_largest_seed_is_fine():
    assert make_options(seed=str(2**63 - 1)).seed == 2**63 - 1
    assert make_options(size="1e3").size == 1000


@pytest.mark.parametrize("args,words", [
    (["--size", "inf"], "--size"), (["--seed", "1e30"], "--seed"),
    (["--device", "cuda:abc"], "--device"), (["--style-weight", "1e999"], "--style-weight"),
])
def test_cli_number_errors_are_one_line(args, words, images, tmp_path, capsys):
    content, style = images
    assert cli.main(["stylize", str(content), str(style), "-o", str(tmp_path / "o.png"),
                     *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


# --- output paths --------------------------------------------------------------------------

def test_output_paths_checked_before_work(images, tmp_path, capsys, monkeypatch):
    content, style = images
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    long_name = "x" * 300 + ".png"

    def refused(args: list[str], words: str) -> None:
        code = cli.main(["stylize", str(content), str(style), *args])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and words in err[0], err

    from painterly import methods

    def no_work(*a, **k):
        raise AssertionError("work started before the paths were checked")

    monkeypatch.setattr(methods, "for_options", no_work)
    out = str(tmp_path / "o.png")
    refused(["-o", str(tmp_path / long_name)], "too long")
    refused(["-o", str(tmp_path / "afile" / "o.png")], "is not a folder")
    refused(["-o", str(tmp_path / "nodir" / "o.png")], "does not exist")
    refused(["-o", str(tmp_path / "adir")], "is a folder")
    refused(["-o", str(tmp_path / "adir.png") + "/"], "give a file name")
    refused(["-o", str(content)], "is the input")
    refused(["-o", out, "--log", out], "is also given as --log")
    refused(["-o", out, "--plot", str(content)], "is the input")
    refused(["-o", out, "--log", str(tmp_path / "adir")], "is a directory")
    refused(["-o", out, "--animate", str(tmp_path / "a.gif"), "--log",
             str(tmp_path / "a.gif")], "is also given")
    refused(["-o", out, "--snapshots", str(tmp_path / "afile")], "not a folder")
    refused(["-o", out, "--init", str(tmp_path / "nope.png")], "no such file")
    assert leftovers(tmp_path) == [] and not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("flag", ["-o", "--log", "--plot", "--animate"])
def test_snapshots_folder_that_is_an_output_is_refused_before_work(flag, images, tmp_path,
                                                                   capsys, monkeypatch):
    content, style = images
    from painterly import methods

    def no_work(*a, **k):
        raise AssertionError("work started before the paths were checked")

    monkeypatch.setattr(methods, "for_options", no_work)
    names = {"-o": "o.png", "--log": "l.csv", "--plot": "p.png", "--animate": "a.gif"}
    args = {f: str(tmp_path / n) for f, n in names.items()}
    same = args[flag]
    code = cli.main(["stylize", str(content), str(style), *FAST,
                     *[a for f, p in args.items() for a in (f, p)], "--snapshots", same])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"is also given as {flag}" in err[0], err
    assert not os.path.lexists(same) and leftovers(tmp_path) == []


def test_a_snapshots_folder_left_empty_is_not_kept(images, tmp_path, capsys, monkeypatch):
    """Stopped before the first snapshot (Ctrl-C, or an error after the outputs were
    checked), the run left the folder it had made, empty."""
    content, style = images
    from painterly import methods

    for stop in (KeyboardInterrupt, UsageError("refused")):
        def stopped(*a, _stop=stop, **k):
            raise _stop

        monkeypatch.setattr(methods, "for_options", stopped)
        snaps, kept = tmp_path / "new" / "snaps", tmp_path / "kept"
        kept.mkdir(exist_ok=True)
        for folder in (snaps, kept):
            code = cli.main(["stylize", str(content), str(style), *FAST, "-o",
                             str(tmp_path / f"{folder.name}.png"), "--snapshots", str(folder)])
            assert code != 0
        assert not snaps.exists() and kept.is_dir()  # made by the run: gone; given: kept
    capsys.readouterr()


def test_long_names_get_short_temporary_names(tmp_path):
    name = "y" * 250 + ".png"
    assert len(temp_prefix(name)) <= 42
    check_output(tmp_path / name)
    out = save_result(Image.new("RGB", (4, 4)), tmp_path / name)
    assert out.is_file() and leftovers(tmp_path) == []


def test_a_failed_final_write_keeps_the_result(tmp_path, monkeypatch):
    import painterly.paths as paths

    monkeypatch.setattr(paths.tempfile, "gettempdir", lambda: str(tmp_path / "rescue"))
    (tmp_path / "rescue").mkdir()
    target = tmp_path / "gone" / "out.png"  # the folder vanished during the run
    with pytest.raises(ImageError, match="saved to .*rescue") as info:
        save_result(Image.new("RGB", (6, 5), "red"), target)
    rescued = Path(str(info.value).rsplit("saved to ", 1)[1].split(" instead")[0])
    with Image.open(rescued) as im:
        assert im.size == (6, 5)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_and_unreadable_inputs(tmp_path, tiny_weights):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(fifo)
    from painterly.errors import WeightsError
    from painterly.weights import load_weights

    with pytest.raises(WeightsError, match="not a regular file"):
        load_weights(fifo)
    if os.geteuid() != 0:  # root may search any folder
        locked = tmp_path / "locked"
        locked.mkdir()
        (locked / "a.png").write_bytes(b"x")
        locked.chmod(0)
        try:
            with pytest.raises(ImageError, match="cannot reach|permission"):
                load_image(locked / "a.png")
        finally:
            locked.chmod(0o755)


def test_a_big_non_image_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.png"
    with open(big, "wb") as fh:  # 1 GB, sparse: nothing is really written
        fh.write(b"not an image at all")
        fh.truncate(2**30)
    t0 = time.perf_counter()
    with pytest.raises(ImageError, match="not an image"):
        load_image(big)
    assert time.perf_counter() - t0 < 2.0


def test_bad_weights_message_is_cut_at_a_word():
    e = RuntimeError("PytorchStreamReader failed reading zip archive: failed finding "
                     "central directory. This is an internal miniz error. If you see this "
                     "in the wild please report it.")
    assert short_reason(e) == "PytorchStreamReader failed reading zip archive"
    long = RuntimeError("word " * 60)
    assert short_reason(long).endswith("word ...")


# --- sweeps --------------------------------------------------------------------------------

@pytest.mark.parametrize("vary,words", [
    ("init=content;nope.png", "nope.png: no such file"),
    ("style-layers=relu1_1;relu9_9", "relu9_9"),
    ("seed=1,1e30", "above the maximum"),
    ("style-weight=1,inf", "not a finite number"),
])
def test_sweeps_check_every_combination_first(vary, words, images, tmp_path, tiny, capsys,
                                              monkeypatch):

    monkeypatch.setenv("PAINTERLY_WEIGHTS", tiny)
    from painterly.optimise.stylizer import Stylizer

    monkeypatch.setattr(Stylizer, "picture", lambda *a, **k: pytest.fail("a run started"))
    content, style = images
    out = tmp_path / "study"
    assert cli.main(["sweep", str(content), str(style), "-o", str(out), "--vary", vary,
                     *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not out.exists()


# --- signals -------------------------------------------------------------------------------

def _wait_for(cond, proc, timeout=60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_a_run_writes_the_current_image(sig, status, images, tmp_path, cli_env):
    content, style = images
    out, snaps = tmp_path / "out.png", tmp_path / "snaps"
    proc = subprocess.Popen(
        [sys.executable, "-m", "painterly", "stylize", str(content), str(style), "-o",
         str(out), "--size", "32", "--steps", "100000", "--scales", "1", "-q",
         "--save-every", "1", "--snapshots", str(snaps)],
        env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (snaps / "step_00002.png").exists(), proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert "Traceback" not in err and "wrote the current image" in err
    with Image.open(out) as im:
        assert im.size == (32, 26)
    assert leftovers(tmp_path) == []


def test_a_signal_while_the_folder_is_probed_leaves_no_temporary_file(tmp_path, monkeypatch):
    """Every save checks its folder by creating and removing the temporary file it would use;
    a signal between the two (a run interrupted as it saves a snapshot) must not leave it."""
    import tempfile

    from painterly import paths, signals

    real = tempfile.mkstemp

    def signalled(*args, **kwargs):  # the signal arrives just after the file is created
        made = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return made

    monkeypatch.setattr(paths.tempfile, "mkstemp", signalled)
    with signals.catch() as caught, pytest.raises(KeyboardInterrupt):
        check_output(tmp_path / "step_00003.png")
    assert caught.received == signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_ctrl_c_during_start_up_is_one_line(images, tmp_path, cli_env):
    content, style = images
    proc = subprocess.Popen(
        [sys.executable, "-m", "painterly", "stylize", str(content), str(style), "-o",
         str(tmp_path / "o.png"), *FAST], env=cli_env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    maps = Path(f"/proc/{proc.pid}/maps")

    def importing_torch() -> bool:
        try:
            return "libtorch" in maps.read_text()
        except OSError:
            return False

    _wait_for(importing_torch, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:  # the whole run was quicker than the signal: nothing to check
        pytest.skip("the run ended before the signal arrived")
    assert proc.returncode == 130, err
    assert err.strip() and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert leftovers(tmp_path) == []


# --- serve ---------------------------------------------------------------------------------

def test_serve_on_a_taken_port_says_so_first(tmp_path, cli_env):
    pytest.importorskip("uvicorn", reason="the web extras are not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        proc = run_cli(["serve", "--port", port, "--data-dir", tmp_path / "d", "--device",
                        "cpu"], cli_env, timeout=60)
    one_line_error(proc, f"port {port} on 127.0.0.1 is taken")
    assert "studio:" not in proc.stdout + proc.stderr


def test_cli_runs_are_clean(images, tmp_path, cli_env):
    """A normal run through the real entry point leaves only what was asked for."""
    content, style = images
    proc = run_cli(["stylize", content, style, "-o", tmp_path / "o.png", "--log",
                    tmp_path / "l.csv", *FAST], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.png").is_file() and (tmp_path / "l.csv").is_file()
    assert leftovers(tmp_path) == []
    assert ROOT.is_dir()
