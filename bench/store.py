"""Result store: one atomically written, checksummed record per finished job key.

Layout of a results directory::

    RESULTS_DIR/
        spec.json              the sweep spec that was run last (for ``report``)
        manifest.json          one entry per ``run``: command, spec hash, package versions,
                               backend, summary
        runs/KEY.csv           the rows of one finished job (one row per training size n)
        runs/KEY.json          its marker (written last): config, engine version, the SHA-256,
                               size, row count and columns of KEY.csv, where and with which
                               package versions the job ran
        damaged/               damaged records moved aside by ``run`` before recomputing them
        errors/KEY.txt         tracebacks of failed jobs
        results.csv, table.*   report outputs

Every file is written to a temporary name in the same directory, made readable by others
(mode 0666 minus the umask: 0644 under the usual umask 022) and moved into place with
:func:`os.replace` (atomic on POSIX), so a process killed at any moment leaves the old
file, the new file, or a stray ``*.tmp`` that is ignored.

Nothing on disk is trusted. A key counts as finished only when its marker parses, names
its own key, holds a config that hashes to that key and the current engine version, and its
row file has exactly the recorded SHA-256 and passes the row schema (:func:`check_rows`:
columns, one row per size of the job's grid, n strictly increasing, finite non-negative test
errors, key/version/d/seed/model columns matching the config). Anything else is *damaged*
(:meth:`ResultStore.scan` says what is wrong, in one line): ``run`` moves it to ``damaged/``
and recomputes it, ``report`` leaves it out with a :class:`StoreWarning`. Markers written
before checksums existed (format 1) are used when their rows pass the schema, and ``run``
adds the checksum (:meth:`ResultStore.adopt`).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import ENGINE_VERSION, job_key, label

__all__ = ["ResultStore", "Scan", "StoreWarning", "DamagedRowsError", "STORE_FORMAT",
           "atomic_write_bytes", "atomic_write_text", "check_rows", "file_mode"]

#: Version of the marker layout: 1 had no checksum, 2 records the row file's SHA-256.
STORE_FORMAT = 2
KEY_RE = re.compile(r"[0-9a-f]{16}")
#: Columns every row file has (the job runner adds more; the marker records them all).
REQUIRED_COLUMNS = ("key", "version", "label", "d", "seed", "n", "test_error")


class StoreWarning(UserWarning):
    """A stored result is damaged and was left out (the message says which and why)."""


class DamagedRowsError(ValueError):
    """Rows handed to :meth:`ResultStore.write` fail the row schema (nothing is written)."""


# -- atomic, world-readable writes ----------------------------------------------------------

def _umask() -> int:
    try:  # Linux: read it without the set-and-restore race of os.umask
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of new files: 0666 minus the umask, as ``open()`` would give (0644 for 022)."""
    return 0o666 & ~_umask()


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + rename).

    The file gets :func:`file_mode` (``mkstemp`` alone would leave it 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), file_mode())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _jsonable(obj):
    """Plain JSON values: numpy scalars to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


# -- the row schema --------------------------------------------------------------------------

def _parse_rows(data: bytes):
    """Row file bytes -> (DataFrame, header) or a one-line reason they cannot be read."""
    if not data:
        return None, "is empty"
    if b"\x00" in data:
        return None, "holds binary data"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"is not UTF-8 text (byte {exc.start})"
    header = text.split("\n", 1)[0].rstrip("\r").split(",")
    try:
        df = pd.read_csv(io.StringIO(text), dtype={"key": str, "version": str})
    except Exception as exc:  # pandas raises several kinds on garbled CSV
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return None, f"cannot be parsed as CSV ({type(exc).__name__}: {first[:120]})"
    return (df, header), None


def _int_column(df, col):
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(v).all() or not np.equal(np.round(v), v).all():
        return None
    return v.astype(np.int64)


def check_rows(df: pd.DataFrame, header, *, key: str, version: str, config: dict | None,
               columns=None, n_rows=None) -> str | None:
    """Why the rows of job ``key`` are unusable (one line), or None when they are fine.

    Checks the columns (against the marker's list when given), that there are rows, that
    key/version/d/seed/model/input/degree agree with the marker and its config, that n is
    a strictly increasing list of integers equal to the job's grid, and that test errors are
    finite and non-negative.
    """
    if len(set(header)) != len(header):
        return f"repeats a column in its header {header}"
    if columns is not None and list(header) != list(columns):
        return f"has columns {header}, the marker records {list(columns)}"
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        return f"lacks the column(s) {missing}"
    if len(df) == 0:
        return "has a header but no rows"
    if n_rows is not None and len(df) != n_rows:
        return f"has {len(df)} rows, the marker records {n_rows}"
    if (df["key"] != key).any():
        return f"holds rows of another key ({sorted(set(df['key'].astype(str)) - {key})[:1]})"
    if (df["version"] != version).any():
        found = sorted(set(df["version"].astype(str)))
        return f"holds rows of engine version {found}, not {version}"
    ints = {}
    for col in ("n", "d", "seed", "degree"):
        if col in df.columns:
            ints[col] = _int_column(df, col)
            if ints[col] is None:
                return f"has a non-integer value in column {col!r}"
    n = ints["n"]
    dup = n[np.flatnonzero(np.diff(n) == 0)] if n.size > 1 else []
    if len(dup):
        return f"has duplicated rows (n = {int(dup[0])} appears twice)"
    if np.any(np.diff(n) < 0) or n.min() < 1:
        return f"has sizes n out of order or < 1 ({n.tolist()[:8]})"
    err = pd.to_numeric(df["test_error"], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(err) & (err >= 0)).all():
        return "has a test_error that is missing, not a number, infinite or negative"
    if config:
        if "n_grid" in config and n.tolist() != list(config["n_grid"]):
            return f"has rows for n = {n.tolist()}, the job's grid is {list(config['n_grid'])}"
        for col in ("d", "seed", "degree"):
            if col in ints and col in config and (ints[col] != config[col]).any():
                return f"has {col} values other than the config's {col} = {config[col]}"
        for col in ("model", "input"):
            if col in df.columns and col in config and (df[col] != config[col]).any():
                return f"has {col} values other than the config's {col} = {config[col]!r}"
    return None


# -- the store --------------------------------------------------------------------------------

@dataclass
class Scan:
    """What a results directory holds: ``good`` (key -> marker), ``frames`` (key -> rows),
    ``damaged`` (key -> reason), ``stale`` (another engine version), ``legacy`` (good, but
    written before checksums), ``partial`` (a row file without marker: killed mid-write)."""

    good: dict = field(default_factory=dict)
    frames: dict = field(default_factory=dict)
    damaged: dict = field(default_factory=dict)
    damaged_meta: dict = field(default_factory=dict)
    stale: set = field(default_factory=set)
    legacy: set = field(default_factory=set)
    partial: set = field(default_factory=set)


def describe_job(config: dict | None) -> str:
    """``"NTK on raw x, d=10, seed=0"`` for messages (empty when the config is unknown)."""
    if not isinstance(config, dict):
        return ""
    try:
        return f"{label(config)}, d={config['d']}, seed={config['seed']}"
    except (KeyError, TypeError, ValueError):
        return ""


class ResultStore:
    """Finished jobs of a sweep, one checksummed CSV + JSON pair per key.

    Parameters
    ----------
    root : path-like
        The results directory (created on first write).
    """

    def __init__(self, root):
        self.root = Path(root)
        self.runs = self.root / "runs"
        self._cache = {}

    # -- verification ---------------------------------------------------------------
    def _stat(self, key):
        out = []
        for suffix in (".json", ".csv"):
            try:
                st = (self.runs / f"{key}{suffix}").stat()
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except FileNotFoundError:
                out.append(None)
        return tuple(out) + (ENGINE_VERSION,)

    def check(self, key: str):
        """Verify one key: ``(status, reason, marker, rows)``.

        ``status`` is "good", "legacy" (good, no checksum yet), "stale" (another engine
        version), "damaged" (``reason`` says why, in one line) or "missing" (no marker).
        """
        stamp = self._stat(key)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        result = self._check(key, stamp)
        self._cache[key] = (stamp, result)
        return result

    def _check(self, key, stamp):
        if stamp[0] is None:
            return "missing", None, None, None
        try:
            meta = json.loads((self.runs / f"{key}.json").read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            why = f"marker runs/{key}.json is not valid JSON ({type(exc).__name__})"
            return "damaged", why, None, None
        except OSError as exc:
            return "damaged", f"marker runs/{key}.json cannot be read ({exc.strerror})", None, None
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            return "damaged", f"marker runs/{key}.json holds no config", None, None
        if meta.get("key") != key:
            return "damaged", f"marker runs/{key}.json names key {meta.get('key')!r}", meta, None
        if job_key(meta["config"]) != key:
            return "damaged", ("the marker's config does not hash to its key (edited, or "
                               "written by other code)"), meta, None
        version = meta.get("version")
        if not isinstance(version, str):
            return "damaged", "the marker records no engine version", meta, None
        fmt = meta.get("format", 1)
        if stamp[1] is None:
            return "damaged", f"row file runs/{key}.csv is missing", meta, None
        data = (self.runs / f"{key}.csv").read_bytes()
        info = meta.get("rows") if fmt >= 2 else None
        if fmt >= 2:
            if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
                return "damaged", "the marker records no checksum of the row file", meta, None
            if hashlib.sha256(data).hexdigest() != info["sha256"]:
                how = ("same size, other content: edited or garbled"
                       if len(data) == info.get("bytes") else
                       f"{len(data)} bytes, the marker records {info.get('bytes')}: truncated, "
                       "extended or replaced")
                return "damaged", (f"row file runs/{key}.csv does not match its checksum "
                                   f"({how})"), meta, None
        parsed, why = _parse_rows(data)
        if why is None:
            df, header = parsed
            why = check_rows(df, header, key=key, version=version, config=meta["config"],
                             columns=info.get("columns") if info else None,
                             n_rows=info.get("n_rows") if info else None)
        if why is not None:
            return "damaged", f"row file runs/{key}.csv {why}", meta, None
        if version != ENGINE_VERSION:
            return "stale", None, meta, df
        return ("good" if fmt >= 2 else "legacy"), None, meta, df

    def scan(self) -> Scan:
        """Verify every record of the directory (results are cached until a file changes)."""
        out = Scan()
        if not self.runs.is_dir():
            return out
        markers = {p.stem for p in self.runs.glob("*.json") if KEY_RE.fullmatch(p.stem)}
        rows = {p.stem for p in self.runs.glob("*.csv") if KEY_RE.fullmatch(p.stem)}
        out.partial = rows - markers
        for key in sorted(markers):
            status, reason, meta, df = self.check(key)
            if status in ("good", "legacy"):
                out.good[key], out.frames[key] = meta, df
                if status == "legacy":
                    out.legacy.add(key)
            elif status == "stale":
                out.stale.add(key)
                out.frames[key] = df
            elif status == "damaged":
                out.damaged[key] = reason
                out.damaged_meta[key] = meta
        return out

    def is_finished(self, key: str) -> bool:
        """True when ``key`` was finished by the current engine version and verifies."""
        return self.check(key)[0] in ("good", "legacy")

    def finished_keys(self) -> set[str]:
        """Keys finished by the current engine version whose records verify."""
        return set(self.scan().good)

    def stale_keys(self) -> set[str]:
        """Keys stored by another engine version (they are recomputed on the next run)."""
        return set(self.scan().stale)

    def damaged(self) -> dict[str, str]:
        """Damaged keys and what is wrong with each (one line)."""
        return dict(self.scan().damaged)

    # -- repairs --------------------------------------------------------------------
    def quarantine(self, key: str) -> Path | None:
        """Move the files of ``key`` to ``damaged/`` (kept for inspection); returns the folder."""
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        dest = self.root / "damaged"
        moved = False
        for suffix in (".csv", ".json"):
            src = self.runs / f"{key}{suffix}"
            if src.exists():
                dest.mkdir(parents=True, exist_ok=True)
                os.replace(src, dest / f"{key}.{stamp}{suffix}")
                moved = True
        self._cache.pop(key, None)
        return dest if moved else None

    def adopt(self, key: str) -> bool:
        """Give a verified format-1 marker the row file's checksum (format 2); True if done."""
        status, _, meta, df = self.check(key)
        if status != "legacy":
            return False
        data = (self.runs / f"{key}.csv").read_bytes()
        header = data.decode("utf-8").split("\n", 1)[0].rstrip("\r").split(",")
        meta = dict(meta, format=STORE_FORMAT, rows=self._rows_info(data, header, len(df)),
                    adopted_utc=_utc_now())
        atomic_write_text(self.runs / f"{key}.json", self._marker_text(meta))
        return True

    # -- writes ---------------------------------------------------------------------
    @staticmethod
    def _rows_info(data: bytes, header, n_rows: int) -> dict:
        return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                "n_rows": int(n_rows), "columns": list(header)}

    @staticmethod
    def _marker_text(meta: dict) -> str:
        return json.dumps(_jsonable(meta), indent=1, sort_keys=True, allow_nan=False) + "\n"

    def write(self, config: dict, rows: pd.DataFrame, *, info: dict | None = None,
              run: dict | None = None) -> str:
        """Store the rows of one finished job; returns its key.

        The rows are serialised, read back and checked against the row schema first
        (:class:`DamagedRowsError` if they fail: nothing is written). The CSV goes first, the
        marker with its checksum second, each atomically.
        """
        key = job_key(config)
        rows = rows.copy()
        for col in ("version", "key"):
            if col in rows.columns:
                rows = rows.drop(columns=col)
        rows.insert(0, "version", ENGINE_VERSION)
        rows.insert(0, "key", key)
        buf = io.StringIO()
        rows.to_csv(buf, index=False, float_format="%.17g")
        data = buf.getvalue().encode("utf-8")
        parsed, why = _parse_rows(data)
        if why is None:
            why = check_rows(*parsed, key=key, version=ENGINE_VERSION, config=config)
        if why is not None:
            raise DamagedRowsError(f"job {key}: the rows returned are unusable: their CSV {why}; "
                                   "not stored")
        atomic_write_bytes(self.runs / f"{key}.csv", data)
        meta = {"format": STORE_FORMAT, "key": key, "version": ENGINE_VERSION, "config": config,
                "info": info or {}, "run": run or {}, "written_utc": _utc_now(),
                "rows": self._rows_info(data, parsed[1], len(parsed[0]))}
        atomic_write_text(self.runs / f"{key}.json", self._marker_text(meta))
        return key

    def write_spec(self, spec: dict) -> None:
        atomic_write_text(self.root / "spec.json", json.dumps(spec, indent=1, sort_keys=True))

    def read_spec(self) -> dict | None:
        """The stored spec, or None when absent or unreadable (with a StoreWarning)."""
        try:
            spec = json.loads((self.root / "spec.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            warnings.warn(f"{self.root / 'spec.json'} is not valid JSON ({type(exc).__name__}); "
                          "using defaults for the report", StoreWarning, stacklevel=2)
            return None
        return spec if isinstance(spec, dict) else None

    def record_run(self, entry: dict) -> Path:
        """Append ``entry`` to manifest.json (an unreadable manifest is moved aside first)."""
        path = self.root / "manifest.json"
        runs = []
        if path.exists():
            try:
                runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
                if not isinstance(runs, list):
                    raise TypeError("runs is not a list")
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                bad = path.with_name(f"manifest.json.damaged-{_utc_now().replace(':', '')}")
                os.replace(path, bad)
                warnings.warn(f"{path} was unreadable; moved to {bad.name}", StoreWarning,
                              stacklevel=2)
                runs = []
        runs = [r for r in runs if r.get("run_id") != entry.get("run_id")] + [entry]
        atomic_write_text(path, json.dumps(_jsonable({"runs": runs}), indent=1) + "\n")
        return path

    def manifest(self) -> list[dict]:
        """Entries of manifest.json (empty when absent or unreadable)."""
        try:
            return list(json.loads((self.root / "manifest.json").read_text())["runs"])
        except (OSError, ValueError, KeyError, TypeError):
            return []

    # -- reads ----------------------------------------------------------------------
    def load(self, *, include_stale: bool = False, warn: bool = True) -> pd.DataFrame:
        """All verified rows (current version only unless ``include_stale``), sorted.

        Damaged records are left out, each with a one-line :class:`StoreWarning`.
        """
        scan = self.scan()
        if warn:
            for key, reason in sorted(scan.damaged.items()):
                what = describe_job((scan.damaged_meta.get(key) or {}).get("config"))
                warnings.warn(f"damaged result {key}{f' ({what})' if what else ''}: {reason}; "
                              "left out (rerun the sweep to recompute it)", StoreWarning,
                              stacklevel=2)
        keys = set(scan.good) | (scan.stale if include_stale else set())
        frames = [scan.frames[k] for k in sorted(keys)]
        if not frames:
            return pd.DataFrame()
        df = pd.concat(frames, ignore_index=True)
        df = df.sort_values(["label", "d", "seed", "n", "key"], kind="stable")
        return df.reset_index(drop=True)

    def configs(self) -> dict[str, dict]:
        """Config of every finished, verified key."""
        return {key: meta["config"] for key, meta in self.scan().good.items()}

    def write_table(self, df: pd.DataFrame, name: str = "results.csv") -> Path:
        buf = io.StringIO()
        df.to_csv(buf, index=False, float_format="%.17g")
        path = self.root / name
        atomic_write_text(path, buf.getvalue())
        return path
