/*
 * forkcache.h - one TTL cache shared by the processes of a prefork server.
 *
 * OVERVIEW
 *   A forkcache cache lives in one fixed-size shared mapping: a POSIX
 *   shared-memory object (name "/myapp", in /dev/shm) or, with FC_FILE, a
 *   regular file mapped MAP_SHARED. It holds an open-addressing hash index and
 *   a slab allocator, addressed by offsets only, so every process may map it at
 *   its own address. A master typically calls fc_open() and then fork()s its
 *   workers; every worker reads and writes the same items. Unrelated processes
 *   attach by name.
 *
 *   Reads (fc_get, fc_gets, iteration) are lock-free: they never take a lock,
 *   never wait for a writer and write no shared cache line except the calling
 *   thread's own reader slot. Writes serialize on one process-shared robust
 *   mutex held for a few hundred nanoseconds. Memory that a write replaces is
 *   reused only after every reader that might still see it has finished its
 *   read (grace periods over a reader-slot table in the segment).
 *
 *   Items carry a TTL in milliseconds (0 = never expires); an expired item
 *   reads as a miss at once and its memory is reclaimed lazily. A set into a
 *   full cache evicts cold items (CLOCK) instead of failing.
 *
 * CAVEATS
 *   - fork(): a handle opened before fork() works in the child; the child's
 *     first call takes a reader slot of its own (fork() waits for a thread
 *     that is taking or giving back a slot: a few microseconds). Do not
 *     fork() from a signal handler that interrupted a forkcache call. A
 *     child made by _Fork() or a raw clone() runs no fork handlers and
 *     keeps reading under the parent's slot: it must open a handle of its
 *     own instead of using an inherited one. vfork()+exec and posix_spawn
 *     are fine.
 *   - Signal handlers may call fc_get/fc_gets/fc_get_item, also when they
 *     interrupt a read of the same thread, provided that thread has already
 *     read through that handle once (the first read of a thread allocates
 *     and takes a process-local mutex).
 *   - Killed processes: any process may be SIGKILLed at any instruction. A
 *     writer killed inside a write loses at most that write; the next writer
 *     repairs the segment (robust mutex, EOWNERDEAD) in milliseconds. A
 *     reader killed inside a read leaves a reader slot that is reclaimed once
 *     its death is proven: each slot has a lock byte in the segment that its
 *     owner process holds (an open-file-description lock, dropped by the
 *     kernel at exit or exec), so a live reader is never taken for dead
 *     (zombie group leaders, pid reuse, pid namespaces and a checker out of
 *     file descriptors cannot fool it).
 *   - A stopped (SIGSTOP) process inside a read holds back memory reuse;
 *     sets then evict harder and at worst fail with FC_EBUSY.
 *   - Fixed size: the segment never grows. Its size, page size and number of
 *     reader slots are chosen at creation.
 *   - Clock: TTLs follow CLOCK_REALTIME (coarse, a few ms of resolution), so
 *     a file-backed cache keeps its expiry times across restarts. Stepping
 *     the wall clock shifts every TTL.
 *   - FC_FILE on network file systems (NFS, CIFS) is not supported: the
 *     mapping must be coherent between processes.
 *   - Huge pages: every mapping is advised MADV_HUGEPAGE, so a segment on a
 *     tmpfs mounted huge=advise (e.g. /dev/shm after "mount -o
 *     remount,huge=advise /dev/shm") or huge=always gets 2 MiB pages; on
 *     hugetlbfs (FC_FILE) segment_bytes must be a multiple of the huge page
 *     size, else fc_open() fails with FC_ESYS (EINVAL). docs/huge-pages.md.
 *   - Processes in different pid namespaces (containers sharing /dev/shm)
 *     may share a segment: liveness does not use pids (fc_slot_info.pid is
 *     only shown, in the owner's own namespace).
 *   - execve() drops the process's slot locks (the descriptor is
 *     O_CLOEXEC): its slots are then reaped like a dead process's.
 *   - A new segment's memory is allocated at fc_open (posix_fallocate): a
 *     file system too small for it is an FC_ENOMEM from fc_open, never a
 *     SIGBUS later. Truncating a file-backed segment while it is in use
 *     makes every process that touches a lost page die of SIGBUS: don't.
 *   - Who can write the segment can change and read every item (docs/
 *     design.md, threat model): fc_open refuses a segment of another user,
 *     with more than one link, or more open than opts->mode (FC_EPERM)
 *     unless FC_SHARED_OK is given; FC_FILE never follows a symlink.
 *   - A handle holds a shared flock on the segment's descriptor for its
 *     life (and a forked child shares it): the first attach after a reboot
 *     re-initializes the writer lock and reader slots only when no handle
 *     is open anywhere.
 *   - Limits: keys 1..FC_KEY_MAX bytes; values 0..FC_VALUE_MAX bytes with the
 *     default 2 MiB page (fc_stats.value_max gives the exact limit of a
 *     segment). Any bytes are allowed in keys and values.
 *   - The segment is untrusted input: every offset and length read from it is
 *     bounds-checked; damage gives FC_ECORRUPT, never a crash.
 *
 * ERRORS
 *   Every call that can fail returns FC_OK (0) or a negative FC_E* code;
 *   fc_strerror() and fc_errname() describe it. A call that fails with
 *   FC_EINVAL or FC_E2BIG has changed nothing. FC_ESYS keeps errno.
 */
#ifndef FORKCACHE_H
#define FORKCACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FC_BUILDING_LIBRARY) && defined(__GNUC__)
#define FC_API __attribute__((visibility("default")))
#else
#define FC_API
#endif

#define FC_VERSION_MAJOR 0
#define FC_VERSION_MINOR 1
#define FC_VERSION_PATCH 0

/** Longest key, in bytes. */
#define FC_KEY_MAX 250
/** Longest value, in bytes, in a segment with the default 2 MiB page. */
#define FC_VALUE_MAX (1024u * 1024u)
/** Largest fc_options.lease_ms and stale_ms (about 34 years). */
#define FC_LEASE_MS_MAX (1ull << 40)

/*
 * Geometry limits of a new segment (fc_options); fc_open() answers
 * FC_EINVAL outside them. Tools check user input against these, never
 * against copies of the numbers.
 */
/** Smallest and largest fc_options.segment_bytes. */
#define FC_SEGMENT_MIN (1ull << 20)
#define FC_SEGMENT_MAX (1ull << 40)
/** Smallest and largest fc_options.page_bytes (a power of two). */
#define FC_PAGE_MIN (64u << 10)
#define FC_PAGE_MAX (16u << 20)
/** The largest page fc_page_bytes_auto() picks (FC_VALUE_MAX fits). */
#define FC_PAGE_AUTO_MAX (2u << 20)
/** Most fc_options.reader_slots (at least 1). */
#define FC_SLOTS_MAX 65536u
/** Smallest and largest fc_options.avg_item_bytes. */
#define FC_AVG_ITEM_MIN 32u
#define FC_AVG_ITEM_MAX (1u << 20)

/**
 * The page a new segment of @p segment_bytes gets when fc_options.page_bytes
 * is 0: segment_bytes/32 rounded down to a power of two, within
 * FC_PAGE_MIN..FC_PAGE_AUTO_MAX (so 2 MiB from a 64 MiB segment up). The
 * library uses this same function. Never fails; no lock; any thread.
 */
static inline uint64_t
fc_page_bytes_auto(uint64_t segment_bytes)
{
	uint64_t p = FC_PAGE_MIN;

	while (p * 2 <= segment_bytes / 32 && p * 2 <= FC_PAGE_AUTO_MAX)
		p *= 2;
	return p;
}

/*
 * Error codes. Values are ABI: append, never renumber.
 */
#define FC_ERRORS(X)                                                         \
	X(OK, 0, "success")                                                  \
	X(ENOTFOUND, -1, "no live item under this key")                      \
	X(EEXIST, -2, "item or segment already exists")                      \
	X(ETRUNC, -3, "buffer too small; length needed returned")            \
	X(EINVAL, -4, "invalid argument")                                    \
	X(E2BIG, -5, "key or value too large")                               \
	X(ENOMEM, -6, "item cannot fit even in an empty cache")              \
	X(ECAS, -7, "item changed since its cas was read")                   \
	X(ECORRUPT, -8, "segment is corrupt")                                \
	X(EINCOMPAT, -9, "segment has an incompatible layout or version")    \
	X(ESYS, -10, "system call failed; errno holds the cause")            \
	X(EBUSY, -11, "readers hold back memory, or no reader or lease slot is free")  \
	X(ENOTNUM, -12, "value is not a decimal unsigned counter")          \
	X(ETIMEDOUT, -13, "waited wait_ms for another process's lease")      \
	X(ELEASE, -14, "lease no longer held: taken over or released")  \
	X(EPERM, -15, "segment refused: another user's, too open, or not a plain file")

enum {
#define FC__ERRENUM(name, val, msg) FC_##name = (val),
	FC_ERRORS(FC__ERRENUM)
#undef FC__ERRENUM
};

/* fc_options.flags */
#define FC_CREATE 0x1u /* create the segment if it does not exist */
#define FC_EXCL 0x2u   /* with FC_CREATE: fail with FC_EEXIST if it exists */
#define FC_FILE 0x4u   /* name is a file path, not a POSIX shm name */
#define FC_SHARED_OK 0x8u /* attach even to a segment of another user, with
                             more than one link, or more open than
                             opts->mode (see fc_open) */

typedef struct fc_cache fc_cache;

/**
 * Options for fc_open(). Always initialize with fc_options_init(); fields
 * added later keep working defaults.
 */
typedef struct fc_options {
	uint64_t segment_bytes; /* size of a new segment; default 64 MiB;
	                           FC_SEGMENT_MIN (1 MiB) .. FC_SEGMENT_MAX
	                           (1 TiB) */
	unsigned flags;         /* FC_CREATE | FC_EXCL | FC_FILE */
	unsigned mode;          /* permission bits of a new segment; 0600 */
	uint32_t reader_slots;  /* reading threads across all processes;
	                           default 256, 1..FC_SLOTS_MAX (65536) */
	uint32_t page_bytes;    /* slab page of a new segment; power of two,
	                           FC_PAGE_MIN..FC_PAGE_MAX (64 KiB..16 MiB);
	                           0 (default) = auto: fc_page_bytes_auto(),
	                           2 MiB for segments of 64 MiB and more, else
	                           segment_bytes/32 rounded down, >= 64 KiB.
	                           The largest value is about one page. */
	uint32_t avg_item_bytes; /* index sizing hint: expected mean chunk
	                            size; default 256, FC_AVG_ITEM_MIN..
	                            FC_AVG_ITEM_MAX (32..1 MiB) */
	uint32_t lease_slots;   /* lease table entries of a new segment
	                           (keys leased at once, see fc_lease_get);
	                           0 (default) = auto: segment_bytes / 16 KiB
	                           rounded down to a power of two, but no
	                           more than the first power of two >= 2 x
	                           reader_slots, 64..16384 (512 with the
	                           default 256 slots from 8 MiB up);
	                           else 64..1048576 (each costs 320 bytes) */
	uint64_t lease_ms;      /* how long a leader may hold a lease before
	                           a waiter may take it over; default 10000;
	                           0 = the default; at most FC_LEASE_MS_MAX */
	uint64_t stale_ms;      /* how long past its expiry an item may still
	                           be served by fc_lease_get while one caller
	                           refreshes it; default 0 = never; at most
	                           FC_LEASE_MS_MAX */
	uint32_t reserved[2];   /* zero */
} fc_options;

/**
 * Counters and geometry of a cache. Counters are summed over all processes
 * since creation; they are exact when no call runs concurrently.
 */
typedef struct fc_stats {
	uint64_t items;         /* live items (includes expired, not yet swept) */
	uint64_t hits;          /* fc_get/fc_gets that found a live item */
	uint64_t misses;        /* ... that did not */
	uint64_t sets;          /* items stored by set/add/replace/cas/incr */
	uint64_t deletes;       /* items removed by fc_delete */
	uint64_t evictions;     /* live items removed to make room */
	uint64_t expired;       /* expired items reclaimed */
	uint64_t segment_bytes; /* size of the mapping */
	uint64_t bytes_used;    /* chunk bytes held by live items */
	uint64_t data_bytes;    /* key + value bytes of live items */
	uint64_t data_capacity; /* bytes of the slab pages */
	uint64_t value_max;     /* longest value this segment accepts (with
	                           any key): page_bytes - 16 - FC_KEY_MAX */
	uint64_t page_bytes;
	uint64_t pages;         /* slab pages in all */
	uint64_t pages_free;    /* pages not given to any size class */
	uint64_t buckets;       /* index buckets */
	uint64_t tombstones;    /* index buckets holding a tombstone */
	uint64_t limbo;         /* chunks waiting for a grace period */
	uint64_t epoch;         /* global reclamation epoch */
	uint64_t reader_slots;  /* slots in the table */
	uint64_t readers_live;  /* slots owned by a live process */
	uint64_t readers_dead;  /* slots owned by a dead process, not reaped */
	uint64_t readers_active; /* slots inside a read right now */
	uint64_t repairs;       /* writer crashes repaired */
	uint64_t index_rebuilds; /* index compactions */
	uint64_t reclaim_waits; /* times a writer waited for readers */
	uint32_t classes;       /* size classes */
	uint32_t layout_version;
	/* leases (fc_lease_get); appended in layout version 2 */
	uint64_t lease_slots;   /* entries in the lease table */
	uint64_t leases_active; /* keys leased now by a live leader */
	uint64_t leases_dead;   /* ... by a dead one, not yet taken over */
	uint64_t lease_grants;  /* FC_LEADER and FC_STALE answers */
	uint64_t lease_takeovers; /* leases taken from a dead or overdue
	                             leader (a subset of lease_grants) */
	uint64_t lease_waits;   /* fc_lease_get calls that waited */
	uint64_t lease_timeouts; /* ... that returned FC_ETIMEDOUT */
	uint64_t lease_stale_hits; /* stale values served with FC_OK */
	uint64_t lease_full;    /* FC_EBUSY answers: no free lease slot */
	uint64_t lease_ms;      /* the segment's fc_options.lease_ms */
	uint64_t stale_ms;      /* ... and stale_ms */
} fc_stats;

/** One size class, for fc_class_stat(). */
typedef struct fc_class_stats {
	uint32_t chunk_bytes;   /* chunk size of the class */
	uint32_t chunks_per_page;
	uint64_t pages;         /* pages owned by the class */
	uint64_t chunks_used;   /* live items */
	uint64_t chunks_limbo;  /* retired, waiting for a grace period */
	uint64_t chunks_free;   /* on the free list */
	uint64_t data_bytes;    /* key + value bytes of live items */
} fc_class_stats;

/** One reader slot, for fc_slot_stat(). */
typedef struct fc_slot_info {
	uint32_t pid;           /* owner; 0 = free */
	uint32_t state;         /* FC_SLOT_FREE, _LIVE, _DEAD (also: pid 0
	                           with an epoch, what a dead reader left) */
	uint64_t epoch;         /* epoch of the read in progress; 0 = idle */
	uint64_t hits;
	uint64_t misses;
} fc_slot_info;
#define FC_SLOT_FREE 0u
#define FC_SLOT_LIVE 1u
#define FC_SLOT_DEAD 2u

/** An item seen by the iterator. Pointers stay valid until the next call. */
typedef struct fc_item {
	const void *key;
	size_t klen;
	const void *value;
	size_t vlen;
	uint64_t cas;           /* the item's version: 48 bits (see fc_gets) */
	uint64_t expire_ms;     /* absolute CLOCK_REALTIME ms; 0 = never. An
	                           expiry is stored as ms after the segment's
	                           creation in 40 bits: one more than about
	                           34.8 years after creation is clamped there */
	int64_t ttl_left_ms;    /* -1 = never expires */
	uint32_t size_class;
	uint32_t chunk_bytes;
} fc_item;

typedef struct fc_iter fc_iter;

/**
 * Return the message of an error code; never NULL.
 * Concurrency: any thread. Blocking: never.
 */
FC_API const char *fc_strerror(int err);

/** Return the name of an error code ("FC_ENOTFOUND"); never NULL. */
FC_API const char *fc_errname(int err);

/**
 * Fill @p opts with defaults: segment_bytes 64 MiB, flags 0 (attach only),
 * mode 0600, 256 reader slots, page_bytes 0 (auto: 2 MiB at 64 MiB),
 * avg_item_bytes 256.
 */
FC_API void fc_options_init(fc_options *opts);

/**
 * Open (attach to) a cache segment, creating it with FC_CREATE.
 * @param name  POSIX shm name ("/myapp": one leading '/', no other, at most
 *              255 bytes), or with FC_FILE a file path.
 * @param opts  NULL for defaults (attach only, no create).
 * @param out   receives the handle.
 * An existing segment keeps its own geometry; opts->segment_bytes and the
 * other geometry fields apply only to a new one. A file-backed segment made
 * before the last reboot has its writer lock and reader slots reset on the
 * first attach after the reboot; its items survive.
 * @return FC_OK
 * Flags: FC_CREATE makes the segment if the name does not exist (its
 * permission bits: opts->mode, minus the umask); FC_CREATE|FC_EXCL fails
 * with FC_EEXIST if it exists (for a service that must start from a fresh
 * segment); FC_FILE takes @p name as a file path (never followed if it is
 * a symlink); FC_SHARED_OK attaches also to a segment owned by another
 * user, with more than one hard link, or granting permission bits beyond
 * opts->mode (deliberately shared segments, inspectors). Without it such a
 * segment is refused (FC_EPERM): another local user who made the name
 * first could plant values and read everything stored.
 * A new segment's memory is allocated here (posix_fallocate); what this
 * call created is removed again if it fails. An existing object is only
 * formatted if it is empty or carries forkcache's in-progress mark (its
 * creator died), is the caller's, has one link and is no larger than
 * opts->segment_bytes: any other file is never overwritten nor shrunk.
 * @return FC_OK
 * @return FC_EINVAL     NULL @p name or @p out, bad name, unknown flags,
 *                       geometry out of range
 * @return FC_ENOTFOUND  segment missing and FC_CREATE not given
 * @return FC_EEXIST     FC_CREATE|FC_EXCL and the segment exists
 * @return FC_EPERM      the path is a symlink or not a regular file; or the
 *                       existing segment belongs to another user, has more
 *                       than one link or is more open than opts->mode
 *                       (without FC_SHARED_OK); or an unfinished segment to
 *                       take over is not the caller's plain file
 * @return FC_ENOMEM     the file system cannot hold a new segment of
 *                       opts->segment_bytes (errno ENOSPC, e.g. a full
 *                       /dev/shm); nothing is left behind
 * @return FC_ECORRUPT   header fails validation (checksum, geometry, size:
 *                       a truncated file), or an unfinished segment larger
 *                       than opts->segment_bytes
 * @return FC_EINCOMPAT  magic, layout version or word size differ; also a
 *                       file that is not a forkcache segment (e.g. zeros)
 * @return FC_ESYS       open/fallocate/mmap failed (errno kept)
 * Blocking: may wait briefly (file lock, up to ~100 ms) while another
 *           process creates the segment; never waits for a lock that an
 *           open handle holds. Concurrency: any thread. Fork: the handle is
 *           inherited.
 */
FC_API int fc_open(const char *name, const fc_options *opts, fc_cache **out);

/**
 * Release this process's reader slots held through @p c and unmap.
 * No other thread may use @p c during or after the call. In a forked child,
 * closing an inherited handle does not affect the parent's use of it.
 * @return FC_OK, FC_EINVAL (NULL).
 */
FC_API int fc_close(fc_cache *c);

/**
 * Remove a segment's name (shm object or file, FC_FILE in @p flags).
 * Processes that have it mapped keep using it until they close.
 * @return FC_OK, FC_EINVAL, FC_ENOTFOUND, FC_ESYS.
 */
FC_API int fc_unlink(const char *name, unsigned flags);

/**
 * Store @p val under @p key, replacing any item. @p ttl_ms 0 = never expires.
 * An expiry more than about 34.8 years (2^40 ms) after the segment was
 * created is kept as that limit (fc_item.expire_ms reports it).
 * @return FC_OK
 * @return FC_EINVAL    NULL @p c or @p key, @p klen 0, NULL @p val with
 *                      @p vlen > 0
 * @return FC_E2BIG     @p klen > FC_KEY_MAX or the item exceeds the largest
 *                      size class (see fc_stats.value_max)
 * @return FC_ENOMEM    the item cannot fit even in an empty cache
 * @return FC_EBUSY     memory is held back by readers that did not finish
 *                      within the writer's bounded wait (a stopped reader)
 * @return FC_ECORRUPT  the segment is damaged beyond repair, or the writer
 *                      mutex is unrecoverable
 * @return FC_ESYS      the writer mutex call failed (errno kept)
 * On FC_EINVAL, FC_E2BIG, FC_EEXIST, FC_ENOTFOUND and FC_ECAS nothing
 * changed. On FC_ENOMEM and FC_EBUSY the key's item is unchanged, but
 * making room may already have evicted or expired other items.
 * Blocking: takes the writer mutex (held for about a microsecond; longer
 *           only to repair after a killed writer or to wait, bounded, for
 *           readers). Concurrency: any thread of any attached process.
 * Fork: the handle works in the child.
 */
FC_API int fc_set(fc_cache *c, const void *key, size_t klen, const void *val,
		  size_t vlen, uint64_t ttl_ms);

/** As fc_set(), but FC_EEXIST if a live item exists under @p key. */
FC_API int fc_add(fc_cache *c, const void *key, size_t klen, const void *val,
		  size_t vlen, uint64_t ttl_ms);

/** As fc_set(), but FC_ENOTFOUND if no live item exists under @p key. */
FC_API int fc_replace(fc_cache *c, const void *key, size_t klen,
		      const void *val, size_t vlen, uint64_t ttl_ms);

/**
 * Copy the live value stored under @p key into @p buf.
 * An item past its TTL is a miss at once, even before it is reclaimed.
 * @param buf   destination; may be NULL when *vlen is 0
 * @param vlen  in: capacity of @p buf; out: length of the value
 * @return FC_OK         value copied; *vlen is its length
 * @return FC_ENOTFOUND  no live item: never set, deleted, evicted or expired
 * @return FC_ETRUNC     @p buf too small; *vlen is the length needed
 * @return FC_EINVAL     @p c, @p key or @p vlen NULL, @p klen 0, or @p buf
 *                       NULL with *vlen > 0
 * @return FC_E2BIG      @p klen > FC_KEY_MAX
 * @return FC_EBUSY      this thread has no reader slot and none is free
 *                       (every slot is held by a live process)
 * @return FC_ECORRUPT   the index or item is damaged
 * @return FC_ESYS       this thread's first read could not allocate its
 *                       record or reopen the segment for the process's slot
 *                       locks (errno kept)
 * Blocking: never; takes no shared lock and never waits for a writer. A
 *           thread's first read through a handle claims a reader slot:
 *           a process-local mutex and one fcntl() (and, when the table is
 *           full, a scan that frees the slots of dead processes, also
 *           without the writer mutex).
 * Concurrency: any thread of any attached process, many at once on one
 *              handle. The bytes are one value from one write, never a mix.
 * Fork: an inherited handle works in the child; its first read there takes
 *       a reader slot of its own.
 */
FC_API int fc_get(fc_cache *c, const void *key, size_t klen, void *buf,
		  size_t *vlen);

/**
 * As fc_get(), and also return the item's cas (version) in @p cas: a
 * 48-bit number (< 2^48) that every write of the segment takes anew. It
 * wraps after 2^48 (2.8e14) writes, so two versions of one key 2^48
 * writes apart would compare equal; fc_cas() compares the 48 bits.
 */
FC_API int fc_gets(fc_cache *c, const void *key, size_t klen, void *buf,
		   size_t *vlen, uint64_t *cas);

/**
 * As fc_gets(), and also describe the item in @p meta (cas, expire_ms,
 * ttl_left_ms, size_class, chunk_bytes; meta->key is @p key, meta->value is
 * @p buf, meta->klen and meta->vlen the lengths). On FC_ETRUNC @p meta is
 * filled too (value NULL), so a caller can learn size and TTL first.
 * Errors, blocking, concurrency, fork: as fc_get(); FC_EINVAL if @p meta
 * is NULL. Meant for inspectors; a hit counts as a hit.
 */
FC_API int fc_get_item(fc_cache *c, const void *key, size_t klen, void *buf,
		       size_t *vlen, fc_item *meta);

/*
 * LEASES: get-or-compute across processes (single-flight).
 *
 * When a key is missing, exactly one caller in all the attached processes
 * becomes its leader and computes the value; the others wait on a futex in
 * the segment (no spinning) and return the leader's value the moment it is
 * filled. A leader that dies (SIGKILL, crash, exit, its thread exits or
 * closes the handle) is detected within about FC_LEASE_POLL_MS by a waiter,
 * which takes the lease over; so does a waiter once a live leader has held
 * the lease longer than the segment's lease_ms. With stale_ms > 0, an item
 * that expired less than stale_ms ago is still served by fc_lease_get while
 * one caller refreshes it (stale-while-revalidate).
 *
 * Typical use (or see fc_get_or_compute below):
 *
 *   fc_lease l;
 *   size_t n = sizeof buf;
 *   int rc = fc_lease_get(c, key, klen, buf, &n, 2000, &l);
 *   if (rc == FC_LEADER || rc == FC_STALE) {
 *       n = compute(key, buf, sizeof buf);     // buf holds the stale
 *       if (n > 0)                             // value on FC_STALE
 *           fc_lease_fill(c, &l, buf, n, 30000);
 *       else
 *           fc_lease_abandon(c, &l);           // another caller retries
 *   } else if (rc != FC_OK) {
 *       // FC_ETIMEDOUT: the leader is slow; others: see fc_lease_get
 *   }
 *
 * A lease is keyed by the key's bytes; the table of leases has
 * fc_stats.lease_slots entries (fc_options.lease_slots) and one entry per
 * key leased at once. Leases live in the segment, so a lease taken through
 * one handle may be filled through another handle of any process attached
 * to the same segment (the fc_lease bytes may be copied between processes);
 * the leader's liveness is that of the thread that called fc_lease_get.
 */

/** A held lease: filled by fc_lease_get(), consumed by fc_lease_fill() or
 * fc_lease_abandon(). Caller-owned; plain bytes (may be copied). */
typedef struct fc_lease {
	uint64_t fc__opaque[4];
} fc_lease;

/* Positive statuses of fc_lease_get (not errors). */
#define FC_LEADER 1 /* you hold the lease: compute, then fill or abandon */
#define FC_STALE 2  /* stale value copied, and you hold the refresh lease */

/** How often (ms) a waiting fc_lease_get checks that the leader lives. */
#define FC_LEASE_POLL_MS 10

/**
 * Get the value under @p key, or the duty to compute it.
 * @param buf      destination; may be NULL when *vlen is 0
 * @param vlen     in: capacity of @p buf; out: length of the value copied
 *                 (0 with FC_LEADER)
 * @param wait_ms  longest time to wait for another caller's lease;
 *                 0 = do not wait
 * @param lease    receives the lease with FC_LEADER and FC_STALE;
 *                 untouched otherwise
 * @return FC_OK         a live value copied: a fresh hit, a value filled
 *                       while we waited, or (stale_ms > 0) a stale value
 *                       while another caller holds the refresh lease
 * @return FC_LEADER     no value: the caller holds the key's lease and
 *                       must call fc_lease_fill() or fc_lease_abandon()
 *                       (else waiters wait until lease_ms runs out)
 * @return FC_STALE      the item expired less than stale_ms ago: its value
 *                       is copied and the caller holds the refresh lease
 *                       (same duties as FC_LEADER)
 * @return FC_ETIMEDOUT  another caller held the lease for all of @p wait_ms
 *                       (at once if @p wait_ms is 0)
 * @return FC_ETRUNC     @p buf too small; *vlen is the length needed; no
 *                       lease is taken
 * @return FC_EBUSY      the lease table has no free entry for the key
 *                       (fc_stats.lease_full counts it: compute without
 *                       single-flight and fc_set, as fc_get_or_compute
 *                       does), or the thread has no reader slot
 * @return FC_EINVAL     @p c, @p key, @p vlen or @p lease NULL, @p klen 0,
 *                       or @p buf NULL with *vlen > 0
 * @return FC_E2BIG      @p klen > FC_KEY_MAX
 * @return FC_ECORRUPT   the index, an item or the lease table is damaged,
 *                       or (a miss) the writer mutex is unrecoverable
 * @return FC_ESYS       a miss: the writer mutex call failed (errno kept)
 * Exactly one caller at a time, across all processes, holds a key's lease.
 * A fresh hit costs what fc_get() costs (no lock, no syscall). A miss
 * takes the writer mutex briefly. Waiting sleeps on a futex, waking every
 * FC_LEASE_POLL_MS to check the leader: a dead leader, an abandoned lease
 * or one held past lease_ms makes exactly one waiter the new leader
 * (FC_LEADER). A caller that already leads @p key and asks for it again
 * waits for itself like anyone else.
 * Blocking: up to @p wait_ms (rounded up to the clock's few ms), plus the
 *           writer mutex (see fc_set()). Concurrency: any thread of any
 *           attached process. Fork: a lease belongs to the thread that got
 *           it; a forked child does not inherit the duty (the parent's
 *           thread still holds it) but may fill it with the copied fc_lease.
 */
FC_API int fc_lease_get(fc_cache *c, const void *key, size_t klen, void *buf,
			size_t *vlen, uint64_t wait_ms, fc_lease *lease);

/**
 * Store the value computed under a lease (as fc_set() with @p ttl_ms) and
 * release the lease, waking every waiter.
 * @return FC_OK         stored; the lease is released and @p lease is spent
 * @return FC_ELEASE     the lease is no longer held: it was taken over (held
 *                       past lease_ms while a waiter was there, or its
 *                       thread died), already filled or abandoned, or
 *                       @p lease was never filled in; nothing is stored
 * @return FC_EINVAL     @p c or @p lease NULL, @p val NULL with @p vlen > 0,
 *                       or @p lease belongs to another segment
 * @return FC_E2BIG, FC_ENOMEM, FC_EBUSY, FC_ECORRUPT, FC_ESYS  as fc_set();
 *                       nothing is stored and the lease is still held (fill
 *                       again or abandon)
 * Blocking, concurrency: as fc_set(). Any thread may fill, through any
 * handle of the segment.
 */
FC_API int fc_lease_fill(fc_cache *c, fc_lease *lease, const void *val,
			 size_t vlen, uint64_t ttl_ms);

/**
 * Give a lease up without a value: one waiter (if any) becomes the new
 * leader at once; a stale item keeps being served.
 * @return FC_OK, FC_ELEASE (not held: as fc_lease_fill), FC_EINVAL,
 *         FC_EBUSY, FC_ECORRUPT, FC_ESYS (the writer section, as fc_set()).
 * Blocking, concurrency: as fc_set().
 */
FC_API int fc_lease_abandon(fc_cache *c, fc_lease *lease);

/**
 * Compute @p key's value into @p buf (capacity *@p vlen); set *@p vlen to
 * its length and return FC_OK, or return any other value to fail.
 */
typedef int (*fc_compute_fn)(void *arg, const void *key, size_t klen,
			     void *buf, size_t *vlen);

/**
 * Get-or-compute in one call: fc_lease_get(); on FC_LEADER or FC_STALE
 * call @p compute, fill the lease with its value (TTL @p ttl_ms) and return
 * it; if @p compute fails, abandon the lease and return its code. When the
 * lease table is full (FC_EBUSY) it computes and fc_set()s without
 * single-flight. The value returned is the computed one even if the fill
 * was refused (FC_ELEASE: the lease was taken over meanwhile).
 *
 *   static int load_user(void *db, const void *key, size_t klen,
 *                        void *buf, size_t *vlen)
 *   {
 *       int n = db_fetch_json(db, key, klen, buf, *vlen);  // yours
 *       if (n < 0)
 *           return -1;
 *       *vlen = (size_t)n;
 *       return FC_OK;
 *   }
 *   ...
 *   char buf[4096]; size_t n = sizeof buf;
 *   int rc = fc_get_or_compute(c, "user:42", 7, buf, &n, 2000, 30000,
 *                              load_user, db);
 *   // FC_OK: buf[0..n) holds the value, computed by at most one process
 *
 * @return FC_OK, @p compute's failure code, FC_EINVAL (@p compute NULL,
 *         or it reported a *vlen larger than the buffer; the lease is
 *         abandoned), and of fc_lease_get()'s answers FC_ETIMEDOUT,
 *         FC_ETRUNC, FC_E2BIG, FC_ECORRUPT and FC_ESYS.
 * It never returns FC_EBUSY (no lease entry or no reader slot: it computes
 * and fc_set()s without single-flight), FC_LEADER or FC_STALE.
 * Blocking: as fc_lease_get(), plus @p compute (called without any lock).
 * Concurrency, fork: as fc_lease_get().
 */
FC_API int fc_get_or_compute(fc_cache *c, const void *key, size_t klen,
			     void *buf, size_t *vlen, uint64_t wait_ms,
			     uint64_t ttl_ms, fc_compute_fn compute, void *arg);

/**
 * Store only if the live item's cas is still @p cas.
 * @return FC_OK, FC_ECAS (item changed), FC_ENOTFOUND (no live item), and
 *         the errors of fc_set(). Blocking, concurrency, fork: as fc_set().
 */
FC_API int fc_cas(fc_cache *c, const void *key, size_t klen, const void *val,
		  size_t vlen, uint64_t ttl_ms, uint64_t cas);

/**
 * Remove the item under @p key. An expired item still in its stale
 * window (fc_options.stale_ms) is removed too (FC_ENOTFOUND): a deleted
 * value is never served stale by fc_lease_get.
 * @return FC_OK, FC_ENOTFOUND (absent or expired), FC_EINVAL, FC_E2BIG,
 *         FC_EBUSY (readers held back the limbo room or a pending repair
 *         within the write's wait budget), FC_ECORRUPT (damaged index, or
 *         the writer mutex is unrecoverable), FC_ESYS (the mutex call
 *         failed; errno kept). Blocking, concurrency, fork: as fc_set().
 */
FC_API int fc_delete(fc_cache *c, const void *key, size_t klen);

/**
 * Give the live item under @p key a new TTL (@p ttl_ms from now; 0 = never).
 * @return FC_OK, FC_ENOTFOUND, FC_EINVAL, FC_E2BIG, FC_EBUSY, FC_ECORRUPT,
 *         FC_ESYS (each as for fc_delete()).
 * Blocking, concurrency, fork: as fc_set().
 */
FC_API int fc_touch(fc_cache *c, const void *key, size_t klen, uint64_t ttl_ms);

/**
 * Add @p delta to a counter stored as decimal text (memcached's incr/decr):
 * the result wraps modulo 2^64 upward and stops at 0 downward. The TTL is
 * kept. @p value (may be NULL) receives the new value.
 * @return FC_OK, FC_ENOTFOUND, FC_ENOTNUM (value is not 1..20 decimal digits
 *         below 2^64), and the errors of fc_set().
 * Blocking, concurrency, fork: as fc_set().
 */
FC_API int fc_incr(fc_cache *c, const void *key, size_t klen, int64_t delta,
		   uint64_t *value);

/**
 * Remove every item. Readers running concurrently see each item either
 * present or gone.
 * @return FC_OK, FC_EINVAL, FC_EBUSY, FC_ECORRUPT, FC_ESYS (each as for
 *         fc_delete()).
 * Blocking: holds the writer mutex for time linear in the index size.
 */
FC_API int fc_flush(fc_cache *c);

/**
 * Remove expired items only. Items that expired less than stale_ms
 * (fc_options) ago stay: fc_lease_get may still serve them.
 * @return the number removed (>= 0) or FC_EINVAL, FC_EBUSY, FC_ECORRUPT,
 *         FC_ESYS (each as for fc_delete()).
 */
FC_API int64_t fc_flush_expired(fc_cache *c);

/**
 * Fill @p out with counters and geometry. Read-only: takes no lock.
 * Also reports (does not reap) reader slots whose owner died, counting in
 * readers_dead a free slot that still holds an epoch (what a dead reader
 * left; fc_reap clears it).
 * @return FC_OK, FC_EINVAL. Blocking: never (one fcntl(F_OFD_GETLK) per
 * owned slot for liveness).
 */
FC_API int fc_stat(fc_cache *c, fc_stats *out);

/**
 * Describe size class @p cls (0 .. fc_stats.classes-1). Read-only, no lock.
 * @return FC_OK, FC_EINVAL (NULL @p c or @p out, or a bad class).
 */
FC_API int fc_class_stat(fc_cache *c, unsigned cls, fc_class_stats *out);

/**
 * Describe reader slot @p slot (0 .. fc_stats.reader_slots-1). Read-only.
 * @return FC_OK, FC_EINVAL.
 */
FC_API int fc_slot_stat(fc_cache *c, unsigned slot, fc_slot_info *out);

/**
 * Reap reader slots whose owner process died (proven by the slot's lock
 * byte being free: see CAVEATS): fold their counters into the totals and
 * free them; also clear a stray epoch left on a free slot. Writers also do
 * this by themselves when a dead slot holds back memory, and a first read
 * does it when the slot table is full.
 * @return the number of slots reaped (>= 0), or FC_EINVAL, FC_EBUSY (a
 *         pending repair could not finish: readers held it back),
 *         FC_ECORRUPT (writer mutex unrecoverable), FC_ESYS (errno kept).
 * Blocking: takes the writer mutex briefly; one fcntl() per owned slot.
 */
FC_API int fc_reap(fc_cache *c);

/* fc_verify() flags */
#define FC_VERIFY_LOCK 0x1u /* take the writer lock: exact allocator
                               accounting (free + live + limbo = all) */

/** Called by fc_verify() once per problem found. */
typedef void (*fc_verify_cb)(void *arg, const char *region, uint64_t offset,
			     const char *problem);

/**
 * Check the whole segment: header, geometry, index buckets (bounds, tags,
 * duplicate keys), items (lengths, class, page), page map, free lists (loops,
 * bounds, classes), limbo and reader slots; and with FC_VERIFY_LOCK, that
 * every chunk is exactly one of live, free or in limbo.
 * Without FC_VERIFY_LOCK it takes no lock: it reads a consistent snapshot
 * under the writers' sequence counter, retrying a bounded number of times.
 * @param cb   called for each problem (may be NULL)
 * @return the number of problems found (>= 0: 0 = clean), or FC_EINVAL,
 *         FC_ESYS (no memory for the check, or a failed mutex call);
 *         FC_EBUSY (FC_VERIFY_LOCK: a pending repair could not finish;
 *         without it: no reader slot for the fallback check, which runs
 *         when writers never pause long enough for a stable snapshot);
 *         FC_ECORRUPT (FC_VERIFY_LOCK: the writer mutex is unrecoverable).
 */
FC_API int64_t fc_verify(fc_cache *c, unsigned flags, fc_verify_cb cb,
			 void *arg);

/**
 * Iterate the live items (weakly consistent, like ck_hs: an item present
 * for the whole iteration is returned exactly once unless the index is
 * rebuilt meanwhile, when it may be returned twice or not at all; expired
 * items are skipped). Read-only, lock-free.
 * @return FC_OK, FC_EINVAL, FC_ESYS (malloc).
 */
FC_API int fc_iter_open(fc_cache *c, fc_iter **out);
/** @return FC_OK (item filled), FC_ENOTFOUND (no more), FC_EINVAL (NULL
 *          @p iter or @p out), FC_ECORRUPT, FC_EBUSY (no reader slot),
 *          FC_ESYS (no memory for this thread's reader record). */
FC_API int fc_iter_next(fc_iter *it, fc_item *out);
FC_API void fc_iter_close(fc_iter *it);

/**
 * Return the current time on the cache's TTL clock (CLOCK_REALTIME_COARSE
 * in ms), which fc_item.expire_ms is measured against.
 */
FC_API uint64_t fc_now_ms(void);

#ifdef __cplusplus
}
#endif
#endif /* FORKCACHE_H */
