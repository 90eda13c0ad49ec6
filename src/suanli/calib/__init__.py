"""Validation against published runs, and the fit of the efficiency parameters."""
