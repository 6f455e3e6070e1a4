"""Basque benchmarks (lm-evaluation-harness) against the arena's models."""
