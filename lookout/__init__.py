"""lookout package."""
