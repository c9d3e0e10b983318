"""``python -m hierlearn``: the experiment runner (same as the ``hierlearn`` command)."""

from hierlearn.bench.cli import run_main

if __name__ == "__main__":
    run_main()
