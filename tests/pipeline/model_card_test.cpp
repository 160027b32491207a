// model_card.json: shapes and classes of classifiers and language models, metrics flattened.
#include "pipeline/model_card.h"

#include <gtest/gtest.h>

#include "pipeline/evaluation.h"

namespace trainrun {
namespace {

TEST(ModelCard, ClassifierCardNamesShapesClassesDataAndMetrics) {
  ModelCardInfo info;
  info.run = "job";
  info.model_name = "mlp";
  info.input_width = 64;
  info.num_classes = 3;
  info.class_names = {"cat", "dog"};  // the third class has no name: its index
  info.data_name = "digits";
  info.data.sha256 = "ab";
  info.data.files.push_back({"data", "data/digits.csv.gz", "cd", 10});
  info.train_samples = 8;
  info.validation_samples = 3;
  info.evaluation = evaluationReport(
      {{"validation", 3,
        classificationMetrics(torch::tensor({0, 1, 2}), torch::tensor({0, 1, 1}), {}, 3)}});
  const auto card = modelCard(info);
  EXPECT_EQ(card["inputs"]["shape"], nlohmann::ordered_json::parse("[null, 64]"));
  EXPECT_EQ(card["inputs"]["dtype"], "float32");
  EXPECT_EQ(card["outputs"]["shape"], nlohmann::ordered_json::parse("[null, 3]"));
  EXPECT_EQ(card["classes"], nlohmann::ordered_json::parse(R"(["cat", "dog", "2"])"));
  EXPECT_EQ(card["training_data"]["files"][0]["sha256"], "cd");
  EXPECT_EQ(card["training_data"]["validation_samples"], 3);
  EXPECT_EQ(card["metrics"]["split"], "validation");
  EXPECT_NEAR(card["metrics"]["accuracy"].get<double>(), 2.0 / 3, 1e-12);
  EXPECT_TRUE(card["metrics"].contains("weighted_f1"));
  EXPECT_FALSE(card["metrics"].contains("confusion_matrix"));
}

TEST(ModelCard, LanguageModelCardTakesTokenWindows) {
  ModelCardInfo info;
  info.tokens = true;
  info.input_width = 64;
  info.num_classes = 256;
  info.evaluation =
      evaluationReport({{"validation", 1,
                         languageModelMetrics(torch::tensor({2.0}, torch::kDouble),
                                              torch::tensor({1.0}, torch::kDouble),
                                              torch::tensor({2.0}, torch::kDouble))}});
  const auto card = modelCard(info);
  EXPECT_EQ(card["inputs"]["dtype"], "int64");
  EXPECT_EQ(card["outputs"]["shape"], nlohmann::ordered_json::parse("[null, 64, 256]"));
  EXPECT_EQ(card["vocabulary_size"], 256);
  EXPECT_FALSE(card.contains("classes"));
  EXPECT_DOUBLE_EQ(card["metrics"]["loss"].get<double>(), 1.0);
  EXPECT_TRUE(card["metrics"].contains("perplexity"));
}

}  // namespace
}  // namespace trainrun
