"""scikit-learn's common estimator checks on every public skreid estimator.

The estimators are discovered with :func:`skreid.utils.all_estimators`, so a new estimator
gets the checks without editing this file; it only needs a tiny configuration in
``TINY`` (the test below fails for an estimator without one). Every expected failure is
listed with its reason. The Keras estimators' checks skip when Keras is not installed.
"""

import importlib.util

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skreid.utils import all_estimators

HAS_KERAS = importlib.util.find_spec("keras") is not None


def check_trunk(x):
    """Tiny trunk for TripletEmbedder: the checks' flat vectors are read as 1x1 images."""
    import keras

    return keras.layers.Dense(8, activation="relu")(keras.layers.Flatten()(x))


# ----------------------------------------------------------------- tiny configurations
def _tiny(name):
    """Tiny, fast configurations of estimator ``name`` (a list: several may be checked)."""
    from skreid import pets, preprocessing, reid

    return {
        "PCAReID": lambda: [
            reid.PCAReID(n_components=2),
            reid.PCAReID(n_components=0.9, whiten=True, metric="cosine"),
            reid.PCAReID(n_components=1.0, projection="lda"),
            reid.PCAReID(n_components=1.0, projection="xqda"),
        ],
        "LOMOFeatures": lambda: [reid.LOMOFeatures(cell_size=1, n_scales=1)],
        "ResizeImages": lambda: [preprocessing.ResizeImages((2, 2))],
        "Grayscale": lambda: [preprocessing.Grayscale()],
        "FlattenImages": lambda: [preprocessing.FlattenImages()],
        # sklearn's data: a few dozen flat samples, some classes with a single sample. The
        # report's random-triplet loss accepts those (batch-hard needs >= 2 images per
        # identity, by design).
        "TripletEmbedder": lambda: [reid.TripletEmbedder(
            backbone=check_trunk, weights=None, image_size=None, loss="random_triplet",
            id_loss_weight=0.0, augment=False, epochs=1, batch_size=4,
            validation_fraction=0.0, run_eagerly=True, random_state=0)],
        "MultiTaskPetNet": lambda: [pets.MultiTaskPetNet(
            image_size=8, width=2, depth=1, epochs=1, batch_size=64, augment=False,
            random_state=0)],
        "FineTunedPetNet": lambda: [pets.FineTunedPetNet(
            weights=None, image_size=32, epochs=1, head_epochs=1, decoder_width=4,
            batch_size=64, augment=False, random_state=0)],
    }[name]()


KERAS_ESTIMATORS = {"TripletEmbedder", "MultiTaskPetNet", "FineTunedPetNet"}

# estimators sklearn's checks cannot exercise at all, with the reason and where they are tested
NOT_CHECKED = dict.fromkeys(
    ["OnnxEmbedder", "OnnxPetNet"],
    "wraps an exported ONNX file of a fixed image shape and learns nothing (its required "
    "'path' parameter has no default); sklearn's checks fit tabular data of any width. "
    "Cloning, pickling, parameter validation and the gallery: tests/runtime/test_runtime.py",
)

# ----------------------------------------------------------------- expected failures
# sklearn's generic checks feed 2-D (n_samples, n_features) tables of arbitrary width; these
# transformers take image batches and refuse 2-D input without an image shape (a silent
# guess would resize or grey the wrong axes). Every check below fails for that reason alone.
_IMAGE_ONLY = "takes image batches (n, h, w[, c]); the check feeds 2-D tabular data"
_IMAGE_ONLY_CHECKS = [
    "check_complex_data", "check_dict_unchanged", "check_dont_overwrite_parameters",
    "check_dtype_object", "check_estimators_dtypes", "check_estimators_empty_data_messages",
    "check_estimators_fit_returns_self", "check_estimators_nan_inf",
    "check_estimators_overwrite_params", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_1sample",
    "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent",
    "check_fit_score_takes_y", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_n_features_in",
    "check_n_features_in_after_fitting", "check_pipeline_consistency",
    "check_positive_only_tag_during_fit", "check_readonly_memmap_input",
    "check_transformer_data_not_an_array", "check_transformer_general",
    "check_transformer_preserve_dtypes",
]
_PETS_FAILS = {
    "check_class_weight_classifiers": (
        "needs 0.87 accuracy on tabular blobs from a one-epoch network (class_weight itself "
        "is tested in tests/pets/test_pets.py)"
    ),
    "check_classifiers_train": (
        "a one-epoch network on 3-pixel strips does not reach scikit-learn's 0.83 accuracy "
        "bar (it learns on images, see tests/pets/test_pets.py)"
    ),
    "check_dtype_object": (
        "skreid.utils.check_images rejects object arrays: images must be numeric arrays"
    ),
}
EXPECTED_FAILED = {
    "PCAReID": {},  # every check passes
    # the others pass (two are ulp-sensitive, see below)
    "TripletEmbedder": {"check_classifiers_classes": (
        "y == -1 marks an unlabeled image (scikit-learn's semi-supervised convention, "
        "adaptation to new cameras): the check's [-1, 1] problem is one identity and "
        "unlabeled images, refused; sklearn exempts its own semi-supervised classifiers from "
        "these labels by name (_choose_check_classifiers_labels)")},
    "LOMOFeatures": dict.fromkeys(_IMAGE_ONLY_CHECKS, _IMAGE_ONLY),
    "ResizeImages": dict.fromkeys(_IMAGE_ONLY_CHECKS + ["check_transformers_unfitted_stateless"],
                                  _IMAGE_ONLY),
    "Grayscale": dict.fromkeys(_IMAGE_ONLY_CHECKS + ["check_transformers_unfitted_stateless"],
                               _IMAGE_ONLY),
    "FlattenImages": dict.fromkeys(
        _IMAGE_ONLY_CHECKS + ["check_transformers_unfitted_stateless"], _IMAGE_ONLY),
    "MultiTaskPetNet": _PETS_FAILS,
    # weights=None trains the whole network (BatchNorm included) at learning_rate, which
    # reaches check_class_weight_classifiers' accuracy bar in one epoch
    "FineTunedPetNet": {k: v for k, v in _PETS_FAILS.items()
                        if k != "check_class_weight_classifiers"},
}

# TripletEmbedder: these fail by one float32 ulp on some runs and pass on others (it depends
# on how the batch is split across threads), so they cannot be strict expected failures:
# they run, and only that round-off failure becomes a (non-strict) xfail.
ULP_SENSITIVE_CHECKS = {
    "check_methods_sample_order_invariance": (
        "float32 Keras inference: reordering the batch changes embeddings by one ulp "
        "(measured 1.2e-7), above the check's rtol=1e-7"
    ),
    "check_methods_subset_invariance": (
        "same float32 round-off: a sample's embedding changes by one ulp with the batch size"
    ),
}

# FineTunedPetNet builds a 150-layer MobileNetV3 for every fit, so by default only its cheap
# checks run (the ones failing before the network is built; the shared input validation and
# training code run fully in MultiTaskPetNet's checks); all run with -m slow.
FINETUNED_FAST = {
    "check_estimator_cloneable", "check_estimator_repr", "check_no_attributes_set_in_init",
    "check_parameters_default_constructible", "check_get_params_invariance",
    "check_set_params", "check_estimator_tags_renamed", "check_valid_tag_types",
    "check_mixin_order", "check_estimators_unfitted", "check_requires_y_none",
    "check_estimators_empty_data_messages", "check_fit1d",
    "check_classifiers_regression_target", "check_complex_data",
    "check_estimator_sparse_array", "check_estimator_sparse_matrix",
    "check_fit2d_1sample", "check_classifiers_one_label", "check_param_validation",
}


def _estimators():
    out = []
    for name, _ in all_estimators():
        if (name in KERAS_ESTIMATORS and not HAS_KERAS) or name in NOT_CHECKED:
            continue
        out.extend(_tiny(name))
    return out


def test_every_estimator_has_a_configuration_and_a_failure_list():
    names = [name for name, _ in all_estimators()]
    assert {"LOMOFeatures", "PCAReID", "TripletEmbedder", "FineTunedPetNet"} <= set(names)
    for name in set(names) - set(NOT_CHECKED):
        assert _tiny(name), name
        assert name in EXPECTED_FAILED, f"{name}: list its expected failures (or {{}})"


def test_every_estimator_declares_parameter_constraints():
    for name, cls in all_estimators():
        params = set(cls._get_param_names())
        assert set(cls._parameter_constraints) == params, name


def _check_name(check):
    return getattr(check, "func", check).__name__


@parametrize_with_checks(_estimators(),
                         expected_failed_checks=lambda est: EXPECTED_FAILED[type(est).__name__])
def test_sklearn_compatible(estimator, check, request):
    name, check_name = type(estimator).__name__, _check_name(check)
    if name == "FineTunedPetNet" and check_name not in FINETUNED_FAST:
        if "not slow" in (request.config.getoption("-m") or ""):
            pytest.skip("FineTunedPetNet: full estimator checks run with -m slow")
    reason = ULP_SENSITIVE_CHECKS.get(check_name) if name == "TripletEmbedder" else None
    if reason is None:
        check(estimator)
        return
    try:
        check(estimator)
    except AssertionError as exc:
        if "Not equal to tolerance" not in str(exc):
            raise
        pytest.xfail(reason)


# ----------------------------------------------------------------- documented attributes
def _documented_attributes(cls):
    """Names of the numpydoc "Attributes" section of ``cls``'s docstring (a line may list
    several names, comma-separated, and continue after a backslash)."""
    lines = (cls.__doc__ or "").replace("\\\n", " ").splitlines()
    start = next((i for i, line in enumerate(lines[:-1]) if line.strip() == "Attributes"
                  and set(lines[i + 1].strip()) == {"-"}), None)
    if start is None:
        return set()
    indent = len(lines[start]) - len(lines[start].lstrip())
    names = set()
    for line in lines[start + 2:]:
        stripped = line.strip()
        if stripped and len(line) - len(line.lstrip()) == indent:
            if stripped in ("Examples", "See Also", "Notes", "References", "Methods"):
                break
            names.update(n.strip() for n in stripped.split(" : ")[0].rstrip(" :").split(","))
    return names


def _fit_tiny(est):
    """``est`` fitted on tiny data of the kind it takes (images with identities, pets with
    breeds and masks, or images alone)."""
    from skreid.datasets import make_people, make_pets

    if type(est).__name__.endswith("PetNet"):
        pets = make_pets(n_samples=16, n_classes=2, image_size=32, random_state=0)
        return est.fit(pets.images, pets.labels, masks=pets.masks)
    people = make_people(n_identities=4, n_images_per_identity=4, n_cameras=2,
                         image_shape=(16, 8, 3), random_state=0)
    if hasattr(est, "set_gallery"):
        return est.fit(people.images, people.person_ids)
    return est.fit(people.images)


@pytest.mark.parametrize("name", sorted(name for name, _ in all_estimators()
                                        if name not in NOT_CHECKED))
def test_every_fitted_attribute_is_documented(name):
    """Every public attribute a fit sets (ending in ``_``) is in the class's Attributes."""
    if name in KERAS_ESTIMATORS and not HAS_KERAS:
        pytest.skip("Keras is not installed")
    est = _fit_tiny(_tiny(name)[0])
    fitted = {k for k in vars(est) if k.endswith("_") and not k.startswith("_")}
    missing = fitted - _documented_attributes(type(est))
    assert not missing, f"{name}: fitted attributes missing from the docstring: {missing}"
