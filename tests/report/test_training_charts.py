"""The training chart's Pareto front: the points no other point beats on days and cost."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from suanli.report.training_charts import Point, pareto_points


@given(st.lists(st.tuples(st.floats(0.1, 100), st.floats(1, 1e6)), min_size=1, max_size=30))
def test_front_points_are_not_dominated_and_every_other_point_is(pairs) -> None:
    pts = [Point(i + 1, d, c, "") for i, (d, c) in enumerate(pairs)]
    front = pareto_points(pts)
    assert front

    def dominated(p: Point) -> bool:
        return any(q.days <= p.days and q.cost_usd <= p.cost_usd  # type: ignore[operator]
                   and (q.days < p.days or q.cost_usd < p.cost_usd) for q in pts)  # type: ignore[operator]

    assert not any(dominated(p) for p in front)
    assert all(dominated(p) or p in front or any(
        (q.days, q.cost_usd) == (p.days, p.cost_usd) for q in front) for p in pts)
    assert [p.days for p in front] == sorted(p.days for p in front)


def test_unpriced_points_have_no_front() -> None:
    assert pareto_points([Point(8, 1.0, None, "")]) == []
