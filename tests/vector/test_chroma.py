"""Chroma collections against a real ``chroma run`` server (chromadb 1.5.9; marker ``chroma``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplane.plan.model import Pin
from aiplane.providers.base import PlanError
from aiplane.providers.credentials import StoreError
from tests.servers.chroma import ChromaServer
from tests.vector.chroma_support import Driver, add_vectors, api, chroma_stack, count

pytestmark = pytest.mark.chroma


def coll(name: str, extra: str = "") -> str:
    return f"""\
- name: {name}
  store: ch
  dimension: 8
  distance: cosine
  index: {{type: hnsw, m: 16, efConstruct: 100, efSearch: 50}}
  metadata: {{team: search}}
{extra}"""


def test_create_then_empty_plan_then_in_place_change(
    tmp_path: Path, chroma_server: ChromaServer
) -> None:
    path = chroma_stack(tmp_path, chroma_server, coll("docs-a"))
    [created] = Driver(path).apply()
    assert created.action == "create"
    live = api(chroma_server, "GET", "/docs-a")
    hnsw = live["configuration_json"]["hnsw"]
    assert (hnsw["space"], hnsw["max_neighbors"], hnsw["ef_construction"], hnsw["ef_search"]) == (
        "cosine", 16, 100, 50,
    )  # fmt: skip
    assert live["metadata"]["team"] == "search" and live["metadata"]["aiplane.stack"] == "t"
    assert Driver(path).plan()[0] == []

    add_vectors(chroma_server, "docs-a", 20, 8)
    path = chroma_stack(
        tmp_path, chroma_server, coll("docs-a").replace("efSearch: 50", "efSearch: 120")
    )
    [change] = Driver(path).apply()
    assert (change.action, change.disruption) == ("update", "in-place")
    assert "hnsw.ef_search 50 -> 120 (in place)" in change.reason
    after = api(chroma_server, "GET", "/docs-a")
    assert after["configuration_json"]["hnsw"]["ef_search"] == 120
    assert after["id"] == live["id"] and count(chroma_server, "docs-a") == 20
    assert Driver(path).plan()[0] == []


def test_immutable_change_with_vectors_is_refused_unless_recreation_is_declared(
    tmp_path: Path, chroma_server: ChromaServer
) -> None:
    path = chroma_stack(tmp_path, chroma_server, coll("docs-b"))
    Driver(path).apply()
    add_vectors(chroma_server, "docs-b", 1000, 8)
    changed = coll("docs-b").replace("m: 16", "m: 32")
    path = chroma_stack(tmp_path, chroma_server, changed)
    driver = Driver(path)
    [change], _ = driver.plan()
    assert change.action == "replace"
    assert "hnsw.max_neighbors 16 -> 32 (replace: 1,000 vectors would be lost)" in change.reason
    assert any("recreateOnChange is not set" in w for w in driver.provider.warnings([change]))
    with pytest.raises(StoreError, match="recreateOnChange is not set; nothing deleted"):
        driver.apply()
    assert count(chroma_server, "docs-b") == 1000

    path = chroma_stack(tmp_path, chroma_server, changed + "  recreateOnChange: true\n")
    [replaced] = Driver(path).apply()
    assert replaced.action == "replace"
    assert count(chroma_server, "docs-b") == 0
    assert api(chroma_server, "GET", "/docs-b")["configuration_json"]["hnsw"]["max_neighbors"] == 32
    assert Driver(path).plan()[0] == []


def test_out_of_band_edit_is_drift_repaired_and_moves_the_pin(
    tmp_path: Path, chroma_server: ChromaServer
) -> None:
    path = chroma_stack(tmp_path, chroma_server, coll("docs-c"))
    Driver(path).apply()
    driver = Driver(path)
    before = driver.provider.pin_now(driver.wanted[0].address, driver.read())
    assert isinstance(before, Pin)
    cid = api(chroma_server, "GET", "/docs-c")["id"]
    api(chroma_server, "PUT", f"/{cid}", {"new_configuration": {"hnsw": {"ef_search": 7}}})
    now = driver.provider.pin_now(driver.wanted[0].address, driver.read())
    assert not before.still(now)
    [drift] = Driver(path).apply()
    assert "hnsw.ef_search 7 -> 50" in drift.reason
    assert api(chroma_server, "GET", "/docs-c")["configuration_json"]["hnsw"]["ef_search"] == 50
    assert Driver(path).plan()[0] == []


def test_foreign_collections_are_never_touched_and_prune_takes_only_its_own(
    tmp_path: Path, chroma_server: ChromaServer
) -> None:
    api(chroma_server, "POST", "", {"name": "docs-d", "metadata": {"owner": "someone"}})
    with pytest.raises(PlanError) as caught:
        Driver(chroma_stack(tmp_path, chroma_server, coll("docs-d"))).plan()
    [diag] = caught.value.diagnostics
    assert diag.line == 12 and "was not created by aiplane" in diag.message
    other = chroma_stack(tmp_path, chroma_server, coll("docs-e"), stack="other")
    Driver(other).apply()
    with pytest.raises(PlanError, match="cannot be planned"):
        Driver(chroma_stack(tmp_path, chroma_server, coll("docs-e"), stack="t2")).plan()
    mine = chroma_stack(tmp_path, chroma_server, coll("docs-f") + coll("docs-g"), stack="t3")
    Driver(mine).apply()
    keep = chroma_stack(tmp_path, chroma_server, coll("docs-f"), stack="t3")
    [pruned], _ = Driver(keep).plan()
    assert (str(pruned.address), pruned.action) == ("collection ch/docs-g", "delete")
    Driver(keep).apply()
    names = {c["name"] for c in api(chroma_server, "GET", "")}
    assert {"docs-d", "docs-e", "docs-f"} <= names and "docs-g" not in names
    assert api(chroma_server, "GET", "/docs-d")["metadata"] == {"owner": "someone"}


def test_an_unreachable_server_is_one_located_line(
    tmp_path: Path, chroma_server: ChromaServer
) -> None:
    from tests.servers.support import free_port

    path = chroma_stack(
        tmp_path, chroma_server, coll("docs-h"), url=f"http://127.0.0.1:{free_port()}"
    )
    with pytest.raises(StoreError) as caught:
        Driver(path).plan()
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(
        f"{path}:7:7: spec.vectorStores[0]: store ch: cannot reach http://127.0.0.1:"
    )
