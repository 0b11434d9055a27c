// The page meshd serves at / on its HTTP address: a live view of the ring,
// partitions with leaders and lag, load per member, steals over time and
// dead letters, drawn in the browser from the /v1/ JSON endpoints.
// The source is node/runtime/web/index.html, embedded at build time.
#pragma once

#include <string_view>

namespace mesh {

std::string_view web_page_html();

}  // namespace mesh
