"""Batches and database builds on a local Ray instance (``--ray auto``), against the same work
run in one process: the same files, every photo accounted for, and a worker killed with
SIGKILL mid-photo costs a retry, never a result or a half-written folder.

Each command runs in a subprocess, as a user runs it: Ray starts and stops its own processes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")]

FACETEX = [sys.executable, "-c", "import sys; from facetex.cli import main; sys.exit(main())"]
# Quick settings: 64² albedo, 3 L-BFGS iterations (the pipeline is exercised, not the quality).
FAST = ["--size", "64", "--iterations", "3", "-q"]
PERSONS = ("003", "004")  # not in the session's small database (001, 002)


def _facetex(*args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([*FACETEX, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "RAY_DISABLE_IMPORT_WARNING": "1"})


def _photos(shared_data: Path) -> list[str]:
    return [str(shared_data / "london" / "neutral" / f"{p}_03.jpg") for p in PERSONS]


def _albedo_bytes(folder: Path) -> bytes:
    return (folder / "albedo.png").read_bytes()


def _leftovers(folder: Path) -> list[str]:
    """Temporary folders of the atomic writer (``.NAME.XXXX.tmp`` / ``.old``) under ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def sequential(small_database, shared_data, tmp_path_factory) -> Path:
    """The two photos run one after another in one process, one thread."""
    out = tmp_path_factory.mktemp("sequential") / "out"
    run = _facetex("infer", *_photos(shared_data), "--db", str(small_database), "-o", str(out), "--threads", "1",
                   *FAST)
    assert run.returncode == 0, run.stderr
    return out


def test_ray_batch_writes_the_same_results_as_the_sequential_run(sequential, small_database, shared_data, tmp_path):
    out = tmp_path / "out"
    run = _facetex("infer", *_photos(shared_data), "--db", str(small_database), "-o", str(out), "--ray", "auto", *FAST)
    assert run.returncode == 0, run.stderr
    assert "2 of 2 photos done" in run.stdout
    for person in PERSONS:
        name = f"{person}_03"
        assert _albedo_bytes(out / name) == _albedo_bytes(sequential / name), f"{name} differs from sequential"
        assert (out / name / "face.glb").read_bytes() == (sequential / name / "face.glb").read_bytes()
    summary = json.loads((out / "summary.json").read_text())
    workers = min(2, os.cpu_count() or 1)  # one thread each
    assert summary["engine"] == "ray" and summary["workers"] == workers and summary["threads_per_worker"] == 1
    assert [j["status"] for j in summary["jobs"]] == ["done", "done"]
    assert len({j["worker"] for j in summary["jobs"]}) == workers, "the photos ran on every worker"
    assert _leftovers(out) == []

    again = _facetex("infer", *_photos(shared_data), "--db", str(small_database), "-o", str(out), "--ray", "auto",
                     "--resume", *FAST)
    assert again.returncode == 0, again.stderr
    assert "already done" in again.stdout
    assert _albedo_bytes(out / f"{PERSONS[0]}_03") == _albedo_bytes(sequential / f"{PERSONS[0]}_03")


def _descends_from(pid: int, ancestor: int) -> bool:
    """Whether process ``pid`` is ``ancestor`` or one of its descendants (Linux /proc)."""
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: the parent
    return False


def _running_worker(driver: int, started: float, limit: float) -> int | None:
    """The pid of a Ray worker of ``driver``'s local instance that is running a photo (its
    title is ``ray::RayPhotoWorker.run``), waiting up to ``limit`` seconds."""
    while time.monotonic() - started < limit:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].strip()
            except OSError:
                continue
            if title.startswith(b"ray::RayPhotoWorker.run") and _descends_from(int(entry.name), driver):
                return int(entry.name)
        time.sleep(0.05)
    return None


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc to find the worker")
def test_a_worker_killed_mid_photo_is_replaced_and_its_photo_retried(sequential, small_database, shared_data,
                                                                    tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen([*FACETEX, "infer", *_photos(shared_data), "--db", str(small_database), "-o", str(out),
                                "--ray", "auto", *FAST], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        victim = _running_worker(process.pid, time.monotonic(), limit=300)
        assert victim is not None, "no Ray worker started a photo"
        time.sleep(1.0)  # well inside the photo: detection and fitting take seconds
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=400)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "a worker died on" in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [j["status"] for j in summary["jobs"]] == ["done", "done"]
    attempts = sorted(j["attempts"] for j in summary["jobs"])
    assert attempts == [1, 2], f"one photo retried once: {attempts}"
    retried = next(j for j in summary["jobs"] if j["attempts"] == 2)
    assert not retried["worker"].endswith(f":{victim}"), "the retry ran on another worker"
    assert _leftovers(out) == [], "no partial output remains"
    assert sorted(p.name for p in out.iterdir()) == [f"{p}_03" for p in PERSONS] + ["summary.json"]
    for person in PERSONS:  # the retried photo's result is the one it would have had
        name = f"{person}_03"
        assert _albedo_bytes(out / name) == _albedo_bytes(sequential / name)


def test_ray_database_build_writes_the_same_database(built, small_config, tmp_path):
    from facetex.config import config_to_dict

    summary, reference, _, sources = built
    config = tmp_path / "config.json"
    config.write_text(json.dumps(config_to_dict(small_config)))
    out = tmp_path / "ray.h5"
    run = _facetex("build-db", *(str(s.path) for s in sources), "-o", str(out), "--config", str(config),
                   "--work-dir", str(tmp_path / "work"), "--ray", "auto", "-q")
    assert run.returncode == 0, run.stderr
    assert "4/4 photos" in run.stdout
    with h5py.File(reference) as a, h5py.File(out) as b:
        names: dict[str, list[str]] = {"a": [], "b": []}
        for key, file in (("a", a), ("b", b)):
            file.visit(lambda name, f=file, k=key: names[k].append(name) if isinstance(f[name], h5py.Dataset) else None)
        assert names["a"] == names["b"]
        numeric = [n for n in names["a"] if a[n].dtype.kind in "fiu"]
        assert len(numeric) > 20
        for name in numeric:  # the same fits, textures, Grams and models (float noise allowed)
            x, y = a[name][()], b[name][()]
            if x.dtype.kind == "u":
                assert np.abs(x.astype(int) - y.astype(int)).max(initial=0) <= 1, name
            else:
                np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_worker_that_cannot_set_up_is_one_clear_error(shared_data, tmp_path):
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 4096)
    out = tmp_path / "out"
    run = _facetex("infer", *_photos(shared_data), "--db", str(damaged), "-o", str(out), "--ray", "auto", *FAST)
    assert run.returncode == 2
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("facetex: error: a Ray worker") and "could not set itself up" in last and "damaged.h5" in last
    assert not out.exists()
