"""Composing a kernel with a representation, three ways that must agree.

The NTK of a two-layer relu network trained on top of a fixed random softplus layer
phi(x) = softplus(v.x + b), v ~ N(0, I), b ~ N(0, 1):

1. ``NTK(representation=RepresentationLayer("softplus"))``: both widths infinite, in closed
   form (the fixed layer's Gram G(x, y) replaces x.y, the neural-tangents way);
2. ``RandomFeatures`` of that kernel: the same network sampled at finite widths D (fixed
   layer) and m (trained layer);
3. ``NTK`` on the features of a finite ``NeuralRepresentation`` (not whitened, so that
   h_bar(x).h_bar(y) tends to G(x, y)): the trained layer infinite, the fixed layer D wide.

The relative Frobenius distance of 2 and 3 to 1 falls like 1/sqrt(width).
Run: ``python compose_representation.py``.
"""

import numpy as np

from hierlearn.kernels import NTK, NeuralRepresentation, RandomFeatures, RepresentationLayer
from hierlearn.targets import sample_inputs

X = sample_inputs(200, 8, seed=0)  # 200 points on the unit sphere S^7
layer = RepresentationLayer("softplus", bias=1.0)
kernel = NTK("relu", trained="both", representation=layer)
K = kernel(X)  # 1. infinite widths, closed form


def distance(K_approx):
    return np.linalg.norm(K_approx - K) / np.linalg.norm(K)


print(f"closed form: K(x, x) mean {np.mean(np.diag(K)):.4f}, off-diagonal mean "
      f"{(K.sum() - np.trace(K)) / (K.size - len(K)):.4f}")
for width in (100, 1000, 10000):
    # 2. the network sampled: D = m = width
    K_rf = RandomFeatures(kernel, width, representation_width=width, random_state=1)(X)
    # 3. a finite representation, then the infinite-width NTK on its features
    rep = NeuralRepresentation(width, activation="softplus", bias=1.0, whiten=False,
                               random_state=1).fit(X)
    K_rep = NTK("relu", trained="both")(rep.transform(X))
    print(f"width {width:5d}: random features {distance(K_rf):.4f}   "
          f"finite representation {distance(K_rep):.4f}   (relative distance to closed form)")
