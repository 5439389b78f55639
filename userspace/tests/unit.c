// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Unit tests of libakm and akmctl's printing; TAP lines for run.sh. */
#include "tap.h"

int tap_failed;

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_util();
	test_words();
	test_config();
	test_names();
	test_out();
	test_parse();
	test_print();
	return tap_failed ? 1 : 0;
}
