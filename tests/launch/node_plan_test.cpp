// planNodes: flags win over the scheduler, which wins over defaults; endpoints and hosting.
#include "launch/node_plan.h"

#include <gtest/gtest.h>

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

TEST(NodePlan, BadEndpointIsOneLine) {
  EXPECT_THROW(planNodes(parse({"--nnodes", "2", "--rdzv-endpoint", "h:99999", "--", "true"}),
                         SchedulerJob{}),
               ConfigError);
}

}  // namespace
}  // namespace trainrun::launch
