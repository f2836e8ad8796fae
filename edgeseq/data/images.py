"""Image datasets for classification: in-memory pixel arrays and image folders (ImageFolder layout)."""

from __future__ import annotations

from collections.abc import Sequence, Sized
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from edgeseq.errors import InputError
from edgeseq.runtime.extensions import IMAGE_EXTENSIONS
from edgeseq.runtime.preprocess import preprocess_image


class ArrayImageDataset(Dataset):
    """Images held as uint8 arrays, preprocessed once with the model's preprocessing spec.

    Small datasets (digits) fit in memory after preprocessing, so each epoch costs no decoding.
    """

    def __init__(self, pixels: Sequence[np.ndarray] | np.ndarray, targets: Sequence[int], preprocess: Any) -> None:
        self.tensors = torch.from_numpy(np.stack([preprocess_image(p, preprocess) for p in pixels]))
        self.targets = [int(t) for t in targets]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.tensors[index], self.targets[index]


def scan_image_folder(root: str | Path) -> tuple[list[Path], list[int], list[str]]:
    """List ``root/<class>/<image>`` files: (paths, class indices, class names sorted).

    Raises:
        InputError: the folder is missing, has no class subfolders, or a class has no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"data.root {str(root)!r} is not a folder; expected one subfolder of images per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InputError(f"data.root {str(root)!r} has no class subfolders; expected root/<class>/<image files>")
    paths, targets = [], []
    for index, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not files:
            raise InputError(f"class folder {str(root / name)!r} has no images ({', '.join(IMAGE_EXTENSIONS)})")
        paths.extend(files)
        targets.extend([index] * len(files))
    return paths, targets, classes


class ImageFileDataset(Dataset):
    """Image files decoded and preprocessed on access (for folders too big to hold in memory)."""

    def __init__(self, paths: Sequence[Path], targets: Sequence[int], preprocess: Any) -> None:
        self.paths = list(paths)
        self.targets = [int(t) for t in targets]
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(preprocess_image(self.paths[index], self.preprocess)), self.targets[index]


class RandomShift(Dataset):
    """Training-time augmentation: translate each image by up to ``max_shift`` pixels in H and W.

    The image is padded by replicating its border and cropped back at a random offset, so the output
    keeps the preprocessed size (the exported model never sees this: it is training-only). Offsets come
    from torch's global generator: the training loop seeds it, saves it in ``last.pt`` for ``--resume``,
    and DataLoader workers get a distinct seed per worker and epoch.
    """

    def __init__(self, dataset: Dataset, max_shift: int) -> None:
        self.dataset = dataset
        self.max_shift = int(max_shift)

    def __len__(self) -> int:
        return len(cast(Sized, self.dataset))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, target = self.dataset[index]
        m = self.max_shift
        if m <= 0:
            return image, target
        padded = F.pad(image[None], (m, m, m, m), mode="replicate")[0]
        dy, dx = (int(v) for v in torch.randint(0, 2 * m + 1, (2,)))
        return padded[:, dy : dy + image.shape[1], dx : dx + image.shape[2]].contiguous(), target
