"""Solvers: kernel ridge regression on Gram matrices, learning curves, the trained
Quad-Net and linearised networks, and scikit-learn estimators."""

__all__: list[str] = []
