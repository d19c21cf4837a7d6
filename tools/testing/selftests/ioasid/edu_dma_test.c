// SPDX-License-Identifier: GPL-2.0
/*
 * Real DMA through the IOMMU at IOVAs mapped with /dev/ioasid, driven on QEMU's edu
 * device handed to userspace by the sample ioasid-edu driver: bytes move where mappings
 * say, and nowhere else. Also binding, attach and detach with good and bad input.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/ioasid.h>

#include "../../../../samples/ioasid/native-edu.h"
#include "ioasid_utils.h"
#include "kselftest_harness.h"

static long page_size;

FIXTURE(edu) {
	int fd, edu;
	volatile uint8_t *bar;
	__u32 dev, ioas;
	uint8_t *src, *dst;
};

/* Runs one DMA of @count bytes and waits for the device to finish it. */
static int dma(FIXTURE_DATA(edu) *self, uint64_t src, uint64_t dst, uint64_t count, int to_ram)
{
	return native_edu_dma(self->bar, src, dst, count, to_ram);
}

FIXTURE_SETUP(edu)
{
	char path[512];

	page_size = sysconf(_SC_PAGESIZE);
	if (native_edu_find(path, sizeof(path)))
		SKIP(return, "no edu device bound to ioasid-edu");
	self->fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	self->edu = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->edu);
	self->bar = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, self->edu, 0);
	ASSERT_NE(MAP_FAILED, self->bar);
	ASSERT_EQ(0x010000ed, *(volatile uint32_t *)(self->bar + EDU_IDENT));
	ASSERT_EQ(0, native_edu_bind(self->edu, self->fd, &self->dev));
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas));
	self->src = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->src);
	self->dst = self->src + page_size;
	for (int i = 0; i < page_size; i++) {
		self->src[i] = (uint8_t)(i * 7 + 3);
		self->dst[i] = 0xee;
	}
}

FIXTURE_TEARDOWN(edu)
{
	close(self->edu);
	close(self->fd);
	restore_unsafe_interrupts();
}

#define SRC_IOVA 0x10000000ull
#define DST_IOVA 0x20000000ull

static void expect_untouched(struct __test_metadata *_metadata, uint8_t *buf)
{
	for (int i = 0; i < page_size; i++)
		ASSERT_EQ(0xee, buf[i]);
}

/* Maps both pages, attaches, and has the device copy src to dst through its buffer. */
static void map_attach_round_trip(struct __test_metadata *_metadata, FIXTURE_DATA(edu) *self)
{
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->src, page_size, SRC_IOVA));
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->dst, page_size, DST_IOVA));
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	ASSERT_EQ(0, dma(self, SRC_IOVA, EDU_BUF, EDU_BUF_SIZE, 0));
	ASSERT_EQ(0, dma(self, EDU_BUF, DST_IOVA, EDU_BUF_SIZE, 1));
	EXPECT_EQ(0, memcmp(self->src, self->dst, page_size));
}

TEST_F(edu, round_trip_map_then_attach)
{
	/* Mappings made before the attach are visible at once (replay). */
	map_attach_round_trip(_metadata, self);
}

TEST_F(edu, round_trip_attach_then_map)
{
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->src, page_size, SRC_IOVA));
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->dst, page_size, DST_IOVA));
	ASSERT_EQ(0, dma(self, SRC_IOVA, EDU_BUF, EDU_BUF_SIZE, 0));
	ASSERT_EQ(0, dma(self, EDU_BUF, DST_IOVA, EDU_BUF_SIZE, 1));
	EXPECT_EQ(0, memcmp(self->src, self->dst, page_size));
}

TEST_F(edu, dma_to_unmapped_iova_changes_nothing)
{
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->src, page_size, SRC_IOVA));
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	ASSERT_EQ(0, dma(self, SRC_IOVA, EDU_BUF, EDU_BUF_SIZE, 0));
	/* Nothing is mapped at DST_IOVA: the write goes nowhere. */
	ASSERT_EQ(0, dma(self, EDU_BUF, DST_IOVA, EDU_BUF_SIZE, 1));
	expect_untouched(_metadata, self->dst);
	/* Nor does it land in the page that is mapped, elsewhere. */
	for (int i = 0; i < page_size; i++)
		ASSERT_EQ((uint8_t)(i * 7 + 3), self->src[i]);
}

TEST_F(edu, after_unmap_the_device_no_longer_reaches_the_page)
{
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->src, page_size, SRC_IOVA));
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->dst, page_size, DST_IOVA));
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	ASSERT_EQ(0, dma(self, SRC_IOVA, EDU_BUF, EDU_BUF_SIZE, 0));
	ASSERT_EQ(0, unmap(self->fd, self->ioas, DST_IOVA, page_size, NULL));
	ASSERT_EQ(0, dma(self, EDU_BUF, DST_IOVA, EDU_BUF_SIZE, 1));
	expect_untouched(_metadata, self->dst);
}

TEST_F(edu, after_detach_the_device_reaches_nothing)
{
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->src, page_size, SRC_IOVA));
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->dst, page_size, DST_IOVA));
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	ASSERT_EQ(0, dma(self, SRC_IOVA, EDU_BUF, EDU_BUF_SIZE, 0));
	ASSERT_EQ(0, detach(self->fd, self->dev));
	ASSERT_EQ(0, dma(self, EDU_BUF, DST_IOVA, EDU_BUF_SIZE, 1));
	expect_untouched(_metadata, self->dst);
	/* Attached again, the same mappings work. */
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	ASSERT_EQ(0, dma(self, EDU_BUF, DST_IOVA, EDU_BUF_SIZE, 1));
	EXPECT_EQ(0, memcmp(self->src, self->dst, page_size));
}

TEST_F(edu, bind_bad_input)
{
	int null = open("/dev/null", O_RDWR);
	int other = open("/dev/ioasid", O_RDWR);
	struct ioasid_edu_bind arg = { .argsz = sizeof(arg) };
	__u32 id;

	ASSERT_LE(0, null);
	ASSERT_LE(0, other);
	/* Already bound. */
	EXPECT_EQ(-1, native_edu_bind(self->edu, other, &id));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(0, ioctl(self->edu, IOASID_EDU_UNBIND));
	EXPECT_EQ(-1, ioctl(self->edu, IOASID_EDU_UNBIND));
	EXPECT_EQ(ENOENT, errno);
	/* Not an ioasid file, not a file at all. */
	EXPECT_EQ(-1, native_edu_bind(self->edu, null, &id));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, native_edu_bind(self->edu, 9999, &id));
	EXPECT_EQ(EBADF, errno);
	arg.ioasid_fd = other;
	arg.__reserved = 1;
	EXPECT_EQ(-1, ioctl(self->edu, IOASID_EDU_BIND, &arg));
	EXPECT_EQ(EINVAL, errno);
	/* Another context can bind it now. */
	EXPECT_EQ(0, native_edu_bind(self->edu, other, &id));
	close(null);
	close(other);
}

TEST_F(edu, attach_bad_input)
{
	struct ioasid_device_attach arg = {
		.argsz = sizeof(arg), .dev_id = self->dev, .ioas_id = self->ioas,
	};

	EXPECT_EQ(-1, attach(self->fd, 0xffff, self->ioas));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, attach(self->fd, self->dev, 0xffff));
	EXPECT_EQ(ENOENT, errno);
	/* IDs of the wrong type. */
	EXPECT_EQ(-1, attach(self->fd, self->ioas, self->ioas));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, attach(self->fd, self->dev, self->dev));
	EXPECT_EQ(EINVAL, errno);
	arg.flags = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_ATTACH, &arg));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(0, attach(self->fd, self->dev, self->ioas));
	EXPECT_EQ(-1, attach(self->fd, self->dev, self->ioas));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(0, detach(self->fd, self->dev));
	EXPECT_EQ(-1, detach(self->fd, self->dev));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, detach(self->fd, self->ioas));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(edu, destroy_rules_with_devices)
{
	EXPECT_EQ(0, attach(self->fd, self->dev, self->ioas));
	EXPECT_EQ(-1, destroy(self->fd, self->ioas));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, destroy(self->fd, self->dev));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, detach(self->fd, self->dev));
	EXPECT_EQ(0, destroy(self->fd, self->ioas));
}

TEST_F(edu, close_everything_live)
{
	long base;

	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->src, page_size, SRC_IOVA));
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	base = locked_bytes();
	/* The binding keeps the context alive until the device file goes too. */
	ASSERT_EQ(0, close(self->fd));
	EXPECT_EQ(base, locked_bytes());
	/* The BAR mapping holds the device file too. */
	ASSERT_EQ(0, munmap((void *)self->bar, page_size));
	ASSERT_EQ(0, close(self->edu));
	EXPECT_EQ(base - page_size, locked_bytes());
	self->fd = open("/dev/ioasid", O_RDWR);
	self->edu = -1;
}

TEST_F(edu, reserved_regions_leave_the_iova_ranges)
{
	struct ioasid_iova_range r[16];
	__u64 hole;
	int n;

	ASSERT_EQ(1, iova_ranges(self->fd, self->ioas, r, 16));
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	/* The device's IOMMU reserves at least its MSI window. */
	n = iova_ranges(self->fd, self->ioas, r, 16);
	ASSERT_LE(2, n);
	for (int i = 1; i < n; i++)
		ASSERT_LT(r[i - 1].last + 1, r[i].start);
	hole = r[0].last + 1;
	EXPECT_EQ(-1, map_at(self->fd, self->ioas, self->src, page_size, hole));
	EXPECT_EQ(EADDRINUSE, errno);
	/* Right below the hole is fine. */
	EXPECT_EQ(0, map_at(self->fd, self->ioas, self->src, page_size, hole - page_size));
	/* Detached, the whole space is usable again. */
	ASSERT_EQ(0, detach(self->fd, self->dev));
	ASSERT_EQ(1, iova_ranges(self->fd, self->ioas, r, 16));
	EXPECT_EQ(0, r[0].start);
	EXPECT_EQ(UINT64_MAX, r[0].last);
	/* A mapping in a reserved range now keeps the device from attaching. */
	ASSERT_EQ(0, map_at(self->fd, self->ioas, self->src, page_size, hole));
	EXPECT_EQ(-1, attach(self->fd, self->dev, self->ioas));
	EXPECT_EQ(EADDRINUSE, errno);
	ASSERT_EQ(0, unmap(self->fd, self->ioas, hole, page_size, NULL));
	EXPECT_EQ(0, attach(self->fd, self->dev, self->ioas));
}

TEST_F(edu, device_info)
{
	struct ioasid_iova_range resv[16], allowed[16];
	struct ioasid_device_info info = {
		.argsz = sizeof(info), .dev_id = self->dev,
		.num_reserved = 16, .reserved_iovas = (uintptr_t)resv,
	};
	int n;

	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(IOASID_DEVICE_INTENT_RID, info.out_intent);
	/* edu sits alone in its group, has no PASID capability, and QEMU has no nesting. */
	EXPECT_EQ(1, info.out_group_devices);
	EXPECT_EQ(0, info.out_flags & IOASID_DEVICE_INFO_GROUP_SHARED);
	EXPECT_EQ(0, info.out_pasid_width);
	EXPECT_NE(0, info.out_pgsize_bitmap & page_size);
	EXPECT_LE(32, info.out_addr_width);
	EXPECT_GE(64, info.out_addr_width);
	ASSERT_LE(1, info.num_reserved);
	/* What the device reserves is exactly what attaching it takes out of the space. */
	ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
	n = iova_ranges(self->fd, self->ioas, allowed, 16);
	ASSERT_LE(2, n);
	for (unsigned int i = 0; i < info.num_reserved; i++)
		for (int j = 0; j < n; j++)
			EXPECT_TRUE(resv[i].last < allowed[j].start || resv[i].start > allowed[j].last);
	/* Nothing can be mapped where the IOMMU does not translate. */
	if (info.out_addr_width < 64) {
		EXPECT_LT(allowed[n - 1].last, UINT64_MAX);
		EXPECT_EQ(-1, map_at(self->fd, self->ioas, self->src, page_size,
				     1ull << info.out_addr_width));
		EXPECT_EQ(EADDRINUSE, errno);
		EXPECT_EQ(0, map_at(self->fd, self->ioas, self->src, page_size,
				    (1ull << info.out_addr_width) - page_size));
	}
}

/*
 * Dirty tracking as the emulated IOMMU's driver offers it: where it reports
 * IOMMU_CAP_DIRTY_TRACKING, edu's DMA write into the second page is recorded by the IOMMU
 * and reported; where it does not (virtio-iommu has no dirty ops), a tracking address
 * space refuses edu, and a plain one with edu attached cannot start tracking.
 */
TEST_F(edu, dirty_tracking_follows_the_iommu)
{
	struct ioasid_iova_range resv[16];
	struct ioasid_device_info info = {
		.argsz = sizeof(info), .dev_id = self->dev,
		.num_reserved = 16, .reserved_iovas = (uintptr_t)resv,
	};
	__u64 bits[1] = { 0 };
	__u32 tracking;

	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	ASSERT_EQ(0, ioas_alloc_flags(self->fd, IOASID_IOAS_ALLOC_DIRTY_TRACKING, &tracking));
	if (!(info.out_flags & IOASID_DEVICE_INFO_DIRTY_TRACKING)) {
		TH_LOG("this IOMMU cannot track dirty pages");
		EXPECT_EQ(-1, attach(self->fd, self->dev, tracking));
		EXPECT_EQ(EOPNOTSUPP, errno);
		ASSERT_EQ(0, attach(self->fd, self->dev, self->ioas));
		EXPECT_EQ(-1, dirty_tracking(self->fd, self->ioas, 1));
		EXPECT_EQ(EOPNOTSUPP, errno);
		return;
	}
	TH_LOG("this IOMMU tracks dirty pages");
	ASSERT_EQ(0, map_at(self->fd, tracking, self->src, page_size, SRC_IOVA));
	ASSERT_EQ(0, map_at(self->fd, tracking, self->dst, page_size, DST_IOVA));
	ASSERT_EQ(0, attach(self->fd, self->dev, tracking));
	ASSERT_EQ(0, dirty_tracking(self->fd, tracking, 1));
	ASSERT_EQ(0, dma(self, SRC_IOVA, EDU_BUF, EDU_BUF_SIZE, 0));
	ASSERT_EQ(0, dma(self, EDU_BUF, DST_IOVA, EDU_BUF_SIZE, 1));
	ASSERT_EQ(0, dirty_bitmap(self->fd, tracking, 0, DST_IOVA, page_size, page_size, bits));
	EXPECT_EQ(1ull, bits[0]);
	/* The device only read the source page. */
	ASSERT_EQ(0, dirty_bitmap(self->fd, tracking, 0, SRC_IOVA, page_size, page_size, bits));
	EXPECT_EQ(0, bits[0]);
	EXPECT_EQ(0, detach(self->fd, self->dev));
}

/* edu has no PASID capability: PASIDs can be neither allocated for it nor attached. */
TEST_F(edu, no_pasid_capability)
{
	struct ioasid_pasid_ns_alloc ns = { .argsz = sizeof(ns) };
	struct ioasid_pasid_alloc alloc = { .argsz = sizeof(alloc), .dev_id = self->dev };
	struct ioasid_device_pasid_attach at = {
		.argsz = sizeof(at), .dev_id = self->dev, .pasid = 1, .ioas_id = self->ioas,
	};
	struct ioasid_check_extension ext = {
		.argsz = sizeof(ext), .extension = IOASID_EXT_PASID,
	};

	ASSERT_EQ(0, ioctl(self->fd, IOASID_CHECK_EXTENSION, &ext));
	EXPECT_EQ(1, ext.supported);
	ASSERT_EQ(0, ioctl(self->fd, IOASID_PASID_NS_ALLOC, &ns));
	alloc.ns_id = ns.out_ns_id;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_PASID_ALLOC, &alloc));
	EXPECT_EQ(EOPNOTSUPP, errno);
	at.ns_id = ns.out_ns_id;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_PASID_ATTACH, &at));
	EXPECT_EQ(EOPNOTSUPP, errno);
}

TEST_F(edu, device_info_bad_input)
{
	struct ioasid_device_info info = { .argsz = sizeof(info), .dev_id = self->dev };

	/* No room for the reserved ranges: the count comes back with EMSGSIZE. */
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_LE(1, info.num_reserved);
	info.reserved_iovas = 8;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(EFAULT, errno);
	info.num_reserved = 0;
	info.dev_id = 0xffff;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(ENOENT, errno);
	info.dev_id = self->ioas;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	info.dev_id = self->dev;
	info.flags = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(EOPNOTSUPP, errno);
	info.flags = 0;
	info.__reserved = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	info.__reserved = 0;
	info.argsz = 48;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
}

/* The PCI command register's bus-master bit of the edu device. */
static int bus_master(void)
{
	char dev[512], cfg[600];
	uint16_t cmd = 0;
	int fd, ok;

	if (native_edu_find(dev, sizeof(dev)))
		return -1;
	snprintf(cfg, sizeof(cfg), "/sys/bus/pci/devices/%s/config", dev + strlen("/dev/ioasid-edu-"));
	fd = open(cfg, O_RDONLY);
	if (fd < 0)
		return -1;
	ok = pread(fd, &cmd, sizeof(cmd), 4) == sizeof(cmd);
	close(fd);
	return ok ? !!(cmd & 4) : -1;
}

struct binder {
	int edu, ioasid;
};

/* Binds and unbinds through its own file of the device, racing the other binder. */
static void *bind_loop(void *arg)
{
	struct binder *b = arg;
	__u32 id;

	for (int i = 0; i < 300; i++)
		if (!native_edu_bind(b->edu, b->ioasid, &id))
			ioctl(b->edu, IOASID_EDU_UNBIND);
	return NULL;
}

/*
 * Only the file that bound the device unbinds it; and however binds and unbinds of two
 * files race, the device masters the bus exactly while it is bound.
 */
TEST_F(edu, unbind_by_the_binder_only_and_no_master_unbound)
{
	char path[512];
	struct binder a, b;
	pthread_t ta, tb;
	__u32 id;
	int edu2;

	ASSERT_EQ(0, native_edu_find(path, sizeof(path)));
	edu2 = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, edu2);
	EXPECT_EQ(1, bus_master());
	EXPECT_EQ(-1, ioctl(edu2, IOASID_EDU_UNBIND));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, native_edu_bind(edu2, self->fd, &id));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, ioctl(self->edu, IOASID_EDU_UNBIND));
	EXPECT_EQ(0, bus_master());
	a = (struct binder){ self->edu, self->fd };
	b = (struct binder){ edu2, self->fd };
	ASSERT_EQ(0, pthread_create(&ta, NULL, bind_loop, &a));
	ASSERT_EQ(0, pthread_create(&tb, NULL, bind_loop, &b));
	ASSERT_EQ(0, pthread_join(ta, NULL));
	ASSERT_EQ(0, pthread_join(tb, NULL));
	EXPECT_EQ(-1, ioctl(self->edu, IOASID_EDU_UNBIND));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, bus_master());
	/* Bound by the second file, and released with it. */
	ASSERT_EQ(0, native_edu_bind(edu2, self->fd, &id));
	EXPECT_EQ(1, bus_master());
	close(edu2);
	EXPECT_EQ(0, bus_master());
}

/*
 * edu issues no page requests: an address space routed to a fault queue refuses it with
 * EOPNOTSUPP, the same under intel-iommu (which could report them) and virtio-iommu
 * (which cannot).
 */
TEST_F(edu, a_routed_address_space_refuses_a_device_without_pri)
{
	struct ioasid_fault_queue_alloc qa = { .argsz = sizeof(qa) };
	struct ioasid_ioas_alloc ia = {
		.argsz = sizeof(ia), .flags = IOASID_IOAS_ALLOC_FAULT_QUEUE,
	};

	ASSERT_EQ(0, ioctl(self->fd, IOASID_FAULT_QUEUE_ALLOC, &qa));
	ia.fault_queue_id = qa.out_queue_id;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_ALLOC, &ia));
	EXPECT_EQ(-1, attach(self->fd, self->dev, ia.out_ioas_id));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(0, attach(self->fd, self->dev, self->ioas));
	close(qa.out_fd);
}

TEST_HARNESS_MAIN

/*
 * Interrupt isolation decides the bind, with real hardware emulation: QEMU's intel-iommu
 * here remaps interrupts (intremap=on), virtio-iommu on x86 cannot, so the virtio VM
 * boots with ioasid.allow_unsafe_interrupts=1. Both outcomes are checked there.
 */
TEST_F(edu, binding_needs_isolated_msi_or_the_admin_override)
{
	struct ioasid_iova_range resv[16];
	struct ioasid_device_info info = {
		.argsz = sizeof(info), .dev_id = self->dev,
		.num_reserved = 16, .reserved_iovas = (uintptr_t)resv,
	};
	int isolated, old;

	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	isolated = !!(info.out_flags & IOASID_DEVICE_INFO_MSI_ISOLATED);
	EXPECT_EQ(cmdline_has("intel_iommu=on"), isolated);
	ASSERT_EQ(0, ioctl(self->edu, IOASID_EDU_UNBIND));

	old = set_unsafe_interrupts(0);
	ASSERT_LE(0, old);
	if (isolated) {
		EXPECT_EQ(0, native_edu_bind(self->edu, self->fd, &self->dev));
		EXPECT_EQ(0, ioctl(self->edu, IOASID_EDU_UNBIND));
	} else {
		EXPECT_EQ(-1, native_edu_bind(self->edu, self->fd, &self->dev));
		EXPECT_EQ(EPERM, errno);
	}
	ASSERT_EQ(0, set_unsafe_interrupts(1));
	ASSERT_EQ(0, native_edu_bind(self->edu, self->fd, &self->dev));
	/* Bound either way: DMA works. */
	map_attach_round_trip(_metadata, self);
	EXPECT_LE(0, set_unsafe_interrupts(old));
}
