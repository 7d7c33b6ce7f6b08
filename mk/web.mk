# The pages' assets (web/: the live page of `skewscope serve`, the template
# of `skewscope report`, their one drawing script and style sheet) compiled
# into the binary: a generated C file in $(GEN) with each file's bytes
# (NUL-terminated) and a table of names, joined to the library through
# GEN_SRCS like the runbook (mk/runbook.mk); output/report_html.c looks
# them up. Nothing is fetched at build or run time. Written to a temporary
# name and moved into place, so builds sharing $(GEN) never see half a
# file. The list of files is part of the file itself (WEB_LIST), so adding
# or removing one regenerates it.
WEB_SRCS := $(sort $(wildcard web/*.html web/*.js web/*.css))
WEB_GEN_C := $(GEN)/web_assets.c
WEB_LIST := $(GEN)/.web_assets.list
GEN_SRCS += $(WEB_GEN_C)

# rewritten only when the list of files changes
$(shell mkdir -p $(GEN) && echo '$(WEB_SRCS)' | cmp -s - $(WEB_LIST) || \
        echo '$(WEB_SRCS)' > $(WEB_LIST))

$(WEB_GEN_C): $(WEB_SRCS) $(WEB_LIST) mk/web.mk
	@mkdir -p $(@D)
	@tmp=$$(mktemp $(GEN)/.web.XXXXXX) && \
	  { echo '/* generated from web/ by mk/web.mk: do not edit */'; \
	    echo '#include "output/report_html.h"'; \
	    i=0; for f in $(WEB_SRCS); do \
	      echo "static const unsigned char web_$$i[] = {"; \
	      od -An -v -tx1 $$f | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	      echo '0x00};'; i=$$((i + 1)); done; \
	    echo 'const struct report_html_asset report_html_assets[] = {'; \
	    i=0; for f in $(WEB_SRCS); do \
	      echo "    {\"$$(basename $$f)\", web_$$i, $$(wc -c < $$f)},"; \
	      i=$$((i + 1)); done; \
	    echo '    {0, 0, 0}};'; \
	    echo 'const size_t report_html_nassets = $(words $(WEB_SRCS));'; \
	  } > $$tmp && mv -f $$tmp $@; st=$$?; rm -f $$tmp; exit $$st
	@echo "embed $(WEB_SRCS)"

.SECONDARY: $(WEB_GEN_C)
