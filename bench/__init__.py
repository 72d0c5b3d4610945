"""Benchmarks of the SPLP data plane (see ``bench/README.md``)."""
