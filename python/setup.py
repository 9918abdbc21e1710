"""Build the forkcache Python package (the C extension forkcache._forkcache).

From the repository root, with Debian's interpreter:
    /usr/bin/python3 -m pip install --break-system-packages \
        --no-build-isolation ./python
(--no-build-isolation: use Debian's setuptools, no download). The extension
compiles the library's own sources (lib/, as listed in lib/CMakeLists.txt)
into itself, so it never picks up an older installed libforkcache. The tests
use the CMake build instead (build/python, see python/README.md).
"""
import os
import re
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def lib_sources():
    with open(os.path.join(ROOT, "lib", "CMakeLists.txt")) as f:
        m = re.search(r"set\(FC_LIB_SOURCES([^)]*)\)", f.read())
    return [os.path.join("..", "lib", s) for s in m.group(1).split()]


def pkg_config(*args):
    out = subprocess.check_output(["pkg-config", *args,
                                   "ck", "liburcu", "libxxhash"], text=True)
    return out.split()


cflags = pkg_config("--cflags")
libs = pkg_config("--libs")

ext = Extension(
    "forkcache._forkcache",
    sources=["forkcache/_forkcache.c"] + lib_sources(),
    include_dirs=["../include", "../lib"],
    define_macros=[("_GNU_SOURCE", None)],
    extra_compile_args=["-std=c11", "-O2", "-fvisibility=hidden"] + cflags,
    libraries=[f[2:] for f in libs if f.startswith("-l")],
    library_dirs=[f[2:] for f in libs if f.startswith("-L")],
)

setup(
    name="forkcache",
    version="0.1.0",
    description="One TTL cache in shared memory for the processes of a "
                "prefork server (gunicorn): Cache, TTLCache, cached, "
                "cachelib and Flask-Caching backends",
    packages=["forkcache"],
    ext_modules=[ext],
    python_requires=">=3.9",
)
