#include "session.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace camreg::http::detail {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

Session::Session(tcp::socket&& socket, Shared& shared)
    : stream_(std::move(socket)),
      shared_(shared),
      write_watch_(stream_.get_executor()),
      heartbeat_(stream_.get_executor()) {
  ++shared_.connections;
}

Session::~Session() {
  --shared_.connections;
}

void Session::run() {
  net::dispatch(stream_.get_executor(),
                beast::bind_front_handler(&Session::do_read, shared_from_this()));
}

void Session::close_if_idle() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->reading_) self->stream_.cancel();
    if (self->events_) self->end_stream();
  });
}

void Session::do_read() {
  if (shared_.draining) return close();
  const auto& options = shared_.ctx.options;
  request_ = {}; // an error answer must not be shaped by the previous request (HEAD)
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(options.header_limit));
  parser_->body_limit(options.body_limit);
  stream_.expires_after(options.read_timeout);
  reading_ = true;
  bhttp::async_read(stream_, buffer_, *parser_,
                    beast::bind_front_handler(&Session::on_read, shared_from_this()));
}

void Session::on_read(beast::error_code ec, std::size_t) {
  reading_ = false;
  if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
      ec == net::error::operation_aborted) {
    return close();
  }
  const auto& options = shared_.ctx.options;
  const auto refuse = [&](bhttp::status status, std::string_view code, std::string detail) {
    auto reply = error_reply(status, code, detail, 11);
    decorate(reply, {}, options.cors_origins);
    send(std::move(reply), true);
  };
  if (ec == bhttp::error::header_limit) {
    return refuse(
        bhttp::status::request_header_fields_too_large, "header_too_large",
        "request line and headers exceed " + std::to_string(options.header_limit) + " bytes");
  }
  if (ec == bhttp::error::body_limit) {
    return refuse(bhttp::status::payload_too_large, "body_too_large",
                  "request body exceeds " + std::to_string(options.body_limit) + " bytes");
  }
  if (ec) {
    if (buffer_.size() == 0 && !parser_->got_some()) return close();
    return refuse(bhttp::status::bad_request, "bad_request",
                  "malformed HTTP request: " + ec.message());
  }
  request_ = parser_->release();
  const bool close_after = !request_.keep_alive();
  // The answer may come from the view's thread: back onto this connection's strand.
  shared_.handle(request_, [self = shared_from_this(), close_after](Reply reply) {
    net::post(self->stream_.get_executor(),
              [self, reply = std::move(reply), close_after]() mutable {
                const bool close_conn = close_after || reply.close;
                self->send(std::move(reply), close_conn);
              });
  });
}

void Session::send(Reply reply, bool close_after) {
  reply_ = std::move(reply);
  if (reply_->stream) return start_stream();
  auto& res = reply_->res;
  const bool close_conn = close_after || shared_.draining;
  res.keep_alive(!close_conn);
  auto source = std::move(reply_->source);
  const auto size = source ? source->size() : res.body().size();
  if (request_.method() == bhttp::verb::head) {
    res.body() = {};
    res.content_length(size);
    source.reset();
  } else if (res.result() == bhttp::status::not_modified ||
             res.result() == bhttp::status::no_content) {
    res.body() = {};
    source.reset();
  } else {
    res.content_length(size);
  }
  close_after_write_ = close_conn;
  serializer_.emplace(res);
  // The deadline follows progress, not the whole body: a client reading a large list
  // slowly but steadily is served, one that stops reading is cut (watch_write).
  stream_.expires_never();
  wrote_ = false;
  unsent_ = -1;
  watch_write();
  if (!source) return do_write();
  source_ = std::move(source);
  bhttp::async_write_header(stream_, *serializer_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->wrote_ = true;
                              self->serializer_.reset();
                              if (ec) return self->written(ec);
                              self->write_piece();
                            });
}

void Session::write_piece() {
  std::string_view piece;
  try {
    piece = source_->next();
  } catch (const std::exception& e) { // an inflate that failed: the header is out, so the
    if (shared_.ctx.log) {            // connection is cut short, never the io thread
      shared_.ctx.log(LogLevel::error, "http",
                      std::string("a streamed answer failed, connection closed: ") + e.what());
    }
    return written(make_error_code(boost::system::errc::io_error));
  }
  if (piece.empty()) return written({});
  net::async_write(stream_, net::buffer(piece.data(), piece.size()),
                   beast::bind_front_handler(&Session::on_piece, shared_from_this()));
}

void Session::on_piece(beast::error_code ec, std::size_t) {
  wrote_ = true;
  if (ec) return written(ec);
  write_piece();
}

void Session::do_write() {
  bhttp::async_write_some(stream_, *serializer_,
                          beast::bind_front_handler(&Session::on_write, shared_from_this()));
}

void Session::watch_write() {
  write_watch_.expires_after(shared_.ctx.options.read_timeout);
  write_watch_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || !self->writing()) return;
    // A write completes only once the kernel frees a good part of a send buffer that
    // may hold megabytes; the queue shrinking is progress too.
    int unsent = -1;
    (void)ioctl(self->stream_.socket().native_handle(), SIOCOUTQ, &unsent);
    if (self->wrote_ || unsent != self->unsent_) {
      self->wrote_ = false;
      self->unsent_ = unsent;
      return self->watch_write();
    }
    beast::error_code ignored;
    self->stream_.socket().cancel(ignored); // the write fails: on_write closes
  });
}

void Session::on_write(beast::error_code ec, std::size_t) {
  wrote_ = true;
  if (!ec && !serializer_->is_done()) return do_write();
  written(ec);
}

void Session::written(beast::error_code ec) {
  write_watch_.cancel();
  serializer_.reset();
  source_.reset();
  reply_.reset();
  if (ec || close_after_write_) return close();
  do_read();
}

void Session::close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.socket().close(ec);
}

void Session::start_stream() {
  events_ = std::move(reply_->stream);
  // HTTP/1.0 has no chunks: its body runs until the connection closes.
  chunked_ = request_.version() >= 11;
  if (chunked_)
    reply_->res.chunked(true);
  else
    reply_->res.keep_alive(false);
  serializer_.emplace(reply_->res);
  stream_.expires_never();
  wrote_ = false;
  unsent_ = -1;
  watch_write();
  bhttp::async_write_header(stream_, *serializer_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->wrote_ = true;
                              self->write_watch_.cancel();
                              self->serializer_.reset();
                              self->reply_.reset();
                              if (ec) return self->finish_stream();
                              if (self->ending_) return self->write_last();
                              self->events_->on_wake([weak = std::weak_ptr<Session>(self)] {
                                if (auto s = weak.lock()) {
                                  net::post(s->stream_.get_executor(), [s] { s->pump(); });
                                }
                              });
                              self->heartbeat();
                              self->watch_peer();
                              self->pump();
                            });
}

void Session::pump() {
  if (!events_ || ending_) return;
  // A reader cut for falling behind is cut now, not after the write it is stuck in.
  const bool cut = writing() && events_->ended() == EventHub::End::overflow;
  if (writing() && !cut) return;
  auto batch = events_->take();
  if (batch.end == EventHub::End::overflow) {
    if (shared_.ctx.log) {
      shared_.ctx.log(LogLevel::warn, "events",
                      "a client fell behind the events for over " +
                          std::to_string(shared_.ctx.options.read_timeout.count()) +
                          " ms: disconnected (it may resume)");
    }
    return finish_stream(); // its socket is full: no last chunk would get through
  }
  if (batch.end != EventHub::End::none) return end_stream();
  if (batch.events.empty()) return;
  std::string text;
  for (const auto& e : batch.events)
    append_sse(text, *e);
  write_chunk(std::move(text));
}

void Session::write_chunk(std::string text) {
  chunk_ = std::move(text);
  chunk_writing_ = true;
  wrote_ = false;
  unsent_ = -1;
  watch_write();
  if (!chunked_) {
    return net::async_write(stream_, net::buffer(chunk_),
                            beast::bind_front_handler(&Session::on_chunk, shared_from_this()));
  }
  net::async_write(stream_, bhttp::make_chunk(net::buffer(chunk_)),
                   beast::bind_front_handler(&Session::on_chunk, shared_from_this()));
}

void Session::write_last() {
  if (!chunked_) return finish_stream();
  chunk_writing_ = true;
  last_written_ = true;
  net::async_write(stream_, bhttp::make_chunk_last(),
                   beast::bind_front_handler(&Session::on_chunk, shared_from_this()));
}

void Session::on_chunk(beast::error_code ec, std::size_t) {
  wrote_ = true;
  chunk_writing_ = false;
  write_watch_.cancel();
  std::string().swap(chunk_); // a large backlog's buffer is not kept for the heartbeats
  if (ec || last_written_) return finish_stream();
  if (ending_) return write_last();
  pump();
}

void Session::end_stream() {
  if (ending_) return;
  ending_ = true;
  if (events_) events_->cancel();
  if (!writing()) write_last();
}

void Session::finish_stream() {
  ending_ = true;
  heartbeat_.cancel();
  events_.reset();
  close();
}

void Session::heartbeat() {
  heartbeat_.expires_after(shared_.ctx.options.sse_heartbeat);
  heartbeat_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || !self->events_ || self->ending_) return;
    if (!self->writing()) self->write_chunk(": keep-alive\n\n");
    self->heartbeat();
  });
}

void Session::watch_peer() {
  stream_.async_read_some(net::buffer(peer_byte_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) return self->finish_stream();
                            self->watch_peer();
                          });
}

} // namespace camreg::http::detail
