#!/usr/bin/env bash
# Stage the datasets named in DSREG_STAGE onto node-local scratch and print the DSREG_ROOT to export.
#
# In an sbatch script:      eval "$(cache_tools/slurm_prolog.sh)"
# As a SLURM TaskProlog:    its stdout line "export DSREG_ROOT=..." is applied to the task's environment.
#
#   DSREG_STAGE         datasets to stage, space-separated, e.g. "cifar10 imagenet/default:1.0.0"
#   DSREG_CACHE         where to stage (default: $SLURM_TMPDIR/dsreg)
#   DSREG_CACHE_BUDGET  most bytes the cache may hold, e.g. 200GB; least recently used versions are evicted
#   DSREG_ROOT          the shared dataset roots to stage from (default: dsreg's default root)
#   DSREG_PYTHON        the Python that has dsreg installed (default: python3; give a full path in a
#                       SLURM prolog, which runs without a search path)
#
# Progress and errors go to stderr; on failure it exits non-zero and prints nothing to stdout.
set -euo pipefail

if [[ -z "${DSREG_STAGE:-}" ]]; then
    exit 0 # nothing to stage: leave the environment as it is
fi
read -r -a datasets <<<"$DSREG_STAGE"
exec "${DSREG_PYTHON:-python3}" -m dsreg cache stage --export "${datasets[@]}"
