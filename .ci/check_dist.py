"""Inspect the sdist and wheel(s) in a folder; exit 1 with a list of problems.

    python3 .ci/check_dist.py DIST [--no-openmp]

sdist: the committed sources and tests (tests/reference.py included), the
LICENSE, no build products. Wheel: what runs and nothing else (no C, Cython or
header sources), metadata with the SPDX license and requires-python, and
every compiled module without debug info or a RUNPATH, the objective linked
to the OpenMP runtime unless built with --no-openmp.
"""

import argparse
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile

SOURCE_SUFFIXES = (".c", ".pyx", ".pxi", ".pxd", ".h")
COMPILED = ("_typedefs", "_core", "_forward", "_objective", "_runtime_threads", "_epochs")


def check_sdist(path):
    with tarfile.open(path) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    problems = [f"sdist lacks {need}" for need in
                ("PKG-INFO", "LICENSE", "meson.build", "src/fastmlp/_objective.pyx",
                 "tests/reference.py", "tests/test_multilayer_perceptron.py")
                if need not in names]
    problems += [f"sdist holds a build product: {n}" for n in names
                 if ".egg-info" in n or n.endswith((".so", ".o"))
                 or (n.startswith("src/fastmlp/") and n.endswith(".c"))]
    return problems


def _readelf(flag, lib):
    return subprocess.run(["readelf", flag, "-W", str(lib)], check=True,
                          capture_output=True, text=True).stdout


def check_wheel(path, openmp):
    problems = []
    with zipfile.ZipFile(path) as whl, tempfile.TemporaryDirectory() as tmp:
        names = whl.namelist()
        problems += [f"wheel holds a source file: {n}" for n in names
                     if n.endswith(SOURCE_SUFFIXES)]
        if not any(n.endswith("dist-info/licenses/LICENSE") for n in names):
            problems.append("wheel lacks dist-info/licenses/LICENSE")
        meta = whl.read(next(n for n in names if n.endswith("dist-info/METADATA"))).decode()
        for line in ("License-Expression: BSD-3-Clause", "Requires-Python: >=3.11"):
            if line not in meta.splitlines():
                problems.append(f"wheel METADATA lacks '{line}'")
        for name in COMPILED:
            libs = [n for n in names if n.startswith(f"fastmlp/{name}.") and n.endswith(".so")]
            if not libs:
                problems.append(f"wheel lacks the compiled module fastmlp/{name}*.so")
                continue
            lib = whl.extract(libs[0], tmp)
            dynamic = _readelf("-d", lib)
            if "RUNPATH" in dynamic or "RPATH" in dynamic:
                problems.append(f"{name} has a RUNPATH/RPATH")
            if ".debug_" in _readelf("-S", lib):
                problems.append(f"{name} carries debug info")
            threaded = "libgomp" in dynamic or "libomp" in dynamic
            if name == "_objective" and openmp != threaded:
                problems.append(f"{name} {'does not link' if openmp else 'links'} "
                                "an OpenMP runtime")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dist", type=pathlib.Path)
    parser.add_argument("--no-openmp", action="store_true")
    args = parser.parse_args()
    sdists = sorted(args.dist.glob("*.tar.gz"))
    wheels = sorted(args.dist.glob("*.whl"))
    problems = [] if wheels else ["no wheel"]
    for path in sdists:
        problems += check_sdist(path)
    for path in wheels:
        problems += check_wheel(path, openmp=not args.no_openmp)
    for p in problems:
        print("check_dist:", p, file=sys.stderr)
    print(f"check_dist: {len(sdists)} sdist, {len(wheels)} wheel, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
