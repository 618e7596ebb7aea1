"""Benchmarks: one runner, cases that generate their own data and measure against a named
baseline in the same run (ratios, since machines are noisy)."""
