# WeaveIt for nginx.  `make run` and `make test` are the two commands;
# both install missing Debian packages first (scripts/deps.sh).

# The build tree and the sanitizer flags it is built with: build/ and none,
# but build/asan and ASan + UBSan for `make test-asan` (mk/asan.mk).
WEAVEIT_OUT      := build
WEAVEIT_SANITIZE :=

MODULE  := $(WEAVEIT_OUT)/nginx/ngx_http_weaveit_module.so
SOURCES := config debian/changelog conf/schema.sql conf/www/index.html \
           ngx_http_weaveit_module.c $(wildcard src/*.c src/*.h)

.PHONY: all module run stop test browser bench deb deb-test clean

all: module core

include mk/core.mk
include mk/http.mk
include mk/fuzz.mk
include mk/asan.mk

module: $(MODULE)

$(MODULE): $(SOURCES)
	WEAVEIT_OUT=$(WEAVEIT_OUT) WEAVEIT_SANITIZE='$(WEAVEIT_SANITIZE)' \
	    scripts/build-module.sh

run:
	@scripts/deps.sh build run
	@$(MAKE) -s all
	@scripts/weaveit-local.sh start

stop:
	@scripts/weaveit-local.sh stop

# The last playwright-core that runs on Debian 12's Node.js 18.
PLAYWRIGHT := playwright-core@1.61.1

test: browser
	@scripts/deps.sh build run test
	@$(MAKE) -s all fuzz-build
	prove -j2 -r t/

browser:
	@scripts/deps.sh test
	@npm install --prefix build/browser --no-audit --no-fund --silent \
	    $(PLAYWRIGHT)

bench:
	@scripts/deps.sh build run test bench
	@$(MAKE) -s all
	@for b in bench/generate bench/stream bench/jobs bench/store; do \
	    if [ -x $$b ]; then $$b || exit 1; fi; \
	done

# build/deb/libnginx-mod-http-weaveit_<version>_<arch>.deb, lintian-clean
deb:
	@scripts/deps.sh build deb
	@scripts/deb.sh > /dev/null

# installs, runs and purges the package on this machine: root only (CI)
deb-test:
	@scripts/deb-test.sh

clean:
	rm -rf build
