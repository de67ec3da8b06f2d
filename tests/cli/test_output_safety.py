"""`-o` never loses a user's files (issue 15, "Data loss"), on real folders in tmp_path.

The refusals come before any slow work: the infer cases give a database that does not exist,
so an error naming the output (not the database) shows the output was checked first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from facetex.cli import main
from facetex.io.atomic import RESULT_MARKER


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _checkout(folder: Path) -> Path:
    (folder / ".git" / "refs").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "README.md").write_text("my project\n")
    return folder


def _error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines and lines[-1].startswith("facetex: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[-1]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_fit_never_replaces_a_folder_it_did_not_write(tmp_path, capsys, overwrite):
    repo = _checkout(tmp_path / "repo")
    before = _files(repo)
    assert main(["fit", "-o", str(repo), "--uv-size", "32", *overwrite]) == 2
    assert "did not write" in _error(capsys)
    assert _files(repo) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]


def test_fit_refuses_a_file_like_infer(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    for argv in (["fit", "-o", str(target), "--uv-size", "32", "--overwrite"],
                 ["infer", "-o", str(target), "--db", str(tmp_path / "none.h5"), "--overwrite"]):
        assert main(argv) == 2
        assert "not a folder" in _error(capsys)
    assert target.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no .notes.txt.old


@pytest.mark.parametrize("target", [".", "..", "~", "/"])
def test_the_current_folder_home_and_root_are_refused(tmp_path, capsys, monkeypatch, target):
    home = tmp_path / "home"
    work = _checkout(home / "work")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    before = _files(tmp_path)
    for command in ("fit", "infer"):
        argv = [command, "-o", os.path.expanduser(target), "--overwrite"]
        if command == "infer":
            argv += ["--db", str(tmp_path / "none.h5")]
        assert main(argv) == 2
        assert "never replaces" in _error(capsys)
    assert _files(tmp_path) == before


def test_infer_keeps_the_files_of_an_existing_out_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("years of work")
    for overwrite in ([], ["--overwrite"]):  # the default -o is ./out
        assert main(["infer", "--db", str(tmp_path / "none.h5"), *overwrite]) == 2
        assert "out is a folder facetex did not write" in _error(capsys)
    assert _files(tmp_path / "out") == {"thesis.tex": b"years of work"}


def test_a_batch_refuses_before_work_when_a_photo_folder_is_taken(tmp_path, capsys, london_neutral):
    out = tmp_path / "out"
    (out / london_neutral[1].stem).mkdir(parents=True)
    (out / london_neutral[1].stem / RESULT_MARKER).write_text("{}")  # an earlier result
    argv = ["infer", str(london_neutral[0]), str(london_neutral[1]), "--db", str(tmp_path / "none.h5"),
            "-o", str(out)]
    assert main(argv) == 2
    message = _error(capsys)
    assert "earlier facetex result" in message and "--overwrite" in message and "none.h5" not in message
    assert _files(out) == {f"{london_neutral[1].stem}/{RESULT_MARKER}": b"{}"}


def test_fit_replaces_its_own_result_only_with_overwrite(tmp_path, capsys, london_neutral):
    out = tmp_path / "fit"
    argv = ["fit", str(london_neutral[1]), "-o", str(out), "--uv-size", "32"]
    assert main(argv) == 0
    (out / "fit.json").write_text("an earlier run")
    assert main(argv) == 2
    assert "--overwrite" in _error(capsys)
    assert (out / "fit.json").read_text() == "an earlier run"
    assert main([*argv, "--overwrite"]) == 0
    assert (out / "fit.json").read_text() != "an earlier run" and (out / RESULT_MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit"]


def _unwritable(tmp_path: Path) -> Path:
    """A folder in which nothing can be created, even by root (who may write anywhere but /proc)."""
    if os.geteuid() == 0:
        return Path("/proc/facetex-test")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    return locked


def test_an_unwritable_output_fails_before_the_work(tmp_path, capsys):
    out = _unwritable(tmp_path) / "out"
    assert main(["infer", "--db", str(tmp_path / "none.h5"), "-o", str(out)]) == 2
    message = _error(capsys)
    assert "cannot write" in message and "none.h5" not in message
    assert main(["fit", "-o", str(out), "--uv-size", "32"]) == 2
    assert "cannot write" in _error(capsys)
    assert not out.exists()


def test_render_without_mitsuba_fails_before_the_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mitsuba", None)  # as a plain `pip install facetex`
    monkeypatch.setitem(sys.modules, "drjit", None)
    out = tmp_path / "out"
    assert main(["infer", "--render", "--db", str(tmp_path / "none.h5"), "-o", str(out)]) == 2
    message = _error(capsys)
    assert "mitsuba" in message.lower() and "none.h5" not in message
    assert list(tmp_path.iterdir()) == []


def test_synthesize_refuses_a_folder_or_an_unwritable_place_before_the_work(tmp_path, capsys):
    folder = _checkout(tmp_path / "albedo.png")
    missing = tmp_path / "missing.png"  # were the inputs read first, the error would name it
    argv = ["synthesize", "--init", str(missing), "--partial", str(missing), "--mask", str(missing),
            "--exemplars", str(tmp_path)]
    assert main([*argv, "-o", str(folder)]) == 2
    assert "is a folder" in _error(capsys)
    assert _files(folder) == {".git/HEAD": b"ref: refs/heads/main\n", "README.md": b"my project\n"}
    assert main([*argv, "-o", str(_unwritable(tmp_path) / "albedo.png")]) == 2
    message = _error(capsys)
    assert "cannot write" in message and "missing.png" not in message


def test_batch_folder_names_are_distinct():
    from facetex.outputs import result_folder_names

    photos = ["a/good.jpg", "b/good.jpg", "c/Good.png", "good-2.jpg", None]
    assert result_folder_names(photos) == ["good", "good-2", "Good-3", "good-2-2", "astronaut"]
    # the batch's summary file is never a photo's folder
    assert result_folder_names(["x/Summary.json.png"], reserved=("summary.json",)) == ["Summary.json-2"]
