// floor-server: the least a server can do for make bench's relay and handshake scenarios
// (tools/bench/run.sh, section 6), so that what it costs per round trip and per connection is
// about what the kernel's loopback TCP costs on this machine: the floor under any server.
//   floor-server PORT        (listens on 127.0.0.1:PORT until killed)
// One process, one epoll set, non-blocking sockets. Per connection: the upgrade (101 with
// Sec-WebSocket-Accept), then the generation-1 join answer the bench waits for, canned: the
// first connection on a URL key gets isFirst=true, later ones isFirst=false; the first two on
// a key are partners. Each content one partner sends goes to the other with the least
// rewriting the bench checks: the joiner's content gets the id 1 its member answers to, and
// the member's answer loses that id again. No heartbeats, no limits, no other message.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

struct Peer {
  std::string key;
  std::string in, out;
  bool open = false;
  bool member = false;
  int partner = -1;
  bool writable_armed = false;
};

int epoll_fd = -1;
std::unordered_map<int, Peer> peers;                  // by fd
std::unordered_map<std::string, int> waiting_member;  // key -> member fd without a partner yet
std::unordered_map<std::string, int> key_count;       // connections open on each key

void append_varint(std::string& out, size_t value) {
  for (; value >= 0x80; value >>= 7) out.push_back(static_cast<char>((value & 0x7F) | 0x80));
  out.push_back(static_cast<char>(value));
}

void append_frame(std::string& out, std::string_view payload) {  // unmasked, binary, FIN
  out.push_back(static_cast<char>(0x82));
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(payload.size()));
  } else {  // the bench's contents stay far below 64 KiB
    out.push_back(126);
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  out.append(payload);
}

std::string accept_value(std::string_view websocket_key) {
  const std::string seed = std::string(websocket_key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(seed.data(), seed.size(), digest, &size, EVP_sha1(), nullptr);
  unsigned char text[64];
  const int n = EVP_EncodeBlock(text, digest, static_cast<int>(size));
  return std::string(reinterpret_cast<char*>(text), static_cast<size_t>(n));
}

void watch(int fd, bool writable) {
  epoll_event event{};
  event.events = EPOLLIN | (writable ? EPOLLOUT : 0u);
  event.data.fd = fd;
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event);
}

void drop(int fd) {
  const auto it = peers.find(fd);
  if (it == peers.end()) return;
  Peer& peer = it->second;
  if (peer.partner >= 0) peers[peer.partner].partner = -1;
  const auto waiting = waiting_member.find(peer.key);
  if (waiting != waiting_member.end() && waiting->second == fd) waiting_member.erase(waiting);
  if (peer.open && --key_count[peer.key] == 0) key_count.erase(peer.key);
  peers.erase(it);
  close(fd);  // also leaves the epoll set
}

bool flush(int fd, Peer& peer) {
  while (!peer.out.empty()) {
    const ssize_t n = send(fd, peer.out.data(), peer.out.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    if (n < 0) return false;
    peer.out.erase(0, static_cast<size_t>(n));
  }
  if (peer.writable_armed != !peer.out.empty()) watch(fd, !peer.out.empty());
  peer.writable_armed = !peer.out.empty();
  return true;
}

// The upgrade request's end, key and Sec-WebSocket-Key: answers 101 and the join.
bool upgrade(int fd, Peer& peer, size_t end) {
  const std::string_view request(peer.in.data(), end);
  const size_t path = request.find(' ') + 2, path_end = request.find(' ', path);
  constexpr std::string_view kHeader = "\r\nsec-websocket-key:";
  std::string lower(request);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  size_t at = lower.find(kHeader);
  if (path == 1 || path_end == std::string_view::npos || at == std::string::npos) return false;
  at += kHeader.size();
  while (request[at] == ' ') ++at;
  peer.key = std::string(request.substr(path, path_end - path));
  peer.out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
  peer.out +=
      "Sec-WebSocket-Accept: " + accept_value(request.substr(at, request.find('\r', at) - at)) +
      "\r\n\r\n";
  peer.member = key_count[peer.key]++ == 0;
  append_frame(peer.out, std::string_view(peer.member ? "\x10\x01" : "\x10\x00", 2));
  if (peer.member) {
    waiting_member[peer.key] = fd;
  } else if (const auto it = waiting_member.find(peer.key); it != waiting_member.end()) {
    peer.partner = it->second;
    peers[it->second].partner = fd;
    waiting_member.erase(it);
  }
  peer.open = true;
  peer.in.erase(0, end + 4);
  return true;
}

// message{content{[id], data}} from `from`, to its partner: the id added or taken away.
void relay(const Peer& from, std::string_view message) {
  if (from.partner < 0 || message.size() < 2 || message[0] != 0x0A) return;
  size_t pos = 1;
  while (pos < message.size() && (message[pos] & 0x80)) ++pos;
  std::string_view content = message.substr(pos + 1);
  std::string payload = "\x0A";
  if (from.member) {
    if (!content.empty() && content[0] == 0x08) {
      size_t id_end = 1;
      while (id_end < content.size() && (content[id_end] & 0x80)) ++id_end;
      content.remove_prefix(id_end + 1);
    }
    append_varint(payload, content.size());
  } else {
    append_varint(payload, content.size() + 2);
    payload += "\x08\x01";
  }
  payload += content;
  append_frame(peers[from.partner].out, payload);
}

// Whole masked client frames of an open peer; false to close it.
bool frames(Peer& peer) {
  size_t used = 0;
  while (peer.in.size() - used >= 6) {
    char* frame = peer.in.data() + used;
    size_t length = static_cast<unsigned char>(frame[1]) & 0x7F, header = 6;
    if (length == 127) return false;
    if (length == 126) {
      length = static_cast<size_t>(static_cast<unsigned char>(frame[2]) << 8 |
                                   static_cast<unsigned char>(frame[3]));
      header = 8;
    }
    if (peer.in.size() - used < header + length) break;
    char* payload = frame + header;
    for (size_t i = 0; i < length; ++i) payload[i] ^= frame[header - 4 + (i & 3)];
    const int opcode = frame[0] & 0x0F;
    if (opcode == 0x8) return false;
    if (opcode == 0x2) relay(peer, std::string_view(payload, length));
    used += header + length;
  }
  peer.in.erase(0, used);
  return true;
}

void readable(int fd) {
  char buffer[65536];
  const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return drop(fd);
  Peer& peer = peers[fd];
  peer.in.append(buffer, static_cast<size_t>(n));
  if (!peer.open) {
    const size_t end = peer.in.find("\r\n\r\n");
    if (end == std::string::npos) return peer.in.size() > 16384 ? drop(fd) : void();
    if (!upgrade(fd, peer, end)) return drop(fd);
  }
  const int partner = peer.partner;
  if (!frames(peer) || !flush(fd, peer)) return drop(fd);
  if (partner >= 0 && !flush(partner, peers[partner])) drop(partner);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: floor-server PORT\n");
    return 2;
  }
  rlimit limit{20000, 20000};
  setrlimit(RLIMIT_NOFILE, &limit);
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = listener;
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listener, 4096) != 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event) != 0) {
    std::perror("floor-server: listen");
    return 1;
  }
  epoll_event events[512];
  for (;;) {
    const int n = epoll_wait(epoll_fd, events, 512, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd != listener) {
        if (!peers.count(fd)) continue;  // dropped earlier in this batch
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) readable(fd);
        if (peers.count(fd) && (events[i].events & EPOLLOUT) && !flush(fd, peers[fd])) drop(fd);
        continue;
      }
      for (int client; (client = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        event.data.fd = client;
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, client, &event);
        peers[client];
      }
    }
  }
}
