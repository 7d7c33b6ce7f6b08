# OTLP protobuf code generation (protoc-c). The .proto files under proto/ are
# compiled into $(GEN) (build/gen, shared by build/, build-asan/ and
# build-fuzz/); the generated .c join the library through GEN_SRCS, and every
# src object waits for GEN_HDRS, so headers exist before anything includes
# them, also under make -j.
PROTOC_C ?= protoc-c
PROTO_SRCS := $(sort $(shell find proto -name '*.proto' 2>/dev/null))
PROTO_GEN_C := $(PROTO_SRCS:proto/%.proto=$(GEN)/%.pb-c.c)
PROTO_GEN_H := $(PROTO_SRCS:proto/%.proto=$(GEN)/%.pb-c.h)
GEN_SRCS += $(PROTO_GEN_C)
GEN_HDRS += $(PROTO_GEN_H)

# One protoc-c run writes both files (a grouped pattern rule). It writes into
# a private directory first and moves the results into place, so that two
# builds sharing $(GEN) (make and make SAN=1 at once) never see a half-written
# file.
$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(@D)
	@tmp=$$(mktemp -d $(GEN)/.protoc.XXXXXX) && \
	  $(PROTOC_C) --c_out=$$tmp -Iproto $< && \
	  mv -f $$tmp/$*.pb-c.h $(GEN)/$*.pb-c.h && \
	  mv -f $$tmp/$*.pb-c.c $(GEN)/$*.pb-c.c && \
	  rm -rf $$tmp; st=$$?; rm -rf $$tmp; exit $$st
	@echo "protoc-c $<"

# The generated files are reached through pattern rules; keep make from
# deleting them as intermediates.
.SECONDARY: $(PROTO_GEN_C) $(PROTO_GEN_H)
