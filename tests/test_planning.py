"""Wave planning: every target in exactly one wave, selectors in order, presets, warnings."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from patchwave.fleet import ComplianceSummary, ManagedInstance
from patchwave.window.outcomes import Outcome
from patchwave.window.planning import plan_window
from tests.helpers import window


def instance(n: int, **tags: str) -> ManagedInstance:
    return ManagedInstance(
        f"i-0{n:016x}", "AMAZON_LINUX_2023", "Online", "running", {"Workload": "Test", **tags}
    )


def non_compliant(instances) -> dict[str, ComplianceSummary]:
    return {i.instance_id: ComplianceSummary(i.instance_id, False, 0, {"CRITICAL": 1}) for i in instances}


def test_tag_count_percent_and_rest() -> None:
    fleet = [instance(0, Wave="canary"), *[instance(n) for n in range(1, 21)]]
    win = window(
        [
            {"name": "canary", "select": {"tags": {"Wave": ["canary"]}}},
            {"name": "five", "select": {"count": 5}},
            {"name": "half", "select": {"percent": 50}},
            {"name": "rest"},
        ]
    )
    plan = plan_window(win, fleet, {}, non_compliant(fleet))
    sizes = [len(w.members) for w in plan.waves]
    assert sizes == [1, 5, 8, 7]  # 50% of the remaining 15, rounded up
    assert plan.waves[0].members[0].instance_id == fleet[0].instance_id
    assert not plan.warnings


def test_count_and_percent_skip_instances_with_nothing_to_do() -> None:
    online = [instance(n) for n in range(6)]
    offline = ManagedInstance(
        "i-0aaaaaaaaaaaaaaa0", "AMAZON_LINUX_2023", "ConnectionLost", "running", {"Workload": "Test"}
    )
    compliance = non_compliant(online[2:])
    compliance[online[0].instance_id] = ComplianceSummary(online[0].instance_id, True, 5, {})
    win = window([{"name": "canary", "select": {"count": 1}}, {"name": "rest"}])
    plan = plan_window(win, [*online, offline], {}, compliance)
    canary, rest = plan.waves
    assert [m.instance_id for m in canary.members] == [online[1].instance_id]  # unreported: install
    presets = {m.instance_id: m.preset for m in rest.members}
    assert presets[online[0].instance_id] == Outcome.ALREADY_COMPLIANT
    assert presets[offline.instance_id] == Outcome.SKIPPED_OFFLINE
    assert "ConnectionLost" in next(m.reason for m in rest.members if m.instance_id == offline.instance_id)


def test_selector_matching_nothing_and_last_wave_selector_are_warnings() -> None:
    fleet = [instance(n) for n in range(3)]
    win = window(
        [
            {"name": "canary", "select": {"tags": {"Wave": ["canary"]}}},
            {"name": "last", "select": {"count": 1}},
        ]
    )
    plan = plan_window(win, fleet, {}, non_compliant(fleet))
    assert len(plan.waves[1].members) == 3
    assert any("'canary'" in w and "selects no instance" in w for w in plan.warnings)
    assert any("last wave" in w for w in plan.warnings)


def test_rate_numbers_are_computed_over_instances_to_install() -> None:
    fleet = [instance(n) for n in range(10)]
    compliance = non_compliant(fleet[:4])
    compliance.update({i.instance_id: ComplianceSummary(i.instance_id, True, 1, {}) for i in fleet[4:]})
    win = window([{"name": "all", "max_concurrency": "50%", "max_errors": "50%"}])
    (wave,) = plan_window(win, fleet, {}, compliance).waves
    assert (wave.max_concurrency, wave.max_errors) == (2, 2)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 60),
    canary_tagged=st.sets(st.integers(0, 59), max_size=5),
    compliant=st.sets(st.integers(0, 59), max_size=30),
    selectors=st.lists(
        st.one_of(
            st.builds(lambda c: {"count": c}, st.integers(1, 20)),
            st.builds(lambda p: {"percent": p}, st.integers(1, 100)),
            st.just({"tags": {"Wave": ["canary"]}}),
        ),
        min_size=0,
        max_size=4,
    ),
)
def test_every_target_lands_in_exactly_one_wave(n, canary_tagged, compliant, selectors) -> None:
    fleet = [instance(i, **({"Wave": "canary"} if i in canary_tagged else {})) for i in range(n)]
    compliance = {
        i.instance_id: ComplianceSummary(
            i.instance_id, k in compliant, 0, {} if k in compliant else {"LOW": 1}
        )
        for k, i in enumerate(fleet)
    }
    waves = [{"name": f"w{k}", "select": s} for k, s in enumerate(selectors)] + [{"name": "rest"}]
    plan = plan_window(window(waves), fleet, {}, compliance)
    placed = [m.instance_id for w in plan.waves for m in w.members]
    assert sorted(placed) == sorted(i.instance_id for i in fleet)
    assert len(placed) == len(set(placed))
    for member in plan.members:
        expected = Outcome.ALREADY_COMPLIANT if compliance[member.instance_id].compliant else None
        assert member.preset == expected


def test_targets_that_select_nothing_are_a_warning() -> None:
    plan = plan_window(window([{"name": "all"}]), [], {}, {})
    assert "the window's targets select no instance" in plan.warnings
