"""Turn an estimator into JSON + arrays + opaque members, and back, without pickle.

What is saved is the same for every registered class: its constructor parameters
(``get_params(deep=False)``) and every other instance attribute (fitted attributes ending in
``_`` and the private state they imply, such as the gallery's per-identity order), minus the
caches the registry names. So a fitted attribute added to an estimator later is saved too, and
an attribute of a type this module cannot store makes ``save`` fail by name instead of being
dropped silently.

Values are encoded as plain JSON where JSON is exact (None, bool, int, float, str, lists, dicts
with string keys) and as tagged objects ``{"__skreid__": tag, ...}`` otherwise: tuples, NumPy
arrays (stored as ``.npy`` members) and scalars, RandomState, nested estimators, Keras models
(``.keras`` members) and other scikit-learn objects (skops members). Decoding accepts exactly
these tags and the class names of :mod:`skreid.saving._registry`.
"""

import numbers

import numpy as np

from skreid.saving._registry import (
    UnsupportedEstimatorError,
    attribute_problem,
    entry_for_name,
    entry_for_object,
    parameter_problem,
)
from skreid.utils import UnsafeArchiveError, migrate_renamed_params

TAG = "__skreid__"
# dtype kinds a .npy holds without pickle: bool, ints, floats, complex, str, bytes, dates
_ARRAY_KINDS = set("biufcUSMm")


def _is_keras_model(value):
    from skreid._keras import is_keras_model as check

    return check(value)


class Encoder:
    """Collects the arrays and files of one model while encoding its JSON tree."""

    def __init__(self):
        self.arrays = {}
        self.files = {}
        self.has_keras = False
        # one member per array object: the gallery index and the estimator share their
        # embeddings, stored once and shared again after loading
        self._seen = {}

    def encode(self, value, path):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, numbers.Integral) and type(value) is int:
            return value
        if type(value) is float:
            return value
        if isinstance(value, np.ndarray):
            return self._array(value, path)
        if isinstance(value, np.generic):
            if value.dtype.kind not in _ARRAY_KINDS - set("Mm"):
                raise UnsupportedEstimatorError(f"{path}: cannot store a {value.dtype} scalar.")
            return {TAG: "scalar", "dtype": value.dtype.str, "value": value.item()}
        if isinstance(value, np.dtype):
            return {TAG: "dtype", "value": self._dtype_str(value, path)}
        if isinstance(value, list):
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {TAG: "tuple", "items": [self.encode(v, f"{path}[{i}]")
                                            for i, v in enumerate(value)]}
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value) and TAG not in value:
                return {k: self.encode(v, f"{path}[{k!r}]") for k, v in value.items()}
            return {TAG: "dict", "items": [[self.encode(k, f"{path} key"),
                                            self.encode(v, f"{path}[{k!r}]")]
                                           for k, v in value.items()]}
        if isinstance(value, np.random.RandomState):
            kind, keys, pos, has_gauss, gauss = value.get_state()
            return {TAG: "random_state", "keys": self._array(keys, path), "pos": int(pos),
                    "has_gauss": int(has_gauss), "gauss": float(gauss)}
        if _is_keras_model(value):
            from skreid.saving._keras_io import model_to_bytes

            name = f"model{len(self.files)}.keras"
            self.files[name] = model_to_bytes(value)
            self.has_keras = True
            return {TAG: "keras", "file": name}
        entry = entry_for_object(value)
        if entry is not None:
            return self._estimator(value, entry, path)
        if type(value).__module__.split(".")[0] == "sklearn":
            from skreid.saving._skops_io import dumps

            name = f"sklearn{len(self.files)}.skops"
            self.files[name] = dumps(value, path)
            return {TAG: "skops", "file": name}
        what = "a function or other code" if callable(value) else f"a {type(value).__name__}"
        raise UnsupportedEstimatorError(
            f"skreid.save cannot store {path} = {value!r:.80}: it is {what}, and skreid files "
            "hold only data (no pickle, no code). Supported estimators: the skreid estimators, "
            "transformers and Pipelines of them (see skreid.saving.supported_names()); "
            "use pickle/joblib for a file only you will load."
        )

    def _dtype_str(self, dtype, path):
        if dtype.kind not in _ARRAY_KINDS:
            raise UnsupportedEstimatorError(
                f"{path}: dtype {dtype} needs pickle; skreid files hold only numeric and "
                "string arrays."
            )
        return dtype.str

    def _array(self, value, path):
        if id(value) in self._seen:
            return dict(self._seen[id(value)][1])
        original = value
        tag = {TAG: "ndarray"}
        if value.dtype == object:
            # labels as Python strings (LabelEncoder on a list of names): store them as a
            # fixed-width string array and give the object array back on load
            flat = value.ravel()
            if not all(isinstance(v, str) for v in flat):
                raise UnsupportedEstimatorError(
                    f"{path}: an object array of {sorted({type(v).__name__ for v in flat})} "
                    "needs pickle; skreid files hold numeric and string arrays only."
                )
            value = value.astype(str) if flat.size else np.zeros(value.shape, "U1")
            tag["object"] = True
        self._dtype_str(value.dtype, path)
        if value.ndim >= 2 and not value.flags.c_contiguous and \
                abs(value.strides[0]) <= abs(value.strides[-1]):
            # a column-major view (PCA's components_ is a slice of a transposed SVD factor):
            # keep it column-major, or BLAS sums in another order and transform's last bits
            # change; np.save records the Fortran order
            value = np.asfortranarray(value)
        name = str(len(self.arrays))
        self.arrays[name] = value
        tag["array"] = name
        self._seen[id(original)] = (original, tag)  # keeps the object alive: ids stay unique
        return dict(tag)

    def _estimator(self, obj, entry, path):
        if entry.param_names is None:
            params = obj.get_params(deep=False)
        else:
            params = {name: getattr(obj, name) for name in entry.param_names}
        here = f"{path}<{type(obj).__name__}>"
        enc_params = {}
        for key, value in params.items():
            if callable(value) and not hasattr(value, "get_params"):
                raise UnsupportedEstimatorError(
                    f"skreid.save cannot store {here}.{key} = {value!r:.80}: it is a function, "
                    "and skreid files hold no code. Use a named option of the parameter, or "
                    "pickle/joblib for a file only you will load."
                )
            enc_params[key] = self.encode(value, f"{here}.{key}")
        problem = parameter_problem(entry, type(obj), params)
        if problem:
            raise UnsupportedEstimatorError(
                f"skreid.save cannot store {here}: {problem.rstrip('.')}.")
        attrs = {}
        for key, value in vars(obj).items():
            if key in params or key in entry.transient:
                continue
            problem = attribute_problem(entry, type(obj), key)
            if problem:  # load would refuse it: never write such a file
                raise UnsupportedEstimatorError(
                    f"skreid.save cannot store {here}.{key}: {problem}. skreid files restore "
                    "only declared attributes."
                )
            attrs[key] = self.encode(value, f"{here}.{key}")
        return {TAG: "estimator", "class": entry.name, "params": enc_params, "attrs": attrs}


class Decoder:
    """Rebuilds values from the JSON tree, the arrays and the files of one archive."""

    def __init__(self, where, arrays, files):
        self.where = where
        self.arrays = arrays
        self.files = files
        self._decoded = {}
        #: the names of the members the tree referred to
        self.used = {"arrays": set(), "files": set()}

    def fail(self, path, message):
        raise UnsafeArchiveError(f"{self.where}: {path}: {message}")

    def decode(self, value, path="model"):
        if value is None or isinstance(value, (bool, str, int, float)):
            return value
        if isinstance(value, list):
            return [self.decode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            self.fail(path, f"unexpected JSON value {value!r:.60}.")
        if TAG not in value:
            return {k: self.decode(v, f"{path}[{k!r}]") for k, v in value.items()}
        tag = value[TAG]
        method = getattr(self, f"_tag_{tag}", None) if isinstance(tag, str) else None
        if method is None:
            self.fail(path, f"unknown type tag {tag!r}; this file was not written by skreid "
                      "or needs a newer skreid.")
        try:
            return method(value, path)
        # AttributeError, IndexError: an entry of the wrong JSON type (a list for a dict, ...)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            if isinstance(exc, UnsafeArchiveError):
                raise
            self.fail(path, f"malformed {tag!r} entry ({type(exc).__name__}: {exc}).")

    def _member(self, table, name, path):
        if not isinstance(name, str) or name not in table:
            self.fail(path, f"refers to a missing member {name!r:.80}.")
        self.used["arrays" if table is self.arrays else "files"].add(name)
        return table[name]

    def _dtype(self, text, path):
        dtype = np.dtype(str(text))
        if dtype.kind not in _ARRAY_KINDS:
            self.fail(path, f"dtype {text!r} is not allowed (it would need pickle).")
        return dtype

    def _tag_tuple(self, value, path):
        return tuple(self.decode(v, f"{path}[{i}]") for i, v in enumerate(value["items"]))

    def _tag_dict(self, value, path):
        out = {}
        for key, item in value["items"]:
            key = self.decode(key, f"{path} key")
            if isinstance(key, (list, dict)):
                self.fail(path, "unhashable dict key.")
            out[key] = self.decode(item, f"{path}[{key!r}]")
        return out

    def _tag_ndarray(self, value, path):
        key = (value["array"], bool(value.get("object")))
        if key not in self._decoded:
            array = self._member(self.arrays, value["array"], path)
            self._decoded[key] = array.astype(object) if key[1] else array
        return self._decoded[key]

    def _tag_scalar(self, value, path):
        item = value["value"]
        if not isinstance(item, (bool, int, float, str)):
            self.fail(path, f"scalar value {item!r:.40} is not a number or string.")
        return self._dtype(value["dtype"], path).type(item)

    def _tag_dtype(self, value, path):
        return self._dtype(value["value"], path)

    def _tag_random_state(self, value, path):
        rs = np.random.RandomState()
        keys = self._member(self.arrays, value["keys"]["array"], path)
        rs.set_state(("MT19937", keys.astype(np.uint32), int(value["pos"]),
                      int(value["has_gauss"]), float(value["gauss"])))
        return rs

    def _tag_keras(self, value, path):
        from skreid.saving._keras_io import model_from_bytes

        data = self._member(self.files, value["file"], path)
        return model_from_bytes(data, f"{self.where}: {path}")

    def _tag_skops(self, value, path):
        from skreid.saving._skops_io import loads

        data = self._member(self.files, value["file"], path)
        return loads(data, f"{self.where}: {path}")

    def _tag_estimator(self, value, path):
        from skreid.saving._registry import supported_names

        name = value["class"]
        found = entry_for_name(name)
        if found is None:
            self.fail(path, f"unknown type {name!r}: skreid loads only {supported_names()}; "
                      "refusing the file.")
        entry, cls = found
        here = f"{path}<{entry.attr}>"
        if not isinstance(value["params"], dict):
            self.fail(here, f"parameters must be a JSON object, got {value['params']!r:.60}.")
        params = {}
        for key, item in value["params"].items():
            params[key] = self.decode(item, f"{here}.{key}")
        # a file written before a parameter was renamed loads under the new name
        params = migrate_renamed_params(cls, params)
        try:
            obj = cls(**params)
        except TypeError as exc:
            self.fail(here, f"parameters {sorted(params)} do not fit {entry.name} ({exc}).")
        problem = parameter_problem(entry, cls, params)
        if problem:
            self.fail(here, f"{problem.rstrip('.')}; refusing the file.")
        attrs = value["attrs"]
        if not isinstance(attrs, dict):
            self.fail(here, f"attributes must be a JSON object, got {attrs!r:.60}.")
        for key, item in attrs.items():
            problem = "it is a constructor parameter" if key in params else \
                attribute_problem(entry, cls, key)
            if problem:
                self.fail(here, f"invalid attribute name {key!r}: {problem}; skreid restores "
                          "only declared fitted attributes, refusing the file.")
            # straight into the instance dict: no property or __setattr__ of the class runs
            obj.__dict__[key] = self.decode(item, f"{here}.{key}")
        for key in entry.transient:
            obj.__dict__[key] = None
        return obj
