"""Per-site page templates of the replay web."""
