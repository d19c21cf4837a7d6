// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for what the Rust side cannot reach through bindings: macros and inline
 * functions of the memory-management headers.
 */
#include <linux/mm.h>

phys_addr_t ioasid_page_to_phys(struct page *page);

phys_addr_t ioasid_page_to_phys(struct page *page)
{
	return page_to_phys(page);
}
