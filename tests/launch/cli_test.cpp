// Tests of the launcher's flag parsing: defaults, spellings, and one-line errors.
#include "launch/cli.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace trainrun::launch {
namespace {

// The ConfigError message for `args`, or "" if they parse.
std::string errorFor(const std::vector<std::string>& args) {
  try {
    parseCommandLine(args);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(CliTest, RdzvConfTakesTorchrunsEtcdTlsKeys) {
  const LaunchOptions o = parseCommandLine(
      {"--rdzv-backend", "etcd", "--rdzv-endpoint", "e:2379", "--rdzv-conf",
       "timeout=60,protocol=https,ca_cert=/c/ca.pem,ssl_cert=/c/n.pem,ssl_cert_key=/c/n.key",
       "c.yaml"});
  EXPECT_EQ(o.rdzv_timeout, std::chrono::seconds(60));
  const std::vector<std::pair<std::string, std::string>> tls = {
      {"TRAINRUN_ETCD_PROTOCOL", "https"},
      {"TRAINRUN_ETCD_CA_CERT", "/c/ca.pem"},
      {"TRAINRUN_ETCD_SSL_CERT", "/c/n.pem"},
      {"TRAINRUN_ETCD_SSL_CERT_KEY", "/c/n.key"}};
  EXPECT_EQ(o.etcd_tls_env, tls);
  EXPECT_NE(errorFor({"--rdzv-backend", "etcd", "--rdzv-endpoint", "e:2379", "--rdzv-conf",
                      "protocol=spdy", "c.yaml"})
                .find("http or https"),
            std::string::npos);
  EXPECT_NE(errorFor({"--rdzv-backend", "etcd", "--rdzv-endpoint", "e:2379", "--rdzv-conf",
                      "ca_cert=", "c.yaml"})
                .find("'ca_cert=' needs a value"),
            std::string::npos);
  // node 0's c10d store speaks no TLS
  EXPECT_NE(errorFor({"--rdzv-conf", "protocol=https", "c.yaml"}).find("give --rdzv-backend etcd"),
            std::string::npos);
}

TEST(CliTest, ElasticFlags) {
  LaunchOptions o =
      parseCommandLine({"--nnodes", "2:4", "--max-restarts", "3", "--monitor-interval", "0.5",
                        "--rdzv-conf", "timeout=60,last_call_timeout=5", "c.yaml"});
  EXPECT_EQ(o.min_nnodes, 2);
  EXPECT_EQ(o.nnodes, 4);
  EXPECT_EQ(o.max_restarts, 3);
  EXPECT_EQ(o.monitor_interval, std::chrono::milliseconds(500));
  EXPECT_EQ(o.rdzv_timeout, std::chrono::seconds(60));
  EXPECT_EQ(o.rdzv_last_call, std::chrono::seconds(5));
  LaunchOptions fixed = parseCommandLine({"--max_restarts=1", "c.yaml"});  // torchrun spelling
  EXPECT_EQ(fixed.min_nnodes, fixed.nnodes);
  EXPECT_EQ(fixed.max_restarts, 1);
}

TEST(CliTest, DefaultsForACommand) {
  LaunchOptions o = parseCommandLine({"--", "python3", "train.py", "--lr", "0.1"});
  EXPECT_EQ(o.nproc_per_node, 1);
  EXPECT_EQ(o.nnodes, 1);
  EXPECT_EQ(o.master_addr, "127.0.0.1");
  EXPECT_EQ(o.master_port, 29500);
  EXPECT_EQ(o.grace_period, std::chrono::seconds(120));
  EXPECT_EQ(o.command, (std::vector<std::string>{"python3", "train.py", "--lr", "0.1"}));
  EXPECT_TRUE(o.config_path.empty());
}

TEST(CliTest, AcceptsBothSpellingsAndEqualsForm) {
  LaunchOptions o =
      parseCommandLine({"--nproc_per_node", "4", "--master-addr=10.0.0.1", "--master_port=1234",
                        "--grace-period", "0.5", "--nnodes", "1:1", "--", "true"});
  EXPECT_EQ(o.nproc_per_node, 4);
  EXPECT_EQ(o.master_addr, "10.0.0.1");
  EXPECT_EQ(o.master_port, 1234);
  EXPECT_EQ(o.grace_period, std::chrono::milliseconds(500));
}

TEST(CliTest, ConfigWithOverridesAndFlagsAfterIt) {
  LaunchOptions o = parseCommandLine(
      {"configs/a.yaml", "--set", "train.steps=5", "--nproc-per-node", "2", "--set=model.x=[1,2]"});
  EXPECT_EQ(o.config_path, "configs/a.yaml");
  EXPECT_EQ(o.overrides, (std::vector<std::string>{"train.steps=5", "model.x=[1,2]"}));
  EXPECT_EQ(o.nproc_per_node, 2);
}

TEST(CliTest, HelpWinsOverEverything) {
  EXPECT_TRUE(parseCommandLine({"--help"}).help);
  EXPECT_TRUE(parseCommandLine({"--nproc-per-node", "2", "-h"}).help);
  EXPECT_NE(usageText().find("--nproc-per-node N"), std::string::npos);
}

TEST(CliTest, TorchrunMultiNodeFlagsAndPetFallbacks) {
  LaunchOptions o =
      parseCommandLine({"--nodes", "4", "--node_rank=2", "--rdzv-endpoint", "10.0.0.1:29400",
                        "--rdzv-id", "job9", "--rdzv-backend", "c10d", "--rdzv-conf", "timeout=30",
                        "--local-addr", "10.0.0.3", "--", "true"});
  EXPECT_EQ(o.nnodes, 4);
  EXPECT_EQ(o.node_rank, 2);
  EXPECT_EQ(o.rdzv_endpoint, "10.0.0.1:29400");
  EXPECT_EQ(o.rdzv_id, "job9");
  EXPECT_EQ(o.rdzv_timeout, std::chrono::seconds(30));
  EXPECT_EQ(o.local_addr, "10.0.0.3");
  EXPECT_EQ(o.given.count("--nnodes"), 1u);
  EXPECT_EQ(o.given.count("--master-port"), 0u);

  std::map<std::string, std::string> pet{
      {"PET_NNODES", "3"}, {"PET_NODE_RANK", "1"}, {"PET_NPROC_PER_NODE", "2"}};
  auto env = [&](const std::string& n) { return pet.count(n) ? pet[n] : std::string(); };
  LaunchOptions p = parseCommandLine({"--nproc-per-node", "4", "--", "true"}, env);
  EXPECT_EQ(p.nnodes, 3);
  EXPECT_EQ(p.node_rank, 1);
  EXPECT_EQ(p.nproc_per_node, 4);  // the command line wins over PET_*
  EXPECT_EQ(p.given.count("--node-rank"), 1u);

  std::map<std::string, std::string> gpus{{"CUDA_VISIBLE_DEVICES", "0,1,2"}};
  auto genv = [&](const std::string& n) { return gpus.count(n) ? gpus[n] : std::string(); };
  EXPECT_EQ(parseCommandLine({"--nproc-per-node", "gpu", "--", "true"}, genv).nproc_per_node, 3);
  EXPECT_EQ(parseCommandLine({"--nproc-per-node", "auto", "--", "true"}, genv).nproc_per_node, 3);
  EXPECT_GE(parseCommandLine({"--nproc-per-node", "cpu", "--", "true"}, genv).nproc_per_node, 1);
}

// torchrun's log flags in their spellings (-r/-t, --log_dir, PET_TEE), none of them a --set.
TEST(CliTest, TorchrunLogFlags) {
  LaunchOptions o = parseCommandLine(
      {"--log_dir=logs", "-r", "0:1", "-t", "3", "--local-ranks-filter", "0,1", "--", "true"});
  EXPECT_EQ(o.logs.log_dir, "logs");
  EXPECT_EQ(o.logs.redirects.of(0), kStdOut);
  EXPECT_EQ(o.logs.redirects.of(1), 0);
  EXPECT_EQ(o.logs.tee.of(5), kStdOut | kStdErr);
  EXPECT_EQ(o.logs.console, (std::set<int>{0, 1}));
  EXPECT_TRUE(o.overrides.empty());
  std::map<std::string, std::string> pet{{"PET_TEE", "2"}, {"PET_LOG_DIR", "/var/log/x"}};
  auto env = [&](const std::string& n) { return pet.count(n) ? pet[n] : std::string(); };
  LaunchOptions p = parseCommandLine({"--redirects", "1", "--", "true"}, env);
  EXPECT_EQ(p.logs.tee.of(0), kStdErr);
  EXPECT_EQ(p.logs.log_dir, "/var/log/x");
  EXPECT_EQ(p.logs.redirects.of(0), kStdOut);
  EXPECT_EQ(errorFor({"--tee", "5", "--", "true"}).rfind("--tee '5' is not a stream choice", 0),
            0u);
  EXPECT_EQ(errorFor({"--log-dir=", "--", "true"}),
            "--log-dir needs a folder, e.g. --log-dir logs");
}

// torchrun's SCRIPT.py ARGS: the script's words are its own, however they look; -m and
// --no-python as torchrun's.
TEST(CliTest, TorchrunScriptForms) {
  std::map<std::string, std::string> vars;
  auto env = [&](const std::string& n) { return vars.count(n) ? vars[n] : std::string(); };
  LaunchOptions o = parseCommandLine(
      {"--nproc-per-node", "2", "-r", "3", "train.py", "--lr", "0.1", "--set", "x", "--", "y"},
      env);
  EXPECT_EQ(o.command, (std::vector<std::string>{"python3", "-u", "train.py", "--lr", "0.1",
                                                 "--set", "x", "--", "y"}));
  EXPECT_EQ(o.nproc_per_node, 2);
  EXPECT_EQ(o.logs.redirects.of(0), kStdOut | kStdErr);
  EXPECT_TRUE(o.overrides.empty());
  EXPECT_TRUE(o.config_path.empty());
  vars["PYTHON_EXEC"] = "/opt/venv/bin/python";
  EXPECT_EQ(
      parseCommandLine({"-m", "pkg.train", "--epochs", "3"}, env).command,
      (std::vector<std::string>{"/opt/venv/bin/python", "-u", "-m", "pkg.train", "--epochs", "3"}));
  EXPECT_EQ(parseCommandLine({"--no_python", "--tee=3", "./run.sh", "a"}, env).command,
            (std::vector<std::string>{"./run.sh", "a"}));
  vars["PET_MODULE"] = "1";
  EXPECT_EQ(parseCommandLine({"pkg.train"}, env).command,
            (std::vector<std::string>{"/opt/venv/bin/python", "-u", "-m", "pkg.train"}));
  vars.clear();
  // A CONFIG is still a CONFIG, flags after it included.
  LaunchOptions c = parseCommandLine({"c.yaml", "--set", "a=1", "--nproc-per-node", "2"}, env);
  EXPECT_EQ(c.config_path, "c.yaml");
  EXPECT_TRUE(c.command.empty());
  EXPECT_EQ(c.nproc_per_node, 2);
  EXPECT_EQ(errorFor({"-m", "--no-python", "x"}),
            "--module runs python3 -m MODULE and --no-python runs a program itself; give one of "
            "them");
  EXPECT_EQ(errorFor({"-m", "--", "python3", "x.py"}),
            "--module names how to run the program given in place of CONFIG, e.g. trainrun -m "
            "pkg.train ARGS");
}

// "unknown flag --bogus; run 'trainrun --help' for usage": the separator is there with or
// without a suggestion.
TEST(CliTest, UnknownFlagMessageReadsAsOneSentence) {
  EXPECT_EQ(errorFor({"--bogus", "--", "true"}),
            "unknown flag --bogus; run 'trainrun --help' for usage");
  EXPECT_EQ(errorFor({"--nproc-per-nod", "2", "--", "true"}),
            "unknown flag --nproc-per-nod; did you mean --nproc-per-node? run 'trainrun --help' "
            "for usage");
}

// Each command's --help prints its own flags.
TEST(CliTest, HelpIsTheCommandsOwn) {
  EXPECT_EQ(helpText({"--help"}), usageText());
  EXPECT_EQ(helpText({"--nproc-per-node", "2", "c.yaml", "-h"}), usageText());
  const std::string train = helpText({"train", "--help"});
  EXPECT_NE(train.find("SM_NUM_GPUS"), std::string::npos);
  EXPECT_NE(train.find("--set KEY=VALUE"), std::string::npos);
  // bench allreduce's own help: bench/bench_options.h (tests/bench/bench_options_test.cpp).
  EXPECT_TRUE(wantsFlag({"bench", "allreduce", "-h"}, "--help", "-h"));
  EXPECT_FALSE(wantsFlag({"--", "prog", "--help"}, "--help", "-h"));           // the COMMAND's own
  EXPECT_FALSE(wantsFlag({"-t", "3", "train.py", "--help"}, "--help", "-h"));  // the script's
  EXPECT_FALSE(wantsFlag({"-m", "pkg", "-V"}, "--version", "-V"));
  EXPECT_TRUE(wantsFlag({"-h", "train.py"}, "--help", "-h"));
  EXPECT_TRUE(wantsFlag({"--version"}, "--version", "-V"));
}

TEST(CliTest, ErrorsNameTheFlagAndTheFix) {
  EXPECT_NE(errorFor({"--bogus", "--", "true"}).find("unknown flag --bogus"), std::string::npos);
  EXPECT_NE(errorFor({"-x", "--", "true"}).find("unknown flag -x"), std::string::npos);
  EXPECT_NE(errorFor({"--nproc-per-node", "0", "--", "true"}).find("--nproc-per-node '0'"),
            std::string::npos);
  EXPECT_NE(errorFor({"--nproc_per_node=abc", "--", "true"}).find("--nproc-per-node 'abc'"),
            std::string::npos);
  EXPECT_NE(errorFor({"--master-port", "65536", "--", "true"}).find("--master-port"),
            std::string::npos);
  EXPECT_NE(errorFor({"--grace-period", "soon", "--", "true"}).find("--grace-period"),
            std::string::npos);
  EXPECT_NE(errorFor({"--nnodes", "1:4", "--", "true"}).find("needs a CONFIG"), std::string::npos);
  EXPECT_NE(errorFor({"--nnodes", "2:4", "--node-rank", "1", "c.yaml"}).find("by arrival"),
            std::string::npos);
  EXPECT_NE(errorFor({"--nnodes", "4:2", "c.yaml"}).find("2:4"), std::string::npos);
  EXPECT_NE(errorFor({"--max-restarts", "-1", "c.yaml"}).find("--max-restarts '-1'"),
            std::string::npos);
  EXPECT_NE(errorFor({"--max-restarts", "2", "--", "true"}).find("needs a CONFIG"),
            std::string::npos);
  EXPECT_NE(errorFor({"--nnodes", "2", "--node-rank", "2", "--", "true"}).find("--node-rank 2"),
            std::string::npos);
  EXPECT_NE(errorFor({"--nproc-per-nod", "2", "--", "true"}).find("did you mean --nproc-per-node"),
            std::string::npos);
  EXPECT_NE(errorFor({"--rdzv-conf", "read_timeout=5", "--", "true"}).find("timeout"),
            std::string::npos);
  EXPECT_NE(errorFor({"--rdzv-backend", "zookeeper", "--", "true"}).find("etcd"),
            std::string::npos);
  EXPECT_NE(errorFor({"--rdzv-backend", "etcd", "--rdzv-endpoint", "e:2379", "--", "true"})
                .find("needs a CONFIG"),
            std::string::npos);
  EXPECT_NE(errorFor({"--rdzv-backend", "etcd", "c.yaml"}).find("--rdzv-endpoint"),
            std::string::npos);
  EXPECT_NE(errorFor({"--master-port"}).find("needs a value"), std::string::npos);
  EXPECT_NE(errorFor({"c.yaml", "--set", "novalue"}).find("key=value"), std::string::npos);
  EXPECT_NE(errorFor({}).find("nothing to run"), std::string::npos);
  EXPECT_NE(errorFor({"--"}).find("COMMAND"), std::string::npos);
  EXPECT_NE(errorFor({"a.yaml", "b.yaml"}).find("unexpected argument 'b.yaml'"), std::string::npos);
  EXPECT_NE(errorFor({"a.yaml", "--", "true"}).find("not both"), std::string::npos);
  EXPECT_NE(errorFor({"--set", "a=1", "--", "true"}).find("--set only applies"), std::string::npos);
  for (const auto& args : std::vector<std::vector<std::string>>{{"--bogus"}, {"--nnodes", "3"}}) {
    EXPECT_EQ(errorFor(args).find('\n'), std::string::npos) << "errors are one line";
  }
}

}  // namespace
}  // namespace trainrun::launch
