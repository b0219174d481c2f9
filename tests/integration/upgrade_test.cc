// Live binary upgrade (issue 12, /work/notes/upgrade-design.md) through the real binary: the
// server runs from a copy of sigverd in the test's own directory, so that a test can rename
// another file over that path (a script that exits, the sigverd-next-handover build) before
// it asks for the upgrade with `sigverd -s upgrade` or SIGUSR2, as an operator would.
//
// Every joiner relays numbered messages with its member both ways (numbered_relay.h's
// payloads, one stream per joiner), so each arrival is checked to be exactly the next one of
// exactly its stream: nothing lost, repeated, reordered or crossing goes unnoticed, and any
// close or EOF a peer sees fails the test.
//
// The new master is a child of the old one, reparented when the old one exits: the test
// process is a child subreaper, so it inherits the new masters, reaps them, and stops them by
// pid at the end. Nothing is left behind: the end of every test checks it.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/numbered_relay.h"
#include "support/test_certs.h"
#include "support/tls_client.h"
#include "support/worker_probe.h"

extern char** environ;

namespace sigver::itest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

constexpr int kWorkers = 4;
// What must come; only a broken server makes a test wait this long.
constexpr Millis kWait{15000};

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

size_t Count(const std::string& text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The numbers that follow each occurrence of `prefix` in `log`, in order.
std::vector<pid_t> PidsAfter(const std::string& log, const std::string& prefix) {
  std::vector<pid_t> pids;
  for (size_t at = log.find(prefix); at != std::string::npos; at = log.find(prefix, at + 1)) {
    pids.push_back(static_cast<pid_t>(std::atol(log.c_str() + at + prefix.size())));
  }
  return pids;
}

// The whole lines of `log` that contain `needle`.
std::vector<std::string> RawLines(const std::string& log, std::string_view needle) {
  std::vector<std::string> found;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) found.push_back(line);
  }
  return found;
}

std::string Describe(const std::vector<pid_t>& pids) {
  std::string text = "[";
  for (size_t i = 0; i < pids.size(); ++i) text += (i ? ", " : "") + std::to_string(pids[i]);
  return text + "]";
}

std::string DescribeStatus(int status) {
  if (status < 0) return "not exited";
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

bool ExitedZero(int status) { return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0; }

// ---- processes, as /proc shows them ----

// State letter and parent of `pid` ('?' and -1 when it does not exist).
std::pair<char, pid_t> StateAndParent(pid_t pid) {
  const std::string stat = read_file_text("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return {'?', -1};
  std::istringstream rest(stat.substr(close + 1));
  char state = '?';
  long parent = -1;
  rest >> state >> parent;
  return {state, static_cast<pid_t>(parent)};
}

// Every live (not zombie) process whose parent is `parent`, from /proc/*/stat (field 4).
std::vector<pid_t> LiveChildrenOf(pid_t parent) {
  std::vector<pid_t> found;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return found;
  while (const dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    const auto [state, ppid] = StateAndParent(static_cast<pid_t>(pid));
    if (ppid == parent && state != 'Z' && state != 'X' && state != '?') {
      found.push_back(static_cast<pid_t>(pid));
    }
  }
  ::closedir(dir);
  std::sort(found.begin(), found.end());
  return found;
}

// Waits until `pid` is gone. When it is our child by then (a master whose parent exited is
// reparented to us, the subreaper), reaps it and stores its wait status in `status`.
bool WaitGone(pid_t pid, Millis bound, int* status = nullptr) {
  const auto deadline = Clock::now() + bound;
  for (;;) {
    int st = 0;
    const pid_t done = ::waitpid(pid, &st, WNOHANG);
    if (done == pid) {
      if (status) *status = st;
      return true;
    }
    if (done < 0 && !ProcessAlive(pid)) return true;  // not ours: its parent reaps it
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// Reaps every child of ours that has exited. Only once the first master is reaped: its
// ServerProcess must see its exit itself.
void ReapZombies() {
  int status = 0;
  while (::waitpid(-1, &status, WNOHANG) > 0) {
  }
}

// ---- commands ----

struct CommandResult {
  int status = -1;
  std::string output;
};

// Runs `args` (argv[0] a path) with stdout and stderr to `output_path`; bounded.
CommandResult RunCommand(const std::vector<std::string>& args, const std::string& output_path,
                         Millis bound = Millis(10000)) {
  CommandResult result;
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& arg : copy) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t child = -1;
  const int err = ::posix_spawn(&child, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    result.output = "posix_spawn " + args[0] + ": " + std::strerror(err);
    return result;
  }
  const auto deadline = Clock::now() + bound;
  for (;;) {
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child) {
      result.status = status;
      break;
    }
    if (Clock::now() >= deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      result.output = "(killed: still running after " + std::to_string(bound.count()) + " ms) ";
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  result.output += read_file_text(output_path);
  return result;
}

// ---- numbered streams ----

// One joiner of a group and its two streams with the member: up (joiner -> member, carrying
// the joiner's routing id at the member) and down (member -> joiner, id 0 on the wire).
struct Stream {
  size_t index = 0;  // names the stream in its payloads (NumberedData)
  uint16_t port = 0;
  Peer peer;
  uint32_t id = 0;  // 0 until the member received up message 0
  uint32_t up_sent = 0, up_received = 0, down_sent = 0, down_received = 0;
};

struct Group {
  std::string key;
  uint16_t port = 0;  // the member's (plain port or the wss proxy)
  Peer member;
  std::deque<Stream> joiners;  // a deque: references stay valid as joiners arrive
  bool gone = false;           // closed by the test
};

class Relay {
 public:
  Group& AddGroup(std::string key, uint16_t port) {
    Group& g = groups.emplace_back();
    g.key = std::move(key);
    g.port = port;
    g.member = Peer(port);
    return g;
  }
  Stream& AddJoiner(Group& group, uint16_t port) {
    Stream& s = group.joiners.emplace_back();
    s.index = next_index_++;
    s.port = port;
    s.peer = Peer(port);
    return s;
  }
  // A joiner that already joined the group's key elsewhere (BackgroundJoiner).
  Stream& AdoptJoiner(Group& group, Peer peer) {
    Stream& s = group.joiners.emplace_back();
    s.index = next_index_++;
    s.port = group.port;
    s.peer = std::move(peer);
    return s;
  }
  size_t Peers() const {
    size_t n = 0;
    for (const Group& g : groups) n += g.gone ? 0 : 1 + g.joiners.size();
    return n;
  }

  // The next message of every stream: each joiner up, the member down to each joiner whose
  // id it knows.
  AssertionResult Send() {
    for (Group& g : groups) {
      if (g.gone) continue;
      for (Stream& s : g.joiners) {
        if (!s.peer.send_content(0, NumberedData(s.index, 'u', s.up_sent)))
          return AssertionFailure() << "key " << g.key << ", joiner " << s.index
                                    << ": send failed: " << s.peer.error();
        ++s.up_sent;
        if (s.id == 0) continue;
        if (!g.member.send_content(s.id, NumberedData(s.index, 'd', s.down_sent)))
          return AssertionFailure() << "key " << g.key << ", member: send to " << s.id
                                    << " failed: " << g.member.error();
        ++s.down_sent;
      }
    }
    return AssertionSuccess();
  }

  // Receives until every stream is at most `lag` messages behind what was sent; every
  // arrival must be the next message of its own stream.
  AssertionResult Receive(uint32_t lag, Millis timeout = kWait) {
    for (Group& g : groups) {
      if (g.gone) continue;
      if (auto ok = ReceiveAtMember(g, lag, timeout); !ok) return ok;
      for (Stream& s : g.joiners) {
        while (s.down_received + lag < s.down_sent) {
          const Received got = s.peer.receive(timeout);
          if (auto ok = IsContent(got, 0, NumberedData(s.index, 'd', s.down_received)); !ok)
            return AssertionFailure()
                   << "key " << g.key << ", joiner " << s.index << ", down message "
                   << s.down_received << ": " << ok.message();
          ++s.down_received;
          ++delivered;
        }
      }
    }
    return AssertionSuccess();
  }

  AssertionResult Rounds(int count) {
    for (int i = 0; i < count; ++i) {
      if (auto ok = Send(); !ok) return ok;
      if (auto ok = Receive(0); !ok) return ok;
    }
    return AssertionSuccess();
  }

  // Nothing but what was checked arrived at any peer (no close, no leave notice): a sync at
  // each. Everything sent must have been received first.
  AssertionResult Quiet() {
    for (Group& g : groups) {
      if (g.gone) continue;
      if (auto ok = ReceivedNothing(g.member.sync(kWait)); !ok)
        return AssertionFailure() << "key " << g.key << ", member: " << ok.message();
      for (Stream& s : g.joiners) {
        if (auto ok = ReceivedNothing(s.peer.sync(kWait)); !ok)
          return AssertionFailure()
                 << "key " << g.key << ", joiner " << s.index << ": " << ok.message();
      }
    }
    return AssertionSuccess();
  }

  void Close(Group& g) {
    g.member.ws().close();
    for (Stream& s : g.joiners) s.peer.ws().close();
    g.gone = true;
  }

  std::deque<Group> groups;
  uint64_t delivered = 0;

 private:
  AssertionResult ReceiveAtMember(Group& g, uint32_t lag, Millis timeout) {
    auto behind = [&] {
      return std::any_of(g.joiners.begin(), g.joiners.end(),
                         [&](const Stream& s) { return s.up_received + lag < s.up_sent; });
    };
    while (behind()) {
      const Received got = g.member.receive(timeout);
      if (!got.is_content() || got.content().id() == 0)
        return AssertionFailure() << "key " << g.key
                                  << ", member: expected a numbered message, got "
                                  << got.describe();
      const uint32_t id = got.content().id();
      Stream* from = nullptr;
      for (Stream& s : g.joiners) {
        if (s.id == id) from = &s;
      }
      if (from == nullptr) {
        // The first message of a joiner teaches the member its id.
        for (Stream& s : g.joiners) {
          if (s.id == 0 && s.up_received == 0 && s.up_sent > 0 &&
              got.content().data() == NumberedData(s.index, 'u', 0))
            from = &s;
        }
        if (from == nullptr)
          return AssertionFailure() << "key " << g.key << ", member: a message from id " << id
                                    << " that is no joiner's next one: " << got.describe();
        from->id = id;
      }
      if (auto ok = IsContent(got, from->id, NumberedData(from->index, 'u', from->up_received));
          !ok)
        return AssertionFailure() << "key " << g.key << ", joiner " << from->index
                                  << ", up message " << from->up_received << ": " << ok.message();
      ++from->up_received;
      ++delivered;
    }
    return AssertionSuccess();
  }

  size_t next_index_ = 0;
};

struct JoinRequest {
  Peer* peer;
  uint16_t port;
  std::string key;
  bool expect_first;
};

// Joins every request with all of them on the wire before any answer is read: connect and
// upgrade request for all, then each 101 and a heartbeat (generation 1 at once), then each
// isFirst, which must be the expected one.
AssertionResult JoinPipelined(const std::vector<JoinRequest>& joins, Millis timeout = kWait) {
  for (const JoinRequest& j : joins) {
    *j.peer = Peer(j.port);
    WsClient& ws = j.peer->ws();
    if (!ws.connect(j.port, timeout) ||
        !ws.send_raw(WsClient::upgrade_request("/" + j.key), timeout))
      return AssertionFailure() << "key " << j.key << ": " << ws.last_error();
  }
  for (const JoinRequest& j : joins) {
    const HttpResponse response = j.peer->ws().read_http_response(timeout);
    if (response.status != 101)
      return AssertionFailure() << "key " << j.key << ": expected 101, got "
                                << (response.status ? response.head : "no answer");
    if (!j.peer->send(heartbeat_message()))
      return AssertionFailure() << "key " << j.key << ": " << j.peer->error();
  }
  for (const JoinRequest& j : joins) {
    if (auto ok = IsIsFirst(j.peer->receive(timeout), j.expect_first); !ok)
      return AssertionFailure() << "key " << j.key << ": " << ok.message();
  }
  return AssertionSuccess();
}

// Joins the members of groups[first..], then all their joiners.
AssertionResult FormGroups(Relay& relay, size_t first = 0) {
  std::vector<JoinRequest> members, joiners;
  for (size_t i = first; i < relay.groups.size(); ++i) {
    Group& g = relay.groups[i];
    if (g.gone) continue;
    members.push_back({&g.member, g.port, g.key, true});
    for (Stream& s : g.joiners) joiners.push_back({&s.peer, s.port, g.key, false});
  }
  if (auto ok = JoinPipelined(members); !ok) return ok;
  return JoinPipelined(joiners);
}

// One more joiner on every live group of groups[first, end): each must join its group
// (isFirst=false); their messages go out with the next Send().
AssertionResult JoinLate(Relay& relay, size_t first, size_t end) {
  std::vector<JoinRequest> requests;
  for (size_t i = first; i < end && i < relay.groups.size(); ++i) {
    Group& g = relay.groups[i];
    if (g.gone) continue;
    Stream& s = relay.AddJoiner(g, g.port);
    requests.push_back({&s.peer, s.port, g.key, false});
  }
  return JoinPipelined(requests);
}

// Opens WebSocket connections one after the other on a thread, each joining a key of its
// own, until stopped: a refused or unanswered connection at any moment of an upgrade shows.
class ConnectProbe {
 public:
  explicit ConnectProbe(uint16_t port) : port_(port), thread_([this] { Run(); }) {}
  ~ConnectProbe() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  double slowest_seconds() const {
    std::lock_guard lock(mutex_);
    return slowest_;
  }
  std::string errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
  }

 private:
  void Run() {
    for (int n = 0; !stop_; ++n) {
      Peer peer(port_);
      bool first = false;
      const auto start = Clock::now();
      const std::string key = "probe" + std::to_string(::getpid()) + "n" + std::to_string(n);
      const bool joined = peer.join(key, first, Millis(10000));
      {
        std::lock_guard lock(mutex_);
        slowest_ = std::max(slowest_, SecondsSince(start));
        if (!joined || !first) {
          if (errors_.size() < 2000)
            errors_ += "probe " + std::to_string(n) + ": " +
                       (joined ? std::string("isFirst=false on a fresh key") : peer.error()) + "\n";
        }
      }
      ++(joined && first ? ok_ : failed_);
      peer.ws().close();
      std::this_thread::sleep_for(5ms);
    }
  }

  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0};
  mutable std::mutex mutex_;
  double slowest_ = 0;
  std::string errors_;
  std::thread thread_;  // last: starts once the rest is initialized
};

// Joins existing keys one after the other on a thread while the main thread relays, so
// that joins certainly overlap every moment of an upgrade: each must join its key's group
// (isFirst=false). The main thread takes them over as streams (Take).
class BackgroundJoiner {
 public:
  struct Joined {
    size_t group = 0;  // index into the keys given
    Peer peer;
    Clock::time_point started, done;
  };
  BackgroundJoiner(uint16_t port, std::vector<std::string> keys, size_t most)
      : port_(port), keys_(std::move(keys)), most_(most), thread_([this] { Run(); }) {}
  ~BackgroundJoiner() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<Joined> Take() {
    std::lock_guard lock(mutex_);
    std::vector<Joined> out = std::move(joined_);
    joined_.clear();
    return out;
  }
  int failed() const { return failed_; }
  std::string errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
  }

 private:
  void Run() {
    for (size_t n = 0; !stop_ && n < most_; ++n) {
      Joined j;
      j.group = (n * 7) % keys_.size();
      j.peer = Peer(port_);
      j.started = Clock::now();
      bool first = true;
      const bool ok = j.peer.join(keys_[j.group], first, Millis(10000));
      j.done = Clock::now();
      std::lock_guard lock(mutex_);
      if (ok && !first) {
        joined_.push_back(std::move(j));
      } else {
        ++failed_;
        if (errors_.size() < 2000)
          errors_ += "key " + keys_[j.group] + ": " +
                     (ok ? std::string("isFirst=true on a key with a group") : j.peer.error()) +
                     "\n";
      }
      std::this_thread::sleep_for(1ms);
    }
  }

  uint16_t port_;
  std::vector<std::string> keys_;
  size_t most_;
  std::atomic<bool> stop_{false};
  std::atomic<int> failed_{0};
  mutable std::mutex mutex_;
  std::vector<Joined> joined_;
  std::string errors_;
  std::thread thread_;  // last: starts once the rest is initialized
};

using Tick = std::function<AssertionResult()>;

class UpgradeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Orphans (a new master whose parent exited, its workers if it dies) become our
    // children: they can be waited for, and none outlives the test.
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0) << std::strerror(errno);
    char pattern[] = "/tmp/sigver-upgrade-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr) << std::strerror(errno);
    dir_ = pattern;
    binary_ = dir_ + "/sigverd";
    pid_file_ = dir_ + "/sigverd.pid";
    ASSERT_FALSE(SigverdBinary().empty());
    ASSERT_NO_FATAL_FAILURE(InstallBinary(SigverdBinary()));
  }

  void TearDown() override;

  // ---- the binary at binary_ ----

  // Replaces the file at binary_ with a copy of `source` the way a package manager does: a
  // new file next to it, renamed over the path (the running copy keeps its own inode).
  void InstallBinary(const std::string& source) {
    const std::string staging = binary_ + ".new";
    std::error_code error;
    std::filesystem::copy_file(source, staging, std::filesystem::copy_options::overwrite_existing,
                               error);
    ASSERT_FALSE(error) << "copy " << source << ": " << error.message();
    ASSERT_EQ(::chmod(staging.c_str(), 0755), 0) << std::strerror(errno);
    ASSERT_EQ(::rename(staging.c_str(), binary_.c_str()), 0) << std::strerror(errno);
  }
  void InstallScript(const std::string& text) {
    const std::string staging = binary_ + ".new";
    {
      std::ofstream out(staging, std::ios::trunc);
      out << text;
      ASSERT_TRUE(out.good()) << staging;
    }
    ASSERT_EQ(::chmod(staging.c_str(), 0755), 0) << std::strerror(errno);
    ASSERT_EQ(::rename(staging.c_str(), binary_.c_str()), 0) << std::strerror(errno);
  }

  // ---- the server ----

  ServerConfig BaseConfig() const {
    ServerConfig config;
    config.server = {"worker_processes = " + std::to_string(kWorkers), "pid = " + pid_file_};
    // After joining, the peers of these tests send no heartbeats: 100 missed intervals of 5 s
    // is longer than any test.
    config.protocol = {"heartbeat_misses = 100"};
    return config;
  }

  // Starts the copy at binary_ and waits until the pid file names it and its 4 workers run.
  void Start(ServerConfig config) {
    server_ = std::make_unique<ServerProcess>(binary_, std::move(config));
    ASSERT_TRUE(server_->ready()) << server_->diagnostics();
    old_master_ = server_->pid();
    ASSERT_TRUE(WaitUntil(
        [&] {
          return ReadPidFile() == old_master_ &&
                 LiveChildrenOf(old_master_).size() == static_cast<size_t>(kWorkers);
        },
        std::chrono::seconds(5)))
        << "pid file: " << ReadPidFile() << ", workers " << Describe(LiveChildrenOf(old_master_))
        << "\n"
        << server_->diagnostics();
    first_workers_ = LiveChildrenOf(old_master_);
  }

  uint16_t port() const { return server_->port(); }
  std::string Log() const { return server_->log_text(); }

  pid_t ReadPidFile() const {
    const std::string text = read_file_text(pid_file_);
    return text.empty() ? -1 : static_cast<pid_t>(std::atol(text.c_str()));
  }

  // `sigverd -s upgrade -c CONFIG`, run with `binary` (binary_ unless a test replaced it
  // with something that is no sigverd).
  void CommandUpgrade(const std::string& binary) {
    const CommandResult result =
        RunCommand({binary, "-s", "upgrade", "-c", server_->config_path()}, dir_ + "/command.out");
    ASSERT_TRUE(ExitedZero(result.status))
        << binary << " -s upgrade: " << DescribeStatus(result.status) << ": " << result.output;
  }
  // The server with `keys` groups spread over the workers, key k with 1 + k % `spread`
  // joiners beside its member, formed and relaying.
  void StartWithGroups(int keys, const std::string& tag, int spread) {
    ASSERT_NO_FATAL_FAILURE(Start(BaseConfig()));
    for (int k = 0; k < keys; ++k) {
      Group& g = relay_.AddGroup(KeyOwnedBy(k % kWorkers, kWorkers, tag), port());
      for (int j = 0; j < 1 + k % spread; ++j) relay_.AddJoiner(g, port());
    }
    ASSERT_TRUE(FormGroups(relay_));
    ASSERT_TRUE(relay_.Rounds(2));
  }

  // `sigverd -s upgrade` to binary_ goes through while everybody relays: a new master
  // serves alone, the old one exits 0, nothing is lost.
  void ExpectUpgradeGoesThrough() {
    const Tick relaying = Relaying();
    ASSERT_TRUE(relay_.Send());
    ASSERT_NO_FATAL_FAILURE(CommandUpgrade(binary_));
    const pid_t next = WaitUpgraded(old_master_, relaying);
    ASSERT_GT(next, 0);
    ASSERT_TRUE(relay_.Receive(0));
    const int status = WaitFirstMasterExit(kWait, relaying);
    EXPECT_TRUE(ExitedZero(status)) << DescribeStatus(status);
    EXPECT_TRUE(ServedOnlyBy(next));
    ASSERT_TRUE(relay_.Receive(0));
    ASSERT_TRUE(relay_.Rounds(2));
    ASSERT_TRUE(relay_.Quiet());
  }

  // One round of relaying: every stream sends, and what was sent the round before arrives.
  Tick Relaying() {
    return [this]() -> AssertionResult {
      if (auto ok = relay_.Send(); !ok) return ok;
      return relay_.Receive(1);
    };
  }

  void SignalUpgrade(pid_t master) {
    ASSERT_GT(master, 0);
    ASSERT_EQ(::kill(master, SIGUSR2), 0) << std::strerror(errno);
  }

  // Waits for `condition`, calling `tick` (relaying) in between; false on timeout or when
  // tick fails (a test failure is added then).
  bool WaitFor(const std::function<bool()>& condition, Millis bound, const Tick& tick = nullptr) {
    const auto deadline = Clock::now() + bound;
    for (;;) {
      if (condition()) return true;
      if (Clock::now() >= deadline) return false;
      if (tick) {
        if (auto ok = tick(); !ok) {
          ADD_FAILURE() << "while waiting: " << ok.message();
          return false;
        }
      }
      std::this_thread::sleep_for(10ms);
    }
  }
  bool WaitForLog(const std::string& needle, size_t count, Millis bound = kWait,
                  const Tick& tick = nullptr) {
    return WaitFor([&] { return Count(Log(), needle) >= count; }, bound, tick);
  }

  // After an upgrade of `from` was asked for: waits until the pid file names another master,
  // which logged that it serves, and `from` logged that it handed over. Returns that master
  // (-1 with a test failure). Fails at once on an unexpected `upgrade abandoned`.
  pid_t WaitUpgraded(pid_t from, const Tick& tick = nullptr, Millis bound = Millis(20000)) {
    pid_t next = -1;
    bool abandoned = false;
    const bool done = WaitFor(
        [&] {
          const std::string log = Log();
          if (Count(log, "upgrade abandoned") > abandoned_expected_) {
            abandoned = true;
            return true;
          }
          const pid_t named = ReadPidFile();
          if (named <= 0 || named == from) return false;
          const std::string n = std::to_string(named);
          if (log.find("upgrade complete: master " + n + " serving") == std::string::npos ||
              log.find("upgrade: new master " + n + " is serving") == std::string::npos)
            return false;
          next = named;
          return true;
        },
        bound, tick);
    if (!done || abandoned || next <= 0) {
      ADD_FAILURE() << "the upgrade of master " << from << " did not complete"
                    << (abandoned ? " (abandoned)" : "") << "; pid file: " << ReadPidFile() << "\n"
                    << InterestingLog();
      return -1;
    }
    masters_.insert(next);
    return next;
  }

  // Waits for the first master (our own child) to exit; its wait status, -1 if it did not.
  int WaitFirstMasterExit(Millis bound, const Tick& tick = nullptr) {
    if (!WaitFor([&] { return !server_->running(); }, bound, tick)) return -1;
    return server_->wait_exit(Millis(0));
  }

  // The picture after an upgrade to `master` (or a rollback to it): the pid file names it,
  // exactly kWorkers processes have it as their parent (the workers it logged it started),
  // and the only process left that is our child is `master` itself: no earlier master or
  // worker is still around. Waits up to 5 s for it to settle.
  AssertionResult ServedOnlyBy(pid_t master) {
    std::vector<pid_t> workers, ours;
    const pid_t self = ::getpid();
    const bool settled = WaitUntil(
        [&] {
          workers = LiveChildrenOf(master);
          ours = LiveChildrenOf(self);
          return ReadPidFile() == master && workers.size() == static_cast<size_t>(kWorkers) &&
                 ours == std::vector<pid_t>{master};
        },
        std::chrono::seconds(5));
    if (!settled)
      return AssertionFailure() << "expected master " << master << " with " << kWorkers
                                << " workers and nothing else; pid file names " << ReadPidFile()
                                << ", children of the master: " << Describe(workers)
                                << ", children of the test: " << Describe(ours);
    // They are the workers it started (the master logs "worker N started, pid P").
    std::map<int, pid_t> logged;
    for (const LogLine& line : LinesContaining(Log(), " started, pid ")) {
      int index = -1, pid = 0;
      if (line.pid == master && line.worker == -1 &&
          std::sscanf(line.text.c_str(), "worker %d started, pid %d", &index, &pid) == 2)
        logged[index] = static_cast<pid_t>(pid);
    }
    std::vector<pid_t> started;
    for (const auto& [index, pid] : logged) started.push_back(pid);
    std::sort(started.begin(), started.end());
    if (started != workers)
      return AssertionFailure() << "children of master " << master << ": " << Describe(workers)
                                << ", workers it logged: " << Describe(started);
    for (pid_t old : masters_) {
      if (old == master) continue;
      if (!LiveChildrenOf(old).empty())
        return AssertionFailure() << "earlier master " << old << " still has children "
                                  << Describe(LiveChildrenOf(old));
    }
    return AssertionSuccess();
  }

  // Every worker of the first master is gone.
  AssertionResult FirstWorkersGone() {
    for (pid_t pid : first_workers_) {
      if (!WaitGone(pid, Millis(5000)))
        return AssertionFailure() << "old worker " << pid << " still runs";
    }
    return AssertionSuccess();
  }

  // The line of the master that handed over to `next`, and the groups it says moved.
  long GroupsMovedTo(pid_t next) {
    const std::string prefix = "upgrade: new master " + std::to_string(next) + " is serving, ";
    const std::string log = Log();
    const size_t at = log.find(prefix);
    return at == std::string::npos ? -1 : std::atol(log.c_str() + at + prefix.size());
  }

  // A plain group of two forms on whichever master serves now and relays both ways.
  AssertionResult Healthy() {
    const std::string key = random_key("health");
    Peer member(port()), joiner(port());
    bool first = false;
    if (!member.join(key, first, kWait) || !first)
      return AssertionFailure() << "health: first peer: " << member.error() << " first=" << first;
    if (!joiner.join(key, first, kWait) || first)
      return AssertionFailure() << "health: second peer: " << joiner.error() << " first=" << first;
    if (!joiner.send_content(0, "health-up")) return AssertionFailure() << joiner.error();
    const Received up = member.receive(kWait);
    if (!up.is_content() || up.content().id() == 0 || up.content().data() != "health-up")
      return AssertionFailure() << "health: member got " << up.describe();
    if (!member.send_content(up.content().id(), "health-down"))
      return AssertionFailure() << member.error();
    if (auto ok = IsContent(joiner.receive(kWait), 0, "health-down"); !ok)
      return AssertionFailure() << "health: joiner: " << ok.message();
    return AssertionSuccess();
  }

  // Everything but the debug lines, the last 200 of them: what explains a failed upgrade.
  std::string InterestingLog() const {
    if (!server_) return "";
    std::vector<std::string> lines;
    std::istringstream in(server_->log_text());
    for (std::string line; std::getline(in, line);) {
      if (line.find("[debug]") == std::string::npos) lines.push_back(line);
    }
    std::string text = "--- error log without debug lines ---\n";
    for (size_t i = lines.size() > 200 ? lines.size() - 200 : 0; i < lines.size(); ++i)
      text += lines[i] + "\n";
    return text;
  }

  // Every master this test saw: the first, those the pid file named, those the log names.
  std::set<pid_t> AllMasters() const {
    std::set<pid_t> all = masters_;
    if (old_master_ > 0) all.insert(old_master_);
    const pid_t named = ReadPidFile();
    if (named > 0) all.insert(named);
    if (server_) {
      for (pid_t pid : PidsAfter(server_->log_text(), "upgrade: started new master "))
        if (pid > 0) all.insert(pid);
    }
    return all;
  }

  void StopEverything();

  std::string dir_, binary_, pid_file_;
  std::unique_ptr<ServerProcess> server_;
  pid_t old_master_ = -1;
  std::vector<pid_t> first_workers_;
  std::set<pid_t> masters_;
  std::set<pid_t> killed_;      // killed on purpose: their deaths may be logged
  std::vector<pid_t> stopped_;  // SIGSTOPped: continued at the end whatever happened
  size_t abandoned_expected_ = 0;
  Relay relay_;
};

void UpgradeTest::StopEverything() {
  const pid_t self = ::getpid();
  std::set<pid_t> masters = AllMasters();
  masters.erase(old_master_);  // ServerProcess stops it
  std::set<pid_t> signalled;
  auto terminate_ours = [&] {
    for (pid_t m : masters) {
      if (signalled.count(m) == 0 && ParentPid(m) == self && ProcessAlive(m)) {
        ::kill(m, SIGTERM);
        signalled.insert(m);
      }
    }
  };
  terminate_ours();
  if (server_) server_->stop();
  // A new master that was the first one's child is ours now; its workers end with it.
  const bool all_gone = WaitUntil(
      [&] {
        terminate_ours();
        ReapZombies();
        return LiveChildrenOf(self).empty();
      },
      std::chrono::seconds(10));
  if (!all_gone) {
    ADD_FAILURE() << "still running 10 s after the masters were told to stop: "
                  << Describe(LiveChildrenOf(self)) << " (killed now)";
    // Every process that is our child descends from the first master: ours to kill.
    for (int pass = 0; pass < 3 && !LiveChildrenOf(self).empty(); ++pass) {
      for (pid_t pid : LiveChildrenOf(self)) {
        for (pid_t child : LiveChildrenOf(pid)) ::kill(child, SIGKILL);
        ::kill(pid, SIGKILL);
      }
      WaitUntil(
          [&] {
            ReapZombies();
            return LiveChildrenOf(self).empty();
          },
          std::chrono::seconds(3));
    }
  }
  ReapZombies();
}

void UpgradeTest::TearDown() {
  for (pid_t pid : stopped_) {
    const pid_t parent = ParentPid(pid);
    if (parent == old_master_ || parent == ::getpid()) ::kill(pid, SIGCONT);
  }
  stopped_.clear();
  if (server_) {
    // Whatever a test did, the master the pid file names serves a new group.
    const pid_t current = ReadPidFile();
    const std::set<pid_t> known = AllMasters();
    if (current > 0 && known.count(current) && ProcessAlive(current) && !killed_.count(current)) {
      EXPECT_TRUE(Healthy()) << "at the end of the test (master " << current << ")";
    }
  }
  relay_.groups.clear();  // every client connection closed
  StopEverything();
  if (server_) {
    // A crash hidden behind a passing test: the masters log deaths of their children;
    // sanitizers print to the output file or the error log.
    const std::string everything = server_->log_text() + server_->output_text();
    for (const char* sign : {"killed by SIG", "Sanitizer", "runtime error:"}) {
      for (const std::string& line : RawLines(everything, sign)) {
        const bool expected = std::any_of(killed_.begin(), killed_.end(), [&](pid_t pid) {
          return line.find(std::to_string(pid)) != std::string::npos;
        });
        EXPECT_TRUE(expected) << "the server crashed or a sanitizer complained: " << line;
      }
    }
    if (HasFailure()) {
      std::cerr << server_->diagnostics() << "\n" << InterestingLog() << std::endl;
    } else if (std::getenv("SIGVER_UPGRADE_TEST_LOG") != nullptr) {
      std::cerr << InterestingLog() << std::endl;  // to study a passing run
    }
  }
  server_.reset();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

// What a rollback test saw, for the test's output.
void Report(const std::string& what, const std::vector<std::string>& lines) {
  std::cout << "[ upgrade  ] " << what << "\n";
  for (const std::string& line : lines) std::cout << "[ upgrade  ]   " << line << "\n";
  std::cout << std::flush;
}

// ---- the tests ----

// The proof: 1,000 peers over 300 keys relaying while `sigverd -s upgrade` replaces
// a master of 4 workers by the same build started again.
TEST_F(UpgradeTest, ThousandPeersOnThreeHundredKeysRelayThroughSigverdSUpgrade) {
  ASSERT_NO_FATAL_FAILURE(Start(BaseConfig()));
  // 100 keys of 4 peers and 200 keys of 3 (a member and its joiners), spread over the
  // workers: 1,000 peers.
  constexpr size_t kKeys = 300;
  for (size_t k = 0; k < kKeys; ++k) {
    Group& g = relay_.AddGroup(KeyOwnedBy(static_cast<int>(k % kWorkers), kWorkers, "up"), port());
    for (int j = 0; j < (k < 100 ? 3 : 2); ++j) relay_.AddJoiner(g, port());
  }
  ASSERT_EQ(relay_.Peers(), 1000u);
  ASSERT_TRUE(FormGroups(relay_));
  ASSERT_TRUE(relay_.Rounds(3));

  // Relaying goes on while the upgrade happens: every step sends the next message of every
  // stream and receives all but the last two rounds, so messages are always in flight. New
  // peers join in waves at every step: 4 on existing keys (they must join the group there)
  // and a new group of two. Meanwhile one thread joins existing keys without a pause (the
  // main thread takes them over as streams) and another opens connections on fresh keys.
  std::vector<std::string> keys;
  for (size_t k = 0; k < kKeys; ++k) keys.push_back(relay_.groups[k].key);
  ConnectProbe probe(port());
  BackgroundJoiner joiner(port(), keys, 400);
  size_t joined_during = 0, joined_by_thread = 0;
  Clock::time_point switch_seen = Clock::time_point::max();
  auto adopt = [&](const Clock::time_point signalled) {
    for (BackgroundJoiner::Joined& j : joiner.Take()) {
      ++joined_by_thread;
      if (j.started >= signalled && j.started < switch_seen) ++joined_during;
      relay_.AdoptJoiner(relay_.groups[j.group], std::move(j.peer));
    }
  };
  ASSERT_TRUE(relay_.Send());
  const auto signalled_at = Clock::now();
  ASSERT_NO_FATAL_FAILURE(CommandUpgrade(binary_));
  enum Phase { kSignalled, kStarted, kServing, kOldMasterGone, kPhases };
  const char* const kPhaseNames[] = {"before the new master started", "while groups moved",
                                     "after the switch", "after the old master exited"};
  Phase phase = kSignalled;
  size_t joined_in[kPhases] = {};
  size_t wave_cursor = 0;
  int steps = 0, steps_after = 0;
  double serving_after = 0, gone_after = 0;
  pid_t next = -1;
  int old_status = -1;
  for (;; ++steps) {
    ASSERT_LT(SecondsSince(signalled_at), 40.0)
        << "the upgrade did not finish: still " << kPhaseNames[phase] << "\n"
        << InterestingLog();
    const std::string log = Log();
    ASSERT_EQ(Count(log, "upgrade abandoned"), 0u) << InterestingLog();
    if (phase == kSignalled && log.find("upgrade: started new master ") != std::string::npos)
      phase = kStarted;
    if (phase == kStarted) {
      const std::vector<pid_t> complete = PidsAfter(log, "upgrade complete: master ");
      if (!complete.empty() && log.find("upgrade: new master " + std::to_string(complete[0]) +
                                        " is serving") != std::string::npos) {
        next = complete[0];
        masters_.insert(next);
        serving_after = SecondsSince(signalled_at);
        switch_seen = Clock::now();
        phase = kServing;
      }
    }
    if (phase == kServing && !server_->running()) {
      old_status = server_->wait_exit(Millis(0));
      gone_after = SecondsSince(signalled_at);
      phase = kOldMasterGone;
    }
    if (phase == kOldMasterGone && ++steps_after > 3) break;
    adopt(signalled_at);

    std::vector<JoinRequest> wave;
    for (int i = 0; i < 4; ++i) {
      Group& g = relay_.groups[wave_cursor++ % kKeys];
      Stream& s = relay_.AddJoiner(g, port());
      wave.push_back({&s.peer, port(), g.key, false});
    }
    ASSERT_TRUE(JoinPipelined(wave)) << kPhaseNames[phase];
    const size_t fresh = relay_.groups.size();
    relay_.AddJoiner(relay_.AddGroup(random_key("fresh"), port()), port());
    ASSERT_TRUE(FormGroups(relay_, fresh)) << kPhaseNames[phase];
    joined_in[phase] += 6;

    ASSERT_TRUE(relay_.Send()) << kPhaseNames[phase];
    ASSERT_TRUE(relay_.Receive(2)) << kPhaseNames[phase];
  }
  joiner.Stop();
  adopt(signalled_at);
  ASSERT_TRUE(relay_.Rounds(1));  // the last ones adopted send their first message
  probe.Stop();
  EXPECT_EQ(joiner.failed(), 0) << joiner.errors();
  EXPECT_GT(joined_during, 0u) << "no join overlapped the upgrade";

  // The switch, as the log and /proc tell it.
  ASSERT_GT(next, 0);
  EXPECT_NE(next, old_master_);
  EXPECT_TRUE(ExitedZero(old_status)) << "old master " << DescribeStatus(old_status);
  const std::string log = Log();
  EXPECT_EQ(Count(log, "upgrade: checking the configuration with " + binary_), 1u);
  EXPECT_EQ(
      Count(log, "upgrade: started new master " + std::to_string(next) + " (" + binary_ + ")"), 1u);
  EXPECT_EQ(Count(log, "upgrade complete: master " + std::to_string(next) + " serving"), 1u);
  EXPECT_GE(GroupsMovedTo(next), static_cast<long>(kKeys))
      << "every group of the old workers moved";
  bool old_master_logged_exit = false;
  for (const LogLine& line : LinesContaining(log, "master exiting with code 0"))
    old_master_logged_exit |= line.pid == old_master_;
  EXPECT_TRUE(old_master_logged_exit);
  EXPECT_TRUE(FirstWorkersGone());
  EXPECT_TRUE(ServedOnlyBy(next));
  EXPECT_EQ(probe.failed(), 0) << probe.errors();
  EXPECT_GT(probe.ok(), 0);

  // Every group is whole on one worker of the new master: one more joiner on each of the
  // 300 keys joins it, and everybody relays once more. Nobody was closed.
  ASSERT_TRUE(JoinLate(relay_, 0, kKeys));
  ASSERT_TRUE(relay_.Rounds(2));
  ASSERT_TRUE(relay_.Quiet());

  std::cout << "[ upgrade  ] " << relay_.Peers() << " peers at the end, " << relay_.delivered
            << " messages checked in " << steps << " steps; new master serving after "
            << serving_after << " s, old master gone after " << gone_after
            << " s; peers joined before the new master started: " << joined_in[kSignalled]
            << ", while groups moved: " << joined_in[kStarted]
            << ", after the switch: " << joined_in[kServing] + joined_in[kOldMasterGone]
            << "; by the joining thread " << joined_by_thread << " (" << joined_during
            << " started between the signal and the switch); probe connections " << probe.ok()
            << " (slowest " << probe.slowest_seconds() << " s)" << std::endl;
}

// A second upgrade asked for as soon as the first one switched (the first master may still
// be finishing): a third master serves, both earlier ones exit, nobody is dropped.
// `systemctl kill -s USR2 sigverd` without --kill-whom=main signals every process of the
// unit: the workers ignore USR2, the master upgrades once, and no peer notices.
TEST_F(UpgradeTest, UsrTwoToEveryProcessUpgradesOnceAndKillsNoWorker) {
  ASSERT_NO_FATAL_FAILURE(StartWithGroups(20, "usr2", 1));
  const Tick relaying = Relaying();
  const std::vector<pid_t> workers = LiveChildrenOf(old_master_);
  ASSERT_EQ(workers.size(), static_cast<size_t>(kWorkers));
  ASSERT_TRUE(relay_.Send());
  for (pid_t pid : workers) ASSERT_EQ(::kill(pid, SIGUSR2), 0) << std::strerror(errno);
  ASSERT_NO_FATAL_FAILURE(SignalUpgrade(old_master_));
  const pid_t next = WaitUpgraded(old_master_, relaying);
  ASSERT_GT(next, 0);
  ASSERT_TRUE(relay_.Receive(0));
  const int status = WaitFirstMasterExit(kWait, relaying);
  EXPECT_TRUE(ExitedZero(status)) << DescribeStatus(status);
  EXPECT_EQ(Count(Log(), "upgrade: started new master "), 1u);
  EXPECT_EQ(Count(Log(), "exited unexpectedly"), 0u) << InterestingLog();
  EXPECT_TRUE(ServedOnlyBy(next));
  ASSERT_TRUE(relay_.Rounds(2));
  ASSERT_TRUE(relay_.Quiet());
}

TEST_F(UpgradeTest, SecondUpgradeRightAfterTheFirst) {
  ASSERT_NO_FATAL_FAILURE(StartWithGroups(60, "twice", 3));
  const size_t keys = relay_.groups.size();
  const Tick relaying = Relaying();
  ConnectProbe probe(port());

  ASSERT_TRUE(relay_.Send());
  ASSERT_NO_FATAL_FAILURE(CommandUpgrade(binary_));
  const pid_t first = WaitUpgraded(old_master_, relaying);
  ASSERT_GT(first, 0);
  ASSERT_TRUE(relay_.Send());
  const bool first_master_there = server_->running();
  ASSERT_NO_FATAL_FAILURE(CommandUpgrade(binary_));  // the pid file names `first` now
  const pid_t second = WaitUpgraded(first, relaying);
  ASSERT_GT(second, 0);
  EXPECT_NE(second, old_master_);
  ASSERT_TRUE(relay_.Receive(0));

  const int status = WaitFirstMasterExit(kWait, relaying);
  EXPECT_TRUE(ExitedZero(status)) << "first master " << DescribeStatus(status);
  int first_status = -1;
  ASSERT_TRUE(WaitFor([&] { return WaitGone(first, Millis(0), &first_status); }, kWait, relaying))
      << "master " << first << " did not exit";
  ASSERT_TRUE(relay_.Receive(0));
  probe.Stop();
  // Reaped here if it outlived the first master (then it was ours); else the first one did.
  if (first_status != -1) {
    EXPECT_TRUE(ExitedZero(first_status)) << DescribeStatus(first_status);
  }
  std::set<pid_t> exited;
  for (const LogLine& line : LinesContaining(Log(), "master exiting with code 0"))
    exited.insert(line.pid);
  EXPECT_TRUE(exited.count(old_master_) && exited.count(first)) << InterestingLog();
  EXPECT_EQ(Count(Log(), "upgrade: started new master "), 2u);
  EXPECT_TRUE(FirstWorkersGone());
  EXPECT_TRUE(ServedOnlyBy(second));
  EXPECT_EQ(probe.failed(), 0) << probe.errors();

  ASSERT_TRUE(JoinLate(relay_, 0, keys));
  ASSERT_TRUE(relay_.Rounds(2));
  ASSERT_TRUE(relay_.Quiet());
  Report(std::string("second upgrade asked for while the first master was ") +
             (first_master_there ? "still running" : "already gone"),
         {});
}

// wss peers: their TLS sessions stay in the old workers, which relay them to the groups'
// new workers; the old master waits for them and exits once their clients left.
TEST_F(UpgradeTest, WssPeersKeepRelayingAndTheOldMasterWaitsForThem) {
  testcerts::TestCerts certs;
  std::string error;
  ASSERT_TRUE(certs.create(error)) << error;
  const uint16_t tls_port = find_free_port();
  ServerConfig config = BaseConfig();
  config.server.push_back("listen_tls = 127.0.0.1:" + std::to_string(tls_port));
  // ServerProcess writes these inside [server]; they open their own section.
  for (const std::string& line :
       {std::string("[tls]"), "certificate = " + certs.server_cert(),
        "certificate_key = " + certs.server_key(), "ca = " + certs.intermediate()})
    config.server.push_back(line);
  ASSERT_NO_FATAL_FAILURE(Start(config));
  TlsProxy proxy(tls_port, certs.ca());
  ASSERT_TRUE(proxy.ok());
  const uint16_t wss = proxy.port();

  // 8 groups all over wss (a member and 2 joiners), 4 mixed (a plain member, a wss joiner
  // and a plain one), 8 plain pairs: keys on every worker.
  for (int k = 0; k < 20; ++k) {
    const uint16_t member_port = k < 8 ? wss : port();
    Group& g = relay_.AddGroup(KeyOwnedBy(k % kWorkers, kWorkers, "wss"), member_port);
    if (k < 8) {
      relay_.AddJoiner(g, wss);
      relay_.AddJoiner(g, wss);
    } else if (k < 12) {
      relay_.AddJoiner(g, wss);
      relay_.AddJoiner(g, port());
    } else {
      relay_.AddJoiner(g, port());
    }
  }
  constexpr size_t kWithTls = 12;  // groups[0, 12) hold wss peers
  ASSERT_TRUE(FormGroups(relay_));
  ASSERT_TRUE(relay_.Rounds(3));
  const Tick relaying = Relaying();

  ASSERT_TRUE(relay_.Send());
  ASSERT_NO_FATAL_FAILURE(SignalUpgrade(old_master_));
  const pid_t next = WaitUpgraded(old_master_, relaying);
  ASSERT_GT(next, 0);
  ASSERT_TRUE(relay_.Receive(0));

  // Well past the 250 ms after which the old workers stop accepting: the old master is still
  // there, its workers relaying the wss sessions.
  const auto switched = Clock::now();
  ASSERT_TRUE(WaitFor([&] { return SecondsSince(switched) > 1.5; }, Millis(5000), relaying));
  ASSERT_TRUE(relay_.Receive(0));
  EXPECT_TRUE(server_->running()) << "the old master exited while wss clients were connected";
  EXPECT_FALSE(LiveChildrenOf(old_master_).empty()) << "no old worker relays the wss sessions";
  EXPECT_EQ(LiveChildrenOf(next).size(), static_cast<size_t>(kWorkers));

  // New wss peers reach the new master: one more on each group holding wss peers (it joins
  // the group), and a new wss group.
  for (size_t i = 0; i < kWithTls; ++i) relay_.AddJoiner(relay_.groups[i], wss);
  {
    std::vector<JoinRequest> late;
    for (size_t i = 0; i < kWithTls; ++i)
      late.push_back({&relay_.groups[i].joiners.back().peer, wss, relay_.groups[i].key, false});
    ASSERT_TRUE(JoinPipelined(late));
  }
  const size_t fresh = relay_.groups.size();
  relay_.AddJoiner(relay_.AddGroup(random_key("wss-new"), wss), wss);
  ASSERT_TRUE(FormGroups(relay_, fresh));
  ASSERT_TRUE(relay_.Rounds(3));
  ASSERT_TRUE(relay_.Quiet());

  // The old wss clients leave: nothing holds the old workers, the old master exits.
  for (size_t i = 0; i < kWithTls; ++i) relay_.Close(relay_.groups[i]);
  const int status = WaitFirstMasterExit(kWait, relaying);
  ASSERT_NE(status, -1) << "the old master did not exit after its wss clients left";
  EXPECT_TRUE(ExitedZero(status)) << DescribeStatus(status);
  EXPECT_TRUE(FirstWorkersGone());
  EXPECT_TRUE(ServedOnlyBy(next));
  // The plain groups and the new wss group live in the new master.
  ASSERT_TRUE(relay_.Receive(0));
  ASSERT_TRUE(relay_.Rounds(2));
  ASSERT_TRUE(relay_.Quiet());
}

// A new binary that exits at once rolls back, whether it fails the `-t` check or starts and
// exits; nothing is lost, the old master and workers carry on, and a real binary then
// upgrades.
TEST_F(UpgradeTest, BinaryThatExitsAtOnceRollsBackWithNothingLost) {
  ASSERT_NO_FATAL_FAILURE(StartWithGroups(40, "exit", 2));
  const size_t keys = relay_.groups.size();
  const Tick relaying = Relaying();
  auto expect_untouched = [&](const char* step) {
    SCOPED_TRACE(step);
    const std::vector<std::string> abandoned = RawLines(Log(), "upgrade abandoned: ");
    ASSERT_EQ(abandoned.size(), abandoned_expected_) << InterestingLog();
    EXPECT_NE(abandoned.back().find("still serving"), std::string::npos) << abandoned.back();
    ASSERT_TRUE(relay_.Receive(0));
    EXPECT_TRUE(server_->running());
    EXPECT_EQ(ReadPidFile(), old_master_);
    EXPECT_TRUE(ServedOnlyBy(old_master_));
    EXPECT_EQ(LiveChildrenOf(old_master_), first_workers_) << "the same workers serve";
    ASSERT_TRUE(relay_.Rounds(2));
    ASSERT_TRUE(relay_.Quiet());
  };

  // 1. Not even `sigverd -t` works. (The command is the build's binary: the file at
  // binary_ is the script now.)
  ASSERT_NO_FATAL_FAILURE(InstallScript("#!/bin/sh\nexit 3\n"));
  ASSERT_TRUE(relay_.Send());
  ASSERT_NO_FATAL_FAILURE(CommandUpgrade(SigverdBinary()));
  ASSERT_TRUE(WaitForLog("upgrade abandoned: ", 1, kWait, relaying)) << InterestingLog();
  abandoned_expected_ = 1;
  ASSERT_NO_FATAL_FAILURE(expect_untouched("a binary that fails -t"));
  EXPECT_EQ(Count(Log(), "upgrade: started new master "), 0u);

  // 2. It passes the check (the real binary reads the file) but exits as soon as it is
  // started as the new master.
  const std::string real = dir_ + "/sigverd.real";
  std::error_code copy_error;
  std::filesystem::copy_file(SigverdBinary(), real,
                             std::filesystem::copy_options::overwrite_existing, copy_error);
  ASSERT_FALSE(copy_error) << copy_error.message();
  ASSERT_EQ(::chmod(real.c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(
      InstallScript("#!/bin/sh\nfor arg in \"$@\"; do\n  if [ \"$arg\" = -t ]; then exec " + real +
                    " \"$@\"; fi\ndone\nexit 3\n"));
  ASSERT_TRUE(relay_.Send());
  ASSERT_NO_FATAL_FAILURE(SignalUpgrade(old_master_));
  ASSERT_TRUE(WaitForLog("upgrade abandoned: ", 2, kWait, relaying)) << InterestingLog();
  abandoned_expected_ = 2;
  const std::vector<pid_t> started = PidsAfter(Log(), "upgrade: started new master ");
  ASSERT_EQ(started.size(), 1u) << InterestingLog();
  EXPECT_TRUE(WaitGone(started[0], Millis(5000))) << "the exited new master " << started[0];
  ASSERT_NO_FATAL_FAILURE(expect_untouched("a binary that exits when started"));
  Report("rolled back twice:", RawLines(Log(), "upgrade abandoned: "));
  ASSERT_TRUE(JoinLate(relay_, 0, keys));  // the groups are whole
  ASSERT_TRUE(relay_.Rounds(1));

  // 3. The real binary again: this upgrade goes through.
  ASSERT_NO_FATAL_FAILURE(InstallBinary(SigverdBinary()));
  ASSERT_NO_FATAL_FAILURE(ExpectUpgradeGoesThrough());
}

// The new binary's check of a broken configuration file refuses the upgrade: the old master
// (which has not read the file again) carries on; with the file fixed, the upgrade works.
TEST_F(UpgradeTest, InvalidConfigurationRollsBackThenTheFixedOneUpgrades) {
  ASSERT_NO_FATAL_FAILURE(StartWithGroups(40, "conf", 2));
  const size_t keys = relay_.groups.size();
  const Tick relaying = Relaying();

  const std::string good = read_file_text(server_->config_path());
  const std::string from = "worker_processes = " + std::to_string(kWorkers) + "\n";
  const size_t at = good.find(from);
  ASSERT_NE(at, std::string::npos) << good;
  std::string bad = good;
  bad.replace(at, from.size(), "worker_processes = banana\n");
  std::ofstream(server_->config_path(), std::ios::trunc) << bad;

  // SIGUSR2 itself: `sigverd -s upgrade` would refuse to read this file.
  ASSERT_TRUE(relay_.Send());
  ASSERT_NO_FATAL_FAILURE(SignalUpgrade(old_master_));
  ASSERT_TRUE(WaitForLog("upgrade abandoned: ", 1, kWait, relaying)) << InterestingLog();
  abandoned_expected_ = 1;
  const std::string log = Log();
  EXPECT_EQ(Count(log, "upgrade: checking the configuration with " + binary_), 1u);
  EXPECT_EQ(Count(log, "upgrade: started new master "), 0u) << "started despite the check";
  const std::vector<std::string> abandoned = RawLines(log, "upgrade abandoned: ");
  EXPECT_NE(abandoned.back().find("still serving"), std::string::npos) << abandoned.back();
  Report("rolled back:", abandoned);
  ASSERT_TRUE(relay_.Receive(0));
  EXPECT_TRUE(server_->running());
  EXPECT_TRUE(ServedOnlyBy(old_master_));
  EXPECT_EQ(LiveChildrenOf(old_master_), first_workers_);
  EXPECT_TRUE(Healthy());
  ASSERT_TRUE(JoinLate(relay_, 0, keys));
  ASSERT_TRUE(relay_.Rounds(2));
  ASSERT_TRUE(relay_.Quiet());

  std::ofstream(server_->config_path(), std::ios::trunc) << good;
  ASSERT_NO_FATAL_FAILURE(ExpectUpgradeGoesThrough());
}

// The new master dies while groups move. Old workers 2 and 3 are stopped (SIGSTOP), so the
// upgrade cannot commit while workers 0 and 1 have moved their groups to the new workers;
// then the new master is killed.
class UpgradeKillTest : public UpgradeTest {
 protected:
  static constexpr int kPerWorker = 10;

  void SetUpGroups() {
    ASSERT_NO_FATAL_FAILURE(StartWithGroups(kWorkers * kPerWorker, "kill", 2));
    keys_ = relay_.groups.size();
    by_index_ = WorkerPidsFromLog(Log());
    ASSERT_EQ(by_index_.size(), static_cast<size_t>(kWorkers)) << InterestingLog();
    for (const auto& [index, pid] : by_index_)
      ASSERT_EQ(ParentPid(pid), old_master_) << "worker " << index;
  }

  // Lines of the new workers saying they installed a moved group.
  size_t Installed() const {
    size_t n = 0;
    for (const LogLine& line : LinesContaining(Log(), "installed a group of"))
      n += static_cast<size_t>(std::count(new_workers_.begin(), new_workers_.end(), line.pid));
    return n;
  }

  // Stops old workers 2 and 3, asks for the upgrade and waits until the groups of workers 0
  // and 1 are at the new workers (messages of every stream in flight all along).
  void UpgradeHalfWay() {
    ASSERT_TRUE(relay_.Send());
    for (int index : {2, 3}) {
      const pid_t pid = by_index_.at(index);
      ASSERT_EQ(::kill(pid, SIGSTOP), 0);
      stopped_.push_back(pid);
    }
    ASSERT_NO_FATAL_FAILURE(SignalUpgrade(old_master_));
    ASSERT_TRUE(WaitUntil(
        [&] {
          const std::vector<pid_t> started = PidsAfter(Log(), "upgrade: started new master ");
          if (started.empty()) return false;
          next_ = started[0];
          new_workers_ = LiveChildrenOf(next_);
          return new_workers_.size() == static_cast<size_t>(kWorkers) && Installed() > 0;
        },
        std::chrono::seconds(10)))
        << "no group moved to the workers of the new master " << next_ << " ("
        << Describe(new_workers_) << ")\n"
        << InterestingLog();
    WaitUntil([&] { return Installed() >= static_cast<size_t>(2 * kPerWorker); },
              std::chrono::seconds(3));
    moved_ = Installed();
    EXPECT_EQ(Count(Log(), "upgrade complete"), 0u) << "committed with two workers stopped";
    EXPECT_EQ(Count(Log(), " is serving, "), 0u) << "committed with two workers stopped";
  }

  void ContinueStopped(pid_t pid) {
    ::kill(pid, SIGCONT);
    stopped_.erase(std::remove(stopped_.begin(), stopped_.end(), pid), stopped_.end());
  }

  // The picture after the rollback: nothing lost, nobody closed, the old master and its
  // workers as before, the new master's workers gone, the groups whole; then an upgrade that
  // goes through.
  void ExpectRolledBackThenUpgrade() {
    ASSERT_TRUE(WaitFor(
        [&] {
          const std::string log = Log();
          return Count(log, "upgrade abandoned: ") > 0 || Count(log, " is serving, ") > 0;
        },
        kWait))
        << InterestingLog();
    ASSERT_EQ(Count(Log(), " is serving, "), 0u)
        << "the old master switched to master " << next_ << ", which did not take over\n"
        << InterestingLog();
    abandoned_expected_ = 1;
    EXPECT_EQ(Count(Log(), "upgrade complete"), 0u);
    ASSERT_TRUE(relay_.Receive(0)) << moved_ << " groups had moved";
    Report(std::to_string(moved_) + " groups had moved to the workers of master " +
               std::to_string(next_) + " when it was killed:",
           RawLines(Log(), "upgrade abandoned: "));
    for (pid_t pid : new_workers_)
      EXPECT_TRUE(WaitGone(pid, kWait)) << "worker " << pid << " of the killed master stays";
    EXPECT_TRUE(server_->running());
    EXPECT_TRUE(ServedOnlyBy(old_master_));
    EXPECT_EQ(LiveChildrenOf(old_master_), first_workers_);
    ASSERT_TRUE(relay_.Rounds(2));
    ASSERT_TRUE(JoinLate(relay_, 0, keys_));  // every group is whole in the old workers again
    ASSERT_TRUE(relay_.Rounds(1));
    ASSERT_TRUE(relay_.Quiet());

    // A later upgrade goes through.
    ASSERT_NO_FATAL_FAILURE(ExpectUpgradeGoesThrough());
  }

  size_t keys_ = 0;
  std::map<int, pid_t> by_index_;
  pid_t next_ = -1;
  std::vector<pid_t> new_workers_;
  size_t moved_ = 0;
};

// The old master sees the death and rolls back while workers 2 and 3 are still stopped:
// the groups that moved come back, the others never leave (the stopped workers, continued,
// find the upgrade abandoned).
TEST_F(UpgradeKillTest, NewMasterKilledWhileGroupsMoveRollsBack) {
  ASSERT_NO_FATAL_FAILURE(SetUpGroups());
  ASSERT_NO_FATAL_FAILURE(UpgradeHalfWay());
  killed_.insert(next_);
  ASSERT_EQ(::kill(next_, SIGKILL), 0);
  ASSERT_TRUE(WaitForLog("upgrade abandoned: ", 1)) << InterestingLog();
  for (int index : {2, 3}) ContinueStopped(by_index_.at(index));
  ASSERT_NO_FATAL_FAILURE(ExpectRolledBackThenUpgrade());
}

// The same death, but the old master learns of it only after workers 2 and 3 have moved
// too (it is stopped meanwhile, as a descheduled process would be): with every old worker
// done, it must still not commit to a master that is dead.
TEST_F(UpgradeKillTest, NewMasterDeadBeforeTheOldMasterNoticesIsNotCommittedTo) {
  ASSERT_NO_FATAL_FAILURE(SetUpGroups());
  ASSERT_NO_FATAL_FAILURE(UpgradeHalfWay());
  ASSERT_EQ(::kill(old_master_, SIGSTOP), 0);
  stopped_.push_back(old_master_);
  killed_.insert(next_);
  ASSERT_EQ(::kill(next_, SIGKILL), 0);
  EXPECT_TRUE(WaitGone(next_, Millis(5000)));  // a zombie of the stopped old master
  for (int index : {2, 3}) ContinueStopped(by_index_.at(index));
  // Their moves (bounded: a worker that sees the destination gone may skip them).
  WaitUntil(
      [&] {
        size_t n = 0;
        for (const LogLine& line : LinesContaining(Log(), "binary upgrade, "))
          n += line.pid == by_index_.at(2) || line.pid == by_index_.at(3);
        return n >= 2;
      },
      std::chrono::seconds(3));
  std::this_thread::sleep_for(200ms);
  ContinueStopped(old_master_);
  ASSERT_NO_FATAL_FAILURE(ExpectRolledBackThenUpgrade());
}

// The new master stops responding just before the last groups move (SIGSTOP), and dies
// soon after. Until it has taken over, the old side must not retire: the old master may
// only switch once the new one confirmed it serves, else the service ends with the new
// master's death (nobody is left to serve the groups, or to take them back).
TEST_F(UpgradeKillTest, NewMasterDyingAtTheSwitchIsNotCommittedTo) {
  ASSERT_NO_FATAL_FAILURE(SetUpGroups());
  ASSERT_NO_FATAL_FAILURE(UpgradeHalfWay());
  ASSERT_EQ(::kill(next_, SIGSTOP), 0);
  stopped_.push_back(next_);
  for (int index : {2, 3}) ContinueStopped(by_index_.at(index));
  // Workers 2 and 3 move their groups too; give the old master time to decide.
  WaitUntil([&] { return Count(Log(), " is serving, ") > 0; }, std::chrono::seconds(1));
  std::this_thread::sleep_for(200ms);
  killed_.insert(next_);
  ASSERT_EQ(::kill(next_, SIGKILL), 0);
  stopped_.erase(std::remove(stopped_.begin(), stopped_.end(), next_), stopped_.end());
  ASSERT_NO_FATAL_FAILURE(ExpectRolledBackThenUpgrade());
}

// A new master frozen at the switch never answers the old master's commit: after 5 s the
// old master rolls back and, as the frozen master does not stop either, kills it 5 s later;
// its workers, stopped by their parent's death, send the groups back.
TEST_F(UpgradeKillTest, NewMasterFrozenAtTheSwitchIsKilledAndRolledBack) {
  ASSERT_NO_FATAL_FAILURE(SetUpGroups());
  ASSERT_NO_FATAL_FAILURE(UpgradeHalfWay());
  ASSERT_EQ(::kill(next_, SIGSTOP), 0);
  stopped_.push_back(next_);
  killed_.insert(next_);
  for (int index : {2, 3}) ContinueStopped(by_index_.at(index));
  const Tick relaying = Relaying();
  ASSERT_TRUE(WaitFor([&] { return Count(Log(), "did not confirm it took over in 5 s") > 0; },
                      Millis(15000), relaying))
      << InterestingLog();
  ASSERT_TRUE(WaitFor([&] { return Count(Log(), "still running after 5 s, sending SIGKILL") > 0; },
                      Millis(15000), relaying))
      << InterestingLog();
  stopped_.erase(std::remove(stopped_.begin(), stopped_.end(), next_), stopped_.end());
  ASSERT_NO_FATAL_FAILURE(ExpectRolledBackThenUpgrade());
}

// What a peer has not received yet and what it sent half of move with it: a member that
// does not read with 120 KiB waiting for it, a joiner in the middle of a frame, and one in
// the middle of a fragmented message. Once the old master is gone, everything arrives once.
TEST_F(UpgradeTest, UnsentOutputAndPartialInputMoveWithTheirPeers) {
  ASSERT_NO_FATAL_FAILURE(Start(BaseConfig()));
  bool first = false;
  auto chunk = [](int i) { return "chunk " + std::to_string(i) + ":" + std::string(1024, 'c'); };

  const std::string slow_key = random_key("slow");
  Peer slow(port()), flooder(port());
  slow.ws().set_receive_buffer(4096);
  ASSERT_TRUE(slow.join(slow_key, first) && first) << slow.error();
  ASSERT_TRUE(flooder.join(slow_key, first) && !first) << flooder.error();
  constexpr int kChunks = 120;
  for (int i = 0; i < kChunks; ++i) ASSERT_TRUE(flooder.send_content(0, chunk(i)));
  ASSERT_TRUE(ReceivedNothing(flooder.sync(kWait)));  // all of them reached the server

  const std::string split_key = random_key("split");
  Peer split_member(port()), splitter(port());
  ASSERT_TRUE(split_member.join(split_key, first) && first) << split_member.error();
  ASSERT_TRUE(splitter.join(split_key, first) && !first) << splitter.error();
  ASSERT_TRUE(splitter.send_content(0, "before the split"));
  const Received before = split_member.receive(kWait);
  ASSERT_TRUE(before.is_content() && before.content().id() != 0) << before.describe();
  const uint32_t split_id = before.content().id();
  const std::string frame =
      encode_frame(opcode::kBinary, content_message(0, "split frame").SerializeAsString());
  ASSERT_TRUE(splitter.ws().send_raw(frame.substr(0, frame.size() / 2)));

  const std::string fragment_key = random_key("frag");
  Peer fragment_member(port()), fragmenter(port());
  ASSERT_TRUE(fragment_member.join(fragment_key, first) && first) << fragment_member.error();
  ASSERT_TRUE(fragmenter.join(fragment_key, first) && !first) << fragmenter.error();
  ASSERT_TRUE(fragmenter.send_content(0, "before the fragments"));
  const Received hello = fragment_member.receive(kWait);
  ASSERT_TRUE(hello.is_content() && hello.content().id() != 0) << hello.describe();
  const uint32_t fragment_id = hello.content().id();
  const std::string message =
      content_message(0, std::string(3000, 'f') + " fragmented").SerializeAsString();
  ASSERT_TRUE(fragmenter.ws().send_frame(opcode::kBinary, message.substr(0, 1000), {.fin = false}));
  ASSERT_TRUE(ReceivedNothing(fragmenter.sync(kWait)));  // a ping between fragments: it has them
  std::this_thread::sleep_for(200ms);                    // and the half frame

  ASSERT_NO_FATAL_FAILURE(SignalUpgrade(old_master_));
  const pid_t next = WaitUpgraded(old_master_);
  ASSERT_GT(next, 0);
  const int status = WaitFirstMasterExit(kWait);
  ASSERT_NE(status, -1) << "the old master did not exit";
  EXPECT_TRUE(ExitedZero(status)) << DescribeStatus(status);
  EXPECT_TRUE(ServedOnlyBy(next));

  ASSERT_TRUE(splitter.ws().send_raw(frame.substr(frame.size() / 2)));
  EXPECT_TRUE(IsContent(split_member.receive(kWait), split_id, "split frame"));
  ASSERT_TRUE(fragmenter.ws().send_frame(opcode::kContinuation, message.substr(1000)));
  EXPECT_TRUE(IsContent(fragment_member.receive(kWait), fragment_id,
                        std::string(3000, 'f') + " fragmented"));
  uint32_t flooder_id = 0;
  for (int i = 0; i < kChunks; ++i) {
    const Received got = slow.receive(kWait);
    ASSERT_TRUE(got.is_content()) << "chunk " << i << ": " << got.describe();
    if (i == 0) flooder_id = got.content().id();
    ASSERT_TRUE(IsContent(got, flooder_id, chunk(i))) << "chunk " << i;
  }
  EXPECT_NE(flooder_id, 0u);
  // All three still relay both ways, and nothing else arrived.
  struct Pair {
    Peer* member;
    Peer* joiner;
    uint32_t id;
  };
  for (const Pair& p : {Pair{&slow, &flooder, flooder_id}, Pair{&split_member, &splitter, split_id},
                        Pair{&fragment_member, &fragmenter, fragment_id}}) {
    ASSERT_TRUE(p.joiner->send_content(0, "up after"));
    EXPECT_TRUE(IsContent(p.member->receive(kWait), p.id, "up after"));
    ASSERT_TRUE(p.member->send_content(p.id, "down after"));
    EXPECT_TRUE(IsContent(p.joiner->receive(kWait), 0, "down after"));
    EXPECT_TRUE(ReceivedNothing(p.member->sync(kWait)));
    EXPECT_TRUE(ReceivedNothing(p.joiner->sync(kWait)));
  }
}

// Under systemd (Type=notify, NotifyAccess=all) the unit's main pid changes: the new master
// tells $NOTIFY_SOCKET "MAINPID=<its pid>" with READY=1 once it serves.
TEST_F(UpgradeTest, NewMasterTellsSystemdItsPid) {
  UniqueFd notify(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(notify.valid());
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = dir_ + "/notify";
  ASSERT_LT(path.size(), sizeof address.sun_path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(notify.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0)
      << std::strerror(errno);
  const int one = 1;
  ASSERT_EQ(::setsockopt(notify.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
  // The next datagram and the pid of its sender ("" on timeout).
  auto next_notice = [&](pid_t& sender) -> std::string {
    pollfd pfd{notify.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(kWait.count())) != 1) return "";
    std::array<char, 4096> data{};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(ucred))> control{};
    iovec iov{data.data(), data.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(notify.get(), &msg, 0);
    if (n < 0) return "";
    sender = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred credentials{};
        std::memcpy(&credentials, CMSG_DATA(c), sizeof credentials);
        sender = credentials.pid;
      }
    }
    return std::string(data.data(), static_cast<size_t>(n));
  };

  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  Start(BaseConfig());
  ::unsetenv("NOTIFY_SOCKET");  // the server has it; nothing else started here needs it
  ASSERT_FALSE(HasFatalFailure());
  pid_t sender = -1;
  EXPECT_EQ(next_notice(sender), "READY=1");
  EXPECT_EQ(sender, old_master_);
  for (int k = 0; k < 8; ++k) relay_.AddJoiner(relay_.AddGroup(random_key("sd"), port()), port());
  ASSERT_TRUE(FormGroups(relay_));
  ASSERT_TRUE(relay_.Rounds(1));

  ASSERT_TRUE(relay_.Send());
  ASSERT_NO_FATAL_FAILURE(CommandUpgrade(binary_));
  const pid_t next = WaitUpgraded(old_master_);
  ASSERT_GT(next, 0);
  EXPECT_EQ(next_notice(sender), "MAINPID=" + std::to_string(next) + "\nREADY=1");
  EXPECT_EQ(sender, next);
  ASSERT_TRUE(relay_.Receive(0));
  const int status = WaitFirstMasterExit(kWait);
  EXPECT_TRUE(ExitedZero(status)) << DescribeStatus(status);
  EXPECT_TRUE(ServedOnlyBy(next));
  ASSERT_TRUE(relay_.Rounds(1));
  ASSERT_TRUE(relay_.Quiet());
}

// A new master that speaks another handover version (the test build sigverd-next-handover):
// the old master does not move groups but drains. Its peers keep relaying among themselves
// until they leave, new peers go to the new master, and the old master exits after them.
TEST_F(UpgradeTest, IncompatibleHandoverVersionFallsBackToADrain) {
  const std::string next_binary =
      std::filesystem::path(SigverdBinary()).parent_path().string() + "/sigverd-next-handover";
  ASSERT_EQ(::access(next_binary.c_str(), X_OK), 0)
      << next_binary << " (CMake target sigverd-next-handover): " << std::strerror(errno);
  ASSERT_NO_FATAL_FAILURE(StartWithGroups(20, "drain", 2));
  const size_t old_groups = relay_.groups.size();
  const Tick relaying = Relaying();

  ASSERT_NO_FATAL_FAILURE(InstallBinary(next_binary));
  ASSERT_TRUE(relay_.Send());
  ASSERT_NO_FATAL_FAILURE(CommandUpgrade(SigverdBinary()));
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string log = Log();
        return Count(log, "draining instead of moving groups") > 0 ||
               Count(log, "upgrade abandoned") > 0;
      },
      kWait, relaying));
  ASSERT_EQ(Count(Log(), "draining instead of moving groups"), 1u)
      << "no drain: the upgrade to another handover version was abandoned\n"
      << InterestingLog();
  const std::vector<pid_t> started = PidsAfter(Log(), "upgrade: started new master ");
  ASSERT_EQ(started.size(), 1u) << InterestingLog();
  const pid_t next = started[0];
  masters_.insert(next);
  EXPECT_EQ(
      Count(Log(), "upgrade: new master " + std::to_string(next) + " speaks handover version"), 1u);
  EXPECT_EQ(Count(Log(), "upgrade abandoned"), 0u);
  ASSERT_TRUE(WaitFor([&] { return ReadPidFile() == next; }, kWait, relaying))
      << "the pid file names " << ReadPidFile() << ", not the new master " << next;
  ASSERT_TRUE(relay_.Receive(0));
  EXPECT_EQ(LiveChildrenOf(next).size(), static_cast<size_t>(kWorkers));

  // Well after the old workers stopped accepting, new groups form: at the new master.
  const auto drained = Clock::now();
  ASSERT_TRUE(WaitFor([&] { return SecondsSince(drained) > 1.0; }, Millis(5000), relaying));
  ASSERT_TRUE(relay_.Receive(0));
  EXPECT_TRUE(server_->running()) << "the old master left with its peers connected";
  for (int k = 0; k < 8; ++k)
    relay_.AddJoiner(relay_.AddGroup(KeyOwnedBy(k % kWorkers, kWorkers, "drain-new"), port()),
                     port());
  ASSERT_TRUE(FormGroups(relay_, old_groups));
  ASSERT_TRUE(relay_.Rounds(3));
  ASSERT_TRUE(relay_.Quiet());

  // The old peers leave; the old master follows. The new groups never noticed: they live
  // in the new master.
  for (size_t i = 0; i < old_groups; ++i) relay_.Close(relay_.groups[i]);
  const int status = WaitFirstMasterExit(kWait, relaying);
  ASSERT_NE(status, -1) << "the old master did not exit after its peers left";
  EXPECT_TRUE(ExitedZero(status)) << DescribeStatus(status);
  EXPECT_TRUE(FirstWorkersGone());
  EXPECT_TRUE(ServedOnlyBy(next));
  ASSERT_TRUE(relay_.Receive(0));
  ASSERT_TRUE(relay_.Rounds(2));
  ASSERT_TRUE(relay_.Quiet());
}

}  // namespace
}  // namespace sigver::itest
