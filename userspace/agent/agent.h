/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * akm-agent: the node agent of Documentation/protocol.md. It imports the
 * provisioning credential (a bundle file, optionally sealed to the TPM),
 * then keeps a connection to the NMM and programs its own kernel through the
 * akm netlink family.
 *
 * The credential is only ever in this process's memory during an import.
 * The daemon never reads it: when the kernel lost it (fresh boot) a child
 * process reads it back from the TPM or the state file, installs it into
 * the kernel and exits. Group keys reach the daemon only wrapped.
 */
#ifndef AKM_AGENT_H
#define AKM_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "libakm.h"
#include "proto.h"

#define AGENT_STATE_DIR		"/var/lib/akm/agent"
#define AGENT_CONFIG		"/etc/akm/agent.conf"
#define AGENT_UNIT		"akm-agent.service"
#define AGENT_PROV_NAME		"provisioning"

/* STATE/agent.conf: what the import learnt from the bundle. */
struct agent_conf {
	uint32_t node_id;
	uint32_t nmm_id;
	struct akm_addr nmm_addr;
	uint16_t nmm_port;
	uint64_t created;
	bool tpm;			/* STATE/cred.tpm, else STATE/cred */
};

/* STATE/run.status: what the running daemon last did, for 'status'. */
struct agent_status {
	long pid;
	char state[16];			/* backoff, connecting, handshake, session */
	char conn[16];			/* bootstrap, session */
	uint32_t epoch;			/* provisioning session epoch */
	int64_t since;			/* state entered, seconds since 1970 */
	int64_t last_contact;		/* last message from the NMM, 0: none */
	uint64_t connects, sessions, configs, events;
	char error[160];		/* last failure */
};

/* state.c */
int state_path(char *buf, size_t len, const char *dir, const char *name);
int state_mkdir(const char *dir);
int file_read(const char *path, void *buf, size_t max, size_t *len);
int conf_load(const char *dir, struct agent_conf *c, char *msg, size_t msglen);
int conf_save(const char *dir, const struct agent_conf *c);
int cred_load(const char *dir, const struct agent_conf *c, uint8_t *cred,
	      char *msg, size_t msglen);
int status_save(const char *dir, const struct agent_status *st);
int status_load(const char *dir, struct agent_status *st);

/* kern.c: the node's kernel. Functions return 0 or a negative errno. */
uint32_t kern_prov_asr(const struct agent_conf *c);
int kern_cred_present(struct akm_sock *s, const struct agent_conf *c);
int kern_cred_reinstall(const char *dir, const struct agent_conf *c);
int kern_node_id(struct akm_sock *s, const struct agent_conf *c);
int kern_bootstrap(struct akm_sock *s, const struct agent_conf *c);
int kern_session(struct akm_sock *s, const struct agent_conf *c, uint32_t epoch);
uint32_t kern_session_last(struct akm_sock *s, const struct agent_conf *c);
int kern_asr_config(struct akm_sock *s, const struct agent_conf *c,
		    const struct akmp_asr_config *cfg, uint32_t *last);
int kern_activate(struct akm_sock *s, const struct agent_conf *c, uint32_t asr, uint32_t epoch);
int kern_leave(struct akm_sock *s, const struct agent_conf *c, uint32_t asr);
int kern_heartbeats(struct akm_sock *s, struct akmp_outq *q);

/* run.c */
int agent_run(const char *dir);

/* main.c: logging, and SIGHUP's re-read of the configuration file */
extern int agent_verbose;
bool agent_reload(void);
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void agent_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* AKM_AGENT_H */
