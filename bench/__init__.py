"""Benchmarks (not tests): ``python -m bench`` prints ``name: value`` lines."""
