// A write made at once, for sockets in non-blocking mode: whatever the socket takes now goes
// out, and a full send buffer is not an error. The caller sends the rest asynchronously. A
// write that completes here queues no completion handler, which would cost the I/O loop one
// more trip through epoll_wait; so whole responses and upstream requests go this way first.
#pragma once

#include <cstddef>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

namespace inferstack::http {

/// The bytes of `data` written now; `ec` is set only for a real failure.
template <class Socket>
size_t write_now(Socket& socket, boost::asio::const_buffer data, boost::system::error_code& ec) {
  size_t sent = socket.write_some(data, ec);
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
    ec = {};
    sent = 0;
  }
  return sent;
}

}  // namespace inferstack::http
