// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of software nesting: a child address space of format IOASID_FORMAT_VTD_S1
 * bound for a device whose IOMMU cannot nest in hardware. ioasid walks the x86-64
 * 4-level first-stage table, which lives in "guest memory" (user memory mapped in the
 * parent at GPA = parent IOVA), and keeps a shadow paging domain with the composed
 * translation stage-1 IOVA -> GPA -> host page.
 *
 * Fixture sw_edu: real DMA of QEMU's edu device (sample ioasid-edu driver) through the
 * shadow, behind intel-iommu without nesting or virtio-iommu: bytes land where the
 * composed translation says, PTE changes wait for invalidations, the parent's unmaps
 * and maps take effect at once. Fixture sw_mock: the same on the mock IOMMU, checked
 * per (device, PASID) in its page table, and hostile tables bounded by the module
 * parameter max_shadow_entries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/ioasid.h>

#include "../../../../rust/ioasid/mock/ioasid_mock.h"
#include "../../../../samples/ioasid/native-edu.h"
#include "ioasid_utils.h"
#include "kselftest_harness.h"

#define SZ_4K 0x1000ull
#define SZ_2M 0x200000ull
#define SZ_1G 0x40000000ull

/* Guest memory: two parent mappings, so that the data can go while the tables stay. */
#define TABLES_GPA 0x100000ull
#define TABLE_PAGES 16
#define DATA_GPA 0x400000ull		/* 2 MiB aligned */
#define DATA_LEN 0x400000ull		/* 4 MiB */
#define DGPA(n) (DATA_GPA + (n) * SZ_4K)	/* GPA of data page n */
#define UNMAPPED_GPA 0x40000000ull	/* the parent never maps it */

/* x86-64 paging entry bits (VT-d first stage). */
#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_PS (1ull << 7)
#define PTE_XD (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull
#define USER_RW (PTE_P | PTE_RW | PTE_US)
#define USER_RO (PTE_P | PTE_US)

/* Stage-1 IOVAs (edu takes them as they are: its dma_mask is wide open). */
#define SRC_IOVA 0x10000000ull
#define DST_IOVA 0x20000000ull
#define BIG_IOVA 0x40000000ull

/* The data pattern of the source page; UNTOUCHED is the fill of every other data byte. */
#define SEED 3
#define SEED2 5
#define UNTOUCHED -1

/* Hostile tables must be refused within this (a liveness bound), under this budget. */
#define LIVENESS_S 20
#define HOSTILE_BUDGET 4096
#define DEFAULT_BUDGET 1048576

#define RW_CHECK (IOASID_MOCK_CHECK_READ | IOASID_MOCK_CHECK_WRITE)
#define MAX_SHADOW "/sys/module/ioasid/parameters/max_shadow_entries"

/* What the test sees of the guest: its tables (bump-allocated) and its data. */
struct guest {
	uint64_t *tables;	/* TABLE_PAGES pages at TABLES_GPA */
	unsigned int used;	/* table pages handed out */
	uint8_t *data;		/* DATA_LEN bytes at DATA_GPA */
	__u64 root;		/* GPA of the root table (PML4) */
};

static uint8_t pattern(int seed, int i)
{
	return seed == UNTOUCHED ? 0xee : (uint8_t)(i * 7 + seed);
}

static void fill(uint8_t *page, int seed)
{
	for (int i = 0; i < SZ_4K; i++)
		page[i] = pattern(seed, i);
}

/* Index of the first byte of @page that differs from pattern @seed; -1 if none does. */
static int mismatch(const uint8_t *page, int seed)
{
	for (int i = 0; i < SZ_4K; i++)
		if (page[i] != pattern(seed, i))
			return i;
	return -1;
}

#define EXPECT_HOLDS(page, seed) EXPECT_EQ(-1, mismatch(page, seed))

static uint8_t *dpage(struct guest *g, int n)
{
	return g->data + n * SZ_4K;
}

/* DATA_LEN bytes of populated memory filled with UNTOUCHED; NULL on error. */
static uint8_t *data_memory(void)
{
	uint8_t *p = mmap(NULL, DATA_LEN, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0xee, DATA_LEN);
	return p;
}

/* Index of @iova in a table of @level (4 PML4, 3 PDPT, 2 PD, 1 PT). */
static unsigned int s1_index(__u64 iova, int level)
{
	return (iova >> (12 + 9 * (level - 1))) & 511;
}

/* Host address of the table page at @gpa; NULL outside the table region. */
static uint64_t *table_at(struct guest *g, __u64 gpa)
{
	if (gpa < TABLES_GPA || gpa >= TABLES_GPA + TABLE_PAGES * SZ_4K)
		return NULL;
	return g->tables + (gpa - TABLES_GPA) / sizeof(uint64_t);
}

/* A zeroed table page of the bump allocator: its GPA, or 0 once the region is used up. */
static __u64 table_alloc(struct guest *g)
{
	__u64 gpa;

	if (g->used == TABLE_PAGES)
		return 0;
	gpa = TABLES_GPA + g->used++ * SZ_4K;
	memset(table_at(g, gpa), 0, SZ_4K);
	return gpa;
}

/* The entry of @level that translates @iova; NULL if a table above it is missing. */
static uint64_t *s1_entry(struct guest *g, __u64 iova, int level)
{
	uint64_t *table = table_at(g, g->root);

	for (int l = 4; table && l > level; l--)
		table = table_at(g, table[s1_index(iova, l)] & PTE_ADDR);
	return table ? &table[s1_index(iova, level)] : NULL;
}

/*
 * Maps stage-1 @iova to @gpa with a leaf of @level (1: 4 KiB; 2: 2 MiB, 3: 1 GiB, with
 * PS) carrying the entry bits @flags; the tables above it are made as needed (present,
 * writable, user). Returns the leaf entry, for the test to change, or NULL.
 */
static uint64_t *s1_map(struct guest *g, __u64 iova, __u64 gpa, int level, uint64_t flags)
{
	uint64_t *entry;
	__u64 table;

	for (int l = 4; l > level; l--) {
		entry = s1_entry(g, iova, l);
		if (!entry)
			return NULL;
		if (!(*entry & PTE_P)) {
			table = table_alloc(g);
			if (!table)
				return NULL;
			*entry = table | USER_RW;
		}
	}
	entry = s1_entry(g, iova, level);
	if (entry)
		*entry = gpa | flags | (level > 1 ? PTE_PS : 0);
	return entry;
}

/* Maps the guest memory in @parent and allocates the root table. */
static void guest_setup(struct __test_metadata *_metadata, struct guest *g, int fd,
			__u32 parent)
{
	g->tables = mmap(NULL, TABLE_PAGES * SZ_4K, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, g->tables);
	g->data = data_memory();
	ASSERT_NE(NULL, g->data);
	fill(dpage(g, 0), SEED);
	ASSERT_EQ(0, map_at(fd, parent, g->tables, TABLE_PAGES * SZ_4K, TABLES_GPA));
	ASSERT_EQ(0, map_at(fd, parent, g->data, DATA_LEN, DATA_GPA));
	g->used = 0;
	g->root = table_alloc(g);
}

static int nested_alloc(int fd, __u32 parent, __u32 format, __u32 *child)
{
	struct ioasid_nested_alloc a = {
		.argsz = sizeof(a), .parent_id = parent, .format = format,
	};
	int ret = ioctl(fd, IOASID_NESTED_ALLOC, &a);

	if (!ret)
		*child = a.out_child_id;
	return ret;
}

/* A version 1 VT-d bind of the 4-level table at @root for the device's RID. */
static struct ioasid_bind_table vtd_arg(__u32 child, __u32 dev, __u64 root)
{
	return (struct ioasid_bind_table){
		.argsz = sizeof(struct ioasid_bind_table), .version = IOASID_BIND_VERSION_1,
		.format = IOASID_FORMAT_VTD_S1, .child_id = child, .dev_id = dev,
		.table.vtd = { .flags = 0, .pgtbl_addr = root, .addr_width = 48 },
	};
}

/* Binds @root for (@dev, @pasid of @ns), or for the RID with @ns 0. */
static int bind_vtd(int fd, __u32 child, __u32 dev, __u32 ns, __u32 pasid, __u64 root)
{
	struct ioasid_bind_table b = vtd_arg(child, dev, root);

	b.flags = ns ? IOASID_BIND_PASID : 0;
	b.ns_id = ns;
	b.pasid = pasid;
	return ioctl(fd, IOASID_BIND_TABLE, &b);
}

static int unbind_vtd(int fd, __u32 child, __u32 dev, __u32 ns, __u32 pasid)
{
	return unbind_table(fd, child, dev, ns, pasid);
}

/* Carries out @n VT-d requests on the tables @sel selects; *@done: entry_num back. */
static int inval(int fd, __u32 child, __u32 sel, __u32 dev, __u32 ns, __u32 pasid,
		 struct ioasid_inval_vtd *reqs, __u32 n, __u32 *done)
{
	return cache_invalidate(fd, child, sel, dev, ns, pasid, reqs, sizeof(*reqs), n, done);
}

static int inval_range(int fd, __u32 child, __u64 iova, __u64 npages)
{
	struct ioasid_inval_vtd r = {
		.addr = iova, .npages = npages, .flags = IOASID_INVAL_VTD_LEAF,
	};

	return inval(fd, child, 0, 0, 0, 0, &r, 1, NULL);
}

static int inval_all(int fd, __u32 child)
{
	struct ioasid_inval_vtd r = { .addr = 0, .npages = UINT64_MAX };

	return inval(fd, child, 0, 0, 0, 0, &r, 1, NULL);
}

#define CAP_ABSENT -1
#define CAP_MALFORMED -2

/*
 * The versions bitmap capability @id of the chain lists for @format: 0 if it does not
 * list it, CAP_ABSENT if there is no such capability, CAP_MALFORMED if the chain or the
 * capability (version 1, struct ioasid_info_cap_nesting + formats) does not fit.
 */
static long cap_versions(const uint8_t *caps, __u32 len, __u16 id, __u32 format)
{
	const struct ioasid_info_cap_header *h;
	const struct ioasid_info_cap_nesting *n;
	const struct ioasid_info_nesting_format *f;
	__u32 off = 0;

	for (int i = 0; i < 64; i++) {
		if (off + sizeof(*h) > len)
			return CAP_MALFORMED;
		h = (const void *)(caps + off);
		if (h->id == id) {
			n = (const void *)h;
			f = (const void *)(n + 1);
			if (h->version != 1 ||
			    off + sizeof(*n) + (__u64)n->num_formats * sizeof(*f) > len)
				return CAP_MALFORMED;
			for (__u32 k = 0; k < n->num_formats; k++)
				if (f[k].format == format)
					return f[k].versions;
			return 0;
		}
		if (!h->next)
			return CAP_ABSENT;
		off = h->next;
	}
	return CAP_MALFORMED;
}

/* IOASID_DEVICE_GET_INFO of @dev, its capability chain in @caps (@len bytes). */
static int device_info(int fd, __u32 dev, struct ioasid_device_info *info, uint8_t *caps,
		       __u32 len)
{
	static struct ioasid_iova_range resv[16];

	*info = (struct ioasid_device_info){
		.argsz = sizeof(*info), .dev_id = dev, .num_reserved = 16,
		.reserved_iovas = (uintptr_t)resv, .caps_len = len, .caps = (uintptr_t)caps,
	};
	return ioctl(fd, IOASID_DEVICE_GET_INFO, info);
}

static int sw_nesting_supported(int fd)
{
	struct ioasid_check_extension ext = {
		.argsz = sizeof(ext), .extension = IOASID_EXT_SW_NESTING,
	};

	return ioctl(fd, IOASID_CHECK_EXTENSION, &ext) ? -1 : (int)ext.supported;
}

/* The module parameter max_shadow_entries; -1 if it cannot be read. */
static long read_budget(void)
{
	FILE *f = fopen(MAX_SHADOW, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int write_budget(long v)
{
	char buf[32];
	int fd = open(MAX_SHADOW, O_WRONLY);
	int n, ok;

	if (fd < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "%ld\n", v);
	ok = write(fd, buf, n) == n;
	close(fd);
	return ok ? 0 : -1;
}

/*
 * The value found when the program started, put back when it ends: a case killed by the
 * harness's timeout never runs its teardown, and must not leave the budget changed.
 */
static long budget_at_start = -1;

static void __attribute__((constructor)) save_budget(void)
{
	budget_at_start = read_budget();
}

static void __attribute__((destructor)) restore_budget(void)
{
	if (budget_at_start > 0)
		write_budget(budget_at_start);
}

static void on_alarm(int sig)
{
}

/*
 * SIGALRM after @first_ms, then every @every_ms (0: once), with a handler that
 * interrupts system calls (no SA_RESTART); @first_ms 0 disarms it.
 */
static int alarm_ms(long first_ms, long every_ms)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = {
		.it_value = { first_ms / 1000, first_ms % 1000 * 1000 },
		.it_interval = { every_ms / 1000, every_ms % 1000 * 1000 },
	};

	if (sigaction(SIGALRM, &sa, NULL))
		return -1;
	return setitimer(ITIMER_REAL, &it, NULL);
}

static struct timespec now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

static long ms_since(struct timespec t0)
{
	struct timespec t = now();

	return (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
}

/* ---------------------------------------------------------------------------------- */
/* edu: real DMA through the shadow. */

/* edu registers (BAR0) and its on-device buffer. */
FIXTURE(sw_edu) {
	int fd, edu;
	volatile uint8_t *bar;
	__u32 dev, parent, child;
	struct guest g;
};

/* Runs one DMA of edu and waits for it: a blocked access just moves nothing. */
static int dma(FIXTURE_DATA(sw_edu) *self, uint64_t src, uint64_t dst, int to_ram)
{
	return native_edu_dma(self->bar, src, dst, EDU_BUF_SIZE, to_ram);
}

/* The device reads the page at stage-1 @iova into its buffer. */
static int edu_read(FIXTURE_DATA(sw_edu) *self, __u64 iova)
{
	return dma(self, iova, EDU_BUF, 0);
}

/* The device writes its buffer at stage-1 @iova. */
static int edu_write(FIXTURE_DATA(sw_edu) *self, __u64 iova)
{
	return dma(self, EDU_BUF, iova, 1);
}

FIXTURE_SETUP(sw_edu)
{
	char path[512];

	if (native_edu_find(path, sizeof(path)))
		SKIP(return, "no edu device bound to ioasid-edu");
	self->fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	self->edu = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->edu);
	self->bar = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED, self->edu, 0);
	ASSERT_NE(MAP_FAILED, self->bar);
	ASSERT_EQ(0x010000ed, *(volatile uint32_t *)(self->bar + EDU_IDENT));
	ASSERT_EQ(0, native_edu_bind(self->edu, self->fd, &self->dev));
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->parent));
	guest_setup(_metadata, &self->g, self->fd, self->parent);
	ASSERT_EQ(0, nested_alloc(self->fd, self->parent, IOASID_FORMAT_VTD_S1, &self->child));
}

FIXTURE_TEARDOWN(sw_edu)
{
	close(self->edu);
	close(self->fd);
}

/* Stage 1 of most cases: SRC_IOVA -> data page 0 (the pattern), DST_IOVA -> @dst_page. */
static uint64_t *map_src_dst(struct __test_metadata *_metadata, struct guest *g, int dst_page)
{
	uint64_t *leaf;

	ASSERT_NE(NULL, s1_map(g, SRC_IOVA, DGPA(0), 1, USER_RW));
	leaf = s1_map(g, DST_IOVA, DGPA(dst_page), 1, USER_RW);
	ASSERT_NE(NULL, leaf);
	return leaf;
}

#define BIND_RID(self) bind_vtd((self)->fd, (self)->child, (self)->dev, 0, 0, (self)->g.root)

TEST_F(sw_edu, dma_lands_where_the_composed_translation_says)
{
	struct guest *g = &self->g;

	map_src_dst(_metadata, g, 5);
	ASSERT_NE(NULL, s1_map(g, DST_IOVA + SZ_4K, DGPA(3), 1, USER_RW));
	ASSERT_EQ(0, BIND_RID(self));
	ASSERT_EQ(0, edu_read(self, SRC_IOVA));
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(dpage(g, 5), SEED);
	EXPECT_HOLDS(dpage(g, 4), UNTOUCHED);
	EXPECT_HOLDS(dpage(g, 6), UNTOUCHED);
	EXPECT_HOLDS(dpage(g, 3), UNTOUCHED);
	/* The next stage-1 page goes where its own leaf says, below the first. */
	ASSERT_EQ(0, edu_write(self, DST_IOVA + SZ_4K));
	EXPECT_HOLDS(dpage(g, 3), SEED);
	EXPECT_HOLDS(dpage(g, 2), UNTOUCHED);
	/* A GPA is no stage-1 IOVA: the parent's mapping is reached only through stage 1. */
	ASSERT_EQ(0, edu_write(self, DGPA(9)));
	EXPECT_HOLDS(dpage(g, 9), UNTOUCHED);
}

TEST_F(sw_edu, pte_change_takes_effect_only_after_invalidation)
{
	struct guest *g = &self->g;
	uint64_t *leaf = map_src_dst(_metadata, g, 5);
	uint64_t *later;

	ASSERT_EQ(0, BIND_RID(self));
	ASSERT_EQ(0, edu_read(self, SRC_IOVA));
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(dpage(g, 5), SEED);
	/* Moved in the table only: the device still reaches the old page. */
	fill(dpage(g, 5), UNTOUCHED);
	*leaf = DGPA(6) | USER_RW;
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(dpage(g, 5), SEED);
	EXPECT_HOLDS(dpage(g, 6), UNTOUCHED);
	/* Invalidating another range does not apply it either. */
	fill(dpage(g, 5), UNTOUCHED);
	ASSERT_EQ(0, inval_range(self->fd, self->child, SRC_IOVA, 1));
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(dpage(g, 5), SEED);
	EXPECT_HOLDS(dpage(g, 6), UNTOUCHED);
	/* Its range does. */
	fill(dpage(g, 5), UNTOUCHED);
	ASSERT_EQ(0, inval_range(self->fd, self->child, DST_IOVA, 1));
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(dpage(g, 6), SEED);
	EXPECT_HOLDS(dpage(g, 5), UNTOUCHED);
	/* A new leaf, and another move, wait for the invalidation of everything. */
	later = s1_map(g, DST_IOVA + SZ_4K, DGPA(8), 1, USER_RW);
	ASSERT_NE(NULL, later);
	fill(dpage(g, 6), UNTOUCHED);
	*leaf = DGPA(7) | USER_RW;
	ASSERT_EQ(0, edu_write(self, DST_IOVA + SZ_4K));
	EXPECT_HOLDS(dpage(g, 8), UNTOUCHED);
	ASSERT_EQ(0, inval_all(self->fd, self->child));
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	ASSERT_EQ(0, edu_write(self, DST_IOVA + SZ_4K));
	EXPECT_HOLDS(dpage(g, 7), SEED);
	EXPECT_HOLDS(dpage(g, 8), SEED);
	EXPECT_HOLDS(dpage(g, 6), UNTOUCHED);
	/* A cleared leaf goes with its invalidation too. */
	fill(dpage(g, 7), UNTOUCHED);
	*leaf = 0;
	ASSERT_EQ(0, inval_range(self->fd, self->child, DST_IOVA, 1));
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(dpage(g, 7), UNTOUCHED);
}

TEST_F(sw_edu, read_only_pte_blocks_device_writes)
{
	struct guest *g = &self->g;
	uint64_t *ro, *pd;

	ASSERT_NE(NULL, s1_map(g, SRC_IOVA, DGPA(0), 1, USER_RO));
	ASSERT_NE(NULL, s1_map(g, DST_IOVA, DGPA(5), 1, USER_RW));
	ro = s1_map(g, DST_IOVA + SZ_4K, DGPA(6), 1, USER_RO);
	ASSERT_NE(NULL, ro);
	/* A writable leaf below a read-only PD entry: writes need R/W at every level. */
	ASSERT_NE(NULL, s1_map(g, DST_IOVA + SZ_2M, DGPA(7), 1, USER_RW));
	pd = s1_entry(g, DST_IOVA + SZ_2M, 2);
	ASSERT_NE(NULL, pd);
	*pd &= ~PTE_RW;
	ASSERT_EQ(0, BIND_RID(self));
	/* The device reads through a read-only leaf: the pattern comes out elsewhere. */
	ASSERT_EQ(0, edu_read(self, SRC_IOVA));
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(dpage(g, 5), SEED);
	/* It cannot write through one. */
	ASSERT_EQ(0, edu_write(self, DST_IOVA + SZ_4K));
	ASSERT_EQ(0, edu_write(self, DST_IOVA + SZ_2M));
	EXPECT_HOLDS(dpage(g, 6), UNTOUCHED);
	EXPECT_HOLDS(dpage(g, 7), UNTOUCHED);
	/* Made writable (and invalidated), it can. */
	*ro |= PTE_RW;
	*pd |= PTE_RW;
	ASSERT_EQ(0, inval_range(self->fd, self->child, DST_IOVA + SZ_4K, 1));
	ASSERT_EQ(0, inval_range(self->fd, self->child, DST_IOVA + SZ_2M, 1));
	ASSERT_EQ(0, edu_write(self, DST_IOVA + SZ_4K));
	ASSERT_EQ(0, edu_write(self, DST_IOVA + SZ_2M));
	EXPECT_HOLDS(dpage(g, 6), SEED);
	EXPECT_HOLDS(dpage(g, 7), SEED);
}

TEST_F(sw_edu, supervisor_pte_is_not_mapped)
{
	struct guest *g = &self->g;
	uint64_t *leaf, *pd;

	map_src_dst(_metadata, g, 7);
	/* A supervisor leaf, and a supervisor PD entry above a user leaf. */
	leaf = s1_map(g, DST_IOVA + SZ_4K, DGPA(5), 1, PTE_P | PTE_RW);
	ASSERT_NE(NULL, leaf);
	ASSERT_NE(NULL, s1_map(g, DST_IOVA + SZ_2M, DGPA(6), 1, USER_RW));
	pd = s1_entry(g, DST_IOVA + SZ_2M, 2);
	ASSERT_NE(NULL, pd);
	*pd &= ~PTE_US;
	ASSERT_EQ(0, BIND_RID(self));
	ASSERT_EQ(0, edu_read(self, SRC_IOVA));
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(dpage(g, 7), SEED);
	ASSERT_EQ(0, edu_write(self, DST_IOVA + SZ_4K));
	ASSERT_EQ(0, edu_write(self, DST_IOVA + SZ_2M));
	EXPECT_HOLDS(dpage(g, 5), UNTOUCHED);
	EXPECT_HOLDS(dpage(g, 6), UNTOUCHED);
	/* U/S was all they lacked. */
	*leaf |= PTE_US;
	*pd |= PTE_US;
	ASSERT_EQ(0, inval_all(self->fd, self->child));
	ASSERT_EQ(0, edu_write(self, DST_IOVA + SZ_4K));
	ASSERT_EQ(0, edu_write(self, DST_IOVA + SZ_2M));
	EXPECT_HOLDS(dpage(g, 5), SEED);
	EXPECT_HOLDS(dpage(g, 6), SEED);
}

TEST_F(sw_edu, parent_unmap_removes_the_translation_and_remap_restores_it)
{
	struct guest *g = &self->g;
	uint8_t *other;
	__u64 unmapped;

	map_src_dst(_metadata, g, 5);
	ASSERT_EQ(0, BIND_RID(self));
	ASSERT_EQ(0, edu_read(self, SRC_IOVA));
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(dpage(g, 5), SEED);
	fill(dpage(g, 5), UNTOUCHED);
	/* Stage 2 is the kernel's: an unmap in the parent applies at once, no invalidation. */
	ASSERT_EQ(0, unmap(self->fd, self->parent, DATA_GPA, DATA_LEN, &unmapped));
	EXPECT_EQ(DATA_LEN, unmapped);
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(dpage(g, 5), UNTOUCHED);
	/* Other memory at the same GPAs: reached at once, for reads and writes. */
	other = data_memory();
	ASSERT_NE(NULL, other);
	fill(other, SEED2);
	ASSERT_EQ(0, map_at(self->fd, self->parent, other, DATA_LEN, DATA_GPA));
	ASSERT_EQ(0, edu_read(self, SRC_IOVA));
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(other + 5 * SZ_4K, SEED2);
	EXPECT_HOLDS(other + 4 * SZ_4K, UNTOUCHED);
	EXPECT_HOLDS(dpage(g, 5), UNTOUCHED);
}

TEST_F(sw_edu, two_mib_leaf_maps_with_an_offset)
{
	struct guest *g = &self->g;

	ASSERT_NE(NULL, s1_map(g, SRC_IOVA, DGPA(0), 1, USER_RW));
	ASSERT_NE(NULL, s1_map(g, DST_IOVA, DATA_GPA, 2, USER_RW));
	ASSERT_NE(NULL, s1_map(g, DST_IOVA + SZ_2M, DATA_GPA + SZ_2M, 2, USER_RW));
	ASSERT_EQ(0, BIND_RID(self));
	ASSERT_EQ(0, edu_read(self, SRC_IOVA));
	ASSERT_EQ(0, edu_write(self, DST_IOVA + 5 * SZ_4K));
	ASSERT_EQ(0, edu_write(self, DST_IOVA + 511 * SZ_4K));
	ASSERT_EQ(0, edu_write(self, DST_IOVA + SZ_2M + 3 * SZ_4K));
	EXPECT_HOLDS(dpage(g, 5), SEED);
	EXPECT_HOLDS(dpage(g, 511), SEED);
	EXPECT_HOLDS(dpage(g, 515), SEED);
	EXPECT_HOLDS(dpage(g, 4), UNTOUCHED);
	EXPECT_HOLDS(dpage(g, 6), UNTOUCHED);
	EXPECT_HOLDS(dpage(g, 510), UNTOUCHED);
	EXPECT_HOLDS(dpage(g, 512), UNTOUCHED);
	EXPECT_HOLDS(dpage(g, 514), UNTOUCHED);
	EXPECT_HOLDS(dpage(g, 516), UNTOUCHED);
}

TEST_F(sw_edu, one_gib_leaf_maps_with_an_offset)
{
	struct guest *g = &self->g;

	/* GPA 0 to 1 GiB, of which the parent maps only the guest memory. */
	ASSERT_NE(NULL, s1_map(g, SRC_IOVA, DGPA(0), 1, USER_RW));
	ASSERT_NE(NULL, s1_map(g, BIG_IOVA, 0, 3, USER_RW));
	ASSERT_EQ(0, BIND_RID(self));
	ASSERT_EQ(0, edu_read(self, SRC_IOVA));
	ASSERT_EQ(0, edu_write(self, BIG_IOVA + DGPA(7)));
	EXPECT_HOLDS(dpage(g, 7), SEED);
	EXPECT_HOLDS(dpage(g, 6), UNTOUCHED);
	EXPECT_HOLDS(dpage(g, 8), UNTOUCHED);
}

TEST_F(sw_edu, unbind_leaves_nothing_and_attach_works)
{
	struct guest *g = &self->g;

	map_src_dst(_metadata, g, 5);
	ASSERT_EQ(0, BIND_RID(self));
	ASSERT_EQ(0, edu_read(self, SRC_IOVA));
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(dpage(g, 5), SEED);
	fill(dpage(g, 5), UNTOUCHED);
	ASSERT_EQ(0, unbind_vtd(self->fd, self->child, self->dev, 0, 0));
	ASSERT_EQ(0, edu_write(self, DST_IOVA));
	EXPECT_HOLDS(dpage(g, 5), UNTOUCHED);
	EXPECT_EQ(-1, unbind_vtd(self->fd, self->child, self->dev, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	/* The parent lives as long as its child; the child, once unbound, can go. */
	EXPECT_EQ(-1, destroy(self->fd, self->parent));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, destroy(self->fd, self->child));
	/* Attached plainly, the device reaches the parent's mappings at their GPAs. */
	ASSERT_EQ(0, attach(self->fd, self->dev, self->parent));
	ASSERT_EQ(0, edu_write(self, DGPA(5)));
	EXPECT_HOLDS(dpage(g, 5), SEED);
}

TEST_F(sw_edu, bind_and_invalidate_bad_input)
{
	struct ioasid_bind_table b = vtd_arg(self->child, self->dev, self->g.root);
	struct ioasid_inval_vtd reqs[3] = {
		{ .addr = SRC_IOVA, .npages = 1 },
		{ .addr = 0, .npages = UINT64_MAX },
		{ .addr = DST_IOVA, .npages = 2, .flags = IOASID_INVAL_VTD_LEAF },
	};
	struct ioasid_cache_invalidate ci = {
		.argsz = sizeof(ci), .child_id = self->child, .entry_num = 1,
		.entries = (uintptr_t)reqs,
	};
	__u32 done;

	map_src_dst(_metadata, &self->g, 5);
	/* An attached device takes no table. */
	ASSERT_EQ(0, attach(self->fd, self->dev, self->parent));
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, detach(self->fd, self->dev));
	/* Software walks take no table flags (SRE, EAFE, WPE). */
	b.table.vtd.flags = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(EOPNOTSUPP, errno);
	b.table.vtd.flags = 0;
	/* 4 or 5 levels only. */
	b.table.vtd.addr_width = 39;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(EINVAL, errno);
	b.table.vtd.addr_width = 0;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(EINVAL, errno);
	b.table.vtd.addr_width = 64;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(EINVAL, errno);
	b.table.vtd.addr_width = 48;
	/* A misaligned root, a reserved field, a root the parent does not map. */
	b.table.vtd.pgtbl_addr = self->g.root + 8;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(EINVAL, errno);
	b.table.vtd.pgtbl_addr = self->g.root + 0x800;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(EINVAL, errno);
	b.table.vtd.pgtbl_addr = self->g.root;
	b.table.vtd.__reserved = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(EINVAL, errno);
	b.table.vtd.__reserved = 0;
	b.table.vtd.pgtbl_addr = UNMAPPED_GPA;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(ENXIO, errno);
	b.table.vtd.pgtbl_addr = self->g.root;
	/* None of those left anything bound. */
	EXPECT_EQ(-1, unbind_vtd(self->fd, self->child, self->dev, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	/* Bound: not twice, not attached as well; neither address space can go. */
	ASSERT_EQ(0, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, attach(self->fd, self->dev, self->parent));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, destroy(self->fd, self->child));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, destroy(self->fd, self->parent));
	EXPECT_EQ(EBUSY, errno);
	/* Requests: all good, then each bad one says where it is. */
	EXPECT_EQ(0, inval(self->fd, self->child, 0, 0, 0, 0, reqs, 3, &done));
	EXPECT_EQ(3, done);
	reqs[2].addr = DST_IOVA + 8;
	EXPECT_EQ(-1, inval(self->fd, self->child, 0, 0, 0, 0, reqs, 3, &done));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(2, done);
	reqs[2].addr = DST_IOVA;
	reqs[1].npages = 0;
	EXPECT_EQ(-1, inval(self->fd, self->child, 0, 0, 0, 0, reqs, 3, &done));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(1, done);
	reqs[1].npages = UINT64_MAX;
	reqs[0].__reserved = 1;
	EXPECT_EQ(-1, inval(self->fd, self->child, 0, 0, 0, 0, reqs, 3, &done));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, done);
	reqs[0].__reserved = 0;
	reqs[1].flags = 1 << 1;
	EXPECT_EQ(-1, inval(self->fd, self->child, 0, 0, 0, 0, reqs, 3, &done));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(1, done);
	reqs[1].flags = 0;
	EXPECT_EQ(0, inval(self->fd, self->child, 0, 0, 0, 0, reqs, 3, &done));
	EXPECT_EQ(3, done);
	/* Entries shorter than a request. */
	ci.entry_len = sizeof(reqs[0]) - 8;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_CACHE_INVALIDATE, &ci));
	EXPECT_EQ(EINVAL, errno);
	ci.entry_len = 0;
	ci.entry_num = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_CACHE_INVALIDATE, &ci));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, unbind_vtd(self->fd, self->child, self->dev, 0, 0));
}

TEST_F(sw_edu, discovery_reports_software_formats)
{
	struct ioasid_device_info info;
	uint8_t caps[512];
	long v;

	EXPECT_EQ(1, sw_nesting_supported(self->fd));
	ASSERT_EQ(0, device_info(self->fd, self->dev, &info, caps, sizeof(caps)));
	EXPECT_NE(0, info.out_flags & IOASID_DEVICE_INFO_SW_NESTING);
	ASSERT_LE(info.caps_len, sizeof(caps));
	v = cap_versions(caps, info.caps_len, IOASID_INFO_CAP_SW_NESTING, IOASID_FORMAT_VTD_S1);
	ASSERT_LT(0, v);
	EXPECT_NE(0, v & (1 << IOASID_BIND_VERSION_1));
	/* This IOMMU does not take the format in hardware (if it nests at all). */
	v = cap_versions(caps, info.caps_len, IOASID_INFO_CAP_NESTING, IOASID_FORMAT_VTD_S1);
	EXPECT_TRUE(v == 0 || v == CAP_ABSENT);
	if (v != CAP_ABSENT)
		EXPECT_NE(0, info.out_flags & IOASID_DEVICE_INFO_NESTING);
}

/* ---------------------------------------------------------------------------------- */
/* The mock IOMMU: the shadow checked in its page table, per (device, PASID). */

FIXTURE(sw_mock) {
	int fd, mock;
	__u32 mock_id, dev, parent, child;
	struct guest g;
	long saved;		/* max_shadow_entries before the case */
};

FIXTURE_SETUP(sw_mock)
{
	struct ioasid_mock_device_add a = {
		.argsz = sizeof(a), .pasid_width = 20, .flags = IOASID_MOCK_DEVICE_INTENT_PASID,
	};

	self->fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	self->mock = open("/dev/ioasid-mock", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->mock);
	a.ioasid_fd = self->fd;
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &a));
	self->mock_id = a.out_mock_id;
	self->dev = a.out_dev_id;
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->parent));
	guest_setup(_metadata, &self->g, self->fd, self->parent);
	ASSERT_EQ(0, nested_alloc(self->fd, self->parent, IOASID_FORMAT_VTD_S1, &self->child));
	/* Last: a failed setup has no teardown to put it back. */
	self->saved = read_budget();
	ASSERT_LT(0, self->saved);
	ASSERT_EQ(0, write_budget(HOSTILE_BUDGET));
}

FIXTURE_TEARDOWN(sw_mock)
{
	if (self->saved > 0)
		write_budget(self->saved);
	close(self->mock);
	close(self->fd);
}

/* Checks that (@mock_id, @pasid) maps the page at @iova to @va with @flags, or nothing. */
static int check(int mock, __u32 mock_id, __u32 pasid, __u32 flags, __u64 iova, void *va)
{
	struct ioasid_mock_check_map a = {
		.argsz = sizeof(a), .flags = va ? flags : IOASID_MOCK_CHECK_UNMAPPED,
		.mock_id = mock_id, .pasid = pasid, .iova = iova, .length = SZ_4K,
		.uptr = (uintptr_t)va,
	};

	return ioctl(mock, IOASID_MOCK_CHECK_MAP, &a);
}

#define CHECK_RID(self, flags, iova, va) \
	check((self)->mock, (self)->mock_id, IOASID_MOCK_NO_PASID, flags, iova, va)

/* A new PASID of the device in a new namespace: its name *@v, its physical PASID *@p. */
static void new_pasid(struct __test_metadata *_metadata, FIXTURE_DATA(sw_mock) *self,
		      __u32 *ns, __u32 *v, __u32 *p)
{
	struct ioasid_pasid_ns_alloc na = { .argsz = sizeof(na) };
	struct ioasid_pasid_alloc pa = { .argsz = sizeof(pa), .dev_id = self->dev };
	struct ioasid_mock_pasid_translate tr = { .argsz = sizeof(tr), .ioasid_fd = self->fd };

	if (!*ns) {
		ASSERT_EQ(0, ioctl(self->fd, IOASID_PASID_NS_ALLOC, &na));
		*ns = na.out_ns_id;
	}
	pa.ns_id = *ns;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_PASID_ALLOC, &pa));
	*v = pa.out_pasid;
	tr.ns_id = *ns;
	tr.vpasid = *v;
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_PASID_TRANSLATE, &tr));
	*p = tr.out_ppasid;
}

/* A bind of the device's RID to @root that must end within LIVENESS_S; *@ms: its time. */
static int timed_bind(FIXTURE_DATA(sw_mock) *self, __u64 root, long *ms)
{
	struct timespec t0;
	int ret, err;

	/* A walk still running then is interrupted (EINTR): the case fails, but ends. */
	alarm_ms(LIVENESS_S * 1000, 0);
	t0 = now();
	ret = bind_vtd(self->fd, self->child, self->dev, 0, 0, root);
	err = errno;
	*ms = ms_since(t0);
	alarm_ms(0, 0);
	errno = err;
	return ret;
}

/* Points all 512 entries of the table at @table to @next (present, writable, user). */
static void fan_out(struct guest *g, __u64 table, __u64 next)
{
	uint64_t *t = table_at(g, table);

	for (int i = 0; i < 512; i++)
		t[i] = next | USER_RW;
}

/* One PDPT, PD and PT shared by every index of every level, the PT empty. */
static void shared_subtrees(struct __test_metadata *_metadata, struct guest *g)
{
	__u64 pdpt = table_alloc(g), pd = table_alloc(g), pt = table_alloc(g);

	ASSERT_NE(0, pt);
	fan_out(g, g->root, pdpt);
	fan_out(g, pdpt, pd);
	fan_out(g, pd, pt);
}

TEST_F(sw_mock, per_pasid_shadow_translates_through_both_stages)
{
	struct guest *g = &self->g;
	struct ioasid_inval_vtd all = { .addr = 0, .npages = UINT64_MAX };
	struct ioasid_device_pasid_attach at = {
		.argsz = sizeof(at), .dev_id = self->dev, .ioas_id = self->parent,
	};
	__u32 ns = 0, v, p, v2, p2;
	uint64_t *leaf2;
	__u64 root1 = g->root, root2;

	new_pasid(_metadata, self, &ns, &v, &p);
	new_pasid(_metadata, self, &ns, &v2, &p2);
	ASSERT_NE(NULL, s1_map(g, SRC_IOVA, DGPA(3), 1, USER_RW));
	ASSERT_NE(NULL, s1_map(g, SRC_IOVA + SZ_4K, DGPA(4), 1, USER_RO));
	/* The second PASID's table: the same IOVA elsewhere. */
	root2 = table_alloc(g);
	ASSERT_NE(0, root2);
	g->root = root2;
	leaf2 = s1_map(g, SRC_IOVA, DGPA(9), 1, USER_RW);
	ASSERT_NE(NULL, leaf2);
	g->root = root1;
	ASSERT_EQ(0, bind_vtd(self->fd, self->child, self->dev, ns, v, root1));
	/* Stage-1 IOVA -> GPA -> the host page behind it, with the leaf's permissions. */
	EXPECT_EQ(0, check(self->mock, self->mock_id, p, RW_CHECK, SRC_IOVA, dpage(g, 3)));
	EXPECT_EQ(0, check(self->mock, self->mock_id, p, IOASID_MOCK_CHECK_READ,
			   SRC_IOVA + SZ_4K, dpage(g, 4)));
	EXPECT_EQ(-1, check(self->mock, self->mock_id, p, IOASID_MOCK_CHECK_WRITE,
			    SRC_IOVA + SZ_4K, dpage(g, 4)));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(0, check(self->mock, self->mock_id, p, 0, SRC_IOVA + 2 * SZ_4K, NULL));
	/* A GPA is no stage-1 IOVA. */
	EXPECT_EQ(0, check(self->mock, self->mock_id, p, 0, DGPA(3), NULL));
	/* The RID and the other PASID are untouched. */
	EXPECT_EQ(-1, CHECK_RID(self, 0, SRC_IOVA, NULL));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-1, check(self->mock, self->mock_id, p2, 0, SRC_IOVA, NULL));
	EXPECT_EQ(ENODEV, errno);
	/* Each PASID its own table. */
	ASSERT_EQ(0, bind_vtd(self->fd, self->child, self->dev, ns, v2, root2));
	EXPECT_EQ(0, check(self->mock, self->mock_id, p2, RW_CHECK, SRC_IOVA, dpage(g, 9)));
	EXPECT_EQ(0, check(self->mock, self->mock_id, p, RW_CHECK, SRC_IOVA, dpage(g, 3)));
	/* A bound PASID is not attached as well. */
	at.ns_id = ns;
	at.pasid = v;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_DEVICE_PASID_ATTACH, &at));
	EXPECT_EQ(EBUSY, errno);
	/* Invalidations select by PASID. */
	*leaf2 = DGPA(10) | USER_RW;
	ASSERT_EQ(0, inval(self->fd, self->child, IOASID_INVALIDATE_PASID, 0, ns, v, &all, 1,
			   NULL));
	EXPECT_EQ(0, check(self->mock, self->mock_id, p2, 0, SRC_IOVA, dpage(g, 9)));
	ASSERT_EQ(0, inval(self->fd, self->child, IOASID_INVALIDATE_PASID, 0, ns, v2, &all, 1,
			   NULL));
	EXPECT_EQ(0, check(self->mock, self->mock_id, p2, 0, SRC_IOVA, dpage(g, 10)));
	/* Unbound, the PASID reaches nothing; the other keeps its translation. */
	ASSERT_EQ(0, unbind_vtd(self->fd, self->child, self->dev, ns, v));
	EXPECT_EQ(-1, check(self->mock, self->mock_id, p, 0, SRC_IOVA, NULL));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(0, check(self->mock, self->mock_id, p2, 0, SRC_IOVA, dpage(g, 10)));
	ASSERT_EQ(0, unbind_vtd(self->fd, self->child, self->dev, ns, v2));
}

TEST_F(sw_mock, invalidation_and_parent_unmap_on_the_mock)
{
	struct guest *g = &self->g;
	struct ioasid_inval_vtd all = { .addr = 0, .npages = UINT64_MAX };
	uint64_t *leaf, *big;
	uint8_t *other;
	__u32 done;

	leaf = s1_map(g, SRC_IOVA, DGPA(3), 1, USER_RW);
	ASSERT_NE(NULL, leaf);
	big = s1_map(g, DST_IOVA, DATA_GPA, 2, USER_RW);
	ASSERT_NE(NULL, big);
	ASSERT_EQ(0, BIND_RID(self));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, SRC_IOVA, dpage(g, 3)));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, DST_IOVA + 16 * SZ_4K, dpage(g, 16)));
	/* Stale until its range is invalidated. */
	*leaf = DGPA(6) | USER_RW;
	EXPECT_EQ(0, CHECK_RID(self, 0, SRC_IOVA, dpage(g, 3)));
	ASSERT_EQ(0, inval_range(self->fd, self->child, SRC_IOVA, 1));
	EXPECT_EQ(0, CHECK_RID(self, 0, SRC_IOVA, dpage(g, 6)));
	/* One page of a 2 MiB leaf re-walks the whole leaf. */
	*big = (DATA_GPA + SZ_2M) | USER_RW | PTE_PS;
	EXPECT_EQ(0, CHECK_RID(self, 0, DST_IOVA + 16 * SZ_4K, dpage(g, 16)));
	ASSERT_EQ(0, inval_range(self->fd, self->child, DST_IOVA + SZ_4K, 1));
	EXPECT_EQ(0, CHECK_RID(self, 0, DST_IOVA + 16 * SZ_4K, dpage(g, 512 + 16)));
	EXPECT_EQ(0, CHECK_RID(self, 0, DST_IOVA, dpage(g, 512)));
	/* A cleared leaf, then everything for this device. */
	*leaf = 0;
	EXPECT_EQ(0, CHECK_RID(self, 0, SRC_IOVA, dpage(g, 6)));
	ASSERT_EQ(0, inval(self->fd, self->child, IOASID_INVALIDATE_DEVICE, self->dev, 0, 0,
			   &all, 1, &done));
	EXPECT_EQ(1, done);
	EXPECT_EQ(0, CHECK_RID(self, 0, SRC_IOVA, NULL));
	*leaf = DGPA(6) | USER_RW;
	ASSERT_EQ(0, inval_all(self->fd, self->child));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, SRC_IOVA, dpage(g, 6)));
	/* The parent's unmap applies at once; the tables (another mapping) stay. */
	ASSERT_EQ(0, unmap(self->fd, self->parent, DATA_GPA, DATA_LEN, NULL));
	EXPECT_EQ(0, CHECK_RID(self, 0, SRC_IOVA, NULL));
	EXPECT_EQ(0, CHECK_RID(self, 0, DST_IOVA, NULL));
	/* So does a map of other memory at the same GPAs. */
	other = data_memory();
	ASSERT_NE(NULL, other);
	ASSERT_EQ(0, map_at(self->fd, self->parent, other, DATA_LEN, DATA_GPA));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, SRC_IOVA, other + 6 * SZ_4K));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, DST_IOVA + 16 * SZ_4K,
			       other + (512 + 16) * SZ_4K));
	EXPECT_EQ(-1, CHECK_RID(self, 0, SRC_IOVA, dpage(g, 6)));
	EXPECT_EQ(ENXIO, errno);
}

TEST_F(sw_mock, reserved_bits_are_not_mapped_and_xd_is_ignored)
{
	struct guest *g = &self->g;
	const __u64 ps_pml4 = 1ull << 39, low = 2ull << 39, xd = 3ull << 39;
	uint64_t *pml4, *leaf;

	/* PS in a PML4 entry; a low address bit (13) in a 2 MiB leaf; XD in a leaf. */
	ASSERT_NE(NULL, s1_map(g, ps_pml4, DGPA(3), 1, USER_RW));
	pml4 = s1_entry(g, ps_pml4, 4);
	ASSERT_NE(NULL, pml4);
	*pml4 |= PTE_PS;
	leaf = s1_map(g, low, DATA_GPA | (1ull << 13), 2, USER_RW);
	ASSERT_NE(NULL, leaf);
	ASSERT_NE(NULL, s1_map(g, xd, DGPA(5), 1, USER_RW | PTE_XD));
	ASSERT_EQ(0, BIND_RID(self));
	EXPECT_EQ(0, CHECK_RID(self, 0, ps_pml4, NULL));
	EXPECT_EQ(0, CHECK_RID(self, 0, low, NULL));
	EXPECT_EQ(0, CHECK_RID(self, 0, low + 2 * SZ_4K, NULL));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, xd, dpage(g, 5)));
	/* The reserved bits were all that kept them out. */
	*pml4 &= ~PTE_PS;
	*leaf &= ~(1ull << 13);
	ASSERT_EQ(0, inval_all(self->fd, self->child));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, ps_pml4, dpage(g, 3)));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, low + 2 * SZ_4K, dpage(g, 2)));
}

TEST_F(sw_mock, addr_width_57_walks_five_levels)
{
	struct guest *g = &self->g;
	struct ioasid_bind_table b;
	__u64 pml5;

	ASSERT_NE(NULL, s1_map(g, SRC_IOVA, DGPA(3), 1, USER_RW));
	pml5 = table_alloc(g);
	ASSERT_NE(0, pml5);
	table_at(g, pml5)[0] = g->root | USER_RW;
	b = vtd_arg(self->child, self->dev, pml5);
	b.table.vtd.addr_width = 57;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, SRC_IOVA, dpage(g, 3)));
	EXPECT_EQ(0, CHECK_RID(self, 0, SRC_IOVA + SZ_4K, NULL));
}

TEST_F(sw_mock, root_that_points_at_itself)
{
	struct guest *g = &self->g;
	long ms;

	/* The walk goes through the same page at every level, and every leaf is valid. */
	fan_out(g, g->root, g->root);
	EXPECT_EQ(-1, timed_bind(self, g->root, &ms));
	EXPECT_EQ(ENOSPC, errno);
	ASSERT_GT(LIVENESS_S * 1000, ms);
	/* Nothing stayed bound: the device is free for a plain attach. */
	EXPECT_EQ(-1, unbind_vtd(self->fd, self->child, self->dev, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, attach(self->fd, self->dev, self->parent));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, DGPA(3), dpage(g, 3)));
}

TEST_F(sw_mock, shared_subtrees_with_nonpresent_leaves)
{
	long ms;

	/* 512^4 entries to read, no leaf: the read budget ends it. */
	shared_subtrees(_metadata, &self->g);
	EXPECT_EQ(-1, timed_bind(self, self->g.root, &ms));
	EXPECT_EQ(ENOSPC, errno);
	ASSERT_GT(LIVENESS_S * 1000, ms);
	EXPECT_EQ(-1, unbind_vtd(self->fd, self->child, self->dev, 0, 0));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(sw_mock, a_full_tree_of_1g_leaves)
{
	struct guest *g = &self->g;
	__u64 pdpt = table_alloc(g);
	uint64_t *t = table_at(g, pdpt);
	long ms;

	/* 2^18 leaves of GPA 0 - 1 GiB, each in pieces around the guest memory. */
	ASSERT_NE(NULL, t);
	fan_out(g, g->root, pdpt);
	for (int i = 0; i < 512; i++)
		t[i] = 0 | USER_RW | PTE_PS;
	EXPECT_EQ(-1, timed_bind(self, g->root, &ms));
	EXPECT_EQ(ENOSPC, errno);
	ASSERT_GT(LIVENESS_S * 1000, ms);
	EXPECT_EQ(-1, unbind_vtd(self->fd, self->child, self->dev, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, attach(self->fd, self->dev, self->parent));
}

TEST_F(sw_mock, table_at_unmapped_gpa)
{
	struct guest *g = &self->g;
	uint64_t *pd;
	long ms;

	EXPECT_EQ(-1, timed_bind(self, UNMAPPED_GPA, &ms));
	EXPECT_EQ(ENXIO, errno);
	ASSERT_GT(LIVENESS_S * 1000, ms);
	/* Sub-tables at unmapped GPAs are just not present: a PDPT, a PT. */
	ASSERT_NE(NULL, s1_map(g, SRC_IOVA, DGPA(3), 1, USER_RW));
	table_at(g, g->root)[1] = UNMAPPED_GPA | USER_RW;
	ASSERT_NE(NULL, s1_map(g, DST_IOVA, DGPA(4), 1, USER_RW));
	pd = s1_entry(g, DST_IOVA, 2);
	ASSERT_NE(NULL, pd);
	*pd = (UNMAPPED_GPA + SZ_4K) | USER_RW;
	EXPECT_EQ(0, timed_bind(self, g->root, &ms));
	ASSERT_GT(LIVENESS_S * 1000, ms);
	EXPECT_EQ(0, CHECK_RID(self, 0, 1ull << 39, NULL));
	EXPECT_EQ(0, CHECK_RID(self, 0, DST_IOVA, NULL));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, SRC_IOVA, dpage(g, 3)));
}

TEST_F(sw_mock, invalidation_that_grows_past_the_budget)
{
	struct guest *g = &self->g;
	struct ioasid_inval_vtd all = { .addr = 0, .npages = UINT64_MAX };
	struct timespec t0;
	__u32 done = 99;
	int ret, err;
	long ms;

	ASSERT_NE(NULL, s1_map(g, SRC_IOVA, DGPA(3), 1, USER_RW));
	ASSERT_EQ(0, BIND_RID(self));
	/* The guest turns its table hostile, then asks for the re-walk. */
	fan_out(g, g->root, g->root);
	alarm_ms(LIVENESS_S * 1000, 0);
	t0 = now();
	ret = inval(self->fd, self->child, 0, 0, 0, 0, &all, 1, &done);
	err = errno;
	ms = ms_since(t0);
	alarm_ms(0, 0);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(ENOSPC, err);
	EXPECT_EQ(0, done);
	ASSERT_GT(LIVENESS_S * 1000, ms);
	/* The table is still bound. */
	EXPECT_EQ(0, unbind_vtd(self->fd, self->child, self->dev, 0, 0));
}

TEST_F(sw_mock, a_signal_interrupts_a_long_walk)
{
	struct guest *g = &self->g;
	struct timespec t0;
	int ret, err;
	long ms;

	/* A budget of 2^26 entries, 2^30 reads: far longer than the signals' period. */
	shared_subtrees(_metadata, g);
	ASSERT_EQ(0, write_budget(1l << 26));
	ASSERT_EQ(0, alarm_ms(10, 10));
	t0 = now();
	ret = bind_vtd(self->fd, self->child, self->dev, 0, 0, g->root);
	err = errno;
	ms = ms_since(t0);
	alarm_ms(0, 0);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EINTR, err);
	ASSERT_GT(LIVENESS_S * 1000, ms);
	EXPECT_EQ(-1, unbind_vtd(self->fd, self->child, self->dev, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	/* A sane table binds afterwards. */
	g->used = 0;
	g->root = table_alloc(g);
	ASSERT_NE(NULL, s1_map(g, SRC_IOVA, DGPA(3), 1, USER_RW));
	ASSERT_EQ(0, BIND_RID(self));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, SRC_IOVA, dpage(g, 3)));
}

TEST_F(sw_mock, max_shadow_entries_is_a_writable_parameter)
{
	if (!cmdline_has("ioasid.max_shadow_entries="))
		EXPECT_EQ(DEFAULT_BUDGET, budget_at_start);
	EXPECT_EQ(HOSTILE_BUDGET, read_budget());
}

TEST_F(sw_mock, mock_hardware_format_unchanged)
{
	struct guest *g = &self->g;
	struct ioasid_mock_device_add a = { .argsz = sizeof(a), .ioasid_fd = self->fd };
	struct ioasid_inval_mock all = { .flags = IOASID_INVAL_MOCK_ALL };
	struct ioasid_mock_iotlb tlb = { .argsz = sizeof(tlb), .mock_id = self->mock_id,
					 .pasid = IOASID_MOCK_NO_PASID };
	struct ioasid_bind_table b = {
		.argsz = sizeof(b), .version = IOASID_BIND_VERSION_1,
		.format = IOASID_FORMAT_MOCK, .dev_id = self->dev,
	};
	struct ioasid_cache_invalidate ci = {
		.argsz = sizeof(ci), .entry_len = sizeof(all), .entry_num = 1,
		.entries = (uintptr_t)&all,
	};
	uint64_t *mt;
	__u32 hw;

	/* The mock format's table: stage-1 page 0 -> data page 3, writable. */
	b.table.mock.table = table_alloc(g);
	mt = table_at(g, b.table.mock.table);
	ASSERT_NE(NULL, mt);
	mt[0] = DGPA(3) | 3;
	ASSERT_EQ(0, nested_alloc(self->fd, self->parent, IOASID_FORMAT_MOCK, &hw));
	b.child_id = hw;
	ci.child_id = hw;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	/* Another device, the VT-d table on the same parent, in software. */
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &a));
	ASSERT_NE(NULL, s1_map(g, SRC_IOVA, DGPA(4), 1, USER_RW));
	ASSERT_EQ(0, bind_vtd(self->fd, self->child, a.out_dev_id, 0, 0, g->root));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, 0, dpage(g, 3)));
	EXPECT_EQ(0, check(self->mock, a.out_mock_id, IOASID_MOCK_NO_PASID, RW_CHECK, SRC_IOVA,
			   dpage(g, 4)));
	/* The hardware path is the mock IOMMU's nested domain: its IOTLB caches stage 1. */
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_IOTLB, &tlb));
	EXPECT_EQ(1, tlb.out_entries);
	mt[0] = DGPA(5) | 3;
	EXPECT_EQ(0, CHECK_RID(self, 0, 0, dpage(g, 3)));
	ASSERT_EQ(0, ioctl(self->fd, IOASID_CACHE_INVALIDATE, &ci));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, 0, dpage(g, 5)));
	/* Neither binding disturbed the other. */
	EXPECT_EQ(0, check(self->mock, a.out_mock_id, IOASID_MOCK_NO_PASID, RW_CHECK, SRC_IOVA,
			   dpage(g, 4)));
	EXPECT_EQ(0, unbind_vtd(self->fd, self->child, a.out_dev_id, 0, 0));
	EXPECT_EQ(0, CHECK_RID(self, RW_CHECK, 0, dpage(g, 5)));
	EXPECT_EQ(0, unbind_vtd(self->fd, hw, self->dev, 0, 0));
	EXPECT_EQ(0, destroy(self->fd, hw));
}

TEST_F(sw_mock, discovery_reports_software_formats)
{
	struct ioasid_device_info info;
	uint8_t caps[512];
	long v;

	EXPECT_EQ(1, sw_nesting_supported(self->fd));
	ASSERT_EQ(0, device_info(self->fd, self->dev, &info, caps, sizeof(caps)));
	EXPECT_NE(0, info.out_flags & IOASID_DEVICE_INFO_NESTING);
	EXPECT_NE(0, info.out_flags & IOASID_DEVICE_INFO_SW_NESTING);
	ASSERT_LE(info.caps_len, sizeof(caps));
	/* The mock's own formats stay hardware ones ... */
	v = cap_versions(caps, info.caps_len, IOASID_INFO_CAP_NESTING, IOASID_FORMAT_MOCK);
	EXPECT_LT(0, v);
	v = cap_versions(caps, info.caps_len, IOASID_INFO_CAP_NESTING,
			 IOASID_FORMAT_MOCK_PASID_TABLE);
	EXPECT_LT(0, v);
	EXPECT_EQ(0, cap_versions(caps, info.caps_len, IOASID_INFO_CAP_NESTING,
				  IOASID_FORMAT_VTD_S1));
	/* ... and VT-d first stage is walked in software. */
	v = cap_versions(caps, info.caps_len, IOASID_INFO_CAP_SW_NESTING, IOASID_FORMAT_VTD_S1);
	ASSERT_LT(0, v);
	EXPECT_NE(0, v & (1 << IOASID_BIND_VERSION_1));
	EXPECT_EQ(0, cap_versions(caps, info.caps_len, IOASID_INFO_CAP_SW_NESTING,
				  IOASID_FORMAT_MOCK));
}

TEST_HARNESS_MAIN
