// One command-line parser for every trainrun command: CLI11 underneath; flag spellings, env
// fallbacks, suggestions, one-line errors and one help layout on top.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace trainrun::cli {

// An environment lookup ("" when unset); tests pass their own.
using EnvLookup = std::function<std::string(const std::string&)>;

// One declared flag as given: its canonical spelling (the first long name declared, else the
// short one), its value ("1" for a switch) and the spelling typed ("-f" for --stepfactor; the
// canonical one for an environment fallback), for messages in the user's own words.
struct FlagValue {
  std::string flag;
  std::string value;
  std::string typed;
};

// What a parse found, in command-line order.
struct ParsedArgs {
  std::vector<FlagValue> flags;           // declared flags, repeats included
  std::vector<std::string> operands;      // the declared operand (CONFIG), when given
  std::vector<std::string> extras;        // every token no declared flag or operand took
  std::vector<std::string> after_dashes;  // after a "--" (commands that take one)
  bool dashes = false;                    // a "--" was given
  bool help = false;  // -h or --help before any "--", with stopAtHelp (nothing else is parsed)
};

// How a command words its mistakes: each command's tests pin its own sentences.
struct ErrorWording {
  // `flag` as typed; `guess` the closest declared flag ("" when none is close).
  std::function<std::string(const std::string& flag, const std::string& guess)> unknown_flag;
  // `flag` as typed, when it ends the command line without its value.
  std::function<std::string(const std::string& flag)> needs_value;
};

// The wording most commands share: "<command>: unknown flag --x (did you mean --y?)" and
// "--x needs a value". `command` as typed ("trainrun index").
ErrorWording commandWording(const std::string& command);

// torchrun's variable for a flag: --nproc-per-node -> PET_NPROC_PER_NODE.
std::string torchrunEnvName(const std::string& flag);

// A command's flags. Declare them (in the order help lists them), then parse.
class CommandParser {
 public:
  // `name`: the command as typed ("trainrun bench allreduce").
  explicit CommandParser(const std::string& name);
  ~CommandParser();
  CommandParser(const CommandParser&) = delete;
  CommandParser& operator=(const CommandParser&) = delete;

  // Accept torchrun's underscore spellings (--nproc_per_node) of the flags declared after.
  CommandParser& underscoreSpellings();
  // A flag with a value. `names`: "-b,--minbytes" or "--nnodes,--nodes" (the first long name is
  // canonical; the others are aliases). `value`: its placeholder in help ("SIZE"). `help`: its
  // description; a '\n' starts a continuation line. `env`: a variable taken when the flag is not
  // on the command line ("": none).
  CommandParser& flag(const std::string& names, const std::string& value, const std::string& help,
                      const std::string& env = "");
  // A flag without a value; `env` set to "1" gives it.
  CommandParser& toggle(const std::string& names, const std::string& help,
                        const std::string& env = "");
  // One operand (e.g. CONFIG): the first token that is no flag; later ones are extras.
  CommandParser& operand(const std::string& name);
  // Tokens after the first "--" are the command's own (after_dashes), never parsed.
  CommandParser& commandAfterDashes();
  // -h/--help anywhere before "--" wins over everything: parse() returns with help set (other
  // commands leave -h to whoever prints their help, as an unknown flag).
  CommandParser& stopAtHelp();

  // Parses `args` (after the command's own words). An unknown flag throws ConfigError through
  // `wording`, unless `keep_unknown` (then unknown flags and their values stay in extras, in
  // order, for another parser; only for commands without an operand, which an unknown flag's
  // value would look like). A flag without its value throws through `wording`.
  ParsedArgs parse(const std::vector<std::string>& args, const ErrorWording& wording,
                   bool keep_unknown = false) const;
  // The index in `args` of the first operand: the first token before any "--" that is neither
  // a flag nor a declared flag's value; args.size() when there is none. Lets a command hand
  // everything from there on to a program (torchrun's `SCRIPT.py ARGS...`).
  size_t operandAt(const std::vector<std::string>& args) const;
  // The flags `parsed` lacks whose variable `env` sets, in declaration order.
  std::vector<FlagValue> envFallbacks(const ParsedArgs& parsed, const EnvLookup& env) const;
  // The options block: `heading` (e.g. "options:"), then one row per flag and -h/--help, names
  // from column 2 and descriptions from column 23 (continuation lines aligned), '\n' ended.
  std::string optionsHelp(const std::string& heading) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainrun::cli
