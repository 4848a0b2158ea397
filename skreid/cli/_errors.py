"""Which failures are the user's to fix: the one place that maps exception types to exit 2.

``main`` asks :func:`user_error` about every exception a command raises. A user error (bad
arguments, a file that is missing, unreadable, refused or of the wrong kind, an optional
dependency that is not installed, a model that is not fitted) gets exit 2 and one line that
names what is wrong and how to fix it; anything else is a bug: exit 1 with the traceback.

Commands still raise :class:`~skreid.cli._common.CLIError` where they can say more (which
argument, which file); the table catches what the libraries below raise on their own.
"""

import errno
import importlib.util

from skreid.cli._common import CLIError, first_line

#: optional dependency (top-level module) -> the skreid extra that installs it
EXTRAS = {
    "tensorflow": "tf-cpu", "keras": "tf-cpu", "tf2onnx": "export", "onnx": "export",
    "onnxruntime": "runtime", "faiss": "search", "dask": "dask", "distributed": "dask",
    "dask_ml": "dask", "skops": "skops",
}

# errors of the file system that a person fixes (a path, a permission, a full disk)
_PATH_ERRNOS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR,
                errno.EEXIST, errno.ENOSPC, errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP,
                errno.EDQUOT, errno.EXDEV, errno.ENXIO, errno.ETXTBSY}


_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
                FileExistsError)


def install_hint(module, what="this command"):
    """``"<what> needs <module>, which is not installed: pip install 'skreid[<extra>]'."``"""
    root = module.split(".")[0]
    return (f"{what} needs {root}, which is not installed: "
            f"pip install 'skreid[{EXTRAS.get(root, 'tf-cpu')}]'.")


def require(module, what):
    """Raise CLIError with the install hint unless ``module`` can be imported (checked without
    importing it, so a missing TensorFlow is reported before any work)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise CLIError(install_hint(module, what))


def _missing_module(exc):
    name = (exc.name or "").split(".")[0]
    return install_hint(name) if name in EXTRAS else None


def _import_error(exc):
    # skreid's own ImportErrors name the extra to install ("... pip install 'skreid[...]'")
    text = first_line(exc)
    return text if "pip install" in text else None


def _os_error(exc):
    if exc.errno is None and exc.filename is None and isinstance(exc, _PATH_ERRORS):
        return first_line(exc)  # raised by skreid with a message that names the path
    if exc.errno not in _PATH_ERRNOS or exc.filename is None:
        return None
    where = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
    return f"{where}: {exc.strerror or first_line(exc)}."


def _not_fitted(exc):
    return f"the model is not fitted ({first_line(exc)})"


def _first_line(exc):
    return first_line(exc)


def _user_error_types():
    """(exception type, exc -> line or None) pairs, most specific first. Imported lazily: a
    library that is not installed contributes no type."""
    from sklearn.exceptions import NotFittedError

    from skreid.saving import UnsupportedEstimatorError
    from skreid.search import IncompatibleIndexError
    from skreid.utils import UnsafeArchiveError

    table = [
        (CLIError, _first_line),
        (NotFittedError, _not_fitted),
        (UnsafeArchiveError, _first_line),
        (IncompatibleIndexError, _first_line),
        (UnsupportedEstimatorError, _first_line),
        (ModuleNotFoundError, _missing_module),
        (ImportError, _import_error),
        (OSError, _os_error),
    ]
    try:
        from PIL import Image

        table.append((Image.DecompressionBombError, _first_line))
    except ImportError:  # pragma: no cover - pillow is a core dependency
        pass
    return table


def user_error(exc):
    """The one line to print for ``exc`` if it is a user error, else None (a bug: exit 1)."""
    try:
        table = _user_error_types()
    except ImportError:  # pragma: no cover - a broken installation: report CLIError at least
        table = [(CLIError, _first_line)]
    for types, describe in table:
        if isinstance(exc, types):
            line = describe(exc)
            if line:
                return line
    return None
