// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests for I/O address spaces with kernel-managed mappings: IOASID_IOAS_ALLOC,
 * IOASID_DESTROY, IOASID_IOAS_IOVA_RANGES, IOASID_IOAS_MAP and IOASID_IOAS_UNMAP, with
 * good and bad input, and the locked-memory accounting of pinned pages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/ioasid.h>

#include "ioasid_utils.h"
#include "kselftest_harness.h"

#define MiB (1024ul * 1024)

static long page_size;

static void *buffer(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0x5a, len);
	return p;
}

FIXTURE(ioas) {
	int fd;
	__u32 ioas;
	void *buf;
	size_t len;
};

FIXTURE_SETUP(ioas)
{
	page_size = sysconf(_SC_PAGESIZE);
	self->fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas));
	self->len = 16 * page_size;
	self->buf = buffer(self->len);
	ASSERT_NE(NULL, self->buf);
}

FIXTURE_TEARDOWN(ioas)
{
	munmap(self->buf, self->len);
	close(self->fd);
}

TEST_F(ioas, alloc_gives_distinct_nonzero_ids)
{
	__u32 a, b;

	ASSERT_EQ(0, ioas_alloc(self->fd, &a));
	ASSERT_EQ(0, ioas_alloc(self->fd, &b));
	EXPECT_NE(0, a);
	EXPECT_NE(0, self->ioas);
	EXPECT_NE(a, b);
	EXPECT_NE(a, self->ioas);
	EXPECT_EQ(0, destroy(self->fd, a));
	EXPECT_EQ(0, destroy(self->fd, b));
}

TEST_F(ioas, alloc_bad_input)
{
	struct ioasid_ioas_alloc arg = { .argsz = sizeof(arg) };

	arg.flags = 1 << 5;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_ALLOC, &arg));
	EXPECT_EQ(EOPNOTSUPP, errno);
	arg.flags = 0;
	arg.__reserved = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_ALLOC, &arg));
	EXPECT_EQ(EINVAL, errno);
	arg.__reserved = 0;
	arg.argsz = sizeof(arg) - 4;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_ALLOC, &arg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_ALLOC, NULL));
	EXPECT_EQ(EFAULT, errno);
}

TEST_F(ioas, alloc_result_unwritable_leaves_nothing)
{
	struct ioasid_ioas_alloc *arg;
	__u32 next;

	arg = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, arg);
	memset(arg, 0, sizeof(*arg));
	arg->argsz = sizeof(*arg);
	ASSERT_EQ(0, mprotect(arg, page_size, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_ALLOC, arg));
	EXPECT_EQ(EFAULT, errno);
	/* The object the user never heard of was destroyed again. */
	ASSERT_EQ(0, ioas_alloc(self->fd, &next));
	EXPECT_EQ(-1, destroy(self->fd, next - 1));
	EXPECT_EQ(ENOENT, errno);
	munmap(arg, page_size);
}

/*
 * A map or copy at a fixed IOVA has no result and writes nothing back: it works from a
 * read-only argument. One at a kernel-chosen IOVA writes the IOVA back, and when it
 * cannot (EFAULT), nothing stays mapped.
 */
TEST_F(ioas, map_results_are_written_back_only_when_chosen)
{
	struct ioasid_ioas_map *m;
	struct ioasid_ioas_copy *c;
	char *arg;

	arg = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, arg);
	m = (void *)arg;
	c = (void *)(arg + 256);
	*m = (struct ioasid_ioas_map){
		.argsz = sizeof(*m), .flags = FIXED, .ioas_id = self->ioas,
		.user_va = (uintptr_t)self->buf, .length = page_size, .iova = 0x100000,
	};
	*c = (struct ioasid_ioas_copy){
		.argsz = sizeof(*c), .flags = FIXED, .dst_ioas_id = self->ioas,
		.src_ioas_id = self->ioas, .length = page_size, .dst_iova = 0x200000,
		.src_iova = 0x100000,
	};
	ASSERT_EQ(0, mprotect(arg, page_size, PROT_READ));
	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_MAP, m));
	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_COPY, c));
	EXPECT_EQ(0, unmap(self->fd, self->ioas, 0x200000, page_size, NULL));
	/* Chosen IOVAs must reach the user: neither stays. */
	ASSERT_EQ(0, mprotect(arg, page_size, PROT_READ | PROT_WRITE));
	m->flags = RW;
	m->iova = 0;
	c->flags = RW;
	c->dst_iova = 0;
	ASSERT_EQ(0, mprotect(arg, page_size, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_MAP, m));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_COPY, c));
	EXPECT_EQ(EFAULT, errno);
	/* Only the fixed mapping is left. */
	EXPECT_EQ(0, unmap(self->fd, self->ioas, 0x100000, page_size, NULL));
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(ENOENT, errno);
	munmap(arg, page_size);
}

TEST_F(ioas, destroy_unknown_and_twice)
{
	EXPECT_EQ(-1, destroy(self->fd, 0));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, destroy(self->fd, 0xfffffff0));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, destroy(self->fd, self->ioas));
	EXPECT_EQ(-1, destroy(self->fd, self->ioas));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(ioas, ids_are_per_context)
{
	int other = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	__u64 iova = 0;

	ASSERT_LE(0, other);
	/* Another context knows no object of this one. */
	EXPECT_EQ(-1, map(other, self->ioas, RW, self->buf, page_size, &iova));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, destroy(other, self->ioas));
	EXPECT_EQ(ENOENT, errno);
	close(other);
}

TEST_F(ioas, iova_ranges)
{
	struct ioasid_iova_range ranges[4];
	struct ioasid_ioas_iova_ranges arg = {
		.argsz = sizeof(arg),
		.ioas_id = self->ioas,
		.num_ranges = 4,
		.allowed_iovas = (uintptr_t)ranges,
	};

	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_IOVA_RANGES, &arg));
	ASSERT_EQ(1, arg.num_ranges);
	EXPECT_EQ(0, ranges[0].start);
	EXPECT_EQ(UINT64_MAX, ranges[0].last);
	EXPECT_EQ(page_size, arg.out_iova_alignment);
}

TEST_F(ioas, iova_ranges_too_small_array)
{
	struct ioasid_ioas_iova_ranges arg = {
		.argsz = sizeof(arg),
		.ioas_id = self->ioas,
		.num_ranges = 0,
	};

	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_IOVA_RANGES, &arg));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(1, arg.num_ranges);
}

TEST_F(ioas, iova_ranges_bad_input)
{
	struct ioasid_ioas_iova_ranges arg = {
		.argsz = sizeof(arg),
		.ioas_id = self->ioas,
		.num_ranges = 1,
		.allowed_iovas = 8,
	};

	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_IOVA_RANGES, &arg));
	EXPECT_EQ(EFAULT, errno);
	arg.ioas_id = 0xfffff;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_IOVA_RANGES, &arg));
	EXPECT_EQ(ENOENT, errno);
	arg.ioas_id = self->ioas;
	arg.__reserved = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_IOVA_RANGES, &arg));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(ioas, map_kernel_picks_iova)
{
	__u64 a = 0, b = 0, unmapped = 0;

	ASSERT_EQ(0, map(self->fd, self->ioas, RW, self->buf, 4 * page_size, &a));
	ASSERT_EQ(0, map(self->fd, self->ioas, RW, self->buf, 4 * page_size, &b));
	EXPECT_NE(0, a);
	EXPECT_EQ(0, a % page_size);
	EXPECT_EQ(0, b % page_size);
	EXPECT_TRUE(b >= a + 4 * page_size || a >= b + 4 * page_size);
	ASSERT_EQ(0, unmap(self->fd, self->ioas, a, 4 * page_size, &unmapped));
	EXPECT_EQ(4 * page_size, unmapped);
}

TEST_F(ioas, map_fixed_and_picked_do_not_collide)
{
	__u64 fixed = page_size, picked = 0;

	ASSERT_EQ(0, map(self->fd, self->ioas, FIXED, self->buf, 2 * page_size, &fixed));
	EXPECT_EQ(page_size, fixed);
	ASSERT_EQ(0, map(self->fd, self->ioas, RW, self->buf, page_size, &picked));
	EXPECT_EQ(3 * page_size, picked);
}

TEST_F(ioas, map_fixed_overlaps)
{
	__u64 base = 0x100000, iova;

	iova = base;
	ASSERT_EQ(0, map(self->fd, self->ioas, FIXED, self->buf, 4 * page_size, &iova));
	/* Same range, head, tail, inside, around: all refused. */
	__u64 starts[] = { base, base - page_size, base + 3 * page_size, base + page_size,
			   base - 2 * page_size };
	__u64 lens[] = { 4, 2, 2, 1, 8 };
	for (int i = 0; i < 5; i++) {
		iova = starts[i];
		EXPECT_EQ(-1, map(self->fd, self->ioas, FIXED, self->buf, lens[i] * page_size, &iova));
		EXPECT_EQ(EEXIST, errno);
	}
	/* Adjacent on both sides is fine. */
	iova = base - page_size;
	EXPECT_EQ(0, map(self->fd, self->ioas, FIXED, self->buf, page_size, &iova));
	iova = base + 4 * page_size;
	EXPECT_EQ(0, map(self->fd, self->ioas, FIXED, self->buf, page_size, &iova));
}

TEST_F(ioas, map_bad_flags_and_fields)
{
	struct ioasid_ioas_map arg = {
		.argsz = sizeof(arg),
		.ioas_id = self->ioas,
		.user_va = (uintptr_t)self->buf,
		.length = page_size,
	};
	unsigned int bit;

	arg.flags = 0;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_MAP, &arg));
	EXPECT_EQ(EINVAL, errno);
	arg.flags = IOASID_MAP_FIXED_IOVA;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_MAP, &arg));
	EXPECT_EQ(EINVAL, errno);
	for (bit = 3; bit < 32; bit++) {
		arg.flags = RW | (1u << bit);
		EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_MAP, &arg));
		EXPECT_EQ(EOPNOTSUPP, errno);
	}
	arg.flags = RW;
	arg.__reserved = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_MAP, &arg));
	EXPECT_EQ(EINVAL, errno);
	arg.__reserved = 0;
	arg.ioas_id = 0;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_MAP, &arg));
	EXPECT_EQ(ENOENT, errno);
	arg.argsz = 32;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_MAP, &arg));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(ioas, map_unaligned_or_empty)
{
	char *va = self->buf;
	__u64 iova;

	iova = 0;
	EXPECT_EQ(-1, map(self->fd, self->ioas, RW, va, 0, &iova));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, map(self->fd, self->ioas, RW, va + 8, page_size, &iova));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, map(self->fd, self->ioas, RW, va, page_size + 1, &iova));
	EXPECT_EQ(EINVAL, errno);
	iova = page_size + 512;
	EXPECT_EQ(-1, map(self->fd, self->ioas, FIXED, va, page_size, &iova));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(ioas, map_overflow)
{
	__u64 iova = UINT64_MAX - page_size + 1;

	/* The top page of the space is usable; one page more wraps. */
	EXPECT_EQ(0, map(self->fd, self->ioas, FIXED, self->buf, page_size, &iova));
	iova = UINT64_MAX - page_size + 1 - page_size;
	EXPECT_EQ(-1, map(self->fd, self->ioas, FIXED, self->buf, 4 * page_size, &iova));
	EXPECT_EQ(EOVERFLOW, errno);
	iova = 0;
	EXPECT_EQ(-1, map(self->fd, self->ioas, RW, (void *)(UINT64_MAX - page_size + 1),
			  2 * page_size, &iova));
	EXPECT_EQ(EOVERFLOW, errno);
}

TEST_F(ioas, map_memory_that_cannot_be_pinned)
{
	char *ro, *hole;
	__u64 iova = 0;

	hole = buffer(2 * page_size);
	ASSERT_NE(NULL, hole);
	ASSERT_EQ(0, munmap(hole + page_size, page_size));
	EXPECT_EQ(-1, map(self->fd, self->ioas, RW, hole, 2 * page_size, &iova));
	EXPECT_EQ(EFAULT, errno);
	/* Nothing was mapped by the failed call. */
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(ENOENT, errno);

	ro = buffer(page_size);
	ASSERT_NE(NULL, ro);
	ASSERT_EQ(0, mprotect(ro, page_size, PROT_READ));
	EXPECT_EQ(-1, map(self->fd, self->ioas, RW, ro, page_size, &iova));
	EXPECT_EQ(EFAULT, errno);
	/* Read-only memory is fine for device reads. */
	EXPECT_EQ(0, map(self->fd, self->ioas, IOASID_MAP_READABLE, ro, page_size, &iova));
	munmap(ro, page_size);
	munmap(hole, page_size);
}

TEST_F(ioas, unmap_semantics)
{
	__u64 base = 0x200000, iova, unmapped = 0;

	for (int i = 0; i < 3; i++) {
		iova = base + i * 4 * page_size;
		ASSERT_EQ(0, map(self->fd, self->ioas, FIXED, self->buf, 4 * page_size, &iova));
	}
	/* Cutting through a mapping unmaps nothing. */
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, base, 2 * page_size, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, base + 2 * page_size, 4 * page_size, NULL));
	EXPECT_EQ(EINVAL, errno);
	/* A range with nothing in it. */
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, 0x10000000, page_size, NULL));
	EXPECT_EQ(ENOENT, errno);
	/* A range covering two whole mappings and a gap. */
	ASSERT_EQ(0, unmap(self->fd, self->ioas, base - page_size, 9 * page_size, &unmapped));
	EXPECT_EQ(8 * page_size, unmapped);
	/* Unmap all takes the rest. */
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, &unmapped));
	EXPECT_EQ(4 * page_size, unmapped);
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(ENOENT, errno);
}

/*
 * One unmap of many mappings takes them out in groups (1,024 mappings, or 1 GiB) with
 * one IOTLB flush each: every mapping goes, whatever the group boundaries, and so does
 * the charge.
 */
TEST_F(ioas, unmap_of_many_mappings_in_groups)
{
	const size_t big = 2 * MiB;
	long base = locked_bytes();
	__u64 iova, unmapped = 0;
	void *chunk = buffer(big);

	ASSERT_NE(NULL, chunk);
	ASSERT_LE(0, base);
	/* 3,000 one-page mappings of the buffer's 16 pages: three groups by count. */
	for (int i = 0; i < 3000; i++) {
		iova = 0x100000000ull + i * page_size;
		ASSERT_EQ(0, map(self->fd, self->ioas, FIXED, (char *)self->buf + (i % 16) * page_size,
				 page_size, &iova));
	}
	EXPECT_EQ(base + (long)self->len, locked_bytes());
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 0x100000000ull, 3000 * page_size, &unmapped));
	EXPECT_EQ(3000 * page_size, unmapped);
	EXPECT_EQ(base, locked_bytes());
	/* 600 mappings of the same 2 MiB, 1.2 GiB of IOVA: two groups by size. */
	for (int i = 0; i < 600; i++) {
		iova = 0x200000000ull + i * big;
		ASSERT_EQ(0, map(self->fd, self->ioas, FIXED, chunk, big, &iova));
	}
	EXPECT_EQ(base + (long)big, locked_bytes());
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, &unmapped));
	EXPECT_EQ(600 * big, unmapped);
	EXPECT_EQ(base, locked_bytes());
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(ENOENT, errno);
	/* Nothing is left behind at those IOVAs. */
	iova = 0x200000000ull;
	EXPECT_EQ(0, map(self->fd, self->ioas, FIXED, chunk, big, &iova));
	munmap(chunk, big);
}

TEST_F(ioas, unmap_bad_input)
{
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, 0, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, 1, page_size, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, page_size, page_size - 1, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, UINT64_MAX - page_size + 1, 2 * page_size, NULL));
	EXPECT_EQ(EOVERFLOW, errno);
	EXPECT_EQ(-1, unmap(self->fd, 0xffff, 0, UINT64_MAX, NULL));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(ioas, locked_memory_counts_each_page_once)
{
	long base = locked_bytes();
	__u32 second;
	__u64 a = 0, b = 0, c = 0;

	ASSERT_LE(0, base);
	ASSERT_EQ(0, ioas_alloc(self->fd, &second));
	ASSERT_EQ(0, map(self->fd, self->ioas, RW, self->buf, self->len, &a));
	EXPECT_EQ(base + (long)self->len, locked_bytes());
	/* The same pages in a second address space, and again in the first. */
	ASSERT_EQ(0, map(self->fd, second, RW, self->buf, self->len, &b));
	ASSERT_EQ(0, map(self->fd, self->ioas, RW, self->buf, 4 * page_size, &c));
	EXPECT_EQ(base + (long)self->len, locked_bytes());
	/* Still pinned by the second address space. */
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(base + (long)self->len, locked_bytes());
	/* Destroying the last user releases the charge. */
	ASSERT_EQ(0, destroy(self->fd, second));
	EXPECT_EQ(base, locked_bytes());
}

/* Mappings that share only part of their pages: each page still counts once. */
TEST_F(ioas, locked_memory_partial_overlaps)
{
	size_t len = 4 * MiB;
	long base = locked_bytes();
	__u32 second, third;
	__u64 a = 0, b = 0, c = 0;
	char *huge = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	char *mem = huge == MAP_FAILED ? self->buf : huge;

	if (huge == MAP_FAILED)
		len = self->len;
	ASSERT_LE(0, base);
	ASSERT_EQ(0, ioas_alloc(self->fd, &second));
	ASSERT_EQ(0, ioas_alloc(self->fd, &third));
	/* Physically contiguous memory, then a middle part of it, then its tail and beyond. */
	ASSERT_EQ(0, map(self->fd, self->ioas, RW, mem, len, &a));
	EXPECT_EQ(base + (long)len, locked_bytes());
	ASSERT_EQ(0, map(self->fd, second, RW, mem + len / 4, len / 4, &b));
	EXPECT_EQ(base + (long)len, locked_bytes());
	ASSERT_EQ(0, map(self->fd, third, RW, mem + len / 2, len / 2, &c));
	EXPECT_EQ(base + (long)len, locked_bytes());
	/* Without the whole, only what the other two pin stays: 1/4 + 2/4. */
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(base + (long)(3 * len / 4), locked_bytes());
	ASSERT_EQ(0, unmap(self->fd, third, 0, UINT64_MAX, NULL));
	EXPECT_EQ(base + (long)(len / 4), locked_bytes());
	ASSERT_EQ(0, unmap(self->fd, second, 0, UINT64_MAX, NULL));
	EXPECT_EQ(base, locked_bytes());
	if (huge != MAP_FAILED)
		munmap(huge, len);
}

TEST_F(ioas, destroy_and_close_with_live_mappings)
{
	long base = locked_bytes();
	int fd2 = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	__u32 ids[3];
	__u64 iova;

	ASSERT_LE(0, fd2);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, ioas_alloc(fd2, &ids[i]));
		iova = 0;
		ASSERT_EQ(0, map(fd2, ids[i], RW, self->buf, (i + 1) * page_size, &iova));
	}
	EXPECT_EQ(base + 3 * page_size, locked_bytes());
	ASSERT_EQ(0, destroy(fd2, ids[2]));
	EXPECT_EQ(base + 2 * page_size, locked_bytes());
	ASSERT_EQ(0, close(fd2));
	EXPECT_EQ(base, locked_bytes());
}

TEST_F(ioas, huge_buffer)
{
	size_t len = 8 * MiB;
	char *big = mmap(NULL, len + 2 * MiB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *aligned;
	__u64 iova = 0, unmapped = 0;

	ASSERT_NE(MAP_FAILED, big);
	aligned = (char *)(((uintptr_t)big + 2 * MiB - 1) & ~(2 * MiB - 1));
	madvise(aligned, len, MADV_HUGEPAGE);
	memset(aligned, 1, len);
	ASSERT_EQ(0, map(self->fd, self->ioas, RW, aligned, len, &iova));
	ASSERT_EQ(0, unmap(self->fd, self->ioas, iova, len, &unmapped));
	EXPECT_EQ(len, unmapped);
	munmap(big, len + 2 * MiB);
}

/* Runs fn in a child process and returns its exit status. */
static int in_child(void (*fn)(int fd, __u32 ioas, void *buf), int fd, __u32 ioas, void *buf)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		fn(fd, ioas, buf);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void map_from_other_process(int fd, __u32 ioas, void *buf)
{
	__u64 iova = 0;

	if (map(fd, ioas, RW, buf, page_size, &iova) != -1 || errno != EPERM)
		_exit(1);
}

TEST_F(ioas, map_from_another_process)
{
	EXPECT_EQ(0, in_child(map_from_other_process, self->fd, self->ioas, self->buf));
}

/*
 * Makes the calling process user @uid, with no other process of that user holding
 * locked memory (so that the user's count starts at 0), without CAP_IPC_LOCK (the limit
 * applies, as for an unprivileged VMM) but with CAP_DAC_OVERRIDE, to open /dev/ioasid.
 */
static int become_user(uid_t uid)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };

	if (prctl(PR_SET_KEEPCAPS, 1) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
		return -1;
	data[0].effective = data[0].permitted = data[0].inheritable = 1u << CAP_DAC_OVERRIDE;
	if (syscall(SYS_capset, &hdr, data))
		return -1;
	/* Kept across exec too. */
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_OVERRIDE, 0, 0);
}

static int set_memlock(long bytes)
{
	struct rlimit lim = { .rlim_cur = bytes, .rlim_max = bytes };

	return setrlimit(RLIMIT_MEMLOCK, &lim);
}

static void map_past_memlock(int fd, __u32 ioas, void *buf)
{
	int own;
	char *mem;
	__u64 iova = 0;
	long base;

	if (become_user(4001))
		_exit(3);
	own = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	if (own < 0 || ioas_alloc(own, &ioas))
		_exit(4);
	base = locked_bytes();
	if (set_memlock(base + 8 * page_size))
		_exit(5);
	mem = buffer(16 * page_size);
	if (!mem)
		_exit(6);
	if (map(own, ioas, RW, mem, 16 * page_size, &iova) != -1 || errno != ENOMEM)
		_exit(7);
	if (locked_bytes() != base)
		_exit(8);
	if (map(own, ioas, RW, mem, 8 * page_size, &iova))
		_exit(9);
	/* Pages already charged do not count again. */
	if (map(own, ioas, RW, mem, 8 * page_size, &iova))
		_exit(10);
	if (map(own, ioas, RW, mem + 8 * page_size, page_size, &iova) != -1 || errno != ENOMEM)
		_exit(11);
	close(own);
	if (locked_bytes() != base)
		_exit(12);
}

TEST_F(ioas, map_past_rlimit_memlock)
{
	EXPECT_EQ(0, in_child(map_past_memlock, self->fd, self->ioas, self->buf));
}

/* Pages of [mem, mem + len) that are resident. */
static long resident(void *mem, size_t len)
{
	static unsigned char vec[(256ul << 20) / 4096];
	long n = 0;

	if (len / page_size > sizeof(vec) || mincore(mem, len, vec))
		return -1;
	for (size_t i = 0; i < len / page_size; i++)
		n += vec[i] & 1;
	return n;
}

/*
 * Pinned pages show in VmPin, where io_uring, RDMA and iommufd count long-term pins,
 * and never in VmLck: that count is mlock()'s, kept under the mmap lock, and a map does
 * not take that lock. mlock()ed memory does not count against the pins either.
 */
TEST_F(ioas, pins_count_in_vmpin_not_vmlck)
{
	long pin = locked_bytes(), lck = status_bytes("VmLck");
	__u64 iova = 0;

	ASSERT_LE(0, pin);
	ASSERT_LE(0, lck);
	ASSERT_EQ(0, mlock(self->buf, page_size));
	EXPECT_EQ(lck + page_size, status_bytes("VmLck"));
	EXPECT_EQ(pin, locked_bytes());
	ASSERT_EQ(0, map(self->fd, self->ioas, RW, self->buf, self->len, &iova));
	EXPECT_EQ(pin + (long)self->len, locked_bytes());
	EXPECT_EQ(lck + page_size, status_bytes("VmLck"));
	ASSERT_EQ(0, unmap(self->fd, self->ioas, iova, self->len, NULL));
	EXPECT_EQ(pin, locked_bytes());
	ASSERT_EQ(0, munlock(self->buf, page_size));
	EXPECT_EQ(lck, status_bytes("VmLck"));
}

/*
 * A map far beyond RLIMIT_MEMLOCK fails once the limit is reached: the pages are charged
 * batch by batch as they are pinned, so at most a batch beyond the limit is ever faulted
 * in and pinned (not the whole range), and nothing stays pinned or charged afterwards.
 */
static void map_far_past_memlock(int fd, __u32 ioas, void *buf)
{
	const size_t huge = 256ul << 20, limit = 8ul << 20;
	long pinned = pinned_pages(), touched, base = locked_bytes();
	__u64 iova = 0;
	char *mem;
	int own;

	if (become_user(4002))
		_exit(3);
	own = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	if (own < 0 || ioas_alloc(own, &ioas) || set_memlock(limit))
		_exit(4);
	mem = mmap(NULL, huge, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		_exit(5);
	/* Counted in 4 KiB pages; where THP is on anyway, a fault may bring in 2 MiB. */
	madvise(mem, huge, MADV_NOHUGEPAGE);
	if (map(own, ioas, RW, mem, huge, &iova) != -1 || errno != ENOMEM)
		_exit(7);
	/*
	 * Pinning faults the pages in: the limit, plus the batch of 512 that crossed it
	 * (and, were THP on, the rest of its last 2 MiB).
	 */
	touched = resident(mem, huge);
	if (touched < 0 || touched > (long)(limit / page_size) + 2 * 512) {
		fprintf(stderr, "pinned %ld pages for a limit of %ld\n", touched,
			(long)(limit / page_size));
		_exit(8);
	}
	close(own);
	/* Every pin taken was released, and nothing stays charged. */
	if (pinned_pages() != pinned || locked_bytes() != base)
		_exit(9);
}

TEST_F(ioas, map_far_past_rlimit_memlock_stops_at_the_limit)
{
	EXPECT_EQ(0, in_child(map_far_past_memlock, self->fd, self->ioas, self->buf));
}

/*
 * Pins outlive the process that made them when its context's fd survives an exec: they
 * stay charged to the user, so the program exec'd cannot pin a second limit's worth in
 * a new context, nor pin through the old one (EPERM) until it takes the charge over
 * (IOASID_CHANGE_PROCESS); closing the old one frees its charge. Stage two runs in the exec'd program (exec_stage, below).
 */
static void map_across_exec(int fd, __u32 ioas, void *buf)
{
	char env[64];
	__u64 iova = 0;
	char *mem;
	int old;

	if (become_user(4003) || set_memlock(16 * page_size))
		_exit(3);
	old = open("/dev/ioasid", O_RDWR);
	mem = buffer(16 * page_size);
	if (old < 0 || !mem || ioas_alloc(old, &ioas))
		_exit(4);
	if (map(old, ioas, RW, mem, 16 * page_size, &iova))
		_exit(5);
	snprintf(env, sizeof(env), "%d:%u", old, ioas);
	setenv("IOASID_EXEC_STAGE", env, 1);
	execl("/proc/self/exe", "ioas_test", (char *)NULL);
	_exit(6);
}

__attribute__((constructor)) static void exec_stage(void)
{
	const char *env = getenv("IOASID_EXEC_STAGE");
	long page = sysconf(_SC_PAGESIZE);
	__u32 ioas, old_ioas;
	__u64 iova = 0, pages = 0;
	int old, fd;
	char *mem;

	if (!env)
		return;
	if (sscanf(env, "%d:%u", &old, &old_ioas) != 2)
		_exit(10);
	fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	mem = mmap(NULL, 16 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (fd < 0 || mem == MAP_FAILED || ioas_alloc(fd, &ioas))
		_exit(11);
	/* The old context's 16 pages still count for this user. */
	if (map(fd, ioas, RW, mem, page, &iova) != -1 || errno != ENOMEM)
		_exit(12);
	if (map(old, old_ioas, RW, mem, page, &iova) != -1 || errno != EPERM)
		_exit(13);
	/* The live update: the exec'd program takes the old context's charge over. */
	if (change_process(old, &pages) || pages != 16 || locked_bytes() != 16 * page)
		_exit(15);
	/* Now it may pin through it, within the same user's limit: full. */
	if (map(old, old_ioas, RW, mem, page, &iova) != -1 || errno != ENOMEM)
		_exit(16);
	close(old);
	if (locked_bytes() != 0)
		_exit(17);
	if (map(fd, ioas, RW, mem, 16 * page, &iova))
		_exit(14);
	_exit(0);
}

TEST_F(ioas, pins_kept_across_exec_stay_charged)
{
	EXPECT_EQ(0, in_child(map_across_exec, self->fd, self->ioas, self->buf));
}

struct racer {
	int fd;
	__u32 ioas;
	char *buf;
	int failures;
};

/* Maps and unmaps in a loop; errors other than the expected races count as failures. */
static void *map_unmap_loop(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < 200; i++) {
		__u64 iova = 0, unmapped = 0;
		size_t len = (1 + i % 4) * page_size;

		if (map(r->fd, r->ioas, RW, r->buf + (i % 8) * page_size, len, &iova)) {
			/* The address space may have been destroyed under us. */
			if (errno != ENOENT)
				r->failures++;
			continue;
		}
		if (unmap(r->fd, r->ioas, iova, len, &unmapped)) {
			if (errno != ENOENT)
				r->failures++;
		} else if (unmapped != len) {
			r->failures++;
		}
	}
	return NULL;
}

TEST_F(ioas, concurrent_map_unmap_destroy)
{
	long base = locked_bytes();
	struct racer racers[4];
	pthread_t threads[4];
	__u32 other, doomed;

	ASSERT_EQ(0, ioas_alloc(self->fd, &other));
	ASSERT_EQ(0, ioas_alloc(self->fd, &doomed));
	/* Two threads share an address space, one has its own, one races a destroy. */
	__u32 targets[4] = { self->ioas, self->ioas, other, doomed };
	for (int i = 0; i < 4; i++) {
		racers[i] = (struct racer){ self->fd, targets[i], self->buf, 0 };
		ASSERT_EQ(0, pthread_create(&threads[i], NULL, map_unmap_loop, &racers[i]));
	}
	usleep(1000);
	EXPECT_EQ(0, destroy(self->fd, doomed));
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(0, pthread_join(threads[i], NULL));
		EXPECT_EQ(0, racers[i].failures);
	}
	/* Every mapping was unmapped or destroyed: nothing stays charged. */
	EXPECT_EQ(base, locked_bytes());
	EXPECT_EQ(-1, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(ENOENT, errno);
}

/*
 * IOASID_IOAS_COPY: the copy shares the pins and the charge of what it copies; the
 * layout of the source range, gaps included, is kept; either side unmaps alone.
 */
TEST_F(ioas, copy_shares_the_pins_and_the_charge)
{
	long base = locked_bytes();
	__u64 a = 0x100000, b = a + 8 * page_size, dst = 0, again = 0x10000000, unmapped = 0;
	__u32 second;

	ASSERT_LE(0, base);
	ASSERT_EQ(0, ioas_alloc(self->fd, &second));
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, 4 * page_size, a));
	ASSERT_EQ(0, map_at(self->fd, self->ioas, (char *)self->buf + 4 * page_size,
			    4 * page_size, b));
	EXPECT_EQ(base + 8 * page_size, locked_bytes());
	ASSERT_EQ(0, copy(self->fd, second, self->ioas, RW, a, 12 * page_size, &dst));
	EXPECT_NE(0, dst);
	EXPECT_EQ(base + 8 * page_size, locked_bytes());
	/* The gap stays a gap; the copies are whole mappings of their own. */
	EXPECT_EQ(-1, unmap(self->fd, second, dst + 4 * page_size, 4 * page_size, NULL));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, unmap(self->fd, second, dst, 2 * page_size, NULL));
	EXPECT_EQ(EINVAL, errno);
	/* The source goes; the copy keeps the pages pinned and charged. */
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, &unmapped));
	EXPECT_EQ(8 * page_size, unmapped);
	EXPECT_EQ(base + 8 * page_size, locked_bytes());
	/* A copy of the copy, in the same address space, at a fixed IOVA. */
	ASSERT_EQ(0, copy(self->fd, second, second, FIXED, dst, 12 * page_size, &again));
	EXPECT_EQ(0x10000000, again);
	ASSERT_EQ(0, unmap(self->fd, second, dst, 12 * page_size, &unmapped));
	EXPECT_EQ(8 * page_size, unmapped);
	EXPECT_EQ(base + 8 * page_size, locked_bytes());
	ASSERT_EQ(0, destroy(self->fd, second));
	EXPECT_EQ(base, locked_bytes());
}

static void copy_from_other_process(int fd, __u32 ioas, void *buf)
{
	__u64 dst = 0;

	if (copy(fd, ioas, ioas, RW, 0x100000, page_size, &dst) != -1 || errno != EPERM)
		_exit(1);
}

TEST_F(ioas, copy_bad_input)
{
	long base = locked_bytes();
	__u64 a = 0x100000, p = page_size, top = UINT64_MAX - p + 1, dst, unmapped = 0;
	char *ro = mmap(NULL, 4 * p, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
			-1, 0);
	__u32 second, x = self->ioas;
	struct {
		__u32 to, from, flags;
		__u64 src, length, dst;
		int err;
	} cases[] = {
		{ 0, x, RW | (1u << 20), a, 4 * p, 0, EOPNOTSUPP },
		{ 0, x, IOASID_MAP_FIXED_IOVA, a, 4 * p, 0, EINVAL },
		{ 0, x, RW, a, 0, 0, EINVAL },
		{ 0, x, RW, a + 1, 4 * p, 0, EINVAL },
		{ 0, x, RW, a, 4 * p + 1, 0, EINVAL },
		{ 0, x, FIXED, a, 4 * p, 0x10000001, EINVAL },
		{ 0, x, RW, a, 2 * p, 0, EINVAL },
		{ 0, x, RW, a + p, 4 * p, 0, EINVAL },
		{ 0, x, RW, 0x10000000, 4 * p, 0, ENOENT },
		{ 9999, x, RW, a, 4 * p, 0, ENOENT },
		{ 0, 9999, RW, a, 4 * p, 0, ENOENT },
		{ 0, x, RW, top, 2 * p, 0, EOVERFLOW },
		{ 0, x, FIXED, a, 4 * p, top, EOVERFLOW },
		{ x, x, FIXED, a, 4 * p, a + 2 * p, EEXIST },
		/* Pinned read-only: no writable copy. */
		{ 0, x, RW, 0x200000, 4 * p, 0, EACCES },
	};

	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_EQ(0, ioas_alloc(self->fd, &second));
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->buf, 4 * p, a));
	dst = 0x200000;
	ASSERT_EQ(0, map(self->fd, self->ioas, IOASID_MAP_READABLE | IOASID_MAP_FIXED_IOVA, ro,
			 4 * p, &dst));
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dst = cases[i].dst;
		TH_LOG("case %u", i);
		EXPECT_EQ(-1, copy(self->fd, cases[i].to ?: second, cases[i].from, cases[i].flags,
				   cases[i].src, cases[i].length, &dst));
		EXPECT_EQ(cases[i].err, errno);
	}
	/* Nothing was copied by any of them. */
	EXPECT_EQ(-1, unmap(self->fd, second, 0, UINT64_MAX, NULL));
	EXPECT_EQ(ENOENT, errno);
	/* Read-only memory copies read-only. */
	dst = 0;
	EXPECT_EQ(0, copy(self->fd, second, self->ioas, IOASID_MAP_READABLE, 0x200000, 4 * p,
			  &dst));
	EXPECT_EQ(0, in_child(copy_from_other_process, self->fd, self->ioas, self->buf));
	EXPECT_EQ(0, unmap(self->fd, second, 0, UINT64_MAX, &unmapped));
	EXPECT_EQ(4 * p, unmapped);
	EXPECT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, &unmapped));
	EXPECT_EQ(8 * p, unmapped);
	EXPECT_EQ(base, locked_bytes());
	munmap(ro, 4 * p);
}

/* Defined below. */
static int memfd(size_t len, unsigned int flags);

/*
 * A copy gives no more access than the mapping it copies: not reads of a file mapped
 * write-only, not writes to a file sealed against them since it was mapped.
 */
TEST_F(ioas, copy_gives_no_more_access_than_the_source)
{
	int mfd = memfd(4 * page_size, MFD_ALLOW_SEALING);
	__u64 iova = 0x100000, dst = 0;
	char path[64];
	__u32 second;
	int wo;

	ASSERT_LE(0, mfd);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	wo = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, wo);
	ASSERT_EQ(0, ioas_alloc(self->fd, &second));
	ASSERT_EQ(0, map_file(self->fd, self->ioas, IOASID_MAP_WRITEABLE | IOASID_MAP_FIXED_IOVA,
			      wo, 0, 2 * page_size, &iova));
	EXPECT_EQ(-1, copy(self->fd, second, self->ioas, IOASID_MAP_READABLE, 0x100000,
			   2 * page_size, &dst));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(0, copy(self->fd, second, self->ioas, IOASID_MAP_WRITEABLE, 0x100000,
			  2 * page_size, &dst));
	/* Pinned writable: F_SEAL_WRITE waits for the pins and gives up. */
	iova = 0x200000;
	ASSERT_EQ(0, map_file(self->fd, self->ioas, FIXED, mfd, 2 * page_size, 2 * page_size,
			      &iova));
	EXPECT_EQ(-1, fcntl(mfd, F_ADD_SEALS, F_SEAL_WRITE));
	EXPECT_EQ(EBUSY, errno);
	/* F_SEAL_FUTURE_WRITE is taken: no new writable mapping from then on. */
	ASSERT_EQ(0, fcntl(mfd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	dst = 0;
	EXPECT_EQ(-1, copy(self->fd, second, self->ioas, RW, 0x200000, 2 * page_size, &dst));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(0, copy(self->fd, second, self->ioas, IOASID_MAP_READABLE, 0x200000,
			  2 * page_size, &dst));
	EXPECT_EQ(0, destroy(self->fd, second));
	EXPECT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	close(wo);
	close(mfd);
}

/* A memfd of @len bytes, never mapped into this process. */
static int memfd(size_t len, unsigned int flags)
{
	int fd = memfd_create("ioasid-test", MFD_CLOEXEC | flags);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * IOASID_IOAS_MAP_FILE: a file's pages by offset, with no user mapping; holes are
 * filled; the same file pages count once; truncating the file leaves the mapping.
 */
TEST_F(ioas, map_file_by_offset)
{
	long base = locked_bytes();
	int mfd = memfd(16 * page_size, 0);
	__u64 iova = 0, again = 0, unmapped = 0;

	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, map_file(self->fd, self->ioas, RW, mfd, 4 * page_size, 8 * page_size,
			      &iova));
	EXPECT_NE(0, iova);
	EXPECT_EQ(base + 8 * page_size, locked_bytes());
	ASSERT_EQ(0, map_file(self->fd, self->ioas, RW, mfd, 0, 8 * page_size, &again));
	EXPECT_EQ(base + 12 * page_size, locked_bytes());
	ASSERT_EQ(0, ftruncate(mfd, 0));
	EXPECT_EQ(base + 12 * page_size, locked_bytes());
	/* Now past the end of the file. */
	EXPECT_EQ(-1, map_file(self->fd, self->ioas, RW, mfd, 0, page_size, &iova));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, &unmapped));
	EXPECT_EQ(16 * page_size, unmapped);
	EXPECT_EQ(base, locked_bytes());
	close(mfd);
}

/* A hugetlbfs file maps at any page offset, and charges only the pages it maps. */
TEST_F(ioas, map_file_of_hugetlbfs)
{
	long base = locked_bytes();
	int mfd = memfd(2 * MiB, MFD_HUGETLB);
	__u64 iova = 0, whole = 0, unmapped = 0;

	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, map_file(self->fd, self->ioas, RW, mfd, page_size, 2 * page_size, &iova));
	EXPECT_EQ(base + 2 * page_size, locked_bytes());
	ASSERT_EQ(0, map_file(self->fd, self->ioas, RW, mfd, 0, 2 * MiB, &whole));
	EXPECT_EQ(base + (long)(2 * MiB), locked_bytes());
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, &unmapped));
	EXPECT_EQ(2 * MiB + 2 * page_size, unmapped);
	EXPECT_EQ(base, locked_bytes());
	close(mfd);
}

static void map_file_from_other_process(int fd, __u32 ioas, void *buf)
{
	int mfd = memfd(page_size, 0);
	__u64 iova = 0;

	if (mfd < 0)
		_exit(2);
	if (map_file(fd, ioas, RW, mfd, 0, page_size, &iova) != -1 || errno != EPERM)
		_exit(1);
}

TEST_F(ioas, map_file_bad_input)
{
	long base = locked_bytes();
	__u64 p = page_size, top = UINT64_MAX - p + 1, iova;
	int mfd = memfd(16 * p, MFD_ALLOW_SEALING), sealed = memfd(p, MFD_ALLOW_SEALING);
	int future = memfd(p, MFD_ALLOW_SEALING), null = open("/dev/null", O_RDWR | O_CLOEXEC);
	char path[64];
	int ro, pipes[2];

	ASSERT_LE(0, mfd);
	ASSERT_LE(0, sealed);
	ASSERT_LE(0, future);
	ASSERT_LE(0, null);
	ASSERT_EQ(0, pipe(pipes));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, ro);
	ASSERT_EQ(0, fcntl(sealed, F_ADD_SEALS, F_SEAL_WRITE));
	ASSERT_EQ(0, fcntl(future, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	struct {
		int file;
		__u32 flags;
		__u64 start, length, iova;
		int err;
	} cases[] = {
		{ -1, RW, 0, p, 0, EBADF },
		{ 1000, RW, 0, p, 0, EBADF },
		{ null, RW, 0, p, 0, EINVAL },
		{ pipes[0], RW, 0, p, 0, EINVAL },
		{ self->fd, RW, 0, p, 0, EINVAL },
		{ mfd, RW, 15 * p, 2 * p, 0, EINVAL },
		{ mfd, RW, 16 * p, p, 0, EINVAL },
		{ mfd, RW, 1, p, 0, EINVAL },
		{ mfd, RW, 0, 0, 0, EINVAL },
		{ mfd, RW, 0, p + 1, 0, EINVAL },
		{ mfd, FIXED, 0, p, 1, EINVAL },
		{ mfd, IOASID_MAP_FIXED_IOVA, 0, p, 0x100000, EINVAL },
		{ mfd, RW | (1u << 20), 0, p, 0, EOPNOTSUPP },
		{ mfd, RW, top, 2 * p, 0, EOVERFLOW },
		{ mfd, FIXED, 0, 2 * p, top, EOVERFLOW },
		{ ro, RW, 0, p, 0, EACCES },
		{ sealed, RW, 0, p, 0, EACCES },
		{ future, RW, 0, p, 0, EACCES },
	};

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		iova = cases[i].iova;
		TH_LOG("case %u", i);
		EXPECT_EQ(-1, map_file(self->fd, self->ioas, cases[i].flags, cases[i].file,
				       cases[i].start, cases[i].length, &iova));
		EXPECT_EQ(cases[i].err, errno);
	}
	EXPECT_EQ(base, locked_bytes());
	/* What the mode and seals allow: reading. */
	iova = 0;
	EXPECT_EQ(0, map_file(self->fd, self->ioas, IOASID_MAP_READABLE, ro, 0, p, &iova));
	EXPECT_EQ(0, map_file(self->fd, self->ioas, IOASID_MAP_READABLE, sealed, 0, p, &iova));
	EXPECT_EQ(0, map_file(self->fd, self->ioas, IOASID_MAP_READABLE, future, 0, p, &iova));
	EXPECT_EQ(0, in_child(map_file_from_other_process, self->fd, self->ioas, self->buf));
	EXPECT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(base, locked_bytes());
	close(ro);
	close(mfd);
	close(sealed);
	close(future);
	close(null);
	close(pipes[0]);
	close(pipes[1]);
}

/*
 * The fd @fd of the parent, as a process that did not inherit it receives it (the test
 * kernel has no sockets for SCM_RIGHTS; pidfd_getfd() hands over the same file).
 */
static int fd_from_parent(int fd)
{
	int pidfd = syscall(SYS_pidfd_open, getppid(), 0);
	int got;

	if (pidfd < 0)
		return -1;
	got = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	return got;
}

/*
 * The new VMM of a live update: receives the fd, cannot pin before it takes the charge
 * over, takes it (the 16 pages its predecessor mapped), then maps memory of its own.
 */
static int new_vmm(int parent_fd, __u32 ioas)
{
	char *mem = buffer(4 * page_size);
	__u64 iova = 0, pages = 0;
	long before = locked_bytes();
	int fd = fd_from_parent(parent_fd);

	if (fd < 0 || !mem || before < 0)
		return 1;
	if (map(fd, ioas, RW, mem, 4 * page_size, &iova) != -1 || errno != EPERM)
		return 2;
	if (copy(fd, ioas, ioas, RW, 0, UINT64_MAX & ~(page_size - 1), &iova) != -1 ||
	    errno != EPERM)
		return 3;
	if (change_process(fd, &pages) || pages != 16)
		return 4;
	if (locked_bytes() != before + 16 * page_size)
		return 5;
	if (map(fd, ioas, RW, mem, 4 * page_size, &iova))
		return 6;
	if (locked_bytes() != before + 20 * page_size)
		return 7;
	return 0;
}

TEST_F(ioas, change_process_moves_the_charge)
{
	long base = locked_bytes();
	__u64 iova = 0, pages = 0, unmapped = 0;
	int status;
	pid_t pid;

	ASSERT_EQ(0, map(self->fd, self->ioas, RW, self->buf, 16 * page_size, &iova));
	EXPECT_EQ(base + 16 * page_size, locked_bytes());
	/* From the charged process: nothing changes. */
	ASSERT_EQ(0, change_process(self->fd, &pages));
	EXPECT_EQ(16, pages);
	EXPECT_EQ(base + 16 * page_size, locked_bytes());
	pid = fork();
	if (pid == 0) {
		/* A new process that gets the fd only by fd passing. */
		int fd = self->fd;

		close(fd);
		_exit(new_vmm(fd, self->ioas));
	}
	ASSERT_LT(0, pid);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* Moved out of this process, which can no longer pin; the mappings stay. */
	EXPECT_EQ(base, locked_bytes());
	EXPECT_EQ(-1, map(self->fd, self->ioas, RW, self->buf, page_size, &iova));
	EXPECT_EQ(EPERM, errno);
	/* Taken back from the exited one: its pages and the child's. */
	ASSERT_EQ(0, change_process(self->fd, &pages));
	EXPECT_EQ(20, pages);
	EXPECT_EQ(base + 20 * page_size, locked_bytes());
	ASSERT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, &unmapped));
	EXPECT_EQ(20 * page_size, unmapped);
	EXPECT_EQ(base, locked_bytes());
}

/* Another user, whose limit cannot hold the 16 pages: refused, nothing moves. */
static void take_over_past_memlock(int fd, __u32 ioas, void *buf)
{
	__u64 pages = 0;

	if (become_user(4003) || set_memlock(8 * page_size))
		_exit(2);
	if (change_process(fd, &pages) != -1 || errno != ENOMEM)
		_exit(3);
	if (locked_bytes() != 0)
		_exit(4);
}

/*
 * Another user, whose limit holds them: the user is charged for them (what is left
 * of its limit is 16 pages less), and the change cannot be called with flags.
 */
static void take_over_as_another_user(int fd, __u32 ioas, void *buf)
{
	struct ioasid_change_process bad = { .argsz = sizeof(bad), .flags = 1 };
	char *mem = buffer(16 * page_size);
	__u64 pages = 0, iova = 0;

	if (!mem || become_user(4004) || set_memlock(24 * page_size))
		_exit(2);
	if (ioctl(fd, IOASID_CHANGE_PROCESS, &bad) != -1 || errno != EOPNOTSUPP)
		_exit(3);
	if (change_process(fd, &pages) || pages != 16)
		_exit(4);
	if (map(fd, ioas, RW, mem, 16 * page_size, &iova) != -1 || errno != ENOMEM)
		_exit(5);
	if (map(fd, ioas, RW, mem, 8 * page_size, &iova))
		_exit(6);
}

TEST_F(ioas, change_process_checks_the_new_limit)
{
	long base = locked_bytes();
	__u64 iova = 0, pages = 0;

	ASSERT_EQ(0, map(self->fd, self->ioas, RW, self->buf, 16 * page_size, &iova));
	EXPECT_EQ(0, in_child(take_over_past_memlock, self->fd, self->ioas, self->buf));
	/* Still this process's: it maps, and its count is unchanged. */
	EXPECT_EQ(base + 16 * page_size, locked_bytes());
	EXPECT_EQ(0, map(self->fd, self->ioas, RW, self->buf, page_size, &iova));
	EXPECT_EQ(0, in_child(take_over_as_another_user, self->fd, self->ioas, self->buf));
	EXPECT_EQ(base, locked_bytes());
	ASSERT_EQ(0, change_process(self->fd, &pages));
	EXPECT_EQ(24, pages);
	EXPECT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(base, locked_bytes());
}

/* Every ioctl with a struct argument, its struct's first published size, and its size. */
#define IOCTL(cmd, type, first) { cmd, first, sizeof(struct type), #cmd }
static const struct {
	unsigned long cmd;
	__u32 size, known;
	const char *name;
} struct_ioctls[] = {
	IOCTL(IOASID_CHECK_EXTENSION, ioasid_check_extension, 16),
	IOCTL(IOASID_DESTROY, ioasid_destroy, 8),
	IOCTL(IOASID_IOAS_ALLOC, ioasid_ioas_alloc, 16),
	IOCTL(IOASID_IOAS_IOVA_RANGES, ioasid_ioas_iova_ranges, 32),
	IOCTL(IOASID_IOAS_MAP, ioasid_ioas_map, 40),
	IOCTL(IOASID_IOAS_UNMAP, ioasid_ioas_unmap, 24),
	IOCTL(IOASID_DEVICE_ATTACH, ioasid_device_attach, 16),
	IOCTL(IOASID_DEVICE_DETACH, ioasid_device_detach, 8),
	IOCTL(IOASID_DEVICE_GET_INFO, ioasid_device_info, 56),
	IOCTL(IOASID_PASID_NS_ALLOC, ioasid_pasid_ns_alloc, 16),
	IOCTL(IOASID_PASID_ALLOC, ioasid_pasid_alloc, 24),
	IOCTL(IOASID_PASID_FREE, ioasid_pasid_free, 16),
	IOCTL(IOASID_DEVICE_PASID_ATTACH, ioasid_device_pasid_attach, 24),
	IOCTL(IOASID_DEVICE_PASID_DETACH, ioasid_device_pasid_detach, 16),
	IOCTL(IOASID_NESTED_ALLOC, ioasid_nested_alloc, 24),
	IOCTL(IOASID_BIND_TABLE, ioasid_bind_table, 32),
	IOCTL(IOASID_UNBIND_TABLE, ioasid_unbind_table, 24),
	IOCTL(IOASID_CACHE_INVALIDATE, ioasid_cache_invalidate, 40),
	IOCTL(IOASID_FAULT_QUEUE_ALLOC, ioasid_fault_queue_alloc, 24),
	IOCTL(IOASID_FAULT_QUEUE_STATUS, ioasid_fault_queue_status, 32),
	IOCTL(IOASID_IOAS_COPY, ioasid_ioas_copy, 40),
	IOCTL(IOASID_IOAS_MAP_FILE, ioasid_ioas_map_file, 40),
	IOCTL(IOASID_CHANGE_PROCESS, ioasid_change_process, 16),
	IOCTL(IOASID_IOAS_SET_DIRTY_TRACKING, ioasid_ioas_set_dirty_tracking, 16),
	IOCTL(IOASID_IOAS_GET_DIRTY_BITMAP, ioasid_ioas_get_dirty_bitmap, 48),
};

/* The argsz rules hold for every ioctl, before anything else is looked at. */
TEST_F(ioas, every_ioctl_follows_the_argsz_rules)
{
	__u8 buf[256];

	for (unsigned int i = 0; i < sizeof(struct_ioctls) / sizeof(struct_ioctls[0]); i++) {
		__u32 size = struct_ioctls[i].size;

		TH_LOG("%s", struct_ioctls[i].name);
		/* Too short. */
		memset(buf, 0, sizeof(buf));
		*(__u32 *)buf = size - 1;
		EXPECT_EQ(-1, ioctl(self->fd, struct_ioctls[i].cmd, buf));
		EXPECT_EQ(EINVAL, errno);
		*(__u32 *)buf = 0;
		EXPECT_EQ(-1, ioctl(self->fd, struct_ioctls[i].cmd, buf));
		EXPECT_EQ(EINVAL, errno);
		/* Longer, with a byte the kernel does not know set. */
		*(__u32 *)buf = struct_ioctls[i].known + 8;
		buf[struct_ioctls[i].known + 7] = 1;
		EXPECT_EQ(-1, ioctl(self->fd, struct_ioctls[i].cmd, buf));
		EXPECT_EQ(E2BIG, errno);
		/* Far too long. */
		*(__u32 *)buf = IOASID_ARGSZ_MAX + 1;
		EXPECT_EQ(-1, ioctl(self->fd, struct_ioctls[i].cmd, buf));
		EXPECT_EQ(E2BIG, errno);
		/* Not a user pointer at all. */
		EXPECT_EQ(-1, ioctl(self->fd, struct_ioctls[i].cmd, NULL));
		EXPECT_EQ(EFAULT, errno);
	}
}

TEST_HARNESS_MAIN
