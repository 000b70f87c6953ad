"""Behaviour detectors, one module each; `anomaly.registry` maps rule ids onto them."""
