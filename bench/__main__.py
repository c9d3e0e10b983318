"""``python -m bench`` from a checkout: the same runner as ``hierlearn`` (installed package)."""

from hierlearn.bench.cli import run_main

if __name__ == "__main__":
    run_main()
