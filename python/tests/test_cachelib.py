"""forkcache.cachelib.ForkCache: the cachelib.BaseCache contract, mirroring
the common tests cachelib runs on its own backends."""
import os
import time

import pytest
from cachelib.base import BaseCache
from cachelib.serializers import SimpleSerializer

from forkcache.cachelib import ForkCache
from conftest import run_in_child

SAMPLE_PAIRS = {
    128: False, "beef": True, "crevettes": {}, 1024: "spam",
    "bacon": "eggs", "sausage": 2048, 3072: [], "brandy": [{}, "fried eggs"],
    "lobster": ["baked beans", [512]], 4096: {"sauce": [], 256: "truffle"},
}
SAMPLE_NUMBERS = [-50, -25, 25, 50]


@pytest.fixture
def cache():
    c = ForkCache(size="4M")
    yield c
    c.close()


def test_no_argument_cache_is_fresh_empty_and_private():
    a, b = ForkCache(), ForkCache()
    assert isinstance(a, BaseCache)
    a.set("k", "v")
    assert a.get("k") == "v" and b.get("k") is None
    assert a.default_timeout == 300
    a.close()
    b.close()


def test_set_get(cache):
    for k, v in SAMPLE_PAIRS.items():
        assert cache.set(k, v, timeout=0) is True
        assert cache.get(k) == v


def test_set_get_many(cache):
    assert set(cache.set_many(SAMPLE_PAIRS)) == set(SAMPLE_PAIRS)
    assert cache.get_many(*SAMPLE_PAIRS) == list(SAMPLE_PAIRS.values())


def test_get_dict(cache):
    cache.set_many(SAMPLE_PAIRS)
    d = cache.get_dict(*SAMPLE_PAIRS)
    assert d == SAMPLE_PAIRS


def test_delete(cache):
    for k, v in SAMPLE_PAIRS.items():
        cache.set(k, v)
        assert cache.delete(k) is True
        assert cache.get(k) is None
    assert cache.delete("never-set") is False


def test_delete_many(cache):
    cache.set_many(SAMPLE_PAIRS)
    assert set(cache.delete_many(*SAMPLE_PAIRS)) == set(SAMPLE_PAIRS)
    assert cache.get_many(*SAMPLE_PAIRS) == [None] * len(SAMPLE_PAIRS)


def test_add(cache):
    cache.set_many(SAMPLE_PAIRS)
    for k in SAMPLE_PAIRS:
        assert cache.add(k, "updated") is False
    assert cache.get_many(*SAMPLE_PAIRS) == list(SAMPLE_PAIRS.values())
    assert cache.add("fresh", "x") is True and cache.get("fresh") == "x"


def test_inc_dec(cache):
    for n in SAMPLE_NUMBERS:
        assert cache.inc("a", n) == n          # absent: starts at delta
        assert cache.get("a") == n
        assert cache.dec("a", n) == 0
        assert cache.get("a") == 0
        assert cache.dec("a", n) == -n
        assert cache.get("a") == -n
        assert cache.inc("a", n) == 0
        cache.delete("a")
    cache.set("pickled", 10)
    assert cache.inc("pickled", 5) == 15
    assert cache.inc("pickled") == 16 and cache.get("pickled") == 16


def test_inc_is_atomic_across_processes(cache):
    def child():
        for _ in range(300):
            cache.inc("ctr")
        for _ in range(100):
            cache.dec("neg")
        return 0
    pids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            os._exit(child())
        pids.append(pid)
    for pid in pids:
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert cache.get("ctr") == 1200
    assert cache.get("neg") == -400


def test_expiration_timeout_1(cache):
    cache.set("k", "v", timeout=1)
    cache.add("k2", "v2", timeout=1)
    assert cache.get("k") == "v" and cache.has("k2")
    time.sleep(1.2)
    assert cache.get("k") is None and not cache.has("k2")


def test_timeout_0_never_expires_and_none_takes_the_default():
    c = ForkCache(default_timeout=1, size="2M")
    c.set("zero", "v", timeout=0)
    c.set("default", "v")
    assert c.cache.ttl("zero") is None
    assert 0 < c.cache.ttl("default") <= 1
    time.sleep(1.2)
    assert c.get("zero") == "v" and c.get("default") is None
    c.close()


def test_negative_timeout_means_already_expired(cache):
    cache.set("k", "v")
    assert cache.set("k", "w", timeout=-1) is True
    assert cache.get("k") is None


def test_has(cache):
    assert cache.has("k") is False
    cache.set("k", "v")
    assert cache.has("k") is True


def test_clear(cache):
    cache.set_many(SAMPLE_PAIRS)
    assert cache.clear() is True
    assert cache.get_many(*SAMPLE_PAIRS) == [None] * len(SAMPLE_PAIRS)


def test_key_prefix_isolates_and_clear_keeps_other_prefixes():
    a = ForkCache(size="2M", key_prefix="a:")
    b = ForkCache(cache=a.cache, key_prefix="b:")
    a.set("k", 1)
    b.set("k", 2)
    assert a.get("k") == 1 and b.get("k") == 2
    assert a.cache.get("a:k") is not None
    a.clear()
    assert a.get("k") is None and b.get("k") == 2
    a.close()


def test_serializer_may_be_replaced(cache):
    cache.serializer = SimpleSerializer()
    cache.set("k", {"x": 1})
    assert cache.get("k") == {"x": 1}
    assert cache.inc("n", 2) == 2 and cache.inc("n", 3) == 5
    assert cache.dec("n", 10) == -5


def test_too_large_value_is_a_false_set(cache):
    big = "x" * (cache.cache.stats()["value_max"] + 10)
    assert cache.set("big", big) is False
    assert cache.get("big") is None


def test_threshold_caps_item_count():
    c = ForkCache(size="4M", threshold=50)
    for i in range(500):
        c.set("k%d" % i, i)
    assert c.cache.stats()["items"] <= 50 + ForkCache._PRUNE_EVERY
    c.close()


def test_shared_with_forked_children(cache):
    cache.set("p", "parent")

    def child():
        assert cache.get("p") == "parent"
        cache.set("c", "child")
        return 0
    assert run_in_child(child) == 0
    assert cache.get("c") == "child"
