/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Daemon configuration files: "KEY = VALUE" lines whose keys are the
 * daemon's long options, read before its command line so that flags given
 * there override the file (Documentation/packaging.md).
 */
#ifndef AKM_CONFIG_H
#define AKM_CONFIG_H

#include <getopt.h>
#include <stddef.h>

struct akm_args {
	int argc;
	char **argv;	/* argv[0], the file's options, then the command line's */
};

/*
 * The file named by --config in argv, else def (which may be absent:
 * *must_exist tells whether a missing file is an error). Only the full
 * spelling counts: the caller refuses an abbreviation that getopt_long()
 * takes for --config (its value differs from the path returned).
 */
const char *akm_config_path(int argc, char **argv, const char *def, int *must_exist);

/*
 * Build args from path and argv (a missing, optional file adds nothing);
 * the file may set the options of opts.
 * 0 on success, to be freed with akm_config_free(); else -errno with a
 * message "FILE:LINE: ..." in err.
 */
int akm_config_args(const char *path, int must_exist, const struct option *opts,
		    int argc, char **argv, struct akm_args *args, char *err, size_t errlen);
void akm_config_free(struct akm_args *args);

#endif
