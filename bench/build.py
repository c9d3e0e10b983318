"""From a job configuration to the engine's objects: the one place bench/ builds kernels,
representations and networks (the job runner and the theory overlays both use it).

A job config (see :mod:`hierlearn.bench.config`) names a model (``ntk``, ``kq``, ``quadnet``,
``linnet``), an input (``raw`` or ``repr``) and their parameters.
"""

from __future__ import annotations

from ..kernels import (NTK, NeuralRepresentation, QuadKernel, RandomFeatures,
                       RepresentationLayer)
from ..solvers import LinearizedNetRegressor, QuadNetRegressor

__all__ = ["kernel_from_config", "net_from_config", "representation_from_config"]


def kernel_from_config(config, *, random_state=None):
    """The kernel object of a kernel job (``model`` "ntk" or "kq").

    An infinite-width representation (``input = "repr"`` with ``repr_width`` None) is
    composed as a :class:`~hierlearn.kernels.RepresentationLayer` of the config's
    ``repr_activation``; ``width`` gives random features drawn from ``random_state``.
    """
    layer = None
    if config["input"] == "repr" and config.get("repr_width") is None:
        layer = RepresentationLayer(config["repr_activation"])
    if config["model"] == "ntk":
        kern = NTK(config["activation"], trained=config["trained"], bias=config["bias"],
                   representation=layer)
    elif config["model"] == "kq":
        kern = QuadKernel(config["activation"], bias=config["bias"], representation=layer)
    else:
        raise ValueError(f"model {config['model']!r} is not a kernel model")
    if config.get("width") is not None:
        kern = RandomFeatures(kern, config["width"], random_state=random_state)
    return kern


def representation_from_config(config, *, random_state=None):
    """The (unfitted) finite-width representation of a job on ``input = "repr"``."""
    return NeuralRepresentation(config["repr_width"], activation=config["repr_activation"],
                                bias=1.0 if config["repr_bias"] else 0.0,
                                whiten=config["repr_whiten"],
                                distribution=config["distribution"], random_state=random_state)


def net_from_config(config, *, random_state=None):
    """The (unfitted) trained network of a ``quadnet`` or ``linnet`` job."""
    cls = QuadNetRegressor if config["model"] == "quadnet" else LinearizedNetRegressor
    kw = {"activation": config["activation"], "reg": config["regs"], "random_state": random_state,
          "max_iter": config["max_iter"], "validation_fraction": config["val_fraction"]}
    if config.get("init_scale") is not None:
        kw["init_scale"] = config["init_scale"]
    if config.get("input_bias", 0.0) != 0.0:
        kw["input_bias"] = config["input_bias"]
    if config.get("randomized", False):
        kw["randomized"] = True  # the paper's sign-randomised training (QuadNetRegressor)
    return cls(config["width"], **kw)
