"""forkcache.TTLCache: cachetools' TTLCache habits over shared memory."""
import json
import os
import pickle
import time
from collections.abc import MutableMapping

import pytest

import forkcache
from conftest import run_in_child


@pytest.fixture
def ttl():
    c = forkcache.TTLCache(maxsize=1000, ttl=60, size="4M")
    yield c
    c.close()


def test_is_a_mutable_mapping_with_cachetools_attributes(ttl):
    assert isinstance(ttl, MutableMapping)
    assert ttl.maxsize == 1000 and ttl.ttl == 60 and ttl.currsize == 0


def test_item_access_contains_delete_len_iter(ttl):
    ttl["a"] = {"x": [1, 2]}
    ttl[("t", 1)] = "tuple"
    ttl[b"raw"] = 3.5
    assert ttl["a"] == {"x": [1, 2]}
    assert ttl[("t", 1)] == "tuple" and ttl[b"raw"] == 3.5
    assert "a" in ttl and "b" not in ttl
    assert ttl.get("b") is None and ttl.get("b", 9) == 9
    with pytest.raises(KeyError):
        ttl["b"]
    assert len(ttl) == 3
    assert sorted(map(repr, ttl)) == sorted(map(repr, ["a", ("t", 1),
                                                       b"raw"]))
    del ttl["a"]
    with pytest.raises(KeyError):
        del ttl["a"]
    assert len(ttl) == 2
    ttl.clear()
    assert len(ttl) == 0


def test_equal_keys_are_one_key_as_in_a_dict(ttl):
    ttl[1] = "one"
    assert ttl[1.0] == "one" and ttl[True] == "one"
    ttl[frozenset({1, 2, 3})] = "fs"
    assert ttl[frozenset({3, 2, 1})] == "fs"
    ttl[(1, "a", None, (2.5,))] = "nested"
    assert ttl[(1.0, "a", None, (2.5,))] == "nested"
    assert ttl.get("1") is None and ttl.get(b"1") is None   # not equal keys
    with pytest.raises(TypeError):
        ttl[[1, 2]] = "unhashable"


def test_long_keys_are_stored_under_a_digest_and_iterate_back(ttl):
    k = ("x" * 300, 42)
    ttl[k] = "long"
    assert ttl[k] == "long" and k in ttl
    assert list(ttl) == [k]
    del ttl[k]
    assert k not in ttl


def test_values_are_copies(ttl):
    v = [1, 2]
    ttl["l"] = v
    v.append(3)
    got = ttl["l"]
    got.append(4)
    assert ttl["l"] == [1, 2]


def test_items_expire_after_ttl():
    c = forkcache.TTLCache(maxsize=10, ttl=0.15, size="2M")
    c["k"] = "v"
    assert c["k"] == "v"
    time.sleep(0.3)
    assert "k" not in c and c.get("k") is None and len(c) == 0
    c.close()


@pytest.mark.parametrize("codec, value", [
    (pickle, {"a": (1, 2)}),
    (forkcache.PICKLE, {"a": (1, 2)}),
    (json, {"a": [1, 2]}),
    (forkcache.JSON, {"a": [1, 2]}),
    (forkcache.RAW, b"\x00raw bytes"),
])
def test_codecs(codec, value):
    c = forkcache.TTLCache(maxsize=10, ttl=60, size="2M", codec=codec)
    c["k"] = value
    assert c["k"] == value
    c.close()


def test_raw_codec_refuses_non_bytes():
    c = forkcache.TTLCache(maxsize=10, ttl=60, size="2M", codec=forkcache.RAW)
    with pytest.raises(TypeError):
        c["k"] = "str"
    c.close()


def test_maxsize_is_kept_approximately():
    c = forkcache.TTLCache(maxsize=100, ttl=60, size="4M")
    for i in range(1000):
        c[i] = i
    assert len(c) <= 100 + forkcache.TTLCache._PRUNE_EVERY
    c.close()


def test_namespaces_share_a_segment_without_mixing(tmp_path):
    base = forkcache.Cache(size="2M")
    a = forkcache.TTLCache(10, 60, cache=base, namespace="a:")
    b = forkcache.TTLCache(10, 60, cache=base, namespace="b:")
    a["k"] = 1
    b["k"] = 2
    assert (a["k"], b["k"]) == (1, 2)
    assert list(a) == ["k"] and len(b) == 1
    a.clear()
    assert "k" not in a and b["k"] == 2
    base.close()


def test_forked_children_share_the_mapping(ttl):
    ttl["parent"] = 1

    def child():
        assert ttl["parent"] == 1
        ttl["child"] = os.getpid()
        return 0
    assert run_in_child(child) == 0
    assert isinstance(ttl["child"], int) and ttl["child"] != os.getpid()
