"""Benchmarks: `make bench` (or `python -m bench`) measures every speed and memory goal into bench/RESULTS.md."""
