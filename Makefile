# SPDX-License-Identifier: GPL-2.0
# AKM for Linux: top-level build.
#
#   make                 module (for $(KVER)) + userspace + tests
#   make module          build/$(KVER)/akm.ko        (KVER=... to choose)
#   make modules         akm.ko for every kernel of scripts/kernels.sh
#   make module-check    W=1 C=1 (sparse) build for every kernel; any warning fails
#   make checkpatch      checkpatch.pl --strict on kernel/ and uapi/
#   make userspace       make -C userspace
#   make tests           make -C tests
#   make check           scripts/check.sh: everything, tests in a VM per kernel
#   make debug-kernel    build (or reuse) the KASAN/UBSAN/kmemleak/lockdep VM
#                        kernel (scripts/debug-kernel.sh, Documentation/testing.md)
#   make check-debug     the whole VM test suite on it + a kmemleak scan;
#                        any kernel report fails
#   make deb             Debian packages into build/deb/ (scripts/deb.sh), lintian-clean
#   make fuzz            libFuzzer on the replay window and the wire parse (FUZZ_RUNS=1000000)
#   make clean
#
# The module is built out of tree from a private copy of Kbuild, kernel/ and
# uapi/ in build/$(KVER)/src, so two kernels never share object files.

SHELL := /bin/bash
TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(TOP)/build

KERNELS := $(shell $(TOP)/scripts/kernels.sh)
running := $(shell uname -r)
headers = $(firstword $(wildcard /lib/modules/$(1)/build/Makefile /usr/src/linux-headers-$(1)/Makefile))
KVER ?= $(if $(call headers,$(running)),$(running),$(lastword $(KERNELS)))
KDIR_OF = $(patsubst %/Makefile,%,$(call headers,$(1)))

CHECKPATCH ?= /var/cache/akm/linux-source-6.1/scripts/checkpatch.pl
MODULE_SRC := Kbuild VERSION kernel uapi
KERNEL_FILES = $(sort $(wildcard $(TOP)/kernel/*.[ch] $(TOP)/uapi/*/*.h $(TOP)/uapi/*.h))
# Copy the module sources into $(1); only changed files are rewritten (and
# so rebuilt), files deleted from the tree disappear from the copy.
sync_src = mkdir -p $(1) && cd $(TOP) && rsync -r --checksum --delete \
	--exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.[co]' --exclude='.*.cmd' \
	--exclude='.*.d' --exclude=Module.symvers --exclude=modules.order \
	$(MODULE_SRC) $(1)/

deb:
	$(TOP)/scripts/deb.sh

.PHONY: deb all module modules module-check checkpatch userspace tests check debug-kernel check-debug fuzz clean help FORCE

all: module userspace tests

help:
	@sed -n '2,/^$$/s/^# \{0,1\}//p' $(TOP)/Makefile

module:
	@if [ -z "$(KVER)" ] || [ -z "$(call KDIR_OF,$(KVER))" ]; then \
		echo "make: no kernel headers for '$(KVER)' (run scripts/install-deps.sh)" >&2; exit 1; fi
	@$(call sync_src,$(BUILD)/$(KVER)/src)
	$(MAKE) -C $(call KDIR_OF,$(KVER)) M=$(BUILD)/$(KVER)/src modules
	@cp -p $(BUILD)/$(KVER)/src/akm.ko $(BUILD)/$(KVER)/akm.ko
	@echo "  MODULE  build/$(KVER)/akm.ko"

modules:
	@[ -n "$(KERNELS)" ] || { echo "make: no supported kernel installed (scripts/kernels.sh)" >&2; exit 1; }
	@set -e; for k in $(KERNELS); do $(MAKE) --no-print-directory module KVER=$$k; done

# A fresh tree per run, so every file is compiled (and checked by sparse).
module-check:
	@[ -n "$(KERNELS)" ] || { echo "make: no supported kernel installed (scripts/kernels.sh)" >&2; exit 1; }
	@set -o pipefail; fail=0; for k in $(KERNELS); do \
		d=$(BUILD)/check/$$k; rm -rf $$d; $(call sync_src,$$d); \
		echo "  CHECK   $$k (W=1 C=1)"; \
		f=0; $(MAKE) -C $$(dirname $$(ls /lib/modules/$$k/build/Makefile /usr/src/linux-headers-$$k/Makefile 2>/dev/null | head -n1)) \
			M=$$d W=1 C=1 modules >$$d.log 2>&1 || f=1; \
		if grep -vE '^  [][A-Z0-9_]+ ' $$d.log | grep -iE 'warning|error'; then f=1; fi; \
		[ $$f = 0 ] || { fail=1; echo "module-check: $$k: FAILED (full log: build/check/$$k.log)" >&2; }; \
	done; \
	[ $$fail = 0 ] && echo "module-check: ok ($(KERNELS))"

checkpatch:
	@[ -x "$(CHECKPATCH)" ] || [ -f "$(CHECKPATCH)" ] || { echo "make: no $(CHECKPATCH) (run scripts/install-deps.sh)" >&2; exit 1; }
	@files="$(KERNEL_FILES:$(TOP)/%=%)"; [ -n "$$files" ] || { echo "checkpatch: no files"; exit 1; }; \
	cd $(TOP) && out=$$(perl $(CHECKPATCH) --strict --no-tree --no-summary --show-types --terse -f $$files 2>&1); \
	if echo "$$out" | grep -E '(ERROR|WARNING|CHECK):' ; then \
		echo "checkpatch: FAILED" >&2; exit 1; fi; \
	echo "checkpatch: ok ($$(echo $$files | wc -w) files)"

userspace:
	$(MAKE) -C $(TOP)/userspace

tests:
	$(MAKE) -C $(TOP)/tests

check:
	$(TOP)/scripts/check.sh

debug-kernel:
	$(TOP)/scripts/debug-kernel.sh build

check-debug: userspace tests
	$(TOP)/scripts/debug-kernel.sh run

FUZZ_RUNS ?= 1000000
fuzz:
	$(TOP)/tests/fuzz/run.sh -n $(FUZZ_RUNS)

clean:
	rm -rf $(BUILD)
	-[ ! -f $(TOP)/userspace/Makefile ] || $(MAKE) -C $(TOP)/userspace clean
	-[ ! -f $(TOP)/tests/Makefile ] || $(MAKE) -C $(TOP)/tests clean
