// CommandParser over CLI11: CLI11 tokenizes (--flag value, --flag=value, aliases, operands);
// values stay strings, checked by each command in its own words.
#include "core/cli_parser.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <map>

#include "core/error.h"
#include "core/strings.h"

namespace trainrun::cli {
namespace {

constexpr size_t kNameColumn = 2;   // where a row's flag names start
constexpr size_t kHelpColumn = 23;  // where a row's description starts

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The name part of "--flag=value" or "-f=value".
std::string nameOf(const std::string& token) { return token.substr(0, token.find('=')); }

// One row: names (and value placeholder) from kNameColumn, the description from kHelpColumn,
// each '\n' in it a continuation line at kHelpColumn.
std::string helpRow(const std::string& names, const std::string& description) {
  std::string row = std::string(kNameColumn, ' ') + names;
  row += row.size() + 1 <= kHelpColumn ? std::string(kHelpColumn - row.size(), ' ') : " ";
  for (char c : description) {
    row += c;
    if (c == '\n') row += std::string(kHelpColumn, ' ');
  }
  return row + "\n";
}

// Every command's options block: CLI11's options in declaration order, one helpRow each
// (short names, then the canonical long name; aliases are for the description to name).
class HelpLayout : public CLI::Formatter {
 public:
  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode) const override {
    std::string out;
    for (const CLI::Option* opt : app->get_options()) {
      if (opt->get_positional()) continue;
      std::string names;
      for (const std::string& s : opt->get_snames()) names += "-" + s + ", ";
      names += "--" + opt->get_lnames().front();
      if (!opt->get_type_name().empty()) names += " " + opt->get_type_name();
      out += helpRow(names, opt->get_description());
    }
    return out + helpRow("-h, --help", "show this help and exit");
  }
};

}  // namespace

ErrorWording commandWording(const std::string& command) {
  ErrorWording w;
  w.unknown_flag = [command](const std::string& flag, const std::string& guess) {
    return command + ": unknown flag " + flag +
           (guess.empty() ? "" : " (did you mean " + guess + "?)");
  };
  w.needs_value = [](const std::string& flag) { return flag + " needs a value"; };
  return w;
}

std::string torchrunEnvName(const std::string& flag) {
  std::string var = "PET_" + flag.substr(flag.find_first_not_of('-'));
  for (char& c : var) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return var;
}

struct CommandParser::Impl {
  struct Spec {
    std::string names;  // CLI11's spelling, underscore aliases included
    std::string canonical;
    std::string value;  // "" for a toggle
    std::string help;
    std::string env;
    std::vector<std::string> spellings;    // as declared, for suggestions
    std::vector<std::string> underscored;  // torchrun's spellings of the long ones
  };
  std::string name;
  bool underscores = false;
  bool command_after_dashes = false;
  bool stop_at_help = false;
  std::string operand;
  std::vector<Spec> specs;

  // A fresh CLI11 app (CLI11 keeps parse state in the app; parse() stays const and reentrant).
  std::unique_ptr<CLI::App> build(std::map<const CLI::Option*, const Spec*>* by_option) const {
    auto app = std::make_unique<CLI::App>("", name);
    app->set_help_flag();  // -h/--help: found before CLI11 runs, printed by the command
    app->allow_extras();
    app->formatter(std::make_shared<HelpLayout>());
    for (const Spec& s : specs) {
      CLI::Option* opt = s.value.empty() ? app->add_flag(s.names, s.help)
                                         : app->add_option(s.names, s.help)
                                               ->expected(1)
                                               ->allow_extra_args(false)
                                               ->type_name(s.value);
      opt->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
      if (by_option) (*by_option)[opt] = &s;
    }
    if (!operand.empty()) app->add_option(operand)->expected(1);
    return app;
  }

  const Spec* find(const std::string& typed) const {
    auto in = [&](const std::vector<std::string>& names) {
      return std::find(names.begin(), names.end(), typed) != names.end();
    };
    for (const Spec& s : specs)
      if (in(s.spellings) || in(s.underscored)) return &s;
    return nullptr;
  }

  // The declared flag closest to a long flag typed wrong ("-x" gets none: too short to guess).
  std::string guess(std::string typed) const {
    if (!startsWith(typed, "--")) return "";
    if (underscores && startsWith(typed, "--")) std::replace(typed.begin(), typed.end(), '_', '-');
    std::vector<std::string> known;
    for (const Spec& s : specs) known.insert(known.end(), s.spellings.begin(), s.spellings.end());
    known.push_back("--help");
    return closestMatch(typed, known);
  }

  // "-e=1M" -> "-e", "1M" for declared short flags (CLI11 would take "=1M" as the value), and
  // "--flag=" -> "--flag", "" (CLI11 would take the next word as the value).
  std::vector<std::string> splitEquals(const std::vector<std::string>& args) const {
    std::vector<std::string> out;
    for (const std::string& a : args) {
      const size_t eq = a.find('=');
      const bool split = eq != std::string::npos && find(a.substr(0, eq)) &&
                         (startsWith(a, "--") ? eq + 1 == a.size() : eq == 2);
      if (split) {
        out.push_back(a.substr(0, eq));
        out.push_back(a.substr(eq + 1));
      } else {
        out.push_back(a);
      }
    }
    return out;
  }

  // Which spelling each of `flags` was typed with: CLI11 keeps the option, not the alias.
  // Walks `tokens` as CLI11 took them: a flag's value is the next word unless attached.
  void nameAsTyped(const std::vector<std::string>& tokens, std::vector<FlagValue>& flags) const {
    size_t k = 0;
    for (size_t i = 0; i < tokens.size() && k < flags.size(); ++i) {
      std::string name = nameOf(tokens[i]);
      const Spec* s = find(name);
      if (!s && !startsWith(name, "--") && name.size() > 2) s = find(name = name.substr(0, 2));
      if (!s || s->canonical != flags[k].flag) continue;
      flags[k++].typed = name;
      if (!s->value.empty() && name == tokens[i]) ++i;  // its value is the next word
    }
  }

  // The first token in `args` that names no declared flag and that CLI11 left over.
  std::string firstUnknownFlag(const std::vector<std::string>& args,
                               const ParsedArgs& parsed) const {
    auto left = [&](const std::string& t) {
      return std::count(parsed.extras.begin(), parsed.extras.end(), t) +
                 std::count(parsed.operands.begin(), parsed.operands.end(), t) >
             0;
    };
    for (const std::string& t : args)
      if (startsWith(t, "-") && t != "-" && t != "--" && !find(nameOf(t)) && left(t)) return t;
    return "";
  }
};

CommandParser::CommandParser(const std::string& name) : impl_(std::make_unique<Impl>()) {
  impl_->name = name;
}

CommandParser::~CommandParser() = default;

CommandParser& CommandParser::underscoreSpellings() {
  impl_->underscores = true;
  return *this;
}

CommandParser& CommandParser::flag(const std::string& names, const std::string& value,
                                   const std::string& help, const std::string& env) {
  Impl::Spec s{names, "", value, help, env, splitList(names), {}};
  for (const std::string& n : s.spellings)
    if (startsWith(n, "--") && s.canonical.empty()) s.canonical = n;
  if (s.canonical.empty()) s.canonical = s.spellings.front();
  if (impl_->underscores)
    for (std::string n : s.spellings)
      if (startsWith(n, "--") && n.find('-', 2) != std::string::npos) {
        std::replace(n.begin() + 2, n.end(), '-', '_');
        s.names += "," + n;
        s.underscored.push_back(n);
      }
  impl_->specs.push_back(std::move(s));
  return *this;
}

CommandParser& CommandParser::toggle(const std::string& names, const std::string& help,
                                     const std::string& env) {
  return flag(names, "", help, env);
}

CommandParser& CommandParser::operand(const std::string& name) {
  impl_->operand = name;
  return *this;
}

CommandParser& CommandParser::stopAtHelp() {
  impl_->stop_at_help = true;
  return *this;
}

CommandParser& CommandParser::commandAfterDashes() {
  impl_->command_after_dashes = true;
  return *this;
}

ParsedArgs CommandParser::parse(const std::vector<std::string>& args, const ErrorWording& wording,
                                bool keep_unknown) const {
  ParsedArgs parsed;
  std::vector<std::string> head;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--" && impl_->command_after_dashes) {
      parsed.dashes = true;
      parsed.after_dashes.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    head.push_back(args[i]);
  }
  for (const std::string& a : head) {
    if (a == "--" || !impl_->stop_at_help) break;
    if (a == "-h" || a == "--help") parsed.help = true;
  }
  if (parsed.help) return parsed;
  std::map<const CLI::Option*, const Impl::Spec*> by_option;
  std::unique_ptr<CLI::App> app = impl_->build(&by_option);
  const std::vector<std::string> split = impl_->splitEquals(head);
  std::vector<std::string> tokens(split.rbegin(), split.rend());  // CLI11 takes from the back
  try {
    app->parse(tokens);
  } catch (const CLI::ArgumentMismatch& e) {  // a value-taking flag ended the line
    // The flag as typed: the line's last word, else CLI11's name for it ("--iters: ...").
    std::string typed = head.empty() ? "" : nameOf(head.back());
    if (!impl_->find(typed))
      typed = std::string(e.what()).substr(0, std::string(e.what()).find(':'));
    throw ConfigError(wording.needs_value(typed));
  } catch (const CLI::ParseError& e) {
    throw ConfigError(impl_->name + ": " + e.what());
  }
  std::map<const CLI::Option*, size_t> used;  // results taken so far, per option
  for (const CLI::Option* opt : app->parse_order()) {
    const size_t i = used[opt]++;
    if (opt->get_positional()) {
      parsed.operands.push_back(opt->results().at(i));
      continue;
    }
    const Impl::Spec* spec = by_option.at(opt);
    parsed.flags.push_back(
        {spec->canonical, spec->value.empty() ? "1" : opt->results().at(i), spec->canonical});
  }
  impl_->nameAsTyped(split, parsed.flags);
  parsed.extras = app->remaining();
  if (keep_unknown) return parsed;
  const std::string unknown = impl_->firstUnknownFlag(head, parsed);
  if (!unknown.empty())
    throw ConfigError(wording.unknown_flag(nameOf(unknown), impl_->guess(nameOf(unknown))));
  return parsed;
}

size_t CommandParser::operandAt(const std::vector<std::string>& args) const {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& t = args[i];
    if (t == "--") return args.size();
    if (!startsWith(t, "-") || t == "-") return i;
    std::string name = nameOf(t);
    const Impl::Spec* s = impl_->find(name);
    if (!s && !startsWith(name, "--") && name.size() > 2) s = impl_->find(name = name.substr(0, 2));
    if (s && !s->value.empty() && name == t) ++i;  // its value is the next word
  }
  return args.size();
}

std::vector<FlagValue> CommandParser::envFallbacks(const ParsedArgs& parsed,
                                                   const EnvLookup& env) const {
  std::vector<FlagValue> out;
  for (const Impl::Spec& s : impl_->specs) {
    if (s.env.empty()) continue;
    const bool given = std::any_of(parsed.flags.begin(), parsed.flags.end(),
                                   [&](const FlagValue& f) { return f.flag == s.canonical; });
    if (given) continue;
    const std::string value = env(s.env);
    if (s.value.empty() ? value == "1" : !value.empty())
      out.push_back({s.canonical, value, s.canonical});
  }
  return out;
}

std::string CommandParser::optionsHelp(const std::string& heading) const {
  return heading + "\n" + impl_->build(nullptr)->help();
}

}  // namespace trainrun::cli
