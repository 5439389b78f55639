// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The admin socket (akmctl root ...): the frames of akmctl nmm (lib/proto.h,
 * NMM_ADMIN_*). A request is the command's words; the answer its output,
 * its errors and its exit status, whole however long (it is written as the
 * client reads). Each change runs in one SERIALIZABLE transaction, run
 * again from the start (output discarded) when the database reports a
 * serialization failure, for up to ROOT_RETRY_SECS: the instances of one
 * database may change the same rows at once. Reads run beside the loop
 * (reader.c), so that listing a large deployment holds up nothing else. A
 * watcher that falls ROOT_WATCH_BACKLOG behind, or a client that leaves
 * its answer unread for ROOT_ADMIN_STALL seconds, is dropped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sodium.h>

#include "proto.h"
#include "root.h"

struct admin {
	struct admin *next;
	int fd;
	struct akmp_reader rd;
	uint8_t *buf;			/* frames to write: buf[off..len) */
	size_t len, off;
	int64_t opened, progress;	/* root_now(): accepted, last written to */
	enum akm_out_mode mode;
	bool up;			/* its request came */
	bool watch;
	bool closing;			/* close once the answer is written */
	bool dead;			/* close now */
	struct job *job;		/* its read, being run (reader.c) */
};

int req_fail(struct req *q, int status, const char *fmt, ...)
{
	va_list ap;

	fputs("akmctl root: ", q->err);
	va_start(ap, fmt);
	vfprintf(q->err, fmt, ap);
	va_end(ap);
	fputc('\n', q->err);
	q->status = status;
	return status;
}

int req_db(struct req *q)
{
	struct root *r = q->r;

	if (db_retry(r))
		return q->status = -EAGAIN;
	if (db_busy(r))
		return req_fail(q, 1, "the database is busy (%s): try again", r->errmsg);
	if (!r->pg && r->committing)
		return req_fail(q, 1, "the connection to the database was lost while committing: "
				"the change may or may not have been made; look before trying "
				"again");
	if (!r->pg)
		return q->status = -ENOTCONN;
	return req_fail(q, 1, "database error: %s", r->errmsg[0] ? r->errmsg : "unknown");
}

const char *req_next(struct req *q)
{
	return q->pos < q->argc ? q->argv[q->pos++] : NULL;
}

const char *req_value(struct req *q, const char *kw)
{
	const char *v = req_next(q);

	if (!v)
		req_usage(q, "missing value after '%s'", kw);
	return v;
}

int req_addrs(struct req *q, char addrs[AKM_ADDRS_TEXT_MAX])
{
	struct akm_words w = { .argc = q->argc, .argv = q->argv, .pos = q->pos };

	if (akm_words_addrs(&w, addrs))
		return req_usage(q, "%s", w.err);
	q->pos = w.pos;
	return 0;
}

/* An object alone lists it. */
static const char *command(const char *obj, const char *cmd)
{
	return cmd ? cmd : strcmp(obj, "asr") ? "list" : "show";
}

static int run(struct req *q)
{
	const char *obj = req_next(q), *cmd;

	if (!obj)
		return req_usage(q, "missing command; try 'akmctl root help'");
	cmd = command(obj, req_next(q));
	if (!strcmp(obj, "site"))
		return cmd_site(q, cmd);
	if (!strcmp(obj, "node"))
		return cmd_node(q, cmd);
	if (!strcmp(obj, "asr"))
		return cmd_asr(q, cmd);
	if (!strcmp(obj, "instance"))
		return cmd_instance(q, cmd);
	if (!strcmp(obj, "link"))
		return cmd_link(q, cmd);
	return req_usage(q, "unknown command '%s'; try 'akmctl root help'", obj);
}

/* Append a frame; a watcher too far behind is dropped instead. */
static void send_frame(struct admin *a, uint8_t type, uint16_t tlv, const void *data,
		       size_t len)
{
	struct akmp_buf b = { 0 };
	uint8_t *p;

	akmp_begin(&b, type);
	if (tlv == NMM_ADMIN_T_STATUS)
		akmp_put_u32(&b, tlv, *(const uint32_t *)data);
	else
		akmp_put(&b, tlv, data, len);
	if (akmp_end(&b) || (a->watch && a->len - a->off + b.len > ROOT_WATCH_BACKLOG)) {
		a->dead = true;
	} else if (!a->dead) {
		if (a->off == a->len) {
			a->off = a->len = 0;
			a->progress = root_now();	/* the stall clock starts */
		} else if (a->off > a->len / 2) {	/* what was written goes */
			memmove(a->buf, a->buf + a->off, a->len - a->off);
			a->len -= a->off;
			a->off = 0;
		}
		p = realloc(a->buf, a->len + b.len);
		if (p) {
			memcpy(p + a->len, b.p, b.len);
			a->buf = p;
			a->len += b.len;
		} else {
			a->dead = true;
		}
	}
	akmp_buf_free(&b);
}

static void send_text(struct admin *a, uint8_t type, const char *s, size_t len)
{
	size_t chunk;

	while (len) {
		chunk = len > 60000 ? 60000 : len;
		send_frame(a, type, NMM_ADMIN_T_TEXT, s, chunk);
		s += chunk;
		len -= chunk;
	}
}

/* Write what the socket takes now; false if the client is gone. */
static bool flush(struct admin *a)
{
	ssize_t w;

	while (a->off < a->len) {
		w = send(a->fd, a->buf + a->off, a->len - a->off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN;
		a->off += w;
		a->progress = root_now();
	}
	return true;
}

/*
 * Run q's command in a transaction, from the start again after a
 * serialization failure or a connection lost before COMMIT, for up to
 * ROOT_RETRY_SECS. *out and *err: what it printed, to be freed.
 */
void admin_transact(struct req *q, char **out, size_t *outlen, char **err, size_t *errlen)
{
	int64_t until = root_now_ms() + ROOT_RETRY_SECS * 1000;
	struct root *r = q->r;
	unsigned int try = 0;
	bool fresh, extra = false;

	for (;;) {
		*out = *err = NULL;
		q->out = open_memstream(out, outlen);
		q->err = open_memstream(err, errlen);
		if (!q->out || !q->err) {
			q->status = 1;
			break;
		}
		akm_out_init(&q->o, q->out, q->o.mode);
		if (q->file)	/* a bundle: with the code printed, it opens the credential */
			sodium_memzero(q->file, q->file_len);
		free(q->file);
		q->file = NULL;
		q->file_len = 0;
		q->pos = 0;
		q->status = 0;
		r->committing = false;
		if (db_begin(r))
			req_db(q);
		else if (!run(q) && db_commit(r))
			req_db(q);
		if (q->status)
			db_rollback(r);
		/* nothing was committed: on a new connection, from the start */
		fresh = false;
		if (q->status == -ENOTCONN) {
			if (root_stopping())
				req_fail(q, 1, "stopping");
			else if (db_reconnect(r))
				req_fail(q, 1, "the database is unreachable: %s", r->errmsg);
			else
				fresh = !extra;	/* worth one more try, whatever the time */
		}
		if ((q->status != -EAGAIN && q->status != -ENOTCONN) ||
		    (root_now_ms() >= until && !fresh))
			break;
		if (root_now_ms() >= until)
			extra = true;
		fclose(q->out);
		fclose(q->err);
		if (q->file)	/* the output holds the transfer code */
			sodium_memzero(*out, *outlen);
		free(*out);
		free(*err);
		usleep((1000 << (try < 6 ? try : 6)) + rand() % 1000);	/* 1 ms, doubling */
		try++;
	}
	if (q->status == -EAGAIN)
		req_fail(q, 1, "the database kept reporting conflicting changes for %d s; "
			 "try again", ROOT_RETRY_SECS);
	else if (q->status == -ENOTCONN)
		req_fail(q, 1, "the connection to the database keeps failing: %s", r->errmsg);
	if (q->out)
		fclose(q->out);
	if (q->err)
		fclose(q->err);
}

int admin_run(struct root *r, char **argv, bool log)
{
	struct req q = { .r = r, .argv = argv, .link = true };
	char *out = NULL, *err = NULL;
	size_t outlen = 0, errlen = 0;

	while (argv[q.argc])
		q.argc++;
	admin_transact(&q, &out, &outlen, &err, &errlen);
	db_notifies(r);
	if (q.status && err && log)
		root_log("sites' link: %s %s: %.*s", argv[0], argv[1], (int)strcspn(err, "\n"),
			 err);
	free(out);
	free(err);
	return q.status;
}

static void admin_free(struct root *r, struct admin *a);

/* The commands that only read: run by reader.c, in a READ ONLY transaction. */
static bool is_read(int argc, char **argv)
{
	static const char *const reads[][2] = {
		{ "site", "list" }, { "site", "show" }, { "node", "list" }, { "node", "show" },
		{ "asr", "show" }, { "instance", "list" },
	};
	const char *cmd;
	size_t i;

	if (argc < 1)
		return false;
	cmd = command(argv[0], argc > 1 ? argv[1] : NULL);
	for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (!strcmp(argv[0], reads[i][0]) && !strcmp(cmd, reads[i][1]))
			return true;
	return false;
}

static void answer(struct admin *a, const char *out, size_t outlen, const char *err,
		   size_t errlen, int status)
{
	uint32_t code = status < 0 ? 1 : status;

	if (out && !status)	/* a failed command's output may be cut short */
		send_text(a, NMM_ADMIN_OUT, out, outlen);
	if (err)
		send_text(a, NMM_ADMIN_ERR, err, errlen);
	send_frame(a, NMM_ADMIN_EXIT, NMM_ADMIN_T_STATUS, &code, 4);
	a->closing = true;
}

/* Write what the socket takes; the client goes once it is all written. */
static void admin_write(struct root *r, struct admin *a)
{
	if (a->dead || !flush(a) || (a->closing && a->off == a->len))
		admin_free(r, a);
}

void admin_answer(struct root *r, struct admin *a, const char *out, size_t outlen,
		  const char *err, size_t errlen, int status)
{
	a->job = NULL;
	answer(a, out, outlen, err, errlen, status);
	admin_write(r, a);
}

/* One request: RUN with MODE and ARG * n. */
static int handle(struct root *r, struct admin *a, const uint8_t *data, size_t len)
{
	char *argv[ROOT_ADMIN_ARGS_MAX + 1], *out = NULL, *err = NULL;
	struct akmp_admin_req req = { .argv = argv, .max = ROOT_ADMIN_ARGS_MAX };
	struct req q = { .r = r, .argv = argv };
	size_t outlen = 0, errlen = 0;
	bool busy;
	int ret;

	ret = akmp_admin_req(data, len, &req);
	if (ret < 0)
		goto out;
	q.argc = req.argc;
	a->mode = req.mode;
	q.o.mode = req.mode;
	if (q.argc == 1 && !strcmp(argv[0], "watch") && !req.toomany) {
		a->watch = true;	/* events from now on, until the client leaves */
		goto out;
	}
	if (!req.toomany && r->reader && is_read(q.argc, argv)) {
		a->job = reader_submit(r, a, argv, q.argc, req.mode);
		if (a->job)
			goto out;	/* answered by admin_answer() */
		busy = errno == EBUSY;
		q.err = open_memstream(&err, &errlen);
		if (q.err) {
			req_fail(&q, 1, busy ? "%d reads wait in line at this instance: try again" :
				 "out of memory", ROOT_READS_MAX);
			fclose(q.err);
		}
		q.status = 1;
	} else if (req.toomany) {
		q.err = open_memstream(&err, &errlen);
		if (q.err) {
			req_usage(&q, "more than %d arguments", ROOT_ADMIN_ARGS_MAX);
			fclose(q.err);
		}
		q.status = 2;
	} else {
		admin_transact(&q, &out, &outlen, &err, &errlen);
	}
	db_notifies(r);
	if (q.file && !q.status)
		send_frame(a, NMM_ADMIN_FILE, NMM_ADMIN_T_DATA, q.file, q.file_len);
	answer(a, out, outlen, err, errlen, q.status);
out:
	if (q.file && out)	/* the output holds the transfer code */
		sodium_memzero(out, outlen);
	free(out);
	free(err);
	if (q.file)
		sodium_memzero(q.file, q.file_len);
	free(q.file);
	akmp_admin_req_free(&req);
	return ret;
}

int admin_open(struct root *r)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/admin.sock",
			     r->state_dir) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	unlink(sun.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || chmod(sun.sun_path, 0600) ||
	    listen(fd, 16)) {
		int err = -errno;

		close(fd);
		return err;
	}
	r->admin_fd = fd;
	return 0;
}

static void admin_free(struct root *r, struct admin *a)
{
	struct admin **pp;

	for (pp = &r->admins; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	if (a->job)
		reader_cancel(r, a->job);
	close(a->fd);
	akmp_reader_free(&a->rd);
	free(a->buf);
	free(a);
}

void admin_close_all(struct root *r)
{
	char path[4096];

	while (r->admins)
		admin_free(r, r->admins);
	if (r->admin_fd >= 0) {
		close(r->admin_fd);
		snprintf(path, sizeof(path), "%s/admin.sock", r->state_dir);
		unlink(path);
		r->admin_fd = -1;
	}
}

static void accept_one(struct root *r)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned int n = 0;
	struct admin *a;
	int fd;

	fd = accept4(r->admin_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			root_log("admin socket: %s; not accepting for a second", strerror(errno));
			r->admin_paused = root_now() + 1;	/* instead of spinning */
		}
		return;
	}
	for (a = r->admins; a; a = a->next)
		n++;
	a = n < ROOT_ADMIN_MAX ? calloc(1, sizeof(*a)) : NULL;
	if (!a || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		free(a);
		close(fd);
		return;
	}
	a->fd = fd;
	a->opened = a->progress = root_now();
	a->next = r->admins;
	r->admins = a;
}

int admin_poll_fds(struct root *r, struct pollfd *pfd, int max)
{
	struct admin *a;
	int n = 0;

	if (r->admin_fd >= 0 && root_now() >= r->admin_paused && n < max)
		pfd[n++] = (struct pollfd){ .fd = r->admin_fd, .events = POLLIN };
	if (r->reader && n < max)
		pfd[n++] = (struct pollfd){ .fd = reader_fd(r), .events = POLLIN };
	for (a = r->admins; a && n < max; a = a->next)
		pfd[n++] = (struct pollfd){
			.fd = a->fd,
			/* a read being run: the client may only hang up */
			.events = (a->closing || a->dead || a->job ? 0 : POLLIN) |
				  (a->off < a->len ? POLLOUT : 0),
		};
	return n;
}

static void admin_io(struct root *r, struct admin *a, short revents)
{
	int ret = 0;

	if (revents & POLLIN) {
		/* one request: what follows it (an end of file) is not read */
		while (!a->closing && !a->dead && !a->job &&
		       (ret = akmp_read(a->fd, &a->rd)) == 1) {
			if (a->up || a->rd.len > ROOT_ADMIN_REQ_MAX) {
				ret = -EBADMSG;
				break;
			}
			a->up = true;
			ret = handle(r, a, a->rd.buf, a->rd.len);
			if (ret < 0)
				break;
		}
		if (ret < 0 && ret != -EAGAIN)
			a->dead = true;	/* gone, or not speaking the protocol */
	}
	if (revents & (POLLHUP | POLLERR))
		a->dead = true;
	admin_write(r, a);
}

void admin_poll_done(struct root *r, const struct pollfd *pfd, int n)
{
	struct admin *a, *next;
	int i;

	for (i = 0; i < n; i++) {
		if (!pfd[i].revents)
			continue;
		if (pfd[i].fd == r->admin_fd) {
			accept_one(r);
			continue;
		}
		if (pfd[i].fd == reader_fd(r)) {
			reader_done(r);
			continue;
		}
		for (a = r->admins; a; a = next) {
			next = a->next;
			if (a->fd == pfd[i].fd) {
				admin_io(r, a, pfd[i].revents);
				break;
			}
		}
	}
}

/*
 * Time counts up to the last poll() only: a client is not to blame for the
 * seconds this instance spent blocked in another's command (its request or
 * its reading waits in the socket until the next pass).
 */
void admin_tick(struct root *r)
{
	int64_t now = r->polled_at;
	struct admin *a, *next;

	for (a = r->admins; a; a = next) {
		next = a->next;
		if (a->dead || (!a->up && now - a->opened >= ROOT_ADMIN_TIMEOUT) ||
		    (a->off < a->len && now - a->progress >= ROOT_ADMIN_STALL))
			admin_free(r, a);	/* no request, or its answer unread */
	}
}

void admin_broadcast(struct root *r, const char *kind, const char *text)
{
	time_t now = time(NULL);
	char *buf = NULL;
	struct admin *a;
	size_t len = 0;
	FILE *f;

	for (a = r->admins; a; a = a->next) {
		if (!a->watch || a->dead)
			continue;
		f = open_memstream(&buf, &len);
		if (!f)
			return;
		akm_out_event(f, a->mode, now, kind, text);
		fclose(f);
		send_text(a, NMM_ADMIN_OUT, buf, len);
		if (!flush(a))
			a->dead = true;
		free(buf);
		buf = NULL;
	}
}
