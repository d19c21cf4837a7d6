// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of I/O page fault queues on the mock IOMMU: page requests injected into the
 * mock reach the IOMMU core's fault path, our queue, and userspace (read, poll, epoll,
 * eventfd, a blocked reader); the responses written back reach the mock with their
 * codes; grouped faults, pending faults on detach/unbind/close, overflow, and several
 * threads injecting while one reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/ioasid.h>

#include "../../../../rust/ioasid/mock/ioasid_mock.h"
#include "ioasid_utils.h"
#include "kselftest_harness.h"

#define SZ_4K 0x1000ull
#define G 0x100000ull
#define LAST IOASID_MOCK_PAGE_REQUEST_LAST_PAGE
#define RD IOASID_MOCK_PERM_READ

static int page_request(int mock, __u32 mock_id, __u32 flags, __u32 pasid, __u32 grpid,
			__u64 addr, __u32 *delivered)
{
	struct ioasid_mock_page_request a = {
		.argsz = sizeof(a), .flags = flags, .mock_id = mock_id, .pasid = pasid,
		.grpid = grpid, .perm = RD, .addr = addr,
	};
	int ret = ioctl(mock, IOASID_MOCK_PAGE_REQUEST, &a);

	if (!ret && delivered)
		*delivered = a.out_delivered;
	return ret;
}

/* The oldest response the mock got: its code, or -1 if none. */
static int mock_response(int mock, __u32 mock_id, __u32 *grpid)
{
	struct ioasid_mock_page_response r = { .argsz = sizeof(r), .mock_id = mock_id };

	if (ioctl(mock, IOASID_MOCK_PAGE_RESPONSE, &r))
		return -1;
	if (grpid)
		*grpid = r.out_grpid;
	return r.out_code;
}

static int respond(int qfd, __u32 cookie, __u32 code)
{
	struct ioasid_fault_response r = { .cookie = cookie, .code = code };

	return write(qfd, &r, sizeof(r)) == sizeof(r) ? 0 : -1;
}

static int queue_status(int fd, __u32 queue, struct ioasid_fault_queue_status *s)
{
	memset(s, 0, sizeof(*s));
	s->argsz = sizeof(*s);
	s->queue_id = queue;
	return ioctl(fd, IOASID_FAULT_QUEUE_STATUS, s);
}

FIXTURE(fault) {
	int fd, mock, qfd, efd;
	__u32 queue, mock_id, dev, parent, child;
	uint64_t *guest;
};

FIXTURE_SETUP(fault)
{
	struct ioasid_mock_device_add dev = {
		.argsz = sizeof(dev), .pasid_width = 20,
		.flags = IOASID_MOCK_DEVICE_PRI | IOASID_MOCK_DEVICE_INTENT_PASID,
	};
	struct ioasid_fault_queue_alloc qa = {
		.argsz = sizeof(qa), .flags = IOASID_FAULT_QUEUE_EVENTFD,
	};
	struct ioasid_nested_alloc na = {
		.argsz = sizeof(na), .flags = IOASID_NESTED_ALLOC_FAULT_QUEUE,
		.format = IOASID_FORMAT_MOCK,
	};
	struct ioasid_bind_table b = {
		.argsz = sizeof(b), .version = IOASID_BIND_VERSION_1, .format = IOASID_FORMAT_MOCK,
		.table.mock.table = G,
	};

	self->fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	self->mock = open("/dev/ioasid-mock", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->mock);
	self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, self->efd);
	qa.eventfd = self->efd;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_FAULT_QUEUE_ALLOC, &qa));
	self->queue = qa.out_queue_id;
	self->qfd = qa.out_fd;
	dev.ioasid_fd = self->fd;
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &dev));
	self->mock_id = dev.out_mock_id;
	self->dev = dev.out_dev_id;
	/* A child with an empty stage-1 table (every access faults), bound for the RID. */
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->parent));
	self->guest = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->guest);
	ASSERT_EQ(0, map_at(self->fd, self->parent, self->guest, SZ_4K, G));
	na.parent_id = self->parent;
	na.fault_queue_id = self->queue;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_NESTED_ALLOC, &na));
	self->child = na.out_child_id;
	b.child_id = self->child;
	b.dev_id = self->dev;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_BIND_TABLE, &b));
}

/* Unbinds the fixture's table, so that its device can be attached instead. */
static int unbind_fixture_table(FIXTURE_DATA(fault) *self)
{
	struct ioasid_unbind_table u = {
		.argsz = sizeof(u), .child_id = self->child, .dev_id = self->dev,
	};

	return ioctl(self->fd, IOASID_UNBIND_TABLE, &u);
}

FIXTURE_TEARDOWN(fault)
{
	close(self->qfd);
	close(self->mock);
	close(self->fd);
	close(self->efd);
}

/*
 * A table ioasid translates in software (VT-d format: the mock does not take it) with a
 * fault queue: the shadow domain reports the device's page requests as a hardware
 * stage-1 table's do, named by the child.
 */
TEST_F(fault, software_nested_table_reports_page_requests)
{
	struct ioasid_mock_device_add dev = {
		.argsz = sizeof(dev), .flags = IOASID_MOCK_DEVICE_PRI, .ioasid_fd = self->fd,
	};
	struct ioasid_nested_alloc na = {
		.argsz = sizeof(na), .flags = IOASID_NESTED_ALLOC_FAULT_QUEUE,
		.format = IOASID_FORMAT_VTD_S1, .parent_id = self->parent,
		.fault_queue_id = self->queue,
	};
	/* The fixture's guest page is all zeros: an empty root, nothing translates. */
	struct ioasid_bind_table b = {
		.argsz = sizeof(b), .version = IOASID_BIND_VERSION_1,
		.format = IOASID_FORMAT_VTD_S1, .table.vtd = { .pgtbl_addr = G, .addr_width = 48 },
	};
	struct ioasid_fault f;
	__u32 delivered = 0;

	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &dev));
	ASSERT_EQ(0, ioctl(self->fd, IOASID_NESTED_ALLOC, &na));
	b.child_id = na.out_child_id;
	b.dev_id = dev.out_dev_id;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	ASSERT_EQ(0, page_request(self->mock, dev.out_mock_id, LAST, 0, 5, 0x10000000,
				  &delivered));
	EXPECT_EQ(1, delivered);
	ASSERT_EQ(sizeof(f), read(self->qfd, &f, sizeof(f)));
	EXPECT_EQ(na.out_child_id, f.ioas_id);
	EXPECT_EQ(dev.out_dev_id, f.dev_id);
	EXPECT_EQ(5, f.grpid);
	EXPECT_EQ(0x10000000, f.addr);
	ASSERT_EQ(0, respond(self->qfd, f.cookie, IOASID_FAULT_RESPONSE_INVALID));
	EXPECT_EQ(IOASID_MOCK_RESP_INVALID, mock_response(self->mock, dev.out_mock_id, NULL));
}

TEST_F(fault, read_and_answer)
{
	struct ioasid_fault f[4];
	struct pollfd p = { .fd = self->qfd, .events = POLLIN };
	uint64_t events = 0;
	__u32 delivered = 0, grpid = 0;

	/* Nothing yet: poll says no, a non-blocking read says EAGAIN. */
	EXPECT_EQ(0, poll(&p, 1, 0));
	ASSERT_EQ(0, fcntl(self->qfd, F_SETFL, O_NONBLOCK));
	EXPECT_EQ(-1, read(self->qfd, f, sizeof(f[0])));
	EXPECT_EQ(EAGAIN, errno);

	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 3, 0x5000, &delivered));
	EXPECT_EQ(1, delivered);
	EXPECT_EQ(1, poll(&p, 1, 0));
	EXPECT_EQ(sizeof(events), read(self->efd, &events, sizeof(events)));
	EXPECT_EQ(1, events);
	/* Only whole records. */
	EXPECT_EQ(-1, read(self->qfd, f, sizeof(f[0]) - 1));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(sizeof(f[0]), read(self->qfd, f, sizeof(f)));
	EXPECT_EQ(IOASID_FAULT_LAST_PAGE, f[0].flags);
	EXPECT_EQ(self->child, f[0].ioas_id);
	EXPECT_EQ(self->dev, f[0].dev_id);
	EXPECT_EQ(3, f[0].grpid);
	EXPECT_EQ(IOASID_FAULT_PERM_READ, f[0].perm);
	EXPECT_EQ(0x5000, f[0].addr);
	/* No response reached the device yet; then SUCCESS does. */
	EXPECT_EQ(-1, mock_response(self->mock, self->mock_id, NULL));
	ASSERT_EQ(0, respond(self->qfd, f[0].cookie, IOASID_FAULT_RESPONSE_SUCCESS));
	EXPECT_EQ(IOASID_MOCK_RESP_SUCCESS, mock_response(self->mock, self->mock_id, &grpid));
	EXPECT_EQ(3, grpid);
	/* A cookie answered already, an unknown one, a bad code, a partial response. */
	EXPECT_EQ(-1, respond(self->qfd, f[0].cookie, IOASID_FAULT_RESPONSE_SUCCESS));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, respond(self->qfd, 0xdead, IOASID_FAULT_RESPONSE_SUCCESS));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 4, 0x6000, NULL));
	ASSERT_EQ(sizeof(f[0]), read(self->qfd, f, sizeof(f)));
	EXPECT_EQ(-1, respond(self->qfd, f[0].cookie, 9));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, write(self->qfd, f, 3));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, respond(self->qfd, f[0].cookie, IOASID_FAULT_RESPONSE_INVALID));
	EXPECT_EQ(IOASID_MOCK_RESP_INVALID, mock_response(self->mock, self->mock_id, NULL));
}

TEST_F(fault, a_group_is_answered_once)
{
	struct ioasid_fault f[4];
	struct ioasid_fault_response r[2];
	__u32 grpid = 0;

	/* Two requests of group 7 without LAST, then the last: one group of three. */
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, 0, 0, 7, 0x1000, NULL));
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, 0, 0, 7, 0x2000, NULL));
	EXPECT_EQ(-1, mock_response(self->mock, self->mock_id, NULL));
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 7, 0x3000, NULL));
	ASSERT_EQ(3 * sizeof(f[0]), read(self->qfd, f, sizeof(f)));
	EXPECT_EQ(f[0].cookie, f[1].cookie);
	EXPECT_EQ(f[0].cookie, f[2].cookie);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(7, f[i].grpid);
	EXPECT_EQ((f[0].flags | f[1].flags | f[2].flags) & IOASID_FAULT_LAST_PAGE,
		  IOASID_FAULT_LAST_PAGE);
	EXPECT_EQ(1, !!(f[0].flags & IOASID_FAULT_LAST_PAGE) + !!(f[1].flags & IOASID_FAULT_LAST_PAGE) +
		  !!(f[2].flags & IOASID_FAULT_LAST_PAGE));
	/* Two responses in one write: the first answers, the second (same cookie) stops. */
	r[0] = (struct ioasid_fault_response){ f[0].cookie, IOASID_FAULT_RESPONSE_SUCCESS };
	r[1] = r[0];
	EXPECT_EQ(sizeof(r[0]), write(self->qfd, r, sizeof(r)));
	EXPECT_EQ(IOASID_MOCK_RESP_SUCCESS, mock_response(self->mock, self->mock_id, &grpid));
	EXPECT_EQ(7, grpid);
	EXPECT_EQ(-1, mock_response(self->mock, self->mock_id, NULL));
}

TEST_F(fault, pasid_faults_of_an_address_space)
{
	struct ioasid_fault_queue_alloc qa = { .argsz = sizeof(qa) };
	struct ioasid_ioas_alloc ia = { .argsz = sizeof(ia), .flags = IOASID_IOAS_ALLOC_FAULT_QUEUE };
	struct ioasid_pasid_ns_alloc nsa = { .argsz = sizeof(nsa) };
	struct ioasid_pasid_alloc pa = { .argsz = sizeof(pa), .dev_id = self->dev };
	struct ioasid_mock_pasid_translate tr = { .argsz = sizeof(tr), .ioasid_fd = self->fd };
	struct ioasid_device_pasid_attach at = { .argsz = sizeof(at), .dev_id = self->dev };
	struct ioasid_fault f;
	__u32 delivered;

	ASSERT_EQ(0, ioctl(self->fd, IOASID_FAULT_QUEUE_ALLOC, &qa));
	ia.fault_queue_id = qa.out_queue_id;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_ALLOC, &ia));
	ASSERT_EQ(0, ioctl(self->fd, IOASID_PASID_NS_ALLOC, &nsa));
	pa.ns_id = nsa.out_ns_id;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_PASID_ALLOC, &pa));
	tr.ns_id = nsa.out_ns_id;
	tr.vpasid = pa.out_pasid;
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_PASID_TRANSLATE, &tr));
	at.ns_id = nsa.out_ns_id;
	at.pasid = pa.out_pasid;
	at.ioas_id = ia.out_ioas_id;
	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_PASID_ATTACH, &at));
	ASSERT_EQ(0, page_request(self->mock, self->mock_id,
				  LAST | IOASID_MOCK_PAGE_REQUEST_PASID_VALID, tr.out_ppasid, 9,
				  0x9000, &delivered));
	EXPECT_EQ(1, delivered);
	ASSERT_EQ(sizeof(f), read(qa.out_fd, &f, sizeof(f)));
	EXPECT_EQ(IOASID_FAULT_LAST_PAGE | IOASID_FAULT_PASID_VALID, f.flags);
	EXPECT_EQ(tr.out_ppasid, f.pasid);
	EXPECT_EQ(ia.out_ioas_id, f.ioas_id);
	/* Detached with the fault pending: the device gets INVALID. */
	struct ioasid_device_pasid_detach dt = {
		.argsz = sizeof(dt), .dev_id = self->dev, .ns_id = nsa.out_ns_id, .pasid = pa.out_pasid,
	};
	ASSERT_EQ(0, ioctl(self->fd, IOASID_DEVICE_PASID_DETACH, &dt));
	EXPECT_EQ(IOASID_MOCK_RESP_INVALID, mock_response(self->mock, self->mock_id, NULL));
	EXPECT_EQ(-1, respond(qa.out_fd, f.cookie, IOASID_FAULT_RESPONSE_SUCCESS));
	EXPECT_EQ(ENOENT, errno);
	close(qa.out_fd);
}

TEST_F(fault, rid_faults_of_an_address_space)
{
	struct ioasid_mock_device_add dev = {
		.argsz = sizeof(dev), .flags = IOASID_MOCK_DEVICE_PRI, .ioasid_fd = self->fd,
	};
	struct ioasid_ioas_alloc ia = {
		.argsz = sizeof(ia), .flags = IOASID_IOAS_ALLOC_FAULT_QUEUE,
		.fault_queue_id = self->queue,
	};
	struct ioasid_fault f;
	__u32 delivered = 0;

	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &dev));
	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_ALLOC, &ia));
	ASSERT_EQ(0, attach(self->fd, dev.out_dev_id, ia.out_ioas_id));
	ASSERT_EQ(0, page_request(self->mock, dev.out_mock_id, LAST, 0, 6, 0x7000, &delivered));
	EXPECT_EQ(1, delivered);
	ASSERT_EQ(sizeof(f), read(self->qfd, &f, sizeof(f)));
	EXPECT_EQ(IOASID_FAULT_LAST_PAGE, f.flags);
	EXPECT_EQ(ia.out_ioas_id, f.ioas_id);
	EXPECT_EQ(dev.out_dev_id, f.dev_id);
	EXPECT_EQ(0x7000, f.addr);
	ASSERT_EQ(0, respond(self->qfd, f.cookie, IOASID_FAULT_RESPONSE_SUCCESS));
	EXPECT_EQ(IOASID_MOCK_RESP_SUCCESS, mock_response(self->mock, dev.out_mock_id, NULL));
	/* Pending at detach: answered INVALID. */
	ASSERT_EQ(0, page_request(self->mock, dev.out_mock_id, LAST, 0, 7, 0x8000, NULL));
	ASSERT_EQ(0, detach(self->fd, dev.out_dev_id));
	EXPECT_EQ(IOASID_MOCK_RESP_INVALID, mock_response(self->mock, dev.out_mock_id, NULL));
}

TEST_F(fault, pending_faults_are_answered_invalid_on_unbind_and_close)
{
	struct ioasid_unbind_table u = {
		.argsz = sizeof(u), .child_id = self->child, .dev_id = self->dev,
	};
	struct ioasid_fault_queue_status s;
	__u32 delivered;

	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 1, 0, NULL));
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 2, 0, NULL));
	ASSERT_EQ(0, queue_status(self->fd, self->queue, &s));
	EXPECT_EQ(2, s.out_unread);
	EXPECT_EQ(2, s.out_pending);
	/* Unbound, unread and unanswered: both answered INVALID, nothing left to read. */
	ASSERT_EQ(0, ioctl(self->fd, IOASID_UNBIND_TABLE, &u));
	EXPECT_EQ(IOASID_MOCK_RESP_INVALID, mock_response(self->mock, self->mock_id, NULL));
	EXPECT_EQ(IOASID_MOCK_RESP_INVALID, mock_response(self->mock, self->mock_id, NULL));
	ASSERT_EQ(0, queue_status(self->fd, self->queue, &s));
	EXPECT_EQ(0, s.out_unread);
	EXPECT_EQ(0, s.out_pending);
	/* Not bound: the core finds no handler and answers INVALID itself. */
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 3, 0, &delivered));
	EXPECT_EQ(0, delivered);
	EXPECT_EQ(IOASID_MOCK_RESP_INVALID, mock_response(self->mock, self->mock_id, NULL));
	/* Bound again, a fault pending, then the queue's file closed. */
	struct ioasid_bind_table b = {
		.argsz = sizeof(b), .version = IOASID_BIND_VERSION_1, .format = IOASID_FORMAT_MOCK,
		.child_id = self->child, .dev_id = self->dev, .table.mock.table = G,
	};
	ASSERT_EQ(0, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 4, 0, NULL));
	close(self->qfd);
	self->qfd = open("/dev/null", O_RDONLY);
	EXPECT_EQ(IOASID_MOCK_RESP_INVALID, mock_response(self->mock, self->mock_id, NULL));
	/* With the file gone, new faults are refused: the core answers FAILURE. */
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 5, 0, NULL));
	EXPECT_EQ(IOASID_MOCK_RESP_FAILURE, mock_response(self->mock, self->mock_id, NULL));
}

TEST_F(fault, overflow_is_bounded_and_visible)
{
	struct ioasid_fault_queue_status s;
	__u32 delivered;

	for (int i = 0; i < IOASID_FAULT_QUEUE_DEPTH; i++) {
		ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, i % 512, 0, &delivered));
		ASSERT_EQ(1, delivered);
	}
	/* One more: refused (the core answers FAILURE), counted. */
	EXPECT_EQ(-1, mock_response(self->mock, self->mock_id, NULL));
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 5, 0, NULL));
	EXPECT_EQ(IOASID_MOCK_RESP_FAILURE, mock_response(self->mock, self->mock_id, NULL));
	ASSERT_EQ(0, queue_status(self->fd, self->queue, &s));
	EXPECT_EQ(IOASID_FAULT_QUEUE_DEPTH, s.out_pending);
	EXPECT_EQ(1, s.out_overflows);
}

struct reader {
	int qfd;
	int got;
};

static void *blocked_reader(void *arg)
{
	struct reader *r = arg;
	struct ioasid_fault f;

	r->got = read(r->qfd, &f, sizeof(f));
	return NULL;
}

TEST_F(fault, a_blocked_reader_and_epoll_are_woken)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	struct reader r = { .qfd = self->qfd, .got = -2 };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	pthread_t t;

	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->qfd, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, blocked_reader, &r));
	usleep(200 * 1000);
	EXPECT_EQ(-2, r.got);
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 1, 0, NULL));
	pthread_join(t, NULL);
	EXPECT_EQ(sizeof(struct ioasid_fault), r.got);
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 2, 0, NULL));
	EXPECT_EQ(1, epoll_wait(ep, &out, 1, 1000));
	close(ep);
}

struct injector {
	int mock;
	__u32 mock_id, base, n, injected;
};

static void *inject(void *arg)
{
	struct injector *in = arg;
	__u32 d;

	for (__u32 i = 0; i < in->n; i++)
		if (!page_request(in->mock, in->mock_id, LAST, 0, (in->base + i) % 512, 0, &d) && d)
			in->injected++;
	return NULL;
}

TEST_F(fault, threads_inject_while_one_reads)
{
	struct injector in[4];
	struct ioasid_fault_queue_status s;
	pthread_t t[4];
	__u32 injected = 0, read_n = 0, cookies[1024];
	struct ioasid_fault f[16];
	int success = 0, failure = 0, code;

	for (int i = 0; i < 4; i++) {
		in[i] = (struct injector){ .mock = self->mock, .mock_id = self->mock_id,
					   .base = i * 100, .n = 200 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, inject, &in[i]));
	}
	/* Read and answer until the injectors are done and the queue is empty. */
	for (int done = 0; ; ) {
		struct pollfd p = { .fd = self->qfd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, done ? 0 : 100) <= 0) {
			if (done)
				break;
			done = 1;
			for (int i = 0; i < 4; i++)
				pthread_join(t[i], NULL);
			continue;
		}
		n = read(self->qfd, f, sizeof(f));
		ASSERT_LT(0, n);
		for (int i = 0; i < n / (int)sizeof(f[0]); i++) {
			for (__u32 j = 0; j < read_n; j++)
				ASSERT_NE(cookies[j], f[i].cookie);
			ASSERT_GT(1024, read_n);
			cookies[read_n++] = f[i].cookie;
			ASSERT_EQ(0, respond(self->qfd, f[i].cookie, IOASID_FAULT_RESPONSE_SUCCESS));
		}
	}
	for (int i = 0; i < 4; i++)
		injected += in[i].injected;
	EXPECT_EQ(800, injected);
	/* Every request was read once or refused as an overflow, never both, never lost. */
	ASSERT_EQ(0, queue_status(self->fd, self->queue, &s));
	EXPECT_EQ(800, read_n + s.out_overflows);
	EXPECT_EQ(0, s.out_pending);
	/* The mock got exactly one response per request: SUCCESS or, if refused, FAILURE. */
	while ((code = mock_response(self->mock, self->mock_id, NULL)) >= 0) {
		if (code == IOASID_MOCK_RESP_SUCCESS)
			success++;
		else if (code == IOASID_MOCK_RESP_FAILURE)
			failure++;
	}
	EXPECT_EQ(read_n, success);
	EXPECT_EQ(s.out_overflows, failure);
}

TEST_F(fault, bad_input)
{
	struct ioasid_fault_queue_alloc qa = { .argsz = sizeof(qa), .eventfd = 3 };
	struct ioasid_ioas_alloc ia = { .argsz = sizeof(ia), .fault_queue_id = self->queue };
	struct ioasid_fault_queue_status s;

	EXPECT_EQ(-1, ioctl(self->fd, IOASID_FAULT_QUEUE_ALLOC, &qa));
	EXPECT_EQ(EINVAL, errno);
	qa.flags = IOASID_FAULT_QUEUE_EVENTFD;
	qa.eventfd = self->fd;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_FAULT_QUEUE_ALLOC, &qa));
	EXPECT_EQ(EINVAL, errno);
	qa.flags = 1 << 5;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_FAULT_QUEUE_ALLOC, &qa));
	EXPECT_EQ(EOPNOTSUPP, errno);
	/* A queue ID without its flag, the flag with an address space's ID. */
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_ALLOC, &ia));
	EXPECT_EQ(EINVAL, errno);
	ia.flags = IOASID_IOAS_ALLOC_FAULT_QUEUE;
	ia.fault_queue_id = self->parent;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_ALLOC, &ia));
	EXPECT_EQ(EINVAL, errno);
	ia.fault_queue_id = 0xdead;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_IOAS_ALLOC, &ia));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, queue_status(self->fd, self->parent, &s));
	EXPECT_EQ(EINVAL, errno);
	/* The queue's ID can go; its file stays usable. */
	EXPECT_EQ(0, destroy(self->fd, self->queue));
	EXPECT_EQ(-1, queue_status(self->fd, self->queue, &s));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 1, 0, NULL));
	struct ioasid_fault f;
	EXPECT_EQ(sizeof(f), read(self->qfd, &f, sizeof(f)));
}

/*
 * Two devices of one IOMMU group attached through one routed attachment: each record
 * names the device that faulted, and a device that leaves (detach, hot-unplug) while the
 * group stays attached takes its waiting faults along, answered before the IOMMU core
 * releases them; its cookies are then unknown (a response to one once freed the group).
 */
TEST_F(fault, a_group_member_that_leaves_takes_its_faults_along)
{
	struct ioasid_mock_device_add a = {
		.argsz = sizeof(a), .flags = IOASID_MOCK_DEVICE_PRI, .ioasid_fd = self->fd,
	};
	struct ioasid_mock_device_add b = a;
	struct ioasid_mock_device_del del = { .argsz = sizeof(del) };
	struct ioasid_ioas_alloc ia = {
		.argsz = sizeof(ia), .flags = IOASID_IOAS_ALLOC_FAULT_QUEUE,
		.fault_queue_id = self->queue,
	};
	struct ioasid_fault_queue_status s;
	struct ioasid_fault f;
	__u32 delivered = 0;

	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &a));
	b.group_with = a.out_mock_id;
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &b));
	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_ALLOC, &ia));
	ASSERT_EQ(0, attach(self->fd, a.out_dev_id, ia.out_ioas_id));
	ASSERT_EQ(0, attach(self->fd, b.out_dev_id, ia.out_ioas_id));

	/* B's fault is B's. */
	ASSERT_EQ(0, page_request(self->mock, b.out_mock_id, LAST, 0, 1, 0x1000, &delivered));
	ASSERT_EQ(1, delivered);
	ASSERT_EQ(sizeof(f), read(self->qfd, &f, sizeof(f)));
	EXPECT_EQ(b.out_dev_id, f.dev_id);
	ASSERT_EQ(0, respond(self->qfd, f.cookie, IOASID_FAULT_RESPONSE_SUCCESS));
	EXPECT_EQ(IOASID_MOCK_RESP_SUCCESS, mock_response(self->mock, b.out_mock_id, NULL));

	/* Detached while A keeps the group attached: B's waiting fault is answered. */
	ASSERT_EQ(0, page_request(self->mock, a.out_mock_id, LAST, 0, 2, 0x2000, NULL));
	ASSERT_EQ(0, page_request(self->mock, b.out_mock_id, LAST, 0, 3, 0x3000, NULL));
	ASSERT_EQ(0, detach(self->fd, b.out_dev_id));
	EXPECT_EQ(IOASID_MOCK_RESP_INVALID, mock_response(self->mock, b.out_mock_id, NULL));
	ASSERT_EQ(0, queue_status(self->fd, self->queue, &s));
	EXPECT_EQ(1, s.out_pending);
	ASSERT_EQ(sizeof(f), read(self->qfd, &f, sizeof(f)));
	EXPECT_EQ(a.out_dev_id, f.dev_id);
	ASSERT_EQ(0, respond(self->qfd, f.cookie, IOASID_FAULT_RESPONSE_SUCCESS));
	EXPECT_EQ(IOASID_MOCK_RESP_SUCCESS, mock_response(self->mock, a.out_mock_id, NULL));
	/*
	 * Not attached any more: the group's attachment (still there for A) refuses B's
	 * faults, which the core answers FAILURE; nothing reaches the queue.
	 */
	ASSERT_EQ(0, page_request(self->mock, b.out_mock_id, LAST, 0, 4, 0x4000, NULL));
	EXPECT_EQ(IOASID_MOCK_RESP_FAILURE, mock_response(self->mock, b.out_mock_id, NULL));
	ASSERT_EQ(0, queue_status(self->fd, self->queue, &s));
	EXPECT_EQ(0, s.out_pending);
	EXPECT_EQ(0, s.out_unread);

	/* Attached again, a fault read but not answered, then B is hot-unplugged. */
	ASSERT_EQ(0, attach(self->fd, b.out_dev_id, ia.out_ioas_id));
	ASSERT_EQ(0, page_request(self->mock, b.out_mock_id, LAST, 0, 5, 0x5000, &delivered));
	ASSERT_EQ(1, delivered);
	ASSERT_EQ(sizeof(f), read(self->qfd, &f, sizeof(f)));
	EXPECT_EQ(b.out_dev_id, f.dev_id);
	del.mock_id = b.out_mock_id;
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_DEL, &del));
	ASSERT_EQ(0, queue_status(self->fd, self->queue, &s));
	EXPECT_EQ(0, s.out_pending);
	EXPECT_EQ(0, s.out_unread);
	EXPECT_EQ(-1, respond(self->qfd, f.cookie, IOASID_FAULT_RESPONSE_SUCCESS));
	EXPECT_EQ(ENOENT, errno);
	/* A is unaffected. */
	ASSERT_EQ(0, page_request(self->mock, a.out_mock_id, LAST, 0, 6, 0x6000, &delivered));
	ASSERT_EQ(1, delivered);
	ASSERT_EQ(sizeof(f), read(self->qfd, &f, sizeof(f)));
	EXPECT_EQ(a.out_dev_id, f.dev_id);
	ASSERT_EQ(0, respond(self->qfd, f.cookie, IOASID_FAULT_RESPONSE_SUCCESS));
	EXPECT_EQ(IOASID_MOCK_RESP_SUCCESS, mock_response(self->mock, a.out_mock_id, NULL));
}

/* The lowest free file descriptor. */
static int lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd >= 0)
		close(fd);
	return fd;
}

/*
 * A queue whose ID and fd cannot be written back: the ioctl fails with EFAULT and leaves
 * no fd open and no object behind (the fd is installed only once nothing can fail).
 */
TEST_F(fault, a_failed_alloc_leaves_no_fd)
{
	struct ioasid_fault_queue_alloc *qa;
	struct ioasid_fault_queue_alloc good = { .argsz = sizeof(good) };
	int before = lowest_free_fd();

	qa = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, qa);
	qa->argsz = sizeof(*qa);
	ASSERT_EQ(0, mprotect(qa, SZ_4K, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_FAULT_QUEUE_ALLOC, qa));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(before, lowest_free_fd());
	/* The next queue gets that fd; the failed one's ID (just before) is gone. */
	ASSERT_EQ(0, ioctl(self->fd, IOASID_FAULT_QUEUE_ALLOC, &good));
	EXPECT_EQ(before, good.out_fd);
	EXPECT_EQ(-1, destroy(self->fd, good.out_queue_id - 1));
	EXPECT_EQ(ENOENT, errno);
	close(good.out_fd);
	munmap(qa, SZ_4K);
}

struct blocked_read {
	int qfd;
	void *buf;
	ssize_t ret;
	int err;
};

static void *read_into(void *arg)
{
	struct blocked_read *r = arg;

	r->ret = read(r->qfd, r->buf, sizeof(struct ioasid_fault));
	r->err = errno;
	return NULL;
}

/*
 * A reader whose buffer blocks (a userfaultfd page nobody serves yet) holds nothing the
 * fault path needs: page requests keep being delivered and the queue's status answers.
 * Once the page is served the read completes, and nothing is lost or reordered.
 */
TEST_F(fault, a_reader_blocked_on_its_buffer_stalls_nothing)
{
	struct blocked_read r = { .qfd = self->qfd };
	struct ioasid_fault_queue_status s;
	struct ioasid_fault f[2];
	pthread_t reader;
	__u32 delivered = 0;
	int uffd;

	r.buf = blocking_memory(SZ_4K, &uffd);
	ASSERT_NE(NULL, r.buf);
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 1, 0, NULL));
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 2, 0, NULL));
	ASSERT_EQ(0, pthread_create(&reader, NULL, read_into, &r));
	/* The reader has taken its record and is blocked copying it. */
	ASSERT_EQ(0, wait_blocked(uffd));
	ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, 3, 0, &delivered));
	EXPECT_EQ(1, delivered);
	ASSERT_EQ(0, queue_status(self->fd, self->queue, &s));
	EXPECT_EQ(2, s.out_unread);
	EXPECT_EQ(3, s.out_pending);
	ASSERT_EQ(0, unblock(uffd, r.buf));
	ASSERT_EQ(0, pthread_join(reader, NULL));
	ASSERT_EQ(sizeof(struct ioasid_fault), r.ret);
	EXPECT_EQ(1, ((struct ioasid_fault *)r.buf)->grpid);
	ASSERT_EQ(0, respond(self->qfd, ((struct ioasid_fault *)r.buf)->cookie,
			     IOASID_FAULT_RESPONSE_SUCCESS));
	ASSERT_EQ(sizeof(f), read(self->qfd, f, sizeof(f)));
	for (int i = 0; i < 2; i++) {
		EXPECT_EQ(i + 2, f[i].grpid);
		ASSERT_EQ(0, respond(self->qfd, f[i].cookie, IOASID_FAULT_RESPONSE_SUCCESS));
	}
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(IOASID_MOCK_RESP_SUCCESS, mock_response(self->mock, self->mock_id, NULL));
	close(uffd);
}

/* A read whose buffer cannot be written fails with EFAULT and loses no record. */
TEST_F(fault, a_failed_read_puts_the_records_back_in_order)
{
	struct ioasid_fault f[3];
	void *ro = mmap(NULL, SZ_4K, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, ro);
	for (int i = 1; i <= 3; i++)
		ASSERT_EQ(0, page_request(self->mock, self->mock_id, LAST, 0, i, 0, NULL));
	EXPECT_EQ(-1, read(self->qfd, ro, 2 * sizeof(f[0])));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(sizeof(f), read(self->qfd, f, sizeof(f)));
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(i + 1, f[i].grpid);
	munmap(ro, SZ_4K);
}

/*
 * Only a device that can report page requests goes to a routed address space or child:
 * one without PRI is refused alike on every IOMMU, attached or by a table.
 */
TEST_F(fault, a_device_without_page_requests_is_refused_where_faults_are_routed)
{
	struct ioasid_mock_device_add a = {
		.argsz = sizeof(a), .ioasid_fd = self->fd,
	};
	struct ioasid_ioas_alloc ia = {
		.argsz = sizeof(ia), .flags = IOASID_IOAS_ALLOC_FAULT_QUEUE,
		.fault_queue_id = self->queue,
	};
	struct ioasid_bind_table b = {
		.argsz = sizeof(b), .version = IOASID_BIND_VERSION_1, .format = IOASID_FORMAT_MOCK,
		.child_id = self->child, .table.mock.table = G,
	};
	__u32 plain;

	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &a));
	ASSERT_EQ(0, ioctl(self->fd, IOASID_IOAS_ALLOC, &ia));
	EXPECT_EQ(-1, attach(self->fd, a.out_dev_id, ia.out_ioas_id));
	EXPECT_EQ(EOPNOTSUPP, errno);
	b.dev_id = a.out_dev_id;
	EXPECT_EQ(-1, ioctl(self->fd, IOASID_BIND_TABLE, &b));
	EXPECT_EQ(EOPNOTSUPP, errno);
	/* A group mate without PRI does not join its PRI mate's routed attachment. */
	a.group_with = self->mock_id;
	ASSERT_EQ(0, ioctl(self->mock, IOASID_MOCK_DEVICE_ADD, &a));
	ASSERT_EQ(0, unbind_fixture_table(self));
	ASSERT_EQ(0, attach(self->fd, self->dev, ia.out_ioas_id));
	EXPECT_EQ(-1, attach(self->fd, a.out_dev_id, ia.out_ioas_id));
	EXPECT_EQ(EOPNOTSUPP, errno);
	/* Where nothing is routed it is attached as usual. */
	ASSERT_EQ(0, ioas_alloc(self->fd, &plain));
	ASSERT_EQ(0, detach(self->fd, self->dev));
	EXPECT_EQ(0, attach(self->fd, a.out_dev_id, plain));
}

TEST_HARNESS_MAIN
