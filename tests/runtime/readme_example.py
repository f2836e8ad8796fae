"""The README's embedding example, verbatim from `from` to `print` (tested by test_runtime_readme.py)."""

import sys

from edgeseq.runtime import Predictor, reference_model

predictor = Predictor(reference_model())  # the shipped digits model; CPU, or CUDA when available
result = predictor.predict(sys.argv[1], top_k=3)  # a path, a PIL image or a uint8 array
print(result.label, f"{result.score:.2f}", result.top_k)  # e.g. 7 0.99 [('7', 0.99...), ...]

batch = predictor.predict([sys.argv[1], sys.argv[1]])  # a list gives a list of results
print(predictor.providers, [r.label for r in batch])
