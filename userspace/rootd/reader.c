// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The admin socket's reads (site list|show, node list|show, asr show,
 * instance list) run in a thread of their own, on a database connection of
 * their own, each in one REPEATABLE READ READ ONLY transaction: a read of a
 * whole deployment takes seconds at 10,000 nodes (far more under
 * emulation), and in the event loop it would hold every site's link past
 * its heartbeat limit. Reads run
 * one at a time, in the order they came. The loop hands a request over
 * (reader_submit()) and takes the answer back when the eventfd says one is
 * done (reader_done()); the thread touches nothing but the jobs under the
 * lock and its own struct root. A client that leaves first has its request
 * dropped, or its answer.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "root.h"

struct job {
	struct job *next;
	struct admin *a;		/* the loop's: NULL once the client left */
	char **argv;			/* the request's words, NULL-terminated */
	int argc;
	enum akm_out_mode mode;
	char *out, *err;		/* the answer, as admin_transact() made it */
	size_t outlen, errlen;
	int status;
};

struct reader {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *todo, **tail;	/* in the order they came */
	unsigned int ntodo;
	struct job *done;
	bool stop;
	int efd;			/* readable: something is done */
	struct root db;			/* the thread's: its connection and errors */
};

static void job_free(struct job *j)
{
	int i;

	for (i = 0; i < j->argc; i++)
		free(j->argv[i]);
	free(j->argv);
	free(j->out);
	free(j->err);
	free(j);
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct req q;
	struct job *j;

	/* the loop's connection was just checked: a failure here is retried per read */
	if (db_connect(&rd->db))
		root_log("database (reads): cannot connect: %s", rd->db.errmsg);
	pthread_mutex_lock(&rd->lock);
	for (;;) {
		while (!rd->todo && !rd->stop)
			pthread_cond_wait(&rd->wake, &rd->lock);
		if (rd->stop)
			break;
		j = rd->todo;
		rd->todo = j->next;
		rd->ntodo--;
		if (!rd->todo)
			rd->tail = &rd->todo;
		pthread_mutex_unlock(&rd->lock);

		q = (struct req){ .r = &rd->db, .argv = j->argv, .argc = j->argc,
				  .o.mode = j->mode };
		admin_transact(&q, &j->out, &j->outlen, &j->err, &j->errlen);
		j->status = q.status;

		pthread_mutex_lock(&rd->lock);
		j->next = rd->done;
		rd->done = j;
		eventfd_write(rd->efd, 1);	/* cannot fail: far from full */
	}
	pthread_mutex_unlock(&rd->lock);
	db_disconnect(&rd->db);
	return NULL;
}

/* After the master key is loaded and the database checked. 0 or -errno. */
int reader_start(struct root *r)
{
	struct reader *rd = calloc(1, sizeof(*rd));
	sigset_t sigs, old;
	int err;

	if (!rd)
		return -ENOMEM;
	rd->tail = &rd->todo;
	rd->db = (struct root){ .id = r->id, .state_dir = r->state_dir, .conninfo = r->conninfo,
				.master = r->master, .checked = true, .read_only = true,
				.admin_fd = -1, .listen_fd = -1, .lock_fd = -1, .ninst = -1 };
	rd->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (rd->efd < 0) {
		err = -errno;
		free(rd);
		return err;
	}
	pthread_mutex_init(&rd->lock, NULL);
	pthread_cond_init(&rd->wake, NULL);
	/* the stop signals are the loop's */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	err = -pthread_create(&rd->thread, NULL, reader_main, rd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		close(rd->efd);
		free(rd);
		return err;
	}
	r->reader = rd;
	return 0;
}

/* The thread ends once its read does (a stop shortens the database's waits). */
void reader_stop(struct root *r)
{
	struct reader *rd = r->reader;
	struct job *j;

	if (!rd)
		return;
	pthread_mutex_lock(&rd->lock);
	rd->stop = true;
	pthread_cond_signal(&rd->wake);
	pthread_mutex_unlock(&rd->lock);
	pthread_join(rd->thread, NULL);
	while ((j = rd->todo)) {
		rd->todo = j->next;
		job_free(j);
	}
	while ((j = rd->done)) {
		rd->done = j->next;
		job_free(j);
	}
	pthread_cond_destroy(&rd->wake);
	pthread_mutex_destroy(&rd->lock);
	close(rd->efd);
	free(rd);
	r->reader = NULL;
}

int reader_fd(const struct root *r)
{
	return r->reader ? r->reader->efd : -1;
}

/* a's request, to be answered through admin_answer(): the job, or NULL (errno: root.h) */
struct job *reader_submit(struct root *r, struct admin *a, char **argv, int argc,
			  enum akm_out_mode mode)
{
	struct reader *rd = r->reader;
	struct job *j = calloc(1, sizeof(*j));
	bool full;
	int i;

	if (!j)
		return NULL;
	j->a = a;
	j->mode = mode;
	j->argv = calloc(argc + 1, sizeof(*j->argv));
	for (i = 0; j->argv && i < argc; i++) {
		j->argv[i] = strdup(argv[i]);
		if (!j->argv[i])
			break;
		j->argc++;
	}
	if (j->argc < argc) {
		job_free(j);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&rd->lock);
	full = rd->ntodo >= ROOT_READS_MAX;
	if (!full) {
		*rd->tail = j;
		rd->tail = &j->next;
		rd->ntodo++;
		pthread_cond_signal(&rd->wake);
	}
	pthread_mutex_unlock(&rd->lock);
	if (full) {
		job_free(j);
		errno = EBUSY;
		return NULL;
	}
	return j;
}

/* Its client left: a request not begun is dropped, an answer not sent. */
void reader_cancel(struct root *r, struct job *j)
{
	struct reader *rd = r->reader;
	struct job **pp;

	pthread_mutex_lock(&rd->lock);
	j->a = NULL;
	for (pp = &rd->todo; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			if (rd->tail == &j->next)
				rd->tail = pp;
			rd->ntodo--;
			job_free(j);
			break;
		}
	pthread_mutex_unlock(&rd->lock);
}

/* The eventfd is readable: the answers to their clients. */
void reader_done(struct root *r)
{
	struct reader *rd = r->reader;
	struct job *j, *done;
	eventfd_t n;

	if (eventfd_read(rd->efd, &n))
		return;
	pthread_mutex_lock(&rd->lock);
	done = rd->done;
	rd->done = NULL;
	pthread_mutex_unlock(&rd->lock);
	while ((j = done)) {
		done = j->next;
		if (j->a)
			admin_answer(r, j->a, j->out, j->outlen, j->err, j->errlen, j->status);
		job_free(j);
	}
}
