"""The Dask side of skreid.parallel: connecting to a scheduler, the TensorFlow-threads plugin.

Imported only when a function that needs ``distributed`` is called (``pip install
"skreid[dask]"``).
"""

import os

from skreid.utils import check_positive_number
from skreid.utils.tf_threads import ENV_VAR

try:
    import distributed
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "skreid.parallel needs Dask's distributed scheduler: pip install 'skreid[dask]' "
        "(dask, distributed, dask-ml)."
    ) from exc

__all__ = ["TensorFlowThreads", "connect", "get_client"]

#: seconds to wait for a scheduler before giving up
DEFAULT_TIMEOUT = 10


class TensorFlowThreads(WorkerPlugin):
    """Worker plugin: limit TensorFlow on every worker to that worker's share of the cores.

    On setup it sets ``SKREID_TF_THREADS`` in the worker process to ``n_threads`` (default:
    the worker's ``nthreads``) unless already set, so any later import of TensorFlow through
    skreid sizes its intra- and inter-op pools to it. skreid applies the same rule inside
    worker tasks without the plugin; the plugin also covers code that imports TensorFlow
    outside a task (e.g. unpickling a fitted Keras estimator that was scattered).

    Parameters
    ----------
    n_threads : int or None, default=None
        Threads per worker process; None uses each worker's ``nthreads``.

    Examples
    --------
    >>> from distributed import Client  # doctest: +SKIP
    >>> from skreid.parallel import TensorFlowThreads  # doctest: +SKIP
    >>> client = Client("tcp://scheduler:8786")  # doctest: +SKIP
    >>> client.register_plugin(TensorFlowThreads())  # doctest: +SKIP
    """

    name = "skreid-tensorflow-threads"

    def __init__(self, n_threads=None):
        if n_threads is not None and (isinstance(n_threads, bool) or int(n_threads) != n_threads
                                      or n_threads < 1):
            raise ValueError(f"n_threads must be a positive int or None, got {n_threads!r}.")
        self.n_threads = n_threads

    def setup(self, worker):
        n = self.n_threads or worker.state.nthreads
        os.environ.setdefault(ENV_VAR, str(int(n)))


def connect(address, *, timeout=DEFAULT_TIMEOUT):
    """Connect to the Dask scheduler at ``address``, or fail clearly within ``timeout`` s.

    Parameters
    ----------
    address : str
        Scheduler address, e.g. ``"tcp://10.0.0.5:8786"`` (what ``dask scheduler`` prints).
    timeout : float, default=10
        Seconds to wait for the scheduler.

    Returns
    -------
    client : distributed.Client
        Connected, with :class:`TensorFlowThreads` registered on the workers.

    Raises
    ------
    ConnectionError
        No scheduler answered at ``address`` within ``timeout`` seconds.
    """
    timeout = check_positive_number(timeout, "timeout", unit="seconds")
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"address must be a scheduler address such as "
                         f"'tcp://host:8786', got {address!r}.")
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"No Dask scheduler answered at {address!r} within {timeout:g} s ({exc}). Start "
            "one with `dask scheduler` (it prints its address) and workers with "
            "`dask worker ADDRESS`, or check the address and the firewall."
        ) from None
    client.register_plugin(TensorFlowThreads())
    return client


def get_client(client, *, timeout=DEFAULT_TIMEOUT):
    """Return ``(client, owned)``: a Client given as such or connected from an address."""
    if isinstance(client, distributed.Client):
        return client, False
    if isinstance(client, str):
        return connect(client, timeout=timeout), True
    raise TypeError(
        f"client must be a distributed.Client, a scheduler address (str) or None, "
        f"got {type(client).__name__}."
    )
