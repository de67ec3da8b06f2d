"""Atomic writers never lose a file facetex did not write (issue 15, "Data loss").

Real folders in tmp_path: a folder facetex did not write is never replaced, a file is never
turned into a folder, root/home/the current folder are refused, an unwritable place is found
before any work, and the temporary folder of a killed run is removed by the next run.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from facetex.errors import OutputError
from facetex.io.atomic import (
    RESULT_MARKER,
    atomic_dir,
    atomic_path,
    check_output_dir,
    is_facetex_result,
    remove_stale_temporaries,
)
from facetex.io.atomic import _host  # the marker's host id, to fake a killed run's folder


def _write_result(path: Path, text: str = "new", **kwargs) -> None:
    with atomic_dir(path, **kwargs) as tmp:
        (tmp / "albedo.png").write_text(text)


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def _checkout(folder: Path) -> Path:
    """A folder facetex did not write: a small 'git checkout'."""
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "README.md").write_text("my project\n")
    return folder


def test_a_result_folder_is_marked_and_replaced_only_with_overwrite(tmp_path):
    out = tmp_path / "out"
    _write_result(out, "first")
    assert is_facetex_result(out)
    owner = json.loads((out / RESULT_MARKER).read_text())
    assert owner["written_by"] == "facetex" and owner["pid"] == os.getpid()
    with pytest.raises(OutputError, match="earlier facetex result.*--overwrite"):
        _write_result(out, "second", overwrite=False)
    assert (out / "albedo.png").read_text() == "first"
    _write_result(out, "second", overwrite=True)
    assert (out / "albedo.png").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary or backup left


def test_an_empty_folder_is_filled(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    _write_result(out, overwrite=False)
    assert is_facetex_result(out) and (out / "albedo.png").read_text() == "new"


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_facetex_did_not_write_is_never_replaced(tmp_path, overwrite):
    repo = _checkout(tmp_path / "repo")
    before = _snapshot(repo)
    with pytest.raises(OutputError, match="did not write"):
        _write_result(repo, overwrite=overwrite)
    with pytest.raises(OutputError, match="did not write"):
        check_output_dir(repo, overwrite=overwrite)
    assert _snapshot(repo) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]


def test_a_file_is_never_replaced_by_a_folder(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="not a folder"):
            _write_result(target, overwrite=overwrite)
    assert target.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no .notes.txt.old


def test_a_symbolic_link_is_refused(tmp_path):
    real = tmp_path / "real"
    _write_result(real, "first")
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(OutputError, match="symbolic link"):
        _write_result(link, overwrite=True)
    assert link.is_symlink() and (real / "albedo.png").read_text() == "first"


def test_root_home_and_the_current_folder_are_never_replaced(tmp_path, monkeypatch):
    home = tmp_path / "home"
    work = home / "project" / "work"
    _write_result(work, "a result in the current folder")  # even a facetex result is refused
    (home / "project" / "data.txt").write_text("keep")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    before = _snapshot(tmp_path)
    for target in (".", "..", "../..", str(home), "~", "/", str(work), "sub/.."):
        target = os.path.expanduser(target)
        with pytest.raises(OutputError, match="never replaces"):
            _write_result(Path(target), overwrite=True)
        with pytest.raises(OutputError, match="never replaces"):
            check_output_dir(target, overwrite=True)
    assert _snapshot(tmp_path) == before


def _unwritable_place(tmp_path: Path) -> Path:
    """An output inside a folder this process cannot create folders in (even as root)."""
    if os.geteuid() == 0:
        return Path("/proc/facetex-test-output")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked / "out"


def test_an_unwritable_output_is_found_up_front(tmp_path):
    out = _unwritable_place(tmp_path)
    with pytest.raises(OutputError, match="cannot write"):
        check_output_dir(out)
    with pytest.raises(OutputError, match="cannot write"):
        _write_result(out)
    assert not out.exists()


def test_the_up_front_check_creates_nothing(tmp_path):
    check_output_dir(tmp_path / "new" / "deeper" / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_file_output_onto_a_folder_is_refused(tmp_path):
    folder = _checkout(tmp_path / "sheet.png")
    with pytest.raises(OutputError, match="is a folder"), atomic_path(folder) as tmp:
        tmp.write_text("x")
    assert (folder / "README.md").read_text() == "my project\n"


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from facetex.io.atomic import atomic_dir

    with atomic_dir(Path(sys.argv[1])) as tmp:
        (tmp / "albedo.png").write_text("half")
        print(tmp, flush=True)
        time.sleep(60)
    """
)


def _killed_writer(out: Path) -> Path:
    """Start a writer, SIGKILL it during its final write; the temporary folder it leaves."""
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(out)], stdout=subprocess.PIPE, text=True)
    tmp = Path(proc.stdout.readline().strip())
    proc.kill()
    proc.wait()
    proc.stdout.close()
    assert tmp.is_dir() and tmp.name.startswith(f".{out.name}.") and tmp.name.endswith(".tmp")
    return tmp


def _marked(folder: Path, pid: int, host: str | None = None) -> Path:
    folder.mkdir()
    (folder / RESULT_MARKER).write_text(json.dumps({"pid": pid, "host": host or _host()}))
    (folder / "data.txt").write_text("keep")
    return folder


def test_a_later_run_removes_the_temporary_folder_of_a_killed_run(tmp_path):
    out = tmp_path / "out"
    stale = _killed_writer(out)
    # siblings that look alike but are not a killed facetex run's: all must stay
    unmarked = tmp_path / ".out.mine.tmp"
    unmarked.mkdir()
    (unmarked / "data.txt").write_text("keep")
    live = _marked(tmp_path / ".out.live.tmp", os.getppid())  # a running process
    elsewhere = _marked(tmp_path / ".out.remote.tmp", 999_999_999, host="another-host")
    other_name = _marked(tmp_path / ".other.dead.tmp", 999_999_999)
    keep = {p.name for p in (unmarked, live, elsewhere, other_name)}

    check_output_dir(out)
    assert not stale.exists()
    assert {p.name for p in tmp_path.iterdir()} == keep
    _write_result(out)
    assert {p.name for p in tmp_path.iterdir()} == keep | {"out"}
    assert all((tmp_path / name / "data.txt").read_text() == "keep" for name in keep)


def test_a_result_moved_aside_by_a_killed_run_is_put_back(tmp_path):
    out = tmp_path / "out"
    backup = _marked(tmp_path / ".out.abc123.old", 999_999_999)  # killed between the two renames
    assert remove_stale_temporaries(out) == [backup]
    assert (out / "data.txt").read_text() == "keep" and not backup.exists()


_CLI_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from facetex import cli
    from facetex.io import atomic

    real = atomic._move_into_place

    def slow(tmp, path, overwrite):  # a final write that takes a while
        print("writing", flush=True)
        time.sleep(60)
        real(tmp, path, overwrite)

    atomic._move_into_place = slow
    sys.exit(cli.main(["fit", "-o", sys.argv[1], "--uv-size", "32"]))
    """
)


def test_sigterm_during_the_final_write_leaves_nothing(tmp_path):
    """`facetex` handles SIGTERM like Ctrl-C: the temporary folder is removed, status 143."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CLI_WRITER, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "writing"
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1] == "facetex: terminated"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_is_an_output_error_and_leaves_nothing(tmp_path, code):
    """Library callers get OutputError (one line), not a raw OSError, and no partial output."""
    def fail(_):
        raise OSError(code, os.strerror(code))

    with pytest.raises(OutputError, match="nothing was written"):
        with atomic_dir(tmp_path / "out") as tmp:
            fail(tmp)
    with pytest.raises(OutputError, match="nothing was written"):
        with atomic_path(tmp_path / "file.png") as tmp:
            fail(tmp)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError):  # other errors pass through unchanged
        with atomic_dir(tmp_path / "out") as tmp:
            raise FileNotFoundError(errno.ENOENT, "input missing")
