"""Stricter validation, table-driven: YAML 1.1 implicit typing, Kubernetes naming rules,
placement feasibility, int32 bounds, traffic with nowhere to go and credentials in the stack.

Each case is a complete small file (line 1 is ``apiVersion``), so the expected line is plain to
see; ``problems`` is the same helper as in test_bad_stacks (every stage, errors only).
"""

from __future__ import annotations

import textwrap

import pytest

from tests.unit.test_bad_stacks import problems


def doc(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").encode()


TOKEN_HF = "hf_" + "AbCdEfGhIj" * 3 + "1234"
TOKEN_SK = "sk-proj-" + "Ab3De6Gh9K" * 3
TOKEN_GH = "ghp_" + "aB3dE6gH9k" * 4
TOKEN_AWS = "AKIA" + "IOSFODNN7EXAMPL3"

MODEL = """
  models:
    - name: m
      versions: [{name: v1, source: hf://a/b}]
      deployments: [{version: v1, stage: production, weight: 100}]
      resources: {gpus: 1}
      pool: a
"""
POOL = """
apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {name: t}
spec:
  gpuPools:
    - {name: a, gpu: A100-80GB, gpusPerNode: 2}
"""

CASES: list[tuple[str, bytes, int, str]] = [
    # YAML 1.1 implicit typing in string-typed fields: refused with "quote it"
    (
        "label value NO",
        doc("""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata:
              name: t
              labels:
                country: NO
            """),
        6,
        "metadata.labels.country: YAML reads this unquoted value as a boolean, not as the text "
        "written (quote it)",
    ),
    (
        "number field given a boolean",  # pydantic alone would read `yes` as 1 GPU per node
        doc(POOL.replace("gpusPerNode: 2}", "gpusPerNode: yes}")),
        6,
        "spec.gpuPools[0].gpusPerNode: YAML reads this unquoted value as a boolean, not a number "
        "(write a number)",
    ),
    (
        "label value octal",
        doc("""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata:
              name: t
              labels: {mode: 0755}
            """),
        5,
        "as an octal number, not as the text written (quote it)",
    ),
    (
        "taint value base-60",
        doc(
            POOL.replace("gpusPerNode: 2}", "gpusPerNode: 2, taints: [{key: k, value: 12:30:00}]}")
        ),
        6,
        "taints[0].value: YAML reads this unquoted value as a base-60 number",
    ),
    (
        "env value yes in a text-or-number field",
        doc(POOL + MODEL + "      env: {FEATURE: yes}\n"),
        14,
        "env.FEATURE: YAML reads this unquoted value as a boolean",
    ),
    (
        "version name .nan",
        doc(
            POOL
            + MODEL.replace("{name: v1, source", "{name: .nan, source").replace(
                "version: v1", "version: v1x"
            )
        ),
        10,
        "versions[0].name: YAML reads this unquoted value as not-a-number or infinity",
    ),
    (
        "revision 1e3 (a number to YAML 1.2 readers)",
        doc(POOL + MODEL.replace("source: hf://a/b}", "source: hf://a/b, revision: 1e3}")),
        10,
        "versions[0].revision: YAML reads this unquoted value as a number (in YAML 1.2)",
    ),
    (
        "revision read as a date",
        doc(POOL + MODEL.replace("source: hf://a/b}", "source: hf://a/b, revision: 2024-01-31}")),
        10,
        "versions[0].revision: YAML reads this unquoted value as a date",
    ),
    (
        "null where text is required",
        doc("""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata: {name: t}
            spec:
              priorities:
                classes:
                  - name: high
                    value: 100
                    description: ~
            """),
        9,
        "description: YAML reads this unquoted value as null, not as the text written (quote it)",
    ),
    (
        "step argument on",
        doc("""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata: {name: t}
            spec:
              pipelines:
                - name: p
                  steps:
                    - name: s
                      image: busybox:1.36
                      args: [--verbose, on]
            """),
        10,
        "args[1]: YAML reads this unquoted value as a boolean",
    ),
    (
        "octal in a number field",
        doc(POOL.replace("gpusPerNode: 2", "gpusPerNode: 010")),
        6,
        "gpusPerNode: YAML 1.1 reads this unquoted value as an octal number; other YAML readers "
        "disagree (write the number in plain decimal)",
    ),
    (
        "infinity in a float field",
        doc(POOL + MODEL + "      serving: {gpuMemoryUtilization: .inf}\n"),
        14,
        "gpuMemoryUtilization: Input should be a finite number",
    ),
    # Kubernetes naming rules, at the stack line
    (
        "label key with a space",
        doc("""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata:
              name: t
              labels:
                team: ml
                "cost center": ai
            """),
        7,
        "label key name (after any prefix/) must be at most 63 characters",
    ),
    (
        "label key prefix in capitals",
        doc("""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata:
              name: t
              labels: {Example.COM/team: ml}
            """),
        5,
        "label key prefix must be a DNS subdomain",
    ),
    (
        "label value too long",
        doc(f"""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata:
              name: t
              labels:
                team: {"x" * 64}
            """),
        6,
        "label value must be empty or at most 63 characters",
    ),
    (
        "node selector key starting with a dash",
        doc(POOL.replace("gpusPerNode: 2}", 'gpusPerNode: 2, nodeSelector: {"-pool": a}}')),
        6,
        "nodeSelector.-pool: label key name",
    ),
    (
        "node selector value with a slash",
        doc(POOL.replace("gpusPerNode: 2}", "gpusPerNode: 2, nodeSelector: {pool: a/b}}")),
        6,
        "nodeSelector.pool: label value must be empty",
    ),
    (
        "taint key with an empty name",
        doc(POOL.replace("gpusPerNode: 2}", "gpusPerNode: 2, taints: [{key: nvidia.com/}]}")),
        6,
        "taints[0].key: label key name",
    ),
    (
        "reserved system- priority class",
        doc("""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata: {name: t}
            spec:
              priorities:
                classes:
                  - name: system-high
                    value: 100
            """),
        7,
        "the 'system-' prefix is reserved for Kubernetes' own priority classes",
    ),
    (
        "gateway namespace with capitals",
        doc("""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata: {name: t}
            spec:
              routes:
                - name: r
                  path: /v1
                  gateway: {name: gw, namespace: Team_A}
                  backends:
                    - {name: o, weight: 100, external: {provider: openai, model: gpt-4o}}
            """),
        8,
        "gateway.namespace: must be a DNS label",
    ),
    (
        "header match with a space in the header name",
        doc("""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata: {name: t}
            spec:
              routes:
                - name: r
                  path: /v1
                  backends:
                    - {name: o, weight: 100, external: {provider: openai, model: gpt-4o}}
                  headerMatches:
                    - {header: x user, value: beta, backend: o}
            """),
        11,
        "headerMatches[0].header: must be an HTTP header name",
    ),
    # placement feasibility
    (
        "over-subscribed pool",
        doc(
            POOL.replace("gpusPerNode: 2}", "gpusPerNode: 8, nodes: 1}")
            + MODEL.replace("{gpus: 1}", "{gpus: 4}")
            + "      serving: {tensorParallelSize: 4}\n"
            + "      replicas: 3\n"
        ),
        6,
        "pool a is over-subscribed: its deployed models need at least 12 A100-80GB GPUs, it has 8 "
        "(1 node(s) × 8): short by 4 GPUs",
    ),
    (
        "MIG slices that cannot be placed",
        doc("""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata: {name: t}
            spec:
              gpuPools:
                - name: a
                  gpu: A100-80GB
                  gpusPerNode: 1
                  nodes: 1
                  mig:
                    policy: explicit
                    devices: [{gpus: all, profiles: {3g.40gb: 1, 1g.10gb: 3}}]
              models:
                - name: m
                  versions: [{name: v1, source: hf://a/b}]
                  deployments: [{version: v1, stage: production, weight: 100}]
                  resources: {migProfile: 3g.40gb}
                  replicas: 2
                  pool: a
            """),
        16,
        "model m v1 (production): 1 of 2 replicas can be placed in pool a",
    ),
    (
        "replicas beyond int32",
        doc(POOL + MODEL + "      replicas: 1000000000000000000000000000000\n"),
        14,
        "replicas: Input should be less than or equal to 2147483647",
    ),
    (
        "replicas within int32 but beyond any pool",
        doc(
            POOL.replace("gpusPerNode: 2}", "gpusPerNode: 8, nodes: 2}")
            + MODEL
            + "      replicas: 2000000000\n"
        ),
        6,
        "short by 1999999984 GPUs",
    ),
    (
        "replicas beyond what the planner takes in an unbounded pool",
        doc(POOL + MODEL + "      replicas: 50000\n"),
        6,
        "pool a is asked for 50000 replicas, more than the 20000 the placement planner takes",
    ),
    # traffic with nowhere to go
    (
        "production with zero replicas",
        doc(POOL + MODEL + "      replicas: 0\n"),
        11,
        "the production deployment of model m has zero replicas",
    ),
    (
        "route to a model with no deployments",
        doc(
            POOL
            + MODEL.replace(
                "      deployments: [{version: v1, stage: production, weight: 100}]\n", ""
            )
            + "  routes:\n    - name: r\n      path: /v1\n"
            + "      backends: [{name: b, weight: 100, local: {model: m}}]\n"
        ),
        16,
        "model m has no deployment with replicas, so backend b of route r would have no endpoints",
    ),
    # credentials
    (
        "password in a tracking URL",
        doc("""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata: {name: t}
            spec:
              pipelines:
                - name: p
                  tracking:
                    mlflowTrackingUri: https://alice:s3cret-pw@mlflow.internal:5000
                    experiment: e
                  steps:
                    - {name: s, image: busybox:1.36}
            """),
        8,
        "mlflowTrackingUri: URL carries credentials (user:password@)",
    ),
    (
        "user in a vector database URL",
        doc("""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata: {name: t}
            spec:
              vectorCollections:
                - name: c
                  endpoint: https://svc-account@qdrant.internal:6333
                  dimension: 8
            """),
        7,
        "endpoint: URL carries credentials",
    ),
    (
        "Hugging Face token in an innocent-looking variable",
        doc(POOL + MODEL + f"      env: {{MODEL_FLAGS: {TOKEN_HF}}}\n"),
        14,
        "env.MODEL_FLAGS: looks like a credential (a Hugging Face token)",
    ),
    (
        "OpenAI key in extraArgs",
        doc(
            POOL
            + MODEL
            + f"      serving:\n        extraArgs: {{--served-model-name: {TOKEN_SK}}}\n"
        ),
        15,
        "looks like a credential (an OpenAI or Anthropic API key)",
    ),
    (
        "GitHub token in a step argument",
        doc(f"""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata: {{name: t}}
            spec:
              pipelines:
                - name: p
                  steps:
                    - name: s
                      image: busybox:1.36
                      args: [--repo-token, {TOKEN_GH}]
            """),
        10,
        "args[1]: looks like a credential (a GitHub token)",
    ),
    (
        "AWS access key in a description",
        doc(f"""
            apiVersion: aiplane.dev/v1alpha1
            kind: Stack
            metadata: {{name: t}}
            spec:
              pipelines:
                - name: p
                  description: uses {TOKEN_AWS} for S3
                  steps:
                    - {{name: s, image: busybox:1.36}}
            """),
        7,
        "description: looks like a credential (an AWS access key id)",
    ),
]

SECRET_VALUES = (TOKEN_HF, TOKEN_SK, TOKEN_GH, TOKEN_AWS, "s3cret-pw", "svc-account")


@pytest.mark.parametrize(
    ("raw", "line", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_strict_stack_reports_line_and_message(raw: bytes, line: int, expected: str) -> None:
    found = problems(raw)
    matching = [p for p in found if expected in p]
    assert matching, f"no error mentions {expected!r}: {found}"
    assert any(p.startswith(f"t.yaml:{line}:") for p in matching), found


@pytest.mark.parametrize("raw", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_no_message_echoes_a_secret(raw: bytes) -> None:
    text = "\n".join(problems(raw))
    assert not [s for s in SECRET_VALUES if s in text], text


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize(
    "good",
    [
        doc(POOL + MODEL),
        doc(POOL + MODEL + '      env: {FEATURE: "yes", LR: 1e-5, N: 42, FLAG: true}\n'),
        # a registry reference needs a registry of its type (spec.registries) to resolve it
        doc(
            POOL
            + MODEL.replace("source: hf://a/b}", "source: mlflow://m@champion}")
            + "  registries:\n    - {name: mlflow, type: mlflow, uri: 'http://mlflow.internal:5000'}\n"
        ),
        doc(
            POOL.replace("gpusPerNode: 2}", "gpusPerNode: 8, nodes: 1}")
            + MODEL
            + "      replicas: 8\n"
        ),
        doc(
            POOL.replace(
                "gpusPerNode: 2}", 'gpusPerNode: 2, nodeSelector: {"node.k8s.io/pool": a-1}}'
            )
        ),
    ],
    ids=["base", "quoted and plain numbers", "mlflow alias", "exactly full", "prefixed selector"],
)
def test_neighbours_of_the_bad_cases_are_valid(good: bytes) -> None:
    assert problems(good) == []
