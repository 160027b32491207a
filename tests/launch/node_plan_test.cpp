// planNodes: flags win over the scheduler, which wins over defaults; endpoints and hosting.
#include "launch/node_plan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "core/error.h"

namespace trainrun::launch {
namespace {

LaunchOptions parse(const std::vector<std::string>& args) {
  return parseCommandLine(args, [](const std::string&) { return std::string(); });
}

TEST(NodePlan, OneNodeKeepsThePrivateStore) {
  NodePlan plan = planNodes(parse({"--", "true"}), SchedulerJob{});
  EXPECT_EQ(plan.nnodes, 1);
  EXPECT_EQ(plan.node_rank, 0);
  EXPECT_TRUE(plan.host);
  EXPECT_EQ(plan.local_addr, "");
  EXPECT_EQ(plan.source, "flags");
}

TEST(NodePlan, SchedulerFillsWhatFlagsLeaveOpen) {
  SchedulerJob slurm;
  slurm.scheduler = "slurm";
  slurm.nnodes = 4;
  slurm.node_rank = 2;
  slurm.master_addr = "127.0.0.1";
  slurm.job_id = "991";
  NodePlan plan = planNodes(parse({"--", "true"}), slurm);
  EXPECT_EQ(plan.nnodes, 4);
  EXPECT_EQ(plan.node_rank, 2);
  EXPECT_FALSE(plan.host);
  EXPECT_EQ(plan.endpoint.addr, "127.0.0.1");
  EXPECT_EQ(plan.endpoint.port, kDefaultMasterPort);
  EXPECT_EQ(plan.run_id, "991");
  EXPECT_EQ(plan.local_addr, "127.0.0.1");
  EXPECT_NE(plan.source.find("slurm: node 2 of 4"), std::string::npos);

  NodePlan flags = planNodes(parse({"--node-rank", "0", "--rdzv-endpoint", "127.0.0.1:29411",
                                    "--rdzv-id", "x", "--", "true"}),
                             slurm);
  EXPECT_EQ(flags.nnodes, 4);     // the scheduler's
  EXPECT_EQ(flags.node_rank, 0);  // the flag's
  EXPECT_TRUE(flags.host);
  EXPECT_EQ(flags.endpoint.port, 29411);
  EXPECT_EQ(flags.run_id, "x");
}

TEST(NodePlan, ArrivalOrderHostsWhereTheEndpointIsLocal) {
  NodePlan plan = planNodes(parse({"--nnodes", "2", "--master-addr", "127.0.0.1", "--", "true"}),
                            SchedulerJob{});
  EXPECT_TRUE(plan.host);  // 127.0.0.1 is this machine's
  EXPECT_EQ(plan.node_rank, 0);
  EXPECT_TRUE(isLocalAddress("127.0.0.1"));
  EXPECT_FALSE(isLocalAddress("192.0.2.254"));  // TEST-NET: never this machine's
}

TEST(NodePlan, EtcdBackendHostsNothing) {
  NodePlan plan = planNodes(parse({"--nnodes", "2:3", "--rdzv-backend", "etcd", "--rdzv-endpoint",
                                   "127.0.0.1", "c.yaml"}),
                            SchedulerJob{});
  EXPECT_EQ(plan.backend, StoreBackend::kEtcd);
  EXPECT_FALSE(plan.host);  // 127.0.0.1 is local, yet etcd holds the store
  EXPECT_EQ(plan.node_rank, -1);
  EXPECT_EQ(plan.endpoint.port, 2379);
  EXPECT_EQ(plan.local_addr, "127.0.0.1");
  NodePlan given = planNodes(parse({"--nnodes", "2", "--node-rank", "0", "--rdzv-backend", "etcd",
                                    "--rdzv-endpoint", "127.0.0.1:23799", "c.yaml"}),
                             SchedulerJob{});
  EXPECT_FALSE(given.host);
  EXPECT_EQ(given.node_rank, 0);
  EXPECT_EQ(given.endpoint.port, 23799);
}

TEST(NodePlan, LoopbackAndTheDefaultRouteInterface) {
  EXPECT_TRUE(isLoopback("127.0.1.1"));
  EXPECT_TRUE(isLoopback("localhost"));
  EXPECT_FALSE(isLoopback("192.0.2.1"));
  EXPECT_FALSE(isLoopback("algo-1"));
  const std::string table = ::testing::TempDir() + "route_" + std::to_string(::getpid());
  // No default route: nothing to take.
  std::ofstream(table) << "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
                          "eth9\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
  EXPECT_EQ(defaultRouteAddress(table), "");
  // A default route on an interface without an IPv4 address here.
  std::ofstream(table) << "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
                          "nosuch0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n";
  EXPECT_EQ(defaultRouteAddress(table), "");
  EXPECT_EQ(defaultRouteAddress("/nonexistent/route"), "");
  std::remove(table.c_str());
}

// Kubeflow may name the master "localhost" to itself, and Debian's /etc/hosts maps a hostname
// to 127.0.1.1: the hosting node of several advertises its default-route interface's address
// instead (or asks for --local-addr where there is none), and its store listens there.
TEST(NodePlan, HostOfSeveralNodesNeverAdvertisesLoopback) {
  SchedulerJob kubeflow;
  kubeflow.scheduler = "kubeflow";
  kubeflow.nnodes = 2;
  kubeflow.node_rank = 0;
  kubeflow.master_addr = "localhost";
  kubeflow.master_from = "MASTER_ADDR";
  const std::string route = defaultRouteAddress();
  if (route.empty()) {
    try {
      planNodes(parse({"--", "true"}), kubeflow);
      FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("--local-addr"), std::string::npos) << e.what();
    }
  } else {
    NodePlan plan = planNodes(parse({"--", "true"}), kubeflow);
    EXPECT_TRUE(plan.host);
    EXPECT_EQ(plan.local_addr, route);
    EXPECT_EQ(plan.endpoint.addr, route);  // where the store listens, and its ranks dial
    EXPECT_EQ(plan.endpoint_from, "MASTER_ADDR from kubeflow");
  }
  // The user's own loopback endpoint puts every node on this machine: kept.
  NodePlan here = planNodes(parse({"--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint",
                                   "127.0.0.1:29411", "--", "true"}),
                            SchedulerJob{});
  EXPECT_EQ(here.local_addr, "127.0.0.1");
  EXPECT_EQ(here.endpoint_from, "--rdzv-endpoint");
  // --local-addr always wins.
  NodePlan given = planNodes(parse({"--local-addr", "127.0.0.1", "--", "true"}), kubeflow);
  EXPECT_EQ(given.local_addr, "127.0.0.1");
}

TEST(NodePlan, BadEndpointIsOneLine) {
  EXPECT_THROW(planNodes(parse({"--nnodes", "2", "--rdzv-endpoint", "h:99999", "--", "true"}),
                         SchedulerJob{}),
               ConfigError);
}

}  // namespace
}  // namespace trainrun::launch
