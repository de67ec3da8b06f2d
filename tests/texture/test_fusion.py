"""Keeping the photo's own detail (issue 16): fusion bands, transfer, sampling, and marks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from facetex.errors import InputImageError, ShapeMismatchError
from facetex.fitting.unwrap import sampling_density
from facetex.texture.color import luminance
from facetex.texture.config import Stage, TextureConfig
from facetex.texture.bands import band_edges, band_split, sampling_cutoff
from facetex.texture.fusion import estimate_transfer, keep_observed_detail, restored_share
from facetex.texture.inference import infer_texture
from facetex.types import PhotoBlur


def grey_rgb(y: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(y, np.float32)[..., None], 3, axis=2)


def band_corr(a: np.ndarray, b: np.ndarray, region: np.ndarray, low: float, high: float) -> float:
    r = a.shape[0]
    def band(y):
        return gaussian_filter(y, r / (2 * np.pi * high)) - gaussian_filter(y, r / (2 * np.pi * low))
    return float(np.corrcoef(band(a)[region], band(b)[region])[0, 1])


def half_observed(r: int, seed: int, smoothing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The left half of an R² chart observed, its inside (away from the mask's edge and the
    chart's border), and a synthesis of fine noise around 0.6."""
    mask = np.zeros((r, r), bool)
    mask[:, : r // 2] = True
    inside = np.zeros_like(mask)
    inside[8:-8, 8 : r // 2 - 12] = True
    rng = np.random.default_rng(seed)
    synthesis = np.clip(0.6 + 0.05 * gaussian_filter(rng.standard_normal((r, r)), smoothing), 0, 1)
    return mask, inside, synthesis


@pytest.fixture(scope="module")
def skin(textures) -> np.ndarray:
    """A 128² real texture (gravel) at skin-like contrast, mean 0.6."""
    g = textures["gravel"][:128, :128].astype(np.float64)
    return np.clip(0.6 + 0.25 * (g - g.mean()), 0.0, 1.0)


def test_band_split_sums_to_the_image(skin):
    bands = band_split(skin, band_edges(128))
    assert len(bands) == len(band_edges(128)) + 1 == 4
    np.testing.assert_allclose(sum(bands), skin, atol=1e-12)


def test_sampling_density_is_the_smaller_singular_value():
    """An affine texel → pixel map with singular values 3 and 0.5 everywhere."""
    r = 16
    rows, cols = np.mgrid[0:r, 0:r]
    a = np.array([[3.0, 0.0], [0.0, 0.5]]) @ np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    xy = np.stack([cols.ravel(), rows.ravel()], axis=1) @ a.T + 100.0
    density = sampling_density(np.arange(r * r), xy, r)
    np.testing.assert_allclose(density, 0.5, rtol=1e-9)
    np.testing.assert_allclose(sampling_cutoff(density.reshape(r, r), r), 0.25 * r)


def test_a_sharp_photo_is_kept_and_a_blurred_one_restored(skin):
    """Sharp partial: every band transfers ≈ 1 and the output is the photo inside the mask.
    Blurred partial: the high bands' transfer drops, the held ones are restored (gain > 1)
    and keep their correlation with the truth; the synthesis fills what is lost."""
    r = 128
    mask, inside, synthesis = half_observed(r, 1, 1.0)
    cutoff = sampling_cutoff(None, r)
    sharp = estimate_transfer(skin, mask, cutoff, [skin], np.ones(1))
    np.testing.assert_allclose(sharp.measured, 1.0, atol=0.05)
    assert sharp.blur_pixels == 0.0 and abs(sharp.contrast - 1.0) < 0.05
    restore, missing = sharp.filters(np.linspace(1 / r, 0.5, 10), r)
    np.testing.assert_array_equal(restore, 1.0)  # a sharp photo is kept as it is
    np.testing.assert_array_equal(missing, 0.0)  # and nothing is invented on top of it
    # a smoother person (half the contrast) is not "restored": the contrast is theirs
    smooth = estimate_transfer(0.6 + 0.5 * (skin - 0.6), mask, cutoff, [skin], np.ones(1))
    assert abs(smooth.contrast - 0.5) < 0.03 and smooth.blur_pixels == 0.0
    out = keep_observed_detail(synthesis, np.where(mask, skin, 0.5), mask, sharp, cutoff)
    for low, high in [(16, 32), (32, 64)]:
        assert band_corr(out, skin, inside, low, high) > 0.97
    blurred = gaussian_filter(skin, 1.2)
    soft = estimate_transfer(blurred, mask, cutoff, [skin], np.ones(1))
    assert soft.measured[0] > soft.measured[1] > soft.measured[2]
    assert 0.7 < soft.blur_pixels < 1.6 and abs(soft.contrast - 1.0) < 0.3  # the blur was σ = 1.2 (3 bands at 128²)
    out = keep_observed_detail(synthesis, np.where(mask, blurred, 0.5), mask, soft, cutoff)
    assert band_corr(out, skin, inside, 16, 32) >= 0.9 * band_corr(blurred, skin, inside, 16, 32)
    restore, missing = soft.filters(np.array([16 / r, 60 / r]), r)
    assert restore[0] > 1.0 and missing[0] < 0.5  # 16 c/R restored
    assert missing[1] > 0.9  # 60 c/R invented
    # --detail 0: nothing invented; the hidden half is the synthesis's low-pass only
    flat = keep_observed_detail(synthesis, np.where(mask, skin, 0.5), mask, sharp, cutoff, detail=0.0)
    hidden = ~mask
    hidden[:, : r // 2 + 12] = False
    low = gaussian_filter(synthesis, r / (2 * np.pi * 16), mode="reflect")
    np.testing.assert_allclose(flat[hidden], low[hidden], atol=2e-3)
    assert np.std(flat[hidden]) < 0.7 * np.std(synthesis[hidden])


def test_invented_detail_follows_the_persons_own_roughness(skin):
    """A restored photo holding half of every band's power, of skin that is rough in the top
    half of the chart and smooth in the bottom half: the invented detail brings each part up
    to its own power (the photo's over its share), not to the synthesis's everywhere."""
    r = 128
    mask, _, _ = half_observed(r, 3, 0.7)
    synthesis = np.clip(0.6 + 0.2 * gaussian_filter(np.random.default_rng(4).standard_normal((r, r)), 0.7), 0, 1)
    contrast = np.where(np.arange(r)[:, None] < r // 2, 1.0, 0.3)
    photo = 0.6 + contrast * (skin - 0.6)
    transfer = estimate_transfer(photo, mask, sampling_cutoff(None, r), [skin], np.ones(1))
    out = keep_observed_detail(synthesis, np.where(mask, photo, 0.5), mask, transfer, sampling_cutoff(None, r),
                               kept_share=lambda f: np.full_like(f, 0.5))
    rough = np.zeros((r, r), bool)
    rough[8:56, 8:52] = True
    smooth = np.zeros_like(rough)
    smooth[72:120, 8:52] = True

    def power(y, region):
        band = gaussian_filter(y, r / (2 * np.pi * 64)) - gaussian_filter(y, r / (2 * np.pi * 32))
        return float(np.mean(band[region] ** 2))

    for region in (rough, smooth):  # the person's power is twice what the photo holds
        assert 1.5 < power(out, region) / power(photo, region) < 2.6
    assert power(out - photo, smooth) < 0.3 * power(out - photo, rough)
    assert power(synthesis, smooth) > 3.0 * power(out, rough)  # far below the synthesis's


def test_a_photo_restored_before_the_unwrap_is_kept_and_only_its_loss_invented(skin):
    """The photo's blur was undone in the image (facetex.fitting.deblur): the fusion keeps its
    bands unchanged (no second restoration) and invents detail only where the restoration
    could not bring the power back: none at low frequencies, all of it at high ones."""
    r = 128
    mask, inside, synthesis = half_observed(r, 2, 0.7)
    cutoff = sampling_cutoff(None, r)
    transfer = estimate_transfer(skin, mask, cutoff, [skin], np.ones(1))
    noise = np.geomspace(1e-3, 1e3, 12)  # the noise outweighs the signal from ~10 cycles per IOD
    blur = PhotoBlur(sigma=4.0, inter_ocular=100.0, contrast=1.0, noise_variance=1e-4,
                     frequencies=3.0 * 2.0 ** (np.arange(12) / 3.0), measured=np.ones(12), noise=noise)
    share = restored_share(blur, np.full(500, 2.0))  # 2 photo pixels per texel
    low, high = share(np.array([1 / r, 60 / r]))
    assert low > 0.99 and high < 1e-3
    np.testing.assert_allclose(share(np.array([0.1])), blur.kept_share(np.array([0.05])))
    out = keep_observed_detail(synthesis, np.where(mask, skin, 0.5), mask, transfer, cutoff, kept_share=share)
    # what the restored photo holds is kept as it is …
    assert band_corr(out, skin, inside, 4, 16) > 0.99
    # … what it lost (high frequencies) is added from the synthesis, on top of the photo's
    # (scaled texel by texel to the photo's local power, so not the synthesis exactly) …
    assert band_corr(out - skin, synthesis, inside, 48, 64) > 0.75
    assert band_corr(out - skin, synthesis, inside, 4, 8) < 0.2
    # … and no more of it than the synthesis's power lacks: the photo's power plus the
    # invented power stays at the synthesis's where the photo has less
    def power(y, low, high):
        band = gaussian_filter(y, r / (2 * np.pi * high)) - gaussian_filter(y, r / (2 * np.pi * low))
        return float(np.mean(band[inside] ** 2))
    for low, high in [(32, 64)]:
        target = max(power(skin, low, high), power(synthesis, low, high))
        assert power(skin, low, high) < power(out, low, high) < 1.25 * target
    everything = keep_observed_detail(synthesis, np.where(mask, skin, 0.5), mask, transfer, cutoff,
                                      kept_share=lambda f: np.ones_like(f))
    np.testing.assert_allclose(everything[inside], skin[inside], atol=1e-6)


def test_one_blur_in_the_photo_is_fitted_over_a_chart_sampled_unevenly(textures):
    """A photo blurred by σ = 3 pixels, whose observed half samples 1 pixel per texel on its
    left and 2 on its right, holds a texel blur of 3 there and 1.5 here: the fit finds the one
    blur in photo pixels, and its transfer lies between the two halves' (a single texel blur
    fitted to their mean would fit neither half)."""
    r = 256
    g = textures["gravel"][:r, :r].astype(np.float64)
    skin = np.clip(0.6 + 0.25 * (g - g.mean()), 0.0, 1.0)
    mask = np.zeros((r, r), bool)
    mask[:, : r // 2] = True
    density = np.where(np.arange(r)[None, :] < r // 4, 1.0, 2.0) * np.ones((r, 1))
    partial = np.where(density == 1.0, gaussian_filter(skin, 3.0), gaussian_filter(skin, 1.5))
    fit = estimate_transfer(partial, mask, sampling_cutoff(density, r), [skin], np.ones(1))
    assert 2.4 < fit.blur_pixels < 3.6, fit.as_dict()
    assert fit.texel_blurs.min() == pytest.approx(fit.blur_pixels / 2) and fit.texel_blurs.max() == pytest.approx(fit.blur_pixels)
    f = np.array([24.0 / r])
    h2 = fit.power_transfer(f)[0]
    assert np.exp(-4 * np.pi**2 * 3.0**2 * f[0] ** 2) < h2 < np.exp(-4 * np.pi**2 * 1.5**2 * f[0] ** 2)


def test_the_restoration_fades_out_at_the_masks_edge():
    """Restoring a blurred photo amplifies its detail inside the mask but not on the mask's
    edge, where the restoration kernel would ring on the photo's end."""
    r = 128
    rng = np.random.default_rng(0)
    skin = np.clip(0.6 + 0.4 * gaussian_filter(rng.standard_normal((r, r)), 0.7), 0.0, 1.0)
    mask = np.zeros((r, r), bool)
    mask[:, : r // 2] = True
    blurred = gaussian_filter(skin, 1.5)
    cutoff = sampling_cutoff(None, r)
    soft = estimate_transfer(blurred, mask, cutoff, [skin], np.ones(1))
    assert soft.blur_pixels > 0.5
    out = keep_observed_detail(np.full((r, r), 0.6), np.where(mask, blurred, 0.5), mask, soft, cutoff, detail=0.0)

    def gain(col):  # high-pass RMS of the output over the photo's, in one column
        def hp(y):
            return (y - gaussian_filter(y, 2.0))[8:-8, col]
        return float(np.sqrt(np.mean(hp(out) ** 2) / np.mean(hp(blurred) ** 2)))

    assert gain(r // 2 - 1) < 1.2  # the edge texel: kept as the photo has it
    assert gain(30) > 1.8  # deep inside: restored


def test_marks_seen_by_the_photo_stay_and_hidden_ones_do_not_appear(vgg, skin, textures):
    """Dark dots of 3 texels on a skin texture, in the partial albedo everywhere but observed
    only on its left half: the observed dots stay in the output at their place; the hidden
    ones do not appear (the output equals that of a partial without them)."""
    r = 128
    truth = skin.copy()
    dots = [(30, 20), (64, 40), (100, 25), (30, 90), (64, 110), (100, 95)]
    for row, col in dots:
        truth[row - 1 : row + 2, col - 1 : col + 2] -= 0.3
    mask = np.zeros((r, r), bool)
    mask[:, :60] = True
    init = grey_rgb(gaussian_filter(skin, 4.0))
    exemplars = [grey_rgb(textures["gravel"][128:256, 128:256]), grey_rgb(textures["grass"][:128, :128])]
    config = TextureConfig(schedule=(Stage(64, 4), Stage(128, 4)), preselect_count=0, early_stop_tolerance=0.0)
    out = infer_texture(init, grey_rgb(truth), mask, exemplars, config, vgg, progress=False)
    y = out.synthesis.luminance
    assert out.transfer is not None

    def depth(image, row, col):  # ring mean minus centre
        ring = np.concatenate([image[row - 4, col - 4 : col + 5], image[row + 4, col - 4 : col + 5],
                               image[row - 3 : row + 4, col - 4], image[row - 3 : row + 4, col + 4]])
        return float(ring.mean() - image[row, col])

    seen = [(row, col) for row, col in dots if col < 60]
    for row, col in seen:
        assert depth(y, row, col) > 0.8 * depth(truth, row, col)
    without_hidden = truth.copy()
    without_hidden[:, 60:] = skin[:, 60:]
    other = infer_texture(init, grey_rgb(without_hidden), mask, exemplars, config, vgg, progress=False)
    for row, col in dots:
        if col >= 60:
            patch = np.s_[row - 2 : row + 3, col - 2 : col + 3]
            assert np.abs(y[patch] - other.synthesis.luminance[patch]).max() < 0.02
    # the paper's recipe re-synthesises the observed half too: the observed marks fade
    paper = infer_texture(init, grey_rgb(truth), mask, exemplars, config.replace(keep_observed=False), vgg,
                          progress=False)
    assert np.mean([depth(paper.synthesis.luminance, *d) for d in seen]) < 0.8 * np.mean([depth(y, *d) for d in seen])


def test_detail_map_is_checked(vgg, skin, textures):
    mask = np.zeros((64, 64), bool)
    mask[:, :32] = True
    init = grey_rgb(gaussian_filter(skin[:64, :64], 3.0))
    partial = np.where(mask[..., None], grey_rgb(skin[:64, :64]), 0.5).astype(np.float32)
    exemplars = [grey_rgb(textures["gravel"][:64, :64])]
    config = TextureConfig(schedule=(Stage(64, 0),), preselect_count=0)
    with pytest.raises(InputImageError, match="detail map"):
        infer_texture(init, partial, mask, exemplars, config, vgg, detail_map=np.full((64, 64), 3.0), progress=False)
    with pytest.raises(ShapeMismatchError, match="square"):
        infer_texture(init, partial, mask, exemplars, config, vgg, detail_map=np.ones((64, 32)), progress=False)
    with pytest.raises(ValueError, match="detail"):
        TextureConfig(detail=2.5)
    zero = infer_texture(init, partial, mask, exemplars, config, vgg, detail_map=np.zeros((16, 16)), progress=False)
    assert np.isfinite(zero.synthesis.luminance).all()
    np.testing.assert_allclose(luminance(zero.synthesis.rgb), zero.synthesis.luminance, atol=2e-2)
