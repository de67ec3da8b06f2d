"""Issue 15, "tracebacks instead of `facetex: error:` and status 2": every bad input, bad
setting and failing disk is one line on stderr and exit status 2, found before the slow work,
leaving nothing behind."""

from __future__ import annotations

import errno

import pytest

from facetex.cli import build_parser, main


def _one_error_line(captured, *needles: str) -> str:
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("facetex: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in captured.out + captured.err
    return lines[0]


def _status(argv: list[str]) -> int:
    """main's exit status, whether the parser exits or the handler returns."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize(
    ("command", "flags", "needle"),
    [
        ("infer", ["--size", "100000"], "--size"),
        ("infer", ["--size", "7"], "--size"),
        ("infer", ["--face", "-1"], "--face"),
        ("infer", ["--alpha", "inf"], "--alpha"),
        ("infer", ["--alpha", "nan"], "--alpha"),
        ("infer", ["--iterations", "1000000000000"], "iterations"),
        ("infer", ["--bogus"], "--bogus"),
        ("evaluate", ["--size", "100000"], "--size"),
        ("evaluate", ["--subjects", "0"], "--subjects"),
        ("evaluate", ["--iterations", "-3"], "--iterations"),
        ("evaluate", ["--blur-fraction", "nan"], "--blur-fraction"),
        ("evaluate", ["--paper-iterations", "1e12"], "--paper-iterations"),
    ],
)
def test_bad_flags_fail_at_once_on_one_line(tmp_path, capsys, command, flags, needle):
    """The database does not exist: a flag error that names the flag, not the database, was
    found before any work."""
    assert _status([command, "--db", str(tmp_path / "none.h5"), "-o", str(tmp_path / "out"), *flags]) == 2
    _one_error_line(capsys.readouterr(), needle)
    assert not (tmp_path / "out").exists()


def test_a_parser_error_is_one_line(capsys):
    assert _status([]) == 2
    _one_error_line(capsys.readouterr(), "COMMAND")
    assert _status(["fit", "-o"]) == 2
    _one_error_line(capsys.readouterr(), "-o", "facetex fit --help")


SETTINGS = {
    "schedule.toml": ("[texture]\nschedule = [[64, 1e9]]\n", "texture.schedule"),
    "steps.toml": ("[fit]\nsteps = [-1, 0, 3]\n", "fit.steps"),
    "unwrap.toml": ("[unwrap]\nresolution = 7\n", "unwrap.resolution"),
    "alpha.toml": ("[texture]\nalpha = inf\n", "texture.alpha"),
    "visibility.toml": ("[fit.visibility]\nmin_cos_view = 2\n", "fit.visibility.min_cos_view"),
    "bool.toml": ("[detect]\nmax_faces = true\n", "detect.max_faces"),
    "types.toml": ("[fit]\nsteps = ['a']\n", "fit.steps[0]"),
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_bad_settings_files_name_the_field(tmp_path, capsys, name):
    text, field = SETTINGS[name]
    path = tmp_path / name
    path.write_text(text)
    assert _status(["infer", "--config", str(path), "-o", str(tmp_path / "out")]) == 2
    _one_error_line(capsys.readouterr(), field)
    assert not (tmp_path / "out").exists()


def test_a_settings_file_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes("# café\n[texture]\nalpha = 5\n".encode("latin-1"))
    assert _status(["infer", "--config", str(path), "-o", str(tmp_path / "out")]) == 2
    _one_error_line(capsys.readouterr(), "not UTF-8", "0xe9")


def test_verbose_goes_before_or_after_the_subcommand():
    parser = build_parser()
    assert parser.parse_args(["-v", "infer"]).verbose is True
    assert parser.parse_args(["infer", "-v", "photo.jpg"]).verbose is True
    assert parser.parse_args(["db-info", "--verbose", "x.h5"]).verbose is True
    assert parser.parse_args(["infer", "photo.jpg"]).verbose is False


def test_a_symlink_loop_is_named_as_such(tmp_path, capsys):
    (tmp_path / "a.jpg").symlink_to(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    assert _status(["fit", str(tmp_path / "a.jpg"), "-o", str(tmp_path / "out")]) == 2
    line = _one_error_line(capsys.readouterr(), "symbolic link loop")
    assert "no such file" not in line
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "missing.jpg")
    assert _status(["fit", str(tmp_path / "dangling.jpg"), "-o", str(tmp_path / "out")]) == 2
    _one_error_line(capsys.readouterr(), "missing.jpg", "does not exist")
    assert not (tmp_path / "out").exists()


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_fit_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, capsys, london_neutral, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image.Image, "save", _disk_full)  # the disk fills at the first PNG
    out = tmp_path / "out"
    assert _status(["fit", str(london_neutral[1]), "-o", str(out), "--uv-size", "64"]) == 2
    _one_error_line(capsys.readouterr(), str(out), "No space left on device")
    assert list(tmp_path.iterdir()) == []  # no folder, no temporary sibling


def test_db_info_sheet_checks_its_path_and_sizes_first(tmp_path, capsys):
    folder = tmp_path / "sheets"
    folder.mkdir()
    missing_db = str(tmp_path / "none.h5")  # the path is checked before the database is read
    assert _status(["db-info", missing_db, "-o", str(folder)]) == 2
    _one_error_line(capsys.readouterr(), "is a folder")
    assert _status(["db-info", missing_db, "-o", str(tmp_path / "no" / "sheet.png")]) == 2
    _one_error_line(capsys.readouterr(), "does not exist")
    for flag in (["--thumb", "0"], ["--thumb", "100000"], ["--modes", "-1"]):
        assert _status(["db-info", missing_db, *flag]) == 2
        _one_error_line(capsys.readouterr(), flag[0])
    assert list(folder.iterdir()) == []


@pytest.mark.slow
def test_db_info_on_a_full_disk(small_database, tmp_path, capsys, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image.Image, "save", _disk_full)
    sheet = tmp_path / "sheet.png"
    assert _status(["db-info", str(small_database), "-o", str(sheet)]) == 2
    _one_error_line(capsys.readouterr(), str(sheet), "No space left on device")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_infer_on_a_full_disk(small_database, shared_data, tmp_path, capsys, monkeypatch):
    """The disk fills while the PNGs are written: one line, status 2, nothing left behind."""
    from PIL import Image

    monkeypatch.setattr(Image.Image, "save", _disk_full)
    out = tmp_path / "out"
    photo = shared_data / "london" / "neutral" / "003_03.jpg"
    code = _status(["infer", str(photo), "--db", str(small_database), "-o", str(out),
                    "--size", "64", "--iterations", "3", "--no-report"])
    assert code == 2
    _one_error_line(capsys.readouterr(), str(out), "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_batch_failures_go_to_stderr(small_database, tmp_path, capsys):
    """A batch's per-photo errors and its list of failures are on stderr, the results on stdout."""
    bad = [tmp_path / "a.png", tmp_path / "b.png"]
    for path in bad:
        path.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    code = _status(["infer", *map(str, bad), "--db", str(small_database), "-o", str(tmp_path / "out"), "-q"])
    assert code == 1
    captured = capsys.readouterr()
    assert "failed" not in captured.out and "error" not in captured.out
    assert captured.err.count("failed: ") == 2 and captured.err.count("facetex: error: ") == 2
    assert "0 of 2 photos done" in captured.out


def test_the_size_bounds_of_the_parser_are_the_texture_stage_minimum_and_the_unwrap_maximum(capsys):
    from facetex.texture.config import MIN_SIZE

    for size in (MIN_SIZE, 2048):
        assert build_parser().parse_args(["infer", "--size", str(size)])
    for size in (MIN_SIZE - 1, 2049):
        assert _status(["infer", "--size", str(size)]) == 2
        _one_error_line(capsys.readouterr(), "--size", f"[{MIN_SIZE}, 2048]")
