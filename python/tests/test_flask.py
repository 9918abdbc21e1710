"""forkcache.flask.SharedMemoryCache through Flask-Caching and a Flask test
client."""
import os

import flask
import flask_caching
import pytest

import forkcache
from forkcache.flask import SharedMemoryCache
from conftest import run_in_child, unique_name


def make_app(**config):
    app = flask.Flask(__name__)
    app.config.update(CACHE_TYPE="forkcache.flask.SharedMemoryCache",
                      CACHE_FORKCACHE_SIZE="4M", **config)
    cache = flask_caching.Cache(app)
    calls = {"item": 0, "memo": 0}

    @app.route("/item/<int:i>")
    @cache.cached(timeout=60)
    def item(i):
        calls["item"] += 1
        return flask.jsonify(id=i, n=calls["item"])

    @cache.memoize(timeout=60)
    def square(x):
        calls["memo"] += 1
        return x * x

    @app.route("/sq/<int:x>")
    def sq(x):
        return str(square(x))
    return app, cache, calls, square


def test_factory_reads_the_config():
    name = unique_name("flask")
    app, cache, _, _ = make_app(CACHE_FORKCACHE_NAME=name,
                                CACHE_DEFAULT_TIMEOUT=42,
                                CACHE_KEY_PREFIX="pfx_",
                                CACHE_THRESHOLD=1234)
    backend = cache.cache
    assert isinstance(backend, SharedMemoryCache)
    assert backend.cache.name == name
    assert backend.default_timeout == 42
    assert backend.key_prefix == "pfx_"
    assert backend._threshold == 1234
    assert backend.cache.stats()["segment_bytes"] == 4 << 20
    backend.set("k", 1)
    assert backend.cache.get("pfx_k") == b"1"
    assert 0 < backend.cache.ttl("pfx_k") <= 42
    backend.close()
    forkcache.unlink(name)


def test_cached_view_is_served_from_the_cache():
    app, cache, calls, _ = make_app()
    client = app.test_client()
    r1 = client.get("/item/7")
    r2 = client.get("/item/7")
    assert r1.status_code == r2.status_code == 200
    assert r1.get_json() == r2.get_json() == {"id": 7, "n": 1}
    assert calls["item"] == 1
    client.get("/item/8")
    assert calls["item"] == 2
    cache.clear()
    client.get("/item/7")
    assert calls["item"] == 3


def test_memoize_and_delete_memoized():
    app, cache, calls, square = make_app()
    client = app.test_client()
    assert client.get("/sq/4").data == b"16"
    assert client.get("/sq/4").data == b"16"
    assert calls["memo"] == 1
    cache.delete_memoized(square, 4)
    assert client.get("/sq/4").data == b"16"
    assert calls["memo"] == 2


def test_preloaded_app_is_shared_with_forked_workers():
    # gunicorn --preload: the app (and its private cache) is made in the
    # master; workers fork and see each other's entries.
    app, cache, calls, _ = make_app()
    client = app.test_client()

    def worker():
        r = app.test_client().get("/item/1")
        assert r.get_json() == {"id": 1, "n": 1}
        return 0
    assert run_in_child(worker) == 0          # the worker computed it
    assert client.get("/item/1").get_json() == {"id": 1, "n": 1}
    assert calls["item"] == 0                 # the master never did


def test_workers_without_preload_share_by_name():
    name = unique_name("flask")
    app1, cache1, calls1, _ = make_app(CACHE_FORKCACHE_NAME=name)
    app2, cache2, calls2, _ = make_app(CACHE_FORKCACHE_NAME=name)
    assert app1.test_client().get("/item/5").get_json()["n"] == 1
    assert app2.test_client().get("/item/5").get_json()["n"] == 1
    assert calls1["item"] == 1 and calls2["item"] == 0
    cache1.cache.close()
    cache2.cache.close()
    forkcache.unlink(name)
