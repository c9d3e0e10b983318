"""Result store: one atomically written record per finished job key.

Layout of a results directory::

    RESULTS_DIR/
        spec.json              the sweep spec that was run last (for ``report``)
        runs/KEY.csv           the rows of one finished job (one row per training size n)
        runs/KEY.json          its full config, key and engine version (written last)
        results.csv            all rows, concatenated (rebuilt after each sweep / report)
        table.csv, table.md    exponents next to the paper's
        *.png                  figures

Every file is written to a temporary name in the same directory and then moved into place
with :func:`os.replace` (atomic on POSIX), so a process killed at any moment leaves either
the old file, the new file, or a stray ``*.tmp`` that is ignored. A key counts as finished
only when its JSON (written after the CSV) exists and carries the current engine version,
so a rerun skips exactly the finished keys and recomputes everything else: nothing lost,
nothing computed twice, and one file per key means no duplicate rows.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from .config import ENGINE_VERSION, canonical_json, job_key

__all__ = ["ResultStore", "atomic_write_text"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class ResultStore:
    """Finished jobs of a sweep, one CSV + JSON pair per key.

    Parameters
    ----------
    root : path-like
        The results directory (created on first write).
    """

    def __init__(self, root):
        self.root = Path(root)
        self.runs = self.root / "runs"

    # -- queries --------------------------------------------------------------------
    def _meta(self, key: str) -> dict | None:
        try:
            return json.loads((self.runs / f"{key}.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def is_finished(self, key: str) -> bool:
        """True when ``key`` was finished by the current engine version."""
        meta = self._meta(key)
        return (meta is not None and meta.get("version") == ENGINE_VERSION
                and (self.runs / f"{key}.csv").is_file())

    def finished_keys(self) -> set[str]:
        """Keys finished by the current engine version."""
        if not self.runs.is_dir():
            return set()
        return {p.stem for p in self.runs.glob("*.json") if self.is_finished(p.stem)}

    def stale_keys(self) -> set[str]:
        """Keys stored by another engine version (they are recomputed on the next run)."""
        if not self.runs.is_dir():
            return set()
        out = set()
        for p in self.runs.glob("*.json"):
            meta = self._meta(p.stem)
            if meta is not None and meta.get("version") != ENGINE_VERSION:
                out.add(p.stem)
        return out

    # -- writes ---------------------------------------------------------------------
    def write(self, config: dict, rows: pd.DataFrame, *, info: dict | None = None) -> str:
        """Store the rows of one finished job; returns its key.

        The CSV goes first, the JSON (the "finished" marker) second, each atomically.
        """
        key = job_key(config)
        rows = rows.copy()
        rows.insert(0, "version", ENGINE_VERSION)
        rows.insert(0, "key", key)
        buf = io.StringIO()
        rows.to_csv(buf, index=False, float_format="%.17g")
        atomic_write_text(self.runs / f"{key}.csv", buf.getvalue())
        meta = {"key": key, "version": ENGINE_VERSION, "config": config, "info": info or {}}
        atomic_write_text(self.runs / f"{key}.json",
                          json.dumps(json.loads(canonical_json(meta)), indent=1, sort_keys=True))
        return key

    def write_spec(self, spec: dict) -> None:
        atomic_write_text(self.root / "spec.json", json.dumps(spec, indent=1, sort_keys=True))

    def read_spec(self) -> dict | None:
        try:
            return json.loads((self.root / "spec.json").read_text())
        except FileNotFoundError:
            return None

    # -- reads ----------------------------------------------------------------------
    def load(self, *, include_stale: bool = False) -> pd.DataFrame:
        """All stored rows (current version only unless ``include_stale``), sorted."""
        frames = []
        keys = self.finished_keys() | (self.stale_keys() if include_stale else set())
        for key in sorted(keys):
            path = self.runs / f"{key}.csv"
            if path.is_file():
                frames.append(pd.read_csv(path, dtype={"key": str, "version": str}))
        if not frames:
            return pd.DataFrame()
        df = pd.concat(frames, ignore_index=True)
        return df.sort_values(["label", "d", "seed", "n", "key"], kind="stable").reset_index(drop=True)

    def configs(self) -> dict[str, dict]:
        """Config of every finished key."""
        out = {}
        for key in self.finished_keys():
            meta = self._meta(key)
            if meta is not None:
                out[key] = meta["config"]
        return out

    def write_table(self, df: pd.DataFrame, name: str = "results.csv") -> Path:
        buf = io.StringIO()
        df.to_csv(buf, index=False, float_format="%.17g")
        path = self.root / name
        atomic_write_text(path, buf.getvalue())
        return path
