"""Model files before ONNX Runtime opens them: readers of the ONNX and ORT formats and the checks on them.

* :mod:`~edgeseq.runtime.modelfile.onnx_reader`: a protobuf wire-format reader of ``ModelProto``;
* :mod:`~edgeseq.runtime.modelfile.ort_reader`: a bounds-checked reader of ORT-format flatbuffers;
* :mod:`~edgeseq.runtime.modelfile.policy`: containment of external data, operator domains, size,
  the manifest's sha256 (:func:`~edgeseq.runtime.modelfile.policy.check_model_file`).

The public names are re-exported by :mod:`edgeseq.runtime.safety`. Standard library only.
"""
