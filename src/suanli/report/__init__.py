"""Human-readable output: Rich tables and matplotlib charts (imported lazily)."""
