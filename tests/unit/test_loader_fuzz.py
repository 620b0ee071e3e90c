"""Property tests: whatever bytes reach the loader, the outcome is a Stack or a clean,
located error; no other exception escapes."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiplane.errors import Diagnostic, StackError
from aiplane.stack.loader import parse_stack

SEED = (Path(__file__).parents[2] / "stacks" / "seed.yaml").read_bytes()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["auto", "mixed", "A100-80GB", "v2.1", "hf://a/b"]),
)
trees = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def located_in(raw: bytes, diagnostic: Diagnostic) -> None:
    """A diagnostic points into the file it names: a line that exists, a column on it."""
    lines = raw.decode("utf-8", "replace").splitlines() or [""]
    assert diagnostic.file == "fuzz.yaml" and diagnostic.message
    assert 0 <= diagnostic.line <= len(lines) + 1, (diagnostic, len(lines))
    if diagnostic.line:
        assert diagnostic.column >= 0
        assert diagnostic.format().startswith(f"fuzz.yaml:{diagnostic.line}:")
    else:
        assert diagnostic.format().startswith("fuzz.yaml: ")


def outcome(raw: bytes) -> None:
    try:
        loaded = parse_stack(raw, "fuzz.yaml")
    except StackError as exc:
        assert exc.diagnostics, "a StackError must carry diagnostics"
        for diagnostic in exc.diagnostics:
            located_in(raw, diagnostic)
        return
    # Accepted input is a stack: its name came from the document and it knows its file.
    assert loaded.path == "fuzz.yaml"
    assert loaded.stack.metadata.name and loaded.stack.metadata.name in raw.decode(
        "utf-8", "replace"
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes(raw: bytes) -> None:
    outcome(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    outcome(
        text.encode("utf-8", "surrogatepass")
        if text.isprintable()
        else text.encode("utf-8", "replace")
    )


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(SEED) - 1), st.integers(1, 40), st.binary(max_size=8))
def test_mutated_seed(start: int, length: int, replacement: bytes) -> None:
    outcome(SEED[:start] + replacement + SEED[start + length :])


@settings(max_examples=200, deadline=None)
@given(trees)
def test_random_documents_under_spec(tree: object) -> None:
    doc = {
        "apiVersion": "aiplane.dev/v1alpha1",
        "kind": "Stack",
        "metadata": {"name": "f"},
        "spec": tree,
    }
    outcome(yaml.safe_dump(doc).encode())


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["gpuPools", "models", "pipelines", "routes", "vectorCollections"]),
    st.lists(trees, max_size=3),
)
def test_random_section_items(section: str, items: list[object]) -> None:
    doc = {
        "apiVersion": "aiplane.dev/v1alpha1",
        "kind": "Stack",
        "metadata": {"name": "f"},
        "spec": {section: items},
    }
    raw = yaml.safe_dump(doc).encode()
    try:
        loaded = parse_stack(raw, "fuzz.yaml")
    except StackError:
        return
    # A schema-valid document must also survive the cross-reference checks without crashing.
    from aiplane.check import check_stack

    for diagnostic in check_stack(loaded):
        located_in(raw, diagnostic)
