// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests on the mock IOMMU (CONFIG_IOASID_TEST, /dev/ioasid-mock): every page of
 * every mapping is checked against the mock's page table, through the same host IOMMU
 * API that drives intel-iommu; unmaps leave no stale entry; huge pages use huge IOMMU
 * pages; groups, reserved regions, a second (incompatible) IOMMU, and hot-unplug.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
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
#define SZ_2M 0x200000ull
#define A 0x100000ull
#define NPAGES 64
#define CHECK_RW (IOASID_MOCK_CHECK_READ | IOASID_MOCK_CHECK_WRITE)

struct mock_dev {
	__u32 mock_id, dev_id;
};

/* Adds a mock device bound to @ioasid; extra properties from @arg (may be NULL). */
static int mock_add(int mock, int ioasid, const struct ioasid_mock_device_add *arg,
		    struct mock_dev *out)
{
	struct ioasid_mock_device_add a = { 0 };
	int ret;

	if (arg)
		a = *arg;
	a.argsz = sizeof(a);
	a.ioasid_fd = ioasid;
	ret = ioctl(mock, IOASID_MOCK_DEVICE_ADD, &a);
	if (!ret && out) {
		out->mock_id = a.out_mock_id;
		out->dev_id = a.out_dev_id;
	}
	return ret;
}

static int mock_del(int mock, __u32 mock_id)
{
	struct ioasid_mock_device_del a = { .argsz = sizeof(a), .mock_id = mock_id };

	return ioctl(mock, IOASID_MOCK_DEVICE_DEL, &a);
}

/*
 * Checks that [iova, iova + len) of @mock_id's RID domain maps @va page by page
 * (@flags: CHECK_* permissions, or IOASID_MOCK_CHECK_UNMAPPED). The page sizes of the
 * entries seen go to *@pgsizes if given.
 */
static int check_map(int mock, __u32 mock_id, __u32 flags, __u64 iova, __u64 len, void *va,
		     __u64 *pgsizes)
{
	struct ioasid_mock_check_map a = {
		.argsz = sizeof(a), .flags = flags, .mock_id = mock_id,
		.pasid = IOASID_MOCK_NO_PASID, .iova = iova, .length = len,
		.uptr = (uintptr_t)va,
	};
	int ret = ioctl(mock, IOASID_MOCK_CHECK_MAP, &a);

	if (!ret && pgsizes)
		*pgsizes = a.out_pgsizes;
	return ret;
}

static int unmapped(int mock, __u32 mock_id, __u64 iova, __u64 len)
{
	return check_map(mock, mock_id, IOASID_MOCK_CHECK_UNMAPPED, iova, len, NULL, NULL);
}

static int iotlb(int mock, __u32 mock_id, struct ioasid_mock_iotlb *a)
{
	memset(a, 0, sizeof(*a));
	a->argsz = sizeof(*a);
	a->mock_id = mock_id;
	a->pasid = IOASID_MOCK_NO_PASID;
	return ioctl(mock, IOASID_MOCK_IOTLB, a);
}

/* DEVICE_GET_INFO; the reserved ranges go to @resv, or nowhere if it is NULL. */
static int get_info(int fd, __u32 dev, struct ioasid_device_info *info,
		    struct ioasid_iova_range *resv, __u32 nresv)
{
	static struct ioasid_iova_range ignored[16];

	if (!resv) {
		resv = ignored;
		nresv = 16;
	}
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->dev_id = dev;
	info->num_reserved = nresv;
	info->reserved_iovas = (uintptr_t)resv;
	return ioctl(fd, IOASID_DEVICE_GET_INFO, info);
}

FIXTURE(mock) {
	int fd, mock;
	__u32 ioas;
	struct mock_dev dev;
	uint8_t *buf;
	size_t len;
};

FIXTURE_SETUP(mock)
{
	self->len = NPAGES * SZ_4K;
	self->fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	self->mock = open("/dev/ioasid-mock", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->mock);
	ASSERT_EQ(0, mock_add(self->mock, self->fd, NULL, &self->dev));
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas));
	self->buf = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	for (size_t i = 0; i < self->len; i++)
		self->buf[i] = (uint8_t)i;
}

FIXTURE_TEARDOWN(mock)
{
	/* Closed with everything live: devices bound and attached, mappings in place. */
	close(self->mock);
	close(self->fd);
	munmap(self->buf, self->len);
	restore_unsafe_interrupts();
}

TEST_F(mock, every_page_is_mapped_and_none_is_stale_after_unmap)
{
	struct ioasid_mock_iotlb before, after;
	__u64 pgsizes = 0, iova = 0, bytes = 0;

	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, self->len, A));
	ASSERT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, A, self->len, self->buf,
			       &pgsizes));
	EXPECT_EQ(SZ_4K, pgsizes);
	/* The translation is exact: one page off is another page. */
	EXPECT_EQ(-1, check_map(self->mock, self->dev.mock_id, 0, A, self->len - SZ_4K,
				self->buf + SZ_4K, NULL));
	EXPECT_EQ(ENXIO, errno);
	/* Nothing around it. */
	EXPECT_EQ(0, unmapped(self->mock, self->dev.mock_id, A - SZ_4K, SZ_4K));
	EXPECT_EQ(0, unmapped(self->mock, self->dev.mock_id, A + self->len, SZ_4K));

	/* A kernel-picked IOVA, checked the same way. */
	ASSERT_EQ(0, map(self->fd, self->ioas, RW, self->buf, self->len, &iova));
	ASSERT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, iova, self->len,
			       self->buf, NULL));

	ASSERT_EQ(0, iotlb(self->mock, self->dev.mock_id, &before));
	EXPECT_EQ(2 * NPAGES, before.out_entries);
	EXPECT_EQ(0, before.out_stale);
	ASSERT_EQ(0, unmap(self->fd, self->ioas, A, self->len, &bytes));
	EXPECT_EQ(self->len, bytes);
	EXPECT_EQ(0, unmapped(self->mock, self->dev.mock_id, A, self->len));
	EXPECT_EQ(-1, check_map(self->mock, self->dev.mock_id, 0, A, SZ_4K, self->buf, NULL));
	EXPECT_EQ(ENXIO, errno);
	/* Gone from the page table, and the IOTLB was invalidated before UNMAP returned. */
	ASSERT_EQ(0, iotlb(self->mock, self->dev.mock_id, &after));
	EXPECT_EQ(NPAGES, after.out_entries);
	EXPECT_EQ(0, after.out_stale);
	EXPECT_LT(before.out_invalidations, after.out_invalidations);
	/* The other mapping is untouched. */
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, iova, self->len,
			       self->buf, NULL));
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, &bytes));
	EXPECT_EQ(self->len, bytes);
	ASSERT_EQ(0, iotlb(self->mock, self->dev.mock_id, &after));
	EXPECT_EQ(0, after.out_entries);
}

TEST_F(mock, permissions_reach_the_page_table)
{
	__u64 iova = A;

	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	ASSERT_EQ(0, map(self->fd, self->ioas, IOASID_MAP_READABLE | IOASID_MAP_FIXED_IOVA,
			 self->buf, self->len, &iova));
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, IOASID_MOCK_CHECK_READ, A,
			       self->len, self->buf, NULL));
	EXPECT_EQ(-1, check_map(self->mock, self->dev.mock_id, IOASID_MOCK_CHECK_WRITE, A,
				self->len, self->buf, NULL));
	EXPECT_EQ(EACCES, errno);
}

TEST_F(mock, sub_ranges)
{
	size_t third = self->len / 4;
	__u64 bytes;

	/* Three adjacent mappings, each its own quarter of the buffer. */
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf + i * third, third,
				    A + i * third));
	/* Mapped before the device came: all of it appears at attach (replay). */
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	ASSERT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, A, 3 * third, self->buf,
			       NULL));
	/* Cutting through a mapping unmaps nothing. */
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, A + third, third + SZ_4K, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, A, 3 * third, self->buf,
			       NULL));
	/* The middle one goes, its neighbours stay, page for page. */
	ASSERT_EQ(0, unmap(self->fd, self->ioas, A + third, third, &bytes));
	EXPECT_EQ(third, bytes);
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, A, third, self->buf, NULL));
	EXPECT_EQ(0, unmapped(self->mock, self->dev.mock_id, A + third, third));
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, A + 2 * third, third,
			       self->buf + 2 * third, NULL));
	/* A range holding the remaining two and the hole unmaps both. */
	ASSERT_EQ(0, unmap(self->fd, self->ioas, A, 3 * third, &bytes));
	EXPECT_EQ(2 * third, bytes);
	EXPECT_EQ(0, unmapped(self->mock, self->dev.mock_id, A, 3 * third));
}

TEST_F(mock, huge_pages_use_huge_iommu_pages)
{
	size_t len = 2 * SZ_2M;
	__u64 pgsizes = 0;
	uint8_t *huge;

	huge = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	if (huge == MAP_FAILED)
		SKIP(return, "no 2 MiB huge pages (vm.nr_hugepages)");
	memset(huge, 0x5a, len);
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));

	/* 2 MiB-aligned IOVA: two 2 MiB entries, and every 4 KiB in them is right. */
	ASSERT_EQ(0, map_at(self->fd, self->ioas, huge, len, 4 * SZ_2M));
	ASSERT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, 4 * SZ_2M, len, huge,
			       &pgsizes));
	EXPECT_EQ(SZ_2M, pgsizes);
	/* An IOVA 4 KiB off 2 MiB alignment cannot use them: 4 KiB entries only. */
	ASSERT_EQ(0, map_at(self->fd, self->ioas, huge, len, 8 * SZ_2M + SZ_4K));
	ASSERT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, 8 * SZ_2M + SZ_4K, len,
			       huge, &pgsizes));
	EXPECT_EQ(SZ_4K, pgsizes);
	/* Huge entries go whole with their mapping; no stale entry is left. */
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 4 * SZ_2M, len, NULL));
	EXPECT_EQ(0, unmapped(self->mock, self->dev.mock_id, 4 * SZ_2M, len));
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 8 * SZ_2M + SZ_4K, len, NULL));
	EXPECT_EQ(0, unmapped(self->mock, self->dev.mock_id, 8 * SZ_2M, len + SZ_2M));
	munmap(huge, len);
}

TEST_F(mock, device_info_reports_the_mock_iommu)
{
	struct ioasid_mock_device_add props = { .pasid_width = 20 };
	struct ioasid_device_info info;
	struct mock_dev pasid_dev;

	ASSERT_EQ(0, get_info(self->fd, self->dev.dev_id, &info, NULL, 0));
	EXPECT_EQ(IOASID_DEVICE_INTENT_RID, info.out_intent);
	EXPECT_EQ(IOASID_MOCK_PGSIZES, info.out_pgsize_bitmap);
	EXPECT_EQ(IOASID_MOCK_ADDR_WIDTH, info.out_addr_width);
	EXPECT_EQ(0, info.out_pasid_width);
	EXPECT_EQ(1, info.out_group_devices);
	EXPECT_EQ(0, info.out_flags & IOASID_DEVICE_INFO_GROUP_SHARED);
	ASSERT_EQ(0, mock_add(self->mock, self->fd, &props, &pasid_dev));
	ASSERT_EQ(0, get_info(self->fd, pasid_dev.dev_id, &info, NULL, 0));
	EXPECT_EQ(20, info.out_pasid_width);
	props.pasid_width = 8;
	ASSERT_EQ(0, mock_add(self->mock, self->fd, &props, &pasid_dev));
	ASSERT_EQ(0, get_info(self->fd, pasid_dev.dev_id, &info, NULL, 0));
	EXPECT_EQ(8, info.out_pasid_width);
}

TEST_F(mock, incompatible_iommu_gets_a_second_domain_filled_by_replay)
{
	struct ioasid_mock_device_add other = { .instance = 1 };
	struct ioasid_mock_iotlb t0, t1;
	struct mock_dev same, far;
	size_t half = self->len / 2;

	ASSERT_EQ(0, mock_add(self->mock, self->fd, NULL, &same));
	ASSERT_EQ(0, mock_add(self->mock, self->fd, &other, &far));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, half, A));
	/* Behind another IOMMU: a domain of its own, filled with what is mapped. */
	ASSERT_EQ(0, attach(self->fd, far.dev_id, self->ioas));
	ASSERT_EQ(0, check_map(self->mock, far.mock_id, CHECK_RW, A, half, self->buf, NULL));
	/* Behind the same IOMMU: shares the first domain. */
	ASSERT_EQ(0, attach(self->fd, same.dev_id, self->ioas));
	/* A new mapping reaches every domain; an unmap leaves none stale. */
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf + half, half, A + half));
	EXPECT_EQ(0, check_map(self->mock, far.mock_id, CHECK_RW, A, self->len, self->buf, NULL));
	EXPECT_EQ(0, check_map(self->mock, same.mock_id, CHECK_RW, A, self->len, self->buf, NULL));
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, A, self->len, self->buf,
			       NULL));
	ASSERT_EQ(0, unmap(self->fd, self->ioas, A, half, NULL));
	EXPECT_EQ(0, unmapped(self->mock, far.mock_id, A, half));
	EXPECT_EQ(0, unmapped(self->mock, self->dev.mock_id, A, half));
	ASSERT_EQ(0, iotlb(self->mock, far.mock_id, &t1));
	ASSERT_EQ(0, iotlb(self->mock, self->dev.mock_id, &t0));
	EXPECT_EQ(NPAGES / 2, t1.out_entries);
	EXPECT_EQ(NPAGES / 2, t0.out_entries);
	EXPECT_EQ(0, t1.out_stale);
	EXPECT_EQ(0, t0.out_stale);
	/* After detach the device reaches nothing. */
	ASSERT_EQ(0, detach(self->fd, far.dev_id));
	EXPECT_EQ(-1, unmapped(self->mock, far.mock_id, A, half));
	EXPECT_EQ(ENODEV, errno);
}

TEST_F(mock, a_group_is_attached_as_a_whole)
{
	struct ioasid_mock_device_add in_group = { .group_with = self->dev.mock_id };
	struct ioasid_device_info info;
	struct mock_dev mate;
	__u32 other_ioas;

	ASSERT_EQ(0, mock_add(self->mock, self->fd, &in_group, &mate));
	/* Userspace is told the two share an IOMMU group. */
	ASSERT_EQ(0, get_info(self->fd, self->dev.dev_id, &info, NULL, 0));
	EXPECT_EQ(2, info.out_group_devices);
	EXPECT_NE(0, info.out_flags & IOASID_DEVICE_INFO_GROUP_SHARED);
	ASSERT_EQ(0, get_info(self->fd, mate.dev_id, &info, NULL, 0));
	EXPECT_EQ(2, info.out_group_devices);

	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, self->len, A));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	/* The IOMMU cannot tell them apart: the mate reaches the space too. */
	EXPECT_EQ(0, check_map(self->mock, mate.mock_id, CHECK_RW, A, self->len, self->buf,
			       NULL));
	/* So it may not go to another space, which would break isolation... */
	ASSERT_EQ(0, ioas_alloc(self->fd, &other_ioas));
	EXPECT_EQ(-1, attach(self->fd, mate.dev_id, other_ioas));
	EXPECT_EQ(EBUSY, errno);
	/* ...but may join the same one. */
	ASSERT_EQ(0, attach(self->fd, mate.dev_id, self->ioas));
	/* The group stays attached while any of its devices is. */
	ASSERT_EQ(0, detach(self->fd, self->dev.dev_id));
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, A, self->len, self->buf,
			       NULL));
	ASSERT_EQ(0, detach(self->fd, mate.dev_id));
	EXPECT_EQ(-1, unmapped(self->mock, self->dev.mock_id, A, self->len));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-1, unmapped(self->mock, mate.mock_id, A, self->len));
	EXPECT_EQ(ENODEV, errno);
	/* Now the group may move, as a whole. */
	ASSERT_EQ(0, attach(self->fd, mate.dev_id, other_ioas));
	EXPECT_EQ(-1, attach(self->fd, self->dev.dev_id, self->ioas));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(0, attach(self->fd, self->dev.dev_id, other_ioas));
}

TEST_F(mock, a_group_cannot_span_two_contexts)
{
	struct ioasid_mock_device_add in_group = { .group_with = self->dev.mock_id };
	int fd2 = open("/dev/ioasid", O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd2);
	EXPECT_EQ(-1, mock_add(self->mock, fd2, &in_group, NULL));
	EXPECT_EQ(EPERM, errno);
	/* The same context may have it. */
	EXPECT_EQ(0, mock_add(self->mock, self->fd, &in_group, NULL));
	close(fd2);
}

TEST_F(mock, reserved_regions_are_excluded)
{
	struct ioasid_mock_range resv[2] = {
		/* Leaves room for one 256 KiB mapping below it. */
		{ .start = 0x80000, .last = 0x1fffffff },
		{ .start = 0xfee00000, .last = 0xfeefffff },
	};
	struct ioasid_mock_device_add props = {
		.num_reserved = 2, .reserved = (uintptr_t)resv,
	};
	struct ioasid_iova_range allowed[16], got[16];
	struct ioasid_device_info info;
	struct mock_dev dev;
	__u64 iova;
	int n;

	ASSERT_EQ(0, mock_add(self->mock, self->fd, &props, &dev));
	ASSERT_EQ(0, get_info(self->fd, dev.dev_id, &info, got, 16));
	/* Both regions, and what lies above the 48-bit aperture. */
	ASSERT_EQ(3, info.num_reserved);
	EXPECT_EQ(resv[0].start, got[0].start);
	EXPECT_EQ(resv[0].last, got[0].last);
	EXPECT_EQ(resv[1].start, got[1].start);
	EXPECT_EQ(resv[1].last, got[1].last);
	EXPECT_EQ(1ull << IOASID_MOCK_ADDR_WIDTH, got[2].start);

	/* A mapping in a region keeps the device out... */
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, SZ_4K, 0x10000000 + SZ_4K));
	EXPECT_EQ(-1, attach(self->fd, dev.dev_id, self->ioas));
	EXPECT_EQ(EADDRINUSE, errno);
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	/* ...and once it is attached, the regions leave the IOVA ranges. */
	ASSERT_EQ(0, attach(self->fd, dev.dev_id, self->ioas));
	n = iova_ranges(self->fd, self->ioas, allowed, 16);
	ASSERT_EQ(3, n);
	for (int i = 0; i < n; i++)
		for (int r = 0; r < 2; r++)
			EXPECT_TRUE(allowed[i].last < resv[r].start ||
				    allowed[i].start > resv[r].last);
	EXPECT_EQ((1ull << IOASID_MOCK_ADDR_WIDTH) - 1, allowed[n - 1].last);
	EXPECT_EQ(-1, map_at(self->fd, self->ioas, self->buf, SZ_4K, 0xfee00000));
	EXPECT_EQ(EADDRINUSE, errno);
	/* Kernel-picked IOVAs avoid them: the first fills the gap below, the rest go above. */
	for (int i = 0; i < 8; i++) {
		iova = 0;
		ASSERT_EQ(0, map(self->fd, self->ioas, RW, self->buf, self->len, &iova));
		EXPECT_TRUE(iova + self->len - 1 < resv[0].start || iova > resv[0].last);
		EXPECT_EQ(0, check_map(self->mock, dev.mock_id, CHECK_RW, iova, self->len,
				       self->buf, NULL));
	}
	/* Detached, the regions return to the space. */
	ASSERT_EQ(0, detach(self->fd, dev.dev_id));
	EXPECT_EQ(1, iova_ranges(self->fd, self->ioas, allowed, 16));
}

TEST_F(mock, unplug_while_attached_leaves_nothing_behind)
{
	struct ioasid_mock_device_add in_group = { .group_with = self->dev.mock_id };
	struct mock_dev mate;

	ASSERT_EQ(0, mock_add(self->mock, self->fd, &in_group, &mate));
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, self->len, A));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	ASSERT_EQ(0, attach(self->fd, mate.dev_id, self->ioas));
	EXPECT_EQ(-1, destroy(self->fd, self->ioas));
	EXPECT_EQ(EBUSY, errno);
	/* Hot-unplug, attached: the mate keeps the group attached. */
	ASSERT_EQ(0, mock_del(self->mock, self->dev.mock_id));
	EXPECT_EQ(-1, attach(self->fd, self->dev.dev_id, self->ioas));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, check_map(self->mock, mate.mock_id, CHECK_RW, A, self->len, self->buf,
			       NULL));
	EXPECT_EQ(-1, destroy(self->fd, self->ioas));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, mock_del(self->mock, mate.mock_id));
	/* Nothing is attached any more, so the space can go; both IDs are gone. */
	EXPECT_EQ(0, destroy(self->fd, self->ioas));
	EXPECT_EQ(-1, mock_del(self->mock, mate.mock_id));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, detach(self->fd, mate.dev_id));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(mock, closing_the_ioasid_fd_first_keeps_devices_usable)
{
	/* A bound device keeps its context alive: the mock still sees its mappings. */
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, self->len, A));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	ASSERT_EQ(0, close(self->fd));
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, A, self->len, self->buf,
			       NULL));
	ASSERT_EQ(0, mock_del(self->mock, self->dev.mock_id));
	self->fd = open("/dev/null", O_RDONLY);
}

TEST_F(mock, bad_input)
{
	struct ioasid_mock_range bad_range = { .start = 2 * SZ_4K, .last = SZ_4K };
	struct ioasid_mock_device_add a = { 0 };
	struct ioasid_mock_check_map c = {
		.argsz = sizeof(c), .mock_id = self->dev.mock_id, .pasid = IOASID_MOCK_NO_PASID,
		.iova = A, .length = SZ_4K, .uptr = (uintptr_t)self->buf,
	};
	struct ioasid_mock_device_add too_small = { .argsz = 8, .ioasid_fd = self->fd };

	/* Not an ioasid fd: a closed one, and the mock's own. */
	EXPECT_EQ(-1, mock_add(self->mock, 1000, NULL, NULL));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, mock_add(self->mock, self->mock, NULL, NULL));
	EXPECT_EQ(EBADF, errno);
	a.flags = 1 << 7;
	EXPECT_EQ(-1, mock_add(self->mock, self->fd, &a, NULL));
	EXPECT_EQ(EOPNOTSUPP, errno);
	a.flags = 0;
	a.pasid_width = IOASID_MOCK_PASID_WIDTH_MAX + 1;
	EXPECT_EQ(-1, mock_add(self->mock, self->fd, &a, NULL));
	EXPECT_EQ(EINVAL, errno);
	a.pasid_width = 0;
	a.group_with = 0xdead;
	EXPECT_EQ(-1, mock_add(self->mock, self->fd, &a, NULL));
	EXPECT_EQ(ENOENT, errno);
	a.group_with = 0;
	a.num_reserved = 1;
	a.reserved = (uintptr_t)&bad_range;
	EXPECT_EQ(-1, mock_add(self->mock, self->fd, &a, NULL));
	EXPECT_EQ(EINVAL, errno);
	a.num_reserved = IOASID_MOCK_RESERVED_MAX + 1;
	EXPECT_EQ(-1, mock_add(self->mock, self->fd, &a, NULL));
	EXPECT_EQ(EINVAL, errno);
	a.num_reserved = 1;
	a.reserved = 8;
	EXPECT_EQ(-1, mock_add(self->mock, self->fd, &a, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &too_small));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->mock, _IO(IOASID_MOCK_TYPE, 0x7f), &c));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, mock_del(self->mock, 0));
	EXPECT_EQ(ENOENT, errno);

	/* Blocked (never attached): no domain to look at. */
	EXPECT_EQ(-1, ioctl(self->mock, IOASID_MOCK_CHECK_MAP, &c));
	EXPECT_EQ(ENODEV, errno);
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	EXPECT_EQ(-1, ioctl(self->mock, IOASID_MOCK_CHECK_MAP, &c));
	EXPECT_EQ(ENXIO, errno);
	c.iova = A + 1;
	EXPECT_EQ(-1, ioctl(self->mock, IOASID_MOCK_CHECK_MAP, &c));
	EXPECT_EQ(EINVAL, errno);
	c.iova = UINT64_MAX & ~(SZ_4K - 1);
	c.length = 2 * SZ_4K;
	EXPECT_EQ(-1, ioctl(self->mock, IOASID_MOCK_CHECK_MAP, &c));
	EXPECT_EQ(EINVAL, errno);
	c.iova = A;
	c.length = 0;
	EXPECT_EQ(-1, ioctl(self->mock, IOASID_MOCK_CHECK_MAP, &c));
	EXPECT_EQ(EINVAL, errno);
	c.length = SZ_4K;
	c.flags = 1 << 7;
	EXPECT_EQ(-1, ioctl(self->mock, IOASID_MOCK_CHECK_MAP, &c));
	EXPECT_EQ(EOPNOTSUPP, errno);
	c.flags = 0;
	c.mock_id = 0;
	EXPECT_EQ(-1, ioctl(self->mock, IOASID_MOCK_CHECK_MAP, &c));
	EXPECT_EQ(ENOENT, errno);
	/* A PASID nothing is attached to. */
	c.mock_id = self->dev.mock_id;
	c.pasid = 1;
	EXPECT_EQ(-1, ioctl(self->mock, IOASID_MOCK_CHECK_MAP, &c));
	EXPECT_EQ(ENODEV, errno);
	/* A user address with no memory behind it. */
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, SZ_4K, A));
	c.pasid = IOASID_MOCK_NO_PASID;
	c.uptr = 0;
	EXPECT_EQ(-1, ioctl(self->mock, IOASID_MOCK_CHECK_MAP, &c));
	EXPECT_EQ(EFAULT, errno);
}

static int page_request(int mock, __u32 mock_id, __u32 flags, __u32 pasid, __u32 grpid,
			__u32 perm, __u64 addr, __u32 *delivered)
{
	struct ioasid_mock_page_request a = {
		.argsz = sizeof(a), .flags = flags, .mock_id = mock_id, .pasid = pasid,
		.grpid = grpid, .perm = perm, .addr = addr,
	};
	int ret = ioctl(mock, IOASID_MOCK_PAGE_REQUEST, &a);

	if (!ret && delivered)
		*delivered = a.out_delivered;
	return ret;
}

static int page_response(int mock, __u32 mock_id, struct ioasid_mock_page_response *r)
{
	memset(r, 0, sizeof(*r));
	r->argsz = sizeof(*r);
	r->mock_id = mock_id;
	return ioctl(mock, IOASID_MOCK_PAGE_RESPONSE, r);
}

TEST_F(mock, page_requests_without_a_fault_handler_are_answered_invalid)
{
	struct ioasid_mock_device_add pri = { .flags = IOASID_MOCK_DEVICE_PRI, .pasid_width = 8 };
	struct ioasid_mock_page_response r;
	struct mock_dev dev;
	__u32 delivered = 7;

	ASSERT_EQ(0, mock_add(self->mock, self->fd, &pri, &dev));
	/* Blocked: no domain, no handler; the core answers through the mock at once. */
	ASSERT_EQ(0, page_request(self->mock, dev.mock_id, IOASID_MOCK_PAGE_REQUEST_LAST_PAGE,
				  0, 7, IOASID_MOCK_PERM_READ, A, &delivered));
	EXPECT_EQ(0, delivered);
	ASSERT_EQ(0, page_response(self->mock, dev.mock_id, &r));
	EXPECT_EQ(IOASID_MOCK_RESP_INVALID, r.out_code);
	EXPECT_EQ(7, r.out_grpid);
	EXPECT_EQ(-1, page_response(self->mock, dev.mock_id, &r));
	EXPECT_EQ(EAGAIN, errno);
	/* Attached to an address space with no fault queue: still no handler. */
	ASSERT_EQ(0, attach(self->fd, dev.dev_id, self->ioas));
	ASSERT_EQ(0, page_request(self->mock, dev.mock_id,
				  IOASID_MOCK_PAGE_REQUEST_LAST_PAGE |
				  IOASID_MOCK_PAGE_REQUEST_PASID_VALID,
				  5, 8, IOASID_MOCK_PERM_WRITE, A, &delivered));
	EXPECT_EQ(0, delivered);
	ASSERT_EQ(0, page_request(self->mock, dev.mock_id, IOASID_MOCK_PAGE_REQUEST_LAST_PAGE,
				  0, 9, IOASID_MOCK_PERM_READ | IOASID_MOCK_PERM_WRITE, A, NULL));
	/* Responses arrive in order, each naming its PASID and group. */
	ASSERT_EQ(0, page_response(self->mock, dev.mock_id, &r));
	EXPECT_EQ(IOASID_MOCK_RESP_INVALID, r.out_code);
	EXPECT_EQ(8, r.out_grpid);
	EXPECT_EQ(5, r.out_pasid);
	ASSERT_EQ(0, page_response(self->mock, dev.mock_id, &r));
	EXPECT_EQ(IOASID_MOCK_RESP_INVALID, r.out_code);
	EXPECT_EQ(9, r.out_grpid);
	EXPECT_EQ(-1, page_response(self->mock, dev.mock_id, &r));
	EXPECT_EQ(EAGAIN, errno);

	/* A device without PRI issues no page requests. */
	EXPECT_EQ(-1, page_request(self->mock, self->dev.mock_id,
				   IOASID_MOCK_PAGE_REQUEST_LAST_PAGE, 0, 1,
				   IOASID_MOCK_PERM_READ, A, NULL));
	EXPECT_EQ(EOPNOTSUPP, errno);
	/* Bad requests. */
	EXPECT_EQ(-1, page_request(self->mock, dev.mock_id, 1 << 2, 0, 1,
				   IOASID_MOCK_PERM_READ, A, NULL));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(-1, page_request(self->mock, dev.mock_id, 0, 0, 1, 0, A, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, page_request(self->mock, dev.mock_id, 0, 0, 1, 1 << 4, A, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, page_request(self->mock, dev.mock_id, 0, 0, 512,
				   IOASID_MOCK_PERM_READ, A, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, page_request(self->mock, dev.mock_id, 0, 0, 1,
				   IOASID_MOCK_PERM_READ, A + 1, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, page_request(self->mock, dev.mock_id, IOASID_MOCK_PAGE_REQUEST_PASID_VALID,
				   1 << 20, 1, IOASID_MOCK_PERM_READ, A, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, page_request(self->mock, 0, 0, 0, 1, IOASID_MOCK_PERM_READ, A, NULL));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, page_response(self->mock, 0, &r));
	EXPECT_EQ(ENOENT, errno);
	/* Nothing was sent for the refused ones. */
	EXPECT_EQ(-1, page_response(self->mock, dev.mock_id, &r));
	EXPECT_EQ(EAGAIN, errno);
	/* Unplugged with its fault queue membership. */
	EXPECT_EQ(0, mock_del(self->mock, dev.mock_id));
}

struct unplug_racer {
	int fd;
	__u32 dev, ioas;
	int bad;
};

/* Attaches and detaches until the device is gone; counts errnos that break the rules. */
static void *attach_detach_until_gone(void *arg)
{
	struct unplug_racer *r = arg;

	for (;;) {
		if (attach(r->fd, r->dev, r->ioas)) {
			if (errno != ENOENT)
				r->bad++;
			return NULL;
		}
		/* Attached: only an unplug in between may fail the detach, with ENOENT. */
		if (detach(r->fd, r->dev) && errno != ENOENT)
			r->bad++;
	}
}

/*
 * Hot-unplug races attach and detach: a detach of a device unbound meanwhile fails with
 * ENOENT as documented, never with EINVAL, and nothing is left attached.
 */
TEST_F(mock, unplug_races_attach_and_detach)
{
	for (int round = 0; round < 50; round++) {
		struct unplug_racer r = { .fd = self->fd, .ioas = self->ioas };
		struct mock_dev dev;
		pthread_t t;

		ASSERT_EQ(0, mock_add(self->mock, self->fd, NULL, &dev));
		r.dev = dev.dev_id;
		ASSERT_EQ(0, pthread_create(&t, NULL, attach_detach_until_gone, &r));
		usleep(round * 200);
		ASSERT_EQ(0, mock_del(self->mock, dev.mock_id));
		ASSERT_EQ(0, pthread_join(t, NULL));
		EXPECT_EQ(0, r.bad);
	}
	/* Nothing attached: the address space can go. */
	EXPECT_EQ(0, destroy(self->fd, self->ioas));
}


/*
 * Interrupt isolation: a device whose group's MSIs the platform cannot isolate is bound
 * only with ioasid.allow_unsafe_interrupts=1. Mock devices are under an isolating
 * interrupt domain unless created with IOASID_MOCK_DEVICE_MSI_UNISOLATED.
 */
TEST_F(mock, binding_needs_isolated_msi_or_the_admin_override)
{
	struct ioasid_mock_device_add unisolated = { .flags = IOASID_MOCK_DEVICE_MSI_UNISOLATED };
	struct ioasid_mock_device_add mate = { 0 };
	struct ioasid_device_info info;
	struct mock_dev dev, other;
	int old = set_unsafe_interrupts(0);

	ASSERT_LE(0, old);
	ASSERT_EQ(0, get_info(self->fd, self->dev.dev_id, &info, NULL, 0));
	EXPECT_TRUE(info.out_flags & IOASID_DEVICE_INFO_MSI_ISOLATED);

	/* Refused: the device is unplugged again, its ID never given. */
	EXPECT_EQ(-1, mock_add(self->mock, self->fd, &unisolated, &dev));
	EXPECT_EQ(EPERM, errno);

	/* Allowed by the administrator: bound, attached, reported as not isolated. */
	ASSERT_EQ(0, set_unsafe_interrupts(1));
	ASSERT_EQ(0, mock_add(self->mock, self->fd, &unisolated, &dev));
	ASSERT_EQ(0, get_info(self->fd, dev.dev_id, &info, NULL, 0));
	EXPECT_FALSE(info.out_flags & IOASID_DEVICE_INFO_MSI_ISOLATED);
	EXPECT_EQ(0, attach(self->fd, dev.dev_id, self->ioas));

	/*
	 * An isolated device in that group is not isolated from it: without the override
	 * it is refused too.
	 */
	ASSERT_EQ(1, set_unsafe_interrupts(0));
	mate.group_with = dev.mock_id;
	EXPECT_EQ(-1, mock_add(self->mock, self->fd, &mate, &other));
	EXPECT_EQ(EPERM, errno);

	/* The override is read at bind time: a bound device stays bound. */
	EXPECT_EQ(0, detach(self->fd, dev.dev_id));
	EXPECT_EQ(0, mock_del(self->mock, dev.mock_id));
	EXPECT_LE(0, set_unsafe_interrupts(old));
}

/*
 * On an IOMMU that translates MSIs (a software MSI window, as Arm SMMUs have), every
 * paging domain gets the IOMMU core's MSI cookie, as VFIO type1 sets it up, so the
 * doorbells of the device's MSIs are mapped in the window; the window stays reserved.
 */
TEST_F(mock, a_software_msi_window_gets_the_msi_cookie)
{
	struct ioasid_mock_device_add sw = { .flags = IOASID_MOCK_DEVICE_SW_MSI };
	struct ioasid_mock_iotlb t;
	struct mock_dev dev;
	__u32 ioas;

	ASSERT_EQ(0, mock_add(self->mock, self->fd, &sw, &dev));
	ASSERT_EQ(0, ioas_alloc(self->fd, &ioas));
	ASSERT_EQ(0, attach(self->fd, dev.dev_id, ioas));
	ASSERT_EQ(0, iotlb(self->mock, dev.mock_id, &t));
	EXPECT_TRUE(t.out_flags & IOASID_MOCK_IOTLB_MSI_COOKIE);
	EXPECT_EQ(-1, map_at(self->fd, ioas, self->buf, SZ_4K, IOASID_MOCK_SW_MSI_BASE));
	EXPECT_EQ(EADDRINUSE, errno);

	/* A device whose IOMMU has no window: no cookie. */
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	ASSERT_EQ(0, iotlb(self->mock, self->dev.mock_id, &t));
	EXPECT_FALSE(t.out_flags & IOASID_MOCK_IOTLB_MSI_COOKIE);
	EXPECT_EQ(0, detach(self->fd, dev.dev_id));
}

/*
 * Enforced cache coherency: a coherent address space makes each of its domains ignore
 * no-snoop (enforce_cache_coherency, before the replay of what is mapped) and takes only
 * devices whose IOMMU can do that.
 */
/*
 * Without IOASID_IOAS_ALLOC_COHERENT coherency is still enforced wherever the IOMMU can,
 * as iommufd and VFIO type1 do: a device that can is attached to a domain that forces
 * snooping, and one that cannot gets a domain of its own instead of sharing that one.
 */
TEST_F(mock, plain_address_spaces_enforce_coherency_where_the_iommu_can)
{
	struct ioasid_mock_device_add nc = { .flags = IOASID_MOCK_DEVICE_NO_COHERENCY };
	struct ioasid_mock_iotlb t;
	struct mock_dev dev;
	__u32 p;

	ASSERT_EQ(0, ioas_alloc(self->fd, &p));
	ASSERT_EQ(0, map_at(self->fd, p, self->buf, self->len, A));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, p));
	ASSERT_EQ(0, iotlb(self->mock, self->dev.mock_id, &t));
	EXPECT_TRUE(t.out_flags & IOASID_MOCK_IOTLB_COHERENT);
	EXPECT_LT(0, t.out_entries);
	ASSERT_EQ(0, mock_add(self->mock, self->fd, &nc, &dev));
	ASSERT_EQ(0, attach(self->fd, dev.dev_id, p));
	ASSERT_EQ(0, iotlb(self->mock, dev.mock_id, &t));
	EXPECT_FALSE(t.out_flags & IOASID_MOCK_IOTLB_COHERENT);
	EXPECT_LT(0, t.out_entries);
	EXPECT_EQ(0, detach(self->fd, dev.dev_id));
	EXPECT_EQ(0, detach(self->fd, self->dev.dev_id));
}

TEST_F(mock, a_coherent_address_space_takes_only_devices_that_enforce_it)
{
	struct ioasid_ioas_alloc a = { .argsz = sizeof(a), .flags = IOASID_IOAS_ALLOC_COHERENT };
	struct ioasid_mock_device_add nc = { .flags = IOASID_MOCK_DEVICE_NO_COHERENCY };
	struct ioasid_device_info info;
	struct ioasid_mock_iotlb t;
	struct mock_dev dev;

	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_ALLOC, &a));
	ASSERT_EQ(0, map_at(self->fd, a.out_ioas_id, self->buf, self->len, A));
	ASSERT_EQ(0, get_info(self->fd, self->dev.dev_id, &info, NULL, 0));
	EXPECT_TRUE(info.out_flags & IOASID_DEVICE_INFO_ENFORCE_COHERENCY);
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, a.out_ioas_id));
	ASSERT_EQ(0, iotlb(self->mock, self->dev.mock_id, &t));
	EXPECT_TRUE(t.out_flags & IOASID_MOCK_IOTLB_COHERENT);
	EXPECT_LT(0, t.out_entries);

	/* A device whose IOMMU cannot: refused there, attached anywhere else. */
	ASSERT_EQ(0, mock_add(self->mock, self->fd, &nc, &dev));
	ASSERT_EQ(0, get_info(self->fd, dev.dev_id, &info, NULL, 0));
	EXPECT_FALSE(info.out_flags & IOASID_DEVICE_INFO_ENFORCE_COHERENCY);
	EXPECT_EQ(-1, attach(self->fd, dev.dev_id, a.out_ioas_id));
	EXPECT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(0, attach(self->fd, dev.dev_id, self->ioas));
	ASSERT_EQ(0, iotlb(self->mock, dev.mock_id, &t));
	EXPECT_FALSE(t.out_flags & IOASID_MOCK_IOTLB_COHERENT);
	EXPECT_EQ(0, detach(self->fd, dev.dev_id));
	EXPECT_EQ(0, detach(self->fd, self->dev.dev_id));
}

/* IOASID_IOAS_COPY maps the very pages of the source into the device's domain. */
TEST_F(mock, a_copy_maps_the_same_pages)
{
	long base = locked_bytes();
	__u64 dst = 0x400000;
	__u32 other;

	ASSERT_EQ(0, ioas_alloc(self->fd, &other));
	ASSERT_EQ(0, map_at(self->fd, other, self->buf, self->len, A));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	ASSERT_EQ(0, copy(self->fd, self->ioas, other, FIXED, A, self->len, &dst));
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, dst, self->len,
			       self->buf, NULL));
	EXPECT_EQ(base + (long)self->len, locked_bytes());
	/* The source goes; the device keeps reaching the pages. */
	ASSERT_EQ(0, destroy(self->fd, other));
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, dst, self->len,
			       self->buf, NULL));
	EXPECT_EQ(base + (long)self->len, locked_bytes());
	ASSERT_EQ(0, unmap(self->fd, self->ioas, dst, self->len, NULL));
	EXPECT_EQ(0, unmapped(self->mock, self->dev.mock_id, dst, self->len));
	EXPECT_EQ(base, locked_bytes());
	EXPECT_EQ(0, detach(self->fd, self->dev.dev_id));
}

/*
 * IOASID_IOAS_MAP_FILE maps the file's pages at the offset asked for (seen here through
 * a mapping of the file made only to find them); a hugetlbfs file's huge pages become
 * huge IOMMU pages.
 */
TEST_F(mock, a_file_is_mapped_by_offset)
{
	int mfd = memfd_create("ioasid-mock", MFD_CLOEXEC);
	int hfd = memfd_create("ioasid-mock-huge", MFD_CLOEXEC | MFD_HUGETLB);
	__u64 iova = A, huge_iova = 4 * SZ_2M, pgsizes = 0;
	uint8_t *mem, *huge;

	ASSERT_LE(0, mfd);
	ASSERT_LE(0, hfd);
	ASSERT_EQ(0, ftruncate(mfd, 64 * SZ_4K));
	ASSERT_EQ(0, ftruncate(hfd, 2 * SZ_2M));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	ASSERT_EQ(0, map_file(self->fd, self->ioas, FIXED, mfd, 8 * SZ_4K, 16 * SZ_4K, &iova));
	ASSERT_EQ(0, map_file(self->fd, self->ioas, FIXED, hfd, SZ_2M, SZ_2M, &huge_iova));
	mem = mmap(NULL, 64 * SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	huge = mmap(NULL, 2 * SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, hfd, 0);
	ASSERT_NE(MAP_FAILED, huge);
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, A, 16 * SZ_4K,
			       mem + 8 * SZ_4K, NULL));
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, 4 * SZ_2M, SZ_2M,
			       huge + SZ_2M, &pgsizes));
	EXPECT_EQ(SZ_2M, pgsizes);
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(0, unmapped(self->mock, self->dev.mock_id, A, 16 * SZ_4K));
	EXPECT_EQ(0, detach(self->fd, self->dev.dev_id));
	munmap(mem, 64 * SZ_4K);
	munmap(huge, 2 * SZ_2M);
	close(mfd);
	close(hfd);
}

/* IOASID_CHANGE_PROCESS moves only the charge: the device's mappings are untouched. */
TEST_F(mock, changing_the_process_leaves_dma_alone)
{
	__u64 pages = 0;
	int status;
	pid_t pid;

	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, self->len, A));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	pid = fork();
	if (pid == 0)
		_exit(change_process(self->fd, &pages) || pages != NPAGES);
	ASSERT_LT(0, pid);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, A, self->len,
			       self->buf, NULL));
	ASSERT_EQ(0, change_process(self->fd, &pages));
	EXPECT_EQ(NPAGES, pages);
	EXPECT_EQ(0, detach(self->fd, self->dev.dev_id));
}

static int dma_write(int mock, __u32 mock_id, __u64 iova, __u64 len)
{
	struct ioasid_mock_dma_write a = {
		.argsz = sizeof(a), .mock_id = mock_id, .iova = iova, .length = len,
	};

	return ioctl(mock, IOASID_MOCK_DMA_WRITE, &a);
}

/*
 * Dirty tracking: bits the device's DMA sets are reported, cleared by the read (and
 * kept with NO_CLEAR); nothing is recorded while tracking is off, and starting again
 * starts clean.
 */
TEST_F(mock, dirty_bits_set_by_dma_are_read_and_cleared)
{
	__u64 bits[1] = { ~0ull };
	struct ioasid_device_info info;
	__u32 ioas;

	ASSERT_EQ(0, get_info(self->fd, self->dev.dev_id, &info, NULL, 0));
	EXPECT_TRUE(info.out_flags & IOASID_DEVICE_INFO_DIRTY_TRACKING);
	ASSERT_EQ(0, ioas_alloc_flags(self->fd, IOASID_IOAS_ALLOC_DIRTY_TRACKING, &ioas));
	ASSERT_EQ(0, map_at(self->fd, ioas, self->buf, self->len, A));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, ioas));
	EXPECT_EQ(-1, dirty_bitmap(self->fd, ioas, 0, A, self->len, SZ_4K, bits));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, dirty_tracking(self->fd, ioas, 1));
	/* The kernel zeroes the bitmap: nothing written yet. */
	ASSERT_EQ(0, dirty_bitmap(self->fd, ioas, 0, A, self->len, SZ_4K, bits));
	EXPECT_EQ(0, bits[0]);
	ASSERT_EQ(0, dma_write(self->mock, self->dev.mock_id, A + SZ_4K + 100, SZ_4K));
	ASSERT_EQ(0, dirty_bitmap(self->fd, ioas, 0, A, self->len, SZ_4K, bits));
	EXPECT_EQ(0x6ull, bits[0]);
	ASSERT_EQ(0, dirty_bitmap(self->fd, ioas, 0, A, self->len, SZ_4K, bits));
	EXPECT_EQ(0, bits[0]);
	/* NO_CLEAR reports and keeps. */
	ASSERT_EQ(0, dma_write(self->mock, self->dev.mock_id, A + 63 * SZ_4K, 1));
	ASSERT_EQ(0, dirty_bitmap(self->fd, ioas, IOASID_DIRTY_BITMAP_NO_CLEAR, A, self->len,
				  SZ_4K, bits));
	EXPECT_EQ(1ull << 63, bits[0]);
	ASSERT_EQ(0, dirty_bitmap(self->fd, ioas, 0, A, self->len, SZ_4K, bits));
	EXPECT_EQ(1ull << 63, bits[0]);
	ASSERT_EQ(0, dirty_bitmap(self->fd, ioas, 0, A, self->len, SZ_4K, bits));
	EXPECT_EQ(0, bits[0]);
	/* At a larger page size: the bit of its page. */
	ASSERT_EQ(0, dma_write(self->mock, self->dev.mock_id, A + 9 * SZ_4K, 8));
	ASSERT_EQ(0, dirty_bitmap(self->fd, ioas, 0, A, self->len, 2 * SZ_4K, bits));
	EXPECT_EQ(1ull << 4, bits[0]);
	/*
	 * A range whose end cuts a mapping must be aligned to the largest IOMMU page (1 GiB
	 * on the mock): drivers report a dirty IOMMU page whole, from its aligned start.
	 */
	EXPECT_EQ(-1, dirty_bitmap(self->fd, ioas, 0, A + 8 * SZ_4K, 8 * SZ_4K, SZ_4K, bits));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, dirty_bitmap(self->fd, ioas, 0, A, 8 * SZ_4K, SZ_4K, bits));
	EXPECT_EQ(EINVAL, errno);
	/* Before and after the mapping, nothing is cut: clean. */
	ASSERT_EQ(0, dirty_bitmap(self->fd, ioas, 0, 0, A, SZ_2M / 2, bits));
	EXPECT_EQ(0, bits[0]);
	/* Off: not recorded; on again: clean. */
	ASSERT_EQ(0, dirty_tracking(self->fd, ioas, 0));
	ASSERT_EQ(0, dma_write(self->mock, self->dev.mock_id, A, SZ_4K));
	ASSERT_EQ(0, dirty_tracking(self->fd, ioas, 1));
	ASSERT_EQ(0, dirty_tracking(self->fd, ioas, 1));
	ASSERT_EQ(0, dirty_bitmap(self->fd, ioas, 0, A, self->len, SZ_4K, bits));
	EXPECT_EQ(0, bits[0]);
	/* A write the IOMMU would fault: nothing mapped there. */
	EXPECT_EQ(-1, dma_write(self->mock, self->dev.mock_id, A + self->len, 1));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, detach(self->fd, self->dev.dev_id));
}

/* A written 2 MiB IOMMU page is reported whole, at the page size asked for. */
TEST_F(mock, huge_pages_are_reported_at_the_page_size_asked)
{
	size_t len = 2 * SZ_2M;
	uint8_t *huge = mmap(NULL, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	__u64 bits[1024 / 64], pgsizes = 0;
	__u32 ioas;

	ASSERT_NE(MAP_FAILED, huge);
	ASSERT_EQ(0, ioas_alloc_flags(self->fd, IOASID_IOAS_ALLOC_DIRTY_TRACKING, &ioas));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, ioas));
	ASSERT_EQ(0, map_at(self->fd, ioas, huge, len, 4 * SZ_2M));
	ASSERT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, 4 * SZ_2M, len, huge,
			       &pgsizes));
	ASSERT_EQ(SZ_2M, pgsizes);
	ASSERT_EQ(0, dirty_tracking(self->fd, ioas, 1));
	ASSERT_EQ(0, dma_write(self->mock, self->dev.mock_id, 4 * SZ_2M + SZ_4K, 1));
	ASSERT_EQ(0, dirty_bitmap(self->fd, ioas, IOASID_DIRTY_BITMAP_NO_CLEAR, 4 * SZ_2M, len,
				  SZ_4K, bits));
	EXPECT_EQ(512, bits_set(bits, 1024));
	EXPECT_EQ(1, bit(bits, 0));
	EXPECT_EQ(1, bit(bits, 511));
	EXPECT_EQ(0, bit(bits, 512));
	ASSERT_EQ(0, dirty_bitmap(self->fd, ioas, 0, 4 * SZ_2M, len, SZ_2M, bits));
	EXPECT_EQ(1ull, bits[0]);
	ASSERT_EQ(0, dirty_bitmap(self->fd, ioas, 0, 4 * SZ_2M, len, SZ_4K, bits));
	EXPECT_EQ(0, bits_set(bits, 1024));
	EXPECT_EQ(0, detach(self->fd, self->dev.dev_id));
	munmap(huge, len);
}

/*
 * Who may be attached to a tracking address space, and when an address space may start
 * tracking: never with a device whose IOMMU cannot track.
 */
TEST_F(mock, dirty_tracking_takes_only_devices_that_track)
{
	struct ioasid_mock_device_add nd = { .flags = IOASID_MOCK_DEVICE_NO_DIRTY };
	struct ioasid_device_info info;
	__u64 bits[1];
	struct mock_dev dev;
	__u32 tracking;

	ASSERT_EQ(0, mock_add(self->mock, self->fd, &nd, &dev));
	ASSERT_EQ(0, get_info(self->fd, dev.dev_id, &info, NULL, 0));
	EXPECT_FALSE(info.out_flags & IOASID_DEVICE_INFO_DIRTY_TRACKING);
	ASSERT_EQ(0, ioas_alloc_flags(self->fd, IOASID_IOAS_ALLOC_DIRTY_TRACKING, &tracking));
	EXPECT_EQ(-1, attach(self->fd, dev.dev_id, tracking));
	EXPECT_EQ(EOPNOTSUPP, errno);
	/* Attached elsewhere, it keeps that space from starting to track. */
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, self->len, A));
	ASSERT_EQ(0, attach(self->fd, dev.dev_id, self->ioas));
	EXPECT_EQ(-1, dirty_tracking(self->fd, self->ioas, 1));
	EXPECT_EQ(EOPNOTSUPP, errno);
	/* So does a device that could track, attached before tracking was asked for. */
	ASSERT_EQ(0, detach(self->fd, dev.dev_id));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	EXPECT_EQ(-1, dirty_tracking(self->fd, self->ioas, 1));
	EXPECT_EQ(EOPNOTSUPP, errno);
	/* With nothing attached it starts, and from then on takes only devices that track. */
	ASSERT_EQ(0, detach(self->fd, self->dev.dev_id));
	ASSERT_EQ(0, dirty_tracking(self->fd, self->ioas, 1));
	EXPECT_EQ(-1, attach(self->fd, dev.dev_id, self->ioas));
	EXPECT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	/* The new domain tracks from the start. */
	ASSERT_EQ(0, dma_write(self->mock, self->dev.mock_id, A, 1));
	ASSERT_EQ(0, dirty_bitmap(self->fd, self->ioas, 0, A, self->len, SZ_4K, bits));
	EXPECT_EQ(1ull, bits[0]);
	EXPECT_EQ(0, detach(self->fd, self->dev.dev_id));
	EXPECT_EQ(0, mock_del(self->mock, dev.mock_id));
}

TEST_F(mock, dirty_tracking_bad_input)
{
	struct ioasid_ioas_set_dirty_tracking st = {
		.argsz = sizeof(st), .flags = 1u << 7, .ioas_id = self->ioas,
	};
	long page = sysconf(_SC_PAGESIZE);
	__u64 bits[4], p = SZ_4K, top = UINT64_MAX - SZ_4K + 1;
	uint8_t *guard = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	__u64 *last_word = (__u64 *)(guard + page - 8);
	struct {
		__u32 flags, ioas;
		__u64 iova, length, page_size;
		void *data;
		int err;
	} cases[] = {
		{ 1u << 9, 0, A, 64 * p, p, bits, EOPNOTSUPP },
		{ 0, 9999, A, 64 * p, p, bits, ENOENT },
		{ 0, 0, A, 0, p, bits, EINVAL },
		{ 0, 0, A, 64 * p, 0, bits, EINVAL },
		{ 0, 0, A, 64 * p, 3 * p, bits, EINVAL },
		{ 0, 0, A, 64 * p, p / 2, bits, EINVAL },
		{ 0, 0, A, 64 * p, SZ_2M, bits, EINVAL },
		{ 0, 0, A + p, 64 * p, 2 * p, bits, EINVAL },
		{ 0, 0, A, 63 * p, 2 * p, bits, EINVAL },
		{ 0, 0, A, 64 * p, p, (uint8_t *)bits + 1, EINVAL },
		{ 0, 0, A, 64 * p, p, NULL, EFAULT },
		{ 0, 0, top, 2 * p, p, bits, EOVERFLOW },
		/* One word past the bitmap's page is not writable: 65 bits need two. */
		{ 0, 0, A, 65 * p, p, last_word, EFAULT },
	};

	ASSERT_NE(MAP_FAILED, guard);
	ASSERT_EQ(0, mprotect(guard + page, page, PROT_NONE));
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, self->len, A));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_SET_DIRTY_TRACKING, &st));
	EXPECT_EQ(EOPNOTSUPP, errno);
	st.flags = 0;
	st.__reserved = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_SET_DIRTY_TRACKING, &st));
	EXPECT_EQ(EINVAL, errno);
	st.__reserved = 0;
	st.ioas_id = 9999;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_SET_DIRTY_TRACKING, &st));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, detach(self->fd, self->dev.dev_id));
	ASSERT_EQ(0, dirty_tracking(self->fd, self->ioas, 1));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TH_LOG("case %u", i);
		EXPECT_EQ(-1, dirty_bitmap(self->fd, cases[i].ioas ?: self->ioas, cases[i].flags,
					   cases[i].iova, cases[i].length, cases[i].page_size,
					   cases[i].data));
		EXPECT_EQ(cases[i].err, errno);
	}
	/* Exactly one word, the last of the page: fits. */
	ASSERT_EQ(0, dma_write(self->mock, self->dev.mock_id, A + 63 * p, 1));
	EXPECT_EQ(0, dirty_bitmap(self->fd, self->ioas, 0, A, 64 * p, p, last_word));
	EXPECT_EQ(1ull << 63, *last_word);
	EXPECT_EQ(0, detach(self->fd, self->dev.dev_id));
	munmap(guard, 2 * page);
}

struct fill_racer {
	int fd;
	__u32 ioas, dev;
	__u64 base;
	uint8_t *buf;
	int rounds, pages, bad;
};

/* Maps the first @pages pages of its buffer at base + i * @pages pages, for each round. */
static void *map_pages_loop(void *arg)
{
	struct fill_racer *r = arg;
	size_t len = r->pages * SZ_4K;

	for (int i = 0; i < r->rounds; i++)
		if (map_at(r->fd, r->ioas, r->buf, len, r->base + i * len))
			r->bad++;
	return NULL;
}

static void *attach_detach_loop(void *arg)
{
	struct fill_racer *r = arg;

	for (int i = 0; i < r->rounds; i++)
		if (attach(r->fd, r->dev, r->ioas) || detach(r->fd, r->dev))
			r->bad++;
	return NULL;
}

/*
 * Maps of more than 16 pages fill the domains outside the address space's lock, in
 * parallel, smaller ones under it: a device attached meanwhile (a new domain on a
 * second, incompatible IOMMU, filled by replay) must still end up with every mapping of
 * both kinds, as must the domain that stays attached.
 */
TEST_F(mock, maps_filling_outside_the_lock_reach_every_domain)
{
	struct ioasid_mock_device_add other = { .instance = 1 };
	struct fill_racer r[3];
	pthread_t t[3];
	struct mock_dev dev1;

	ASSERT_EQ(0, mock_add(self->mock, self->fd, &other, &dev1));
	ASSERT_EQ(0, attach(self->fd, self->dev.dev_id, self->ioas));
	/* 128 maps of a page, 16 of 32 pages. */
	for (int k = 0; k < 2; k++)
		r[k] = (struct fill_racer){ self->fd, self->ioas, 0, A + k * SZ_2M,
					    self->buf + k * 8 * SZ_4K, k ? 16 : 128, k ? 32 : 1, 0 };
	r[2] = (struct fill_racer){ self->fd, self->ioas, dev1.dev_id, 0, NULL, 40, 0, 0 };
	ASSERT_EQ(0, pthread_create(&t[0], NULL, map_pages_loop, &r[0]));
	ASSERT_EQ(0, pthread_create(&t[1], NULL, map_pages_loop, &r[1]));
	ASSERT_EQ(0, pthread_create(&t[2], NULL, attach_detach_loop, &r[2]));
	for (int k = 0; k < 3; k++)
		ASSERT_EQ(0, pthread_join(t[k], NULL));
	for (int k = 0; k < 3; k++)
		EXPECT_EQ(0, r[k].bad);
	ASSERT_EQ(0, attach(self->fd, dev1.dev_id, self->ioas));
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < r[k].rounds * r[k].pages; i++) {
			__u64 iova = r[k].base + i * SZ_4K;
			uint8_t *va = r[k].buf + (i % r[k].pages) * SZ_4K;

			EXPECT_EQ(0, check_map(self->mock, self->dev.mock_id, CHECK_RW, iova, SZ_4K,
					       va, NULL));
			EXPECT_EQ(0, check_map(self->mock, dev1.mock_id, CHECK_RW, iova, SZ_4K, va,
					       NULL));
		}
	EXPECT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(0, detach(self->fd, dev1.dev_id));
	EXPECT_EQ(0, detach(self->fd, self->dev.dev_id));
}

TEST_HARNESS_MAIN
