// SPDX-License-Identifier: GPL-2.0 OR MIT
/* akmctl monitor: print the family's events until SIGINT or SIGTERM. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>

#include "akmctl.h"

static volatile sig_atomic_t stop;

void monitor_usage(FILE *f)
{
	fputs("Usage: akmctl monitor\n"
	      "Prints one line per event (one JSON object with -j) until interrupted.\n", f);
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int print_cb(const struct akm_msg *msg, void *arg)
{
	struct akm_out *o = arg;

	print_event(o, msg);
	return fflush(o->f) ? -errno : 0;
}

static int monitor(struct cmdline *c)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t signals, unblocked;
	struct akm_sock *s;
	struct pollfd pfd;
	int err;

	if (c->argc)
		unknown_word(c, *c->argv);
	s = akmctl_sock();
	if (!s)
		return 1;
	err = akm_subscribe(s);
	if (err)
		return report(err, "monitor");

	/* Signals are only taken while waiting, so none is missed. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &signals, &unblocked) ||
	    sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL)) {
		fprintf(stderr, "akmctl: monitor: %s\n", strerror(errno));
		return 1;
	}
	sigdelset(&unblocked, SIGINT);
	sigdelset(&unblocked, SIGTERM);

	pfd.fd = akm_fd(s);
	pfd.events = POLLIN;
	while (!stop) {
		if (ppoll(&pfd, 1, NULL, &unblocked) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "akmctl: monitor: %s\n", strerror(errno));
			return 1;
		}
		err = akm_recv_events(s, print_cb, &out);
		if (err == -ENOBUFS || err == -EPROTO)
			fprintf(stderr, "akmctl: warning: %s\n", akm_errmsg(s));
		else if (err)
			return report(err, "monitor");
	}
	return 0;
}

int do_monitor(struct cmdline *c)
{
	if (c->argc == 1 && !strcmp(*c->argv, "help")) {
		monitor_usage(stdout);
		return 0;
	}
	return monitor(c);
}
