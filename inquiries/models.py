"""問合せ: models arrive with their issue."""
