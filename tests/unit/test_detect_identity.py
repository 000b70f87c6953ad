"""identity_anomaly: invalid MMSIs and IMO numbers, and identities that keep changing."""

from __future__ import annotations

import pytest

from anomaly.detectors.identity_anomaly import IdentityAnomalyDetector, is_valid_imo
from anomaly.records import AlertType, Severity
from ingest.mmsi import classify
from tests.detect_builders import Leg, Runner, build, final, hours, minutes, sail, statics
from tests.track_builders import make_static

SHIP = 405_000_100


def run(points):
    return Runner(IdentityAnomalyDetector()).feed(points)


def voyage(mmsi: int, hours_: float = 2.0):
    mmsi_class, flag = classify(mmsi)
    return sail(mmsi, [Leg(hours(hours_), 9.0, 60.0, every_s=30)], mmsi_class=mmsi_class, flag=flag)


@pytest.mark.parametrize(
    ("mmsi", "words"),
    [
        (123_456_789, "placeholder"),
        (111_111_111, "placeholder"),
        (412_000_000, "placeholder"),
        (200_123_456, "MID 200, which is allocated to no country"),
        (12_345, "follows no ITU-R M.585 format"),
    ],
)
def test_an_invalid_mmsi_is_an_identity_anomaly(mmsi: int, words: str) -> None:
    alerts = run(build(voyage(mmsi)))
    (alert,) = final(alerts).values()
    assert alert.type == AlertType.IDENTITY_ANOMALY and alert.severity == Severity.MEDIUM
    assert words in alert.reasons[0]
    assert len(alerts) == 1  # alerted once, not at every report


def test_an_imo_number_failing_its_check_digit_is_low() -> None:
    points = build(voyage(SHIP), statics(SHIP, 70, hours(2), imo=9_074_728))
    (alert,) = final(run(points)).values()
    assert alert.severity == Severity.LOW and "IMO number 9074728 is not valid" in alert.reasons[0]


def test_a_valid_identity_raises_nothing() -> None:
    assert is_valid_imo(9_074_729)
    points = build(voyage(SHIP), statics(SHIP, 70, hours(2), imo=9_074_729, name="MV BANGLAR"))
    assert run(points) == []


def test_two_ships_sharing_an_mmsi_keep_changing_its_name() -> None:
    names = [
        make_static(mmsi=SHIP, ts=t, name="ALPHA" if i % 2 == 0 else "BRAVO", ship_type=30)
        for i, t in enumerate(range(0, int(hours(2)), int(minutes(6))))
    ]
    alerts = run(build(voyage(SHIP), names))
    first = alerts[0]
    assert first.severity == Severity.MEDIUM
    assert "Identity changed 2 times" in first.reasons[0]
    assert '"BRAVO" -> "ALPHA"' in first.reasons[0]
    assert [a.revision for a in alerts] == list(range(1, len(alerts) + 1))
    assert len(alerts) <= 5  # revised as the count doubles, not at every change
    assert final(alerts)[first.id].extra["identity_changes"] == 16  # 2, 4, 8, 16 (of 19)


def test_a_new_name_and_call_sign_under_the_same_mmsi_is_an_identity_swap() -> None:
    reports = [
        make_static(mmsi=SHIP, ts=0, name="GREAT ROYAL", callsign="H368RA", imo=8_305_274),
        make_static(mmsi=SHIP, ts=3600, name="ASIA NOBLE", callsign="3FKZA3", imo=8_305_274),
    ]
    (alert,) = final(run(build(voyage(SHIP), reports))).values()
    assert '"GREAT ROYAL" -> "ASIA NOBLE"' in alert.reasons[0]
    assert '"H368RA" -> "3FKZA3"' in alert.reasons[0]


def test_one_rename_or_a_name_filled_in_is_not_an_anomaly() -> None:
    reports = [
        make_static(mmsi=SHIP, ts=0, name=None, callsign="S2AB"),
        make_static(mmsi=SHIP, ts=600, name="OLD NAME", callsign="S2AB"),
        make_static(mmsi=SHIP, ts=3600, name="NEW NAME", callsign="S2AB"),
    ]
    assert run(build(voyage(SHIP), reports)) == []


def test_a_hull_changing_imo_number_is_high() -> None:
    reports = [
        make_static(mmsi=SHIP, ts=0, name="SEA STAR", imo=9_074_729),
        make_static(mmsi=SHIP, ts=3600, name="SEA STAR", imo=9_176_187),
    ]
    (alert,) = final(run(build(voyage(SHIP), reports))).values()
    assert alert.severity == Severity.HIGH and "from 9074729 to 9176187" in alert.reasons[0]


def test_the_episode_ends_when_the_vessel_falls_silent_and_a_new_one_starts_after() -> None:
    first = voyage(123_456_789, hours_=1.0)
    later = sail(
        123_456_789,
        [Leg(hours(1), 9.0, 60.0, every_s=30)],
        t0_s=hours(10),
        mmsi_class="invalid",
        flag=None,
    )
    alerts = run(build(first, later))
    episodes = final(alerts)
    assert len(episodes) == 2
    ended = [a for a in episodes.values() if a.end is not None]
    assert len(ended) == 1 and ended[0].end < later[0].ts
