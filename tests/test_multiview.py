"""Several photos of one person → one texture (issue 20): the merge of the views, the shared
identity in the fit, and `facetex infer --same-person` on real London photos."""

from __future__ import annotations

import dataclasses
import json
import numpy as np
import pytest
from PIL import Image

from facetex.cli import main
from facetex.fitting.merge_views import merge_partials
from facetex.types import PartialAlbedo

FAST = ["--size", "64", "--iterations", "3"]


def _partial(r: int, seen: np.ndarray, colour: np.ndarray, ppt: float = 2.0) -> PartialAlbedo:
    lowfreq = np.full((r, r, 3), 0.5, np.float32)
    return PartialAlbedo(
        albedo=np.where(seen[..., None], colour, 0.5).astype(np.float32), mask=seen, lowfreq=lowfreq,
        shading=np.ones((r, r, 3), np.float32), chart=np.ones((r, r), bool),
        pixels_per_texel=np.where(seen, ppt, 0.0).astype(np.float32),
    )


def test_views_are_merged_where_each_sees_best_without_a_seam_and_in_one_colour():
    """Two views of a skin with fine stripes: the first sees the left 60 %, the second the right
    60 % and is 10 % brighter (its lighting) with a highlight in the overlap. The merge observes
    the union, takes each side from the view that sees it, matches the second view's colour to
    the first, leaves the highlight out, and changes smoothly across the overlap."""
    r = 128
    x = np.arange(r)
    skin = (0.5 + 0.08 * np.sign(np.sin(2 * np.pi * x / 6)))[None, :, None] * np.array([1.0, 0.8, 0.7])
    skin = np.broadcast_to(skin, (r, r, 3)).astype(np.float32)
    left, right = np.zeros((r, r), bool), np.zeros((r, r), bool)
    left[8:-8, : int(0.6 * r)] = True
    right[8:-8, int(0.4 * r) :] = True
    second = np.clip(skin * 1.1, 0, 1)
    second[50:60, 58:66] = 0.95  # a highlight in the overlap, only in the second view
    merged = merge_partials([_partial(r, left, skin), _partial(r, right, second)])
    p = merged.partial
    assert np.all(p.mask[left]) and not np.any(p.mask[~(left | right)])
    assert np.all(p.mask[16:-16, int(0.6 * r) : -8])  # what only the second view sees well
    assert np.all(merged.source[20:-20, 10:40] == 0) and np.all(merged.source[20:-20, -40:-10] == 1)
    assert np.all(merged.source[~(left | right)] == -1)
    np.testing.assert_allclose(merged.gains[1], 1 / 1.1, rtol=0.02)
    error = np.abs(p.albedo - skin).max(axis=-1)
    highlight = np.zeros((r, r), bool)
    highlight[50:60, 58:66] = True
    inner = np.zeros((r, r), bool)
    inner[20:-20, 10:-10] = True
    assert error[inner & ~highlight].max() < 0.03  # one colour, the stripes kept, no seam
    assert error[highlight].max() < 0.1 < np.abs(second - skin).max()  # the highlight mostly left out
    assert merged.observed[0] == pytest.approx(left.mean(), abs=1e-6)
    alone = merge_partials([_partial(r, left, skin)])
    assert alone.partial is not None and np.array_equal(alone.partial.albedo, _partial(r, left, skin).albedo)


def test_where_a_views_expression_moves_the_skin_the_primary_view_is_kept():
    """Both views see everything equally well, but the second view's expression moves the left
    half of the face by 6 mm (a smile against a neutral face): there the merge takes the
    primary view alone; on the still right half both views mix."""
    r = 64
    seen = np.zeros((r, r), bool)
    seen[4:-4, 4:-4] = True
    first = _partial(r, seen, np.array([0.6, 0.45, 0.4]))
    second = _partial(r, seen, np.array([0.6, 0.45, 0.4]))
    motion = np.zeros((r, r))
    motion[:, : r // 2] = 6.0
    merged = merge_partials([first, second], motion_mm=[None, motion])
    left, right = merged.weights[1][16:-16, 8:24], merged.weights[1][16:-16, 40:56]
    assert left.max() < 0.005 and 0.008 < right.mean() < 0.03  # 64:1 for the primary where nothing moves


def test_another_views_fringe_is_left_to_the_texture_stage():
    """The second view sees the whole face; the first sees it but for a hole (an eye opening)
    and the right third (turned away). The second view's mask reaches one texel further into
    the hole (its visibility cut lies a little elsewhere). That ring, the second view's own edge,
    is not taken as observed: it is left to invention, as with the first view alone. The right
    third, which only the second view sees, is taken, foreshortened part included (a tenth of
    the view's typical sampling, as a cheek seen at a slant), and left to invention where its
    expression moves the skin (6 mm)."""
    r = 256  # the default texture size of the fit stage: the edge ramp is R/32 = 8 texels
    hole = np.zeros((r, r), bool)
    hole[80:112, 40:80] = True
    smaller = np.zeros((r, r), bool)
    smaller[81:111, 41:79] = True
    chart = np.zeros((r, r), bool)
    chart[8:-8, 8:-8] = True
    third = 2 * r // 3
    first_seen = chart & ~hole
    first_seen[:, third:] = False
    second_seen = chart & ~smaller
    colour = np.array([0.6, 0.45, 0.4])
    motion = np.zeros((r, r))
    motion[8:60, third:] = 6.0  # the second view's expression moves the top of the right third
    second = _partial(r, second_seen, colour)
    slanted = second.pixels_per_texel.copy()
    slanted[150:-8, third + 40 :] *= 0.1  # the far cheek, seen at a slant
    second = dataclasses.replace(second, pixels_per_texel=slanted)
    merged = merge_partials([_partial(r, first_seen, colour), second], motion_mm=[None, motion])
    mask = merged.partial.mask
    ring = hole & ~smaller
    assert ring.sum() == 2 * (32 + 40) - 4 and not mask[ring].any()
    assert mask[first_seen].all()
    assert mask[80:-24, third + 8 : -24].all()  # the right third, seen well and not moved
    assert not mask[16:52, third + 8 : -24].any()  # moved 6 mm by the expression: invented
    assert np.all(merged.source[ring] == -1)


def test_a_held_identity_is_kept_by_the_fit(shared_data):
    """fit_face(identity=...): the shape and albedo coefficients come back as given; pose,
    expression and lighting are still solved."""
    from facetex.detect import Detector
    from facetex.fitting import fit_face
    from facetex.fitting.config import FitConfig
    from facetex.geometry.ict import ict_morphable_model
    from facetex.io.images import load_photo

    loaded = load_photo(shared_data / "london" / "smiling" / "003_08.jpg")
    with Detector() as detector:
        detection = detector.detect_face(loaded)
    model = ict_morphable_model()
    config = FitConfig(steps=(3, 2))
    free = fit_face(loaded, detection, model, config)
    held = (np.zeros_like(free.shape_coeffs) + 0.1, np.asarray(free.albedo_coeffs) * 0.0)
    fixed = fit_face(loaded, detection, model, config, identity=held)
    np.testing.assert_array_equal(fixed.shape_coeffs, held[0])
    np.testing.assert_array_equal(fixed.albedo_coeffs, held[1])
    assert np.abs(fixed.expression_coeffs).max() > 0 and fixed.diagnostics.landmark_rmse_iod < 0.1


@pytest.fixture(scope="module")
def person_003(shared_data):
    """London 003's neutral and smiling photos, their detections and the ICT model."""
    from facetex.detect import Detector
    from facetex.geometry.ict import ict_morphable_model
    from facetex.io.images import load_photo

    photos = [load_photo(shared_data / "london" / "neutral" / "003_03.jpg"),
              load_photo(shared_data / "london" / "smiling" / "003_08.jpg")]
    with Detector() as detector:
        detections = [detector.detect_face(photo) for photo in photos]
    return photos, detections, ict_morphable_model()


def _vertex_rms(model, a: np.ndarray, b: np.ndarray) -> float:
    offset = np.tensordot(np.asarray(a) - np.asarray(b), np.asarray(model.shape_basis, np.float64), axes=1)
    return float(np.sqrt((offset.reshape(-1, 3) ** 2).sum(axis=1).mean()))


def test_a_joint_fit_of_one_photo_is_the_single_fit(person_003):
    from facetex.fitting import fit_face, fit_faces
    from facetex.fitting.config import FitConfig

    photos, detections, model = person_003
    config = FitConfig(steps=(3, 2))
    alone = fit_face(photos[0], detections[0], model, config)
    (joint,) = fit_faces(photos[:1], detections[:1], model, config)
    for name in ("shape_coeffs", "expression_coeffs", "albedo_coeffs", "sh_coeffs", "vertices", "rotation"):
        np.testing.assert_array_equal(getattr(joint, name), getattr(alone, name))


def test_two_photos_get_one_identity_between_their_own_fits(person_003):
    """fit_faces on a neutral and a smiling photo: one shape and albedo for both, each photo's
    own expression and pose, both photos' landmarks met; the shared shape lies between the two
    photos' single fits (nearer their mean than they are to each other: issue 20's target)."""
    from facetex.fitting import fit_face, fit_faces
    from facetex.fitting.config import FitConfig

    photos, detections, model = person_003
    config = FitConfig(steps=(3, 2))
    singles = [fit_face(photo, detection, model, config) for photo, detection in zip(photos, detections)]
    joint = fit_faces(photos, detections, model, config)
    np.testing.assert_array_equal(joint[0].shape_coeffs, joint[1].shape_coeffs)
    np.testing.assert_array_equal(joint[0].albedo_coeffs, joint[1].albedo_coeffs)
    assert np.abs(joint[0].expression_coeffs - joint[1].expression_coeffs).max() > 0.05  # the smile is its own
    assert all(fit.diagnostics.landmark_rmse_iod < 0.1 for fit in joint)
    apart = _vertex_rms(model, singles[0].shape_coeffs, singles[1].shape_coeffs)
    mean = (singles[0].shape_coeffs + singles[1].shape_coeffs) / 2
    assert _vertex_rms(model, joint[0].shape_coeffs, mean) < 0.8 * apart
    # not merely one photo's identity: the joint shape differs from each single fit's
    assert min(_vertex_rms(model, joint[0].shape_coeffs, s.shape_coeffs) for s in singles) > 0.1 * apart


def test_same_person_writes_one_texture_from_both_photos(small_database, shared_data, tmp_path, capsys):
    """`facetex infer a b bad --same-person --shared-identity joint`: one result from the neutral
    and the smiling photo of a London person not in the database, fitted with one identity, with
    a source map, both overlays and both photos in the report; the unreadable third file is
    named and skipped (exit status 1)."""
    london = shared_data / "london"
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    code = main(["infer", str(london / "neutral" / "003_03.jpg"), str(london / "smiling" / "003_08.jpg"), str(bad),
                 "--same-person", "--shared-identity", "joint", "--db", str(small_database), "-o", str(out), *FAST])
    err = capsys.readouterr().err
    assert code == 1 and "broken.jpg" in err
    assert json.loads((out / "config.json").read_text())["fit"]["shared_identity"] == "joint"
    views = json.loads((out / "views.json").read_text())
    assert [v["photo"].split("/")[-1] for v in views["photos"]] == ["003_03.jpg", "003_08.jpg"]
    assert views["skipped"] and views["skipped"][0].startswith("broken.jpg")
    assert all(v["embedding_distance"] < 0.6 for v in views["photos"])
    shares = [v["share"] for v in views["photos"]]
    assert shares[0] > shares[1] > 0 and sum(shares) == pytest.approx(1.0)
    # one identity: both fits carry the same shape coefficients
    fits = [v["fit"] for v in views["photos"]]
    assert fits[0]["identity_coefficients"] == fits[1]["identity_coefficients"]
    assert fits[0]["albedo_coefficients"] == fits[1]["albedo_coefficients"]
    assert fits[0]["expression_coefficients"] != fits[1]["expression_coefficients"]
    source = np.asarray(Image.open(out / "source.png").convert("RGB"))
    colours = {tuple(c) for c in source.reshape(-1, 3)}
    assert len(colours) >= 3  # photo 1, photo 2, invented (and off the chart)
    assert (out / "overlay.png").exists() and (out / "overlay_2.png").exists()
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "003_03.jpg" in report and "003_08.jpg" in report and "Source of each texel" in report
    assert "Photo 2, 003_08.jpg, fitted with the shared identity" in report


def test_photos_of_different_people_are_refused_unless_forced(small_database, shared_data, tmp_path, capsys):
    london = shared_data / "london" / "neutral"
    out = tmp_path / "out"
    photos = [str(london / "003_03.jpg"), str(london / "004_03.jpg")]
    code = main(["infer", *photos, "--same-person", "--db", str(small_database), "-o", str(out), *FAST])
    err = capsys.readouterr().err
    assert code != 0 and "another person" in err and "--force" in err
    assert not out.exists()  # nothing written


def test_a_photo_that_cannot_be_fitted_is_named_and_left_out(small_database, shared_data, tmp_path, capsys,
                                                             monkeypatch):
    """A detected face whose fit fails (here: the smiling photo's fit raises, as a face turned
    away or too small does) is named on stderr and left out; the texture comes from the other
    photo alone, its views.json lists one photo and the skipped one, and the exit status is 1."""
    import facetex.multiview as multiview
    from facetex.errors import FittingError

    real_fit = multiview.fit_face

    def fit_or_fail(photo, *args, **kwargs):
        if str(photo.source).endswith("003_08.jpg"):
            raise FittingError("only 12 visible skin pixels at 64×64; the face is too small, hidden or turned away to fit")
        return real_fit(photo, *args, **kwargs)

    monkeypatch.setattr(multiview, "fit_face", fit_or_fail)
    london = shared_data / "london"
    out = tmp_path / "out"
    code = main(["infer", str(london / "neutral" / "003_03.jpg"), str(london / "smiling" / "003_08.jpg"),
                 "--same-person", "--db", str(small_database), "-o", str(out), *FAST])
    err = capsys.readouterr().err
    assert code == 1
    assert "003_08.jpg" in err and "visible skin pixels" in err
    views = json.loads((out / "views.json").read_text())
    assert [v["photo"].split("/")[-1] for v in views["photos"]] == ["003_03.jpg"]
    assert len(views["skipped"]) == 1 and views["skipped"][0].startswith("003_08.jpg")
    assert views["photos"][0]["share"] == pytest.approx(1.0)
    albedo = np.asarray(Image.open(out / "albedo.png"))
    assert albedo.shape[:2] == (64, 64) and albedo.std() > 0
    assert not (out / "overlay_2.png").exists()
