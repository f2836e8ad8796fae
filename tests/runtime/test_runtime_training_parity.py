"""The runtime equals training: same preprocessing of real image files, same predictions as PyTorch.

The kit's tiny digits variant is trained for a few epochs with ``edgeseq.training.train`` (about 4 s on
one core), exported with ``edgeseq.export.export_checkpoint``, and its whole test split (360 real scans saved as PNG files) is compared.
"""

from __future__ import annotations

import numpy as np
import pytest
from testkit import save_pngs

from edgeseq.runtime import Predictor

pytestmark = pytest.mark.slow

# Logits of ORT vs PyTorch on the same float32 input: rounding-order differences only (measured
# ~1e-6 on this model); 1e-4 is far below any real mismatch (a wrong transform moves them by >1e-2).
LOGIT_ATOL = 1e-4
# Training for 6 epochs reaches ~0.9 test accuracy; 0.8 proves it learned, so agreement is not trivial.
TRAINED_ACCURACY_FLOOR = 0.8


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(onnx path, torch model, DataSplits, test PNG paths, test labels) for a freshly trained tiny model."""
    import warnings

    from edgeseq.checkpoint import model_from_checkpoint
    from edgeseq.config import TrainConfig
    from edgeseq.data import build_datasets
    from edgeseq.data.digits import load_digits_uint8
    from edgeseq.export import export_checkpoint
    from edgeseq.nn import tiny_config
    from edgeseq.training import train

    root = tmp_path_factory.mktemp("trained")
    # the kit's digits variant at 16x16 (8x8 scans are upscaled: resizing is exercised), trained for real
    cfg = tiny_config("test_rows_lstm")
    cfg.name = "runtime-parity"
    cfg.model.hidden_size = 16
    cfg.train = TrainConfig(epochs=6, batch_size=32, lr=0.01, device="cpu", progress=False, threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(cfg, root / "run", log=lambda _line: None)
    model, _ = model_from_checkpoint(result.best_checkpoint)
    path = root / "digits.onnx"
    export_checkpoint(result.best_checkpoint, path)
    splits = build_datasets(cfg)
    pixels, labels = load_digits_uint8()
    test_indices = list(splits.test.indices)
    pngs = save_pngs(pixels[test_indices], root / "test-pngs")
    return path, model, splits, pngs, labels[test_indices]


def test_runtime_preprocessing_of_png_files_equals_the_training_transform(trained):
    path, _, splits, pngs, labels = trained
    predictor = Predictor(path)
    training = np.stack([splits.test[i][0].numpy() for i in range(len(splits.test))])
    runtime = predictor.preprocess(pngs)
    # exact: both sides run the same numpy/Pillow code on the same pixels (PNG is lossless)
    np.testing.assert_array_equal(runtime, training)
    assert [splits.test[i][1] for i in range(len(splits.test))] == labels.tolist()


def test_runtime_preprocessing_equals_the_image_folder_dataset(trained):
    from edgeseq.config import PreprocessConfig
    from edgeseq.data.images import ImageFileDataset

    path, _, _, pngs, labels = trained
    dataset = ImageFileDataset(pngs[:50], labels[:50], PreprocessConfig(height=16, width=16))
    runtime = Predictor(path).preprocess(pngs[:50])
    np.testing.assert_array_equal(runtime, np.stack([dataset[i][0].numpy() for i in range(50)]))


def test_runtime_predictions_equal_pytorch_on_the_digits_test_set(trained):
    import torch

    path, model, splits, pngs, labels = trained
    images = torch.stack([splits.test[i][0] for i in range(len(splits.test))])
    with torch.no_grad():
        torch_logits = model(images).numpy()
    results = Predictor(path).predict(pngs, top_k=10)
    runtime_index = np.array([r.index for r in results])
    assert runtime_index.tolist() == torch_logits.argmax(1).tolist()
    assert float(np.mean(runtime_index == labels)) >= TRAINED_ACCURACY_FLOOR
    # top_k=10 lists every class: the runtime's scores are the softmax of the same logits
    runtime_probs = np.array([[dict(r.top_k)[str(c)] for c in range(10)] for r in results])
    torch_probs = torch.softmax(torch.from_numpy(torch_logits), 1).numpy()
    np.testing.assert_allclose(runtime_probs, torch_probs, atol=LOGIT_ATOL)
