"""Where facetex looks for the shared data (issue 15: explicit in an installed wheel too)."""

from __future__ import annotations

import pytest

from facetex.errors import DatabaseError
from facetex.paths import data_dir, data_dir_candidates, london_dir


def test_facetex_data_wins_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("FACETEX_DATA", str(tmp_path))
    assert data_dir_candidates() == [tmp_path]
    assert data_dir() == tmp_path


def test_default_is_shared_data_beside_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("FACETEX_DATA", raising=False)
    work = tmp_path / "project"
    work.mkdir()
    (tmp_path / "shared" / "data" / "london" / "neutral").mkdir(parents=True)
    monkeypatch.chdir(work)
    assert data_dir_candidates()[0] == tmp_path / "shared" / "data"
    assert london_dir() == tmp_path / "shared" / "data" / "london"


def test_missing_london_set_says_where_it_looked_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FACETEX_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatabaseError) as info:
        london_dir()
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "london") in message
    assert "FACETEX_DATA" in message and "10.6084/m9.figshare.5047666" in message
