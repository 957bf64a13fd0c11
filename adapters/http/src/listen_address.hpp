#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string_view>

#include "camreg/result.hpp"

namespace camreg::http::detail {

// "host:port" (IPv6 in brackets, an empty host: every IPv4 address, port 0: any free
// one) as an endpoint; invalid_argument naming the address and what is wrong.
Result<boost::asio::ip::tcp::endpoint> parse_listen_address(std::string_view listen);

} // namespace camreg::http::detail
