#pragma once

#include <optional>
#include <string>
#include <utility>

namespace camreg::testing {

// promtool check metrics on a Prometheus text exposition: its exit status and what it
// said ("" when the text is clean). name keeps the scratch files of parallel tests apart.
std::pair<int, std::string> promtool_check(const std::string& text, const std::string& name);

// The value of the sample series (a name with its labels, as written) in an exposition,
// or nothing when the series is absent.
std::optional<double> metric_value(const std::string& text, const std::string& series);

// A gzip stream inflated (a failed test when it is not one).
std::string gunzip(const std::string& data);

} // namespace camreg::testing
