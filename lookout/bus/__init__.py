"""lookout/bus package."""
