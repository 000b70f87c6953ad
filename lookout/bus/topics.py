"""Topic names (DESIGN.md, Topics): a contract with every stage and deployment."""

DECODED = "ais.decoded"
DEADLETTER = "ais.deadletter"
POINTS = "tracks.points"
CELLS = "tracks.cells"
ALERTS = "alerts"

ALL = (DECODED, DEADLETTER, POINTS, CELLS, ALERTS)
