"""The documentation works: its examples run against the installed package and print what
the tutorial says they print, and the Sphinx build is warning-free (``-W -n``) and offline.

Each example runs in a subprocess whose working directory is a temporary folder, so the
checkout is not on ``sys.path``: they import hierlearn as a user would.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"


def run_example(name, tmp_path, *args, timeout=300):
    """stdout of ``python docs/examples/NAME args`` run in ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_quickstart_error_falls_with_n(tmp_path):
    out = run_example("quickstart.py", tmp_path)
    rows = [(int(n), float(e)) for n, e in
            re.findall(r"n =\s*(\d+)\s+test error = ([0-9.eE+-]+)", out)]
    assert [n for n, _ in rows] == [25, 50, 100, 200, 400, 800], out
    errors = [e for _, e in rows]
    assert all(b < a for a, b in zip(errors, errors[1:])), f"not decreasing: {errors}"
    # starts near "no better than the mean", ends learned (degree 2 in d = 10: n >> N(10, 2))
    assert errors[0] > 0.5 and errors[-1] < 0.01, errors


def test_compose_representation_agrees_with_random_features(tmp_path):
    out = run_example("compose_representation.py", tmp_path)
    rows = re.findall(r"width\s+(\d+): random features ([0-9.]+)\s+finite representation "
                      r"([0-9.]+)", out)
    widths = [int(w) for w, _, _ in rows]
    rf = [float(r) for _, r, _ in rows]
    rep = [float(r) for _, _, r in rows]
    assert widths == [100, 1000, 10000], out
    for dist in (rf, rep):
        assert all(b < a for a, b in zip(dist, dist[1:])), f"not converging: {dist}"
        assert dist[-1] < 0.03, dist  # Monte Carlo at width 10^4: ~ 1 / sqrt(10^4) scale
    # a hundredfold width gives about a tenfold smaller distance for the sampled network
    # (O(1 / sqrt(width)) Monte Carlo error); allow a wide margin for one draw
    assert rf[0] / rf[-1] > 5, rf


def test_cluster_run_sweep_resumes_and_learns(tmp_path):
    backend = "dask" if importlib.util.find_spec("distributed") else "serial"
    out = run_example("cluster_run.py", tmp_path, "--backend", backend, "--workers", "1")
    first = re.search(r"first run: (\d+) jobs, (\d+) computed, (\d+) skipped, (\d+) failed "
                      r"\(backend (\w+)\)", out)
    second = re.search(r"second run: (\d+) jobs, (\d+) computed, (\d+) skipped, (\d+) failed",
                       out)
    assert first and second, out
    assert first.groups() == ("8", "8", "0", "0", backend), out
    assert second.groups() == ("8", "0", "8", "0"), out  # resumed: nothing recomputed
    assert len(list((tmp_path / "results" / "cluster_example" / "runs").glob("*.json"))) == 8
    # the median table: one row per (model, d), errors at n = 16 ... 128, falling with n
    table = re.findall(r"^(.*?)\s+(\d)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s*$",
                       out, flags=re.M)
    assert len(table) == 4, out
    for row in table:
        errs = [float(e) for e in row[2:]]
        assert errs[-1] < errs[0] / 5, row


def _docs_tools_missing():
    missing = [m for m in ("sphinx", "numpydoc", "myst_parser")
               if importlib.util.find_spec(m) is None]
    return ", ".join(missing)


@pytest.mark.skipif(bool(_docs_tools_missing()),
                    reason=f"the docs extra is not installed (missing: {_docs_tools_missing()}); "
                           'pip install -e ".[docs]"')
def test_sphinx_build_is_warning_free(tmp_path):
    """-W: warnings are errors; -n: every cross-reference resolves; -E: fresh environment.
    The build writes only under tmp_path and fetches nothing (no intersphinx)."""
    out = tmp_path / "html"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-E",
                           "-q", "-b", "html", "-d", str(tmp_path / "doctrees"), str(DOCS),
                           str(out)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stdout}\n{proc.stderr}"
    for page in ("index", "tutorial", "math", "design", "sweep-format", "cluster",
                 "api/targets", "api/kernels", "api/solvers", "api/bench", "api/internals"):
        assert (out / f"{page}.html").is_file(), page
    # the API pages list every public name of each package (generated from __all__)
    import hierlearn.kernels
    import hierlearn.solvers
    import hierlearn.targets
    for package in (hierlearn.targets, hierlearn.kernels, hierlearn.solvers):
        page = (out / "api" / f"{package.__name__.split('.')[-1]}.html").read_text()
        for name in package.__all__:
            assert f'id="{package.__name__}.{name}"' in page, (package.__name__, name)
    # the tutorial shows the examples themselves
    tutorial = (out / "tutorial.html").read_text()
    assert "KernelRegressor" in tutorial and "RandomFeatures" in tutorial


def test_math_references_point_into_the_repository():
    """The code cites the formulas by section of docs/math.md (the page shipped with the
    repository), never a MATH.md outside it, and every cited section exists."""
    sections = set(re.findall(r"^## (\d+)\. ", (DOCS / "math.md").read_text(), flags=re.M))
    assert sections == {"1", "2", "3", "4", "5", "6"}, sections
    folders = ("targets", "kernels", "solvers", "bench", "src", "tests")
    cited = 0
    for path in sorted(p for f in folders for p in (ROOT / f).rglob("*.py")):
        if path == Path(__file__).resolve():
            continue
        text = path.read_text()
        where = path.relative_to(ROOT)
        assert "MATH.md" not in text.replace("docs/math.md", ""), \
            f"{where} refers to MATH.md; cite docs/math.md, section N"
        for first, last in re.findall(r"docs/math\.md,\s+sections?\s+(\d)(?:-(\d))?", text):
            assert {first, last or first} <= sections, f"{where}: no section {first}-{last}"
            cited += 1
    assert cited > 10
