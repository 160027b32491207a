// The shared command-line parser: spellings, order, env fallbacks, suggestions, help rows.
#include "core/cli_parser.h"

#include <gtest/gtest.h>

#include <map>

#include "core/error.h"

namespace trainrun::cli {
namespace {

// A command with every kind of declaration: short and long names, an alias, underscores,
// a switch, an operand, a command after "--", an env fallback.
std::unique_ptr<CommandParser> example() {
  auto p = std::make_unique<CommandParser>("example");
  p->underscoreSpellings().commandAfterDashes().stopAtHelp().operand("CONFIG");
  p->flag("-n,--iter-count", "N", "how many", "EX_ITER_COUNT");
  p->flag("--nnodes,--nodes", "N", "nodes\nsecond line", torchrunEnvName("--nnodes"));
  p->toggle("--standalone", "one node", "EX_STANDALONE");
  p->flag("--set", "KEY=VALUE", "repeatable");
  return p;
}

ErrorWording wording() {
  ErrorWording w;
  w.unknown_flag = [](const std::string& flag, const std::string& guess) {
    return "unknown " + flag + (guess.empty() ? "" : " (" + guess + "?)");
  };
  w.needs_value = [](const std::string& flag) { return flag + " needs a value"; };
  return w;
}

std::string errorOf(const std::vector<std::string>& args) {
  try {
    example()->parse(args, wording());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(CliParser, FlagsInOrderWithTheSpellingTyped) {
  const ParsedArgs p =
      example()->parse({"c.yaml", "--set", "a=1", "-n=3", "--nodes", "2", "--iter_count", "4",
                        "--set=b=2", "--standalone", "--", "prog", "--set"},
                       wording());
  ASSERT_EQ(p.flags.size(), 6u);
  const std::vector<std::string> flags = {"--set",        "--iter-count", "--nnodes",
                                          "--iter-count", "--set",        "--standalone"};
  const std::vector<std::string> typed = {"--set",        "-n",    "--nodes",
                                          "--iter_count", "--set", "--standalone"};
  const std::vector<std::string> values = {"a=1", "3", "2", "4", "b=2", "1"};
  for (size_t i = 0; i < flags.size(); ++i) {
    EXPECT_EQ(p.flags[i].flag, flags[i]) << i;
    EXPECT_EQ(p.flags[i].typed, typed[i]) << i;
    EXPECT_EQ(p.flags[i].value, values[i]) << i;
  }
  EXPECT_EQ(p.operands, std::vector<std::string>{"c.yaml"});
  EXPECT_TRUE(p.dashes);
  EXPECT_EQ(p.after_dashes, (std::vector<std::string>{"prog", "--set"}));  // never parsed
}

TEST(CliParser, ValuesMayLookLikeFlagsOrBeEmpty) {
  const ParsedArgs p = example()->parse({"-n", "-1", "--set=", "--nnodes", "--set"}, wording());
  ASSERT_EQ(p.flags.size(), 3u);
  EXPECT_EQ(p.flags[0].value, "-1");
  EXPECT_EQ(p.flags[1].value, "");
  EXPECT_EQ(p.flags[2].value, "--set");  // as torchrun: the word after a flag is its value
}

TEST(CliParser, MistakesInTheCommandsOwnWords) {
  EXPECT_EQ(errorOf({"--iter-coutn", "2"}), "unknown --iter-coutn (--iter-count?)");
  EXPECT_EQ(errorOf({"--iter_coutn", "2"}), "unknown --iter_coutn (--iter-count?)");
  EXPECT_EQ(errorOf({"--zzz=1"}), "unknown --zzz");
  EXPECT_EQ(errorOf({"-x"}), "unknown -x");
  EXPECT_EQ(errorOf({"c.yaml", "-n"}), "-n needs a value");
  EXPECT_EQ(errorOf({"--iter_count"}), "--iter_count needs a value");
  EXPECT_EQ(errorOf({"-h", "--bogus"}), "");  // help wins with stopAtHelp
  EXPECT_TRUE(example()->parse({"--nodes", "2", "--help"}, wording()).help);
  // Another parser's flags pass through in order when asked to (a command without operands:
  // an unknown flag's value and an operand look alike).
  CommandParser bare("bare");
  bare.flag("-n,--iter-count", "N", "how many");
  const ParsedArgs kept = bare.parse({"--other", "1", "-n", "2", "x", "--more=3"}, wording(), true);
  EXPECT_EQ(kept.extras, (std::vector<std::string>{"--other", "1", "x", "--more=3"}));
  EXPECT_EQ(kept.flags.size(), 1u);
}

TEST(CliParser, EnvironmentFillsOnlyWhatTheCommandLineLacks) {
  std::map<std::string, std::string> vars{
      {"EX_ITER_COUNT", "7"}, {"PET_NNODES", "3"}, {"EX_STANDALONE", "1"}};
  auto env = [&](const std::string& n) { return vars.count(n) ? vars[n] : std::string(); };
  const std::unique_ptr<CommandParser> p = example();
  std::vector<FlagValue> fallbacks = p->envFallbacks(p->parse({"-n", "2"}, wording()), env);
  ASSERT_EQ(fallbacks.size(), 2u);
  EXPECT_EQ(fallbacks[0].flag, "--nnodes");
  EXPECT_EQ(fallbacks[0].value, "3");
  EXPECT_EQ(fallbacks[1].flag, "--standalone");
  vars["EX_STANDALONE"] = "yes";  // a switch's variable gives it only as "1"
  fallbacks = p->envFallbacks(p->parse({"--nodes", "1"}, wording()), env);
  ASSERT_EQ(fallbacks.size(), 1u);
  EXPECT_EQ(fallbacks[0].flag, "--iter-count");
  EXPECT_EQ(torchrunEnvName("--nproc-per-node"), "PET_NPROC_PER_NODE");
}

TEST(CliParser, HelpRowsShareOneLayout) {
  EXPECT_EQ(example()->optionsHelp("options:"),
            "options:\n"
            "  -n, --iter-count N   how many\n"
            "  --nnodes N           nodes\n"
            "                       second line\n"
            "  --standalone         one node\n"
            "  --set KEY=VALUE      repeatable\n"
            "  -h, --help           show this help and exit\n");
}

}  // namespace
}  // namespace trainrun::cli
