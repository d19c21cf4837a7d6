// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for what the Rust side cannot reach through bindings: macros, inline
 * functions and callbacks of the mm, IOMMU and PCI headers.
 *
 * Where ioasid reaches IOMMU-core internals, it is here and only for nesting: 7.3
 * exports nested-domain allocation, user cache invalidation and hw_info only to
 * iommufd, so ioasid_domain_alloc_nested(), ioasid_domain_invalidate_user(),
 * ioasid_nesting_hw() and ioasid_dev_reports_faults() call the IOMMU driver's ops the
 * way iommufd does (dev_iommu_ops(), domain->owner set to the driver as
 * iommufd_hwpt_nested_alloc() does). An exported core API for them would replace
 * these four functions.
 */
#include <linux/mm.h>

phys_addr_t ioasid_page_to_phys(struct page *page);

phys_addr_t ioasid_page_to_phys(struct page *page)
{
	return page_to_phys(page);
}

#include <linux/iommu.h>

int ioasid_paging_geometry(struct device *dev, u64 *pgsize_bitmap, u64 *aperture_end);
u32 ioasid_group_devices(struct iommu_group *group);

/*
 * The page sizes and aperture of @dev's IOMMU, those of a paging domain for it: 7.3 has
 * them on domains only. Asked once, when the device is claimed.
 */
int ioasid_paging_geometry(struct device *dev, u64 *pgsize_bitmap, u64 *aperture_end)
{
	struct iommu_domain *domain = iommu_paging_domain_alloc(dev);

	if (IS_ERR(domain))
		return PTR_ERR(domain);
	*pgsize_bitmap = domain->pgsize_bitmap;
	*aperture_end = domain->geometry.aperture_end;
	iommu_domain_free(domain);
	return 0;
}

static int count_dev(struct device *dev, void *data)
{
	(*(u32 *)data)++;
	return 0;
}

/* How many devices @group has (iommu_group_for_each_dev takes a C callback). */
u32 ioasid_group_devices(struct iommu_group *group)
{
	u32 n = 0;

	iommu_group_for_each_dev(group, &n, count_dev);
	return n;
}

/* How many PASIDs the device and its IOMMU support (0: no PASID capability). */
u32 ioasid_dev_max_pasids(struct device *dev);

u32 ioasid_dev_max_pasids(struct device *dev)
{
	return dev->iommu ? dev->iommu->max_pasids : 0;
}

#include <linux/highmem.h>

void ioasid_page_rw(struct page *page, size_t offset, void *buf, size_t len, bool write);

/* Copies between a kernel buffer and part of one page, mapping it as needed. */
void ioasid_page_rw(struct page *page, size_t offset, void *buf, size_t len, bool write)
{
	if (write)
		memcpy_to_page(page, offset, buf, len);
	else
		memcpy_from_page(buf, page, offset, len);
}

/* Nesting through the IOMMU core's driver ops, the way its in-kernel users call them. */
#include <linux/slab.h>
#include <uapi/linux/iommufd.h>

/* The driver ops of @dev's IOMMU (dev_iommu_ops() of drivers/iommu/iommu-priv.h). */
static const struct iommu_ops *ioasid_dev_ops(struct device *dev)
{
	return dev->iommu && dev->iommu->iommu_dev ? dev->iommu->iommu_dev->ops : NULL;
}

struct iommu_domain *ioasid_domain_alloc_nested(struct device *dev, struct iommu_domain *parent,
						u32 type, void __user *uptr, size_t len);
int ioasid_domain_invalidate_user(struct iommu_domain *domain, u32 type, void __user *uptr,
				  u32 entry_len, u32 *entry_num);
bool ioasid_domain_fits(struct iommu_domain *domain, struct device *dev);
int ioasid_nesting_hw(struct device *dev, u32 *hw, u64 *ecap);

/* A nested domain on @parent for @dev's IOMMU, from the user's @type data at @uptr. */
struct iommu_domain *ioasid_domain_alloc_nested(struct device *dev, struct iommu_domain *parent,
						u32 type, void __user *uptr, size_t len)
{
	const struct iommu_ops *ops = ioasid_dev_ops(dev);
	const struct iommu_user_data data = { .type = type, .uptr = uptr, .len = len };
	struct iommu_domain *domain;

	if (!ops || !ops->domain_alloc_nested)
		return ERR_PTR(-EOPNOTSUPP);
	domain = ops->domain_alloc_nested(dev, parent, 0, &data);
	if (IS_ERR(domain))
		return domain;
	if (WARN_ON_ONCE(!domain || domain->type != IOMMU_DOMAIN_NESTED)) {
		if (domain)
			iommu_domain_free(domain);
		return ERR_PTR(-EINVAL);
	}
	/* As the IOMMU core's other users of nested domains do: the owner is the driver. */
	domain->owner = ops;
	return domain;
}

/* Passes @entry_num invalidation requests of @type to the domain's driver. */
int ioasid_domain_invalidate_user(struct iommu_domain *domain, u32 type, void __user *uptr,
				  u32 entry_len, u32 *entry_num)
{
	struct iommu_user_data_array array = {
		.type = type, .uptr = uptr, .entry_len = entry_len, .entry_num = *entry_num,
	};
	int ret;

	if (!domain->ops->cache_invalidate_user)
		return -EOPNOTSUPP;
	ret = domain->ops->cache_invalidate_user(domain, &array);
	*entry_num = array.entry_num;
	return ret;
}

/* Whether @domain belongs to the driver of @dev's IOMMU. */
bool ioasid_domain_fits(struct iommu_domain *domain, struct device *dev)
{
	return domain->owner && domain->owner == ioasid_dev_ops(dev);
}

/*
 * In @hw, the hw_info type of @dev's IOMMU if its driver offers nested domains (0 if
 * not), and for VT-d in @ecap its extended capability register. Returns 0 or the
 * driver's error (e.g. -ENOMEM): a failed query must not look like "no nesting".
 */
int ioasid_nesting_hw(struct device *dev, u32 *hw, u64 *ecap)
{
	const struct iommu_ops *ops = ioasid_dev_ops(dev);
	enum iommu_hw_info_type type = IOMMU_HW_INFO_TYPE_DEFAULT;
	u32 length = 0;
	void *info;

	*hw = 0;
	*ecap = 0;
	if (!ops || !ops->domain_alloc_nested || !ops->hw_info)
		return 0;
	info = ops->hw_info(dev, &length, &type);
	if (IS_ERR(info))
		return PTR_ERR(info);
	if (!info)
		return 0;
	if (type == IOMMU_HW_INFO_TYPE_INTEL_VTD && length >= sizeof(struct iommu_hw_info_vtd))
		*ecap = ((struct iommu_hw_info_vtd *)info)->ecap_reg;
	kfree(info);
	*hw = type;
	return 0;
}

struct page *ioasid_pfn_to_page(u64 pfn);

struct page *ioasid_pfn_to_page(u64 pfn)
{
	return pfn_to_page(pfn);
}

struct page *ioasid_vmemmap_base(void);
size_t ioasid_struct_page_size(void);

size_t ioasid_struct_page_size(void)
{
	return sizeof(struct page);
}

/*
 * With SPARSEMEM_VMEMMAP, the struct pages are one array indexed by page frame (page + 1
 * is the next frame's): its base, or NULL without it.
 */
struct page *ioasid_vmemmap_base(void)
{
#ifdef CONFIG_SPARSEMEM_VMEMMAP
	return vmemmap;
#else
	return NULL;
#endif
}

/*
 * Pinning a file's pages by offset (IOASID_IOAS_MAP_FILE), with no user mapping of the
 * file: memfd_pin_folios() pins each folio once, and folio_add_pins() gives each page
 * of the range its own pin, so that the pages are released like GUP-pinned ones, run
 * by run, with unpin_user_page_range_dirty_lock().
 */
#include <linux/fcntl.h>
#include <linux/hugetlb.h>
#include <linux/memfd.h>
#include <linux/shmem_fs.h>

int ioasid_file_check(struct file *file, bool read, bool write);
long ioasid_pin_file_pages(struct file *file, u64 offset, unsigned long nr, bool write,
			   struct page **pages);

/* Whether @file's seals forbid a new writable use of its pages. */
static bool ioasid_write_sealed(struct file *file)
{
	/* A file that takes no seals (not a memfd) answers -EINVAL: none. */
	int seals = memfd_get_seals(file);

	return seals > 0 && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));
}

/*
 * Whether @file's pages can be pinned, and for the access asked for. The seals are
 * checked again, under the inode lock, when the pages are pinned.
 */
int ioasid_file_check(struct file *file, bool read, bool write)
{
	if (!shmem_file(file) && !is_file_hugepages(file))
		return -EINVAL;
	if (read && !(file->f_mode & FMODE_READ))
		return -EACCES;
	if (!write)
		return 0;
	if (!(file->f_mode & FMODE_WRITE) || ioasid_write_sealed(file))
		return -EACCES;
	return 0;
}

/*
 * Pins up to @nr pages of @file from byte @offset into @pages, one pin each; returns
 * how many (at least one), or an errno (-EINVAL past the end of the file, -EACCES
 * sealed against writes when @write).
 *
 * For @write, the seals are checked and the pages pinned under the inode lock, which
 * adding a seal takes exclusively: a seal cannot slip in between. Once the pages are
 * pinned, F_SEAL_WRITE cannot be added (memfd_wait_for_pins() sees the pins).
 */
long ioasid_pin_file_pages(struct file *file, u64 offset, unsigned long nr, bool write,
			   struct page **pages)
{
	struct inode *inode = file_inode(file);
	unsigned long got = 0;
	struct folio **folios;
	pgoff_t skip = 0;
	long n, i;

	folios = kmalloc_array(nr, sizeof(*folios), GFP_KERNEL);
	if (!folios)
		return -ENOMEM;
	inode_lock_shared(inode);
	if (write && ioasid_write_sealed(file)) {
		inode_unlock_shared(inode);
		kfree(folios);
		return -EACCES;
	}
	/* At most @nr folios hold the @nr pages, so all of them are found at once. */
	n = memfd_pin_folios(file, offset, offset + nr * PAGE_SIZE - 1, folios, nr, &skip);
	inode_unlock_shared(inode);
	for (i = 0; i < n; i++) {
		struct folio *folio = folios[i];
		unsigned long first = i ? 0 : skip >> PAGE_SHIFT;
		unsigned long count = min(folio_nr_pages(folio) - first, nr - got);
		int ret = count > 1 ? folio_add_pins(folio, count - 1) : 0;

		if (ret) {
			unpin_user_pages(pages, got);
			unpin_folios(folios + i, n - i);
			n = ret;
			break;
		}
		while (count--)
			pages[got++] = folio_page(folio, first++);
	}
	kfree(folios);
	return n < 0 ? n : got;
}

/*
 * Locked-memory accounting by user, as io_uring and iommufd do it: pinned pages count in
 * user_struct.locked_vm against RLIMIT_MEMLOCK, so that pins which outlive the process
 * that made them (an fd kept across exec, or passed on) still count for that user.
 */
#include <linux/capability.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>

struct user_struct *ioasid_current_user(void);
void ioasid_put_user(struct user_struct *user);
int ioasid_user_charge(struct user_struct *user, unsigned long npages);
void ioasid_user_uncharge(struct user_struct *user, unsigned long npages);

/* A reference to the calling task's user. */
struct user_struct *ioasid_current_user(void)
{
	return get_uid(current_user());
}

void ioasid_put_user(struct user_struct *user)
{
	free_uid(user);
}

/*
 * Charges @npages to @user, within the caller's RLIMIT_MEMLOCK unless CAP_IPC_LOCK. The
 * capability is asked about only when the limit would be exceeded: every map charges,
 * and a capability check is not free (and marks the task as having used privilege).
 */
int ioasid_user_charge(struct user_struct *user, unsigned long npages)
{
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	long cur = atomic_long_read(&user->locked_vm);
	bool unlimited = false;

	do {
		if (!unlimited && (cur + npages > limit || cur + npages < cur)) {
			if (!capable(CAP_IPC_LOCK))
				return -ENOMEM;
			unlimited = true;
		}
	} while (!atomic_long_try_cmpxchg(&user->locked_vm, &cur, cur + npages));
	return 0;
}

void ioasid_mm_pinned(struct mm_struct *mm, unsigned long npages, bool inc);

/*
 * Counts @npages in (@inc) or out of @mm's pinned_vm, the VmPin of /proc/<pid>/status,
 * as io_uring, RDMA and iommufd count long-term pins: an atomic, so no mmap lock (which
 * would stall every page fault of the process) is taken. The limit is enforced on the
 * user's count (ioasid_user_charge()). @mm may have exited: mmgrab() keeps its
 * mm_struct, and the count then only goes unread.
 */
void ioasid_mm_pinned(struct mm_struct *mm, unsigned long npages, bool inc)
{
	if (inc)
		atomic64_add(npages, &mm->pinned_vm);
	else
		WARN_ON_ONCE(atomic64_sub_return(npages, &mm->pinned_vm) < 0);
}

void ioasid_user_uncharge(struct user_struct *user, unsigned long npages)
{
	WARN_ON_ONCE(atomic_long_sub_return(npages, &user->locked_vm) < 0);
}

/* The invalidation data type ioas/nested.rs passes for VT-d first-stage tables. */
static_assert(IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 == 0);

#include <linux/pci.h>
#include <linux/pci-ats.h>

bool ioasid_dev_reports_faults(struct device *dev);

/*
 * Whether @dev's page requests can reach the IOMMU core's fault path: its IOMMU driver
 * answers page requests, and the device can issue them (a PCI function with the PRI
 * capability; another device once its IOMMU driver put it in an I/O page fault queue).
 */
bool ioasid_dev_reports_faults(struct device *dev)
{
	const struct iommu_ops *ops = ioasid_dev_ops(dev);

	if (!ops || !ops->page_response)
		return false;
	if (dev_is_pci(dev))
		return pci_pri_supported(to_pci_dev(dev));
	return rcu_access_pointer(dev->iommu->fault_param);
}

#include <linux/moduleparam.h>

/*
 * Interrupt isolation, as iommufd and VFIO type1 require it: a device whose MSIs the
 * platform cannot isolate could raise any interrupt with a DMA write to the doorbell.
 * A writable module parameter is a macro, hence here.
 */
static bool allow_unsafe_interrupts;
module_param(allow_unsafe_interrupts, bool, 0644);
MODULE_PARM_DESC(allow_unsafe_interrupts,
		 "Bind devices for IOMMU DMA even if the platform cannot isolate their MSIs. "
		 "Enabling this is a security weakness.");

bool ioasid_allow_unsafe_interrupts(void);

bool ioasid_allow_unsafe_interrupts(void)
{
	return READ_ONCE(allow_unsafe_interrupts);
}

/*
 * Software nesting: how many shadow entries (stage-1 leaf pieces) one bound table may
 * hold; one walk of a table reads at most 16 times as many entries. Writable at run
 * time; a bind or invalidation beyond it fails with ENOSPC.
 */
static unsigned int max_shadow_entries = 1U << 20;
module_param(max_shadow_entries, uint, 0644);
MODULE_PARM_DESC(max_shadow_entries,
		 "Shadow entries one software-nested table may hold (default 1048576)");

unsigned int ioasid_max_shadow_entries(void);

unsigned int ioasid_max_shadow_entries(void)
{
	return READ_ONCE(max_shadow_entries);
}

/* Deferred IOTLB flushes (a batch of unmaps, one flush): the gather ops are inlines. */
void ioasid_gather_init(struct iommu_iotlb_gather *gather);
void ioasid_gather_sync(struct iommu_domain *domain, struct iommu_iotlb_gather *gather);

void ioasid_gather_init(struct iommu_iotlb_gather *gather)
{
	iommu_iotlb_gather_init(gather);
}

void ioasid_gather_sync(struct iommu_domain *domain, struct iommu_iotlb_gather *gather)
{
	iommu_iotlb_sync(domain, gather);
}

/*
 * Dirty tracking through the IOMMU core's dirty ops, as iommufd drives them: an
 * iova_bitmap over the user's bitmap, filled by the driver's read_and_clear_dirty()
 * (iommu_dirty_bitmap_record() is inline) and by ioasid for software-table writes.
 */
#include <linux/iova_bitmap.h>

struct iova_bitmap *ioasid_dirty_bitmap_alloc(u64 iova, u64 length, u64 page_size,
					      u64 __user *data);
void ioasid_dirty_bitmap_free(struct iova_bitmap *bitmap);
void ioasid_dirty_bitmap_set(struct iova_bitmap *bitmap, u64 iova, u64 length);
bool ioasid_domain_tracks_dirty(struct iommu_domain *domain);
int ioasid_domain_set_dirty(struct iommu_domain *domain, bool enable);
int ioasid_domain_read_dirty(struct iommu_domain *domain, struct iova_bitmap *bitmap,
			     u64 iova, u64 length, bool no_clear);

struct iova_bitmap *ioasid_dirty_bitmap_alloc(u64 iova, u64 length, u64 page_size,
					      u64 __user *data)
{
	return iova_bitmap_alloc(iova, length, page_size, data);
}

void ioasid_dirty_bitmap_free(struct iova_bitmap *bitmap)
{
	iova_bitmap_free(bitmap);
}

void ioasid_dirty_bitmap_set(struct iova_bitmap *bitmap, u64 iova, u64 length)
{
	iova_bitmap_set(bitmap, iova, length);
}

bool ioasid_domain_tracks_dirty(struct iommu_domain *domain)
{
	return domain->dirty_ops;
}

int ioasid_domain_set_dirty(struct iommu_domain *domain, bool enable)
{
	if (!domain->dirty_ops)
		return -EOPNOTSUPP;
	return domain->dirty_ops->set_dirty_tracking(domain, enable);
}

/*
 * Reads (and without @no_clear clears, flushing the IOTLB) the dirty bits of
 * [@iova, @iova + @length) into @bitmap; a NULL @bitmap only clears them.
 */
int ioasid_domain_read_dirty(struct iommu_domain *domain, struct iova_bitmap *bitmap,
			     u64 iova, u64 length, bool no_clear)
{
	struct iommu_iotlb_gather gather;
	struct iommu_dirty_bitmap dirty;
	int ret;

	if (!domain->dirty_ops)
		return -EOPNOTSUPP;
	iommu_iotlb_gather_init(&gather);
	iommu_dirty_bitmap_init(&dirty, bitmap, &gather);
	ret = domain->dirty_ops->read_and_clear_dirty(domain, iova, length,
						       no_clear ? IOMMU_DIRTY_NO_CLEAR : 0,
						       &dirty);
	if (!no_clear)
		iommu_iotlb_sync(domain, &gather);
	return ret;
}

void ioasid_cond_resched(void);

void ioasid_cond_resched(void)
{
	cond_resched();
}

#include <linux/uaccess.h>

int ioasid_get_user_u32(u32 *val, const u32 __user *ptr);

/* One load from userspace (an ioctl argument's argsz), no copy routine. */
int ioasid_get_user_u32(u32 *val, const u32 __user *ptr)
{
	return get_user(*val, ptr);
}

/*
 * The in-kernel API of include/linux/ioasid.h is defined in Rust (kapi.rs); export it
 * here so that modular drivers (VFIO built as a module) can use it too.
 */
#include <linux/export.h>
#include <linux/ioasid.h>

EXPORT_SYMBOL_GPL(ioasid_bind_device);
EXPORT_SYMBOL_GPL(ioasid_unbind_device);
EXPORT_SYMBOL_GPL(ioasid_access_rw);
EXPORT_SYMBOL_GPL(ioasid_pasid_translate);
