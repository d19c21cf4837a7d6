// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests for /dev/ioasid: the uAPI basics every later feature builds on.
 *
 * Every ioctl is tried with good input and with each kind of bad input: sizes, flags,
 * reserved bytes, bad pointers, unknown commands. Expected errnos are the ones that
 * Documentation/userspace-api/ioasid.rst promises.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/ioasid.h>

#include "kselftest_harness.h"

/* Room for a struct larger than any the kernel knows, to test the argsz tail rules. */
struct check_extension_big {
	struct ioasid_check_extension cur;
	__u8 tail[64];
};

static int check_extension(int fd, __u32 ext, __u32 *supported)
{
	struct ioasid_check_extension arg = {
		.argsz = sizeof(arg),
		.extension = ext,
		.supported = 0xdead,
	};
	int ret = ioctl(fd, IOASID_CHECK_EXTENSION, &arg);

	if (!ret)
		*supported = arg.supported;
	return ret;
}

FIXTURE(ioasid) {
	int fd;
};

FIXTURE_SETUP(ioasid)
{
	self->fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(ioasid)
{
	ASSERT_EQ(0, close(self->fd));
}

TEST_F(ioasid, api_version)
{
	EXPECT_EQ(IOASID_API_VERSION, ioctl(self->fd, IOASID_GET_API_VERSION));
	/* The argument of an _IO ioctl without a struct is ignored. */
	EXPECT_EQ(IOASID_API_VERSION, ioctl(self->fd, IOASID_GET_API_VERSION, (void *)1));
}

TEST_F(ioasid, check_extension_supported)
{
	__u32 supported = 0;

	ASSERT_EQ(0, check_extension(self->fd, IOASID_EXT_ARGSZ, &supported));
	EXPECT_EQ(1, supported);
	supported = 0;
	ASSERT_EQ(0, check_extension(self->fd, IOASID_EXT_MAP_DMA, &supported));
	EXPECT_EQ(1, supported);
	supported = 0;
	ASSERT_EQ(0, check_extension(self->fd, IOASID_EXT_PASID, &supported));
	EXPECT_EQ(1, supported);
	supported = 0;
	ASSERT_EQ(0, check_extension(self->fd, IOASID_EXT_NESTING, &supported));
	EXPECT_EQ(1, supported);
	supported = 0;
	ASSERT_EQ(0, check_extension(self->fd, IOASID_EXT_FAULT_QUEUE, &supported));
	EXPECT_EQ(1, supported);
	supported = 0;
	ASSERT_EQ(0, check_extension(self->fd, IOASID_EXT_ENFORCE_COHERENCY, &supported));
	EXPECT_EQ(1, supported);
}

TEST_F(ioasid, check_extension_unknown_number)
{
	__u32 supported = 0xdead;

	/* A number from a newer header is "unsupported", never an error. */
	ASSERT_EQ(0, check_extension(self->fd, 0, &supported));
	EXPECT_EQ(0, supported);
	supported = 0xdead;
	ASSERT_EQ(0, check_extension(self->fd, 0xffffffff, &supported));
	EXPECT_EQ(0, supported);
}

TEST_F(ioasid, check_extension_argsz_too_small)
{
	struct ioasid_check_extension arg = { .extension = IOASID_EXT_ARGSZ };
	__u32 sizes[] = { 0, 4, sizeof(arg) - 1 };
	unsigned int i;

	for (i = 0; i < 3; i++) {
		arg.argsz = sizes[i];
		EXPECT_EQ(-1, ioctl(self->fd, IOASID_CHECK_EXTENSION, &arg));
		EXPECT_EQ(EINVAL, errno);
	}
}

TEST_F(ioasid, check_extension_larger_struct_zero_tail)
{
	struct check_extension_big big;

	memset(&big, 0, sizeof(big));
	big.cur.argsz = sizeof(big);
	big.cur.extension = IOASID_EXT_ARGSZ;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_CHECK_EXTENSION, &big));
	EXPECT_EQ(1, big.cur.supported);
	/* The kernel writes back what it knows and leaves the tail alone. */
	EXPECT_EQ(sizeof(big), big.cur.argsz);
	for (unsigned int i = 0; i < sizeof(big.tail); i++)
		ASSERT_EQ(0, big.tail[i]);
}

TEST_F(ioasid, check_extension_larger_struct_nonzero_tail)
{
	struct check_extension_big big;

	memset(&big, 0, sizeof(big));
	big.cur.argsz = sizeof(big);
	big.cur.extension = IOASID_EXT_ARGSZ;
	big.cur.supported = 0x55;
	big.tail[sizeof(big.tail) - 1] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_CHECK_EXTENSION, &big));
	EXPECT_EQ(E2BIG, errno);
	/* Nothing was written back on failure. */
	EXPECT_EQ(0x55, big.cur.supported);
}

TEST_F(ioasid, check_extension_argsz_over_max)
{
	size_t len = IOASID_ARGSZ_MAX + 64;
	struct ioasid_check_extension *arg = calloc(1, len);

	ASSERT_NE(NULL, arg);
	arg->extension = IOASID_EXT_ARGSZ;
	arg->argsz = IOASID_ARGSZ_MAX;
	EXPECT_EQ(0, ioctl(self->fd, IOASID_CHECK_EXTENSION, arg));
	arg->argsz = IOASID_ARGSZ_MAX + 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_CHECK_EXTENSION, arg));
	EXPECT_EQ(E2BIG, errno);
	arg->argsz = 0xffffffff;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_CHECK_EXTENSION, arg));
	EXPECT_EQ(E2BIG, errno);
	free(arg);
}

TEST_F(ioasid, check_extension_unknown_flags)
{
	struct ioasid_check_extension arg = {
		.argsz = sizeof(arg),
		.extension = IOASID_EXT_ARGSZ,
	};
	unsigned int bit;

	for (bit = 0; bit < 32; bit++) {
		arg.flags = 1u << bit;
		EXPECT_EQ(-1, ioctl(self->fd, IOASID_CHECK_EXTENSION, &arg));
		EXPECT_EQ(EOPNOTSUPP, errno);
	}
}

TEST_F(ioasid, check_extension_bad_pointer)
{
	long page = sysconf(_SC_PAGESIZE);
	struct ioasid_check_extension *arg;
	char *map;

	EXPECT_EQ(-1, ioctl(self->fd, IOASID_CHECK_EXTENSION, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_CHECK_EXTENSION, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	/* A kernel address is not a user pointer. */
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_CHECK_EXTENSION, (void *)0xffffffff81000000ul));
	EXPECT_EQ(EFAULT, errno);

	/* argsz readable, the rest of the struct in an unmapped page. */
	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, munmap(map + page, page));
	arg = (void *)(map + page - 8);
	arg->argsz = sizeof(*arg);
	arg->flags = 0;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_CHECK_EXTENSION, arg));
	EXPECT_EQ(EFAULT, errno);

	/* Readable but not writable: the write-back of the result fails. */
	arg = (void *)map;
	memset(arg, 0, sizeof(*arg));
	arg->argsz = sizeof(*arg);
	arg->extension = IOASID_EXT_ARGSZ;
	ASSERT_EQ(0, mprotect(map, page, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_CHECK_EXTENSION, arg));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(0, munmap(map, page));
}

TEST_F(ioasid, unknown_ioctl)
{
	char buf[64] = { 0 };

	EXPECT_EQ(-1, ioctl(self->fd, _IO(IOASID_TYPE, 0x7f), buf));
	EXPECT_EQ(ENOTTY, errno);
	/* Right number, wrong type or direction bits: not ours. */
	EXPECT_EQ(-1, ioctl(self->fd, _IO('A', IOASID_CMD_GET_API_VERSION), buf));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, _IOWR(IOASID_TYPE, IOASID_CMD_CHECK_EXTENSION,
					    struct ioasid_check_extension), buf));
	EXPECT_EQ(ENOTTY, errno);
}

TEST(many_opens_are_independent)
{
	int fds[16];
	unsigned int i;

	for (i = 0; i < 16; i++) {
		fds[i] = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fds[i]);
	}
	for (i = 0; i < 16; i++) {
		EXPECT_EQ(IOASID_API_VERSION, ioctl(fds[i], IOASID_GET_API_VERSION));
		ASSERT_EQ(0, close(fds[i]));
	}
}

TEST(not_a_regular_file_operation)
{
	int fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	char c;

	ASSERT_LE(0, fd);
	/* /dev/ioasid is driven by ioctls only. */
	EXPECT_EQ(-1, read(fd, &c, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, write(fd, &c, 1));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

/* The peers that benchmarks compare against must be in the same kernel. */
TEST(vm_has_iommufd_and_vfio_type1)
{
	EXPECT_EQ(0, access("/dev/iommu", F_OK));
	EXPECT_EQ(0, access("/dev/vfio/vfio", F_OK));
}

static int read_hex(const char *dir, const char *file, unsigned int *val)
{
	char path[512];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fscanf(f, "%x", val);
	fclose(f);
	return n == 1 ? 0 : -1;
}

/* The edu DMA device that the DMA tests drive is present and behind the IOMMU. */
TEST(vm_has_edu_behind_an_iommu)
{
	const char *base = "/sys/bus/pci/devices";
	unsigned int vendor, device;
	char dir[512], link[600];
	struct dirent *d;
	int found = 0;
	DIR *devs;

	devs = opendir(base);
	ASSERT_NE(NULL, devs);
	while ((d = readdir(devs))) {
		snprintf(dir, sizeof(dir), "%s/%s", base, d->d_name);
		if (read_hex(dir, "vendor", &vendor) || read_hex(dir, "device", &device))
			continue;
		if (vendor != 0x1234 || device != 0x11e8)
			continue;
		found++;
		snprintf(link, sizeof(link), "%s/iommu_group", dir);
		EXPECT_EQ(0, access(link, F_OK));
	}
	closedir(devs);
	EXPECT_EQ(2, found);
}

TEST_HARNESS_MAIN
