#!/usr/bin/env bash
# The layering rules, checked on every #include (run by ctest as `layering`):
#   protocol/      wire types and codec: includes only protocol/
#   node/env/      the core's interfaces to time, randomness and storage
#   node/core/     the sans-IO state machines: protocol/, node/env/, node/core/;
#                  no sockets, threads, clocks, files or logging
#   node/io/       storage over RocksDB: may add node/core/ and node/io/
#   node/sim/      the simulator: may add node/io/ and tools/testkit/, never node/runtime/
#   node/runtime/  the driver: anything but node/sim/ and tools/
#   tools/client/  the client library: protocol/, the shared ZeroMQ options and CURVE key files only
# Prints every breach and exits 1 if there is one.
set -uo pipefail
cd "$(dirname "$0")/.."

breaches=0
# check DIR ALLOWED_QUOTED_PREFIXES FORBIDDEN_SYSTEM_PATTERN
check() {
  local dir=$1 allowed=$2 forbidden=$3
  while IFS= read -r line; do
    local file=${line%%:*} header=${line#*#include }
    if [[ $header == \"* ]]; then
      local path=${header//\"/}
      local ok=0
      for prefix in $allowed; do [[ $path == "$prefix"* ]] && ok=1; done
      if ((!ok)); then
        echo "$file: includes $path; $dir may include only: $allowed"
        breaches=$((breaches + 1))
      fi
    elif [[ -n $forbidden && $header =~ $forbidden ]]; then
      echo "$file: includes $header, which $dir must not use"
      breaches=$((breaches + 1))
    fi
  done < <(grep -H '^#include' "$dir"/*.h "$dir"/*.cc 2>/dev/null)
}

no_io='^<(thread|mutex|condition_variable|future|chrono|ctime|random|fstream|iostream|unistd\.h|sys/|zmq|boost/|asio|rocksdb/|spdlog/)'
check protocol "protocol/" "$no_io"
check node/env "protocol/ node/env/" "$no_io"
check node/core "protocol/ node/env/ node/core/" "$no_io"
check node/io "protocol/ node/env/ node/core/ node/io/" ""
check node/sim "protocol/ node/env/ node/core/ node/io/ node/sim/ tools/testkit/" '^<(thread|zmq|boost/|asio|rocksdb/|spdlog/)'
check node/runtime "protocol/ node/env/ node/core/ node/io/ node/runtime/" ""
check tools/client "protocol/ tools/client/ node/runtime/zmq_options.h node/runtime/curve_keys.h" ""

if ((breaches > 0)); then
  echo "$breaches layering breaches"
  exit 1
fi
echo "layering: every include follows the rules"
