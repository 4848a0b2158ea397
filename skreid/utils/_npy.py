"""Read one ``.npy`` payload from bytes, checking its header against its size before allocating.

``np.load`` trusts the header: a few bytes claiming a shape of ``(2**40, 6)`` make it allocate
24 TiB (a raw ``MemoryError``, or worse, an overcommitted success and a failure later). Here
the header is parsed first, and the array is built only if the bytes after it hold exactly
``prod(shape) * itemsize`` bytes of a dtype that needs no pickle.
"""

import io
import math

import numpy as np

__all__ = ["load_npy_bytes"]


def load_npy_bytes(data, where, error=ValueError):
    """The array of the ``.npy`` bytes ``data``; ``error(message)`` naming ``where`` if unsafe.

    Parameters
    ----------
    data : bytes
        A whole ``.npy`` file.
    where : str
        Names the payload in messages (e.g. ``"model.skreid: member 'arrays/0.npy'"``).
    error : type, default=ValueError
        The exception type raised for a payload that is refused.
    """
    fmt = np.lib.format
    fp = io.BytesIO(data)
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, TypeError, SyntaxError, OverflowError, MemoryError, RecursionError) \
            as exc:
        raise error(f"{where}: not a valid .npy payload ({str(exc)[:200]}).") from None
    if dtype.hasobject:
        raise error(f"{where}: holds a {dtype} array, which cannot be loaded without pickle; "
                    "refusing it.")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise error(f"{where}: invalid array shape {shape!r:.80}.")
    expected = math.prod(shape) * dtype.itemsize
    available = len(data) - fp.tell()
    if expected != available:
        raise error(
            f"{where}: the header claims a {dtype} array of shape {shape!r:.80} "
            f"({expected:,} bytes) but {available:,} bytes follow it; refusing a damaged or "
            "crafted array."
        )
    fp.seek(0)
    try:
        return np.load(fp, allow_pickle=False)
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        raise error(f"{where}: cannot be loaded without pickle ({str(exc)[:200]}).") from None
