"""Tables, CSV / JSON, figure grid and the atomic output folder of a run; the CLI."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math

import numpy as np
import pytest

from facetex.cli import main
from facetex.evaluation import fidelity as F
from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.results import ProtocolResult, SubjectResult, VariantInfo
from facetex.evaluation.run import aggregate
from facetex.evaluation.scoring import METRICS, fidelity_metric
from facetex.evaluation.variants import build_variants
from facetex.evaluation import tables as T
from facetex.evaluation.bootstrap import Summary, summarize


def _result(with_images: bool = True, ablation: str = "none") -> ProtocolResult:
    variants = build_variants(("pca", "convex"), ablation)
    subjects = []
    for i in range(3):
        metrics = {
            v.name: {m: (float("nan") if m == "spectrum_error_hidden" else 0.5 + 0.1 * k + 0.01 * i) for m in METRICS}
            for k, v in enumerate(variants)
        }
        info = {v.name: VariantInfo(seconds=1.0) for v in variants}
        images = {}
        if with_images and i < 2:
            images = {name: np.full((32, 32, 3), 0.2 * j, np.float32)
                      for j, name in enumerate(["input", "partial", "truth", "pca", "convex"])}
        inputs = {fidelity_metric(k, region, b): 0.25 + 0.01 * i
                  for k in ("corr", "logratio") for region in ("observed", "registered") for b in F.FIDELITY_BANDS}
        subjects.append(SubjectResult(f"00{i}", f"00{i}_03", metrics, info, {"total": 2.0}, {"fit_E": 0.1}, images,
                                        input_metrics=inputs))
    summary, comparisons = aggregate(subjects, variants)
    input_summary = {m: summarize([s.input_metrics[m] for s in subjects]) for m in subjects[0].input_metrics}
    bands = F.bands_at(256)
    sameness = {
        row: {region: {F.band_label(b): F.Sameness(0.4, 0.1, 0.3, 3) for b in bands} for region in regions}
        for row, regions in (("input", ("observed",)), *((v.name, ("observed", "hidden")) for v in variants))
    }
    return ProtocolResult(
        config=ProtocolConfig(subjects=3, variants=("pca", "convex"), ablation=ablation, paper_iterations=500),
        variants=variants, subjects=tuple(subjects),
        failures=(("009", "no face found"),), summary=summary, comparisons=comparisons,
        database={"name": "london", "path": "/x.h5", "subjects": 8, "persons": 4, "attribution": "CC BY 4.0 test"},
        seconds=12.0,
        input_summary=input_summary,
        sameness=sameness,
    )


def test_format_and_verdict():
    assert T.format_summary(Summary(0.5, 0.4, 0.6, 3, 0.95)) == "0.500 [0.400, 0.600]"
    assert T.format_summary(Summary(math.nan, math.nan, math.nan, 0, 0.95)) == "–"
    assert T.verdict(Summary(0.2, 0.1, 0.3, 5, 0.95)) == "holds"
    assert T.verdict(Summary(-0.2, -0.3, -0.1, 5, 0.95)) == "reversed"
    assert T.verdict(Summary(0.0, -0.1, 0.1, 5, 0.95)) == "n.s."


def test_markdown_report_lists_every_variant_and_the_ordering():
    text = T.markdown_report(_result(), command="facetex evaluate -o x")
    assert "facetex evaluate -o x" in text and "1 failed (009)" in text
    assert "| pca | 0.500 [0.500, 0.500]" not in text  # identity values vary per subject
    rows = [line for line in text.splitlines() if line.startswith("| pca |") or line.startswith("| convex |")]
    assert len(rows) == 14  # two variants in two tables and five fidelity tables (two against the registered truth)
    # metrics of "convex" are all 0.1 higher: better where higher is better, worse where lower is
    ordering = next(line for line in text.splitlines() if line.startswith("| identity cos"))
    assert "convex>pca" not in ordering and "holds" in ordering
    rmse = next(line for line in text.splitlines() if line.startswith("| RMSE Y observed"))
    assert "reversed" in rmse
    assert "CC BY 4.0 test" in text
    assert "(patches 32²), low-pass" in text  # every region on the protocol's patch


def test_markdown_report_says_when_the_hidden_spectrum_took_smaller_patches():
    result = _result()
    subjects = tuple(dataclasses.replace(s, diagnostics={**s.diagnostics, "hidden_patch_size": 16 if i else 32})
                     for i, s in enumerate(result.subjects))
    text = T.markdown_report(dataclasses.replace(result, subjects=subjects), command="x")
    assert "(patches 32², hidden region on 16²)" in text


def test_markdown_report_has_the_fidelity_tables():
    text = T.markdown_report(_result())
    section = text[text.index("## Fidelity"):text.index("## Paper ordering")]
    assert "| row | 16-32 c/fw | 32-64 c/fw | 64-128 c/fw |" in section  # 128–256 is above 256² Nyquist
    # corr and log-ratio, observed texels, against the database texture and the registered truth
    assert section.count("| input (partial albedo) | 0.260 [0.250, 0.270]") == 4
    hidden = section[section.index("hidden texels"):section.index("### Against the registered truth")]
    assert "input" not in hidden and "| convex |" in hidden
    assert "| input (partial albedo), observed | +0.300 (0.400 − 0.100)" in section
    assert "| convex, hidden |" in section
    ordering = text[text.index("## Paper ordering"):]
    assert "corr 16-32" not in ordering  # fidelity comparisons stay in results.json


def test_markdown_report_says_what_the_recipe_variants_ran():
    assert "256², 30 L-BFGS iterations per synthesis variant, α = 100" in T.markdown_report(_result())
    text = T.markdown_report(_result(ablation="recipe"))
    assert ('256², 30 L-BFGS iterations per synthesis variant ("fast": 128²×100 bf16 + 256²×30 bf16; '
            '"paper": 256²×500), α = 100') in text


def test_csv_and_json_are_complete_and_strict():
    result = _result()
    rows = list(csv.DictReader(io.StringIO(T.results_csv(result))))
    assert len(rows) == 9 and rows[0]["variant"] == "pca" and rows[0]["spectrum_error_hidden"] == ""
    assert rows[2]["variant"] == "input" and float(rows[2]["corr_observed_16-32"]) == pytest.approx(0.25)
    assert rows[2]["identity"] == "" and rows[2]["seconds"] == ""
    assert float(rows[1]["identity"]) == pytest.approx(0.6)
    summary = list(csv.DictReader(io.StringIO(T.summary_csv(result))))
    assert len(summary) == 2 * len(METRICS) + 16  # and the input's 4 bands × (corr, log-ratio) × 2 truths
    data = T.results_json(result)
    text = json.dumps(data, allow_nan=False)  # NaN became null
    loaded = json.loads(text)
    assert loaded["summary"]["pca"]["spectrum_error_hidden"]["mean"] is None
    assert loaded["sameness"]["convex"]["hidden"]["16-32"] == {"estimates": 0.4, "truths": 0.1, "difference": 0.3,
                                                                "pairs": 3}
    assert loaded["input_summary"]["corr_observed_16-32"]["mean"] == pytest.approx(0.26)
    assert loaded["subjects"][0]["input_metrics"]["logratio_observed_64-128"] == pytest.approx(0.25)
    assert loaded["fidelity"]["bands_cycles_per_face_width"] == [[16, 32], [32, 64], [64, 128]]


def test_figure_grid_places_each_image():
    red = np.zeros((10, 10, 3), np.float32)
    red[..., 0] = 1
    grid = T.figure_grid([[red, red * 0]], ["a", "b"], ["row"], tile=20)
    assert grid.shape == (18 + 22, 64 + 2 * 22, 3)
    np.testing.assert_allclose(grid[18 + 5, 64 + 5], [1, 0, 0])
    np.testing.assert_allclose(grid[18 + 5, 64 + 22 + 5], [0, 0, 0])
    with pytest.raises(ValueError):
        T.figure_grid([[red]], ["a", "b"], ["row"])


def test_write_results_is_atomic(tmp_path, monkeypatch):
    out = T.write_results(_result(), tmp_path / "run")
    written = sorted(p.name for p in out.iterdir())
    assert written == [".facetex-result", "figure.png", "results.csv", "results.json", "summary.csv", "table.md"]

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(T, "figure_grid", broken)
    with pytest.raises(RuntimeError):
        T.write_results(_result(), tmp_path / "second")
    assert not (tmp_path / "second").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary folder left behind


@pytest.mark.parametrize("args, message", [
    (["--variants", "pca,best"], "unknown variants"),
    (["--size", "100"], "power of two"),
    (["--blur-fraction", "0"], "blur_fraction"),
])
def test_cli_rejects_bad_settings(tmp_path, capsys, args, message):
    assert main(["evaluate", "-o", str(tmp_path / "x"), *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_cli_runs_the_baselines(eval_db, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(["evaluate", "--db", str(eval_db), "--persons", "001", "--size", "64", "--variants", "pca,inpaint",
                 "--no-identity", "--degrade", "downsample", "--hide", "occluder", "-o", str(out)])
    assert code == 0
    assert "evaluated 1 held-out subjects" in capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    assert [v["name"] for v in data["variants"]] == ["pca", "inpaint"]
    assert data["config"]["degrade"]["detail"] == "downsample" and data["subjects"][0]["person"] == "001"
    assert data["subjects"][0]["metrics"]["inpaint"]["identity"] is None  # --no-identity
