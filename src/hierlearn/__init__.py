"""hierlearn: measure the sample complexity of hierarchical learning.

A numerical engine for the claims of Chen, Bai, Lee et al., "Towards Understanding
Hierarchical Learning: Benefits of Neural Representations" (NeurIPS 2020): closed-form and
random-feature NTK and quadratic-model kernels on raw inputs and on a fixed random neural
representation, kernel ridge solvers, the trained quadratic Taylor model (Quad-Net), and the
sweeps that turn them into test error against sample size.

Subpackages (data flows one way: targets -> kernels -> solvers -> bench):

- :mod:`hierlearn.targets`: input samplers and low-rank polynomial targets;
- :mod:`hierlearn.kernels`: kernel objects, the neural representation, numba Gram builders;
- :mod:`hierlearn.solvers`: kernel ridge, learning curves, matrix-free solvers, trained nets;
- :mod:`hierlearn.bench`: sweeps, result store, analysis, figures, benchmarks, the CLI.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("hierlearn")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled source tree
    __version__ = "0+unknown"

__all__ = ["__version__"]
