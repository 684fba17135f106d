# hubfn: a C host for Lua trigger functions on Azure Event Hubs (Kafka endpoint).
#   make            build build/hubfn
#   make run        install missing packages, build, host functions/ on the embedded broker
#   make test       install missing packages, build, run every test; ends with "N passed, N failed"
#   make SANITIZE=1 build with ASan+UBSan into build-san/
#   make test-container  build the Dockerfile's image without Docker and run it (tests/container/)
#   make V=1        show full command lines

CC      ?= cc
PKGS    := lua5.4 rdkafka libcjson libcurl
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wstrict-prototypes \
           -Wno-missing-field-initializers -Wno-format-truncation -pthread -MMD -MP \
           -Iruntime -Ibindings -Icommands $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
           -DHF_VERSION='"$(VERSION)"'
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lm -lpthread
VERSION := 0.1.0

ifeq ($(SANITIZE),1)
BUILD   ?= build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD   ?= build
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC  := $(wildcard runtime/*.c) $(wildcard bindings/*.c) $(wildcard commands/*.c)
LIB_SRC  := $(filter-out commands/main.c,$(LIB_SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.SECONDARY:
.PHONY: all deps run test test-unit test-integration clean fuzz bench tests
all: $(BUILD)/hubfn

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libhubfn.a: $(LIB_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/hubfn: $(BUILD)/commands/main.o $(BUILD)/libhubfn.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libhubfn.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(BUILD)/libhubfn.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Debian packages the build, the tests and `make run` need.
DEB_PKGS := gcc make pkg-config liblua5.4-dev librdkafka-dev libcjson-dev libev-dev libcurl4-openssl-dev kcat \
            openssl maven default-jre-headless python3 procps default-jdk-headless curl \
            nghttp2-proxy
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: deps
	@$(MAKE) --no-print-directory all
	@HUBFN=$(BUILD)/hubfn tools/demo.sh

# Benchmarks (not part of `make test`): tests/bench/*.sh, each comparing against a peer.
# consume.sh: hubfn (full-body and activation handlers) against kcat, kafkajs, confluent-kafka
# (Python), franz-go (Go) and franz-go + gopher-lua on the mock broker, then again (with
# latency) on the harness's Apache Kafka broker; the peers install themselves into
# ~/.cache/hubfn on first use (npm, PyPI, Go module proxy: needs node, python3 and go).
# http.sh: a hub -> HTTP forwarding function (the "http" output binding) against kafkajs +
# undici doing the same work at the same concurrency, against nginx on loopback (Debian's
# nginx-light, installed when missing), on the mock broker.
# decode.sh: `hubfn run` against a naive decoder.
# concurrency.sh: one partition's events against a 50 ms API with partitionConcurrency 1,
# 4, 16 and 64: the speed-up against the default of 1, on the mock and the Kafka broker.
# state.sh: an eventHubState binding restoring 100,000 keys, against kcat reading the same
# partitions to their end, on the mock broker and on the Kafka broker (a compacted hub).
bench: deps
	@$(MAKE) --no-print-directory all tests
	@HUBFN=$(BUILD)/hubfn tests/bench/consume.sh
	@HUBFN=$(BUILD)/hubfn tests/bench/consume.sh --kafka
	@HUBFN=$(BUILD)/hubfn tests/bench/http.sh
	@HUBFN=$(BUILD)/hubfn tests/bench/decode.sh
	@HUBFN=$(BUILD)/hubfn tests/bench/concurrency.sh
	@HUBFN=$(BUILD)/hubfn tests/bench/concurrency.sh --kafka
	@HUBFN=$(BUILD)/hubfn tests/bench/state.sh
	@HUBFN=$(BUILD)/hubfn tests/bench/state.sh --kafka

tests: $(BUILD)/hubfn $(UNIT_BIN) $(TOOL_BIN)

test: deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) tests/run.sh

# The container image: builds the Dockerfile's stages into a debootstrapped chroot (no Docker
# engine needed; the Debian base is cached in ~/.cache/hubfn) and runs the image there.
.PHONY: test-container
test-container: deps
	@tests/container/run.sh

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(BUILD)/commands/main.d $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%.d)
