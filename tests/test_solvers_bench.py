"""bench/solvers_bench.py: flag validation (one line, exit code 2) and a tiny curve run."""

import pytest

from hierlearn.bench import solvers_bench


@pytest.mark.parametrize("argv, match", [
    (["--curve-n", "10"], "--curve-n: expected a curve size >= 64"),
    (["--sizes", "0"], "--sizes: expected an integer >= 1, got 0"),
    (["--repeats", "x"], "--repeats: expected an integer, got 'x'"),
    (["--curve-ridges", "-3"], "--curve-ridges: expected an integer >= 1, got -3"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_flags_exit_2_with_one_line(argv, match, capsys):
    assert solvers_bench.main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and err.startswith("hierlearn solvers: error: ")


def test_tiny_curve_run_reports_ratios_and_agreement(capsys):
    assert solvers_bench.main(["--skip-solve", "--curve-n", "80", "--curve-sizes", "3",
                               "--curve-ridges", "6"]) == 0
    out = capsys.readouterr().out
    for crit in ("gcv", "loo", "validation"):
        assert f"search, {crit}" in out
    assert out.count("agreement: same ridge 3/3") == 3
