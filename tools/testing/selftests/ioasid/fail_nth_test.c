// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation failure at every step, in the spirit of iommufd_fail_nth: each scenario (an
 * ioctl sequence over one kind of object, on the mock IOMMU) runs again and again with
 * the 1st, 2nd, 3rd ... fault-injection point of its task failing (/proc/thread-self/
 * fail-nth with failslab and fail_page_alloc), until it runs through without reaching
 * the injected failure. Each run is a child process, closed down with injection off:
 * a failed step must fail with ENOMEM (but see run_once() for two consequences of it),
 * every later step is skipped, and once everything
 * is closed every page pin taken has been released. Kmemleak (the run's final scan) and
 * the kernel log (KASAN, lockdep, WARN) catch the rest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/ioasid.h>

#include "../../../../rust/ioasid/mock/ioasid_mock.h"
#include "ioasid_utils.h"
#include "kselftest_harness.h"

#define SZ_4K 0x1000ull
#define G 0x100000ull
#define LEN (32 * SZ_4K)
/* More physically separate pages than one batch: the pin path grows its run list. */
#define BIG (1024 * SZ_4K)
/* More injection points than any scenario has: reaching it is a failure. */
#define MAX_NTH 4000

/* What a scenario works with; its set-up runs before injection starts. */
struct env {
	int fd, mock;
	uint8_t *buf;		/* LEN bytes, populated */
	uint8_t *big;		/* BIG bytes in 4 KiB pages, populated */
	const char *step;	/* the step that failed */
	__u32 m[3], d[3];	/* mock devices made by the set-up: mock and device IDs */
	int memfd;		/* LEN bytes of memfd, for vmm_body */
};

#define STEP(expr)                                                                  \
	do {                                                                        \
		e->step = #expr;                                                    \
		if ((expr) < 0)                                                     \
			return -1;                                                  \
	} while (0)

static int mock_add(struct env *e, __u32 flags, __u32 instance, __u32 group_with, int slot)
{
	struct ioasid_mock_device_add a = {
		.argsz = sizeof(a), .flags = flags, .ioasid_fd = e->fd, .pasid_width = 20,
		.instance = instance, .group_with = group_with,
	};
	int ret = ioctl(e->mock, IOASID_MOCK_DEVICE_ADD, &a);

	if (!ret) {
		e->m[slot] = a.out_mock_id;
		e->d[slot] = a.out_dev_id;
	}
	return ret;
}

static int mock_del(struct env *e, __u32 mock_id)
{
	struct ioasid_mock_device_del a = { .argsz = sizeof(a), .mock_id = mock_id };

	return ioctl(e->mock, IOASID_MOCK_DEVICE_DEL, &a);
}

/* A set-up and a body that run with injection. */
struct scenario {
	int (*setup)(struct env *e);
	int (*body)(struct env *e);
};

static int no_setup(struct env *e)
{
	return 0;
}

/* Address spaces: alloc, fixed and kernel-chosen maps, ranges, unmap, destroy. */
static int ioas_body(struct env *e)
{
	struct ioasid_iova_range r[4];
	__u64 iova = 0, unmapped;
	__u32 ioas = 0, ioas2 = 0;

	STEP(ioas_alloc(e->fd, &ioas));
	STEP(ioas_alloc(e->fd, &ioas2));
	STEP(map_at(e->fd, ioas, e->buf, LEN, G));
	STEP(map(e->fd, ioas, RW, e->buf, LEN / 2, &iova));
	STEP(map_at(e->fd, ioas2, e->buf, LEN, G));
	STEP(map_at(e->fd, ioas2, e->big, BIG, G + LEN));
	STEP(iova_ranges(e->fd, ioas, r, 4));
	STEP(unmap(e->fd, ioas, iova, LEN / 2, &unmapped));
	STEP(destroy(e->fd, ioas));
	return 0;
}

/* Binding a device to the context (ioasid_bind_device), then its unplug. */
static int bind_body(struct env *e)
{
	STEP(mock_add(e, IOASID_MOCK_DEVICE_PRI, 0, 0, 0));
	STEP(mock_del(e, e->m[0]));
	return 0;
}

/* A device, one behind another mock IOMMU, and a group mate of the first. */
static int three_devices(struct env *e)
{
	if (mock_add(e, IOASID_MOCK_DEVICE_PRI | IOASID_MOCK_DEVICE_INTENT_PASID, 0, 0, 0) ||
	    mock_add(e, 0, 1, 0, 1))
		return -1;
	return mock_add(e, IOASID_MOCK_DEVICE_PRI, 0, e->m[0], 2);
}

/* Attach with replay into a first and a second (incompatible IOMMU) domain, group mate. */
static int attach_body(struct env *e)
{
	__u32 ioas = 0;
	__u64 unmapped;

	STEP(ioas_alloc(e->fd, &ioas));
	STEP(map_at(e->fd, ioas, e->buf, LEN, G));
	STEP(attach(e->fd, e->d[0], ioas));
	STEP(attach(e->fd, e->d[1], ioas));
	STEP(attach(e->fd, e->d[2], ioas));
	STEP(map_at(e->fd, ioas, e->buf, SZ_4K, G + LEN));
	STEP(unmap(e->fd, ioas, G, LEN, &unmapped));
	STEP(detach(e->fd, e->d[1]));
	STEP(mock_del(e, e->m[2]));
	return 0;
}

/* PASIDs: namespace, alloc, attach, replace, detach, free, unplug with one attached. */
static int pasid_body(struct env *e)
{
	struct ioasid_pasid_ns_alloc na = { .argsz = sizeof(na) };
	struct ioasid_pasid_alloc pa = { .argsz = sizeof(pa) };
	struct ioasid_device_pasid_attach at = { .argsz = sizeof(at) };
	struct ioasid_device_pasid_detach dt = { .argsz = sizeof(dt) };
	struct ioasid_pasid_free pf = { .argsz = sizeof(pf) };
	__u32 ioas = 0, ioas2 = 0, p1, p2;

	STEP(ioas_alloc(e->fd, &ioas));
	STEP(ioas_alloc(e->fd, &ioas2));
	STEP(map_at(e->fd, ioas, e->buf, LEN, G));
	STEP(ioctl(e->fd, IOASID_PASID_NS_ALLOC, &na));
	pa.ns_id = na.out_ns_id;
	pa.dev_id = e->d[0];
	STEP(ioctl(e->fd, IOASID_PASID_ALLOC, &pa));
	p1 = pa.out_pasid;
	STEP(ioctl(e->fd, IOASID_PASID_ALLOC, &pa));
	p2 = pa.out_pasid;
	at.dev_id = e->d[0];
	at.ns_id = na.out_ns_id;
	at.pasid = p1;
	at.ioas_id = ioas;
	STEP(ioctl(e->fd, IOASID_DEVICE_PASID_ATTACH, &at));
	at.flags = IOASID_PASID_ATTACH_REPLACE;
	at.ioas_id = ioas2;
	STEP(ioctl(e->fd, IOASID_DEVICE_PASID_ATTACH, &at));
	dt.dev_id = e->d[0];
	dt.ns_id = na.out_ns_id;
	dt.pasid = p1;
	STEP(ioctl(e->fd, IOASID_DEVICE_PASID_DETACH, &dt));
	pf.ns_id = na.out_ns_id;
	pf.pasid = p1;
	STEP(ioctl(e->fd, IOASID_PASID_FREE, &pf));
	at.flags = 0;
	at.pasid = p2;
	STEP(ioctl(e->fd, IOASID_DEVICE_PASID_ATTACH, &at));
	STEP(mock_del(e, e->m[0]));
	return 0;
}

/* A memfd of LEN bytes and a mock device (which tracks dirty pages). */
static int vmm_setup(struct env *e)
{
	e->memfd = memfd_create("fail-nth", MFD_CLOEXEC);
	if (e->memfd < 0 || ftruncate(e->memfd, LEN))
		return -1;
	return mock_add(e, 0, 0, 0, 0);
}

/*
 * What VMMs need for guest memory: file-backed maps, pin-once copies, dirty tracking
 * with a bitmap read, and moving the charge to another process (live update).
 */
static int vmm_body(struct env *e)
{
	__u32 src = 0, dst = 0;
	__u64 iova = G, at = 2 * G, pages, bits[1];

	STEP(ioas_alloc_flags(e->fd, IOASID_IOAS_ALLOC_DIRTY_TRACKING, &src));
	STEP(ioas_alloc(e->fd, &dst));
	STEP(map_file(e->fd, src, FIXED, e->memfd, 0, LEN, &iova));
	STEP(map_at(e->fd, src, e->big, BIG, 4 * G));
	STEP(copy(e->fd, dst, src, FIXED, G, LEN, &at));
	STEP(attach(e->fd, e->d[0], src));
	STEP(dirty_tracking(e->fd, src, 1));
	STEP(dirty_bitmap(e->fd, src, 0, G, LEN, SZ_4K, bits));
	STEP(dirty_tracking(e->fd, src, 0));
	STEP(change_process(e->fd, &pages));
	STEP(unmap(e->fd, src, G, LEN, NULL));
	STEP(destroy(e->fd, dst));
	return 0;
}

/* Nesting: child, table bound per RID and per PASID, invalidations, unbind. */
static int nested_body(struct env *e)
{
	struct ioasid_nested_alloc na = { .argsz = sizeof(na), .format = IOASID_FORMAT_MOCK };
	struct ioasid_pasid_ns_alloc ns = { .argsz = sizeof(ns) };
	struct ioasid_pasid_alloc pa = { .argsz = sizeof(pa) };
	struct ioasid_bind_table b = {
		.argsz = sizeof(b), .version = IOASID_BIND_VERSION_1, .format = IOASID_FORMAT_MOCK,
		.table.mock.table = G,
	};
	struct ioasid_unbind_table u = { .argsz = sizeof(u) };
	struct ioasid_inval_mock all = { .flags = IOASID_INVAL_MOCK_ALL };
	struct ioasid_cache_invalidate inv = {
		.argsz = sizeof(inv), .entry_len = sizeof(all), .entry_num = 1,
		.entries = (uintptr_t)&all,
	};
	__u32 parent = 0;

	STEP(ioas_alloc(e->fd, &parent));
	STEP(map_at(e->fd, parent, e->buf, LEN, G));
	na.parent_id = parent;
	STEP(ioctl(e->fd, IOASID_NESTED_ALLOC, &na));
	b.child_id = na.out_child_id;
	b.dev_id = e->d[0];
	STEP(ioctl(e->fd, IOASID_BIND_TABLE, &b));
	STEP(ioctl(e->fd, IOASID_PASID_NS_ALLOC, &ns));
	pa.ns_id = ns.out_ns_id;
	pa.dev_id = e->d[0];
	STEP(ioctl(e->fd, IOASID_PASID_ALLOC, &pa));
	b.flags = IOASID_BIND_PASID;
	b.ns_id = ns.out_ns_id;
	b.pasid = pa.out_pasid;
	STEP(ioctl(e->fd, IOASID_BIND_TABLE, &b));
	inv.child_id = na.out_child_id;
	STEP(ioctl(e->fd, IOASID_CACHE_INVALIDATE, &inv));
	u.child_id = na.out_child_id;
	u.dev_id = e->d[0];
	STEP(ioctl(e->fd, IOASID_UNBIND_TABLE, &u));
	STEP(map_at(e->fd, parent, e->buf, SZ_4K, G + LEN));
	STEP(mock_del(e, e->m[0]));
	return 0;
}

/* Fault queue: routed address space, delivered, read and answered faults, one pending. */
static int fault_body(struct env *e)
{
	struct ioasid_fault_queue_alloc qa = { .argsz = sizeof(qa) };
	struct ioasid_ioas_alloc ia = { .argsz = sizeof(ia), .flags = IOASID_IOAS_ALLOC_FAULT_QUEUE };
	struct ioasid_mock_page_request pr = {
		.argsz = sizeof(pr), .flags = IOASID_MOCK_PAGE_REQUEST_LAST_PAGE,
		.perm = IOASID_MOCK_PERM_READ, .addr = 0x5000,
	};
	struct ioasid_fault_response resp = { .code = IOASID_FAULT_RESPONSE_SUCCESS };
	struct ioasid_fault f;

	STEP(ioctl(e->fd, IOASID_FAULT_QUEUE_ALLOC, &qa));
	STEP(fcntl(qa.out_fd, F_SETFL, O_NONBLOCK));
	ia.fault_queue_id = qa.out_queue_id;
	STEP(ioctl(e->fd, IOASID_IOAS_ALLOC, &ia));
	STEP(map_at(e->fd, ia.out_ioas_id, e->buf, LEN, G));
	STEP(attach(e->fd, e->d[0], ia.out_ioas_id));
	STEP(attach(e->fd, e->d[2], ia.out_ioas_id));
	pr.mock_id = e->m[2];
	pr.grpid = 1;
	STEP(ioctl(e->mock, IOASID_MOCK_PAGE_REQUEST, &pr));
	STEP(read(qa.out_fd, &f, sizeof(f)));
	resp.cookie = f.cookie;
	STEP(write(qa.out_fd, &resp, sizeof(resp)));
	pr.grpid = 2;
	STEP(ioctl(e->mock, IOASID_MOCK_PAGE_REQUEST, &pr));
	pr.mock_id = e->m[0];
	STEP(ioctl(e->mock, IOASID_MOCK_PAGE_REQUEST, &pr));
	STEP(mock_del(e, e->m[2]));
	/* One fault left pending: answered when everything is closed. */
	return 0;
}

static int set_fail_nth(int procfd, unsigned int nth)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", nth);

	return pwrite(procfd, buf, len, 0) == len ? 0 : -1;
}

/* How a child run ended (its exit status). */
enum outcome {
	INJECTED = 0,		/* the injected failure was reached and handled */
	RAN_THROUGH = 1,	/* nothing failed: the injection point was never reached */
	SETUP_FAILED = 2,
	WRONG_ERRNO = 3,	/* a step failed with something other than ENOMEM */
	FAILED_UNINJECTED = 4,	/* a step failed although nothing was injected */
};

/* One run with the @nth injection point failing (0: none), in a child process. */
static enum outcome run_once(const struct scenario *sc, unsigned int nth)
{
	struct env e = { 0 };
	char remaining[16] = "";
	int procfd, ret, err, status;
	pid_t pid = fork();

	if (pid < 0)
		return SETUP_FAILED;
	if (pid > 0) {
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
			return SETUP_FAILED;
		return WEXITSTATUS(status);
	}
	e.fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	e.mock = open("/dev/ioasid-mock", O_RDWR | O_CLOEXEC);
	e.buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		     -1, 0);
	e.big = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e.big != MAP_FAILED) {
		madvise(e.big, BIG, MADV_NOHUGEPAGE);
		memset(e.big, 1, BIG);
	}
	procfd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (e.fd < 0 || e.mock < 0 || e.buf == MAP_FAILED || e.big == MAP_FAILED || procfd < 0 ||
	    sc->setup(&e))
		_exit(SETUP_FAILED);
	if (nth && set_fail_nth(procfd, nth))
		_exit(SETUP_FAILED);
	ret = sc->body(&e);
	err = errno;
	/* Reading it back gives what was left: "0" once the failure was injected. */
	if (nth && pread(procfd, remaining, sizeof(remaining) - 1, 0) <= 0)
		strcpy(remaining, "1");
	set_fail_nth(procfd, 0);
	close(e.mock);
	close(e.fd);
	/*
	 * ENOMEM, but for a mock device whose IOMMU probe failed (the IOMMU core leaves it
	 * without an IOMMU, which the mock reports as ENODEV) and for reading a fault whose
	 * delivery failed (the core answered it; nothing to read: EAGAIN).
	 */
	if (ret && err != ENOMEM && !(err == ENODEV && !strncmp(e.step, "mock_add", 8)) &&
	    !(err == EAGAIN && !strncmp(e.step, "read", 4))) {
		fprintf(stderr, "# nth %u: %s failed with %s\n", nth, e.step, strerror(err));
		_exit(!nth || atoi(remaining) ? FAILED_UNINJECTED : WRONG_ERRNO);
	}
	if (ret && (!nth || atoi(remaining))) {
		fprintf(stderr, "# nth %u: %s failed, nothing injected\n", nth, e.step);
		_exit(FAILED_UNINJECTED);
	}
	_exit(nth && !atoi(remaining) ? INJECTED : RAN_THROUGH);
}

/* Sweeps every injection point of @scenario; the number reached, or -1 on a failure. */
static int sweep(struct __test_metadata *_metadata, struct scenario sc)
{
	unsigned int nth;

	if (access("/proc/thread-self/fail-nth", W_OK) ||
	    access("/sys/kernel/debug/failslab/ignore-gfp-wait", W_OK))
		return -1;
	EXPECT_EQ(RAN_THROUGH, run_once(&sc, 0));
	for (nth = 1; nth < MAX_NTH; nth++) {
		long pinned = pinned_pages();
		enum outcome o = run_once(&sc, nth);

		/* Whatever failed, once all is closed no page stays pinned. */
		EXPECT_EQ(pinned, pinned_pages());
		if (o == RAN_THROUGH)
			break;
		if (o != INJECTED) {
			fprintf(stderr, "# nth %u ended with outcome %d\n", nth, o);
			return -1;
		}
	}
	EXPECT_GT(MAX_NTH, nth);
	printf("# %u injection points reached\n", nth - 1);
	return nth - 1;
}

static void writefile(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);

	if (fd >= 0) {
		if (write(fd, val, strlen(val)) < 0)
			perror(path);
		close(fd);
	}
}

FIXTURE(fail_nth) {
	int unused;
};

FIXTURE_SETUP(fail_nth)
{
	/* Every allocation may be failed, sleeping or not, and quietly. */
	writefile("/sys/kernel/debug/failslab/ignore-gfp-wait", "N");
	writefile("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N");
	writefile("/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N");
	writefile("/sys/kernel/debug/failslab/verbose", "0");
	writefile("/sys/kernel/debug/fail_page_alloc/verbose", "0");
}

FIXTURE_TEARDOWN(fail_nth)
{
}

/*
 * Software nesting (the mock takes no VT-d table itself): a 4-level table in the guest
 * memory, bound per RID and per PASID, invalidations of a range and of everything, the
 * parent unmapping and remapping a data page under it (the shadows' holes), unbind,
 * unplug with the PASID's table bound.
 */
static int sw_nested_body(struct env *e)
{
	struct ioasid_nested_alloc na = { .argsz = sizeof(na), .format = IOASID_FORMAT_VTD_S1 };
	struct ioasid_pasid_ns_alloc ns = { .argsz = sizeof(ns) };
	struct ioasid_pasid_alloc pa = { .argsz = sizeof(pa) };
	struct ioasid_bind_table b = {
		.argsz = sizeof(b), .version = IOASID_BIND_VERSION_1,
		.format = IOASID_FORMAT_VTD_S1,
		.table.vtd = { .pgtbl_addr = G, .addr_width = 48 },
	};
	struct ioasid_unbind_table u = { .argsz = sizeof(u) };
	struct ioasid_inval_vtd reqs[2] = {
		{ .addr = 0x10000000, .npages = 1 }, { .addr = 0, .npages = UINT64_MAX },
	};
	struct ioasid_cache_invalidate inv = {
		.argsz = sizeof(inv), .entry_len = sizeof(reqs[0]), .entry_num = 2,
		.entries = (uintptr_t)reqs,
	};
	uint64_t *t = (uint64_t *)e->buf;
	__u32 parent = 0;

	/* PML4 (page 0) -> PDPT (1) -> PD (2) -> PT (3): IOVA 0x10000000 + i*4K -> G + 2M + i*4K. */
	memset(e->buf, 0, 4 * SZ_4K);
	t[0] = (G + SZ_4K) | 7;
	t[512] = (G + 2 * SZ_4K) | 7;
	t[1024 + 0x80] = (G + 3 * SZ_4K) | 7;
	for (int i = 0; i < 4; i++)
		t[1536 + i] = (G + 0x200000 + i * SZ_4K) | 7;
	STEP(ioas_alloc(e->fd, &parent));
	STEP(map_at(e->fd, parent, e->buf, LEN, G));
	STEP(map_at(e->fd, parent, e->buf + 4 * SZ_4K, 4 * SZ_4K, G + 0x200000));
	na.parent_id = parent;
	STEP(ioctl(e->fd, IOASID_NESTED_ALLOC, &na));
	b.child_id = na.out_child_id;
	b.dev_id = e->d[0];
	STEP(ioctl(e->fd, IOASID_BIND_TABLE, &b));
	STEP(ioctl(e->fd, IOASID_PASID_NS_ALLOC, &ns));
	pa.ns_id = ns.out_ns_id;
	pa.dev_id = e->d[0];
	STEP(ioctl(e->fd, IOASID_PASID_ALLOC, &pa));
	b.flags = IOASID_BIND_PASID;
	b.ns_id = ns.out_ns_id;
	b.pasid = pa.out_pasid;
	STEP(ioctl(e->fd, IOASID_BIND_TABLE, &b));
	t[1536] = (G + 0x200000 + 3 * SZ_4K) | 7;
	inv.child_id = na.out_child_id;
	STEP(ioctl(e->fd, IOASID_CACHE_INVALIDATE, &inv));
	STEP(unmap(e->fd, parent, G + 0x200000, 4 * SZ_4K, NULL));
	STEP(map_at(e->fd, parent, e->buf + 8 * SZ_4K, 4 * SZ_4K, G + 0x200000));
	u.child_id = na.out_child_id;
	u.dev_id = e->d[0];
	STEP(ioctl(e->fd, IOASID_UNBIND_TABLE, &u));
	STEP(mock_del(e, e->m[0]));
	return 0;
}

/* A sweep takes seconds to a minute under TCG with KASAN. */
#define SWEEP(name, setup, body)                                                    \
	TEST_F_TIMEOUT(fail_nth, name, 300)                                         \
	{                                                                           \
		EXPECT_LT(0, sweep(_metadata, (struct scenario){ setup, body }));    \
	}

SWEEP(ioas, no_setup, ioas_body)
SWEEP(bind, no_setup, bind_body)
SWEEP(attach_with_replay, three_devices, attach_body)
SWEEP(pasid, three_devices, pasid_body)
SWEEP(nested, three_devices, nested_body)
SWEEP(sw_nested, three_devices, sw_nested_body)
SWEEP(fault_queue, three_devices, fault_body)
SWEEP(vmm_memory, vmm_setup, vmm_body)

TEST_HARNESS_MAIN
