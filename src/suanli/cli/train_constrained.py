"""``suanli train plan --max-days --budget --max-devices``: the best pre-training plan that
meets the constraints, from the planner's Pareto front (see ``suanli.plan.constraints``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from suanli.perf.training import Estimate
    from suanli.plan.constraints import Choice, Constraints
    from suanli.plan.search import SearchResult


def constrained(res: SearchResult, cons: Constraints, objective: str,
                currency: str = "USD") -> Choice[Estimate]:
    """The best plan of ``res`` under ``cons``: its front holds the optimum of every such
    problem, and the ranked plans are added so ties resolve as the table shows them."""
    from suanli.money import format_money
    from suanli.plan.constraints import Candidate, choose

    seen: set[int] = set()
    cands = []
    for e in [*res.pareto, *res.best]:
        if id(e) in seen:
            continue
        seen.add(id(e))
        cands.append(Candidate(devices=e.plan.devices, days=e.days, cost_usd=e.cost_usd,
                               item=e))
    return choose(cands, cons, objective, lambda usd: format_money(usd, currency))


def print_constrained(res: SearchResult, cons: Constraints, objective: str,
                      currency: str = "USD") -> None:
    from suanli.cli.common import console
    from suanli.money import format_money
    from suanli.report.training import plan_table

    con = console()
    choice = constrained(res, cons, objective, currency)
    job = res.best[0].job
    money = lambda usd: format_money(usd, currency)  # noqa: E731
    con.print(f"constraints: {cons.describe(money)}; objective: {objective} "
              f"({'cheapest' if objective == 'cost' else 'fastest'} plan that meets them)")
    if choice.best is None:
        con.print("[red]no plan meets the constraints:[/]")
        for line in choice.binding:
            con.print(f"  - {line}")
    else:
        best = choice.best.item
        cost = "no price" if best.cost_usd is None else money(best.cost_usd)
        con.print(f"[green]best:[/] {best.plan.devices:,} x {job.accelerator.name}, "
                  f"{best.days:,.1f} days, {cost}")
        con.print(plan_table([c.item for c in choice.feasible[:5]],
                             f"plans that meet the constraints for {job.model.name} "
                             f"(best first, by {objective})", currency))
    con.print(plan_table(res.pareto, "Pareto front searched: devices vs time vs cost",
                         currency))
