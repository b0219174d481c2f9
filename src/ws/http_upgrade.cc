// The WebSocket opening handshake, server side (RFC 6455 section 4.2). llhttp does the HTTP
// syntax; this file applies the handshake rules. Each call parses from scratch with a fresh
// parser: the request is bounded by max_header_size, and statelessness lets a worker that
// receives a handed-off connection parse the very same bytes again.
#include "ws/http_upgrade.h"

#include <llhttp.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>

namespace sigver::ws {
namespace {

constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr size_t kKeyBytes = 16;

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

bool ascii_iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

std::string_view trim(std::string_view s) {
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// True if the comma-separated list `value` contains `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  while (true) {
    const size_t comma = value.find(',');
    if (ascii_iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// 16 bytes in padded base64 are exactly 22 alphabet characters followed by "==".
bool is_base64_of_16_bytes(std::string_view s) {
  constexpr size_t kEncodedSize = (kKeyBytes + 2) / 3 * 4;
  if (s.size() != kEncodedSize || s.substr(kEncodedSize - 2) != "==") return false;
  return std::all_of(s.begin(), s.end() - 2, is_base64_char);
}

// What the llhttp callbacks collect. Views point into the parsed bytes.
struct RequestFacts {
  std::string_view url;
  std::string_view field;  // the header being read
  std::string_view value;
  bool headers_complete = false;
  bool has_body = false;
  bool upgrade_websocket = false;
  bool connection_upgrade = false;
  int host_count = 0;
  int version_count = 0;
  bool version_13 = false;
  int key_count = 0;
  std::string_view key;
  int origin_count = 0;
  std::string_view origin;
};

RequestFacts& facts_of(llhttp_t* parser) { return *static_cast<RequestFacts*>(parser->data); }

// llhttp may report one span in pieces; they are contiguous in our single buffer.
std::string_view extend(std::string_view current, const char* at, size_t length) {
  if (current.data() == nullptr) return {at, length};
  return {current.data(), static_cast<size_t>(at + length - current.data())};
}

int on_url(llhttp_t* parser, const char* at, size_t length) {
  RequestFacts& facts = facts_of(parser);
  facts.url = extend(facts.url, at, length);
  return 0;
}

int on_header_field(llhttp_t* parser, const char* at, size_t length) {
  RequestFacts& facts = facts_of(parser);
  facts.field = extend(facts.field, at, length);
  return 0;
}

int on_header_value(llhttp_t* parser, const char* at, size_t length) {
  RequestFacts& facts = facts_of(parser);
  facts.value = extend(facts.value, at, length);
  return 0;
}

int on_header_value_complete(llhttp_t* parser) {
  RequestFacts& facts = facts_of(parser);
  const std::string_view name = facts.field;
  const std::string_view value = trim(facts.value);
  facts.field = {};
  facts.value = {};
  // Upgrade and Connection may be repeated; their token lists then add up (RFC 9110 5.3).
  if (ascii_iequals(name, "upgrade")) {
    facts.upgrade_websocket = facts.upgrade_websocket || has_token(value, "websocket");
  } else if (ascii_iequals(name, "connection")) {
    facts.connection_upgrade = facts.connection_upgrade || has_token(value, "upgrade");
  } else if (ascii_iequals(name, "host")) {
    ++facts.host_count;
  } else if (ascii_iequals(name, "sec-websocket-version")) {
    ++facts.version_count;
    facts.version_13 = value == "13";
  } else if (ascii_iequals(name, "sec-websocket-key")) {
    ++facts.key_count;
    facts.key = value;
  } else if (ascii_iequals(name, "origin")) {
    ++facts.origin_count;
    facts.origin = value;
  }
  return 0;
}

int on_headers_complete(llhttp_t* parser) {
  RequestFacts& facts = facts_of(parser);
  facts.headers_complete = true;
  facts.has_body = (parser->flags & F_CHUNKED) != 0 ||
                   ((parser->flags & F_CONTENT_LENGTH) != 0 && parser->content_length > 0);
  // 2 = "no body, and stop here as for an upgrade": llhttp then pauses with
  // HPE_PAUSED_UPGRADE right after the blank line, leaving the following bytes alone.
  return 2;
}

const llhttp_settings_t& parser_settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_url = on_url;
    s.on_header_field = on_header_field;
    s.on_header_value = on_header_value;
    s.on_header_value_complete = on_header_value_complete;
    s.on_headers_complete = on_headers_complete;
    return s;
  }();
  return settings;
}

UpgradeRequest failure(UpgradeStatus status, std::string error) {
  UpgradeRequest request;
  request.status = status;
  request.error = std::move(error);
  return request;
}

// The key is the path after the first '/', without query string or fragment.
std::string_view key_from_target(std::string_view target) {
  target.remove_prefix(1);
  return target.substr(0, target.find_first_of("?#"));
}

std::string_view query_from_target(std::string_view target) {
  target = target.substr(0, target.find('#'));
  const size_t mark = target.find('?');
  return mark == std::string_view::npos ? std::string_view() : target.substr(mark + 1);
}

UpgradeRequest check_handshake(const llhttp_t& parser, const RequestFacts& facts,
                               size_t header_size) {
  if (parser.method != HTTP_GET) return failure(UpgradeStatus::kBadRequest, "method is not GET");
  if (parser.http_major < 1 || (parser.http_major == 1 && parser.http_minor < 1)) {
    return failure(UpgradeStatus::kBadRequest, "HTTP/1.1 or later required");
  }
  if (facts.url.empty() || facts.url.front() != '/') {
    return failure(UpgradeStatus::kBadRequest, "request target must start with '/'");
  }
  if (facts.host_count != 1) return failure(UpgradeStatus::kBadRequest, "need one Host header");
  if (facts.has_body) return failure(UpgradeStatus::kBadRequest, "request has a body");
  if (!facts.upgrade_websocket || !facts.connection_upgrade) {
    return failure(UpgradeStatus::kUpgradeRequired, "WebSocket upgrade required");
  }
  if (facts.version_count != 1 || !facts.version_13) {
    return failure(UpgradeStatus::kBadVersion, "Sec-WebSocket-Version must be 13");
  }
  if (facts.key_count != 1 || !is_base64_of_16_bytes(facts.key)) {
    return failure(UpgradeStatus::kBadRequest, "invalid Sec-WebSocket-Key");
  }
  // A browser sends one Origin (RFC 6454 7.3); two could make an origin check ambiguous.
  if (facts.origin_count > 1) return failure(UpgradeStatus::kBadRequest, "more than one Origin");
  UpgradeRequest request;
  request.status = UpgradeStatus::kOk;
  request.key = key_from_target(facts.url);
  request.query = query_from_target(facts.url);
  request.origin = facts.origin;
  request.has_origin = facts.origin_count == 1;
  request.accept = compute_accept(facts.key);
  request.header_size = header_size;
  return request;
}

struct StatusLine {
  int code;
  std::string_view text;
};

StatusLine status_line(UpgradeStatus status) {
  switch (status) {
    case UpgradeStatus::kUpgradeRequired:
    case UpgradeStatus::kBadVersion:
      return {426, "Upgrade Required"};
    case UpgradeStatus::kHeadersTooLarge:
      return {431, "Request Header Fields Too Large"};
    case UpgradeStatus::kForbidden:
      return {403, "Forbidden"};
    case UpgradeStatus::kUnavailable:
      return {503, "Service Unavailable"};
    case UpgradeStatus::kNeedMore:
    case UpgradeStatus::kOk:
    case UpgradeStatus::kBadRequest:
      break;
  }
  return {400, "Bad Request"};
}

}  // namespace

UpgradeRequest parse_upgrade_request(std::string_view bytes, size_t max_header_size) {
  // Bytes past the limit cannot belong to an acceptable header block, so llhttp never sees
  // them: an incomplete block at the limit is "too large", not "need more".
  const size_t parsed_size = std::min(bytes.size(), max_header_size);
  RequestFacts facts;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &parser_settings());
  parser.data = &facts;
  const llhttp_errno_t err = llhttp_execute(&parser, bytes.data(), parsed_size);
  if (err == HPE_PAUSED_UPGRADE && facts.headers_complete) {
    const auto header_size = static_cast<size_t>(llhttp_get_error_pos(&parser) - bytes.data());
    // llhttp (Debian's build is not strict) also ends the block at a bare CR and counts the
    // byte after it in: a server must not read line ends differently from a proxy in front
    // of it (RFC 9112 2.2), and that byte may be the client's first frame.
    if (header_size == 0 || bytes[header_size - 1] != '\n') {
      return failure(UpgradeStatus::kBadRequest, "header block does not end with a line feed");
    }
    return check_handshake(parser, facts, header_size);
  }
  if (err != HPE_OK) {
    return failure(UpgradeStatus::kBadRequest,
                   std::string("malformed HTTP request: ") + llhttp_get_error_reason(&parser));
  }
  if (bytes.size() > max_header_size) {
    return failure(UpgradeStatus::kHeadersTooLarge, "request header block too large");
  }
  return UpgradeRequest{};
}

std::string compute_accept(std::string_view sec_websocket_key) {
  // Fetched once, with one context kept per thread: EVP_Digest(..., EVP_sha1()) makes a
  // context and looks the implementation up among the providers on every call, which in
  // OpenSSL 3 costs several times the hash itself.
  static EVP_MD* const sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  struct ContextFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  thread_local const std::unique_ptr<EVP_MD_CTX, ContextFree> ctx(EVP_MD_CTX_new());
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  if (sha1 == nullptr || !ctx || EVP_DigestInit_ex2(ctx.get(), sha1, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), sec_websocket_key.data(), sec_websocket_key.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), kWebSocketGuid.data(), kWebSocketGuid.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest.data(), &digest_size) != 1) {
    return {};  // only if OpenSSL itself is broken; the handshake then fails on the client
  }
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> encoded{};
  const int encoded_size =
      EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(digest_size));
  return std::string(reinterpret_cast<const char*>(encoded.data()),
                     static_cast<size_t>(encoded_size));
}

void append_upgrade_response(Buffer& out, std::string_view accept) {
  out.append(
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ");
  out.append(accept);
  out.append("\r\n\r\n");
}

int http_status(UpgradeStatus status) { return status_line(status).code; }

void append_error_response(Buffer& out, UpgradeStatus status, std::string_view reason) {
  const StatusLine line = status_line(status);
  std::string response = "HTTP/1.1 " + std::to_string(line.code) + " ";
  response += line.text;
  response += "\r\nConnection: close\r\nContent-Type: text/plain\r\n";
  if (line.code == 426) response += "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n";
  if (line.code == 503) response += "Retry-After: " + std::to_string(kRetryAfterSeconds) + "\r\n";
  response += "Content-Length: " + std::to_string(reason.size() + 1) + "\r\n\r\n";
  response += reason;
  response += '\n';
  out.append(response);
}

}  // namespace sigver::ws
