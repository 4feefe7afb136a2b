"""dsreg's throughput and memory benchmarks against its peers, each printing ratios measured in the same run.

Run them all with ``python -m benchmarks`` (``make bench``), some with ``python -m benchmarks NAME…``, one alone
with ``python -m benchmarks.NAME``. Data is cached under ``.bench/`` (or ``$DSREG_BENCH_DIR``). See README.md.
"""
