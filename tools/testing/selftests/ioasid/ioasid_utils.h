/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the ioasid kselftests: thin wrappers of the ioctls. */
#ifndef IOASID_UTILS_H
#define IOASID_UTILS_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/ioasid.h>
#include <linux/userfaultfd.h>

#define RW (IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE)
#define FIXED (RW | IOASID_MAP_FIXED_IOVA)

static inline int ioas_alloc(int fd, __u32 *id)
{
	struct ioasid_ioas_alloc arg = { .argsz = sizeof(arg) };
	int ret = ioctl(fd, IOASID_IOAS_ALLOC, &arg);

	if (!ret)
		*id = arg.out_ioas_id;
	return ret;
}

static inline int destroy(int fd, __u32 id)
{
	struct ioasid_destroy arg = { .argsz = sizeof(arg), .id = id };

	return ioctl(fd, IOASID_DESTROY, &arg);
}

/* Maps @length bytes at @va; with FIXED in @flags at *@iova, else *@iova is set. */
static inline int map(int fd, __u32 ioas, __u32 flags, void *va, __u64 length, __u64 *iova)
{
	struct ioasid_ioas_map arg = {
		.argsz = sizeof(arg),
		.flags = flags,
		.ioas_id = ioas,
		.user_va = (uintptr_t)va,
		.length = length,
		.iova = *iova,
	};
	int ret = ioctl(fd, IOASID_IOAS_MAP, &arg);

	if (!ret)
		*iova = arg.iova;
	return ret;
}

static inline int map_at(int fd, __u32 ioas, void *va, __u64 len, __u64 iova)
{
	return map(fd, ioas, FIXED, va, len, &iova);
}

/* Maps @length bytes of file @file from byte @start, as map() does memory. */
static inline int map_file(int fd, __u32 ioas, __u32 flags, int file, __u64 start,
			   __u64 length, __u64 *iova)
{
	struct ioasid_ioas_map_file arg = {
		.argsz = sizeof(arg), .flags = flags, .ioas_id = ioas, .fd = file,
		.start = start, .length = length, .iova = *iova,
	};
	int ret = ioctl(fd, IOASID_IOAS_MAP_FILE, &arg);

	if (!ret)
		*iova = arg.iova;
	return ret;
}

/* Copies the mappings of [src, src + length) of @from into @to, at *@dst (with FIXED). */
static inline int copy(int fd, __u32 to, __u32 from, __u32 flags, __u64 src, __u64 length,
		       __u64 *dst)
{
	struct ioasid_ioas_copy arg = {
		.argsz = sizeof(arg), .flags = flags, .dst_ioas_id = to, .src_ioas_id = from,
		.length = length, .src_iova = src, .dst_iova = *dst,
	};
	int ret = ioctl(fd, IOASID_IOAS_COPY, &arg);

	if (!ret)
		*dst = arg.dst_iova;
	return ret;
}

/* An address space with @flags (IOASID_IOAS_ALLOC_*). */
static inline int ioas_alloc_flags(int fd, __u32 flags, __u32 *id)
{
	struct ioasid_ioas_alloc arg = { .argsz = sizeof(arg), .flags = flags };
	int ret = ioctl(fd, IOASID_IOAS_ALLOC, &arg);

	if (!ret)
		*id = arg.out_ioas_id;
	return ret;
}

static inline int dirty_tracking(int fd, __u32 ioas, int on)
{
	struct ioasid_ioas_set_dirty_tracking arg = {
		.argsz = sizeof(arg), .ioas_id = ioas,
		.flags = on ? IOASID_DIRTY_TRACKING_ENABLE : 0,
	};

	return ioctl(fd, IOASID_IOAS_SET_DIRTY_TRACKING, &arg);
}

/* Reads (and without NO_CLEAR in @flags clears) the dirty bitmap of a range. */
static inline int dirty_bitmap(int fd, __u32 ioas, __u32 flags, __u64 iova, __u64 length,
			       __u64 page_size, __u64 *bits)
{
	struct ioasid_ioas_get_dirty_bitmap arg = {
		.argsz = sizeof(arg), .flags = flags, .ioas_id = ioas, .iova = iova,
		.length = length, .page_size = page_size, .data = (uintptr_t)bits,
	};

	return ioctl(fd, IOASID_IOAS_GET_DIRTY_BITMAP, &arg);
}

/* How many bits of the first @n of @bits are set. */
static inline long bits_set(const __u64 *bits, unsigned long n)
{
	long count = 0;

	for (unsigned long i = 0; i < n; i++)
		count += (bits[i / 64] >> (i % 64)) & 1;
	return count;
}

static inline int bit(const __u64 *bits, unsigned long i)
{
	return (bits[i / 64] >> (i % 64)) & 1;
}

/* Makes the caller the process @fd's context charges; the pages moved go to *@pages. */
static inline int change_process(int fd, __u64 *pages)
{
	struct ioasid_change_process arg = { .argsz = sizeof(arg) };
	int ret = ioctl(fd, IOASID_CHANGE_PROCESS, &arg);

	if (!ret && pages)
		*pages = arg.out_pages;
	return ret;
}

/* Reads the allowed IOVA ranges; returns how many there are. */
static inline int iova_ranges(int fd, __u32 ioas, struct ioasid_iova_range *r, int max)
{
	struct ioasid_ioas_iova_ranges arg = {
		.argsz = sizeof(arg), .ioas_id = ioas, .num_ranges = max,
		.allowed_iovas = (uintptr_t)r,
	};

	if (ioctl(fd, IOASID_IOAS_IOVA_RANGES, &arg))
		return -1;
	return arg.num_ranges;
}

/* Unmaps [iova, iova + length); the bytes unmapped go to *@unmapped if given. */
static inline int unmap(int fd, __u32 ioas, __u64 iova, __u64 length, __u64 *unmapped)
{
	struct ioasid_ioas_unmap arg = {
		.argsz = sizeof(arg),
		.ioas_id = ioas,
		.iova = iova,
		.length = length,
	};
	int ret = ioctl(fd, IOASID_IOAS_UNMAP, &arg);

	if (!ret && unmapped)
		*unmapped = arg.length;
	return ret;
}

static inline int attach(int fd, __u32 dev, __u32 ioas)
{
	struct ioasid_device_attach arg = { .argsz = sizeof(arg), .dev_id = dev, .ioas_id = ioas };

	return ioctl(fd, IOASID_DEVICE_ATTACH, &arg);
}

static inline int detach(int fd, __u32 dev)
{
	struct ioasid_device_detach arg = { .argsz = sizeof(arg), .dev_id = dev };

	return ioctl(fd, IOASID_DEVICE_DETACH, &arg);
}

/* A "<field>: <n> kB" line of /proc/self/status, in bytes; -1024 if it has none. */
static inline long status_bytes(const char *field)
{
	char line[256];
	long kb = -1;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && sscanf(line + n, ": %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* Memory this process pinned, in bytes, as /proc/self/status shows it (VmPin). */
static inline long locked_bytes(void)
{
	return status_bytes("VmPin");
}

/* A counter of /proc/vmstat, with every CPU's pending deltas folded in first. */
static inline long vmstat(const char *name)
{
	char key[64];
	long v, found = -1;
	int refresh = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	FILE *f;

	if (refresh >= 0) {
		if (write(refresh, "1", 1) != 1)
			found = -1;
		close(refresh);
	}
	f = fopen("/proc/vmstat", "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &v) == 2)
		if (!strcmp(key, name))
			found = v;
	fclose(f);
	return found;
}

/* Page pins held in the whole system (FOLL_PIN taken and not yet released). */
static inline long pinned_pages(void)
{
	return vmstat("nr_foll_pin_acquired") - vmstat("nr_foll_pin_released");
}

/*
 * @len bytes of memory whose pages are missing and handled by a userfaultfd that nobody
 * serves: whatever touches them, user or kernel (copy_to_user, copy_from_user), blocks
 * until unblock() serves the page (or *@uffd is closed). NULL on error.
 */
static inline void *blocking_memory(size_t len, int *uffd)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	void *mem;

	*uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (*uffd < 0)
		return NULL;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg.range.start = (uintptr_t)mem;
	reg.range.len = len;
	if (mem == MAP_FAILED || ioctl(*uffd, UFFDIO_API, &api) ||
	    ioctl(*uffd, UFFDIO_REGISTER, &reg)) {
		close(*uffd);
		return NULL;
	}
	return mem;
}

/* Serves the page at @page of @uffd with a copy of @content (NULL: zeroes); 0 or -1. */
static inline int unblock_with(int uffd, void *page, const void *content)
{
	static char zero[4096];
	struct uffdio_copy c = {
		.dst = (uintptr_t)page, .src = (uintptr_t)(content ? content : zero),
		.len = sizeof(zero),
	};

	return ioctl(uffd, UFFDIO_COPY, &c);
}

static inline int unblock(int uffd, void *page)
{
	return unblock_with(uffd, page, NULL);
}

/* Waits until something blocks on the memory of @uffd; 0 or -1. */
static inline int wait_blocked(int uffd)
{
	struct uffd_msg msg;

	return read(uffd, &msg, sizeof(msg)) == sizeof(msg) &&
	       msg.event == UFFD_EVENT_PAGEFAULT ? 0 : -1;
}

/* Whether the kernel command line holds @word. */
static inline int cmdline_has(const char *word)
{
	char line[4096] = "";
	FILE *f = fopen("/proc/cmdline", "r");

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		fclose(f);
	}
	return strstr(line, word) != NULL;
}

#define UNSAFE_INTERRUPTS "/sys/module/ioasid/parameters/allow_unsafe_interrupts"

/* The value ioasid.allow_unsafe_interrupts had before this test first set it; -1: untouched. */
static int unsafe_interrupts_before = -1;

/*
 * Sets ioasid.allow_unsafe_interrupts to @on; returns the value it had (0 or 1), or -1
 * if the parameter cannot be read or written. The first value is kept for
 * restore_unsafe_interrupts().
 */
static inline int set_unsafe_interrupts(int on)
{
	int fd = open(UNSAFE_INTERRUPTS, O_RDWR);
	char old = 0;

	if (fd < 0)
		return -1;
	if (read(fd, &old, 1) != 1 || pwrite(fd, on ? "1" : "0", 1, 0) != 1) {
		close(fd);
		return -1;
	}
	close(fd);
	if (unsafe_interrupts_before < 0)
		unsafe_interrupts_before = old == 'Y';
	return old == 'Y';
}

/*
 * For a fixture's teardown: puts back the value the test found, also after a failed
 * assertion, so that a failing test cannot change what the next ones see.
 */
static inline void restore_unsafe_interrupts(void)
{
	if (unsafe_interrupts_before >= 0)
		set_unsafe_interrupts(unsafe_interrupts_before);
}

/* Unbinds the table bound to @child for @dev (with @ns non-zero: for its PASID @pasid). */
static inline int unbind_table(int fd, __u32 child, __u32 dev, __u32 ns, __u32 pasid)
{
	struct ioasid_unbind_table a = {
		.argsz = sizeof(a), .flags = ns ? IOASID_BIND_PASID : 0, .child_id = child,
		.dev_id = dev, .ns_id = ns, .pasid = pasid,
	};

	return ioctl(fd, IOASID_UNBIND_TABLE, &a);
}

/*
 * Carries out @n requests of @entry_len bytes at @reqs on the tables of @child that @flags
 * (@dev, @ns, @pasid) select; *@done (if not NULL): the entry_num the kernel wrote back.
 */
static inline int cache_invalidate(int fd, __u32 child, __u32 flags, __u32 dev, __u32 ns,
				   __u32 pasid, const void *reqs, __u32 entry_len, __u32 n,
				   __u32 *done)
{
	struct ioasid_cache_invalidate a = {
		.argsz = sizeof(a), .flags = flags, .child_id = child, .dev_id = dev,
		.ns_id = ns, .pasid = pasid, .entry_len = entry_len, .entry_num = n,
		.entries = (uintptr_t)reqs,
	};
	int ret = ioctl(fd, IOASID_CACHE_INVALIDATE, &a);

	if (done)
		*done = a.entry_num;
	return ret;
}

#endif
