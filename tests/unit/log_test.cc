// The error log when writing fails (disk full, file-size limit): nothing blocks or stops,
// lost lines are counted, and the first line written again says once how many were lost.
#include "core/log.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace sigver {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t found = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++found;
  return found;
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sigver-log-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/error.log";
  }
  void TearDown() override {
    std::string error;
    log::open("stderr", error);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  void Open(const std::string& path) {
    std::string error;
    ASSERT_TRUE(log::open(path, error)) << error;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(LogTest, LinesLostOnAFullDeviceAreReportedOnceInTheNextFileThatTakesThem) {
  ASSERT_EQ(::access("/dev/full", W_OK), 0) << "/dev/full is needed for ENOSPC";
  ASSERT_NO_FATAL_FAILURE(Open("/dev/full"));
  for (int i = 0; i < 5; ++i) log::write(log::Level::kInfo, "into the full device %d", i);
  ASSERT_NO_FATAL_FAILURE(Open(path_));
  log::write(log::Level::kInfo, "written again");
  log::write(log::Level::kInfo, "and once more");
  const std::vector<std::string> lines = Lines(ReadAll(path_));
  ASSERT_EQ(lines.size(), 3u) << ReadAll(path_);
  EXPECT_NE(lines[0].find("[warn] "), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("error log: 5 lines lost while writing failed: No space left on device"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("[info] "), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("written again"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("and once more"), std::string::npos) << lines[2];
}

TEST_F(LogTest, LinesPastTheFileSizeLimitAreCountedAndTheReportStartsOnItsOwnLine) {
  // RLIMIT_FSIZE makes the file refuse bytes like a full disk does (EFBIG): the line that
  // crosses the limit is written in part, the next ones not at all.
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  constexpr rlim_t kLimit = 1000;
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < kLimit)
    GTEST_SKIP() << "the hard file-size limit is below " << kLimit << " bytes";
  ASSERT_NO_FATAL_FAILURE(Open(path_));
  rlimit low = saved;
  low.rlim_cur = kLimit;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &low), 0);
  constexpr int kLines = 30;
  for (int i = 0; i < kLines; ++i)
    log::write(log::Level::kInfo, "line %02d %s", i, std::string(60, 'x').c_str());
  const std::string at_limit = ReadAll(path_);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  EXPECT_EQ(at_limit.size(), kLimit) << "the log kept writing past the limit";
  log::write(log::Level::kInfo, "after the limit");
  log::write(log::Level::kInfo, "and once more");

  const std::string text = ReadAll(path_);
  EXPECT_EQ(Count(text, "lines lost"), 1u) << text;
  const std::vector<std::string> lines = Lines(text);
  ASSERT_GE(lines.size(), 4u) << text;
  // Whole lines, then what fit of the next one, then the report, then the new lines.
  size_t whole = 0;
  while (whole < lines.size() && lines[whole].find(" [info] ") != std::string::npos &&
         lines[whole].size() > 60 && lines[whole].ends_with(std::string(60, 'x')))
    ++whole;
  size_t next = whole;
  // 1000 bytes is no multiple of the line length: the line that crossed the limit is torn.
  const std::string torn = at_limit.substr(at_limit.rfind('\n') + 1);
  ASSERT_FALSE(torn.empty()) << at_limit;
  ASSERT_LT(next, lines.size()) << text;
  EXPECT_EQ(lines[next], torn) << "the torn line must stay as it was, ended by the report";
  ++next;
  ASSERT_EQ(lines.size(), next + 3) << text;
  const std::string expected = "error log: " + std::to_string(kLines - whole) +
                               " lines lost while writing failed: File too large";
  EXPECT_TRUE(lines[next].ends_with(expected)) << lines[next] << "\nexpected: " << expected;
  EXPECT_NE(lines[next].find(" [warn] "), std::string::npos) << lines[next];
  EXPECT_TRUE(lines[next + 1].ends_with("after the limit")) << lines[next + 1];
  EXPECT_TRUE(lines[next + 2].ends_with("and once more")) << lines[next + 2];
}

TEST_F(LogTest, ReportStartsOnItsOwnLineAfterHalfALineOfAnotherProcess) {
  ASSERT_NO_FATAL_FAILURE(Open("/dev/full"));
  log::write(log::Level::kInfo, "lost");
  log::write(log::Level::kInfo, "lost too");
  // What a process sharing the file leaves when its write fails half-way.
  std::ofstream(path_, std::ios::binary) << "2026/11/26 09:00:00 [deb";
  ASSERT_NO_FATAL_FAILURE(Open(path_));
  log::write(log::Level::kInfo, "back");
  const std::vector<std::string> lines = Lines(ReadAll(path_));
  ASSERT_EQ(lines.size(), 3u) << ReadAll(path_);
  EXPECT_EQ(lines[0], "2026/11/26 09:00:00 [deb");
  EXPECT_TRUE(
      lines[1].ends_with("error log: 2 lines lost while writing failed: No space left on "
                         "device"))
      << lines[1];
  EXPECT_TRUE(lines[2].ends_with("back")) << lines[2];
}

TEST_F(LogTest, AChildForkedAfterALossDoesNotReportItsParentsLostLines) {
  ASSERT_NO_FATAL_FAILURE(Open("/dev/full"));
  for (int i = 0; i < 3; ++i) log::write(log::Level::kInfo, "lost in the parent %d", i);
  ASSERT_NO_FATAL_FAILURE(Open(path_));  // the next write in the parent would report
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    log::write(log::Level::kInfo, "from the child");
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(Count(ReadAll(path_), "lines lost"), 0u) << ReadAll(path_);
  log::write(log::Level::kInfo, "from the parent");
  const std::vector<std::string> lines = Lines(ReadAll(path_));
  ASSERT_EQ(lines.size(), 3u) << ReadAll(path_);
  EXPECT_TRUE(lines[0].ends_with("from the child")) << lines[0];
  EXPECT_TRUE(
      lines[1].ends_with("error log: 3 lines lost while writing failed: No space left on "
                         "device"))
      << lines[1];
  EXPECT_TRUE(lines[2].ends_with("from the parent")) << lines[2];
}

TEST_F(LogTest, ReportThatCannotBeWrittenEitherKeepsCounting) {
  ASSERT_NO_FATAL_FAILURE(Open("/dev/full"));
  log::write(log::Level::kError, "first lost");
  // The report is attempted before each of these and fails too: they are all counted.
  for (int i = 0; i < 9; ++i) log::write(log::Level::kError, "still lost %d", i);
  ASSERT_NO_FATAL_FAILURE(Open(path_));
  log::write(log::Level::kError, "back");
  const std::vector<std::string> lines = Lines(ReadAll(path_));
  ASSERT_EQ(lines.size(), 2u) << ReadAll(path_);
  EXPECT_TRUE(
      lines[0].ends_with("error log: 10 lines lost while writing failed: No space left "
                         "on device"))
      << lines[0];
  EXPECT_TRUE(lines[1].ends_with("back")) << lines[1];
}

}  // namespace
}  // namespace sigver
