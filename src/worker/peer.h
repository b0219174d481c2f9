#pragma once
// A peer's place in the Sigver protocol, independent of its connection: which group it is
// in, whether it is a member, and its binding to a member while it joins.
#include <cstdint>
#include <vector>

namespace sigver {

struct Group;

struct Peer {
  Group* group = nullptr;  // nullptr once the peer has left (closed or closing)
  uint64_t serial = 0;     // unique per worker; remembers "tried" members across their ids
  bool is_member = false;  // isFirst=true, or sent `stable`
  // This peer's own binding to a member (it is joining through `member`).
  Peer* member = nullptr;
  uint32_t id = 0;              // routing id of that binding (0 = none)
  bool up_open = false;         // this peer -> member direction not ended yet
  bool down_open = false;       // member -> this peer direction not ended yet
  std::vector<uint64_t> tried;  // serials of members this peer was bound to
};

}  // namespace sigver
