// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * akm-nmmd --id N --listen ADDR[:PORT] [--state DIR] [--tpm] [--foreground]
 *          [--config FILE]
 *
 * One thread, one poll() loop over the TCP listener, the admin socket and
 * every connection; a tick each second for timeouts and re-key progress.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "nmm.h"

static volatile sig_atomic_t stop;
static bool journal;	/* stderr is the journal, which keeps its own time */

int64_t nmm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void nmm_log(const char *fmt, ...)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	if (!journal)
		fprintf(stderr, "%s akm-nmmd: ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void event_emit(struct nmm *n, const char *kind, const char *text)
{
	nmm_log("event %s %s", kind, text);
	admin_broadcast(n, kind, text);
}

/*
 * An event raised inside a transaction is held until it commits: a change
 * rolled back raised none. (Held as "kind text"; kinds have no space.)
 */
void nmm_event(struct nmm *n, const char *kind, const char *fmt, ...)
{
	char text[512], *e, **grown;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n->db && !sqlite3_get_autocommit(n->db)) {
		grown = realloc(n->held, (n->nheld + 1) * sizeof(*grown));
		if (grown)
			n->held = grown;
		if (grown && asprintf(&e, "%s %s", kind, text) >= 0) {
			n->held[n->nheld++] = e;
			return;
		}
	}
	event_emit(n, kind, text);
}

void nmm_events_release(struct nmm *n, bool emit)
{
	char *sp;
	size_t i;

	for (i = 0; i < n->nheld; i++) {
		sp = strchr(n->held[i], ' ');
		if (emit && sp) {
			*sp = '\0';
			event_emit(n, n->held[i], sp + 1);
		}
		free(n->held[i]);
	}
	free(n->held);
	n->held = NULL;
	n->nheld = 0;
}

const char *addr_str(const struct akm_addr *a, char *buf, size_t len)
{
	if (!a->family) {
		snprintf(buf, len, "?");
		return buf;
	}
	return akm_addr_str(a, buf, len);
}

/* Track a new connection on @fd, or close @fd if there is no memory. */
struct conn *conn_add(struct nmm *n, int fd, enum conn_kind kind)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return NULL;
	}
	c->kind = kind;
	c->state = CS_HELLO;
	c->fd = fd;
	c->opened = c->last_rx = nmm_now();
	c->next = n->conns;
	n->conns = c;
	return c;
}

void conn_close(struct nmm *n, struct conn *c)
{
	struct conn **pp;

	for (pp = &n->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->kind == CONN_NODE)
		peer_closed(n, c);
	if (c->fd >= 0)
		close(c->fd);
	akmp_reader_free(&c->rd);
	akmp_outq_free(&c->out);
	free(c->waits);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

static int parse_listen(struct nmm *n, const char *s)
{
	n->port = AKMP_PORT;
	return akm_endpoint_parse(s, &n->listen_addr, &n->port);
}

static int open_listener(struct nmm *n)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(n->port) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(n->port) };
	struct sockaddr *sa = (struct sockaddr *)&s6;
	socklen_t len = sizeof(s6);
	int fd, one = 1;

	if (n->listen_addr.family == AF_INET) {
		s4.sin_addr = n->listen_addr.v4;
		sa = (struct sockaddr *)&s4;
		len = sizeof(s4);
	} else {
		s6.sin6_addr = n->listen_addr.v6;
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, sa, len) || listen(fd, 128)) {
		int err = -errno;

		close(fd);
		return err;
	}
	n->listen_fd = fd;
	return 0;
}

static int open_admin(struct nmm *n)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, err = 0;

	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/admin.sock",
			     n->state_dir) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(sun.sun_path);
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || chmod(sun.sun_path, 0600) ||
	    listen(fd, 16))
		err = -errno;
	umask(old);
	if (err) {
		close(fd);
		return err;
	}
	n->admin_fd = fd;
	return 0;
}

/* Is a session connection of the node in its handshake? */
static bool session_handshake(struct nmm *n, uint32_t node)
{
	struct conn *c;

	for (c = n->conns; c; c = c->next)
		if (c->kind == CONN_NODE && c->state == CS_AUTH && c->node == node &&
		    c->hs.session)
			return true;
	return false;
}

/* Once a second: handshake and silence timeouts, session waits, re-keys. */
static void tick(struct nmm *n)
{
	int64_t now = nmm_now();
	struct nodest *s;
	struct conn *c;

	if (now == n->last_tick)
		return;
	n->last_tick = now;
	for (c = n->conns; c; c = c->next) {
		if (c->kind == CONN_ADMIN && c->state == CS_HELLO &&
		    now - c->opened >= NMM_HANDSHAKE_TIMEOUT)
			c->dead = true;		/* no request within 10 s */
		if (c->kind != CONN_NODE)
			continue;
		if ((c->state == CS_HELLO || c->state == CS_AUTH) &&
		    now - c->opened >= NMM_HANDSHAKE_TIMEOUT) {
			if (c->state == CS_AUTH)
				peer_gave_up(n, c);
			else
				fail_record(n, &c->peer);	/* a handshake left hanging */
			c->state = CS_CLOSING;
		} else if (c->state == CS_UP && now - c->last_rx >= NMM_OFFLINE_AFTER) {
			c->state = CS_CLOSING;
		} else if ((c->state == CS_CLOSING || c->state == CS_WELCOMED) &&
			   now - c->last_rx >= NMM_HANDSHAKE_TIMEOUT) {
			c->dead = true;		/* it does not read, or never closed */
		}
	}
	/*
	 * A node comes with its session connection within a second of the
	 * switch; one that does not (its agent died in between) must not find
	 * its bootstrap connections dropped for long.
	 */
	for (s = n->nodes; s; s = s->next)
		if (s->mode == NODE_SESSION_WAIT && now - s->since >= NMM_SESSION_WAIT &&
		    !session_handshake(n, s->id))
			node_bootstrap(n, s->id, "no-session-connection");
	if (n->listen_paused && now >= n->listen_paused)
		n->listen_paused = 0;
	if (n->admin_paused && now >= n->admin_paused)
		n->admin_paused = 0;
	rekey_tick(n);
	status_tick(n);
}

static void loop(struct nmm *n)
{
	struct pollfd *pfd = NULL;
	struct conn **who = NULL, *c, *next;
	size_t cap = 0, k, i;
	int timeout;

	while (!stop) {
		k = 0;
		for (c = n->conns; c; c = c->next)
			k++;
		if (k + 3 > cap) {
			cap = (k + 3) * 2;
			free(pfd);
			free(who);
			pfd = calloc(cap, sizeof(*pfd));
			who = calloc(cap, sizeof(*who));
			if (!pfd || !who) {
				nmm_log("out of memory");
				break;
			}
		}
		/* out of descriptors: stop accepting for a second, not spin */
		pfd[0] = (struct pollfd){ .fd = n->listen_paused ? -1 : n->listen_fd,
					  .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = n->admin_paused ? -1 : n->admin_fd,
					  .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = -1 };
		timeout = 1000;
		if (n->up_on) {
			int64_t wait = akmc_wake(&n->up) - akmc_now_ms();

			pfd[2].fd = akmc_poll_fd(&n->up, &pfd[2].events);
			timeout = wait < 0 ? 0 : wait < timeout ? (int)wait : timeout;
		}
		k = 3;
		for (c = n->conns; c; c = c->next) {
			/* a closing connection is not read: what it sends is dropped */
			pfd[k] = (struct pollfd){ .fd = c->fd,
						  .events = c->state == CS_CLOSING ? 0 : POLLIN };
			if (akmp_pending(&c->out))
				pfd[k].events |= POLLOUT;
			who[k++] = c;
		}
		if (poll(pfd, k, timeout) < 0 && errno != EINTR) {
			nmm_log("poll: %s", strerror(errno));
			break;
		}
		if (n->up_on && pfd[2].fd >= 0)
			akmc_io(&n->up, pfd[2].revents);
		if (n->up_on)
			akmc_timer(&n->up);
		for (i = 3; i < k; i++) {
			c = who[i];
			if ((pfd[i].revents & POLLOUT) && akmp_flush(c->fd, &c->out) < 0)
				c->dead = true;
			if (!c->dead && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
				int ret = c->kind == CONN_NODE ? peer_input(n, c) : admin_input(n, c);

				if (ret < 0) {
					c->state = CS_CLOSING;
					c->dead = true;
				}
			}
		}
		if (pfd[0].revents & POLLIN)
			peer_accept(n);
		if (pfd[1].revents & POLLIN)
			admin_accept(n);
		tick(n);
		for (c = n->conns; c; c = next) {
			next = c->next;
			if (c->dead || (c->state == CS_CLOSING && !akmp_pending(&c->out)))
				conn_close(n, c);
		}
	}
	free(pfd);
	free(who);
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fputs("Usage: akm-nmmd --id NODE_ID --listen ADDR[:PORT] [--state DIR] [--tpm] "
	      "[--foreground]\n"
	      "                [--config FILE]\n"
	      "  --id N          this NMM's node id (1 to 2^31 - 1), fixed for its store\n"
	      "  --listen A[:P]  address and TCP port for node agents (port 4790);\n"
	      "                  IPv6 as [ADDR]:PORT\n"
	      "  --state DIR     store, master key and admin.sock (" NMM_STATE_DIR ")\n"
	      "  --tpm           keep the master key sealed to the TPM 2.0 (TPM2TOOLS_TCTI)\n"
	      "  --foreground    do not detach; log to stderr\n"
	      "  --config FILE   id, listen, state, tpm as KEY = VALUE lines\n"
	      "                  (" NMM_CONFIG " if it exists; flags override it)\n"
	      "  --version       print the version\n"
	      "  --no-kernel     tests only: store and admin socket, no node can connect\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "listen", required_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 's' },
		{ "tpm", no_argument, NULL, 't' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "no-kernel", no_argument, NULL, 'K' },
		{ "config", required_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option file_opts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "listen", required_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 's' },
		{ "tpm", no_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	static struct akm_args args;	/* optarg points into it */
	struct nmm n = { .state_dir = NMM_STATE_DIR, .listen_fd = -1, .admin_fd = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	bool foreground = false, have_listen = false, no_kernel = false;
	struct rlimit rl;
	char *state_dir;
	int64_t stored;
	int opt, err, must;
	const char *conf;
	char msg[512];

	conf = akm_config_path(argc, argv, NMM_CONFIG, &must);
	if (akm_config_args(conf, must, file_opts, argc, argv, &args, msg, sizeof(msg))) {
		fprintf(stderr, "akm-nmmd: %s\n", msg);
		return 2;
	}
	while ((opt = getopt_long(args.argc, args.argv, "i:l:s:tfh", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (akm_parse_id(optarg, &n.id) || n.id >= 0x80000000u) {
				fprintf(stderr, "akm-nmmd: invalid --id '%s'\n", optarg);
				return 2;
			}
			break;
		case 'l':
			if (parse_listen(&n, optarg)) {
				fprintf(stderr, "akm-nmmd: invalid --listen '%s'\n", optarg);
				return 2;
			}
			have_listen = true;
			break;
		case 's':
			n.state_dir = optarg;
			break;
		case 't':
			n.tpm = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 'K':
			no_kernel = true;
			break;
		case 'C':
			if (strcmp(optarg, conf)) {
				fprintf(stderr, "akm-nmmd: give --config once, spelled in full\n");
				return 2;
			}
			break;
		case 'V':
			printf("akm-nmmd " AKM_VERSION "\n");
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < args.argc) {
		usage(stderr);
		return 2;
	}
	if (!n.id || !have_listen) {
		fprintf(stderr, "akm-nmmd: no %s: set '%s' in %s or give --%s\n",
			!n.id ? "node id" : "address to listen on", !n.id ? "id = N" : "listen = ADDR",
			conf, !n.id ? "id" : "listen");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "akm-nmmd: libsodium failed to initialize\n");
		return 1;
	}
	/* a descriptor for every node's session: up to the kernel's credentials */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	state_dir = akm_daemon_start("akm-nmmd", n.state_dir, "nmmd.log", foreground, &journal);
	if (!state_dir)
		return 1;
	n.state_dir = state_dir;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* the store first: a master key is made only for a store without secrets */
	err = store_open(&n);
	if (!err && !store_meta_get(&n, "nmm_id", &stored) && stored != n.id) {
		nmm_log("this store belongs to NMM %lld, not %u", (long long)stored, n.id);
		err = -EINVAL;
	}
	if (!err)
		err = master_load(&n);
	if (!err)
		err = store_meta_set(&n, "nmm_id", n.id);
	if (!err && !no_kernel) {
		err = akm_open(&n.nl);
		if (err)
			nmm_log("%s", err == -AKM_ENOFAMILY ? AKM_NOFAMILY_MSG :
				"cannot open the netlink socket");
	}
	if (!err)
		err = kern_sync(&n);
	if (!err)
		uplink_start(&n);
	if (!err && (err = open_listener(&n)))
		nmm_log("cannot listen on port %u: %s", n.port, strerror(-err));
	if (!err && (err = open_admin(&n)))
		nmm_log("cannot open %s/admin.sock: %s", n.state_dir, strerror(-err));
	if (!err) {
		char buf[AKM_ADDRSTRLEN];

		nmm_log("NMM %u listening on %s port %u, state %s, master key %s", n.id,
			addr_str(&n.listen_addr, buf, sizeof(buf)), n.port, n.state_dir,
			n.tpm ? "sealed to the TPM" : "in master.key");
		sd_notifyf(0, "READY=1\nSTATUS=NMM %u listening on %s port %u", n.id,
			   addr_str(&n.listen_addr, buf, sizeof(buf)), n.port);
		rekey_start(&n);
		loop(&n);
		sd_notify(0, "STOPPING=1");
		nmm_log("stopping");
	}
	uplink_stop(&n, false);
	while (n.conns)
		conn_close(&n, n.conns);
	while (n.nodes) {
		struct nodest *s = n.nodes;

		n.nodes = s->next;
		free(s->jumps);
		free(s->fresh);
		free(s);
	}
	nmm_events_release(&n, false);
	if (n.listen_fd >= 0)
		close(n.listen_fd);
	if (n.admin_fd >= 0) {
		char path[4096];

		close(n.admin_fd);
		snprintf(path, sizeof(path), "%s/admin.sock", n.state_dir);
		unlink(path);
	}
	free(n.pending);
	free(n.synced);
	free(n.behind);
	akm_close(n.nl);
	store_close(&n);
	akm_master_free(&n.master);
	free(state_dir);
	akm_config_free(&args);
	return err ? 1 : 0;
}
