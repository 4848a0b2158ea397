"""Feeding a multi-object tracker: the embeddings of a video frame's detections.

A tracker (Deep SORT, e.g. ``deep_sort_realtime``; StrongSORT, BoT-SORT...) associates
detections across frames by motion and by appearance: it asks, for each frame, one
embedding per detected box. :class:`DetectionEmbedder` cuts the boxes out of the frame,
resizes them to the exported model's input and runs an :class:`OnnxEmbedder` on them.
onnxruntime, NumPy and Pillow only: no TensorFlow.
"""

import os

import numpy as np

from skreid.runtime._estimators import OnnxEmbedder

__all__ = ["BOX_FORMATS", "DetectionEmbedder", "crop_detections"]

#: accepted box layouts: corners (x1, y1, x2, y2) or left, top, width, height
BOX_FORMATS = ("xyxy", "ltwh")


def _check_frame(frame):
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] not in (1, 3) or 0 in frame.shape:
        raise ValueError(
            f"frame must be one image of shape (height, width, 3) (or (height, width, 1)), "
            f"got shape {frame.shape}."
        )
    if frame.dtype != np.uint8:
        raise ValueError(
            f"frame must be uint8 pixels in [0, 255] (a decoded video frame), got dtype "
            f"{frame.dtype}."
        )
    return frame


def _pixel_boxes(boxes, box_format, frame_shape):
    """Integer ``(x1, y1, x2, y2)`` boxes clipped to the frame (x2, y2 exclusive)."""
    if box_format not in BOX_FORMATS:
        raise ValueError(f"box_format must be one of {BOX_FORMATS}, got {box_format!r}.")
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        return np.zeros((0, 4), dtype=np.intp)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or not np.isfinite(boxes).all():
        raise ValueError(
            f"boxes must be a finite array of shape (n_boxes, 4) ({box_format}), got shape "
            f"{boxes.shape}."
        )
    if box_format == "ltwh":
        boxes = np.column_stack([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]])
    height, width = frame_shape[:2]
    # a box covers every pixel it touches; parts outside the frame are cut off
    x1 = np.clip(np.floor(boxes[:, 0]), 0, width)
    y1 = np.clip(np.floor(boxes[:, 1]), 0, height)
    x2 = np.clip(np.ceil(boxes[:, 2]), 0, width)
    y2 = np.clip(np.ceil(boxes[:, 3]), 0, height)
    empty = np.flatnonzero((x2 <= x1) | (y2 <= y1))
    if empty.size:
        i = int(empty[0])
        raise ValueError(
            f"boxes[{i}] = {boxes[i].round(2).tolist()} (as x1, y1, x2, y2) has no pixel "
            f"inside the {width}x{height} frame ({empty.size} such box(es)); drop empty or "
            f"outside detections before embedding them (box_format={box_format!r})."
        )
    return np.column_stack([x1, y1, x2, y2]).astype(np.intp)


def crop_detections(frame, boxes, size, *, box_format="xyxy"):
    """Cut the boxes out of a frame and resize each crop to ``size`` (bilinear, Pillow).

    Parameters
    ----------
    frame : ndarray of shape (H, W, 3), uint8
        One video frame.
    boxes : array-like of shape (n_boxes, 4)
        Detections in pixels: ``(x1, y1, x2, y2)`` corners with ``box_format="xyxy"`` (a
        tracker's "ltrb"), ``(left, top, width, height)`` with ``"ltwh"``. A box covers
        every pixel it touches (its corners are rounded outwards); the parts outside the
        frame are cut off; a box with no pixel inside raises ValueError.
    size : (int, int)
        ``(height, width)`` of the crops.
    box_format : {"xyxy", "ltwh"}, default="xyxy"

    Returns
    -------
    crops : ndarray of shape (n_boxes, height, width, channels), uint8

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.runtime import crop_detections
    >>> frame = np.zeros((100, 200, 3), dtype=np.uint8)
    >>> crop_detections(frame, [[10, 20, 42, 84], [150, 0, 210, 99]], (128, 64)).shape
    (2, 128, 64, 3)
    """
    from PIL import Image

    frame = _check_frame(frame)
    height, width = (int(v) for v in size)
    pixel_boxes = _pixel_boxes(boxes, box_format, frame.shape)
    crops = np.empty((len(pixel_boxes), height, width, frame.shape[2]), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(pixel_boxes):
        crop = frame[y1:y2, x1:x2]
        image = Image.fromarray(crop[..., 0] if crop.shape[2] == 1 else crop)
        # Pillow's bilinear filter widens with the reduction: antialiased downscaling
        resized = np.asarray(image.resize((width, height), Image.BILINEAR))
        crops[i] = resized.reshape(height, width, frame.shape[2])
    return crops


class DetectionEmbedder:
    """Embeddings of a video frame's detections, for a multi-object tracker.

    Each box is cut out of the frame, resized to the exported model's input size and
    embedded by an :class:`OnnxEmbedder` (onnxruntime only, no TensorFlow). The result is
    what Deep SORT style trackers take as appearance features, e.g.
    ``deep_sort_realtime``'s ``DeepSort(embedder=None).update_tracks(detections,
    embeds=...)`` (see the user guide, "Feeding a tracker").

    Parameters
    ----------
    embedder : OnnxEmbedder or str or path-like
        A fitted :class:`OnnxEmbedder`, or the ``.onnx`` file of an exported
        :class:`~skreid.reid.TripletEmbedder` (opened with the default settings).
    box_format : {"xyxy", "ltwh"}, default="xyxy"
        Layout of the boxes: corners ``(x1, y1, x2, y2)`` (a tracker's "ltrb"), or
        ``(left, top, width, height)``, the layout of ``deep_sort_realtime``'s detections.
    bgr : bool, default=False
        Frames are BGR (OpenCV's ``VideoCapture``); reversed to RGB before embedding.

    Attributes
    ----------
    embedder_ : OnnxEmbedder
        The fitted runtime estimator.
    crop_size_ : (int, int)
        ``(height, width)`` the crops are resized to (the exported input size).

    Examples
    --------
    >>> from skreid.runtime import DetectionEmbedder  # doctest: +SKIP
    >>> embed = DetectionEmbedder("embedder.onnx", box_format="ltwh")  # doctest: +SKIP
    >>> embed(frame, [[12, 30, 40, 96], [200, 28, 38, 90]]).shape  # doctest: +SKIP
    (2, 2560)
    """

    def __init__(self, embedder, *, box_format="xyxy", bgr=False):
        if isinstance(embedder, (str, os.PathLike)):
            embedder = OnnxEmbedder(embedder).fit()
        if not isinstance(embedder, OnnxEmbedder) or not hasattr(embedder, "metadata_"):
            raise TypeError(
                f"embedder must be a fitted skreid.runtime.OnnxEmbedder or the path of an "
                f"exported .onnx file, got {type(embedder).__name__}."
            )
        if box_format not in BOX_FORMATS:
            raise ValueError(f"box_format must be one of {BOX_FORMATS}, got {box_format!r}.")
        self.embedder_ = embedder
        self.box_format = box_format
        self.bgr = bool(bgr)
        height, width, self._channels = embedder.input_shape_
        self.crop_size_ = (height, width)
        # the export records the fit data's pixel scale: [0, 1] floats or [0, 255] pixels
        self._scale = (1.0 / 255.0 if embedder.metadata_["input"]["scale"].startswith(
            "pixels in [0, 1]") else 1.0)
        self._n_dims = None

    def crops(self, frame, boxes):
        """The detections cut out and resized: ``(n_boxes, height, width, channels)`` uint8."""
        frame = _check_frame(frame)
        if frame.shape[2] != self._channels:
            raise ValueError(
                f"frame has {frame.shape[2]} channel(s) but the model {self.embedder_.path_!r} "
                f"takes {self._channels}."
            )
        if self.bgr and frame.shape[2] == 3:
            frame = frame[..., ::-1]
        return crop_detections(frame, boxes, self.crop_size_, box_format=self.box_format)

    def __call__(self, frame, boxes):
        """Embeddings of the detections, one row per box (in the order of ``boxes``).

        Parameters
        ----------
        frame : ndarray of shape (H, W, 3), uint8
        boxes : array-like of shape (n_boxes, 4)
            In ``box_format``; see :func:`crop_detections` for the rounding and clipping.

        Returns
        -------
        embeddings : ndarray of shape (n_boxes, n_dims), float32
            L2-normalised (the tracker's cosine distance is ``1 - a @ b``).
        """
        crops = self.crops(frame, boxes)
        if len(crops) == 0:  # no detection in this frame: no onnxruntime call
            return np.zeros((0, self._n_dims or 0), dtype=np.float32)
        embeddings = self.embedder_.transform(crops.astype(np.float32) * self._scale)
        self._n_dims = embeddings.shape[1]
        return embeddings
