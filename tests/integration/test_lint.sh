#!/usr/bin/env bash
# make lint inside make check: format, banned calls, TLS verification.
exec "$(dirname "$0")/../../build-aux/lint.sh"
