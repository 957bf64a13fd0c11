#include "listen_address.hpp"

#include "camreg/http/metrics_listener.hpp"

#include <charconv>
#include <string>

namespace camreg::http::detail {

Result<boost::asio::ip::tcp::endpoint> parse_listen_address(std::string_view listen) {
  const auto where = "listen address \"" + std::string(listen) + "\": ";
  const auto colon = listen.rfind(':');
  if (colon == std::string_view::npos)
    return fail(ErrorKind::invalid_argument, where + "expected host:port");
  auto host = listen.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  const auto port_text = listen.substr(colon + 1);
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
    return fail(ErrorKind::invalid_argument, where + "bad port");
  boost::system::error_code ec;
  const auto address =
      boost::asio::ip::make_address(host.empty() ? "0.0.0.0" : std::string(host), ec);
  if (ec) return fail(ErrorKind::invalid_argument, where + "host must be an IP address");
  return boost::asio::ip::tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

} // namespace camreg::http::detail

namespace camreg::http {

Result<void> check_listen_address(std::string_view listen) {
  if (auto endpoint = detail::parse_listen_address(listen); !endpoint) return endpoint.error();
  return {};
}

} // namespace camreg::http
