// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests for a device with no IOMMU of its own (software-table intent), through the
 * sample /dev/ioasid-swdev: it reaches its address space through the CPU, only where
 * and how the mappings allow, and an unmap during a copy is safe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/ioasid.h>

#include "../../../../samples/ioasid/ioasid-samples.h"
#include "ioasid_utils.h"
#include "kselftest_harness.h"

#define A 0x100000ull
#define B 0x200000ull

static long page_size;

static int swdev_bind(int swdev, int ioasid, __u32 *id)
{
	struct ioasid_edu_bind arg = { .argsz = sizeof(arg), .ioasid_fd = ioasid };
	int ret = ioctl(swdev, IOASID_SWDEV_BIND, &arg);

	*id = arg.out_dev_id;
	return ret;
}

static int swdev_copy(int swdev, __u64 src, __u64 dst, __u64 len)
{
	struct ioasid_swdev_copy arg = {
		.argsz = sizeof(arg), .src_iova = src, .dst_iova = dst, .length = len,
	};

	return ioctl(swdev, IOASID_SWDEV_COPY, &arg);
}

FIXTURE(swdev) {
	int fd, swdev;
	__u32 dev, ioas;
	uint8_t *src, *dst;
	size_t len;
};

FIXTURE_SETUP(swdev)
{
	__u64 iova;

	page_size = sysconf(_SC_PAGESIZE);
	self->len = 4 * page_size;
	self->fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	self->swdev = open("/dev/ioasid-swdev", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->swdev);
	ASSERT_EQ(0, swdev_bind(self->swdev, self->fd, &self->dev));
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas));
	self->src = mmap(NULL, 2 * self->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->src);
	self->dst = self->src + self->len;
	for (size_t i = 0; i < self->len; i++) {
		self->src[i] = (uint8_t)(i * 13 + 1);
		self->dst[i] = 0xee;
	}
	iova = A;
	ASSERT_EQ(0, map(self->fd, self->ioas, FIXED, self->src, self->len, &iova));
	iova = B;
	ASSERT_EQ(0, map(self->fd, self->ioas, FIXED, self->dst, self->len, &iova));
}

FIXTURE_TEARDOWN(swdev)
{
	close(self->swdev);
	close(self->fd);
}

TEST_F(swdev, copy_through_the_cpu)
{
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	/* Unaligned, across page boundaries. */
	ASSERT_EQ(0, swdev_copy(self->swdev, A + 100, B + 300, 2 * page_size + 17));
	EXPECT_EQ(0, memcmp(self->src + 100, self->dst + 300, 2 * page_size + 17));
	EXPECT_EQ(0xee, self->dst[299]);
	EXPECT_EQ(0xee, self->dst[300 + 2 * page_size + 17]);
}

/*
 * File-backed memory (IOASID_IOAS_MAP_FILE) and a copy of it in a second address space
 * (IOASID_IOAS_COPY) are the file's pages: what the device writes there is read back
 * through the file, and survives a truncation until it is unmapped.
 */
TEST_F(swdev, reaches_file_pages_and_copies_of_them)
{
	int mfd = memfd_create("ioasid-swdev", MFD_CLOEXEC);
	__u64 iova = 0x400000, dst = 0x800000;
	uint8_t back[64];
	__u32 second;

	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, 4 * page_size));
	ASSERT_EQ(0, map_file(self->fd, self->ioas, FIXED, mfd, page_size, 2 * page_size,
			      &iova));
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	/* A (user memory) to the file's second page, at byte 10. */
	ASSERT_EQ(0, swdev_copy(self->swdev, A, 0x400000 + 10, sizeof(back)));
	ASSERT_EQ(sizeof(back), pread(mfd, back, sizeof(back), page_size + 10));
	EXPECT_EQ(0, memcmp(back, self->src, sizeof(back)));
	/* Through a copy in another address space, the same pages. */
	ASSERT_EQ(0, ioas_alloc(self->fd, &second));
	ASSERT_EQ(0, copy(self->fd, second, self->ioas, FIXED, 0x400000, 2 * page_size, &dst));
	ASSERT_EQ(0, map_at(self->fd, second, self->dst, self->len, B));
	ASSERT_EQ(0, detach(self->fd, self->dev));
	ASSERT_EQ(0, attach(self->fd, self->dev, second));
	ASSERT_EQ(0, swdev_copy(self->swdev, 0x800000 + 10, B, sizeof(back)));
	EXPECT_EQ(0, memcmp(self->dst, self->src, sizeof(back)));
	/* Truncated: the pages left the file, not the address space. */
	ASSERT_EQ(0, ftruncate(mfd, 0));
	memset(self->dst, 0, sizeof(back));
	ASSERT_EQ(0, swdev_copy(self->swdev, 0x800000 + 10, B, sizeof(back)));
	EXPECT_EQ(0, memcmp(self->dst, self->src, sizeof(back)));
	ASSERT_EQ(0, detach(self->fd, self->dev));
	close(mfd);
}

/*
 * A software-table device's writes are tracked by ioasid itself (ioasid_access_rw()):
 * an address space with only such devices can start tracking, and reports exactly the
 * pages the device wrote, not those it read.
 */
TEST_F(swdev, writes_are_tracked_in_software)
{
	struct ioasid_device_info info = { .argsz = sizeof(info), .dev_id = self->dev };
	/* (B - A) / 4 KiB + 4 pages: 260 bits, 5 words. */
	__u64 bits[8];
	__u32 tracking;

	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_TRUE(info.out_flags & IOASID_DEVICE_INFO_DIRTY_TRACKING);
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	ASSERT_EQ(0, dirty_tracking(self->fd, self->ioas, 1));
	/* 100 bytes across the boundary of B's first two pages. */
	ASSERT_EQ(0, swdev_copy(self->swdev, A, B + page_size - 50, 100));
	ASSERT_EQ(0, dirty_bitmap(self->fd, self->ioas, IOASID_DIRTY_BITMAP_NO_CLEAR, A,
				  B - A + self->len, page_size, bits));
	EXPECT_EQ(2, bits_set(bits, (B - A + self->len) / page_size));
	EXPECT_EQ(1, bit(bits, (B - A) / page_size));
	EXPECT_EQ(1, bit(bits, (B - A) / page_size + 1));
	ASSERT_EQ(0, dirty_bitmap(self->fd, self->ioas, 0, B, self->len, page_size, bits));
	EXPECT_EQ(3ull, bits[0]);
	ASSERT_EQ(0, dirty_bitmap(self->fd, self->ioas, 0, B, self->len, page_size, bits));
	EXPECT_EQ(0, bits[0]);
	/* An address space made for tracking takes the device too. */
	ASSERT_EQ(0, detach(self->fd, self->dev));
	ASSERT_EQ(0, ioas_alloc_flags(self->fd, IOASID_IOAS_ALLOC_DIRTY_TRACKING, &tracking));
	EXPECT_EQ(0, attach(self->fd, self->dev, tracking));
	EXPECT_EQ(0, detach(self->fd, self->dev));
}

TEST_F(swdev, info_reports_the_intent_and_no_iommu)
{
	struct ioasid_device_info info = { .argsz = sizeof(info), .dev_id = self->dev };

	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(IOASID_DEVICE_INTENT_SW_TABLE, info.out_intent);
	EXPECT_EQ(0, info.out_group_devices);
	EXPECT_EQ(0, info.num_reserved);
	EXPECT_EQ(page_size, info.out_pgsize_bitmap);
}

TEST_F(swdev, not_attached_reaches_nothing)
{
	EXPECT_EQ(-1, swdev_copy(self->swdev, A, B, page_size));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	ASSERT_EQ(0, detach(self->fd, self->dev));
	EXPECT_EQ(-1, swdev_copy(self->swdev, A, B, page_size));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(swdev, only_mapped_and_permitted_memory)
{
	__u64 iova = 0x300000;

	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	/* Unmapped source or destination. */
	EXPECT_EQ(-1, swdev_copy(self->swdev, 0x900000, B, page_size));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, swdev_copy(self->swdev, A, 0x900000, page_size));
	EXPECT_EQ(EFAULT, errno);
	/* A read-only mapping cannot be written. */
	ASSERT_EQ(0, map(self->fd, self->ioas, IOASID_MAP_READABLE | IOASID_MAP_FIXED_IOVA,
			 self->dst, page_size, &iova));
	EXPECT_EQ(-1, swdev_copy(self->swdev, A, iova, page_size));
	EXPECT_EQ(EFAULT, errno);
	/* Running off the end of a mapping: the part before is copied. */
	EXPECT_EQ(-1, swdev_copy(self->swdev, A + self->len - page_size, B, 2 * page_size));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, memcmp(self->src + self->len - page_size, self->dst, page_size));
	EXPECT_EQ(0xee, self->dst[page_size]);
	for (size_t i = 0; i < self->len; i++)
		ASSERT_EQ((uint8_t)(i * 13 + 1), self->src[i]);
}

TEST_F(swdev, destroy_and_bind_rules)
{
	int other = open("/dev/ioasid-swdev", O_RDWR);
	struct ioasid_edu_bind arg = { .argsz = sizeof(arg), .ioasid_fd = self->fd };
	__u32 id2;

	ASSERT_LE(0, other);
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	EXPECT_EQ(-1, destroy(self->fd, self->ioas));
	EXPECT_EQ(EBUSY, errno);
	/* A second instance is a second device of the context. */
	ASSERT_EQ(0, swdev_bind(other, self->fd, &id2));
	EXPECT_NE(self->dev, id2);
	EXPECT_EQ(-1, swdev_bind(other, self->fd, &id2));
	EXPECT_EQ(EBUSY, errno);
	arg.argsz = 4;
	EXPECT_EQ(-1, ioctl(self->swdev, IOASID_SWDEV_BIND, &arg));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, detach(self->fd, self->dev));
	EXPECT_EQ(0, destroy(self->fd, self->ioas));
	close(other);
}

struct copier {
	int swdev;
	int failures;
	volatile int stop;
};

static void *copy_loop(void *arg)
{
	struct copier *c = arg;

	while (!c->stop)
		if (swdev_copy(c->swdev, A, B, 4 * sysconf(_SC_PAGESIZE)) && errno != EFAULT)
			c->failures++;
	return NULL;
}

TEST_F(swdev, unmap_while_copying_is_safe)
{
	struct copier c = { .swdev = self->swdev };
	long base = locked_bytes();
	pthread_t t;
	__u64 iova;

	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	ASSERT_EQ(0, pthread_create(&t, NULL, copy_loop, &c));
	for (int i = 0; i < 200; i++) {
		/* Each unmap waits for a copy in progress; later copies see EFAULT. */
		ASSERT_EQ(0, unmap(self->fd, self->ioas, B, self->len, NULL));
		iova = B;
		ASSERT_EQ(0, map(self->fd, self->ioas, FIXED, self->dst, self->len, &iova));
	}
	c.stop = 1;
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, c.failures);
	EXPECT_EQ(base, locked_bytes());
}

TEST_HARNESS_MAIN
