"""Switchboard performance benchmarks: ``python -m bench`` (all) or ``python -m bench NAME``.

Every scenario runs against real processes on 127.0.0.1 and prints one JSON object per line.
See ``bench/README.md``.
"""
