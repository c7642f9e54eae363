"""Benchmarks: `python -m benchmarks run [--quick]`; results and how to read them in BENCHMARKS.md."""
