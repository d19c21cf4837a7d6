// SPDX-License-Identifier: GPL-2.0
/*
 * VFIO devices on /dev/ioasid (patches/: VFIO_DEVICE_BIND_IOASID): the second edu of the
 * VM is bound to vfio-pci, and its cdev is bound to ioasid contexts the way a VMM does
 * it. Real DMA through the IOMMU, the access rule (nothing before the bind), conflicts
 * with the group path and iommufd, bad input, close in every order, detach and close
 * while DMA is in flight, and PCI hot-remove while bound and attached. And the emulated
 * VFIO device of samples/ioasid/ioasid_vdma.c, which reaches memory through the CPU.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/ioasid.h>

#include "../../../../samples/ioasid/ioasid-samples.h"
#include "../../../../samples/ioasid/vfio-edu.h"
#include "ioasid_utils.h"
#include "kselftest_harness.h"

#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_COUNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_BUF		0x40000
#define SRC_IOVA	0x10000000ull
#define DST_IOVA	0x20000000ull

static long page_size;

static void edu_start(volatile uint8_t *bar, uint64_t src, uint64_t dst, int to_ram)
{
	*(volatile uint64_t *)(bar + EDU_DMA_SRC) = src;
	*(volatile uint64_t *)(bar + EDU_DMA_DST) = dst;
	*(volatile uint64_t *)(bar + EDU_DMA_COUNT) = page_size;
	*(volatile uint64_t *)(bar + EDU_DMA_CMD) = 1 | (to_ram ? 2 : 0);
}

/* Waits up to 10 s for the DMA in flight to end. */
static int edu_wait(volatile uint8_t *bar)
{
	for (int i = 0; i < 10000; i++) {
		if (!(*(volatile uint64_t *)(bar + EDU_DMA_CMD) & 1))
			return 0;
		usleep(1000);
	}
	return -1;
}

/* One DMA of a page, waited for. */
static int edu_dma(volatile uint8_t *bar, uint64_t src, uint64_t dst, int to_ram)
{
	edu_start(bar, src, dst, to_ram);
	return edu_wait(bar);
}

/* Writes @val to the sysfs file @path. */
static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* The /dev/vfio/<group> of PCI device @bdf. */
static int group_path(const char *bdf, char *path, size_t len)
{
	char link[512], target[512];
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = 0;
	snprintf(path, len, "/dev/vfio/%s", strrchr(target, '/') + 1);
	return 0;
}

/*
 * What both fixtures start from: /dev/ioasid in *@fd, the device file @cdev in *@dev, an
 * address space, and two pages: the source with a pattern, the destination 0xee.
 */
static void open_all(struct __test_metadata *_metadata, const char *cdev, int *fd, int *dev,
		     __u32 *ioas, uint8_t **src, uint8_t **dst)
{
	*fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, *fd);
	*dev = open(cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, *dev);
	ASSERT_EQ(0, ioas_alloc(*fd, ioas));
	*src = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	ASSERT_NE(MAP_FAILED, *src);
	*dst = *src + page_size;
	for (int i = 0; i < page_size; i++) {
		(*src)[i] = (uint8_t)(i * 5 + 1);
		(*dst)[i] = 0xee;
	}
}

FIXTURE(vfio) {
	int fd, dev;
	char bdf[64], cdev[256];
	uint8_t *src, *dst;
	__u32 ioas;
};

FIXTURE_SETUP(vfio)
{
	page_size = sysconf(_SC_PAGESIZE);
	self->fd = self->dev = -1;
	if (vfio_edu_find(self->bdf, sizeof(self->bdf), self->cdev, sizeof(self->cdev)))
		SKIP(return, "no edu device bound to vfio-pci");
	open_all(_metadata, self->cdev, &self->fd, &self->dev, &self->ioas, &self->src,
		 &self->dst);
}

FIXTURE_TEARDOWN(vfio)
{
	if (self->dev >= 0)
		close(self->dev);
	if (self->fd >= 0)
		close(self->fd);
}

static int untouched(const uint8_t *buf)
{
	for (int i = 0; i < page_size; i++)
		if (buf[i] != 0xee)
			return 0;
	return 1;
}

/*
 * Binds the device fd @dev to @fd, maps src and dst in @ioas, attaches, enables bus
 * mastering and returns BAR0.
 */
static volatile uint8_t *bind_attach(struct __test_metadata *_metadata,
				     FIXTURE_DATA(vfio) *self, int fd, int dev, __u32 ioas,
				     __u32 *dev_id)
{
	volatile uint8_t *bar;

	if (vfio_bind_ioasid(dev, fd, 0, dev_id))
		return MAP_FAILED;
	if (map_at(fd, ioas, self->src, page_size, SRC_IOVA) ||
	    map_at(fd, ioas, self->dst, page_size, DST_IOVA) || attach(fd, *dev_id, ioas))
		return MAP_FAILED;
	bar = vfio_edu_bar0(dev);
	if (bar != MAP_FAILED && vfio_edu_bus_master(dev, 1))
		return MAP_FAILED;
	return bar;
}

TEST_F(vfio, bind_attach_and_dma_between_two_guest_pages)
{
	struct ioasid_iova_range resv[16];
	struct ioasid_device_info info = {
		.argsz = sizeof(info), .num_reserved = 16, .reserved_iovas = (uintptr_t)resv,
	};
	volatile uint8_t *bar;
	__u32 id;

	bar = bind_attach(_metadata, self, self->fd, self->dev, self->ioas, &id);
	ASSERT_NE(MAP_FAILED, bar);
	info.dev_id = id;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(IOASID_DEVICE_INTENT_RID, info.out_intent);
	ASSERT_EQ(0x010000ed, *(volatile uint32_t *)bar);
	ASSERT_EQ(0, edu_dma(bar, SRC_IOVA, EDU_BUF, 0));
	ASSERT_EQ(0, edu_dma(bar, EDU_BUF, DST_IOVA, 1));
	EXPECT_EQ(0, memcmp(self->src, self->dst, page_size));

	/* Detached, the device reaches nothing; attached again, it does. */
	memset(self->dst, 0xee, page_size);
	ASSERT_EQ(0, detach(self->fd, id));
	ASSERT_EQ(0, edu_dma(bar, EDU_BUF, DST_IOVA, 1));
	EXPECT_TRUE(untouched(self->dst));
	ASSERT_EQ(0, attach(self->fd, id, self->ioas));
	ASSERT_EQ(0, edu_dma(bar, EDU_BUF, DST_IOVA, 1));
	EXPECT_EQ(0, memcmp(self->src, self->dst, page_size));
}

/* The device fd grants nothing before the bind: no regions, config space, mmap, reset. */
TEST_F(vfio, nothing_is_reachable_before_the_bind)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info region = {
		.argsz = sizeof(region), .index = VFIO_PCI_CONFIG_REGION_INDEX,
	};
	uint16_t cmd;

	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_GET_REGION_INFO, &region));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_RESET));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(self->dev, &cmd, sizeof(cmd), 4));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, self->dev, 0));
	/* A failed bind grants nothing either. */
	EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, -1, 0, NULL));
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	/* After it, all of it. */
	ASSERT_EQ(0, vfio_bind_ioasid(self->dev, self->fd, 0, NULL));
	EXPECT_EQ(0, ioctl(self->dev, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_EQ(0, ioctl(self->dev, VFIO_DEVICE_GET_REGION_INFO, &region));
	EXPECT_EQ((ssize_t)sizeof(cmd), pread(self->dev, &cmd, sizeof(cmd), region.offset + 4));
}

/* Every bad argument is refused with its errno, and leaves the fd free to bind. */
TEST_F(vfio, bad_input)
{
	struct {
		struct vfio_device_bind_ioasid b;
		__u64 extra;
	} big = { .b = { .argsz = sizeof(big), .ioasid_fd = self->fd }, .extra = 1 };
	struct vfio_device_bind_ioasid b = { .argsz = sizeof(b), .ioasid_fd = self->fd };
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	int closed = dup(self->fd);
	__u8 uuid[16] = { 1, 2, 3 };
	void *ro;

	ASSERT_LE(0, null);
	ASSERT_LE(0, closed);
	close(closed);

	EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, -1, 0, NULL));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, closed, 0, NULL));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, null, 0, NULL));
	EXPECT_EQ(EBADF, errno);
	/* Not an ioasid file: an iommufd, or the VFIO device fd itself. */
	if (iommufd >= 0) {
		EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, iommufd, 0, NULL));
		EXPECT_EQ(EBADF, errno);
	}
	EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, self->dev, 0, NULL));
	EXPECT_EQ(EBADF, errno);

	b.flags = 1u << 31;
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_BIND_IOASID, &b));
	EXPECT_EQ(EINVAL, errno);
	b.flags = 0;
	b.argsz = 8;
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_BIND_IOASID, &b));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_BIND_IOASID, &big));
	EXPECT_EQ(E2BIG, errno);
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_BIND_IOASID, NULL));
	EXPECT_EQ(EFAULT, errno);
	/* edu has no PASID capability: the PASID intent is refused. */
	EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, self->fd, VFIO_DEVICE_BIND_IOASID_PASID, NULL));
	EXPECT_EQ(EOPNOTSUPP, errno);
	/* A token the device does not need (not an SR-IOV function), or unreadable. */
	b.argsz = sizeof(b);
	b.flags = VFIO_DEVICE_BIND_IOASID_TOKEN;
	b.token_uuid_ptr = (uintptr_t)uuid;
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_BIND_IOASID, &b));
	EXPECT_EQ(EINVAL, errno);
	b.token_uuid_ptr = 8;
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_BIND_IOASID, &b));
	EXPECT_EQ(EFAULT, errno);
	b.flags = 0;
	b.token_uuid_ptr = 0;
	/* The out ID cannot be written (read-only memory): the bind is undone. */
	ro = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	memcpy(ro, &b, sizeof(b));
	ASSERT_EQ(0, mprotect(ro, page_size, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_BIND_IOASID, ro));
	EXPECT_EQ(EFAULT, errno);
	munmap(ro, page_size);

	/* Nothing was left half-done: the fd binds now. */
	b.argsz = sizeof(b);
	EXPECT_EQ(0, ioctl(self->dev, VFIO_DEVICE_BIND_IOASID, &b));
	close(null);
	if (iommufd >= 0)
		close(iommufd);
}

/* A device file binds once; a device is bound through one fd at a time. */
TEST_F(vfio, bind_twice_is_refused)
{
	int other = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	int dev2 = open(self->cdev, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, other);
	ASSERT_LE(0, dev2);
	ASSERT_EQ(0, vfio_bind_ioasid(self->dev, self->fd, 0, NULL));
	EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, self->fd, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, other, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	/* A second fd of the same device, to another context: the device is open. */
	EXPECT_EQ(-1, vfio_bind_ioasid(dev2, other, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	/* Closed, it can be bound by the other fd. */
	close(self->dev);
	self->dev = -1;
	EXPECT_EQ(0, vfio_bind_ioasid(dev2, other, 0, NULL));
	close(dev2);
	close(other);
}

/* Bound to an iommufd or to ioasid, never both. */
TEST_F(vfio, iommufd_and_ioasid_exclude_each_other)
{
	struct vfio_device_bind_iommufd bi = { .argsz = sizeof(bi) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = 1 };
	struct vfio_device_detach_iommufd_pt de = { .argsz = sizeof(de) };
	int iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	int dev2 = open(self->cdev, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, iommufd);
	ASSERT_LE(0, dev2);
	/* ioasid first: iommufd is refused on this fd and on another one. */
	ASSERT_EQ(0, vfio_bind_ioasid(self->dev, self->fd, 0, NULL));
	bi.iommufd = iommufd;
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_BIND_IOMMUFD, &bi));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(dev2, VFIO_DEVICE_BIND_IOMMUFD, &bi));
	EXPECT_EQ(EINVAL, errno);
	/* The iommufd attach ioctls have no iommufd to work with. */
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &de));
	EXPECT_EQ(EINVAL, errno);
	close(self->dev);

	/* iommufd first: ioasid is refused. */
	self->dev = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->dev);
	ASSERT_EQ(0, ioctl(dev2, VFIO_DEVICE_BIND_IOMMUFD, &bi));
	EXPECT_EQ(-1, vfio_bind_ioasid(dev2, self->fd, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, self->fd, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	close(dev2);
	/* Unbound from iommufd, the device binds to ioasid. */
	EXPECT_EQ(0, vfio_bind_ioasid(self->dev, self->fd, 0, NULL));
	close(iommufd);
}

/* The group path (a container) and the cdev bound to ioasid exclude each other. */
TEST_F(vfio, group_in_a_container_and_ioasid_exclude_each_other)
{
	char path[256];
	int group, container;

	ASSERT_EQ(0, group_path(self->bdf, path, sizeof(path)));
	group = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, group);
	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, container);
	ASSERT_EQ(0, ioctl(group, VFIO_GROUP_SET_CONTAINER, &container));
	ASSERT_EQ(0, ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, self->fd, 0, NULL));
	EXPECT_EQ(EBUSY, errno);
	close(group);
	close(container);

	/* Bound to ioasid, the group cannot be opened. */
	ASSERT_EQ(0, vfio_bind_ioasid(self->dev, self->fd, 0, NULL));
	EXPECT_EQ(-1, open(path, O_RDWR | O_CLOEXEC));
	EXPECT_EQ(EBUSY, errno);
}

/*
 * Closing the ioasid fd first leaves the device bound and attached (the binding holds
 * the context): DMA still works; closing the device then unbinds it, and its DMA is
 * blocked again: bound to a new context and not attached, it reaches none of the old
 * pages.
 */
TEST_F(vfio, close_ioasid_first_then_the_device)
{
	volatile uint8_t *bar;
	__u32 id;
	int fd2;

	bar = bind_attach(_metadata, self, self->fd, self->dev, self->ioas, &id);
	ASSERT_NE(MAP_FAILED, bar);
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	ASSERT_EQ(0, edu_dma(bar, SRC_IOVA, EDU_BUF, 0));
	ASSERT_EQ(0, edu_dma(bar, EDU_BUF, DST_IOVA, 1));
	EXPECT_EQ(0, memcmp(self->src, self->dst, page_size));
	munmap((void *)bar, 4096);
	ASSERT_EQ(0, close(self->dev));

	memset(self->dst, 0xee, page_size);
	fd2 = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd2);
	self->dev = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->dev);
	ASSERT_EQ(0, vfio_bind_ioasid(self->dev, fd2, 0, &id));
	bar = vfio_edu_bar0(self->dev);
	ASSERT_NE(MAP_FAILED, bar);
	ASSERT_EQ(0, vfio_edu_bus_master(self->dev, 1));
	ASSERT_EQ(0, edu_dma(bar, EDU_BUF, DST_IOVA, 1));
	EXPECT_TRUE(untouched(self->dst));
	munmap((void *)bar, 4096);
	close(fd2);
}

/* Closing the device first unbinds it; the context lives on without it. */
TEST_F(vfio, close_the_device_first_then_ioasid)
{
	struct ioasid_device_info info = { .argsz = sizeof(info) };
	volatile uint8_t *bar;
	__u32 id;

	bar = bind_attach(_metadata, self, self->fd, self->dev, self->ioas, &id);
	ASSERT_NE(MAP_FAILED, bar);
	munmap((void *)bar, 4096);
	ASSERT_EQ(0, close(self->dev));
	self->dev = -1;
	info.dev_id = id;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(0, destroy(self->fd, self->ioas));
}

/*
 * edu runs a DMA 100 ms (virtual) after it is started: detaching, or closing the device
 * fd, in that window leaves the page untouched when the DMA happens.
 */
/* Binds, attaches, fills the device's buffer and starts its DMA to the destination page. */
static volatile uint8_t *start_dma_to_dst(struct __test_metadata *_metadata,
					  FIXTURE_DATA(vfio) *self, __u32 *id)
{
	volatile uint8_t *bar = bind_attach(_metadata, self, self->fd, self->dev, self->ioas, id);

	if (bar == MAP_FAILED || edu_dma(bar, SRC_IOVA, EDU_BUF, 0))
		return MAP_FAILED;
	edu_start(bar, EDU_BUF, DST_IOVA, 1);
	return bar;
}

TEST_F(vfio, detach_while_dma_in_flight)
{
	volatile uint8_t *bar;
	__u32 id;

	bar = start_dma_to_dst(_metadata, self, &id);
	ASSERT_NE(MAP_FAILED, bar);
	ASSERT_EQ(0, detach(self->fd, id));
	EXPECT_EQ(0, edu_wait(bar));
	EXPECT_TRUE(untouched(self->dst));
}

TEST_F(vfio, close_the_device_while_dma_in_flight)
{
	volatile uint8_t *bar;
	__u32 id;

	bar = start_dma_to_dst(_metadata, self, &id);
	ASSERT_NE(MAP_FAILED, bar);
	munmap((void *)bar, 4096);
	ASSERT_EQ(0, close(self->dev));
	self->dev = -1;
	usleep(500 * 1000);
	EXPECT_TRUE(untouched(self->dst));
}

/* Unmapping while DMA is in flight: the page is unpinned only after the IOTLB flush. */
TEST_F(vfio, unmap_while_dma_in_flight)
{
	volatile uint8_t *bar;
	__u32 id;

	bar = start_dma_to_dst(_metadata, self, &id);
	ASSERT_NE(MAP_FAILED, bar);
	ASSERT_EQ(0, unmap(self->fd, self->ioas, DST_IOVA, page_size, NULL));
	EXPECT_EQ(0, edu_wait(bar));
	EXPECT_TRUE(untouched(self->dst));
}

/*
 * PCI hot-remove of the device while bound and attached: the removal waits until the
 * user closes the device fd, then completes; a rescan brings the device back and it
 * binds again. Nothing leaks (kmemleak), nothing warns.
 */
TEST_F(vfio, hot_remove_while_bound_and_attached)
{
	char path[512], probe[64];
	volatile uint8_t *bar;
	int status;
	pid_t pid;
	__u32 id;

	bar = bind_attach(_metadata, self, self->fd, self->dev, self->ioas, &id);
	ASSERT_NE(MAP_FAILED, bar);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", self->bdf);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/*
		 * The child's copies of the device fd and of the BAR mapping would
		 * keep the removal waiting for the child itself.
		 */
		munmap((void *)bar, 4096);
		close(self->dev);
		_exit(sysfs_write(path, "1") ? 1 : 0);
	}
	/* The removal blocks in vfio-pci until the fd is closed. */
	usleep(500 * 1000);
	EXPECT_EQ(0, waitpid(pid, &status, WNOHANG));
	munmap((void *)bar, 4096);
	ASSERT_EQ(0, close(self->dev));
	self->dev = -1;
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The context outlives its device. */
	EXPECT_EQ(0, unmap(self->fd, self->ioas, 0, UINT64_MAX, NULL));

	/* Bring it back on vfio-pci for the tests that follow. */
	ASSERT_EQ(0, sysfs_write("/sys/bus/pci/rescan", "1"));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", self->bdf);
	ASSERT_EQ(0, sysfs_write(path, "vfio-pci"));
	snprintf(probe, sizeof(probe), "%s", self->bdf);
	ASSERT_EQ(0, sysfs_write("/sys/bus/pci/drivers_probe", probe));
	ASSERT_EQ(0, vfio_edu_find(self->bdf, sizeof(self->bdf), self->cdev, sizeof(self->cdev)));
	self->dev = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->dev);
	bar = bind_attach(_metadata, self, self->fd, self->dev, self->ioas, &id);
	ASSERT_NE(MAP_FAILED, bar);
	ASSERT_EQ(0, edu_dma(bar, SRC_IOVA, EDU_BUF, 0));
	ASSERT_EQ(0, edu_dma(bar, EDU_BUF, DST_IOVA, 1));
	EXPECT_EQ(0, memcmp(self->src, self->dst, page_size));
	munmap((void *)bar, 4096);
}

/* A child of the VMM (fork) uses the bound device fd it inherited like its parent. */
TEST_F(vfio, forked_child_cannot_map_for_the_parent)
{
	int status;
	pid_t pid;
	__u32 id;

	ASSERT_EQ(0, vfio_bind_ioasid(self->dev, self->fd, 0, &id));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* Pinning is the charged process's right only. */
		int r = map_at(self->fd, self->ioas, self->src, page_size, SRC_IOVA);

		_exit(r == -1 && errno == EPERM ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * The emulated VFIO device of samples/ioasid/ioasid_vdma.c: no IOMMU, a DMA engine that
 * copies with vfio_dma_rw(). Bound to ioasid it is a software-table device.
 */
static int vdma_find(char *cdev, size_t len)
{
	DIR *d = opendir("/sys/bus/faux/devices/ioasid-vdma/vfio-dev");
	struct dirent *e;
	int ret = -1;

	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "vfio", 4)) {
			snprintf(cdev, len, "/dev/vfio/devices/%.63s", e->d_name);
			ret = 0;
			break;
		}
	if (d)
		closedir(d);
	return ret;
}

static int vdma_set(int dev, unsigned int reg, uint64_t val)
{
	return pwrite(dev, &val, sizeof(val), reg) == sizeof(val) ? 0 : -1;
}

/* Runs @cmd with SRC, DST and COUNT set; returns the STATUS register (or 1 on error). */
static int64_t vdma_cmd(int dev, uint64_t cmd, uint64_t src, uint64_t dst, uint64_t count)
{
	int64_t status;

	if (vdma_set(dev, IOASID_VDMA_SRC, src) || vdma_set(dev, IOASID_VDMA_DST, dst) ||
	    vdma_set(dev, IOASID_VDMA_COUNT, count) || vdma_set(dev, IOASID_VDMA_CMD, cmd))
		return 1;
	if (pread(dev, &status, sizeof(status), IOASID_VDMA_STATUS) != sizeof(status))
		return 1;
	return status;
}

FIXTURE(vdma) {
	int fd, dev;
	char cdev[256];
	uint8_t *src, *dst;
	__u32 ioas, id;
};

FIXTURE_SETUP(vdma)
{
	page_size = sysconf(_SC_PAGESIZE);
	self->fd = self->dev = -1;
	ASSERT_EQ(0, vdma_find(self->cdev, sizeof(self->cdev)));
	open_all(_metadata, self->cdev, &self->fd, &self->dev, &self->ioas, &self->src,
		 &self->dst);
}

FIXTURE_TEARDOWN(vdma)
{
	if (self->dev >= 0)
		close(self->dev);
	if (self->fd >= 0)
		close(self->fd);
}

static int vdma_bind_map_attach(FIXTURE_DATA(vdma) *self, __u32 dst_flags)
{
	__u64 iova = DST_IOVA;

	if (vfio_bind_ioasid(self->dev, self->fd, 0, &self->id) ||
	    map_at(self->fd, self->ioas, self->src, page_size, SRC_IOVA) ||
	    map(self->fd, self->ioas, dst_flags | IOASID_MAP_FIXED_IOVA, self->dst, page_size,
		&iova))
		return -1;
	return attach(self->fd, self->id, self->ioas);
}

TEST_F(vdma, copy_between_two_guest_pages_through_the_cpu)
{
	struct ioasid_device_info info = { .argsz = sizeof(info) };

	ASSERT_EQ(0, vdma_bind_map_attach(self, RW));
	info.dev_id = self->id;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	EXPECT_EQ(IOASID_DEVICE_INTENT_SW_TABLE, info.out_intent);
	EXPECT_EQ(0, vdma_cmd(self->dev, IOASID_VDMA_CMD_COPY, SRC_IOVA, DST_IOVA, page_size));
	EXPECT_EQ(0, memcmp(self->src, self->dst, page_size));
	/* Part of a page, at an offset. */
	memset(self->dst, 0xee, page_size);
	EXPECT_EQ(0, vdma_cmd(self->dev, IOASID_VDMA_CMD_COPY, SRC_IOVA + 100, DST_IOVA + 200,
			      300));
	EXPECT_EQ(0, memcmp(self->src + 100, self->dst + 200, 300));
	EXPECT_EQ(0xee, self->dst[199]);
	EXPECT_EQ(0xee, self->dst[500]);
}

TEST_F(vdma, unmapped_or_read_only_iovas_fault)
{
	ASSERT_EQ(0, vdma_bind_map_attach(self, IOASID_MAP_READABLE));
	/* The destination is mapped read-only: the device cannot write it. */
	EXPECT_EQ(-EFAULT, vdma_cmd(self->dev, IOASID_VDMA_CMD_COPY, SRC_IOVA, DST_IOVA,
				    page_size));
	EXPECT_TRUE(untouched(self->dst));
	/* Nothing at this IOVA. */
	EXPECT_EQ(-EFAULT, vdma_cmd(self->dev, IOASID_VDMA_CMD_COPY, 0x70000000, DST_IOVA, 64));
	/* After an unmap, the source is gone too. */
	ASSERT_EQ(0, unmap(self->fd, self->ioas, SRC_IOVA, page_size, NULL));
	EXPECT_EQ(-EFAULT, vdma_cmd(self->dev, IOASID_VDMA_CMD_COPY, SRC_IOVA, DST_IOVA, 64));
	/* Detached, it reaches nothing at all. */
	ASSERT_EQ(0, detach(self->fd, self->id));
	EXPECT_EQ(-EINVAL, vdma_cmd(self->dev, IOASID_VDMA_CMD_COPY, SRC_IOVA, DST_IOVA, 64));
}

/* What ioasid does not offer emulated devices is refused with its errno. */
TEST_F(vdma, no_pinning_and_no_pasid)
{
	EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, self->fd, VFIO_DEVICE_BIND_IOASID_PASID, NULL));
	EXPECT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(0, vdma_bind_map_attach(self, RW));
	EXPECT_EQ(-EOPNOTSUPP, vdma_cmd(self->dev, IOASID_VDMA_CMD_PIN, SRC_IOVA, 0, 0));
}

/* The binding holds the context: closing the ioasid fd first leaves the device working. */
TEST_F(vdma, close_ioasid_first)
{
	ASSERT_EQ(0, vdma_bind_map_attach(self, RW));
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	EXPECT_EQ(0, vdma_cmd(self->dev, IOASID_VDMA_CMD_COPY, SRC_IOVA, DST_IOVA, page_size));
	EXPECT_EQ(0, memcmp(self->src, self->dst, page_size));
}

/* The same device bound to an iommufd works the same way (and can pin). */
TEST_F(vdma, bound_to_iommufd_instead)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.length = page_size,
	};
	struct vfio_device_bind_iommufd bi = { .argsz = sizeof(bi) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	int iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, iommufd);
	ASSERT_EQ(0, ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc));
	m.ioas_id = alloc.out_ioas_id;
	m.user_va = (uintptr_t)self->src;
	m.iova = SRC_IOVA;
	ASSERT_EQ(0, ioctl(iommufd, IOMMU_IOAS_MAP, &m));
	m.user_va = (uintptr_t)self->dst;
	m.iova = DST_IOVA;
	ASSERT_EQ(0, ioctl(iommufd, IOMMU_IOAS_MAP, &m));
	bi.iommufd = iommufd;
	ASSERT_EQ(0, ioctl(self->dev, VFIO_DEVICE_BIND_IOMMUFD, &bi));
	/* Bound to iommufd, it cannot bind to ioasid. */
	EXPECT_EQ(-1, vfio_bind_ioasid(self->dev, self->fd, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	at.pt_id = alloc.out_ioas_id;
	ASSERT_EQ(0, ioctl(self->dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at));
	EXPECT_EQ(0, vdma_cmd(self->dev, IOASID_VDMA_CMD_COPY, SRC_IOVA, DST_IOVA, page_size));
	EXPECT_EQ(0, memcmp(self->src, self->dst, page_size));
	EXPECT_EQ(0, vdma_cmd(self->dev, IOASID_VDMA_CMD_PIN, SRC_IOVA, 0, 0));
	close(self->dev);
	self->dev = -1;
	close(iommufd);
}

TEST_HARNESS_MAIN
