// The receiving side of the churn: every message and every close the server sends is
// checked against what the tool itself sent and what the protocol says must follow
// (../shared/spec/protocol.md: Joining, Relay, close codes).
#include <algorithm>

#include "churn.h"
#include "content.h"

namespace soak {
namespace {

constexpr int kCloseReplaced = 4004;

}  // namespace

void Churn::on_message(bench::ClientLoop&, bench::Conn& conn, std::string_view payload) {
  const auto peer = static_cast<uint32_t>(conn.index);
  Peer& p = peers_[peer];
  // A leaving peer may still get what was on its way (races are normal): not checked.
  if (p.state == State::kLeaving || p.state == State::kGone) return;
  const bench::SigverMessage m = bench::decode_sigver(payload);
  if (m.type == bench::SigverMessage::Type::kInvalid ||
      m.type == bench::SigverMessage::Type::kNone) {
    error(peer, "undecodable message from the server");
    return;
  }
  if (p.role == Role::kFounder) {
    founder_message(peer, m);
  } else {
    joiner_message(peer, m);
  }
}

void Churn::founder_message(uint32_t peer, const bench::SigverMessage& m) {
  Peer& p = peers_[peer];
  Session& s = sessions_[p.session];
  if (m.type == bench::SigverMessage::Type::kIsFirst) {
    if (p.state == State::kConnecting) {
      on_joined(peer, m.flag);
    } else {
      error(peer, "second isFirst");
    }
    return;
  }
  if (m.type != bench::SigverMessage::Type::kContent) {
    error(peer, "unexpected message type", std::to_string(static_cast<int>(m.type)));
    return;
  }
  if (p.state == State::kConnecting) {
    error(peer, "content before isFirst");
    return;
  }
  if (m.id == 0) {
    error(peer, "member got content with id 0");
    return;
  }
  uint32_t by_id = kNone;
  for (uint32_t j : s.joiners) {
    if (peers_[j].routing_id == m.id) by_id = j;
  }
  if (m.has_data) {
    DataHeader h;
    if (!read_data(m.data, h) || h.tag != kRequestTag) {
      error(peer, "damaged request", std::to_string(m.data.size()) + " bytes");
      return;
    }
    if (!is_joiner_of(s, h.joiner)) {
      error(peer, "request from a peer of another group", "peer " + std::to_string(h.joiner));
      return;
    }
    Peer& q = peers_[h.joiner];
    if (q.routing_id == 0) {
      if (by_id != kNone) error(peer, "two joiners got one routing id");
      q.routing_id = m.id;
    } else if (q.routing_id != m.id) {
      error(peer, "routing id of a binding changed");
      q.routing_id = m.id;
    }
    if (!q.member_in_open) {
      error(peer, "request after the relay direction ended");
      return;
    }
    if (h.seq != q.member_next_seq) {
      error(peer,
            h.seq > q.member_next_seq ? "request lost (gap)" : "request duplicated or reordered",
            "got " + std::to_string(h.seq) + ", expected " + std::to_string(q.member_next_seq));
      if (h.seq < q.member_next_seq) return;
    }
    q.member_next_seq = h.seq + 1;
    if (m.is_end || m.is_error) error(peer, "end flag added to a request");
    if (!p.departed && q.member_out_open) {
      send(peer,
           bench::encode_content(m.id, make_data(kReplyTag, h.joiner, h.seq, message_size())));
    }
    return;
  }
  if (!m.is_end && !m.is_error) {
    error(peer, "content with neither data nor an end flag");
    return;
  }
  if (by_id == kNone && m.is_error) {
    // A joiner that left before the founder saw any of its contents: the notice is the
    // first time the founder sees its id.
    for (uint32_t j : s.joiners) {
      const Peer& q = peers_[j];
      if (q.routing_id == 0 && q.bound && q.member_in_open && (q.departed || q.tried_another)) {
        by_id = j;
        break;
      }
    }
    if (by_id != kNone) peers_[by_id].routing_id = m.id;
  }
  if (by_id == kNone) {
    error(peer, "end notice for an id no joiner has", std::to_string(m.id));
    return;
  }
  Peer& q = peers_[by_id];
  if (!q.member_in_open) {
    error(peer, "second end of one relay direction");
    return;
  }
  q.member_in_open = false;
  if (m.is_end) {
    if (!q.sent_end) error(peer, "isEnd the joiner never sent");
    if (q.member_out_open && !p.departed) {
      send(peer, end_message(m.id));  // netflux's member answers isEnd with isEnd
      q.member_out_open = false;
    }
    return;
  }
  if (q.tried_another) {
    p.got_replacement_notice = true;
  } else if (!q.departed) {
    error(peer, "told a joiner left while it is still there");
  } else {
    ++counters_.joiner_gone_notices;
  }
}

void Churn::joiner_message(uint32_t peer, const bench::SigverMessage& m) {
  Peer& p = peers_[peer];
  switch (m.type) {
    case bench::SigverMessage::Type::kIsFirst:
      if (p.state == State::kConnecting) {
        on_joined(peer, m.flag);
      } else if (p.state == State::kReplacing && m.flag) {
        // tryAnother through a group whose only member it already tried: it takes over.
        p.state = State::kMember;
        ++counters_.replaced;
        schedule(now() + uniform(0.5, 8), peer, TimerKind::kLeave);
      } else {
        error(peer, p.state == State::kReplacing ? "tryAnother answered with isFirst=false"
                                                 : "second isFirst");
      }
      return;
    case bench::SigverMessage::Type::kContent:
      joiner_content(peer, m);
      return;
    default:
      error(peer, "unexpected message type", std::to_string(static_cast<int>(m.type)));
  }
}

void Churn::joiner_content(uint32_t peer, const bench::SigverMessage& m) {
  Peer& p = peers_[peer];
  Session& s = sessions_[p.session];
  if (p.state == State::kConnecting) {
    error(peer, "content before isFirst");
    return;
  }
  if (m.id != 0) {
    error(peer, "joiner got content with an id", std::to_string(m.id));
    return;
  }
  if (!p.down_open) {
    error(peer, "content after the relay direction ended");
    return;
  }
  if (m.has_data) {
    DataHeader h;
    if (!read_data(m.data, h) || h.tag != kReplyTag) {
      error(peer, "damaged reply", std::to_string(m.data.size()) + " bytes");
    } else if (h.joiner != peer) {
      error(peer, "reply meant for another joiner", "peer " + std::to_string(h.joiner));
    } else if (h.seq != p.replies) {
      error(peer, h.seq > p.replies ? "reply lost (gap)" : "reply duplicated or reordered",
            "got " + std::to_string(h.seq) + ", expected " + std::to_string(p.replies));
      if (h.seq > p.replies && h.seq < p.sent) p.replies = h.seq + 1;
    } else if (h.seq >= p.sent) {
      error(peer, "reply to a request never sent");
    } else {
      counters_.max_reply_seconds =
          std::max(counters_.max_reply_seconds, now() - p.sent_at[h.seq % kMaxWindow]);
      ++p.replies;
      ++counters_.round_trips;
      after_reply(peer);
    }
    return;
  }
  if (m.is_end) {
    if (!p.sent_end) error(peer, "member ended the relay before the joiner did");
    p.down_open = false;
    if (p.state == State::kEnding) {
      send(peer, flag_message(kStableField));
      p.state = State::kMember;
      schedule(now() + uniform(1, 20), peer, TimerKind::kLeave);
      maybe_founder_leaves(s);
    }
    return;
  }
  if (m.is_error) {
    if (!s.founder_departed) error(peer, "told its member left while it is still there");
    ++counters_.member_gone_notices;
    p.down_open = false;
    if (p.state == State::kRelaying || p.state == State::kEnding) {
      // Its WebRTC connection attempt failed with the member: a browser gives up and leaves.
      p.state = State::kMember;
      schedule(now() + uniform(0.2, 3), peer, TimerKind::kLeave);
    }
    return;
  }
  error(peer, "content with neither data nor an end flag");
}

void Churn::on_closed(bench::ClientLoop&, bench::Conn& conn) {
  const auto peer = static_cast<uint32_t>(conn.index);
  if (peer >= peers_.size()) return;  // a failed connect() reported before its Peer existed
  Peer& p = peers_[peer];
  if (p.state == State::kGone) return;
  if (p.state == State::kLeaving && p.leave != Leave::kClean) return;  // our own close
  const int code = conn.close_code;
  if (p.expect_replaced && code == kCloseReplaced) {
    // A leaving peer does not look at what it gets, so it cannot tell about the notice.
    if (!p.got_replacement_notice && p.state != State::kLeaving) {
      error(peer, "closed with 4004 before the isError notice");
    }
    gone(peer);
    return;
  }
  if (p.state == State::kLeaving) {
    if (code != kCloseNormal) {
      error(peer, "close frame answered with something else", close_name(code));
    }
    gone(peer);
    return;
  }
  if (p.state == State::kConnecting) {
    error(peer, "connection failed before isFirst", close_name(code));
  } else {
    error(peer, "server closed a peer unexpectedly", close_name(code));
  }
  gone(peer);
}

}  // namespace soak
