"""A table of broken stack files: each must fail with the expected message at the expected line.

Each case is a complete small file, so the expected line is plain to see. The valid base stack
is checked too, so a case fails only because of what it breaks.
"""

from __future__ import annotations

import textwrap

import pytest

from aiplane.check import check_stack
from aiplane.errors import StackError
from aiplane.stack.loader import LoadedStack, parse_stack

HEAD = "apiVersion: aiplane.dev/v1alpha1\nkind: Stack\nmetadata:\n  name: t\n"


def stack(body: str) -> bytes:
    return (HEAD + textwrap.dedent(body)).encode()


def problems(raw: bytes) -> list[str]:
    """Every diagnostic of the file, formatted, whichever stage found it."""
    try:
        loaded: LoadedStack = parse_stack(raw, "t.yaml")
    except StackError as exc:
        return [d.format() for d in exc.diagnostics]
    return [d.format() for d in check_stack(loaded) if d.severity == "error"]


POOL = """\
spec:
  gpuPools:
    - name: a100
      gpu: A100-80GB
      gpusPerNode: 2
"""


def registry_stack(source: str, extra: str = "") -> str:
    """A stack with one MLflow registry and a model whose version (line 11) has ``source``."""
    more = f", {extra}" if extra else ""
    return (
        "spec:\n  registries:\n    - {name: mlflow, type: mlflow, uri: 'http://127.0.0.1:5000'}\n"
        f"  models:\n    - name: m\n      versions:\n        - {{name: v1, source: '{source}'{more}}}\n"
    )


PG_STORE = """\
spec:
  vectorStores:
    - name: pg
      pgvector: {host: db, database: rag, user: app, password: {env: PGPASSWORD}}
"""

CASES: list[tuple[str, bytes, int, str]] = [
    ("not utf-8", HEAD.encode() + b"spec: {x: \xff}\n", 5, "not UTF-8"),
    ("tab indent", stack("spec:\n\tgpuPools: []\n"), 6, "tab character in indentation"),
    ("duplicate key", stack("spec: {}\nspec: {}\n"), 6, "duplicate key 'spec'"),
    ("not a mapping", b"- a\n- b\n", 1, "not a mapping"),
    ("empty", b"# nothing\n", 1, "the file is empty"),
    ("two documents", stack("spec: {}\n---\nkind: Stack\n"), 7, "expected one YAML document"),
    ("syntax", stack("spec: {gpuPools: [\n"), 6, "YAML syntax error"),
    ("merge key", stack("spec:\n  <<: {}\n"), 6, "merge keys"),
    (
        "alias bomb",
        stack(
            "x: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            "y: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "z: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            "w: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            "v: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
            "u: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        ),
        0,
        "more than 200000 nodes",
    ),
    (
        "wrong kind",
        b"apiVersion: aiplane.dev/v1alpha1\nkind: Stak\nmetadata: {name: t}\n",
        2,
        "did you mean 'Stack'",
    ),
    (
        "wrong apiVersion",
        b"apiVersion: aiplane.dev/v1\nkind: Stack\nmetadata: {name: t}\n",
        1,
        "aiplane.dev/v1alpha1",
    ),
    (
        "missing metadata",
        b"apiVersion: aiplane.dev/v1alpha1\nkind: Stack\n",
        1,
        "metadata: required field is missing",
    ),
    (
        "bad name",
        b"apiVersion: aiplane.dev/v1alpha1\nkind: Stack\nmetadata: {name: My_Stack}\n",
        3,
        "lowercase",
    ),
    ("misspelt section", stack("spec:\n  gpuPool: []\n"), 6, "did you mean 'gpuPools'"),
    ("misspelt pool key", stack(POOL + "      gpusPerNod: 2\n"), 10, "did you mean 'gpusPerNode'"),
    ("unknown gpu", stack(POOL.replace("A100-80GB", "A100-80G")), 8, "did you mean 'A100-80GB'"),
    (
        "bad mig strategy",
        stack(POOL + "      mig: {policy: explicit, strategy: mixd}\n"),
        10,
        "did you mean 'mixed'",
    ),
    (
        "bad mig profile",
        stack(
            POOL
            + "      mig:\n        policy: explicit\n        devices:\n          - gpus: [0]\n            profiles: {1g.5gb: 1}\n"
        ),
        14,
        "not a MIG profile of A100-80GB",
    ),
    (
        "layout too big",
        stack(
            POOL
            + "      mig:\n        policy: explicit\n        devices:\n          - gpus: [0]\n            profiles: {3g.40gb: 2, 1g.10gb: 1}\n"
        ),
        14,
        "layout does not fit",
    ),
    (
        "gpu index out of range",
        stack(
            POOL
            + "      mig:\n        policy: explicit\n        devices:\n          - gpus: [3]\n            profiles: {7g.80gb: 1}\n"
        ),
        13,
        "GPU index 3 does not exist",
    ),
    (
        "single strategy mixed profiles",
        stack(
            POOL
            + "      mig:\n        policy: explicit\n        strategy: single\n        devices:\n          - gpus: all\n            profiles: {3g.40gb: 1, 2g.20gb: 1}\n"
        ),
        12,
        "strategy single needs one MIG profile",
    ),
    (
        "mig on L4",
        stack("spec:\n  gpuPools:\n    - name: l4\n      gpu: L4\n      mig: auto\n"),
        9,
        "does not support MIG",
    ),
    (
        "number as version",
        stack(POOL + "  models:\n    - name: m\n      versions: [{name: 2.0, source: hf://a/b}]\n"),
        12,
        "quote it",
    ),
    (
        "bad source",
        stack(
            POOL + "  models:\n    - name: m\n      versions: [{name: v1, source: http://a/b}]\n"
        ),
        12,
        "not a model source",
    ),
    *[
        (name, stack(registry_stack(source)), 11, text)
        for name, source, text in [
            ("mlflow reserved alias", "mlflow://llama@v3", "reserved by MLflow"),
            ("mlflow latest alias", "models:/llama@latest", "reserved by MLflow"),
            ("mlflow no version", "mlflow://llama", "names no version"),
            ("mlflow stage", "models:/llama/Production", "moves without a trace"),
            ("mlflow bad alias", "mlflow://llama@prod!", "not a valid MLflow alias"),
            ("mlflow version zero", "mlflow://llama/0", "not a positive version number"),
            (
                "sagemaker bad arn",
                "arn:aws:sagemaker:us-east-1:123:model-package/g/1",
                "not a SageMaker model package ARN",
            ),
            (
                "sagemaker no version",
                "arn:aws:sagemaker:us-east-1:123456789012:model-package/grp",
                "ends in GROUP/VERSION",
            ),
            (
                "sagemaker bad group",
                "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/-x",
                "not a model package group name",
            ),
            ("wandb no alias", "wandb-registry-model/chat", "not a W&B registry path"),
        ]
    ],
    (
        "no registry for reference",
        stack(
            "spec:\n  models:\n    - name: m\n      versions: [{name: v1, source: 'mlflow://m@prod'}]\n"
        ),
        8,
        "no mlflow registry to resolve 'mlflow://m@prod'",
    ),
    (
        "registry type mismatch",
        stack(
            registry_stack(
                "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1", "registry: mlflow"
            )
        ),
        11,
        "is a mlflow registry, but the source is a sagemaker reference",
    ),
    (
        "unknown registry",
        stack(registry_stack("mlflow://m@prod", "registry: mlfow")),
        11,
        "unknown registry (did you mean 'mlflow'?)",
    ),
    (
        "two default registries",
        stack(
            "spec:\n  registries:\n    - {name: a, type: mlflow, uri: 'http://a', default: true}\n"
            "    - {name: b, type: mlflow, uri: 'http://b', default: true}\n"
        ),
        8,
        "a second default mlflow registry",
    ),
    (
        "several registries, no default",
        stack(
            "spec:\n  registries:\n    - {name: a, type: mlflow, uri: 'http://a'}\n"
            "    - {name: b, type: mlflow, uri: 'http://b'}\n  models:\n    - name: m\n"
            "      versions: [{name: v1, source: 'mlflow://m/1'}]\n"
        ),
        11,
        "several mlflow registries and none is the default",
    ),
    (
        "mlflow registry without uri",
        stack("spec:\n  registries:\n    - {name: a, type: mlflow}\n"),
        7,
        "an mlflow registry needs uri",
    ),
    (
        "registry uri with credentials",
        stack(
            "spec:\n  registries:\n    - {name: a, type: mlflow, uri: 'https://bob:hunter2@mlflow.example'}\n"
        ),
        7,
        "uri carries credentials",
    ),
    (
        "promoteAlias on an alias source",
        stack(
            registry_stack("mlflow://m@prod")
            + "      deployments: [{version: v1, stage: production, promoteAlias: production}]\n"
        ),
        12,
        "promoteAlias needs a pinned MLflow version",
    ),
    (
        "tracking with registry and uri",
        stack(
            "spec:\n  pipelines:\n    - name: p\n      tracking: {registry: a, mlflowTrackingUri: 'http://a', experiment: e}\n"
            "      steps: [{name: s, image: busybox}]\n"
        ),
        8,
        "exactly one of registry or mlflowTrackingUri",
    ),
    (
        "tracking unknown registry",
        stack(
            "spec:\n  registries:\n    - {name: mlflow, type: mlflow, uri: 'http://a'}\n"
            "  pipelines:\n    - name: p\n      tracking: {registry: mlfow, experiment: e}\n"
            "      steps: [{name: s, image: busybox}]\n"
        ),
        10,
        "unknown mlflow registry (did you mean 'mlflow'?)",
    ),
    (
        "unknown pool",
        stack(
            POOL
            + "  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      pool: a10\n"
        ),
        13,
        "unknown pool (did you mean 'a100'?)",
    ),
    (
        "gpus without pool",
        stack(
            POOL
            + "  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      resources: {gpus: 1}\n"
        ),
        11,
        "uses GPUs but names no pool",
    ),
    (
        "unknown deployed version",
        stack(
            POOL
            + "  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      deployments: [{version: v2, stage: production}]\n"
        ),
        13,
        "unknown version of model m",
    ),
    (
        "weights not 100",
        stack(
            POOL
            + "  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}, {name: v2, source: hf://a/c}]\n      deployments:\n        - {version: v1, stage: production, weight: 90}\n        - {version: v2, stage: canary, weight: 20}\n"
        ),
        13,
        "sum to 110, not 100",
    ),
    (
        "tp exceeds node",
        stack(
            POOL
            + "  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      pool: a100\n      serving: {tensorParallelSize: 4}\n      resources: {gpus: 4}\n"
        ),
        14,
        "does not fit a node of pool a100",
    ),
    (
        "gpus not tp",
        stack(
            POOL
            + "  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      pool: a100\n      serving: {tensorParallelSize: 2}\n      resources: {gpus: 1}\n"
        ),
        15,
        "tensor-parallel × pipeline-parallel is 2",
    ),
    (
        "model too big",
        stack(
            POOL
            + "  models:\n    - name: m\n      architecture: meta-llama/Llama-3.1-70B-Instruct\n      versions: [{name: v1, source: hf://a/b}]\n      pool: a100\n      serving: {maxModelLen: 8192}\n"
        ),
        11,
        "short by",
    ),
    (
        "slice too small",
        stack(
            POOL
            + "      mig:\n        policy: explicit\n        devices:\n          - gpus: [0]\n            profiles: {1g.10gb: 7}\n  models:\n    - name: m\n      architecture: llama-3.1-8b\n      versions: [{name: v1, source: hf://a/b}]\n      pool: a100\n      resources: {migProfile: 1g.10gb}\n"
        ),
        20,
        "a 1g.10gb slice gives",
    ),
    (
        "slice not in layout",
        stack(
            POOL
            + "      mig:\n        policy: explicit\n        devices:\n          - gpus: [0]\n            profiles: {1g.10gb: 7}\n  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      pool: a100\n      resources: {migProfile: 3g.40gb}\n"
        ),
        19,
        "has no 3g.40gb slice",
    ),
    (
        "resources two kinds",
        stack(
            POOL
            + "  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      resources: {gpus: 1, migProfile: 1g.10gb}\n"
        ),
        13,
        "exactly one of gpus, migProfile or auto",
    ),
    (
        "unknown architecture",
        stack(
            POOL
            + "  models:\n    - name: m\n      architecture: llama-3.1-9b\n      versions: [{name: v1, source: hf://a/b}]\n      pool: a100\n"
        ),
        12,
        "unknown model architecture",
    ),
    (
        "literal credential",
        stack(
            POOL
            + "  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      env: {HF_TOKEN: hf_abc}\n"
        ),
        13,
        "looks like a credential",
    ),
    (
        "duplicate model",
        stack(
            POOL
            + "  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      pool: a100\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      pool: a100\n"
        ),
        14,
        "duplicate model name",
    ),
    (
        "unknown priority",
        stack(
            "spec:\n  priorities:\n    classes: [{name: high, value: 10}]\n  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      priority: hihg\n"
        ),
        11,
        "did you mean 'high'",
    ),
    (
        "pipeline cycle",
        stack(
            "spec:\n  pipelines:\n    - name: p\n      steps:\n        - {name: a, image: x, dependsOn: [b]}\n        - {name: b, image: x, dependsOn: [a]}\n"
        ),
        9,
        "dependency cycle: a -> b -> a",
    ),
    (
        "unknown step",
        stack(
            "spec:\n  pipelines:\n    - name: p\n      steps:\n        - {name: a, image: x, dependsOn: [prep]}\n"
        ),
        9,
        "unknown step of pipeline p",
    ),
    (
        "condition not upstream",
        stack(
            "spec:\n  pipelines:\n    - name: p\n      steps:\n        - {name: a, image: x, outputs: [{name: acc, path: /tmp/a}]}\n        - {name: b, image: x, when: a.acc > 0.5}\n"
        ),
        10,
        "does not depend on",
    ),
    (
        "condition unknown output",
        stack(
            "spec:\n  pipelines:\n    - name: p\n      steps:\n        - {name: a, image: x, outputs: [{name: acc, path: /tmp/a}]}\n        - {name: b, image: x, dependsOn: [a], when: a.accuracy > 0.5}\n"
        ),
        10,
        "unknown output of step a",
    ),
    (
        "condition grammar",
        stack(
            "spec:\n  pipelines:\n    - name: p\n      steps:\n        - {name: a, image: x}\n        - {name: b, image: x, dependsOn: [a], when: accuracy is good}\n"
        ),
        10,
        "cannot read the condition",
    ),
    (
        "step without image",
        stack("spec:\n  pipelines:\n    - name: p\n      steps:\n        - {name: a}\n"),
        9,
        "needs an image",
    ),
    (
        "route unknown model",
        stack(
            "spec:\n  routes:\n    - name: r\n      path: /v1\n      backends: [{name: x, local: {model: nope}}]\n"
        ),
        9,
        "unknown model (no model is defined)",
    ),
    (
        "route weights",
        stack(
            "spec:\n  routes:\n    - name: r\n      path: /v1\n      backends:\n        - {name: a, weight: 60, external: {provider: openai, model: gpt-4o, apiKeySecret: {name: s, key: k}}}\n        - {name: b, weight: 30, external: {provider: anthropic, model: c, apiKeySecret: {name: s, key: k}}}\n"
        ),
        9,
        "sum to 90, not 100",
    ),
    (
        "fallback unknown backend",
        stack(
            "spec:\n  routes:\n    - name: r\n      path: /v1\n      backends: [{name: a, external: {provider: openai, model: gpt-4o, apiKeySecret: {name: s, key: k}}}]\n      fallback: {chain: [a, b]}\n"
        ),
        10,
        "unknown backend of route r",
    ),
    (
        "provider without credentials",
        stack(
            "spec:\n  routes:\n    - name: r\n      path: /v1\n      backends: [{name: a, external: {provider: openai, model: gpt-4o}}]\n"
        ),
        9,
        "openai needs credentials",
    ),
    (
        "backend two targets",
        stack(
            "spec:\n  routes:\n    - name: r\n      path: /v1\n      backends: [{name: a, local: {model: m}, external: {provider: openai, model: x}}]\n"
        ),
        9,
        "exactly one of local or external",
    ),
    (
        "path without slash",
        stack(
            "spec:\n  routes:\n    - name: r\n      path: v1\n      backends: [{name: a, local: {model: m}}]\n"
        ),
        8,
        "should match pattern",
    ),
    (
        "ivf on qdrant",
        stack(
            "spec:\n  vectorCollections:\n    - name: c\n      endpoint: http://q:6333\n      dimension: 8\n      index: {type: ivf, nlist: 128}\n"
        ),
        10,
        "qdrant has no IVF index",
    ),
    (
        "bad distance",
        stack(
            "spec:\n  vectorCollections:\n    - name: c\n      endpoint: http://q:6333\n      dimension: 8\n      distance: cosin\n"
        ),
        10,
        "did you mean 'cosine'",
    ),
    (
        "swap space on new vllm",
        stack(
            POOL
            + "  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      pool: a100\n      serving: {engineVersion: '0.18.0', swapSpaceGb: 4}\n"
        ),
        14,
        "swap-space",
    ),
    (
        "misspelt extra arg",
        stack(
            POOL
            + "  models:\n    - name: m\n      versions: [{name: v1, source: hf://a/b}]\n      pool: a100\n      serving:\n        extraArgs: {--max-num-seq: 8}\n"
        ),
        15,
        "did you mean '--max-num-seqs'",
    ),
    (
        "negative dimension",
        stack(
            "spec:\n  vectorCollections:\n    - name: c\n      endpoint: http://q:6333\n      dimension: -8\n"
        ),
        9,
        "greater than 0",
    ),
    *[
        (
            name,
            stack(PG_STORE + "  vectorCollections:\n    - name: c\n      store: pg\n" + body),
            line,
            message,
        )
        for name, body, line, message in [
            (
                "pgvector m too small",
                "      dimension: 8\n      index: {type: hnsw, m: 1}\n",
                13,
                "m 1 is out of range: pgvector allows 2-100",
            ),
            (
                "pgvector m too large",
                "      dimension: 8\n      index:\n        m: 101\n        efConstruct: 400\n",
                14,
                "m 101 is out of range",
            ),
            (
                "pgvector ef_construction too large",
                "      dimension: 8\n      index: {efConstruct: 1001}\n",
                13,
                "efConstruct 1001 is out of range: pgvector allows 4-1000",
            ),
            (
                "pgvector ef_construction below 2m",
                "      dimension: 8\n      index:\n        m: 48\n        efConstruct: 64\n",
                15,
                "efConstruct 64 must be at least 2 * m = 96",
            ),
            (
                "pgvector lists too large",
                "      dimension: 8\n      index: {type: ivf, nlist: 40000}\n",
                13,
                "nlist (lists) 40000 is out of range: pgvector allows 1-32768",
            ),
            (
                "pgvector too many dimensions",
                "      dimension: 4096\n",
                12,
                "dimension 4096 is too large to index: pgvector indexes at most 2000 dimensions as vector, 4000 as halfvec",
            ),
            (
                "pgvector ivf manhattan",
                "      dimension: 8\n      distance: manhattan\n      index: {type: ivf}\n",
                13,
                "IVFFlat index has no manhattan",
            ),
            (
                "pgvector shards",
                "      dimension: 8\n      shards: 2\n",
                13,
                "shards is a Qdrant setting",
            ),
        ]
    ],
    (
        "store with two kinds",
        stack(
            "spec:\n  vectorStores:\n    - name: s\n      pgvector: {host: h, database: d, user: u}\n      chroma: {url: http://c:8000}\n"
        ),
        7,
        "give exactly one of pgvector or chroma",
    ),
    (
        "literal password",
        stack(
            "spec:\n  vectorStores:\n    - name: s\n      pgvector: {host: h, database: d, user: u, password: hunter2}\n"
        ),
        8,
        "password",
    ),
    (
        "chroma ivf",
        stack(
            "spec:\n  vectorStores:\n    - name: ch\n      chroma: {url: http://c:8000}\n  vectorCollections:\n    - name: c\n      store: ch\n      dimension: 8\n      index: {type: ivf}\n"
        ),
        13,
        "a Chroma server indexes with HNSW",
    ),
    (
        "store and endpoint",
        stack(
            PG_STORE
            + "  vectorCollections:\n    - name: c\n      store: pg\n      endpoint: http://q:6333\n      dimension: 8\n"
        ),
        12,
        "endpoint does not apply to a collection in a store",
    ),
    (
        "unknown store",
        stack(
            PG_STORE + "  vectorCollections:\n    - name: c\n      store: pgg\n      dimension: 8\n"
        ),
        11,
        "unknown vector store (did you mean 'pg'?)",
    ),
    (
        "neither store nor endpoint",
        stack("spec:\n  vectorCollections:\n    - name: c\n      dimension: 8\n"),
        7,
        "needs a store or an endpoint",
    ),
]


@pytest.mark.parametrize(
    ("raw", "line", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_stack_reports_line_and_message(raw: bytes, line: int, expected: str) -> None:
    found = problems(raw)
    assert found, "expected at least one error"
    matching = [p for p in found if expected in p]
    assert matching, f"no error mentions {expected!r}: {found}"
    if line:
        assert any(p.startswith(f"t.yaml:{line}:") for p in matching), found


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_base_pool_is_valid() -> None:
    assert problems(stack(POOL)) == []


def test_all_errors_reported_in_one_run() -> None:
    raw = stack(
        POOL.replace("A100-80GB", "A100-80G")
        + "  routes:\n    - name: r\n      path: v1\n      backends: []\n"
    )
    found = problems(raw)
    assert any("pattern" in p for p in found) and any("at least 1 item" in p for p in found)
