#pragma once
// Which browser pages may open a WebSocket: the Origin header of the upgrade request against
// the operator's list (`[server] allowed_origins`). A page on another site can otherwise use
// a public signaling server as its own.
#include <string>
#include <string_view>
#include <vector>

namespace sigver::ws {

// `patterns` as the configuration holds them (lower case): exact origins such as
// "https://example.org" or "http://localhost:8080", and wildcards "*.example.org" (any
// scheme) or "https://*.example.org", which match subdomains only. Ports must agree: a
// pattern without a port matches only origins without one. An empty list allows any origin.
bool origin_allowed(std::string_view origin, const std::vector<std::string>& patterns);

}  // namespace sigver::ws
