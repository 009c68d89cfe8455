# libFuzzer harnesses (t/fuzz/fuzz_*.c) of the plain-buffer HTTP rules,
# built with clang, AddressSanitizer and UBSan against the headers of the
# nginx the module is built for, like t/unit/test_http.c (mk/http.mk).
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

.PHONY: fuzz fuzz-build

fuzz-build: $(WEAVEIT_FUZZERS)

build/fuzz/fuzz_%: t/fuzz/fuzz_%.c t/fuzz/fuzz.h \
                   src/ngx_http_weaveit_rules.c src/ngx_http_weaveit.h \
                   $(MODULE)
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -fno-omit-frame-pointer \
	    -Wall -Wno-unused-parameter -Wno-unused-function -Werror \
	    $(WEAVEIT_HTTP_UNIT_INCS) -It/fuzz $< \
	    src/ngx_http_weaveit_rules.c $(WEAVEIT_FUZZ_EXTRA_$*) -luuid -o $@

# what a harness needs beyond the rules: sources and libraries
WEAVEIT_FUZZ_EXTRA_conninfo := src/ngx_http_weaveit_conninfo.c -lpq
build/fuzz/fuzz_conninfo: src/ngx_http_weaveit_conninfo.c

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
