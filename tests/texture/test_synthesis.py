from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from scipy.ndimage import gaussian_filter

from facetex.errors import EmptyMaskError, InputImageError, ShapeMismatchError
from facetex.geometry.uv import resized_chart
from facetex.texture.analysis import compute_grams
from facetex.texture.color import luminance, rgb_to_yiq
from facetex.texture.config import Stage, TextureConfig
from facetex.texture.inference import infer_texture
from facetex.texture.starts import exemplar_detail, stage_start
from facetex.texture.resample import resize
from facetex.texture.synthesis import synthesize_texture
from facetex.types import GramSet

LAYERS = TextureConfig().gram_layers
S = 64


def grey_rgb(y: np.ndarray) -> np.ndarray:
    return np.repeat(y[..., None], 3, axis=2).astype(np.float32)


def gram_distance(vgg, a: np.ndarray, b: np.ndarray) -> float:
    """Σ_l ||G_l(a) − G_l(b)||² / ||G_l(b)||² over relu1_1 … relu5_1."""
    ga = compute_grams(a[None], vgg, layers=LAYERS)
    gb = compute_grams(b[None], vgg, layers=LAYERS)
    return sum(float(np.sum((ga.grams[l] - gb.grams[l]) ** 2) / np.sum(gb.grams[l] ** 2)) for l in LAYERS)


def test_loss_falls_by_orders_of_magnitude(vgg, textures):
    sharp = textures["brick"][300 : 300 + S, 300 : 300 + S]
    init = grey_rgb(gaussian_filter(sharp, 2.0))
    config = TextureConfig(early_stop_tolerance=0.0)
    target = compute_grams(sharp[None], vgg, layers=LAYERS)
    result = synthesize_texture(init, target, vgg, config, iterations=50, progress=False)
    losses = np.array(result.losses)
    assert len(losses) == 51
    assert losses[-1] < losses[0] / 100
    assert np.all(np.diff(losses) < 0)
    assert result.luminance.shape == (S, S) and result.rgb.shape == (S, S, 3)
    assert 0.0 < result.luminance.min() and result.luminance.max() < 1.0
    assert result.seconds > 0


def test_gram_statistics_move_to_the_exemplar(vgg, textures):
    exemplar = textures["brick"][:S, :S]
    init_y = gaussian_filter(textures["grass"][100 : 100 + S, 100 : 100 + S], 2.0)
    target = compute_grams(exemplar[None], vgg, layers=LAYERS)
    config = TextureConfig(early_stop_tolerance=0.0)
    result = synthesize_texture(grey_rgb(init_y), target, vgg, config, iterations=30, progress=False)
    before = gram_distance(vgg, init_y, exemplar)
    after = gram_distance(vgg, result.luminance, exemplar)
    assert after < 0.2 * before  # measured 0.29 vs 3.5
    # ... and the result now reads as brick rather than as the grass it started from.
    assert after < 0.5 * gram_distance(vgg, result.luminance, textures["grass"][:S, :S])


def test_zero_iterations_return_the_init_and_colour_comes_from_it(vgg):
    photo = skimage.data.astronaut()[100:164, 200:264].astype(np.float32) / 255.0
    init = np.clip(photo, 0.05, 0.95)
    target = compute_grams(luminance(init)[None], vgg, layers=LAYERS)
    result = synthesize_texture(init, target, vgg, TextureConfig(), iterations=0, progress=False)
    assert result.losses == pytest.approx([result.losses[0]]) and len(result.losses) == 1
    np.testing.assert_allclose(result.luminance, luminance(init), atol=1e-5)
    np.testing.assert_allclose(result.rgb, init, atol=1e-4)


def test_output_keeps_the_chroma_of_the_init(vgg, textures):
    exemplar = textures["gravel"][:S, :S]
    y = gaussian_filter(textures["grass"][:S, :S], 2.0)
    yiq = np.stack([y, np.full_like(y, 0.08), np.full_like(y, -0.03)], axis=-1)
    from facetex.texture.color import yiq_to_rgb

    init = np.clip(yiq_to_rgb(yiq), 0.0, 1.0)
    target = compute_grams(exemplar[None], vgg, layers=LAYERS)
    result = synthesize_texture(init, target, vgg, TextureConfig(), iterations=5, progress=False)
    out = rgb_to_yiq(result.rgb)
    inside = np.all((result.rgb > 0.001) & (result.rgb < 0.999), axis=-1)
    assert inside.mean() > 0.9
    np.testing.assert_allclose(out[inside][:, 1:], rgb_to_yiq(init)[inside][:, 1:], atol=2e-3)
    np.testing.assert_allclose(out[inside][:, 0], result.luminance[inside], atol=2e-3)


def test_early_stopping_and_line_search_cap(vgg, textures, monkeypatch):
    import facetex.texture.synthesis as synthesis

    exemplar = textures["brick"][:S, :S]
    init = grey_rgb(gaussian_filter(textures["brick"][200 : 200 + S, :S], 2.0))
    target = compute_grams(exemplar[None], vgg, layers=LAYERS)
    eager = TextureConfig(early_stop_window=2, early_stop_tolerance=0.9)
    result = synthesize_texture(init, target, vgg, eager, iterations=30, progress=False)
    assert 2 <= len(result.losses) - 1 < 30
    # A first trial step far too long: its line search must shrink it, which a cap of one
    # evaluation forbids, so the stage ends at once at the last accepted iterate (the start).
    monkeypatch.setattr(synthesis, "_FIRST_STEP", 1e4)
    capped = TextureConfig(max_line_search_evaluations=1, early_stop_tolerance=0.0)
    result = synthesize_texture(init, target, vgg, capped, iterations=30, progress=False)
    assert len(result.losses) - 1 < 30
    assert np.isfinite(result.luminance).all() and np.all(np.diff(result.losses) < 0)
    if len(result.losses) == 1:
        np.testing.assert_allclose(result.luminance, luminance(init), atol=1e-5)


def test_first_step_needs_no_extrapolation(vgg, textures):
    """The scaled first L-BFGS step is accepted after one or two evaluations (torch's default
    first step of lr / ‖g‖₁ needed five at 256² and 512²)."""
    sharp = textures["grass"][:S, :S]
    init = grey_rgb(gaussian_filter(sharp, 2.0))
    steps = []
    synthesize_texture(init, compute_grams(sharp[None], vgg, layers=LAYERS), vgg,
                       TextureConfig(early_stop_tolerance=0.0), iterations=3, progress=False, callback=steps.append)
    assert steps[0].evaluations <= 3  # the initial evaluation + at most two trial points
    assert steps[-1].evaluations - steps[0].evaluations <= 2 * (len(steps) - 1)


def test_resize():
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert resize(image, 4) is not image and np.array_equal(resize(image, 4), image)
    small = resize(np.ones((8, 8, 3), np.float32) * 0.3, 4)
    assert small.shape == (4, 4, 3) and np.allclose(small, 0.3)
    assert resize(image, 8).shape == (8, 8)


@pytest.fixture(scope="module")
def small_inputs(textures):
    rng = np.random.default_rng(0)
    sharp = textures["brick"][256 : 256 + 96, 256 : 256 + 96]
    init = grey_rgb(gaussian_filter(sharp, 3.0))
    mask = np.zeros((96, 96), bool)
    mask[:, :48] = True
    partial = np.where(mask[..., None], grey_rgb(sharp), 0.5).astype(np.float32)
    exemplars = [grey_rgb(textures["brick"][:128, :128]), grey_rgb(textures["grass"][:64, :64]),
                 grey_rgb(textures["gravel"][:96, :96] * 0.9 + 0.05 * rng.random((96, 96)))]
    return init, partial, mask, exemplars


def test_infer_texture_coarse_to_fine(vgg, small_inputs):
    init, partial, mask, exemplars = small_inputs
    config = TextureConfig(schedule=(Stage(32, 3), Stage(64, 4)), analysis_size=64, early_stop_tolerance=0.0)
    result = infer_texture(init, partial, mask, exemplars, config, vgg, progress=False)
    assert result.synthesis.rgb.shape == (64, 64, 3)
    assert len(result.synthesis.losses) == (3 + 1) + (4 + 1)
    assert int(np.argmax(result.blend.weights)) == 0  # brick explains the brick partial texture
    assert abs(result.blend.weights.sum() - 1.0) <= 1e-12
    assert result.blend.target.grams["relu1_1"].shape == (1, 64, 64)
    assert set(result.timings) == {"preselection", "analysis", "targets", "synthesis", "fusion"}
    assert all(v >= 0 for v in result.timings.values())
    np.testing.assert_array_equal(result.candidates, [0, 1, 2])  # 3 exemplars: no preselection


def test_infer_texture_errors(vgg, small_inputs):
    init, partial, mask, exemplars = small_inputs
    config = TextureConfig(schedule=(Stage(32, 1),))
    with pytest.raises(InputImageError, match="no exemplar"):
        infer_texture(init, partial, mask, [], config, vgg, progress=False)
    with pytest.raises(ShapeMismatchError):
        infer_texture(init, partial[:64, :64], mask, exemplars, config, vgg, progress=False)
    with pytest.raises(ShapeMismatchError):
        infer_texture(init, partial, mask[:64, :64], exemplars, config, vgg, progress=False)
    with pytest.raises(ShapeMismatchError, match="square"):
        infer_texture(init, partial, mask, [exemplars[0][:, :100]], config, vgg, progress=False)
    with pytest.raises(EmptyMaskError):
        infer_texture(init, partial, np.zeros_like(mask), exemplars, config, vgg, progress=False)


def test_infer_texture_uses_cached_exemplar_grams(vgg, small_inputs):
    init, partial, mask, exemplars = small_inputs
    config = TextureConfig(schedule=(Stage(64, 2),), early_stop_tolerance=0.0, analysis_size=None, bf16_grams=False)
    computed = infer_texture(init, partial, mask, exemplars, config, vgg, progress=False)
    complete = compute_grams(np.stack([luminance(resize(e, 64)) for e in exemplars]), vgg, layers=LAYERS)
    cached = infer_texture(init, partial, mask, exemplars, config, vgg, exemplar_grams={64: complete}, progress=False)
    np.testing.assert_array_equal(cached.blend.weights, computed.blend.weights)
    for layer in LAYERS:
        ref = computed.blend.target.grams[layer]
        assert np.linalg.norm(cached.blend.target.grams[layer] - ref) <= 1e-5 * np.linalg.norm(ref)
    np.testing.assert_allclose(cached.synthesis.luminance, computed.synthesis.luminance, atol=1e-3)
    # The cache really is what the targets are made of: scaled Grams give a scaled target.
    doubled = GramSet(grams={layer: 2.0 * g for layer, g in complete.grams.items()})
    scaled = infer_texture(init, partial, mask, exemplars, config.replace(schedule=(Stage(64, 0),)), vgg,
                           exemplar_grams={64: doubled}, progress=False)
    for layer in LAYERS:
        np.testing.assert_allclose(scaled.blend.target.grams[layer], 2.0 * cached.blend.target.grams[layer], rtol=1e-5)
    # Region Grams (a database's gram_region): computed at a size not cached = the cached ones.
    regions = [np.zeros(e.shape[:2], bool) for e in exemplars]
    for r in regions:
        r[: r.shape[0] // 2] = True
    region_grams = compute_grams(np.stack([luminance(resize(e, 64)) for e in exemplars]), vgg, layers=LAYERS,
                                 regions=np.stack([resized_chart(r, 64) for r in regions]))
    plain = config.replace(schedule=(Stage(64, 0),))
    from_regions = infer_texture(init, partial, mask, exemplars, plain, vgg, exemplar_regions=regions, progress=False)
    from_cache = infer_texture(init, partial, mask, exemplars, plain, vgg, exemplar_grams={64: region_grams},
                               progress=False)
    for layer in LAYERS:
        ref = from_cache.blend.target.grams[layer]
        assert np.linalg.norm(from_regions.blend.target.grams[layer] - ref) <= 1e-5 * np.linalg.norm(ref)
        assert np.linalg.norm(cached.blend.target.grams[layer] - ref) > 1e-2 * np.linalg.norm(ref)
    with pytest.raises(ShapeMismatchError, match="exemplar regions"):
        infer_texture(init, partial, mask, exemplars, plain, vgg, exemplar_regions=regions[:2], progress=False)
    with pytest.raises(ShapeMismatchError, match="exemplar Gram sets"):
        bad = GramSet(grams={layer: g[:2] for layer, g in complete.grams.items()})
        infer_texture(init, partial, mask, exemplars, config, vgg, exemplar_grams={64: bad}, progress=False)
    with pytest.raises(ShapeMismatchError, match="lack layers"):
        infer_texture(init, partial, mask, exemplars, config, vgg,
                      exemplar_grams={64: GramSet(grams={"relu1_1": complete.grams["relu1_1"]})}, progress=False)


def test_infer_texture_preselection_keeps_the_exact_fit(vgg, textures):
    """Six exemplars, a shortlist of two: the exact fit over the shortlist is the full exact fit."""
    brick, grass, gravel = textures["brick"], textures["grass"], textures["gravel"]
    crops = [grass[:64, :64], gravel[:64, :64], brick[:64, :64], grass[200:264, 300:364],
             gravel[300:364, 50:114], brick[400:464, 400:464]]
    exemplars = [grey_rgb(c) for c in crops]
    mask = np.zeros((64, 64), bool)
    mask[8:56, 4:40] = True
    partial = np.where(mask[..., None], grey_rgb(brick[200:264, 200:264]), 0.5).astype(np.float32)
    init = grey_rgb(gaussian_filter(brick[200:264, 200:264], 2.0))
    exact = TextureConfig(schedule=(Stage(64, 0),), analysis_size=None, preselect_count=0)
    fast = exact.replace(preselect_count=2, preselect_size=None)  # bf16 screening at the analysis size
    full = infer_texture(init, partial, mask, exemplars, exact, vgg, progress=False)
    short = infer_texture(init, partial, mask, exemplars, fast, vgg, progress=False)
    assert full.candidates.size == 6 and full.timings["preselection"] == 0.0
    assert 2 <= short.candidates.size < 6 and short.timings["preselection"] > 0.0
    assert set(np.flatnonzero(full.blend.weights)) <= set(short.candidates.tolist())
    np.testing.assert_allclose(short.blend.weights, full.blend.weights, atol=1e-9)
    assert short.blend.objective == pytest.approx(full.blend.objective, rel=1e-9)
    assert short.blend.weights[[i for i in range(6) if i not in short.candidates]].max() == 0.0
    assert int(np.argmax(full.blend.weights)) in (2, 5)  # a brick exemplar explains the brick
    # Baseline solvers never preselect.
    closest = infer_texture(init, partial, mask, exemplars, fast.replace(solver="closest"), vgg, progress=False)
    assert closest.candidates.size == 6


def test_bf16_stage_runs_in_bf16_and_lowers_the_loss(vgg, textures):
    sharp = textures["gravel"][100 : 100 + S, 100 : 100 + S]
    init = grey_rgb(gaussian_filter(sharp, 2.0))
    target = compute_grams(sharp[None], vgg, layers=LAYERS)
    config = TextureConfig(early_stop_tolerance=0.0)
    fp32 = synthesize_texture(init, target, vgg, config, iterations=0, progress=False)
    bf16 = synthesize_texture(init, target, vgg, config, iterations=0, bf16=True, progress=False)
    # Same objective up to bf16 rounding of the features, but not bit-identical.
    assert bf16.losses[0] == pytest.approx(fp32.losses[0], rel=0.05) and bf16.losses[0] != fp32.losses[0]
    steps = []
    result = synthesize_texture(init, target, vgg, config, iterations=8, bf16=True, progress=False, callback=steps.append)
    assert result.losses[-1] < 0.5 * result.losses[0]
    assert [s.iteration for s in steps] == list(range(1, len(result.losses)))
    assert [s.loss for s in steps] == result.losses[1:]
    assert all(b.evaluations > a.evaluations for a, b in zip(steps, steps[1:]))
    np.testing.assert_array_equal(steps[-1].luminance, result.luminance)


def test_resize_accepts_read_only_arrays():
    image = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    image.setflags(write=False)
    out = resize(image, 4)  # pytest turns torch's read-only warning into an error
    assert out.shape == (4, 4) and out.flags.writeable


def test_exemplar_detail_is_the_weighted_high_pass(textures):
    brick, grass = textures["brick"][:128, :128], textures["grass"][:128, :128]
    one = exemplar_detail([brick], np.array([1.0]), sigma=2.0)
    np.testing.assert_allclose(one, brick - gaussian_filter(brick.astype(np.float64), 2.0), atol=1e-5)
    # Two textures' unaligned detail, half weight each: about one's amplitude, not half of it.
    both = exemplar_detail([brick, grass], np.array([0.5, 0.5]), sigma=2.0)
    single = 0.5 * (np.std(one) + np.std(exemplar_detail([grass], np.array([1.0]), sigma=2.0)))
    assert 0.8 * single <= np.std(both) <= 1.2 * single
    assert np.abs(gaussian_filter(both, 8.0))[16:-16, 16:-16].max() < 0.02  # no low-pass
    with pytest.raises(ShapeMismatchError):
        exemplar_detail([brick], np.array([0.5, 0.5]), sigma=2.0)
    with pytest.raises(ShapeMismatchError):
        exemplar_detail([brick, grass[:64, :64]], np.array([0.5, 0.5]), sigma=2.0)
    with pytest.raises(ValueError, match="zero"):
        exemplar_detail([brick], np.array([0.0]), sigma=2.0)


def test_stage_start_adds_only_the_band_the_coarser_stage_lacks(textures):
    init = np.full((128, 128), 0.5, np.float32)
    detail = exemplar_detail([textures["gravel"][:128, :128]], np.array([1.0]), sigma=4.0)
    np.testing.assert_array_equal(stage_start(init, None, None), init)
    np.testing.assert_allclose(stage_start(init, None, detail), np.clip(init + detail, 0, 1), atol=1e-6)
    coarse = resize(init + detail, 64)  # a coarse stage that kept the start's detail
    upsampled = stage_start(init, coarse, None)
    np.testing.assert_allclose(upsampled, resize(coarse, 128), atol=1e-6)
    refined = stage_start(init, coarse, detail)
    # The fine band is added, the coarse one not again: closer to init + detail than either.
    error = lambda y: float(np.sqrt(np.mean((y - np.clip(init + detail, 0, 1)) ** 2)))  # noqa: E731
    assert error(refined) < 0.5 * error(upsampled)
    assert np.std(refined - upsampled) < np.std(detail)


def test_infer_texture_exemplar_detail_start(vgg, small_inputs):
    """The start carries the weighted exemplars' detail, so it sits closer to Ĝ than the blurry
    low-frequency init; zero iterations return exactly that start."""
    init, partial, mask, exemplars = small_inputs
    config = TextureConfig(schedule=(Stage(64, 0),), analysis_size=None, bf16_grams=False, preselect_count=0,
                           start="lowfreq", keep_observed=False)
    lowfreq = infer_texture(init, partial, mask, exemplars, config, vgg, progress=False)
    detailed = infer_texture(init, partial, mask, exemplars, config.replace(start="exemplar_detail", start_highpass_sigma=1 / 16), vgg,
                             progress=False)
    used = np.flatnonzero(lowfreq.blend.weights)
    detail = exemplar_detail([luminance(resize(exemplars[i], 64)) for i in used], lowfreq.blend.weights[used], 4.0)
    expected = np.clip(luminance(resize(init, 64)) + detail, 0.0, 1.0)
    np.testing.assert_allclose(detailed.synthesis.luminance, expected, atol=1e-5)
    assert detailed.synthesis.losses[0] < 0.5 * lowfreq.synthesis.losses[0]
    with pytest.raises(ValueError, match="start must be"):
        TextureConfig(start="noise")


def test_infer_texture_takes_luminance_exemplars(vgg, small_inputs):
    """Only Y of the exemplars is used: (R, R) luminance gives what (R, R, 3) RGB gives."""
    init, partial, mask, exemplars = small_inputs
    config = TextureConfig(schedule=(Stage(64, 2),), analysis_size=None, early_stop_tolerance=0.0)
    rgb = infer_texture(init, partial, mask, exemplars, config, vgg, progress=False)
    grey = infer_texture(init, partial, mask, [luminance(e) for e in exemplars], config, vgg, progress=False)
    np.testing.assert_array_equal(grey.blend.weights, rgb.blend.weights)
    np.testing.assert_allclose(grey.synthesis.luminance, rgb.synthesis.luminance, atol=1e-6)
    with pytest.raises(ShapeMismatchError, match="square"):
        infer_texture(init, partial, mask, [luminance(exemplars[0])[:, :100]], config, vgg, progress=False)
    with pytest.raises(InputImageError, match="non-finite"):
        infer_texture(init, partial, mask, [np.full((64, 64), np.nan)], config, vgg, progress=False)


def test_region_grams_put_detail_on_hidden_texels(vgg, textures):
    """Exemplars whose right half is a smooth fill (as a database texture beyond what its photo
    showed) and a photo that shows the left half: with Grams over the whole exemplars the
    target is half smooth and the hidden right half stays smooth; with Grams over the
    exemplars' detailed halves only (``exemplar_regions``, the database's ``gram_region =
    "skin"``) the hidden half gets detail."""
    size = 64
    gravel = textures["gravel"]
    smooth = gaussian_filter(gravel, 6.0)

    def half_filled(crop):
        out = crop.copy()
        out[:, size // 2:] = smooth[: size, size // 2 : size].mean()
        return grey_rgb(out)

    exemplars = [half_filled(gravel[i : i + size, j : j + size]) for i, j in ((0, 0), (100, 200), (300, 50))]
    seen = np.zeros((size, size), bool)
    seen[:, : size // 2] = True
    photo = gravel[200 : 200 + size, 300 : 300 + size]
    init = grey_rgb(np.full((size, size), float(photo.mean()), np.float32))
    partial = np.where(seen[..., None], grey_rgb(photo), 0.5).astype(np.float32)
    config = TextureConfig(schedule=(Stage(size, 30),), analysis_size=None, preselect_count=0,
                           early_stop_tolerance=0.0, bf16_grams=False, start="lowfreq")

    def hidden_detail(regions):
        result = infer_texture(init, partial, seen, exemplars, config, vgg, exemplar_regions=regions, progress=False)
        y = result.synthesis.luminance
        high = y - gaussian_filter(y, 2.0)
        return float(np.sqrt(np.mean(high[4:-4, size // 2 + 4 : -4] ** 2)))

    whole = hidden_detail(None)
    skin = hidden_detail([seen] * len(exemplars))
    assert skin > 1.5 * whole, (skin, whole)
