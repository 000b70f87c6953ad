"""The bundled default models, trained on simulated traffic by one reproducible command:

    python -m lookout.sim.training --out anomaly/models/data

- route: normal traffic only (no injected behaviours), seeds 9101 and 9102, 250 vessels, 24 h;
- risk: labelled scenarios with every behaviour and four times the migrant voyages, seeds
  9201-9204, 150 vessels, 24 h each (the hard negatives, fishing boats in the departure areas
  with class B sets and no static data among them, come with the background traffic).

The seeds are kept apart from those used to evaluate (use any other seed for that). The
simulated NMEA goes to a temporary folder (or `--keep DIR`), the models to `--out`.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from lookout.sim.scenario import ScenarioSettings

__all__ = ["RISK_SEEDS", "ROUTE_SEEDS", "build_default_models"]

log = logging.getLogger(__name__)

ROUTE_SEEDS = (9101, 9102)
RISK_SEEDS = (9201, 9202, 9203, 9204)
TRAINED_AT = "2024-06-01T00:00:00Z"  # fixed, so that the command reproduces the same files


def _simulate(folder: Path, name: str, settings: ScenarioSettings) -> tuple[Path, Path]:
    from lookout.simulate import write_scenario

    nmea, truth = folder / f"{name}.nmea.gz", folder / f"{name}.truth.jsonl"
    if not (nmea.exists() and truth.exists()):
        log.info("simulating %s", name)
        write_scenario(nmea, truth, settings)
    return nmea, truth


def build_default_models(
    out: Path,
    work: Path | None = None,
    *,
    route_seeds: tuple[int, ...] = ROUTE_SEEDS,
    risk_seeds: tuple[int, ...] = RISK_SEEDS,
    route_vessels: int = 250,
    risk_vessels: int = 150,
    hours: float = 24.0,
) -> dict[str, Any]:
    """Simulate, train and write `route.joblib` and `risk.joblib` to `out`."""
    from anomaly.geo import load_geography
    from anomaly.models.risk import RiskGeography
    from anomaly.models.route import save_model
    from anomaly.models.train import load_labels, train_risk_from_files, train_route_from_files

    geo = load_geography()
    with tempfile.TemporaryDirectory() as scratch:
        folder = work or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        route_files = [
            _simulate(
                folder,
                f"route-{seed}",
                ScenarioSettings(vessels=route_vessels, hours=hours, seed=seed, behaviours=()),
            )[0]
            for seed in route_seeds
        ]
        base = ScenarioSettings(vessels=risk_vessels, hours=hours)
        risk_runs = [
            _simulate(
                folder,
                f"risk-{seed}",
                replace(base, seed=seed, extra_rates=(("migrant_voyage", 4.0),)),
            )
            for seed in risk_seeds
        ]
        route = train_route_from_files(
            route_files,
            distance_to_shore_nm=geo.distance_to_shore_nm,
            seed=route_seeds[0],
            trained_at=TRAINED_AT,
        )
        labels = load_labels([truth for _, truth in risk_runs])
        risk = train_risk_from_files(
            [nmea for nmea, _ in risk_runs],
            labels,
            RiskGeography.from_geography(geo),
            trained_at=TRAINED_AT,
        )
    out.mkdir(parents=True, exist_ok=True)
    save_model(route, out / "route.joblib")
    save_model(risk, out / "risk.joblib")
    return {
        "route": {"version": route.version, **route.training},
        "risk": {"version": risk.version, **risk.training},
    }


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - a command
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("anomaly/models/data"))
    parser.add_argument("--keep", type=Path, default=None, help="keep the simulated files here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    summary = build_default_models(args.out, args.keep)
    import orjson

    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":  # pragma: no cover
    main()
