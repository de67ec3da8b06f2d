"""`facetex build-db` and `facetex db-info` (the CLI only parses, calls and reports)."""

from __future__ import annotations

import numpy as np
import pytest

from facetex.cli import main


@pytest.mark.slow
def test_db_info_prints_summary_and_writes_a_contact_sheet(built, tmp_path, capsys):
    from PIL import Image

    _, path, _, _ = built
    sheet = tmp_path / "sheet.png"
    assert main(["db-info", str(path), "-o", str(sheet), "--thumb", "64", "--modes", "2"]) == 0
    out = capsys.readouterr().out
    assert "4 photos of 2 persons (2 neutral, 2 smiling)" in out
    assert "128×128" in out and "schema        version 2" in out
    assert "Face Research Lab London Set" in out and "CC BY 4.0" in out and "ICT Face Model Light" in out
    assert "face model    ict: the ICT Face Model's face tile, 9547 vertices, 18460 triangles" in out
    assert "100 identity, 53 expression, 3 albedo components" in out
    with Image.open(sheet) as im:
        # one row of 4 textures + 2 mode rows (mean − 2σ, mean, mean + 2σ), 64 px tiles
        assert im.size == (4 * 64, 3 * 64)
        pixels = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
    tile = pixels[:64, :64]
    assert tile.std() > 0.02  # a face, not a blank tile


def test_db_info_on_a_bad_file_fails_cleanly(tmp_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_text("not a database")
    assert main(["db-info", str(bad)]) == 2
    assert "not a facetex texture database" in capsys.readouterr().err


def test_build_db_reports_missing_photos(tmp_path, capsys):
    out = tmp_path / "db.h5"
    assert main(["build-db", str(tmp_path / "nope.jpg"), "-o", str(out), "--no-progress"]) == 2
    assert "no such photo" in capsys.readouterr().err
    assert not out.exists()


def test_build_db_rejects_bad_settings_as_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["build-db", str(tmp_path), "-o", str(tmp_path / "db.h5"), "--resolution", "16"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "resolution must be an integer in [32, 2048], got 16" in err and len(err.strip().splitlines()) == 1


def test_build_db_refuses_one_photo_before_any_work(shared_data, tmp_path, capsys):
    out = tmp_path / "db.h5"
    photo = shared_data / "london" / "neutral" / "001_03.jpg"
    assert main(["build-db", str(photo), "-o", str(out), "--no-progress", "--work-dir", str(tmp_path / "work")]) == 2
    assert capsys.readouterr().err.strip() == "facetex: error: a database needs at least 2 photos, got 1"
    assert not out.exists() and not (tmp_path / "work").exists()


def test_build_db_refuses_a_folder_output_before_any_work(shared_data, tmp_path, capsys):
    """-o naming a folder (here one with a user's file) fails at once, before any fit."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "keep.txt").write_text("theirs")
    photos = [str(shared_data / "london" / "neutral" / f"{p}_03.jpg") for p in ("001", "004")]
    assert main(["build-db", *photos, "-o", str(folder), "--no-progress", "--work-dir", str(tmp_path / "work")]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert (folder / "keep.txt").read_text() == "theirs" and not (tmp_path / "work").exists()
