"""Labels, masks and training targets of the pets estimators (no Keras at import)."""

import numpy as np
from sklearn.preprocessing import LabelEncoder

from skreid.datasets import MASK_IGNORE

_MASK_LABELS = (0, 1, 2)


class PetTargetsMixin:
    """Label encoding, mask validation, class weights and the mask targets of training."""

    def _task_weights(self):
        tw = self.task_weights
        if isinstance(tw, dict):
            if set(tw) - {"breed", "mask"}:
                raise ValueError(
                    f"task_weights keys must be 'breed' and 'mask', got {sorted(tw)!r}."
                )
            tw = (tw.get("breed", 1.0), tw.get("mask", 1.0))
        try:
            breed, mask = (float(v) for v in tw)
        except (TypeError, ValueError):
            raise ValueError(
                f"task_weights must be a (breed, mask) pair or a dict with keys 'breed' and "
                f"'mask', got {self.task_weights!r}."
            ) from None
        if not (np.isfinite([breed, mask]).all() and breed >= 0 and mask >= 0 and breed + mask > 0):
            raise ValueError(
                f"task_weights must be finite, non-negative and not both zero, got "
                f"{self.task_weights!r}."
            )
        return breed, mask

    def _n_mask_classes(self):
        return 1 if self.segmentation == "binary" else 3

    def _encode_labels(self, y, reset, classes=None):
        if self.n_classes is not None:
            if not (np.issubdtype(y.dtype, np.integer) or
                    (np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0))):
                raise ValueError(
                    f"with n_classes={self.n_classes}, y must hold integer labels in "
                    f"0..{self.n_classes - 1}, got dtype {y.dtype}."
                )
            bad = (y < 0) | (y >= self.n_classes)
            if bad.any():
                raise ValueError(
                    f"y has labels outside 0..{self.n_classes - 1} (n_classes={self.n_classes}): "
                    f"{np.unique(y[bad])[:10].tolist()}."
                )
            classes = np.arange(self.n_classes)
            y_idx = y.astype(np.int64)
        else:
            from sklearn.utils.multiclass import type_of_target

            if type_of_target(y) not in ("binary", "multiclass"):
                raise ValueError(
                    f"Unknown label type: y must hold class labels, got {type_of_target(y)!r} "
                    f"values."
                )
            if reset:
                classes = LabelEncoder().fit(y if classes is None else np.asarray(classes)).classes_
            else:
                classes = self.classes_
            unseen = ~np.isin(y, classes)
            if unseen.any():
                raise ValueError(
                    f"y has labels {np.unique(y[unseen])[:10].tolist()} unseen when the network "
                    f"was built (classes_ = {classes[:10].tolist()}...)."
                )
            if len(classes) < 2:
                raise ValueError(
                    f"y has only 1 class ({classes[0]!r}); a classifier needs at least 2."
                )
            y_idx = np.searchsorted(classes, y)
        if reset:
            self.classes_ = classes
        return y_idx

    def _validate_masks(self, masks, X):
        if masks is None:
            return None
        try:
            m = np.asarray(masks)
        except Exception as exc:
            raise ValueError(f"masks could not be converted to an array: {exc}") from None
        if m.ndim == 4 and m.shape[-1] == 1:
            m = m[..., 0]
        if m.shape != X.shape[:3]:
            raise ValueError(
                f"masks must have shape (n_images, height, width) = {X.shape[:3]} to match the "
                f"images, got {m.shape}."
            )
        if not (np.issubdtype(m.dtype, np.number) or m.dtype == bool):
            raise ValueError(f"masks must hold integer labels, got dtype {m.dtype}.")
        values = np.unique(m)
        bad = values[~np.isin(values, (*_MASK_LABELS, MASK_IGNORE))]
        if bad.size:
            raise ValueError(
                f"masks hold values {bad[:10].tolist()}; accepted: 0 (pet), 1 (background), "
                f"2 (border) and {MASK_IGNORE} (ignored, e.g. images without a trimap)."
            )
        return m.astype(np.uint8)

    def _sample_weights(self, y_idx):
        weights = np.ones(len(y_idx), dtype=np.float32)
        if self.class_weight == "balanced":
            counts = np.bincount(y_idx, minlength=len(self.classes_)).astype(float)
            present = counts > 0
            per_class = np.zeros_like(counts)
            per_class[present] = len(y_idx) / (present.sum() * counts[present])
            weights = per_class[y_idx].astype(np.float32)
        elif isinstance(self.class_weight, dict):
            for label, w in self.class_weight.items():
                weights[self.classes_[y_idx] == label] = float(w)
        return weights

    def _mask_targets(self, masks, n, size):
        """Training targets at the working size: -1 ignored; binary 1 pet / 0 background."""
        from skreid._keras._pet_training import resize_batch

        if masks is None:
            return np.full((n, *size, 1), -1.0, dtype=np.float32)
        m = resize_batch(masks[..., np.newaxis].astype(np.float32), size, "nearest")
        m = np.rint(m)
        target = np.full(m.shape, -1.0, dtype=np.float32)
        ignored = m == MASK_IGNORE
        if self.ignore_border:
            ignored |= m == 2
        if self.segmentation == "binary":
            # the border hugs the animal: count it as pet unless it is ignored
            target[(m == 0) | (m == 2)] = 1.0
            target[m == 1] = 0.0
        else:
            for label in _MASK_LABELS:
                target[m == label] = label
        target[ignored] = -1.0
        return target

    def _training_arrays(self, X, y_idx, masks, size):
        """Images at the working ``size``, (label, weight) targets and mask targets."""
        from skreid._keras._pet_training import resize_batch

        images = resize_batch(X, size)
        breed = np.stack([y_idx.astype(np.float32), self._sample_weights(y_idx)], axis=1)
        return images, breed, self._mask_targets(masks, len(X), size)

