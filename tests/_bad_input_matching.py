"""Bad input to matching beyond single crops (tracklets, cameras, camera normalisation), as
rows of tests/test_bad_input.py's CALL_CASES table: ``(id, action, error type, pattern)``.

Each action is a zero-argument callable; the table's test runs it in an empty folder, checks
the error type and that the message names what is wrong, and that nothing was written.
"""

import numpy as np

RNG = np.random.RandomState(7)
IMAGES = RNG.randint(0, 256, (12, 16, 8, 3)).astype(np.uint8)
IDS = np.repeat(np.arange(6), 2)
CAMS = np.tile([1, 2], 6)
FEATURES = RNG.rand(12, 4)


def _evaluate(**kwargs):
    from skreid.metrics import evaluate_reid

    base = dict(query_cameras=CAMS)
    return lambda: evaluate_reid(FEATURES, IDS, **{**base, **kwargs})


def _fitted(**params):
    from skreid.reid import PCAReID

    return PCAReID(n_components=3, **params).fit(IMAGES, IDS).set_gallery(IMAGES, IDS,
                                                                          cameras=CAMS)


def _stats():
    from skreid.metrics.pairwise import CameraStatistics

    return CameraStatistics(min_samples=1).fit(FEATURES, CAMS)


def _index(**params):
    from skreid.search import GalleryIndex

    return GalleryIndex(**params)


def _tracklet_index():
    return _index().add(FEATURES, cameras=CAMS, tracklets=IDS * 10 + CAMS)


def _changed_normalization():
    est = _fitted(camera_normalization="center").set_params(camera_normalization="whiten")
    return est.predict(IMAGES)


def _damaged_stats():
    from skreid.metrics.pairwise import CameraStatistics

    values = _stats().to_dict()
    values["means"] = values["means"][:1]
    return CameraStatistics.from_dict(values)


def _pool(**kwargs):
    from skreid.metrics.pairwise import pool_tracklets

    return lambda: pool_tracklets(FEATURES, kwargs.pop("tracklets", IDS), **kwargs)


def _normalize(**kwargs):
    from skreid.metrics.pairwise import camera_normalize

    return lambda: camera_normalize(FEATURES, kwargs.pop("cameras", CAMS), **kwargs)


MATCHING_CALL_CASES = [
    # evaluate_reid: tracklets
    ("evaluate-query-tracklets-length", _evaluate(query_tracklets=[1, 2, 3]), ValueError,
     r"query_tracklets has 3 entries but query_features has 12"),
    ("evaluate-gallery-tracklets-length",
     _evaluate(gallery_features=FEATURES.copy(), gallery_ids=IDS, gallery_cameras=CAMS,
               gallery_tracklets=[1, 2]), ValueError,
     r"gallery_tracklets has 2 entries but gallery_features has 12"),
    ("evaluate-tracklet-mixes-cameras", _evaluate(query_tracklets=IDS), ValueError,
     r"query_tracklets: tracklet 0 mixes camera values \[1, 2\]"),
    ("evaluate-tracklet-mixes-identities", _evaluate(query_tracklets=CAMS), ValueError,
     r"query_tracklets: tracklet 1 mixes identity values"),
    ("evaluate-tracklet-float-ids", _evaluate(query_tracklets=np.arange(12) + 0.5), ValueError,
     r"query_tracklets must hold ints or strings"),
    ("evaluate-tracklet-pooling", _evaluate(tracklet_pooling="median"), ValueError,
     r"tracklet_pooling must be one of \['mean', 'max'\], got 'median'"),
    ("evaluate-tracklets-precomputed",
     lambda: __import__("skreid.metrics", fromlist=["x"]).evaluate_reid(
         np.ones((3, 3)), [0, 1, 2], metric="precomputed", query_tracklets=[0, 1, 2]),
     ValueError, r"query_tracklets needs features, not metric='precomputed'"),
    # evaluate_reid: camera normalisation
    ("evaluate-camera-normalization-mode", _evaluate(camera_normalization="zca"), ValueError,
     r"camera_normalization must be one of \[None, 'center', 'whiten'"),
    ("evaluate-camera-normalization-no-cameras", _evaluate(query_cameras=None,
                                                           camera_normalization="center"),
     ValueError, r"camera_normalization needs the cameras"),
    ("evaluate-camera-normalization-unfitted",
     _evaluate(camera_normalization=__import__(
         "skreid.metrics.pairwise", fromlist=["x"]).CameraStatistics()), ValueError,
     r"not fitted"),
    ("evaluate-cameras-length", _evaluate(query_cameras=CAMS[:3],
                                          camera_normalization="center"), ValueError,
     r"query_cameras has 3 entries"),
    # pool_tracklets / tracklet pooling
    ("pool-empty-tracklet-after-filtering", _pool(weights=np.where(IDS == 4, 0.0, 1.0)),
     ValueError, r"tracklet 4 is empty after filtering"),
    ("pool-negative-weights", _pool(weights=-np.ones(12)), ValueError,
     r"weights must be 12 finite non-negative numbers"),
    ("pool-tracklets-length", _pool(tracklets=[1, 2]), ValueError,
     r"tracklets has 2 entries but X has 12"),
    ("pool-unknown-pooling", _pool(pooling="median"), ValueError, r"pooling must be one of"),
    # CameraStatistics / camera_normalize
    ("camera-normalize-cameras-length", _normalize(cameras=CAMS[:4]), ValueError,
     r"cameras has 4 entries but X has 12"),
    ("camera-normalize-mode", _normalize(mode="zca"), ValueError,
     r"mode must be one of \['center', 'whiten'\], got 'zca'"),
    ("camera-normalize-min-samples", _normalize(min_samples=0), ValueError,
     r"min_samples must be an int >= 1, got 0"),
    ("camera-stats-transform-length", lambda: _stats().transform(FEATURES, CAMS[:2]),
     ValueError, r"cameras has 2 entries but X has 12"),
    ("camera-stats-transform-width", lambda: _stats().transform(FEATURES[:, :2], CAMS),
     ValueError, r"X has 2 features but the camera statistics were fitted on 4"),
    ("camera-stats-unfitted", lambda: __import__(
        "skreid.metrics.pairwise", fromlist=["x"]).CameraStatistics().transform(FEATURES),
     ValueError, r"not fitted: call fit\(X, cameras\) first"),
    ("camera-stats-string-vs-int", lambda: _stats().transform(FEATURES, CAMS.astype(str)),
     ValueError, r"cameras \(<U21\) cannot be compared"),
    ("camera-stats-damaged-dict", _damaged_stats, ValueError,
     r"not valid camera statistics \(arrays of inconsistent shapes\)"),
    # the estimators' query methods
    ("reid-kneighbors-cameras-length", lambda: _fitted().kneighbors(IMAGES, 2,
                                                                    cameras=CAMS[:5]),
     ValueError, r"cameras has 5 entries but X has 12"),
    ("reid-score-cameras-length", lambda: _fitted().score(IMAGES, IDS, cameras=CAMS[:5]),
     ValueError, r"cameras has 5 entries but X has 12"),
    ("reid-predict-tracklets-length", lambda: _fitted().predict(IMAGES, tracklets=[1, 2]),
     ValueError, r"tracklets has 2 entries but X has 12"),
    ("reid-score-tracklet-mixes-identities",
     lambda: _fitted().score(IMAGES, IDS, tracklets=CAMS), ValueError,
     r"tracklets: tracklet 1 mixes identity values"),
    ("reid-set-gallery-tracklet-mixes-cameras",
     lambda: _fitted().set_gallery(IMAGES, IDS, cameras=CAMS, tracklets=IDS), ValueError,
     r"tracklets: tracklet 0 mixes camera values \[1, 2\]"),
    ("reid-set-gallery-tracklets-length",
     lambda: _fitted().set_gallery(IMAGES, IDS, tracklets=[0, 1]), ValueError,
     r"tracklets has 2 entries but X has 12"),
    ("reid-exclude-without-cameras",
     lambda: _fitted().kneighbors(IMAGES, 2, exclude_same_camera=True), ValueError,
     r"exclude_same_camera=True needs the queries' cameras="),
    ("reid-camera-rule-gallery-without-cameras",
     lambda: _fitted().set_gallery(IMAGES, IDS).score(IMAGES, IDS, cameras=CAMS),
     ValueError, r"the gallery has none: call set_gallery\(X, y, cameras=\.\.\.\)"),
    ("reid-camera-normalization-param", lambda: _fitted(camera_normalization="zca"),
     ValueError, r"camera_normalization"),
    ("reid-camera-normalization-changed", _changed_normalization, ValueError,
     r"camera_normalization was changed to 'whiten'.*call set_gallery"),
    # GalleryIndex
    ("index-tracklet-mixes-cameras",
     lambda: _index().add(FEATURES, cameras=CAMS, tracklets=IDS), ValueError,
     r"tracklets: tracklet 0 mixes camera values \[1, 2\]"),
    ("index-tracklet-other-camera",
     lambda: _tracklet_index().add(FEATURES[:1], cameras=[2], tracklets=[1]), ValueError,
     r"tracklet '1' is in the index with camera 1, and these crops have camera 2"),
    ("index-tracklets-length", lambda: _index().add(FEATURES, tracklets=[1, 2, 3]),
     ValueError, r"tracklets has 3 entries but embeddings has 12"),
    ("index-keys-and-tracklets",
     lambda: _index().add(FEATURES[:2], keys=["a", "b"], tracklets=[1, 1]), ValueError,
     r"keys= and tracklets= cannot be combined"),
    ("index-crops-into-image-index",
     lambda: _index().add(FEATURES[:2]).add(FEATURES[:2], tracklets=[1, 1]), ValueError,
     r"this index holds single images"),
    ("index-images-into-tracklet-index", lambda: _tracklet_index().add(FEATURES[:2]),
     ValueError, r"this index pools tracklets: add\(\.\.\., tracklets=\.\.\.\)"),
    ("index-camera-normalization-mode", lambda: _index(camera_normalization="zca"),
     ValueError, r"camera_normalization must be one of"),
    ("index-unknown-pooling", lambda: _index(tracklet_pooling="median"), ValueError,
     r"tracklet_pooling must be one of \['mean', 'max'\], got 'median'"),
    ("index-query-cameras-length",
     lambda: _index(camera_normalization="center").add(FEATURES, cameras=CAMS).search(
         FEATURES, k=2, query_cameras=[1, 2]), ValueError,
     r"query_cameras has 2 entries for 12 queries"),
]
