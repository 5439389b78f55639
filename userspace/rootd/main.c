// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * akm-rootd: options, configuration, the master key and the event loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "root.h"

static int stop_signal;		/* the loop's and the reader's: atomic */
static int64_t stop_ms;
static bool journal;

int64_t root_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

int64_t root_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool root_stopping(void)
{
	int64_t none = 0;

	/* the loop's and the reader's: the first to see the signal sets it */
	if (!__atomic_load_n(&stop_signal, __ATOMIC_RELAXED))
		return false;
	if (!__atomic_load_n(&stop_ms, __ATOMIC_RELAXED))
		__atomic_compare_exchange_n(&stop_ms, &none, root_now_ms(), false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	return true;
}

int64_t root_stop_ms(void)
{
	return __atomic_load_n(&stop_ms, __ATOMIC_RELAXED);
}

void root_log(const char *fmt, ...)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	flockfile(stderr);	/* a line at a time: the reader logs too */
	if (!journal)
		fprintf(stderr, "%s akm-rootd: ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

static void on_signal(int sig)
{
	__atomic_store_n(&stop_signal, sig, __ATOMIC_RELAXED);
}

static void usage(FILE *f)
{
	fputs("Usage: akm-rootd --id N [--database CONNINFO] [--listen ADDR[:PORT]]\n"
	      "                 [--state DIR] [--foreground] [--config FILE]\n"
	      "       akm-rootd --version\n"
	      "The AKM Backend Root Server: the deployment's sites, nodes and ASRs in\n"
	      "PostgreSQL; several instances may serve one database.\n"
	      "  --id N              the root's id, 1 to 2^31 - 1; one per deployment,\n"
	      "                      the same for every instance\n"
	      "  --database CONNINFO libpq connection string (" ROOT_DATABASE ")\n"
	      "  --listen A[:P]      address and TCP port for the sites' NMMs (port 4790);\n"
	      "                      needs the akm module and CAP_NET_ADMIN\n"
	      "  --state DIR         master key and admin.sock (" ROOT_STATE_DIR ")\n"
	      "  --foreground        stay in the foreground (else detach, log to DIR/rootd.log)\n"
	      "  --config FILE       settings as KEY = VALUE lines (" ROOT_CONFIG ")\n", f);
}

/*
 * The database remembers the deployment's root id and a value sealed under
 * the master key: an instance with another id or another master key (a
 * copy from another deployment, a new key made by mistake) is refused
 * before it can seal anything the others cannot open. Only the first check
 * of an instance may write them, into a database without them: after a
 * reconnection (a failover) a database without them is the wrong one.
 */
int root_check(struct root *r)
{
	static const uint8_t zero[32];
	uint8_t sealed[AKM_SEALED_LEN(32)], out[32];
	int64_t id;
	PGresult *res;
	int err;

	id = -1;
	if (r->checked) {
		id = db_int(r, -1, "SELECT (to_regclass('meta') IS NOT NULL)::int", "");
		if (id < 0)
			return -EIO;
		id = id ? -1 : 0;	/* 0: no AKM tables at all */
	}
	if (!r->checked) {
		akm_seal(&r->master, "master-check", zero, sizeof(zero), sealed);
		if (db_exec(r, "INSERT INTO meta (k, v) VALUES ('root_id', $1) "
			    "ON CONFLICT DO NOTHING", "u", r->id) < 0 ||
		    db_exec(r, "INSERT INTO meta (k, b) VALUES ('master_check', $1) "
			    "ON CONFLICT DO NOTHING", "b", sealed, sizeof(sealed)) < 0)
			return -EIO;
	}
	/* read back: another instance may have written them first */
	if (id)
		id = db_int(r, -1, "SELECT coalesce((SELECT v FROM meta WHERE k = 'root_id'), 0)",
			    "");
	if (id < 0)
		return -EIO;
	if (!id || id != r->id) {
		snprintf(r->errmsg, sizeof(r->errmsg), "not root %u's database", r->id);
		if (!id)
			root_log("the database holds no AKM deployment (root %u's was expected): "
				 "is it the right server?", r->id);
		else
			root_log("the database belongs to root %lld, not %u", (long long)id, r->id);
		return -EINVAL;
	}
	res = db_q(r, "SELECT b FROM meta WHERE k = 'master_check'", "");
	err = res && PQntuples(res) == 1 ? db_bytes(res, 0, 0, sealed, sizeof(sealed)) : -EIO;
	PQclear(res);
	if (!err && akm_unseal(&r->master, "master-check", sealed, sizeof(sealed), out, 32))
		err = -EKEYREJECTED;
	if (err == -EKEYREJECTED)
		root_log("master key: %s/master.key does not open this database's secrets: "
			 "copy master.key from an instance that serves it", r->state_dir);
	else if (err)
		root_log("database: cannot read the master key check: %s", r->errmsg);
	if (!err)
		r->checked = true;
	return err;
}

/*
 * Without --listen nothing here needs a capability: whatever the service
 * manager gave (akm-rootd.service grants CAP_NET_ADMIN for the link) goes.
 */
static int drop_capabilities(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void loop(struct root *r)
{
	struct pollfd *pfd = NULL, *p;
	int n, na, pg, cap = 0, want;

	while (!root_stopping()) {
		/*
		 * the admin socket, its clients and the reader; the listener and
		 * every link; the database
		 */
		want = ROOT_ADMIN_MAX + 2 + link_poll_count(r) + 1;
		if (want > cap) {
			p = realloc(pfd, want * 2 * sizeof(*pfd));
			if (!p) {
				root_log("out of memory");
				break;
			}
			pfd = p;
			cap = want * 2;
		}
		na = admin_poll_fds(r, pfd, ROOT_ADMIN_MAX + 2);
		n = na + link_poll_fds(r, pfd + na, cap - 1 - na);
		pg = -1;
		if (r->pg && PQsocket(r->pg) >= 0) {
			pg = n;
			pfd[n++] = (struct pollfd){ .fd = PQsocket(r->pg), .events = POLLIN };
		}
		if (poll(pfd, n, 1000) < 0 && errno != EINTR)
			break;
		r->polled_at = root_now();
		if (pg >= 0 && pfd[pg].revents)
			db_input(r);
		admin_poll_done(r, pfd, na);
		link_poll_done(r, pfd + na, (pg >= 0 ? pg : n) - na);
		db_tick(r);
		admin_tick(r);
		link_tick(r);
		/*
		 * what the pass's statements brought: the events of its own
		 * commits (node reports, the sites' requests) and of other
		 * instances', read with an answer (the socket is not readable);
		 * the sites' sending they cause counts in this pass's budget,
		 * and the next pass has a budget of its own
		 */
		db_notifies(r);
		r->sync_from = 0;
	}
	free(pfd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "database", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option file_opts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "database", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	static struct akm_args args;	/* optarg points into it */
	struct root r = { .state_dir = ROOT_STATE_DIR, .conninfo = ROOT_DATABASE,
			  .admin_fd = -1, .listen_fd = -1, .lock_fd = -1, .pg_delay = 1, .port = AKMP_PORT,
			  .ninst = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	bool foreground = false, listen = false;
	char *state_dir, msg[512];
	const char *conf;
	int opt, err, must;

	conf = akm_config_path(argc, argv, ROOT_CONFIG, &must);
	if (akm_config_args(conf, must, file_opts, argc, argv, &args, msg, sizeof(msg))) {
		fprintf(stderr, "akm-rootd: %s\n", msg);
		return 2;
	}
	while ((opt = getopt_long(args.argc, args.argv, "i:d:l:s:fh", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (akm_parse_id(optarg, &r.id) || r.id >= 0x80000000u) {
				fprintf(stderr, "akm-rootd: invalid --id '%s'\n", optarg);
				return 2;
			}
			break;
		case 'd':
			r.conninfo = optarg;
			break;
		case 'l':
			if (akm_endpoint_parse(optarg, &r.listen_addr, &r.port)) {
				fprintf(stderr, "akm-rootd: invalid --listen '%s' (ADDR, [ADDR]:PORT "
					"or a.b.c.d:PORT)\n", optarg);
				return 2;
			}
			listen = true;
			break;
		case 's':
			r.state_dir = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'C':
			if (strcmp(optarg, conf)) {
				fprintf(stderr, "akm-rootd: give --config once, spelled in full\n");
				return 2;
			}
			break;
		case 'V':
			printf("akm-rootd " AKM_VERSION "\n");
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
	if (!r.id) {
		fprintf(stderr, "akm-rootd: no root id: set 'id = N' in %s or give --id\n", conf);
		return 2;
	}
	if (listen)	/* a descriptor per site's connection: as many as the hard limit allows */
		raise_nofile();
	if (!listen && (err = drop_capabilities())) {
		fprintf(stderr, "akm-rootd: cannot drop capabilities: %s\n", strerror(-err));
		return 1;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "akm-rootd: libsodium failed to initialize\n");
		return 1;
	}
	state_dir = akm_daemon_start("akm-rootd", r.state_dir, "rootd.log", foreground, &journal);
	if (!state_dir)
		return 1;
	r.state_dir = state_dir;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	srand(getpid() ^ time(NULL));

	/* the database first: a master key is made only for a deployment without one */
	err = db_connect(&r);
	if (err == -ECONNREFUSED)
		root_log("database: cannot connect: %s", r.errmsg);
	if (!err) {
		/* not the connection string: it may hold a password */
		r.master = (struct akm_master){
			.dir = r.state_dir,
			.store = "the database",
			.no_tpm = true,
			.log = root_log,
			.has_secrets = db_int(&r, 1, "SELECT (EXISTS (SELECT 1 FROM meta WHERE "
					      "k = 'master_check') OR EXISTS (SELECT 1 FROM sites) OR "
					      "EXISTS (SELECT 1 FROM nodes WHERE cred IS NOT NULL) OR "
					      "EXISTS (SELECT 1 FROM epochs WHERE key != ''))::int",
					      "") != 0,
		};
		err = akm_master_load(&r.master);
	}
	if (!err)
		err = root_check(&r);
	if (!err && (err = db_listen(&r)))
		root_log("database: %s", r.errmsg);
	/* the port first: a second instance in this namespace leaves the kernel alone */
	if (!err && listen && (err = link_open(&r, &r.listen_addr, r.port)))
		root_log("cannot listen for sites: %s", strerror(-err));
	if (!err && listen)
		err = kern_open(&r);
	if (!err && (err = reader_start(&r)))
		root_log("cannot start the thread of reads: %s", strerror(-err));
	if (!err && (err = admin_open(&r)))
		root_log("cannot open %s/admin.sock: %s", r.state_dir, strerror(-err));
	if (!err) {
		root_log("root %u serving, state %s", r.id, r.state_dir);
		sd_notifyf(0, "READY=1\nSTATUS=root %u serving", r.id);
		loop(&r);
		sd_notify(0, "STOPPING=1");
		root_log("stopping");
	}
	admin_close_all(&r);	/* first: a client's read is cancelled */
	reader_stop(&r);
	link_close_all(&r);
	kern_close(&r);
	db_disconnect(&r);
	akm_master_free(&r.master);
	free(state_dir);
	akm_config_free(&args);
	return err ? 1 : 0;
}
