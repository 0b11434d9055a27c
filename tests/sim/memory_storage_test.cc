// The simulator's in-memory storage keeps what a synced write returned from
// and loses, in a crash, what was written without sync since.
#include "node/sim/memory_storage.h"

#include <doctest/doctest.h>

#include <string>

namespace mesh {
namespace {

std::string dump(MemoryStorage& storage, std::string_view prefix = "") {
  std::string out;
  REQUIRE(storage.scan(prefix, [&](std::string_view k, std::string_view v) {
    out += std::string(k) + "=" + std::string(v) + " ";
  }).ok());
  return out;
}

TEST_CASE("memory storage: batches apply in order; a crash loses only what was not synced") {
  MemoryStorage storage;
  WriteBatch first;
  first.put("a/1", "x");
  first.put("a/2", "y");
  first.put("a/3", "z");
  first.put("b/1", "w");
  REQUIRE(storage.write(first, /*sync=*/true).ok());
  WriteBatch second;
  second.erase_range("a/1", "a/3");  // a/1 and a/2, not a/3
  second.put("a/2", "again");        // after the range delete: kept
  second.erase("b/1");
  REQUIRE(storage.write(second, /*sync=*/false).ok());
  CHECK(dump(storage) == "a/2=again a/3=z ");
  CHECK(dump(storage, "b/").empty());

  storage.crash();
  CHECK(dump(storage) == "a/1=x a/2=y a/3=z b/1=w ");

  // A synced write makes the unsynced ones before it durable too.
  REQUIRE(storage.write(second, /*sync=*/false).ok());
  WriteBatch third;
  third.put("c/1", "v");
  REQUIRE(storage.write(third, /*sync=*/true).ok());
  storage.crash();
  CHECK(dump(storage) == "a/2=again a/3=z c/1=v ");
}

}  // namespace
}  // namespace mesh
