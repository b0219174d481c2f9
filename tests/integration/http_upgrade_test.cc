// The HTTP side of the upgrade: bad requests get a status (or a plain close), never a hang;
// a slow handshake is dropped after handshake_timeout (spec "Errors and limits").
#include <thread>

#include "support/harness.h"

namespace sigver::itest {
namespace {

class HttpUpgradeTest : public SigverTest {
 protected:
  void SetUp() override {
    Start({.protocol = {"handshake_timeout = 0.5", "max_header_size = 2048"}});
  }

  // Sends `request` on a fresh connection and returns the response head (status 0 if the
  // server closed without one). Checks that the server then closes the connection.
  HttpResponse Exchange(const std::string& request) {
    WsClient client;
    EXPECT_TRUE(client.connect(port())) << client.last_error();
    EXPECT_TRUE(client.send_raw(request)) << client.last_error();
    HttpResponse response = client.read_http_response();
    EXPECT_TRUE(client.wait_eof()) << "the server must close the connection after an error";
    return response;
  }
};

std::string request_without(std::string_view header_name) {
  std::string request = WsClient::upgrade_request("/some-key");
  const size_t at = request.find(header_name);
  const size_t end = request.find("\r\n", at);
  request.erase(at, end + 2 - at);
  return request;
}

TEST_F(HttpUpgradeTest, GarbageGets400OrAPlainClose) {
  const HttpResponse response = Exchange("THIS IS NOT HTTP\x01\x02\r\n\r\n");
  EXPECT_TRUE(response.status == 400 || response.status == 0) << response.head;
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(HttpUpgradeTest, MissingWebSocketKeyGets400) {
  const HttpResponse response = Exchange(request_without("Sec-WebSocket-Key"));
  EXPECT_EQ(response.status, 400) << response.head;
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(HttpUpgradeTest, InvalidWebSocketKeyGets400) {
  std::string request = request_without("Sec-WebSocket-Key");
  request.insert(request.size() - 2, "Sec-WebSocket-Key: dG9vLXNob3J0\r\n");  // 9 bytes, not 16
  const HttpResponse response = Exchange(request);
  EXPECT_EQ(response.status, 400) << response.head;
}

TEST_F(HttpUpgradeTest, OtherWebSocketVersionGets426WithVersion13) {
  std::string request = request_without("Sec-WebSocket-Version");
  request.insert(request.size() - 2, "Sec-WebSocket-Version: 8\r\n");
  const HttpResponse response = Exchange(request);
  EXPECT_EQ(response.status, 426) << response.head;
  EXPECT_EQ(response.header("Sec-WebSocket-Version"), "13") << response.head;
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(HttpUpgradeTest, OversizedHeadersGet431) {
  const std::string padding = "X-Padding: " + std::string(4000, 'p') + "\r\n";
  const HttpResponse response = Exchange(WsClient::upgrade_request("/key", padding));
  EXPECT_EQ(response.status, 431) << response.head;
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(HttpUpgradeTest, HeadersJustUnderTheBoundAreAccepted) {
  const std::string padding = "X-Padding: " + std::string(1500, 'p') + "\r\n";
  WsClient client;
  ASSERT_TRUE(client.connect(port()));
  ASSERT_TRUE(client.send_raw(WsClient::upgrade_request("/" + random_key(), padding)));
  EXPECT_EQ(client.read_http_response().status, 101);
}

TEST_F(HttpUpgradeTest, UnfinishedHandshakeIsDroppedAfterTheTimeout) {
  WsClient partial;
  ASSERT_TRUE(partial.connect(port()));
  ASSERT_TRUE(partial.send_raw("GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  WsClient silent;
  ASSERT_TRUE(silent.connect(port()));
  EXPECT_TRUE(partial.wait_eof(Millis(5000))) << "server kept a half-sent request open";
  EXPECT_TRUE(silent.wait_eof(Millis(5000))) << "server kept a silent connection open";
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(HttpUpgradeTest, UpgradedPeerIsNotSubjectToTheHandshakeTimeout) {
  Peer peer = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(peer, random_key(), true));
  EXPECT_TRUE(ReceivedNothing(peer.sync(Millis(100))));
  std::this_thread::sleep_for(Millis(1200));
  EXPECT_TRUE(ReceivedNothing(peer.sync()));
}

TEST_F(HttpUpgradeTest, FramesSentRightBehindTheRequestAreProcessed) {
  WsClient client;
  ASSERT_TRUE(client.connect(port()));
  // The request and a ping in one write: the server must keep the bytes after the head.
  ASSERT_TRUE(client.send_raw(WsClient::upgrade_request("/" + random_key()) +
                              encode_frame(opcode::kPing, "early")));
  ASSERT_EQ(client.read_http_response().status, 101);
  bool saw_is_first = false, saw_pong = false;
  for (int i = 0; i < 2; ++i) {
    Frame frame;
    ASSERT_EQ(client.read_frame(frame), ReadStatus::kFrame);
    if (frame.opcode == opcode::kPong) {
      EXPECT_EQ(frame.payload, "early");
      saw_pong = true;
    } else {
      pb::Message message;
      ASSERT_TRUE(message.ParseFromString(frame.payload));
      EXPECT_TRUE(message.has_isfirst() && message.isfirst()) << message.ShortDebugString();
      saw_is_first = true;
    }
  }
  EXPECT_TRUE(saw_is_first);
  EXPECT_TRUE(saw_pong);
}

TEST_F(HttpUpgradeTest, RequestSentByteByByteIsAccepted) {
  WsClient client;
  ASSERT_TRUE(client.connect(port()));
  const std::string request = WsClient::upgrade_request("/" + random_key());
  for (char c : request) ASSERT_TRUE(client.send_raw(std::string_view(&c, 1)));
  EXPECT_EQ(client.read_http_response().status, 101);
}

}  // namespace
}  // namespace sigver::itest
