// The catalogue of metric families a node exports: for each internal
// counter, gauge or histogram name, its Prometheus family name (base units,
// `_total` only on counters), its help text, and the label it becomes when
// several internal names share one family (rejection codes, task states).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mesh {

enum class MetricType { kCounter, kGauge, kHistogram };

struct MetricFamily {
  MetricType type;
  std::string_view source;  // internal name; a prefix when `label` is set and `label_value` empty
  std::string_view name;    // family name after "meshwork_"
  std::string_view help;
  std::string_view label = {};        // the label that tells this family's samples apart
  std::string_view label_value = {};  // fixed value; empty: the rest of the internal name after `source`
  double scale = 1;                   // internal unit to base unit (ms -> seconds: 0.001)
  std::span<const double> buckets = {};  // histogram upper bounds in base units (+Inf implied)
};

// The family an internal name belongs to, or nullptr when it is not catalogued.
// Sets *label_value to the sample's label value when the family has a label.
const MetricFamily* find_metric_family(MetricType type, std::string_view internal_name, std::string* label_value);

// Every catalogued family, for tests.
std::span<const MetricFamily> metric_catalogue();

}  // namespace mesh
