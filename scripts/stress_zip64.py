"""ZIP64 stress test (issue 6, point 5): a store folder of more than 4 GiB in total and
more than 65,535 files goes through `zip_dir`, is read in place (`Store.zip`), checked
by Python's zipfile (every CRC), unzipped, and compared file by file with the source.

Too slow and too big for CI: needs about 3 x the total size of free disk in the work
folder (default: a temporary folder under the current directory).

    python scripts/stress_zip64.py [--gib 4.5] [--files 70000] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from wfstore import _core

BLOCK = 1 << 20


def _big_file(path: Path, size: int, seed: int) -> str:
    """Write `size` bytes of varied (not all-zero) data; return its sha256."""
    h = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * (BLOCK // 32)
    with open(path, "wb") as fh:
        left = size
        n = 0
        while left:
            chunk = block[: min(left, BLOCK)]
            # a counter in each block, so no two blocks are equal
            chunk = n.to_bytes(8, "little") + chunk[8:]
            fh.write(chunk)
            h.update(chunk)
            left -= len(chunk)
            n += 1
    return h.hexdigest()


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(BLOCK * 8):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gib", type=float, default=4.5, help="total size of the big files")
    ap.add_argument("--files", type=int, default=70_000, help="number of small files")
    ap.add_argument("--workdir", type=Path, default=Path.cwd())
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()

    total = int(args.gib * (1 << 30))
    need = 3 * total + (args.files << 10)
    free = shutil.disk_usage(args.workdir).free
    if free < need + (2 << 30):
        print(f"not enough disk: {free / 2**30:.1f} GiB free, need {need / 2**30:.1f} GiB")
        return 2
    work = Path(tempfile.mkdtemp(prefix="wfstore-zip64-", dir=args.workdir))
    t0 = time.perf_counter()
    steps: list[tuple[str, float]] = []

    def step(name: str, since: float) -> float:
        now = time.perf_counter()
        steps.append((name, now - since))
        print(f"{name}: {now - since:.1f} s", flush=True)
        return now

    try:
        src = work / "store"
        src.mkdir()
        expected: dict[str, str] = {}
        # two big files: one over 4 GiB on its own would need ZIP64 sizes; together
        # with the small files the archive is over 4 GiB (ZIP64 offsets)
        sizes = [total - (1 << 30), 1 << 30] if total > (2 << 30) else [total]
        for i, size in enumerate(sizes):
            name = f"parameters/arrays/param_{i}/arr_0/0"
            (src / name).parent.mkdir(parents=True)
            expected[name] = _big_file(src / name, size, i)
        for i in range(args.files):
            name = f"metadata/runs/{i}"
            p = src / name
            if i == 0:
                p.parent.mkdir(parents=True)
            data = f"run {i}".encode()
            p.write_bytes(data)
            expected[name] = hashlib.sha256(data).hexdigest()
        t = step(f"wrote {len(expected)} files, {sum(sizes) / 2**30:.2f} GiB", t0)

        arc = work / "store.zip"
        rep = _core.zip_dir(src, arc)
        assert rep["entries"] == len(expected), rep
        t = step(f"zip_dir: {rep['entries']} entries, {arc.stat().st_size / 2**30:.2f} GiB", t)

        store = _core.Store.zip(arc)
        assert store.get("metadata/runs/69999" if args.files > 69999 else "metadata/runs/0")
        assert len(store.list_dir("metadata/runs")) == args.files
        t = step("Store.zip: opened, listed, read", t)

        with zipfile.ZipFile(arc) as zf:
            infos = zf.infolist()
            assert len(infos) == len(expected)
            bad = zf.testzip()
            assert bad is None, f"zipfile: bad CRC in {bad}"
        t = step("zipfile.testzip: every CRC checked", t)

        shutil.rmtree(src)
        out = work / "out"
        rep = _core.unzip(arc, out)
        assert rep["entries"] == len(expected)
        t = step(f"unzip: {rep['entries']} entries, {rep['bytes'] / 2**30:.2f} GiB", t)

        for name, digest in expected.items():
            assert _sha(out / name) == digest, name
        found = sum(len(files) for _, _, files in os.walk(out))
        assert found == len(expected), (found, len(expected))
        step("every file equal to the source", t)
        print(f"ZIP64 round trip OK in {time.perf_counter() - t0:.1f} s")
        return 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
