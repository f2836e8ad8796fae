"""The pinned onnxruntime-web files that ``edgeseq web`` copies into its pages (unmodified from npm).

``DIST_DIR`` holds them with ``VENDOR.json`` (version and sha256 of every file); edgeseq checks both.
"""

from pathlib import Path

__version__ = "1.30.0"  # the onnxruntime-web version; written by web/sync-vendor.mjs
DIST_DIR = Path(__file__).parent / "dist"
