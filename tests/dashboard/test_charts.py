"""The server-rendered SVG charts: axes that read well, escaped text, gaps and empty data."""

from __future__ import annotations

import math
import re

from botyard.dashboard import charts


def test_axis_tops_are_round_and_cover_the_data() -> None:
    assert charts.nice_ceiling(0) == 4
    assert charts.nice_ceiling(3) == 4
    assert charts.nice_ceiling(5) == 8
    assert charts.nice_ceiling(12) == 20
    assert charts.nice_ceiling(66) == 80
    assert charts.nice_ceiling(1000) == 2000
    for value in (1, 7, 19, 101, 999, 12345):
        top = charts.nice_ceiling(value)
        assert top >= value
        assert (top / 4) == int(top / 4)  # whole-number ticks for counts


def test_bar_chart_draws_one_bar_per_value_with_tooltips() -> None:
    svg = charts.bar_chart(
        ["Mon", "Tue", "Wed"],
        [charts.Series("Users", [1, 0, 3]), charts.Series("Bots", [2, 1, 0])],
        title="Messages",
    )
    assert svg.count("<rect") == 4  # zero values draw nothing
    assert "<title>Wed: Users: 3</title>" in svg
    assert 'aria-label="Messages"' in svg
    assert "Users</span>" in svg and "Bots</span>" in svg  # legend for several series


def test_stacked_bars_reach_the_total_height() -> None:
    svg = charts.bar_chart(["a"], [charts.Series("x", [2]), charts.Series("y", [2])], title="t")
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    plot_height = charts.HEIGHT - charts.TOP - charts.BOTTOM
    assert math.isclose(sum(heights), plot_height, abs_tol=0.2)  # 4 of a 4-high axis


def test_text_is_escaped() -> None:
    svg = charts.bar_chart(
        ["<script>"], [charts.Series('key "x" <b>', [1])], title="<img src=x>", legend=True
    )
    assert "<script>" not in svg and "<img" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg


def test_line_chart_breaks_at_missing_values_and_caps_rates() -> None:
    svg = charts.line_chart(
        ["1", "2", "3", "4"],
        [charts.Series("Answered", [0.5, math.nan, 1.0, 0.75])],
        title="Rate",
        y_format=charts.as_percent,
        y_max=1.0,
    )
    assert svg.count("<circle") == 3
    assert svg.count("<polyline") == 1  # the two points after the gap; the first stands alone
    assert ">100%<" in svg and ">50%<" in svg


def test_empty_data_says_so() -> None:
    assert "No data in this period" in charts.bar_chart([], [], title="Nothing")
    assert "No data in this period" in charts.bar_chart(
        ["a", "b"], [charts.Series("x", [0, 0])], title="Zeros"
    )
    assert "No data in this period" in charts.line_chart(
        ["a"], [charts.Series("x", [math.nan])], title="Gaps"
    )
