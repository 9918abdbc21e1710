"""forkcache.cached: memoization over a shared cache."""
import os
import time

import pytest

import forkcache
from forkcache import cached
from conftest import run_in_child


def test_memoizes_per_arguments_with_a_cache():
    c = forkcache.Cache(size="2M")
    calls = []

    @cached(c)
    def f(x, y=1):
        calls.append((x, y))
        return {"sum": x + y}
    assert f(1) == {"sum": 2} and f(1) == {"sum": 2}
    assert f(1, y=2) == {"sum": 3} and f(2) == {"sum": 3}
    assert calls == [(1, 1), (1, 2), (2, 1)]
    info = f.cache_info()
    assert (info.hits, info.misses, info.currsize) == (1, 3, 3)
    f.cache_clear()
    assert f.cache_info().currsize == 0
    f(1)
    assert len(calls) == 4
    c.close()


def test_functions_sharing_a_cache_do_not_collide():
    c = forkcache.Cache(size="2M")

    @cached(c)
    def double(x):
        return 2 * x

    @cached(c)
    def triple(x):
        return 3 * x
    assert (double(5), triple(5), double(5), triple(5)) == (10, 15, 10, 15)
    c.close()


def test_with_a_ttlcache_uses_its_ttl_and_keys():
    t = forkcache.TTLCache(maxsize=10, ttl=0.2, size="2M")
    n = [0]

    @cached(t, key=lambda x: ("k", x))
    def f(x):
        n[0] += 1
        return x
    f(1), f(1)
    assert n[0] == 1 and t[("k", 1)] == 1
    time.sleep(0.35)
    f(1)
    assert n[0] == 2
    assert f.cache_info().maxsize == 10
    t.close()


def test_exception_propagates_and_nothing_is_cached():
    c = forkcache.Cache(size="2M")
    n = [0]

    @cached(c)
    def boom(x):
        n[0] += 1
        raise RuntimeError("no")
    for _ in range(2):
        with pytest.raises(RuntimeError):
            boom(1)
    assert n[0] == 2 and c.keys() == []
    c.close()


def test_results_are_shared_with_forked_processes():
    c = forkcache.Cache(size="2M")
    n = [0]

    @cached(c, ttl=60)
    def f(x):
        n[0] += 1
        return os.getpid()

    def child():
        f(1)
        return 0
    assert run_in_child(child) == 0
    assert f(1) != os.getpid()        # computed by the child
    assert n[0] == 0
    c.close()


def test_argument_checks():
    c = forkcache.Cache(size="2M")
    with pytest.raises(TypeError):
        cached({})
    with pytest.raises(ValueError):
        cached(c, ttl=-1)
    with pytest.raises(ValueError):
        cached(c, lock_timeout=-1)
    c.close()
