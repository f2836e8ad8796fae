"""Memory limits for models and inputs from elsewhere (issue 20): estimate, refuse, split, isolate.

Bomb models (``memory_bombs``) make tensors of 12 GB from a few hundred bytes; they are only ever
*estimated* in this process, with explicit limits, and *run* only in child processes whose address
space is capped (``child_limits.run_limited``), so no test can take this machine's memory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from child_limits import run_limited
from memory_bombs import DIGITS, KINDS, bomb_model
from PIL import Image

from edgeseq.errors import InferenceError, InputError, ResourceLimitError
from edgeseq.memory import cgroup_memory_limit, format_bytes, meminfo_total_bytes, memory_limit, parse_bytes
from edgeseq.runtime import Predictor
from edgeseq.runtime.limits import MemoryPlanner, check_model_memory, declared_feeds, estimate_memory
from edgeseq.runtime.modelfile.graph_reader import read_graph

STATIC_KINDS = [k for k in KINDS if k != "dynamic"]
GIB = 1024**3


# ------------------------------------------------------------------ the limit


def test_parse_and_format_sizes() -> None:
    assert (
        parse_bytes("8G") == 8 * GIB and parse_bytes("512MiB") == 512 * 1024**2 and parse_bytes("1.5g") == 3 * GIB // 2
    )
    assert parse_bytes("1000") == 1000 and parse_bytes(4096) == 4096
    assert format_bytes(3 * GIB // 2) == "1.5 GiB" and format_bytes(10) == "10 B"
    for bad in ("", "x", "-1", "0", "nanG", "1e400", "8 GB of RAM"):
        with pytest.raises(Exception, match=r"expected a (positive )?size such as 8G"):
            parse_bytes(bad)


def test_limit_from_the_environment_or_half_the_machine(monkeypatch) -> None:
    monkeypatch.setenv("EDGESEQ_MEMORY_LIMIT", "3G")
    assert memory_limit() == 3 * GIB and memory_limit("1G") == GIB
    monkeypatch.delenv("EDGESEQ_MEMORY_LIMIT")
    machine = meminfo_total_bytes()
    assert machine and memory_limit() <= machine // 2 + 1
    monkeypatch.setenv("EDGESEQ_MEMORY_LIMIT", "lots")
    with pytest.raises(Exception, match="EDGESEQ_MEMORY_LIMIT: got 'lots'"):
        memory_limit()


def test_cgroup_limits_v1_and_v2(tmp_path: Path) -> None:
    (tmp_path / "a/b").mkdir(parents=True)
    (tmp_path / "a/memory.max").write_text("1073741824\n")
    (tmp_path / "a/b/memory.max").write_text("max\n")
    assert cgroup_memory_limit(tmp_path, "0::/a/b\n") == GIB  # an ancestor's limit counts
    (tmp_path / "memory/x").mkdir(parents=True)
    (tmp_path / "memory/x/memory.limit_in_bytes").write_text("536870912\n")
    assert cgroup_memory_limit(tmp_path, "4:memory:/x\n0::/a/b\n") == GIB // 2
    (tmp_path / "memory/x/memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    assert cgroup_memory_limit(tmp_path, "4:memory:/x\n") is None


# ------------------------------------------------------------------ the estimate


def test_estimate_of_the_shipped_model_is_complete_and_grows_with_the_batch() -> None:
    graph = read_graph(DIGITS)
    assert graph is not None and declared_feeds(graph) == {"images": (1, 1, 32, 32)}
    one = estimate_memory(graph, {"images": (1, 1, 32, 32)})
    many = estimate_memory(graph, {"images": (64, 1, 32, 32)})
    assert one.complete and one.too_small is None
    # weights: the file's initializers (343 KiB); the first conv's output (16x32x32 float32) is the largest tensor
    assert 340_000 < one.initializer_bytes < 360_000
    assert one.largest == ("Conv", "/backbone/body/body.0/Conv_output_0", 16 * 32 * 32 * 4)
    assert many.peak_bytes == 64 * one.peak_bytes and many.output_bytes == 64 * 10 * 4


@pytest.mark.parametrize("height", [4, 5, 32, 77, 300])
def test_inferred_output_shapes_match_onnxruntime(height: int) -> None:
    """The shape rules agree with what ONNX Runtime computes (the dynamic height changes every shape)."""
    import onnxruntime as ort

    graph = read_graph(DIGITS)
    session = ort.InferenceSession(str(DIGITS), providers=["CPUExecutionProvider"])
    x = np.zeros((3, 1, height, 32), np.float32)
    (logits,) = session.run(None, {"images": x})
    from edgeseq.runtime.shapes import infer

    inference = infer(graph, {"images": x.shape})
    assert inference.values["logits"].shape == logits.shape
    assert not inference.unknown_ops


@pytest.mark.parametrize("kind", STATIC_KINDS)
def test_every_kind_of_bomb_is_refused_by_the_estimate(tmp_path: Path, kind: str) -> None:
    path = bomb_model(tmp_path, kind, elements=3_000_000_000)  # 12 GB of float32 from a ~400 kB file
    assert path.stat().st_size < 400_000
    with pytest.raises(ResourceLimitError) as info:
        check_model_memory(path, limit="8G")
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "above the memory limit of 8.0 GiB" in message
    assert re.search(rf"largest: {'Range' if kind == 'Range' else kind} '\w+' makes 11\.2 GiB", message), message
    assert info.value.needed > 12e9 and info.value.limit == 8 * GIB


@pytest.mark.parametrize("kind", STATIC_KINDS)
def test_a_small_branch_of_each_kind_is_accepted_and_gives_the_digits_answers(tmp_path: Path, kind: str) -> None:
    path = bomb_model(tmp_path, kind, elements=1024)
    x = np.random.default_rng(0).random((3, 1, 32, 32), dtype=np.float32)
    got = Predictor(path, threads=1, memory_limit="1G").run(x)["logits"]
    want = Predictor(DIGITS, threads=1).run(x)["logits"]
    np.testing.assert_allclose(got, want, atol=1e-6)  # the branch adds sum(zeros) = 0


def test_predictor_and_cli_refuse_a_bomb_before_running_it(tmp_path: Path, monkeypatch) -> None:
    path = bomb_model(tmp_path, "ConstantOfShape")
    with pytest.raises(ResourceLimitError, match=r"run once at its declared input size \(images \[1, 1, 32, 32\]\)"):
        Predictor(path, threads=1, memory_limit="4G")
    image = tmp_path / "digit.png"
    Image.new("L", (8, 8), 255).save(image)
    child = run_limited(
        cli=["predict", str(path), str(image)], address_space=3 * GIB, env={"EDGESEQ_MEMORY_LIMIT": "1G"}
    )
    assert child.returncode == 2, child.stderr
    (line,) = child.stderr.strip().splitlines()
    assert line.startswith("edgeseq predict: error: model ") and "ConstantOfShape" in line


# ------------------------------------------------------------------ isolation under an address-space limit


def test_a_bomb_the_estimate_cannot_see_is_stopped_in_the_capped_child(tmp_path: Path) -> None:
    path = bomb_model(tmp_path, "dynamic")  # 12 GB, sized from the input's values at run time
    estimate = check_model_memory(path, limit="512M")
    assert estimate is not None and not estimate.complete  # so Predictor(isolate="auto") opens it in a child
    code = f"""
from edgeseq.runtime import Predictor
from edgeseq.errors import ResourceLimitError
try:
    Predictor({str(path)!r}, threads=1, memory_limit="512M")
except ResourceLimitError as exc:
    print("REFUSED", exc)
"""
    child = run_limited(code, address_space=4 * GIB)  # the caller itself stays far below the bomb
    assert child.returncode == 0, child.stderr
    assert "REFUSED model" in child.stdout and "ran out of memory while running it once" in child.stdout
    assert "limited to 512.0 MiB" in child.stdout


def test_isolated_first_contact_gives_the_same_results(tmp_path: Path) -> None:
    x = np.random.default_rng(1).random((2, 1, 32, 32), dtype=np.float32)
    isolated = Predictor(DIGITS, threads=1, isolate=True, memory_limit="1G")
    assert isolated.isolated and not Predictor(DIGITS, threads=1).isolated
    np.testing.assert_array_equal(isolated.run(x)["logits"], Predictor(DIGITS, threads=1).run(x)["logits"])
    with pytest.raises(Exception, match="isolate: got 'yes'"):
        Predictor(DIGITS, isolate="yes")


# ------------------------------------------------------------------ run(): split, check, wrap


class _CountingSession:
    """Wraps an InferenceSession and records the batch of every run."""

    def __init__(self, session) -> None:
        self.session, self.batches = session, []

    def run(self, names, feeds):
        self.batches.append(next(iter(feeds.values())).shape[0])
        return self.session.run(names, feeds)

    def __getattr__(self, name):
        return getattr(self.session, name)


def test_run_splits_a_huge_batch_like_predict_does() -> None:
    predictor = Predictor(DIGITS, threads=1, batch_size=32)
    counting = _CountingSession(predictor.session)
    predictor.session = counting
    x = np.random.default_rng(2).random((1000, 1, 32, 32), dtype=np.float32)
    logits = predictor.run(x)["logits"]
    assert logits.shape == (1000, 10) and max(counting.batches) == 32 and sum(counting.batches) == 1000
    whole = Predictor(DIGITS, threads=1, batch_size=1000).run(x)["logits"]
    np.testing.assert_allclose(logits, whole, atol=1e-5)  # batching changes no result beyond float rounding


def test_the_memory_limit_caps_the_calls_batch() -> None:
    predictor = Predictor(DIGITS, threads=1, batch_size=1000, memory_limit="2M")
    counting = _CountingSession(predictor.session)
    predictor.session = counting
    x = np.zeros((100, 1, 32, 32), np.float32)
    assert predictor.run(x)["logits"].shape == (100, 10)
    # 2 MiB - 343 KiB of weights leave room for a few 128 KiB samples per call (the arena doubles)
    assert 1 < max(counting.batches) <= 8, counting.batches
    plan = MemoryPlanner(read_graph(DIGITS), "2M")
    assert plan.samples_per_call({"images": (100, 1, 32, 32)}, 1000) == max(counting.batches)


def test_one_sample_over_the_limit_is_refused() -> None:
    predictor = Predictor(DIGITS, threads=1, memory_limit="64M")  # explicit: the default follows the machine
    with pytest.raises(ResourceLimitError, match=r"one sample \(images \[1, 1, 100000, 32\]\) needs an estimated"):
        predictor.run(np.zeros((2, 1, 100_000, 32), np.float32))  # 25 MB of input; 400 MB to run


@pytest.mark.parametrize("height", [1, 2, 3])
def test_inputs_below_the_models_minimum_size_are_refused(height: int) -> None:
    """Heights 1-3 used to give one constant answer: two 2x2 max-pools leave no row to read."""
    predictor = Predictor(DIGITS, threads=1)
    with pytest.raises(InputError, match=r"too small for this model: its MaxPool node .* shape \(1, \d+, 0, \d+\)"):
        predictor.run(np.ones((1, 1, height, 32), np.float32))
    assert predictor.run(np.ones((1, 1, 4, 32), np.float32))["logits"].shape == (1, 10)


def _tiny_graph(tmp_path: Path, name: str, nodes, inputs, outputs, initializers=()) -> Path:
    from onnx import helper, save

    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / name
    save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("elem", "good", "bad"),
    [
        ("BOOL", np.array([[True, False]]), np.array([[1, 0]], np.int64)),
        ("INT8", np.array([[1, -2]], np.int8), np.array([[1, -2]], np.float32)),
        ("STRING", np.array([["a", "b"]], object), np.array([[1.0, 2.0]], np.float32)),
    ],
)
def test_non_float_inputs_are_checked_by_type(tmp_path: Path, elem: str, good, bad) -> None:
    from onnx import TensorProto, helper

    kind = getattr(TensorProto, elem)
    path = _tiny_graph(
        tmp_path,
        f"{elem}.onnx",
        [helper.make_node("Identity", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", kind, ["n", 2])],
        [helper.make_tensor_value_info("y", kind, ["n", 2])],
    )
    predictor = Predictor(path, threads=1)
    assert (predictor.run(good)["y"] == good).all()
    with pytest.raises(InputError, match=r"input 'x': got dtype \w+; expected"):
        predictor.run(bad)


def test_an_input_without_a_declared_shape_takes_any_shape(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    path = _tiny_graph(
        tmp_path,
        "noshape.onnx",
        [helper.make_node("Relu", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    x = np.array([[-1.0, 2.0], [3.0, -4.0]], np.float32)
    np.testing.assert_array_equal(Predictor(path, threads=1).run(x)["y"], np.maximum(x, 0))


def test_onnxruntime_failures_are_wrapped_with_the_model_and_input(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    shape = numpy_helper.from_array(np.array([3], np.int64), "shape")
    path = _tiny_graph(
        tmp_path,
        "reshape.onnx",
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        [shape],
    )
    predictor = Predictor(path, threads=1)
    assert predictor.run(np.ones(3, np.float32))["y"].shape == (3,)
    with pytest.raises(InferenceError) as info:
        predictor.run(np.ones(4, np.float32))
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "'x' float32(4,)" in message


# ------------------------------------------------------------------ images that are not images


def test_closed_empty_and_unconvertible_pil_images_are_refused() -> None:
    predictor = Predictor(DIGITS, threads=1)
    closed = Image.new("L", (8, 8))
    closed.close()
    for image, expected in (
        (closed, "PIL image: Operation on closed image; expected an open, readable image"),
        (Image.new("L", (0, 0)), "PIL image: got size 0x0; expected a non-empty image"),
        (Image.new("LAB", (8, 8)), "PIL image: got mode 'LAB'; expected one of"),
        (Image.new("HSV", (8, 8)), "PIL image: got mode 'HSV'"),
    ):
        with pytest.raises(InputError, match=re.escape(expected)):
            predictor.predict(image)


def test_path_names_over_name_max_and_path_max_are_input_errors(tmp_path: Path) -> None:
    predictor = Predictor(DIGITS, threads=1)
    for name in ("a" * 300, "/".join(["b" * 200] * 30)):
        with pytest.raises(InputError, match="File name too long"):
            predictor.predict(str(tmp_path / name))
    child = run_limited(cli=["predict", str(DIGITS), str(tmp_path / ("c" * 300))])
    assert child.returncode == 2 and "File name too long" in child.stderr
    assert len(child.stderr.strip().splitlines()) == 1 and len(child.stderr) < 400  # the name is shortened


def test_the_estimate_is_recorded_in_json_readable_form(tmp_path: Path) -> None:
    """A refusal carries the numbers, for callers that word their own message."""
    path = bomb_model(tmp_path, "Tile", elements=10_000_000)
    with pytest.raises(ResourceLimitError) as info:
        check_model_memory(path, limit="16M")
    assert json.dumps({"needed": info.value.needed, "limit": info.value.limit})
    assert info.value.limit == 16 * 1024**2 and info.value.needed >= 40_000_000


@pytest.mark.parametrize("offset", ["²", "١٢", "-1", "1e3", ""])
def test_external_data_offsets_must_be_ascii_digits(tmp_path: Path, offset: str) -> None:
    """'²'.isdigit() is true and int('²') raises ValueError: the check used to let it through."""
    from onnx import TensorProto, helper

    from edgeseq.errors import ModelFileError
    from edgeseq.runtime.safety import check_model_file

    (tmp_path / "w.bin").write_bytes(np.zeros(2, np.float32).tobytes())
    w = helper.make_tensor("w", TensorProto.FLOAT, [2], vals=[0.0, 0.0])
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("offset", offset), ("length", "8")):
        w.external_data.add(key=key, value=value)
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFileError, match=r"external-data offset .* is not a non-negative integer"):
        check_model_file(path)
    with pytest.raises(ModelFileError):
        Predictor(path, threads=1)
