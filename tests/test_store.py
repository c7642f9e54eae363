"""Single-item writes: optimistic locking, forced deletes, audit history."""

from __future__ import annotations

import threading

import pytest

from cmdb_graph.model import Label
from cmdb_graph.store import ConflictError, HasDependentsError, NotFoundError, Store, StoreError
from loaders.native import load_paths
from tests.conftest import DATA, graph_counts


@pytest.fixture
def shop(store: Store) -> Store:
    assert load_paths(store, [DATA / "shop.yaml"], actor="loader").ok
    return store


def test_update_with_the_current_version_bumps_it_and_is_audited(shop: Store):
    updated = shop.update_ci("web-1", {"criticality": 1, "attributes": {"os": "debian 12"}}, 1, actor="alice")
    assert updated.version == 2 and updated.ci.criticality == 1 and updated.ci.attributes == {"os": "debian 12"}
    entry = shop.history("web-1")[0]
    assert (entry.actor, entry.action, entry.version) == ("alice", "update", 2)
    assert entry.changed == ["attributes", "criticality"]


def test_stale_version_is_a_conflict_and_writes_nothing(shop: Store):
    shop.update_ci("web-1", {"criticality": 1}, 1, actor="alice")
    before = graph_counts(shop.driver)
    with pytest.raises(ConflictError, match="is at version 2, not 1"):
        shop.update_ci("web-1", {"criticality": 4}, 1, actor="bob")
    assert graph_counts(shop.driver) == before
    assert len(shop.history("web-1")) == 2


def test_concurrent_updates_from_the_same_version_let_exactly_one_win(shop: Store):
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    # every writer really changes something: a writer setting the value the CI already has
    # changes nothing, keeps the version, and so does not stop the next writer
    def attempt(writer: int) -> None:
        barrier.wait()
        try:
            shop.update_ci("web-1", {"name": f"Web server renamed by writer {writer}"}, 1, actor=f"writer-{writer}")
            outcomes.append("won")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt, args=(w,)) for w in (1, 2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "won"]
    assert shop.get_ci("web-1").version == 2


def test_invalid_update_is_refused(shop: Store):
    with pytest.raises(StoreError, match="less than or equal to 4"):
        shop.update_ci("web-1", {"criticality": 9}, 1, actor="alice")
    with pytest.raises(StoreError, match="not a known team"):
        shop.update_ci("web-1", {"owner": "team-nobody"}, 1, actor="alice")
    with pytest.raises(StoreError, match="id cannot change"):
        shop.update_ci("web-1", {"id": "web-9"}, 1, actor="alice")
    assert shop.get_ci("web-1").version == 1


def test_unknown_ci_is_not_found(shop: Store):
    with pytest.raises(NotFoundError):
        shop.update_ci("nope", {"criticality": 1}, 1, actor="alice")


def test_deleting_a_ci_others_depend_on_needs_force(shop: Store):
    with pytest.raises(HasDependentsError, match="1 relationship"):
        shop.delete_ci("db-1", 1, actor="alice")
    assert shop.get_ci("db-1") is not None
    relationships = shop.count_relationships()
    shop.delete_ci("db-1", 1, actor="alice", force=True)
    assert shop.get_ci("db-1") is None
    assert shop.count_relationships() == relationships - 1
    entry = shop.history("db-1")[0]
    assert entry.action == "delete" and entry.before["ci_class"] == "Database" and entry.after is None


def test_deleting_a_leaf_needs_no_force_but_a_current_version(shop: Store):
    with pytest.raises(ConflictError):
        shop.delete_ci("shop", 7, actor="alice")
    shop.delete_ci("shop", 1, actor="alice")
    assert shop.get_ci("shop") is None


def test_every_loaded_item_has_one_audit_entry(shop: Store):
    audited = shop.count(Label.AUDIT_ENTRY)
    assert audited == 18
    history = shop.history("web-farm|HAS_MEMBER|web-1")
    assert [e.entity_kind for e in history] == ["Relationship"]
    assert [e.action for e in shop.history("INC1")] == ["create"]


def test_history_is_newest_first(shop: Store):
    for version in (1, 2, 3):
        shop.update_ci("web-2", {"criticality": version}, version, actor="alice")
    assert [e.version for e in shop.history("web-2")] == [4, 3, 2, 1]


def test_deleting_a_relationship_takes_its_version_and_is_audited(shop: Store):
    from cmdb_graph.model import RelType

    with pytest.raises(ConflictError):
        shop.delete_relationship("shop", RelType.DEPENDS_ON, "db-1", 2, actor="alice")
    with pytest.raises(NotFoundError):
        shop.delete_relationship("shop", RelType.RUNS_ON, "db-1", 1, actor="alice")
    relationships = shop.count_relationships()
    shop.delete_relationship("shop", RelType.DEPENDS_ON, "db-1", 1, actor="alice")
    assert shop.count_relationships() == relationships - 1
    entry = shop.history("shop|DEPENDS_ON|db-1")[0]
    assert (entry.action, entry.version, entry.before) == ("delete", 2, {"strength": "soft"})
    # the CI it pointed at now has no dependents and can go without force
    shop.delete_ci("db-1", 1, actor="alice")


def test_a_write_blocked_past_its_budget_answers_contended_and_writes_nothing(shop: Store):
    """Another writer holds the CI's lock: the write gives up at its budget, well before the
    transaction timeout, so a client waiting on the service gets an answer."""
    import time

    from cmdb_graph.store import WriteContended

    bounded = Store(shop.driver, shop.database, tx_timeout=30.0, write_budget=2.0)
    before = graph_counts(shop.driver)
    with shop.driver.session(database=shop.database) as session, session.begin_transaction() as holder:
        holder.run("MATCH (c:CI {id: 'web-1'}) SET c.held = true").consume()
        started = time.monotonic()
        with pytest.raises(WriteContended, match="collided with concurrent writes"):
            bounded.update_ci("web-1", {"criticality": 1}, 1, actor="alice")
        waited = time.monotonic() - started
        holder.rollback()
    assert 1.5 < waited < 5.0
    assert graph_counts(shop.driver) == before
    assert shop.get_ci("web-1").version == 1 and len(shop.history("web-1")) == 1


def test_a_write_within_its_budget_waits_for_the_lock_and_lands(shop: Store):
    bounded = Store(shop.driver, shop.database, tx_timeout=30.0, write_budget=10.0)
    with shop.driver.session(database=shop.database) as session:
        holder = session.begin_transaction()
        holder.run("MATCH (c:CI {id: 'web-1'}) SET c.held = true").consume()
        release = threading.Timer(1.0, holder.rollback)
        release.start()
        updated = bounded.update_ci("web-1", {"criticality": 1}, 1, actor="alice")
        release.join()
    assert updated.version == 2 and updated.ci.criticality == 1
