"""A Keras network as the bytes of its ``.keras`` file, checked before Keras sees it.

Keras's ``safe_mode=True`` refuses Lambda layers whose code was serialised; this module adds a
stricter check of its own first, on the ``.keras`` file's JSON, so that a crafted network is
refused with a message naming what was found and without even importing Keras: only the
members Keras writes, no ``Lambda``/``__lambda__`` object anywhere in the configuration, and
every class from a ``keras`` module or registered by skreid (``skreid>...``).
"""

import io
import json
import os
import tempfile
import zipfile

from skreid.utils import UnsafeArchiveError

_KERAS_MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
_CODE_CLASSES = {"Lambda", "__lambda__", "TFOpLambda", "function_type"}


def model_to_bytes(model):
    """The bytes of ``model.save(...)`` to a ``.keras`` file."""
    with tempfile.TemporaryDirectory(prefix="skreid_save_") as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as fh:
            data = fh.read()
    # refuse to write what load would refuse (e.g. a Lambda layer in a callable architecture)
    check_keras_bytes(data, "skreid.save: the Keras network")
    return data


def _walk(node, where):
    if isinstance(node, dict):
        class_name = node.get("class_name")
        if class_name in _CODE_CLASSES:
            raise UnsafeArchiveError(
                f"{where}: the network holds a Keras {class_name!r} object (Python code); "
                "skreid files never carry code, refusing it."
            )
        module = node.get("module")
        if module == "builtins" and class_name == "function":
            # a registered function (a loss, a metric) is saved as its registered name
            name = node.get("config")
            if not isinstance(name, str) or (">" in name and not name.startswith("skreid>")):
                raise UnsafeArchiveError(
                    f"{where}: the network needs function {name!r}, which is not registered "
                    "by skreid; refusing it."
                )
        elif module is not None and not (
            isinstance(module, str)
            and (module == "keras" or module.startswith(("keras.", "skreid._keras.")))
        ):
            raise UnsafeArchiveError(
                f"{where}: the network refers to module {module!r} (class {class_name!r}); "
                "skreid loads only Keras's own and skreid's registered layers."
            )
        registered = node.get("registered_name")
        if isinstance(registered, str) and ">" in registered \
                and not registered.startswith("skreid>"):
            raise UnsafeArchiveError(
                f"{where}: the network needs custom object {registered!r}, which is not "
                "registered by skreid; refusing it."
            )
        for value in node.values():
            _walk(value, where)
    elif isinstance(node, list):
        for value in node:
            _walk(value, where)


def check_keras_bytes(data, where):
    """Refuse a ``.keras`` file with unknown members or code in its configuration."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            unexpected = sorted(names - _KERAS_MEMBERS)
            if unexpected or "config.json" not in names:
                raise UnsafeArchiveError(
                    f"{where}: not a plain .keras network (unexpected member "
                    f"{unexpected[0] if unexpected else 'none'}, config.json "
                    f"{'present' if 'config.json' in names else 'missing'})."
                )
            config = json.loads(zf.read("config.json").decode("utf-8"))
    except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsafeArchiveError(f"{where}: damaged .keras network ({exc}).") from None
    _walk(config, where)


def model_from_bytes(data, where):
    """Check, then load the network with ``keras.saving.load_model(..., safe_mode=True)``."""
    check_keras_bytes(data, where)
    from skreid._keras import import_keras
    from skreid._keras import register_custom_objects as _register_custom_objects

    try:
        keras = import_keras()
    except ImportError:
        raise ImportError(
            f"{where} is a Keras network: install Keras and TensorFlow to load it "
            "(pip install 'skreid[tf-cpu]'), or use an ONNX export with skreid.runtime."
        ) from None
    _register_custom_objects()
    with tempfile.TemporaryDirectory(prefix="skreid_load_") as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            # compile=True like unpickling: warm_start/partial_fit continue with the optimizer
            return keras.saving.load_model(path, compile=True, safe_mode=True)
        except Exception as exc:
            raise UnsafeArchiveError(
                f"{where}: Keras could not load the network safely "
                f"({type(exc).__name__}: {str(exc)[:300]})."
            ) from exc
