"""Plan search: a declarative space of parallel plans, evaluated vectorized, ranked."""
