"""``aiplane validate``: load and check each file, print every problem, exit 0 or 1."""

from __future__ import annotations

import sys

from aiplane.errors import StackError


def validate_files(files: list[str]) -> int:
    from aiplane.check import load_and_check

    failed = 0
    for file in files:
        try:
            loaded = load_and_check(file)
        except StackError as exc:
            failed += 1
            for diagnostic in exc.diagnostics:
                print(diagnostic.format(), file=sys.stderr)
            errors = sum(d.severity == "error" for d in exc.diagnostics)
            print(f"{file}: invalid ({errors} error(s))", file=sys.stderr)
            continue
        for warning in loaded.warnings:
            print(warning.format(), file=sys.stderr)
        spec = loaded.stack.spec
        print(
            f"{file}: valid (stack {loaded.stack.metadata.name}: {len(spec.gpu_pools)} pool(s), "
            f"{len(spec.models)} model(s), {len(spec.pipelines)} pipeline(s), "
            f"{len(spec.routes)} route(s), {len(spec.vector_collections)} collection(s))"
        )
    return 1 if failed else 0
