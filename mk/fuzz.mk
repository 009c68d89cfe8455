# libFuzzer harnesses (t/fuzz/fuzz_*.c), built with clang, AddressSanitizer
# and UBSan:
#
#   of the module's plain-buffer code, against the headers of the nginx
#   the module is built for, like t/unit/test_http.c (mk/http.mk): the
#   HTTP rules (range, conditions, disposition, ids, signature), the
#   conninfo completed with a fake resolver (conninfo) and the JSON bodies of the POSTs (body, with the core's text check as its
#   oracle);
#
#   of the generation core (render: UTF-8 -> layout -> painted frames),
#   from objects of its own in build/fuzz/core, instrumented for the
#   fuzzer, beside the normal build/core.
#
#   make fuzz                 each harness for FUZZ_SECONDS (default 60)
#                             from its seeds in t/fuzz/NAME/; new inputs go
#                             to build/fuzz/corpus/NAME, a crash's input to
#                             build/fuzz/NAME-crash-*: copy it into
#                             t/fuzz/NAME/ as a regression input
#
# `make test` builds them; t/fuzz.t replays every seed and fuzzes a few
# seconds each.

WEAVEIT_FUZZERS := $(patsubst t/fuzz/%.c,build/fuzz/%,\
                     $(wildcard t/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60

WEAVEIT_FUZZ_CC := clang -g -O1 -fno-sanitize-recover=all \
                   -fno-omit-frame-pointer
WEAVEIT_FUZZ_SANITIZE := address,undefined
WEAVEIT_FUZZ_HDRS := t/fuzz/fuzz.h t/fuzz/fuzz_assert.h
WEAVEIT_FUZZ_CORE = $(patsubst %,build/fuzz/core/weaveit_%.o,$(1))

.PHONY: fuzz fuzz-build

fuzz-build: $(WEAVEIT_FUZZERS)

build/fuzz/fuzz_%: t/fuzz/fuzz_%.c $(WEAVEIT_FUZZ_HDRS) \
                   src/ngx_http_weaveit_rules.c src/ngx_http_weaveit.h \
                   $(MODULE)
	@mkdir -p $(@D)
	$(WEAVEIT_FUZZ_CC) -fsanitize=fuzzer,$(WEAVEIT_FUZZ_SANITIZE) \
	    -Wall -Wno-unused-parameter -Wno-unused-function -Werror \
	    $(WEAVEIT_HTTP_UNIT_INCS) -It/fuzz $< \
	    src/ngx_http_weaveit_rules.c $(WEAVEIT_FUZZ_EXTRA_$*) -luuid -o $@

# what a harness needs beyond the rules: sources and libraries
WEAVEIT_FUZZ_EXTRA_conninfo := src/ngx_http_weaveit_conninfo.c -lpq
build/fuzz/fuzz_conninfo: src/ngx_http_weaveit_conninfo.c

build/fuzz/fuzz_body: t/fuzz/fuzz_body.c $(WEAVEIT_FUZZ_HDRS) \
                      src/ngx_http_weaveit_input.c \
                      src/ngx_http_weaveit_rules.c src/ngx_http_weaveit.h \
                      $(call WEAVEIT_FUZZ_CORE,text utf8 params) $(MODULE)
	@mkdir -p $(@D)
	$(WEAVEIT_FUZZ_CC) -fsanitize=fuzzer,$(WEAVEIT_FUZZ_SANITIZE) \
	    -Wall -Wno-unused-parameter -Wno-unused-function -Werror \
	    $(WEAVEIT_HTTP_UNIT_INCS) -It/fuzz $< \
	    src/ngx_http_weaveit_input.c src/ngx_http_weaveit_rules.c \
	    $(call WEAVEIT_FUZZ_CORE,text utf8 params) -ljansson -luuid -o $@

build/fuzz/fuzz_render: t/fuzz/fuzz_render.c t/fuzz/fuzz_assert.h \
                        $(call WEAVEIT_FUZZ_CORE,text utf8 font render params)
	@mkdir -p $(@D)
	$(WEAVEIT_FUZZ_CC) -fsanitize=fuzzer,$(WEAVEIT_FUZZ_SANITIZE) \
	    -std=gnu11 -Wall -Wextra -Werror -Isrc -It/fuzz $< \
	    $(call WEAVEIT_FUZZ_CORE,text utf8 font render params) \
	    $(shell pkg-config --libs $(WEAVEIT_TEXT_PKGS)) -lm -pthread -o $@

build/fuzz/core/%.o: src/%.c $(WEAVEIT_CORE_HDRS) mk/fuzz.mk
	@mkdir -p $(@D)
	$(WEAVEIT_FUZZ_CC) -fsanitize=fuzzer-no-link,$(WEAVEIT_FUZZ_SANITIZE) \
	    -std=gnu11 -Wall -Wextra -Werror \
	    $(shell pkg-config --cflags $(WEAVEIT_TEXT_PKGS)) -c $< -o $@

fuzz: fuzz-build
	@for f in $(WEAVEIT_FUZZERS); do \
	    name=$${f#build/fuzz/fuzz_}; \
	    mkdir -p build/fuzz/corpus/$$name; \
	    echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
	    $$f build/fuzz/corpus/$$name t/fuzz/$$name \
	        -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	        -artifact_prefix=build/fuzz/$$name- -print_final_stats=1 \
	        2> build/fuzz/$$name.log \
	    || { tail -40 build/fuzz/$$name.log; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^Done' \
	        build/fuzz/$$name.log; \
	done
