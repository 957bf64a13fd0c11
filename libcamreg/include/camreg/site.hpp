#pragma once

#include <string>
#include <string_view>

namespace camreg {

// A site is one MediaMTX server, synced by a sync-worker of its own (DESIGN.md "Sites").
inline constexpr std::string_view default_site = "default";

// 1-64 characters of [A-Za-z0-9_-].
bool valid_site_name(std::string_view name) noexcept;
// That rule, as error messages state it.
inline constexpr std::string_view site_name_rule = "1-64 characters of letters, digits, '_' or '-'";

// The separator of a site's device keys. MediaMTX has never allowed '@' in a path name
// (upstream internal/conf/path.go, every version), nor does a site name hold one.
inline constexpr char site_separator = '@';

// A device is (site, path name). Its key is the path name in the default site (the
// seed's contract: existing deployments keep their keys) and "<site>@<path name>" in any
// other: distinct pairs never share a key, and the key of a pair never changes.
std::string device_key_for(std::string_view site, std::string_view path_name);

} // namespace camreg
