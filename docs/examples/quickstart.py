"""Quick start: a learning curve in ten lines.

Kernel ridge regression with the neural tangent kernel learns a degree-2 target on the unit
sphere S^(d-1); the test error (mean squared error on fresh points over Var f*) falls as the
number of training samples n grows. Run: ``python quickstart.py``.
"""

from hierlearn.solvers import KernelRegressor
from hierlearn.targets import LowRankPolynomial, make_task

target = LowRankPolynomial(d=10, degree=2, rank=2, basis="harmonic", seed=0)  # f*(x)
for n in (25, 50, 100, 200, 400, 800):
    task = make_task(target, n_train=n, n_test=2000, seed=1)  # the same test points each n
    model = KernelRegressor("ntk", trained="both", ridge="gcv").fit(task.X_train, task.y_train)
    error = task.test_error(model.predict(task.X_test))  # mean (f_hat - f*)^2 / Var f*
    print(f"n = {n:4d}   test error = {error:.4f}")
