// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of nested translation on the mock IOMMU: a child address space whose
 * stage-1 table lives in "guest" memory mapped in the parent, bound per device and per
 * PASID with the versioned struct ioasid_bind_table; stage 1 + stage 2 checked end to end
 * in the mock; invalidations reach the mock IOTLB with their granularity; format
 * discovery through the device info's capability chain; bad input.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/ioasid.h>

#include "../../../../rust/ioasid/mock/ioasid_mock.h"
#include "ioasid_utils.h"
#include "kselftest_harness.h"

#define SZ_4K 0x1000ull
#define G 0x100000ull		/* guest physical base of the guest memory */
#define GUEST_PAGES 64
#define PRESENT 1ull
#define WRITE 2ull
#define RW_CHECK (IOASID_MOCK_CHECK_READ | IOASID_MOCK_CHECK_WRITE)

static int bind(int fd, __u32 child, __u32 dev, __u32 ns, __u32 pasid, __u64 table)
{
	struct ioasid_bind_table a = {
		.argsz = sizeof(a), .version = IOASID_BIND_VERSION_1,
		.flags = ns ? IOASID_BIND_PASID : 0, .format = IOASID_FORMAT_MOCK,
		.child_id = child, .dev_id = dev, .ns_id = ns, .pasid = pasid,
		.table.mock.table = table,
	};

	return ioctl(fd, IOASID_BIND_TABLE, &a);
}

static int unbind(int fd, __u32 child, __u32 dev, __u32 ns, __u32 pasid)
{
	return unbind_table(fd, child, dev, ns, pasid);
}

/* Invalidates @n mock requests, selected by @flags/@dev/@ns/@pasid; *@done: carried out. */
static int invalidate(int fd, __u32 child, __u32 flags, __u32 dev, __u32 ns, __u32 pasid,
		      struct ioasid_inval_mock *reqs, __u32 n, __u32 *done)
{
	return cache_invalidate(fd, child, flags, dev, ns, pasid, reqs, sizeof(*reqs), n, done);
}

static int check(int mock, __u32 mock_id, __u32 pasid, __u32 flags, __u64 iova, void *va)
{
	struct ioasid_mock_check_map a = {
		.argsz = sizeof(a), .flags = va ? flags : IOASID_MOCK_CHECK_UNMAPPED,
		.mock_id = mock_id, .pasid = pasid, .iova = iova, .length = SZ_4K,
		.uptr = (uintptr_t)va,
	};

	return ioctl(mock, IOASID_MOCK_CHECK_MAP, &a);
}

/* Cached stage-1 entries and invalidations of the table (mock_id, pasid) uses. */
static int iotlb(int mock, __u32 mock_id, __u32 pasid, __u64 *cached, __u64 *invals)
{
	struct ioasid_mock_iotlb a = {
		.argsz = sizeof(a), .mock_id = mock_id, .pasid = pasid,
	};
	int ret = ioctl(mock, IOASID_MOCK_IOTLB, &a);

	*cached = a.out_entries;
	*invals = a.out_invalidations;
	return ret;
}

FIXTURE(nested) {
	int fd, mock;
	__u32 mock_id, dev, parent, child;
	uint8_t *guest;		/* the guest memory, mapped at G in the parent */
	uint64_t *table;	/* guest page 0: the stage-1 table */
};

/* Host address of guest page @n. */
static void *gpage(FIXTURE_DATA(nested) *self, int n)
{
	return self->guest + n * SZ_4K;
}

FIXTURE_SETUP(nested)
{
	struct ioasid_mock_device_add dev = {
		.argsz = sizeof(dev), .pasid_width = 20,
		.flags = IOASID_MOCK_DEVICE_INTENT_PASID,
	};
	struct ioasid_nested_alloc na = { .argsz = sizeof(na), .format = IOASID_FORMAT_MOCK };

	self->fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	self->mock = open("/dev/ioasid-mock", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->mock);
	dev.ioasid_fd = self->fd;
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &dev));
	self->mock_id = dev.out_mock_id;
	self->dev = dev.out_dev_id;
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->parent));
	self->guest = mmap(NULL, GUEST_PAGES * SZ_4K, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->guest);
	memset(self->guest, 0, GUEST_PAGES * SZ_4K);
	self->table = (uint64_t *)self->guest;
	ASSERT_EQ(0, map_at(self->fd, self->parent, self->guest, GUEST_PAGES * SZ_4K, G));
	na.parent_id = self->parent;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_NESTED_ALLOC, &na));
	self->child = na.out_child_id;
	/* Stage 1: IOVA page 0 -> guest page 10 (RW), page 1 -> guest page 11 (RO). */
	self->table[0] = (G + 10 * SZ_4K) | PRESENT | WRITE;
	self->table[1] = (G + 11 * SZ_4K) | PRESENT;
}

FIXTURE_TEARDOWN(nested)
{
	close(self->mock);
	close(self->fd);
}

TEST_F(nested, formats_are_discovered_in_the_info_chain)
{
	uint8_t caps[256];
	struct ioasid_iova_range resv[8];
	struct ioasid_device_info info = {
		.argsz = sizeof(info), .dev_id = self->dev, .num_reserved = 8,
		.reserved_iovas = (uintptr_t)resv, .caps_len = sizeof(caps),
		.caps = (uintptr_t)caps,
	};
	struct ioasid_info_cap_nesting *nest = (void *)caps;
	struct ioasid_info_nesting_format *formats = (void *)(nest + 1);
	/* The hardware formats, then the one ioasid walks in software (VT-d first stage). */
	struct ioasid_info_cap_nesting *sw = (void *)(formats + 2);
	struct ioasid_info_nesting_format *sw_formats = (void *)(sw + 1);
	const __u32 chain = 2 * sizeof(*nest) + 3 * sizeof(*formats);
	struct ioasid_check_extension ext = {
		.argsz = sizeof(ext), .extension = IOASID_EXT_NESTING,
	};

	ASSERT_EQ(0, ioctl(self->fd, IOASID_CHECK_EXTENSION, &ext));
	EXPECT_EQ(1, ext.supported);
	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_NE(0, info.out_flags & IOASID_DEVICE_INFO_NESTING);
	ASSERT_EQ(chain, info.caps_len);
	EXPECT_EQ(IOASID_INFO_CAP_NESTING, nest->header.id);
	EXPECT_EQ(1, nest->header.version);
	EXPECT_EQ((uint8_t *)sw - caps, nest->header.next);
	ASSERT_EQ(2, nest->num_formats);
	EXPECT_EQ(IOASID_FORMAT_MOCK, formats[0].format);
	EXPECT_EQ(1u << IOASID_BIND_VERSION_1, formats[0].versions);
	EXPECT_EQ(IOASID_FORMAT_MOCK_PASID_TABLE, formats[1].format);
	EXPECT_EQ(1u << IOASID_BIND_VERSION_1, formats[1].versions);
	EXPECT_NE(0, info.out_flags & IOASID_DEVICE_INFO_SW_NESTING);
	EXPECT_EQ(IOASID_INFO_CAP_SW_NESTING, sw->header.id);
	EXPECT_EQ(1, sw->header.version);
	EXPECT_EQ(0, sw->header.next);
	ASSERT_EQ(1, sw->num_formats);
	EXPECT_EQ(IOASID_FORMAT_VTD_S1, sw_formats[0].format);
	EXPECT_EQ(1u << IOASID_BIND_VERSION_1, sw_formats[0].versions);
	/* Too small a buffer: nothing written, the size needed, EMSGSIZE. */
	info.caps_len = 8;
	memset(caps, 0xee, sizeof(caps));
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(chain, info.caps_len);
	EXPECT_EQ(0xee, caps[0]);
	/* No buffer: only the size. An older struct without the chain still works. */
	info.caps_len = 0;
	info.caps = 0;
	EXPECT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(chain, info.caps_len);
	info.argsz = offsetof(struct ioasid_device_info, caps_len);
	EXPECT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
}

TEST_F(nested, stage1_then_stage2_end_to_end)
{
	ASSERT_EQ(0, bind(self->fd, self->child, self->dev, 0, 0, G));
	/* IOVA 0 -> GPA G+40K -> the host page behind guest page 10, writable. */
	EXPECT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, RW_CHECK, 0,
			   gpage(self, 10)));
	EXPECT_EQ(-1, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, 0, 0,
			    gpage(self, 11)));
	EXPECT_EQ(ENXIO, errno);
	/* Page 1 is read-only in stage 1, page 2 not present. */
	EXPECT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID,
			   IOASID_MOCK_CHECK_READ, SZ_4K, gpage(self, 11)));
	EXPECT_EQ(-1, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID,
			    IOASID_MOCK_CHECK_WRITE, SZ_4K, gpage(self, 11)));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, 0, 2 * SZ_4K, NULL));
	/* Stage 2 matters too: a GPA the parent does not map translates to nothing. */
	self->table[2] = (G + GUEST_PAGES * SZ_4K) | PRESENT;
	EXPECT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, 0, 2 * SZ_4K, NULL));
	/* While bound, the device cannot be attached otherwise, nor bound twice. */
	EXPECT_EQ(-1, attach(self->fd, self->dev, self->parent));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, bind(self->fd, self->child, self->dev, 0, 0, G));
	EXPECT_EQ(EBUSY, errno);
	/* Neither the child nor the parent can go. */
	EXPECT_EQ(-1, destroy(self->fd, self->child));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, destroy(self->fd, self->parent));
	EXPECT_EQ(EBUSY, errno);
	/* Unbind leaves nothing mapped. */
	ASSERT_EQ(0, unbind(self->fd, self->child, self->dev, 0, 0));
	EXPECT_EQ(-1, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, 0, 0, NULL));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-1, unbind(self->fd, self->child, self->dev, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, destroy(self->fd, self->child));
	EXPECT_EQ(0, destroy(self->fd, self->parent));
}

TEST_F(nested, invalidations_reach_the_iotlb_with_their_granularity)
{
	struct ioasid_inval_mock range = { .iova = 0, .size = SZ_4K };
	struct ioasid_inval_mock all = { .flags = IOASID_INVAL_MOCK_ALL };
	__u64 cached, invals, invals0;
	__u32 done;

	ASSERT_EQ(0, bind(self->fd, self->child, self->dev, 0, 0, G));
	ASSERT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, 0, 0, gpage(self, 10)));
	ASSERT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, 0, SZ_4K,
			   gpage(self, 11)));
	ASSERT_EQ(0, iotlb(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, &cached, &invals0));
	EXPECT_EQ(2, cached);
	/* The guest changes its table: without an invalidation, the IOTLB still says old. */
	self->table[0] = (G + 12 * SZ_4K) | PRESENT | WRITE;
	self->table[1] = (G + 13 * SZ_4K) | PRESENT;
	EXPECT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, 0, 0, gpage(self, 10)));
	/* A range invalidation drops just that page. */
	ASSERT_EQ(0, invalidate(self->fd, self->child, 0, 0, 0, 0, &range, 1, &done));
	EXPECT_EQ(1, done);
	ASSERT_EQ(0, iotlb(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, &cached, &invals));
	EXPECT_EQ(1, cached);
	EXPECT_EQ(invals0 + 1, invals);
	EXPECT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, 0, 0, gpage(self, 12)));
	EXPECT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, 0, SZ_4K,
			   gpage(self, 11)));
	/* Invalidate-all, for this device only. */
	ASSERT_EQ(0, invalidate(self->fd, self->child, IOASID_INVALIDATE_DEVICE, self->dev, 0, 0,
				&all, 1, &done));
	ASSERT_EQ(0, iotlb(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, &cached, &invals));
	EXPECT_EQ(0, cached);
	EXPECT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, 0, SZ_4K,
			   gpage(self, 13)));
}

TEST_F(nested, per_pasid_tables_and_invalidations)
{
	struct ioasid_pasid_ns_alloc nsa = { .argsz = sizeof(nsa) };
	struct ioasid_pasid_alloc pa = { .argsz = sizeof(pa), .dev_id = self->dev };
	struct ioasid_mock_pasid_translate tr = { .argsz = sizeof(tr) };
	struct ioasid_inval_mock all = { .flags = IOASID_INVAL_MOCK_ALL };
	uint64_t *table2 = gpage(self, 1);
	__u64 cached, invals;
	__u32 v, p;

	ASSERT_EQ(0, ioctl(self->fd, IOASID_PASID_NS_ALLOC, &nsa));
	pa.ns_id = nsa.out_ns_id;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_PASID_ALLOC, &pa));
	v = pa.out_pasid;
	tr.ioasid_fd = self->fd;
	tr.ns_id = nsa.out_ns_id;
	tr.vpasid = v;
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_PASID_TRANSLATE, &tr));
	p = tr.out_ppasid;
	/* The RID uses table 0, the PASID table 1 (guest page 1). */
	table2[0] = (G + 20 * SZ_4K) | PRESENT | WRITE;
	ASSERT_EQ(0, bind(self->fd, self->child, self->dev, 0, 0, G));
	ASSERT_EQ(0, bind(self->fd, self->child, self->dev, nsa.out_ns_id, v, G + SZ_4K));
	EXPECT_EQ(0, check(self->mock, self->mock_id, p, RW_CHECK, 0, gpage(self, 20)));
	EXPECT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, RW_CHECK, 0,
			   gpage(self, 10)));
	/* A PASID bound to a table cannot also be attached to an address space. */
	struct ioasid_device_pasid_attach at = {
		.argsz = sizeof(at), .dev_id = self->dev, .ns_id = nsa.out_ns_id, .pasid = v,
		.ioas_id = self->parent,
	};
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_PASID_ATTACH, &at));
	EXPECT_EQ(EBUSY, errno);
	/* Invalidating the PASID's table leaves the RID's cache alone. */
	ASSERT_EQ(0, invalidate(self->fd, self->child, IOASID_INVALIDATE_PASID, 0,
				nsa.out_ns_id, v, &all, 1, NULL));
	ASSERT_EQ(0, iotlb(self->mock, self->mock_id, p, &cached, &invals));
	EXPECT_EQ(0, cached);
	EXPECT_EQ(1, invals);
	ASSERT_EQ(0, iotlb(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, &cached, &invals));
	EXPECT_EQ(1, cached);
	EXPECT_EQ(0, invals);
	/* No selector: every table of the child. */
	ASSERT_EQ(0, invalidate(self->fd, self->child, 0, 0, 0, 0, &all, 1, NULL));
	ASSERT_EQ(0, iotlb(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, &cached, &invals));
	EXPECT_EQ(0, cached);
	EXPECT_EQ(1, invals);
	/* The PASID's table goes, the RID's stays; the PASID cannot be freed while bound. */
	struct ioasid_pasid_free pf = { .argsz = sizeof(pf), .ns_id = nsa.out_ns_id, .pasid = v };
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_PASID_FREE, &pf));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, unbind(self->fd, self->child, self->dev, nsa.out_ns_id, v));
	EXPECT_EQ(-1, check(self->mock, self->mock_id, p, 0, 0, NULL));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, RW_CHECK, 0,
			   gpage(self, 10)));
	EXPECT_EQ(0, ioctl(self->fd, IOASID_PASID_FREE, &pf));
}

/* Arm SMMUv3 / AMD style: the guest owns the whole PASID table, bound for the RID. */
TEST_F(nested, a_whole_pasid_table_bound_for_the_rid)
{
	struct ioasid_nested_alloc na = {
		.argsz = sizeof(na), .parent_id = self->parent,
		.format = IOASID_FORMAT_MOCK_PASID_TABLE,
	};
	struct ioasid_bind_table b = {
		.argsz = sizeof(b), .version = IOASID_BIND_VERSION_1,
		.format = IOASID_FORMAT_MOCK_PASID_TABLE, .dev_id = self->dev,
		.table.mock_pasid.table = G + 2 * SZ_4K,
	};
	struct ioasid_inval_mock one = { .flags = IOASID_INVAL_MOCK_ALL | IOASID_INVAL_MOCK_PASID,
					 .pasid = 5 };
	uint64_t *pasids = gpage(self, 2), *table5 = gpage(self, 1);
	__u64 cached, invals;

	/* PASID 0 (no PASID) uses table 0 (guest page 0), PASID 5 table 1; 6 is absent. */
	pasids[0] = G | PRESENT;
	pasids[5] = (G + SZ_4K) | PRESENT;
	table5[0] = (G + 30 * SZ_4K) | PRESENT | WRITE;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_NESTED_ALLOC, &na));
	b.child_id = na.out_child_id;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	/* One bind, every PASID: the guest chose them, the IOMMU walks its table. */
	EXPECT_EQ(0, check(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, RW_CHECK, 0,
			   gpage(self, 10)));
	EXPECT_EQ(0, check(self->mock, self->mock_id, 5, RW_CHECK, 0, gpage(self, 30)));
	EXPECT_EQ(0, check(self->mock, self->mock_id, 6, 0, 0, NULL));
	ASSERT_EQ(0, iotlb(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, &cached, &invals));
	EXPECT_EQ(2, cached);
	/* The guest moves PASID 5: stale until that PASID is invalidated, then new. */
	table5[0] = (G + 31 * SZ_4K) | PRESENT | WRITE;
	EXPECT_EQ(0, check(self->mock, self->mock_id, 5, 0, 0, gpage(self, 30)));
	ASSERT_EQ(0, invalidate(self->fd, na.out_child_id, 0, 0, 0, 0, &one, 1, NULL));
	ASSERT_EQ(0, iotlb(self->mock, self->mock_id, IOASID_MOCK_NO_PASID, &cached, &invals));
	EXPECT_EQ(1, cached);
	EXPECT_EQ(0, check(self->mock, self->mock_id, 5, 0, 0, gpage(self, 31)));
	/* The RID is bound: no second table for it; a PASID invalidation means nothing for
	 * a single stage-1 table. */
	EXPECT_EQ(-1, bind(self->fd, self->child, self->dev, 0, 0, G));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, ioctl(self->fd, IOASID_UNBIND_TABLE, &(struct ioasid_unbind_table){
		.argsz = sizeof(struct ioasid_unbind_table), .child_id = na.out_child_id,
		.dev_id = self->dev }));
	EXPECT_EQ(-1, check(self->mock, self->mock_id, 5, 0, 0, NULL));
	EXPECT_EQ(ENODEV, errno);
	ASSERT_EQ(0, bind(self->fd, self->child, self->dev, 0, 0, G));
	EXPECT_EQ(-1, invalidate(self->fd, self->child, 0, 0, 0, 0, &one, 1, NULL));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(nested, unplug_and_close_while_bound)
{
	struct ioasid_mock_device_del del = { .argsz = sizeof(del), .mock_id = self->mock_id };

	ASSERT_EQ(0, bind(self->fd, self->child, self->dev, 0, 0, G));
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_DEL, &del));
	/* Unbound with the device: the child and parent can go. */
	EXPECT_EQ(0, destroy(self->fd, self->child));
	EXPECT_EQ(0, destroy(self->fd, self->parent));
}

TEST_F(nested, closed_while_bound)
{
	/* The teardown closes everything in this state; kmemleak watches. */
	ASSERT_EQ(0, bind(self->fd, self->child, self->dev, 0, 0, G));
}

TEST_F(nested, bad_input)
{
	struct ioasid_bind_table a = {
		.argsz = sizeof(a), .version = IOASID_BIND_VERSION_1,
		.format = IOASID_FORMAT_MOCK, .child_id = self->child, .dev_id = self->dev,
		.table.mock.table = G,
	};
	struct ioasid_inval_mock reqs[3] = {
		{ .iova = 0, .size = SZ_4K },
		{ .flags = IOASID_INVAL_MOCK_ALL },
		{ .iova = ~0ull & ~(SZ_4K - 1), .size = 2 * SZ_4K },
	};
	struct ioasid_nested_alloc na = {
		.argsz = sizeof(na), .parent_id = self->child, .format = IOASID_FORMAT_MOCK,
	};
	uint8_t big[sizeof(a) + 16] = { 0 };
	__u32 done = 99;

	/* Versions, flags and formats this kernel does not know. */
	a.version = 2;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &a));
	EXPECT_EQ(EPROTONOSUPPORT, errno);
	a.version = IOASID_BIND_VERSION_1;
	a.flags = 1 << 4;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &a));
	EXPECT_EQ(EOPNOTSUPP, errno);
	a.flags = 0;
	a.format = 77;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &a));
	EXPECT_EQ(EOPNOTSUPP, errno);
	/* A format the child was not made for; one the mock IOMMU does not take. */
	a.format = IOASID_FORMAT_VTD_S1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &a));
	EXPECT_EQ(EINVAL, errno);
	a.format = IOASID_FORMAT_MOCK;
	/* Table misaligned, outside the parent; binding on a plain address space. */
	a.table.mock.table = G + 8;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &a));
	EXPECT_EQ(EINVAL, errno);
	a.table.mock.table = G + GUEST_PAGES * SZ_4K;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &a));
	EXPECT_EQ(ENXIO, errno);
	a.table.mock.table = G;
	a.child_id = self->parent;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &a));
	EXPECT_EQ(EINVAL, errno);
	a.child_id = self->child;
	/* Sizes: too small for the format, larger with a zero tail (fine), non-zero tail. */
	a.argsz = offsetof(struct ioasid_bind_table, table) + 8;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &a));
	EXPECT_EQ(EINVAL, errno);
	a.argsz = sizeof(big);
	memcpy(big, &a, sizeof(a));
	big[sizeof(a) + 3] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, big));
	EXPECT_EQ(E2BIG, errno);
	big[sizeof(a) + 3] = 0;
	EXPECT_EQ(0, ioctl(self->fd, IOASID_BIND_TABLE, big));
	/* A PASID selector without its flag; an unknown PASID. */
	EXPECT_EQ(-1, unbind(self->fd, self->child, self->dev, 0, 5));
	EXPECT_EQ(EINVAL, errno);
	/* Invalidation: the third request overflows; two were carried out. */
	EXPECT_EQ(-1, invalidate(self->fd, self->child, 0, 0, 0, 0, reqs, 3, &done));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(2, done);
	reqs[0].size = 0;
	EXPECT_EQ(-1, invalidate(self->fd, self->child, 0, 0, 0, 0, reqs, 3, &done));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, done);
	EXPECT_EQ(-1, invalidate(self->fd, self->child, 1 << 6, 0, 0, 0, reqs, 1, NULL));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(-1, invalidate(self->fd, self->child, 0, self->dev, 0, 0, reqs, 1, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, invalidate(self->fd, self->parent, 0, 0, 0, 0, reqs, 1, NULL));
	EXPECT_EQ(EINVAL, errno);
	/* Children of children, unknown formats. */
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_NESTED_ALLOC, &na));
	EXPECT_EQ(EINVAL, errno);
	na.parent_id = self->parent;
	na.format = 77;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_NESTED_ALLOC, &na));
	EXPECT_EQ(EOPNOTSUPP, errno);
}

struct blocked_invalidate {
	int fd;
	__u32 child;
	struct ioasid_inval_mock *reqs;
	int ret, err;
};

static void *invalidate_from(void *arg)
{
	struct blocked_invalidate *b = arg;

	b->ret = invalidate(b->fd, b->child, 0, 0, 0, 0, b->reqs, 1, NULL);
	b->err = errno;
	return NULL;
}

/*
 * An invalidation whose requests block (a userfaultfd page nobody serves yet) while the
 * IOMMU driver copies them holds no lock that unbind needs: the table is unbound and
 * the device unplugged meanwhile; served, the invalidation completes harmlessly.
 */
TEST_F(nested, a_blocked_invalidation_stalls_no_unbind)
{
	struct blocked_invalidate b = { .fd = self->fd, .child = self->child };
	struct ioasid_mock_device_del del = { .argsz = sizeof(del), .mock_id = self->mock_id };
	struct ioasid_inval_mock all = { .flags = IOASID_INVAL_MOCK_ALL };
	static char page[SZ_4K];
	pthread_t thread;
	int uffd;

	b.reqs = blocking_memory(SZ_4K, &uffd);
	ASSERT_NE(NULL, b.reqs);
	ASSERT_EQ(0, bind(self->fd, self->child, self->dev, 0, 0, G));
	ASSERT_EQ(0, pthread_create(&thread, NULL, invalidate_from, &b));
	ASSERT_EQ(0, wait_blocked(uffd));
	EXPECT_EQ(0, unbind(self->fd, self->child, self->dev, 0, 0));
	EXPECT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_DEL, &del));
	memcpy(page, &all, sizeof(all));
	ASSERT_EQ(0, unblock_with(uffd, b.reqs, page));
	ASSERT_EQ(0, pthread_join(thread, NULL));
	EXPECT_EQ(0, b.ret);
	close(uffd);
}

/*
 * A device reaches the parent through its bound table, so its reserved ranges leave the
 * parent's IOVA ranges while the table is bound, exactly as for an attach: no fixed map
 * over them, no bind over a mapping of them.
 */
TEST_F(nested, a_bound_table_applies_the_reserved_ranges)
{
	struct ioasid_mock_range resv = { .start = 0x800000, .last = 0x8fffff };
	struct ioasid_mock_device_add a = {
		.argsz = sizeof(a), .num_reserved = 1, .reserved = (uintptr_t)&resv,
		.ioasid_fd = self->fd,
	};
	struct ioasid_iova_range allowed[8];
	int n;

	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &a));
	ASSERT_EQ(0, bind(self->fd, self->child, a.out_dev_id, 0, 0, G));
	n = iova_ranges(self->fd, self->parent, allowed, 8);
	ASSERT_LE(2, n);
	for (int i = 0; i < n; i++)
		EXPECT_TRUE(allowed[i].last < resv.start || allowed[i].start > resv.last);
	EXPECT_EQ(-1, map_at(self->fd, self->parent, gpage(self, 20), SZ_4K, resv.start));
	EXPECT_EQ(EADDRINUSE, errno);
	ASSERT_EQ(0, unbind(self->fd, self->child, a.out_dev_id, 0, 0));
	/* Unbound, the range is usable again; mapped, it keeps the table out. */
	EXPECT_EQ(1, iova_ranges(self->fd, self->parent, allowed, 8));
	ASSERT_EQ(0, map_at(self->fd, self->parent, gpage(self, 20), SZ_4K, resv.start));
	EXPECT_EQ(-1, bind(self->fd, self->child, a.out_dev_id, 0, 0, G));
	EXPECT_EQ(EADDRINUSE, errno);
	EXPECT_EQ(-1, attach(self->fd, a.out_dev_id, self->parent));
	EXPECT_EQ(EADDRINUSE, errno);
}

TEST_HARNESS_MAIN
