"""Long and interrupted runs: every OS process that Lava starts ends, on success, on an exception
mid-run and on Ctrl-C; nothing is half-written."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from lmuneuro.artifact import read_artifact
from lmuneuro.backends.lava import network
from lmuneuro.compile.convert import convert
from lmuneuro.data import get_dataset


@pytest.fixture(scope="module")
def digits_artifact(digits_checkpoint, tmp_path_factory):
    path = tmp_path_factory.mktemp("reliability") / "model.h5"
    convert(digits_checkpoint, path, target="loihi2")
    return path


def _children() -> set:
    """This process's children, less multiprocessing's resource tracker (one per Python process,
    started with the first shared memory, it ends with its parent)."""
    return {
        p.pid
        for p in psutil.Process().children(recursive=True)
        if "multiprocessing.resource_tracker" not in " ".join(p.cmdline())
    }


def test_lava_runs_in_chunks_and_every_process_ends(digits_artifact):
    net = read_artifact(digits_artifact)
    x = get_dataset("digits", "test").tensors[0].numpy()[:5]
    before = _children()
    whole = network.run(net, x, record=True)
    chunked = network.run(net, x, record=True, chunk=2)  # three graphs, one after the other
    assert _children() == before
    assert np.array_equal(whole.logits, chunked.logits)
    assert all(
        np.array_equal(whole.spike_counts[n], chunked.spike_counts[n]) for n in whole.spike_counts
    )
    with pytest.raises(ValueError, match="nothing to run: 0 samples"):
        network.run(net, x[:0])


def test_an_exception_mid_run_ends_every_process(digits_artifact, monkeypatch):
    from lava.magma.core.process.process import AbstractProcess

    net = read_artifact(digits_artifact)
    x = get_dataset("digits", "test").tensors[0].numpy()[:4]
    real_run, calls = AbstractProcess.run, []

    def failing_run(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("injected failure in the second sample")
        return real_run(self, *a, **k)

    monkeypatch.setattr(AbstractProcess, "run", failing_run)
    before = _children()
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="injected failure"):
        network.run(net, x)
    assert time.monotonic() - t0 < 60
    assert _children() == before


@pytest.mark.parametrize("moment", ["start-up", "mid-run"])
def test_ctrl_c_ends_the_run_and_all_of_lavas_processes(digits_artifact, tmp_path, moment):
    """As a terminal does: SIGINT to the whole process group, while Lava forks its actors or
    once the samples are running."""
    activity = tmp_path / "run.json"
    cmd = [
        str(Path(sys.executable).parent / "lmuneuro"),
        "run",
        str(digits_artifact),
        "--backend",
        "lava-sim",
        "--dataset",
        "digits",
        "--activity",
        str(activity),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    session = proc.pid
    try:
        deadline = time.monotonic() + 120
        # the resource tracker and the shared-memory manager come first, then one actor per process
        while len(_session(session)) < (3 if moment == "start-up" else 30):
            assert time.monotonic() < deadline, "the Lava run did not start within 120 s"
            time.sleep(0.05)
        if moment == "mid-run":
            time.sleep(2.0)
        os.killpg(session, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(session, signal.SIGKILL)
    assert proc.returncode == 130
    lines = [
        line
        for line in err.replace("\r", "\n").splitlines()
        if line.strip() and "lava-sim:" not in line
    ]
    assert lines == ["lmuneuro run: interrupted"], err[-2000:]
    assert not activity.exists()
    deadline = time.monotonic() + 10  # the resource tracker ends once it sees its parent gone
    while _session(session) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session(session) == [], "processes left behind"


def _session(sid: int) -> list:
    """Live processes of a session (zombies are gone, only not yet reaped)."""
    out = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            pass
    return out


def test_train_interrupted_by_ctrl_c_resumes_without_losing_epochs(tmp_path):
    """Ctrl-C in the middle of an epoch: exit 130, the checkpoint of the last finished epoch
    intact, and --resume continues from it and ends where an uninterrupted run does."""
    import torch

    from lmuneuro.checkpoint import load_checkpoint

    lmuneuro = str(Path(sys.executable).parent / "lmuneuro")
    out = tmp_path / "model.pt"
    args = [
        "train",
        "--preset",
        "spiking-lmuformer-digits",
        "--dataset",
        "digits",
        "--batch-size",
        "16",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        [lmuneuro, *args, "-o", str(out), "--epochs", "40"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not out.exists():  # the first epoch has been written
            assert time.monotonic() < deadline and proc.poll() is None, "no checkpoint within 300 s"
            time.sleep(0.05)
        time.sleep(1.0)  # into a later epoch
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert (
        proc.returncode == 130 and err.strip().splitlines()[-1] == "lmuneuro train: interrupted"
    ), err[-2000:]
    finished = [r["epoch"] for r in load_checkpoint(out).metrics["history"]]
    assert finished and finished == list(range(1, len(finished) + 1)) and finished[-1] < 40
    assert not [p for p in tmp_path.iterdir() if p.name != "model.pt"], (
        "a temporary file was left behind"
    )
    target = finished[-1] + 1
    resumed = subprocess.run(
        [lmuneuro, *args, "-o", str(out), "--epochs", str(target), "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    history = load_checkpoint(out).metrics["history"]
    assert [r["epoch"] for r in history] == list(range(1, target + 1))
    straight = tmp_path / "straight.pt"
    assert (
        subprocess.run(
            [lmuneuro, *args, "-o", str(straight), "--epochs", str(target)],
            capture_output=True,
            timeout=300,
        ).returncode
        == 0
    )
    a, b = load_checkpoint(straight).model.state_dict(), load_checkpoint(out).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_write_output_is_whole_or_nothing(tmp_path, monkeypatch):
    """A finished write replaces the file; an interrupted one (Ctrl-C at the last moment, a full
    disk) leaves the old file as it was, no temporary file and no folder it created."""
    from lmuneuro import files

    out = tmp_path / "a" / "b" / "out.bin"
    files.write_output(out, b"first")
    assert out.read_bytes() == b"first" and list(out.parent.iterdir()) == [out]

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        files.write_output(out, b"second")
    assert out.read_bytes() == b"first" and list(out.parent.iterdir()) == [out]
    with pytest.raises(KeyboardInterrupt):
        files.write_output(tmp_path / "new" / "deeper" / "x.bin", b"x")
    assert not (tmp_path / "new").exists()

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(
        files.OutputError, match=r"^cannot write .*out\.bin: No space left on device$"
    ):
        files.write_output(out, b"third")
    assert out.read_bytes() == b"first" and list(out.parent.iterdir()) == [out]


def test_check_output_refuses_what_would_destroy_an_input(tmp_path):
    from lmuneuro.files import OutputError, check_output

    src, data = tmp_path / "in.pt", tmp_path / "data"
    src.write_bytes(b"x")
    data.mkdir()
    (data / "train.npz").write_bytes(b"y")
    (tmp_path / "link.pt").symlink_to(src)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for out, message in [
        (src, "is an input of this command"),
        (tmp_path / "link.pt", "is an input of this command"),
        (tmp_path / ".." / tmp_path.name / "in.pt", "is an input of this command"),
        (data / "train.npz", "is an input of this command"),
        (data, "is a directory"),
        (tmp_path / "dangling", "is a broken link"),
        (src / "x.h5", "is not a directory"),
    ]:
        with pytest.raises(OutputError, match=message):
            check_output(out, [src, data])
    check_output(data / "new.pt", [src, data])  # a new file beside the data is fine
    check_output(tmp_path / "missing" / "parent" / "out.h5", [src])  # created by the write
    with pytest.raises(OutputError, match="is not a directory; give a folder"):
        check_output(src, [], directory=True)
