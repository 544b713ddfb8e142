"""Stage not built yet."""
