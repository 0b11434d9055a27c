// A program outside meshwork that uses the installed client library:
// submits one noop task to the node named in argv[1] and prints its result.
#include <cstdio>

#include "tools/client/mesh_client.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer tcp://host:port\n");
    return 2;
  }
  mesh::MeshClient client({argv[1]});
  mesh::TaskSpec task;
  task.id = "packaged-client-1";
  task.handler = "noop";
  task.payload = "hello from an installed client";
  auto submitted = client.submit({task});
  if (!submitted.ok()) {
    std::fprintf(stderr, "submit: %s\n", submitted.status().message().c_str());
    return 1;
  }
  auto waited = client.wait(mesh::WaitRequest{{task.id}, false, 60000});
  if (!waited.ok() || waited.value().records.size() != 1) {
    std::fprintf(stderr, "wait failed\n");
    return 1;
  }
  std::printf("%s %s\n", mesh::state_name(waited.value().records[0].state), waited.value().records[0].result.c_str());
  return 0;
}
