// SPDX-License-Identifier: GPL-2.0
/*
 * ioasid-bench: /dev/ioasid side by side with iommufd and VFIO type1, in one VM, on the
 * same emulated IOMMU (intel-iommu), each with a real device attached through the same
 * driver: QEMU edu devices on vfio-pci, bound to ioasid (VFIO_DEVICE_BIND_IOASID), to
 * iommufd (VFIO_DEVICE_BIND_IOMMUFD) and to a type1 container. ioasid and iommufd have
 * one per thread of the thread rows, so that every address space a thread maps into
 * has a device attached, as a VMM's has.
 *
 * The backends take turns: ROUNDS rounds, each running every case on each backend, in
 * a rotated order, so that a change of the host's speed during the run does not land
 * on one column. Every figure is the median (of the rounds' medians), min and max over
 * repeated runs (after one untimed warm-up round for the map cases), in microseconds
 * (rates in operations per second). Prints a table (ratio = iommufd time / ioasid time,
 * vs best = the faster peer's time / ioasid's: >= 1.0 means ioasid is at least as fast;
 * rounds = the lowest and highest "vs best" of a single round) and the same rows as CSV
 * between BENCH-CSV-BEGIN and BENCH-CSV-END. In the map and thread rows, whose backends
 * take turns within every repetition, "vs best" is paired: per repetition, the faster peer's time
 * over ioasid's time of the same repetition, the median of those in each round, and the
 * median over the rounds: the host's changes of speed between repetitions cancel out.
 * A repetition of a map row of 64 KiB or less times SMALL_OPS operations back to back
 * and counts their mean (one such operation is as short as the noise of one sample).
 *
 *   ioasid-bench [REPS]          the table (no mock IOMMU in the kernel)
 *   ioasid-bench --mock [REPS]   the rows that need ioasid's mock IOMMU
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/ioasid.h>
#include <linux/vfio.h>

#include "../../../../samples/ioasid/ioasid-samples.h"
#include "../../../../rust/ioasid/mock/ioasid_mock.h"

#define SZ_4K (4096ull)
#define SZ_2M (2ull << 20)
#define MAX_REPS 15
#define ROUNDS 3
#define IOVA_BASE (1ull << 32)

enum backend { IOASID, IOMMUFD, TYPE1, NR_BACKENDS };
static const char *const names[] = { "ioasid", "iommufd", "vfio-type1" };

/* One address space of one backend, with the device attached where it can be. */
struct space {
	enum backend b;
	int fd;		/* /dev/ioasid, /dev/iommu, or the type1 container */
	__u32 id;	/* IOAS ID (ioasid, iommufd) */
	int dev;	/* the device attached (ioasid, iommufd), or -1 */
};

/* Devices each of ioasid and iommufd has: one per thread of the thread rows. */
#define MAX_THREADS 4

static int ioasid_fd, iommufd, container, group_fd, vfio_dev_fds[MAX_THREADS];
static __u32 ioasid_devs[MAX_THREADS];
/* The first device of each, for every row but the thread rows. */
#define ioasid_dev ioasid_devs[0]
#define vfio_dev_fd vfio_dev_fds[0]
/* The edus on vfio-pci, by address: type1's, then iommufd's, then ioasid's. */
#define NR_EDUS (1 + 2 * MAX_THREADS)
static char edus[NR_EDUS][NAME_MAX + 1];
#define edu_type1 edus[0]
#define edu_iommufd(k) edus[1 + (k)]
#define edu_ioasid(k) edus[1 + MAX_THREADS + (k)]
static int ioasid_vfio_fds[MAX_THREADS];

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
	fprintf(stderr, "ioasid-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int do_map(struct space *s, void *va, __u64 len, __u64 iova)
{
	switch (s->b) {
	case IOASID: {
		struct ioasid_ioas_map m = {
			.argsz = sizeof(m), .ioas_id = s->id, .user_va = (uintptr_t)va,
			.length = len, .iova = iova,
			.flags = IOASID_MAP_FIXED_IOVA | IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE,
		};
		return ioctl(s->fd, IOASID_IOAS_MAP, &m);
	}
	case IOMMUFD: {
		struct iommu_ioas_map m = {
			.size = sizeof(m), .ioas_id = s->id, .user_va = (uintptr_t)va,
			.length = len, .iova = iova,
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
		};
		return ioctl(s->fd, IOMMU_IOAS_MAP, &m);
	}
	default: {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m), .vaddr = (uintptr_t)va, .size = len, .iova = iova,
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		};
		return ioctl(s->fd, VFIO_IOMMU_MAP_DMA, &m);
	}
	}
}

static int do_unmap(struct space *s, __u64 len, __u64 iova)
{
	switch (s->b) {
	case IOASID: {
		struct ioasid_ioas_unmap u = {
			.argsz = sizeof(u), .ioas_id = s->id, .iova = iova, .length = len,
		};
		return ioctl(s->fd, IOASID_IOAS_UNMAP, &u);
	}
	case IOMMUFD: {
		struct iommu_ioas_unmap u = {
			.size = sizeof(u), .ioas_id = s->id, .iova = iova, .length = len,
		};
		return ioctl(s->fd, IOMMU_IOAS_UNMAP, &u);
	}
	default: {
		struct vfio_iommu_type1_dma_unmap u = {
			.argsz = sizeof(u), .iova = iova, .size = len,
		};
		return ioctl(s->fd, VFIO_IOMMU_UNMAP_DMA, &u);
	}
	}
}

/*
 * A new address space of backend @b, with the backend's device @dev attached (none if
 * @dev < 0; type1's container has its device always).
 */
static int space_on(enum backend b, int dev, struct space *s)
{
	s->b = b;
	s->dev = dev;
	switch (b) {
	case IOASID: {
		struct ioasid_ioas_alloc a = { .argsz = sizeof(a) };
		struct ioasid_device_attach at = { .argsz = sizeof(at) };

		s->fd = ioasid_fd;
		if (ioctl(s->fd, IOASID_IOAS_ALLOC, &a))
			return -1;
		s->id = a.out_ioas_id;
		if (dev < 0)
			return 0;
		at.ioas_id = s->id;
		at.dev_id = ioasid_devs[dev];
		return ioctl(s->fd, IOASID_DEVICE_ATTACH, &at);
	}
	case IOMMUFD: {
		struct iommu_ioas_alloc a = { .size = sizeof(a) };
		struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };

		s->fd = iommufd;
		if (ioctl(s->fd, IOMMU_IOAS_ALLOC, &a))
			return -1;
		s->id = a.out_ioas_id;
		if (dev < 0)
			return 0;
		at.pt_id = s->id;
		return ioctl(vfio_dev_fds[dev], VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at);
	}
	default:
		s->fd = container;
		return 0;
	}
}

/* A new address space of backend @b; with @attach, the backend's first device attached. */
static int space_new(enum backend b, int attach, struct space *s)
{
	return space_on(b, attach ? 0 : -1, s);
}

static void space_free(struct space *s, int attached)
{
	attached = attached && s->dev >= 0;
	if (s->b == IOASID) {
		struct ioasid_device_detach d = { .argsz = sizeof(d) };
		struct ioasid_destroy x = { .argsz = sizeof(x), .id = s->id };

		if (attached) {
			d.dev_id = ioasid_devs[s->dev];
			ioctl(s->fd, IOASID_DEVICE_DETACH, &d);
		}
		ioctl(s->fd, IOASID_DESTROY, &x);
	} else if (s->b == IOMMUFD) {
		struct vfio_device_detach_iommufd_pt d = { .argsz = sizeof(d) };
		struct iommu_destroy x = { .size = sizeof(x), .id = s->id };

		if (attached)
			ioctl(vfio_dev_fds[s->dev], VFIO_DEVICE_DETACH_IOMMUFD_PT, &d);
		ioctl(s->fd, IOMMU_DESTROY, &x);
	}
}

struct stat3 {
	double med, min, max;
	int valid;
};

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct stat3 stats(double *v, int n)
{
	struct stat3 s = { 0 };

	if (n <= 0)
		return s;
	qsort(v, n, sizeof(*v), cmp);
	s.med = v[n / 2];
	s.min = v[0];
	s.max = v[n - 1];
	s.valid = 1;
	return s;
}

struct row {
	char name[64];
	const char *unit;
	struct stat3 r[NR_BACKENDS];
	/* Each round's figures (r[] holds the current round's until they are combined). */
	struct stat3 round[ROUNDS][NR_BACKENDS];
	/*
	 * For the rows whose backends take turns within every repetition (map, threads):
	 * each round's median of the per-repetition "vs best" (the faster peer's time /
	 * ioasid's, measured back to back), or 0.
	 */
	double paired[ROUNDS];
};

static struct row rows[64];
static int nrows, one_thread_row, cur_round;

static struct row *row(const char *fmt, const char *unit, const char *arg)
{
	struct row *r = &rows[nrows++];

	snprintf(r->name, sizeof(r->name), fmt, arg);
	r->unit = unit;
	return r;
}

/*
 * Map, unmap and map+unmap of @len bytes of @buf, @reps times, on every backend: each
 * repetition runs the backends one after the other (in an order that rotates), so that
 * the host's changes of speed hit all of them alike.
 */
static struct stat3 best_peer(const struct stat3 *r, int rate);

/*
 * The round's paired "vs best" of @row from the times @v of its @reps repetitions: the
 * median over them of the faster peer's time (the faster by the round's medians, in
 * @row->r) over ioasid's time of the same repetition.
 */
static void pair_up(struct row *row, double v[NR_BACKENDS][MAX_REPS], int reps)
{
	struct stat3 best = best_peer(row->r, 0);
	double ratio[MAX_REPS];
	int peer = -1;

	for (int b = IOMMUFD; b < NR_BACKENDS; b++)
		if (row->r[b].valid && row->r[b].med == best.med)
			peer = b;
	if (peer < 0)
		return;
	for (int i = 0; i < reps; i++)
		ratio[i] = v[peer][i] / v[IOASID][i];
	row->paired[cur_round] = stats(ratio, reps).med;
}

/*
 * The backend that runs @k-th in repetition @i (of @reps) of a round of map cases: the
 * six orders of the three in turn, so that each backend follows each other one (and
 * comes first) as often. An operation right after another of its own backend runs
 * faster (caches warm), one after another backend's slower: with one fixed order, each
 * backend would always follow the same other one.
 */
static int turn(int i, int k, int reps)
{
	static const int orders[6][NR_BACKENDS] = {
		{ IOASID, IOMMUFD, TYPE1 }, { IOMMUFD, TYPE1, IOASID }, { TYPE1, IOASID, IOMMUFD },
		{ IOASID, TYPE1, IOMMUFD }, { TYPE1, IOMMUFD, IOASID }, { IOMMUFD, IOASID, TYPE1 },
	};

	return orders[(cur_round * reps + i) % 6][k];
}

/* Operations per repetition of a map row of 64 KiB or less (see the header). */
#define SMALL_OPS 64

static void map_cases(void *buf, __u64 len, int reps, struct row *map, struct row *unmap,
		      struct row *cycle)
{
	double m[NR_BACKENDS][MAX_REPS], u[NR_BACKENDS][MAX_REPS], c[NR_BACKENDS][MAX_REPS], t;
	int ops = len <= (64 << 10) ? SMALL_OPS : 1;
	struct space s[NR_BACKENDS];

	for (int b = 0; b < NR_BACKENDS; b++) {
		if (space_new(b, 1, &s[b]))
			die("address space");
		/* One untimed round first: page-table pages allocated, caches warm. */
		if (do_map(&s[b], buf, len, IOVA_BASE) || do_unmap(&s[b], len, IOVA_BASE))
			die("warm-up");
	}
	for (int i = 0; i < reps; i++)
		for (int k = 0; k < NR_BACKENDS; k++) {
			int b = turn(i, k, reps);

			double tm = 0, tu = 0;

			for (int j = 0; j < ops; j++) {
				t = now_us();
				if (do_map(&s[b], buf, len, IOVA_BASE))
					die("map");
				tm += now_us() - t;
				t = now_us();
				if (do_unmap(&s[b], len, IOVA_BASE))
					die("unmap");
				tu += now_us() - t;
			}
			t = now_us();
			for (int j = 0; j < ops; j++)
				if (do_map(&s[b], buf, len, IOVA_BASE) ||
				    do_unmap(&s[b], len, IOVA_BASE))
					die("cycle");
			c[b][i] = (now_us() - t) / ops;
			m[b][i] = tm / ops;
			u[b][i] = tu / ops;
		}
	for (int b = 0; b < NR_BACKENDS; b++) {
		/* stats() sorts: the paired ratios are taken from copies. */
		double mc[MAX_REPS], uc[MAX_REPS], cc[MAX_REPS];

		memcpy(mc, m[b], sizeof(mc));
		memcpy(uc, u[b], sizeof(uc));
		memcpy(cc, c[b], sizeof(cc));
		map->r[b] = stats(mc, reps);
		unmap->r[b] = stats(uc, reps);
		cycle->r[b] = stats(cc, reps);
		space_free(&s[b], 1);
	}
	pair_up(map, m, reps);
	pair_up(unmap, u, reps);
	pair_up(cycle, c, reps);
}

/* Attach of the device to an address space holding @len bytes mapped. */
static struct stat3 attach_case(enum backend b, void *buf, __u64 len, int reps)
{
	double v[MAX_REPS];
	struct space s;
	int n = 0;

	if (b == TYPE1)
		return (struct stat3){ 0 };
	for (int i = 0; i < reps; i++) {
		double t;

		if (space_new(b, 0, &s) || do_map(&s, buf, len, IOVA_BASE))
			die("populate");
		t = now_us();
		if (b == IOASID) {
			struct ioasid_device_attach at = {
				.argsz = sizeof(at), .dev_id = ioasid_dev, .ioas_id = s.id,
			};
			if (ioctl(s.fd, IOASID_DEVICE_ATTACH, &at))
				die("attach");
		} else {
			struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = s.id };
			if (ioctl(vfio_dev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
				die("attach");
		}
		v[n++] = now_us() - t;
		s.dev = 0;
		do_unmap(&s, len, IOVA_BASE);
		space_free(&s, 1);
	}
	return stats(v, n);
}

struct worker {
	struct space *s;
	void *buf;
	__u64 iova;
	int loops, err;
};

static void *churn(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->loops; i++)
		if (do_map(w->s, w->buf, 1 << 20, w->iova) || do_unmap(w->s, 1 << 20, w->iova))
			w->err = 1;
	return NULL;
}

/*
 * @nthreads threads, 64 map+unmap cycles of 1 MiB each, all in one address space
 * (@same) or each in its own; every address space has a device of its own attached.
 */
static double threads_once(enum backend b, void *buf, int nthreads, int same)
{
	struct space s[MAX_THREADS];
	struct worker w[MAX_THREADS];
	pthread_t t[MAX_THREADS];
	int err = 0, spaces = same ? 1 : nthreads;
	double t0;

	for (int k = 0; k < spaces; k++)
		if (space_on(b, b == TYPE1 ? -1 : k, &s[k]))
			die("address spaces");
	for (int k = 0; k < nthreads; k++)
		w[k] = (struct worker){ .s = same ? &s[0] : &s[k],
					.buf = (char *)buf + k * (1 << 20),
					.iova = IOVA_BASE + k * (1ull << 24), .loops = 64 };
	t0 = now_us();
	for (int k = 0; k < nthreads; k++)
		pthread_create(&t[k], NULL, churn, &w[k]);
	for (int k = 0; k < nthreads; k++)
		pthread_join(t[k], NULL);
	t0 = now_us() - t0;
	for (int k = 0; k < nthreads; k++)
		err |= w[k].err;
	if (err)
		die("threads");
	for (int k = 0; k < spaces; k++)
		space_free(&s[k], 1);
	return t0;
}

/* The row of threads_once(), @reps times, the backends taking turns in every repetition. */
static void threads_case(struct row *row, void *buf, int nthreads, int same, int reps)
{
	double v[NR_BACKENDS][MAX_REPS], c[MAX_REPS];

	for (int i = 0; i < reps; i++)
		for (int k = 0; k < NR_BACKENDS; k++) {
			int b = (i + k) % NR_BACKENDS;

			/* type1 has one address space (its container). */
			if (b != TYPE1 || same)
				v[b][i] = threads_once(b, buf, nthreads, same);
		}
	for (int b = 0; b < NR_BACKENDS; b++) {
		if (b == TYPE1 && !same)
			continue;
		memcpy(c, v[b], sizeof(c));
		row->r[b] = stats(c, reps);
	}
	pair_up(row, v, reps);
}

#define LIVE_PASIDS 100000

/*
 * PASIDs allocated and freed per second (ioasid only: the others have no such uAPI),
 * with @live more PASIDs of the namespace allocated (and left allocated) first.
 */
static struct stat3 pasid_case(int reps, int live)
{
	struct ioasid_mock_device_add dev = {
		.argsz = sizeof(dev), .flags = IOASID_MOCK_DEVICE_INTENT_PASID, .pasid_width = 20,
	};
	struct ioasid_pasid_ns_alloc ns = { .argsz = sizeof(ns) };
	double v[MAX_REPS];
	int mock, n = 0;

	mock = open("/dev/ioasid-mock", O_RDWR | O_CLOEXEC);
	if (mock < 0)
		return (struct stat3){ 0 };
	dev.ioasid_fd = ioasid_fd;
	if (ioctl(mock, IOASID_MOCK_DEVICE_ADD, &dev) || ioctl(ioasid_fd, IOASID_PASID_NS_ALLOC, &ns))
		die("PASID set-up");
	for (int k = 0; k < live; k++) {
		struct ioasid_pasid_alloc a = {
			.argsz = sizeof(a), .ns_id = ns.out_ns_id, .dev_id = dev.out_dev_id,
		};

		if (ioctl(ioasid_fd, IOASID_PASID_ALLOC, &a))
			die("PASID alloc (live)");
	}
	for (int i = 0; i < reps; i++) {
		double t = now_us();

		for (int k = 0; k < 256; k++) {
			struct ioasid_pasid_alloc a = {
				.argsz = sizeof(a), .ns_id = ns.out_ns_id, .dev_id = dev.out_dev_id,
			};
			struct ioasid_pasid_free f = { .argsz = sizeof(f), .ns_id = ns.out_ns_id };

			if (ioctl(ioasid_fd, IOASID_PASID_ALLOC, &a))
				die("PASID alloc");
			f.pasid = a.out_pasid;
			if (ioctl(ioasid_fd, IOASID_PASID_FREE, &f))
				die("PASID free");
		}
		v[n++] = 256 / ((now_us() - t) / 1e6);
	}
	/* The namespace and its live PASIDs go with it. */
	struct ioasid_destroy x = { .argsz = sizeof(x), .id = ns.out_ns_id };

	if (ioctl(ioasid_fd, IOASID_DESTROY, &x))
		die("PASID namespace destroy");
	close(mock);
	return stats(v, n);
}

/*
 * Copy of @len bytes of @buf, mapped (once, untimed) in an address space no device uses,
 * into the one the device is attached to: IOAS_COPY of ioasid and of iommufd (type1 has
 * none). The copy is unmapped, untimed, after each round.
 */
static struct stat3 copy_case(enum backend b, void *buf, __u64 len, int reps)
{
	struct space src, dst;
	double v[MAX_REPS];
	int n = 0;

	if (b == TYPE1)
		return (struct stat3){ 0 };
	if (space_new(b, 0, &src) || space_new(b, 1, &dst) || do_map(&src, buf, len, IOVA_BASE))
		die("copy set-up");
	for (int i = 0; i < reps; i++) {
		double t = now_us();
		int ret;

		if (b == IOASID) {
			struct ioasid_ioas_copy c = {
				.argsz = sizeof(c), .dst_ioas_id = dst.id, .src_ioas_id = src.id,
				.flags = IOASID_MAP_FIXED_IOVA | IOASID_MAP_READABLE |
					 IOASID_MAP_WRITEABLE,
				.length = len, .src_iova = IOVA_BASE, .dst_iova = IOVA_BASE,
			};

			ret = ioctl(ioasid_fd, IOASID_IOAS_COPY, &c);
		} else {
			struct iommu_ioas_copy c = {
				.size = sizeof(c), .dst_ioas_id = dst.id, .src_ioas_id = src.id,
				.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
					 IOMMU_IOAS_MAP_WRITEABLE,
				.length = len, .src_iova = IOVA_BASE, .dst_iova = IOVA_BASE,
			};

			ret = ioctl(iommufd, IOMMU_IOAS_COPY, &c);
		}
		if (ret)
			die("copy");
		v[n++] = now_us() - t;
		if (do_unmap(&dst, len, IOVA_BASE))
			die("unmap of the copy");
	}
	do_unmap(&src, len, IOVA_BASE);
	space_free(&dst, 1);
	space_free(&src, 0);
	return stats(v, n);
}

/*
 * Read and clear of the dirty bitmap of 1 GiB of IOVA on the mock IOMMU (the emulated
 * IOMMUs here cannot track): @buf (256 MiB, 4 KiB or 2 MiB pages) mapped four times,
 * every page written by "DMA" (IOASID_MOCK_DMA_WRITE, untimed) before each read.
 */
static struct stat3 dirty_case(void *buf, int reps)
{
	struct ioasid_mock_device_add dev = { .argsz = sizeof(dev) };
	struct ioasid_ioas_alloc a = {
		.argsz = sizeof(a), .flags = IOASID_IOAS_ALLOC_DIRTY_TRACKING,
	};
	__u64 len = 256 << 20, total = 4 * len;
	static __u64 bits[(1ull << 30) / 4096 / 64];
	struct space s = { .b = IOASID, .fd = ioasid_fd };
	double v[MAX_REPS];
	int mock, n = 0;

	mock = open("/dev/ioasid-mock", O_RDWR | O_CLOEXEC);
	if (mock < 0 || !buf)
		return (struct stat3){ 0 };
	dev.ioasid_fd = ioasid_fd;
	if (ioctl(mock, IOASID_MOCK_DEVICE_ADD, &dev) || ioctl(ioasid_fd, IOASID_IOAS_ALLOC, &a))
		die("dirty set-up");
	s.id = a.out_ioas_id;
	for (int k = 0; k < 4; k++)
		if (do_map(&s, buf, len, IOVA_BASE + k * len))
			die("dirty map");
	struct ioasid_device_attach at = {
		.argsz = sizeof(at), .dev_id = dev.out_dev_id, .ioas_id = s.id,
	};
	struct ioasid_ioas_set_dirty_tracking on = {
		.argsz = sizeof(on), .flags = IOASID_DIRTY_TRACKING_ENABLE, .ioas_id = s.id,
	};
	struct ioasid_mock_dma_write w = {
		.argsz = sizeof(w), .mock_id = dev.out_mock_id, .iova = IOVA_BASE, .length = total,
	};
	struct ioasid_ioas_get_dirty_bitmap get = {
		.argsz = sizeof(get), .ioas_id = s.id, .iova = IOVA_BASE, .length = total,
		.page_size = 4096, .data = (uintptr_t)bits,
	};

	if (ioctl(ioasid_fd, IOASID_DEVICE_ATTACH, &at) ||
	    ioctl(ioasid_fd, IOASID_IOAS_SET_DIRTY_TRACKING, &on))
		die("dirty tracking");
	for (int i = 0; i < reps; i++) {
		double t;

		if (ioctl(mock, IOASID_MOCK_DMA_WRITE, &w))
			die("mock DMA write");
		t = now_us();
		if (ioctl(ioasid_fd, IOASID_IOAS_GET_DIRTY_BITMAP, &get))
			die("dirty bitmap");
		v[n++] = now_us() - t;
		if (bits[0] != ~0ull || bits[sizeof(bits) / sizeof(bits[0]) - 1] != ~0ull)
			die("dirty bitmap contents");
	}
	close(mock);
	ioctl(ioasid_fd, IOASID_IOAS_UNMAP,
	      &(struct ioasid_ioas_unmap){ .argsz = sizeof(struct ioasid_ioas_unmap),
					   .ioas_id = s.id, .length = UINT64_MAX });
	ioctl(ioasid_fd, IOASID_DESTROY,
	      &(struct ioasid_destroy){ .argsz = sizeof(struct ioasid_destroy), .id = s.id });
	return stats(v, n);
}

/*
 * Nesting without nesting hardware: a guest's 64 MiB of stage-1 mappings in 4 KiB PTEs
 * (an x86-64 4-level table, IOASID_FORMAT_VTD_S1), and 1,000 changes of single PTEs.
 * ioasid walks the table in the kernel (software nesting: BIND_TABLE, then one
 * CACHE_INVALIDATE per change, or one for all 1,000 requests as a guest's queued
 * invalidation descriptors arrive); iommufd and type1 run what a VMM does without it
 * (QEMU's vIOMMU shadowing): it walks the guest table itself and issues one MAP per PTE,
 * and one UNMAP and one MAP per changed PTE, however the guest batched its invalidations.
 */
#define NEST_LEN (64ull << 20)
#define NEST_PTES (NEST_LEN / SZ_4K)
#define NEST_IOVA (1ull << 30)		/* stage-1 IOVA of the guest's mappings */
#define NEST_GPA (1ull << 33)		/* guest RAM (the 64 MiB) in the parent */
#define NEST_TBL (1ull << 32)		/* the guest's table pages in the parent */
#define NEST_TBL_PAGES 64
#define NEST_CHANGES 1000
#define PTE_P_RW_US 7ull
#define PTE_ADDR 0x000ffffffffff000ull

static uint64_t *nest_tbl;	/* NEST_TBL_PAGES table pages: PML4, PDPT, PD, PTs */

static uint64_t *nest_entry(__u64 table_gpa, int idx)
{
	return &nest_tbl[(table_gpa - NEST_TBL) / 8 + idx];
}

static void nest_build(void)
{
	memset(nest_tbl, 0, NEST_TBL_PAGES * SZ_4K);
	*nest_entry(NEST_TBL, 0) = (NEST_TBL + SZ_4K) | PTE_P_RW_US;		/* PML4[0] */
	*nest_entry(NEST_TBL + SZ_4K, 1) = (NEST_TBL + 2 * SZ_4K) | PTE_P_RW_US;	/* PDPT[1] */
	for (int pd = 0; pd < NEST_PTES / 512; pd++)
		*nest_entry(NEST_TBL + 2 * SZ_4K, pd) = (NEST_TBL + (3 + pd) * SZ_4K) | PTE_P_RW_US;
	for (__u64 i = 0; i < NEST_PTES; i++)
		*nest_entry(NEST_TBL + (3 + i / 512) * SZ_4K, i % 512) =
			(NEST_GPA + i * SZ_4K) | PTE_P_RW_US;
}

/* The VMM's shadowing: walks the guest table and maps each present 4 KiB leaf. */
static void nest_user_walk(struct space *s, void *ram, __u64 table, int level, __u64 base)
{
	for (int i = 0; i < 512; i++) {
		uint64_t e = *nest_entry(table, i);
		__u64 iova = base + ((__u64)i << (12 + 9 * (level - 1)));

		if (!(e & 1))
			continue;
		if (level > 1) {
			nest_user_walk(s, ram, e & PTE_ADDR, level - 1, iova);
			continue;
		}
		if (do_map(s, (char *)ram + ((e & PTE_ADDR) - NEST_GPA), SZ_4K, iova))
			die("shadow map");
	}
}

/* Which PTE the k-th change rewrites, and where it points then. */
static __u64 nest_change(int k, __u64 *gpa)
{
	__u64 i = (k * 13ull) % NEST_PTES;

	*gpa = NEST_GPA + ((i + NEST_PTES / 2) % NEST_PTES) * SZ_4K;
	*nest_entry(NEST_TBL + (3 + i / 512) * SZ_4K, i % 512) = *gpa | PTE_P_RW_US;
	return NEST_IOVA + i * SZ_4K;
}

static int nest_bind(__u32 child, int bind)
{
	struct ioasid_bind_table a = {
		.argsz = sizeof(a), .version = IOASID_BIND_VERSION_1,
		.format = IOASID_FORMAT_VTD_S1, .child_id = child, .dev_id = ioasid_dev,
		.table.vtd = { .pgtbl_addr = NEST_TBL, .addr_width = 48 },
	};
	struct ioasid_unbind_table u = {
		.argsz = sizeof(u), .child_id = child, .dev_id = ioasid_dev,
	};

	return bind ? ioctl(ioasid_fd, IOASID_BIND_TABLE, &a) : ioctl(ioasid_fd, IOASID_UNBIND_TABLE, &u);
}

static int nest_invalidate(__u32 child, struct ioasid_inval_vtd *reqs, __u32 n)
{
	struct ioasid_cache_invalidate a = {
		.argsz = sizeof(a), .child_id = child, .entry_len = sizeof(*reqs),
		.entry_num = n, .entries = (uintptr_t)reqs,
	};

	return ioctl(ioasid_fd, IOASID_CACHE_INVALIDATE, &a) || a.entry_num != n;
}

/* 1,000 PTE changes: invalidated one by one, or (@batch) all at once. */
static double nest_changes(enum backend b, struct space *s, void *ram, __u32 child, int batch)
{
	static struct ioasid_inval_vtd reqs[NEST_CHANGES];
	double t = now_us();
	__u64 gpa;

	for (int k = 0; k < NEST_CHANGES; k++) {
		__u64 iova = nest_change(k, &gpa);

		reqs[k] = (struct ioasid_inval_vtd){ .addr = iova, .npages = 1 };
		if (b == IOASID) {
			if (!batch && nest_invalidate(child, &reqs[k], 1))
				die("nest invalidate");
		} else if (do_unmap(s, SZ_4K, iova) ||
			   do_map(s, (char *)ram + (gpa - NEST_GPA), SZ_4K, iova)) {
			die("shadow change");
		}
	}
	if (b == IOASID && batch && nest_invalidate(child, reqs, NEST_CHANGES))
		die("nest invalidate");
	return now_us() - t;
}

static void nest_cases(enum backend b, void *ram, int reps, struct stat3 *fill,
		       struct stat3 *changes, struct stat3 *batched)
{
	double f[MAX_REPS], c[MAX_REPS], cb[MAX_REPS], t;
	struct space s;
	__u32 child = 0;

	if (b == IOASID) {
		struct ioasid_nested_alloc na = {
			.argsz = sizeof(na), .format = IOASID_FORMAT_VTD_S1,
		};

		/* The parent holds guest RAM and the table pages; the device is bound below. */
		if (space_new(b, 0, &s) || do_map(&s, ram, NEST_LEN, NEST_GPA) ||
		    do_map(&s, nest_tbl, NEST_TBL_PAGES * SZ_4K, NEST_TBL))
			die("nest parent");
		na.parent_id = s.id;
		if (ioctl(ioasid_fd, IOASID_NESTED_ALLOC, &na)) {
			/* No software nesting for this device (or this kernel): no row. */
			do_unmap(&s, UINT64_MAX, 0);
			space_free(&s, 0);
			return;
		}
		child = na.out_child_id;
	} else if (space_new(b, 1, &s)) {
		die("nest space");
	}
	for (int i = 0; i < reps; i++) {
		nest_build();
		t = now_us();
		if (b == IOASID ? nest_bind(child, 1) : (nest_user_walk(&s, ram, NEST_TBL, 4, 0), 0))
			die("nest bind");
		f[i] = now_us() - t;
		c[i] = nest_changes(b, &s, ram, child, 0);
		/* Back to the first layout (untimed), then the same changes batched. */
		nest_build();
		if (b == IOASID) {
			struct ioasid_inval_vtd all = { .npages = UINT64_MAX };

			if (nest_invalidate(child, &all, 1))
				die("nest invalidate all");
		} else if (do_unmap(&s, NEST_LEN, NEST_IOVA) ||
			   (nest_user_walk(&s, ram, NEST_TBL, 4, 0), 0)) {
			die("shadow rebuild");
		}
		cb[i] = nest_changes(b, &s, ram, child, 1);
		if (b == IOASID ? nest_bind(child, 0) : do_unmap(&s, NEST_LEN, NEST_IOVA))
			die("nest unbind");
	}
	*fill = stats(f, reps);
	*changes = stats(c, reps);
	*batched = stats(cb, reps);
	if (b == IOASID) {
		ioctl(ioasid_fd, IOASID_DESTROY,
		      &(struct ioasid_destroy){ .argsz = sizeof(struct ioasid_destroy), .id = child });
		do_unmap(&s, UINT64_MAX, 0);
		space_free(&s, 0);
	} else {
		space_free(&s, 1);
	}
}

/*
 * For reference, on the mock IOMMU (which nests in hardware for its own format): what
 * makes 2 MiB of stage-1 4 KiB pages DMA-ready. Hardware nesting: bind the mock table,
 * then the IOMMU's walk of every page on first use (IOASID_MOCK_CHECK_MAP translates each
 * page once, filling the mock IOTLB). Software nesting: bind the same mappings as a VT-d
 * table, walked and mapped at once. Per 4 KiB page: the row's time / 512.
 */
static void nest_mock_case(void *ram, int reps, struct stat3 *hw, struct stat3 *sw)
{
	struct ioasid_mock_device_add dev = { .argsz = sizeof(dev) };
	struct space s = { .b = IOASID, .fd = ioasid_fd };
	struct ioasid_nested_alloc na = { .argsz = sizeof(na) };
	struct ioasid_bind_table b = { .argsz = sizeof(b), .version = IOASID_BIND_VERSION_1 };
	struct ioasid_unbind_table u = { .argsz = sizeof(u) };
	double h[MAX_REPS], w[MAX_REPS], t;
	uint64_t *mock_tbl = nest_tbl + 10 * 512;
	__u32 children[2];
	int mock;

	mock = open("/dev/ioasid-mock", O_RDWR | O_CLOEXEC);
	if (mock < 0)
		return;
	dev.ioasid_fd = ioasid_fd;
	if (ioctl(mock, IOASID_MOCK_DEVICE_ADD, &dev) || space_new(IOASID, 0, &s) ||
	    do_map(&s, ram, SZ_2M, NEST_GPA) ||
	    do_map(&s, nest_tbl, NEST_TBL_PAGES * SZ_4K, NEST_TBL))
		die("mock nest set-up");
	/* The same 512 mappings: IOVA page i -> guest page i, in both formats. */
	nest_build();
	for (int pd = 1; pd < NEST_PTES / 512; pd++)
		*nest_entry(NEST_TBL + 2 * SZ_4K, pd) = 0;
	for (int i = 0; i < 512; i++)
		mock_tbl[i] = (NEST_GPA + i * SZ_4K) | 3;
	na.parent_id = s.id;
	for (int f = 0; f < 2; f++) {
		na.format = f ? IOASID_FORMAT_VTD_S1 : IOASID_FORMAT_MOCK;
		if (ioctl(ioasid_fd, IOASID_NESTED_ALLOC, &na))
			die("mock nest child");
		children[f] = na.out_child_id;
	}
	struct ioasid_mock_check_map check = {
		.argsz = sizeof(check), .mock_id = dev.out_mock_id, .pasid = IOASID_MOCK_NO_PASID,
		.length = SZ_2M, .uptr = (uintptr_t)ram,
	};

	for (int i = 0; i < reps; i++) {
		for (int f = 0; f < 2; f++) {
			b.format = f ? IOASID_FORMAT_VTD_S1 : IOASID_FORMAT_MOCK;
			b.child_id = u.child_id = children[f];
			b.dev_id = u.dev_id = dev.out_dev_id;
			if (f) {
				b.table.vtd = (struct ioasid_table_vtd){
					.pgtbl_addr = NEST_TBL, .addr_width = 48,
				};
				check.iova = NEST_IOVA;
			} else {
				b.table.mock = (struct ioasid_table_mock){
					.table = NEST_TBL + 10 * SZ_4K,
				};
				check.iova = 0;
			}
			t = now_us();
			if (ioctl(ioasid_fd, IOASID_BIND_TABLE, &b) ||
			    (!f && ioctl(mock, IOASID_MOCK_CHECK_MAP, &check)))
				die("mock nest bind");
			(f ? w : h)[i] = now_us() - t;
			/* Untimed for software: the shadow maps what the table says. */
			if ((f && ioctl(mock, IOASID_MOCK_CHECK_MAP, &check)) ||
			    ioctl(ioasid_fd, IOASID_UNBIND_TABLE, &u))
				die("mock nest check");
		}
	}
	*hw = stats(h, reps);
	*sw = stats(w, reps);
	for (int f = 0; f < 2; f++)
		ioctl(ioasid_fd, IOASID_DESTROY,
		      &(struct ioasid_destroy){ .argsz = sizeof(struct ioasid_destroy),
						.id = children[f] });
	close(mock);
	do_unmap(&s, UINT64_MAX, 0);
	space_free(&s, 0);
}

/* A /proc/meminfo value in KiB, or -1. */
static long meminfo_kb(const char *key)
{
	char line[128];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");
	size_t n = strlen(key);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = atol(line + n + 1);
	fclose(f);
	return v;
}

/*
 * Kernel memory that mappings cost: slab objects and IOMMU page-table pages. Every slab
 * cache is shrunk first, so that empty slabs that earlier frees left behind (and
 * release later, lazily) count neither before nor after.
 */
static long kernel_kb(void)
{
	DIR *dir = opendir("/sys/kernel/slab");
	struct dirent *d;

	while (dir && (d = readdir(dir))) {
		char path[PATH_MAX];
		int fd;

		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", d->d_name);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "1", 1) != 1)
				die("slab shrink");
			close(fd);
		}
	}
	if (dir)
		closedir(dir);
	return meminfo_kb("Slab") + meminfo_kb("SecPageTables");
}

#define SCALE_MAPS 1000000
#define SCALE_MAPS_2M 32768
#define SPACES_REPS 3

struct scale_rows {
	struct row *first, *last, *unmap_all, *per_4k, *per_2m, *spaces;
};

/*
 * Cost at scale on backend @b (type1 stops at 65,535 mappings, so only ioasid and
 * iommufd): SCALE_MAPS mappings of 4 KiB in one address space with the device attached
 * (the pages of @small over and over), the time of the first and of the last 1,000 maps,
 * one unmap of them all, and the kernel memory each mapping costs; the same memory per
 * 2 MiB mapping of @huge; 256 address spaces, each with a mapping, made and destroyed
 * (three times: the median).
 */
static void scale_case(enum backend b, void *small, void *huge, struct scale_rows *r)
{
	double first[1], last[1], all[1], per4k[1], per2m[1], spaces[SPACES_REPS], t = 0;
	__u64 npages = (256 << 20) / 4096;
	struct space s, many[256];
	long kb;

	if (b == TYPE1)
		return;
	if (space_new(b, 1, &s))
		die("scale set-up");
	if (huge) {
		/*
		 * SCALE_MAPS_2M mappings (the 128 huge pages over and over, 64 GiB of IOVA):
		 * enough that the slabs they fill dwarf what earlier frees left partly empty.
		 * First, after a pause: deferred frees of the earlier rows are done by then.
		 */
		sleep(1);
		kb = kernel_kb();
		for (int i = 0; i < SCALE_MAPS_2M; i++)
			if (do_map(&s, (char *)huge + (i % 128) * (2ull << 20), 2 << 20,
				   IOVA_BASE + i * (2ull << 20)))
				die("scale map 2M");
		per2m[0] = (kernel_kb() - kb) * 1024.0 / SCALE_MAPS_2M;
		if (do_unmap(&s, SCALE_MAPS_2M * (2ull << 20), IOVA_BASE))
			die("scale unmap 2M");
		r->per_2m->r[b] = stats(per2m, 1);
	}
	kb = kernel_kb();
	for (long i = 0; i < SCALE_MAPS; i++) {
		if (i == 0 || i == SCALE_MAPS - 1000)
			t = now_us();
		if (do_map(&s, (char *)small + (i % npages) * 4096, 4096, IOVA_BASE + i * 4096ull))
			die("scale map");
		if (i == 999)
			first[0] = now_us() - t;
	}
	last[0] = now_us() - t;
	per4k[0] = (kernel_kb() - kb) * 1024.0 / SCALE_MAPS;
	t = now_us();
	if (do_unmap(&s, SCALE_MAPS * 4096ull, IOVA_BASE))
		die("scale unmap");
	all[0] = now_us() - t;
	space_free(&s, 1);
	/* After a pause (the deferred frees of the million mappings are done), 3 times. */
	sleep(1);
	for (int k = 0; k < SPACES_REPS; k++) {
		t = now_us();
		for (int i = 0; i < 256; i++)
			if (space_new(b, 0, &many[i]) || do_map(&many[i], small, 4096, IOVA_BASE))
				die("256 spaces");
		for (int i = 0; i < 256; i++)
			space_free(&many[i], 0);
		spaces[k] = now_us() - t;
	}
	r->first->r[b] = stats(first, 1);
	r->last->r[b] = stats(last, 1);
	r->unmap_all->r[b] = stats(all, 1);
	r->per_4k->r[b] = stats(per4k, 1);
	r->spaces->r[b] = stats(spaces, SPACES_REPS);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The edu devices on vfio-pci (the first edu is on ioasid-edu, the sample driver). */
static void find_edus(void)
{
	DIR *dir = opendir("/sys/bus/pci/devices");
	struct dirent *d;
	int n = 0;

	if (!dir)
		die("/sys/bus/pci/devices");
	while ((d = readdir(dir))) {
		char path[PATH_MAX], link[PATH_MAX] = "";
		ssize_t len;

		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", d->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = 0;
		if (!strstr(link, "/vfio-pci") || n == NR_EDUS)
			continue;
		snprintf(edus[n++], sizeof(edus[0]), "%s", d->d_name);
	}
	closedir(dir);
	if (n < NR_EDUS) {
		fprintf(stderr, "ioasid-bench: need %d edus on vfio-pci\n", NR_EDUS);
		exit(1);
	}
	qsort(edus, n, sizeof(edus[0]), cmp_name);
}

/* The VFIO cdev of PCI device @bdf. */
static void vfio_cdev(const char *bdf, char *path, size_t len)
{
	struct dirent *d;
	DIR *dir;

	snprintf(path, len, "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dir = opendir(path);
	if (!dir)
		die("vfio-dev");
	while ((d = readdir(dir)))
		if (!strncmp(d->d_name, "vfio", 4))
			snprintf(path, len, "/dev/vfio/devices/%.64s", d->d_name);
	closedir(dir);
}

static void setup_ioasid(void)
{
	char path[PATH_MAX];
	struct vfio_device_bind_ioasid bind = { .argsz = sizeof(bind) };

	ioasid_fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	if (ioasid_fd < 0)
		die("ioasid set-up");
	bind.ioasid_fd = ioasid_fd;
	for (int k = 0; k < MAX_THREADS; k++) {
		vfio_cdev(edu_ioasid(k), path, sizeof(path));
		ioasid_vfio_fds[k] = open(path, O_RDWR | O_CLOEXEC);
		if (ioasid_vfio_fds[k] < 0)
			die("ioasid set-up");
		if (ioctl(ioasid_vfio_fds[k], VFIO_DEVICE_BIND_IOASID, &bind))
			die("VFIO_DEVICE_BIND_IOASID");
		ioasid_devs[k] = bind.out_dev_id;
	}
	/* The device fds stay open: closing one would unbind its device. */
}

static void setup_type1(void)
{
	char path[PATH_MAX], link[PATH_MAX] = "";
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", edu_type1);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		die("iommu_group");
	link[n] = 0;
	snprintf(path, sizeof(path), "/dev/vfio/%s", strrchr(link, '/') + 1);
	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (container < 0 || group_fd < 0)
		die("VFIO container/group");
	if (ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &container) ||
	    ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		die("VFIO type1 set-up");
}

static void teardown_type1(void)
{
	ioctl(group_fd, VFIO_GROUP_UNSET_CONTAINER);
	close(group_fd);
	close(container);
}

static void setup_iommufd(void)
{
	char path[PATH_MAX];
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };

	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		die("iommufd set-up");
	bind.iommufd = iommufd;
	for (int k = 0; k < MAX_THREADS; k++) {
		vfio_cdev(edu_iommufd(k), path, sizeof(path));
		vfio_dev_fds[k] = open(path, O_RDWR | O_CLOEXEC);
		if (vfio_dev_fds[k] < 0)
			die("iommufd set-up");
		if (ioctl(vfio_dev_fds[k], VFIO_DEVICE_BIND_IOMMUFD, &bind))
			die("VFIO_DEVICE_BIND_IOMMUFD");
	}
}

static void print_stat(struct stat3 s)
{
	if (!s.valid)
		printf(" %26s", "n/a");
	else
		printf(" %10.0f (%6.0f-%6.0f)", s.med, s.min, s.max);
}

/* The faster peer's figure of @r (the lower time, or the higher rate), if any. */
static struct stat3 best_peer(const struct stat3 *r, int rate)
{
	struct stat3 best = { 0 };

	for (int b = IOMMUFD; b < NR_BACKENDS; b++)
		if (r[b].valid && (!best.valid || (rate ? r[b].med > best.med : r[b].med < best.med)))
			best = r[b];
	return best;
}

/* How much faster ioasid is than @peer in @r (> 1: faster), or 0 if either is missing. */
static double speedup(const struct stat3 *r, struct stat3 peer, int rate)
{
	if (!r[IOASID].valid || !peer.valid || r[IOASID].med <= 0 || peer.med <= 0)
		return 0;
	return rate ? r[IOASID].med / peer.med : peer.med / r[IOASID].med;
}

/* Each row's figures over the rounds: the median of the medians, the min, the max. */
static void combine_rounds(void)
{
	for (int i = 0; i < nrows; i++)
		for (int b = 0; b < NR_BACKENDS; b++) {
			struct stat3 c = { 0 };
			double med[ROUNDS];
			int n = 0;

			for (int k = 0; k < ROUNDS; k++) {
				struct stat3 x = rows[i].round[k][b];

				if (!x.valid)
					continue;
				med[n++] = x.med;
				c.min = n == 1 ? x.min : (x.min < c.min ? x.min : c.min);
				c.max = n == 1 ? x.max : (x.max > c.max ? x.max : c.max);
			}
			if (!n)
				continue;
			qsort(med, n, sizeof(med[0]), cmp);
			c.med = med[n / 2];
			c.valid = 1;
			rows[i].r[b] = c;
		}
}

/* The median of a row's paired "vs best" over the rounds, or 0 if it has none. */
static double paired_vs_best(const struct row *r, int rounds)
{
	double v[ROUNDS];
	int n = 0;

	for (int k = 0; k < rounds; k++)
		if (r->paired[k])
			v[n++] = r->paired[k];
	return n ? stats(v, n).med : 0;
}

static void report(int rounds)
{
	printf("\n%-30s %-6s %26s %26s %26s %7s %7s %11s\n", "case", "unit", "ioasid med (min-max)",
	       "iommufd", "vfio-type1", "ratio", "vs best", "rounds");
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		int rate = !strcmp(r->unit, "ops/s");
		double x, lo = 0, hi = 0;

		printf("%-30s %-6s", r->name, r->unit);
		for (int b = 0; b < NR_BACKENDS; b++)
			print_stat(r->r[b]);
		x = speedup(r->r, r->r[IOMMUFD], rate);
		x ? printf(" %7.2f", x) : printf(" %7s", "n/a");
		x = paired_vs_best(r, rounds);
		if (!x)
			x = speedup(r->r, best_peer(r->r, rate), rate);
		x ? printf(" %7.2f", x) : printf(" %7s", "n/a");
		/* The spread of "vs best" over the rounds, each round's own figures. */
		for (int k = 0; k < rounds; k++) {
			double y = r->paired[k];

			if (!y)
				y = speedup(r->round[k], best_peer(r->round[k], rate), rate);

			if (y && (!lo || y < lo))
				lo = y;
			if (y > hi)
				hi = y;
		}
		lo ? printf(" %5.2f-%-5.2f\n", lo, hi) : printf(" %11s\n", "n/a");
	}
	/* Throughput of n threads over one thread's (each thread does the same work). */
	if (one_thread_row >= 0) {
		printf("\nscaling (throughput vs 1 thread; the VM has 2 vCPUs)\n");
		for (int i = 0; i < nrows; i++) {
			int k = 0;

			if (!strstr(rows[i].name, " threads") || sscanf(rows[i].name, "%d", &k) != 1 ||
			    k < 2)
				continue;
			printf("%-30s", rows[i].name);
			for (int b = 0; b < NR_BACKENDS; b++) {
				if (rows[i].r[b].valid && rows[one_thread_row].r[b].valid)
					printf(" %12s %5.2fx", names[b],
					       k * rows[one_thread_row].r[b].med / rows[i].r[b].med);
			}
			printf("\n");
		}
		printf("\nvfio-type1 has no scale rows: it stops at 65,535 mappings (dma_entry_limit).\n");
	}
	printf("\nBENCH-CSV-BEGIN\ncase,unit");
	for (int b = 0; b < NR_BACKENDS; b++)
		printf(",%s_med,%s_min,%s_max", names[b], names[b], names[b]);
	printf("\n");
	for (int i = 0; i < nrows; i++) {
		printf("\"%s\",%s", rows[i].name, rows[i].unit);
		for (int b = 0; b < NR_BACKENDS; b++) {
			struct stat3 s = rows[i].r[b];

			if (s.valid)
				printf(",%.1f,%.1f,%.1f", s.med, s.min, s.max);
			else
				printf(",,,");
		}
		printf("\n");
	}
	printf("BENCH-CSV-END\n");
}

/*
 * The rows that need ioasid's mock IOMMU (the benchmark kernel has none: they run in a
 * second boot, of a kernel with it).
 */
static int mock_main(int reps)
{
	void *small, *huge;

	ioasid_fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	if (ioasid_fd < 0)
		die("/dev/ioasid");
	small = mmap(NULL, 256 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	huge = mmap(NULL, 256 << 20, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	nest_tbl = mmap(NULL, NEST_TBL_PAGES * SZ_4K, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (small == MAP_FAILED || nest_tbl == MAP_FAILED)
		die("memory");
	if (huge == MAP_FAILED)
		huge = NULL;
	memset(small, 1, 256 << 20);
	if (huge)
		memset(huge, 1, 256 << 20);
	row("PASID alloc+free", "ops/s", NULL)->r[IOASID] = pasid_case(reps, 0);
	row("PASID alloc+free, 100k live", "ops/s", NULL)->r[IOASID] =
		pasid_case(reps, LIVE_PASIDS);
	/* The mock and its device go with the file: its domains first. */
	row("dirty read+clear 1G (4K, mock)", "us", NULL)->r[IOASID] = dirty_case(small, 3);
	row("dirty read+clear 1G (2M, mock)", "us", NULL)->r[IOASID] = dirty_case(huge, 3);
	struct row *mock_hw = row("nest 2M on mock: hw bind+walk", "us", NULL);
	struct row *mock_sw = row("nest 2M on mock: sw bind", "us", NULL);

	nest_mock_case(small, reps, &mock_hw->r[IOASID], &mock_sw->r[IOASID]);
	report(0);
	return 0;
}

int main(int argc, char **argv)
{
	static const __u64 sizes[] = { 4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20 };
	static const char *const size_names[] = { "4K", "64K", "1M", "16M", "256M" };
	const int nsizes = sizeof(sizes) / sizeof(sizes[0]);
	int mock = argc > 1 && !strcmp(argv[1], "--mock");
	int reps = argc > 1 + mock ? atoi(argv[1 + mock]) : 5;
	void *small, *huge;
	struct row *map_rows[2][8], *unmap_rows[2][8], *cycle_rows[2][8];
	struct row *attach_row, *copy_row, *thread_rows[5];
	static const struct {
		int n, same;
		const char *name;
	} threads[] = {
		{ 1, 1, "1 thread" },
		{ 2, 1, "2 threads, same space" }, { 2, 0, "2 threads, 2 spaces" },
		{ 4, 1, "4 threads, same space" }, { 4, 0, "4 threads, 4 spaces" },
	};

	if (reps < 1 || reps > MAX_REPS)
		reps = 5;
	one_thread_row = -1;
	if (mock)
		return mock_main(reps);
	find_edus();
	setup_ioasid();
	setup_type1();
	setup_iommufd();
	/* 4 KiB pages: the VM runs the benchmark with transparent huge pages off. */
	small = mmap(NULL, 256 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	huge = mmap(NULL, 256 << 20, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	if (small == MAP_FAILED)
		die("memory");
	if (huge == MAP_FAILED)
		huge = NULL;
	nest_tbl = mmap(NULL, NEST_TBL_PAGES * SZ_4K, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (nest_tbl == MAP_FAILED)
		die("table memory");
	/* Touch it all: faulting is not what is measured. */
	memset(small, 1, 256 << 20);
	if (huge)
		memset(huge, 1, 256 << 20);

	for (int p = 0; p < 2; p++)
		for (int i = 0; i < nsizes; i++) {
			const char *pg = p ? "2M" : "4K";

			if (p && (sizes[i] < SZ_2M || !huge))
				continue;
			map_rows[p][i] = row("map %s", "us", size_names[i]);
			snprintf(map_rows[p][i]->name, 64, "map %s (%s pages)", size_names[i], pg);
			unmap_rows[p][i] = row("unmap", "us", NULL);
			snprintf(unmap_rows[p][i]->name, 64, "unmap %s (%s pages)", size_names[i], pg);
			cycle_rows[p][i] = row("map+unmap", "us", NULL);
			snprintf(cycle_rows[p][i]->name, 64, "map+unmap %s (%s pages)", size_names[i], pg);
		}
	attach_row = row("attach to 64M mapped", "us", NULL);
	one_thread_row = nrows;
	for (int k = 0; k < 5; k++)
		thread_rows[k] = row("%s", "us", threads[k].name);
	copy_row = row("IOAS copy 256M (4K pages)", "us", NULL);
	struct row *nest_fill = row("nest: bind+fill 64M (4K PTEs)", "us", NULL);
	struct row *nest_chg = row("nest: 1000 PTE chg, inval each", "us", NULL);
	struct row *nest_batch = row("nest: 1000 PTE chg, 1 inval call", "us", NULL);
	struct scale_rows scale = {
		.first = row("1M maps: first 1000", "us", NULL),
		.last = row("1M maps: last 1000", "us", NULL),
		.unmap_all = row("unmap of the 1M maps", "us", NULL),
		.per_4k = row("kernel mem / 4K mapping", "B", NULL),
		.per_2m = row("kernel mem / 2M mapping", "B", NULL),
		.spaces = row("256 spaces: alloc+map+free", "us", NULL),
	};

	/* Each round starts with another backend. */
	static const enum backend order[ROUNDS][NR_BACKENDS] = {
		{ IOASID, TYPE1, IOMMUFD }, { TYPE1, IOMMUFD, IOASID }, { IOMMUFD, IOASID, TYPE1 },
	};

	for (int k = 0; k < ROUNDS; k++) {
		cur_round = k;
		fprintf(stderr, "ioasid-bench: round %d: map cases\n", k + 1);
		for (int p = 0; p < 2; p++)
			for (int i = 0; i < nsizes; i++) {
				if (p && (sizes[i] < SZ_2M || !huge))
					continue;
				map_cases(p ? huge : small, sizes[i], sizes[i] > (16 << 20) ? 5 : reps,
					  map_rows[p][i], unmap_rows[p][i], cycle_rows[p][i]);
			}
		fprintf(stderr, "ioasid-bench: round %d: thread cases\n", k + 1);
		for (int t = 0; t < 5; t++)
			threads_case(thread_rows[t], small, threads[t].n, threads[t].same, reps);
		for (int o = 0; o < NR_BACKENDS; o++) {
			enum backend b = order[k][o];

			fprintf(stderr, "ioasid-bench: round %d: %s\n", k + 1, names[b]);
			attach_row->r[b] = attach_case(b, small, 64 << 20, reps);
			copy_row->r[b] = copy_case(b, small, 256 << 20, 3);
			nest_cases(b, small, reps, &nest_fill->r[b], &nest_chg->r[b],
				   &nest_batch->r[b]);
			scale_case(b, small, huge, &scale);
		}
		for (int i = 0; i < nrows; i++)
			for (int b = 0; b < NR_BACKENDS; b++) {
				rows[i].round[k][b] = rows[i].r[b];
				rows[i].r[b] = (struct stat3){ 0 };
			}
	}
	teardown_type1();
	combine_rounds();
	report(ROUNDS);
	return 0;
}
