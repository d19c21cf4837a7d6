// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of PASID namespaces on the mock IOMMU: allocation from the global PASID
 * space, vPASID -> pPASID, PASID-tagged translation per PASID checked in the mock page
 * table, attach/replace/detach, the per-user quota, bad input, release on close, and
 * several threads at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/ioasid.h>

#include "../../../../rust/ioasid/mock/ioasid_mock.h"
#include "ioasid_utils.h"
#include "kselftest_harness.h"

#define SZ_4K 0x1000ull
#define A 0x100000ull
#define LEN (16 * SZ_4K)

/* A PASID-capable mock device (PASID intent) of @width bits bound to @fd. */
static int mock_dev(int mock, int fd, __u32 width, __u32 *mock_id, __u32 *dev_id)
{
	struct ioasid_mock_device_add a = {
		.argsz = sizeof(a), .flags = IOASID_MOCK_DEVICE_INTENT_PASID,
		.ioasid_fd = fd, .pasid_width = width,
	};
	int ret = ioctl(mock, IOASID_MOCK_DEVICE_ADD, &a);

	if (!ret) {
		if (mock_id)
			*mock_id = a.out_mock_id;
		if (dev_id)
			*dev_id = a.out_dev_id;
	}
	return ret;
}

static int ns_alloc(int fd, __u32 *ns)
{
	struct ioasid_pasid_ns_alloc a = { .argsz = sizeof(a) };
	int ret = ioctl(fd, IOASID_PASID_NS_ALLOC, &a);

	if (!ret)
		*ns = a.out_ns_id;
	return ret;
}

/* Allocates a PASID; @vpasid 0: named by its own value. */
static int pasid_alloc(int fd, __u32 ns, __u32 dev, __u32 vpasid, __u32 *pasid)
{
	struct ioasid_pasid_alloc a = {
		.argsz = sizeof(a), .flags = vpasid ? IOASID_PASID_ALLOC_VPASID : 0,
		.ns_id = ns, .dev_id = dev, .vpasid = vpasid,
	};
	int ret = ioctl(fd, IOASID_PASID_ALLOC, &a);

	if (!ret && pasid)
		*pasid = a.out_pasid;
	return ret;
}

static int pasid_free(int fd, __u32 ns, __u32 pasid)
{
	struct ioasid_pasid_free a = { .argsz = sizeof(a), .ns_id = ns, .pasid = pasid };

	return ioctl(fd, IOASID_PASID_FREE, &a);
}

static int pasid_attach(int fd, __u32 dev, __u32 ns, __u32 pasid, __u32 ioas, __u32 flags)
{
	struct ioasid_device_pasid_attach a = {
		.argsz = sizeof(a), .flags = flags, .dev_id = dev, .ns_id = ns,
		.pasid = pasid, .ioas_id = ioas,
	};

	return ioctl(fd, IOASID_DEVICE_PASID_ATTACH, &a);
}

static int pasid_detach(int fd, __u32 dev, __u32 ns, __u32 pasid)
{
	struct ioasid_device_pasid_detach a = {
		.argsz = sizeof(a), .dev_id = dev, .ns_id = ns, .pasid = pasid,
	};

	return ioctl(fd, IOASID_DEVICE_PASID_DETACH, &a);
}

/* The physical PASID of @vpasid, through the in-kernel ioasid_pasid_translate(). */
static int translate(int mock, int fd, __u32 ns, __u32 vpasid, __u32 *ppasid)
{
	struct ioasid_mock_pasid_translate a = {
		.argsz = sizeof(a), .ioasid_fd = fd, .ns_id = ns, .vpasid = vpasid,
	};
	int ret = ioctl(mock, IOASID_MOCK_PASID_TRANSLATE, &a);

	if (!ret)
		*ppasid = a.out_ppasid;
	return ret;
}

/* Checks that PASID @ppasid of the device maps [iova, iova + len) to @va (or nothing). */
static int check_pasid_map(int mock, __u32 mock_id, __u32 ppasid, __u64 iova, __u64 len,
			   void *va)
{
	struct ioasid_mock_check_map a = {
		.argsz = sizeof(a), .mock_id = mock_id, .pasid = ppasid, .iova = iova,
		.length = len, .uptr = (uintptr_t)va,
		.flags = va ? IOASID_MOCK_CHECK_READ | IOASID_MOCK_CHECK_WRITE
			    : IOASID_MOCK_CHECK_UNMAPPED,
	};

	return ioctl(mock, IOASID_MOCK_CHECK_MAP, &a);
}

/* The PASID quota of this boot (ioasid.pasid_quota=, default 1024). */
static long pasid_quota(void)
{
	char line[4096] = "";
	long quota = 1024;
	FILE *f = fopen("/proc/cmdline", "r");
	char *p;

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		fclose(f);
	}
	p = strstr(line, "ioasid.pasid_quota=");
	if (p)
		quota = strtol(p + strlen("ioasid.pasid_quota="), NULL, 0);
	return quota;
}

FIXTURE(pasid) {
	int fd, mock;
	__u32 mock_id, dev, ns, ioas, ioas2;
	uint8_t *buf, *buf2;
};

FIXTURE_SETUP(pasid)
{
	self->fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	self->mock = open("/dev/ioasid-mock", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->mock);
	ASSERT_EQ(0, mock_dev(self->mock, self->fd, 20, &self->mock_id, &self->dev));
	ASSERT_EQ(0, ns_alloc(self->fd, &self->ns));
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas));
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas2));
	self->buf = mmap(NULL, 2 * LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	self->buf2 = self->buf + LEN;
	/* The same IOVA maps different memory in the two spaces. */
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, LEN, A));
	ASSERT_EQ(0, map_at(self->fd, self->ioas2, self->buf2, LEN, A));
}

FIXTURE_TEARDOWN(pasid)
{
	close(self->mock);
	close(self->fd);
}

TEST_F(pasid, device_reports_its_width_and_intent)
{
	struct ioasid_iova_range resv[8];
	struct ioasid_device_info info = {
		.argsz = sizeof(info), .dev_id = self->dev, .num_reserved = 8,
		.reserved_iovas = (uintptr_t)resv,
	};

	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(IOASID_DEVICE_INTENT_PASID, info.out_intent);
	EXPECT_EQ(20, info.out_pasid_width);
}

TEST_F(pasid, allocations_are_global_and_unique)
{
	__u32 mine[16], theirs[16], mock2, dev2, ns2, p;
	int fd2 = open("/dev/ioasid", O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, mock_dev(self->mock, fd2, 20, &mock2, &dev2));
	ASSERT_EQ(0, ns_alloc(fd2, &ns2));
	for (int i = 0; i < 16; i++) {
		ASSERT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 0, &mine[i]));
		ASSERT_EQ(0, pasid_alloc(fd2, ns2, dev2, 0, &theirs[i]));
		/* Named by itself: the in-kernel translation is the identity. */
		ASSERT_EQ(0, translate(self->mock, self->fd, self->ns, mine[i], &p));
		EXPECT_EQ(mine[i], p);
	}
	for (int i = 0; i < 16; i++) {
		EXPECT_NE(0, mine[i]);
		EXPECT_GT(1u << 20, mine[i]);
		for (int j = 0; j < 16; j++) {
			EXPECT_NE(mine[i], theirs[j]);
			if (i != j)
				EXPECT_NE(mine[i], mine[j]);
		}
	}
	/* A PASID of one namespace is not in another, even of the same context. */
	ASSERT_EQ(0, ns_alloc(self->fd, &ns2));
	EXPECT_EQ(-1, pasid_free(self->fd, ns2, mine[0]));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, translate(self->mock, self->fd, ns2, mine[0], &p));
	EXPECT_EQ(ENOENT, errno);
	close(fd2);
}

TEST_F(pasid, vpasids_map_to_kernel_pasids)
{
	__u32 v, p, p2;

	ASSERT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 100, &v));
	EXPECT_EQ(100, v);
	ASSERT_EQ(0, translate(self->mock, self->fd, self->ns, 100, &p));
	EXPECT_NE(0, p);
	/* A name is unique in its namespace; any number may be used in another. */
	EXPECT_EQ(-1, pasid_alloc(self->fd, self->ns, self->dev, 100, NULL));
	EXPECT_EQ(EEXIST, errno);
	EXPECT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 101, NULL));
	ASSERT_EQ(0, translate(self->mock, self->fd, self->ns, 101, &p2));
	EXPECT_NE(p, p2);
	EXPECT_EQ(-1, pasid_alloc(self->fd, self->ns, self->dev, 1u << 20, NULL));
	EXPECT_EQ(EINVAL, errno);
	/* PASID DMA uses the physical PASID: the device's translation is under p. */
	ASSERT_EQ(0, pasid_attach(self->fd, self->dev, self->ns, 100, self->ioas, 0));
	EXPECT_EQ(0, check_pasid_map(self->mock, self->mock_id, p, A, LEN, self->buf));
	EXPECT_EQ(-1, check_pasid_map(self->mock, self->mock_id, p2, A, LEN, self->buf));
	EXPECT_EQ(ENODEV, errno);
	/* Translation ends with the PASID. */
	EXPECT_EQ(-1, pasid_free(self->fd, self->ns, 100));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, pasid_detach(self->fd, self->dev, self->ns, 100));
	ASSERT_EQ(0, pasid_free(self->fd, self->ns, 100));
	EXPECT_EQ(-1, translate(self->mock, self->fd, self->ns, 100, &p));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(pasid, each_pasid_has_its_own_translation)
{
	__u32 v1, v2, p1, p2;
	__u64 iova = A + LEN;

	ASSERT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 0, &v1));
	ASSERT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 0, &v2));
	ASSERT_EQ(0, translate(self->mock, self->fd, self->ns, v1, &p1));
	ASSERT_EQ(0, translate(self->mock, self->fd, self->ns, v2, &p2));
	ASSERT_EQ(0, pasid_attach(self->fd, self->dev, self->ns, v1, self->ioas, 0));
	ASSERT_EQ(0, pasid_attach(self->fd, self->dev, self->ns, v2, self->ioas2, 0));
	/* Same IOVA, different memory per PASID, every page checked. */
	EXPECT_EQ(0, check_pasid_map(self->mock, self->mock_id, p1, A, LEN, self->buf));
	EXPECT_EQ(0, check_pasid_map(self->mock, self->mock_id, p2, A, LEN, self->buf2));
	EXPECT_EQ(-1, check_pasid_map(self->mock, self->mock_id, p1, A, LEN, self->buf2));
	EXPECT_EQ(ENXIO, errno);
	/* The requester-ID DMA is attached to nothing. */
	EXPECT_EQ(-1, check_pasid_map(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, A, LEN,
				      NULL));
	EXPECT_EQ(ENODEV, errno);
	/* Later maps and unmaps reach the PASID's domain. */
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf2, LEN, iova));
	EXPECT_EQ(0, check_pasid_map(self->mock, self->mock_id, p1, iova, LEN, self->buf2));
	EXPECT_EQ(0, check_pasid_map(self->mock, self->mock_id, p2, iova, LEN, NULL));
	ASSERT_EQ(0, unmap(self->fd, self->ioas, iova, LEN, NULL));
	EXPECT_EQ(0, check_pasid_map(self->mock, self->mock_id, p1, iova, LEN, NULL));
	/* RID and PASID attachments are independent. */
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas2));
	EXPECT_EQ(0, check_pasid_map(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, A, LEN,
				     self->buf2));
	ASSERT_EQ(0, detach(self->fd, self->dev));
	EXPECT_EQ(0, check_pasid_map(self->mock, self->mock_id, p1, A, LEN, self->buf));
}

TEST_F(pasid, replace_and_detach)
{
	__u32 v, p;

	ASSERT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 0, &v));
	ASSERT_EQ(0, translate(self->mock, self->fd, self->ns, v, &p));
	ASSERT_EQ(0, pasid_attach(self->fd, self->dev, self->ns, v, self->ioas, 0));
	EXPECT_EQ(-1, pasid_attach(self->fd, self->dev, self->ns, v, self->ioas2, 0));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(0, check_pasid_map(self->mock, self->mock_id, p, A, LEN, self->buf));
	ASSERT_EQ(0, pasid_attach(self->fd, self->dev, self->ns, v, self->ioas2,
				  IOASID_PASID_ATTACH_REPLACE));
	EXPECT_EQ(0, check_pasid_map(self->mock, self->mock_id, p, A, LEN, self->buf2));
	/* Replacing with the same space changes nothing. */
	EXPECT_EQ(0, pasid_attach(self->fd, self->dev, self->ns, v, self->ioas2,
				  IOASID_PASID_ATTACH_REPLACE));
	/* The first space is free of it; the second is in use. */
	EXPECT_EQ(0, destroy(self->fd, self->ioas));
	EXPECT_EQ(-1, destroy(self->fd, self->ioas2));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, destroy(self->fd, self->ns));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, pasid_detach(self->fd, self->dev, self->ns, v));
	EXPECT_EQ(-1, check_pasid_map(self->mock, self->mock_id, p, A, LEN, NULL));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-1, pasid_detach(self->fd, self->dev, self->ns, v));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, destroy(self->fd, self->ioas2));
	/* Destroying the namespace frees its PASIDs. */
	EXPECT_EQ(0, destroy(self->fd, self->ns));
	EXPECT_EQ(-1, translate(self->mock, self->fd, self->ns, v, &p));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(pasid, bad_input)
{
	__u32 plain_mock, plain, narrow_mock, narrow, v, big = 0;
	__u32 held[24];
	struct ioasid_pasid_alloc bad = {
		.argsz = sizeof(bad), .ns_id = self->ns, .dev_id = self->dev, .vpasid = 5,
	};

	/* A device without PASID capability. */
	ASSERT_EQ(0, mock_dev(self->mock, self->fd, 0, &plain_mock, &plain));
	EXPECT_EQ(-1, pasid_alloc(self->fd, self->ns, plain, 0, NULL));
	EXPECT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 0, &v));
	EXPECT_EQ(-1, pasid_attach(self->fd, plain, self->ns, v, self->ioas, 0));
	EXPECT_EQ(EOPNOTSUPP, errno);
	/* A PASID beyond a device's width: 4 bits hold PASIDs 1..15. */
	ASSERT_EQ(0, mock_dev(self->mock, self->fd, 4, &narrow_mock, &narrow));
	for (int i = 0; i < 24; i++) {
		ASSERT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 0, &held[i]));
		if (held[i] > big)
			big = held[i];
	}
	ASSERT_LE(16, big);
	EXPECT_EQ(-1, pasid_attach(self->fd, narrow, self->ns, big, self->ioas, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, pasid_attach(self->fd, self->dev, self->ns, big, self->ioas, 0));
	/* Unknown, wrong-type and foreign IDs. */
	EXPECT_EQ(-1, pasid_attach(self->fd, self->dev, self->ns, 0xfffff, self->ioas, 0));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, pasid_alloc(self->fd, 0xdead, self->dev, 0, NULL));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, pasid_alloc(self->fd, self->ioas, self->dev, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pasid_alloc(self->fd, self->ns, self->ioas, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pasid_attach(self->fd, self->dev, self->ns, v, self->ns, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pasid_detach(self->fd, self->dev, self->ioas, v));
	EXPECT_EQ(EINVAL, errno);
	/* Flags, a vPASID without its flag, PASID 0. */
	EXPECT_EQ(-1, pasid_attach(self->fd, self->dev, self->ns, v, self->ioas, 1 << 5));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_PASID_ALLOC, &bad));
	EXPECT_EQ(EINVAL, errno);
	bad.flags = 1 << 3;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_PASID_ALLOC, &bad));
	EXPECT_EQ(EOPNOTSUPP, errno);
	bad.flags = IOASID_PASID_ALLOC_VPASID;
	bad.vpasid = 0;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_PASID_ALLOC, &bad));
	EXPECT_EQ(EINVAL, errno);
	/* Free: attached, double, unknown. */
	EXPECT_EQ(-1, pasid_free(self->fd, self->ns, big));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(0, pasid_free(self->fd, self->ns, v));
	EXPECT_EQ(-1, pasid_free(self->fd, self->ns, v));
	EXPECT_EQ(ENOENT, errno);
	/* The space of a narrow device runs out while wider ones still have room. */
	for (int i = 0; i < 16; i++)
		if (pasid_alloc(self->fd, self->ns, narrow, 0, NULL))
			break;
	EXPECT_EQ(-1, pasid_alloc(self->fd, self->ns, narrow, 0, NULL));
	EXPECT_EQ(ENOSPC, errno);
	EXPECT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 0, NULL));
}

TEST_F(pasid, closing_with_pasids_attached_releases_everything)
{
	__u32 v;

	/* Closed by the teardown in this state; kmemleak and the quota test see the rest. */
	for (int i = 0; i < 8; i++) {
		ASSERT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 0, &v));
		ASSERT_EQ(0, pasid_attach(self->fd, self->dev, self->ns, v,
					  i % 2 ? self->ioas : self->ioas2, 0));
	}
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
}

TEST_F(pasid, unplug_with_pasids_attached)
{
	__u32 v;
	struct ioasid_mock_device_del del = { .argsz = sizeof(del), .mock_id = self->mock_id };

	ASSERT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 0, &v));
	ASSERT_EQ(0, pasid_attach(self->fd, self->dev, self->ns, v, self->ioas, 0));
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_DEL, &del));
	/* The PASID is no longer attached: it can be freed, and the space destroyed. */
	EXPECT_EQ(0, destroy(self->fd, self->ioas));
	EXPECT_EQ(0, pasid_free(self->fd, self->ns, v));
}

TEST_F(pasid, per_user_quota)
{
	long quota = pasid_quota();
	__u32 ns2, mock2, dev2, v;
	int fd2 = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	long n = 0;

	ASSERT_LE(0, fd2);
	ASSERT_LT(0, quota);
	ASSERT_GE(4096, quota);
	ASSERT_EQ(0, mock_dev(self->mock, fd2, 20, &mock2, &dev2));
	ASSERT_EQ(0, ns_alloc(fd2, &ns2));
	/* Half in each of two contexts: the quota is the user's, not the context's. */
	for (; n < quota; n++) {
		if (n % 2) {
			ASSERT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 0, &v));
		} else {
			ASSERT_EQ(0, pasid_alloc(fd2, ns2, dev2, 0, &v));
		}
	}
	EXPECT_EQ(-1, pasid_alloc(self->fd, self->ns, self->dev, 0, NULL));
	EXPECT_EQ(EDQUOT, errno);
	EXPECT_EQ(-1, pasid_alloc(fd2, ns2, dev2, 0xffff0, NULL));
	EXPECT_EQ(EDQUOT, errno);
	/* A free makes room for one. */
	ASSERT_EQ(0, pasid_free(self->fd, self->ns, v));
	EXPECT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 0, NULL));
	EXPECT_EQ(-1, pasid_alloc(self->fd, self->ns, self->dev, 0, NULL));
	EXPECT_EQ(EDQUOT, errno);
	/* Closing a context (its device unplugged with the mock file) returns its PASIDs. */
	close(self->mock);
	self->mock = open("/dev/ioasid-mock", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->mock);
	close(fd2);
	/* Destroying a namespace returns the rest. */
	ASSERT_EQ(0, destroy(self->fd, self->ns));
	ASSERT_EQ(0, mock_dev(self->mock, self->fd, 20, &mock2, &dev2));
	ASSERT_EQ(0, ns_alloc(self->fd, &ns2));
	for (n = 0; n < quota; n++)
		if (pasid_alloc(self->fd, ns2, dev2, 0, NULL))
			break;
	EXPECT_EQ(quota, n);
}

struct worker {
	int fd;
	__u32 dev, ns, ioas, ioas2, loops, failures;
};

static void *churn(void *arg)
{
	struct worker *w = arg;
	__u32 v;

	for (__u32 i = 0; i < w->loops; i++) {
		if (pasid_alloc(w->fd, w->ns, w->dev, 0, &v)) {
			w->failures++;
			continue;
		}
		if (pasid_attach(w->fd, w->dev, w->ns, v, w->ioas, 0) ||
		    pasid_attach(w->fd, w->dev, w->ns, v, w->ioas2, IOASID_PASID_ATTACH_REPLACE) ||
		    pasid_detach(w->fd, w->dev, w->ns, v))
			w->failures++;
		if (pasid_free(w->fd, w->ns, v))
			w->failures++;
	}
	return NULL;
}

TEST_F(pasid, threads_allocate_attach_and_free_at_once)
{
	struct worker w[4];
	pthread_t t[4];
	__u32 mock2, dev2;

	/* Two devices, one namespace, two spaces, four threads. */
	ASSERT_EQ(0, mock_dev(self->mock, self->fd, 20, &mock2, &dev2));
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){
			.fd = self->fd, .dev = i % 2 ? dev2 : self->dev, .ns = self->ns,
			.ioas = i % 2 ? self->ioas : self->ioas2,
			.ioas2 = i % 2 ? self->ioas2 : self->ioas, .loops = 100,
		};
		ASSERT_EQ(0, pthread_create(&t[i], NULL, churn, &w[i]));
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, w[i].failures);
	}
	/* Nothing is left attached or allocated. */
	EXPECT_EQ(0, destroy(self->fd, self->ns));
}

/*
 * The declared intent is enforced: a PASID-capable device whose driver declared only
 * requester-ID DMA gets no PASID, no (device, PASID) attachment and no per-PASID table,
 * so none of its PASID-tagged DMA is ever translated.
 */
TEST_F(pasid, a_rid_intent_device_gets_no_pasid)
{
	struct ioasid_mock_device_add a = {
		.argsz = sizeof(a), .ioasid_fd = self->fd, .pasid_width = 20,
	};
	struct ioasid_iova_range resv[8];
	struct ioasid_device_info info = {
		.argsz = sizeof(info), .num_reserved = 8, .reserved_iovas = (uintptr_t)resv,
	};
	struct ioasid_nested_alloc na = {
		.argsz = sizeof(na), .parent_id = self->ioas, .format = IOASID_FORMAT_MOCK,
	};
	struct ioasid_bind_table b = {
		.argsz = sizeof(b), .version = IOASID_BIND_VERSION_1, .format = IOASID_FORMAT_MOCK,
		.flags = IOASID_BIND_PASID, .ns_id = self->ns, .table.mock.table = A,
	};
	__u32 pasid;

	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &a));
	info.dev_id = a.out_dev_id;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(IOASID_DEVICE_INTENT_RID, info.out_intent);
	EXPECT_EQ(20, info.out_pasid_width);
	EXPECT_EQ(-1, pasid_alloc(self->fd, self->ns, a.out_dev_id, 0, &pasid));
	EXPECT_EQ(EPERM, errno);
	/* A PASID of the namespace, allocated for a PASID-intent device. */
	ASSERT_EQ(0, pasid_alloc(self->fd, self->ns, self->dev, 0, &pasid));
	EXPECT_EQ(-1, pasid_attach(self->fd, a.out_dev_id, self->ns, pasid, self->ioas, 0));
	EXPECT_EQ(EPERM, errno);
	/* Nothing is attached for the PASID in the mock: its DMA is not translated. */
	EXPECT_EQ(-1, check_pasid_map(self->mock, a.out_mock_id, pasid, A, LEN, NULL));
	EXPECT_EQ(ENODEV, errno);
	ASSERT_EQ(0, ioctl(self->fd, IOASID_NESTED_ALLOC, &na));
	b.child_id = na.out_child_id;
	b.dev_id = a.out_dev_id;
	b.pasid = pasid;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(EPERM, errno);
	/* Its requester-ID DMA is what it declared: that still works. */
	EXPECT_EQ(0, attach(self->fd, a.out_dev_id, self->ioas));
}

/* Every reserved field of DEVICE_GET_INFO must be 0. */
TEST_F(pasid, device_info_reserved_fields)
{
	struct ioasid_iova_range resv[8];
	struct ioasid_device_info info = {
		.argsz = sizeof(info), .dev_id = self->dev, .num_reserved = 8,
		.reserved_iovas = (uintptr_t)resv,
	};

	info.__reserved2 = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	info.__reserved2 = 0;
	info.__reserved = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	info.__reserved = 0;
	EXPECT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
}

TEST_HARNESS_MAIN
