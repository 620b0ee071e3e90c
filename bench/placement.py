"""GPU placement benchmark: ParvaGPU (SC'24) scenarios 1-6 and seeded synthetic LLM mixes.

Run: ``.venv/bin/python bench/placement.py [--sizes 50 200 1000 10000] [--seeds 1 2 3]``.
Figures go to stdout as Markdown tables (copied into docs/benchmarks.md, "GPU placement").
"""

from __future__ import annotations

import argparse
import csv
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any, TypeVar

from aiplane.gpu.architectures import get_arch
from aiplane.gpu.catalog import get_gpu
from aiplane.gpu.memory import estimate_memory
from aiplane.gpu.planner import plan_placement
from aiplane.gpu.problem import PlacementPlan, PlacementProblem, Pool, ThroughputProfile, Workload

PARVA = Path(__file__).resolve().parents[2] / "shared" / "parvagpu-sc24"
PARVA_PUBLISHED = (2, 3, 5, 7, 13, 16)
PARVA_OPTIMUM = (2, 3, 5, 7, 12, 16)
# ParvaGPU's instance sizes (GPCs) on A100-80GB and the MIG profiles they are.
PARVA_SLICES = {1: "1g.10gb", 2: "2g.20gb", 3: "3g.40gb", 4: "4g.40gb", 7: "7g.80gb"}
MAX_PROCESSES = 3  # src/configurator.c

# Synthetic mix (shared/notes/gpu-scheduling.md §5.1): (model, share, activation GiB, SLO slices)
ARCHETYPES = (
    ("Qwen2.5-0.5B", 0.12, 0.8, 1),
    ("Llama-3.2-1B", 0.13, 1.2, 1),
    ("Llama-3.2-3B", 0.20, 1.8, 1),
    ("Llama-3.1-8B", 0.30, 2.8, 2),
    ("Qwen2.5-14B", 0.12, 3.6, 3),
    ("Qwen2.5-32B", 0.08, 4.4, 3),
    ("Llama-3.1-70B", 0.05, 4.8, 3),
)
UTILISATION = 0.9


T = TypeVar("T")


def _pick(rng: random.Random, choices: tuple[tuple[T, float], ...]) -> T:
    return rng.choices([c for c, _w in choices], weights=[w for _c, w in choices])[0]


def synthetic_workload(rng: random.Random, index: int) -> Workload:
    """One LLM deployment: memory from the memory model, SLO slices for interactive ones."""
    model, _share, activation, slo_slices = rng.choices(ARCHETYPES, [a[1] for a in ARCHETYPES])[0]
    arch = get_arch(model)
    assert arch is not None
    weights = _pick(rng, (("bf16", 0.5), ("fp8", 0.35), ("awq", 0.15)))
    quant = None if weights == "bf16" else weights
    kv = "fp8" if quant and rng.random() < 0.5 else "auto"
    length = _pick(rng, ((4096, 0.35), (8192, 0.40), (16384, 0.15), (32768, 0.10)))
    seqs = _pick(rng, ((1, 0.3), (2, 0.3), (4, 0.25), (8, 0.15)))
    interactive = rng.random() < 0.6
    gpu = get_gpu("H100-80GB")
    assert gpu is not None
    for tp in (1, 2, 4, 8):
        estimate = estimate_memory(
            arch,
            quantization=quant,
            kv_cache_dtype=kv,
            max_model_len=length,
            max_num_seqs=seqs,
            tensor_parallel_size=tp,
            activation_gib=activation,
        )
        if estimate.fits(gpu.memory_gib, UTILISATION)[0]:
            break
    return Workload(
        name=f"m{index:05d}",
        memory_gib=round(estimate.required_capacity_gib(UTILISATION), 3),
        min_compute_slices=slo_slices if interactive else 1,
        gpus=tp,
    )


def synthetic_problem(size: int, seed: int) -> PlacementProblem:
    rng = random.Random(seed)
    workloads = tuple(synthetic_workload(rng, i) for i in range(size))
    return PlacementProblem(workloads, (Pool("h100", "H100-80GB", nodes=None, gpus_per_node=8),))


def parva_problem(scenario: int) -> PlacementProblem:
    models = sorted(p.stem for p in (PARVA / "prof_data").glob("*.csv"))
    rates = _csv_row(PARVA / "SLO" / "SLO_req_rate.csv", scenario)
    slos = _csv_row(PARVA / "SLO" / "SLO_latency.csv", scenario)
    workloads = []
    for model, rate, slo in zip(models, rates, slos, strict=True):
        if rate == "N/A":
            continue
        # ParvaGPU's admissibility: latency < SLO/2 * 0.9, with the SLO parsed by atoi.
        budget_ms = int(float(slo)) / 2 * 0.9
        workloads.append(
            Workload(
                name=model,
                profiles=_parva_profiles(PARVA / "prof_data" / f"{model}.csv", budget_ms),
                request_rate=float(rate),
            )
        )
    return PlacementProblem(tuple(workloads), (Pool("a100", "A100-80GB", nodes=None),))


def _csv_row(path: Path, scenario: int) -> list[str]:
    rows = [r for r in csv.reader(path.read_text().splitlines()) if r]
    return [c.strip() for c in rows[scenario - 1]]


def _parva_profiles(path: Path, budget_ms: float) -> tuple[ThroughputProfile, ...]:
    out = []
    with path.open() as handle:
        for row in csv.DictReader(handle):
            processes = int(row["Workload Number"])
            latency_ms = float(row["Latency"]) * 1000
            if processes > MAX_PROCESSES or not latency_ms < budget_ms:
                continue
            out.append(
                ThroughputProfile(
                    slice=PARVA_SLICES[int(row["Mig instance"])],
                    batch_size=int(row["Batch size"]),
                    processes=processes,
                    throughput_rps=float(row["Throughput"]) * processes,
                    latency_ms=latency_ms,
                )
            )
    return tuple(out)


def _check(plan: PlacementPlan) -> None:
    """Never report a plan with an unplaced workload or an over-full GPU."""
    assert all(w.status == "placed" for w in plan.workloads), [
        (w.name, w.reason) for w in plan.workloads if w.status != "placed"
    ]


def _timed(problem: PlacementProblem, **kwargs: Any) -> tuple[PlacementPlan, float]:
    """The plan and the CPU seconds this process spent on it (wall time is in the plan): on a
    shared machine the CPU figure is the one that does not depend on the neighbours."""
    cpu = time.process_time()
    plan = plan_placement(problem, **kwargs)
    return plan, time.process_time() - cpu


PARVA_HEADER = (
    "| Scenario | models | ParvaGPU published | exact (notes) | aiplane GPUs | lower bound "
    "| optimal | segments | GPCs | solve s | CPU s |"
)
SYNTHETIC_HEADER = (
    "| N | seed | GPUs (aiplane) | proven lower bound | gap | method | solve s | CPU s "
    "| FFD GPUs | FFD gap | FFD s |"
)


def run_parva() -> None:
    print(PARVA_HEADER)
    print("|---" * 11 + "|")
    for scenario in range(1, 7):
        problem = parva_problem(scenario)
        plan, cpu = _timed(problem, time_limit_s=60)
        _check(plan)
        gpcs = sum(int(u.slice[0]) for u in plan.units)
        print(
            f"| {scenario} | {len(problem.workloads)} | {PARVA_PUBLISHED[scenario - 1]} | "
            f"{PARVA_OPTIMUM[scenario - 1]} | **{plan.gpus_used}** | {plan.lower_bound} | "
            f"{'yes' if plan.optimal else 'no'} | {len(plan.units)} | {gpcs} | "
            f"{plan.solve_seconds:.3f} | {cpu:.3f} |"
        )


def run_synthetic(sizes: list[int], seeds: list[int]) -> None:
    print(SYNTHETIC_HEADER)
    print("|---" * 11 + "|")
    for size in sizes:
        for seed in seeds:
            problem = synthetic_problem(size, seed)
            plan, cpu = _timed(problem, time_limit_s=60)
            ffd = plan_placement(problem, method="greedy")
            _check(plan)
            _check(ffd)
            extra = ffd.gpus_used - plan.gpus_used
            print(
                f"| {size} | {seed} | **{plan.gpus_used}** | {plan.lower_bound} | {plan.gap} | "
                f"{plan.method} | {plan.solve_seconds:.3f} | {cpu:.3f} | {ffd.gpus_used} | "
                f"+{extra} ({100 * extra / plan.gpus_used:.1f} %) | {ffd.solve_seconds:.3f} |"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[50, 200, 1000, 10000])
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--skip-parva", action="store_true")
    args = parser.parse_args(argv)
    print(f"Python {platform.python_version()}, {platform.machine()}, {time.strftime('%Y-%m-%d')}")
    if not args.skip_parva:
        run_parva()
        print()
    run_synthetic(args.sizes, args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
