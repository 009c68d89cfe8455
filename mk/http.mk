# Unit test of the HTTP rules (src/ngx_http_weaveit_rules.c), built against
# the headers of the nginx the module is built for and linked with that one
# file alone: the rules need no nginx runtime.
#
# Included by the top Makefile after mk/core.mk; its explicit rule wins over
# core.mk's pattern rule for $(WEAVEIT_OUT)/unit/*.

WEAVEIT_NGX_SRC := $(WEAVEIT_OUT)/nginx-src/src
WEAVEIT_HTTP_UNIT_INCS := \
    $(addprefix -I$(WEAVEIT_NGX_SRC)/,core event event/modules os/unix \
                                      http http/modules http/v2) \
    -I$(WEAVEIT_OUT)/nginx -Isrc -It/unit \
    $(shell pkg-config --cflags-only-I libpq jansson)

$(WEAVEIT_OUT)/unit/test_http: t/unit/test_http.c \
                              src/ngx_http_weaveit_rules.c \
                              src/ngx_http_weaveit.h t/unit/tap.h $(MODULE)
	@mkdir -p $(@D)
	$(CC) -W -Wall -Wpointer-arith -Wno-unused-parameter \
	    -Wno-missing-field-initializers -Werror -g -O1 $(WEAVEIT_SANITIZE) \
	    $(WEAVEIT_HTTP_UNIT_INCS) t/unit/test_http.c \
	    src/ngx_http_weaveit_rules.c -luuid -o $@
