// SPDX-License-Identifier: GPL-2.0
/*
 * ABI stability: built against abi/ioasid-v1.h, a frozen copy of the uAPI header as
 * first published, and run against the current kernel. Old binaries keep working
 * whatever the current header adds; and newer (larger) structs reach this kernel the way
 * Documentation/userspace-api/ioasid.rst promises: zero tails accepted, non-zero tails
 * E2BIG, unknown formats, flags and versions refused with their errnos.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi/ioasid-v1.h"
#include "../../../../rust/ioasid/mock/ioasid_mock.h"
#include "kselftest_harness.h"

#define SZ_4K 0x1000ull
#define G 0x100000ull

FIXTURE(abi) {
	int fd, mock;
	__u32 dev, parent, child;
	uint64_t *guest;
};

FIXTURE_SETUP(abi)
{
	struct ioasid_mock_device_add dev = { .argsz = sizeof(dev) };
	struct ioasid_ioas_alloc ia = { .argsz = sizeof(ia) };
	struct ioasid_ioas_map map = {
		.argsz = sizeof(map),
		.flags = IOASID_MAP_FIXED_IOVA | IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE,
		.length = 4 * SZ_4K, .iova = G,
	};
	struct ioasid_nested_alloc na = { .argsz = sizeof(na), .format = IOASID_FORMAT_MOCK };

	self->fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	self->mock = open("/dev/ioasid-mock", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->mock);
	dev.ioasid_fd = self->fd;
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &dev));
	self->dev = dev.out_dev_id;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_ALLOC, &ia));
	self->parent = ia.out_ioas_id;
	self->guest = mmap(NULL, 4 * SZ_4K, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->guest);
	map.ioas_id = self->parent;
	map.user_va = (uintptr_t)self->guest;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_MAP, &map));
	na.parent_id = self->parent;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_NESTED_ALLOC, &na));
	self->child = na.out_child_id;
}

FIXTURE_TEARDOWN(abi)
{
	close(self->mock);
	close(self->fd);
}

static void v1_bind(FIXTURE_DATA(abi) *self, struct ioasid_bind_table *a)
{
	memset(a, 0, sizeof(*a));
	a->argsz = sizeof(*a);
	a->version = IOASID_BIND_VERSION_1;
	a->format = IOASID_FORMAT_MOCK;
	a->child_id = self->child;
	a->dev_id = self->dev;
	a->table.mock.table = G;
}

TEST_F(abi, the_first_version_keeps_working)
{
	struct ioasid_bind_table a;
	struct ioasid_unbind_table u = {
		.argsz = sizeof(u), .child_id = self->child, .dev_id = self->dev,
	};
	struct ioasid_iova_range resv[8];
	struct ioasid_device_info info = {
		.argsz = sizeof(info), .dev_id = self->dev, .num_reserved = 8,
		.reserved_iovas = (uintptr_t)resv,
	};

	EXPECT_EQ(IOASID_API_VERSION, ioctl(self->fd, IOASID_GET_API_VERSION));
	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
	v1_bind(self, &a);
	ASSERT_EQ(0, ioctl(self->fd, IOASID_BIND_TABLE, &a));
	ASSERT_EQ(0, ioctl(self->fd, IOASID_UNBIND_TABLE, &u));
	/* Only as much as the format needs. */
	a.argsz = offsetof(struct ioasid_bind_table, table) + sizeof(a.table.mock);
	ASSERT_EQ(0, ioctl(self->fd, IOASID_BIND_TABLE, &a));
	ASSERT_EQ(0, ioctl(self->fd, IOASID_UNBIND_TABLE, &u));
	/* The first published device info, 56 bytes, without the capability chain. */
	info.argsz = 56;
	EXPECT_EQ(0, ioctl(self->fd, IOASID_DEVICE_GET_INFO, &info));
}

/*
 * The first version's map path, from a binary that knows nothing of what came later
 * (IOAS_COPY, MAP_FILE, CHANGE_PROCESS, the extensions after 5): same numbers, same
 * results, same errnos, and a forked process still gets the EPERM it always got.
 */
TEST_F(abi, the_first_version_maps_as_before)
{
	struct ioasid_check_extension ce = { .argsz = sizeof(ce), .extension = IOASID_EXT_MAP_DMA };
	struct ioasid_ioas_map map = {
		.argsz = sizeof(map), .flags = IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE,
		.ioas_id = self->parent, .user_va = (uintptr_t)self->guest, .length = SZ_4K,
	};
	struct ioasid_ioas_unmap unmap = { .argsz = sizeof(unmap), .ioas_id = self->parent };
	pid_t pid;
	int status;

	ASSERT_EQ(0, ioctl(self->fd, IOASID_CHECK_EXTENSION, &ce));
	EXPECT_EQ(1, ce.supported);
	ce.extension = 99;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_CHECK_EXTENSION, &ce));
	EXPECT_EQ(0, ce.supported);
	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_MAP, &map));
	EXPECT_NE(0, map.iova);
	pid = fork();
	if (pid == 0)
		_exit(ioctl(self->fd, IOASID_IOAS_MAP, &map) != -1 || errno != EPERM);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unmap.iova = map.iova;
	unmap.length = SZ_4K;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_UNMAP, &unmap));
	EXPECT_EQ(SZ_4K, unmap.length);
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_UNMAP, &unmap));
	EXPECT_EQ(ENOENT, errno);
}

/* A later header's struct: a larger union (a new format's member) and a new flag. */
struct later_bind_table {
	struct ioasid_bind_table v1;
	__u8 grown[16];
};
#define LATER_FORMAT_FOO 0x7f00
#define LATER_BIND_FOO_VALID (1 << 7)

TEST_F(abi, a_later_header_reaches_this_kernel_as_promised)
{
	struct later_bind_table l;

	/* Grown by a union member it does not use: the zero tail is accepted. */
	v1_bind(self, &l.v1);
	memset(l.grown, 0, sizeof(l.grown));
	l.v1.argsz = sizeof(l);
	EXPECT_EQ(0, ioctl(self->fd, IOASID_BIND_TABLE, &l));
	l.v1.argsz = sizeof(l);
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &l));
	EXPECT_EQ(EBUSY, errno);
	/* Bytes this kernel does not know, set: E2BIG. */
	l.grown[5] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &l));
	EXPECT_EQ(E2BIG, errno);
	l.grown[5] = 0;
	/* The new format, the new flag and a new version are refused, each its own way. */
	l.v1.format = LATER_FORMAT_FOO;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &l));
	EXPECT_EQ(EOPNOTSUPP, errno);
	l.v1.format = IOASID_FORMAT_MOCK;
	l.v1.flags = LATER_BIND_FOO_VALID;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &l));
	EXPECT_EQ(EOPNOTSUPP, errno);
	l.v1.flags = 0;
	l.v1.version = IOASID_BIND_VERSION_1 + 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &l));
	EXPECT_EQ(EPROTONOSUPPORT, errno);
}

TEST_HARNESS_MAIN
