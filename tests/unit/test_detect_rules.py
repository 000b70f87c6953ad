"""config/rules.yaml: validated, round-tripped unchanged, versioned; the registry builds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from anomaly import registry
from anomaly.detectors.gap import GapDetector
from anomaly.records import AlertType, Severity, Tlp
from anomaly.registry import DETECTORS, build_detectors, detector_class
from anomaly.rules import RulesError, RuleSet, dump_rules, load_rules, parse_rules
from config import default_config_dir

PER_VESSEL = {
    "ais_gap",
    "loitering",
    "drifting",
    "distress",
    "position_jump",
    "speed_anomaly",
    "identity_anomaly",
}


def bundled_text() -> str:
    return (default_config_dir() / "rules.yaml").read_text(encoding="utf-8")


def test_the_bundled_rules_cover_every_alert_type_and_round_trip_unchanged() -> None:
    rules = load_rules()
    assert {r.id for r in rules} == {t.value for t in AlertType}
    assert dump_rules(rules) == bundled_text()
    assert dump_rules(parse_rules(dump_rules(rules))) == bundled_text()
    for rule in rules:
        assert rule.description and rule.source, f"{rule.id}: say what it means and why"


def test_the_published_defaults() -> None:
    rules = load_rules()

    def params(rule_id: str) -> dict[str, object]:
        entry = rules.get(rule_id)
        assert entry is not None
        return entry.params

    assert params("ais_gap")["watch_area_h"] == 2.0 and params("ais_gap")["open_sea_h"] == 6.0
    assert params("loitering")["max_speed_kn"] == 2.0
    assert params("loitering")["min_duration_h"] == 4.0
    assert params("loitering")["min_shore_distance_nm"] == 20.0
    assert params("drifting")["min_deviation_deg"] == 45.0
    assert params("drifting")["min_duration_h"] == 1.0
    assert params("encounter")["max_distance_m"] == 500.0
    assert params("encounter")["min_duration_h"] == 2.0
    assert params("encounter")["min_port_distance_km"] == 10.0
    assert rules.get("distress").tlp == Tlp.GREEN  # type: ignore[union-attr]
    assert rules.get("drifting").tlp == Tlp.GREEN  # type: ignore[union-attr]


def test_every_per_vessel_rule_builds_its_detector() -> None:
    detectors = build_detectors(load_rules(), keyed_by="mmsi")
    built = {d.config.id for d in detectors}
    assert built >= PER_VESSEL
    gap = next(d for d in detectors if d.config.id == "ais_gap")
    shipped = load_rules().get("ais_gap")
    assert shipped is not None
    assert isinstance(gap, GapDetector) and gap.config.version == shipped.version


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ("watch_area_h: 2.0", "watch_area_hours: 2.0"),  # a misspelt parameter
        ("open_sea_h: 6.0", "open_sea_h: -6.0"),  # a negative duration
        ("- id: ais_gap", "- id: ais_gaps"),  # not an alert type
        ("tlp: GREEN", "tlp: PURPLE"),
    ],
)
def test_a_broken_edit_is_refused_with_the_place_named(edit: str, words: str) -> None:
    text = bundled_text().replace(edit, words, 1)
    with pytest.raises(RulesError) as caught:
        parse_rules(text)
    assert "rules" in str(caught.value)


def test_unknown_parameters_are_named() -> None:
    text = bundled_text().replace("watch_area_h: 2.0", "watch_area_hours: 2.0", 1)
    with pytest.raises(RulesError, match="watch_area_hours"):
        parse_rules(text)


def test_a_rule_appearing_twice_is_refused() -> None:
    rules = load_rules()
    data = rules.to_yaml_dict()
    data["rules"].append(dict(data["rules"][0]))
    with pytest.raises(ValueError, match="appears twice"):
        RuleSet.model_validate(data)


def test_revising_bumps_the_versions_of_what_changed() -> None:
    rules = load_rules()
    edited_text = bundled_text().replace("open_sea_h: 6.0", "open_sea_h: 12.0", 1)
    edited = parse_rules(edited_text)
    revised = rules.revise(edited)
    assert revised.version == rules.version + 1
    gap, loitering = revised.get("ais_gap"), revised.get("loitering")
    shipped_gap, shipped_loitering = rules.get("ais_gap"), rules.get("loitering")
    assert shipped_gap is not None and shipped_loitering is not None
    assert gap is not None and gap.version == shipped_gap.version + 1
    assert gap.params["open_sea_h"] == 12.0
    assert loitering is not None and loitering.version == shipped_loitering.version
    assert rules.revise(rules) == rules  # nothing changed: nothing bumped
    assert revised.revise(revised).version == revised.version


def test_a_version_going_back_is_refused() -> None:
    rules = load_rules()
    newer = rules.revise(parse_rules(bundled_text().replace("open_sea_h: 6.0", "open_sea_h: 8.0")))
    with pytest.raises(RulesError, match="older"):
        newer.revise(rules)


def test_rule_configs_carry_tlp_severity_and_enabled() -> None:
    text = bundled_text().replace(
        "- id: loitering\n  version: 1\n  enabled: true\n  tlp: AMBER\n",
        "- id: loitering\n  version: 1\n  enabled: false\n  tlp: RED\n  severity: high\n",
    )
    rules = parse_rules(text)
    config = next(c for c in rules.configs() if c.id == "loitering")
    assert config.tlp == Tlp.RED and config.severity == Severity.HIGH and not config.enabled
    assert "loitering" not in {d.config.id for d in build_detectors(rules)}
    assert "severity: high" in dump_rules(rules)


def test_a_rules_folder_or_file_loads(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(bundled_text())
    assert load_rules(tmp_path) == load_rules(tmp_path / "rules.yaml") == load_rules()
    with pytest.raises(RulesError):
        load_rules(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("version: [")
    with pytest.raises(RulesError, match="not YAML"):
        load_rules(tmp_path / "bad.yaml")


def test_a_detector_module_that_does_not_exist_yet_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(DETECTORS, "encounter", "anomaly.detectors.not_written_yet:Nothing")
    monkeypatch.setattr(registry, "_loaded", {})
    assert detector_class("encounter") is None
    detectors = build_detectors(load_rules().configs())
    assert "encounter" not in {d.config.id for d in detectors}
    assert {d.config.id for d in detectors} >= PER_VESSEL


def test_cross_vessel_detectors_can_be_left_to_their_own_stage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Meetings:
        keyed_by = "cell"

        def __init__(self, config: object, context: object) -> None:
            self.config = config

    monkeypatch.setitem(DETECTORS, "encounter", Meetings)
    rules = load_rules()
    assert "encounter" not in {d.config.id for d in build_detectors(rules, keyed_by="mmsi")}
    assert "encounter" in {d.config.id for d in build_detectors(rules, keyed_by="cell")}
    assert "encounter" in {d.config.id for d in build_detectors(rules)}
