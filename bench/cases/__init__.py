"""Benchmark cases; each module exposes ``CASE`` (a :class:`bench.run.Case`)."""
