#!/usr/bin/env bash
# Tidy a persistent node-local cache after a job: remove partial copies abandoned over an hour ago and,
# given DSREG_CACHE_BUDGET, evict least recently used versions (never those in use) down to it.
#
# Not needed for a cache under $SLURM_TMPDIR, which SLURM deletes with the job.
#
#   DSREG_CACHE         the cache directory (default: $SLURM_TMPDIR/dsreg)
#   DSREG_CACHE_BUDGET  most bytes the cache may hold, e.g. 200GB (default: only remove leftovers)
#   DSREG_PYTHON        the Python that has dsreg installed (default: python3)
set -euo pipefail

exec "${DSREG_PYTHON:-python3}" -m dsreg cache gc
