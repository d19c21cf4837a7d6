// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency stress on the mock IOMMU, bounded in time (STRESS_SECONDS per scenario):
 * close against every ioctl; hot-unplug against attach, map, PASID attach and fault
 * delivery; attach/detach against map/unmap; PASID replace against faults. Each thread
 * checks that every error it gets is one the documentation allows for the race it is
 * in; the run's kernel log must stay free of KASAN, lockdep and WARN reports, and the
 * final state is checked against the mock page tables.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/ioasid.h>

#include "../../../../rust/ioasid/mock/ioasid_mock.h"
#include "ioasid_utils.h"
#include "kselftest_harness.h"

#define SZ_4K 0x1000ull
#define G 0x100000ull
#define LEN (16 * SZ_4K)
#define STRESS_SECONDS 3

struct shared {
	atomic_int fd;			/* the context's fd, replaced by the closer */
	int mock;
	atomic_uint dev_id, mock_id;	/* the current device, replaced by the unplugger */
	__u32 ioas, ioas2, ns, pasid, queue;
	int qfd;
	uint8_t *buf;
	atomic_int stop;
	atomic_int bad;			/* errors no race explains */
	atomic_long ops;
};

static int allowed(int err, const int *ok)
{
	for (; *ok; ok++)
		if (err == *ok)
			return 1;
	return 0;
}

/* Counts a result: success, or an error the race explains. */
static void account(struct shared *s, int ret, const int *ok, const char *what)
{
	atomic_fetch_add(&s->ops, 1);
	if (ret < 0 && !allowed(errno, ok)) {
		if (atomic_fetch_add(&s->bad, 1) < 5)
			fprintf(stderr, "# %s: unexpected %s\n", what, strerror(errno));
	}
}

static void run_for(struct shared *s, void *(*const fns[])(void *), int n)
{
	pthread_t t[8];

	atomic_store(&s->stop, 0);
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, fns[i], s);
	sleep(STRESS_SECONDS);
	atomic_store(&s->stop, 1);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

static int add_dev(struct shared *s, __u32 flags)
{
	struct ioasid_mock_device_add a = {
		.argsz = sizeof(a), .ioasid_fd = atomic_load(&s->fd), .flags = flags,
		.pasid_width = 20,
	};

	if (ioctl(s->mock, IOASID_MOCK_DEVICE_ADD, &a))
		return -1;
	atomic_store(&s->mock_id, a.out_mock_id);
	atomic_store(&s->dev_id, a.out_dev_id);
	return 0;
}

static int del_dev(struct shared *s)
{
	struct ioasid_mock_device_del a = { .argsz = sizeof(a), .mock_id = s->mock_id };

	return ioctl(s->mock, IOASID_MOCK_DEVICE_DEL, &a);
}

FIXTURE(stress) {
	struct shared s;
};

FIXTURE_SETUP(stress)
{
	struct shared *s = &self->s;
	struct ioasid_pasid_ns_alloc na = { .argsz = sizeof(na) };

	memset(s, 0, sizeof(*s));
	s->fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, s->fd);
	s->mock = open("/dev/ioasid-mock", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, s->mock);
	s->buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, s->buf);
	ASSERT_EQ(0, ioas_alloc(s->fd, &s->ioas));
	ASSERT_EQ(0, ioas_alloc(s->fd, &s->ioas2));
	ASSERT_EQ(0, ioctl(s->fd, IOASID_PASID_NS_ALLOC, &na));
	s->ns = na.out_ns_id;
}

FIXTURE_TEARDOWN(stress)
{
	close(self->s.mock);
	close(self->s.fd);
}

/* Any ioctl on whatever fd is current; the closer may have closed or replaced it. */
static void *random_ioctls(void *arg)
{
	static const int ok[] = { EBADF, ENOENT, EINVAL, EBUSY, EEXIST, 0 };
	struct shared *s = arg;
	unsigned int seed = (uintptr_t)&seed;

	while (!atomic_load(&s->stop)) {
		int fd = atomic_load(&s->fd);
		__u64 iova = G + (rand_r(&seed) % 8) * SZ_4K;
		__u32 id;

		switch (rand_r(&seed) % 5) {
		case 0:
			account(s, ioas_alloc(fd, &id), ok, "IOAS_ALLOC");
			break;
		case 1:
			account(s, map_at(fd, 1 + rand_r(&seed) % 4, s->buf, SZ_4K, iova), ok, "MAP");
			break;
		case 2:
			account(s, unmap(fd, 1 + rand_r(&seed) % 4, iova, SZ_4K, NULL), ok, "UNMAP");
			break;
		case 3:
			account(s, attach(fd, 1 + rand_r(&seed) % 8, 1 + rand_r(&seed) % 4), ok,
				"ATTACH");
			break;
		default:
			account(s, destroy(fd, 1 + rand_r(&seed) % 8), ok, "DESTROY");
			break;
		}
	}
	return NULL;
}

/*
 * Closes the context under the others and opens a new one, with a device (the old one is
 * unplugged first: a bound device holds its context) and a populated space.
 */
static void *closer(void *arg)
{
	static const int ok[] = { ENOENT, EBUSY, EEXIST, 0 };
	struct shared *s = arg;
	__u32 ioas = 0;

	while (!atomic_load(&s->stop)) {
		int fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
		int old;

		if (s->mock_id && del_dev(s))
			atomic_fetch_add(&s->bad, 1);
		old = atomic_exchange(&s->fd, fd);
		if (fd < 0 || ioas_alloc(fd, &ioas) || add_dev(s, 0)) {
			fprintf(stderr, "# closer: set-up failed: %s\n", strerror(errno));
			atomic_fetch_add(&s->bad, 1);
		}
		/* The others may destroy the space, map into it or attach the device first. */
		account(s, map_at(fd, ioas, s->buf, LEN, G), ok, "MAP");
		account(s, attach(fd, s->dev_id, ioas), ok, "ATTACH");
		usleep(2000);
		close(old);
	}
	return NULL;
}

TEST_F_TIMEOUT(stress, close_against_every_ioctl, 60)
{
	void *(*const fns[])(void *) = { random_ioctls, random_ioctls, closer };

	run_for(&self->s, fns, 3);
	EXPECT_EQ(0, self->s.bad);
	printf("# %ld ioctls\n", self->s.ops);
}

/* Attaches and detaches the current device (which the unplugger replaces). */
static void *attacher(void *arg)
{
	static const int ok[] = { ENOENT, EBUSY, EINVAL, 0 };
	struct shared *s = arg;

	while (!atomic_load(&s->stop)) {
		__u32 dev = atomic_load(&s->dev_id);

		account(s, attach(s->fd, dev, s->ioas), ok, "ATTACH");
		account(s, detach(s->fd, dev), ok, "DETACH");
	}
	return NULL;
}

static void *mapper(void *arg)
{
	static const int ok[] = { EEXIST, ENOENT, 0 };
	struct shared *s = arg;
	unsigned int seed = (uintptr_t)&seed;

	while (!atomic_load(&s->stop)) {
		__u64 iova = G + 4 * LEN + (rand_r(&seed) % 16) * SZ_4K;

		account(s, map_at(s->fd, s->ioas, s->buf, SZ_4K, iova), ok, "MAP");
		account(s, unmap(s->fd, s->ioas, iova, SZ_4K, NULL), ok, "UNMAP");
	}
	return NULL;
}

static void *pasid_attacher(void *arg)
{
	static const int ok[] = { ENOENT, EBUSY, EINVAL, 0 };
	struct shared *s = arg;

	while (!atomic_load(&s->stop)) {
		struct ioasid_pasid_alloc pa = {
			.argsz = sizeof(pa), .ns_id = s->ns, .dev_id = atomic_load(&s->dev_id),
		};
		struct ioasid_device_pasid_attach at = {
			.argsz = sizeof(at), .dev_id = pa.dev_id, .ns_id = s->ns,
			.ioas_id = s->ioas,
		};
		struct ioasid_pasid_free pf = { .argsz = sizeof(pf), .ns_id = s->ns };
		int ret = ioctl(s->fd, IOASID_PASID_ALLOC, &pa);

		account(s, ret, ok, "PASID_ALLOC");
		if (ret)
			continue;
		at.pasid = pa.out_pasid;
		account(s, ioctl(s->fd, IOASID_DEVICE_PASID_ATTACH, &at), ok, "PASID_ATTACH");
		pf.pasid = pa.out_pasid;
		/* Attached, it cannot be freed (EBUSY) until the unplug detaches it. */
		while (ioctl(s->fd, IOASID_PASID_FREE, &pf) && errno == EBUSY &&
		       !atomic_load(&s->stop))
			usleep(100);
	}
	return NULL;
}

static void *unplugger(void *arg)
{
	struct shared *s = arg;

	while (!atomic_load(&s->stop)) {
		usleep(3000);
		if (del_dev(s) || add_dev(s, IOASID_MOCK_DEVICE_INTENT_PASID))
			atomic_fetch_add(&s->bad, 1);
	}
	return NULL;
}

TEST_F_TIMEOUT(stress, unplug_against_attach_map_and_pasid_attach, 60)
{
	void *(*const fns[])(void *) = { attacher, mapper, pasid_attacher, unplugger };

	ASSERT_EQ(0, add_dev(&self->s, IOASID_MOCK_DEVICE_INTENT_PASID));
	ASSERT_EQ(0, map_at(self->s.fd, self->s.ioas, self->s.buf, LEN, G));
	run_for(&self->s, fns, 4);
	EXPECT_EQ(0, self->s.bad);
	printf("# %ld ioctls\n", self->s.ops);
}

/* The device's view of the mapping at G, in a stable state. */
static int check_g(struct shared *s)
{
	struct ioasid_mock_check_map a = {
		.argsz = sizeof(a), .flags = IOASID_MOCK_CHECK_READ | IOASID_MOCK_CHECK_WRITE,
		.mock_id = s->mock_id, .pasid = IOASID_MOCK_NO_PASID, .iova = G,
		.length = LEN, .uptr = (uintptr_t)s->buf,
	};

	return ioctl(s->mock, IOASID_MOCK_CHECK_MAP, &a);
}

TEST_F_TIMEOUT(stress, attach_detach_against_map_unmap, 60)
{
	void *(*const fns[])(void *) = { attacher, mapper, mapper };

	ASSERT_EQ(0, add_dev(&self->s, 0));
	ASSERT_EQ(0, map_at(self->s.fd, self->s.ioas, self->s.buf, LEN, G));
	run_for(&self->s, fns, 3);
	EXPECT_EQ(0, self->s.bad);
	/* Attached at the end, the device sees exactly what is mapped. */
	ASSERT_EQ(0, attach(self->s.fd, self->s.dev_id, self->s.ioas));
	EXPECT_EQ(0, check_g(&self->s));
	printf("# %ld ioctls\n", self->s.ops);
}

/* Moves the PASID between two routed address spaces, back and forth. */
static void *replacer(void *arg)
{
	static const int ok[] = { 0 };
	struct shared *s = arg;
	int flip = 0;

	while (!atomic_load(&s->stop)) {
		struct ioasid_device_pasid_attach at = {
			.argsz = sizeof(at), .flags = IOASID_PASID_ATTACH_REPLACE,
			.dev_id = s->dev_id, .ns_id = s->ns, .pasid = s->pasid,
			.ioas_id = (flip ^= 1) ? s->ioas2 : s->ioas,
		};

		account(s, ioctl(s->fd, IOASID_DEVICE_PASID_ATTACH, &at), ok, "PASID replace");
	}
	return NULL;
}

static void *faulter(void *arg)
{
	static const int ok[] = { 0 };
	struct shared *s = arg;
	unsigned int grp = 0;

	while (!atomic_load(&s->stop)) {
		struct ioasid_mock_page_request pr = {
			.argsz = sizeof(pr), .mock_id = s->mock_id, .pasid = s->pasid,
			.flags = IOASID_MOCK_PAGE_REQUEST_LAST_PAGE |
				 IOASID_MOCK_PAGE_REQUEST_PASID_VALID,
			.perm = IOASID_MOCK_PERM_READ, .grpid = grp++ % 512, .addr = 0x7000,
		};

		account(s, ioctl(s->mock, IOASID_MOCK_PAGE_REQUEST, &pr), ok, "PAGE_REQUEST");
	}
	return NULL;
}

/* Answers what it reads; answers of groups aborted by a replace are ENOENT. */
static void *answerer(void *arg)
{
	static const int ok[] = { ENOENT, 0 };
	struct shared *s = arg;
	struct pollfd p = { .fd = s->qfd, .events = POLLIN };

	while (!atomic_load(&s->stop)) {
		struct ioasid_fault f;
		struct ioasid_fault_response r = { .code = IOASID_FAULT_RESPONSE_SUCCESS };

		if (poll(&p, 1, 10) <= 0)
			continue;
		if (read(s->qfd, &f, sizeof(f)) != sizeof(f))
			continue;
		r.cookie = f.cookie;
		account(s, write(s->qfd, &r, sizeof(r)) == sizeof(r) ? 0 : -1, ok, "respond");
	}
	return NULL;
}

TEST_F_TIMEOUT(stress, pasid_replace_against_faults, 60)
{
	struct shared *s = &self->s;
	void *(*const fns[])(void *) = { replacer, faulter, answerer };
	struct ioasid_fault_queue_alloc qa = { .argsz = sizeof(qa), .flags = 0 };
	struct ioasid_ioas_alloc ia = { .argsz = sizeof(ia), .flags = IOASID_IOAS_ALLOC_FAULT_QUEUE };
	struct ioasid_pasid_alloc pa = { .argsz = sizeof(pa), .ns_id = s->ns };
	struct ioasid_device_pasid_attach at = { .argsz = sizeof(at), .ns_id = s->ns };
	struct ioasid_fault_queue_status st = { .argsz = sizeof(st) };

	ASSERT_EQ(0, ioctl(s->fd, IOASID_FAULT_QUEUE_ALLOC, &qa));
	s->qfd = qa.out_fd;
	s->queue = qa.out_queue_id;
	ia.fault_queue_id = s->queue;
	ASSERT_EQ(0, ioctl(s->fd, IOASID_IOAS_ALLOC, &ia));
	s->ioas = ia.out_ioas_id;
	ASSERT_EQ(0, ioctl(s->fd, IOASID_IOAS_ALLOC, &ia));
	s->ioas2 = ia.out_ioas_id;
	ASSERT_EQ(0, add_dev(s, IOASID_MOCK_DEVICE_PRI | IOASID_MOCK_DEVICE_INTENT_PASID));
	pa.dev_id = s->dev_id;
	ASSERT_EQ(0, ioctl(s->fd, IOASID_PASID_ALLOC, &pa));
	s->pasid = pa.out_pasid;
	at.dev_id = s->dev_id;
	at.pasid = s->pasid;
	at.ioas_id = s->ioas;
	ASSERT_EQ(0, ioctl(s->fd, IOASID_DEVICE_PASID_ATTACH, &at));
	run_for(s, fns, 3);
	EXPECT_EQ(0, s->bad);
	/* Nothing is left waiting that no attachment owns: detach answers the rest. */
	ASSERT_EQ(0, del_dev(s));
	st.queue_id = s->queue;
	ASSERT_EQ(0, ioctl(s->fd, IOASID_FAULT_QUEUE_STATUS, &st));
	EXPECT_EQ(0, st.out_pending);
	printf("# %ld ioctls\n", s->ops);
	close(s->qfd);
}

TEST_HARNESS_MAIN
