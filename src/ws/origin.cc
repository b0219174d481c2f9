#include "ws/origin.h"

#include <algorithm>

namespace sigver::ws {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return lower(x) == lower(y); });
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

struct OriginParts {
  std::string_view scheme;  // empty when absent (only in patterns)
  std::string_view host;
  std::string_view port;  // empty when absent
};

OriginParts split(std::string_view origin) {
  OriginParts parts;
  if (size_t sep = origin.find("://"); sep != std::string_view::npos) {
    parts.scheme = origin.substr(0, sep);
    origin.remove_prefix(sep + 3);
  }
  // The port follows the last ':' unless that is inside an IPv6 literal ("[::1]").
  size_t colon = origin.rfind(':');
  if (colon != std::string_view::npos && origin.find(']', colon) == std::string_view::npos) {
    parts.port = origin.substr(colon + 1);
    origin = origin.substr(0, colon);
  }
  parts.host = origin;
  return parts;
}

bool wildcard_matches(std::string_view pattern, std::string_view origin) {
  const OriginParts want = split(pattern);
  const OriginParts got = split(origin);
  if (got.scheme.empty()) return false;
  if (!want.scheme.empty() && !iequals(want.scheme, got.scheme)) return false;
  if (want.port != got.port) return false;
  // want.host is "*.example.org": the origin's host must be a strict subdomain.
  const std::string_view suffix = want.host.substr(1);  // ".example.org"
  return got.host.size() > suffix.size() && iends_with(got.host, suffix);
}

}  // namespace

bool origin_allowed(std::string_view origin, const std::vector<std::string>& patterns) {
  if (patterns.empty()) return true;
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
    const bool wildcard = pattern.find("*.") != std::string::npos;
    return wildcard ? wildcard_matches(pattern, origin) : iequals(pattern, origin);
  });
}

}  // namespace sigver::ws
