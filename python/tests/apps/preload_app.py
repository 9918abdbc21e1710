"""A Flask app for test_gunicorn.py: /item is cached with SharedMemoryCache
(a private cache when FC_TEST_SHM is empty: made in the gunicorn master with
--preload and inherited by the workers); each computation appends a byte to
FC_TEST_COUNT. /pid tells which worker served the request."""
import os
import time

import flask
import flask_caching

app = flask.Flask(__name__)
app.config.update(CACHE_TYPE="forkcache.flask.SharedMemoryCache",
                  CACHE_FORKCACHE_NAME=os.environ.get("FC_TEST_SHM") or None,
                  CACHE_FORKCACHE_SIZE="4M", CACHE_DEFAULT_TIMEOUT=60)
cache = flask_caching.Cache(app)


@app.route("/item")
@cache.cached()
def item():
    fd = os.open(os.environ["FC_TEST_COUNT"], os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"x")
    os.close(fd)
    return "item from %d" % os.getpid()


@app.route("/pid")
def pid():
    time.sleep(0.02)  # keep this worker busy so that others take requests
    return str(os.getpid())
