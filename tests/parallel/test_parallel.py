"""skreid on a real Dask cluster: model selection equals the local run, embed_images equals the
local transform, a worker killed mid-job, no scheduler at an address.

One ``distributed.LocalCluster`` (2 worker processes, 1 thread each, on 127.0.0.1) serves the
module; the Keras tests are marked slow (each worker imports TensorFlow).
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import joblib
import numpy as np
import pytest
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_validate,
)

from skreid.datasets import make_people, make_pets
from skreid.metrics import make_map_scorer, make_top_n_scorer
from skreid.model_selection import IdentityKFold
from skreid.parallel import embed_images
from skreid.reid import PCAReID, make_classical_reid

distributed = pytest.importorskip("distributed")

PEOPLE = dict(n_identities=24, n_images_per_identity=4, n_cameras=2,
              image_shape=(32, 16, 3), random_state=0)
SCORING = {"top1": make_top_n_scorer(1), "map": make_map_scorer()}


@pytest.fixture(scope="module")
def cluster():
    import dask

    # a task may see one worker die under it (the kill test), not two (the poison test)
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  memory_limit="3GiB", silence_logs=40) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


@pytest.fixture(scope="module")
def people():
    return make_people(**PEOPLE)


def _on_dask(search, *args, **kwargs):
    with joblib.parallel_config(backend="dask"):
        return search(*args, **kwargs)


def _scores(cv_results):
    return {k: np.asarray(v) for k, v in cv_results.items()
            if k.startswith(("mean_test", "std_test", "split", "rank_test"))}


def _assert_same_search(local, remote, exact=True):
    assert local.best_params_ == remote.best_params_
    for key, value in _scores(local.cv_results_).items():
        if exact:
            np.testing.assert_array_equal(remote.cv_results_[key], value, err_msg=key)
        else:
            np.testing.assert_allclose(remote.cv_results_[key], value, atol=1e-6, err_msg=key)


# ------------------------------------------------------------------ model selection
def test_grid_search_pca_reid_on_dask_equals_local(client, people):
    X, y = people.images, people.person_ids

    def search():
        return GridSearchCV(PCAReID(grayscale=True, random_state=0),
                            {"n_components": [5, 0.9], "whiten": [False, True]},
                            scoring=SCORING, refit="top1", cv=IdentityKFold(3), n_jobs=-1)

    local = search().fit(X, y)
    remote = _on_dask(search().fit, X, y)
    _assert_same_search(local, remote)
    np.testing.assert_array_equal(remote.best_estimator_.transform(X),
                                  local.best_estimator_.transform(X))
    # the tasks really ran on the workers: each has PCAReID's module imported
    assert all(client.run(lambda: "skreid.reid._pca" in sys.modules).values())


def test_randomized_search_and_cross_validate_classical_pipeline_on_dask(client, people):
    X, y = people.images, people.person_ids

    def search():
        return RandomizedSearchCV(
            make_classical_reid(cell_size=4, n_scales=2),
            {"reid__n_components": [8, 16, 24], "reid__projection": ["xqda", "lda", None],
             "lomo__hsv_bins": [4, 8]},
            n_iter=4, scoring=SCORING, refit="map", cv=IdentityKFold(3), random_state=0,
            n_jobs=-1)

    local = search().fit(X, y)
    remote = _on_dask(search().fit, X, y)
    _assert_same_search(local, remote)

    pipe = make_classical_reid(16, cell_size=4, n_scales=2)
    kw = dict(scoring=SCORING, cv=IdentityKFold(4), n_jobs=-1)
    local_cv = cross_validate(pipe, X, y, **kw)
    remote_cv = _on_dask(cross_validate, pipe, X, y, **kw)
    for key in ("test_top1", "test_map"):
        np.testing.assert_array_equal(remote_cv[key], local_cv[key])


# Found by these tests: a tiny TripletEmbedder fitted twice in one Dask worker process gave
# different embeddings (first-epoch loss 3.623 on a worker vs 3.602 in a plain thread).
# Keras drew the default seed of every unseeded initializer and SeedGenerator from Python's
# global RNG, which a worker process also draws from in its other threads while a task runs
# (dask.sizeof samples lists with random.sample). Fixed by skreid/_keras/_seeding.py: inside a
# seeded fit those seeds come from a generator of the fitting thread (tests/_keras/test_seeding.py).


def _tiny_triplet(**params):
    from skreid.reid import TripletEmbedder

    base = dict(backbone="seed", image_size=None, weights=None, epochs=1, batch_size=8,
                images_per_identity=2, validation_fraction=0.0, augment=False,
                random_state=0)
    return TripletEmbedder(**{**base, **params})


def _fit_embed(estimator, X, y):
    """A worker task: fit, embed, and report the TF pools and what the fit left behind."""
    import tensorflow as tf

    np.random.seed(123)  # noqa: NPY002 (the global RNG must be left as the fit found it)
    Z = estimator.fit(X, y).transform(X)
    threads = (tf.config.threading.get_intra_op_parallelism_threads(),
               tf.config.threading.get_inter_op_parallelism_threads())
    # (Python's global RNG is restored too, but other threads of a worker draw from it)
    return Z, threads, float(np.random.rand())  # noqa: NPY002


def _triplet_search():
    return GridSearchCV(_tiny_triplet(), {"margin": [0.3, 1.0], "embedding_dim": [8, 16]},
                        scoring=SCORING, refit="top1", cv=IdentityKFold(2), n_jobs=-1)


def _pets_search():
    from skreid.pets import MultiTaskPetNet

    net = MultiTaskPetNet(image_size=16, width=4, depth=2, epochs=2, batch_size=16,
                          augment=False, random_state=0)
    return GridSearchCV(net, {"width": [2, 4]}, scoring=make_top_n_scorer(1),
                        cv=KFold(2, shuffle=True, random_state=0), n_jobs=-1)


def _keras_search(name, people):
    """The search factory and its data for the Keras grid-search test ``name``."""
    if name == "triplet":
        return _triplet_search, (people.images, people.person_ids)
    pets = make_pets(n_samples=48, n_classes=3, image_size=16, random_state=0)
    return _pets_search, (pets.images, pets.labels)


def _print_local_reference(name):
    """Run in a fresh process by _local_reference: print the local run's result as JSON."""
    people = make_people(**PEOPLE)
    if name == "embed":
        value = _tiny_triplet(epochs=2).fit(people.images, people.person_ids).transform(
            people.images).tolist()
    else:
        search, data = _keras_search(name, people)
        fitted = search().set_params(n_jobs=1).fit(*data)
        value = {"best_params": fitted.best_params_,
                 "scores": {k: v.tolist() for k, v in _scores(fitted.cv_results_).items()}}
    print(json.dumps(value))


def _local_reference(name):
    """The local run of a Keras job with TensorFlow at the workers' share (one thread per
    pool), in a fresh process: this one's TensorFlow may already run on every core, and two
    threads instead of one alone move a 2-epoch tiny fit's embeddings by up to 7e-4 (different
    summation orders), enough to swap near-tied neighbours in a Top-1 score."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = (f"import sys; sys.path[:0] = [{here!r}, {os.path.dirname(here)!r}]; "
            f"import test_parallel; test_parallel._print_local_reference({name!r})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "SKREID_TF_THREADS": "1"}, timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_triplet_embedder_on_a_worker_repeats_and_matches_local(client, people):
    X, y = people.images, people.person_ids
    est = _tiny_triplet(epochs=2)
    worker = sorted(client.scheduler_info()["workers"])[0]
    runs = [client.submit(_fit_embed, est, X, y, workers=[worker], pure=False).result()
            for _ in range(2)]
    # two tasks in one worker process: no state leaks from the first into the second
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    # the worker's share: 1 thread (threads_per_worker=1) in both TensorFlow pools
    assert runs[0][1] == (1, 1)
    # the seeded fit left the worker's global NumPy RNG where it found it
    assert runs[0][2] == runs[1][2] == np.random.RandomState(123).rand()
    # and the worker computes what a local process with the same thread share computes
    np.testing.assert_array_equal(runs[0][0], np.asarray(_local_reference("embed"),
                                                         dtype=np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["triplet", "pets"])
def test_grid_search_keras_estimators_on_dask_match_local(client, people, name):
    search, data = _keras_search(name, people)
    remote = _on_dask(search().fit, *data)
    local = _local_reference(name)
    assert remote.best_params_ == local["best_params"]
    for key, value in local["scores"].items():
        np.testing.assert_array_equal(remote.cv_results_[key], value, err_msg=key)


# ------------------------------------------------------------------ embed_images
@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("crops")
    people = make_people(n_identities=50, n_images_per_identity=6, n_cameras=3,
                         image_shape=(32, 16, 3), random_state=1)
    paths = []
    for i, image in enumerate(people.images):
        paths.append(str(folder / f"{i:04d}_c{people.camera_ids[i]}.png"))
        Image.fromarray(image).save(paths[-1])
    # shuffled: the result must follow the order given, not the names
    order = np.random.default_rng(0).permutation(len(paths))
    return [paths[i] for i in order], people.images[order], people.person_ids[order]


@pytest.fixture(scope="module")
def fitted(people):
    return make_classical_reid(16, cell_size=4, n_scales=2).fit(people.images,
                                                                people.person_ids)


def _worker_env(name):
    # (os.environ.get itself would travel as a bound method of *this* process's environ)
    return os.environ.get(name)


def test_embed_images_on_dask_equals_local_transform(client, image_files, fitted):
    paths, images, _ = image_files
    assert len(paths) == 300
    expected = fitted.transform(images)
    result = embed_images(fitted, paths, client, batch_size=32)
    assert result.keys == paths
    # float32 BLAS rounds differently for other batch sizes and thread counts: 1e-5 is tight
    # for these unit-scale features, and far below what a wrong row order would give
    np.testing.assert_allclose(result.embeddings, expected, rtol=1e-5, atol=1e-5)
    # embed_images registered the thread plugin: each worker's share is its nthreads (1)
    assert set(client.run(_worker_env, "SKREID_TF_THREADS").values()) == {"1"}
    # in this process (client=None), with other partitions: the same rows
    emb, keys = embed_images(fitted, paths, batch_size=50, partitions=3)
    assert keys == paths
    np.testing.assert_allclose(emb, expected, rtol=1e-5, atol=1e-5)


def test_embed_images_loads_a_model_file_once_per_worker(client, image_files, fitted,
                                                         tmp_path):
    import skreid
    from skreid.search import GalleryIndex

    paths, images, ids = image_files
    model_file = str(tmp_path / "model.skreid")
    skreid.save(fitted, model_file)  # the safe format: workers load it without pickle
    result = embed_images(model_file, paths[:64], client, batch_size=8, loader=_counted_load)
    np.testing.assert_allclose(result.embeddings, fitted.transform(images[:64]), atol=1e-5)
    loads = client.run(_load_count)
    assert sum(loads.values()) <= 2 and all(n <= 1 for n in loads.values()), loads
    # the default loader (skreid.load), in this process; the result feeds a gallery index
    emb, keys = embed_images(model_file, paths[:64], batch_size=16)
    np.testing.assert_allclose(emb, result.embeddings, atol=1e-5)
    index = GalleryIndex(metric="cosine").add(emb, ids=ids[:64], keys=keys)
    assert index.search(emb[:5], k=1).keys[:, 0].tolist() == paths[:5]


_LOADS = []


def _counted_load(path):
    import skreid

    _LOADS.append(path)
    return skreid.load(path)


def _load_count():
    return len(_LOADS)


def test_embed_images_names_the_unreadable_file(client, image_files, fitted, tmp_path):
    paths, _, _ = image_files
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    for where in (client, None):
        with pytest.raises(ValueError, match="broken.jpg"):
            embed_images(fitted, [*paths[:20], str(bad), *paths[20:40]], where, batch_size=8)
    with pytest.raises(ValueError, match="more than once"):
        embed_images(fitted, [paths[0], paths[0]], client)
    with pytest.raises(ValueError, match="batch_size"):
        embed_images(fitted, paths, client, batch_size=0)


def test_embed_images_without_a_scheduler_fails_fast():
    with socket.socket() as sock:  # a port on which nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=f"No Dask scheduler answered at.*{port}"):
        embed_images(PCAReID(), ["a.png"], f"tcp://127.0.0.1:{port}", timeout=2)
    assert time.perf_counter() - start < 15


class SlowReID:
    """A model whose transform is slow enough to kill a worker mid-job (pickled by value)."""

    def __init__(self, model, delay):
        self.model, self.delay = model, delay

    def transform(self, X):
        time.sleep(self.delay)
        return self.model.transform(X)


def test_killing_a_worker_mid_job_still_gives_the_full_result(client, image_files, fitted):
    paths, images, _ = image_files
    pids = client.run(os.getpid)
    victim = sorted(pids)[1]
    result, errors = {}, []

    def job():
        try:
            result["r"] = embed_images(SlowReID(fitted, 0.15), paths, client, batch_size=10)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=job)
    thread.start()
    # wait until the job is under way on the victim, then kill its process outright
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not client.processing().get(victim):
        time.sleep(0.05)
    time.sleep(0.5)
    assert thread.is_alive()  # the job is not done yet: the kill lands mid-job
    os.kill(pids[victim], signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert not errors, errors
    emb, keys = result["r"]
    assert keys == paths
    np.testing.assert_allclose(emb, fitted.transform(images), rtol=1e-5, atol=1e-5)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it
    assert pids[victim] not in client.run(os.getpid).values()


class PoisonReID:
    """A model whose transform kills whichever worker process runs it."""

    def transform(self, X):
        os._exit(1)


def test_a_task_that_kills_every_worker_gives_a_clear_error(client, image_files):
    paths, _, _ = image_files
    # Dask names the task it gave up on: the partition (its first file) or the model's key
    expected = f"(first file '{re.escape(paths[0])}'|holding the model).*killed every worker"
    with pytest.raises(RuntimeError, match=expected):
        embed_images(PoisonReID(), paths[:5], client, partitions=1, image_size=(32, 16))
    client.wait_for_workers(2, timeout=60)


def test_parallel_imports_neither_dask_nor_tensorflow():
    code = ("import sys, skreid.parallel; "
            "print(sorted(m for m in ('dask', 'distributed', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_thread_rule_reads_the_environment(monkeypatch):
    from skreid.parallel import tensorflow_thread_count

    monkeypatch.delenv("SKREID_TF_THREADS", raising=False)
    assert tensorflow_thread_count() is None  # not in a worker: TensorFlow's default
    monkeypatch.setenv("SKREID_TF_THREADS", "3")
    assert tensorflow_thread_count() == 3
    monkeypatch.setenv("SKREID_TF_THREADS", "zero")
    with pytest.raises(ValueError, match="SKREID_TF_THREADS must be a positive int"):
        tensorflow_thread_count()



def test_thread_rule_applies_when_tensorflow_was_imported_first():
    """`import tensorflow` imports Keras: skreid's first import_keras still sizes the pools."""
    code = ("import tensorflow as tf\n"
            "from skreid._keras._base import import_keras\n"
            "import_keras()\n"
            "t = tf.config.threading\n"
            "print(t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "SKREID_TF_THREADS": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1"]

@pytest.fixture(scope="module")
def pca_model(people):
    # skreid index needs a model that records the image shape it was fitted on
    return PCAReID(n_components=10, random_state=0).fit(people.images, people.person_ids)


def test_skreid_index_with_scheduler_equals_the_local_index(cluster, client, image_files,
                                                            pca_model, tmp_path):
    import skreid
    from skreid.cli import main
    from skreid.search import GalleryIndex

    paths, _, _ = image_files
    model_file = str(tmp_path / "model.skreid")
    skreid.save(pca_model, model_file)
    local, remote = str(tmp_path / "local.index"), str(tmp_path / "remote.index")
    assert main(["index", model_file, *paths[:40], "--out", local, "--quiet"]) == 0
    assert main(["index", model_file, *paths[:40], "--out", remote, "--quiet",
                 "--scheduler", cluster.scheduler_address]) == 0
    a, b = GalleryIndex.load(local), GalleryIndex.load(remote)
    assert b.keys.tolist() == a.keys.tolist()
    # float32 PCA embeddings reach ~1.6e3 here, and BLAS sums in another order for another
    # batch size or thread count (1 per worker): a few 1e-3 apart (1.2e-6 of the largest,
    # measured with numpy 2.4 / OpenBLAS 0.3.31 on 1 vs 2 threads), so compare to the scale
    scale = float(np.abs(a.embeddings).max())
    np.testing.assert_allclose(b.embeddings, a.embeddings, rtol=0, atol=1e-5 * scale)
    # a grown folder on the cluster adds only the new files
    assert main(["index", model_file, *paths[:50], "--out", remote, "--quiet",
                 "--scheduler", cluster.scheduler_address]) == 0
    assert len(GalleryIndex.load(remote)) == 50


def test_skreid_index_with_no_scheduler_fails_cleanly(image_files, pca_model, tmp_path, capsys):
    import skreid
    from skreid.cli import main

    paths, _, _ = image_files
    model_file = str(tmp_path / "model.skreid")
    skreid.save(pca_model, model_file)
    with socket.socket() as sock:  # a port on which nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = str(tmp_path / "x.index")
    start = time.monotonic()
    code = main(["index", model_file, *paths[:5], "--out", out, "--quiet",
                 "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert code == 2 and time.monotonic() - start < 60
    assert "--scheduler" in capsys.readouterr().err
    assert not os.path.exists(out)
