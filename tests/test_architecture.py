"""The layer test: edgeseq's shape, read from its source with ``ast`` (nothing is imported).

Rules (the plan is in issue 14; the layers are data below, so a new module is one line):

(a) no import cycle among edgeseq's modules; function-local and ``if TYPE_CHECKING:`` imports count (a
    cycle through an annotation is still two modules that cannot be understood one without the other);
(b) no upward import: a module imports only its own layer or lower ones; within the stages (L3) only the
    listed sideways edges; a deprecated shim may import its new home, and nothing imports a shim;
(c) the runtime imports nothing above it from edgeseq, never torch, and onnx only inside functions; the
    core (L0) imports only the standard library and edgeseq's L0;
(d) edgeseq's own modules are imported at the top of a module, except in a lazy re-export ``__getattr__``,
    a CLI handler (``edgeseq --help`` stays fast) and the listed exceptions;
(e) no module over 500 lines;
(f) no function body (first statement after the docstring to the end) over 60 lines.

Separately, ``tests/runtime/test_runtime_torch_free.py`` imports every runtime module with torch and onnx blocked.
"""

from __future__ import annotations

import ast
import fnmatch
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edgeseq"

# ------------------------------------------------------------------------------------------ the rules as data

# Deprecated modules kept for one release: they re-export their new home (any layer); nothing may import them.
SHIMS = ("edgeseq.passes", "edgeseq.accuracy", "edgeseq.onnx_checks", "edgeseq.export_rewrites")
# layer -> units (a top-level module or a package, with everything under it)
LAYERS: dict[int, tuple[str, ...]] = {
    0: ("edgeseq", "edgeseq.errors", "edgeseq.registry", "edgeseq.fileio", "edgeseq.config", "edgeseq.cpu", "edgeseq.presets", "edgeseq.memory", "edgeseq.budget",
        "edgeseq._version"),
    1: ("edgeseq.runtime",),
    2: ("edgeseq.graphs", "edgeseq.manifest", "edgeseq.metrics", "edgeseq.nn", "edgeseq.data", "edgeseq.checkpoint"),
    3: ("edgeseq.training", "edgeseq.export", "edgeseq.parity", "edgeseq.bench", "edgeseq.optimization",
        "edgeseq.web", *SHIMS),
    4: ("edgeseq.profiles", "edgeseq.pipeline", "edgeseq.cli", "edgeseq.__main__"),
}  # fmt: skip
LAYER_NAMES = {0: "L0 core", 1: "L1 runtime", 2: "L2 model & graph tools", 3: "L3 stages", 4: "L4 orchestration"}
# The stages are independent of each other but for these edges (importer unit, imported module pattern).
STAGE_EDGES = (
    ("edgeseq.export", "edgeseq.parity*"),  # export checks its own graph
    ("edgeseq.optimization", "edgeseq.bench.sidebyside"),  # the gate's side-by-side timing, nothing else of bench
)
# Function-local imports of edgeseq modules outside __getattr__ and the CLI, each with its reason.
LAZY_EXCEPTIONS = (
    # the checkpoint-based sampler needs torch; samples.py itself (folder reader, arrays) stays torch-free
    ("edgeseq.optimization.samples", "edgeseq.checkpoint"),
    ("edgeseq.optimization.samples", "edgeseq.data"),
)
LAZY_ALLOWED_IN = ("edgeseq.cli.*",)  # CLI handlers import the library inside the handler
RUNTIME_THIRD_PARTY = {"numpy", "onnxruntime", "PIL"}  # at module level; onnx only inside functions
NEVER_IN_RUNTIME = {"torch", "torchvision", "onnxscript", "onnxslim", "sklearn", "matplotlib", "openvino", "tqdm"}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60

# Deliberate exceptions, each with its reason. Entries are fnmatch patterns of the violation keys the test prints;
# an entry that matches nothing fails the test, so the list cannot outlive what it excuses.
ALLOWED = {
    "layer": (
        # edgeseq.bench.suite is the deprecated alias of edgeseq.pipeline.suite (one release), a re-export only
        "edgeseq.bench.suite -> edgeseq.pipeline.suite",
    ),
    "lazy": (
        # each benchmark worker process opens only its own backend: torch rows must not pay for onnxruntime's
        # import and ONNX rows must not import torch (their peak RSS is part of the measurement)
        "edgeseq.bench.plan -> edgeseq.bench.torch_backend",
        "edgeseq.bench.worker -> edgeseq.bench.*_backend",
    ),
}

# ------------------------------------------------------------------------------------------ reading the source


@dataclass(frozen=True)
class Import:
    """One imported name as the importing module sees it."""

    importer: str  # edgeseq.x.y
    target: str  # the module imported (for ``from pkg import name``: pkg.name when that is a module, else pkg)
    line: int
    function: str | None  # the enclosing function's qualified name, None at module level
    type_checking: bool  # under ``if TYPE_CHECKING:``


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every edgeseq module: {dotted name: file}."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@cache
def tree(name: str) -> ast.Module:
    path = modules()[name]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(name: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = name.split(".") if modules()[name].name == "__init__.py" else name.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


@cache
def imports(name: str) -> tuple[tuple[Import, ...], tuple[tuple[str, int, str | None], ...]]:
    """(edgeseq imports, third-party/stdlib imports as (top-level package, line, function)) of module ``name``."""
    own: list[Import] = []
    other: list[tuple[str, int, str | None]] = []

    def add(target: str, node: ast.stmt, function: str | None, guarded: bool) -> None:
        if target == "edgeseq" or target.startswith("edgeseq."):
            own.append(Import(name, target, node.lineno, function, guarded))
        elif target:
            other.append((target.split(".")[0], node.lineno, function))

    def visit(node: ast.AST, function: str | None, guarded: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child, function, guarded)
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(name, child)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    add(full if full in modules() else base, child, function, guarded)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, f"{function}.{child.name}" if function else child.name, guarded)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                visit(child, function, True)
            else:
                visit(child, function, guarded)

    visit(tree(name), None, False)
    return tuple(own), tuple(other)


def unit(name: str) -> tuple[int, str]:
    """(layer, unit) of an edgeseq module: the longest unit name that is the module or a package above it."""
    found = [
        (layer, u)
        for layer, units in LAYERS.items()
        for u in units
        if name == u or (u != "edgeseq" and name.startswith(u + "."))
    ]
    if not found:
        raise AssertionError(f"{name} is in no layer: add it (or its package) to LAYERS in {Path(__file__).name}")
    return max(found, key=lambda item: len(item[1]))


def is_shim(name: str) -> bool:
    return any(name == s or name.startswith(s + ".") for s in SHIMS)


def all_imports() -> list[Import]:
    return [imp for name in modules() for imp in imports(name)[0]]


# ------------------------------------------------------------------------------------------ checking


def check(rule: str, violations: dict[str, str]) -> None:
    """Fail on violations (key -> detail) that the allow-list does not hold, and on stale allow-list entries."""
    allowed = ALLOWED.get(rule, ())
    unexpected = {k: v for k, v in violations.items() if not any(fnmatch.fnmatchcase(k, p) for p in allowed)}
    stale = [p for p in allowed if not any(fnmatch.fnmatchcase(k, p) for k in violations)]
    assert not stale, f"{rule}: allow-list entries that match nothing (remove them): {stale}"
    assert not unexpected, f"{rule}: {len(unexpected)} violation(s):\n" + "\n".join(
        f"  {key}  ({detail})" for key, detail in sorted(unexpected.items())
    )


def test_every_module_is_in_a_layer() -> None:
    for name in modules():
        unit(name)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of modules that import each other in a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in graph.get(node, ()):
                    groups.append(sorted(group))
    return groups


def test_strongly_connected_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert sorted(strongly_connected(graph)) == [["a", "b", "c"], ["e"]]


def test_a_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for imp in all_imports():
        if imp.target != imp.importer and imp.target in graph:
            graph[imp.importer].add(imp.target)
    violations = {
        " | ".join(group): "a cycle: " + ", ".join(f"{a} -> {b}" for a in group for b in sorted(graph[a]) if b in group)
        for group in strongly_connected(graph)
    }
    check("cycle", violations)


def layer_problem(importer: str, target: str) -> str | None:
    """Why ``importer`` may not import ``target`` (rule b), or None when it may."""
    if is_shim(importer):
        return None  # a shim points at its new home, wherever that is
    if is_shim(target):
        return "imports a deprecated shim"
    (low, low_unit), (high, high_unit) = unit(importer), unit(target)
    if high > low:
        return f"{LAYER_NAMES[low]} imports {LAYER_NAMES[high]}"
    if high == low == 3 and low_unit != high_unit:
        if not any(low_unit == a and fnmatch.fnmatchcase(target, b) for a, b in STAGE_EDGES):
            return "a stage imports another stage"
    return None


def test_b_no_upward_or_sideways_import() -> None:
    violations: dict[str, str] = {}
    for imp in all_imports():
        problem = layer_problem(imp.importer, imp.target)
        if problem:
            where = f"{modules()[imp.importer].relative_to(ROOT)}:{imp.line}"
            violations[f"{imp.importer} -> {imp.target}"] = f"{where}: {problem}"
    check("layer", violations)


def test_c_runtime_imports_nothing_above_it() -> None:
    violations: dict[str, str] = {}
    for name in modules():
        layer = unit(name)[0]
        if layer > 1:
            continue
        own, other = imports(name)
        where = modules()[name].relative_to(ROOT)
        for imp in own:
            if unit(imp.target)[0] > layer:
                violations[f"{name} -> {imp.target}"] = f"{where}:{imp.line}: above {LAYER_NAMES[layer]}"
        for package, line, function in other:
            stdlib = package in sys.stdlib_module_names or package == "__future__"
            if layer == 0 and not stdlib:
                violations[f"{name} -> {package}"] = f"{where}:{line}: the core uses the standard library only"
            elif layer == 1 and package in NEVER_IN_RUNTIME:
                violations[f"{name} -> {package}"] = f"{where}:{line}: the runtime never imports {package}"
            elif layer == 1 and function is None and not stdlib and package not in RUNTIME_THIRD_PARTY:
                violations[f"{name} -> {package}"] = f"{where}:{line}: at module level; import it inside a function"
    check("runtime", violations)


def test_d_edgeseq_is_imported_at_the_top() -> None:
    violations: dict[str, str] = {}
    for imp in all_imports():
        if imp.function is None:
            continue
        if imp.function == "__getattr__" or any(fnmatch.fnmatchcase(imp.importer, p) for p in LAZY_ALLOWED_IN):
            continue
        if (imp.importer, imp.target) in LAZY_EXCEPTIONS:
            continue
        where = f"{modules()[imp.importer].relative_to(ROOT)}:{imp.line}"
        violations[f"{imp.importer} -> {imp.target}"] = f"{where}: inside {imp.function}()"
    check("lazy", violations)


def test_e_no_module_over_500_lines() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    check("module size", {name: f"{n} lines" for name, n in sizes.items() if n > MAX_MODULE_LINES})


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the function."""
    body = node.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    first = body[0]
    decorators = getattr(first, "decorator_list", [])
    start = min([first.lineno, *(d.lineno for d in decorators)])
    assert node.end_lineno is not None
    return node.end_lineno - start + 1


def test_body_lines_skips_the_docstring() -> None:
    source = 'def f():\n    """Doc.\n\n    More.\n    """\n    a = 1\n    return a\n'
    assert body_lines(ast.parse(source).body[0]) == 2  # type: ignore[arg-type]


def long_functions(name: str) -> dict[str, str]:
    """{qualified name: where and how long} for every function of module ``name`` over the limit."""
    found: dict[str, str] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualified = f"{prefix}.{child.name}"
                lines = body_lines(child)
                if lines > MAX_FUNCTION_LINES:
                    found[qualified] = f"{modules()[name].relative_to(ROOT)}:{child.lineno}: {lines} lines"
                walk(child, qualified)
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}.{child.name}")
            else:
                walk(child, prefix)

    walk(tree(name), name)
    return found


def test_f_no_function_over_60_lines() -> None:
    check("function length", {k: v for name in modules() for k, v in long_functions(name).items()})


@pytest.mark.parametrize(
    ("importer", "target", "problem"),
    [
        ("edgeseq.runtime.session", "edgeseq.nn.model", "L1 runtime imports L2 model & graph tools"),
        ("edgeseq.nn.model", "edgeseq.training.loop", "L2 model & graph tools imports L3 stages"),
        ("edgeseq.bench.runner", "edgeseq.export.api", "a stage imports another stage"),
        ("edgeseq.bench.runner", "edgeseq.optimization.run", "a stage imports another stage"),
        ("edgeseq.optimization.gate", "edgeseq.bench.runner", "a stage imports another stage"),
        ("edgeseq.training.loop", "edgeseq.passes.cpuinfo", "imports a deprecated shim"),
        ("edgeseq.export.api", "edgeseq.parity.check", None),
        ("edgeseq.optimization.gate", "edgeseq.bench.sidebyside", None),
        ("edgeseq.passes.cpuinfo", "edgeseq.optimization.int8", None),
        ("edgeseq.cli.train_cmd", "edgeseq.training", None),
        ("edgeseq.checkpoint", "edgeseq.nn", None),
        ("edgeseq.config", "edgeseq.errors", None),
        ("edgeseq.export.metadata", "edgeseq", None),  # edgeseq.__version__: the L0 package itself
    ],
)
def test_the_layer_rule_on_made_up_edges(importer: str, target: str, problem: str | None) -> None:
    """The rule reads as the plan says, also for edges the code does not have (so a broken rule cannot pass)."""
    assert layer_problem(importer, target) == problem
