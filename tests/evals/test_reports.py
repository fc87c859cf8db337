"""The numbers behind the HTML reports: histogram bins, axis ticks, clipped intervals, labels
that tell models apart, and the words for a change (issue 14: "reports mislead")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openrft.cli.demo import reward_curves
from openrft.evals import charts, views
from openrft.evals.compare import reward_bounds
from openrft.evals.gate import Thresholds, change, gate
from openrft.evals.stats import mean_ci
from openrft.graders import validate_grader
from tests.evals import report_data


def test_bins_put_each_reward_in_its_own_range_and_the_top_one_is_inclusive() -> None:
    counted = charts.bins([0.0, 0.3, 0.7, 0.95, 0.999, 1.0, 1.0], 0.0, 1.0, 10)
    assert [n for _, _, n in counted] == [1, 0, 0, 1, 0, 0, 0, 1, 0, 4]
    assert counted[3][:2] == (pytest.approx(0.3), pytest.approx(0.4))  # 0.3 is not in [0.2, 0.3)
    labels = [charts.bin_label(a, b, k == 9) for k, (a, b, _) in enumerate(counted)]
    assert labels[0] == "[0, 0.1)" and labels[3] == "[0.3, 0.4)" and labels[-1] == "[0.9, 1]"
    assert sum(n for _, _, n in charts.bins([-1.0, 2.0], 0.0, 1.0, 4)) == 2  # clamped, not lost


def test_the_histogram_labels_bins_by_range_and_shows_counts_as_integers() -> None:
    svg = charts.histogram("rewards", [1.0, 1.0, 0.0, 0.3])
    labels = re.findall(r'<tspan x="8" y="[\d.]+">([^<]*)</tspan>', svg)
    assert labels[-1] == "[0.9, 1]" and "0.95" not in svg
    values = re.findall(r'<text class="value"[^>]*>([^<]*)</text>', svg)
    assert values == ["1", "0", "0", "1", "0", "0", "0", "0", "0", "2"]
    assert "(4 answers)" in svg


def test_ticks_are_round_and_cover_the_range() -> None:
    assert charts.ticks(0.0, 1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert charts.ticks(0, 50, count=7, integer=True) == [0, 10, 20, 30, 40, 50]
    assert charts.ticks(0, 7, integer=True) == [0, 2, 4, 6, 8]
    assert charts.ticks(3, 3, integer=True) == [3, 4]
    assert charts.ticks(-0.2, 1.0)[0] <= -0.2


def test_rewards_share_one_scale_so_a_small_mean_draws_a_short_bar() -> None:
    svg = charts.bars("per slice", {"a": 0.057, "b": 0.486})
    widths = [float(w) for w in re.findall(r'<rect class="bar"[^>]*width="([\d.]+)"', svg)]
    span = charts._BAR_X1 - charts._BAR_X0
    assert widths == [pytest.approx(0.057 * span, abs=0.1), pytest.approx(0.486 * span, abs=0.1)]
    ticks = re.findall(r'<text class="tick x"[^>]*>([^<]*)</text>', svg)
    assert ticks == ["0", "0.25", "0.5", "0.75", "1"]


def test_checkpoint_labels_keep_the_part_that_tells_them_apart() -> None:
    names = report_data.CHECKPOINTS
    assert charts.distinct(names) == [
        "…ab12cd34:ckpt-step-25",
        "…ab12cd34:ckpt-step-50",
        "…ab12cd34",
    ]
    assert charts.distinct(["openrft-tiny", names[0]]) == ["openrft-tiny", names[0]]
    assert charts.distinct(["edge", "hard"]) == ["edge", "hard"]
    svg = charts.bars("per model", dict.fromkeys(names, 0.5))
    assert all(f"<title>{name}</title>" in svg for name in names)  # tooltip: the full name
    assert all(name in svg.split('<ul class="legend">')[1] for name in names)  # and a legend
    lines = charts.wrap(names[0])
    assert "".join(lines) == names[0] and all(len(line) <= 28 for line in lines)


def test_intervals_of_bounded_rewards_stay_in_the_bounds() -> None:
    assert mean_ci([1.0, 1.0, 0.4]) == (
        pytest.approx(0.4080, abs=1e-3),
        pytest.approx(1.1920, abs=1e-3),
    )
    low, high = mean_ci([1.0, 1.0, 0.4], (0.0, 1.0)) or (0, 0)
    assert high == 1.0 and low == pytest.approx(0.4080, abs=1e-3)
    assert mean_ci([0.0, 0.0, 0.3], (0.0, 1.0)) == (0.0, pytest.approx(0.296, abs=1e-3))
    judge = report_data.JUDGE
    assert reward_bounds(judge) == (0.0, 1.0)
    assert reward_bounds(validate_grader(report_data.EXACT)) == (0.0, 1.0)
    python = {"type": "python", "name": "p", "source": "def grade(sample, item):\n    return 2.0\n"}
    assert reward_bounds(validate_grader(python)) is None  # any float: nothing to clip to
    for model in report_data.models():
        for stats in [model.overall, *model.slices.values()]:
            assert stats.reward_ci is None or 0.0 <= stats.reward_ci[0] <= stats.reward_ci[1] <= 1.0


def test_a_change_is_said_in_words_never_as_a_negative_drop() -> None:
    assert change(0.42857) == "improved by 0.4286"
    assert change(-0.1) == "dropped by 0.1000"
    assert change(0.0) == "unchanged"
    base, _, tuned = report_data.models()
    verdict = gate(tuned, base, Thresholds(min_gain=0.1, slice_tolerance=0.05))
    details = {check.name: check.detail for check in verdict.checks}
    assert "improved by 0.4286" in details["slice:hard"]
    assert "dropped by 0.1429" in details["slice:edge"]
    assert "improved by 0.3171" in details["quality"]
    assert not any(re.search(r"drop -|gain -|drop \+", detail) for detail in details.values())


def test_the_gate_headline_names_the_candidate_and_the_baseline() -> None:
    base, _, tuned = report_data.models()
    verdict = gate(tuned, base, Thresholds(min_gain=0.1, slice_tolerance=0.05))
    headline = views.gate_headline(verdict)
    assert headline.text == f"FAIL — candidate {tuned.model} vs baseline {base.model}"
    assert headline.tone == "bad" and len(headline.reasons) == 1
    assert "slice 'edge'" in headline.reasons[0]


def test_readiness_says_tag_shares_in_words_not_as_a_python_dict(tmp_path: Path) -> None:
    result = report_data.ready(tmp_path, report_data.models()[0])
    detail = next(i.detail for i in result.items if i.name == "edge and refusal cases")
    assert "{" not in detail and "'" not in detail
    assert "train edge 28.0%, refusal 12.0%" in detail
    page = views.write_readiness(tmp_path / "r", result)[0].read_text()
    assert "{&#x27;" not in page and "{'" not in page
    assert 'class="verdict bad"' in page and "NO-GO — fix 1 blocking check(s)" in page


def test_the_validation_curve_starts_at_the_step_0_baseline() -> None:
    base, _, tuned = report_data.models()
    svg = reward_curves(report_data.demo(base, tuned))
    train, valid = re.findall(r'<polyline[^>]*points="([^"]*)"', svg)
    ticks = dict(re.findall(r'<text class="tick x" x="([\d.]+)"[^>]*>([^<]*)</text>', svg))
    zero = float(next(x for x, label in ticks.items() if label == "0"))
    assert float(valid.split()[0].split(",")[0]) == pytest.approx(zero)
    assert len(valid.split()) == 3 and len(train.split()) == 50
    assert [label for label in ticks.values()] == ["0", "10", "20", "30", "40", "50"]
