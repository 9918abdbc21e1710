/*
 * _redis.c - forkcache._redis: the Python face of libforkcache-redis
 * (include/forkcache-redis.h), used through forkcache.sync.Publisher.
 *
 * DESIGN       A Publisher owns one fc_redis connection and, unless told
 *              otherwise, its own handle on the local segment (attach by
 *              name, as the CLI's `forkcache invalidate` does), so it
 *              needs nothing from the Cache object's internals: a second
 *              handle on a segment in one process is supported.
 * THREADS      The GIL is released around every call that may block (the
 *              local delete or scan, the Redis round trip); a lock of the
 *              object's own serializes calls on one Publisher, since one
 *              fc_redis handle serves one thread at a time.
 * FORK         fc_redis reconnects in a child on first use; the segment
 *              handle is inherited like any forkcache handle.
 * ERRORS       Redis unreachable or refusing: ConnectionError(errno, text);
 *              a bad key or namespace: ValueError; a damaged segment or
 *              another forkcache error: RuntimeError("FC_E...: message").
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <string.h>

#include "forkcache.h"
#include "forkcache-redis.h"

typedef struct {
	PyObject_HEAD
		fc_redis *r;
	fc_cache *c; /* NULL: publish only */
	char ns[FC_REDIS_NS_MAX + 1];
	PyThread_type_lock lock;
} PubObject;

static PyObject *
raise_rc(PubObject *p, int rc, int saved_errno)
{
	if (rc == FC_ESYS) {
		PyObject *args = Py_BuildValue(
			"(is)", saved_errno,
			p && p->r && *fc_redis_error(p->r)
				? fc_redis_error(p->r)
				: strerror(saved_errno));
		if (args) {
			PyErr_SetObject(PyExc_ConnectionError, args);
			Py_DECREF(args);
		}
		return NULL;
	}
	if (rc == FC_EINVAL || rc == FC_E2BIG)
		return PyErr_Format(PyExc_ValueError, "%s: %s", fc_errname(rc),
				    fc_strerror(rc));
	return PyErr_Format(PyExc_RuntimeError, "%s: %s", fc_errname(rc),
			    fc_strerror(rc));
}

static int
Pub_init(PubObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"redis", "segment", "namespace", "file",
				 "password", "user", "db", "timeout_ms",
				 NULL};
	const char *addr, *segment = NULL, *ns = NULL, *password = NULL,
			  *user = NULL;
	int file = 0;
	unsigned db = 0, timeout_ms = 1000;
	fc_redis_options ro;
	int rc, e = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|zzpzzII", kwlist, &addr,
					 &segment, &ns, &file, &password,
					 &user, &db, &timeout_ms))
		return -1;
	if (self->r != NULL) {
		PyErr_SetString(PyExc_RuntimeError, "already initialized");
		return -1;
	}
	if (ns == NULL && segment != NULL)
		ns = file ? segment : segment + (segment[0] == '/');
	if (ns == NULL || strlen(ns) < 1 || strlen(ns) > FC_REDIS_NS_MAX) {
		PyErr_SetString(PyExc_ValueError, "namespace must be 1..200 "
						  "bytes (give namespace= or segment=)");
		return -1;
	}
	snprintf(self->ns, sizeof self->ns, "%s", ns);
	if ((self->lock = PyThread_allocate_lock()) == NULL) {
		PyErr_NoMemory();
		return -1;
	}
	if (segment != NULL) {
		fc_options fo;

		fc_options_init(&fo);
		fo.flags = file ? FC_FILE : 0;
		Py_BEGIN_ALLOW_THREADS
			rc = fc_open(segment, &fo, &self->c);
		e = errno;
		Py_END_ALLOW_THREADS if (rc != FC_OK)
		{
			self->c = NULL;
			if (rc == FC_ENOTFOUND) {
				PyErr_Format(PyExc_FileNotFoundError,
					     "no segment %s", segment);
				return -1;
			}
			raise_rc(NULL, rc, e);
			return -1;
		}
	}
	fc_redis_options_init(&ro);
	ro.password = password;
	ro.user = user;
	ro.db = db;
	ro.timeout_ms = timeout_ms;
	Py_BEGIN_ALLOW_THREADS
		rc = fc_redis_open(addr, &ro, &self->r);
	e = errno;
	Py_END_ALLOW_THREADS if (rc != FC_OK)
	{
		raise_rc(self, rc, e);
		fc_redis_close(self->r);
		self->r = NULL;
		return -1;
	}
	return 0;
}

static void
Pub_close_handles(PubObject *self)
{
	fc_redis_close(self->r);
	self->r = NULL;
	if (self->c)
		fc_close(self->c);
	self->c = NULL;
}

static void
Pub_dealloc(PubObject *self)
{
	Pub_close_handles(self);
	if (self->lock)
		PyThread_free_lock(self->lock);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* key/prefix argument: bytes-like or str (UTF-8). */
static int
bytes_arg(PyObject *o, Py_buffer *view)
{
	if (PyUnicode_Check(o)) {
		Py_ssize_t n;
		const char *s = PyUnicode_AsUTF8AndSize(o, &n);

		if (s == NULL)
			return -1;
		return PyBuffer_FillInfo(view, o, (void *)s, n, 1,
					 PyBUF_SIMPLE);
	}
	return PyObject_GetBuffer(o, view, PyBUF_SIMPLE);
}

enum op { OP_KEY,
	  OP_PREFIX,
	  OP_ALL };

static PyObject *
publish(PubObject *self, PyObject *arg, enum op op)
{
	Py_buffer view = {0};
	int rc, e;

	if (self->r == NULL) {
		PyErr_SetString(PyExc_ValueError, "Publisher is closed");
		return NULL;
	}
	if (op != OP_ALL && bytes_arg(arg, &view) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
		PyThread_acquire_lock(self->lock, WAIT_LOCK);
	if (op == OP_KEY)
		rc = fc_invalidate_publish(self->c, self->r, self->ns,
					   view.buf, (size_t)view.len);
	else if (op == OP_PREFIX)
		rc = fc_invalidate_prefix_publish(self->c, self->r, self->ns,
						  view.buf, (size_t)view.len);
	else
		rc = fc_invalidate_all_publish(self->c, self->r, self->ns);
	e = errno;
	PyThread_release_lock(self->lock);
	Py_END_ALLOW_THREADS if (op != OP_ALL)
		PyBuffer_Release(&view);
	if (rc != FC_OK)
		return raise_rc(self, rc, e);
	Py_RETURN_NONE;
}

static PyObject *
Pub_invalidate(PubObject *self, PyObject *key)
{
	return publish(self, key, OP_KEY);
}

static PyObject *
Pub_invalidate_prefix(PubObject *self, PyObject *prefix)
{
	return publish(self, prefix, OP_PREFIX);
}

static PyObject *
Pub_invalidate_all(PubObject *self, PyObject *unused)
{
	return publish(self, NULL, OP_ALL);
}

static PyObject *
Pub_close(PubObject *self, PyObject *unused)
{
	if (self->lock)
		PyThread_acquire_lock(self->lock, WAIT_LOCK);
	Pub_close_handles(self);
	if (self->lock)
		PyThread_release_lock(self->lock);
	Py_RETURN_NONE;
}

static PyObject *
Pub_get_namespace(PubObject *self, void *closure)
{
	return PyUnicode_FromString(self->ns);
}

static PyMethodDef Pub_methods[] = {
	{"invalidate", (PyCFunction)Pub_invalidate, METH_O,
	 "invalidate(key): delete locally, publish to every machine"},
	{"invalidate_prefix", (PyCFunction)Pub_invalidate_prefix, METH_O,
	 "invalidate_prefix(prefix): every key starting with prefix"},
	{"invalidate_all", (PyCFunction)Pub_invalidate_all, METH_NOARGS,
	 "invalidate_all(): every key of the namespace"},
	{"close", (PyCFunction)Pub_close, METH_NOARGS,
	 "close(): drop the Redis connection and the segment handle"},
	{NULL, NULL, 0, NULL}};

static PyGetSetDef Pub_getset[] = {
	{"namespace", (getter)Pub_get_namespace, NULL, "namespace", NULL},
	{NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject PubType = {
	PyVarObject_HEAD_INIT(NULL, 0)
		.tp_name = "forkcache._redis.Publisher",
	.tp_basicsize = sizeof(PubObject),
	.tp_dealloc = (destructor)Pub_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Publisher(redis, segment=None, namespace=None, file=False,"
		  " password=None, user=None, db=0, timeout_ms=1000)",
	.tp_methods = Pub_methods,
	.tp_getset = Pub_getset,
	.tp_init = (initproc)Pub_init,
	.tp_new = PyType_GenericNew,
};

static struct PyModuleDef moddef = {
	PyModuleDef_HEAD_INIT, "forkcache._redis",
	"libforkcache-redis: publish invalidations (see forkcache.sync).", -1,
	NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__redis(void); /* the one exported symbol */

PyMODINIT_FUNC
PyInit__redis(void)
{
	if (PyType_Ready(&PubType) < 0)
		return NULL;
	PyObject *m = PyModule_Create(&moddef);

	if (!m)
		return NULL;
	Py_INCREF(&PubType);
	if (PyModule_AddObject(m, "Publisher", (PyObject *)&PubType) < 0) {
		Py_DECREF(&PubType);
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
