// The kMigrate and kResize payloads (worker/queue_messages.h): what a sender writes comes back
// whole, and every size a sender claims is checked against the bytes that came.
#include "worker/queue_messages.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>
#include <string>

#include "core/client_counts.h"

namespace sigver {
namespace {

MigratedPeer sample() {
  MigratedPeer m;
  MigrationHeader& h = m.header;
  h.version = kMigrationVersion;
  h.source = 2;
  h.token = 0x1122334455667788u;
  h.group_size = 3;
  h.index = 1;
  h.member_position = -1;
  h.bound_to = 0;
  h.id = 77;
  h.up_open = 1;
  h.assembling = 1;
  h.opcode = 2;
  h.generation = 2;
  h.favored = 1;
  h.netflux_id = 0xDEADBEEF;
  m.tried = {0, 2};
  m.tried_values = {7, 0xFFFFFFFF, 9};
  m.key = "room";
  m.assembled = "part";
  m.in = "\x82\x85";
  m.out = "\x82\x02ok";
  return m;
}

// The payload with its header changed by `edit`.
template <typename Edit>
std::string with_header(const std::string& payload, Edit edit) {
  MigrationHeader h;
  std::memcpy(&h, payload.data(), sizeof h);
  edit(h);
  std::string out = payload;
  std::memcpy(out.data(), &h, sizeof h);
  return out;
}

TEST(QueueMessages, MigratedPeerRoundTrips) {
  const std::string payload = encode_migrated_peer(sample());
  EXPECT_EQ(payload.size(), sizeof(MigrationHeader) + 2 * 4 + 3 * 4 + 4 + 4 + 2 + 4);
  std::optional<MigratedPeer> got = decode_migrated_peer(payload);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->header.token, 0x1122334455667788u);
  EXPECT_EQ(got->header.bound_to, 0);
  EXPECT_EQ(got->header.id, 77u);
  EXPECT_EQ(got->tried, (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(got->tried_values, (std::vector<uint32_t>{7, 0xFFFFFFFF, 9}));
  EXPECT_EQ(got->header.generation, 2);
  EXPECT_EQ(got->header.favored, 1);
  EXPECT_EQ(got->header.netflux_id, 0xDEADBEEFu);
  const ExportedPeer state = routing_state(*got, *std::make_unique<Peer>());
  EXPECT_EQ(state.generation, 2);
  EXPECT_TRUE(state.favored);
  EXPECT_EQ(state.netflux_id, 0xDEADBEEFu);
  EXPECT_EQ(state.tried_values, got->tried_values);
  EXPECT_EQ(got->key, "room");
  EXPECT_EQ(got->assembled, "part");
  EXPECT_EQ(got->in, "\x82\x85");
  EXPECT_EQ(got->out, "\x82\x02ok");
  EXPECT_EQ(encode_migrated_peer(*got), payload);
}

TEST(QueueMessages, MigratedPeerSizesMustAddUpExactly) {
  const std::string payload = encode_migrated_peer(sample());
  EXPECT_FALSE(decode_migrated_peer(payload.substr(0, sizeof(MigrationHeader) - 1)));
  EXPECT_FALSE(decode_migrated_peer(payload.substr(0, payload.size() - 1)));
  EXPECT_FALSE(decode_migrated_peer(payload + "x"));
  // Sizes far beyond the payload, alone or adding up past 4 GiB, are refused, not read.
  EXPECT_FALSE(decode_migrated_peer(with_header(payload, [](auto& h) { h.tried_count = ~0u; })));
  EXPECT_FALSE(
      decode_migrated_peer(with_header(payload, [](auto& h) { h.tried_values_count = ~0u; })));
  EXPECT_FALSE(decode_migrated_peer(with_header(payload, [](auto& h) {
    h.key_size = h.assembled_size = h.in_size = h.out_size = 0x7FFFFFFF;
  })));
  // A size moved from one part to another still adds up and is accepted as such.
  std::optional<MigratedPeer> shifted = decode_migrated_peer(with_header(payload, [](auto& h) {
    h.key_size += 1;
    h.assembled_size -= 1;
  }));
  ASSERT_TRUE(shifted);
  EXPECT_EQ(shifted->key, "roomp");
}

TEST(QueueMessages, MigratedPeerHeaderIsChecked) {
  const std::string payload = encode_migrated_peer(sample());
  // Version 1 (before generations) is refused, as is any other.
  EXPECT_FALSE(decode_migrated_peer(with_header(payload, [](auto& h) { h.version = 1; })));
  EXPECT_FALSE(decode_migrated_peer(with_header(payload, [](auto& h) { h.version = 3; })));
  EXPECT_FALSE(decode_migrated_peer(with_header(payload, [](auto& h) { h.index = 3; })));
  EXPECT_FALSE(decode_migrated_peer(with_header(payload, [](auto& h) {
    h.group_size = kMaxMigrationGroup + 1;
    h.index = 0;
  })));
  EXPECT_TRUE(decode_migrated_peer(with_header(payload, [](auto& h) { h.index = 2; })));
}

TEST(QueueMessages, RenumberSkipsPeersThatNeverArrived) {
  std::vector<ExportedPeer> state(4);
  state[0].bound_to = -1;
  state[1].bound_to = 0;  // bound to a peer that was lost
  state[1].tried = {0, 2, 3, 99};
  state[2].bound_to = 3;
  state[3].bound_to = 7;  // outside the group
  state[3].tried = {2};
  std::vector<ExportedPeer> out = renumber_arrived(state, {false, true, true, true});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].bound_to, -1);
  EXPECT_EQ(out[0].tried, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(out[1].bound_to, 2);
  EXPECT_EQ(out[2].bound_to, -1);
  EXPECT_EQ(out[2].tried, (std::vector<uint32_t>{1}));
}

TEST(QueueMessages, ResizeIsExactlyOneCount) {
  uint32_t count = 4;
  const std::string payload(reinterpret_cast<const char*>(&count), sizeof count);
  EXPECT_EQ(decode_resize(payload), 4u);
  EXPECT_FALSE(decode_resize(payload.substr(0, 3)));
  EXPECT_FALSE(decode_resize(payload + '\0'));
  EXPECT_FALSE(decode_resize(""));
}

TEST(QueueMessages, HandoffCarriesTheClientTicketAndTheBytes) {
  ClientCounts counts;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(0xC0000205);  // 192.0.2.5
  const ClientCounts::Ticket ticket = counts.ticket(reinterpret_cast<sockaddr*>(&address));
  ASSERT_NE(ticket, ClientCounts::kNotCounted);
  char head[sizeof(uint32_t)];
  const std::string payload = std::string(encode_handoff_head(ticket, head)) + "GET /k HTTP/1.1";
  std::optional<Handoff> h = decode_handoff(payload);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->client, ticket);
  EXPECT_EQ(h->bytes, "GET /k HTTP/1.1");
  // Not counted (a relay's plain end) and no bytes at all are fine too.
  h = decode_handoff(encode_handoff_head(ClientCounts::kNotCounted, head));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->client, ClientCounts::kNotCounted);
  EXPECT_TRUE(h->bytes.empty());
}

TEST(QueueMessages, HandoffWithABadTicketOrTooShortIsRefused) {
  char head[sizeof(uint32_t)];
  EXPECT_FALSE(decode_handoff("abc"));
  EXPECT_FALSE(decode_handoff(""));
  // Bucket numbers past the table, or the counted bit missing: would index outside it.
  for (uint32_t bad : {0x8000ffffu, 0xffff0000u, 0x00010001u}) {
    EXPECT_FALSE(decode_handoff(std::string(encode_handoff_head(bad, head)) + "GET")) << bad;
  }
}

}  // namespace
}  // namespace sigver
