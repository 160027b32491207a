// The launcher's flags on the shared parser (core/cli_parser.h): torchrun's names and PET_*
// fallbacks, strict values, one clear line per mistake, and the help of `trainrun` and `train`.
#include "launch/cli.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <tuple>

#include "core/cli_parser.h"
#include "core/env.h"
#include "core/error.h"
#include "core/strings.h"
#include "launch/worker_spec.h"

namespace trainrun::launch {
namespace {

constexpr int kMaxNprocPerNode = 4096;
constexpr const char* kSeeHelp = "run 'trainrun --help' for usage";

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

int parseNproc(const std::string& flag, const std::string& value,
               const std::function<std::string(const std::string&)>& env) {
  if (value == "gpu" || value == "auto") {
    const int gpus = visibleGpuCount(env);
    if (gpus > 0) return gpus;
    if (value == "gpu")
      throw ConfigError(flag +
                        " gpu: no GPU is visible (no /dev/nvidiaN, or CUDA_VISIBLE_DEVICES "
                        "is empty); use " +
                        flag + " auto or a count");
    return 1;
  }
  if (value == "cpu") return std::max(1, std::min(kMaxNprocPerNode, defaultOmpThreads(1)));
  const std::optional<int64_t> v = wholeNumber(value, 1, kMaxNprocPerNode);
  if (!v) {
    throw ConfigError(flag + " '" + value +
                      "' is not a process count; use gpu, cpu, auto or a whole number from 1 to " +
                      std::to_string(kMaxNprocPerNode) + ", e.g. " + flag + " 2");
  }
  return static_cast<int>(*v);
}

// N, or MIN:MAX (elastic nodes); returns {min, max}.
std::pair<int, int> parseNnodes(const std::string& flag, const std::string& value) {
  constexpr int64_t kMaxNodes = 1 << 20;
  auto colon = value.find(':');
  std::string min_text = value.substr(0, colon);
  std::string max_text = colon == std::string::npos ? min_text : value.substr(colon + 1);
  const std::optional<int64_t> lo = wholeNumber(min_text, 1, kMaxNodes);
  const std::optional<int64_t> hi = wholeNumber(max_text, 1, kMaxNodes);
  if (!lo || !hi || *lo > *hi) {
    throw ConfigError(flag + " '" + value + "' is not a node count; use e.g. " + flag + " 4 or " +
                      flag + " 2:4 (elastic: at least 2, at most 4)");
  }
  return {static_cast<int>(*lo), static_cast<int>(*hi)};
}

int parseNodeRank(const std::string& flag, const std::string& value) {
  const std::optional<int64_t> v = wholeNumber(value, 0, 1 << 20);
  if (!v) throw ConfigError(flag + " '" + value + "' is not a node rank; use 0 for the first node");
  return static_cast<int>(*v);
}

uint16_t parsePort(const std::string& flag, const std::string& value) {
  const std::optional<int64_t> v = wholeNumber(value, 0, 65535);
  if (!v) {
    throw ConfigError(flag + " '" + value +
                      "' is not a TCP port; use 0..65535 (0 = any free port)");
  }
  return static_cast<uint16_t>(*v);
}

std::chrono::milliseconds parseSeconds(const std::string& flag, const std::string& value) {
  errno = 0;
  char* end = nullptr;
  double s = value.empty() ? -1 : std::strtod(value.c_str(), &end);
  if (value.empty() || errno != 0 || *end != '\0' || !std::isfinite(s) || s < 0 || s > 86400) {
    throw ConfigError(flag + " '" + value + "' is not a duration; give seconds, e.g. " + flag +
                      " 10 (0 kills at once)");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(s * 1000)));
}

std::string parseOverride(const std::string& flag, const std::string& value) {
  auto eq = value.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError(flag + " '" + value + "' is not key=value; use e.g. " + flag +
                      " train.steps=100");
  }
  return value;
}

// --rdzv-conf key=value,key=value: `timeout` (and torchrun's `join_timeout`) in seconds, and
// TLS to etcd by torchrun's names: protocol=https, ca_cert, ssl_cert, ssl_cert_key (paths).
void parseRdzvConf(const std::string& flag, const std::string& value, LaunchOptions& opts) {
  static const std::vector<std::pair<std::string, const char*>> kTlsKeys = {
      {"protocol", env::kEtcdProtocol},
      {"ca_cert", env::kEtcdCaCert},
      {"ssl_cert", env::kEtcdSslCert},
      {"ssl_cert_key", env::kEtcdSslCertKey}};
  size_t begin = 0;
  while (begin <= value.size()) {
    size_t end = value.find(',', begin);
    if (end == std::string::npos) end = value.size();
    const std::string item = value.substr(begin, end - begin);
    begin = end + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const auto tls = std::find_if(kTlsKeys.begin(), kTlsKeys.end(),
                                  [&](const auto& k) { return k.first == key; });
    if (eq != std::string::npos && tls != kTlsKeys.end()) {
      const std::string v = item.substr(eq + 1);
      if (key == "protocol" && v != "http" && v != "https")
        throw ConfigError(flag + " '" + item + "': the protocol is http or https");
      if (v.empty()) throw ConfigError(flag + " '" + item + "' needs a value");
      opts.etcd_tls_env.emplace_back(tls->second, v);
      continue;
    }
    if (eq == std::string::npos ||
        (key != "timeout" && key != "join_timeout" && key != "last_call_timeout")) {
      throw ConfigError(flag + " '" + item + "': the keys known here are timeout, " +
                        "join_timeout and last_call_timeout (seconds), e.g. " + flag +
                        " timeout=120, and protocol, ca_cert, ssl_cert and ssl_cert_key (TLS " +
                        "to etcd)");
    }
    const auto seconds = parseSeconds(flag + " " + key, item.substr(eq + 1));
    (key == "last_call_timeout" ? opts.rdzv_last_call : opts.rdzv_timeout) = seconds;
  }
}

void applyFlag(LaunchOptions& opts, const std::string& flag, const std::string& value,
               const std::function<std::string(const std::string&)>& env) {
  if (flag == "--nproc-per-node") {
    opts.nproc_per_node = parseNproc(flag, value, env);
  } else if (flag == "--nnodes") {
    std::tie(opts.min_nnodes, opts.nnodes) = parseNnodes(flag, value);
  } else if (flag == "--node-rank") {
    opts.node_rank = parseNodeRank(flag, value);
  } else if (flag == "--master-addr") {
    if (value.empty()) throw ConfigError(flag + " needs a host name or IP address");
    opts.master_addr = value;
  } else if (flag == "--master-port") {
    opts.master_port = parsePort(flag, value);
  } else if (flag == "--rdzv-backend") {
    if (value != "c10d" && value != "static" && value != "etcd")
      throw ConfigError(flag + " '" + value +
                        "' is not supported; use c10d (node 0's agent hosts the store), static, "
                        "or etcd (an etcd v3 server at --rdzv-endpoint)");
    opts.rdzv_backend = value;
  } else if (flag == "--rdzv-endpoint") {
    if (value.empty()) throw ConfigError(flag + " needs HOST[:PORT], e.g. 10.0.0.1:29400");
    opts.rdzv_endpoint = value;
  } else if (flag == "--rdzv-id") {
    if (value.empty()) throw ConfigError(flag + " needs a run id shared by every node");
    opts.rdzv_id = value;
  } else if (flag == "--rdzv-conf") {
    parseRdzvConf(flag, value, opts);
  } else if (flag == "--local-addr") {
    if (value.empty()) throw ConfigError(flag + " needs this node's IP address or host name");
    opts.local_addr = value;
  } else if (flag == "--grace-period") {
    opts.grace_period = parseSeconds(flag, value);
  } else if (flag == "--max-restarts") {
    const std::optional<int64_t> v = wholeNumber(value, 0, 1 << 20);
    if (!v) throw ConfigError(flag + " '" + value + "' is not a count; use e.g. " + flag + " 3");
    opts.max_restarts = static_cast<int>(*v);
  } else if (flag == "--monitor-interval") {
    opts.monitor_interval = std::max(parseSeconds(flag, value), std::chrono::milliseconds(1));
  } else if (flag == "--log-dir") {
    if (value.empty()) throw ConfigError(flag + " needs a folder, e.g. " + flag + " logs");
    opts.logs.log_dir = value;
  } else if (flag == "--redirects") {
    opts.logs.redirects = parseStdStreams(flag, value);
  } else if (flag == "--tee") {
    opts.logs.tee = parseStdStreams(flag, value);
  } else if (flag == "--local-ranks-filter") {
    opts.logs.console = parseLocalRanks(flag, value);
  } else if (flag == "--module") {
    opts.module = true;
    return;
  } else if (flag == "--no-python") {
    opts.no_python = true;
    return;
  } else if (flag == "--standalone") {
    opts.standalone = true;
    return;  // not a layout the scheduler's environment could contradict
  } else {
    opts.overrides.push_back(parseOverride(flag, value));
    return;  // repeatable; never from PET_*
  }
  opts.given.insert(flag);
}

// The launcher's flags, in the order --help lists them, with torchrun's PET_* fallbacks.
const cli::CommandParser& launcherFlags() {
  static const std::unique_ptr<cli::CommandParser> flags = [] {
    auto p = std::make_unique<cli::CommandParser>("trainrun");
    auto pet = cli::torchrunEnvName;
    p->underscoreSpellings().commandAfterDashes().stopAtHelp().operand("CONFIG");
    p->flag("--nproc-per-node", "N",
            "processes (ranks) on this node: a count, gpu (one per visible GPU),\n"
            "auto (GPUs, else 1) or cpu (one per core) (default 1)",
            pet("--nproc-per-node"));
    p->flag("--nnodes,--nodes", "N|MIN:MAX",
            "nodes in the job (alias --nodes; default 1, or the scheduler's);\n"
            "MIN:MAX is elastic: lost nodes leave, new ones join at a step\n"
            "boundary, the job goes on while MIN remain",
            pet("--nnodes"));
    p->flag("--node-rank", "R",
            "this node's rank, 0..N-1 (default: the scheduler's, else by arrival)",
            pet("--node-rank"));
    p->flag("--rdzv-endpoint", "H:P",
            "node 0's rendezvous store (default MASTER-ADDR:MASTER-PORT), or\n"
            "the etcd server with --rdzv-backend etcd (port 2379 by default)",
            pet("--rdzv-endpoint"));
    p->flag("--rdzv-id", "ID", "run id shared by the job's nodes (default: the scheduler's job id)",
            pet("--rdzv-id"));
    p->flag("--rdzv-backend", "B",
            "c10d or static: node 0's agent hosts the store; etcd: an etcd v3\n"
            "server holds it, so any node, node 0 included, can be lost (CONFIG)",
            pet("--rdzv-backend"));
    p->flag("--rdzv-conf", "K=V,...",
            "timeout=S: how long nodes wait for each other (default 600);\n"
            "last_call_timeout=S: with MIN:MAX, the wait for more than MIN (30);\n"
            "etcd over TLS: protocol=https,ca_cert=CA.pem and, for a client\n"
            "certificate, ssl_cert=CERT.pem,ssl_cert_key=KEY.pem",
            pet("--rdzv-conf"));
    p->flag("--local-addr", "ADDR",
            "this node's address, as the other nodes reach it (default: detected)",
            pet("--local-addr"));
    p->toggle("--standalone", "one node with a private store on a free port", pet("--standalone"));
    p->flag("--master-addr", "ADDR",
            "address ranks use to reach the rendezvous store (default 127.0.0.1)",
            pet("--master-addr"));
    p->flag("--master-port", "PORT",
            "rendezvous store port; on one node a free one is used if taken\n"
            "(default 29500); with several nodes a taken port is an error",
            pet("--master-port"));
    p->flag("--grace-period", "S",
            "seconds from SIGTERM to SIGKILL when stopping ranks (default 120)",
            pet("--grace-period"));
    p->flag("--max-restarts", "N",
            "restart a failed rank up to N times per node; the other ranks keep\n"
            "their state and re-form the group in memory (CONFIG runs; default 0)",
            pet("--max-restarts"));
    p->flag("--monitor-interval", "S", "how often the agent checks its ranks (default 0.1)",
            pet("--monitor-interval"));
    p->flag("--log-dir", "DIR",
            "rank logs go to DIR/RUN-ID_XXXXXX/attempt_K/LOCAL-RANK/{stdout,stderr}.log\n"
            "for the streams -r/-t name (default: a new folder in $TMPDIR)",
            pet("--log-dir"));
    p->flag("-r,--redirects", "S",
            "streams written to the log files instead of the console: 0 none,\n"
            "1 stdout, 2 stderr, 3 both; per local rank as 0:3,1:2 (default 0)",
            pet("--redirects"));
    p->flag("-t,--tee", "S", "streams written to the log files and the console (as -r)",
            pet("--tee"));
    p->flag("--local-ranks-filter", "R,...",
            "only these local ranks' output on the console (others: in their\n"
            "files with -t/-r; stderr not in a file still shows)",
            pet("--local-ranks-filter"));
    p->toggle("-m,--module", "SCRIPT is a Python module: python3 -u -m MODULE ARGS",
              pet("--module"));
    p->toggle("--no-python", "run SCRIPT itself, not with python3 -u", pet("--no-python"));
    p->flag("--set", "KEY=VALUE", "override a config key, e.g. --set train.steps=100 (repeatable)");
    return p;
  }();
  return *flags;
}

bool truthy(const std::string& value) { return !value.empty() && value != "0"; }

// torchrun's program operand: SCRIPT.py, or any word after -m/--no-python (from the command
// line or PET_*). Where it is in `args`, or args.size() when the operand is a CONFIG or none.
struct ScriptOperand {
  size_t at;
  bool module, no_python;
};
ScriptOperand findScript(const std::vector<std::string>& args,
                         const std::function<std::string(const std::string&)>& env) {
  const size_t at = launcherFlags().operandAt(args);
  if (at == args.size()) return {at, false, false};
  auto given = [&](const std::string& a, const std::string& b, const std::string& pet) {
    const auto end = args.begin() + static_cast<long>(at);
    return std::count(args.begin(), end, a) + std::count(args.begin(), end, b) > 0 ||
           truthy(env(pet));
  };
  const bool module = given("-m", "--module", "PET_MODULE");
  const bool no_python = given("--no-python", "--no_python", "PET_NO_PYTHON");
  const std::string& word = args[at];
  const bool py = word.size() > 3 && word.compare(word.size() - 3, 3, ".py") == 0;
  return {module || no_python || py ? at : args.size(), module, no_python};
}

// torchrun's `SCRIPT.py ARGS...` (and -m MODULE, --no-python PROGRAM): from the script on the
// words are the program's, so they become a -- COMMAND; `args` unchanged otherwise (CONFIG).
std::vector<std::string> scriptAsCommand(const std::vector<std::string>& args,
                                         const std::function<std::string(const std::string&)>& env,
                                         LaunchOptions& opts) {
  const auto [at, module, no_python] = findScript(args, env);
  if (at == args.size()) return args;
  const std::vector<std::string> head(args.begin(), args.begin() + static_cast<long>(at));
  if (module && no_python)
    throw ConfigError(
        "--module runs python3 -m MODULE and --no-python runs a program itself; "
        "give one of them");
  std::vector<std::string> out = head;
  out.push_back("--");
  if (!no_python) {
    const std::string python = env("PYTHON_EXEC");  // torchrun's variable for another python
    out.push_back(python.empty() ? "python3" : python);
    out.push_back("-u");
    if (module) out.push_back("-m");
  }
  out.insert(out.end(), args.begin() + static_cast<long>(at), args.end());
  opts.script_form = true;
  return out;
}

// `trainrun train`'s own flags, as its --help lists them (the launcher's parser reads them).
const cli::CommandParser& trainFlags() {
  static const std::unique_ptr<cli::CommandParser> flags = [] {
    auto p = std::make_unique<cli::CommandParser>("trainrun train");
    p->flag("--set", "KEY=VALUE", "override a config key after the hyperparameters (repeatable)");
    p->flag("--nproc-per-node", "N",
            "ranks per host instead of the host's GPUs: a count, gpu, auto or cpu");
    p->flag("--grace-period", "S",
            "seconds from SIGTERM to SIGKILL (default 120, SageMaker's own)");
    p->flag("--max-restarts", "N", "restart a failed rank up to N times per host");
    return p;
  }();
  return *flags;
}

// The launcher's sentences for a mistake the parser finds (tests pin them).
cli::ErrorWording launcherWording() {
  auto canonical = [](std::string flag) {  // torchrun's spelling and --nodes name one flag
    if (startsWith(flag, "--")) std::replace(flag.begin() + 2, flag.end(), '_', '-');
    return flag == "--nodes" ? std::string("--nnodes") : flag;
  };
  cli::ErrorWording w;
  w.unknown_flag = [](const std::string& flag, const std::string& guess) {
    return "unknown flag " + flag + "; " + (guess.empty() ? "" : "did you mean " + guess + "? ") +
           kSeeHelp;
  };
  w.needs_value = [canonical](const std::string& flag) {
    return canonical(flag) + " needs a value; " + kSeeHelp;
  };
  return w;
}

// CONFIG, or -- COMMAND: one of them, once.
void checkOperands(const cli::ParsedArgs& parsed, LaunchOptions& opts) {
  if (!parsed.operands.empty()) opts.config_path = parsed.operands.front();
  for (const std::string& extra : parsed.extras) {
    throw ConfigError("unexpected argument '" + extra + "' after CONFIG " + opts.config_path +
                      "; override config keys with --set key=value, or run a program with -- "
                      "COMMAND");
  }
  if (parsed.dashes && parsed.after_dashes.empty())
    throw ConfigError("-- must be followed by a COMMAND to run, e.g. -- python3 train.py");
  opts.command = parsed.after_dashes;
}

// What no single flag shows: flags that contradict each other or the kind of run.
void checkCombinations(const LaunchOptions& opts) {
  if (opts.standalone && opts.nnodes != 1)
    throw ConfigError("--standalone runs one node; drop it or --nnodes " +
                      std::to_string(opts.nnodes));
  if (opts.node_rank >= opts.nnodes && opts.given.count("--nnodes") != 0)
    throw ConfigError("--node-rank " + std::to_string(opts.node_rank) + " is not below --nnodes " +
                      std::to_string(opts.nnodes) + "; node ranks count from 0");
  if (opts.command.empty() && opts.config_path.empty()) {
    throw ConfigError(std::string("nothing to run: give a CONFIG file or -- COMMAND; ") + kSeeHelp);
  }
  if (!opts.command.empty() && !opts.config_path.empty()) {
    throw ConfigError("give either CONFIG (" + opts.config_path + ") or -- COMMAND, not both");
  }
  if (opts.min_nnodes < opts.nnodes && opts.given.count("--node-rank"))
    throw ConfigError("--nnodes " + std::to_string(opts.min_nnodes) + ":" +
                      std::to_string(opts.nnodes) +
                      " assigns node ranks by arrival (nodes come and go); drop --node-rank");
  if (!opts.command.empty() && opts.min_nnodes < opts.nnodes)
    throw ConfigError(
        "--nnodes MIN:MAX re-forms the built-in worker's group in memory, so it "
        "needs a CONFIG; give a -- COMMAND worker a fixed --nnodes N");
  if (!opts.command.empty() && opts.rdzv_backend == "etcd")
    throw ConfigError(
        "--rdzv-backend etcd serves the built-in worker's store, so it needs a CONFIG; a "
        "-- COMMAND worker's torch.distributed needs --rdzv-backend c10d");
  if (opts.rdzv_backend != "etcd" && !opts.etcd_tls_env.empty())
    throw ConfigError(
        "--rdzv-conf protocol, ca_cert, ssl_cert and ssl_cert_key are TLS to etcd: give "
        "--rdzv-backend etcd, or drop them (node 0's c10d store speaks no TLS)");
  if (opts.rdzv_backend == "etcd" && opts.given.count("--rdzv-endpoint") == 0)
    throw ConfigError(
        "--rdzv-backend etcd needs --rdzv-endpoint HOST[:PORT] of the etcd server "
        "(port 2379 by default)");
  if (!opts.command.empty() && opts.max_restarts > 0) {
    throw ConfigError(
        "--max-restarts recovers the built-in worker's ranks in memory, so it needs a CONFIG; "
        "a -- COMMAND worker must restart on its own");
  }
  if ((opts.module || opts.no_python) && !opts.script_form)
    throw ConfigError(std::string(opts.module ? "--module" : "--no-python") +
                      " names how to run the program given in place of CONFIG, e.g. trainrun " +
                      (opts.module ? "-m pkg.train ARGS" : "--no-python ./train.sh ARGS"));
  if (!opts.command.empty() && !opts.overrides.empty()) {
    throw ConfigError("--set only applies to CONFIG runs; pass settings to your COMMAND directly");
  }
}

}  // namespace

int visibleGpuCount(const std::function<std::string(const std::string&)>& env,
                    const std::string& root) {
  const std::string visible = trainrun::trim(env("CUDA_VISIBLE_DEVICES"));
  if (!visible.empty()) {
    if (visible == "-1" || visible == "none") return 0;
    return static_cast<int>(std::count(visible.begin(), visible.end(), ',')) + 1;
  }
  int count = 0;
  for (int i = 0; i < 1024; ++i) {
    if (::access((root + "/dev/nvidia" + std::to_string(i)).c_str(), F_OK) != 0) break;
    ++count;
  }
  return count;
}

LaunchOptions parseCommandLine(const std::vector<std::string>& args) {
  return parseCommandLine(args, [](const std::string& name) { return env::get(name.c_str()); });
}

LaunchOptions parseCommandLine(const std::vector<std::string>& args,
                               const std::function<std::string(const std::string&)>& env) {
  LaunchOptions opts;
  const cli::ParsedArgs parsed =
      launcherFlags().parse(scriptAsCommand(args, env, opts), launcherWording());
  if (parsed.help) {
    opts.help = true;
    return opts;
  }
  for (const cli::FlagValue& f : parsed.flags) applyFlag(opts, f.flag, f.value, env);
  checkOperands(parsed, opts);
  // torchrun's environment fallbacks: PET_NNODES for --nnodes, PET_NODE_RANK, PET_STANDALONE...
  for (const cli::FlagValue& f : launcherFlags().envFallbacks(parsed, env))
    applyFlag(opts, f.flag, f.value, env);
  checkCombinations(opts);
  return opts;
}

std::string usageText() {
  return R"(usage: trainrun [options] CONFIG [--set KEY=VALUE ...]
       trainrun [options] SCRIPT.py [ARGS ...]  (torchrun's form: python3 -u SCRIPT.py per rank)
       trainrun [options] -- COMMAND [ARGS ...]
       trainrun [options] train [--set KEY=VALUE ...]   (SageMaker: the job from /opt/ml)
       trainrun [options] bench allreduce [-b 8 -e 32M ...]  (nccl-tests' table)
       trainrun bench scaling CONFIG --nodes 1,2,4 [...]    (weak/strong scaling, PNG)
       trainrun bench predict CONFIG --nodes 8,16,32 --link 100Gbit,5us
       trainrun index s3://BUCKET/FOLDER/  (S3 token shards: list them with no header reads)

Launches one process per local rank with torchrun's environment (RANK, LOCAL_RANK,
WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT; OMP_NUM_THREADS when
unset) and hosts the job's rendezvous store. CONFIG runs the built-in worker
(trainrun-worker next to trainrun, or $TRAINRUN_WORKER); -- COMMAND runs any program as
each rank's worker, and SCRIPT.py (or -m MODULE, --no-python PROGRAM) a Python script as
torchrun does: the words after it are the script's. Rank output is prefixed "[rank N] ".
When a rank fails, the others are stopped (SIGTERM, then SIGKILL after the grace period).
SIGTERM to trainrun, or an EC2 spot interruption notice, is a preemption: the built-in
worker stops at a step boundary and saves an emergency checkpoint if it fits before the
deadline (the notice's time, or the grace period).

)" + launcherFlags().optionsHelp("options:") +
         R"(
Flags also take --flag=VALUE and torchrun's underscore spellings (--nproc_per_node); a flag
not given takes torchrun's PET_<FLAG> variable (PET_NNODES, PET_NODE_RANK, ...). Without
flags, the node layout comes from the scheduler: SageMaker (resourceconfig.json), AWS Batch
multi-node parallel jobs, Kubeflow PyTorchJob, Slurm.
Exit status (docs/operations.md, "Exit codes"): 0 when every rank succeeds; the first failing rank's
exit code (128+signal if it was killed); 143 after a preemption (SIGTERM or a spot notice) and
129 when another node was lost (both: retry the job, it resumes); 128+signal when trainrun
itself gets SIGINT; 2 for usage or config errors. `trainrun --version` prints the build.
)";
}

std::string trainUsage() {
  return R"(usage: trainrun [options] train [--set KEY=VALUE ...]

The SageMaker training job's entry point (SageMaker runs `IMAGE train`): the job config is
the hyperparameter `config` (a file in the config channel or the image), else the one YAML
file of the `config` channel, else the image's default; the other hyperparameters are --set
overrides; channels under /opt/ml/input/data become data paths; the model goes to
/opt/ml/model, evaluation.json and metrics to /opt/ml/output/data, checkpoints to
/opt/ml/checkpoints, a failure's reason to /opt/ml/output/failure. Hosts come from resourceconfig.json (or SM_HOSTS/SM_CURRENT_HOST);
ranks per host from SM_NUM_GPUS when set, else one per visible GPU, else one.

)" + trainFlags().optionsHelp("options:") +
         R"(The other launcher flags (`trainrun --help`) apply too.
)";
}

std::string helpText(const std::vector<std::string>& args) {
  std::vector<std::string> words;  // the arguments that are not flags, up to "--"
  for (const std::string& a : args) {
    if (a == "--") break;
    if (!startsWith(a, "-")) words.push_back(a);
  }
  if (!args.empty() && args[0] == "bench") return usageText();  // allreduce: bench/bench_options.h
  if (!words.empty() && words[0] == kSageMakerCommand) return trainUsage();
  return usageText();
}

bool wantsFlag(const std::vector<std::string>& args, const std::string& a, const std::string& b) {
  // A script's words are its own (`trainrun train.py --help` asks the script).
  const size_t end = findScript(args, [](const std::string&) { return std::string(); }).at;
  for (size_t i = 0; i < end; ++i) {
    if (args[i] == "--") return false;
    if (args[i] == a || args[i] == b) return true;
  }
  return false;
}

}  // namespace trainrun::launch
