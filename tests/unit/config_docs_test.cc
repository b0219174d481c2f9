// The documentation of the settings against the table in the code (setting_names()):
// conf/sigver.conf and the manual page sigver.conf(5) must each list every setting the code
// knows and no other, with the same default. Adding a setting to kSettings without
// documenting it, or documenting one that does not exist, fails here.
// GCC 12 with -fsanitize=address reports -Wmaybe-uninitialized inside <regex>'s
// std::function (a false positive in the library); the sanitizer build uses -Werror.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"

#ifndef SIGVER_SOURCE_DIR
#error "needs SIGVER_SOURCE_DIR, the source tree (set in CMakeLists.txt)"
#endif

namespace sigver {
namespace {

using SettingKey = std::pair<std::string, std::string>;  // (section, name)
using Documented = std::map<SettingKey, std::string>;    // -> default value as shown

const std::string kConfPath = "conf/sigver.conf";
const std::string kManPath = "man/sigver.conf.5";

std::string read_source_file(const std::string& relative) {
  std::ifstream in(std::string(SIGVER_SOURCE_DIR) + "/" + relative, std::ios::binary);
  if (!in) ADD_FAILURE() << "cannot open " << relative << " in " << SIGVER_SOURCE_DIR;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string describe(const SettingKey& key) { return "[" + key.first + "] " + key.second; }

void add(Documented& out, const SettingKey& key, const std::string& value, int line,
         const std::string& file, std::vector<std::string>& problems) {
  if (!out.emplace(key, value).second) {
    problems.push_back(file + ":" + std::to_string(line) + ": " + describe(key) + " again");
  }
}

// "name = value" under "[section]". ";name = value" (no blank after the ';') is a setting
// shown commented out: it is documented, and its default is empty. Prose comments start
// with "# ", so a "0 = off" inside them is never taken for a setting.
Documented settings_in_conf(const std::string& text, std::vector<std::string>& problems) {
  static const std::regex section_line(R"(^\[([a-z_]+)\]\s*$)");
  static const std::regex setting_line(R"(^(;?)([a-z_]+)\s*=\s*(.*?)\s*$)");
  Documented out;
  std::string section;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    std::smatch m;
    if (std::regex_match(line, m, section_line)) {
      section = m[1];
    } else if (std::regex_match(line, m, setting_line)) {
      add(out, {section, m[2]}, m[1].length() != 0 ? "" : std::string(m[3]), number, kConfPath,
          problems);
    }
  }
  return out;
}

// The roff escapes a value may hold in the manual: \: (a break point), \& and \- .
std::string unescape_roff(std::string text) {
  static const std::regex zero_width(R"(\\[:&])");
  text = std::regex_replace(text, zero_width, "");
  return std::regex_replace(text, std::regex(R"(\\-)"), "-");
}

// '.SS [section]', then each setting as '.TP' followed by '.B "name = value"'.
Documented settings_in_man(const std::string& text, std::vector<std::string>& problems) {
  static const std::regex section_line(R"(^\.SS "?\[([a-z_]+)\]"?\s*$)");
  static const std::regex tag_line(R"x(^\.B "([a-z_]+) =(?: (.*))?"\s*$)x");
  Documented out;
  std::string section;
  bool after_tp = false;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    std::smatch m;
    if (std::regex_match(line, m, section_line)) {
      section = m[1];
    } else if (after_tp && std::regex_match(line, m, tag_line)) {
      add(out, {section, m[1]}, unescape_roff(m[2]), number, kManPath, problems);
    } else if (line.starts_with(".SH")) {
      section.clear();  // settings only under SETTINGS' subsections
    }
    after_tp = line == ".TP";
  }
  return out;
}

std::set<SettingKey> code_settings() {
  std::set<SettingKey> names;
  for (const auto& name : setting_names()) names.insert(name);
  return names;
}

// Every difference between the code's table and one document, as readable lines.
std::vector<std::string> compare(const std::set<SettingKey>& code, const Documented& documented,
                                 const std::string& file) {
  std::vector<std::string> problems;
  for (const SettingKey& key : code) {
    if (!documented.contains(key)) {
      problems.push_back(describe(key) + " is in kSettings (src/core/config.cc) but not in " +
                         file);
    }
  }
  for (const auto& [key, value] : documented) {
    if (!code.contains(key)) {
      problems.push_back(describe(key) + " is in " + file + " but not in kSettings");
    }
  }
  return problems;
}

std::string join(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += "  " + line + "\n";
  return text;
}

TEST(ConfigDocs, TheCodeHasSettings) {
  // Guards the two tests below against an empty table passing them vacuously.
  std::set<SettingKey> code = code_settings();
  EXPECT_GT(code.size(), 20u);
  EXPECT_TRUE(code.contains({"server", "listen"}));
  EXPECT_EQ(code.size(), setting_names().size()) << "a setting is in kSettings twice";
}

TEST(ConfigDocs, ConfListsEverySettingOfTheCodeAndNoOther) {
  std::vector<std::string> problems;
  Documented conf = settings_in_conf(read_source_file(kConfPath), problems);
  std::vector<std::string> more = compare(code_settings(), conf, kConfPath);
  problems.insert(problems.end(), more.begin(), more.end());
  EXPECT_TRUE(problems.empty()) << join(problems);
}

TEST(ConfigDocs, ManPageListsEverySettingOfTheCodeAndNoOther) {
  std::vector<std::string> problems;
  Documented man = settings_in_man(read_source_file(kManPath), problems);
  std::vector<std::string> more = compare(code_settings(), man, kManPath);
  problems.insert(problems.end(), more.begin(), more.end());
  EXPECT_TRUE(problems.empty()) << join(problems);
}

TEST(ConfigDocs, ManPageShowsTheDefaultsOfTheConf) {
  std::vector<std::string> problems;
  Documented conf = settings_in_conf(read_source_file(kConfPath), problems);
  Documented man = settings_in_man(read_source_file(kManPath), problems);
  for (const auto& [key, value] : conf) {
    auto found = man.find(key);
    if (found != man.end() && found->second != value) {
      problems.push_back(describe(key) + ": \"" + value + "\" in " + kConfPath + ", \"" +
                         found->second + "\" in " + kManPath);
    }
  }
  EXPECT_TRUE(problems.empty()) << join(problems);
}

TEST(ConfigDocs, ConfHoldsTheBuiltInDefaults) {
  // Its header says every setting is shown with its built-in default.
  const std::string path = std::string(SIGVER_SOURCE_DIR) + "/" + kConfPath;
  Config loaded;
  std::string error;
  ASSERT_TRUE(load_config_file(path, loaded, error)) << error;
  Config defaults;
  defaults.source = path;
  EXPECT_TRUE(loaded == defaults) << kConfPath << " sets a value other than the default";
}

TEST(ConfigDocs, ParsersSeeWhatTheFormatsSay) {
  std::vector<std::string> problems;
  Documented conf = settings_in_conf(
      "[a]\nx = 1\n# y = not a setting\n;z = /shown/commented\n[b]\nx =\n", problems);
  EXPECT_EQ(conf, (Documented{{{"a", "x"}, "1"}, {{"a", "z"}, ""}, {{"b", "x"}, ""}}));
  Documented man = settings_in_man(
      ".SH SETTINGS\n.SS [a]\n.TP\n.B \"x = 1\\:2\"\ntext\n.B \"y = no .TP before\"\n"
      ".TP\n.B \"z =\"\n.SH FILES\n.TP\n.B \"w = after SETTINGS\"\n",
      problems);
  EXPECT_EQ(man, (Documented{{{"a", "x"}, "12"}, {{"a", "z"}, ""}, {{"", "w"}, "after SETTINGS"}}));
  EXPECT_TRUE(problems.empty()) << join(problems);
}

}  // namespace
}  // namespace sigver
