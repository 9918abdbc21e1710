/*
 * open.c - fc_open, fc_close, fc_unlink: the files, the flock protocol,
 *          and the order in which a new or attached segment is set up.
 *
 * DESIGN       Creation is made exclusive with flock(LOCK_EX): the creator
 *              holds it from open to the last store of the header
 *              (segment.c writes "FRKCINIT" first and "FRKCACHE" last); an
 *              attacher reads the header under LOCK_SH, so it never sees a
 *              half-made one. A segment still marked unfinished (its creator
 *              died) is made again by the next FC_CREATE opener, under
 *              LOCK_EX; the original creator, if it was only slow, then
 *              finds it made and attaches instead.
 *              Every handle keeps LOCK_SH on its descriptor for its life.
 *              Set-up order of a new segment: segment layout, slab init,
 *              mutex init, seal; of every handle: reader TLS (readers.c).
 * INVARIANTS   O1 Only a segment that is unfinished (empty, zero header or
 *                 "FRKCINIT") is ever formatted, and only under LOCK_EX.
 *              O2 A handle holds LOCK_SH on its fd from open to close.
 * CONCURRENCY  The reboot reset (new mutex and reader slots) runs only when
 *              the boot id differs AND LOCK_EX|LOCK_NB succeeds: no handle
 *              is open anywhere, so no live process can hold the mutex.
 * CRASHES      A creator killed before the final magic leaves an unfinished
 *              segment: FC_CREATE openers redo it; others get FC_ECORRUPT.
 *              A killed attacher leaves nothing (flock dies with the fd).
 * LIMITS       Segments of 1 MiB .. 1 TiB; pages 64 KiB .. 16 MiB
 *              (fc__geometry in segment.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault.h"
#include "lease.h"
#include "lock.h"
#include "readers.h"
#include "segment.h"
#include "slab.h"

static int
valid_shm_name(const char *name)
{
	size_t n = strlen(name);

	return n >= 2 && n <= NAME_MAX && name[0] == '/' && !strchr(name + 1, '/');
}

static int
open_fd(const char *name, unsigned flags, int oflags, mode_t mode)
{
	/* O_NOFOLLOW: a symlink planted at the path is refused (ELOOP), never
	 * followed to its target; O_NONBLOCK: a FIFO there cannot block us
	 * (it is then refused as not a regular file). shm_open adds
	 * O_NOFOLLOW itself. */
	if (flags & FC_FILE)
		return open(name, oflags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, mode);
	return shm_open(name, oflags, mode);
}

/* A segment no process finished making: empty, or carrying the
 * in-progress magic that fc__segment_layout writes first (S1). Any other
 * content (a zero-filled file too: a sparse disk image starts so) is
 * somebody's data: never formatted over. */
static int
unfinished(int fd, const struct stat *st)
{
	char head[8];

	if (st->st_size == 0)
		return 1;
	return pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head &&
		memcmp(head, FC_MAGIC_INIT, 8) == 0;
}

/* May this existing object be used? A regular file (shm objects are) and,
 * unless FC_SHARED_OK, the caller's own, with one link and no access
 * beyond opts->mode (else another user made it first: a squatter who
 * could plant values and read ours). */
static int
check_existing(const struct stat *st, const fc_options *o)
{
	if (!S_ISREG(st->st_mode))
		return FC_EPERM;
	if (o->flags & FC_SHARED_OK)
		return FC_OK;
	if (st->st_uid != geteuid() || st->st_nlink != 1 ||
	    (st->st_mode & 0777 & ~(mode_t)o->mode))
		return FC_EPERM;
	return FC_OK;
}

/* Give a new segment its memory now (tmpfs and most file systems support
 * it): a full /dev/shm is an error here, never a SIGBUS at the first
 * write to an unbacked page later. Never shrinks the file. */
static int
preallocate(int fd, uint64_t bytes)
{
	int r;

	if (FC_FAULT(OPEN_FTRUNCATE)) {
		errno = EIO;
		return FC_ESYS;
	}
	do
		r = posix_fallocate(fd, 0, (off_t)bytes);
	while (r == EINTR);
	if (r == 0)
		return FC_OK;
	errno = r;
	return r == ENOSPC || r == EFBIG ? FC_ENOMEM : FC_ESYS;
}

/* After a reboot no process of the old boot is alive: make the mutex and
 * the reader slots new, and have the next writer rebuild the allocator. */
static int
reset_after_reboot_locked(fc_cache *c, const char *boot)
{
	int rc = fc__mutex_init(c);

	if (rc)
		return rc;
	fc__slots_reset(c);
	fc__lease_reset(c); /* every leader of the old boot is dead */
	c->hdr->hd_needs_repair = 1;
	memcpy(c->hdr->hd_boot_id, boot, 40);
	return FC_OK;
}

/* Make a new segment in the mapping; LOCK_EX held. The header first
 * (in-progress magic), then the allocator and the writer mutex, then the
 * seal (checksum, final magic): S1 in segment.c. */
static int
format_locked(fc_cache *c, const fc_options *o)
{
	int rc = fc__segment_layout(c, o);

	if (rc)
		return rc;
	fc__slab_init(c);
	if ((rc = fc__mutex_init(c)) != FC_OK)
		return rc;
	return fc__segment_seal(c);
}

void
fc_options_init(fc_options *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof *o);
	o->segment_bytes = 64ull << 20;
	o->mode = 0600;
	o->reader_slots = 256;
	o->page_bytes = 0; /* auto: see fc_options.page_bytes */
	o->avg_item_bytes = 256;
	o->lease_ms = FC_LEASE_MS_DEFAULT;
	o->stale_ms = 0;
}

static int
check_options(const fc_options *o)
{
	unsigned known = FC_CREATE | FC_EXCL | FC_FILE | FC_SHARED_OK;

	if (o->flags & ~known)
		return FC_EINVAL;
	if ((o->flags & FC_EXCL) && !(o->flags & FC_CREATE))
		return FC_EINVAL;
	if (o->mode & ~07777u)
		return FC_EINVAL;
	if (o->avg_item_bytes < FC_AVG_ITEM_MIN || o->avg_item_bytes > FC_AVG_ITEM_MAX)
		return FC_EINVAL;
	if ((o->lease_slots && (o->lease_slots < FC_LEASE_MIN || o->lease_slots > FC_LEASE_MAX)) ||
	    o->lease_ms > FC_LEASE_MS_MAX || o->stale_ms > FC_LEASE_MS_MAX)
		return FC_EINVAL;
	for (size_t i = 0; i < sizeof o->reserved / sizeof o->reserved[0]; i++)
		if (o->reserved[i])
			return FC_EINVAL;
	if (o->flags & FC_CREATE) {
		struct fc_geom g;
		if (fc__geometry(o->segment_bytes,
				 o->page_bytes ? o->page_bytes : fc__auto_page_bytes(o->segment_bytes),
				 o->reader_slots, 64,
				 o->lease_slots ? o->lease_slots : fc__auto_lease_slots(o->segment_bytes, o->reader_slots),
				 &g) != FC_OK)
			return FC_EINVAL;
	}
	return FC_OK;
}

static void
handle_free(fc_cache *c)
{
	if (c->base)
		munmap(c->base, c->g.segment_bytes);
	if (c->fd >= 0)
		close(c->fd);
	free(c->name);
	free(c);
}

int
fc_open(const char *name, const fc_options *opts, fc_cache **out)
{
	fc_options def;
	int rc;

	if (!name || !out)
		return FC_EINVAL;
	*out = NULL;
	if (!opts) {
		fc_options_init(&def);
		opts = &def;
	}
	if ((rc = check_options(opts)) != FC_OK)
		return rc;
	if (opts->flags & FC_FILE) {
		if (!name[0] || strlen(name) >= PATH_MAX)
			return FC_EINVAL;
	} else if (!valid_shm_name(name)) {
		return FC_EINVAL;
	}
	fc__readers_global_init();

	fc_cache *c = calloc(1, sizeof *c);
	if (!c)
		return FC_ESYS;
	c->fd = -1;
	c->lockfd = -1;
	c->is_file = (opts->flags & FC_FILE) != 0;
	if (!(c->name = strdup(name))) {
		free(c);
		return FC_ESYS;
	}

	int created = 0;
	if (opts->flags & FC_CREATE) {
		c->fd = open_fd(name, opts->flags, O_RDWR | O_CREAT | O_EXCL, opts->mode);
		if (c->fd >= 0)
			created = 1;
		else if (errno != EEXIST)
			goto sys_create;
		else if (opts->flags & FC_EXCL) {
			rc = FC_EEXIST;
			goto fail;
		}
	}
	if (c->fd < 0 && (c->fd = open_fd(name, opts->flags, O_RDWR, 0)) < 0)
		goto sys_open;
	struct stat st;
	if (fstat(c->fd, &st) != 0)
		goto sys;
	if (!created && (rc = check_existing(&st, opts)) != FC_OK)
		goto fail;

	for (int tries = 0;; tries++) {
		/* Never a blocking LOCK_EX: every handle holds LOCK_SH for its
		 * life, so a creator that stalled while another opener took
		 * its object over would wait forever. Failing, it attaches. */
		if (created && flock(c->fd, LOCK_EX | LOCK_NB) != 0) {
			if (errno != EWOULDBLOCK)
				goto sys;
			created = 0;
		}
		if (!created && flock(c->fd, LOCK_SH) != 0)
			goto sys;
		if (fstat(c->fd, &st) != 0)
			goto sys;
		int blank = unfinished(c->fd, &st);
		if (created && !blank) {
			/* We made the object, but another FC_CREATE opener took
			 * it over while we stalled (it waited 50 ms) and formatted
			 * it: attach to theirs, never format twice. */
			created = 0;
			if (flock(c->fd, LOCK_SH) != 0)
				goto sys;
		}
		if (created || (blank && (opts->flags & FC_CREATE) && tries >= 50)) {
			/* Ours to make: a new object, or an unfinished one whose
			 * maker died (we waited 50 ms for it): ours only if it is
			 * our own plain file, and under LOCK_EX (tried, never
			 * waited for: its maker may be alive after all). */
			if (!created) {
				if (flock(c->fd, LOCK_EX | LOCK_NB) != 0) {
					if (errno != EWOULDBLOCK)
						goto sys;
					continue;
				}
				if (fstat(c->fd, &st) != 0)
					goto sys;
				if (!unfinished(c->fd, &st)) {
					flock(c->fd, LOCK_UN);
					continue;
				}
				if (st.st_uid != geteuid() || st.st_nlink != 1) {
					rc = FC_EPERM;
					goto fail;
				}
				if ((uint64_t)st.st_size > opts->segment_bytes) {
					rc = FC_ECORRUPT; /* never shrink a file */
					goto fail;
				}
			}
			if ((rc = preallocate(c->fd, opts->segment_bytes)) != FC_OK)
				goto unlink_fail;
			if (FC_FAULT(OPEN_MMAP)) {
				errno = EIO;
				goto sys_unlink;
			}
			void *m = fc__segment_map(c->fd, opts->segment_bytes);
			if (m == MAP_FAILED)
				goto sys_unlink;
			c->base = m;
			c->g.segment_bytes = opts->segment_bytes;
			rc = format_locked(c, opts);
			if (rc) {
				munmap(m, opts->segment_bytes);
				c->base = NULL;
				goto unlink_fail;
			}
			break;
		}
		if (blank && tries < 100) {
			/* Another process is making it: wait for its LOCK_EX. */
			flock(c->fd, LOCK_UN);
			usleep(1000);
			continue;
		}
		if (blank) {
			rc = FC_ECORRUPT; /* its maker died (S1); FC_CREATE re-makes it */
			goto fail;
		}
		rc = fc__segment_attach(c, (uint64_t)st.st_size);
		if (rc)
			goto fail;
		/*
		 * Reboot reset: only with proof that no handle is open
		 * anywhere. Every handle holds LOCK_SH on its descriptor for
		 * its whole life, so LOCK_EX|LOCK_NB succeeds only when none
		 * does; a boot id that merely differs (or could not be read
		 * by the creator, say in a chroot) is not proof enough.
		 */
		char boot[40];
		if (fc__read_boot_id(boot) == 0 &&
		    memcmp(boot, c->hdr->hd_boot_id, 40) != 0 &&
		    flock(c->fd, LOCK_EX | LOCK_NB) == 0) {
			if (memcmp(boot, c->hdr->hd_boot_id, 40) != 0 &&
			    (rc = reset_after_reboot_locked(c, boot)) != FC_OK)
				goto fail;
		}
		break;
	}
	/* Keep LOCK_SH while the handle lives (closing the fd drops it; a
	 * forked child shares it): the reboot reset's proof of no users. */
	if (flock(c->fd, LOCK_SH) != 0)
		goto sys;
	if ((rc = fc__tls_init(c)) != FC_OK)
		goto fail;
	*out = c;
	return FC_OK;

sys_unlink:
	rc = FC_ESYS;
unlink_fail : {
	int e = errno;
	if (created) {
		if (opts->flags & FC_FILE)
			unlink(name);
		else
			shm_unlink(name);
	}
	errno = e;
	goto fail;
}
sys_create:
	rc = errno == ELOOP ? FC_EPERM : FC_ESYS; /* ENOENT: no such directory */
	goto fail;
sys_open:
	rc = errno == ENOENT ? FC_ENOTFOUND : errno == ELOOP ? FC_EPERM
							     : FC_ESYS;
	goto fail;
sys:
	rc = FC_ESYS;
fail : {
	int e = errno;
	handle_free(c);
	errno = e;
	return rc;
}
}

int
fc_close(fc_cache *c)
{
	if (!c)
		return FC_EINVAL;
	fc__tls_fini(c);
	handle_free(c);
	return FC_OK;
}

int
fc_unlink(const char *name, unsigned flags)
{
	if (!name || (flags & ~(FC_FILE | FC_CREATE | FC_EXCL)))
		return FC_EINVAL;
	if (!(flags & FC_FILE) && !valid_shm_name(name))
		return FC_EINVAL;
	int r = (flags & FC_FILE) ? unlink(name) : shm_unlink(name);
	if (r != 0)
		return errno == ENOENT ? FC_ENOTFOUND : FC_ESYS;
	return FC_OK;
}
