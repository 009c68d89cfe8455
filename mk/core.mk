# Generation core (plain C, no nginx): library, CLI and unit-test binaries.
#
# Included by the top Makefile; every name here starts with WEAVEIT_CORE_
# or lives under $(WEAVEIT_OUT) so it cannot clash with the module's rules.

# the text stack (weaveit_font.c, weaveit_render.c), also for mk/fuzz.mk
WEAVEIT_TEXT_PKGS := freetype2 harfbuzz fribidi fontconfig libunibreak
WEAVEIT_CORE_PKGS := libavcodec libavformat libavutil libswresample \
                     $(WEAVEIT_TEXT_PKGS) espeak-ng libcurl jansson

WEAVEIT_CORE_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -g -pthread \
                       $(WEAVEIT_SANITIZE) \
                       $(shell pkg-config --cflags $(WEAVEIT_CORE_PKGS))
# GNU Source-highlight is C++: its shim is the core's one C++ file, and
# whatever links the core takes libstdc++ too
WEAVEIT_HIGHLIGHT_LIBS := $(shell pkg-config --libs source-highlight) \
                          -lstdc++
WEAVEIT_CORE_CXXFLAGS := -std=gnu++17 -Wall -Wextra -Werror -O2 -g -pthread \
                         $(WEAVEIT_SANITIZE) \
                         $(shell pkg-config --cflags source-highlight)

WEAVEIT_CORE_LIBS := $(shell pkg-config --libs $(WEAVEIT_CORE_PKGS)) \
                     $(WEAVEIT_HIGHLIGHT_LIBS) -lm -pthread

WEAVEIT_CORE_HDRS := src/weaveit.h src/weaveit_internal.h \
                     src/weaveit_highlight.h
# every src/weaveit_*.c but the CLI and its sandbox (libseccomp); of these
# the nginx module links weaveit_params.c and weaveit_utf8.c (config)
WEAVEIT_CORE_CLI_SRCS := src/weaveit_cli.c src/weaveit_sandbox.c
WEAVEIT_CORE_SRCS := $(filter-out $(WEAVEIT_CORE_CLI_SRCS),\
                       $(wildcard src/weaveit_*.c))
WEAVEIT_CORE_OBJS := $(WEAVEIT_CORE_SRCS:src/%.c=$(WEAVEIT_OUT)/core/%.o) \
                     $(WEAVEIT_OUT)/core/weaveit_highlight.o
WEAVEIT_CORE_LIB  := $(WEAVEIT_OUT)/libweaveit.a
WEAVEIT_CORE_RENDER := $(WEAVEIT_OUT)/weaveit-render
WEAVEIT_CORE_UNIT := $(patsubst t/unit/%.c,$(WEAVEIT_OUT)/unit/%,\
                       $(wildcard t/unit/*.c))

.PHONY: core

core: $(WEAVEIT_CORE_LIB) $(WEAVEIT_CORE_RENDER) $(WEAVEIT_CORE_UNIT)

$(WEAVEIT_OUT)/core/%.o: src/%.c $(WEAVEIT_CORE_HDRS) mk/core.mk
	@mkdir -p $(@D)
	$(CC) $(WEAVEIT_CORE_CFLAGS) -c $< -o $@

$(WEAVEIT_OUT)/core/weaveit_highlight.o: src/weaveit_highlight.cpp \
                                src/weaveit_highlight.h mk/core.mk
	@mkdir -p $(@D)
	$(CXX) $(WEAVEIT_CORE_CXXFLAGS) -c $< -o $@

$(WEAVEIT_CORE_LIB): $(WEAVEIT_CORE_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

WEAVEIT_SANDBOX_CFLAGS := $(shell pkg-config --cflags libseccomp)
WEAVEIT_SANDBOX_LIBS := $(shell pkg-config --libs libseccomp)
WEAVEIT_SANDBOX_OBJ := $(WEAVEIT_OUT)/core/weaveit_sandbox.o

$(WEAVEIT_SANDBOX_OBJ): src/weaveit_sandbox.c src/weaveit_sandbox.h \
                        $(WEAVEIT_CORE_HDRS) mk/core.mk
	@mkdir -p $(@D)
	$(CC) $(WEAVEIT_CORE_CFLAGS) $(WEAVEIT_SANDBOX_CFLAGS) -c $< -o $@

$(WEAVEIT_CORE_RENDER): src/weaveit_cli.c $(WEAVEIT_SANDBOX_OBJ) \
                        $(WEAVEIT_CORE_LIB) src/weaveit.h src/weaveit_sandbox.h
	@mkdir -p $(@D)
	$(CC) $(WEAVEIT_CORE_CFLAGS) $< $(WEAVEIT_SANDBOX_OBJ) \
	    $(WEAVEIT_CORE_LIB) $(WEAVEIT_CORE_LIBS) $(WEAVEIT_SANDBOX_LIBS) \
	    -o $@

$(WEAVEIT_OUT)/unit/%: t/unit/%.c t/unit/tap.h $(WEAVEIT_CORE_LIB) \
                       $(WEAVEIT_CORE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(WEAVEIT_CORE_CFLAGS) -Isrc -It/unit $< $(WEAVEIT_CORE_LIB) \
	    $(WEAVEIT_CORE_LIBS) -o $@
