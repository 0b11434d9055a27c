// Running meshd as a systemd service: the notification protocol, and the
// shipped unit (Type=notify, the drain-friendly kill mode, no restart loop
// on a bad config, hardening scored by systemd-analyze).
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "node/runtime/service_notify.h"

namespace mesh {
namespace {

// A bound unix datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& name) : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(name.size() < sizeof address.sun_path);
    std::memcpy(address.sun_path, name.data(), name.size());
    if (name[0] == '@') address.sun_path[0] = '\0';
    auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0);
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
  }
  std::string receive() {
    char buffer[256];
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  }

 private:
  int fd_;
};

TEST_CASE("service: notifications reach the socket systemd names, by path or in the abstract namespace") {
  auto dir = std::filesystem::temp_directory_path() / ("meshwork-notify-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    NotifySocket socket((dir / "notify").string());
    CHECK(notify_service("READY=1"));
    CHECK(socket.receive() == "READY=1");
  }
  {
    NotifySocket socket("@meshwork-notify-" + std::to_string(::getpid()));
    CHECK(notify_service("STOPPING=1"));
    CHECK(socket.receive() == "STOPPING=1");
  }
  std::filesystem::remove_all(dir);
  ::setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1);
  CHECK_FALSE(notify_service("READY=1"));
  ::unsetenv("NOTIFY_SOCKET");
  CHECK(notify_service("READY=1"));  // not under systemd: nothing to do
}

std::string unit_text() {
  std::ifstream in(MESH_SOURCE_DIR "/configs/meshd.service");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_CASE("service: the unit notifies, drains, and does not restart on a bad config or store") {
  std::string unit = unit_text();
  REQUIRE(!unit.empty());
  CHECK(unit.find("\nType=notify\n") != std::string::npos);
  CHECK(unit.find("\nKillMode=mixed\n") != std::string::npos);
  CHECK(unit.find("\nRestartPreventExitStatus=2 3\n") != std::string::npos);  // kExitBadConfig, kExitStartFailed
  CHECK(unit.find("\nStateDirectory=meshwork\n") != std::string::npos);
}

TEST_CASE("service: systemd-analyze scores the unit's exposure under 4") {
  if (std::system("command -v systemd-analyze >/dev/null 2>&1") != 0) {
    MESSAGE("systemd-analyze is not installed: exposure not scored");
    return;
  }
  // --threshold is in tenths: 40 is an exposure of 4.0.
  int status = std::system("systemd-analyze security --offline=true --threshold=40 --no-pager " MESH_SOURCE_DIR
                           "/configs/meshd.service");
  CHECK(status == 0);
}

}  // namespace
}  // namespace mesh
