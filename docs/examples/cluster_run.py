"""A tiny sweep through hierlearn.bench, on an embedded Dask cluster (or serially).

The same thing the ``hierlearn run`` command does, from Python: declare a sweep (the format
of docs/sweep-format.md, here as a dict), expand it into jobs (one per d, model and seed),
run them, each finished job written atomically to a result store, then read the rows back
with pandas. Running it again computes nothing: finished jobs are skipped (a killed sweep
resumes where it stopped).

    python cluster_run.py                              # embedded LocalCluster, 2 workers
    python cluster_run.py --backend serial             # in this process
    python cluster_run.py --scheduler tcp://HOST:8786  # an existing cluster (docs/cluster.md)
"""

import argparse

from hierlearn.bench.config import expand, validate_spec
from hierlearn.bench.execute import run_sweep
from hierlearn.bench.store import ResultStore

SWEEP = {
    "name": "cluster_example",
    "d": [5, 6],
    "seeds": [0, 1],
    "n_test": 500,
    "target": {"degree": 2, "rank": 1, "basis": "harmonic"},
    "n_grid": {"n_min": 16, "n_max": 128, "points": 4},
    "models": [{"model": "ntk", "input": "raw"}, {"model": "kq", "input": "raw"}],
}

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="dask", choices=("dask", "processes", "serial"))
    parser.add_argument("--scheduler", default=None, help="an existing Dask scheduler")
    parser.add_argument("--workers", type=int, default=2, help="workers of the embedded cluster")
    parser.add_argument("--out", default="results/cluster_example", help="results directory")
    args = parser.parse_args()

    jobs = expand(validate_spec(SWEEP))  # checked completely before anything runs
    store = ResultStore(args.out)
    for attempt in ("first run", "second run"):
        summary = run_sweep(jobs, store, backend=args.backend, workers=args.workers,
                            scheduler=args.scheduler, progress=False)
        print(f"{attempt}: {summary['total']} jobs, {summary['computed']} computed, "
              f"{summary['skipped']} skipped, {len(summary['failed'])} failed "
              f"(backend {summary['backend']})")

    rows = store.load()  # one row per (job, n), checksums verified
    table = rows.groupby(["label", "d", "n"])["test_error"].median().unstack("n")
    print("median test error over seeds (rows: model, d; columns: n)")
    print(table.round(3).to_string())


if __name__ == "__main__":  # Dask's worker processes import this file: run only here
    main()
