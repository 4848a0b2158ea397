"""Bad input, table-driven: each case gets a clear error of the right type whose message names
the offending argument or file, and nothing is written (no file, no fitted estimator).

The cases are the defects of the adversarial audit (issue 13) and the bad inputs the other test
modules cover one by one; the CLI's bad arguments live in tests/cli/test_cli.py and the
CLI's user errors of issue 25 in tests/_bad_input_cli.py (collected here).
"""

import os
import re
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _bad_input_cli import CASES as CLI_USER_ERROR_CASES  # noqa: E402
from _bad_input_cli import cli_models, test_cli_user_error_exits_2  # noqa: E402, F401
from _bad_input_data import (  # noqa: E402
    jpeg_bytes,
    png_bomb,
    snapshot,
    write_image_folder,
    write_market,
    write_pets,
)
from _bad_input_matching import MATCHING_CALL_CASES  # noqa: E402

from skreid.cli import main  # noqa: E402
from skreid.cli._common import MARKER_FILE  # noqa: E402
from skreid.datasets import load_image_folder, load_market1501, load_oxford_pets  # noqa: E402
from skreid.metrics import cmc_curve, evaluate_reid  # noqa: E402
from skreid.plotting import plot_activation_maps  # noqa: E402
from skreid.runtime import crop_detections  # noqa: E402
from skreid.utils import PixelScaleWarning, check_images  # noqa: E402

RNG = np.random.RandomState(0)
IMAGES = RNG.randint(0, 256, (12, 16, 8, 3)).astype(np.uint8)
IDS = np.repeat(np.arange(6), 2)


# --------------------------------------------------------------------------- data on disk
def _stray_file(tmp):
    root = write_market(tmp / "data")
    (root / "bounding_box_train" / "holiday.jpg").write_bytes(jpeg_bytes(99))
    return lambda: load_market1501(root)


def _bomb(loader):
    def make(tmp):
        if loader == "market":
            root = write_market(tmp / "data")
            (root / "query" / "0005_c2s1_000009_01.jpg").write_bytes(png_bomb())
            return lambda: load_market1501(root)
        if loader == "pets":
            root = write_pets(tmp / "data")
            (root / "images" / "beagle_9.jpg").write_bytes(png_bomb())
            return lambda: load_oxford_pets(root, image_size=16)
        root = write_image_folder(tmp / "data")
        (root / "person0" / "big.png").write_bytes(png_bomb())
        return lambda: load_image_folder(root, image_size=16)
    return make


def _trimap_bomb(tmp):
    root = write_pets(tmp / "data")
    (root / "annotations" / "trimaps" / "Abyssinian_1.png").write_bytes(png_bomb())
    return lambda: load_oxford_pets(root, image_size=16)


def _corrupt(kind):
    def make(tmp):
        root = write_image_folder(tmp / "data")
        data = jpeg_bytes(5)
        payload = {"truncated": data[: len(data) // 2], "garbage": b"\x00\xff" * 40,
                   "empty": b"", "png-as-jpg": data[:20] + b"\x89PNG" * 10}[kind]
        (root / "person1" / "bad.jpg").write_bytes(payload)
        return lambda: load_image_folder(root, image_size=16)
    return make


def _dangling_link(tmp):
    root = write_image_folder(tmp / "data")
    os.symlink(tmp / "nowhere.jpg", root / "person0" / "gone.jpg")
    return lambda: load_image_folder(root, image_size=16)


def _link_loop(tmp):
    root = write_image_folder(tmp / "data")
    os.symlink(root / "person0" / "loop.jpg", root / "person0" / "loop.jpg")
    return lambda: load_image_folder(root, image_size=16)


def _market_link_loop(tmp):
    root = write_market(tmp / "data")
    link = root / "query" / "0007_c1s1_000001_01.jpg"
    os.symlink(link, link)
    return lambda: load_market1501(root)


def _non_utf8_list(tmp):
    root = write_pets(tmp / "data")
    (root / "annotations" / "list.txt").write_bytes(b"Abyssinian_1 1 1 1\n\xff\xfe caf\xe9\n")
    return lambda: load_oxford_pets(root, image_size=16)


def _bad_list_line(tmp):
    root = write_pets(tmp / "data")
    (root / "annotations" / "list.txt").write_text("Abyssinian_1 one 1 1\n")
    return lambda: load_oxford_pets(root, image_size=16)


def _unknown_breed(tmp):
    root = write_pets(tmp / "data")
    (root / "images" / "dragon_1.jpg").write_bytes(jpeg_bytes(3))
    return lambda: load_oxford_pets(root, image_size=16)


def _trimap_size(tmp):
    from PIL import Image

    root = write_pets(tmp / "data")
    Image.fromarray(np.ones((5, 7), np.uint8)).save(
        root / "annotations" / "trimaps" / "beagle_2.png")
    return lambda: load_oxford_pets(root, image_size=16)


def _no_identity_folders(tmp):
    root = tmp / "data"
    root.mkdir()
    (root / "a.jpg").write_bytes(jpeg_bytes(1))
    return lambda: load_image_folder(root)


def _empty_identity(tmp):
    root = write_image_folder(tmp / "data")
    (root / "nobody").mkdir()
    return lambda: load_image_folder(root)


def _missing_split(tmp):
    root = write_market(tmp / "data")
    for p in (root / "query").iterdir():
        p.unlink()
    (root / "query").rmdir()
    return lambda: load_market1501(root)


def _call(fn):
    return lambda tmp: fn


# (id, make(tmp) -> action, error type, pattern the message must match)
DATA_CASES = [
    ("market-stray-file", _stray_file, ValueError, r"holiday\.jpg"),
    ("market-missing-split", _missing_split, ValueError, r"query/"),
    ("market-bomb", _bomb("market"), ValueError, r"0005_c2s1_000009_01\.jpg.*too large"),
    ("folder-bomb", _bomb("folder"), ValueError, r"big\.png.*too large"),
    ("pets-bomb", _bomb("pets"), ValueError, r"beagle_9\.jpg.*too large"),
    ("pets-trimap-bomb", _trimap_bomb, ValueError, r"Abyssinian_1\.png.*too large"),
    ("folder-truncated-jpeg", _corrupt("truncated"), ValueError, r"bad\.jpg"),
    ("folder-garbage-bytes", _corrupt("garbage"), ValueError, r"bad\.jpg"),
    ("folder-empty-file", _corrupt("empty"), ValueError, r"bad\.jpg"),
    ("folder-mixed-format", _corrupt("png-as-jpg"), ValueError, r"bad\.jpg"),
    ("folder-dangling-symlink", _dangling_link, ValueError, r"gone\.jpg"),
    ("folder-symlink-loop", _link_loop, ValueError, r"loop\.jpg"),
    ("market-symlink-loop", _market_link_loop, ValueError, r"0007_c1s1_000001_01\.jpg"),
    ("pets-non-utf8-list", _non_utf8_list, ValueError, r"list\.txt.*UTF-8"),
    ("pets-bad-list-line", _bad_list_line, ValueError, r"list\.txt.*line 1"),
    ("pets-unknown-breed", _unknown_breed, ValueError, r"dragon_1\.jpg"),
    ("pets-trimap-size", _trimap_size, ValueError, r"beagle_2\.png"),
    ("folder-no-identities", _no_identity_folders, ValueError, r"no identity sub-folders"),
    ("folder-empty-identity", _empty_identity, ValueError, r"nobody"),
    ("folder-missing-root", _call(lambda: load_image_folder("/nonexistent/skreid")),
     FileNotFoundError, r"/nonexistent/skreid"),
    ("market-bad-on-error", _call(lambda: load_market1501(".", on_error="ignore")),
     ValueError, r"on_error"),
    ("folder-bad-image-size", _call(lambda: load_image_folder(".", image_size=(0, 4))),
     ValueError, r"image_size"),
]

# the cases whose file on_error="skip" drops, counted in one warning
SKIPPABLE = {"market-stray-file", "market-bomb", "folder-bomb", "pets-bomb", "pets-trimap-bomb",
             "folder-truncated-jpeg", "folder-garbage-bytes", "folder-empty-file",
             "folder-mixed-format", "folder-dangling-symlink", "folder-symlink-loop",
             "market-symlink-loop", "pets-unknown-breed", "pets-trimap-size"}


@pytest.mark.parametrize("case, make, error, pattern", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_data_files_raise_a_named_error_and_write_nothing(tmp_path, case, make, error,
                                                              pattern):
    action = make(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(error, match=re.compile(pattern, re.S)):
        action()
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case, make", [(c[0], c[1]) for c in DATA_CASES if c[0] in SKIPPABLE],
                         ids=sorted(SKIPPABLE, key=[c[0] for c in DATA_CASES].index))
def test_skippable_bad_files_are_counted_with_on_error_skip(tmp_path, case, make):
    make(tmp_path)
    root = tmp_path / "data"  # where every case writes its layout
    load = {"market": load_market1501, "pets": load_oxford_pets,
            "folder": load_image_folder}[case.split("-")[0]]
    kwargs = {} if load is load_market1501 else {"image_size": 16}
    with pytest.warns(UserWarning, match=r"Skipped 1 "):
        data = load(root, on_error="skip", **kwargs)
    n = len(data.train.images) if load is load_market1501 else len(data.images)
    assert n > 0


# ------------------------------------------------------------------------ array arguments
def _pca(**params):
    from skreid.reid import PCAReID

    return PCAReID(**{"n_components": 2, **params})


def _triplet(**params):
    from skreid.reid import TripletEmbedder

    base = dict(backbone="seed", weights=None, image_size=None, epochs=1, batch_size=4,
                images_per_identity=2, validation_fraction=0.0, random_state=0)
    return TripletEmbedder(**{**base, **params})


def _multitask(**params):
    from skreid.pets import MultiTaskPetNet

    return MultiTaskPetNet(**{**dict(epochs=1, batch_size=4, image_size=(16, 16)), **params})


def _four_channel(n=12):
    return RNG.randint(0, 256, (n, 16, 8, 4)).astype(np.uint8)


# (id, estimator factory, fitted attribute, X, y, error type, pattern)
FIT_CASES = [
    ("pca-complex-pixels", _pca, "pca_", IMAGES + 1j, IDS, ValueError, r"X holds complex"),
    ("pca-grayscale-4-channels", lambda: _pca(grayscale=True), "pca_", _four_channel(), IDS,
     ValueError, r"grayscale=True needs 1 or 3 channels"),
    ("pca-grayscale-2-channels", lambda: _pca(grayscale=True), "pca_", IMAGES[..., :2], IDS,
     ValueError, r"grayscale=True needs 1 or 3 channels"),
    ("pca-xqda-one-image-per-id", lambda: _pca(projection="xqda"), "pca_", IMAGES,
     np.arange(12), ValueError, r"projection='xqda'.*single image"),
    ("pca-kissme-one-image-per-id", lambda: _pca(projection="kissme"), "pca_", IMAGES,
     np.arange(12), ValueError, r"projection='kissme'.*single image"),
    ("pca-negative-pixels", _pca, "pca_", IMAGES.astype(np.float32) - 128, IDS, ValueError,
     r"X has pixel values in \[-128"),
    ("pca-uint16-pixels", _pca, "pca_", IMAGES.astype(np.uint16) * 256, IDS, ValueError,
     r"outside \[0, 255\]"),
    ("pca-nan-pixels", _pca, "pca_", np.where(IMAGES > 250, np.nan, IMAGES), IDS, ValueError,
     r"X contains NaN"),
    ("pca-bad-n-components", lambda: _pca().set_params(n_components=-1), "pca_", IMAGES, IDS,
     ValueError, r"n_components"),
    ("pca-one-identity", _pca, "pca_", IMAGES, np.zeros(12), ValueError, r"identit"),
    ("pca-y-length", _pca, "pca_", IMAGES, IDS[:5], ValueError, r"y has 5 labels"),
    ("triplet-complex-pixels", _triplet, "model_", IMAGES + 1j, IDS, ValueError, r"complex"),
    ("triplet-grayscale-4-channels", lambda: _triplet(grayscale=True), "model_",
     _four_channel(), IDS, ValueError, r"grayscale=True needs 1 or 3 channels"),
    ("triplet-grayscale-2-channels", lambda: _triplet(grayscale=True), "model_",
     IMAGES[..., :2], IDS, ValueError, r"grayscale=True needs 1 or 3 channels"),
    ("triplet-huge-image-size", lambda: _triplet(image_size=(100_000, 50_000)), "model_",
     IMAGES, IDS, ValueError, r"image_size=\(100000, 50000\).*GiB"),
    ("triplet-negative-pixels", _triplet, "model_", IMAGES.astype(np.float32) - 128, IDS,
     ValueError, r"X has pixel values"),
    ("triplet-single-image-identity", _triplet, "model_", IMAGES[:11], IDS[:11], ValueError,
     r"at least 2 images per identity"),
    ("triplet-bad-batch", lambda: _triplet(batch_size=3), "model_", IMAGES, IDS, ValueError,
     r"batch_size=3"),
    ("multitask-complex-pixels", _multitask, "model_", IMAGES + 1j, IDS % 2, ValueError,
     r"Complex data"),
    ("multitask-huge-image-size", lambda: _multitask(image_size=(65_536, 65_536)), "model_",
     IMAGES, IDS % 2, ValueError, r"image_size=\(65536, 65536\).*GiB"),
    ("multitask-negative-pixels", _multitask, "model_", IMAGES.astype(np.float32) - 128,
     IDS % 2, ValueError, r"X has pixel values"),
    ("multitask-one-class", _multitask, "model_", IMAGES, np.zeros(12), ValueError,
     r"only 1 class"),
]


@pytest.mark.parametrize("case, factory, attr, X, y, error, pattern", FIT_CASES,
                         ids=[c[0] for c in FIT_CASES])
def test_bad_arrays_are_rejected_before_any_work(tmp_path, monkeypatch, case, factory, attr, X,
                                                 y, error, pattern):
    monkeypatch.chdir(tmp_path)
    est = factory()
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)  # no half-accepted input
        with pytest.raises(error, match=re.compile(pattern, re.S)):
            est.fit(X, y)
    assert not hasattr(est, attr)  # nothing fitted
    assert list(tmp_path.iterdir()) == []  # nothing written


def _fitted_pca(X=IMAGES):
    return _pca(n_components=4).fit(X, IDS)


# (id, action, error type, pattern): calls on fitted estimators and metric functions
CALL_CASES = [
    ("pca-float-above-1-after-01-fit",
     lambda: _fitted_pca(IMAGES / 255.0).transform(IMAGES.astype(np.float32)), ValueError,
     r"fitted on float pixels in \[0, 1\]"),
    ("pca-transform-negative", lambda: _fitted_pca().transform(IMAGES - 300.0), ValueError,
     r"X has pixel values"),
    ("pca-transform-complex", lambda: _fitted_pca().transform(IMAGES + 1j), ValueError,
     r"complex"),
    ("pca-transform-shape", lambda: _fitted_pca().transform(IMAGES[:, :8]), ValueError,
     r"shape"),
    ("evaluate-max-rank-zero",
     lambda: evaluate_reid(RNG.rand(4, 3), [0, 1, 2, 3], RNG.rand(5, 3), [0, 1, 2, 3, 0],
                           max_rank=0), ValueError, r"max_rank"),
    ("evaluate-max-rank-float",
     lambda: evaluate_reid(RNG.rand(4, 3), [0, 1, 2, 3], RNG.rand(5, 3), [0, 1, 2, 3, 0],
                           max_rank=2.5), ValueError, r"max_rank"),
    ("evaluate-max-rank-bool",
     lambda: evaluate_reid(RNG.rand(4, 3), [0, 1, 2, 3], RNG.rand(5, 3), [0, 1, 2, 3, 0],
                           max_rank=True), ValueError, r"max_rank"),
    ("cmc-max-rank-negative",
     lambda: cmc_curve(RNG.rand(2, 3), [1, 2], [1, 2, 1], max_rank=-3), ValueError,
     r"max_rank"),
    ("check-images-complex", lambda: check_images(np.ones((2, 4, 4)) * 1j), ValueError,
     r"X holds complex"),
    ("check-images-empty", lambda: check_images(np.zeros((0, 4, 4))), ValueError, r"X is empty"),
    ("check-images-object", lambda: check_images(np.array([[["a"]]], dtype=object)),
     ValueError, r"X must hold numbers"),
    ("activation-maps-without-a-conv-backbone",
     lambda: plot_activation_maps(_fitted_pca(), IMAGES), TypeError,
     r"needs an estimator with an activation_maps\(X\) method.*PCAReID has none"),
    ("detection-box-outside-the-frame",
     lambda: crop_detections(np.zeros((20, 30, 3), np.uint8), [[0, 0, 5, 5], [40, 0, 50, 9]],
                             (8, 4)), ValueError, r"boxes\[1\] = .*no pixel inside the 30x20"),
] + MATCHING_CALL_CASES  # tracklets, cameras, camera normalisation


@pytest.mark.parametrize("case, action, error, pattern", CALL_CASES,
                         ids=[c[0] for c in CALL_CASES])
def test_bad_calls_raise_a_named_error(tmp_path, monkeypatch, case, action, error, pattern):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises(error, match=re.compile(pattern, re.S)):
            action()
    assert list(tmp_path.iterdir()) == []


def test_max_rank_huge_is_capped_not_allocated():
    # 10**9 ranks on 20 x 50 allocated 15.7 GB before the cap
    res = evaluate_reid(RNG.rand(20, 4), np.arange(20) % 5, RNG.rand(50, 4), np.arange(50) % 5,
                        max_rank=10**9)
    assert res["cmc"].shape == (50,)


# (id, action, pattern): silently-wrong pixel scales now warn
WARN_CASES = [
    ("pca-uint8-fit-01-float-query",
     lambda: _fitted_pca().transform(IMAGES / 255.0), r"X holds float pixels in \[0, 1\]"),
]


@pytest.mark.parametrize("case, action, pattern", WARN_CASES, ids=[c[0] for c in WARN_CASES])
def test_pixel_scale_mismatch_warns(case, action, pattern):
    with pytest.warns(PixelScaleWarning, match=pattern):
        action()


def test_uint8_images_with_max_pixel_1_are_read_as_0_255():
    from skreid.utils import pixel_range

    masks = (RNG.rand(4, 8, 8) > 0.5).astype(np.uint8)  # uint8 with max pixel 1
    assert pixel_range(masks) == 255.0
    assert pixel_range(masks.astype(np.float32)) == 1.0
    est = _pca(n_components=2).fit(masks[..., None].repeat(3, -1), [0, 0, 1, 1])
    assert est.pixel_range_ == 255.0


def test_pca_reads_uint8_the_same_after_a_fit_on_01_floats():
    est = _fitted_pca(IMAGES / 255.0)
    np.testing.assert_allclose(est.transform(IMAGES), est.transform(IMAGES / 255.0), atol=1e-4)


# ------------------------------------------------------------------------------------- CLI
def _report_folder(tmp, extra=None, marker=True):
    from skreid.cli._common import ReportFolder

    folder = ReportFolder(tmp / "proj")
    folder.write_json("results.json", {"run": 1})
    folder.commit()
    if not marker:
        os.remove(tmp / "proj" / MARKER_FILE)
    if extra:
        (tmp / "proj" / extra).write_text("notes")
    return tmp / "proj"


def _pca_folder_argv(tmp, out="out"):
    root = write_image_folder(tmp / "data", n_ids=6, per_id=3)
    return ["reid", "--data", str(root), "--method", "pca", "--quiet", "--out", str(tmp / out)]


def _cli_user_folder(tmp):
    (tmp / "proj").mkdir()
    (tmp / "proj" / "results.json").write_text("{}")
    (tmp / "proj" / "important.txt").write_text("notes")
    return _pca_folder_argv(tmp, "proj")


def _cli_report_plus_user_file(tmp):
    _report_folder(tmp, extra="important.txt")
    return _pca_folder_argv(tmp, "proj")


def _cli_report_without_marker(tmp):
    _report_folder(tmp, marker=False)
    return _pca_folder_argv(tmp, "proj")


def _cli_report_with_subfolder(tmp):
    _report_folder(tmp)
    (tmp / "proj" / "mine").mkdir()
    return _pca_folder_argv(tmp, "proj")


def _cli_market_stray(tmp):
    root = write_market(tmp / "data")
    (root / "bounding_box_train" / "holiday.jpg").write_bytes(jpeg_bytes(99))
    return ["reid", "--data", str(root), "--method", "pca", "--quiet", "--out", str(tmp / "o")]


def _cli_four_singletons(tmp):
    root = write_image_folder(tmp / "data", n_ids=4, per_id=1)
    return ["reid", "--data", str(root), "--method", "pca", "--quiet", "--out", str(tmp / "o")]


def _cli_bomb(tmp):
    root = write_image_folder(tmp / "data", n_ids=4, per_id=2)
    (root / "person2" / "big.png").write_bytes(png_bomb())
    return ["reid", "--data", str(root), "--method", "pca", "--quiet", "--out", str(tmp / "o")]


def _cli_market_bomb(tmp):
    root = write_market(tmp / "data")
    (root / "query" / "0005_c2s1_000009_01.jpg").write_bytes(png_bomb())
    return ["reid", "--data", str(root), "--method", "pca", "--quiet", "--out", str(tmp / "o")]


def _cli_pets_non_utf8(tmp):
    root = write_pets(tmp / "data")
    (root / "annotations" / "list.txt").write_bytes(b"\xff\xfe\x00bad\n")
    return ["pets", "--data", str(root), "--method", "multitask", "--quiet", "--out",
            str(tmp / "o")]


def _cli_pets_bomb(tmp):
    root = write_pets(tmp / "data")
    (root / "images" / "beagle_9.jpg").write_bytes(png_bomb())
    return ["pets", "--data", str(root), "--method", "multitask", "--quiet", "--out",
            str(tmp / "o")]


# (id, make(tmp) -> argv, pattern of the one error line)
CLI_CASES = [
    ("out-user-folder-with-results-json", _cli_user_folder, r"--out .*proj.*not a skreid report"),
    ("out-report-plus-user-file", _cli_report_plus_user_file,
     r"--out .*proj.*did not write \(important\.txt\)"),
    ("out-report-without-marker", _cli_report_without_marker, r"--out .*not a skreid report"),
    ("out-report-with-subfolder", _cli_report_with_subfolder, r"--out .*\(mine\)"),
    ("market-layout-stray-file", _cli_market_stray, r"--data .*Market-1501.*holiday\.jpg"),
    ("four-identities-one-image", _cli_four_singletons,
     r"--data .*at least 2 images of each test identity"),
    ("folder-decompression-bomb", _cli_bomb, r"--data .*big\.png.*too large"),
    ("market-decompression-bomb", _cli_market_bomb, r"--data .*0005_c2s1_000009_01\.jpg"),
    ("pets-non-utf8-list", _cli_pets_non_utf8, r"--data .*list\.txt.*UTF-8"),
    ("pets-decompression-bomb", _cli_pets_bomb, r"--data .*beagle_9\.jpg.*too large"),
]


@pytest.mark.parametrize("case, make, pattern", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_data_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, case, make,
                                                               pattern):
    argv = make(tmp_path)
    before = snapshot(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("skreid: error:"), err
    assert re.search(pattern, lines[0]), lines[0]
    assert out == ""
    assert snapshot(tmp_path) == before  # the user's folder untouched, no temporary folder


def test_bad_input_case_count():
    """The size of the table (reported in the closing note of issue 13)."""
    n = len(DATA_CASES) + len(SKIPPABLE) + len(FIT_CASES) + len(CALL_CASES) + len(WARN_CASES) \
        + len(CLI_CASES) + len(CLI_USER_ERROR_CASES)
    assert n >= 80, n


# ----------------------------------------------------------- the Keras estimators' pixel rule
@pytest.fixture(scope="module")
def fitted_keras():
    """A tiny TripletEmbedder and MultiTaskPetNet fitted on uint8 images (one epoch each)."""
    triplet = _triplet(test_time_flip=False, run_eagerly=True).fit(IMAGES, IDS)
    pets = _multitask(epochs=1).fit(IMAGES, IDS % 2)
    return triplet, pets


def test_keras_uint8_with_max_pixel_1_is_not_scaled_by_255():
    dark = (IMAGES > 128).astype(np.uint8)  # uint8 whose max pixel is 1
    est = _triplet(run_eagerly=True).fit(dark, IDS)
    assert est.pixel_range_ == 255.0 and est.input_scale_ == 1.0


@pytest.mark.parametrize("which", ["triplet", "pets"])
def test_keras_01_floats_after_a_uint8_fit_warn(fitted_keras, which):
    est = fitted_keras[0 if which == "triplet" else 1]
    method = est.transform if which == "triplet" else est.predict_proba
    with pytest.warns(PixelScaleWarning, match=r"X holds float pixels in \[0, 1\]"):
        method(IMAGES / 255.0)
    with pytest.raises(ValueError, match=r"X has pixel values"):
        method(IMAGES - 300.0)


@pytest.mark.parametrize("which", ["triplet", "pets"])
def test_keras_reads_uint8_the_same_after_a_fit_on_01_floats(which):
    est = (_triplet(test_time_flip=False, run_eagerly=True) if which == "triplet"
           else _multitask(epochs=1))
    est.fit(IMAGES / 255.0, IDS if which == "triplet" else IDS % 2)
    assert est.pixel_range_ == 1.0
    method = est.transform if which == "triplet" else est.predict_proba
    np.testing.assert_allclose(method(IMAGES), method(IMAGES / 255.0), atol=1e-4)
    with pytest.raises(ValueError, match=r"fitted on float pixels in \[0, 1\]"):
        method(IMAGES.astype(np.float32))
