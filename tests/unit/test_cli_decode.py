"""`lookout decode`, run in-process: JSON records on stdout, the summary last on stderr.

typer's CliRunner keeps stdout and stderr apart (`result.stdout`, `result.stderr`);
`result.output` interleaves both.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from lookout.cli import app
from tests.builders import KNOWN_TYPE1, T0_S, encode, tag
from tests.strategies import MARINECADASTRE_HEADER, MARINECADASTRE_ROW

TYPE5 = encode({"type": 5, "mmsi": 244_123_456, "shipname": "TEST SHIP"}, seq_id=1)
MIXED_LINES = [
    KNOWN_TYPE1,
    tag(f"s:rx1,c:{T0_S}") + TYPE5[0],
    tag(f"s:rx1,c:{T0_S}") + TYPE5[1],
    "",
    "# a comment",
    "$GPGGA,120000.00,2130.000,N,09130.000,E,1,08,1.0,10.0,M,0.0,M,,*5C",
    "hello world",
    KNOWN_TYPE1[:-2] + "00",  # checksum mismatch
    TYPE5[1],  # an orphan part 2
]
SUMMARY_KEYS = {"lines", "decoded_lines", "non_ais_lines", "deadletter_lines", "blank_lines"}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.nmea"
    path.write_text("\n".join(MIXED_LINES) + "\n", encoding="ascii")
    return path


def json_lines(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def summary_of(stderr: str) -> dict[str, Any]:
    last = stderr.rstrip("\n").splitlines()[-1]
    summary: dict[str, Any] = orjson.loads(last)
    assert summary.keys() >= SUMMARY_KEYS
    return summary


def assert_accounted(summary: dict[str, Any]) -> None:
    parts = sum(summary[k] for k in SUMMARY_KEYS - {"lines"})
    assert parts == summary["lines"]
    assert sum(summary["deadletter"].values()) == summary["deadletter_lines"]


def test_decode_mixed_file(runner: CliRunner, mixed_file: Path) -> None:
    result = runner.invoke(app, ["decode", str(mixed_file)])
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert [r["kind"] for r in records] == ["position", "static"]
    assert all(r["v"] == 1 for r in records)
    assert records[0]["mmsi"] == 366_053_209
    assert records[1]["name"] == "TEST SHIP"
    assert records[1]["ts"] == "2015-03-11T00:00:00.000Z"  # from the first part's tag block

    summary = summary_of(result.stderr)
    assert summary["lines"] == len(MIXED_LINES)
    assert summary["decoded_lines"] == 3
    assert summary["non_ais_lines"] == 2
    assert summary["blank_lines"] == 1
    assert summary["deadletter_lines"] == 3
    assert summary["deadletter"] == {"checksum": 1, "garbage": 1, "orphan_fragment": 1}
    assert summary["records"] == 2
    assert_accounted(summary)

    dead = json_lines(result.stderr)[:-1]  # dead letters precede the summary on stderr
    assert sorted(d["reason"] for d in dead) == ["checksum", "garbage", "orphan_fragment"]
    assert all(d["kind"] == "deadletter" for d in dead)


def test_decode_dead_letters_to_a_file(runner: CliRunner, mixed_file: Path, tmp_path: Path) -> None:
    dead_path = tmp_path / "dead.jsonl"
    result = runner.invoke(app, ["decode", str(mixed_file), "--deadletters", str(dead_path)])
    assert result.exit_code == 0, result.output
    assert len(result.stderr.strip().splitlines()) == 1  # only the summary
    dead = json_lines(dead_path.read_text())
    assert len(dead) == summary_of(result.stderr)["deadletter_lines"] == 3


def test_decode_gzip_file(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "mixed.nmea.gz"
    with gzip.open(path, "wt", encoding="ascii") as stream:
        stream.write("\n".join(MIXED_LINES) + "\n")
    result = runner.invoke(app, ["decode", str(path)])
    assert result.exit_code == 0, result.output
    assert [r["kind"] for r in json_lines(result.stdout)] == ["position", "static"]
    summary = summary_of(result.stderr)
    assert summary["lines"] == len(MIXED_LINES)
    assert_accounted(summary)


def test_decode_unreadable_path_exits_non_zero_with_a_summary(
    runner: CliRunner, mixed_file: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "does-not-exist.nmea"
    result = runner.invoke(app, ["decode", str(mixed_file), str(missing)])
    assert result.exit_code != 0
    assert "cannot read" in result.stderr
    summary = summary_of(result.stderr)
    assert summary["lines"] == len(MIXED_LINES)  # the readable file was still decoded
    assert_accounted(summary)
    assert len(json_lines(result.stdout)) == 2


def test_decode_only_unreadable_path(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["decode", str(tmp_path)])  # a directory
    assert result.exit_code != 0
    summary = summary_of(result.stderr)
    assert summary["lines"] == 0
    assert_accounted(summary)


def test_decode_csv_export(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(MARINECADASTRE_HEADER + b"\n" + MARINECADASTRE_ROW + b"\n")
    result = runner.invoke(app, ["decode", str(path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert [r["kind"] for r in json_lines(result.stdout)] == ["position", "static"]
    summary = summary_of(result.stderr)
    assert (summary["lines"], summary["non_ais_lines"], summary["decoded_lines"]) == (2, 1, 1)


def test_decode_binary_garbage_exits_zero(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "noise.bin"
    path.write_bytes(bytes(range(256)) * 4)
    result = runner.invoke(app, ["decode", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    summary = summary_of(result.stderr)
    assert summary["decoded_lines"] == 0
    assert "internal_error" not in summary["deadletter"]
    assert_accounted(summary)


def test_decode_rejects_an_unknown_format(runner: CliRunner, mixed_file: Path) -> None:
    result = runner.invoke(app, ["decode", str(mixed_file), "--format", "xml"])
    assert result.exit_code != 0
    assert result.stdout == ""


def test_decode_stops_when_its_reader_leaves(tmp_path: Path) -> None:
    """`lookout decode big.nmea | head -1`: exit 141 (SIGPIPE) at once with the accounting so
    far, instead of taking every later line for an internal error."""
    import subprocess
    import sys

    path = tmp_path / "many.nmea"
    lines = (f"{tag(f'c:{T0_S + 120 * i}')}{KNOWN_TYPE1}" for i in range(30_000))
    path.write_text("\n".join(lines) + "\n")
    lookout = Path(sys.executable).parent / "lookout"
    child = subprocess.Popen(
        [str(lookout), "decode", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None and child.stderr is not None
    assert orjson.loads(child.stdout.readline())["mmsi"] == 366_053_209
    child.stdout.close()
    errors = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141
    assert "output closed" in errors
    assert "internal_error" not in errors
