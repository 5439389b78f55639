// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Unit tests of the agent's state files (agent_unit, with the bundle tests). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "../agent/agent.h"
#include "tap.h"

/* Text from the NMM cannot add or replace lines of run.status. */
static void test_status(void)
{
	char dir[] = "/tmp/akm-agent-XXXXXX", path[64];
	struct agent_status st = {
		.pid = 42, .state = "backoff", .conn = "bootstrap", .epoch = 7, .connects = 3,
	}, got;

	if (!ok(mkdtemp(dir), "status: temporary directory"))
		return;
	snprintf(st.error, sizeof(st.error),
		 "NMM says: a\nstate session\npid 1\r\tb\x7f\x1b[2Jc\xc3\xa9");
	is_int(status_save(dir, &st), 0, "status: saved");
	is_int(status_load(dir, &got), 0, "status: loaded");
	is_str(got.state, "backoff", "status: a newline in the error adds no line (state)");
	is_int(got.pid, 42, "status: a newline in the error adds no line (pid)");
	is_str(got.error, "NMM says: a state session pid 1  b  [2Jc\xc3\xa9",
	       "status: control characters (and DEL) in the error are spaces, UTF-8 stays");
	is_str(st.error, "NMM says: a\nstate session\npid 1\r\tb\x7f\x1b[2Jc\xc3\xa9",
	       "status: the caller's text is not changed");
	snprintf(path, sizeof(path), "%s/run.status", dir);
	unlink(path);
	rmdir(dir);
}

void test_agent(void)
{
	test_status();
}
