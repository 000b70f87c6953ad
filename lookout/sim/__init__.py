"""The scenario simulator: realistic regional AIS traffic with labelled behaviours.

    from lookout.simulate import write_scenario
    from lookout.sim.scenario import ScenarioSettings
    write_scenario("day.nmea.gz", "day.truth.jsonl", ScenarioSettings(vessels=300, hours=24))

- `region`: the Bay of Bengal and Andaman Sea (ports, lanes, fishing grounds, ferries, coastal
  AIS stations, departure beaches and destination coasts), public geography only;
- `motion`: how vessels move (steered phases with turn and speed limits, drift, anchor swing);
- `radio`: ITU-R M.1371 reporting intervals, coastal and satellite reception, outages;
- `encode`: fast AIVDM position payloads, tag blocks;
- `vessel`: one transmitter (identity, plan, faults such as going dark or spoofing);
- `fleet`: ordinary traffic and its hard negatives; `behaviours`: injected, labelled episodes;
- `scenario`: the event loop and the truth; `truth`: the truth file; `training`: the bundled
  default models, trained on simulated scenarios.
"""
