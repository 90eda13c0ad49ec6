"""Trace loaders (one module per trace) and the synthetic generator."""
