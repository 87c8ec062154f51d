"""Benchmarks: run with `python -m bench` (or `make bench`); figures go to docs/benchmarks.md."""

from aiq.startup import skip_httpx_cli

# As `aiq` itself starts (aiq.startup): httpx without its command-line client, so that the
# benchmarks' processes import what aiq's do.
skip_httpx_cli()
