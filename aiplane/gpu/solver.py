"""Exact GPU minimisation as a pattern integer program, solved with HiGHS.

Variables (all integer):

* ``x[c, o]`` — units of demand class ``c`` placed on option ``o`` (pool, slice);
* ``s[r, o]`` — segments of throughput demand ``r`` on option ``o``;
* ``y[t, k]`` — GPUs of pool ``t`` configured with maximal layout ``k``.

Rows: every class is placed (``Σ_o x = n_c``; ``≤`` when admitting under a shortage), every
request rate is met (``Σ_o thr·s ≥ rate``), every pool offers enough instances of each slice
(``Σ x + Σ s ≤ Σ_k a[k, p]·y[t, k]``) and stays within its GPUs (gangs count whole GPUs).

Exact for identical GPUs per pool: any GPU's instances are a sub-multiset of a maximal layout and
instance identity does not matter. The objective is GPUs plus ``ε`` × compute slices handed out
(prefer the smaller of two equally good slices); ``ε`` keeps the tie-break term below 0.4, and
HiGHS stops at an absolute gap of 0.5, so "optimal" means the GPU count is proven minimal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiplane.gpu.options import DemandClass, PoolModel, RateDemand

TIE_BREAK_BUDGET = 0.4
LayoutKey = tuple[tuple[str, int], ...]  # sorted (slice, count) pairs
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
) -> Solution | None:
    """Minimise GPUs (or, with ``admission``, maximise admitted units first); None if no
    feasible solution was found in time."""
    started = time.perf_counter()
    model = _Model()
    epsilon = _epsilon(classes, rates)
    x, s, y, z = _columns(model, pools, classes, rates, epsilon, admission)
    _rows(model, pools, classes, rates, x, s, y, z, admission)
    values, status, bound = _run(model, time_limit_s)
    seconds = time.perf_counter() - started
    if values is None:
        return None
    gangs = {key: classes[key[0]].gang for key in x if classes[key[0]].gang > 1}
    return _solution(values, status, bound, (x, s, y, z), gangs, pools, seconds, admission)


def layout_key(layout: Mapping[str, int]) -> LayoutKey:
    return tuple(sorted((name, n) for name, n in layout.items() if n))


def _epsilon(classes: Sequence[DemandClass], rates: Sequence[RateDemand]) -> float:
    most = sum(c.count * max(o.compute for o in c.options) for c in classes)
    for demand in rates:
        slowest = min(o.throughput for o in demand.options)
        most += math.ceil(demand.rate / slowest) * max(o.compute for o in demand.options)
    return TIE_BREAK_BUDGET / (most + 1)


def _columns(
    model: _Model,
    pools: Sequence[PoolModel],
    classes: Sequence[DemandClass],
    rates: Sequence[RateDemand],
    epsilon: float,
    admission: Admission | None,
) -> tuple[_Cols, _Cols, _Cols, dict[int, int]]:
    # Admission maximises units: cost -1 per unit of the classes being maximised, and GPUs are
    # then only a tie-break (weight below one unit).
    gpu_weight = 1.0 if admission is None else 1.0 / (1 + _gpu_ceiling(pools, classes, rates))
    x: dict[tuple[int, int], int] = {}
    for ci, demand in enumerate(classes):
        reward = -1.0 if admission and ci in admission.maximise else 0.0
        for oi, option in enumerate(demand.options):
            # A gang costs its whole GPUs here; single units pay through the layouts (y).
            usage = float(demand.gang) if demand.gang > 1 else epsilon * option.compute
            x[ci, oi] = model.column(gpu_weight * usage + reward, 0, demand.count)
    s: dict[tuple[int, int], int] = {}
    for ri, rate in enumerate(rates):
        for oi, option in enumerate(rate.options):
            upper = math.ceil(rate.rate / option.throughput)
            s[ri, oi] = model.column(epsilon * gpu_weight * option.compute, 0, upper)
    z: dict[int, int] = {}
    if admission is not None:
        for ri in range(len(rates)):
            reward = -1.0 if ri in admission.rate_maximise else 0.0
            low = 1.0 if ri in admission.rate_minimum else 0.0
            z[ri] = model.column(reward, low, 1)
    y: dict[tuple[int, int], int] = {}
    for pool in pools:
        cap = pool.pool.capacity
        for ki in range(len(pool.layouts)):
            y[pool.index, ki] = model.column(gpu_weight, 0, math.inf if cap is None else cap)
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
    x: Mapping[tuple[int, int], int],
    s: Mapping[tuple[int, int], int],
    y: Mapping[tuple[int, int], int],
    z: Mapping[int, int],
    admission: Admission | None,
) -> None:
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
        cap = pool.pool.capacity
        if cap is not None:
            terms = capacity[pool.index]
            terms.update({y[pool.index, ki]: 1.0 for ki in range(len(pool.layouts))})
            model.row(-math.inf, cap, terms)


def _run(model: _Model, time_limit_s: float) -> tuple[list[float] | None, str, float]:
    import highspy  # heavy native module: load only when a plan is solved

    highs = highspy.Highs()  # type: ignore[no-untyped-call]
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
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    if not has_solution:
        return None, str(status), -math.inf
    name = "optimal" if status == highspy.HighsModelStatus.kOptimal else "time-limit"
    values = list(highs.getSolution().col_value)
    return values, name, float(info.mip_dual_bound)


def _solution(
    values: list[float],
    status: str,
    bound: float,
    columns: tuple[
        Mapping[tuple[int, int], int],
        Mapping[tuple[int, int], int],
        Mapping[tuple[int, int], int],
        Mapping[int, int],
    ],
    gangs: Mapping[tuple[int, int], int],
    pools: Sequence[PoolModel],
    seconds: float,
    admission: Admission | None,
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
    # Only a pure minimisation yields a GPU bound; after admission the caller re-minimises.
    lower = math.ceil(bound - TIE_BREAK_BUDGET - 1e-9) if admission is None else 0
    return Solution(
        units=units,
        segments=segments,
        layouts=layouts,
        gpus=gpus,
        lower_bound=max(lower, 0),
        optimal=status == "optimal",
        seconds=seconds,
        status=status,
        admitted_rates=frozenset(ri for ri, col in z.items() if count(col)),
    )
