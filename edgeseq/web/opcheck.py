"""Can onnxruntime-web run this graph? Checked at build time, so a user never finds out in the browser.

The WebAssembly build of onnxruntime-web compiles ONNX Runtime's CPU execution provider (with the
contrib ``com.microsoft`` and ``ai.onnx.ml`` kernels), so the CPU kernel table of the installed
onnxruntime is the reference for which operators exist (a proxy: a kernel added to native
onnxruntime after the pinned web release would pass here and fail in the browser; the browser
tests run the real thing); the opset ceilings below were measured against the vendored
onnxruntime-web itself. The WebGPU execution provider covers only part of the
operator set: nodes it lacks run on the WebAssembly provider instead (with a copy between GPU and
CPU memory each time), which the report lists but does not refuse.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from edgeseq.errors import ExportError
from edgeseq.graphs import iter_nodes
from edgeseq.web.ortweb import webgpu_ops

# Highest opset per domain that onnxruntime-web 1.30.0 (the vendored build) accepts. Measured with
# one-node models in Node.js: ai.onnx 26 loads and 27 fails in ValidateOpsetForDomain; ai.onnx.ml
# 5 loads and 6 fails; com.microsoft 1 loads. ONNX Runtime only guarantees ai.onnx >= 7.
MAX_OPSET = {"": 26, "ai.onnx.ml": 5, "com.microsoft": 1}
MIN_OPSET = 7
# ONNX Runtime turns these into initializers when it loads the graph, so they need no kernel.
LOAD_TIME_OPS = frozenset({"Constant"})
# Graph-internal domains that onnxruntime's own optimizers write into saved models.
INTERNAL_DOMAINS = ("com.microsoft.nchwc", "com.ms.internal.nhwc")

# (domain, op_type) -> the opset ranges of its kernels, (since, until)
KernelTable = dict[tuple[str, str], list[tuple[int, int]]]


@dataclass
class OpCheckReport:
    """What the browser runtime will do with a graph.

    Attributes:
        opsets: the model's opset imports, ``{domain: version}`` ("" is ai.onnx).
        op_types: node count per ``domain:op_type`` (plain ``op_type`` for ai.onnx), all subgraphs included.
        webgpu_fallback: ai.onnx/com.microsoft op types the WebGPU provider lacks (they run on WebAssembly).
        kernel_source: where the operator table came from.
    """

    opsets: dict[str, int]
    op_types: dict[str, int]
    webgpu_fallback: list[str] = field(default_factory=list)
    kernel_source: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "opsets": dict(self.opsets),
            "op_types": dict(self.op_types),
            "webgpu_fallback": list(self.webgpu_fallback),
            "kernel_source": self.kernel_source,
        }


def _normal_domain(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


def cpu_kernels() -> tuple[KernelTable, str]:
    """``{(domain, op_type): [(since, until), ...]}`` of ONNX Runtime's CPU kernels, and where it came from.

    Returns an empty table when the installed onnxruntime does not expose it (then only schemas are checked).
    """
    import onnxruntime

    try:
        from onnxruntime.capi import _pybind_state

        kernel_defs = _pybind_state.get_all_opkernel_def()
    except (ImportError, AttributeError):  # a private API: absent in some builds
        return {}, "onnx schemas only (this onnxruntime does not list its kernels)"
    table: KernelTable = {}
    for kdef in kernel_defs:
        if kdef.provider != "CPUExecutionProvider":
            continue
        since, until = kdef.version_range
        table.setdefault((_normal_domain(kdef.domain), kdef.op_name), []).append((since, until))
    return table, f"CPU kernels of onnxruntime {onnxruntime.__version__}"


def _in_ranges(version: int, ranges: list[Any]) -> bool:
    return any(lo <= version and (hi is None or version <= hi) for lo, hi in ranges)


def _has_function_body(op_type: str, domain: str, version: int) -> bool:
    """ONNX Runtime inlines an operator that has no kernel but an ONNX function body."""
    import onnx

    try:
        schema = onnx.defs.get_schema(op_type, version, domain)
    except onnx.defs.SchemaError:
        return False
    # onnx's type stubs lack these two OpSchema properties
    return bool(getattr(schema, "has_function", False) or getattr(schema, "has_context_dependent_function", False))


def _check_opsets(opsets: dict[str, int], used_domains: set[str], function_domains: set[str]) -> list[str]:
    """Opset ceilings for the domains onnxruntime-web knows; custom domains that nodes actually use.

    Tools such as onnxruntime's quantizer import domains no node uses (ai.onnx.preview.training, ...);
    those are harmless and ignored.
    """
    problems = []
    for domain, version in sorted(opsets.items()):
        if domain not in MAX_OPSET:
            continue
        shown = domain or "ai.onnx"
        if version > MAX_OPSET[domain]:
            hint = f"; re-export with opset {MAX_OPSET[domain]} or lower" if domain == "" else ""
            problems.append(
                f"{shown} opset {version} is newer than onnxruntime-web supports (max {MAX_OPSET[domain]}){hint}"
            )
        elif domain == "" and version < MIN_OPSET:
            problems.append(f"ai.onnx opset {version} is older than onnxruntime supports (min {MIN_OPSET})")
    for domain in sorted(used_domains - set(MAX_OPSET) - set(INTERNAL_DOMAINS) - function_domains):
        problems.append(
            f"operator domain {domain!r} is a custom op library, and the browser runtime has no custom "
            "operators (supported: ai.onnx, ai.onnx.ml, com.microsoft)"
        )
    return problems


def _node_supported(op_type: str, domain: str, version: int, kernels: KernelTable) -> bool:
    if domain == "" and op_type in LOAD_TIME_OPS:
        return True
    ranges = kernels.get((domain, op_type))
    if ranges and _in_ranges(version, ranges):
        return True
    if _has_function_body(op_type, domain, version):
        return True
    # without a kernel table, an operator the ONNX schemas know is assumed to have a kernel
    return not kernels and _schema_exists(op_type, domain, version)


def check_browser_support(model: Any) -> OpCheckReport:
    """Check that onnxruntime-web's WebAssembly backend can load and run ``model``.

    Args:
        model: an ``onnx.ModelProto``.

    Returns:
        An :class:`OpCheckReport` (opsets, op histogram, ops that fall back from WebGPU to WebAssembly).

    Raises:
        ExportError: an opset newer than onnxruntime-web supports (or older than 7), a custom operator
            domain, or an operator without a CPU kernel, each named with the nodes that use it.
    """
    opsets = {_normal_domain(o.domain): int(o.version) for o in model.opset_import}
    local_functions = {(f.domain, f.name) for f in model.functions}
    nodes = list(iter_nodes(model.graph))
    for function in model.functions:
        nodes.extend(function.node)
    used_domains = {_normal_domain(node.domain) for node in nodes}
    problems = _check_opsets(opsets, used_domains, {domain for domain, _ in local_functions})

    kernels, source = cpu_kernels()
    counts: Counter[str] = Counter()
    missing: dict[str, list[str]] = {}
    for node in nodes:
        domain = _normal_domain(node.domain)
        key = f"{domain}:{node.op_type}" if domain else node.op_type
        counts[key] += 1
        if (node.domain, node.op_type) in local_functions or domain not in MAX_OPSET:
            continue  # model-local functions are inlined; other domains were reported above
        if domain not in opsets:
            problems.append(f"operator {key} has no opset import for its domain {domain or 'ai.onnx'!r}")
        elif not _node_supported(node.op_type, domain, opsets[domain], kernels):
            missing.setdefault(key, []).append(node.name or "<unnamed>")
    for key, names in sorted(missing.items()):
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        problems.append(f"operator {key} has no onnxruntime-web (WebAssembly) kernel at this opset (nodes: {shown})")
    if problems:
        raise ExportError("the model cannot run in onnxruntime-web: " + "; ".join(problems))
    return OpCheckReport(
        opsets=opsets,
        op_types=dict(sorted(counts.items())),
        webgpu_fallback=_webgpu_fallback(counts, opsets),
        kernel_source=source,
    )


def _webgpu_fallback(counts: Counter[str], opsets: dict[str, int]) -> list[str]:
    """Op types the WebGPU provider does not implement at the model's opset."""
    table = webgpu_ops()
    if not table:  # no edgeseq-web-assets (a page from --ort-dist): coverage unknown, nothing claimed
        return []
    fallback = []
    for key in sorted(counts):
        domain, op_type = key.split(":", 1) if ":" in key else ("", key)
        if domain == "" and op_type in LOAD_TIME_OPS:
            continue
        ranges = table.get(domain or "ai.onnx", {}).get(op_type)
        if not ranges or not _in_ranges(opsets.get(domain, 0), ranges):
            fallback.append(key)
    return fallback


def _schema_exists(op_type: str, domain: str, version: int) -> bool:
    import onnx

    try:
        onnx.defs.get_schema(op_type, version, domain)
    except onnx.defs.SchemaError:
        return False
    return True
