/*
 * _forkcache.c - the CPython binding of libforkcache (import forkcache).
 *
 * DESIGN       One type, _forkcache.Cache, wraps one fc_cache handle; the
 *              Python class forkcache.Cache subclasses it (argument parsing,
 *              private names, context manager) and adds no per-call work.
 *              Every method is METH_FASTCALL: no argument tuple, no
 *              keyword dict when none is passed. Keys are str (UTF-8, the
 *              interpreter caches the encoding in the str object) or bytes;
 *              values are bytes-like in, bytes out.
 *              get copies into a 4 KiB stack buffer first and builds the
 *              bytes object from it; on FC_ETRUNC it allocates a bytes object
 *              of the exact length the library reported and reads again
 *              (looping if the value grew meanwhile, shrinking the object if
 *              it got shorter).
 * GIL          Reads (get, gets, keys, stats) never block in the library
 *              (no lock, no syscall on a hit) and keep the GIL: releasing
 *              it would cost more than the read. Every call that can wait
 *              (set/add/replace/cas/delete/touch/incr/clear take the writer
 *              mutex; lease waits block on a futex) runs with the GIL
 *              released.
 * CLOSE        While the GIL is released, another thread may call close().
 *              A handle therefore counts the calls in flight (ch_busy, only
 *              touched with the GIL held); close() with calls in flight
 *              only marks the object closed, and the last call to return
 *              does the fc_close(). After fork() in a child the counter is
 *              reset (the threads it counted do not exist there): the
 *              Python layer calls _after_fork() from os.register_at_fork.
 * FORK         The fc_cache handle is inherited: the library gives the
 *              child its own reader slot on its first read.
 * ERRORS       FC_E* codes raise the classes registered by forkcache/__init__
 *              through _set_errors() (forkcache.Error and subclasses);
 *              FC_ENOTFOUND is not an error where a miss is an answer (get
 *              returns the default, delete returns False, ...).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <math.h>
#include <string.h>

#include "forkcache.h"

#define GET_STACK_BYTES 4096 /* stack buffer of get; larger values retry */
#define NERR 32 /* error classes, indexed by -code */

static PyObject *err_classes[NERR]; /* owned references; NULL = Error */
static PyObject *err_base; /* forkcache.Error */

typedef struct {
	PyObject_HEAD
		fc_cache *ch_c; /* NULL once closed */
	PyObject *ch_name; /* str or None */
	PyObject *ch_weakrefs;
	Py_ssize_t ch_busy; /* calls in flight with the GIL released */
	int ch_closing; /* close() asked while busy */
} CacheObject;

/* --------------------------------------------------------------- errors */

static PyObject *
raise_fc(int rc)
{
	int saved_errno = errno;
	PyObject *cls = NULL;
	if (rc < 0 && -rc < NERR)
		cls = err_classes[-rc];
	if (!cls)
		cls = err_base ? err_base : PyExc_RuntimeError;
	PyObject *exc;
	if (rc == FC_ESYS && PyObject_IsSubclass(cls, PyExc_OSError) == 1)
		exc = PyObject_CallFunction(cls, "is", saved_errno,
					    strerror(saved_errno));
	else
		exc = PyObject_CallFunction(cls, "s", fc_strerror(rc));
	if (!exc)
		return NULL;
	PyObject *code = PyLong_FromLong(rc);
	PyObject *name = PyUnicode_FromString(fc_errname(rc));
	if (!code || !name || PyObject_SetAttrString(exc, "code", code) < 0 ||
	    PyObject_SetAttrString(exc, "name", name) < 0) {
		Py_XDECREF(code);
		Py_XDECREF(name);
		Py_DECREF(exc);
		return NULL;
	}
	Py_DECREF(code);
	Py_DECREF(name);
	PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
	Py_DECREF(exc);
	return NULL;
}

static PyObject *
set_errors(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	if (nargs != 2 || !PyDict_Check(args[1])) {
		PyErr_SetString(PyExc_TypeError, "_set_errors(base, {code: cls})");
		return NULL;
	}
	Py_INCREF(args[0]);
	Py_XSETREF(err_base, args[0]);
	PyObject *k, *v;
	Py_ssize_t pos = 0;
	while (PyDict_Next(args[1], &pos, &k, &v)) {
		long code = PyLong_AsLong(k);
		if (code == -1 && PyErr_Occurred())
			return NULL;
		if (code >= 0 || -code >= NERR) {
			PyErr_SetString(PyExc_ValueError, "error code out of range");
			return NULL;
		}
		Py_INCREF(v);
		Py_XSETREF(err_classes[-code], v);
	}
	Py_RETURN_NONE;
}

/* ------------------------------------------------------------ arguments */

/* Key as bytes: str (UTF-8) or bytes. The pointer lives as long as @p o. */
static inline int
key_of(PyObject *o, const char **k, Py_ssize_t *n)
{
	if (PyUnicode_Check(o)) {
		*k = PyUnicode_AsUTF8AndSize(o, n);
		return *k ? 0 : -1;
	}
	if (PyBytes_Check(o)) {
		*k = PyBytes_AS_STRING(o);
		*n = PyBytes_GET_SIZE(o);
		return 0;
	}
	PyErr_Format(PyExc_TypeError, "key must be str or bytes, not %.100s",
		     Py_TYPE(o)->tp_name);
	return -1;
}

/*
 * Seconds (None, int or float) to the library's milliseconds: None and 0 =
 * never expire (0), positive values round up to a whole ms so that a tiny
 * TTL never turns into "never". Negative or NaN: ValueError.
 */
static int
ttl_ms_of(PyObject *o, uint64_t *ms)
{
	if (!o || o == Py_None) {
		*ms = 0;
		return 0;
	}
	double s = PyFloat_AsDouble(o);
	if (s == -1.0 && PyErr_Occurred())
		return -1;
	if (isnan(s) || s < 0) {
		PyErr_SetString(PyExc_ValueError, "ttl must be >= 0 seconds");
		return -1;
	}
	if (s == 0 || isinf(s) || s >= 1.8e16) {
		*ms = 0;
		return 0;
	}
	double m = ceil(s * 1000.0);
	*ms = m < 1 ? 1 : (uint64_t)m;
	return 0;
}

/*
 * Minimal FASTCALL parser: fills out[0..nnames) from positionals then
 * keywords; out[i] stays NULL when not given. @p nreq leading ones are
 * required.
 */
static int
parse(const char *fn, PyObject *const *args, Py_ssize_t nargs,
      PyObject *kwnames, const char *const *names, int nnames, int nreq,
      PyObject **out)
{
	if (nargs > nnames) {
		PyErr_Format(PyExc_TypeError,
			     "%s() takes at most %d arguments (%zd given)", fn,
			     nnames, nargs);
		return -1;
	}
	for (int i = 0; i < nnames; i++)
		out[i] = i < nargs ? args[i] : NULL;
	if (kwnames) {
		Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
		for (Py_ssize_t j = 0; j < nk; j++) {
			PyObject *kn = PyTuple_GET_ITEM(kwnames, j);
			int i;
			for (i = 0; i < nnames; i++)
				if (PyUnicode_CompareWithASCIIString(kn, names[i]) == 0)
					break;
			if (i == nnames) {
				PyErr_Format(PyExc_TypeError,
					     "%s() got an unexpected keyword "
					     "argument '%U'",
					     fn, kn);
				return -1;
			}
			if (out[i]) {
				PyErr_Format(PyExc_TypeError,
					     "%s() got multiple values for "
					     "argument '%s'",
					     fn, names[i]);
				return -1;
			}
			out[i] = args[nargs + j];
		}
	}
	for (int i = 0; i < nreq; i++)
		if (!out[i]) {
			PyErr_Format(PyExc_TypeError,
				     "%s() missing required argument '%s'", fn,
				     names[i]);
			return -1;
		}
	return 0;
}

static inline int
check_open(CacheObject *self)
{
	if (self->ch_c && !self->ch_closing)
		return 0;
	PyErr_SetString(PyExc_ValueError, "operation on a closed forkcache.Cache");
	return -1;
}

/* Around a call made with the GIL released (see CLOSE above). */
static inline void
busy_enter(CacheObject *self)
{
	self->ch_busy++;
}

static void
busy_leave(CacheObject *self)
{
	if (--self->ch_busy == 0 && self->ch_closing && self->ch_c) {
		fc_close(self->ch_c);
		self->ch_c = NULL;
	}
}

/* ------------------------------------------------------------- open/close */

static PyObject *
Cache_open(CacheObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	/* _open(name, flags, segment_bytes, mode, reader_slots, unlink_now,
	 *       lease_ms, stale_ms): 0 = the library's default */
	const char *name;
	unsigned long long seg;
	unsigned long flags, mode, slots;
	unsigned long long lease_ms, stale_ms;
	int unlink_now;
	if (nargs != 8) {
		PyErr_SetString(PyExc_TypeError, "_open takes 8 arguments");
		return NULL;
	}
	if (self->ch_c) {
		PyErr_SetString(PyExc_ValueError, "already open");
		return NULL;
	}
	if (!(name = PyUnicode_AsUTF8(args[0])))
		return NULL;
	flags = PyLong_AsUnsignedLong(args[1]);
	seg = PyLong_AsUnsignedLongLong(args[2]);
	mode = PyLong_AsUnsignedLong(args[3]);
	slots = PyLong_AsUnsignedLong(args[4]);
	lease_ms = PyLong_AsUnsignedLongLong(args[6]);
	stale_ms = PyLong_AsUnsignedLongLong(args[7]);
	if (PyErr_Occurred())
		return NULL;
	if ((unlink_now = PyObject_IsTrue(args[5])) < 0)
		return NULL;
	fc_options o;
	fc_options_init(&o);
	o.flags = (unsigned)flags;
	o.segment_bytes = seg;
	o.mode = (unsigned)mode;
	if (slots)
		o.reader_slots = (uint32_t)slots;
#ifdef FC_LEADER
	if (lease_ms)
		o.lease_ms = lease_ms;
	o.stale_ms = stale_ms;
#else
	if (lease_ms || stale_ms) {
		PyErr_SetString(PyExc_ValueError,
				"this libforkcache has no leases (lease, stale)");
		return NULL;
	}
#endif
	fc_cache *c = NULL;
	int rc, urc = FC_OK;
	Py_BEGIN_ALLOW_THREADS
		rc = fc_open(name, &o, &c);
	/*
	 * A private cache: remove the name at once. The mapping lives on in
	 * this process and in every child forked from now on, and the kernel
	 * frees it when the last of them unmaps; no process can crash with
	 * the name left behind, and no unrelated process can attach.
	 */
	if (rc == FC_OK && unlink_now)
		urc = fc_unlink(name, (unsigned)flags & FC_FILE);
	Py_END_ALLOW_THREADS if (rc != FC_OK) return raise_fc(rc);
	if (urc != FC_OK) {
		fc_close(c);
		return raise_fc(urc);
	}
	self->ch_c = c;
	Py_INCREF(args[0]);
	Py_XSETREF(self->ch_name, args[0]);
	Py_RETURN_NONE;
}

static PyObject *
Cache_close(CacheObject *self, PyObject *unused)
{
	if (!self->ch_c || self->ch_closing)
		Py_RETURN_NONE;
	if (self->ch_busy) { /* the last call in flight closes */
		self->ch_closing = 1;
		Py_RETURN_NONE;
	}
	fc_cache *c = self->ch_c;
	self->ch_c = NULL;
	fc_close(c);
	Py_RETURN_NONE;
}

static PyObject *
Cache_after_fork(CacheObject *self, PyObject *unused)
{
	/* In the child only the forking thread exists. */
	self->ch_busy = 0;
	if (self->ch_closing && self->ch_c) {
		fc_close(self->ch_c);
		self->ch_c = NULL;
	}
	Py_RETURN_NONE;
}

static void
Cache_dealloc(CacheObject *self)
{
	PyObject_GC_UnTrack(self);
	if (self->ch_weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	if (self->ch_c) /* no call is in flight: each holds a reference */
		fc_close(self->ch_c);
	self->ch_c = NULL;
	Py_CLEAR(self->ch_name);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Cache_traverse(CacheObject *self, visitproc visit, void *arg)
{
	Py_VISIT(self->ch_name);
	return 0;
}

/* ------------------------------------------------------------------ reads */

/* Read @p key into a new bytes object; *rcp gets the library's code. */
static PyObject *
read_value(fc_cache *c, const char *k, Py_ssize_t kn, uint64_t *cas, int *rcp)
{
	char stackbuf[GET_STACK_BYTES];
	size_t n = sizeof stackbuf;
	int rc = cas ? fc_gets(c, k, (size_t)kn, stackbuf, &n, cas)
		     : fc_get(c, k, (size_t)kn, stackbuf, &n);
	*rcp = rc;
	if (rc == FC_OK)
		return PyBytes_FromStringAndSize(stackbuf, (Py_ssize_t)n);
	while (rc == FC_ETRUNC) { /* exact size, then read again */
		size_t need = n;
		PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)need);
		if (!b)
			return NULL;
		n = need;
		rc = cas ? fc_gets(c, k, (size_t)kn, PyBytes_AS_STRING(b), &n, cas)
			 : fc_get(c, k, (size_t)kn, PyBytes_AS_STRING(b), &n);
		*rcp = rc;
		if (rc == FC_OK) {
			if (n < need && _PyBytes_Resize(&b, (Py_ssize_t)n) < 0)
				return NULL;
			return b;
		}
		Py_DECREF(b); /* grew again (FC_ETRUNC) or went away */
	}
	return NULL;
}

static PyObject *
Cache_get(CacheObject *self, PyObject *const *args, Py_ssize_t nargs,
	  PyObject *kwnames)
{
	PyObject *key, *dflt = Py_None;
	if (!kwnames && (nargs == 1 || nargs == 2)) { /* the fast path */
		key = args[0];
		if (nargs == 2)
			dflt = args[1];
	} else {
		static const char *const names[] = {"key", "default"};
		PyObject *a[2];
		if (parse("get", args, nargs, kwnames, names, 2, 1, a) < 0)
			return NULL;
		key = a[0];
		if (a[1])
			dflt = a[1];
	}
	const char *k;
	Py_ssize_t kn;
	if (check_open(self) < 0 || key_of(key, &k, &kn) < 0)
		return NULL;
	int rc;
	PyObject *v = read_value(self->ch_c, k, kn, NULL, &rc);
	if (v)
		return v;
	if (PyErr_Occurred())
		return NULL;
	if (rc == FC_ENOTFOUND) {
		Py_INCREF(dflt);
		return dflt;
	}
	return raise_fc(rc);
}

static PyObject *
Cache_gets(CacheObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	/* gets(key) -> (value, cas) or None */
	const char *k;
	Py_ssize_t kn;
	if (nargs != 1) {
		PyErr_SetString(PyExc_TypeError, "gets(key)");
		return NULL;
	}
	if (check_open(self) < 0 || key_of(args[0], &k, &kn) < 0)
		return NULL;
	uint64_t cas = 0;
	int rc;
	PyObject *v = read_value(self->ch_c, k, kn, &cas, &rc);
	if (v)
		return Py_BuildValue("(NK)", v, (unsigned long long)cas);
	if (PyErr_Occurred())
		return NULL;
	if (rc == FC_ENOTFOUND)
		Py_RETURN_NONE;
	return raise_fc(rc);
}

static PyObject *
Cache_ttl(CacheObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	/* ttl(key) -> seconds left (float), None if it never expires; KeyError
	 * if absent. Uses fc_get_item with an empty buffer (FC_ETRUNC fills
	 * the metadata without copying the value). */
	const char *k;
	Py_ssize_t kn;
	if (nargs != 1) {
		PyErr_SetString(PyExc_TypeError, "ttl(key)");
		return NULL;
	}
	if (check_open(self) < 0 || key_of(args[0], &k, &kn) < 0)
		return NULL;
	char one;
	size_t n = 0;
	fc_item meta;
	int rc = fc_get_item(self->ch_c, k, (size_t)kn, &one, &n, &meta);
	if (rc == FC_OK || rc == FC_ETRUNC) {
		if (meta.ttl_left_ms < 0)
			Py_RETURN_NONE;
		return PyFloat_FromDouble((double)meta.ttl_left_ms / 1000.0);
	}
	if (rc == FC_ENOTFOUND) {
		PyErr_SetObject(PyExc_KeyError, args[0]);
		return NULL;
	}
	return raise_fc(rc);
}

static PyObject *
Cache_contains(CacheObject *self, PyObject *key)
{
	const char *k;
	Py_ssize_t kn;
	if (check_open(self) < 0 || key_of(key, &k, &kn) < 0)
		return NULL;
	size_t n = 0;
	int rc = fc_get(self->ch_c, k, (size_t)kn, NULL, &n);
	if (rc == FC_OK || rc == FC_ETRUNC)
		Py_RETURN_TRUE;
	if (rc == FC_ENOTFOUND)
		Py_RETURN_FALSE;
	return raise_fc(rc);
}

/* ----------------------------------------------------------------- writes */

enum { W_SET,
       W_ADD,
       W_REPLACE,
       W_CAS };

static PyObject *
do_write(CacheObject *self, int mode, const char *fn, PyObject *const *args,
	 Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names_set[] = {"key", "value", "ttl"};
	static const char *const names_cas[] = {"key", "value", "cas", "ttl"};
	PyObject *a[4] = {NULL, NULL, NULL, NULL};
	PyObject *ttlo;
	unsigned long long cas = 0;
	if (mode == W_CAS) {
		if (parse(fn, args, nargs, kwnames, names_cas, 4, 3, a) < 0)
			return NULL;
		cas = PyLong_AsUnsignedLongLong(a[2]);
		if (cas == (unsigned long long)-1 && PyErr_Occurred())
			return NULL;
		ttlo = a[3];
	} else {
		if (parse(fn, args, nargs, kwnames, names_set, 3, 2, a) < 0)
			return NULL;
		ttlo = a[2];
	}
	const char *k;
	Py_ssize_t kn;
	uint64_t ttl;
	if (check_open(self) < 0 || key_of(a[0], &k, &kn) < 0 ||
	    ttl_ms_of(ttlo, &ttl) < 0)
		return NULL;
	if (PyUnicode_Check(a[1])) {
		PyErr_SetString(PyExc_TypeError,
				"value must be bytes-like, not str");
		return NULL;
	}
	Py_buffer vb;
	if (PyObject_GetBuffer(a[1], &vb, PyBUF_SIMPLE) < 0)
		return NULL;
	Py_INCREF(a[0]); /* k points into it while the GIL is released */
	fc_cache *c = self->ch_c;
	int rc;
	busy_enter(self);
	Py_BEGIN_ALLOW_THREADS switch (mode)
	{
	case W_SET:
		rc = fc_set(c, k, (size_t)kn, vb.buf, (size_t)vb.len, ttl);
		break;
	case W_ADD:
		rc = fc_add(c, k, (size_t)kn, vb.buf, (size_t)vb.len, ttl);
		break;
	case W_REPLACE:
		rc = fc_replace(c, k, (size_t)kn, vb.buf, (size_t)vb.len, ttl);
		break;
	default:
		rc = fc_cas(c, k, (size_t)kn, vb.buf, (size_t)vb.len, ttl, cas);
		break;
	}
	Py_END_ALLOW_THREADS
		busy_leave(self);
	PyBuffer_Release(&vb);
	Py_DECREF(a[0]);
	if (rc == FC_OK) {
		if (mode == W_SET)
			Py_RETURN_NONE;
		Py_RETURN_TRUE;
	}
	if ((mode == W_ADD && rc == FC_EEXIST) ||
	    (mode == W_REPLACE && rc == FC_ENOTFOUND) ||
	    (mode == W_CAS && (rc == FC_ECAS || rc == FC_ENOTFOUND)))
		Py_RETURN_FALSE;
	return raise_fc(rc);
}

static PyObject *
Cache_set(CacheObject *self, PyObject *const *a, Py_ssize_t n, PyObject *kw)
{
	return do_write(self, W_SET, "set", a, n, kw);
}

static PyObject *
Cache_add(CacheObject *self, PyObject *const *a, Py_ssize_t n, PyObject *kw)
{
	return do_write(self, W_ADD, "add", a, n, kw);
}

static PyObject *
Cache_replace(CacheObject *self, PyObject *const *a, Py_ssize_t n, PyObject *kw)
{
	return do_write(self, W_REPLACE, "replace", a, n, kw);
}

static PyObject *
Cache_cas(CacheObject *self, PyObject *const *a, Py_ssize_t n, PyObject *kw)
{
	return do_write(self, W_CAS, "cas", a, n, kw);
}

static PyObject *
Cache_delete(CacheObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	const char *k;
	Py_ssize_t kn;
	if (nargs != 1) {
		PyErr_SetString(PyExc_TypeError, "delete(key)");
		return NULL;
	}
	if (check_open(self) < 0 || key_of(args[0], &k, &kn) < 0)
		return NULL;
	PyObject *key = args[0];
	Py_INCREF(key);
	fc_cache *c = self->ch_c;
	int rc;
	busy_enter(self);
	Py_BEGIN_ALLOW_THREADS
		rc = fc_delete(c, k, (size_t)kn);
	Py_END_ALLOW_THREADS
		busy_leave(self);
	Py_DECREF(key);
	if (rc == FC_OK)
		Py_RETURN_TRUE;
	if (rc == FC_ENOTFOUND)
		Py_RETURN_FALSE;
	return raise_fc(rc);
}

static PyObject *
Cache_touch(CacheObject *self, PyObject *const *args, Py_ssize_t nargs,
	    PyObject *kwnames)
{
	static const char *const names[] = {"key", "ttl"};
	PyObject *a[2];
	if (parse("touch", args, nargs, kwnames, names, 2, 1, a) < 0)
		return NULL;
	const char *k;
	Py_ssize_t kn;
	uint64_t ttl;
	if (check_open(self) < 0 || key_of(a[0], &k, &kn) < 0 ||
	    ttl_ms_of(a[1], &ttl) < 0)
		return NULL;
	Py_INCREF(a[0]);
	fc_cache *c = self->ch_c;
	int rc;
	busy_enter(self);
	Py_BEGIN_ALLOW_THREADS
		rc = fc_touch(c, k, (size_t)kn, ttl);
	Py_END_ALLOW_THREADS
		busy_leave(self);
	Py_DECREF(a[0]);
	if (rc == FC_OK)
		Py_RETURN_TRUE;
	if (rc == FC_ENOTFOUND)
		Py_RETURN_FALSE;
	return raise_fc(rc);
}

static PyObject *
Cache_incr(CacheObject *self, PyObject *const *args, Py_ssize_t nargs,
	   PyObject *kwnames)
{
	/* incr(key, delta=1) -> new value, or None if the key is absent */
	static const char *const names[] = {"key", "delta"};
	PyObject *a[2];
	if (parse("incr", args, nargs, kwnames, names, 2, 1, a) < 0)
		return NULL;
	const char *k;
	Py_ssize_t kn;
	long long delta = 1;
	if (check_open(self) < 0 || key_of(a[0], &k, &kn) < 0)
		return NULL;
	if (a[1]) {
		delta = PyLong_AsLongLong(a[1]);
		if (delta == -1 && PyErr_Occurred())
			return NULL;
	}
	Py_INCREF(a[0]);
	fc_cache *c = self->ch_c;
	uint64_t v = 0;
	int rc;
	busy_enter(self);
	Py_BEGIN_ALLOW_THREADS
		rc = fc_incr(c, k, (size_t)kn, (int64_t)delta, &v);
	Py_END_ALLOW_THREADS
		busy_leave(self);
	Py_DECREF(a[0]);
	if (rc == FC_OK)
		return PyLong_FromUnsignedLongLong(v);
	if (rc == FC_ENOTFOUND)
		Py_RETURN_NONE;
	return raise_fc(rc);
}

static PyObject *
Cache_clear(CacheObject *self, PyObject *unused)
{
	if (check_open(self) < 0)
		return NULL;
	fc_cache *c = self->ch_c;
	int rc;
	busy_enter(self);
	Py_BEGIN_ALLOW_THREADS
		rc = fc_flush(c);
	Py_END_ALLOW_THREADS
		busy_leave(self);
	if (rc != FC_OK)
		return raise_fc(rc);
	Py_RETURN_NONE;
}

static PyObject *
Cache_flush_expired(CacheObject *self, PyObject *unused)
{
	if (check_open(self) < 0)
		return NULL;
	fc_cache *c = self->ch_c;
	int64_t rc;
	busy_enter(self);
	Py_BEGIN_ALLOW_THREADS
		rc = fc_flush_expired(c);
	Py_END_ALLOW_THREADS
		busy_leave(self);
	if (rc < 0)
		return raise_fc((int)rc);
	return PyLong_FromLongLong(rc);
}

/* ----------------------------------------------------------------- leases */
#ifdef FC_LEADER
/*
 * Leases (fc_lease_get/fill/abandon): single-flight across processes. The
 * fc_lease is handed to Python as an opaque bytes object of sizeof(fc_lease)
 * and copied back in for fill/abandon. Every call releases the GIL: a
 * lease_get may block (futex) for up to its wait.
 */
static int
lease_of(PyObject *o, fc_lease *l)
{
	if (!PyBytes_Check(o) || PyBytes_GET_SIZE(o) != (Py_ssize_t)sizeof *l) {
		PyErr_SetString(PyExc_TypeError, "lease must come from lease_get()");
		return -1;
	}
	memcpy(l, PyBytes_AS_STRING(o), sizeof *l);
	return 0;
}

static PyObject *
Cache_lease_get(CacheObject *self, PyObject *const *args, Py_ssize_t nargs,
		PyObject *kwnames)
{
	/* lease_get(key, wait=0) -> (status, value or None, lease or None):
	 * status FC_OK (fresh hit), FC_LEADER (compute, then lease_fill or
	 * lease_abandon), FC_STALE (stale value; refresh, then fill/abandon).
	 * wait in seconds; TimeoutError (FC_ETIMEDOUT) when it runs out. */
	static const char *const names[] = {"key", "wait"};
	PyObject *a[2];
	if (parse("lease_get", args, nargs, kwnames, names, 2, 1, a) < 0)
		return NULL;
	const char *k;
	Py_ssize_t kn;
	uint64_t wait_ms;
	if (check_open(self) < 0 || key_of(a[0], &k, &kn) < 0 ||
	    ttl_ms_of(a[1], &wait_ms) < 0)
		return NULL;
	Py_INCREF(a[0]);
	fc_cache *c = self->ch_c;
	char stackbuf[GET_STACK_BYTES];
	char *buf = stackbuf;
	size_t cap = sizeof stackbuf, n;
	PyObject *big = NULL;
	fc_lease lease;
	int rc;
	busy_enter(self);
	for (;;) {
		n = cap;
		Py_BEGIN_ALLOW_THREADS
			rc = fc_lease_get(c, k, (size_t)kn, buf, &n, wait_ms, &lease);
		Py_END_ALLOW_THREADS if (rc != FC_ETRUNC) break;
		/* A value larger than the buffer: no lease is held (the call
		 * copied nothing); read again with the exact size. */
		Py_XDECREF(big);
		big = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
		if (!big)
			break;
		buf = PyBytes_AS_STRING(big);
		cap = n;
	}
	busy_leave(self);
	Py_DECREF(a[0]);
	if (rc == FC_ETRUNC) /* the bytes object could not be allocated */
		return NULL;
	if (rc < 0) {
		Py_XDECREF(big);
		return raise_fc(rc);
	}
	PyObject *val, *lobj, *res = NULL;
	if (rc == FC_LEADER) {
		val = Py_None;
		Py_INCREF(val);
	} else if (big) {
		/* _PyBytes_Resize frees the object on failure */
		if (n == cap || _PyBytes_Resize(&big, (Py_ssize_t)n) == 0)
			val = big;
		else
			val = NULL;
		big = NULL;
	} else {
		val = PyBytes_FromStringAndSize(stackbuf, (Py_ssize_t)n);
	}
	Py_XDECREF(big);
	if (rc == FC_OK) {
		lobj = Py_None;
		Py_INCREF(lobj);
	} else {
		lobj = PyBytes_FromStringAndSize((const char *)&lease,
						 sizeof lease);
	}
	if (val && lobj)
		res = Py_BuildValue("(iNN)", rc, val, lobj);
	else {
		Py_XDECREF(val);
		Py_XDECREF(lobj);
	}
	if (!res && rc != FC_OK && self->ch_c) {
		/* No memory for the answer after the lease was taken: give it
		 * up, so that the key's waiters go on without us. */
		PyObject *et, *ev, *tb;
		PyErr_Fetch(&et, &ev, &tb);
		fc_lease_abandon(self->ch_c, &lease);
		PyErr_Restore(et, ev, tb);
	}
	return res;
}

static PyObject *
Cache_lease_fill(CacheObject *self, PyObject *const *args, Py_ssize_t nargs,
		 PyObject *kwnames)
{
	/* lease_fill(lease, value, ttl=None): store and wake the waiters */
	static const char *const names[] = {"lease", "value", "ttl"};
	PyObject *a[3];
	if (parse("lease_fill", args, nargs, kwnames, names, 3, 2, a) < 0)
		return NULL;
	fc_lease lease;
	uint64_t ttl;
	if (check_open(self) < 0 || lease_of(a[0], &lease) < 0 ||
	    ttl_ms_of(a[2], &ttl) < 0)
		return NULL;
	if (PyUnicode_Check(a[1])) {
		PyErr_SetString(PyExc_TypeError,
				"value must be bytes-like, not str");
		return NULL;
	}
	Py_buffer vb;
	if (PyObject_GetBuffer(a[1], &vb, PyBUF_SIMPLE) < 0)
		return NULL;
	fc_cache *c = self->ch_c;
	int rc;
	busy_enter(self);
	Py_BEGIN_ALLOW_THREADS
		rc = fc_lease_fill(c, &lease, vb.buf, (size_t)vb.len, ttl);
	Py_END_ALLOW_THREADS
		busy_leave(self);
	PyBuffer_Release(&vb);
	if (rc != FC_OK)
		return raise_fc(rc);
	Py_RETURN_NONE;
}

static PyObject *
Cache_lease_abandon(CacheObject *self, PyObject *const *args,
		    Py_ssize_t nargs)
{
	/* lease_abandon(lease): give the lease up; one waiter takes it */
	fc_lease lease;
	if (nargs != 1) {
		PyErr_SetString(PyExc_TypeError, "lease_abandon(lease)");
		return NULL;
	}
	if (check_open(self) < 0 || lease_of(args[0], &lease) < 0)
		return NULL;
	fc_cache *c = self->ch_c;
	int rc;
	busy_enter(self);
	Py_BEGIN_ALLOW_THREADS
		rc = fc_lease_abandon(c, &lease);
	Py_END_ALLOW_THREADS
		busy_leave(self);
	if (rc != FC_OK)
		return raise_fc(rc);
	Py_RETURN_NONE;
}
#endif /* FC_LEADER */

/* ------------------------------------------------------- stats, iteration */

static PyObject *
Cache_stats(CacheObject *self, PyObject *unused)
{
	if (check_open(self) < 0)
		return NULL;
	fc_stats s;
	int rc = fc_stat(self->ch_c, &s);
	if (rc != FC_OK)
		return raise_fc(rc);
	PyObject *d = Py_BuildValue(
		"{sKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsIsI}",
		"items", (unsigned long long)s.items,
		"hits", (unsigned long long)s.hits,
		"misses", (unsigned long long)s.misses,
		"sets", (unsigned long long)s.sets,
		"deletes", (unsigned long long)s.deletes,
		"evictions", (unsigned long long)s.evictions,
		"expired", (unsigned long long)s.expired,
		"segment_bytes", (unsigned long long)s.segment_bytes,
		"bytes_used", (unsigned long long)s.bytes_used,
		"data_bytes", (unsigned long long)s.data_bytes,
		"data_capacity", (unsigned long long)s.data_capacity,
		"value_max", (unsigned long long)s.value_max,
		"page_bytes", (unsigned long long)s.page_bytes,
		"pages", (unsigned long long)s.pages,
		"pages_free", (unsigned long long)s.pages_free,
		"buckets", (unsigned long long)s.buckets,
		"tombstones", (unsigned long long)s.tombstones,
		"limbo", (unsigned long long)s.limbo,
		"epoch", (unsigned long long)s.epoch,
		"reader_slots", (unsigned long long)s.reader_slots,
		"readers_live", (unsigned long long)s.readers_live,
		"readers_dead", (unsigned long long)s.readers_dead,
		"readers_active", (unsigned long long)s.readers_active,
		"repairs", (unsigned long long)s.repairs,
		"index_rebuilds", (unsigned long long)s.index_rebuilds,
		"reclaim_waits", (unsigned long long)s.reclaim_waits,
		"classes", (unsigned)s.classes,
		"layout_version", (unsigned)s.layout_version);
#ifdef FC_LEADER
	const struct {
		const char *k;
		unsigned long long v;
	} lease_fields[] = {
		{"lease_slots", s.lease_slots},
		{"leases_active", s.leases_active},
		{"leases_dead", s.leases_dead},
		{"lease_grants", s.lease_grants},
		{"lease_takeovers", s.lease_takeovers},
		{"lease_waits", s.lease_waits},
		{"lease_timeouts", s.lease_timeouts},
		{"lease_stale_hits", s.lease_stale_hits},
		{"lease_full", s.lease_full},
		{"lease_ms", s.lease_ms},
		{"stale_ms", s.stale_ms},
	};
	for (size_t i = 0; d && i < sizeof lease_fields / sizeof *lease_fields;
	     i++) {
		PyObject *v = PyLong_FromUnsignedLongLong(lease_fields[i].v);
		if (!v || PyDict_SetItemString(d, lease_fields[i].k, v) < 0)
			Py_CLEAR(d);
		Py_XDECREF(v);
	}
#endif
	return d;
}

static PyObject *
Cache_keys(CacheObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	/* keys(prefix=b"") -> list of bytes: a weakly consistent snapshot */
	const char *p = "";
	Py_ssize_t pn = 0;
	if (nargs > 1) {
		PyErr_SetString(PyExc_TypeError, "keys(prefix=b'')");
		return NULL;
	}
	if (check_open(self) < 0 || (nargs == 1 && key_of(args[0], &p, &pn) < 0))
		return NULL;
	fc_iter *it;
	int rc = fc_iter_open(self->ch_c, &it);
	if (rc != FC_OK)
		return raise_fc(rc);
	PyObject *list = PyList_New(0);
	fc_item item;
	while (list && (rc = fc_iter_next(it, &item)) == FC_OK) {
		if (item.klen < (size_t)pn || memcmp(item.key, p, (size_t)pn))
			continue;
		PyObject *k = PyBytes_FromStringAndSize(item.key,
							(Py_ssize_t)item.klen);
		if (!k || PyList_Append(list, k) < 0)
			Py_CLEAR(list);
		Py_XDECREF(k);
	}
	fc_iter_close(it);
	if (list && rc != FC_ENOTFOUND) {
		Py_DECREF(list);
		return raise_fc(rc);
	}
	return list;
}

static PyObject *
Cache_verify(CacheObject *self, PyObject *unused)
{
	if (check_open(self) < 0)
		return NULL;
	fc_cache *c = self->ch_c;
	int64_t rc;
	busy_enter(self);
	Py_BEGIN_ALLOW_THREADS
		rc = fc_verify(c, FC_VERIFY_LOCK, NULL, NULL);
	Py_END_ALLOW_THREADS
		busy_leave(self);
	if (rc < 0)
		return raise_fc((int)rc);
	return PyLong_FromLongLong(rc);
}

static PyObject *
Cache_get_closed(CacheObject *self, void *unused)
{
	return PyBool_FromLong(!self->ch_c || self->ch_closing);
}

static PyObject *
Cache_get_name(CacheObject *self, void *unused)
{
	PyObject *n = self->ch_name ? self->ch_name : Py_None;
	Py_INCREF(n);
	return n;
}

/* ------------------------------------------------------------------ module */

#define FAST (METH_FASTCALL)
#define FASTKW (METH_FASTCALL | METH_KEYWORDS)

static PyMethodDef Cache_methods[] = {
	{"_open", (PyCFunction)(void (*)(void))Cache_open, FAST,
	 "_open(name, flags, segment_bytes, mode, reader_slots, unlink_now, "
	 "lease_ms, stale_ms)"},
	{"_after_fork", (PyCFunction)Cache_after_fork, METH_NOARGS, NULL},
	{"close", (PyCFunction)Cache_close, METH_NOARGS,
	 "close(): detach; later calls raise ValueError"},
	{"get", (PyCFunction)(void (*)(void))Cache_get, FASTKW,
	 "get(key, default=None) -> bytes or default"},
	{"gets", (PyCFunction)(void (*)(void))Cache_gets, FAST,
	 "gets(key) -> (value, cas) or None"},
	{"ttl", (PyCFunction)(void (*)(void))Cache_ttl, FAST,
	 "ttl(key) -> seconds left, None = never expires; KeyError if absent"},
	{"set", (PyCFunction)(void (*)(void))Cache_set, FASTKW,
	 "set(key, value, ttl=None): store; ttl in seconds, None/0 = never"},
	{"add", (PyCFunction)(void (*)(void))Cache_add, FASTKW,
	 "add(key, value, ttl=None) -> False if a live item exists"},
	{"replace", (PyCFunction)(void (*)(void))Cache_replace, FASTKW,
	 "replace(key, value, ttl=None) -> False if no live item exists"},
	{"cas", (PyCFunction)(void (*)(void))Cache_cas, FASTKW,
	 "cas(key, value, cas, ttl=None) -> False if changed or absent"},
	{"delete", (PyCFunction)(void (*)(void))Cache_delete, FAST,
	 "delete(key) -> True if an item was removed"},
	{"touch", (PyCFunction)(void (*)(void))Cache_touch, FASTKW,
	 "touch(key, ttl=None) -> False if absent"},
	{"incr", (PyCFunction)(void (*)(void))Cache_incr, FASTKW,
	 "incr(key, delta=1) -> new value, None if absent"},
#ifdef FC_LEADER
	{"lease_get", (PyCFunction)(void (*)(void))Cache_lease_get, FASTKW,
	 "lease_get(key, wait=0) -> (status, value, lease)"},
	{"lease_fill", (PyCFunction)(void (*)(void))Cache_lease_fill, FASTKW,
	 "lease_fill(lease, value, ttl=None)"},
	{"lease_abandon", (PyCFunction)(void (*)(void))Cache_lease_abandon,
	 FAST, "lease_abandon(lease)"},
#endif
	{"clear", (PyCFunction)Cache_clear, METH_NOARGS, "remove every item"},
	{"flush_expired", (PyCFunction)Cache_flush_expired, METH_NOARGS,
	 "remove expired items; return how many"},
	{"stats", (PyCFunction)Cache_stats, METH_NOARGS, "stats() -> dict"},
	{"keys", (PyCFunction)(void (*)(void))Cache_keys, FAST,
	 "keys(prefix=b'') -> list of bytes (weakly consistent)"},
	{"verify", (PyCFunction)Cache_verify, METH_NOARGS,
	 "verify() -> number of problems found (0 = clean)"},
	{NULL, NULL, 0, NULL}};

static PyGetSetDef Cache_getset[] = {
	{"closed", (getter)Cache_get_closed, NULL, "True once closed", NULL},
	{"name", (getter)Cache_get_name, NULL, "segment name", NULL},
	{NULL, NULL, NULL, NULL, NULL}};

static PySequenceMethods Cache_as_sequence = {
	.sq_contains = NULL, /* set in PyInit (needs an int-returning wrapper) */
};

static int
Cache_sq_contains(PyObject *self, PyObject *key)
{
	PyObject *r = Cache_contains((CacheObject *)self, key);
	if (!r)
		return -1;
	int t = r == Py_True;
	Py_DECREF(r);
	return t;
}

static PyTypeObject CacheType = {
	PyVarObject_HEAD_INIT(NULL, 0)
		.tp_name = "forkcache._forkcache.Cache",
	.tp_basicsize = sizeof(CacheObject),
	.tp_dealloc = (destructor)Cache_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "A libforkcache handle (use forkcache.Cache).",
	.tp_traverse = (traverseproc)Cache_traverse,
	.tp_weaklistoffset = offsetof(CacheObject, ch_weakrefs),
	.tp_methods = Cache_methods,
	.tp_getset = Cache_getset,
	.tp_as_sequence = &Cache_as_sequence,
	.tp_new = PyType_GenericNew,
};

static PyObject *
mod_unlink(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	/* _unlink(name, flags) -> True if removed, False if absent */
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "_unlink(name, flags)");
		return NULL;
	}
	const char *name = PyUnicode_AsUTF8(args[0]);
	unsigned long flags = PyLong_AsUnsignedLong(args[1]);
	if (!name || PyErr_Occurred())
		return NULL;
	int rc = fc_unlink(name, (unsigned)flags);
	if (rc == FC_OK)
		Py_RETURN_TRUE;
	if (rc == FC_ENOTFOUND)
		Py_RETURN_FALSE;
	return raise_fc(rc);
}

static PyObject *
mod_errname(PyObject *mod, PyObject *arg)
{
	long rc = PyLong_AsLong(arg);
	if (rc == -1 && PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(fc_errname((int)rc));
}

static PyObject *
mod_strerror(PyObject *mod, PyObject *arg)
{
	long rc = PyLong_AsLong(arg);
	if (rc == -1 && PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(fc_strerror((int)rc));
}

static PyMethodDef mod_methods[] = {
	{"_set_errors", (PyCFunction)(void (*)(void))set_errors, FAST, NULL},
	{"_unlink", (PyCFunction)(void (*)(void))mod_unlink, FAST, NULL},
	{"errname", mod_errname, METH_O, "errname(code) -> 'FC_E...'"},
	{"strerror", mod_strerror, METH_O, "strerror(code) -> message"},
	{NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {
	PyModuleDef_HEAD_INIT, "forkcache._forkcache",
	"CPython binding of libforkcache (see the forkcache package).", -1,
	mod_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__forkcache(void); /* the one exported symbol */

PyMODINIT_FUNC
PyInit__forkcache(void)
{
	Cache_as_sequence.sq_contains = Cache_sq_contains;
	if (PyType_Ready(&CacheType) < 0)
		return NULL;
	PyObject *m = PyModule_Create(&moddef);
	if (!m)
		return NULL;
	Py_INCREF(&CacheType);
	if (PyModule_AddObject(m, "Cache", (PyObject *)&CacheType) < 0) {
		Py_DECREF(&CacheType);
		Py_DECREF(m);
		return NULL;
	}
#define ADDINT(n)                                    \
	if (PyModule_AddIntConstant(m, #n, n) < 0) { \
		Py_DECREF(m);                        \
		return NULL;                         \
	}
#define FC__ADDERR(name, val, msg) ADDINT(FC_##name)
	FC_ERRORS(FC__ADDERR)
#undef FC__ADDERR
#ifdef FC_LEADER
	ADDINT(FC_LEADER)
	ADDINT(FC_STALE)
#endif
	ADDINT(FC_CREATE)
	ADDINT(FC_EXCL)
	ADDINT(FC_FILE)
	ADDINT(FC_KEY_MAX)
	ADDINT(FC_VALUE_MAX)
	return m;
}
