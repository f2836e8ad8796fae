"""The shared test kit: tiny models per task (from the registered test variants, built once per session),
a tiny checkpoint, model/graph factories; and the session settings (torch on one thread: the CI machine
has 2 cores shared by all tests).

Fixtures (helpers and the builders they use are in ``tests/testkit.py``):

    tiny_kit            TinyKit: ``tiny_kit.get("test_gru")``, ``tiny_kit.for_task("ctc", preprocess_in_graph=True)``
    tiny_classifier     TinyModel of ``test_rows_lstm`` (digits, 16x16 grayscale): .onnx .model .preprocess .checkpoint
    tiny_ctc            TinyModel of ``test_columns_ctc`` (text lines, 32 high, variable width, digits alphabet)
    tiny_checkpoint     a private copy of an untrained ``test_rows_lstm`` checkpoint at 16x32, in tmp_path/ckpt/best.pt
    make_model          factory: a tiny edgeseq torch model (tiny_model_config + overrides), eval mode, seeded
    preprocess_spec     factory: a PreprocessConfig at a tiny size
    graph_dims          factory: {input/output name: declared dims} of an ONNX file
    metadata_of         factory: the ModelMetadata embedded in an ONNX file
    perturb_initializer factory: copy an ONNX file with one float weight changed

The session-scoped models are shared: copy their files (``testkit.copy_model``) before changing them.

``--cpu-durations=N`` lists the N tests that used the most CPU time (this process and the children it
waited for; 0: all), which, unlike ``--durations``, does not grow when other jobs share the machine.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from testkit import TinyKit, TinyModel, make_tiny_checkpoint

os.environ.setdefault("OMP_NUM_THREADS", "1")

try:  # torch is optional: the runtime tests run without it
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - base install
    pass

TINY_SIZE = (16, 32)  # (height, width) of make_model's default input: smallcnn's two 2x2 pools leave 4x8

# ------------------------------------------------------------------------------------------ CPU time per test

_CPU_SECONDS: dict[str, float] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cpu-durations",
        type=int,
        default=None,
        metavar="N",
        help="show the N tests that used the most CPU time, setup and teardown included (0: all)",
    )


def _cpu_now() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    start = _cpu_now()
    yield
    _CPU_SECONDS[item.nodeid] = _cpu_now() - start


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    count = config.getoption("--cpu-durations")
    if count is None or not _CPU_SECONDS:
        return
    ranked = sorted(_CPU_SECONDS.items(), key=lambda item: item[1], reverse=True)
    terminalreporter.section("CPU time per test (user + system, this process and its children)")
    for nodeid, seconds in ranked[: count or None]:
        terminalreporter.write_line(f"{seconds:8.2f}s  {nodeid}")
    terminalreporter.write_line(f"{sum(_CPU_SECONDS.values()):8.2f}s  total over {len(ranked)} tests")


# ------------------------------------------------------------------------------------------ tiny models


@pytest.fixture(scope="session")
def tiny_kit(tmp_path_factory: pytest.TempPathFactory) -> TinyKit:
    """Builds the tiny model of any registered variant once per session (checkpoint, ONNX file, torch model)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    return TinyKit(tmp_path_factory.mktemp("tiny-kit"))


@pytest.fixture(scope="session")
def tiny_classifier(tiny_kit: TinyKit) -> TinyModel:
    """The classification model of the kit: ``test_rows_lstm`` (rows → LSTM → last), 16x16 grayscale digits."""
    return tiny_kit.for_task("classification")


@pytest.fixture(scope="session")
def tiny_ctc(tiny_kit: TinyKit) -> TinyModel:
    """The CTC model of the kit: ``test_columns_ctc`` (columns → LSTM → CTC), 32 high, variable width."""
    return tiny_kit.for_task("ctc")


@pytest.fixture(scope="session")
def _tiny_checkpoint_16x32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("tiny-checkpoint")
    return make_tiny_checkpoint("test_rows_lstm", folder / "best.pt", preprocess={"width": 32})


@pytest.fixture
def tiny_checkpoint(_tiny_checkpoint_16x32: Path, tmp_path: Path) -> Path:
    """A private copy of an untrained ``test_rows_lstm`` digits checkpoint at ``tmp_path/ckpt/best.pt``.

    The input is 16x32, not the variant's 16x16: with a non-square input an export test can tell the
    static width (32) from the dynamic height in the graph's declared dims.
    """
    path = tmp_path / "ckpt" / "best.pt"
    path.parent.mkdir()
    shutil.copyfile(_tiny_checkpoint_16x32, path)
    return path


# ------------------------------------------------------------------------------------------ factories


def tiny_preprocess(height: int = TINY_SIZE[0], width: int = TINY_SIZE[1], color: str = "L"):
    """A grayscale (or RGB) preprocessing spec at a tiny size."""
    from edgeseq.config import PreprocessConfig

    channels = 1 if color == "L" else 3
    return PreprocessConfig(height=height, width=width, color=color, mean=[0.5] * channels, std=[0.25] * channels)


def _make_model(num_outputs: int = 5, pre=None, **overrides):
    """A tiny edgeseq model in eval mode (seeded, so failures reproduce)."""
    import torch

    from edgeseq.nn import build_model, tiny_model_config

    torch.manual_seed(0)
    model = build_model(tiny_model_config(**overrides), pre or tiny_preprocess(), num_outputs)
    return model.eval()


def _graph_dims(path: Path) -> dict[str, list]:
    """{input/output name: declared dims (ints or symbolic names)}."""
    import onnx

    from edgeseq.graphs import dims

    proto = onnx.load(str(path), load_external_data=False)
    return {v.name: dims(v) for v in list(proto.graph.input) + list(proto.graph.output)}


def _metadata_of(path: Path):
    """The edgeseq ModelMetadata embedded in an ONNX file."""
    import onnx

    from edgeseq.runtime.metadata import ModelMetadata

    proto = onnx.load(str(path), load_external_data=False)
    return ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})


def _perturb_initializer(src: Path, dst: Path, name_contains: str = "", delta: float = 0.5) -> str:
    """Copy an ONNX model with one float weight changed by ``delta``; returns the initializer's name."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(src))
    for init in proto.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32 and arr.size > 4 and name_contains in init.name:
            arr = arr.copy()
            arr.flat[0] += delta
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
            onnx.save(proto, str(dst))
            return init.name
    raise AssertionError(f"no float initializer matching {name_contains!r}")


@pytest.fixture
def make_model():
    """Factory: ``make_model(num_outputs=5, pre=None, **ModelConfig overrides)`` -> tiny model in eval mode."""
    pytest.importorskip("torch")
    return _make_model


@pytest.fixture
def preprocess_spec():
    """Factory: ``preprocess_spec(height=16, width=32, color="L")`` -> PreprocessConfig."""
    return tiny_preprocess


@pytest.fixture
def graph_dims():
    """Factory: ``graph_dims(path)`` -> {input/output name: declared dims}."""
    pytest.importorskip("onnx")
    return _graph_dims


@pytest.fixture
def metadata_of():
    """Factory: ``metadata_of(path)`` -> the embedded ModelMetadata."""
    pytest.importorskip("onnx")
    return _metadata_of


@pytest.fixture
def perturb_initializer():
    """Factory: ``perturb_initializer(src, dst, name_contains="", delta=0.5)`` -> changed initializer name."""
    pytest.importorskip("onnx")
    return _perturb_initializer
