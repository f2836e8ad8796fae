"""The benchmark record: one :class:`BenchRow` per measured configuration, in a :class:`BenchResult`.

``BenchResult.to_json()`` is the full record (schema ``edgeseq-bench/1``) that ``--out`` writes and
``bench compare`` reads back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edgeseq.errors import InputError

SCHEMA = "edgeseq-bench/1"


@dataclass
class BenchRow:
    """One measured (or skipped) configuration."""

    model: str
    variant: str
    backend: str
    precision: str  # what actually ran (e.g. OpenVINO's bf16)
    model_precision: str  # what the graph computes in
    provider: str
    batch: int
    threads: int
    spinning: bool
    input_shape: list[int]
    input_dtype: str
    model_path: str
    model_size_mb: float
    timesteps: int | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    n: int = 0
    images_per_s: float | None = None
    session_create_ms: float | None = None
    cold_ms: float | None = None
    peak_rss_mb: float | None = None
    rss_before_mb: float | None = None
    rss_isolated: bool = True
    load_avg_1m: float | None = None  # 1-minute load average when the row started (other work on the cores)
    gflops_per_inference: float | None = None
    achieved_gflops_s: float | None = None
    peak_fp32_gflops_s: float | None = None
    stages_ms: dict[str, float] = field(default_factory=dict)
    accuracy: float | None = None
    parity_max_abs_diff: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def key(self) -> tuple:
        """What identifies a row across runs (used by ``bench compare``)."""
        return (
            self.model,
            self.variant,
            self.backend,
            self.precision,
            self.batch,
            self.threads,
            tuple(self.input_shape),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchRow:
        """Rebuild from :meth:`to_json` output (unknown keys from newer versions are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class BenchResult:
    """Every row of a benchmark run with the environment card it ran on."""

    rows: list[BenchRow]
    env: dict[str, Any]
    options: dict[str, Any]
    created: str = ""
    schema: str = SCHEMA
    notes: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # suite: the targets, checked

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (the full record)."""
        return {
            "schema": self.schema,
            "created": self.created,
            "env": self.env,
            "options": self.options,
            "notes": self.notes,
            "targets": self.targets,
            "rows": [r.to_json() for r in self.rows],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchResult:
        """Rebuild from :meth:`to_json` output.

        Raises:
            InputError: not an edgeseq benchmark record.
        """
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("rows"), list):
            raise InputError(f"not an edgeseq benchmark result; expected JSON with schema {SCHEMA!r} and rows")
        return cls(
            rows=[BenchRow.from_json(r) for r in data["rows"]],
            env=data.get("env", {}),
            options=data.get("options", {}),
            created=data.get("created", ""),
            notes=list(data.get("notes", [])),
            targets=list(data.get("targets", [])),
        )

    @classmethod
    def load(cls, path: str | Path) -> BenchResult:
        """Read a result JSON file."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"benchmark result {str(path)!r} not found; expected a JSON file from `edgeseq bench`")
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(f"{str(path)!r} is not valid JSON; expected a result from `edgeseq bench --out`") from None
