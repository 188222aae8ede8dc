"""Benchmarks: `make bench` runs every module listed in bench.__main__ and prints one JSON document."""
