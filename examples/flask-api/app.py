"""A small REST API over SQLite, cached with Flask-Caching: the blog pattern
(GET /products/<id>, GET /report), served by gunicorn with 4 workers.

The cache backend comes from FLASK_API_CACHE:
  simple     Flask-Caching's SimpleCache (one private cache per worker)
  redis      Flask-Caching's RedisCache (FLASK_API_REDIS_URL)
  forkcache  forkcache.flask.SharedMemoryCache (one cache in shared memory
             for all the workers; FLASK_API_SHM names it)
Every backend query appends one byte to a file in FLASK_API_COUNTS
(products, report), so the driver can count them across workers.
FLASK_API_BACKEND_MS adds a fixed delay to each product query (a database
round trip), FLASK_API_REPORT_MS to the expensive report.

Make the database:  /usr/bin/python3 app.py --init-db products.db 10000
Serve:              gunicorn -w 4 -b 127.0.0.1:8000 app:app
(load.py does both; see README.md.)
"""
import os
import sqlite3
import sys
import time

import flask
import flask_caching

def init_db(path, n):
    if os.path.exists(path):
        os.unlink(path)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, "
               "price REAL, stock INTEGER)")
    db.executemany("INSERT INTO products VALUES (?, ?, ?, ?)",
                   ((i, "product %d" % i, 1 + (i * 37 % 1000) / 10,
                     i * 13 % 500) for i in range(1, n + 1)))
    db.commit()
    db.close()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--init-db":
        init_db(sys.argv[2], int(sys.argv[3]))
        sys.exit(0)
    sys.exit("usage: app.py --init-db PATH N")

BACKEND = os.environ.get("FLASK_API_CACHE", "forkcache")
DB = os.environ.get("FLASK_API_DB", "products.db")
COUNTS = os.environ.get("FLASK_API_COUNTS", ".")
TTL = int(os.environ.get("FLASK_API_TTL", "10"))
BACKEND_MS = float(os.environ.get("FLASK_API_BACKEND_MS", "2"))
REPORT_MS = float(os.environ.get("FLASK_API_REPORT_MS", "300"))

CONFIGS = {
    "simple": {"CACHE_TYPE": "SimpleCache"},
    "redis": {"CACHE_TYPE": "RedisCache",
              "CACHE_REDIS_URL": os.environ.get("FLASK_API_REDIS_URL", "")},
    "forkcache": {"CACHE_TYPE": "forkcache.flask.SharedMemoryCache",
                  "CACHE_FORKCACHE_NAME": os.environ.get("FLASK_API_SHM",
                                                         "/flask-api"),
                  "CACHE_FORKCACHE_SIZE": "64M"},
}

app = flask.Flask(__name__)
app.config.update(CACHE_DEFAULT_TIMEOUT=TTL, CACHE_THRESHOLD=1000000,
                  CACHE_KEY_PREFIX="api_", **CONFIGS[BACKEND])
cache = flask_caching.Cache(app)

_local = {"pid": None}


def _db():
    """One connection and one counter fd per process (made after fork)."""
    if _local["pid"] != os.getpid():
        _local.update(pid=os.getpid(),
                      db=sqlite3.connect(DB, check_same_thread=False),
                      fds={})
    return _local["db"]


def count(kind):
    fds = _local["fds"]
    if kind not in fds:
        fds[kind] = os.open(os.path.join(COUNTS, kind),
                            os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fds[kind], b"x")   # O_APPEND: one atomic byte per query


@app.route("/products/<int:pid>")
@cache.cached()
def product(pid):
    row = _db().execute("SELECT id, name, price, stock FROM products "
                        "WHERE id = ?", (pid,)).fetchone()
    count("products")
    if BACKEND_MS:
        time.sleep(BACKEND_MS / 1000)
    if row is None:
        flask.abort(404)
    return {"id": row[0], "name": row[1], "price": row[2], "stock": row[3]}


@app.route("/report")
@cache.cached()
def report():
    count("report")
    row = _db().execute("SELECT count(*), sum(price * stock), avg(price) "
                        "FROM products").fetchone()
    time.sleep(REPORT_MS / 1000)   # the slow aggregate everyone waits for
    return {"products": row[0], "stock_value": row[1], "avg_price": row[2]}


@app.route("/health")
def health():
    return "ok"
