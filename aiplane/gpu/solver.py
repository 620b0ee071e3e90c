"""Exact GPU minimisation as a pattern integer program, solved with HiGHS.

Variables (all integer):

* ``x[c, o]`` — units of demand class ``c`` placed on option ``o`` (pool, slice);
* ``s[r, o]`` — segments of throughput demand ``r`` on option ``o``;
* ``y[t, k]`` — GPUs of pool ``t`` configured with maximal layout ``k``.

Rows: every class is placed (``Σ_o x = n_c``; ``≤`` when admitting under a shortage), every
request rate is met (``Σ_o thr·s ≥ rate``), every pool offers enough instances of each slice
(``Σ x + Σ s ≤ Σ_k a[k, p]·y[t, k]``) and stays within its GPUs (gangs count whole GPUs).

Exact for identical GPUs per pool: any GPU's instances are a sub-multiset of a maximal layout and
instance identity does not matter. Two solves: first minimise GPUs (HiGHS stops at an absolute
gap of 0.5, which proves an integer optimum); then, with the GPU count capped at that optimum and
a short time limit, minimise the compute slices handed out, so no model gets a bigger slice than
it needs just because the optimum had room. (A single weighted objective did the same but made
ParvaGPU scenario 6 forty times slower.)
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aiplane.gpu.options import DemandClass, LayoutKey, PoolModel, RateDemand, layout_key

TIE_BREAK_BUDGET = 0.4
TIDY_SECONDS = 2.0  # most time the second (slice tidying) solve may take
_Cols = dict[tuple[int, int], int]  # (demand or pool, option or layout) → column index


@dataclass(frozen=True)
class Solution:
    """Counts chosen by a solver, plus what is proven about them."""

    units: Mapping[tuple[int, int], int]  # (class, option) → units
    segments: Mapping[tuple[int, int], int]  # (rate demand, option) → segments
    layouts: tuple[tuple[int, LayoutKey, int], ...]  # (pool, layout, GPUs with it)
    gpus: int
    lower_bound: int
    optimal: bool
    seconds: float
    status: str = "optimal"
    admitted_rates: frozenset[int] = field(default_factory=frozenset)


@dataclass
class _Model:
    """Column and row buffers, handed to HiGHS in one call."""

    cost: list[float] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    rows: list[tuple[float, float, dict[int, float]]] = field(default_factory=list)

    def column(self, cost: float, lower: float, upper: float) -> int:
        self.cost.append(cost)
        self.lower.append(lower)
        self.upper.append(upper)
        return len(self.cost) - 1

    def row(self, lower: float, upper: float, terms: dict[int, float]) -> None:
        self.rows.append((lower, upper, terms))


@dataclass(frozen=True)
class _Costs:
    gpu: float  # per GPU (layout GPUs and gang GPUs)
    compute: float  # per compute slice handed to a single unit or segment
    gpu_limit: int | None = None  # cap on GPUs (second solve)


@dataclass(frozen=True)
class Admission:
    """Shortage mode: how many units of each class must / may be placed."""

    minimum: Mapping[int, int]  # class → at least this many (higher priorities, fixed)
    maximise: frozenset[int]  # classes whose admitted units are maximised
    rate_minimum: frozenset[int] = frozenset()  # rate demands that must be served
    rate_maximise: frozenset[int] = frozenset()


def solve_ilp(
    pools: Sequence[PoolModel],
    classes: Sequence[DemandClass],
    rates: Sequence[RateDemand],
    *,
    time_limit_s: float,
    admission: Admission | None = None,
) -> tuple[Solution | None, str]:
    """Minimise GPUs (or, with ``admission``, maximise admitted units first).

    Returns the solution (None when none was found) and HiGHS's verdict: ``optimal``,
    ``time-limit``, ``infeasible`` or ``no-solution``.
    """
    started = time.perf_counter()
    deadline = started + time_limit_s
    weight = 1.0 if admission is None else _admission_gpu_weight(pools, classes, rates)
    first = _solve_once(pools, classes, rates, _Costs(weight, 0.0), admission, time_limit_s)
    solution, status = first
    if solution is None or admission is not None or not solution.optimal:
        return _finish(solution, rates, admission, started), status
    tidy_s = min(TIDY_SECONDS, deadline - time.perf_counter())
    if tidy_s > 0.05:
        costs = _Costs(0.0, 1.0, gpu_limit=solution.gpus)
        tidy, _status = _solve_once(pools, classes, rates, costs, None, tidy_s)
        used = _compute_used(solution, classes, rates)
        if tidy is not None and _compute_used(tidy, classes, rates) <= used:
            solution = replace(tidy, lower_bound=solution.lower_bound, optimal=True)
    return _finish(solution, rates, admission, started), status


def _compute_used(
    solution: Solution, classes: Sequence[DemandClass], rates: Sequence[RateDemand]
) -> int:
    """Compute slices handed to single units and segments (what the second solve minimises)."""
    used = sum(
        n * classes[ci].options[oi].compute
        for (ci, oi), n in solution.units.items()
        if classes[ci].gang == 1
    )
    return used + sum(
        n * rates[ri].options[oi].compute for (ri, oi), n in solution.segments.items()
    )


def _finish(
    solution: Solution | None,
    rates: Sequence[RateDemand],
    admission: Admission | None,
    started: float,
) -> Solution | None:
    if solution is None:
        return None
    solution = replace(solution, seconds=time.perf_counter() - started)
    if admission is None:  # every rate is a hard constraint then, so all are served
        solution = replace(solution, admitted_rates=frozenset(range(len(rates))))
    return solution


def _solve_once(
    pools: Sequence[PoolModel],
    classes: Sequence[DemandClass],
    rates: Sequence[RateDemand],
    costs: _Costs,
    admission: Admission | None,
    time_limit_s: float,
) -> tuple[Solution | None, str]:
    model = _Model()
    x, s, y, z = _columns(model, pools, classes, rates, costs, admission)
    _rows(model, pools, classes, rates, (x, s, y, z), admission, costs.gpu_limit)
    values, status, bound = _run(model, time_limit_s)
    if values is None:
        return None, status
    gangs = {key: classes[key[0]].gang for key in x if classes[key[0]].gang > 1}
    # The GPU bound only means something when GPUs are what is minimised.
    lower = math.ceil(bound - 1e-6) if admission is None and costs.compute == 0 else 0
    return _solution(values, status, lower, (x, s, y, z), gangs, pools), status


def _admission_gpu_weight(
    pools: Sequence[PoolModel], classes: Sequence[DemandClass], rates: Sequence[RateDemand]
) -> float:
    """GPUs only break ties when admitting: their whole term stays below TIE_BREAK_BUDGET, so
    with an absolute gap of 0.5 a solution admitting one unit fewer never passes as optimal."""
    return TIE_BREAK_BUDGET / (1 + _gpu_ceiling(pools, classes, rates))


def _columns(
    model: _Model,
    pools: Sequence[PoolModel],
    classes: Sequence[DemandClass],
    rates: Sequence[RateDemand],
    costs: _Costs,
    admission: Admission | None,
) -> tuple[_Cols, _Cols, _Cols, dict[int, int]]:
    x: dict[tuple[int, int], int] = {}
    for ci, demand in enumerate(classes):
        reward = -1.0 if admission and ci in admission.maximise else 0.0
        for oi, option in enumerate(demand.options):
            # A gang pays for its whole GPUs here; single units pay through the layouts (y).
            gang = demand.gang > 1
            cost = costs.gpu * demand.gang if gang else costs.compute * option.compute
            x[ci, oi] = model.column(cost + reward, 0, demand.count)
    s: dict[tuple[int, int], int] = {}
    for ri, rate in enumerate(rates):
        for oi, option in enumerate(rate.options):
            upper = math.ceil(rate.rate / option.throughput)
            s[ri, oi] = model.column(costs.compute * option.compute, 0, upper)
    z: dict[int, int] = {}
    if admission is not None:
        for ri in range(len(rates)):
            reward = -1.0 if ri in admission.rate_maximise else 0.0
            low = 1.0 if ri in admission.rate_minimum else 0.0
            z[ri] = model.column(reward, low, 1)
    y: dict[tuple[int, int], int] = {}
    for pool in pools:
        cap = pool.pool.capacity
        for ki, limit in enumerate(pool.limits):
            bounds = [b for b in (cap, limit) if b is not None]
            y[pool.index, ki] = model.column(costs.gpu, 0, min(bounds) if bounds else math.inf)
    return x, s, y, z


def _gpu_ceiling(
    pools: Sequence[PoolModel], classes: Sequence[DemandClass], rates: Sequence[RateDemand]
) -> int:
    caps = [p.pool.capacity for p in pools]
    if all(c is not None for c in caps):
        return sum(c for c in caps if c is not None)
    return sum(c.count * c.gang for c in classes) + sum(
        math.ceil(r.rate / min(o.throughput for o in r.options)) for r in rates
    )


def _rows(
    model: _Model,
    pools: Sequence[PoolModel],
    classes: Sequence[DemandClass],
    rates: Sequence[RateDemand],
    columns: tuple[_Cols, _Cols, _Cols, dict[int, int]],
    admission: Admission | None,
    gpu_limit: int | None,
) -> None:
    x, s, y, z = columns
    for ci, demand in enumerate(classes):
        terms = {x[ci, oi]: 1.0 for oi in range(len(demand.options))}
        if admission is None:
            model.row(demand.count, demand.count, terms)
        else:
            model.row(admission.minimum.get(ci, 0), demand.count, terms)
    for ri, rate in enumerate(rates):
        terms = {s[ri, oi]: o.throughput for oi, o in enumerate(rate.options)}
        if admission is None:
            model.row(rate.rate, math.inf, terms)
        else:
            model.row(0.0, math.inf, {**terms, z[ri]: -rate.rate})
    supply: dict[tuple[int, str], dict[int, float]] = {}
    capacity: dict[int, dict[int, float]] = {p.index: {} for p in pools}
    for ci, demand in enumerate(classes):
        for oi, option in enumerate(demand.options):
            if demand.gang > 1:
                capacity[option.pool][x[ci, oi]] = float(demand.gang)
            else:
                supply.setdefault((option.pool, option.slice), {})[x[ci, oi]] = 1.0
    for ri, rate in enumerate(rates):
        for oi, option in enumerate(rate.options):
            supply.setdefault((option.pool, option.slice), {})[s[ri, oi]] = 1.0
    for (pool_index, name), terms in supply.items():
        for ki, layout in enumerate(pools[pool_index].layouts):
            if layout.get(name):
                terms[y[pool_index, ki]] = -float(layout[name])
        model.row(-math.inf, 0.0, terms)
    for pool in pools:
        _fixed_whole_row(model, pool, capacity[pool.index], y)
        cap = pool.pool.capacity
        if cap is not None:
            terms = dict(capacity[pool.index])
            terms.update({y[pool.index, ki]: 1.0 for ki in range(len(pool.layouts))})
            model.row(-math.inf, cap, terms)
    if gpu_limit is not None:  # second solve: keep the proven GPU count
        every = {col: float(gang) for terms in capacity.values() for col, gang in terms.items()}
        every.update({col: 1.0 for col in y.values()})
        model.row(-math.inf, gpu_limit, every)


def _fixed_whole_row(
    model: _Model, pool: PoolModel, gangs: Mapping[int, float], y: Mapping[tuple[int, int], int]
) -> None:
    """In a fixed pool, gangs can only use the GPUs configured whole."""
    if not pool.index_layouts or not gangs:
        return
    for ki, layout in enumerate(pool.layouts):
        limit = pool.limits[ki]
        if "gpu" in layout and limit is not None:
            model.row(-math.inf, limit, {**gangs, y[pool.index, ki]: 1.0})


def _run(model: _Model, time_limit_s: float) -> tuple[list[float] | None, str, float]:
    import highspy  # heavy native module: load only when a plan is solved

    highs = _quiet(highspy.Highs)
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("log_to_console", False)
    highs.setOptionValue("time_limit", max(time_limit_s, 0.01))
    highs.setOptionValue("mip_rel_gap", 0.0)
    highs.setOptionValue("mip_abs_gap", 0.5)
    highs.setOptionValue("threads", 1)
    highs.setOptionValue("random_seed", 0)
    lp = highspy.HighsLp()
    lp.num_col_ = len(model.cost)
    lp.num_row_ = len(model.rows)
    lp.col_cost_ = model.cost
    lp.col_lower_ = model.lower
    lp.col_upper_ = model.upper
    lp.row_lower_ = [r[0] for r in model.rows]
    lp.row_upper_ = [r[1] for r in model.rows]
    starts, index, value = [0], [], []
    for _lo, _hi, terms in model.rows:
        for col in sorted(terms):
            index.append(col)
            value.append(terms[col])
        starts.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = starts
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    lp.integrality_ = [highspy.HighsVarType.kInteger] * lp.num_col_
    highs.passModel(lp)
    highs.run()
    status = highs.getModelStatus()
    info = highs.getInfo()
    if status == highspy.HighsModelStatus.kInfeasible:
        return None, "infeasible", -math.inf
    if info.primal_solution_status != 2:  # 2 = kSolutionStatusFeasible
        return None, "no-solution", -math.inf
    name = "optimal" if status == highspy.HighsModelStatus.kOptimal else "time-limit"
    values = list(highs.getSolution().col_value)
    return values, name, float(info.mip_dual_bound)


def _quiet(factory: Callable[[], Any]) -> Any:
    """HiGHS prints a banner from its C++ constructor, before any option can switch output
    off; silence file descriptor 1 for that moment so ``aiplane plan --json`` stays clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            return factory()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _solution(
    values: list[float],
    status: str,
    lower: int,
    columns: tuple[_Cols, _Cols, _Cols, dict[int, int]],
    gangs: Mapping[tuple[int, int], int],
    pools: Sequence[PoolModel],
) -> Solution:
    x, s, y, z = columns

    def count(col: int) -> int:
        return round(values[col])

    units = {key: count(col) for key, col in x.items() if count(col)}
    segments = {key: count(col) for key, col in s.items() if count(col)}
    layouts = tuple(
        (t, layout_key(pools[t].layouts[k]), count(col)) for (t, k), col in y.items() if count(col)
    )
    gpus = sum(n for _t, _k, n in layouts) + sum(
        n * gangs[key] for key, n in units.items() if key in gangs
    )
    return Solution(
        units=units,
        segments=segments,
        layouts=layouts,
        gpus=gpus,
        lower_bound=max(lower, 0),
        optimal=status == "optimal",
        seconds=0.0,
        status=status,
        admitted_rates=frozenset(ri for ri, col in z.items() if count(col)),
    )
