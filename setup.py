"""Build the compiled core of fastmlp.

OpenMP is detected the way POT and scikit-learn do it: compile and link a tiny
OpenMP program with the candidate flags; if that fails the extension is still
built, single-threaded, and a warning says so.
"""

import os
import sys
import shutil
import tempfile
import textwrap
import warnings
import subprocess

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_TEST = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d", n > 0);
        return 0;
    }
    """
)


def _openmp_flags(compiler_type):
    if compiler_type == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


def _check_openmp(cc, compile_args, link_args):
    """True if `cc` compiles, links and runs an OpenMP program with the flags."""
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "omp_test.c")
        exe = os.path.join(tmp, "omp_test")
        with open(src, "w") as f:
            f.write(OPENMP_TEST)
        cmd = [cc, src, "-o", exe] + compile_args + link_args
        res = subprocess.run(cmd, capture_output=True)
        if res.returncode != 0:
            return False
        out = subprocess.run([exe], capture_output=True)
        return out.returncode == 0 and out.stdout.strip() == b"1"
    except OSError:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def build_extensions(self):
        ctype = self.compiler.compiler_type
        compile_args, link_args = _openmp_flags(ctype)
        if ctype == "msvc":
            opt = ["/O2"]
            have_omp = True
        else:
            opt = ["-O3"]
            cc = self.compiler.compiler_so[0]
            have_omp = os.environ.get("FASTMLP_NO_OPENMP") is None and _check_openmp(
                cc, compile_args, link_args
            )
        if not have_omp:
            warnings.warn(
                "fastmlp: the C compiler has no working OpenMP support; building "
                "the compiled core single-threaded."
            )
            compile_args, link_args = [], []
        for ext in self.extensions:
            ext.extra_compile_args = opt + compile_args + ext.extra_compile_args
            ext.extra_link_args = link_args + ext.extra_link_args
        super().build_extensions()


extensions = [
    Extension(
        "fastmlp._kernels",
        ["fastmlp/_kernels.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=os.environ.get("FASTMLP_EXTRA_CFLAGS", "").split(),
        extra_link_args=os.environ.get("FASTMLP_EXTRA_LDFLAGS", "").split(),
    ),
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": 3},
    ),
    cmdclass={"build_ext": BuildExt},
)
