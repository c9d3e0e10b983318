"""Sphinx directives that build hierlearn's API pages from the packages themselves.

``.. hierlearn-api:: hierlearn.kernels``
    An ``autosummary`` table of every name in ``hierlearn.kernels.__all__`` (one-line
    summary each) followed by its autodoc entry, in ``__all__`` order. Nothing is listed by
    hand, so the pages cannot fall out of step with the packages.
``.. hierlearn-modules:: hierlearn.kernels``
    One section per public submodule: its docstring and the names of its own ``__all__``
    that are defined there and not exported by the package (those are documented once,
    above, under the package's name).

References written in the repository's folder style (``solvers.pcg_kernel_ridge``,
``kernels.get_activation``) and references to a documented object through another module
that re-exports it resolve to that object's entry (:func:`resolve_alias`). Nothing is
silenced: a reference that names no documented object still warns under ``-n``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

#: Longest value repr shown for a documented constant.
MAX_VALUE_REPR = 120


def _defined_here(module, name):
    """Is ``module.name`` defined in ``module`` (not re-exported from another module)?"""
    obj = inspect.unwrap(getattr(module, name))  # lru_cache and other wrappers
    if inspect.isclass(obj) or inspect.isroutine(obj):
        return getattr(obj, "__module__", None) == module.__name__
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return True
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
    return False


def _entry(modname, name, obj):
    """The autodoc directive lines documenting ``modname.name``."""
    full = f"{modname}.{name}"
    if inspect.isclass(obj):
        return [f".. autoclass:: {full}", "   :members:", "   :special-members: __call__", ""]
    if callable(obj):
        return [f".. autofunction:: {full}", ""]
    lines = [f".. autodata:: {full}"]
    if len(repr(obj)) > MAX_VALUE_REPR:
        lines.append("   :no-value:")
    return lines + [""]


class _Base(SphinxDirective):
    required_arguments = 1

    def _parse(self, lines, label):
        content = StringList(lines, source=f"<{label} {self.arguments[0]}>")
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, content, node, self.content_offset)
        return node.children

    def _api_lines(self, modname, names):
        module = importlib.import_module(modname)
        lines = [f".. currentmodule:: {modname}", "", ".. autosummary::",
                 "   :nosignatures:", ""]
        lines += [f"   {name}" for name in names] + [""]
        for name in names:
            lines += _entry(modname, name, getattr(module, name))
        return lines


class PublicAPI(_Base):
    """``.. hierlearn-api:: MODULE``: summary table and entries of ``MODULE.__all__``
    (``:skip-exported-by: PACKAGE ...``: without the objects those packages export)."""

    option_spec = {"skip-exported-by": directives.unchanged}

    def run(self):
        modname = self.arguments[0]
        module = importlib.import_module(modname)
        names = list(getattr(module, "__all__", None) or [])
        if not names:
            raise self.error(f"{modname} has no __all__ to document")
        skip = set()
        for other in (self.options.get("skip-exported-by") or "").split():
            package = importlib.import_module(other)
            skip |= {id(getattr(package, n)) for n in package.__all__}
        names = [n for n in names if id(getattr(module, n)) not in skip]
        return self._parse(self._api_lines(modname, names), "hierlearn-api")


class SubmoduleAPI(_Base):
    """``.. hierlearn-modules:: PACKAGE``: one section per public submodule."""

    option_spec = {"exclude": directives.unchanged}

    def run(self):
        pkgname = self.arguments[0]
        package = importlib.import_module(pkgname)
        exported = {id(getattr(package, n)) for n in getattr(package, "__all__", [])}
        exclude = set((self.options.get("exclude") or "").split())
        lines = []
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_") or info.name in exclude:
                continue
            modname = f"{pkgname}.{info.name}"
            module = importlib.import_module(modname)
            title = f"``{modname}``"
            lines += [title, "~" * len(title), "", f".. automodule:: {modname}"]
            names = getattr(module, "__all__", None)
            if names is None:  # no promise of a public surface: its documented functions
                lines += ["   :members:", "", f".. currentmodule:: {pkgname}", ""]
                continue
            lines += [""]
            own = [n for n in names if id(getattr(module, n)) not in exported
                   and _defined_here(module, n)]
            if own:
                lines += self._api_lines(modname, own)
            lines += [f".. currentmodule:: {pkgname}", ""]
        return self._parse(lines, "hierlearn-modules")


def skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out members that classes inherit from scikit-learn (``set_fit_request`` and
    the other metadata-routing methods it generates): they are scikit-learn's to document."""
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and module.split(".")[0] == "sklearn":
        return True
    return None


def _import(path):
    """The object a dotted path names, or None."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def resolve_alias(app, env, node, contnode):
    """Resolve a Python reference that names a documented object another way.

    Tried in order: the ``hierlearn.`` prefix of the repository's folder-style names
    (``solvers.x`` is ``hierlearn.solvers.x``); the same class, function or module under the
    name it is documented by (a re-export); a unique documented name ending in ``.target``.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    domain = env.get_domain("py")
    documented = domain.objects
    modname = node.get("py:module") or ""
    candidates = [target, f"hierlearn.{target}"]
    if modname:
        candidates.insert(0, f"{modname}.{target}")
    found = next((c for c in candidates if c in documented), None)
    if found is None:
        obj = next((o for o in map(_import, candidates) if o is not None), None)
        if obj is not None and (inspect.isclass(obj) or inspect.isroutine(obj)
                                or inspect.ismodule(obj)):
            found = next((name for name in documented if _import(name) is obj), None)
    if found is None:
        tail = [name for name in documented if name.endswith("." + target)]
        found = tail[0] if len(tail) == 1 else None
    if found is None:
        return None
    return domain.resolve_xref(env, node["refdoc"], app.builder, "obj", found, node,
                               contnode)


def setup(app):
    app.add_directive("hierlearn-api", PublicAPI)
    app.add_directive("hierlearn-modules", SubmoduleAPI)
    app.connect("autodoc-skip-member", skip_foreign_members)
    app.connect("missing-reference", resolve_alias)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
