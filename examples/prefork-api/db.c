/*
 * db.c - the backend: a SQLite catalogue of products, and its queries.
 *
 * DESIGN       The master creates the database on first run (a temporary file
 *              renamed into place, so a half-built file is never used): a
 *              deterministic sample of --products rows (seeded PRNG: the same
 *              catalogue on every machine), 50 categories, prices, stock,
 *              ratings and review counts, an index on category, WAL mode.
 *              Workers open their own connections after fork() (a SQLite
 *              connection must not cross fork()), one per serving thread,
 *              with prepared statements kept for the thread's life.
 * JSON         Responses are built by SQLite's JSON functions (json_object,
 *              json_group_array) and PUT bodies parsed and validated by them
 *              (json_valid, json_type, json_each), so this file never formats
 *              or parses JSON by hand.
 * COUNTING     Every SQL statement run against the tables counts one
 *              backend query in the worker's shared counters: a product, a
 *              list page and a search are one statement each; a PUT is two
 *              (read the old category; update, returning the new row).
 * COST         /search is deliberately expensive: a LIKE '%q%' scan of every
 *              row (no index can serve it) that also counts all matches.
 *              --backend-delay-ms adds a sleep to every read query, to stand
 *              for a slower, remote database.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "api.h"

_Thread_local uint64_t api_tls_queries;

#define DB_BUSY_MS 5000 /* wait for a concurrent writer, ms */
#define DB_CATEGORIES 50

static const char *const categories[DB_CATEGORIES] = {
	"audio",
	"automotive",
	"baby",
	"bags",
	"bathroom",
	"beauty",
	"bedding",
	"bikes",
	"books",
	"cameras",
	"camping",
	"cleaning",
	"climbing",
	"coffee",
	"computers",
	"cooking",
	"crafts",
	"cycling",
	"desks",
	"drones",
	"electrical",
	"fishing",
	"fitness",
	"flooring",
	"furniture",
	"games",
	"garden",
	"gloves",
	"hardware",
	"health",
	"heating",
	"jewelry",
	"kitchen",
	"lamps",
	"lighting",
	"luggage",
	"music",
	"office",
	"outdoor",
	"paint",
	"party",
	"pets",
	"phones",
	"plumbing",
	"running",
	"shoes",
	"storage",
	"tools",
	"toys",
	"watches",
};
static const char *const adjectives[] = {
	"Rustic",
	"Sleek",
	"Ergonomic",
	"Compact",
	"Heavy",
	"Vintage",
	"Modern",
	"Classic",
	"Rugged",
	"Smart",
	"Gentle",
	"Handmade",
	"Durable",
	"Portable",
	"Quiet",
	"Bright",
	"Foldable",
	"Premium",
	"Tiny",
	"Generic",
};
static const char *const materials[] = {
	"Steel",
	"Wooden",
	"Cotton",
	"Granite",
	"Plastic",
	"Bronze",
	"Rubber",
	"Leather",
	"Glass",
	"Bamboo",
	"Carbon",
	"Wool",
};
static const char *const nouns[] = {
	"Chair",
	"Lamp",
	"Kettle",
	"Backpack",
	"Bottle",
	"Hammer",
	"Jacket",
	"Speaker",
	"Table",
	"Blanket",
	"Clock",
	"Bowl",
	"Helmet",
	"Keyboard",
	"Mug",
	"Pillow",
	"Shelf",
	"Tent",
	"Towel",
	"Wrench",
	"Brush",
	"Camera",
	"Drill",
	"Guitar",
	"Notebook",
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define PRODUCT_JSON                                                         \
	"json_object('id',id,'name',name,'category',category,'price',price," \
	"'stock',stock,'rating',rating,'reviews',reviews)"

enum stmt_id {
	S_GET,
	S_LIST_CAT,
	S_LIST_ALL,
	S_SEARCH,
	S_VALIDATE,
	S_BEGIN,
	S_OLD_CAT,
	S_UPDATE,
	S_COMMIT,
	S_ROLLBACK,
	S_COUNT
};
static const char *const stmt_sql[S_COUNT] = {
	[S_GET] = "SELECT " PRODUCT_JSON " FROM products WHERE id = ?1",
	[S_LIST_CAT] = "SELECT json_object('category', ?1, 'page', ?2,"
		       " 'page_size', 20, 'products', (SELECT json_group_array(json(p))"
		       " FROM (SELECT " PRODUCT_JSON " AS p FROM products"
		       " WHERE category = ?1 ORDER BY id LIMIT 20 OFFSET ?3)))",
	[S_LIST_ALL] = "SELECT json_object('page', ?2, 'page_size', 20,"
		       " 'products', (SELECT json_group_array(json(p))"
		       " FROM (SELECT " PRODUCT_JSON " AS p FROM products"
		       " ORDER BY id LIMIT 20 OFFSET ?3)))",
	[S_SEARCH] = "SELECT json_object('q', ?1,"
		     " 'total', (SELECT count(*) FROM products"
		     "   WHERE name LIKE ?2 ESCAPE '\\'),"
		     " 'results', (SELECT json_group_array(json(p))"
		     " FROM (SELECT " PRODUCT_JSON " AS p FROM products"
		     " WHERE name LIKE ?2 ESCAPE '\\' ORDER BY id LIMIT 20)))",
	/* One row: is the body a JSON object, are the known fields of the
	 * right types, and how many unknown fields does it have. */
	[S_VALIDATE] = "SELECT json_valid(?1), json_type(?1),"
		       " json_type(?1, '$.price'), json_extract(?1, '$.price'),"
		       " json_type(?1, '$.name'), length(json_extract(?1, '$.name')),"
		       " json_type(?1, '$.category'),"
		       " length(json_extract(?1, '$.category')),"
		       " json_type(?1, '$.stock'), json_extract(?1, '$.stock'),"
		       " (SELECT count(*) FROM json_each(?1) WHERE key NOT IN"
		       "  ('price', 'name', 'category', 'stock'))",
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_OLD_CAT] = "SELECT category FROM products WHERE id = ?1",
	[S_UPDATE] = "UPDATE products SET"
		     " price = coalesce(json_extract(?1, '$.price'), price),"
		     " name = coalesce(json_extract(?1, '$.name'), name),"
		     " category = coalesce(json_extract(?1, '$.category'), category),"
		     " stock = coalesce(json_extract(?1, '$.stock'), stock)"
		     " WHERE id = ?2"
		     " RETURNING " PRODUCT_JSON ", category",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
};

struct db_thread {
	sqlite3 *db;
	sqlite3_stmt *st[S_COUNT];
};

static pthread_key_t db_key;
static pthread_once_t db_key_once = PTHREAD_ONCE_INIT;

static void
db_thread_free(void *p)
{
	struct db_thread *t = p;

	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(t->st[i]);
	sqlite3_close(t->db);
	free(t);
}

static void
db_key_make(void)
{
	(void)pthread_key_create(&db_key, db_thread_free);
}

/* This thread's connection with its prepared statements; NULL on failure
 * (logged). */
static struct db_thread *
db_thread(void)
{
	struct db_thread *t;

	pthread_once(&db_key_once, db_key_make);
	if ((t = pthread_getspecific(db_key)) != NULL)
		return t;
	if ((t = calloc(1, sizeof *t)) == NULL)
		return NULL;
	if (sqlite3_open_v2(api_cfg.db_path, &t->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		fprintf(stderr, "forkcache-api: %s: %s\n", api_cfg.db_path,
			sqlite3_errmsg(t->db));
		db_thread_free(t);
		return NULL;
	}
	sqlite3_busy_timeout(t->db, DB_BUSY_MS);
	for (int i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(t->db, stmt_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &t->st[i],
				       NULL) != SQLITE_OK) {
			fprintf(stderr, "forkcache-api: prepare: %s\n",
				sqlite3_errmsg(t->db));
			db_thread_free(t);
			return NULL;
		}
	}
	pthread_setspecific(db_key, t);
	return t;
}

static void
backend_delay(void)
{
	unsigned ms = api_cfg.backend_delay_ms;
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (ms && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Run @p st (bound), expecting one row whose column 0 is the JSON result. */
static int
one_json_row(struct db_thread *t, sqlite3_stmt *st, struct buf *out,
	     const char *notfound)
{
	int rc, status;

	api_count_query();
	backend_delay();
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *txt = sqlite3_column_text(st, 0);
		int n = sqlite3_column_bytes(st, 0);

		status = buf_put(out, txt, (size_t)n) == 0 ? 200 : 500;
	} else if (rc == SQLITE_DONE) {
		status = 404;
		buf_printf(out, "%s", notfound);
	} else {
		status = 500;
		buf_printf(out, "database: %s", sqlite3_errmsg(t->db));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return status;
}

int
db_get_product(int64_t id, struct buf *out)
{
	struct db_thread *t = db_thread();

	if (t == NULL)
		return buf_printf(out, "database unavailable"), 500;
	sqlite3_bind_int64(t->st[S_GET], 1, id);
	return one_json_row(t, t->st[S_GET], out, "no such product");
}

int
db_list_products(const char *category, uint32_t page, struct buf *out)
{
	struct db_thread *t = db_thread();
	sqlite3_stmt *st;

	if (t == NULL)
		return buf_printf(out, "database unavailable"), 500;
	st = t->st[category ? S_LIST_CAT : S_LIST_ALL];
	if (category)
		sqlite3_bind_text(st, 1, category, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, page);
	sqlite3_bind_int64(st, 3, (int64_t)(page - 1) * API_PAGE_SIZE);
	return one_json_row(t, st, out, "no result");
}

int
db_search(const char *q, struct buf *out)
{
	struct db_thread *t = db_thread();
	char pat[2 * API_QUERY_MAX + 3];
	size_t n = 0;

	if (t == NULL)
		return buf_printf(out, "database unavailable"), 500;
	/* '%' q '%' with LIKE's metacharacters escaped: q is matched as text. */
	pat[n++] = '%';
	for (const char *s = q; *s && n < sizeof pat - 3; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			pat[n++] = '\\';
		pat[n++] = *s;
	}
	pat[n++] = '%';
	pat[n] = '\0';
	sqlite3_bind_text(t->st[S_SEARCH], 1, q, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(t->st[S_SEARCH], 2, pat, -1, SQLITE_TRANSIENT);
	return one_json_row(t, t->st[S_SEARCH], out, "no result");
}

static int
exec_simple(struct db_thread *t, enum stmt_id id)
{
	int rc = sqlite3_step(t->st[id]);

	sqlite3_reset(t->st[id]);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
copy_text(char *dst, size_t cap, const unsigned char *src)
{
	snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

/* Check a PUT body; 0 if acceptable, else 400 with the reason in @p out. */
static int
validate_body(struct db_thread *t, const char *body, size_t len,
	      struct buf *out)
{
	sqlite3_stmt *st = t->st[S_VALIDATE];
	const char *why = NULL;
	const char *ty;
	int fields = 0;

	sqlite3_bind_text(st, 1, body, (int)len, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW) {
		why = "body is not valid JSON";
	} else if (!sqlite3_column_int(st, 0) ||
		   (ty = (const char *)sqlite3_column_text(st, 1)) == NULL ||
		   strcmp(ty, "object") != 0) {
		why = "body must be a JSON object";
	} else if (sqlite3_column_int(st, 10) > 0) {
		why = "unknown field (allowed: price, name, category, stock)";
	} else {
		ty = (const char *)sqlite3_column_text(st, 2);
		if (ty) {
			fields++;
			if ((strcmp(ty, "integer") && strcmp(ty, "real")) ||
			    sqlite3_column_double(st, 3) < 0 ||
			    sqlite3_column_double(st, 3) > 1e9)
				why = "price must be a number in 0..1e9";
		}
		ty = (const char *)sqlite3_column_text(st, 4);
		if (ty && !why) {
			fields++;
			if (strcmp(ty, "text") || sqlite3_column_int(st, 5) < 1 ||
			    sqlite3_column_int(st, 5) > 200)
				why = "name must be a string of 1..200 characters";
		}
		ty = (const char *)sqlite3_column_text(st, 6);
		if (ty && !why) {
			fields++;
			if (strcmp(ty, "text") || sqlite3_column_int(st, 7) < 1 ||
			    sqlite3_column_int(st, 7) > API_CATEGORY_MAX)
				why = "category must be a string of 1..64 characters";
		}
		ty = (const char *)sqlite3_column_text(st, 8);
		if (ty && !why) {
			fields++;
			if (strcmp(ty, "integer") ||
			    sqlite3_column_int64(st, 9) < 0 ||
			    sqlite3_column_int64(st, 9) > 1000000000)
				why = "stock must be an integer in 0..1e9";
		}
		if (!why && fields == 0)
			why = "nothing to update (fields: price, name, category, stock)";
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (why) {
		buf_printf(out, "%s", why);
		return 400;
	}
	return 0;
}

int
db_update_product(int64_t id, const char *body, size_t len, struct buf *out,
		  char *old_cat, size_t old_cat_len, char *new_cat,
		  size_t new_cat_len)
{
	struct db_thread *t = db_thread();
	sqlite3_stmt *st;
	int status, rc;

	if (t == NULL)
		return buf_printf(out, "database unavailable"), 500;
	if ((status = validate_body(t, body, len, out)) != 0)
		return status;
	if (exec_simple(t, S_BEGIN) != 0) {
		buf_printf(out, "database busy: %s", sqlite3_errmsg(t->db));
		return 503;
	}
	api_count_query();
	st = t->st[S_OLD_CAT];
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		copy_text(old_cat, old_cat_len, sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		(void)exec_simple(t, S_ROLLBACK);
		if (rc == SQLITE_DONE)
			return buf_printf(out, "no such product"), 404;
		return buf_printf(out, "database error"), 500;
	}
	api_count_query();
	st = t->st[S_UPDATE];
	sqlite3_bind_text(st, 1, body, (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st);
	status = 500;
	if (rc == SQLITE_ROW) {
		if (buf_put(out, sqlite3_column_text(st, 0),
			    (size_t)sqlite3_column_bytes(st, 0)) == 0)
			status = 200;
		copy_text(new_cat, new_cat_len, sqlite3_column_text(st, 1));
		rc = sqlite3_step(st); /* finish the statement: SQLITE_DONE */
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (status != 200 || rc != SQLITE_DONE || exec_simple(t, S_COMMIT)) {
		(void)exec_simple(t, S_ROLLBACK);
		out->len = 0;
		buf_printf(out, "database error: %s", sqlite3_errmsg(t->db));
		return 500;
	}
	return 200;
}

/* ---- creation, in the master ---- */

static uint64_t
splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static int
exec_or_log(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "forkcache-api: sqlite: %s\n", msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
fill_sample(sqlite3 *db, uint32_t products)
{
	sqlite3_stmt *st = NULL;
	uint64_t rng = 20261207; /* fixed seed: the same catalogue */
	char name[96];
	int ok = 0;

	if (exec_or_log(db, "PRAGMA journal_mode=WAL;"
			    "CREATE TABLE products (id INTEGER PRIMARY KEY,"
			    " name TEXT NOT NULL, category TEXT NOT NULL,"
			    " price REAL NOT NULL, stock INTEGER NOT NULL,"
			    " rating REAL NOT NULL, reviews INTEGER NOT NULL);"
			    "BEGIN;") != 0)
		return -1;
	if (sqlite3_prepare_v2(db, "INSERT INTO products VALUES"
				   " (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			       -1, &st,
			       NULL) != SQLITE_OK)
		goto out;
	for (uint32_t id = 1; id <= products; id++) {
		uint64_t r = splitmix(&rng);

		snprintf(name, sizeof name, "%s %s %s %u",
			 adjectives[r % NELEM(adjectives)],
			 materials[(r >> 8) % NELEM(materials)],
			 nouns[(r >> 16) % NELEM(nouns)], id);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, categories[(r >> 24) % DB_CATEGORIES],
				  -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 4,
				    (double)(99 + (r >> 32) % 99900) / 100.0);
		sqlite3_bind_int64(st, 5, (int64_t)((r >> 40) % 500));
		sqlite3_bind_double(st, 6, (double)(10 + (r >> 48) % 41) / 10.0);
		sqlite3_bind_int64(st, 7, (int64_t)((r >> 52) % 2000));
		if (sqlite3_step(st) != SQLITE_DONE)
			goto out;
		sqlite3_reset(st);
	}
	ok = exec_or_log(db, "CREATE INDEX products_category ON products"
			     " (category, id); COMMIT;") == 0;
out:
	if (!ok)
		fprintf(stderr, "forkcache-api: creating the sample: %s\n",
			sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

int
db_prepare_file(const char *path, uint32_t products)
{
	sqlite3 *db = NULL;
	char tmp[4096];
	int rc;

	if (access(path, F_OK) == 0) {
		/* Existing: it must hold the products table. */
		sqlite3_stmt *st = NULL;

		rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_prepare_v2(db,
						"SELECT count(*) FROM products", -1, &st, NULL);
		if (rc == SQLITE_OK && sqlite3_step(st) != SQLITE_ROW)
			rc = SQLITE_ERROR;
		if (rc != SQLITE_OK)
			fprintf(stderr, "forkcache-api: %s: not a catalogue"
					" database: %s\n",
				path, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		sqlite3_close(db);
		return rc == SQLITE_OK ? 0 : -1;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path,
			     (long)getpid()) >= sizeof tmp)
		return -1;
	unlink(tmp);
	if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		fprintf(stderr, "forkcache-api: %s: %s\n", tmp,
			sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	rc = fill_sample(db, products);
	/* Back to a single file before the rename: WAL stays the mode. */
	if (rc == 0)
		rc = exec_or_log(db, "PRAGMA wal_checkpoint(TRUNCATE);");
	sqlite3_close(db);
	if (rc == 0 && rename(tmp, path) != 0) {
		fprintf(stderr, "forkcache-api: rename %s: %s\n", path,
			strerror(errno));
		rc = -1;
	}
	if (rc != 0)
		unlink(tmp);
	return rc;
}
