"""Loading an exported ONNX file into an onnxruntime session, checked before any work."""

import numpy as np

from skreid.reid import REID_METRICS
from skreid.utils import apply_pixel_rule, check_images
from skreid.utils.onnx_metadata import (
    INPUT_NAME,
    KINDS,
    OPTIONAL_OUTPUTS,
    check_onnx_path,
    fitted_pixel_range,
    parse_metadata,
)


def import_onnxruntime():
    """Import onnxruntime, or raise an ImportError naming the extra that installs it."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError(
            "skreid.runtime needs onnxruntime: pip install 'skreid[runtime]' "
            "(or pip install onnxruntime)."
        ) from exc
    return onnxruntime


def load_session(path, kind=None, providers=None, n_threads=None):
    """Open an exported file: ``(session, metadata)``, or a clear error naming the file.

    Parameters
    ----------
    path : str or path-like
    kind : {"embedder", "petnet"}, optional
        Refuse a file of another kind.
    providers : list of str, optional
        onnxruntime execution providers (default: CPU).
    n_threads : int, optional
        ``intra_op_num_threads`` (default: onnxruntime's, one per physical core).
    """
    path = check_onnx_path(path)
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    if n_threads is not None:
        options.intra_op_num_threads = int(n_threads)
    try:
        session = ort.InferenceSession(path, sess_options=options,
                                       providers=providers or ["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types (Fail, InvalidGraph)
        raise ValueError(
            f"{path!r} is not a loadable ONNX model ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]})."
        ) from None
    meta = parse_metadata(session.get_modelmeta().custom_metadata_map, path, kind)
    metric = meta.get("metric", "euclidean")
    if meta["kind"] == "embedder" and (not isinstance(metric, str) or metric not in REID_METRICS):
        raise ValueError(
            f"{path!r}: the 'skreid' metadata has metric={metric!r:.80}, expected one of "
            f"{sorted(REID_METRICS)}; the file was changed after skreid exported it."
        )
    inputs = session.get_inputs()
    outputs = [o.name for o in session.get_outputs()]
    required, optional = KINDS[meta["kind"]], OPTIONAL_OUTPUTS[meta["kind"]]
    if ([i.name for i in inputs] != [INPUT_NAME] or not set(required) <= set(outputs)
            or not set(outputs) <= {*required, *optional} or len(set(outputs)) != len(outputs)):
        also = f" (and optionally {list(optional)})" if optional else ""
        raise ValueError(
            f"{path!r}: expected one input {INPUT_NAME!r} and outputs {list(required)}{also}, "
            f"found inputs {[i.name for i in inputs]} and outputs {outputs}; the file was "
            f"changed after skreid exported it."
        )
    return session, meta


def expected_image_shape(meta):
    """``(height, width, channels)`` of the graph input, ``None`` for a free size."""
    return tuple(None if v is None else int(v) for v in meta["input"]["shape"][1:])


def check_runtime_images(X, meta, path, name="X"):
    """Validate images against the exported input: a 4-D float32 array or ValueError.

    Checked before any inference, so a wrong size fails at once with the file's name and
    the shape it expects instead of inside onnxruntime. The pixels follow skreid's one
    pixel rule (:func:`skreid.utils.apply_pixel_rule`), on the scale the exported estimator
    was fitted on (:func:`skreid.utils.onnx_metadata.fitted_pixel_range`): the runtime
    accepts and refuses what the estimator does, and gives the graph the same values.
    """
    expected = expected_image_shape(meta)
    if getattr(X, "ndim", None) == 2 and None not in expected:
        # flat rows, as the estimator accepts with its image_shape parameter
        if X.shape[1] != int(np.prod(expected)):
            raise ValueError(
                f"{name} has {X.shape[1]} features per sample, but the ONNX model {path!r} "
                f"expects images of shape {expected} ({int(np.prod(expected))} values)."
            )
        X = check_images(X, image_shape=expected, name=name, dtype=None)
    X = check_images(X, allow_flat=False, name=name, dtype=None)
    got = X.shape[1:]
    if any(e is not None and e != g for e, g in zip(expected, got, strict=True)):
        shown = tuple("any" if e is None else e for e in expected)
        raise ValueError(
            f"{name} has images of shape {got} (height, width, channels), but the ONNX model "
            f"{path!r} expects images of shape {shown} (NHWC, {meta['input']['dtype']}, "
            f"{meta['input']['scale']}); resize them first (the exported "
            f"{meta['estimator'].rsplit('.', 1)[-1]} was fitted on that shape)."
        )
    owner = f"the {meta['estimator'].rsplit('.', 1)[-1]} exported to {path!r}"
    X, _ = apply_pixel_rule(X, fitted_pixel_range(meta), estimator=owner, name=name)
    return np.ascontiguousarray(X, dtype=np.float32)


def run_batches(session, X, batch_size, outputs=None):
    """Run ``session`` on ``X`` by batches; a list with one concatenated array per output
    (those named in ``outputs``, in that order; default: all, in the graph's order)."""
    outs = None
    for start in range(0, len(X), batch_size):
        res = session.run(outputs, {INPUT_NAME: X[start:start + batch_size]})
        outs = [[r] for r in res] if outs is None else [o + [r] for o, r in zip(outs, res,
                                                                                   strict=True)]
    return [np.concatenate(o) for o in outs]


def read_onnx_metadata(path):
    """The skreid metadata of an exported ONNX file, as a dict (needs onnxruntime only).

    Examples
    --------
    Not run by the test suite (``+SKIP``): it needs an exported file.

    >>> from skreid.runtime import read_onnx_metadata  # doctest: +SKIP
    >>> read_onnx_metadata("embedder.onnx")["estimator"]  # doctest: +SKIP
    'skreid.reid.TripletEmbedder'
    """
    return load_session(path)[1]
