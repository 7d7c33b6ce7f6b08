# The default runbook (runbook/runbook.yaml) compiled into the binary: a
# generated C file in $(GEN) holding the YAML text as bytes, joined to the
# library through GEN_SRCS (like the protobuf code), so that skewscope finds
# its runbook without the source tree. `--runbook FILE` loads a user's file
# on top of it at run time. Written to a temporary name and moved into
# place, so builds sharing $(GEN) never see half a file.
RUNBOOK_YAML := runbook/runbook.yaml
RUNBOOK_GEN_C := $(GEN)/runbook_default.c
GEN_SRCS += $(RUNBOOK_GEN_C)

$(RUNBOOK_GEN_C): $(RUNBOOK_YAML) mk/runbook.mk
	@mkdir -p $(@D)
	@tmp=$$(mktemp $(GEN)/.runbook.XXXXXX) && \
	  { echo '/* generated from $(RUNBOOK_YAML) by mk/runbook.mk: do not edit */'; \
	    echo '#include <stddef.h>'; \
	    echo 'const char imb_runbook_embedded[] = {'; \
	    od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	    echo '0x00};'; \
	    echo "const size_t imb_runbook_embedded_len = $$(wc -c < $<);"; \
	  } > $$tmp && mv -f $$tmp $@; st=$$?; rm -f $$tmp; exit $$st
	@echo "embed $<"

.SECONDARY: $(RUNBOOK_GEN_C)
