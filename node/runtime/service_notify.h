// The systemd notification protocol (sd_notify(3)) without libsystemd: a
// datagram to the unix socket named by $NOTIFY_SOCKET, which systemd sets
// for Type=notify services. Does nothing when the variable is unset.
#pragma once

#include <string_view>

namespace mesh {

// Sends `state` (e.g. "READY=1", "STOPPING=1", "STATUS=..."); false when
// $NOTIFY_SOCKET is set but the datagram could not be sent.
bool notify_service(std::string_view state);

}  // namespace mesh
