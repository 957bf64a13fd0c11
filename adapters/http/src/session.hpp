#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "event_stream.hpp"
#include "handle_request.hpp"

namespace camreg::http::detail {

// Answers one request as handle_request does (done called exactly once, never blocks).
using RequestHandler = std::function<void(const Request&, Responder)>;

// What the listener and its sessions share.
struct Shared {
  Context ctx;
  RequestHandler handle; // handle_request over ctx, unless the server serves something else
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> draining{false};
};

// One connection: reads requests under the header and body limits and the read timeout,
// answers each through handle_request (the write deadline restarts whenever the client
// takes more bytes, so a slow but steady reader is served), keeps the connection alive between them
// until the client, a timeout or the drain ends it. Runs on a strand of its own.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(boost::asio::ip::tcp::socket&& socket, Shared& shared);
  ~Session();

  void run();
  // Closes the connection if it is waiting for a request (drain).
  void close_if_idle();

 private:
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t);
  void send(Reply reply, bool close_after);
  void do_write();
  void on_write(boost::beast::error_code ec, std::size_t);
  // A body from a BodySource: the header, then each piece as the client takes the last.
  void write_piece();
  void on_piece(boost::beast::error_code ec, std::size_t);
  void written(boost::beast::error_code ec);
  void watch_write();
  void close();
  // GET /api/events: the header, then each batch of events (or a heartbeat comment) as a
  // chunk, until the stream, the client or the drain ends it.
  void start_stream();
  void pump();
  void write_chunk(std::string text);
  void on_chunk(boost::beast::error_code ec, std::size_t);
  void end_stream();
  void write_last();
  void finish_stream();
  void heartbeat();
  void watch_peer();
  bool writing() const { return serializer_.has_value() || source_ || chunk_writing_; }

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  Shared& shared_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Request request_;
  std::optional<Reply> reply_;
  std::optional<bhttp::response_serializer<bhttp::span_body<const char>>> serializer_;
  std::shared_ptr<BodySource> source_; // set while its body is written
  bool close_after_write_ = false;
  boost::asio::steady_timer write_watch_; // cuts a write that made no progress in a period
  bool wrote_ = false;                    // a write completed since the last look
  int unsent_ = -1;                       // the socket's send queue at the last look
  bool reading_ = false;
  std::shared_ptr<EventStream> events_; // set while streaming
  std::string chunk_;                   // the chunk being written
  bool chunk_writing_ = false;
  bool chunked_ = true;       // HTTP/1.1: chunks; 1.0: the body ends with the connection
  bool ending_ = false;       // no more events: the last chunk follows
  bool last_written_ = false; // the last chunk is written or being written
  boost::asio::steady_timer heartbeat_;
  char peer_byte_[64]; // what an event stream's client sends: read and dropped
};

// A server of handle alone: no registry view, presence history or dashboard (the
// metrics listener). options gives the address, limits and timeouts; threads is 1.
Result<std::unique_ptr<Server>> start_server(Options options, RequestHandler handle, LogSink log);

} // namespace camreg::http::detail
