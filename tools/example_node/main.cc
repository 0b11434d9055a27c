// An example of a node binary with handlers of its own: the same meshd,
// plus "wordcount" (counts the words of its payload) and "upper" (upper-cases
// it). Build it like this, run it with meshd's flags:
//   build/example_node --data-dir /tmp/n1 --listen tcp://127.0.0.1:7700
//   build/meshctl submit --handler wordcount --payload "to be or not" --wait
#include <cctype>
#include <sstream>

#include "node/runtime/node_main.h"

int main(int argc, char** argv) {
  mesh::HandlerRegistry handlers;
  handlers.add("wordcount", [](const mesh::TaskContext& task) {
    std::istringstream words{std::string(task.payload)};
    size_t count = 0;
    for (std::string word; words >> word;) ++count;
    return mesh::HandlerResult::success(std::to_string(count));
  });
  handlers.add("upper", [](const mesh::TaskContext& task) {
    std::string out(task.payload);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return mesh::HandlerResult::success(out);
  });
  return mesh::run_meshd(argc, argv, std::move(handlers));
}
