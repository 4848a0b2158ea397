"""hypothesis fuzzing of ``skreid.load`` and ``GalleryIndex.load`` over mutated real files.

The files are saved by the test (a PCAReID, a Pipeline with a scikit-learn step, an exact and
a faiss gallery index); each example flips bytes, truncates the file or edits its
``manifest.json`` (re-zipped with valid checksums, so the edit reaches the parser). Whatever
the mutation, loading either succeeds or raises a documented refusal (FileNotFoundError or
skreid.utils.UnsafeArchiveError); it never raises anything else, never resolves a global
through pickle or starts a process (an audit hook watches), and never allocates more than
a bounded amount of memory (tracemalloc). Example counts stay small to keep the suite fast.
"""

import io
import json
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skreid
from skreid.preprocessing import FlattenImages
from skreid.reid import PCAReID
from skreid.search import GalleryIndex
from skreid.utils import UnsafeArchiveError

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")

REFUSALS = (FileNotFoundError, UnsafeArchiveError)
MAX_PEAK = 64 * 2**20  # bytes traced while loading a file of some tens of kB
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])

# code execution shows up as these audit events (a pickle resolving a global, exec/eval of
# code, a process; not "compile", which ast.literal_eval raises when NumPy parses a .npy
# header); the hook records them only while a fuzzed file is being loaded
_WATCHED = {"pickle.find_class", "exec", "os.system", "subprocess.Popen", "os.exec",
            "os.posix_spawn", "os.spawn", "os.fork"}
_SEEN = {"active": False, "events": []}


def _hook(event, args):
    if _SEEN["active"] and event in _WATCHED:
        _SEEN["events"].append(event)


sys.addaudithook(_hook)


class _Files(dict):
    """The originals, with a short repr (hypothesis prints the arguments of a failure)."""

    def __repr__(self):
        return f"<{len(self)} files saved by skreid: {sorted(self)}>"


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """The bytes of real files saved by skreid, by name."""
    root = tmp_path_factory.mktemp("originals")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (24, 16, 8, 3), dtype=np.uint8)
    y = np.arange(24) % 6
    out = {}
    skreid.save(PCAReID(n_components=5).fit(X, y), root / "pca.skreid")
    out["pca"] = (root / "pca.skreid").read_bytes()
    try:
        pipe = make_pipeline(FlattenImages(), StandardScaler(), PCAReID(n_components=4))
        skreid.save(pipe.fit(X, y), root / "pipe.skreid")
        out["pipeline"] = (root / "pipe.skreid").read_bytes()
    except Exception:  # noqa: BLE001 - skops absent: the PCA file alone
        pass
    keys = [f"/data/img{i}.jpg" for i in range(30)]
    emb = rng.normal(size=(30, 8))
    GalleryIndex().add(emb, keys=keys, ids=[i % 5 for i in range(30)], cameras=[1] * 30,
                       signatures=[f"10:{i}:{'ab' * 32}" for i in range(30)]).save(
        root / "exact.idx")
    out["exact-index"] = (root / "exact.idx").read_bytes()
    try:
        GalleryIndex("cosine", backend="faiss").add(emb, keys=keys).save(root / "faiss.idx")
        out["faiss-index"] = (root / "faiss.idx").read_bytes()
    except ImportError:
        pass
    for kind, data in out.items():  # the lazy imports of a first load happen here, not below
        (root / "warm").write_bytes(data)
        (skreid.load if kind in ("pca", "pipeline") else GalleryIndex.load)(root / "warm")
    return _Files(out)


def _load(kind, data, path):
    path.write_bytes(data)
    loader = skreid.load if kind in ("pca", "pipeline") else GalleryIndex.load
    _SEEN["active"], _SEEN["events"] = True, []
    tracemalloc.start()
    try:
        loader(path)
    except REFUSALS as exc:
        assert str(path.name) in str(exc), exc  # the refusal names the file
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        _SEEN["active"] = False
    assert _SEEN["events"] == [], _SEEN["events"]
    assert peak < MAX_PEAK, peak


KINDS = ["pca", "pipeline", "exact-index", "faiss-index"]


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                      min_size=1, max_size=8))
def test_flipped_bytes_are_loaded_or_refused_by_name(originals, tmp_path, kind, flips):
    if kind not in originals:
        pytest.skip(f"{kind}: its optional dependency is not installed")
    data = bytearray(originals[kind])
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    _load(kind, bytes(data), tmp_path / f"{kind}.bin")


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(keep=st.floats(0, 1, exclude_max=True))
def test_truncated_files_are_refused_by_name(originals, tmp_path, kind, keep):
    if kind not in originals:
        pytest.skip(f"{kind}: its optional dependency is not installed")
    data = originals[kind]
    _load(kind, data[:int(keep * len(data))], tmp_path / f"{kind}.bin")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
    | st.sampled_from(["__skreid__", "estimator", "ndarray", "keras", "skops", "0", "1",
                       "embeddings", "faiss.index", "../x", "<U999999999999", "|O", "hnsw"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=8)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


def _edited(original, choice, action, value):
    """The archive with one node of its manifest replaced or deleted (checksums valid)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "manifest.json":
                manifest = json.loads(data)
                paths = list(_paths(manifest))
                path = paths[int(choice * len(paths))]
                if not path:
                    manifest = value
                else:
                    parent = manifest
                    for step in path[:-1]:
                        parent = parent[step]
                    if action == "delete":
                        del parent[path[-1]]
                    else:
                        parent[path[-1]] = value
                data = json.dumps(manifest).encode()
            zout.writestr(item.filename, data)
    return out.getvalue()


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(choice=st.floats(0, 1, exclude_max=True), action=st.sampled_from(["replace", "delete"]),
       value=_JSON)
def test_edited_manifests_are_loaded_or_refused_by_name(originals, tmp_path, kind, choice,
                                                        action, value):
    if kind not in originals:
        pytest.skip(f"{kind}: its optional dependency is not installed")
    _load(kind, _edited(originals[kind], choice, action, value), tmp_path / f"{kind}.bin")
