"""Fixtures for the forkcache Python tests. Run from the repository root:
    cmake --build build && (cd build && ctest -L python --output-on-failure)
or  PYTHONPATH=build/python /usr/bin/python3 -m pytest python/tests
Shared-memory names are unique per process (pid + counter) and removed."""
import itertools
import os
import sys

import pytest

import forkcache

_n = itertools.count()


def _check_fresh_build():
    # The tests must exercise this checkout's build, never an installed copy:
    # ctest sets FORKCACHE_TEST_BUILD to <build>/python.
    want = os.environ.get("FORKCACHE_TEST_BUILD")
    here = os.path.realpath(os.path.dirname(forkcache.__file__))
    if want and not here.startswith(os.path.realpath(want) + os.sep):
        sys.exit("forkcache imported from %s, not from the build %s"
                 % (here, want))


_check_fresh_build()


def unique_name(tag="t"):
    return "/fcpy-%s-%d-%d" % (tag, os.getpid(), next(_n))


@pytest.fixture
def name():
    n = unique_name()
    yield n
    forkcache.unlink(n)


@pytest.fixture
def cache():
    c = forkcache.Cache(size="8M")
    yield c
    c.close()


def run_in_child(fn):
    """fork; run fn() in the child; return its exit code (0 = passed)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = fn() or 0
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
