#include "router_check.h"

#include <algorithm>
#include <set>

#include "fuzz_check.h"

namespace sigver::fuzz {
using namespace gen1;
namespace {

template <typename T>
size_t count_of(const std::vector<T>& v, const T& value) {
  return static_cast<size_t>(std::count(v.begin(), v.end(), value));
}

template <typename T>
void erase_value(std::vector<T*>& v, const T* value) {
  v.erase(std::remove(v.begin(), v.end(), value), v.end());
}

}  // namespace

char* CheckingOutput::begin_message(Peer& to, size_t size) {
  // Reading the peer makes ASan catch a write to a peer that was freed.
  require(to.group != nullptr, "a message to a peer outside of any group");
  require(size > 0, "an empty message");
  // A peer whose write failed stays overflowed until the worker closes it after the step
  // (Connection::overflowed): every later write to it fails too, so nothing sent meanwhile
  // (a new binding's isFirst, say) is seen by the peer, or by this checker.
  if (overflowed_.count(&to)) return nullptr;
  if (std::find(congested_.begin(), congested_.end(), &to) != congested_.end()) {
    erase_value(congested_, &to);
    overflowed_.insert(&to);
    if (std::find(closed_.begin(), closed_.end(), &to) == closed_.end()) closed_.push_back(&to);
    return nullptr;
  }
  pending_.assign(size, '\xAA');
  return pending_.data();
}

void CheckingOutput::end_message(Peer& to, size_t size) {
  require(size == pending_.size(), "end_message with another size than begin_message");
  require(decode_message(pending_.data(), size, decoded_), "the router wrote an invalid message");
  switch (decoded_.type) {
    case MessageType::kIsFirst:
      // Sent at the end of a join: a first peer is a member, the others are bound.
      require(decoded_.flag ? to.is_member : to.member != nullptr, "isFirst disagrees with state");
      if (!decoded_.flag) ended_down_.erase(&to);  // a new binding, a new relay
      break;
    case MessageType::kContent:
      if (decoded_.content_id != 0) {
        // To a member: the id names one of its joiners' bindings.
        const Peer* joiner = router_ ? router_->find_by_id(decoded_.content_id) : nullptr;
        require(joiner != nullptr && joiner->member == &to, "content to a member with a wrong id");
        require(!ended_up_.count(decoded_.content_id), "content after the relay up ended");
        if (decoded_.content_ends) ended_up_.insert(decoded_.content_id);
      } else {
        require(to.member != nullptr, "content without an id to a peer that is not joining");
        require(!ended_down_.count(&to), "content after the relay down ended");
        if (decoded_.content_ends) ended_down_.insert(&to);
      }
      break;
    default:
      require(false, "the router wrote a message of another type than isFirst or content");
  }
}

void CheckingOutput::close(Peer& peer, uint16_t code, std::string_view) {
  require(peer.group == nullptr, "close before the router removed the peer");
  // 4004: the last member blocks the group; 1013: the key is full (max_peers_per_key);
  // since the protocol seam the router also judges what the worker used to: 4003, a
  // message protocol.md refuses, and 4001, a key it refuses (empty or too long).
  require(code == 4004 || code == 1013 || code == 4003 || code == 4001,
          "the router closed a peer with an unexpected code");
  if (std::find(closed_.begin(), closed_.end(), &peer) == closed_.end()) closed_.push_back(&peer);
}

void CheckingOutput::forget(const Peer& peer) {
  erase_value(closed_, &peer);
  erase_value(congested_, &peer);
  overflowed_.erase(&peer);
  ended_down_.erase(&peer);
}

std::vector<Peer*> CheckingOutput::take_closed() {
  std::vector<Peer*> out = std::move(closed_);
  closed_.clear();
  return out;
}

void check_router(const Router& router, const std::vector<Peer*>& live, bool strict) {
  std::set<const Group*> groups;
  size_t bindings = 0;
  for (const Peer* p : live) {
    if (!p->group) {
      require(!p->member && p->id == 0 && !p->is_member && p->tried.size() == 0,
              "a peer out of its group keeps routing state");
      continue;
    }
    const Group& g = *p->group;
    groups.insert(&g);
    require(router.find_group(g.key) == &g, "a peer's group is not the router's group of its key");
    require(count_of<Peer*>(g.peers, const_cast<Peer*>(p)) == 1, "a peer not once in its group");
    require(count_of<Peer*>(g.members, const_cast<Peer*>(p)) == (p->is_member ? 1u : 0u),
            "is_member disagrees with the member list");
    if (p->member) {
      ++bindings;
      require(p->id != 0 && router.find_by_id(p->id) == p, "a binding not found by its id");
      require(std::find(g.peers.begin(), g.peers.end(), p->member) != g.peers.end(),
              "a binding to a peer of another group");
      if (strict) {
        require(p->member->is_member && p->member != p, "a binding to a non-member or to itself");
      }
    } else {
      require(p->id == 0 && !p->up_open && !p->down_open, "an id or open relay without a binding");
    }
  }
  require(groups.size() == router.counters().groups, "groups without live peers");
  require(bindings == router.binding_count(), "ids of bindings that ended");
  for (const std::string& key : router.keys()) {
    const Group* g = router.find_group(key);
    require(g != nullptr && g->key == key && !g->peers.empty(), "an empty or misfiled group");
    require(groups.count(g) == 1, "a group no live peer is in");
    for (const Peer* m : g->members) {
      require(count_of<Peer*>(g->peers, const_cast<Peer*>(m)) == 1, "a member not in the group");
    }
    for (const Peer* p : g->peers) {
      require(std::find(live.begin(), live.end(), p) != live.end(), "a group keeps a freed peer");
      require(p->group == g, "a group's peer points to another group");
    }
  }
}

}  // namespace sigver::fuzz
