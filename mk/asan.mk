# The sanitizer build: the module, the core, the generator and the unit
# tests with AddressSanitizer and UBSan in build/asan, the normal build
# untouched; `make test-asan` runs the whole suite against it
# (scripts/prove-asan.sh, t/lib/WeaveIt/Test.pm).
#
# Debian ships nginx's headers but not its sources, so /usr/sbin/nginx
# itself is not instrumented: the tests start it with LD_PRELOAD of the
# libasan the module links (the ASan runtime must be the first library of
# the process to replace malloc), which also checks nginx's own heap.
# -fno-sanitize-recover makes every UBSan report fatal, like ASan's.

WEAVEIT_ASAN_FLAGS := -fsanitize=address,undefined \
                      -fno-sanitize-recover=all -fno-omit-frame-pointer \
                      -U_FORTIFY_SOURCE

.PHONY: asan test-asan

asan:
	@$(MAKE) -s WEAVEIT_OUT=build/asan \
	    WEAVEIT_SANITIZE='$(WEAVEIT_ASAN_FLAGS)' all

test-asan: browser
	@scripts/deps.sh build run test
	@$(MAKE) -s asan
	scripts/prove-asan.sh -j2 -r t/
