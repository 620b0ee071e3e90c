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


# YAML 1.1 implicit typing: a string field holds exactly the text written, or the file is refused
# at that line with "quote it"; never a silently converted value.

YAML11_WORDS = ["yes", "no", "on", "off", "true", "false", "y", "n", "null", "~"]
yaml11_scalars = st.one_of(
    st.sampled_from(YAML11_WORDS).flatmap(
        lambda w: st.sampled_from(sorted({w, w.upper(), w.capitalize()}))
    ),
    st.from_regex(r"\A[-+]?0[0-7]{1,4}\Z"),  # octal
    st.from_regex(r"\A[1-9][0-9]?(:[0-5][0-9]){1,2}\Z"),  # base 60
    st.from_regex(r"\A[0-9]{1,3}(\.[0-9]{0,3})?[eE][-+]?[0-9]{1,2}\Z"),  # 1e3 and friends
    st.from_regex(r"\A20[0-9]{2}-[01][0-9]-[0-3][0-9]\Z"),  # dates
    st.sampled_from([".nan", ".NaN", ".inf", "-.inf", "+.Inf", "0x1F", "0b101", "1_000", "0o17"]),
    st.from_regex(r"\A[-+]?[0-9]{1,6}(\.[0-9]{0,4})?\Z"),  # plain numbers
)
text_like = st.text(alphabet="abcXYZ019.:+-_~", min_size=1, max_size=10)

STRING_FIELD = """\
apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata:
  name: f
spec:
  models:
    - name: m
      versions:
        - name: v1
          source: hf://a/b
          revision: {value}
"""
REVISION_LINE = 11


def _revision(raw: bytes) -> tuple[str | None, list[str]]:
    try:
        loaded = parse_stack(raw, "fuzz.yaml")
    except StackError as exc:
        return None, [d.format() for d in exc.diagnostics]
    return loaded.stack.spec.models[0].versions[0].revision, []


@settings(max_examples=300, deadline=None)
@given(yaml11_scalars)
def test_yaml11_scalar_in_a_string_field_is_refused_unquoted_and_kept_quoted(value: str) -> None:
    revision, errors = _revision(STRING_FIELD.format(value=value).encode())
    if value in ("~", "null", "Null", "NULL"):
        assert revision is None and not errors  # YAML null: the optional field stays unset
    else:
        assert revision is None, f"{value!r} was accepted as {revision!r}"
        assert any(
            e.startswith(f"fuzz.yaml:{REVISION_LINE}:") and "(quote it)" in e for e in errors
        ), errors
        if len(value) >= 4:  # shorter ones ("Y", "no") occur in any English sentence
            assert not any(value in e.split(": ", 1)[1] for e in errors), "the value is echoed"
    quoted, errors = _revision(STRING_FIELD.format(value=f"'{value}'").encode())
    assert quoted == value and not errors


@settings(max_examples=300, deadline=None)
@given(text_like)
def test_a_string_field_holds_the_text_written_or_is_refused(value: str) -> None:
    revision, errors = _revision(STRING_FIELD.format(value=value).encode())
    if errors:
        assert all(e.startswith("fuzz.yaml:") for e in errors)
        return
    assert revision == value or (revision is None and value == "~"), (value, revision)


@settings(max_examples=150, deadline=None)
@given(yaml11_scalars)
def test_yaml11_scalar_as_a_label_value_is_refused(value: str) -> None:
    raw = f"apiVersion: aiplane.dev/v1alpha1\nkind: Stack\nmetadata:\n  name: f\n  labels:\n    team: {value}\n"
    try:
        loaded = parse_stack(raw.encode(), "fuzz.yaml")
    except StackError as exc:
        assert any(d.line == 6 for d in exc.diagnostics), [d.format() for d in exc.diagnostics]
        return
    raise AssertionError(f"label value {value!r} loaded as {loaded.stack.metadata.labels!r}")
