// The error log through the real binary: a line about a connection names it (its number in
// the worker) and the client's address and port, so an operator can match it with the
// access log and with the client.
// GCC 12 with -fsanitize=address reports -Wmaybe-uninitialized inside <regex>'s
// std::function (a false positive in the library); the sanitizer build uses -Werror.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>

#include "support/harness.h"
#include "support/worker_probe.h"

namespace sigver::itest {
namespace {

uint16_t local_port(int fd) {
  sockaddr_in address{};
  socklen_t size = sizeof address;
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  return ntohs(address.sin_port);
}

class ErrorLogTest : public SigverTest {};

TEST_F(ErrorLogTest, LinesAboutAConnectionNameItAndItsClient) {
  Start({});
  // A plain HTTP request (no upgrade): refused with 426 and logged at info.
  UniqueFd plain = connect_loopback(port());
  ASSERT_TRUE(plain);
  const uint16_t client_port = local_port(plain.get());
  const std::string request = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::write(plain.get(), request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  const std::string expected = "client: 127.0.0.1:" + std::to_string(client_port);
  ASSERT_TRUE(WaitUntil([&] { return server().log_text().find(expected) != std::string::npos; },
                        std::chrono::seconds(10)))
      << server().log_text();
  // time, [level], pid#worker, the message, then *number client: address:port.
  const std::regex line(R"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[info\] \d+#0: )"
                        R"(rejected upgrade request: [^\n]*, \*\d+ )" +
                        expected + "\n");
  EXPECT_TRUE(std::regex_search(server().log_text(), line)) << server().log_text();

  // A peer closed by the protocol (a text message is 4003 in generation 1) is logged with
  // its own number: numbers differ between connections.
  Peer peer = NewPeer();
  bool is_first = false;
  ASSERT_TRUE(peer.join(random_key("log"), is_first)) << peer.error();
  ASSERT_TRUE(peer.ws().send_text("hello"));
  EXPECT_EQ(peer.receive().close.code, 4003);
  std::smatch first, second;
  const std::string text = server().log_text();
  ASSERT_TRUE(std::regex_search(text, first, std::regex(R"(rejected upgrade[^\n]*, \*(\d+) )")));
  ASSERT_TRUE(std::regex_search(
      text, second,
      std::regex(R"(closes the peer with 4003[^\n]*, \*(\d+) client: 127\.0\.0\.1:\d+)")))
      << text;
  EXPECT_NE(first[1], second[1]);
}

}  // namespace
}  // namespace sigver::itest
