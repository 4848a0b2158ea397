"""The Dask side of skreid.parallel: connecting to a scheduler, the TensorFlow-threads plugin,
and running the embedding tasks with every wait on the cluster bounded.

Imported only when a function that needs ``distributed`` is called (``pip install
"skreid[dask]"``).

``distributed`` bounds the TCP connection to a scheduler but not the handshake after it, so a
peer that accepts connections and never answers holds ``Client(address, timeout=2)`` until it
closes the socket (minutes). For a scheduler given by its address, skreid therefore runs the
whole job (connect, wait for a worker, compute, close) as an asynchronous client on an event
loop of its own, in a thread of its own, and bounds each wait for an answer with
``asyncio.wait_for``: a silent peer costs ``timeout`` seconds, then a ConnectionError.
"""

import asyncio
import os
import threading
import uuid

from skreid.parallel._embed import check_timeout
from skreid.utils.tf_threads import ENV_VAR

try:
    import distributed
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "skreid.parallel needs Dask's distributed scheduler: pip install 'skreid[dask]' "
        "(dask, distributed, dask-ml)."
    ) from exc

__all__ = ["TensorFlowThreads", "check_address", "connect", "run_on_address", "run_on_client"]

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
    Not run by the test suite (``+SKIP``): it needs a running Dask scheduler.

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


def check_address(address):
    """Refuse, at once, an address no scheduler can have (no port, unknown scheme, ...)."""
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address, parse_host_port

    hint = "a scheduler address such as 'tcp://10.0.0.5:8786'"
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"address must be {hint}, got {address!r}.")
    try:
        scheme, loc = parse_address(address, strict=False)
        registry.get_backend(scheme)
        if scheme in ("tcp", "tls"):
            host, port = parse_host_port(loc)
            if not host or not 0 < int(port) < 65536:
                raise ValueError("the host is empty or the port is not in 1..65535")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"address {address!r:.100} is not {hint} ({exc}).") from None
    return address


def _no_answer(address, timeout, what="answered"):
    return ConnectionError(
        f"No Dask scheduler {what} at {address!r} within {timeout:g} s. Start one with "
        "`dask scheduler` (it prints its address) and workers with `dask worker ADDRESS`, or "
        "check the address and the firewall."
    )


async def _probe(address, timeout):
    """Connect and complete the handshake and one request (``identity``) within ``timeout``."""
    from distributed.comm import connect as comm_connect

    comm = await comm_connect(address, timeout=timeout)
    try:
        await comm.write({"op": "identity", "reply": True})
        reply = await comm.read()
    finally:
        comm.abort()
    if not isinstance(reply, dict):
        raise OSError(f"{address} did not answer like a Dask scheduler")


def _in_own_loop(coro_fn, *args):
    """``asyncio.run(coro_fn(*args))`` in a new thread (safe under a running event loop, e.g.
    Jupyter's); its exception is re-raised here."""
    out = {}

    def target():
        try:
            out["value"] = asyncio.run(coro_fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            out["error"] = exc

    thread = threading.Thread(target=target, name="skreid-dask", daemon=True)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


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
    ValueError
        ``address`` cannot be a scheduler's, or ``timeout`` is not a positive number.
    ConnectionError
        No scheduler answered at ``address`` within ``timeout`` seconds (a peer that accepts
        the connection and never answers included).
    """
    timeout = check_timeout(timeout)
    check_address(address)
    try:  # the handshake, bounded (distributed's own connect would wait for it forever)
        _in_own_loop(lambda: asyncio.wait_for(_probe(address, timeout), timeout))
    except (OSError, TimeoutError, asyncio.TimeoutError):
        raise _no_answer(address, timeout) from None
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
        client.register_plugin(TensorFlowThreads())
    except (OSError, TimeoutError) as exc:
        raise _no_answer(address, timeout) from exc
    return client


def _graph(model, chunks, batch_size, image_size, embed_chunk):
    import dask

    token = uuid.uuid4().hex[:12]
    # the model is one key of the graph (not scattered data): a worker that needs it gets a
    # copy from a peer or from the graph, so it survives the death of every worker holding it
    model = dask.delayed(model, name=f"skreid-model-{token}", traverse=False)
    embed = dask.delayed(embed_chunk, pure=False)
    return [embed(chunk, model, batch_size, image_size, dask_key_name=f"skreid-embed-{token}-{i}")
            for i, chunk in enumerate(chunks)]


def _failure(exc, futures, chunks):
    """The RuntimeError naming the partition whose task kept killing workers."""
    key = getattr(exc, "task", None) or getattr(exc, "key", None)
    index = next((i for i, f in enumerate(futures) if f.key == key), None)
    where = (" (holding the model, which every partition needs)" if index is None
             else f" (partition {index}, first file {chunks[index][0]!r})")
    last = getattr(getattr(exc, "last_worker", None), "address", None)
    return RuntimeError(
        f"embed_images failed: a task{where} killed every worker that ran it"
        f"{f' (the last was {last})' if last else ''}; nothing was returned. Check the "
        f"workers' logs (memory limit?). Dask said: {exc}"
    )


def _no_worker(address, timeout):
    return ConnectionError(f"The Dask scheduler at {address!r} has no worker after "
                           f"{timeout:g} s: start some with `dask worker {address}`.")


def _silent(address, timeout):
    return ConnectionError(f"The Dask scheduler at {address!r} stopped answering (no reply "
                           f"within {timeout:g} s) while the images were embedded; nothing "
                           "was returned.")


_LOST = (distributed.KilledWorker, distributed.client.FutureCancelledError)


def run_on_client(client, model, chunks, batch_size, image_size, timeout, embed_chunk):
    """Embed ``chunks`` on the cluster of a connected (synchronous) ``client``; the waits for a
    worker and for the scheduler's answers are bounded by ``timeout``."""
    address = client.scheduler.address
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError):
        raise _no_worker(address, timeout) from None
    client.register_plugin(TensorFlowThreads())
    futures = client.compute(_graph(model, chunks, batch_size, image_size, embed_chunk))
    try:
        while True:
            try:
                distributed.wait(futures, timeout=timeout)
                break
            except TimeoutError:  # still working: is the scheduler still answering?
                try:
                    client.sync(client.scheduler.identity, callback_timeout=timeout)
                except (TimeoutError, OSError):
                    raise _silent(address, timeout) from None
        return client.gather(futures)
    except _LOST as exc:
        raise _failure(exc, futures, chunks) from exc
    finally:
        client.cancel(futures)


async def _bounded(awaitable, timeout, error):
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except (asyncio.TimeoutError, TimeoutError, OSError):
        raise error from None


async def _run_async(address, model, chunks, batch_size, image_size, timeout, embed_chunk):
    async def started(client):
        return await client

    client = distributed.Client(address, asynchronous=True, timeout=timeout,
                                set_as_default=False)
    futures = []
    try:
        await _bounded(started(client), timeout, _no_answer(address, timeout))
        await _bounded(client.wait_for_workers(1, timeout=timeout), timeout + 1,
                       _no_worker(address, timeout))
        await _bounded(client.register_plugin(TensorFlowThreads()), timeout,
                       _no_answer(address, timeout, "answered in time"))
        futures = client.compute(_graph(model, chunks, batch_size, image_size, embed_chunk))
        gather = asyncio.ensure_future(client.gather(futures))
        while not (await asyncio.wait({gather}, timeout=timeout))[0]:
            try:  # still working: is the scheduler still answering?
                await _bounded(client.scheduler.identity(), timeout, _silent(address, timeout))
            except ConnectionError:
                gather.cancel()
                raise
        try:
            return gather.result()
        except _LOST as exc:
            raise _failure(exc, futures, chunks) from exc
    finally:
        try:
            if futures and client.status == "running":
                await asyncio.wait_for(client.cancel(futures), timeout)
            await asyncio.wait_for(client.close(timeout=timeout), timeout)
        except (asyncio.TimeoutError, TimeoutError, OSError):
            pass  # the loop is closed next: its sockets close with it


def run_on_address(address, model, chunks, batch_size, image_size, timeout, embed_chunk):
    """Embed ``chunks`` on the scheduler at ``address``: connect, compute and close with each
    wait for an answer bounded by ``timeout`` (see the module's docstring)."""
    check_address(address)
    return _in_own_loop(_run_async, address, model, chunks, batch_size, image_size, timeout,
                        embed_chunk)
