// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * akm-agent import FILE [--code-file PATH] [--tpm] [--state DIR]
 * akm-agent run [--state DIR] [-v]
 * akm-agent status [-j|-p] [--state DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>

#include "agent.h"
#include "bundle.h"
#include "config.h"
#include "tpm.h"

int agent_verbose;
static bool journal;	/* stderr is the journal, which keeps its own time */

/* What the configuration file may set (--config). */
static const struct option file_opts[] = {
	{ "state", required_argument, NULL, 's' },
	{ "tpm", no_argument, NULL, 't' },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};
static const char *conf_path = AGENT_CONFIG;
static int conf_must, cmdline_verbose;

static void vlog(const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (!journal)
		fprintf(stderr, "%02d:%02d:%02d.%03ld akm-agent[%ld]: ", tm.tm_hour, tm.tm_min,
			tm.tm_sec, ts.tv_nsec / 1000000, (long)getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void agent_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void agent_debug(const char *fmt, ...)
{
	va_list ap;

	if (!agent_verbose)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: akm-agent import FILE [--code-file PATH] [--tpm] [--no-start] [--state DIR]\n"
		"       akm-agent run [--state DIR] [-v]\n"
		"       akm-agent status [-j | -p] [--state DIR]\n"
		"       akm-agent --version\n"
		"\n"
		"import  open a credential bundle exported by the NMM with its transfer code,\n"
		"        set this node's id, install the credential into the kernel keyring\n"
		"        and keep it for restarts: sealed to this machine's TPM 2.0 (--tpm;\n"
		"        the bundle may then be destroyed) or in DIR/cred (mode 0600).\n"
		"        The code is read from PATH (- for standard input), one line; else\n"
		"        asked for when standard input is a terminal (not echoed); else read\n"
		"        from standard input. It is never an argument. Where systemd runs\n"
		"        and " AGENT_UNIT " is installed, the import enables and\n"
		"        (re)starts it, unless --no-start, --state or --config is given.\n"
		"run     the daemon: activation, sessions with the NMM, re-keys, heartbeats\n"
		"status  what was imported, what the kernel holds, what the daemon does\n"
		"\n"
		"DIR defaults to " AGENT_STATE_DIR ". --config FILE (else " AGENT_CONFIG ",\n"
		"if it exists) sets state, tpm and verbose as KEY = VALUE lines; flags\n"
		"override it. The TPM is reached through the TCTI in $AKM_TPM_TCTI,\n"
		"$TPM2TOOLS_TCTI or $TCTI, else the tss2 default.\n");
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "akm-agent: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static const char *kmsg(struct akm_sock *s)
{
	return s && *akm_errmsg(s) ? akm_errmsg(s) : "";
}

/* The code for the bundle file (akm_code_get()); an error is said here. */
static int get_code(const char *code_file, const char *file, char code[AKM_CODE_LEN + 1])
{
	char msg[320];
	int err = akm_code_get(code_file, file, "--code-file PATH", code, msg, sizeof(msg));

	if (err)
		fail("%s", msg);
	return err;
}

/* Make the file that keeps the credential (DIR/cred or DIR/cred.tpm), as .new. */
static int cred_prepare(const char *dir, bool tpm, const uint8_t *cred, char *path,
			size_t len)
{
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	char msg[256];
	int err;

	err = state_path(path, len, dir, tpm ? "cred.tpm.new" : "cred.new");
	if (err)
		return fail("state directory name too long"), err;
	if (tpm) {
		err = akm_tpm_seal(cred, AKM_CRED_LEN, &blob, &blob_len, msg, sizeof(msg));
		if (err)
			return fail("%s", msg), err;
		err = akm_file_write(path, blob, blob_len, 0600);
		free(blob);
	} else {
		err = akm_file_write(path, cred, AKM_CRED_LEN, 0600);
	}
	if (err)
		fail("cannot write %s: %s", path, strerror(-err));
	return err;
}

/* Kernel part of the import: node id, then the credential (replacing an old one). */
static int import_kernel(const struct agent_conf *c, const uint8_t *cred)
{
	struct akm_sock *s = NULL;
	int err;

	err = akm_open(&s);
	if (err) {
		fail("%s", err == -AKM_ENOFAMILY ? AKM_NOFAMILY_MSG : strerror(-err));
		return err;
	}
	err = kern_node_id(s, c);
	if (err) {
		fail("cannot set the node id to %u: %s%s%s", c->node_id, strerror(-err),
		     *kmsg(s) ? ": " : "", kmsg(s));
		goto out;
	}
	err = akm_cred_install(s, c->nmm_id, cred);
	if (err == -EEXIST) {
		printf("replacing the credential for NMM %u already in the kernel\n", c->nmm_id);
		err = akm_cred_del(s, c->nmm_id);
		if (!err)
			err = akm_cred_install(s, c->nmm_id, cred);
	}
	if (err)
		fail("cannot install the credential into the kernel: %s%s%s", strerror(-err),
		     *kmsg(s) ? ": " : "", kmsg(s));
out:
	akm_close(s);
	return err;
}

/* mkdir -p: the parents 0755, DIR itself 0700 */
static int mkdir_parents(const char *dir)
{
	char path[4096], *p;
	size_t len;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	if (!len)
		return -ENOENT;
	for (p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return state_mkdir(path);
}

/*
 * Run by a service (cloud-init, a provisioning job ordered before the
 * agent): waiting for the agent's start job could deadlock. A login
 * session's scope, or no systemd unit at all, waits.
 */
static bool in_service(void)
{
	char *unit = NULL;
	bool svc;

	if (sd_pid_get_unit(0, &unit) < 0)
		return false;
	svc = strlen(unit) > 8 && !strcmp(unit + strlen(unit) - 8, ".service");
	free(unit);
	return svc;
}

static int systemctl(const char *verb, bool no_block)
{
	const char *block = no_block ? "--no-block" : "--quiet";
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		execl("/bin/systemctl", "systemctl", "--quiet", block, verb, AGENT_UNIT,
		      (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

/*
 * After an import: the service takes the new credential and starts at boot.
 * 0, or 3: imported, but the service did not start.
 */
static int start_service(void)
{
	static const char *const units[] = {	/* the package's, or the admin's */
		"/etc/systemd/system/" AGENT_UNIT,
		"/lib/systemd/system/" AGENT_UNIT,
		"/usr/lib/systemd/system/" AGENT_UNIT,
		"/usr/local/lib/systemd/system/" AGENT_UNIT,
	};
	char *real;
	size_t i;
	bool masked, svc;

	if (sd_booted() <= 0)
		return 0;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!access(units[i], F_OK))
			break;
	if (i == sizeof(units) / sizeof(units[0]))
		return 0;
	real = realpath(units[i], NULL);
	masked = real && !strcmp(real, "/dev/null");
	free(real);
	if (masked) {
		printf(AGENT_UNIT " is masked: not started\n");
		return 0;
	}
	svc = in_service();
	if (systemctl("enable", svc) || systemctl("restart", svc)) {
		fail("imported, but " AGENT_UNIT " did not start: see "
		     "'systemctl status " AGENT_UNIT "' and 'journalctl -u " AGENT_UNIT "'");
		return 3;
	}
	printf(AGENT_UNIT " enabled and %s\n", svc ? "starting" : "started");
	return 0;
}

static int cmd_import(const char *dir, const char *file, const char *code_file, bool tpm,
		      bool start)
{
	char msg[256], tmp[4096], path[4096], addr[AKM_ADDRSTRLEN], code[AKM_CODE_LEN + 1];
	struct agent_conf c = { .tpm = tpm };
	struct akm_bundle b;
	uint8_t *cred;
	int err;

	if (sodium_init() < 0)
		return fail("cannot initialise libsodium");
	if (get_code(code_file, file, code))
		return 1;
	cred = sodium_malloc(AKM_CRED_LEN);	/* guarded, locked, wiped on free */
	if (!cred) {
		sodium_memzero(code, sizeof(code));
		return fail("out of memory");
	}
	err = akm_bundle_import(file, code, &b, cred, msg, sizeof(msg));
	sodium_memzero(code, sizeof(code));
	if (err) {
		fail("%s: %s", file, msg);
		goto out;
	}
	if (!b.node_id || !b.nmm_id || !b.nmm_port) {
		err = fail("%s: bundle names node %u, NMM %u, port %u: not usable", file,
			   b.node_id, b.nmm_id, b.nmm_port);
		goto out;
	}
	c.node_id = b.node_id;
	c.nmm_id = b.nmm_id;
	akmp_addr_get((const uint8_t *)&b.nmm_addr, &c.nmm_addr);
	c.nmm_port = b.nmm_port;
	c.created = b.created;

	err = mkdir_parents(dir);
	if (err) {
		fail("cannot create the state directory %s: %s", dir, strerror(-err));
		goto out;
	}
	/* Storage first, kernel next, then commit the files: no half import. */
	err = cred_prepare(dir, tpm, cred, tmp, sizeof(tmp));
	if (err)
		goto out;
	err = import_kernel(&c, cred);
	if (!err)
		err = state_path(path, sizeof(path), dir, tpm ? "cred.tpm" : "cred");
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		goto out;
	}
	err = conf_save(dir, &c);
	if (err) {
		fail("cannot write %s/agent.conf: %s", dir, strerror(-err));
		goto out;
	}
	/* the other kind of copy, from an earlier import, goes */
	if (!state_path(path, sizeof(path), dir, tpm ? "cred" : "cred.tpm"))
		unlink(path);
	printf("node %u: credential for NMM %u at %s port %u installed in the kernel keyring\n",
	       c.node_id, c.nmm_id, akm_addr_str(&c.nmm_addr, addr, sizeof(addr)), c.nmm_port);
	printf(tpm ? "kept sealed to this machine's TPM in %s/cred.tpm; the bundle file may be "
		     "destroyed\n"
		   : "kept in %s/cred (root only); destroy the bundle file\n", dir);
	sodium_free(cred);
	return start ? start_service() : 0;
out:
	sodium_free(cred);
	return err ? 1 : 0;
}

static const char *key_state_name(uint8_t st)
{
	const char *n = akm_enum_name(AKM_ENUM_KEY_STATE, st);

	return n ? n : "?";
}

/* The daemon's run.status, if its pid is alive. */
static void status_daemon(struct akm_out *o, const char *dir)
{
	struct agent_status st;
	bool alive;

	if (status_load(dir, &st)) {
		akm_out_obj_open(o, "daemon");
		akm_out_str(o, "running", "daemon", "no");
		akm_out_obj_close(o);
		akm_out_text(o, "\n");
		return;
	}
	alive = st.pid > 0 && (kill(st.pid, 0) == 0 || errno == EPERM);
	akm_out_obj_open(o, "daemon");
	akm_out_str(o, "running", "daemon", alive ? "yes" : "no");
	akm_out_int(o, "pid", "pid", st.pid);
	akm_out_str(o, "state", "state", st.state);
	akm_out_str(o, "connection", "connection", st.conn);
	akm_out_uint(o, "session_epoch", "session-epoch", st.epoch);
	akm_out_int(o, "since", "since", st.since);
	akm_out_int(o, "last_contact", "last-contact", st.last_contact);
	akm_out_uint(o, "connects", "connects", st.connects);
	akm_out_uint(o, "sessions", "sessions", st.sessions);
	akm_out_uint(o, "configs", "configs", st.configs);
	akm_out_uint(o, "events", "events", st.events);
	akm_out_obj_close(o);
	akm_out_text(o, "\n");
	if (st.error[0]) {
		akm_out_str(o, "last_error", "last-error", st.error);
		akm_out_text(o, "\n");
	}
}

static void status_kernel(struct akm_out *o, const struct agent_conf *c)
{
	struct akm_asr *asrs = NULL, prov;
	struct akm_sock *s = NULL;
	struct akm_member nmm;
	struct akm_node node;
	struct akm_cred cred;
	size_t n = 0, i;
	unsigned int k;
	int err;

	err = akm_open(&s);
	akm_out_obj_open(o, "kernel");
	if (err) {
		akm_out_str(o, "error", "kernel", err == -AKM_ENOFAMILY ? AKM_NOFAMILY_MSG
									 : strerror(-err));
		akm_out_obj_close(o);
		akm_out_text(o, "\n");
		return;
	}
	if (!akm_node_get(s, &node))
		akm_out_uint(o, "node_id", "kernel node", node.node_id);
	err = akm_cred_get(s, c->nmm_id, &cred);
	akm_out_str(o, "credential", "credential", err ? "missing" : "installed");
	if (!err)
		akm_out_int(o, "credential_serial", "serial", cred.serial);
	akm_out_text(o, "\n");
	if (!akm_asr_get(s, kern_prov_asr(c), &prov) &&
	    !akm_member_get(s, prov.id, c->nmm_id, &nmm)) {
		bool session = nmm.state == AKM_MEMBER_ACTIVE;

		akm_out_str(o, "provisioning_mode", "provisioning-asr",
			    session ? "session" : "bootstrap");
		for (k = 0; k < prov.nkeys; k++)
			if (prov.keys[k].state == AKM_KEY_CURRENT)
				akm_out_uint(o, "provisioning_epoch", "epoch", prov.keys[k].epoch);
	} else {
		akm_out_str(o, "provisioning_mode", "provisioning-asr", "none");
	}
	akm_out_text(o, "\n");
	akm_out_arr_open(o, "asrs");
	if (!akm_asr_dump(s, &asrs, &n)) {
		for (i = 0; i < n; i++) {
			if (asrs[i].id == kern_prov_asr(c))
				continue;
			akm_out_obj_open(o, NULL);
			akm_out_uint(o, "id", "asr", asrs[i].id);
			akm_out_uint(o, "members", "members", asrs[i].member_count);
			akm_out_arr_open(o, "epochs");
			for (k = 0; k < asrs[i].nkeys; k++) {
				akm_out_obj_open(o, NULL);
				akm_out_uint(o, "epoch", "epoch", asrs[i].keys[k].epoch);
				akm_out_str(o, "state", NULL, key_state_name(asrs[i].keys[k].state));
				akm_out_obj_close(o);
			}
			akm_out_arr_close(o);
			akm_out_uint(o, "drop_bad_tag", "drop-bad-tag",
				     asrs[i].stats.v[AKM_STATS_A_DROP_BAD_TAG]);
			akm_out_uint(o, "drop_replay", "drop-replay",
				     asrs[i].stats.v[AKM_STATS_A_DROP_REPLAY]);
			akm_out_obj_close(o);
			akm_out_text(o, "\n");
		}
		free(asrs);
	}
	akm_out_arr_close(o);
	akm_out_obj_close(o);
	akm_close(s);
}

static int cmd_status(const char *dir, enum akm_out_mode mode)
{
	char msg[512], addr[AKM_ADDRSTRLEN];
	struct agent_conf c;
	struct akm_out o;
	int err;

	err = conf_load(dir, &c, msg, sizeof(msg));
	if (err)
		return fail("%s", msg);
	akm_out_init(&o, stdout, mode);
	akm_out_obj_open(&o, NULL);
	akm_out_uint(&o, "node_id", "node", c.node_id);
	akm_out_uint(&o, "nmm_id", "nmm", c.nmm_id);
	akm_out_str(&o, "nmm_addr", "at", akm_addr_str(&c.nmm_addr, addr, sizeof(addr)));
	akm_out_uint(&o, "nmm_port", "port", c.nmm_port);
	akm_out_str(&o, "storage", "credential-storage", c.tpm ? "tpm" : "file");
	akm_out_text(&o, "\n");
	status_daemon(&o, dir);
	status_kernel(&o, &c);
	akm_out_obj_close(&o);
	if (akm_out_json(&o))
		fputc('\n', stdout);
	return 0;
}

static const struct option opts[] = {
	{ "code", required_argument, NULL, 'c' },	/* refused: kept so that */
	{ "code-file", required_argument, NULL, 'f' },	/* it is no abbreviation */
	{ "tpm", no_argument, NULL, 't' },
	{ "state", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "pretty", no_argument, NULL, 'p' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "no-start", no_argument, NULL, 'N' },
	{ "config", required_argument, NULL, 'C' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* SIGHUP of 'run': verbose from the configuration file, unless -v was given. */
bool agent_reload(void)
{
	static char *const argv0[] = { "akm-agent", NULL };
	struct akm_args args;
	char msg[512];
	int opt, verbose = 0;

	if (akm_config_args(conf_path, conf_must, file_opts, 1, (char **)argv0, &args, msg,
			    sizeof(msg))) {
		agent_log("reload: %s", msg);
		return false;
	}
	optind = 0;
	while ((opt = getopt_long(args.argc, args.argv, "", file_opts, NULL)) != -1)
		verbose |= opt == 'v';
	akm_config_free(&args);
	agent_verbose = cmdline_verbose || verbose;
	return true;
}

static int refuse_code(void)
{
	fail("--code is refused: a code on the command line is visible to other "
	     "processes and stays in the shell's history; give it with "
	     "--code-file PATH (- for standard input) or type it at the prompt");
	return 2;
}

/* The argument of option i of argv, in place (after "=" or the next word). */
static void wipe_value(int argc, char **argv, int i, char *rest)
{
	if (*rest)
		sodium_memzero(rest, strlen(rest));
	else if (i + 1 < argc)
		sodium_memzero(argv[i + 1], strlen(argv[i + 1]));
}

/*
 * -c, --code, or what getopt would take for it or call ambiguous with it
 * (--c, --co, --cod): wipe the value off /proc/PID/cmdline, before getopt
 * can echo it in a message. The values of the other options are skipped.
 * Nonzero: refused.
 */
static int code_argument(int argc, char **argv)
{
	static const char *const valued[] = { "state", "code-file", "config" };
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		char *a = argv[i], *eq;
		size_t len, k;

		if (a[0] != '-' || !a[1])
			continue;
		if (a[1] != '-') {		/* -jc CODE, -cCODE, -s DIR */
			for (a++; *a; a++) {
				if (*a == 'c') {
					wipe_value(argc, argv, i, a + 1);
					return refuse_code();
				}
				if (*a == 's') {
					i += !a[1];
					break;
				}
			}
			continue;
		}
		a += 2;
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		if (len && len <= 4 && !strncmp(a, "code", len)) {
			wipe_value(argc, argv, i, eq ? eq + 1 : a + len);
			return refuse_code();
		}
		for (k = 0; !eq && len && k < sizeof(valued) / sizeof(valued[0]); k++)
			if (!strncmp(a, valued[k], len)) {
				i++;
				break;
			}
	}
	return 0;
}

static int run_args(struct akm_args *args, int argc, char **argv)
{
	enum akm_out_mode mode = AKM_OUT_TEXT;
	const char *dir = AGENT_STATE_DIR, *code_file = NULL, *cmd;
	int opt, seen = 0, from_file = args->argc - argc;
	bool tpm = false, start = true;

	/* GNU getopt: options may come before or after the command */
	while ((opt = getopt_long(args->argc, args->argv, "c:ts:jpvh", opts, NULL)) != -1) {
		bool cmdline = seen++ >= from_file;	/* the file's "--KEY=VALUE" come first */

		switch (opt) {
		case 'c':	/* code_argument() refused it already, but for "-jc CODE" */
			sodium_memzero(optarg, strlen(optarg));
			return refuse_code();
		case 'f':
			code_file = optarg;
			break;
		case 't':
			tpm = true;
			break;
		case 's':
			dir = optarg;
			start = start && !cmdline;	/* not the service's directory */
			break;
		case 'N':
			start = false;
			break;
		case 'C':
			if (strcmp(optarg, conf_path)) {
				fail("give --config once, spelled in full");
				return 2;
			}
			start = false;	/* the unit reads the default file */
			break;
		case 'V':
			printf("akm-agent " AKM_VERSION "\n");
			return 0;
		case 'j':
			mode = AKM_OUT_JSON;
			break;
		case 'p':
			mode = AKM_OUT_JSON_PRETTY;
			break;
		case 'v':
			agent_verbose = 1;
			cmdline_verbose |= cmdline;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc = args->argc;
	argv = args->argv;
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (!strcmp(cmd, "import")) {
		if (optind != argc - 1) {
			fail("import needs FILE, and only FILE; try 'akm-agent help'");
			return 2;
		}
		return cmd_import(dir, argv[optind], code_file, tpm, start);
	}
	if (optind != argc) {
		fail("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	journal = !strcmp(cmd, "run") && akm_stderr_is_journal();
	if (!strcmp(cmd, "run"))
		return agent_run(dir) ? 1 : 0;
	if (!strcmp(cmd, "status"))
		return cmd_status(dir, mode);
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	fail("unknown command '%s'; try 'akm-agent help'", cmd);
	return 2;
}

int main(int argc, char **argv)
{
	static struct akm_args args;	/* optarg points into it */
	char msg[512];
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!getenv("AKM_DEBUG"))	/* the TSS logs every failed probe to stderr */
		setenv("TSS2_LOG", "all+NONE", 0);
	if (code_argument(argc, argv))
		return 2;
	conf_path = akm_config_path(argc, argv, AGENT_CONFIG, &conf_must);
	if (akm_config_args(conf_path, conf_must, file_opts, argc, argv, &args, msg, sizeof(msg))) {
		fail("%s", msg);
		return 2;
	}
	ret = run_args(&args, argc, argv);
	akm_config_free(&args);
	return ret;
}
