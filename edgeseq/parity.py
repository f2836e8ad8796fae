"""PyTorch vs ONNX Runtime parity: :func:`check_parity` -> :class:`ParityReport`.

The same inputs go through the PyTorch module and the ONNX model on ONNX Runtime's CPU provider:
random inputs at batch sizes {1, 2, 7}, inputs at several sizes of each dynamic image axis (the
smallest legal one included, none equal to the export example), user-supplied inputs and real
samples. For every output the report checks, in this order, the output names, the shapes and then
the values: max absolute and relative difference, cosine similarity and top-1 (argmax over the
class axis) agreement; for CTC outputs also the greedy-decoded sequence agreement. Every failure is
collected and reported, not only the first.

Models with preprocessing inside the graph (uint8 NHWC input, see
:class:`edgeseq.export_rewrites.InGraphPreprocess`) get uint8 pixels, and the PyTorch module gets
the same pixels normalised by :func:`edgeseq.runtime.preprocess.normalize`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeseq.errors import ConfigError, InputError
from edgeseq.runtime.preprocess import pixels_from_normalized

# fp32 on CPU: the same maths in a different kernel order (MKL-DNN/ATen vs MLAS) differs by a few
# ulp per op. Measured on this stack: <= 4e-7 for CRNNs and < 1e-5 for resnet18-rows-lstm at
# 224x224 with random weights (docs/traps.md #1 and the export tests). ATOL leaves an order of
# magnitude of headroom above that while staying far below any real export bug (a wrong weight
# or a frozen axis gives differences of 1e-2 or more).
PARITY_ATOL = 1e-4
# relative part of the elementwise bound |onnx - torch| <= atol + rtol * |torch|, for large logits
# (random-weight deep backbones produce values in the hundreds, where 1e-4 is below fp32 resolution).
PARITY_RTOL = 1e-4
# cosine similarity of the flattened outputs; fp32 rounding leaves it at 1 - 1e-12 or closer
PARITY_MIN_COSINE = 0.99999
# torch margins between the two best classes below this are ties: argmax may differ there legitimately
TOP1_TIE_MARGIN = PARITY_ATOL

DEFAULT_BATCH_SIZES = (1, 2, 7)
SIZE_CASE_BATCH = 2  # batch size used for the input-size cases
MIN_DYNAMIC_SIZES = 3


@dataclass
class ParityTolerances:
    """Thresholds a parity check applies; the defaults are the named constants above."""

    atol: float = PARITY_ATOL
    rtol: float = PARITY_RTOL
    min_cosine: float = PARITY_MIN_COSINE

    def __post_init__(self) -> None:
        for key in ("atol", "rtol"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"tolerances.{key}: got {value!r}; expected a non-negative number")
        if not 0.0 <= self.min_cosine <= 1.0:
            raise ConfigError(f"tolerances.min_cosine: got {self.min_cosine!r}; expected 0 <= value <= 1")


@dataclass
class ParityRow:
    """One output compared on one input case."""

    case: str  # "random", "size", "inputs" or "sample"
    output: str
    input_shape: list[int]
    torch_shape: list[int] | None = None
    onnx_shape: list[int] | None = None
    max_abs: float | None = None
    max_rel: float | None = None
    cosine: float | None = None
    top1: float | None = None  # fraction of argmax positions that agree
    sequence: float | None = None  # CTC: fraction of greedy-decoded sequences that agree
    passed: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass
class ParityReport:
    """The result of :func:`check_parity`: every row, every failure and the worst figures."""

    onnx_path: str
    passed: bool
    rows: list[ParityRow]
    failures: list[str]
    tolerances: ParityTolerances
    input_name: str = ""
    input_layout: str = "NCHW"
    dynamic_axes: dict[str, str] = field(default_factory=dict)
    sizes: list[list[int]] = field(default_factory=list)  # (height, width) of every case run
    seconds: float = 0.0

    def worst(self) -> dict[str, dict[str, float | None]]:
        """Per output: the largest differences and the lowest agreement over all cases."""
        out: dict[str, dict[str, float | None]] = {}
        for row in self.rows:
            w = out.setdefault(row.output, {"max_abs": None, "max_rel": None, "min_cosine": None, "min_top1": None})
            for key, value, pick in (
                ("max_abs", row.max_abs, max),
                ("max_rel", row.max_rel, max),
                ("min_cosine", row.cosine, min),
                ("min_top1", row.top1, min),
            ):
                if value is not None:
                    w[key] = value if w[key] is None else pick(w[key], value)
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (non-finite numbers become strings)."""
        return _jsonable(
            {
                "onnx_path": self.onnx_path,
                "passed": self.passed,
                "failures": self.failures,
                "tolerances": asdict(self.tolerances),
                "input_name": self.input_name,
                "input_layout": self.input_layout,
                "dynamic_axes": self.dynamic_axes,
                "sizes": self.sizes,
                "cases": len({(r.case, tuple(r.input_shape)) for r in self.rows}),
                "worst": self.worst(),
                "seconds": round(self.seconds, 3),
                "rows": [asdict(r) for r in self.rows],
            }
        )

    def to_table(self) -> str:
        """A readable text table: one line per case and output, then the failures."""
        header = ("case", "output", "input", "max_abs", "max_rel", "cosine", "top1", "seq", "ok")
        lines = [header]
        for r in self.rows:
            lines.append(
                (
                    r.case,
                    r.output,
                    "x".join(str(d) for d in r.input_shape),
                    _fmt(r.max_abs),
                    _fmt(r.max_rel),
                    _fmt(r.cosine, ".7f"),
                    _fmt(r.top1, ".3f"),
                    _fmt(r.sequence, ".3f"),
                    "ok" if r.passed else "FAIL",
                )
            )
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
        text = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
        tol = self.tolerances
        verdict = "PASSED" if self.passed else f"FAILED ({len(self.failures)} problem(s))"
        text.append(
            f"parity {verdict}: |onnx - torch| <= {tol.atol:g} + {tol.rtol:g}*|torch|, cosine >= {tol.min_cosine}"
        )
        text.extend(f"  - {f}" for f in self.failures)
        return "\n".join(text)


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def _fmt(value: float | None, spec: str = ".2e") -> str:
    return "-" if value is None else format(value, spec)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


# ---------------------------------------------------------------------------------------------
# comparison of one output


def greedy_decode(indices: np.ndarray, blank: int = 0) -> list[tuple[int, ...]]:
    """CTC greedy decoding of argmax indices (B, T): collapse repeats, drop blanks."""
    from edgeseq.runtime.decode import ctc_collapse

    return [ctc_collapse(row.tolist(), blank) for row in indices]


def compare_output(
    name: str, ref: np.ndarray, got: np.ndarray, tol: ParityTolerances, *, ctc: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Compare one output: shapes first, then values. Returns (figures, problems)."""
    figures: dict[str, Any] = {"torch_shape": list(ref.shape), "onnx_shape": list(got.shape)}
    if ref.shape != got.shape:
        return figures, [f"output {name!r}: shape {list(got.shape)} from ONNX Runtime, {list(ref.shape)} from torch"]
    problems = []
    ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
    if ref64.size == 0:
        return figures, problems
    # Non-finite values must match exactly (same positions, same inf/nan); the figures cover the rest.
    fin_ref, fin_got = np.isfinite(ref64), np.isfinite(got64)
    if not np.array_equal(fin_ref, fin_got):
        who = "ONNX Runtime" if (fin_ref & ~fin_got).any() else "torch"
        problems.append(f"output {name!r}: {who} produced non-finite values where the other did not")
    elif not np.array_equal(ref64[~fin_ref], got64[~fin_got], equal_nan=True):
        problems.append(
            f"output {name!r}: non-finite values differ (inf vs nan or sign) between torch and ONNX Runtime"
        )
    both = fin_ref & fin_got
    r, g = ref64[both], got64[both]
    diff = np.abs(g - r)
    figures["max_abs"] = float(diff.max()) if diff.size else 0.0
    figures["max_rel"] = float((diff / np.maximum(np.abs(r), tol.atol)).max()) if diff.size else 0.0
    excess = diff - (tol.atol + tol.rtol * np.abs(r))
    if excess.size and excess.max() > 0.0:
        worst = int(np.argmax(excess))
        problems.append(
            f"output {name!r}: max |diff| {figures['max_abs']:.3e} exceeds {tol.atol:g} + {tol.rtol:g}*|torch| "
            f"(torch {r[worst]:.6g}, onnx {g[worst]:.6g})"
        )
    norms = float(np.linalg.norm(r)), float(np.linalg.norm(g))
    if norms[0] > 0 and norms[1] > 0:
        figures["cosine"] = float(np.dot(r, g) / (norms[0] * norms[1]))
    else:  # identical only when both are all zeros
        figures["cosine"] = 1.0 if norms == (0.0, 0.0) else 0.0
    if not figures["cosine"] >= tol.min_cosine:
        problems.append(f"output {name!r}: cosine similarity {figures['cosine']:.7f} below {tol.min_cosine}")
    if ref.ndim >= 2 and ref.shape[-1] > 1:
        ref_top, got_top = ref64.argmax(-1), got64.argmax(-1)
        agree = ref_top == got_top
        figures["top1"] = float(agree.mean())
        # a disagreement only counts when torch itself is not at a tie between the two classes
        best = np.take_along_axis(ref64, ref_top[..., None], -1)[..., 0]
        chosen = np.take_along_axis(ref64, got_top[..., None], -1)[..., 0]
        with np.errstate(invalid="ignore"):  # inf - inf at matching non-finite positions (judged above)
            real = (~agree) & (best - chosen > TOP1_TIE_MARGIN + tol.rtol * np.abs(best))
        if real.any():
            problems.append(f"output {name!r}: top-1 differs at {int(real.sum())} of {agree.size} positions")
        if ctc and ref.ndim == 3:
            ref_seq, got_seq = greedy_decode(ref_top), greedy_decode(got_top)
            figures["sequence"] = float(np.mean([a == b for a, b in zip(ref_seq, got_seq, strict=True)]))
            if figures["sequence"] < 1.0 and real.any():
                problems.append(f"output {name!r}: greedy-decoded sequences agree on {figures['sequence']:.3f} only")
    return figures, problems


# ---------------------------------------------------------------------------------------------
# input cases


@dataclass
class _GraphInput:
    name: str
    uint8_nhwc: bool
    channels: int | None
    dynamic: dict[int, str]  # NCHW axis -> symbolic name
    static: dict[int, int]  # NCHW axis -> fixed size


def _graph_input(session: Any) -> _GraphInput:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise InputError(f"ONNX model has {len(inputs)} inputs ({[i.name for i in inputs]}); expected one image input")
    inp = inputs[0]
    if len(inp.shape) != 4:
        raise InputError(f"ONNX input {inp.name!r} has shape {inp.shape}; expected rank 4 (NCHW or NHWC)")
    uint8 = inp.type == "tensor(uint8)"
    # map NHWC positions onto NCHW axes so everything below speaks NCHW
    to_nchw = {0: 0, 1: 2, 2: 3, 3: 1} if uint8 else {0: 0, 1: 1, 2: 2, 3: 3}
    dynamic, static = {}, {}
    for pos, dim in enumerate(inp.shape):
        if isinstance(dim, int):
            static[to_nchw[pos]] = dim
        else:
            dynamic[to_nchw[pos]] = str(dim) if dim else f"axis{pos}"
    return _GraphInput(inp.name, uint8, static.get(1), dynamic, static)


def _metadata(onnx_path: Path) -> Any:
    import onnx

    from edgeseq.errors import ModelFileError
    from edgeseq.runtime.metadata import metadata_of

    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # protobuf decode errors have no common base class
        raise ModelFileError(f"cannot read ONNX model {str(onnx_path)!r}: {str(exc).splitlines()[0][:200]}") from None
    return metadata_of(model)


def _forward_ok(model: Any, shape: tuple[int, ...]) -> bool:
    import torch

    try:
        with torch.inference_mode():
            out = model(torch.zeros(shape))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return all(o.numel() > 0 for o in outs)
    except Exception:  # any failure means "too small" here; the real run reports real errors
        return False


def smallest_size(model: Any, base: tuple[int, int, int], axis: int) -> int:
    """Smallest legal size of NCHW ``axis`` (2 or 3): ``model.min_input_size()`` or found by probing torch.

    Probing doubles the size from 1 until the model runs, then bisects (the model must accept every
    size above its minimum, as CNN feature maps do).
    """
    channels, height, width = base
    if callable(getattr(model, "min_input_size", None)):
        return int(model.min_input_size()[axis - 2])

    def ok(n: int) -> bool:
        size = [1, channels, height, width]
        size[axis] = n
        return _forward_ok(model, tuple(size))

    hi = 1
    while not ok(hi):
        hi *= 2
        if hi > max(base[axis - 1], 1) * 2:
            raise InputError(f"cannot find a legal input size for axis {axis}: torch fails up to {hi}")
    lo = hi // 2  # fails (or 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def default_sizes(base: int, smallest: int) -> list[int]:
    """At least three sizes, none equal to ``base``: the smallest legal one, one between, one above."""
    candidates = [smallest, (smallest + base) // 2, base + base // 2 + 1, base + 1, 2 * base + 3]
    sizes: list[int] = []
    for c in candidates:
        if c >= smallest and c != base and c not in sizes:
            sizes.append(c)
        if len(sizes) == MIN_DYNAMIC_SIZES:
            break
    return sorted(sizes)


def _as_batches(data: Any, what: str) -> list[np.ndarray]:
    """Normalise ``inputs``/``samples`` into a list of numpy batches (N, ...)."""
    import torch

    if data is None:
        return []
    if isinstance(data, (torch.Tensor, np.ndarray)):
        items = [data]
    elif isinstance(data, Iterable):
        items = list(data)
    else:
        raise InputError(f"{what}: got {type(data).__name__}; expected an array, a tensor or a list of them")
    batches: list[np.ndarray] = []
    singles: list[np.ndarray] = []
    for item in items:
        if isinstance(item, (tuple, list)) and item:  # (image, target) dataset items
            item = item[0]
        arr = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else np.asarray(item)
        if arr.ndim == 4:
            batches.append(arr)
        elif arr.ndim == 3:
            singles.append(arr)
        else:
            raise InputError(f"{what}: got an array of shape {list(arr.shape)}; expected (C, H, W) or (N, C, H, W)")
    # group single images of equal shape into batches (variable-width text lines stay separate)
    groups: dict[tuple[int, ...], list[np.ndarray]] = {}
    for arr in singles:
        groups.setdefault(arr.shape, []).append(arr)
    batches.extend(np.stack(group) for group in groups.values())
    return batches


# ---------------------------------------------------------------------------------------------


def check_parity(
    model: Any,
    onnx_path: str | Path,
    inputs: Any = None,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    sizes: Sequence[int] | None = None,
    samples: Any = None,
    tolerances: ParityTolerances | None = None,
    seed: int = 0,
    base_size: tuple[int, int] | None = None,
) -> ParityReport:
    """Compare a PyTorch module with its ONNX export on ONNX Runtime (CPU).

    Args:
        model: the ``torch.nn.Module`` that was exported (the original, not a rewritten copy).
        onnx_path: the ONNX file.
        inputs: optional extra inputs, NCHW float (a tensor/array, a batch, or a list of them).
        batch_sizes: batch sizes of the random-input cases at the base size.
        sizes: sizes of the dynamic image axis to test (default: the smallest legal size, one between it
            and the base, one above the base; never the base itself).
        samples: real samples, for example dataset items ``(image (C, H, W), target)``, NCHW float as
            the model takes them (converted to pixels for models with preprocessing in the graph).
        tolerances: thresholds (default: the named constants of this module).
        seed: seed of the random inputs.
        base_size: the export example's (height, width); default from the ONNX metadata, the model's
            ``input_size``, the first ``inputs`` array, the graph's fixed dims, or the manifest's
            ``example_input_shape``.

    Returns:
        A :class:`ParityReport`; ``passed`` is False when any check failed (nothing is raised for that).

    Raises:
        InputError: the model's input cannot be determined or the inputs have the wrong shape.
        ModelFileError: ONNX Runtime cannot load the file.
    """
    import onnxruntime as ort
    import torch

    from edgeseq.errors import ModelFileError
    from edgeseq.runtime.preprocess import normalize

    started = time.perf_counter()
    tol = tolerances or ParityTolerances()
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise InputError(f"ONNX model {str(onnx_path)!r} not found")
    if any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in batch_sizes):
        raise InputError(f"batch_sizes: got {list(batch_sizes)!r}; expected positive integers")
    if sizes is not None and any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise InputError(f"sizes: got {list(sizes)!r}; expected positive integers")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # shape-mismatch warnings would duplicate our own report
    try:
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelFileError(f"onnxruntime cannot load {str(onnx_path)!r}: {str(exc).splitlines()[0][:300]}") from None
    meta = _metadata(onnx_path)
    graph_in = _graph_input(session)
    spec = dict(meta.preprocess) if meta is not None else {}
    if graph_in.uint8_nhwc and not spec:
        raise InputError(
            f"{str(onnx_path)!r} takes uint8 pixels but has no edgeseq preprocessing metadata to normalise them for torch"
        )
    ctc = (meta is not None and meta.task == "ctc") or getattr(model, "task", None) == "ctc"

    extra_inputs = _as_batches(inputs, "inputs")
    real_samples = _as_batches(samples, "samples")

    # base (channels, height, width) of the random cases
    channels = (
        graph_in.channels or getattr(model, "in_channels", None) or (extra_inputs[0].shape[1] if extra_inputs else None)
    )
    if base_size is None:
        if spec.get("height") and spec.get("width"):
            base_size = (int(spec["height"]), int(spec["width"]))
        elif getattr(model, "input_size", None):
            base_size = tuple(int(v) for v in model.input_size)[:2]
        elif extra_inputs:
            base_size = tuple(extra_inputs[0].shape[2:4])
        elif 2 in graph_in.static and 3 in graph_in.static:
            base_size = (graph_in.static[2], graph_in.static[3])
        else:  # a plain module exported by edgeseq: the manifest records the example's shape
            from edgeseq.manifest import read_manifest

            example_shape = read_manifest(onnx_path).get("example_input_shape")
            if isinstance(example_shape, list) and len(example_shape) == 4:
                base_size = (int(example_shape[2]), int(example_shape[3]))
    if channels is None or base_size is None:
        raise InputError(
            "check_parity: cannot tell the model's input size; pass inputs= (an NCHW example) or base_size=(h, w)"
        )
    height, width = graph_in.static.get(2, base_size[0]), graph_in.static.get(3, base_size[1])
    base = (int(channels), int(height), int(width))

    cases: list[tuple[str, np.ndarray]] = []
    rng = np.random.default_rng(seed)

    def random_batch(n: int, h: int, w: int) -> np.ndarray:
        if graph_in.uint8_nhwc:
            return rng.integers(0, 256, size=(n, h, w, base[0]), dtype=np.uint8)
        return rng.standard_normal((n, base[0], h, w)).astype(np.float32)

    random_batches = batch_sizes if 0 in graph_in.dynamic else [graph_in.static[0]]
    for n in dict.fromkeys(random_batches):
        cases.append(("random", random_batch(n, base[1], base[2])))
    size_batch = SIZE_CASE_BATCH if 0 in graph_in.dynamic else graph_in.static[0]
    tested_sizes = [[base[1], base[2]]]
    for axis in (2, 3):
        if axis not in graph_in.dynamic:
            continue
        smallest = smallest_size(model, base, axis)
        if sizes is not None:
            too_small = [s for s in sizes if s < smallest]
            if too_small:
                name = "height" if axis == 2 else "width"
                raise InputError(
                    f"sizes: got {too_small} for the dynamic {name}; expected sizes >= {smallest}, "
                    "the smallest this model accepts"
                )
        axis_sizes = list(sizes) if sizes is not None else default_sizes(base[axis - 1], smallest)
        for s in axis_sizes:
            h, w = (s, base[2]) if axis == 2 else (base[1], s)
            tested_sizes.append([h, w])
            cases.append(("size", random_batch(size_batch, h, w)))
    for arr in extra_inputs:
        cases.append(("inputs", pixels_from_normalized(arr, spec) if graph_in.uint8_nhwc else arr.astype(np.float32)))
    for arr in real_samples:
        cases.append(("sample", pixels_from_normalized(arr, spec) if graph_in.uint8_nhwc else arr.astype(np.float32)))

    onnx_names = [o.name for o in session.get_outputs()]
    failures: list[str] = []
    if meta is not None:
        expected = [meta.outputs.logits] + ([meta.outputs.probabilities] if meta.outputs.probabilities else [])
        if onnx_names != expected:
            failures.append(f"output names: got {onnx_names} from the ONNX model; metadata declares {expected}")

    # an export with probabilities=True has a softmax output the torch module does not return
    probabilities_name = (
        meta.outputs.probabilities if meta is not None and meta.outputs.probabilities else "probabilities"
    )
    rows: list[ParityRow] = []
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        for case, feed in cases:
            torch_in = normalize(feed, spec) if graph_in.uint8_nhwc else feed
            shape_nchw = list(torch_in.shape)
            try:
                with torch.inference_mode():
                    out = model(torch.from_numpy(np.ascontiguousarray(torch_in)))
            except Exception as exc:  # the module itself refuses this input: report it like any failure
                problem = f"{case} input {shape_nchw}: torch failed: {_first_line(exc)}"
                failures.append(problem)
                rows.append(ParityRow(case, "*", shape_nchw, problems=[problem]))
                continue
            refs = [o.detach().float().numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]
            if len(onnx_names) == len(refs) + 1 and onnx_names[-1] == probabilities_name:
                refs.append(torch.softmax(torch.from_numpy(refs[0]), dim=-1).numpy())
            try:
                gots = session.run(None, {graph_in.name: feed})
            except Exception as exc:  # onnxruntime's own error types; report and go on
                problem = f"{case} input {shape_nchw}: onnxruntime failed: {_first_line(exc)}"
                failures.append(problem)
                rows.append(ParityRow(case, "*", shape_nchw, problems=[problem]))
                continue
            if len(gots) != len(refs):
                problem = f"{case} input {shape_nchw}: {len(gots)} ONNX outputs, {len(refs)} torch outputs"
                failures.append(problem)
                rows.append(ParityRow(case, "*", shape_nchw, problems=[problem]))
                continue
            for name, ref, got in zip(onnx_names, refs, gots, strict=True):
                figures, problems = compare_output(name, ref, got, tol, ctc=ctc)
                problems = [f"{case} input {shape_nchw}: {p}" for p in problems]
                failures.extend(problems)
                rows.append(ParityRow(case, name, shape_nchw, **figures, passed=not problems, problems=problems))
    finally:
        model.train(was_training)
    return ParityReport(
        onnx_path=str(onnx_path),
        passed=not failures,
        rows=rows,
        failures=failures,
        tolerances=tol,
        input_name=graph_in.name,
        input_layout="NHWC-uint8" if graph_in.uint8_nhwc else "NCHW-float32",
        dynamic_axes={str(k): v for k, v in sorted(graph_in.dynamic.items())},
        sizes=tested_sizes,
        seconds=time.perf_counter() - started,
    )


def checkpoint_samples(ckpt: dict[str, Any], count: int) -> tuple[list[Any], str | None]:
    """Up to ``count`` items of the test split (else validation split) of a checkpoint's data.

    Returns:
        (items, None), or ([], why not) when the data cannot be built on this machine (a missing
        image folder, for example): parity then runs on random inputs only.
    """
    if count <= 0:
        return [], "no samples requested"
    try:
        from edgeseq.config import config_from_dict
        from edgeseq.data import build_datasets

        splits = build_datasets(config_from_dict(ckpt["config"]))
        data = splits.test if len(splits.test) else splits.val
        return [data[i] for i in range(min(count, len(data)))], None
    except Exception as exc:  # data absent or unreadable here: report why and go on with random inputs
        return [], f"{type(exc).__name__}: {_first_line(exc)}"


def validate_onnx(
    onnx_path: str | Path, checkpoint: Any, *, samples: int = 16, **kwargs: Any
) -> tuple[ParityReport, dict[str, Any]]:
    """Parity of an ONNX model against the checkpoint it came from, on random inputs and real samples.

    Args:
        onnx_path: the ``.onnx`` file.
        checkpoint: a checkpoint path, run folder or loaded checkpoint dict.
        samples: how many real test-split samples to include (0: random inputs only).
        **kwargs: passed to :func:`check_parity` (batch_sizes, sizes, tolerances, ...).

    Returns:
        (the report, ``{"checkpoint": path, "samples": n, "samples_note": why none or None}``)
    """
    from edgeseq.checkpoint import model_from_checkpoint

    model, ckpt = model_from_checkpoint(checkpoint)
    items, why_not = checkpoint_samples(ckpt, samples)
    report = check_parity(model, onnx_path, samples=items or None, **kwargs)
    return report, {"checkpoint": ckpt.get("path"), "samples": len(items), "samples_note": why_not}


def validate_and_record(
    onnx_path: str | Path,
    checkpoint: Any,
    *,
    report_path: str | Path | None = None,
    samples: int = 16,
    **kwargs: Any,
) -> tuple[ParityReport, dict[str, Any], Path]:
    """Validate an exported model against its checkpoint and record the result.

    Writes the JSON report (default ``<model>.parity.json``) and, when the model has a manifest, its
    ``parity`` summary. ``edgeseq validate`` and ``edgeseq pipeline`` both call this, so the report
    and the manifest look the same whichever ran.

    Returns:
        (the report, the JSON written, the report's path). ``data["notes"]`` lists what the caller
        should tell the user (a model exported from another checkpoint, no real samples).
    """
    import json

    from edgeseq.checkpoint import load_checkpoint
    from edgeseq.fileio import sha256_file, write_json_atomic
    from edgeseq.manifest import manifest_path, update_manifest

    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    ckpt_sha = sha256_file(ckpt["path"])
    meta = _metadata(Path(onnx_path))
    source_sha = getattr(meta, "source_sha256", "") if meta is not None else ""
    notes = []
    if source_sha and source_sha != ckpt_sha:
        notes.append(
            f"{onnx_path} was exported from a different checkpoint "
            f"(sha256 {source_sha[:12]}..., this one {ckpt_sha[:12]}...)"
        )
    report, info = validate_onnx(onnx_path, ckpt, samples=samples, **kwargs)
    if info["samples_note"] and samples > 0:
        notes.append(f"no real samples ({info['samples_note']}); random inputs only")
    data = report.to_json()
    data["checkpoint"] = {"path": ckpt.get("path"), "sha256": ckpt_sha, "is_source": source_sha == ckpt_sha}
    data["samples"] = info["samples"]
    data["notes"] = notes
    path = Path(report_path) if report_path else Path(onnx_path).with_suffix(".parity.json")
    write_json_atomic(path, json.loads(json.dumps(data, default=str)))
    if manifest_path(onnx_path).is_file():
        summary = {k: data[k] for k in ("passed", "worst", "tolerances", "sizes", "cases", "checkpoint", "samples")}
        update_manifest(onnx_path, parity=summary)
    return report, data, path
