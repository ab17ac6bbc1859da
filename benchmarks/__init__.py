"""Benchmarks: flowtide side by side with its peers (run with .venv-bench/bin/python -m benchmarks.<area>)."""
