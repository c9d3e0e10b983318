"""Sphinx configuration of hierlearn's documentation.

Build (offline; nothing is fetched: no intersphinx)::

    pip install -e ".[docs]"
    python -m sphinx -W -n -b html docs docs/_build/html

The API pages document the *installed* package (``import hierlearn``), so build from an
environment where hierlearn is installed (an editable install documents the checkout).
"""

from __future__ import annotations

import os
import sys

import hierlearn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ext"))

project = "hierlearn"
author = "the hierlearn authors"
copyright = "the hierlearn authors, BSD-3-Clause"
release = hierlearn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "hierlearn_api",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# default_table.md is written by `hierlearn report` and included by index.md
exclude_patterns = ["_build", "examples", "default_table.md", "paper"]  # paper/: published results
templates_path = []
html_theme = "alabaster"
html_static_path = []
# mathjax is loaded by the browser when a page is read; building needs no network
pygments_style = "sphinx"

# -- autodoc / autosummary ---------------------------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"           # the numpydoc "Parameters" sections say the types
autosummary_generate = False         # tables only; the entries live on the API pages
add_module_names = False

# -- numpydoc ----------------------------------------------------------------------------
numpydoc_show_class_members = False  # members are documented by autodoc below each class
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- MyST (markdown pages) ---------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# -- nitpicky mode: objects of other projects cannot be resolved offline (no intersphinx);
# everything of hierlearn must resolve.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|scipy|sklearn|pandas|pd|dask|distributed|matplotlib|numba|"
               r"threadpoolctl|tqdm|argparse|os|pathlib|concurrent)(\..*)?"),
]
