"""Reproducible benchmarks of mailbus against its peers, run on loopback with `python -m bench`.

`loadgen` drives SMTP servers, `peers` starts the baseline servers, `listener_bench` and
`worker_bench` measure each side against its baseline in the same run, and `report` prints the
tables and writes the JSON lines. See bench/README.md for the method and how to read the output.
"""
