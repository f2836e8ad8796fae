"""Optimization passes, one module each: thin wrappers around onnxruntime's own tools.

``edgeseq.optimization`` orchestrates them; each pass is file in, file out, and written atomically.
"""
