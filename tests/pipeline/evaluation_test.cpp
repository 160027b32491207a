// evaluation.json metrics: hand-computed values, SageMaker's layout, bootstrap deviations.
#include "pipeline/evaluation.h"

#include <gtest/gtest.h>

#include <cmath>

namespace trainrun {
namespace {

torch::Tensor longs(std::vector<int64_t> v) { return torch::tensor(v, torch::kLong); }
torch::Tensor doubles(std::vector<double> v) { return torch::tensor(v, torch::kDouble); }

TEST(ClassificationMetrics, MulticlassMatchesHandComputedValues) {
  // actual 0: predicted 0, 1; actual 1: 1, 1; actual 2: 2, 0.
  const Json j = classificationMetrics(longs({0, 0, 1, 1, 2, 2}), longs({0, 1, 1, 1, 2, 0}), {}, 3);
  const Json& m = j.at("multiclass_classification_metrics");
  EXPECT_DOUBLE_EQ(m["accuracy"]["value"].get<double>(), 4.0 / 6);
  // precision 1/2, 2/3, 1; recall 1/2, 1, 1/2; f1 1/2, 4/5, 2/3; every support 2.
  EXPECT_NEAR(m["weighted_precision"]["value"].get<double>(), (0.5 + 2.0 / 3 + 1) / 3, 1e-12);
  EXPECT_NEAR(m["weighted_recall"]["value"].get<double>(), (0.5 + 1 + 0.5) / 3, 1e-12);
  EXPECT_NEAR(m["weighted_f1"]["value"].get<double>(), (0.5 + 0.8 + 2.0 / 3) / 3, 1e-12);
  EXPECT_NEAR(m["per_class"]["1"]["precision"]["value"].get<double>(), 2.0 / 3, 1e-12);
  EXPECT_NEAR(m["per_class"]["2"]["recall"]["value"].get<double>(), 0.5, 1e-12);
  EXPECT_EQ(m["per_class"]["0"]["support"].get<int64_t>(), 2);
  EXPECT_EQ(m["confusion_matrix"]["2"]["0"].get<int64_t>(), 1);
  EXPECT_EQ(m["confusion_matrix"]["1"]["1"].get<int64_t>(), 2);
  EXPECT_EQ(m["confusion_matrix"]["1"]["0"].get<int64_t>(), 0);
  EXPECT_GT(m["accuracy"]["standard_deviation"].get<double>(), 0);
  EXPECT_FALSE(m.contains("auc"));  // binary only
}

TEST(ClassificationMetrics, ClassNamesLabelTheMatrix) {
  const Json j =
      classificationMetrics(longs({0, 1, 2}), longs({0, 1, 2}), {}, 3, {"cat", "dog", "eel"});
  const Json& m = j.at("multiclass_classification_metrics");
  EXPECT_EQ(m["confusion_matrix"]["dog"]["dog"].get<int64_t>(), 1);
  EXPECT_TRUE(m["per_class"].contains("eel"));
}

TEST(ClassificationMetrics, BinaryHasAucAndPositiveClassMetrics) {
  // scikit-learn's roc_auc_score example: 0.75.
  const Json j = classificationMetrics(longs({0, 0, 1, 1}), longs({0, 0, 0, 1}),
                                       doubles({0.1, 0.4, 0.35, 0.8}), 2);
  const Json& m = j.at("binary_classification_metrics");
  EXPECT_DOUBLE_EQ(m["auc"]["value"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(m["precision"]["value"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(m["recall"]["value"].get<double>(), 0.5);
  EXPECT_NEAR(m["f1"]["value"].get<double>(), 2.0 / 3, 1e-12);
  // Tied scores count half: every score equal gives 0.5.
  const Json tied = classificationMetrics(longs({0, 1, 0, 1}), longs({0, 0, 0, 0}),
                                          doubles({0.5, 0.5, 0.5, 0.5}), 2);
  EXPECT_DOUBLE_EQ(tied["binary_classification_metrics"]["auc"]["value"].get<double>(), 0.5);
  // One class only: AUC is undefined, written as null.
  const Json one = classificationMetrics(longs({1, 1}), longs({1, 0}), doubles({0.9, 0.2}), 2);
  EXPECT_TRUE(one["binary_classification_metrics"]["auc"]["value"].is_null());
}

TEST(ClassificationMetrics, BootstrapDeviationIsTheStandardErrorAndDeterministic) {
  // 2000 samples, 80% right: the standard error of the accuracy is sqrt(.8 * .2 / 2000).
  const int64_t n = 2000;
  torch::Tensor labels = torch::zeros({n}, torch::kLong);
  torch::Tensor predicted = labels.clone();
  predicted.narrow(0, 0, n / 5).fill_(1);
  const Json a = classificationMetrics(labels, predicted, {}, 3);
  const double sd = a["multiclass_classification_metrics"]["accuracy"]["standard_deviation"];
  EXPECT_NEAR(sd, std::sqrt(0.8 * 0.2 / n), 0.3 * std::sqrt(0.8 * 0.2 / n));
  EXPECT_EQ(a.dump(), classificationMetrics(labels, predicted, {}, 3).dump());
  // A perfect classifier is perfect in every resample.
  const Json p = classificationMetrics(labels, labels, {}, 3);
  EXPECT_EQ(p["multiclass_classification_metrics"]["accuracy"]["standard_deviation"], 0.0);
}

TEST(RegressionMetrics, MatchHandComputedValues) {
  const Json j = regressionMetrics(doubles({1, 2, 3}), doubles({1, 2, 4}));
  const Json& m = j.at("regression_metrics");
  EXPECT_NEAR(m["mse"]["value"].get<double>(), 1.0 / 3, 1e-12);
  EXPECT_NEAR(m["rmse"]["value"].get<double>(), std::sqrt(1.0 / 3), 1e-12);
  EXPECT_NEAR(m["mae"]["value"].get<double>(), 1.0 / 3, 1e-12);
  EXPECT_NEAR(m["r2"]["value"].get<double>(), 1 - 9.0 / 42, 1e-12);  // SST = 42/9
  EXPECT_GT(m["mse"]["standard_deviation"].get<double>(), 0);
  const Json exact = regressionMetrics(doubles({5, 5}), doubles({5, 5}));
  EXPECT_EQ(exact["regression_metrics"]["r2"]["value"].get<double>(), 1.0);
}

TEST(LanguageModelMetrics, LossIsPerTokenAndPerplexityItsExp) {
  const Json j = languageModelMetrics(doubles({2, 4}), doubles({1, 2}), doubles({2, 2}));
  const Json& m = j.at("language_model_metrics");
  EXPECT_DOUBLE_EQ(m["loss"]["value"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(m["perplexity"]["value"].get<double>(), std::exp(1.5));
  EXPECT_DOUBLE_EQ(m["accuracy"]["value"].get<double>(), 0.75);
  EXPECT_EQ(m["tokens"].get<int64_t>(), 4);
}

// What a SageMaker Pipelines JsonGet(json_path="a.b.c") reads.
const Json& jsonGet(const Json& j, const std::string& path) {
  const Json* at = &j;
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find('.', begin);
    if (end == std::string::npos) end = path.size();
    at = &at->at(path.substr(begin, end - begin));
    begin = end + 1;
  }
  return *at;
}

TEST(EvaluationReport, TopLevelIsTheLastSplitAndEverySplitIsKept) {
  const Json val = classificationMetrics(longs({0, 1, 2}), longs({0, 1, 1}), {}, 3);
  const Json test = classificationMetrics(longs({0, 1, 2, 2}), longs({0, 1, 2, 2}), {}, 3);
  const Json r = evaluationReport({{"validation", 3, val}, {"test", 4, test}});
  EXPECT_EQ(jsonGet(r, "multiclass_classification_metrics.accuracy.value").get<double>(), 1.0);
  EXPECT_EQ(r["split"], "test");
  EXPECT_EQ(r["samples"], 4);
  EXPECT_NEAR(jsonGet(r, "splits.validation.multiclass_classification_metrics.accuracy.value")
                  .get<double>(),
              2.0 / 3, 1e-12);
  EXPECT_EQ(jsonGet(r, "splits.test.samples").get<int64_t>(), 4);
  const Json only = evaluationReport({{"validation", 3, val}});
  EXPECT_EQ(only["split"], "validation");
  EXPECT_NE(only["standard_deviation"].get<std::string>().find("bootstrap"), std::string::npos);
}

}  // namespace
}  // namespace trainrun
