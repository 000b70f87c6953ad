"""Output formats of alerts besides JSON: GeoJSON (RFC 7946) and CAP 1.2."""
