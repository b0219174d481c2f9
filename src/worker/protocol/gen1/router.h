#pragma once
// Generation 1 (protocol.md, netflux 3.0.0): groups, joining, relay, heartbeats and close
// codes, with no I/O. Every rule of protocol.md lives here and in codec.*; the worker drives
// it through the Generation interface.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "worker/protocol/gen1/codec.h"
#include "worker/protocol/generation.h"
#include "worker/protocol/group_table.h"

namespace sigver::gen1 {

// protocol.md's close codes.
namespace close_code {
inline constexpr uint16_t kBadKey = 4001;
inline constexpr uint16_t kHeartbeat = 4002;
inline constexpr uint16_t kBadMessage = 4003;
inline constexpr uint16_t kBlockingMember = 4004;
inline constexpr uint16_t kTryAgainLater = 1013;  // RFC 6455 7.4.1 (IANA registry)
}  // namespace close_code

class Router final : public Generation {
 public:
  Router(PeerOutput& output, uint64_t seed);

  // Generation
  void configure(const ProtocolSettings& settings) override { settings_ = settings; }
  // Joins at once (isFirst). A key holding max_peers_per_key peers closes the peer with 1013
  // (Try Again Later) and it joins nothing.
  void open(Peer& peer, std::string_view key) override;
  // Generation 1 is what a client is unless another generation claims it.
  bool claims_first(bool, const char*, size_t) const override { return true; }
  bool rejects_first(bool binary, const char* data, size_t size) const override;
  void message(Peer& peer, bool binary, const char* data, size_t size) override;
  void leave(Peer& peer) override;
  void tick(Peer& peer) override;
  std::vector<std::string> keys() const override;
  void export_group(std::string_view key, std::vector<ExportedPeer>& out) override;
  void import_group(std::string_view key, std::vector<ExportedPeer>& peers) override;
  const Group* find_group(std::string_view key) const override;
  GenerationCounters counters() const override;

  Peer* find_by_id(uint32_t id) const { return ids_.find(id); }
  // Live routing ids; tests compare it with the bindings their peers hold.
  size_t binding_count() const { return ids_.size(); }

 private:
  // Why a message closes its sender, or nullptr if it does not.
  static const char* invalid(bool binary, const char* data, size_t size, DecodedMessage& decoded);
  void join(Peer& peer);
  void become_member(Peer& peer);
  void bind(Peer& joiner, Peer& member);
  void end_binding(Peer& joiner);  // forget joiner's binding (id and member)
  void relay(Peer& from, const DecodedMessage& message);
  void send_flag(Peer& to, uint32_t field_number, bool value);
  void send_end_notice(Peer& to, uint32_t id);
  void send_content(Peer& to, std::string_view content, uint32_t id);
  void remove_member(Peer& peer);
  void close(Peer& peer, uint16_t code, std::string_view reason);  // leaves, then closes

  PeerOutput& out_;
  ProtocolSettings settings_;
  uint64_t next_serial_ = 1;
  GenerationCounters counters_;
  DecodedMessage decoded_;  // reused: its scratch keeps its capacity
  GroupTable groups_;
  BindingIds ids_;  // live routing ids (any non-zero uint32) -> joining peer
};

}  // namespace sigver::gen1
