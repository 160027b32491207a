// toYaml: every field in schema order, defaults filled in, and an exact round trip.
#include <google/protobuf/util/message_differencer.h>

#include "test_util.h"

namespace trainrun::config::testing {
namespace {

using google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;
using YamlEmitTest = ConfigTest;

TEST_F(YamlEmitTest, DefaultsAreSpelledOutInSchemaOrder) {
  const std::string yaml = toYaml(JobConfig());
  EXPECT_THAT(yaml, HasSubstr("run:\n  name: ~\ntrain:\n  steps: 0\n  epochs: 1\n"
                              "  global_batch_size: 64\n"));
  EXPECT_THAT(yaml, HasSubstr("  name: \"sgd\"\n  lr: 0.1\n"));
  EXPECT_THAT(yaml, HasSubstr("  eps: 1e-08\n"));
  EXPECT_THAT(yaml, HasSubstr("  hidden: []\n"));
  EXPECT_THAT(yaml, HasSubstr("  timeout_s: 300\n  compression: \"none\"\noutput:\n  dir: ~\n"));
  EXPECT_LT(yaml.find("optimizer:"), yaml.find("scheduler:"));
  EXPECT_LT(yaml.find("dist:"), yaml.find("output:"));
}

TEST_F(YamlEmitTest, DefaultConfigRoundTrips) {
  const JobConfig reloaded = parse(toYaml(JobConfig()));
  EXPECT_EQ(toYaml(reloaded), toYaml(JobConfig()));
  // Unset strings with no default stay unset, so runName/dataPath still derive them.
  EXPECT_FALSE(reloaded.run().has_name());
  EXPECT_FALSE(reloaded.data().has_path());
  EXPECT_FALSE(reloaded.output().has_dir());
}

TEST_F(YamlEmitTest, EveryFieldRoundTripsExactly) {
  JobConfig c;
  c.mutable_run()->set_name("yes: a #tricky \"name\"\twith\nnewline");
  auto* t = c.mutable_train();
  t->set_steps(int64_t{1} << 60);  // beyond double precision: must stay an exact integer
  t->set_epochs(3);
  t->set_global_batch_size(96);
  t->set_grad_accum_steps(3);
  t->set_seed(12345);
  t->set_log_every(7);
  t->set_eval_every(50);
  t->set_profile(false);  // excludes cuda_graph: a bool true round-trips through cuda_graph
  t->set_profile_trace(5);
  t->set_cuda_graph(true);
  auto* o = c.mutable_optimizer();
  o->set_name("adamw");
  o->set_lr(1.0 / 3.0);
  o->set_weight_decay(0.1 + 0.2);  // 0.30000000000000004
  o->set_momentum(0.0);
  o->set_beta1(0.8999999999999999);
  o->set_beta2(0.999);
  o->set_eps(4.9406564584124654e-324);  // smallest subnormal
  o->set_max_grad_norm(1.0 / 7.0);
  o->set_decay_params("matrices");
  auto* s = c.mutable_scheduler();
  s->set_name("constant");
  s->set_warmup_steps(100);
  s->set_min_lr_ratio(1e-3);
  s->set_decay_fraction(0.125);
  c.mutable_model()->set_name("mlp");
  c.mutable_model()->add_hidden(64);
  c.mutable_model()->add_hidden(32);
  for (auto set : {&ModelConfig::set_n_layer, &ModelConfig::set_n_head, &ModelConfig::set_n_embd,
                   &ModelConfig::set_block_size, &ModelConfig::set_vocab_size})
    (c.mutable_model()->*set)(0);  // GPT sizes: 0 = the preset's (and unused by the MLP)
  c.mutable_model()->set_fused_loss(true);
  c.mutable_model()->set_fused_norm(true);
  c.mutable_model()->set_attention("math");
  auto* d = c.mutable_data();
  d->set_name("digits");
  d->set_path((data_dir_.path() / "digits.csv.gz").string());
  d->set_eval_fraction(0.15);
  d->set_synthetic_samples(1000);
  d->set_synthetic_features(8);
  d->set_synthetic_classes(3);
  d->set_synthetic_vocab(300);
  d->set_validation_path("");  // table keys: empty with other data
  d->set_test_path("");
  d->set_label("");
  d->set_task("auto");
  d->set_token_format("auto");  // token keys: their defaults with other data
  d->set_token_dtype("auto");
  d->set_cache_limit_gb(64);
  auto* dist = c.mutable_dist();
  dist->set_backend("gloo");
  dist->set_bucket_cap_mb(1e300);
  dist->set_first_bucket_mb(0.0001);
  dist->set_timeout_s(12.5);
  dist->set_compression("bf16");
  c.mutable_output()->set_dir("");
  auto* ck = c.mutable_checkpoint();
  ck->set_uri("s3://bucket/prefix with space");
  ck->set_every_steps(25);
  ck->set_keep_last(4);
  ck->set_async(false);
  ck->set_s3_endpoint("http://127.0.0.1:9000");
  ck->set_force_resume(true);
  ck->set_max_consecutive_failures(5);
  c.set_resume("never");
  c.set_precision("bf16");
  auto* amp = c.mutable_amp();
  amp->set_init_scale(1024);
  amp->set_growth_factor(1.5);
  amp->set_backoff_factor(0.25);
  amp->set_growth_interval(100);

  const std::string yaml = toYaml(c);
  const JobConfig reloaded = parse(yaml);
  EXPECT_TRUE(MessageDifferencer::Equals(reloaded, c)) << "yaml:\n"
                                                       << yaml << "reloaded:\n"
                                                       << reloaded.DebugString();
  EXPECT_EQ(toYaml(reloaded), yaml);
}

}  // namespace
}  // namespace trainrun::config::testing
